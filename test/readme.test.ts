// The README's JavaScript examples run as written (imports pointed at the built package),
// so the documentation cannot drift from the API. The PyTorch-files example needs files of
// the user's; test/weights-io.test.ts runs the same calls on the fixtures.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const requireHere = createRequire(join(root, 'package.json'));
const entry = pathToFileURL(join(root, 'dist/src/index.js')).href;
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const runnable = blocks.filter((b) => !b.includes("readFileSync('net."));

describe('README examples', () => {
  it('has the API and training examples', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(2);
  });

  it.each(runnable.map((b, i) => [i, b]))('example %i runs', (_i, code) => {
    const dir = mkdtempSync(join(tmpdir(), 'bptt-readme-'));
    const file = join(dir, 'example.mjs');
    writeFileSync(file, (code as string).replaceAll("from 'bptt-wasm'", `from '${entry}'`)
      // dataset packages and onnxruntime-node (devDependencies) resolve from the checkout, not the temp dir
      .replace(/from '(@stdlib\/[^']+|onnxruntime-node)'/g, (_m, pkg: string) => `from '${pathToFileURL(requireHere.resolve(pkg)).href}'`));
    execFileSync(process.execPath, [file], { cwd: dir, stdio: 'pipe', timeout: 60_000 });
  }, 90_000);
});
