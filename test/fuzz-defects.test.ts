// One test per reliability defect (issue 9): each failed before its fix. Behavioural
// cases run on every compute path (js, wasm, wasm with 2 threads).

import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Adam, BpttError, NonfiniteError, RMSprop, SGD, buildLayout, checkpointBytes, clipGradNorm, createModel, evaluate, fit,
  loadCheckpoint, loadTrainingCheckpoint, readSafetensors, saveCheckpoint, step, trainStep, writeSafetensors, type Model,
} from '../src/index.js';
import { on, PATHS, type Path } from './helpers/variants.js';

const dir = mkdtempSync(join(tmpdir(), 'bptt-rel-'));
const models: Model[] = [];

async function model(path: Path, extra: Record<string, unknown> = {}): Promise<Model> {
  const m = await createModel({
    cell: 'lstm', inputSize: 2, hiddenSize: 3, numLayers: 2, outputSize: 2, seed: 3,
    ...on(path), ...extra,
  });
  models.push(m);
  return m;
}
afterAll(() => models.forEach((m) => m.dispose()));

const T = 4, B = 3;
const x = { shape: [T, B, 2], data: Float32Array.from({ length: T * B * 2 }, (_, i) => Math.sin(i)) };
const target = { shape: [T, B, 2], data: Float32Array.from({ length: T * B * 2 }, (_, i) => Math.cos(i)) };
const mse = { kind: 'mse', reduction: 'mean' } as const;

/** The error a call throws (fails the test when it returns). */
async function thrown(f: () => unknown): Promise<Error> {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, the call returned');
}

/** A BpttError whose message matches `re`, and the model's weights unchanged. */
async function rejects(m: Model | null, f: () => unknown, re: RegExp, where?: string): Promise<BpttError> {
  const before = m ? m.stateDict() : null;
  const e = await thrown(f);
  expect(e).toBeInstanceOf(BpttError);
  expect(e.message).toMatch(re);
  if (where) expect((e as BpttError).where).toBe(where);
  if (m) expect(m.stateDict()).toEqual(before);
  return e as BpttError;
}

describe('one error class', () => {
  it('every kind of failure is a BpttError with the place it came from', async () => {
    await rejects(null, () => createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 0 }), /hiddenSize/);
    await rejects(null, () => readSafetensors(new Uint8Array(3)), /too short/, 'readSafetensors');
    writeFileSync(join(dir, 'junk.safetensors'), 'junk junk junk junk');
    await rejects(null, () => loadCheckpoint(join(dir, 'junk.safetensors')), /junk.safetensors/, 'loadCheckpoint');
    await rejects(null, () => loadCheckpoint(join(dir, 'missing.safetensors')), /missing.safetensors.*ENOENT/, 'loadCheckpoint');
    const m = await model('js');
    await rejects(m, () => new SGD(m, { lr: 0.1, momentum: -1 }), /momentum/, 'SGD');
    expect(new NonfiniteError('x', [], NaN)).toBeInstanceOf(BpttError);
  });
});

describe('bounded sizes (one rule, before any allocation)', () => {
  it('refuses dimensions and totals beyond the Wasm memory, fast, with the place named', async () => {
    const t0 = performance.now();
    for (const [k, v] of [['numLayers', 1_000_000], ['hiddenSize', 2 ** 32], ['inputSize', 2 ** 40], ['outputSize', 2 ** 31]] as const) {
      await rejects(null, () => createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 3, [k]: v }), new RegExp(`${k} must be an integer in`), 'createModel');
    }
    await rejects(null, () => createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 30000, backend: 'js' }), /parameters.*do not fit the 2 GiB/);
    await rejects(null, () => createModel({ cell: 'gru', inputSize: 4, hiddenSize: 8, threads: 2 ** 31 - 1 }), /threads must be at most/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('the layout counts parameters past 2^32 exactly (no 32-bit wrap)', () => {
    const H = 2 ** 16;
    const l = buildLayout({ cell: 'lstm', nonlinearity: 'tanh', inputSize: 1, hiddenSize: H, numLayers: 1, outputSize: null, bias: false });
    expect(l.numParams).toBe(4 * H * 1 + 4 * H * H);
  });

  it('a checkpoint cannot choose threads or a backend, nor a huge model', async () => {
    const m = await model('js');
    const { tensors, metadata } = readSafetensors(checkpointBytes(m));
    const opts = JSON.parse(metadata['bptt_wasm.options']);
    const threads = join(dir, 'threads.safetensors');
    writeFileSync(threads, writeSafetensors(tensors, { ...metadata, 'bptt_wasm.options': JSON.stringify({ ...opts, threads: 256, wasmBuild: 'relaxed' }) }));
    const loaded = await loadCheckpoint(threads);
    models.push(loaded);
    expect(loaded.options.backend).toBe('wasm'); // the file said 'js': the caller decides
    expect(loaded.sweep.constructor.name).not.toBe('ParallelSweep');
    const huge = join(dir, 'huge.safetensors');
    writeFileSync(huge, writeSafetensors({}, { config: JSON.stringify({ cell: 'lstm', input_size: 2, hidden_size: 3, num_layers: 1_000_000 }) }));
    const t0 = performance.now();
    await rejects(null, () => loadCheckpoint(huge), /numLayers must be an integer in \[1, 1024\], got 1000000/, 'loadCheckpoint');
    // sizes checked against the file's bytes before the model's memory exists
    const big = join(dir, 'big.safetensors');
    writeFileSync(big, writeSafetensors(tensors, { config: JSON.stringify({ cell: 'lstm', input_size: 2, hidden_size: 500, num_layers: 2, output_size: 2 }) }));
    await rejects(null, () => loadCheckpoint(big, { backend: 'js' }), /does not match its own config: 'rnn.weight_ih_l0' has shape/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe.each(PATHS)('float32 finiteness on %s', (path) => {
  it('values beyond float32 range are errors naming the tensor', async () => {
    const m = await model(path);
    const big = (t: { shape: number[]; data: ArrayLike<number> }, i = 0) => {
      const data = Array.from(t.data);
      data[i] = 1e39;
      return { shape: t.shape, data };
    };
    await rejects(m, () => m.forward(big(x, 5)), /x\.data\[5\] is 1e\+39; values must be finite float32/);
    await rejects(m, () => m.lossAndGrad({ x, target: big(target) }, mse), /target\.data\[0\] is 1e\+39/);
    const h0 = { shape: [2, B, 3], data: new Float32Array(2 * B * 3) };
    await rejects(m, () => m.forward(x, { h0: big(h0) }), /h0\.data\[0\]/);
    await rejects(m, () => m.forward(x, { c0: big(h0, 2) }), /c0\.data\[2\]/);
    const sd = m.stateDict();
    await rejects(m, () => m.loadStateDict({ ...sd, 'out.bias': { shape: [2], data: Float64Array.of(1e39, 0) } }), /'out.bias'.*1e\+39/);
  });
});

describe('init options', () => {
  it('rejects values beyond float32, unknown keys; accepts snake_case', async () => {
    const base = { cell: 'rnn', inputSize: 2, hiddenSize: 3, backend: 'js' } as const;
    await rejects(null, () => createModel({ ...base, init: { weightHh: { kind: 'constant', value: 1e39 } } }), /finite float32 'value'/, 'init');
    await rejects(null, () => createModel({ ...base, init: { weightHh: { kind: 'normal', std: NaN } } }), /'std'/);
    await rejects(null, () => createModel({ ...base, init: { weightHh: { kind: 'normal', mean: 3.3e38, std: 1e38 } } }), /'rnn.weight_hh_l0' gave/);
    await rejects(null, () => createModel({ ...base, init: { weightHh: { kind: 'normal', sd: 1 } as never } }), /unknown option 'sd'/);
    await rejects(null, () => createModel({ ...base, init: { forgetBias: 1e39 } }), /forgetBias/);
    await rejects(null, () => createModel({ ...base, init: { weigth_hh: 'zeros' } as never }), /unknown option 'weigth_hh'/);
    const m = await createModel({ ...base, init: { weight_hh: 'zeros' } as never });
    expect(m.stateDict()['rnn.weight_hh_l0'].data.every((v) => v === 0)).toBe(true);
  });
});

describe.each(PATHS)('optimizer state and results on %s', (path) => {
  it('NaN in loaded state is an error naming the buffer; the model is unchanged', async () => {
    const m = await model(path);
    const opt = new Adam(m);
    m.lossAndGrad({ x, target }, mse);
    opt.step();
    const s = opt.stateDict();
    s.buffers.exp_avg_sq[1] = NaN;
    await rejects(m, () => opt.loadStateDict(s), /state buffer 'exp_avg_sq'\[1\] is NaN/, 'adam');
    // and from a training checkpoint
    const bytes = readSafetensors(checkpointBytes(m, { optimizer: opt }));
    bytes.tensors['optimizer.exp_avg.out.bias'].data[0] = Infinity;
    const p = join(dir, `nan-state-${path}.safetensors`);
    writeFileSync(p, writeSafetensors(bytes.tensors, bytes.metadata));
    await rejects(null, () => loadTrainingCheckpoint(p, on(path)), /optimizer state.*'exp_avg'\[\d+\] is Infinity/, 'loadCheckpoint');
  });

  it('an overflowing step (SGD lr 3e38) is undone and says so', async () => {
    const m = await model(path);
    const opt = new SGD(m, { lr: 3e38 });
    m.gradView().fill(10); // lr * g passes float32's range
    const e = await rejects(m, () => opt.step(), /sgd: step 1 produced non-finite values in .*the weights and the optimizer state were restored/);
    expect(e).toBeInstanceOf(NonfiniteError);
    expect(opt.stepCount).toBe(0);
    // trainStep reports it the same way, and a later sane step works
    await rejects(m, () => trainStep(m, opt, [{ x, target: { ...target, data: target.data.map((v) => 1e3 * v) } }], { loss: mse }), /restored/);
    opt.lr = 0.1;
    trainStep(m, opt, [{ x, target }], { loss: mse });
    expect(opt.stepCount).toBe(1);
  });

  it('centered RMSprop on tiny gradients stays finite and agrees with the Wasm kernel', async () => {
    const run = async (p: Path) => {
      const m = await model(p);
      const opt = new RMSprop(m, { centered: true });
      for (let i = 0; i < 3; i++) {
        m.gradView().fill(1e-23); // padding included: it stays the same on every path
        opt.step();
      }
      return m.stateDict();
    };
    const got = await run(path), ref = await run('wasm');
    for (const [k, t] of Object.entries(got)) {
      expect(t.data.every(Number.isFinite)).toBe(true);
      for (let i = 0; i < t.data.length; i++) expect(Math.abs(t.data[i] - ref[k].data[i])).toBeLessThan(5e-4);
    }
  });
});

describe('hidden-gradient norms over threads', () => {
  it.each([1e22, 1e-24])('threads: 2 agrees with one thread at target scale %s (no float32 overflow/underflow)', async (scale) => {
    const norms = async (p: Path) => {
      const m = await model(p, { cell: 'rnn', hiddenSize: 4, numLayers: 1 });
      const sd = m.stateDict();
      for (const k of Object.keys(sd)) if (k.includes('bias')) sd[k].data.fill(0); // y = 0 for x = 0: dy is the target's scale
      m.loadStateDict(sd);
      const zx = { shape: [3, 4, 2], data: new Float32Array(24) };
      const tg = { shape: [3, 4, 2], data: new Float32Array(24).fill(scale) };
      return m.lossAndGrad({ x: zx, target: tg }, { kind: 'mse', reduction: 'sum' }).hiddenGradNorms.flat();
    };
    const one = await norms('wasm'), two = await norms('wasm, 2 threads');
    for (let i = 0; i < one.length; i++) {
      expect(one[i]).toBeGreaterThan(0);
      expect(Number.isFinite(two[i])).toBe(true);
      expect(Math.abs(two[i] - one[i]) / one[i]).toBeLessThan(1e-5);
    }
  });
});

describe.each(PATHS)('options, one rule, on %s', (path) => {
  it('snake_case aliases work; typos and unsupported options are errors; the model is unchanged', async () => {
    const m = await model(path);
    const last = m.lossAndGrad({ x, target }, { ...mse, lastStepOnly: true }).loss;
    expect(m.lossAndGrad({ x, target }, { ...mse, last_step_only: true } as never).loss).toBe(last);
    await rejects(m, () => m.lossAndGrad({ x, target }, { ...mse, lastStep: true } as never), /loss: unknown option 'lastStep'/, 'loss');
    const ce = { kind: 'cross_entropy', reduction: 'mean' } as const;
    const ids = { shape: [T, B], data: new Int32Array(T * B) };
    expect(m.lossAndGrad({ x, target: ids }, { ...ce, label_smoothing: 0.1 } as never).loss)
      .toBe(m.lossAndGrad({ x, target: ids }, { ...ce, labelSmoothing: 0.1 }).loss);
    await rejects(m, () => m.lossAndGrad({ x, target: ids }, { ...ce, labelSmothing: 0.1 } as never), /loss: unknown option 'labelSmothing'/, 'loss');
    const clipped = m.lossAndGrad({ x, target }, mse, { clipHiddenGrad: 1e-3 }).hiddenGradNorms;
    expect(m.lossAndGrad({ x, target }, mse, { clip_hidden_grad: 1e-3 } as never).hiddenGradNorms).toEqual(clipped);
    await rejects(m, () => m.lossAndGrad({ x, target }, mse, { clipHidenGrad: 1e-3 } as never), /unknown option 'clipHidenGrad'/, 'lossAndGrad');
    const opt = new SGD(m, { lr: 0.1 });
    await rejects(m, () => trainStep(m, opt, [{ x, target }], { loss: mse, clipHidenGrad: 1 } as never), /unknown option 'clipHidenGrad'/, 'trainStep');
    await rejects(m, () => fit(m, { x, target }, { epoch: 50, progress: false } as never), /fit: unknown option 'epoch'/, 'fit');
    const other = await model(path);
    await rejects(m, () => trainStep(m, new SGD(other, { lr: 1 }), [{ x, target }], { loss: mse }), /optimizer was built for a different model/);
    for (const f of [() => m.lossAndGrad({ x, target }, mse, null as never), () => m.forward(x, null as never),
      () => fit(m, { x, target }, null as never), () => trainStep(m, opt, [{ x, target }], null as never),
      () => evaluate(m, { x, target }, { loss: mse, batchSize: -5 }), () => evaluate(m, { x, target }, null as never),
      () => createModel({ cell: 'rnn', inputSize: 2n as never, hiddenSize: 3 }), () => createModel(null as never),
      () => m.forward({ shape: [1n, 1n, 2n] as never, data: new Float32Array(2) })]) {
      const e = await thrown(f);
      expect(e, e.message).toBeInstanceOf(BpttError);
    }
  });

  it('forward(x, state) takes the { h, c } that step() returns', async () => {
    const m = await model(path);
    const s = step(m, { shape: [B, 2], data: x.data.subarray(0, B * 2) }).state;
    const a = m.forward(x, s as never), b = m.forward(x, { h0: s.h, c0: s.c });
    expect(a.output.data).toEqual(b.output.data);
    expect(a.output.data).not.toEqual(m.forward(x).output.data);
    await rejects(m, () => m.forward(x, { h: s.h, h0: s.h } as never), /'h0' is given twice/);
  });

  it('clipGradNorm takes norm_type 2 and inf as torch does, and refuses others', async () => {
    const m = await model(path);
    m.zeroGrad();
    m.lossAndGrad({ x, target }, mse);
    const g = m.gradDict();
    const maxAbs = Math.max(...Object.values(g).flatMap((t) => Array.from(t.data, Math.abs)));
    expect(clipGradNorm(m, 1e9, { norm_type: Infinity } as never)).toBe(maxAbs);
    expect(clipGradNorm(m, 1e9, { normType: 'inf' })).toBe(maxAbs);
    await rejects(m, () => clipGradNorm(m, 1, { normType: 1 as never }), /normType must be 2 or Infinity/, 'clipGradNorm');
    clipGradNorm(m, maxAbs / 2, { normType: Infinity });
    const after = Math.max(...Object.values(m.gradDict()).flatMap((t) => Array.from(t.data, Math.abs)));
    expect(Math.abs(after - maxAbs / 2) / maxAbs).toBeLessThan(1e-5);
  });
});

describe('checkpoint files', () => {
  it('metadata "null" and null options are BpttErrors', async () => {
    const m = await model('js');
    const { tensors, metadata } = readSafetensors(checkpointBytes(m));
    for (const key of ['bptt_wasm.options', 'config', 'optimizer', 'scheduler']) {
      const p = join(dir, `null-${key}.safetensors`);
      // 'config' is read only without 'bptt_wasm.options'
      writeFileSync(p, writeSafetensors(tensors, key === 'config' ? { config: 'null' } : { ...metadata, [key]: 'null' }));
      await rejects(null, () => loadTrainingCheckpoint(p, { backend: 'js' }), new RegExp(`'${key}' is not a JSON object`), 'loadCheckpoint');
    }
    await rejects(m, () => saveCheckpoint(m, join(dir, 'x.safetensors'), { metadata: null as never }), /metadata must be an object/);
    await rejects(m, () => saveCheckpoint(m, join(dir, 'x.safetensors'), null as never), /options must be an object/);
  });

  it('a killed save leaves a temp file that the next save removes; errors name the target', async () => {
    const m = await model('js');
    const d = join(dir, 'stale');
    mkdirSync(d);
    const p = join(d, 'ck.safetensors');
    writeFileSync(join(d, '.ck.safetensors.999999999.abc123.tmp'), 'partial'); // a dead process's save
    writeFileSync(join(d, '.other.safetensors.999999999.abc123.tmp'), 'partial'); // another target's: left alone
    await saveCheckpoint(m, p);
    expect(readdirSync(d).sort()).toEqual(['.other.safetensors.999999999.abc123.tmp', 'ck.safetensors']);
    const e = await rejects(m, () => saveCheckpoint(m, join(dir, 'no-such-dir', 'ck.safetensors')), /cannot write '.*no-such-dir\/ck.safetensors'.*ENOENT/, 'saveCheckpoint');
    expect(e.message).not.toMatch(/\.tmp/);
  });

  it('saving through a symlink updates the target and keeps the link', async () => {
    const m = await model('js');
    const real = join(dir, 'real.safetensors'), link = join(dir, 'link.safetensors');
    writeFileSync(real, 'old');
    symlinkSync('real.safetensors', link);
    await saveCheckpoint(m, link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real)).toEqual(Buffer.from(checkpointBytes(m)));
    const dangling = join(dir, 'dangling.safetensors');
    symlinkSync('made-by-save.safetensors', dangling);
    await saveCheckpoint(m, dangling);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
    expect((await loadCheckpoint(dangling, { backend: 'js' })).stateDict()).toEqual(m.stateDict());
  });

  it('"__proto__" is a tensor name like any other', () => {
    const tensors = JSON.parse('{"__proto__": {"shape": [2], "data": [1, 2]}, "a": {"shape": [1], "data": [3]}}');
    const back = readSafetensors(writeSafetensors(tensors, JSON.parse('{"__proto__": "meta"}')));
    expect(Object.keys(back.tensors).sort()).toEqual(['__proto__', 'a']);
    expect(Array.from(back.tensors['__proto__'].data)).toEqual([1, 2]);
    expect(back.metadata['__proto__']).toBe('meta');
  });

  it('a header of 1,000,000 empty tensors is refused fast by the documented bound', () => {
    const entries: string[] = [];
    for (let i = 0; i < 1_000_000; i++) entries.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    const json = Buffer.from(`{${entries.join(',')}}`);
    const bytes = new Uint8Array(8 + json.length);
    new DataView(bytes.buffer).setUint32(0, json.length, true);
    bytes.set(json, 8);
    const t0 = performance.now();
    expect(() => readSafetensors(bytes)).toThrow(/more than 100000 tensors/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
