// Data helpers: sliding windows in the time-major layout, standardisation fitted on the
// training part and stored in checkpoint metadata, tensors from nested arrays, batched
// predict, and fit's loss given or inferred only where the target leaves no doubt.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTrainingCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.js';
import { standardize, Standardizer, STANDARDIZE_KEY, windows } from '../src/data/series.js';
import { tensor } from '../src/data/tensor.js';
import { createModel, type Model } from '../src/model.js';
import { SGD } from '../src/train/optim.js';
import { StepLR } from '../src/train/schedulers.js';
import { fit, predict } from '../src/train/train.js';
import { on, PATHS } from './helpers/variants.js';


describe('windows', () => {
  const series = Array.from({ length: 10 }, (_, i) => i * 10); // 0, 10, ..., 90

  it('cuts time-major windows [length, N, 1] with the next horizon steps as the target', () => {
    const w = windows(series, { length: 3, horizon: 2, stride: 2 });
    // starts 0, 2, 4 (start 6 would need steps up to 10)
    expect(Array.from(w.start)).toEqual([0, 2, 4]);
    expect(w.x.shape).toEqual([3, 3, 1]);
    expect(Array.from(w.x.data)).toEqual([0, 20, 40, 10, 30, 50, 20, 40, 60]); // [t][n]
    expect(w.target.shape).toEqual([3, 2]);
    expect(Array.from(w.target.data)).toEqual([30, 40, 50, 60, 70, 80]);
  });

  it('multivariate rows, batch-first, and a target at every step', () => {
    const rows = series.map((v) => [v, -v]);
    const w = windows(rows, { length: 2, batchFirst: true });
    expect(w.x.shape).toEqual([8, 2, 2]);
    expect(Array.from(w.x.data.subarray(4, 8))).toEqual([10, -10, 20, -20]); // window 1: steps 1, 2
    expect(w.target.shape).toEqual([8, 2]);
    expect(Array.from(w.target.data.subarray(2, 4))).toEqual([30, -30]);
    const e = windows({ shape: [10, 1], data: Float32Array.from(series) }, { length: 4, everyStep: true });
    expect(e.x.shape).toEqual([4, 6, 1]);
    expect(e.target.shape).toEqual([4, 6, 1]);
    for (let t = 0; t < 4; t++) for (let n = 0; n < 6; n++) expect(e.target.data[t * 6 + n]).toBe(e.x.data[t * 6 + n] + 10);
  });

  it('bad series and options are errors that name them', () => {
    expect(() => windows(series, { length: 9, horizon: 2 })).toThrow(/windows: the series has 10 steps, fewer than length \+ horizon = 9 \+ 2 = 11/);
    expect(() => windows(series, { length: 0 })).toThrow(/windows: length must be an integer >= 1, got 0/);
    expect(() => windows(series, { length: 2, stride: 1.5 })).toThrow(/stride must be an integer >= 1, got 1.5/);
    expect(() => windows(series, { length: 2, horizn: 2 } as never)).toThrow(/unknown option 'horizn'/);
    expect(() => windows([1, NaN, 3], { length: 1 })).toThrow(/series\[1\] is NaN/);
    expect(() => windows([[1, 2], [3]], { length: 1 })).toThrow(/ragged array: \[1\] has length 1, expected 2/);
  });
});

describe('standardize', () => {
  const rows = [[1, 10], [2, 10], [3, 10], [6, 10]];

  it('fits mean and population std per feature; apply and invert round-trip, keeping the shape', () => {
    const s = standardize(rows);
    expect(Array.from(s.mean)).toEqual([3, 10]);
    expect(s.std[0]).toBeCloseTo(Math.sqrt((4 + 1 + 0 + 9) / 4), 12);
    expect(s.std[1]).toBe(1); // a constant feature maps to 0 instead of dividing by 0
    const z = s.apply({ shape: [2, 2, 2], data: Float32Array.from([1, 10, 2, 11, 3, 12, 6, 13]) });
    expect(z.shape).toEqual([2, 2, 2]);
    expect(z.data[0]).toBeCloseTo(-2 / s.std[0], 6);
    expect(z.data[3]).toBeCloseTo(1, 6);
    const back = s.invert(z);
    expect(Array.from(back.data).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([1, 10, 2, 11, 3, 12, 6, 13]);
    const one = standardize([2, 4, 6]);
    const flat = one.apply([2, 4, 6, 8]);
    expect(flat).toBeInstanceOf(Float32Array);
    expect(Array.from(one.invert(flat)).map(Math.round)).toEqual([2, 4, 6, 8]);
    expect(() => s.apply([1, 2, 3])).toThrow(/3 values are not a whole number of rows of 2 features/);
  });

  it('is stored in checkpoint metadata and read back (also in the CLI\'s one-feature format)', async () => {
    const s = standardize(rows);
    const m = await createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 2, backend: 'js' });
    const path = join(mkdtempSync(join(tmpdir(), 'bptt-series-')), 'm.safetensors');
    await saveCheckpoint(m, path, { metadata: s.toMetadata() });
    const back = Standardizer.fromMetadata((await loadTrainingCheckpoint(path)).metadata);
    expect(Array.from(back.mean)).toEqual(Array.from(s.mean));
    expect(Array.from(back.std)).toEqual(Array.from(s.std));
    const cli = Standardizer.fromMetadata({ [STANDARDIZE_KEY]: JSON.stringify({ mean: 5, std: 2 }) });
    expect(cli.apply([7])[0]).toBe(1);
    expect(standardize([1, 3]).toMetadata()).toEqual({ [STANDARDIZE_KEY]: '{"mean":2,"std":1}' });
    expect(() => Standardizer.fromMetadata({})).toThrow(/has no 'bptt_wasm.standardize' entry/);
    expect(() => Standardizer.fromMetadata({ [STANDARDIZE_KEY]: '{"mean":1,"std":0}' })).toThrow(/std\[0\] is 0/);
  });
});

describe('tensor', () => {
  it('infers the shape of nested arrays, row-major; int32 for class ids', () => {
    const a = tensor([[[1, 2]], [[3, 4]], [[5, 6]]]);
    expect(a.shape).toEqual([3, 1, 2]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const ids = tensor([[0, 2], [1, 1]], { dtype: 'int32' });
    expect(ids.data).toBeInstanceOf(Int32Array);
    expect(ids.shape).toEqual([2, 2]);
    expect(tensor([Float32Array.of(1, 2), Float32Array.of(3, 4)]).shape).toEqual([2, 2]);
  });

  it('ragged, empty and non-numeric input is an error naming the index', () => {
    expect(() => tensor([[1, 2], [3, 4], [5]])).toThrow(/tensor: ragged array: \[2\] has length 1, expected 2 \(as \[0\]\)/);
    expect(() => tensor([[[1], [2]], [[3], 4]] as never)).toThrow(/ragged array: \[1\]\[1\] is number, expected an array of length 1/);
    expect(() => tensor([[1, 'a']] as never)).toThrow(/value at \[0\]\[1\] is "a", expected a finite number/);
    expect(() => tensor([[]])).toThrow(/empty array at \[0\]/);
    expect(() => tensor([1.5], { dtype: 'int32' })).toThrow(/value at \[0\] is 1.5, expected an integer/);
  });
});

describe.each(PATHS)('predict and fit\'s loss choice on %s', (path) => {
  const models: Model[] = [];
  const make = async (O = 2) => {
    const m = await createModel({ cell: 'lstm', inputSize: 1, hiddenSize: 4, outputSize: O, ...on(path), seed: 3 });
    models.push(m);
    return m;
  };
  afterAll(() => models.forEach((m) => m.dispose()));
  const x = { shape: [5, 7, 1], data: Float32Array.from({ length: 35 }, (_, i) => Math.sin(i)) };

  it('predict in batches equals one forward; lastStepOnly gives the last step [N, O]', async () => {
    const m = await make();
    const full = m.forward(x).output;
    const p = predict(m, x, { batchSize: 3 });
    expect(p.shape).toEqual([5, 7, 2]);
    for (let i = 0; i < p.data.length; i++) expect(p.data[i]).toBeCloseTo(full.data[i], 6);
    const last = predict(m, x, { lastStepOnly: true, batchSize: 2 });
    expect(last.shape).toEqual([7, 2]);
    for (let i = 0; i < 14; i++) expect(last.data[i]).toBeCloseTo(full.data[4 * 14 + i], 6);
    expect(() => predict(m, { shape: [5, 7], data: x.data })).toThrow(/x has shape \[5, 7\], expected \[T, B, 1\]/);
  });

  it('class ids in a plain array do not pick mse: an error says how to choose; given losses work', async () => {
    const m = await make();
    const before = m.stateDict();
    const ids = { shape: [5, 7], data: Array.from({ length: 35 }, (_, i) => i % 2) };
    await expect(fit(m, { x, target: ids }, { progress: false })).rejects.toThrow(
      /fit: cannot infer the loss from a target whose data is a plain array; pass loss: 'cross_entropy' for class ids/);
    await expect(fit(m, { x, target: { shape: [7, 2], data: new Float32Array(14) } }, { progress: false })).rejects.toThrow(
      /cannot infer the loss from a Float32Array target of rank 2; .*lastStepOnly: true/);
    expect(m.stateDict()).toEqual(before);
    const h = await fit(m, { x, target: ids }, { loss: 'cross_entropy', optimizer: new SGD(m, { lr: 0.1 }), epochs: 2, progress: false });
    expect(h.loss).toHaveLength(2);
    const inferred = await fit(m, { x, target: { shape: [5, 7], data: Int32Array.from(ids.data) } }, { epochs: 1, progress: false, metrics: ['accuracy'] });
    expect(inferred.metrics.accuracy).toHaveLength(1);
    const reg = await fit(m, { x, target: { shape: [5, 7, 2], data: new Float32Array(70) } }, { epochs: 1, progress: false, metrics: ['mae'] });
    expect(reg.metrics.mae).toHaveLength(1);
    await expect(fit(m, { x, target: ids }, { loss: 'hinge' as 'mse', progress: false })).rejects.toThrow(/fit: loss must be one of 'mse', 'cross_entropy', got "hinge"/);
  });

  it('a validation split that rounds to zero sequences and conflicting options are errors', async () => {
    const m = await make();
    const before = m.stateDict();
    const data = { x, target: { shape: [5, 7, 2], data: new Float32Array(70) } };
    await expect(fit(m, data, { validationSplit: 0.1, progress: false })).rejects.toThrow(
      /fit: validationSplit 0.1 of 7 sequences rounds down to 0 validation sequences; use a split of at least 0.143/);
    await expect(fit(m, data, { schedulerInterval: 'step', progress: false })).rejects.toThrow(/schedulerInterval 'step' is given without a scheduler/);
    await expect(fit(m, data, { validationSplit: 0.5, validationData: data, progress: false })).rejects.toThrow(/validationSplit or validationData, not both/);
    expect(m.stateDict()).toEqual(before);
    const opt = new SGD(m, { lr: 0.1 });
    const h = await fit(m, data, { optimizer: opt, validationSplit: 0.15, scheduler: new StepLR(opt, { stepSize: 1 }), schedulerInterval: 'step', progress: false });
    expect(h.valLoss).toHaveLength(1); // floor(7 * 0.15) = 1 sequence
  });
});
