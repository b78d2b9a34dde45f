// Token-input models and ONNX: the embedding is a Gather(embed.weight, x) with x int64 ids.
// - PyTorch's own torch.onnx.export files (test/fixtures/embedding/*.onnx, written by
//   scripts/make_embedding_fixtures.py) import with readOnnx and reproduce the fixture's
//   output on js, wasm and wasm with 2 threads;
// - readOnnx(writeOnnx(m)) gives back the same config and state dict, bit for bit;
// - ONNX Runtime runs our export of every embedding fixture (h0/c0 and lengths as graph
//   inputs where the case has them) and matches forward within 1e-5 relative to each
//   tensor's largest magnitude (both compute in float32).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, type CreateModelOptions, type Model } from '../src/model.js';
import { readOnnx } from '../src/io/onnx.js';
import { writeOnnx } from '../src/io/onnx-write.js';
import { expectClose } from './helpers/compare.js';
import type { Fx } from './helpers/models.js';
import { EMBEDDING_DIR as DIR, embeddingFixtures } from './helpers/embedding.js';

const FWD = 2e-5;
const ORT_TOL = 1e-5;
const PATHS = ['js', 'wasm', 'wasm, 2 threads'] as const;
const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

const withOnnx = embeddingFixtures.filter(([, fx]) => fx.onnx);

function optionsOf(fx: Fx): CreateModelOptions {
  const c = fx.config, e = c.embedding;
  return {
    cell: c.cell, nonlinearity: c.nonlinearity, hiddenSize: c.hidden_size, numLayers: c.num_layers, outputSize: c.output_size,
    bias: c.bias, bidirectional: c.bidirectional, batchFirst: c.batch_first,
    embedding: { numEmbeddings: e.num_embeddings, embeddingDim: e.embedding_dim, ...(e.padding_idx !== null ? { paddingIdx: e.padding_idx } : {}) },
  };
}

const stateOf = (fx: Fx) => ({ ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.c0 ? { c0: fx.c0 } : {}), ...(fx.lengths ? { lengths: fx.lengths } : {}) });

describe('PyTorch\'s torch.onnx.export of Embedding + RNN/LSTM/GRU + Linear', () => {
  it('covers every cell, 2 layers, bidirectional, batch-first and an initial state', () => {
    const has = (p: (fx: Fx) => boolean) => withOnnx.some(([, fx]) => p(fx));
    for (const cell of ['rnn', 'lstm', 'gru']) expect(has((fx) => fx.config.cell === cell)).toBe(true);
    expect(has((fx) => fx.config.bidirectional) && has((fx) => fx.config.batch_first) && has((fx) => fx.h0 !== null)).toBe(true);
  });

  describe.each(withOnnx)('%s.onnx', (name, fx: Fx) => {
    it('imports as embed.weight + rnn.* + out.* with the config PyTorch had', () => {
      const imp = readOnnx(readFileSync(join(DIR, `${name}.onnx`)));
      const e = fx.config.embedding;
      expect(imp.config.embedding).toEqual({ numEmbeddings: e.num_embeddings, embeddingDim: e.embedding_dim });
      expect(imp.config.batchFirst ?? false).toBe(fx.config.batch_first);
      expect(Object.keys(imp.stateDict)).toEqual(Object.keys(fx.params));
      for (const [k, t] of Object.entries(fx.params as Record<string, Fx>)) expect(Array.from(imp.stateDict[k].data), k).toEqual(t.data);
    });

    it.each(PATHS)('reproduces the fixture\'s output on %s', async (path) => {
      const imp = readOnnx(readFileSync(join(DIR, `${name}.onnx`)));
      const m = await createModel({ ...imp.config, backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1 });
      live.push(m);
      m.loadStateDict(imp.stateDict);
      const r = m.forward(fx.x, stateOf(fx));
      expectClose('output', r.output, fx.output, FWD);
      expectClose('h_n', r.hN, fx.h_n, FWD);
    });
  });
});

describe('readOnnx(writeOnnx(m)) round-trips an embedding model exactly', () => {
  it.each(embeddingFixtures)('%s', async (_name, fx: Fx) => {
    const m = await createModel({ ...optionsOf(fx), backend: 'js' });
    m.loadStateDict(fx.params);
    const back = readOnnx(writeOnnx(m));
    const { paddingIdx: _training, ...emb } = m.config.embedding!; // padding_idx is training-only: not in a graph
    expect(back.config.embedding).toEqual(emb);
    expect(back.config.inputSize).toBe(m.config.inputSize);
    expect(back.config.batchFirst ?? false).toBe(m.batchFirst);
    const sd = m.stateDict();
    expect(Object.keys(back.stateDict)).toEqual(Object.keys(sd));
    for (const [k, t] of Object.entries(sd)) {
      expect(back.stateDict[k].shape, k).toEqual(t.shape);
      expect(back.stateDict[k].data, k).toEqual(t.data);
    }
  });
});

describe('ONNX Runtime runs the export of every embedding fixture', () => {
  it.each(embeddingFixtures)('%s: y, h_n (and c_n) as forward on js, wasm and wasm with 2 threads', async (_name, fx: Fx) => {
    for (const path of PATHS) {
      const m = await createModel({ ...optionsOf(fx), backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1 });
      live.push(m);
      m.loadStateDict(fx.params);
      const ours = m.forward(fx.x, stateOf(fx));
      const bytes = writeOnnx(m, { initialState: fx.h0 !== null, sequenceLens: fx.lengths !== null });
      const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      try {
        // ids as int64; padded steps hold -1 in the fixtures (Gather reads it as the last row; sequence_lens skips those steps)
        const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('int64', BigInt64Array.from(fx.x.data, (v: number) => BigInt(v)), fx.x.shape) };
        const f32 = (t: Fx) => new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
        if (fx.h0) feeds.h0 = f32(fx.h0);
        if (fx.c0) feeds.c0 = f32(fx.c0);
        if (fx.lengths) feeds.lengths = new ort.Tensor('int32', Int32Array.from(fx.lengths), [fx.lengths.length]);
        const r = await s.run(feeds);
        expectClose(`${path}: ORT y vs forward`, { shape: [...r.y.dims], data: r.y.data as Float32Array }, ours.output, ORT_TOL);
        expectClose(`${path}: ORT h_n vs forward`, { shape: [...r.h_n.dims], data: r.h_n.data as Float32Array }, ours.hN, ORT_TOL);
        if (ours.cN) expectClose(`${path}: ORT c_n vs forward`, { shape: [...r.c_n.dims], data: r.c_n.data as Float32Array }, ours.cN, ORT_TOL);
        expectClose('ORT y vs PyTorch', { data: r.y.data as Float32Array }, fx.output, FWD);
      } finally {
        await s.release();
      }
    }
  }, 60_000);
});
