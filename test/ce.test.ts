// The cross-entropy options PyTorch users rely on (ignoreIndex, class weight, labelSmoothing,
// reduction 'none') and a Linear head without bias, against PyTorch float64 references
// written by scripts/make_ce_fixtures.py (test/fixtures/ce/), on every compute path.
// Tolerances as the other fixtures: 2e-5 forward and loss, 1e-4 gradients, relative to
// the largest magnitude of the tensor (float32 arithmetic against float64).

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../src/checkpoint.js';
import { MetricAccumulator } from '../src/metrics.js';
import { createModel, type LossSpec, type Model } from '../src/model.js';
import { lossValue } from '../src/train.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';
import type { Fx, Path } from './helpers/models.js';

const FWD = 2e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;
const DIR = resolve(import.meta.dirname, 'fixtures/ce');
const fixtures: [string, Fx][] = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(DIR, f), 'utf8'))]);

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

async function modelFor(fx: Fx, path: Path): Promise<Model> {
  const c = fx.config;
  const m = await createModel({
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.input_size, hiddenSize: c.hidden_size, numLayers: c.num_layers,
    outputSize: c.output_size, bias: c.bias, headBias: c.head_bias,
    backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1,
  });
  live.push(m);
  m.loadStateDict(fx.params);
  return m;
}

const lossFor = (fx: Fx): LossSpec => ({
  kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only,
  ...(fx.loss.ignore_index !== undefined ? { ignoreIndex: fx.loss.ignore_index } : {}),
  ...(fx.loss.weight !== undefined ? { weight: fx.loss.weight } : {}),
  ...(fx.loss.label_smoothing !== undefined ? { labelSmoothing: fx.loss.label_smoothing } : {}),
});
const targetFor = (fx: Fx) =>
  (fx.loss.kind === 'cross_entropy' ? { shape: fx.target.shape, data: Int32Array.from(fx.target.data) } : fx.target);

describe('the cross-entropy fixtures', () => {
  it('cover every option and the head without bias', () => {
    const names = fixtures.map(([n]) => n);
    expect(names.length).toBeGreaterThanOrEqual(15);
    const has = (p: (fx: Fx) => boolean) => fixtures.some(([, fx]) => p(fx));
    expect(has((fx) => fx.loss.ignore_index === undefined && fx.target.data.includes(-100))).toBe(true);
    expect(has((fx) => fx.loss.ignore_index === 0)).toBe(true);
    expect(has((fx) => fx.loss.weight && fx.loss.reduction === 'mean')).toBe(true);
    expect(has((fx) => fx.loss.label_smoothing > 0)).toBe(true);
    expect(has((fx) => fx.loss.reduction === 'none' && fx.loss.last_step_only)).toBe(true);
    expect(has((fx) => fx.config.head_bias === false)).toBe(true);
  });
});

describe.each(['js', 'wasm', 'wasm, 2 threads'] as const)('cross-entropy options against PyTorch on %s', (path) => {
  describe.each(fixtures)('%s', (_name, fx: Fx) => {
    it('matches outputs, loss (per step for reduction none), every gradient, dx and dh0', async () => {
      const model = await modelFor(fx, path);
      expect(Object.keys(model.stateDict()).sort()).toEqual(Object.keys(fx.params).sort());
      const loss = lossFor(fx);
      const r = model.lossAndGrad({ x: fx.x, target: targetFor(fx) }, loss);
      expectClose('output', r.output, fx.output, FWD);
      expectClose('h_n', r.hN, fx.h_n, FWD);
      expectScalarClose('loss', r.loss, fx.loss_value, LOSS);
      if (fx.losses) expectClose('losses', r.losses!, fx.losses, LOSS);
      else expect(r.losses).toBeUndefined();
      const got = model.gradDict();
      expect(Object.keys(got).sort()).toEqual(Object.keys(fx.grads).sort());
      for (const [name, t] of Object.entries(fx.grads)) expectClose(`grad ${name}`, got[name], t as Fx, GRAD);
      expectClose('d_x', r.dx!, fx.d_x, GRAD);
      expectClose('d_h0', r.dh0, fx.d_h0, GRAD);
      if (fx.d_c0) expectClose('d_c0', r.dc0!, fx.d_c0, GRAD);
      // the validation loss (fit, evaluate) computes the same number without gradients
      expectScalarClose('lossValue', lossValue(r.output, targetFor(fx), loss), fx.loss_value, LOSS);
    });
  });

  it('bad options are errors that name them, and leave the gradients unchanged', async () => {
    const [, fx] = fixtures.find(([n]) => n === 'ce_weight_mean_rnn')!;
    const model = await modelFor(fx, path);
    const batch = { x: fx.x, target: targetFor(fx) };
    const base = lossFor(fx);
    const before = model.gradDict();
    expect(() => model.lossAndGrad(batch, { ...base, weight: [1, 2] })).toThrow(/loss.weight has 2 values, expected one per class: outputSize 5/);
    expect(() => model.lossAndGrad(batch, { ...base, weight: [1, 1, -1, 1, 1] })).toThrow(/loss.weight\[2\] is -1, expected a finite number >= 0/);
    expect(() => model.lossAndGrad(batch, { ...base, labelSmoothing: 1.5 })).toThrow(/loss.labelSmoothing must be a number in \[0, 1\], got 1.5/);
    expect(() => model.lossAndGrad(batch, { ...base, ignoreIndex: 0.5 })).toThrow(/loss.ignoreIndex must be an integer, got 0.5/);
    expect(() => model.lossAndGrad(batch, { kind: 'mse', reduction: 'sum', ignoreIndex: 0 })).toThrow(/loss.ignoreIndex applies to kind 'cross_entropy' only/);
    const bad = { shape: batch.target.shape, data: Int32Array.from(batch.target.data, (v, i) => (i === 3 ? -1 : v)) };
    expect(() => model.lossAndGrad({ x: fx.x, target: bad }, base)).toThrow(/target.data\[3\] = -1 is not a class id in \[0, 4\] \(outputSize 5\) or the ignoreIndex -100/);
    expect(model.gradDict()).toEqual(before);
  });
});

describe('accuracy with ignoreIndex', () => {
  it('does not count ignored targets', () => {
    const out = { shape: [1, 3, 2], data: Float32Array.from([1, 0, 0, 1, 1, 0]) };
    const acc = new MetricAccumulator(['accuracy']);
    acc.add(out, { shape: [1, 3], data: [0, 0, -100] }, { kind: 'cross_entropy' });
    expect(acc.result().accuracy).toBe(0.5);
    const custom = new MetricAccumulator(['accuracy']);
    custom.add(out, { shape: [1, 3], data: [0, 0, 1] }, { kind: 'cross_entropy', ignoreIndex: 1 });
    expect(custom.result().accuracy).toBe(0.5);
  });
});

describe('a Linear head without bias', () => {
  it('has no out.bias, survives a checkpoint, and needs a head', async () => {
    const m = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 2, headBias: false, backend: 'js', seed: 4 });
    expect(Object.keys(m.stateDict())).not.toContain('out.bias');
    const path = join(mkdtempSync(join(tmpdir(), 'bptt-ce-')), 'm.safetensors');
    await saveCheckpoint(m, path);
    const back = await loadCheckpoint(path);
    expect(back.config.headBias).toBe(false);
    expect(back.stateDict()).toEqual(m.stateDict());
    await expect(createModel({ cell: 'gru', inputSize: 2, hiddenSize: 3, headBias: false })).rejects.toThrow(/headBias applies to the Linear head; got headBias false without an outputSize/);
    await expect(createModel({ cell: 'gru', inputSize: 2, hiddenSize: 3, outputSize: 1, headBias: 0 as never })).rejects.toThrow(/headBias must be a boolean, got 0/);
    expect(() => m.loadStateDict({ ...m.stateDict(), 'out.bias': { shape: [2], data: [0, 0] } })).toThrow(/unknown key 'out.bias'/);
  });
});
