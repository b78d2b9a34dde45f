// The torch-seq fixtures (bidirectional layers, variable-length batches; spec:
// test/fixtures/torch-seq/README.md) on every compute path: forward values, h_n/c_n, loss,
// every gradient by name, d_x, d_h0/d_c0, hidden-gradient norms, clip_grad_norm_, and the
// training trajectories. Tolerances as for ../torch (float32 against PyTorch's float64):
// 1e-5 forward, 2e-5 loss, 1e-4 gradients, 5e-4 after optimizer steps, each relative to
// the tensor's largest magnitude.

import { afterAll, describe, expect, it } from 'vitest';
import { clipGradNorm, type Model } from '../src/index.js';
import { listFixtures } from './helpers/fixtures.js';
import { batchFor, lossFor, modelFor as openModel, type Fx, type Path } from './helpers/models.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';
import { expectTrajectory } from './helpers/trajectory.js';
import { PATHS } from './helpers/variants.js';

const FWD = 1e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;
const TRAIN = 5e-4;

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));
const modelFor = async (fx: Fx, path: Path) => {
  const m = await openModel(fx, path);
  live.push(m);
  return m;
};

type T = { shape: number[]; data: number[] };

function expectGrads(what: string, model: Model, expected: Record<string, T>) {
  const got = model.gradDict();
  expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, t] of Object.entries(expected)) expectClose(`${what} ${name}`, got[name], t, GRAD);
}


const fixtures = listFixtures('torch-seq');

it('finds all 15 torch-seq cases', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(15);
});

describe.each(PATHS)('torch-seq fixtures on the %s backend', (path) => {
  describe.each(fixtures.map((f) => [f.name, f.json]))('%s', (_name, fx: Fx) => {
    it('matches output, h_n, c_n, loss, every gradient, d_x, d_h0/d_c0 and hidden-gradient norms', async () => {
      const model = await modelFor(fx, path);
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
      const D = fx.config.bidirectional ? 2 : 1;
      expect(r.hiddenGradNorms.length).toBe(fx.config.num_layers * D);
      fx.hidden_grad_norms.forEach((row: number[], i: number) =>
        expectClose(`hidden_grad_norms[${i}]`, { data: r.hiddenGradNorms[i] }, { shape: [row.length], data: row }, GRAD));
      if (fx.lengths) {
        // padding does not exist: d_x is exactly 0 there and the output is the head's bias
        const [Tn, B, I] = fx.x.shape;
        const O = fx.output.shape[2];
        const bias = model.stateDict()['out.bias'].data;
        for (let t = 0; t < Tn; t++) {
          for (let b = 0; b < B; b++) {
            if (t < fx.lengths[b]) continue;
            for (let i = 0; i < I; i++) expect(r.dx!.data[(t * B + b) * I + i]).toBe(0);
            for (let o = 0; o < O; o++) expect(r.output.data[(t * B + b) * O + o]).toBe(bias[o]);
          }
        }
      }
    });

    it('forward(x, { lengths, h0, c0 }) gives the training path\'s output and states', async () => {
      const model = await modelFor(fx, path);
      const r = model.lossAndGrad(batchFor(fx), lossFor(fx));
      const f = model.forward(fx.x, { h0: fx.h0 ?? undefined, c0: fx.c0 ?? undefined, lengths: fx.lengths ?? undefined });
      expect(Array.from(f.output.data)).toEqual(Array.from(r.output.data));
      expect(Array.from(f.hN.data)).toEqual(Array.from(r.hN.data));
      expectClose('forward h_n', f.hN, fx.h_n, FWD);
    });

    it('predict (batches of 2, and lastStepOnly) gives the fixture\'s output at every step and at each sequence\'s last', async () => {
      const model = await modelFor(fx, path);
      const state = { h0: fx.h0 ?? undefined, c0: fx.c0 ?? undefined, lengths: fx.lengths ?? undefined };
      const p = model.predict(fx.x, { ...state, batchSize: 2 });
      expectClose('predict', p, fx.output, FWD);
      const [T, B, O] = fx.output.shape as number[];
      const last = model.predict(fx.x, { ...state, batchSize: 2, lastStepOnly: true });
      expect(last.shape).toEqual([B, O]);
      const want = new Float32Array(B * O);
      for (let b = 0; b < B; b++) {
        const t = (fx.lengths ? fx.lengths[b] : T) - 1;
        for (let o = 0; o < O; o++) want[b * O + o] = fx.output.data[(t * B + b) * O + o];
      }
      expectClose('predict lastStepOnly', last, { shape: [B, O], data: want }, FWD);
    });

    if (fx.clip_grad_norm) it('clipGradNorm returns the total norm and clips as clip_grad_norm_', async () => {
      const model = await modelFor(fx, path);
      model.lossAndGrad(batchFor(fx), lossFor(fx));
      const norm = clipGradNorm(model, fx.clip_grad_norm.max_norm);
      expectScalarClose('total_norm', norm, fx.clip_grad_norm.total_norm, GRAD);
      expectScalarClose('grad_norm', norm, fx.grad_norm, GRAD);
      expectGrads('clipped', model, fx.clip_grad_norm.grads);
    });

    if (fx.train) it('reproduces the training trajectory (losses, norms before clipping, final parameters)', async () => {
      expectTrajectory(await modelFor(fx, path), fx.train, batchFor(fx), lossFor(fx), TRAIN);
    });
  });
});
