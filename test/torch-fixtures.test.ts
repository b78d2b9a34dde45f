// Every PyTorch fixture, on both backends: forward values, loss, every gradient by name,
// input and initial-state gradients, per-step hidden-gradient norms, and the three kinds
// of clipping. Tolerances (fixtures README): float32 forward ~1e-5, loss 2e-5, gradients
// 1e-4, each relative to the tensor's largest magnitude; PyTorch computed in float64.

import { afterAll, describe, expect, it } from 'vitest';
import { clipGradNorm, clipGradValue, type Model } from '../src/index.js';
import { listFixtures } from './helpers/fixtures.js';
import { batchFor, lossFor, modelFor as openModel, type Fx } from './helpers/models.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';
import { PATHS, type Path } from './helpers/variants.js';

const FWD = 1e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));
const modelFor = async (fx: Fx, path: Path) => {
  const m = await openModel(fx, path);
  live.push(m);
  return m;
};

function expectGrads(what: string, model: Model, expected: Record<string, { shape: number[]; data: number[] }>) {
  const got = model.gradDict();
  expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, t] of Object.entries(expected)) expectClose(`${what} ${name}`, got[name], t, GRAD);
}

const fixtures = listFixtures();

describe.each(PATHS)('PyTorch fixtures on the %s backend', (backend) => {
  describe.each(fixtures.map((f) => [f.name, f.json]))('%s', (_name, fx: Fx) => {
    it('matches outputs, loss, every gradient, dx, dh0/dc0 and hidden-gradient norms', async () => {
      const model = await modelFor(fx, backend);
      const r = model.lossAndGrad(batchFor(fx), lossFor(fx));
      expectClose('output', r.output, fx.output, FWD);
      expectClose('h_n', r.hN, fx.h_n, FWD);
      if (fx.c_n) expectClose('c_n', r.cN!, fx.c_n, FWD);
      else expect(r.cN).toBeUndefined();
      expectScalarClose('loss', r.loss, fx.loss_value, LOSS);
      expectGrads('grad', model, fx.grads);
      expectClose('d_x', r.dx!, fx.d_x, GRAD);
      expectClose('d_h0', r.dh0, fx.d_h0, GRAD);
      if (fx.d_c0) expectClose('d_c0', r.dc0!, fx.d_c0, GRAD);
      expect(r.hiddenGradNorms.length).toBe(fx.config.num_layers);
      fx.hidden_grad_norms.forEach((row: number[], l: number) =>
        expectClose(`hidden_grad_norms[${l}]`, { data: r.hiddenGradNorms[l] }, { shape: [row.length], data: row }, GRAD));
      // forward() alone gives the same outputs as the training path
      const f = model.forward(fx.x, { h0: fx.h0 ?? undefined, c0: fx.c0 ?? undefined });
      expect(Array.from(f.output.data)).toEqual(Array.from(r.output.data));
    });

    it('accumulates gradients across calls until zeroGrad, as PyTorch backward does', async () => {
      const model = await modelFor(fx, backend);
      model.lossAndGrad(batchFor(fx), lossFor(fx));
      model.lossAndGrad(batchFor(fx), lossFor(fx));
      const doubled = Object.fromEntries(Object.entries(fx.grads as Record<string, { shape: number[]; data: number[] }>)
        .map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => 2 * v) }]));
      expectGrads('2x grad', model, doubled);
      model.zeroGrad();
      for (const t of Object.values(model.gradDict())) expect(t.data.every((v) => v === 0)).toBe(true);
    });

    if (fx.clip_grad_norm) it('clipGradNorm returns the total norm and clips as clip_grad_norm_', async () => {
      const model = await modelFor(fx, backend);
      model.lossAndGrad(batchFor(fx), lossFor(fx));
      const norm = clipGradNorm(model, fx.clip_grad_norm.max_norm);
      expectScalarClose('total_norm', norm, fx.clip_grad_norm.total_norm, GRAD);
      expectScalarClose('grad_norm', norm, fx.grad_norm, GRAD);
      expectGrads('clipped', model, fx.clip_grad_norm.grads);
    });

    if (fx.clip_grad_value) it('clipGradValue clamps as clip_grad_value_', async () => {
      const model = await modelFor(fx, backend);
      model.lossAndGrad(batchFor(fx), lossFor(fx));
      clipGradValue(model, fx.clip_grad_value.clip_value);
      expectGrads('clamped', model, fx.clip_grad_value.grads);
    });

    if (fx.hidden_clip) it('clipHiddenGrad rescales each sequence dLoss/dh_t per timestep', async () => {
      const model = await modelFor(fx, backend);
      model.lossAndGrad(batchFor(fx), lossFor(fx), { clipHiddenGrad: fx.hidden_clip.threshold });
      expectGrads('hidden-clipped', model, fx.hidden_clip.grads);
    });
  });
});
