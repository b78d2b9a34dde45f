// The exported files, run by ONNX Runtime (onnxruntime-node, its CPU build): every
// configuration the PyTorch fixtures cover, exported from the fixture's state dict, gives
// the fixture's output, h_n and c_n, and the model's own forward on every backend; the
// bidirectional and variable-length cases (torch-seq fixtures, which the engine need not run
// yet) give PyTorch's output and final states with ORT's sequence_lens. Tolerance 1e-5
// relative to each tensor's largest magnitude: ORT and the engine both compute in float32
// (the fixtures README measures PyTorch's own float32 run within 3e-7 of these references).

import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, type Model } from '../src/model.js';
import { writeOnnx, writeOnnxGraph } from '../src/io/onnx-write.js';
import { listFixtures } from './helpers/fixtures.js';
import { expectClose } from './helpers/compare.js';
import { torchConfig, seqFixtures, type Fx } from './helpers/onnx-graph.js';
import { on, PATHS } from './helpers/variants.js';

const TOL = 1e-5;
const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

type T = { shape: number[]; data: ArrayLike<number> };
const f32 = (t: T) => new ort.Tensor('float32', Float32Array.from(t.data), t.shape);

async function runOrt(bytes: Uint8Array, fx: Fx, withLengths: boolean): Promise<Record<string, T>> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = { x: f32(fx.x) };
    if (fx.h0) feeds.h0 = f32(fx.h0);
    if (fx.c0) feeds.c0 = f32(fx.c0);
    if (withLengths) feeds.lengths = new ort.Tensor('int32', Int32Array.from(fx.lengths), [fx.lengths.length]);
    const r = await s.run(feeds);
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { shape: [...v.dims], data: v.data as Float32Array }]));
  } finally {
    await s.release();
  }
}

function expectMatchesFixture(what: string, r: Record<string, T>, fx: Fx) {
  expectClose(`${what} y`, r.y, fx.output, TOL);
  expectClose(`${what} h_n`, r.h_n, fx.h_n, TOL);
  if (fx.config.cell === 'lstm') expectClose(`${what} c_n`, r.c_n, fx.c_n, TOL);
  else expect(r.c_n).toBeUndefined();
}

describe('ONNX Runtime runs the export of every fixture configuration', () => {
  it.each(listFixtures().map((f) => [f.name, f.json]))('%s: fixture output/h_n/c_n, and forward on js, wasm and wasm with 2 threads', async (_name, fx: Fx) => {
    const config = torchConfig(fx.config);
    const withState = { initialState: Boolean(fx.h0) };
    const fromDict = await runOrt(writeOnnxGraph({ config, stateDict: fx.params }, withState), fx, false);
    expectMatchesFixture('ORT', fromDict, fx);
    for (const path of PATHS) {
      const m = await createModel({ ...config, ...on(path) });
      live.push(m);
      m.loadStateDict(fx.params);
      const ours = m.forward(fx.x, { ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.c0 ? { c0: fx.c0 } : {}) });
      const theirs = await runOrt(writeOnnx(m, withState), fx, false);
      expectClose(`${path}: ORT y vs forward`, theirs.y, ours.output, TOL);
      expectClose(`${path}: ORT h_n vs forward`, theirs.h_n, ours.hN, TOL);
      if (ours.cN) expectClose(`${path}: ORT c_n vs forward`, theirs.c_n, ours.cN, TOL);
    }
  }, 60_000);
});

describe('ONNX Runtime runs bidirectional and variable-length exports (torch-seq fixtures)', () => {
  it.each(seqFixtures().map((f) => [f.name, f.json]))('%s: output and final states as PyTorch', async (_name, fx: Fx) => {
    const bytes = writeOnnxGraph({ config: torchConfig(fx.config), stateDict: fx.params }, { initialState: Boolean(fx.h0), sequenceLens: fx.lengths !== null });
    const r = await runOrt(bytes, fx, fx.lengths !== null);
    expectMatchesFixture('ORT', r, fx);
  });

  it('the same file without lengths runs sequences of full length (lengths optional at export)', async () => {
    const fx = seqFixtures().find((f) => f.json.lengths === null && f.json.config.bidirectional)!.json;
    const r = await runOrt(writeOnnxGraph({ config: torchConfig(fx.config), stateDict: fx.params }, { initialState: Boolean(fx.h0) }), fx, false);
    expectMatchesFixture('ORT', r, fx);
  });
});

describe('dynamic axes', () => {
  it('one file runs several T and B; a fixed-axes file refuses other sizes', async () => {
    const fx = listFixtures().find((f) => f.name === 'gru_2layer_ce_last')!.json;
    const config = torchConfig(fx.config);
    const bytes = writeOnnxGraph({ config, stateDict: fx.params });
    const s = await ort.InferenceSession.create(bytes);
    for (const [T, B] of [[1, 1], [7, 3], [2, 9]]) {
      const x = new ort.Tensor('float32', new Float32Array(T * B * config.inputSize).fill(0.25), [T, B, config.inputSize]);
      const r = await s.run({ x });
      expect(r.y.dims).toEqual([T, B, config.outputSize]);
      expect(r.h_n.dims).toEqual([config.numLayers, B, config.hiddenSize]);
    }
    await s.release();
    const fixed = await ort.InferenceSession.create(writeOnnxGraph({ config, stateDict: fx.params }, { dynamicAxes: false, seqLen: 4, batchSize: 2 }));
    const bad = new ort.Tensor('float32', new Float32Array(3 * 2 * config.inputSize), [3, 2, config.inputSize]);
    await expect(fixed.run({ x: bad })).rejects.toThrow(/dimension|Got invalid dimensions/i);
    await fixed.release();
  });
});

// onnxruntime-web's Wasm backend (what a browser would serve the model with) also runs in Node,
// from the package's own .wasm files, no download.
describe('onnxruntime-web (Wasm backend, one thread) runs the export too', () => {
  const cases = ['lstm_2layer_h0_ce_sum', 'seq_gru_bi_len_2layer_h0_mse_sum', 'seq_rnn_relu_bi_2layer_h0_ce_sum'];
  it.each(cases)('%s', async (name) => {
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    const fx = (listFixtures().find((f) => f.name === name) ?? seqFixtures().find((f) => f.name === name))!.json;
    const lengths = fx.lengths != null;
    const bytes = writeOnnxGraph({ config: torchConfig(fx.config), stateDict: fx.params }, { initialState: Boolean(fx.h0), sequenceLens: lengths });
    const s = await web.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const t = (x: T) => new web.Tensor('float32', Float32Array.from(x.data), x.shape);
    const feeds: Record<string, InstanceType<typeof web.Tensor>> = { x: t(fx.x) };
    if (fx.h0) feeds.h0 = t(fx.h0);
    if (fx.c0) feeds.c0 = t(fx.c0);
    if (lengths) feeds.lengths = new web.Tensor('int32', Int32Array.from(fx.lengths), [fx.lengths.length]);
    const r = await s.run(feeds);
    const out = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { shape: [...v.dims], data: v.data as Float32Array }]));
    expectMatchesFixture('onnxruntime-web', out, fx);
    await s.release();
  }, 60_000);
});
