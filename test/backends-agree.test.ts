// The two backends are independent implementations (a per-step, per-sequence JS loop and
// a GEMM schedule in Wasm). On shapes the fixtures do not cover (sizes that are not
// multiples of 4, B = 1, T = 1, long sequences, deep stacks, no head) they must agree.
// Tolerance: float32 with different summation orders; errors grow with T through the
// recurrence, so 1e-4 of each tensor's largest magnitude (3e-4 for T = 60).

import { describe, expect, it } from 'vitest';
import { createModel, Rng, type CreateModelOptions } from '../src/index.js';
import { expectClose } from './helpers/compare.js';

/** uniform in [-1, 1), seeded (the library's generator) */
function rng(seed: number) {
  const g = new Rng(seed);
  return () => g.uniform(-1, 1);
}

const CASES: Array<[string, Omit<CreateModelOptions, 'backend'>, number, number, 'mse' | 'cross_entropy']> = [
  ['rnn tanh I7 H9 O5 T1 B1', { cell: 'rnn', inputSize: 7, hiddenSize: 9, outputSize: 5 }, 1, 1, 'mse'],
  ['rnn relu H13 3 layers T17 B3', { cell: 'rnn', nonlinearity: 'relu', inputSize: 5, hiddenSize: 13, numLayers: 3, outputSize: 3, init: 'irnn' }, 17, 3, 'cross_entropy'],
  ['lstm I1 H17 no head T9 B5', { cell: 'lstm', inputSize: 1, hiddenSize: 17, outputSize: null }, 9, 5, 'mse'],
  ['lstm H33 2 layers no bias T60 B2', { cell: 'lstm', inputSize: 6, hiddenSize: 33, numLayers: 2, outputSize: 11, bias: false }, 60, 2, 'cross_entropy'],
  ['gru I3 H5 4 layers T6 B1', { cell: 'gru', inputSize: 3, hiddenSize: 5, numLayers: 4, outputSize: 2 }, 6, 1, 'mse'],
  ['gru H31 T60 B7', { cell: 'gru', inputSize: 9, hiddenSize: 31, outputSize: 7 }, 60, 7, 'cross_entropy'],
];

describe('wasm and js backends agree', () => {
  it.each(CASES)('%s', async (_name, cfg, T, B, kind) => {
    const [w, j, w2] = await Promise.all([createModel({ ...cfg, backend: 'wasm', seed: 3 }), createModel({ ...cfg, backend: 'js', seed: 3 }),
      createModel({ ...cfg, backend: 'wasm', seed: 3, threads: 2 })]);
    expect(w.stateDict()).toEqual(j.stateDict());
    const r = rng(T * 100 + B);
    const L = cfg.numLayers ?? 1, H = cfg.hiddenSize, I = cfg.inputSize;
    const O = w.layout.outputWidth;
    const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, r) };
    const h0 = { shape: [L, B, H], data: Float32Array.from({ length: L * B * H }, () => 0.5 * r()) };
    const c0 = cfg.cell === 'lstm' ? { shape: [L, B, H], data: Float32Array.from({ length: L * B * H }, () => 0.5 * r()) } : undefined;
    const target = kind === 'mse'
      ? { shape: [T, B, O], data: Float32Array.from({ length: T * B * O }, r) }
      : { shape: [T, B], data: Int32Array.from({ length: T * B }, (_, i) => (i * 5 + 1) % O) };
    const batch = { x, target, h0, ...(c0 ? { c0 } : {}) };
    const spec = { kind, reduction: 'mean' } as const;
    const rw = w.lossAndGrad(batch, spec, { clipHiddenGrad: 0.5 });
    const rj = j.lossAndGrad(batch, spec, { clipHiddenGrad: 0.5 });
    const tol = T >= 60 ? 3e-4 : 1e-4;
    expect(Math.abs(rw.loss - rj.loss) / Math.abs(rj.loss)).toBeLessThan(2e-5);
    expectClose('output', rw.output, rj.output, 2e-5);
    expectClose('hN', rw.hN, rj.hN, 2e-5);
    expectClose('dx', rw.dx!, rj.dx!, tol);
    expectClose('dh0', rw.dh0, rj.dh0, tol);
    if (c0) expectClose('dc0', rw.dc0!, rj.dc0!, tol);
    for (let l = 0; l < L; l++) expectClose(`norms[${l}]`, { data: rw.hiddenGradNorms[l] }, { shape: [T], data: rj.hiddenGradNorms[l] }, tol);
    const gw = w.gradDict(), gj = j.gradDict();
    for (const name of Object.keys(gj)) expectClose(name, gw[name], gj[name], tol);
    // Two threads split the batch; only the order of the cross-part gradient sum differs.
    const r2 = w2.lossAndGrad(batch, spec, { clipHiddenGrad: 0.5 });
    w2.dispose();
    expect(Math.abs(r2.loss - rw.loss) / Math.abs(rw.loss)).toBeLessThan(1e-6);
    expectClose('2 threads: output', r2.output, rw.output, 1e-6);
    expectClose('2 threads: dx', r2.dx!, rw.dx!, 1e-6);
    expectClose('2 threads: dh0', r2.dh0, rw.dh0, 1e-6);
    for (let l = 0; l < L; l++) expectClose(`2 threads: norms[${l}]`, { data: r2.hiddenGradNorms[l] }, { shape: [T], data: rw.hiddenGradNorms[l] }, 1e-5);
    const g2 = w2.gradDict();
    for (const name of Object.keys(gw)) expectClose(`2 threads: ${name}`, g2[name], gw[name], 1e-5);
  });
});
