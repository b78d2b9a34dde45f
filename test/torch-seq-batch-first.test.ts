// batchFirst (PyTorch's batch_first): x, output, target and dx are [B, T, *]; states stay
// [numLayers * D, B, H]. The engine runs time-major, so a batch-first model must give
// exactly the time-major model's numbers, transposed, on every path and through fit/evaluate.

import { describe, expect, it } from 'vitest';
import { evaluate, fit, SGD, step, type Model } from '../src/index.js';
import { swapAxes01 } from '../src/model.js';
import { listFixtures } from './helpers/fixtures.js';
import { batchFor, lossFor, modelFor } from './helpers/models.js';
import { createModelOn, PATHS, type Path } from './helpers/variants.js';

const fx = listFixtures('torch-seq').find((f) => f.name === 'seq_lstm_bi_len_2layer_ce_last')!.json;

/** [T, B, *] <-> [B, T, *] of a tensor */
const flip = (t: { shape: number[]; data: ArrayLike<number> }) => {
  const [A, B, ...rest] = t.shape;
  const F = rest.reduce((a, b) => a * b, 1);
  const d = swapAxes01(t.data, A, B, F);
  return { shape: [B, A, ...rest], data: t.data instanceof Int32Array ? Int32Array.from(d) : d };
};

async function pair(path: Path): Promise<[Model, Model]> {
  const tm = await modelFor(fx, path);
  const c = fx.config;
  const bf = await createModelOn(path, {
    cell: c.cell, inputSize: c.input_size, hiddenSize: c.hidden_size, numLayers: c.num_layers, outputSize: c.output_size,
    bidirectional: c.bidirectional, batchFirst: true,
  });
  bf.loadStateDict(fx.params);
  return [tm, bf];
}

describe.each(PATHS)('batchFirst on %s', (path) => {
  it('gives the time-major numbers, transposed (output, dx), and the same states and gradients', async () => {
    const [tm, bf] = await pair(path);
    const b = batchFor(fx);
    const loss = { ...lossFor(fx), lastStepOnly: false };
    const a = tm.lossAndGrad(b, loss);
    const r = bf.lossAndGrad({ ...b, x: flip(b.x), target: flip(b.target) }, loss);
    expect(r.loss).toBe(a.loss);
    expect(r.output).toEqual(flip(a.output));
    expect(r.dx).toEqual(flip(a.dx!));
    expect(r.hN).toEqual(a.hN);
    expect(r.dh0).toEqual(a.dh0);
    expect(bf.gradDict()).toEqual(tm.gradDict());
    expect(bf.forward(flip(b.x), { lengths: fx.lengths }).output).toEqual(flip(tm.forward(b.x, { lengths: fx.lengths }).output));
  });

  it('says which layout it expected when x cannot be batch-first', async () => {
    const [, bf] = await pair(path);
    const I = fx.config.input_size;
    expect(() => bf.forward({ shape: [7, 4], data: new Float32Array(28) })).toThrow(`expected [B, T, ${I}] (batchFirst)`);
    expect(() => bf.forward({ shape: [4, 7, I + 1], data: new Float32Array(28 * (I + 1)) }))
      .toThrow(`x has shape [4, 7, ${I + 1}], expected [4, 7, ${I}] (B, T, inputSize; batchFirst)`);
    const x = flip(fx.x);
    expect(() => bf.lossAndGrad({ x, target: batchFor(fx).target }, { kind: 'cross_entropy', reduction: 'sum' }))
      .toThrow(/target has shape \[7, 4\], expected \[4, 7\] \(class ids, B, T\)/);
  });
});

describe.each(PATHS)('batch-first datasets on %s', (path) => {
  it('fit and evaluate on [N, T, *] data reproduce the time-major run exactly', async () => {
    const [tm, bf] = await pair(path);
    const b = batchFor(fx);
    const loss = lossFor(fx);
    const tmData = { x: b.x, target: b.target, lengths: fx.lengths };
    const bfData = { x: flip(b.x), target: flip(b.target), lengths: fx.lengths };
    expect(evaluate(bf, bfData, { loss, batchSize: 3 })).toBe(evaluate(tm, tmData, { loss, batchSize: 3 }));
    const run = (m: Model, data: typeof tmData) =>
      fit(m, data, { loss, epochs: 2, batchSize: 2, optimizer: new SGD(m, { lr: 0.1 }), progress: false, seed: 4 });
    const [h1, h2] = [await run(tm, tmData), await run(bf, bfData)];
    expect(h2.loss).toEqual(h1.loss);
    expect(bf.stateDict()).toEqual(tm.stateDict());
  });

  it('streams one step at a time with x [B, I]', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: 2, hiddenSize: 3, outputSize: 2, batchFirst: true, seed: 1 });
    const ref = await createModelOn(path, { cell: 'gru', inputSize: 2, hiddenSize: 3, outputSize: 2, seed: 1 });
    const x = { shape: [4, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    expect(step(m, x).output).toEqual(step(ref, x).output);
    expect(step(m, { shape: [4, 1, 2], data: x.data }).output).toEqual(step(ref, x).output);
  });
});
