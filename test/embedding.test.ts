// Token inputs: nn.Embedding (`embed.weight`) before the recurrent stack, against PyTorch
// float64 references written by scripts/make_embedding_fixtures.py (test/fixtures/embedding/),
// on every compute path: RNN/LSTM/GRU, repeated ids, 2 layers, bidirectional, lengths,
// batchFirst, padding_idx and optimizer trajectories. Tolerances as the other fixtures:
// 2e-5 forward and loss, 1e-4 gradients, 5e-4 after optimizer steps, each relative to the
// tensor's largest magnitude (float32 arithmetic against float64).

import { afterAll, describe, expect, it } from 'vitest';
import { BpttError, createModel, type Model } from '../src/index.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';
import { expectTrajectory } from './helpers/trajectory.js';
import { embeddingFixtures } from './helpers/embedding.js';
import type { Fx, Path } from './helpers/models.js';

const FWD = 2e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;
const TRAIN = 5e-4;
const PATHS = ['js', 'wasm', 'wasm, 2 threads'] as const;

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

async function modelFor(fx: Fx, path: Path): Promise<Model> {
  const c = fx.config;
  const e = c.embedding;
  const m = await createModel({
    cell: c.cell, nonlinearity: c.nonlinearity, hiddenSize: c.hidden_size, numLayers: c.num_layers,
    outputSize: c.output_size, bias: c.bias, bidirectional: c.bidirectional, batchFirst: c.batch_first,
    embedding: { numEmbeddings: e.num_embeddings, embeddingDim: e.embedding_dim, ...(e.padding_idx !== null ? { paddingIdx: e.padding_idx } : {}) },
    backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1,
  });
  live.push(m);
  m.loadStateDict(fx.params);
  return m;
}

const batchFor = (fx: Fx) => ({
  x: { shape: fx.x.shape, data: Int32Array.from(fx.x.data) },
  target: fx.loss.kind === 'cross_entropy' ? { shape: fx.target.shape, data: Int32Array.from(fx.target.data) } : fx.target,
  ...(fx.h0 ? { h0: fx.h0 } : {}),
  ...(fx.c0 ? { c0: fx.c0 } : {}),
  ...(fx.lengths ? { lengths: fx.lengths as number[] } : {}),
});
const lossFor = (fx: Fx) => ({ kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only });

describe('the embedding fixtures', () => {
  it('cover every cell, 2 layers, bidirectional, lengths, batchFirst, padding_idx, h0 and optimizer steps', () => {
    const has = (p: (fx: Fx) => boolean) => embeddingFixtures.some(([, fx]) => p(fx));
    expect(embeddingFixtures.length).toBeGreaterThanOrEqual(12);
    for (const cell of ['rnn', 'lstm', 'gru']) expect(has((fx) => fx.config.cell === cell)).toBe(true);
    expect(has((fx) => fx.config.num_layers === 2)).toBe(true);
    expect(has((fx) => fx.config.bidirectional)).toBe(true);
    expect(has((fx) => fx.lengths !== null && fx.x.data.includes(-1))).toBe(true);
    expect(has((fx) => fx.config.batch_first)).toBe(true);
    expect(has((fx) => fx.config.embedding.padding_idx !== null)).toBe(true);
    expect(has((fx) => fx.h0 !== null)).toBe(true);
    expect(has((fx) => fx.train?.optimizer === 'adam') && has((fx) => fx.train?.optimizer === 'sgd')).toBe(true);
    // every case repeats a token (the first step of every sequence), so the scatter-add must sum rows
    for (const [, fx] of embeddingFixtures) {
      if (fx.B < 2) continue;
      const [a, b] = fx.config.batch_first ? [fx.x.data[0], fx.x.data[fx.T]] : [fx.x.data[0], fx.x.data[1]];
      expect(a).toBe(b);
    }
  });
});

describe.each(PATHS)('embedding fixtures on %s', (path) => {
  describe.each(embeddingFixtures)('%s', (_name, fx: Fx) => {
    it('matches output, h_n, c_n, loss, every gradient (embed.weight included), d_h0 and d_c0', async () => {
      const model = await modelFor(fx, path);
      expect(Object.keys(model.stateDict())).toEqual(Object.keys(fx.params)); // PyTorch's order: embed, rnn, out
      const r = model.lossAndGrad(batchFor(fx), lossFor(fx));
      expectClose('output', r.output, fx.output, FWD);
      expectClose('h_n', r.hN, fx.h_n, FWD);
      if (fx.c_n) expectClose('c_n', r.cN!, fx.c_n, FWD);
      expectScalarClose('loss', r.loss, fx.loss_value, LOSS);
      const got = model.gradDict();
      expect(Object.keys(got)).toEqual(Object.keys(fx.grads));
      for (const [name, t] of Object.entries(fx.grads)) expectClose(`grad ${name}`, got[name], t as Fx, GRAD);
      expect(r.dx).toBeUndefined(); // ids have no gradient; it is in embed.weight's
      expectClose('d_h0', r.dh0, fx.d_h0, GRAD);
      if (fx.d_c0) expectClose('d_c0', r.dc0!, fx.d_c0, GRAD);
      const pad = fx.config.embedding.padding_idx;
      if (pad !== null) {
        const E = fx.config.embedding.embedding_dim;
        expect(Array.from(got['embed.weight'].data.subarray(pad * E, (pad + 1) * E))).toEqual(new Array(E).fill(0));
      }
    });

    it('forward gives the training path\'s output and states', async () => {
      const model = await modelFor(fx, path);
      const b = batchFor(fx);
      const r = model.lossAndGrad(b, lossFor(fx));
      const f = model.forward(b.x, { h0: b.h0, c0: b.c0, lengths: b.lengths });
      expect(Array.from(f.output.data)).toEqual(Array.from(r.output.data));
      expect(Array.from(f.hN.data)).toEqual(Array.from(r.hN.data));
    });

    if (fx.train) it('reproduces the training trajectory (losses, norms before clipping, final parameters)', async () => {
      expectTrajectory(await modelFor(fx, path), fx.train, batchFor(fx), lossFor(fx), TRAIN);
    });
  });
});

describe.each(PATHS)('token ids on %s', (path) => {
  const make = async (extra: object = {}) => {
    const m = await createModel({
      cell: 'gru', hiddenSize: 4, outputSize: 3, embedding: { numEmbeddings: 5, embeddingDim: 3 }, seed: 3,
      backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1, ...extra,
    });
    live.push(m);
    return m;
  };
  const target = { shape: [2, 2], data: Int32Array.from([0, 1, 2, 0]) };
  const loss = { kind: 'cross_entropy', reduction: 'sum' } as const;

  it.each([
    [[0, 1, 5, 2], 2, '5'],
    [[0, -1, 4, 2], 1, '-1'],
    [[0, 1, 2.5, 2], 2, '2.5'],
    [[0, 1, NaN, 2], 2, 'NaN'],
  ])('ids %j: a BpttError naming x, the index, the value and the range; nothing changes', async (ids, at, shown) => {
    const m = await make();
    m.lossAndGrad({ x: { shape: [2, 2], data: [0, 1, 2, 3] }, target }, loss);
    const params = m.paramView().slice(), grads = m.gradView().slice();
    const bad = { shape: [2, 2], data: ids };
    for (const call of [() => m.forward(bad), () => m.lossAndGrad({ x: bad, target }, loss)]) {
      let err: unknown;
      try { call(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(BpttError);
      const msg = (err as Error).message;
      expect(msg).toContain(`x.data[${at}] = ${shown}`);
      expect(msg).toContain('[0, 4]');
      expect(msg).toContain('numEmbeddings 5');
    }
    expect(m.paramView()).toEqual(params);
    expect(m.gradView()).toEqual(grads);
  });

  it('a feature tensor [T, B, I] is refused with the layout it expected', async () => {
    const m = await make();
    expect(() => m.forward({ shape: [2, 2, 3], data: new Float32Array(12) })).toThrow(/expected \[T, B\] token ids.*integer ids/);
    const bf = await make({ batchFirst: true });
    expect(() => bf.forward({ shape: [2, 2, 1], data: [0, 1, 2, 3] })).toThrow(/\[B, T\] token ids \(batchFirst\)/);
  });

  it('padded steps are never read and add no gradient; a row nobody uses gets none', async () => {
    const m = await make();
    const lengths = [2, 1];
    m.zeroGrad();
    // step 1 of sequence 1 is padding: its id (99, not an id) must not be read
    m.lossAndGrad({ x: { shape: [2, 2], data: [0, 1, 2, 99] }, target, lengths }, loss);
    const g = m.gradDict()['embed.weight'].data;
    const rowNorm = (r: number) => Math.hypot(g[r * 3], g[r * 3 + 1], g[r * 3 + 2]);
    expect(rowNorm(0)).toBeGreaterThan(0);
    expect(rowNorm(1)).toBeGreaterThan(0);
    expect(rowNorm(2)).toBeGreaterThan(0);
    expect(rowNorm(3)).toBe(0);
    expect(rowNorm(4)).toBe(0);
  });

  it('repeated ids accumulate: the gradient of a row is the sum over its uses, the same on every run', async () => {
    const m = await make();
    const x = { shape: [2, 2], data: [3, 3, 3, 3] };
    m.zeroGrad();
    m.lossAndGrad({ x, target }, loss);
    const once = m.gradDict()['embed.weight'].data;
    m.zeroGrad();
    m.lossAndGrad({ x, target }, loss);
    expect(m.gradDict()['embed.weight'].data).toEqual(once);
    expect(Array.from(once.subarray(0, 9))).toEqual(new Array(9).fill(0));
  });
});

describe('the embedding option', () => {
  it('takes inputSize from embeddingDim, refuses a mismatch, and validates its fields', async () => {
    const m = await createModel({ cell: 'lstm', hiddenSize: 4, embedding: { numEmbeddings: 6, embeddingDim: 3 }, backend: 'js' });
    expect(m.config.inputSize).toBe(3);
    expect(m.stateDict()['embed.weight'].shape).toEqual([6, 3]);
    await expect(createModel({ cell: 'lstm', inputSize: 3, hiddenSize: 4, embedding: { numEmbeddings: 6, embeddingDim: 3 }, backend: 'js' }))
      .resolves.toBeDefined();
    await expect(createModel({ cell: 'lstm', inputSize: 5, hiddenSize: 4, embedding: { numEmbeddings: 6, embeddingDim: 3 } }))
      .rejects.toThrow(/inputSize 5 does not match embedding.embeddingDim 3/);
    await expect(createModel({ cell: 'lstm', hiddenSize: 4, embedding: { numEmbeddings: 0, embeddingDim: 3 } }))
      .rejects.toThrow(/embedding.numEmbeddings/);
    await expect(createModel({ cell: 'lstm', hiddenSize: 4, embedding: { numEmbeddings: 6, embeddingDim: 3, paddingIdx: 6 } }))
      .rejects.toThrow(/paddingIdx must be an integer in \[-6, 5\]/);
    await expect(createModel({ cell: 'lstm', hiddenSize: 4, embedding: { numEmbeddings: 6, embedding_size: 3 } as never }))
      .rejects.toThrow(/unknown option 'embedding_size'/);
    // PyTorch's spellings and a negative padding_idx (counted from the end)
    const p = await createModel({ cell: 'gru', hiddenSize: 4, embedding: { num_embeddings: 6, embedding_dim: 3, padding_idx: -1 } as never, backend: 'js' });
    expect(p.config.embedding).toEqual({ numEmbeddings: 6, embeddingDim: 3, paddingIdx: 5 });
  });

  it('initializes embed.weight as nn.Embedding: N(0, 1), the padding row zero, the same on both backends', async () => {
    const opts = { cell: 'rnn', hiddenSize: 4, embedding: { numEmbeddings: 400, embeddingDim: 50, paddingIdx: 7 }, seed: 9 } as const;
    const a = await createModel({ ...opts, backend: 'js' });
    const b = await createModel({ ...opts, backend: 'wasm' });
    const w = a.stateDict()['embed.weight'].data;
    expect(b.stateDict()['embed.weight'].data).toEqual(w);
    let s = 0, s2 = 0;
    for (const v of w) { s += v; s2 += v * v; }
    const n = w.length - 50, mean = s / n, sd = Math.sqrt(s2 / n - mean * mean);
    // 19,950 draws: the mean's standard error is 0.007, the sd's 0.005; 5 sigma bounds
    expect(Math.abs(mean)).toBeLessThan(0.035);
    expect(Math.abs(sd - 1)).toBeLessThan(0.025);
    expect(Array.from(w.subarray(7 * 50, 8 * 50))).toEqual(new Array(50).fill(0));
  });
});
