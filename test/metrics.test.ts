// Metrics in fit/evaluate: accuracy, MAE, MSE, RMSE over exactly the steps the loss counts
// (every step, the last one, the valid ones of a per-step mask), reported in the history,
// onEpoch and the progress line; unknown or mismatched metrics are errors.

import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkMetrics, lengthsMask, MetricAccumulator } from '../src/train/metrics.js';
import { createModel, type Model } from '../src/model.js';
import { SGD } from '../src/train/optim.js';
import { Rng } from '../src/rng.js';
import { evaluate, fit, type Dataset } from '../src/train/train.js';
import { on, PATHS } from './helpers/variants.js';


const t = (shape: number[], data: number[]) => ({ shape, data: Float32Array.from(data) });

describe('MetricAccumulator', () => {
  // output [T=2, B=2, O=2]
  const out = t([2, 2, 2], [0.1, 0.9, 0.8, 0.2, /* t=1 */ 0.3, 0.4, 0.7, -1]);

  it('accuracy is the fraction of argmax hits over every step, or the last step', () => {
    const all = new MetricAccumulator(['accuracy']);
    all.add(out, { shape: [2, 2], data: [1, 1, 1, 0] }, { kind: 'cross_entropy' });
    expect(all.result()).toEqual({ accuracy: 3 / 4 });
    const last = new MetricAccumulator(['accuracy']);
    last.add(out, { shape: [2], data: [1, 1] }, { kind: 'cross_entropy', lastStepOnly: true }); // short target
    last.add(out, { shape: [2, 2], data: [0, 0, 1, 1] }, { kind: 'cross_entropy', lastStepOnly: true }); // full target: t=1 row
    expect(last.result()).toEqual({ accuracy: 2 / 4 });
  });

  it('mae, mse and rmse over every value; sums carry across batches', () => {
    const target = t([2, 2, 2], [0, 1, 1, 0, 0, 0, 1, 0]);
    const d = [0.1, -0.1, -0.2, 0.2, 0.3, 0.4, -0.3, -1];
    const acc = new MetricAccumulator(['mae', 'mse', 'rmse']);
    acc.add(out, target, { kind: 'mse' });
    acc.add(out, target, { kind: 'mse' });
    const r = acc.result();
    const mae = d.reduce((s, v) => s + Math.abs(v), 0) / 8, mse = d.reduce((s, v) => s + v * v, 0) / 8;
    expect(r.mae).toBeCloseTo(mae, 6);
    expect(r.mse).toBeCloseTo(mse, 6);
    expect(r.rmse).toBeCloseTo(Math.sqrt(mse), 6);
  });

  it('a per-step mask counts only valid steps; with lastStepOnly, each sequence\'s last valid step', () => {
    const target = t([2, 2, 2], [0, 1, 1, 0, 0, 0, 1, 0]);
    // sequence 0 has 2 steps, sequence 1 has 1: mask [T, B]
    const mask = Uint8Array.from([1, 1, 1, 0]);
    const acc = new MetricAccumulator(['mae']);
    acc.add(out, target, { kind: 'mse', mask });
    expect(acc.result().mae).toBeCloseTo((0.1 + 0.1 + 0.2 + 0.2 + 0.3 + 0.4) / 6, 6);
    const last = new MetricAccumulator(['mae']);
    last.add(out, t([2, 2], [0, 0, 1, 0]), { kind: 'mse', lastStepOnly: true, mask });
    // seq 0 at t=1: |0.3| + |0.4|; seq 1 at t=0: |0.8 - 1| + |0.2|
    expect(last.result().mae).toBeCloseTo((0.3 + 0.4 + 0.2 + 0.2) / 4, 6);
    const viaLengths = new MetricAccumulator(['mae']);
    viaLengths.add(out, t([2, 2], [0, 0, 1, 0]), { kind: 'mse', lastStepOnly: true, lengths: [2, 1] });
    expect(viaLengths.result()).toEqual(last.result());
    expect(Array.from(lengthsMask([2, 1], 2))).toEqual([1, 1, 1, 0]);
    expect(() => lengthsMask([3], 2)).toThrow(/lengths\[0\] = 3 must be an integer in \[1, 2\]/);
    const ce = new MetricAccumulator(['accuracy']);
    ce.add(out, { shape: [2, 2], data: [1, 0, 0, 1] }, { kind: 'cross_entropy', mask });
    expect(ce.result().accuracy).toBeCloseTo(2 / 3, 12); // (0,0) hit, (0,1) hit, (1,0) miss; (1,1) masked
  });

  it('unknown metrics and metrics that do not fit the loss are errors', () => {
    expect(() => checkMetrics('fit', ['acc'], 'cross_entropy')).toThrow(/fit: unknown metric "acc" \(metrics: accuracy, mae, mse, rmse\)/);
    expect(() => checkMetrics('fit', ['accuracy'], 'mse')).toThrow(/metric 'accuracy' needs class-id targets .* the loss kind is 'mse'/);
    expect(() => checkMetrics('evaluate', ['mae'], 'cross_entropy')).toThrow(/metric 'mae' needs value targets/);
    expect(() => checkMetrics('fit', 'mae', 'mse')).toThrow(/metrics must be an array/);
    expect(checkMetrics('fit', ['rmse', 'mae', 'rmse'], 'mse')).toEqual(['rmse', 'mae']);
  });
});

/** N sequences of T steps: 2 classes, class = whether the running sum of x is positive at the last step. */
function classification(T: number, N: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: T * N * 2 }, () => rng.normal(0, 1));
  const y = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < T; k++) s += x[(k * N + n) * 2];
    y[n] = s > 0 ? 1 : 0;
  }
  return { x: { shape: [T, N, 2], data: x }, target: { shape: [N], data: y } };
}

describe.each(PATHS)('metrics in fit and evaluate on %s', (path) => {
  const models: Model[] = [];
  const make = async () => {
    const m = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 8, outputSize: 2, ...on(path), seed: 2 });
    models.push(m);
    return m;
  };
  afterAll(() => models.forEach((m) => m.dispose()));
  const loss = { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true } as const;
  const data = classification(6, 48, 1);

  it('history, onEpoch and the progress line carry the metrics; the last val metric is evaluate\'s', async () => {
    const m = await make();
    const seen: Record<string, number>[] = [];
    let log = '';
    const stream = new Writable({ write(c, _e, cb) { log += String(c); cb(); } });
    const h = await fit(m, data, {
      optimizer: new SGD(m, { lr: 0.5 }), loss, epochs: 3, batchSize: 12, validationSplit: 0.25, metrics: ['accuracy'],
      onEpoch: (e) => void seen.push({ ...e.metrics, ...Object.fromEntries(Object.entries(e.valMetrics!).map(([k, v]) => [`val_${k}`, v])) }),
      progress: { stream, tty: false, logEvery: Infinity },
    });
    expect(h.metrics.accuracy).toHaveLength(3);
    expect(h.valMetrics.accuracy).toHaveLength(3);
    for (const a of [...h.metrics.accuracy, ...h.valMetrics.accuracy]) {
      expect(a).toBeGreaterThanOrEqual(0);
      expect(a).toBeLessThanOrEqual(1);
    }
    expect(seen.map((s) => s.accuracy)).toEqual(h.metrics.accuracy);
    expect(seen.map((s) => s.val_accuracy)).toEqual(h.valMetrics.accuracy);
    expect(log).toMatch(/epoch 3\/3: loss [\d.]+, val_loss [\d.]+, accuracy [\d.]+, val_accuracy [\d.]+, lr/);
    // the held-out part is the last 12 sequences
    const idx = Array.from({ length: 12 }, (_, i) => 36 + i);
    const val: Dataset = {
      x: { shape: [6, 12, 2], data: Float32Array.from({ length: 6 * 12 * 2 }, (_, i) => data.x.data[((Math.floor(i / 24)) * 48 + idx[Math.floor(i / 2) % 12]) * 2 + (i % 2)]) },
      target: { shape: [12], data: Int32Array.from(idx, (n) => data.target.data[n]) },
    };
    const r = evaluate(m, val, { loss, metrics: ['accuracy'] });
    expect(r.metrics.accuracy).toBe(h.valMetrics.accuracy[2]);
    expect(r.loss).toBeCloseTo(h.valLoss[2], 6);
    // accuracy is the argmax hit rate of forward's last step
    const y = m.forward(val.x).output.data;
    let hits = 0;
    for (let b = 0; b < 12; b++) {
      const o = (5 * 12 + b) * 2;
      if ((y[o + 1] > y[o] ? 1 : 0) === val.target.data[b]) hits++;
    }
    expect(r.metrics.accuracy).toBe(hits / 12);
  });

  it('training metrics are of the outputs before each update (lr 0: equal to evaluate)', async () => {
    const m = await make();
    const reg: Dataset = { x: data.x, target: { shape: [48, 2], data: Float32Array.from({ length: 96 }, (_, i) => Math.sin(i)) } };
    const mse = { kind: 'mse', reduction: 'mean', lastStepOnly: true } as const;
    const h = await fit(m, reg, { optimizer: new SGD(m, { lr: 0 }), loss: mse, epochs: 1, batchSize: 10, metrics: ['mae', 'rmse'], progress: false });
    const r = evaluate(m, reg, { loss: mse, metrics: ['mae', 'rmse'] });
    expect(h.metrics.mae[0]).toBeCloseTo(r.metrics.mae, 6);
    expect(h.metrics.rmse[0]).toBeCloseTo(r.metrics.rmse, 6);
    expect(r.metrics.rmse ** 2).toBeCloseTo(r.loss, 5);
    expect(h.valMetrics).toEqual({});
    expect(typeof evaluate(m, reg, { loss: mse })).toBe('number');
  });

  it('an unknown metric is an error before training starts', async () => {
    const m = await make();
    const before = m.stateDict();
    await expect(fit(m, data, { loss, metrics: ['acc' as 'accuracy'], progress: false })).rejects.toThrow(/unknown metric "acc"/);
    await expect(fit(m, data, { loss, metrics: ['mae'], progress: false })).rejects.toThrow(/metric 'mae' needs value targets/);
    expect(() => evaluate(m, data, { loss, metrics: ['rmse'] })).toThrow(/evaluate: metric 'rmse'/);
    expect(m.stateDict()).toEqual(before);
  });
});
