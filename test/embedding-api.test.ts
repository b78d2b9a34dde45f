// Token ids through every entry point besides lossAndGrad and forward (test/embedding.test.ts
// checks those against PyTorch): predict, step, sample, trainStep, trainTruncated, evaluate
// and fit, on every compute path. Each is checked against a path already known to be right:
// forward / lossAndGrad on the same model, or the model's one-hot twin, whose layer-0 input
// weights are W_ih @ embed.weight^T (so W'_ih one_hot(id) = W_ih embed.weight[id]: the same
// function of the ids). Bad ids, and inputs of the wrong kind, are errors that leave the
// model unchanged.
//
// Tolerances: the twin computes the same sums in another order (and W' is rounded to
// float32 once), so outputs agree to float32 rounding of the sums, 2e-5 of the largest
// magnitude, as the fixtures' forward tolerance; the same model over other batch splits, 1e-6.

import { describe, expect, it } from 'vitest';
import {
  BpttError, SGD, Adam, Rng, evaluate, fit, sample, step, trainStep, trainTruncated,
  type CreateModelOptions, type LossSpec, type Model, type Tensor, type TensorLike,
} from '../src/index.js';
import { PATHS, createModelOn, type Path } from './helpers/variants.js';
import { expectClose } from './helpers/compare.js';

const V = 7, E = 3, H = 5;
const TWIN = 2e-5;
const SAME = 1e-6;
const ce = (reduction: 'sum' | 'mean', lastStepOnly = false): LossSpec => ({ kind: 'cross_entropy', reduction, lastStepOnly });

/** n token ids in [0, V), seeded. */
const ids = (n: number, seed: number): Int32Array => {
  const r = new Rng(seed);
  return Int32Array.from({ length: n }, () => r.int(V));
};

/** [T, B] (or [B, T] batch-first) ids with -1 at padded steps, which must never be read. */
function paddedIds(T: number, B: number, lengths: number[], bf: boolean, seed: number): TensorLike {
  const d = ids(T * B, seed);
  for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) d[bf ? b * T + t : t * B + b] = -1;
  return { shape: bf ? [B, T] : [T, B], data: d };
}

/** One-hot rows of ids (a zero row where an id is -1: a padded step). */
function oneHotOf(x: TensorLike): Tensor {
  const d = new Float32Array(x.data.length * V);
  for (let i = 0; i < x.data.length; i++) if (x.data[i] >= 0) d[i * V + x.data[i]] = 1;
  return { shape: [...x.shape, V], data: d };
}

const embModel = (path: Path, extra: Partial<CreateModelOptions> = {}): Promise<Model> =>
  createModelOn(path, { cell: 'lstm', hiddenSize: H, outputSize: V, embedding: { numEmbeddings: V, embeddingDim: E }, seed: 11, ...extra });

/** The one-hot model computing the same function: W_ih_l0 (each direction) becomes W_ih_l0 @ embed.weight^T. */
async function oneHotTwin(path: Path, m: Model): Promise<Model> {
  const { embedding: _e, inputSize: _i, backend: _b, ...rest } = m.options;
  const twin = await createModelOn(path, { ...rest, inputSize: V });
  const sd = m.stateDict();
  const W = sd['embed.weight'].data;
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(sd)) {
    if (k === 'embed.weight') continue;
    if (!/^rnn\.weight_ih_l0(_reverse)?$/.test(k)) {
      out[k] = t;
      continue;
    }
    const G = t.shape[0];
    const d = new Float32Array(G * V);
    for (let g = 0; g < G; g++) {
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += t.data[g * E + e] * W[v * E + e];
        d[g * V + v] = s;
      }
    }
    out[k] = { shape: [G, V], data: d };
  }
  twin.loadStateDict(out);
  return twin;
}

/** Steps [t0, t1) of a [T, B, *] (or batch-first [B, T, *]) tensor with F values per step. */
function steps(x: TensorLike, t0: number, t1: number, bf: boolean): TensorLike {
  const [T, B] = bf ? [x.shape[1], x.shape[0]] : x.shape;
  const F = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const n = t1 - t0;
  const d = x.data instanceof Int32Array ? new Int32Array(n * B * F) : new Float32Array(n * B * F);
  for (let t = t0; t < t1; t++) {
    for (let b = 0; b < B; b++) {
      for (let f = 0; f < F; f++) d[(bf ? b * n + t - t0 : (t - t0) * B + b) * F + f] = x.data[(bf ? b * T + t : t * B + b) * F + f];
    }
  }
  return { shape: bf ? [B, n, ...x.shape.slice(2)] : [n, B, ...x.shape.slice(2)], data: d };
}

/** Sequences idx of a time-major [T, N] tensor, steps [0, T1). */
function columns(x: TensorLike, idx: ArrayLike<number>, T1: number): Int32Array {
  const N = x.shape[1];
  const d = new Int32Array(T1 * idx.length);
  for (let t = 0; t < T1; t++) for (let j = 0; j < idx.length; j++) d[t * idx.length + j] = x.data[t * N + idx[j]];
  return d;
}

const snapshot = (m: Model) => ({ params: m.paramView().slice(), grads: m.gradView().slice() });

describe.each(PATHS)('token ids through the other entry points on %s', (path) => {
  it.each([
    ['lstm, 2 layers, time-major', { cell: 'lstm', numLayers: 2 }],
    ['gru, bidirectional, batch-first', { cell: 'gru', bidirectional: true, batchFirst: true }],
  ] as const)('predict (batches, lastStepOnly, lengths) equals forward and the one-hot twin: %s', async (_n, extra) => {
    const m = await embModel(path, extra);
    const twin = await oneHotTwin(path, m);
    const bf = m.batchFirst;
    const T = 6, B = 5, lengths = [6, 2, 4, 1, 5];
    const x = paddedIds(T, B, lengths, bf, 1);
    const f = m.forward(x, { lengths });
    for (const batchSize of [2, 5]) {
      const p = m.predict(x, { lengths, batchSize });
      expectClose(`predict, batches of ${batchSize}`, p, f.output, SAME);
      expectClose('the one-hot twin\'s predict', twin.predict(oneHotOf(x), { lengths, batchSize }), p, TWIN);
      const last = m.predict(x, { lengths, batchSize, lastStepOnly: true });
      const O = V;
      const want = new Float32Array(B * O);
      for (let b = 0; b < B; b++) {
        const t = lengths[b] - 1;
        const at = (bf ? b * T + t : t * B + b) * O;
        want.set(f.output.data.subarray(at, at + O), b * O);
      }
      expectClose('predict lastStepOnly', last, { shape: [B, O], data: want }, SAME);
    }
    // plain number arrays are ids too
    expectClose('predict of a number[]', m.predict({ shape: x.shape, data: Array.from(x.data) }, { lengths }), f.output, SAME);
  });

  it.each([false, true])('step feeds one id per stream (batchFirst %s): step by step is forward over the sequence', async (batchFirst) => {
    const m = await embModel(path, { batchFirst });
    const T = 5, B = 3;
    const x = paddedIds(T, B, [T, T, T], batchFirst, 2);
    const f = m.forward(x);
    let state;
    for (let t = 0; t < T; t++) {
      const col = steps(x, t, t + 1, batchFirst);
      // [B] ids, or the one-step tensor ([1, B], batch-first [B, 1])
      const r = step(m, t % 2 ? col : { shape: [B], data: col.data }, state);
      state = r.state;
      const want = steps(f.output, t, t + 1, batchFirst).data;
      expectClose(`step ${t}`, r.output, { shape: [B, V], data: want }, SAME);
    }
    expectClose('h after the last step', state!.h, f.hN, SAME);
    expectClose('c after the last step', state!.c!, f.cN!, SAME);
  });

  it('sample feeds the ids themselves and draws what the one-hot twin draws', async () => {
    for (const extra of [{}, { cell: 'gru', batchFirst: true, numLayers: 2 }] as const) {
      const m = await embModel(path, extra);
      const twin = await oneHotTwin(path, m);
      const a = sample(m, { prime: [1, 2, 3], length: 25, seed: 4 });
      const b = sample(twin, { prime: [1, 2, 3], length: 25, seed: 4 });
      expect(a.tokens).toEqual(b.tokens);
      expectClose('the state after sampling', a.state.h, b.state.h, TWIN);
      // greedy decoding from the returned state continues the stream as step would
      const g = sample(m, { prime: [a.tokens[24]], length: 3, temperature: 0, state: a.state });
      expect(g.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < V)).toBe(true);
    }
  });

  it('trainStep over micro-batches of ids (with lengths) is one lossAndGrad over the whole batch and an SGD step', async () => {
    const a = await embModel(path), b = await embModel(path);
    const T = 6, B = 4, lengths = [6, 3, 5, 2];
    const x = paddedIds(T, B, lengths, false, 3);
    const target = { shape: [T, B], data: ids(T * B, 4) };
    const half = (j: number): { x: TensorLike; target: TensorLike; lengths: number[] } => {
      const idx = j === 0 ? [0, 1] : [2, 3];
      return {
        x: { shape: [T, 2], data: columns(x, idx, T) }, target: { shape: [T, 2], data: columns(target, idx, T) },
        lengths: idx.map((i) => lengths[i]),
      };
    };
    const untrained = a.stateDict()['embed.weight'].data;
    const ra = trainStep(a, new SGD(a, { lr: 0.5 }), [half(0), half(1)], { loss: ce('mean') });
    const optB = new SGD(b, { lr: 0.5 });
    b.zeroGrad();
    const rb = b.lossAndGrad({ x, target, lengths }, ce('mean'));
    optB.step();
    expect(Math.abs(ra.loss - rb.loss)).toBeLessThanOrEqual(SAME * rb.loss);
    const sa = a.stateDict(), sb = b.stateDict();
    for (const k of Object.keys(sb)) expectClose(k, sa[k], sb[k], SAME);
    expect(Array.from(sa['embed.weight'].data)).not.toEqual(Array.from(untrained)); // the rows of the ids moved
  });

  it.each([false, true])('trainTruncated over a stream of ids (batchFirst %s) is lossAndGrad chunk by chunk, the state carried', async (batchFirst) => {
    const a = await embModel(path, { batchFirst }), b = await embModel(path, { batchFirst });
    const T = 10, B = 3, k = 4;
    const x = paddedIds(T, B, [T, T, T], batchFirst, 5);
    const target = { shape: batchFirst ? [B, T] : [T, B], data: ids(T * B, 6) };
    const r = trainTruncated(a, new SGD(a, { lr: 0.3 }), { x, target }, { k, loss: ce('sum') });
    const optB = new SGD(b, { lr: 0.3 });
    const losses: number[] = [];
    let h0: Tensor | undefined, c0: Tensor | undefined;
    for (let t0 = 0; t0 < T; t0 += k) {
      const t1 = Math.min(T, t0 + k);
      b.zeroGrad();
      const g = b.lossAndGrad({ x: steps(x, t0, t1, batchFirst), target: steps(target, t0, t1, batchFirst), h0, c0 }, ce('sum'));
      optB.step();
      losses.push(g.loss);
      [h0, c0] = [g.hN, g.cN];
    }
    expect(r.losses).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(r.losses[i] - losses[i])).toBeLessThanOrEqual(SAME * losses[i]);
    const sa = a.stateDict(), sb = b.stateDict();
    for (const key of Object.keys(sb)) expectClose(key, sa[key], sb[key], SAME);
    expectClose('the final state', r.state.h, h0!, SAME);
  });

  it.each([false, true])('evaluate over a dataset of ids with lengths (batchFirst %s) is the loss of one lossAndGrad over it', async (batchFirst) => {
    const m = await embModel(path, { batchFirst });
    const T = 6, N = 7, lengths = [6, 1, 4, 3, 6, 2, 5];
    const x = paddedIds(T, N, lengths, batchFirst, 7);
    const target = { shape: batchFirst ? [N, T] : [T, N], data: ids(T * N, 8) };
    const want = m.lossAndGrad({ x, target, lengths }, ce('mean')).loss;
    for (const data of [{ x, target, lengths }, { x: { shape: x.shape, data: Array.from(x.data) }, target, lengths }]) {
      const got = evaluate(m, data, { loss: ce('mean'), batchSize: 3 });
      expect(Math.abs(got - want)).toBeLessThanOrEqual(SAME * want);
    }
    // lastStepOnly: each sequence's last valid step
    const last = { shape: [N], data: ids(N, 9) };
    const wantLast = m.lossAndGrad({ x, target: last, lengths }, ce('mean', true)).loss;
    const gotLast = evaluate(m, { x, target: last, lengths }, { loss: ce('mean', true), batchSize: 2 });
    expect(Math.abs(gotLast - wantLast)).toBeLessThanOrEqual(SAME * wantLast);
  });

  it('fit on ids: its shuffled, length-bucketed minibatches are the ones trainStep gets; batch-first gives the same weights', async () => {
    const T = 7, N = 9, lengths = [7, 2, 5, 3, 7, 1, 4, 6, 2];
    const x = paddedIds(T, N, lengths, false, 10);
    const target = { shape: [T, N], data: ids(T * N, 11) };
    const loss = ce('mean');
    const epochs = 2, batchSize = 2, seed = 5, poolSize = 2;
    const a = await embModel(path);
    const h = await fit(a, { x, target, lengths }, {
      optimizer: new SGD(a, { lr: 0.2 }), loss, epochs, batchSize, seed, bucketing: { poolSize }, progress: false,
    });
    // the same epochs by hand: fit's seeded shuffle, pools of poolSize batches sorted by length, batch order shuffled
    const b = await embModel(path);
    const optB = new SGD(b, { lr: 0.2 });
    const rng = new Rng(seed);
    const order = Int32Array.from({ length: N }, (_, i) => i);
    const cut = (o: Int32Array): Int32Array[] => Array.from({ length: Math.ceil(o.length / batchSize) }, (_, i) => o.subarray(i * batchSize, (i + 1) * batchSize));
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      const sorted = new Int32Array(N);
      for (let p0 = 0; p0 < N; p0 += poolSize * batchSize) {
        sorted.set(Array.from(order.subarray(p0, p0 + poolSize * batchSize)).sort((p, q) => lengths[p] - lengths[q]), p0);
      }
      const batches = rng.shuffle(cut(sorted));
      for (const idx of batches) {
        const len = Array.from(idx, (i) => lengths[i]);
        const T1 = Math.max(...len);
        trainStep(b, optB, [{ x: { shape: [T1, idx.length], data: columns(x, idx, T1) }, target: { shape: [T1, idx.length], data: columns(target, idx, T1) }, lengths: len }], { loss });
      }
    }
    expect(h.steps).toBe(epochs * Math.ceil(N / batchSize));
    expect(a.stateDict()).toEqual(b.stateDict());
    // the batch-first model on the transposed dataset runs the same numbers
    const c = await embModel(path, { batchFirst: true });
    const tr = (t: TensorLike): TensorLike => {
      const d = new Int32Array(T * N);
      for (let t0 = 0; t0 < T; t0++) for (let n = 0; n < N; n++) d[n * T + t0] = t.data[t0 * N + n];
      return { shape: [N, T], data: d };
    };
    await fit(c, { x: tr(x), target: tr(target), lengths }, {
      optimizer: new SGD(c, { lr: 0.2 }), loss, epochs, batchSize, seed, bucketing: { poolSize }, progress: false,
    });
    expect(c.stateDict()).toEqual(a.stateDict());
    // and validation on a held-out split of ids
    const d = await embModel(path);
    const hv = await fit(d, { x, target, lengths }, { loss, epochs: 1, batchSize: 3, validationSplit: 0.34, progress: false });
    expect(Number.isFinite(hv.valLoss[0])).toBe(true);
  });
});

describe.each(PATHS)('bad ids and inputs of the wrong kind on %s', (path) => {
  const T = 3, B = 2;
  const target = { shape: [T, B], data: Int32Array.from([0, 1, 2, 3, 4, 5]) };
  const good = { shape: [T, B], data: Int32Array.from([0, 1, 2, 3, 4, 5]) };
  const withId = (i: number, v: number): TensorLike => {
    const d = Array.from(good.data) as number[];
    d[i] = v;
    return { shape: [T, B], data: d };
  };

  /** Run `call`, expect a BpttError whose message matches every pattern, and no change to the model or optimizer. */
  function refuses(m: Model, opt: SGD | Adam | null, call: () => unknown, ...patterns: (string | RegExp)[]): void {
    const before = snapshot(m);
    const optBefore = opt ? JSON.stringify(opt.stateDict()) : '';
    let err: unknown;
    try { call(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(BpttError);
    for (const p of patterns) expect((err as Error).message).toMatch(p);
    expect(m.paramView()).toEqual(before.params);
    expect(m.gradView()).toEqual(before.grads);
    if (opt) expect(JSON.stringify(opt.stateDict())).toBe(optBefore);
  }

  it.each([[7, '7'], [-1, '-1'], [2.5, '2.5']])('id %s: every entry point names the argument, the position and numEmbeddings', async (v, shown) => {
    const m = await embModel(path);
    const opt = new Adam(m);
    trainStep(m, opt, [{ x: good, target }], { loss: ce('sum') }); // a model with gradients and optimizer state to keep
    const range = /expected an integer in \[0, 6\] \(embedding\.numEmbeddings 7\)/;
    const bad = withId(5, v); // step 2 of sequence 1: the last (t, b)
    const at = new RegExp(`x\\.data\\[5\\] = ${shown.replace('.', '\\.')} \\(step 2 of sequence 1\\)`);
    refuses(m, opt, () => m.predict(bad, { batchSize: 1 }), at, range);
    refuses(m, opt, () => step(m, { shape: [B], data: [0, v] }), new RegExp(`step: x\\.data\\[1\\] = ${shown.replace('.', '\\.')}`), range);
    refuses(m, opt, () => sample(m, { prime: [1, v], length: 2 }), new RegExp(`sample: prime\\[1\\] = ${shown.replace('.', '\\.')}`), range);
    // the second micro-batch is bad: the first has not run either
    refuses(m, opt, () => trainStep(m, opt, [{ x: good, target }, { x: bad, target }], { loss: ce('sum') }), /trainStep: micro-batch 1 x\.data\[5\]/, at, range);
    refuses(m, opt, () => trainTruncated(m, opt, { x: bad, target }, { k: 1, loss: ce('sum') }), /trainTruncated: x\.data\[5\]/, at, range);
    refuses(m, opt, () => evaluate(m, { x: bad, target }, { loss: ce('sum'), batchSize: 1 }), /evaluate: x\.data\[5\]/, at, range);
    // fit checks the whole dataset before its first step (the bad id is in the last sequence)
    const before = snapshot(m);
    await expect(fit(m, { x: bad, target }, { optimizer: opt, loss: 'cross_entropy', batchSize: 1, shuffle: false, progress: false }))
      .rejects.toThrow(/fit: x\.data\[5\] .*step 2 of sequence 1.*numEmbeddings 7/);
    expect(m.paramView()).toEqual(before.params);
    // padded steps are never read: the same bad value there is fine
    expect(() => m.predict(bad, { lengths: [3, 2] })).not.toThrow();
    expect(() => evaluate(m, { x: bad, target, lengths: [3, 2] }, { loss: ce('sum') })).not.toThrow();
  });

  it('one-hot or feature vectors given to a model with an embedding say that it takes ids', async () => {
    const m = await embModel(path);
    const opt = new SGD(m, { lr: 0.1 });
    const oh = oneHotOf(good);
    const kind = /token ids .*this model has an embedding/;
    refuses(m, opt, () => m.predict(oh), /x has shape \[3, 2, 7\], expected \[T, B\] token ids \(time-major\)/, kind);
    refuses(m, opt, () => step(m, { shape: [B, V], data: oh.data.subarray(0, B * V) }), /step: x must have shape \[B\] token ids/, /has an embedding/);
    refuses(m, opt, () => trainStep(m, opt, [{ x: oh, target }], { loss: ce('sum') }), /trainStep: micro-batch 0 x has shape/, kind);
    refuses(m, opt, () => trainTruncated(m, opt, { x: oh, target }, { k: 2, loss: ce('sum') }), /trainTruncated: x has shape \[3, 2, 7\], expected \[T, N\] token ids/, kind);
    refuses(m, opt, () => evaluate(m, { x: oh, target }, { loss: ce('sum') }), /evaluate: x has shape/, kind);
    await expect(fit(m, { x: oh, target }, { optimizer: opt, loss: 'cross_entropy', progress: false })).rejects.toThrow(kind);
    refuses(m, opt, () => sample(m, { prime: [1], length: 2, encode: () => new Float32Array(V) }), /encode .*this model has an embedding/);
    const wide = await embModel(path, { outputSize: V + 1 });
    refuses(wide, null, () => sample(wide, { prime: [1], length: 2 }), /output has 8 classes.*numEmbeddings 7/);
    const bf = await embModel(path, { batchFirst: true });
    refuses(bf, null, () => bf.predict(oneHotOf({ shape: [B, T], data: good.data })), /expected \[B, T\] token ids \(batchFirst\)/, kind);
  });

  it('ids given to a model without an embedding say that it takes feature vectors', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: V, hiddenSize: H, outputSize: V, seed: 2 });
    const opt = new SGD(m, { lr: 0.1 });
    const kind = /this model has no embedding/;
    refuses(m, opt, () => m.forward(good), /x has shape \[3, 2\], expected \[T, B, 7\] \(time-major\)/, kind);
    refuses(m, opt, () => m.predict(good), kind);
    refuses(m, opt, () => step(m, { shape: [B], data: [1, 2] }), /step: x must have shape \[B, 7\]/, kind);
    refuses(m, opt, () => trainStep(m, opt, [{ x: good, target }], { loss: ce('sum') }), /trainStep: micro-batch 0 x has shape \[3, 2\]/, kind);
    refuses(m, opt, () => trainTruncated(m, opt, { x: good, target }, { k: 2, loss: ce('sum') }), /expected \[T, N, 7\]/, kind);
    refuses(m, opt, () => evaluate(m, { x: good, target }, { loss: ce('sum') }), kind);
    await expect(fit(m, { x: good, target }, { optimizer: opt, loss: 'cross_entropy', progress: false })).rejects.toThrow(kind);
  });
  it('sample checks every option before its first step, whatever the length (rng, temperature, seed with rng)', async () => {
    const m = await embModel(path);
    const opt = new Adam(m);
    trainStep(m, opt, [{ x: good, target }], { loss: ce('sum') });
    // an rng that is not an Rng was a TypeError at the first draw
    refuses(m, opt, () => sample(m, { prime: [1], length: 2, rng: 5 as never }), /sample: rng must be an Rng/, /got 5/);
    // with length 0 nothing is drawn, and a bad temperature was accepted without a word
    refuses(m, opt, () => sample(m, { prime: [1], length: 0, temperature: -1 }), /sample: temperature must be a finite number >= 0, got -1/);
    refuses(m, opt, () => sample(m, { prime: [1], length: 2, temperature: '1' as never }), /temperature .*got "1"/);
    // the seed was silently ignored when an rng was given too
    refuses(m, opt, () => sample(m, { prime: [1], length: 2, seed: 3, rng: new Rng(3) }), /sample: seed and rng both given/);
    expect(sample(m, { prime: [1], length: 3, rng: new Rng(3) }).tokens).toEqual(sample(m, { prime: [1], length: 3, seed: 3 }).tokens);
  });
});
