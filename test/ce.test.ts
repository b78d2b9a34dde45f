// The cross-entropy options PyTorch users rely on (ignoreIndex, class weight, labelSmoothing,
// reduction 'none') and a Linear head without bias, against PyTorch float64 references
// written by scripts/make_ce_fixtures.py (test/fixtures/ce/), on every compute path.
// Tolerances as the other fixtures: 2e-5 forward and loss, 1e-4 gradients, relative to
// the largest magnitude of the tensor (float32 arithmetic against float64).

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.js';
import { MetricAccumulator } from '../src/train/metrics.js';
import { createModel, type LossSpec } from '../src/model.js';
import { SGD } from '../src/train/optim.js';
import { Rng } from '../src/rng.js';
import { evaluate, fit, lossValue } from '../src/train/train.js';
import { expectClose, expectScalarClose, relErr } from './helpers/compare.js';
import { modelFor, type Fx } from './helpers/models.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const FWD = 2e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;
const DIR = resolve(import.meta.dirname, 'fixtures/ce');
const fixtures: [string, Fx][] = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(DIR, f), 'utf8'))]);

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

describe.each(PATHS)('cross-entropy options against PyTorch on %s', (path) => {
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

describe.each(PATHS)('the weighted, smoothed cross-entropy kernel on %s', (path) => {
  // every class count the vector loop and its leftover lanes can meet
  it.each([1, 3, 4, 5, 17, 64])('matches a float64 loop at %i classes', async (C) => {
    const m = await createModelOn(path, { cell: 'rnn', inputSize: 1, hiddenSize: 1, outputSize: C });
    const rng = new Rng(C);
    const rows = 6, eps = 0.15;
    const a = m.arena;
    const y = a.alloc(rows * C), dy = a.alloc(rows * C), tg = a.alloc(rows), w = a.alloc(C), rl = a.alloc(rows);
    const yv = Float32Array.from({ length: rows * C }, () => rng.normal(0, 3));
    const wv = Float32Array.from({ length: C }, () => 0.25 + rng.uniform());
    const tv = Int32Array.from({ length: rows }, (_, r) => (r === 2 ? -1 : r % C)); // row 2 ignored
    a.f32.set(yv, y);
    a.f32.set(wv, w);
    a.i32.set(tv, tg);
    const scale = 0.7;
    const loss = m.ops.crossEntropyLossExt(dy, y, tg, rows, C, scale, w, eps, rl);
    let ref = 0;
    const dRef = new Float64Array(rows * C), lRef = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const k = tv[r];
      if (k < 0) continue;
      const row = Array.from(yv.subarray(r * C, (r + 1) * C));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      const logp = row.map((v) => v - lse);
      // F.cross_entropy's row loss, and its derivative term by term
      lRef[r] = -(1 - eps) * wv[k] * logp[k] - (eps / C) * logp.reduce((s, lp, c) => s + wv[c] * lp, 0);
      ref += lRef[r];
      for (let j = 0; j < C; j++) {
        const p = Math.exp(logp[j]);
        let g = (1 - eps) * wv[k] * (p - (j === k ? 1 : 0));
        for (let c = 0; c < C; c++) g += (eps / C) * wv[c] * (p - (j === c ? 1 : 0));
        dRef[r * C + j] = scale * g;
      }
    }
    expectScalarClose('loss', loss, scale * ref, LOSS);
    // relative to the gradient's scale at least: with one class every dy is 0 up to rounding
    const e = relErr(a.read(dy, rows * C), dRef, scale);
    expect(e, `dy: max error ${e.toExponential(2)} relative to max(|expected|, scale)`).toBeLessThanOrEqual(GRAD);
    expectClose('row losses', { data: a.read(rl, rows) }, { shape: [rows], data: Array.from(lRef) }, LOSS);
    expect(a.read(dy + 2 * C, C).every((v) => v === 0)).toBe(true);
  });
});

describe.each(PATHS)('fit and evaluate with the cross-entropy options on %s', (path) => {
  it('the validation loss is the model loss with the same options; accuracy skips ignored targets', async () => {
    const rng = new Rng(9);
    const T = 4, N = 20, O = 3;
    const x = { shape: [T, N, 2], data: Float32Array.from({ length: T * N * 2 }, () => rng.normal(0, 1)) };
    const ids = Int32Array.from({ length: T * N }, (_, i) => (i % 5 === 0 ? -100 : i % O));
    const data = { x, target: { shape: [T, N], data: ids } };
    const loss: LossSpec = { kind: 'cross_entropy', reduction: 'mean', weight: [1, 2, 0.5], labelSmoothing: 0.1 };
    const m = await createModelOn(path, { cell: 'gru', inputSize: 2, hiddenSize: 5, outputSize: O, seed: 1 });
    const h = await fit(m, data, { optimizer: new SGD(m, { lr: 0 }), loss, epochs: 1, batchSize: N, metrics: ['accuracy'], progress: false });
    const r = m.lossAndGrad(data, loss);
    expectScalarClose('training loss (lr 0)', h.loss[0], r.loss, LOSS);
    const e = evaluate(m, data, { loss, metrics: ['accuracy'] });
    expectScalarClose('evaluate', e.loss, r.loss, LOSS);
    let hits = 0, counted = 0;
    for (let i = 0; i < T * N; i++) {
      if (ids[i] === -100) continue;
      const o = r.output.data.subarray(i * O, (i + 1) * O);
      const arg = o.indexOf(Math.max(...o));
      counted++;
      if (arg === ids[i]) hits++;
    }
    expect(e.metrics.accuracy).toBe(hits / counted);
    expect(h.metrics.accuracy[0]).toBe(hits / counted);
  });
});
