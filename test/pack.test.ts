// What a user gets: `npm pack`, `npm install <tarball>` in an empty folder, and a plain .mjs
// that imports from 'bptt-wasm' and trains a few steps, with no build step on their side.
// (The README's test command builds dist/ and build/ first; the tarball ships them.)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('the packed package', () => {
  it('installs from its tarball into an empty project and trains', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bptt-pack-'));
    // --ignore-scripts: prepack would rebuild; the test command has just built everything.
    execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync(npm, ['install', '--no-audit', '--no-fund', join(dir, tarball!)], { cwd: app, stdio: 'pipe' });
    writeFileSync(join(app, 'train.mjs'), `
import { createModel, clipGradNorm, SGD } from 'bptt-wasm';
const model = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1 });
const threaded = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1, threads: 2 });
const opt = new SGD(model, { lr: 0.5 });
const T = 6, B = 4;
const x = { shape: [T, B, 2], data: Float32Array.from({ length: T * B * 2 }, (_, i) => Math.sin(i)) };
const target = { shape: [T, B, 1], data: Float32Array.from({ length: T * B }, (_, i) => Math.cos(i) * 0.5) };
const losses = [];
for (let step = 0; step < 30; step++) {
  opt.zeroGrad();
  const { loss } = model.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'mean' });
  clipGradNorm(model, 1);
  opt.step();
  losses.push(loss);
}
// the worker threads start from the installed package too
const r = threaded.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'mean' });
threaded.dispose();
console.log(JSON.stringify({ backend: model.backend.kind, first: losses[0], last: losses.at(-1), threaded: r.loss }));
`);
    const out = JSON.parse(execFileSync(process.execPath, ['train.mjs'], { cwd: app, encoding: 'utf8' }));
    expect(out.backend).toBe('wasm');
    expect(out.last).toBeLessThan(out.first * 0.7);
    expect(out.threaded).toBeCloseTo(out.first, 5);
  }, 120_000);
});
