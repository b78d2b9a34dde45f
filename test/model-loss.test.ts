// model.loss(batch, spec, opts?): the forward and the loss without a backward, on every
// compute path. It is the loss lossAndGrad returns, bit for bit, on every torch-seq and
// cross-entropy fixture's configuration (lengths, lastStepOnly, every reduction,
// ignoreIndex, class weights, label smoothing, bidirectional layers); it touches no
// gradient and lays out no backward workspace; padded steps and ignored targets take the
// same kernel rule; evaluate and fit's validation are model.loss; one rule for target shapes.

import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpttError, evaluate, fit, lossValue, SGD, trainStep, trainTruncated, type LossSpec, type Model } from '../src/index.js';
import { Rng } from '../src/rng.js';
import { expectScalarClose } from './helpers/compare.js';
import { listFixtures } from './helpers/fixtures.js';
import { batchFor, modelFor, type Fx } from './helpers/models.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const CE_DIR = resolve(import.meta.dirname, 'fixtures/ce');
const ceFixtures: [string, Fx][] = readdirSync(CE_DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(CE_DIR, f), 'utf8'))]);
const seqFixtures: [string, Fx][] = listFixtures('torch-seq').map((f) => [f.name, f.json]);

/** The fixture's loss spec, every option it sets included. */
const specFor = (fx: Fx): LossSpec => ({
  kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only,
  ...(fx.loss.ignore_index !== undefined ? { ignoreIndex: fx.loss.ignore_index } : {}),
  ...(fx.loss.weight !== undefined ? { weight: fx.loss.weight } : {}),
  ...(fx.loss.label_smoothing !== undefined ? { labelSmoothing: fx.loss.label_smoothing } : {}),
});

/** The gradient region, bits and all (NaN payloads and -0 compare as bits). */
const gradBits = (m: Model): Uint32Array => new Uint32Array(Float32Array.from(m.gradView()).buffer);

describe.each(PATHS)('model.loss on %s', (path) => {
  describe.each([...seqFixtures, ...ceFixtures])('%s', (_name, fx: Fx) => {
    it('is lossAndGrad\'s loss, output and state bit for bit, and leaves the gradients as they were', async () => {
      const m = await modelFor(fx, path);
      const batch = batchFor(fx), spec = specFor(fx);
      const g = m.lossAndGrad(batch, spec); // gradients now hold something to keep
      const before = gradBits(m);
      const r = m.loss(batch, spec);
      expect(r.loss).toBe(g.loss);
      expect(r.output).toEqual(g.output);
      expect(r.hN).toEqual(g.hN);
      expect(r.cN).toEqual(g.cN);
      expect(r.losses).toEqual(g.losses);
      expect(gradBits(m)).toEqual(before);
      // no backward: none of lossAndGrad's gradient results
      expect(Object.keys(r).sort()).toEqual(['loss', 'output', 'hN', ...(g.cN ? ['cN'] : []), ...(g.losses ? ['losses'] : [])].sort());
    });
  });

  it('is lossAndGrad\'s loss bit for bit for token ids (an embedding), batch-first, with lengths and ignoreIndex', async () => {
    const m = await createModelOn(path, {
      cell: 'lstm', hiddenSize: 6, numLayers: 2, outputSize: 5, batchFirst: true, seed: 4,
      embedding: { numEmbeddings: 9, embeddingDim: 3, paddingIdx: 0 },
    });
    const rng = new Rng(12);
    const B = 4, T = 7;
    const x = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(9)) };
    const target = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(5)) };
    const batch = { x, target, lengths: [7, 2, 5, 1] };
    for (const spec of [{ kind: 'cross_entropy', reduction: 'mean', ignoreIndex: 3 }, { kind: 'cross_entropy', reduction: 'none', labelSmoothing: 0.1 }] as LossSpec[]) {
      const r = m.loss(batch, spec);
      const g = m.lossAndGrad(batch, spec);
      expect(r.loss).toBe(g.loss);
      expect(r.output).toEqual(g.output);
      expect(r.losses).toEqual(g.losses);
    }
  });

  it('runs with a forward-only workspace: smaller than lossAndGrad\'s for the same batch', async () => {
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 4, hiddenSize: 16, numLayers: 2, outputSize: 5, seed: 3 });
    const { batch, spec } = classBatch(20, 8, 4, 5, 3);
    m.loss(batch, spec);
    const lossBytes = m.info().memoryBytes;
    m.lossAndGrad(batch, spec);
    expect(lossBytes).toBeLessThan(m.info().memoryBytes);
  });

  it('is lossAndGrad\'s loss bit for bit when the forward runs in time chunks (T * B above 2048 rows)', async () => {
    // the Wasm backend's forward-only calls run in chunks of about 2048 rows; training runs all T at once
    const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 8, outputSize: 5, seed: 7 });
    const { batch, spec } = classBatch(90, 32, 3, 5, 11);
    const lengths = Array.from({ length: 32 }, (_, b) => 90 - 2 * b);
    for (const s of [spec, { ...spec, lastStepOnly: true }] as LossSpec[]) {
      const b = s.lastStepOnly ? { ...batch, target: { shape: [32], data: batch.target.data.slice(0, 32) } } : batch;
      expect(m.loss({ ...b, lengths }, s).loss).toBe(m.lossAndGrad({ ...b, lengths }, s).loss);
    }
  });

  it('with train: true applies the same dropout masks as lossAndGrad (same seed, same numbers)', async () => {
    const opts = { cell: 'gru', inputSize: 3, hiddenSize: 6, numLayers: 3, outputSize: 4, dropout: 0.3, seed: 5 } as const;
    const [a, b] = [await createModelOn(path, opts), await createModelOn(path, opts)];
    const { batch, spec } = classBatch(6, 4, 3, 4, 2);
    const r = a.loss(batch, spec, { train: true });
    expect(r.loss).toBe(b.lossAndGrad(batch, spec).loss);
    expect(a.dropoutMask()).toEqual(b.dropoutMask());
    // eval mode (the default) is lossAndGrad's train: false, and applies no mask
    expect(a.loss(batch, spec).loss).toBe(b.lossAndGrad(batch, spec, { train: false }).loss);
    expect(a.dropoutMask()).toBeNull();
  });

  it('padded steps and ignored targets take the same rule: the loss kernels skip both', async () => {
    const m = await createModelOn(path, { cell: 'rnn', inputSize: 3, hiddenSize: 5, outputSize: 4, seed: 9 });
    const T = 6, B = 5;
    const { batch } = classBatch(T, B, 3, 4, 4);
    const lengths = [6, 3, 1, 5, 2];
    const ids = Int32Array.from(batch.target.data);
    // ignoreIndex may be a class id: targets equal to it count nothing, as padding does
    for (const ignoreIndex of [0, -100]) {
      const spec: LossSpec = { kind: 'cross_entropy', reduction: 'mean', ignoreIndex };
      const ignored = Int32Array.from(ids, (v, i) => (i % 3 === 0 ? ignoreIndex : v));
      // what a padded step or an ignored target holds never matters
      const padded = Int32Array.from(ignored, (v, i) => (Math.floor(i / B) >= lengths[i % B] ? 1 : v));
      const other = Int32Array.from(ignored, (v, i) => (Math.floor(i / B) >= lengths[i % B] ? 3 : v));
      const at = (d: Int32Array) => ({ ...batch, target: { shape: [T, B], data: d }, lengths });
      const l = m.loss(at(padded), spec).loss;
      expect(m.loss(at(other), spec).loss).toBe(l);
      expect(m.lossAndGrad(at(padded), spec).loss).toBe(l);
      // the reference, in double precision: the same steps count (float32 outputs, f64 sums: 1e-6 relative)
      const out = m.forward(batch.x, { lengths }).output;
      expectScalarClose('lossValue', lossValue(out, at(padded).target, spec, lengths), l, 1e-6);
    }
    // an ignored step past every valid one is padding: the loss of the valid steps, the same either way.
    // (The forwards differ in how the kernels pack the rows, so the outputs agree to float32 rounding.)
    const spec: LossSpec = { kind: 'cross_entropy', reduction: 'sum', ignoreIndex: 2 };
    const asIgnored = Int32Array.from(ids, (v, i) => (Math.floor(i / B) >= lengths[i % B] ? 2 : v === 2 ? 1 : v));
    const viaLengths = m.loss({ ...batch, target: { shape: [T, B], data: asIgnored }, lengths }, spec).loss;
    const viaIgnore = m.loss({ ...batch, target: { shape: [T, B], data: asIgnored } }, spec).loss;
    expectScalarClose('padding = ignoreIndex', viaIgnore, viaLengths, 1e-6);
  });

  it('evaluate and fit\'s validation loss are model.loss (weighted by what each batch\'s mean divides by)', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 6, outputSize: 4, seed: 1 });
    const { batch, spec } = classBatch(7, 12, 3, 4, 8);
    const lengths = Array.from({ length: 12 }, (_, b) => 1 + (b * 5) % 7);
    const data = { x: batch.x, target: batch.target, lengths };
    const whole = m.loss(data, spec).loss;
    // one batch: (loss * n) / n, two double roundings
    expect(Math.abs(evaluate(m, data, { loss: spec, batchSize: 12 }) - whole)).toBeLessThanOrEqual(Math.abs(whole) * 2 ** -51);
    const h = await fit(m, data, { loss: spec, optimizer: new SGD(m, { lr: 0 }), epochs: 1, batchSize: 4, validationData: data, progress: false });
    expect(h.valLoss[0]).toBe(evaluate(m, data, { loss: spec }));
  });

  it('evaluate\'s mean over batches is the whole dataset\'s with ignored targets and class weights; trainStep\'s micro-batches are its gradient', async () => {
    // each batch's mean divides by its counted targets' summed class weights, not its step count: weighting
    // batches by steps gave a batch-size-dependent loss as soon as a target was ignored or a class weighed != 1
    for (const batchFirst of [false, true]) {
      const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 6, outputSize: 4, seed: 1, batchFirst });
      const T = 7, B = 12;
      const { batch } = classBatch(T, B, 3, 4, 9);
      // many ignored targets, unevenly spread: sequence b has b % 4 of them
      const ids = Int32Array.from(batch.target.data, (v, i) => (i % B) % 4 > Math.floor(i / B) ? -100 : v);
      const lengths = Array.from({ length: B }, (_, b) => 1 + (b * 5) % T);
      const tm = { x: batch.x, target: { shape: [T, B], data: ids }, lengths };
      const bfOf = (d: typeof tm) => ({
        x: { shape: [B, T, 3], data: swap(d.x.data, T, B, 3) }, target: { shape: [B, T], data: swap(d.target.data, T, B, 1) }, lengths,
      });
      const data = batchFirst ? bfOf(tm) : tm;
      for (const lastStepOnly of [false, true]) {
        const spec: LossSpec = { kind: 'cross_entropy', reduction: 'mean', weight: [1, 3, 0.5, 2], lastStepOnly };
        const whole = m.loss(data, spec).loss;
        // float32 batch losses in double sums: the batch split changes only their rounding
        for (const batchSize of [1, 4, 5]) expectScalarClose(`evaluate batchSize ${batchSize}`, evaluate(m, data, { loss: spec, batchSize }), whole, 1e-6);
        // trainStep over micro-batches (lr 0: the weights stay, the gradient is the whole batch's)
        const opt = new SGD(m, { lr: 0 });
        const cut = (b0: number, b1: number) => {
          const sel = (d: ArrayLike<number>, F: number) => Float32Array.from({ length: T * (b1 - b0) * F }, (_, i) => {
            const f = i % F, r = Math.floor(i / F);
            const [t, b] = batchFirst ? [r % T, b0 + Math.floor(r / T)] : [Math.floor(r / (b1 - b0)), b0 + (r % (b1 - b0))];
            return d[(batchFirst ? b * T + t : t * B + b) * F + f];
          });
          const tb = batchFirst ? [b1 - b0, T] : [T, b1 - b0];
          return { x: { shape: [...tb, 3], data: sel(data.x.data, 3) }, target: { shape: tb, data: Int32Array.from(sel(data.target.data, 1)) },
            lengths: lengths.slice(b0, b1) };
        };
        const parts = trainStep(m, opt, [cut(0, 3), cut(3, 10), cut(10, 12)], { loss: spec });
        const partsGrad = m.gradView().slice();
        m.zeroGrad();
        const g = m.lossAndGrad(data, spec);
        expectScalarClose('trainStep loss', parts.loss, g.loss, 1e-6);
        const gw = m.gradView();
        const scale = Math.max(...gw.map(Math.abs));
        for (let i = 0; i < gw.length; i++) expect(Math.abs(partsGrad[i] - gw[i])).toBeLessThanOrEqual(1e-5 * scale);
      }
    }
  });

  it('fit, trainTruncated and evaluate check every target value before the first batch runs, and name its place in the dataset', async () => {
    // a bad value in the last batch used to fail only when that batch ran: the batches before it had trained
    // (the weights changed) and the message gave its index in the minibatch, not in the dataset
    for (const batchFirst of [false, true]) {
      const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 4, outputSize: 4, seed: 3, batchFirst });
      const T = 5, N = 6;
      const { batch } = classBatch(T, N, 3, 4, 2);
      const x = batchFirst ? { shape: [N, T, 3], data: swap(batch.x.data, T, N, 3) } : batch.x;
      const ids = batchFirst ? swap(batch.target.data, T, N, 1) : Int32Array.from(batch.target.data);
      const at = (t: number, n: number): number => (batchFirst ? n * T + t : t * N + n);
      const bad = Int32Array.from(ids);
      bad[at(3, 5)] = 4; // step 3 of the last sequence
      const target = { shape: batchFirst ? [N, T] : [T, N], data: bad };
      const spec: LossSpec = { kind: 'cross_entropy', reduction: 'mean' };
      const opt = new SGD(m, { lr: 0.5 });
      m.lossAndGrad({ x, target: { ...target, data: ids } }, spec); // gradients to keep
      const params = m.paramView().slice(), grads = gradBits(m);
      const words = (where: string) => new RegExp(`${where}: target\\.data\\[${at(3, 5)}\\] = 4 \\(step 3 of sequence 5\\) is not a class id in \\[0, 3\\]`);
      await expect(fit(m, { x, target }, { optimizer: opt, loss: spec, batchSize: 1, shuffle: false, progress: false })).rejects.toThrow(words('fit'));
      await expect(fit(m, { x, target: { ...target, data: ids } }, { optimizer: opt, loss: spec, validationData: { x, target }, progress: false }))
        .rejects.toThrow(words('fit validation data'));
      if (!batchFirst) expect(() => trainTruncated(m, opt, { x, target }, { k: 1, loss: spec })).toThrow(words('trainTruncated'));
      expect(() => evaluate(m, { x, target }, { loss: spec, batchSize: 1 })).toThrow(words('evaluate'));
      // lastStepOnly reads each sequence's last valid step only: a bad value before it is never read
      const lengths = [5, 5, 5, 5, 5, 3];
      expect(() => evaluate(m, { x, target, lengths }, { loss: { ...spec, lastStepOnly: true } })).not.toThrow();
      expect(() => evaluate(m, { x, target, lengths: [5, 5, 5, 5, 5, 4] }, { loss: { ...spec, lastStepOnly: true } }))
        .toThrow(/evaluate: target\.data\[\d+\] = 4 \(step 3 of sequence 5\)/);
      // mse: the place of a NaN, as the dataset holds it
      const y = Float32Array.from({ length: T * N * 4 }, (_, i) => Math.cos(i));
      y[at(4, 2) * 4 + 1] = NaN;
      await expect(fit(m, { x, target: { shape: batchFirst ? [N, T, 4] : [T, N, 4], data: y } }, { optimizer: opt, loss: 'mse', batchSize: 1, shuffle: false, progress: false }))
        .rejects.toThrow(new RegExp(`fit: target\\.data\\[${at(4, 2) * 4 + 1}\\] \\(step 4 of sequence 2\\) is NaN`));
      expect(m.paramView()).toEqual(params);
      expect(gradBits(m)).toEqual(grads);
    }
  });

  it('trainStep checks every micro-batch\'s target values and class weights before the first runs: the gradients stay too', async () => {
    // a bad class id in micro-batch 1 used to fail after zeroGrad and micro-batch 0's backward
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 3, hiddenSize: 4, outputSize: 4, seed: 5 });
    const a = classBatch(5, 3, 3, 4, 7).batch, b = classBatch(5, 2, 3, 4, 8).batch;
    const spec: LossSpec = { kind: 'cross_entropy', reduction: 'mean' };
    m.lossAndGrad(b, { ...spec, reduction: 'sum' }); // gradients unlike any trainStep's
    const params = m.paramView().slice(), grads = gradBits(m);
    const opt = new SGD(m, { lr: 0.5 });
    const badIds = Int32Array.from(b.target.data);
    badIds[4 * 2 + 1] = 9; // step 4 of sequence 1
    expect(() => trainStep(m, opt, [a, { ...b, target: { shape: [5, 2], data: badIds } }], { loss: spec }))
      .toThrow(/trainStep: micro-batch 1: target\.data\[9\] = 9 \(step 4 of sequence 1\) is not a class id in \[0, 3\]/);
    expect(() => trainStep(m, opt, [a, b], { loss: { ...spec, weight: [1, 2] } })).toThrow(/loss\.weight has 2 values, expected one per class: outputSize 4/);
    expect(gradBits(m)).toEqual(grads);
    expect(m.paramView()).toEqual(params);
    // padded steps are never read: the same bad id there trains
    expect(() => trainStep(m, new SGD(m, { lr: 0 }), [a, { ...b, target: { shape: [5, 2], data: badIds }, lengths: [5, 4] }], { loss: spec })).not.toThrow();
  });

  it('refuses lossAndGrad\'s backward-only options and bad input with a BpttError, and changes nothing', async () => {
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 3, hiddenSize: 4, outputSize: 4, seed: 2 });
    const { batch, spec } = classBatch(5, 3, 3, 4, 6);
    m.lossAndGrad(batch, spec);
    const before = gradBits(m);
    const params = m.paramView().slice();
    expect(() => m.loss(batch, spec, { clipHiddenGrad: 1 } as never)).toThrow(/loss: option 'clipHiddenGrad' is not supported \(model.loss runs no backward/);
    expect(() => m.loss(batch, spec, { inputGrad: false } as never)).toThrow(/option 'inputGrad' is not supported/);
    expect(() => m.loss(batch, spec, { tarin: true } as never)).toThrow(/loss: unknown option 'tarin' \(options: train\)/);
    expect(() => m.loss(batch, spec, { train: 1 } as never)).toThrow(/loss: train must be a boolean, got 1/);
    expect(() => m.loss(null as never, spec)).toThrow(/loss: batch must be \{ x, target/);
    expect(() => m.loss(batch, { kind: 'cross_entropy', reduction: 'avg' } as never)).toThrow(/loss.reduction must be one of/);
    expect(() => m.loss({ ...batch, target: { shape: [5, 3], data: new Int32Array(15).fill(4) } }, spec))
      .toThrow(/target.data\[0\] = 4 is not a class id in \[0, 3\]/);
    expect(() => m.loss(batch, spec, { clipHiddenGrad: 1 } as never)).toThrow(BpttError);
    expect(gradBits(m)).toEqual(before);
    expect(m.paramView()).toEqual(params);
  });
});

describe('one rule for target shapes', () => {
  it('model.loss, lossAndGrad, lossValue, evaluate and fit refuse a wrong target with the same words', async () => {
    const m = await createModelOn('js', { cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 4, seed: 1 });
    const { batch, spec } = classBatch(5, 3, 2, 4, 1);
    const bad = { shape: [3, 5], data: new Int32Array(15) };
    const words = /cross_entropy target has shape \[3, 5\], expected \[5, 3\] \(class ids, T, B\)/;
    expect(() => m.loss({ ...batch, target: bad }, spec)).toThrow(words);
    expect(() => m.lossAndGrad({ ...batch, target: bad }, spec)).toThrow(words);
    expect(() => lossValue(m.forward(batch.x).output, bad, spec)).toThrow(words);
    expect(() => evaluate(m, { x: batch.x, target: bad }, { loss: spec })).toThrow(words);
    await expect(fit(m, { x: batch.x, target: bad }, { loss: spec, progress: false })).rejects.toThrow(words);
    // lastStepOnly: the short form [B] too, and the message says so
    const last = { ...spec, lastStepOnly: true };
    expect(m.loss({ ...batch, target: { shape: [3], data: new Int32Array(3) } }, last).loss).toBeGreaterThan(0);
    expect(() => m.loss({ ...batch, target: { shape: [4], data: new Int32Array(4) } }, last))
      .toThrow(/expected \[5, 3\] or \[3\] \(class ids, T, B or B\)/);
    // mse: the model knows O; a dataset does not yet (its own last axis, 'outputSize' in the message)
    const mse: LossSpec = { kind: 'mse', reduction: 'mean' };
    const y = { shape: [5, 3, 3], data: new Float32Array(45) };
    expect(() => m.loss({ x: batch.x, target: y }, mse)).toThrow(/mse target has shape \[5, 3, 3\], expected \[5, 3, 4\] \(T, B, outputSize\)/);
    expect(() => evaluate(m, { x: batch.x, target: { shape: [5, 2, 4], data: new Float32Array(40) } }, { loss: mse }))
      .toThrow(/evaluate: mse target has shape \[5, 2, 4\], expected \[5, 3, outputSize\]/);
    expect(() => lossValue(m.forward(batch.x).output, { shape: [5, 3, 4], data: new Float32Array(59) }, mse))
      .toThrow(/lossValue: target.data has 59 values, expected 60 for shape \[5, 3, 4\]/);
  });
});

/** x [T, B, I] uniform in [-1, 1) and class ids [T, B] in [0, O), from a seeded generator. */
function classBatch(T: number, B: number, I: number, O: number, seed: number) {
  const rng = new Rng(seed);
  return {
    batch: {
      x: { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, () => rng.uniform(-1, 1)) },
      target: { shape: [T, B], data: Int32Array.from({ length: T * B }, () => rng.int(O)) },
    },
    spec: { kind: 'cross_entropy', reduction: 'mean' } as LossSpec,
  };
}

/** [A, B, F] -> [B, A, F], in the type it came in. */
function swap<D extends Float32Array | Int32Array>(d: D, A: number, B: number, F: number): D {
  const out = new (d.constructor as new (n: number) => D)(d.length);
  for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let f = 0; f < F; f++) out[(b * A + a) * F + f] = d[(a * B + b) * F + f];
  return out;
}
