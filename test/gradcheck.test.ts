// Finite differences against BPTT, for every cell type on every path: an
// implementation-independent check (the fixtures check against PyTorch; this checks the
// calculus itself, including paths PyTorch cases might not stress: 2 layers, h0/c0,
// per-step losses, cross-entropy).
//
// Central differences on a float32 forward: with step eps the truncation error is
// O(eps^2) and the rounding error about 1e-7 * |loss| / eps, so eps = 1e-2 and a 2%
// tolerance (with an absolute floor) separate a correct gradient from a wrong one.

import { describe, expect, it } from 'vitest';
import { Rng, type Model } from '../src/index.js';
import { createModelOn, PATHS } from './helpers/variants.js';

/** uniform in [-0.5, 0.5), seeded (the library's generator) */
function rand(seed: number) {
  const g = new Rng(seed);
  return () => g.uniform(-0.5, 0.5);
}

const CASES = [
  { cell: 'rnn', nonlinearity: 'tanh' },
  { cell: 'rnn', nonlinearity: 'relu' },
  { cell: 'lstm' },
  { cell: 'gru' },
] as const;

describe.each(PATHS)('finite-difference gradient check (%s)', (path) => {
  it.each(CASES)('$cell $nonlinearity', async (c) => {
    const I = 3, H = 5, O = 4, L = 2, T = 4, B = 2;
    const model: Model = await createModelOn(path, { ...c, inputSize: I, hiddenSize: H, numLayers: L, outputSize: O, seed: 7 });
    const r = rand(11);
    const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, () => 2 * r()) };
    const h0 = { shape: [L, B, H], data: Float32Array.from({ length: L * B * H }, () => r()) };
    const c0 = c.cell === 'lstm' ? { shape: [L, B, H], data: Float32Array.from({ length: L * B * H }, () => r()) } : undefined;
    const target = { shape: [T, B], data: Int32Array.from({ length: T * B }, (_, i) => (i * 7) % O) };
    const spec = { kind: 'cross_entropy', reduction: 'sum' } as const;
    const batch = { x, target, h0, ...(c0 ? { c0 } : {}) };
    model.zeroGrad();
    const res = model.lossAndGrad(batch, spec);
    const grads = model.gradDict();
    const lossAt = () => {
      const v = model.lossAndGrad(batch, spec).loss;
      return v;
    };
    // ReLU: a smaller step makes crossing a kink rarer; rounding noise grows as 1/eps, so
    // the absolute floor of the tolerance grows with it.
    const relu = c.nonlinearity === 'relu';
    const eps = relu ? 1e-3 : 1e-2;
    const floor = relu ? 1e-3 : 2e-4;
    const l0 = lossAt();
    let checked = 0, kinks = 0;
    // ReLU has kinks: when a pre-activation crosses 0 within +-eps the loss is not smooth
    // there and a central difference means nothing. Such points show as one-sided slopes
    // that disagree; they are counted and skipped, and most points must be smooth.
    const check = (what: string, analytic: number, lp: number, lm: number) => {
      const fd = (lp - lm) / (2 * eps);
      const right = (lp - l0) / eps, left = (l0 - lm) / eps;
      if (relu && Math.abs(right - left) > 0.1 * Math.abs(fd) + 0.01) { kinks++; return; }
      checked++;
      const tol = 2e-2 * Math.max(Math.abs(analytic), Math.abs(fd)) + floor;
      expect(Math.abs(analytic - fd), `${what}: analytic ${analytic} vs finite difference ${fd}`).toBeLessThanOrEqual(tol);
    };
    // parameters: a spread of entries from every tensor
    const sd = model.stateDict();
    for (const [name, t] of Object.entries(sd)) {
      for (const idx of [0, Math.floor(t.data.length / 2), t.data.length - 1]) {
        const orig = t.data[idx];
        const set = (v: number) => { t.data[idx] = v; model.loadStateDict(sd); };
        set(orig + eps); const lp = lossAt();
        set(orig - eps); const lm = lossAt();
        set(orig);
        check(`${name}[${idx}]`, grads[name].data[idx], lp, lm);
      }
    }
    // inputs and initial states
    const perturb = (arr: Float32Array, idx: number, what: string, analytic: number) => {
      const orig = arr[idx];
      arr[idx] = orig + eps; const lp = lossAt();
      arr[idx] = orig - eps; const lm = lossAt();
      arr[idx] = orig;
      check(what, analytic, lp, lm);
    };
    for (const idx of [0, 5, T * B * I - 1]) perturb(x.data, idx, `dx[${idx}]`, res.dx!.data[idx]);
    for (const idx of [0, 7, L * B * H - 1]) perturb(h0.data, idx, `dh0[${idx}]`, res.dh0.data[idx]);
    if (c0) for (const idx of [0, 7, L * B * H - 1]) perturb(c0.data, idx, `dc0[${idx}]`, res.dc0!.data[idx]);
    expect(checked, `${checked} smooth points checked, ${kinks} ReLU kinks skipped`).toBeGreaterThanOrEqual(0.8 * (checked + kinks));
  });
});
