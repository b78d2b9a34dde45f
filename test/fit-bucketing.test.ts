// fit's length bucketing: minibatches of sequences of similar length carry far less padding
// than shuffled ones, the run is still seeded (same seed, same batches, same numbers), the
// loss still goes down, and validation, early stopping and best-weight restore keep working.

import { afterAll, describe, expect, it } from 'vitest';
import { createModel, evaluate, fit, Adam, Rng, type Dataset, type Model } from '../src/index.js';

const N = 384, T = 32;

/** Is the sum of a sequence's values > 0? Lengths uniform in 2..T, padded to T. */
function dataset(): Dataset {
  const rng = new Rng(3);
  const lengths = Array.from({ length: N }, () => 2 + rng.int(T - 1));
  const xs = new Float32Array(T * N), ys = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    let sum = 0;
    for (let t = 0; t < lengths[n]; t++) sum += (xs[t * N + n] = rng.uniform(-1, 1));
    ys[n] = sum > 0 ? 1 : 0;
  }
  return { x: { shape: [T, N, 1], data: xs }, target: { shape: [N], data: ys }, lengths };
}
const data = dataset();
const loss = { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true } as const;

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

const paths = [['js', { backend: 'js' }], ['wasm', { backend: 'wasm' }], ['wasm, 2 threads', { backend: 'wasm', threads: 2 }]] as const;

describe.each(paths)('fit with bucketing (%s)', (_path, runtime) => {
  const run = async (opts: object) => {
    const m = await createModel({ cell: 'gru', inputSize: 1, hiddenSize: 8, outputSize: 2, seed: 1, ...runtime });
    live.push(m);
    const h = await fit(m, data, { loss, optimizer: new Adam(m, { lr: 1e-2 }), epochs: 4, batchSize: 16, seed: 7, progress: false, ...opts });
    return { m, h };
  };

  it('cuts the padding far below shuffled batches, reproducibly, and the loss goes down', async () => {
    const plain = await run({});
    const bucketed = await run({ bucketing: true });
    const again = await run({ bucketing: true });
    const pad = (h: typeof plain.h) => h.epochs.map((e) => e.padding!);
    // Measured (every backend, 4 epochs): shuffled batches of 16 with lengths uniform in 2..32
    // are 44.5-44.9% padding (the longest of 16 is near 31, the mean 17); one sorted pool of
    // the whole epoch (the default poolSize, 100 batches, > 24) leaves 3.4%.
    for (const p of pad(plain.h)) expect(p).toBeGreaterThan(0.3);
    for (const p of pad(bucketed.h)) expect(p).toBeLessThan(0.06);
    // a pool of one batch sorts within a batch only: the first epoch's batches hold the same
    // sequences as without bucketing (later epochs differ: shuffling the batch order draws from the generator)
    const one = await run({ bucketing: { poolSize: 1 } });
    expect(pad(one.h)[0]).toBe(pad(plain.h)[0]);
    for (const p of pad(one.h)) expect(p).toBeGreaterThan(0.3);
    // same seed, same run: the same batches in the same order give bit-identical numbers
    expect(again.h.loss).toEqual(bucketed.h.loss);
    expect(again.m.stateDict()).toEqual(bucketed.m.stateDict());
    // another seed shuffles differently
    const other = await run({ bucketing: true, seed: 8 });
    expect(other.h.loss).not.toEqual(bucketed.h.loss);
    // training still works: chance is ln 2 = 0.693
    expect(bucketed.h.loss[0]).toBeLessThan(0.7);
    expect(bucketed.h.loss.at(-1)!).toBeLessThan(0.8 * bucketed.h.loss[0]);
  });

  it('keeps validation, early stopping and best-weight restore', async () => {
    const { m, h } = await run({ bucketing: true, validationSplit: 0.25, epochs: 8, earlyStopping: { patience: 1 } });
    expect(h.valLoss.length).toBe(h.epochs.length);
    expect(h.bestEpoch).toBeGreaterThanOrEqual(1);
    expect(h.bestMetric).toBe(Math.min(...h.valLoss));
    // the restored weights give the best epoch's validation loss
    const nTrain = N - N / 4;
    const val = sliceDataset(data, nTrain, N);
    expect(evaluate(m, val, { loss })).toBeCloseTo(h.bestMetric!, 6);
  });
});

it('the same seed gives the same batches on every backend (losses agree to float32 rounding)', async () => {
  const losses: number[][] = [];
  for (const [, runtime] of paths) {
    const m = await createModel({ cell: 'gru', inputSize: 1, hiddenSize: 8, outputSize: 2, seed: 1, ...runtime });
    live.push(m);
    const h = await fit(m, data, { loss, optimizer: new Adam(m, { lr: 1e-2 }), epochs: 2, batchSize: 16, seed: 7, progress: false, bucketing: true });
    losses.push(h.loss);
  }
  // different batches would differ by far more than the backends' float32 rounding (~1e-6)
  for (const l of losses.slice(1)) for (let e = 0; e < l.length; e++) expect(Math.abs(l[e] - losses[0][e]) / losses[0][e]).toBeLessThan(1e-4);
});

it('bad bucketing options are errors naming the option', async () => {
  const m = await createModel({ cell: 'gru', inputSize: 1, hiddenSize: 4, outputSize: 2, backend: 'js' });
  const go = (opts: object, d: Dataset = data) => fit(m, d, { loss, epochs: 1, progress: false, ...opts });
  await expect(go({ bucketing: { poolSize: 0 } })).rejects.toThrow(/bucketing.poolSize must be an integer >= 1, got 0/);
  await expect(go({ bucketing: { pool: 3 } })).rejects.toThrow(/unknown option 'pool'/);
  await expect(go({ bucketing: 'yes' })).rejects.toThrow(/bucketing must be true, false or \{ poolSize \}, got "yes"/);
  const { lengths: _l, ...equal } = data;
  await expect(go({ bucketing: true }, equal)).rejects.toThrow(/bucketing groups sequences by length, but the dataset has no lengths/);
});

/** Sequences [a, b) of a time-major dataset with lengths and [N] targets. */
function sliceDataset(d: Dataset, a: number, b: number): Dataset {
  const n = b - a, xs = new Float32Array(T * n), x = d.x.data as Float32Array;
  for (let t = 0; t < T; t++) xs.set(x.subarray(t * N + a, t * N + b), t * n);
  return {
    x: { shape: [T, n, 1], data: xs }, target: { shape: [n], data: (d.target.data as Int32Array).slice(a, b) },
    lengths: (d.lengths as number[]).slice(a, b),
  };
}
