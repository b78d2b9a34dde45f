// The fuzz suite: mutated safetensors and checkpoint files (byte flips, truncations,
// header edits, huge dims) and random bad API arguments on every compute path, within a
// fixed time budget. Every case must end in a result or a BpttError (never a TypeError,
// RangeError or Wasm trap), within the watchdog, with bounded allocation, and a failed
// call must leave the model unchanged (a call that runs no backward: its gradients too, even
// when it succeeds).
//
// Seeded: case i of a target draws from Rng(hashSeed(SEED, `${target} ${i}`)), so a
// failure reproduces with BPTT_FUZZ_SEED and the case number it prints. The budget is
// BPTT_FUZZ_SECONDS (default 60, over all targets); a failing input is written to
// test/fuzz-corpus/ so it can be kept as a regression case. The corpus files are
// replayed first on every run. BPTT_FUZZ_TRACE=file logs each API case before it runs (to find a hang).

import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Adam, Adagrad, BpttError, RMSprop, SGD, StepLR, checkpointBytes, clipGradNorm, clipGradValue, createModel, evaluate, fit,
  lossValue, sample, step, trainStep, type Model,
} from '../src/index.js';
import { Rng, hashSeed } from '../src/rng.js';
import { on, PATHS } from './helpers/variants.js';

const here = dirname(fileURLToPath(import.meta.url));
const CORPUS = join(here, 'fuzz-corpus');
const SEED = Number(process.env.BPTT_FUZZ_SEED ?? 20261201);
const BUDGET_MS = Number(process.env.BPTT_FUZZ_SECONDS ?? 60) * 1000;
/** a case that takes longer than this is a hang */
const WATCHDOG_MS = 10_000;
const tmp = mkdtempSync(join(tmpdir(), 'bptt-fuzz-'));

type Outcome = { outcome: string; where: string; message: string; ms: number; abDelta: number; usedBytes: number };
const figures: Record<string, Record<string, number>> = {};
const count = (target: string, key: string) => {
  const f = (figures[target] ??= {});
  f[key] = (f[key] ?? 0) + 1;
};
afterAll(() => {
  const lines = Object.entries(figures).map(([t, f]) => `  ${t}: ${Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`fuzz (seed ${SEED}, budget ${BUDGET_MS / 1000} s):\n${lines.join('\n')}`);
});

// ---------------------------------------------------------------------------------------
// A worker with a watchdog: a case that does not answer in time is a hang.

class Runner {
  private worker!: Worker;
  private next = 0;
  constructor() {
    this.spawn();
  }
  private spawn(): void {
    this.worker = new Worker(join(here, 'helpers', 'fuzz-worker.mjs'));
  }
  run(msg: Record<string, unknown>): Promise<Outcome> {
    const id = this.next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.worker.removeAllListeners('message');
        void this.worker.terminate();
        this.spawn();
        resolve({ outcome: 'hang', where: '', message: `no answer in ${WATCHDOG_MS} ms`, ms: WATCHDOG_MS, abDelta: 0, usedBytes: 0 });
      }, WATCHDOG_MS);
      const onMessage = (m: Outcome & { id: number }) => {
        if (m.id !== id) return;
        clearTimeout(timer);
        this.worker.off('message', onMessage);
        resolve(m);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', (e) => {
        clearTimeout(timer);
        this.spawn();
        resolve({ outcome: `worker died: ${e.message}`, where: '', message: e.message, ms: 0, abDelta: 0, usedBytes: 0 });
      });
      this.worker.postMessage({ id, ...msg });
    });
  }
  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------
// File mutations

const PALETTE: unknown[] = [null, -1, 0, 1, 3, 1.5, 256, 1e6, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 1e39, -1e39, 'x', '', true, [], {}, [2, 3]];
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

function splitFile(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

function joinFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A JSON metadata value edited: a field set to a palette value, deleted, or an unknown one added. */
function editJson(rng: Rng, raw: string): string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return raw;
  }
  if (v === null || typeof v !== 'object') return pick(rng, ['null', '[]', '{}', '"x"', '1e999']);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const r = rng.int(4);
  if (r === 0 && keys.length) delete o[pick(rng, keys)];
  else if (r === 1) o[pick(rng, ['threads', 'backend', 'wasmBuild', 'foo', '__proto__', 'num_layers', 'hidden_size'])] = pick(rng, PALETTE);
  else if (keys.length) o[pick(rng, keys)] = pick(rng, PALETTE);
  return rng.int(8) === 0 ? pick(rng, ['null', '[]', '"null"', '{"cell":"lstm","input_size":2,"hidden_size":3,"num_layers":1000000}']) : JSON.stringify(o);
}

function mutate(rng: Rng, seed: Uint8Array): { bytes: Uint8Array; how: string } {
  const b = new Uint8Array(seed);
  const n = Number(new DataView(b.buffer).getBigUint64(0, true));
  switch (rng.int(5)) {
    case 0: { // byte flips, mostly in the header
      const k = 1 + rng.int(8);
      for (let i = 0; i < k; i++) {
        const p = rng.int(4) ? 8 + rng.int(n) : rng.int(b.length);
        b[p] ^= 1 << rng.int(8);
      }
      return { bytes: b, how: `${k} bit flips` };
    }
    case 1: { // truncation
      const len = rng.int(b.length);
      return { bytes: b.subarray(0, len), how: `truncated to ${len}` };
    }
    case 2: { // the header length
      const v = pick(rng, [0, 1, 2, n - 1, n + 1, b.length, 2 ** 32, 2 ** 53 - 1, rng.int(2 ** 31)]);
      new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, v)), true);
      return { bytes: b, how: `header length ${v}` };
    }
    default: { // header edits: tensor entries, metadata, huge dims
      const { header, data } = splitFile(b);
      const edits: string[] = [];
      for (let e = 1 + rng.int(3); e > 0; e--) {
        const names = Object.keys(header).filter((k) => k !== '__metadata__');
        const r = rng.int(7);
        if (r <= 2 && names.length) {
          const name = pick(rng, names);
          const t = header[name] as Record<string, unknown>;
          const field = pick(rng, ['shape', 'data_offsets', 'dtype', 'delete', 'rename']);
          edits.push(`${name}.${field}`);
          if (field === 'shape') t.shape = pick(rng, [[2 ** 31, 2 ** 31], [-1], [1e20], ['a'], [], [0], [3.5], null, [2 ** 53], [2 ** 26, 64]]);
          else if (field === 'data_offsets') t.data_offsets = pick(rng, [[0, 2 ** 53], [5, 1], [-1, 4], [0, 0], null, ['a', 1], [0, 2 ** 32]]);
          else if (field === 'dtype') t.dtype = pick(rng, ['F16', 'BF16', 'F64', 'I64', 'U8', 'X', null, 5]);
          else if (field === 'delete') delete header[name];
          else {
            header[pick(rng, ['__proto__', 'constructor', 'optimizer.exp_avg.__proto__', 'optimizer..x', 'rnn.weight_ih_l9'])] = t;
            delete header[name];
          }
        } else if (r <= 5) {
          const old = header.__metadata__;
          const meta = (old !== null && typeof old === 'object' && !Array.isArray(old) ? old : {}) as Record<string, string>;
          const key = pick(rng, ['config', 'bptt_wasm.options', 'optimizer', 'scheduler', 'format']);
          edits.push(`metadata ${key}`);
          if (meta[key] !== undefined || rng.int(2)) meta[key] = editJson(rng, meta[key] ?? '{}');
          header.__metadata__ = meta;
        } else {
          edits.push('__metadata__');
          header.__metadata__ = pick(rng, [null, [], { a: 1 }, 'x']);
        }
      }
      return { bytes: joinFile(header, data), how: `header edits: ${edits.join(', ')}` };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Seed files

const x = { shape: [5, 3, 2], data: Float32Array.from({ length: 30 }, (_, i) => Math.sin(i)) };
const ids = { shape: [5, 3], data: Int32Array.from({ length: 15 }, (_, i) => i % 3) };
const ce = { kind: 'cross_entropy', reduction: 'mean' } as const;
let seeds: Uint8Array[] = [];

async function seedFiles(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const a = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 3, numLayers: 2, outputSize: 3, backend: 'js' });
  const adam = new Adam(a);
  trainStep(a, adam, [{ x, target: ids }], { loss: ce });
  out.push(checkpointBytes(a, { optimizer: adam, scheduler: new StepLR(adam, { stepSize: 2 }) }));
  const b = await createModel({ cell: 'rnn', nonlinearity: 'relu', inputSize: 2, hiddenSize: 4, backend: 'js' });
  out.push(checkpointBytes(b));
  const c = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 2, outputSize: 3, bias: false, backend: 'js' });
  const sgd = new SGD(c, { lr: 0.1, momentum: 0.9 });
  trainStep(c, sgd, [{ x, target: ids }], { loss: ce });
  out.push(checkpointBytes(c, { optimizer: sgd }));
  return out;
}

const corpus = (): { name: string; bytes: Uint8Array }[] =>
  readdirSync(CORPUS).filter((f) => f.endsWith('.safetensors')).sort().map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(CORPUS, name))) }));

/** Check one file case's outcome; returns a failure description or null. */
function judge(r: Outcome, bytes: Uint8Array): string | null {
  if (r.outcome !== 'ok' && r.outcome !== 'BpttError') return `${r.outcome}: ${r.message}`;
  // what a file may cost: its own size a few times over (F16 -> F32 doubles; a model's
  // parameter, gradient and optimizer regions are at most 5x its float32 tensors)
  const bound = 12 * bytes.length + (4 << 20);
  if (r.abDelta > bound) return `allocated ${r.abDelta} bytes of ArrayBuffers for a ${bytes.length}-byte file`;
  if (r.usedBytes > bound) return `the loaded model uses ${r.usedBytes} bytes for a ${bytes.length}-byte file`;
  return null;
}

async function fileTarget(target: 'safetensors' | 'checkpoint', budgetMs: number): Promise<string[]> {
  const runner = new Runner();
  const failures: string[] = [];
  const send = (bytes: Uint8Array, i: number) => runner.run(target === 'safetensors' ? { kind: 'safetensors', bytes } :
    { kind: 'checkpoint', bytes, path: join(tmp, `case-${i}.safetensors`), backend: i % 3 === 0 ? 'wasm' : 'js' });
  const record = (r: Outcome, bytes: Uint8Array, label: string) => {
    count(target, r.outcome === 'BpttError' ? `BpttError(${r.where})` : r.outcome);
    const bad = judge(r, bytes);
    if (bad) {
      failures.push(`${label}: ${bad}`);
      writeFileSync(join(CORPUS, `new-${target}-${SEED}-${label.replace(/\W+/g, '_')}.safetensors`), bytes);
    }
  };
  try {
    for (const { name, bytes } of corpus()) record(await send(bytes, -1), bytes, `corpus ${name}`);
    const t0 = performance.now();
    let i = 0;
    for (; performance.now() - t0 < budgetMs; i++) {
      const rng = new Rng(hashSeed(SEED, `${target} ${i}`));
      const { bytes, how } = mutate(rng, pick(rng, seeds));
      record(await send(bytes, i), bytes, `case ${i} (${how})`);
    }
    count(target, 'cases');
    figures[target].cases = i;
  } finally {
    await runner.stop();
  }
  return failures;
}

beforeAll(async () => {
  seeds = await seedFiles();
});

describe('fuzz: files', () => {
  it('mutated safetensors files: a result or a BpttError, no hang, bounded allocation', async () => {
    const failures = await fileTarget('safetensors', BUDGET_MS * 0.2);
    expect(failures).toEqual([]);
  }, BUDGET_MS + 60_000);

  it('mutated checkpoints through loadTrainingCheckpoint: the same', async () => {
    const failures = await fileTarget('checkpoint', BUDGET_MS * 0.3);
    expect(failures).toEqual([]);
  }, BUDGET_MS + 60_000);
});

// ---------------------------------------------------------------------------------------
// Random bad API arguments


/** A value from a palette of hostile ones, or a near-valid tensor. */
function bad(rng: Rng): unknown {
  const r = rng.int(6);
  if (r === 0) return pick(rng, [undefined, null, NaN, Infinity, -Infinity, 1e39, -5, 0, 1.5, 2n, 'x', Symbol('s'), [], {}, () => 1]);
  if (r === 1) return { shape: pick(rng, [[5, 3, 2], [5, 3], [1e9, 1e9, 2], [-1, 3, 2], [2n, 3n, 2n], null, 'x']), data: new Float32Array(30) };
  if (r === 2) return { shape: [5, 3, 2], data: pick(rng, [null, 'x', new Float64Array(30).fill(1e39), [NaN], new Float32Array(29), { length: 2 ** 40 }]) };
  if (r === 3) return pick(rng, [{ kind: 'mse' }, { kind: 'mse', reduction: 'sum', last_step_only: 'yes' }, { kind: 'cross_entropy', reduction: 'mean', label_smoothing: 0.1 }, { kind: 'x', reduction: 'mean' }]);
  if (r === 4) return { [pick(rng, ['clipHiddenGrad', 'clip_hidden_grad', 'clipHidenGrad', 'inputGrad', 'h', 'c', 'h0', 'epoch', 'lr', 'norm_type'])]: pick(rng, PALETTE) };
  return pick(rng, PALETTE);
}

/** An object with one field replaced by a hostile value, or one unknown field added. */
function spoil(rng: Rng, o: Record<string, unknown>): Record<string, unknown> {
  const out = { ...o };
  const keys = Object.keys(o);
  if (rng.int(4) === 0 || keys.length === 0) out[pick(rng, ['foo', 'epoch', 'clipHidenGrad', 'label_smoothing', 'norm_type', 'weight_decay'])] = bad(rng);
  else out[pick(rng, keys)] = bad(rng);
  return out;
}

type Call = (m: Model, rng: Rng) => unknown;
const mse = { kind: 'mse', reduction: 'mean' } as const;
const tgt = { shape: [5, 3, 3], data: Float32Array.from({ length: 45 }, (_, i) => Math.cos(i)) };

const CALLS: Record<string, Call> = {
  createModel: (m, rng) => createModel(spoil(rng, { ...m.options, backend: m.options.backend, threads: 1 }) as never).then((n) => n.dispose()),
  forward: (m, rng) => m.forward(rng.int(2) ? bad(rng) as never : x, spoil(rng, {}) as never),
  lossAndGrad: (m, rng) => {
    const parts = [{ x, target: tgt }, mse, {}] as Record<string, unknown>[];
    const k = rng.int(3);
    parts[k] = rng.int(2) ? spoil(rng, parts[k]) : bad(rng) as never;
    return m.lossAndGrad(parts[0] as never, parts[1] as never, parts[2] as never);
  },
  loadStateDict: (m, rng) => {
    const sd = m.stateDict() as Record<string, unknown>;
    const k = pick(rng, Object.keys(sd));
    sd[rng.int(5) ? k : pick(rng, ['foo', '__proto__', k.replace('rnn.', '')])] = bad(rng);
    return m.loadStateDict(sd as never);
  },
  optimizer: (m, rng) => {
    const make = pick(rng, [(o: object) => new SGD(m, o as never), (o: object) => new Adam(m, o), (o: object) => new RMSprop(m, o),
      (o: object) => new Adagrad(m, o)]);
    return make(spoil(rng, { lr: 0.01 }));
  },
  optimizerState: (m, rng) => {
    const opt = new Adam(m);
    const s = opt.stateDict() as unknown as Record<string, unknown>;
    s.step = 1;
    s.buffers = { exp_avg: new Float32Array(m.numParams), exp_avg_sq: new Float32Array(m.numParams) };
    if (rng.int(2)) (s.buffers as Record<string, Float32Array>)[pick(rng, ['exp_avg', 'exp_avg_sq'])][rng.int(m.numParams)] = pick(rng, [NaN, Infinity, -Infinity]);
    else s[pick(rng, ['kind', 'step', 'lr', 'options', 'buffers'])] = bad(rng);
    opt.loadStateDict(s as never);
  },
  trainStep: (m, rng) => {
    const opt = new SGD(m, { lr: pick(rng, [0.01, 3e38]) });
    return trainStep(m, opt, rng.int(3) ? [{ x, target: tgt }] : bad(rng) as never, spoil(rng, { loss: mse }) as never);
  },
  clip: (m, rng) => (rng.int(2) ? clipGradNorm(m, bad(rng) as never, spoil(rng, {}) as never) : clipGradValue(m, bad(rng) as never)),
  evaluate: (m, rng) => evaluate(m, { x, target: tgt }, spoil(rng, { loss: mse, batchSize: 2 }) as never),
  fit: (m, rng) => {
    const data = rng.int(4) ? { x, target: tgt } : bad(rng);
    const o = spoil(rng, { epochs: 1, progress: false, loss: mse });
    // a valid but endless request (epochs 2^32) is not a hang: stop it after 20 steps
    let steps = 0;
    return fit(m, data as never, { onStep: () => ++steps < 20, ...o } as never);
  },
  step: (m, rng) => step(m, rng.int(2) ? bad(rng) as never : { shape: [3, 2], data: new Float32Array(6) }, spoil(rng, {}) as never),
  lossValue: (_m, rng) => lossValue(bad(rng) as never, tgt, rng.int(2) ? mse : bad(rng) as never),
  loss: (m, rng) => {
    const parts = [{ x, target: tgt }, mse, {}] as Record<string, unknown>[];
    const k = rng.int(3);
    parts[k] = rng.int(2) ? spoil(rng, parts[k]) : bad(rng) as never;
    return m.loss(parts[0] as never, parts[1] as never, parts[2] as never);
  },
  predict: (m, rng) => m.predict(rng.int(3) ? x : bad(rng) as never, spoil(rng, { batchSize: 2, lastStepOnly: true }) as never),
  sample: (m, rng) => sample(m, spoil(rng, { prime: [0, 1], length: 3, temperature: 0.5 }) as never),
};
/** entry points that run no backward: even a successful call leaves the gradients as they were */
const FORWARD_ONLY = new Set(['forward', 'loss', 'predict', 'sample', 'step', 'evaluate', 'lossValue']);

describe.each(PATHS)('fuzz: bad API arguments on %s', (path) => {
  it('a result or a BpttError; a failed call leaves the weights unchanged', async () => {
    const m = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 4, numLayers: 2, outputSize: 3, seed: 5,
      ...on(path) });
    const target = `api ${path}`;
    const failures: string[] = [];
    const names = Object.keys(CALLS);
    try {
      const t0 = performance.now();
      let i = 0;
      for (; performance.now() - t0 < (BUDGET_MS * 0.5) / 3; i++) {
        const rng = new Rng(hashSeed(SEED, `${target} ${i}`));
        const name = pick(rng, names);
        const before = m.stateDict();
        const gradsBefore = m.gradView().slice();
        if (process.env.BPTT_FUZZ_TRACE) appendFileSync(process.env.BPTT_FUZZ_TRACE, `${target} ${i} ${name}\n`);
        const c0 = performance.now();
        let outcome = 'ok';
        try {
          await CALLS[name](m, rng);
        } catch (e) {
          outcome = e instanceof BpttError ? 'BpttError' : `engine:${(e as Error)?.name}`;
          if (!(e instanceof BpttError)) failures.push(`case ${i} ${name}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
          else if (JSON.stringify(m.stateDict()) !== JSON.stringify(before) && e.name !== 'NonfiniteError') {
            failures.push(`case ${i} ${name}: the model changed on a failed call (${e.message})`);
          }
          // a NonfiniteError says the weights were restored: check that too
          if (e instanceof BpttError && e.name === 'NonfiniteError' && JSON.stringify(m.stateDict()) !== JSON.stringify(before)) {
            failures.push(`case ${i} ${name}: NonfiniteError but the weights changed (${e.message})`);
          }
        }
        const ms = performance.now() - c0;
        if (FORWARD_ONLY.has(name) && !m.gradView().every((g, j) => Object.is(g, gradsBefore[j]))) {
          failures.push(`case ${i} ${name}: a call without a backward changed the gradients (${outcome})`);
        }
        if (ms > WATCHDOG_MS) failures.push(`case ${i} ${name}: took ${ms.toFixed(0)} ms`);
        if (ms > (figures[target]?.['slowest ms'] ?? 0)) Object.assign((figures[target] ??= {}), { 'slowest ms': Math.round(ms), 'slowest case': i });
        count(target, `${name} ${outcome}`);
        if (outcome === 'ok' && !m.stateDict()['out.bias'].data.every(Number.isFinite)) failures.push(`case ${i} ${name}: non-finite weights after a successful call`);
      }
      figures[target].cases = i;
    } finally {
      m.dispose();
    }
    expect(failures).toEqual([]);
  }, BUDGET_MS + 60_000);
});
