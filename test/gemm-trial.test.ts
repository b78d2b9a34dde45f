// The GEMM micro-kernel choice (issue 14, src/backend/gemm-trial.ts): the first call of a
// new shape times every register tile with the build's arithmetic on its real products and
// keeps the fastest per (entry point, shape class) for the process. The choice shows in
// model.info().gemm, and never changes a value: a model whose products run the trial's
// tiles gives bit-for-bit what one running the built-in rule gives (the kernel suite checks
// the same per product, for every tile).

import { describe, expect, it } from 'vitest';
import { gemmChoices, setGemmTrial, wasmBuild, type Model } from '../src/index.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const T = 9, B = 21, I = 5, H = 37, O = 3;
const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(0.37 * i)) };
const target = { shape: [T, B, O], data: Float32Array.from({ length: T * B * O }, (_, i) => Math.cos(0.11 * i)) };
const lengths = Array.from({ length: B }, (_, b) => 1 + ((b * 5) % T));
const batch = { x, target, lengths };
const mse = { kind: 'mse', reduction: 'mean' } as const;

function run(m: Model): { loss: number; grads: Record<string, Float32Array>; y: Float32Array } {
  const r = m.lossAndGrad(batch, mse);
  const y = m.predict(x, { lengths }).data as Float32Array;
  const grads = Object.fromEntries(Object.entries(m.gradDict()).map(([k, t]) => [k, t.data as Float32Array]));
  return { loss: r.loss, grads, y };
}

describe.each(PATHS)('GEMM micro-kernel choice on %s', (path) => {
  it('a timed trial picks each product class\'s tile, shown in info().gemm; results equal the rule\'s bit for bit', async () => {
    const cfg = { cell: 'lstm' as const, inputSize: I, hiddenSize: H, outputSize: O, numLayers: 2, bidirectional: true, seed: 3 };
    setGemmTrial(false);
    let ruleRun, ruleInfo;
    try {
      const m = await createModelOn(path, cfg);
      ruleRun = run(m);
      ruleInfo = m.info().gemm;
    } finally {
      setGemmTrial(true);
    }
    const m = await createModelOn(path, cfg);
    const got = run(m);
    const info = m.info().gemm;
    expect(Object.is(got.loss, ruleRun.loss), `loss ${got.loss} vs ${ruleRun.loss}`).toBe(true);
    for (const [name, g] of Object.entries(got.grads)) {
      const i = g.findIndex((v, j) => !Object.is(v, ruleRun.grads[name][j]));
      expect(i, `${name}: first differing element`).toBe(-1);
    }
    expect(got.y.findIndex((v, j) => !Object.is(v, ruleRun.y[j])), 'predict output').toBe(-1);
    if (path === 'js') {
      expect(info).toEqual([]);
      return;
    }
    // predict ran last (a forward-only shape); its products: input projections, recurrent, head
    expect(info.length).toBeGreaterThan(0);
    expect(new Set(info.map((c) => c.op))).toEqual(new Set(['nt', 'packed_b']));
    const arithmetic = wasmBuild() === 'relaxed' ? 'fma' : 'mul+add';
    for (const c of [...info, ...ruleInfo]) {
      expect(c.variant).toMatch(new RegExp(`^[2-8]x(8|16)s? ${arithmetic.replace('+', '\\+')}$`));
      expect(c.M * c.N * c.K).toBeGreaterThan(0);
    }
    for (const c of ruleInfo) expect(c.source).toBe('rule');
    for (const c of info) {
      expect(c.source).toBe('trial');
      const t = c.trial!;
      expect(t.gflops).toBeGreaterThan(0);
      expect(t.ruleGflops).toBeGreaterThan(0);
      // the timed product is capped in its class: at most the deciding product's size
      expect(t.timed[0]).toBeLessThanOrEqual(t.M);
      expect(t.timed[1]).toBeLessThanOrEqual(t.N);
      expect(t.timed[2]).toBeLessThanOrEqual(t.K);
      // a product of this model's call: rows are the batch, or its part on a thread (recurrent), or steps x rows
      expect(c.op === 'packed_b' ? c.M === (path === 'wasm' ? B : Math.ceil(B / 2)) : c.M <= T * B, `${c.op} M=${c.M}`).toBe(true);
    }
    // the process keeps one result per (build, op, class): a second model reuses them
    const before = gemmChoices().length;
    const m2 = await createModelOn(path, cfg);
    run(m2);
    expect(gemmChoices().length).toBe(before);
    expect(m2.info().gemm).toEqual(m.info().gemm);
  });
});
