// Optimizers against PyTorch: every fixture's `train` section (torch.optim.<optimizer> with
// the fixture's options, `steps` steps on one batch, each: zero grads, loss, backward,
// optional clip_grad_norm_, step) reproduces the losses before each step and the final
// parameters, on every path (js, wasm, wasm with 2 threads). PyTorch ran in float64; we run in float32, so the
// tolerance is the fixtures README's 5e-4 relative to each tensor's largest magnitude
// (several steps of float32 rounding, amplified by Adam's division by sqrt(v)).

import { describe, expect, it } from 'vitest';
import { clipGradNorm, type Model } from '../src/model.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD, createOptimizer, type Optimizer, type OptimizerKind } from '../src/train/optim.js';
import { listFixtures } from './helpers/fixtures.js';
import { batchFor, lossFor, modelFor, type Fx } from './helpers/models.js';
import { createModelOn, PATHS } from './helpers/variants.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';

const PARAMS = 5e-4;
const LOSS = 5e-4;

/** torch.optim keyword arguments (snake_case) -> our camelCase options. */
function camel(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

const trained = listFixtures().filter((f) => f.json.train);

describe.each(PATHS)('optimizers on %s', (path) => {
  it('covers all five optimizers in the fixtures', () => {
    const kinds = new Set(trained.map((f) => f.json.train.optimizer));
    expect([...kinds].sort()).toEqual(['adagrad', 'adam', 'adamw', 'rmsprop', 'sgd']);
  });

  describe.each(trained.map((f) => [f.name, f.json]))('%s', (_name, fx: Fx) => {
    it(`reproduces torch.optim's losses and final parameters`, async () => {
      const tr = fx.train;
      const model = await modelFor(fx, path);
      const opt = createOptimizer(tr.optimizer as OptimizerKind, model, camel(tr.options) as { lr: number });
      const batch = batchFor(fx);
      const loss = lossFor(fx);
      const losses: number[] = [];
      for (let s = 0; s < tr.steps; s++) {
        opt.zeroGrad();
        losses.push(model.lossAndGrad(batch, loss).loss);
        if (tr.clip_norm != null) clipGradNorm(model, tr.clip_norm);
        opt.step();
      }
      for (let s = 0; s < tr.steps; s++) expectScalarClose(`loss before step ${s}`, losses[s], tr.losses_before_each_step[s], LOSS);
      const sd = model.stateDict();
      for (const [name, t] of Object.entries(tr.final_params as Record<string, { shape: number[]; data: number[] }>)) {
        expectClose(`final ${name}`, sd[name], t, PARAMS);
      }
      expect(opt.stepCount).toBe(tr.steps);
    });
  });

  it('uses torch defaults and validates options', async () => {
    const model = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 1 });
    expect(new Adam(model).options).toEqual({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false });
    expect(new Adam(model).lr).toBe(1e-3);
    expect(new AdamW(model).options.weightDecay).toBe(0.01);
    expect(new AdamW(model).kind).toBe('adamw');
    expect(new RMSprop(model).lr).toBe(1e-2);
    expect(new RMSprop(model).options).toMatchObject({ alpha: 0.99, eps: 1e-8, momentum: 0, centered: false });
    expect(new Adagrad(model).lr).toBe(1e-2);
    expect(new Adagrad(model).options).toMatchObject({ eps: 1e-10, lrDecay: 0, initialAccumulatorValue: 0 });
    expect(() => new SGD(model, {} as { lr: number })).toThrow(/lr must be a finite number/);
    expect(() => new SGD(model, { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires a momentum/);
    // torch's keyword spelling is an alias of the camelCase name; both at once is an error
    expect(new Adam(model, { weight_decay: 0.1 } as object).options).toEqual(new Adam(model, { weightDecay: 0.1 }).options);
    expect(() => new Adam(model, { weight_decay: 0.1, weightDecay: 0.1 } as object)).toThrow(/'weightDecay' is given twice/);
    expect(() => new Adam(model, { weight_dekay: 0.1 } as object)).toThrow(/unknown option 'weight_dekay'/);
    expect(() => new Adam(model, { betas: [1, 0.999] })).toThrow(/betas\[0\]/);
  });
});

/** A tiny reference in double precision, per element, to check the kernels' semantics beyond the fixtures' options. */
function refStep(kind: string, o: Record<string, number | boolean>, p: number[], g: number[], st: Record<string, number[]>, t: number, lr: number) {
  for (let i = 0; i < p.length; i++) {
    let d = g[i];
    const wd = (o.weightDecay as number) ?? 0;
    if (kind === 'sgd') {
      d += wd * p[i];
      const mom = o.momentum as number;
      if (mom) {
        st.buf[i] = t === 1 ? d : mom * st.buf[i] + (1 - ((o.dampening as number) ?? 0)) * d;
        d = o.nesterov ? d + mom * st.buf[i] : st.buf[i];
      }
      p[i] -= lr * d;
    } else if (kind === 'adam' || kind === 'adamw') {
      if (kind === 'adamw') p[i] *= 1 - lr * wd; else d += wd * p[i];
      const [b1, b2] = [0.9, 0.999];
      st.m[i] = b1 * st.m[i] + (1 - b1) * d;
      st.v[i] = b2 * st.v[i] + (1 - b2) * d * d;
      st.vmax[i] = Math.max(st.vmax[i], st.v[i]);
      const v = o.amsgrad ? st.vmax[i] : st.v[i];
      p[i] -= (lr / (1 - b1 ** t)) * st.m[i] / (Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + 1e-8);
    } else if (kind === 'rmsprop') {
      d += wd * p[i];
      const a = 0.99;
      st.sq[i] = a * st.sq[i] + (1 - a) * d * d;
      let avg: number;
      if (o.centered) {
        st.ga[i] = a * st.ga[i] + (1 - a) * d;
        avg = Math.sqrt(st.sq[i] - st.ga[i] ** 2) + 1e-8;
      } else avg = Math.sqrt(st.sq[i]) + 1e-8;
      if (o.momentum) {
        st.buf[i] = (o.momentum as number) * st.buf[i] + d / avg;
        p[i] -= lr * st.buf[i];
      } else p[i] -= lr * d / avg;
    } else {
      d += wd * p[i];
      const clr = lr / (1 + (t - 1) * ((o.lrDecay as number) ?? 0));
      st.sum[i] += d * d;
      p[i] -= clr * d / (Math.sqrt(st.sum[i]) + 1e-10);
    }
  }
}

describe.each(PATHS)('optimizer options beyond the fixtures on %s', (path) => {
  const cases: [string, Record<string, number | boolean>][] = [
    ['sgd', { momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }],
    ['sgd', { weightDecay: 0.1 }],
    ['adam', { weightDecay: 0.05, amsgrad: true }],
    ['adamw', { weightDecay: 0.1, amsgrad: true }],
    ['rmsprop', { momentum: 0.5, centered: true, weightDecay: 0.01 }],
    ['adagrad', { lrDecay: 0.1, weightDecay: 0.01, initialAccumulatorValue: 0.1 }],
  ];
  it.each(cases)('%s %j matches a double-precision reference (with lr changed between steps)', async (kind, o) => {
    const model = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 4, outputSize: 2, seed: 3 });
    const opt: Optimizer = createOptimizer(kind as OptimizerKind, model, { ...o, lr: 0.05 });
    const n = model.layout.numParams;
    const p = Array.from(model.paramView());
    const zeros = () => new Array<number>(n).fill(0);
    const st: Record<string, number[]> = { buf: zeros(), m: zeros(), v: zeros(), vmax: zeros(), sq: zeros(), ga: zeros(), sum: zeros() };
    // Adagrad's accumulator starts at initialAccumulatorValue in every parameter (padding stays 0).
    for (const t of model.layout.tensors) for (let i = 0; i < t.size; i++) st.sum[t.offset + i] = (o.initialAccumulatorValue as number) ?? 0;
    const x = { shape: [4, 2, 3], data: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)) };
    const target = { shape: [4, 2, 2], data: Float32Array.from({ length: 16 }, (_, i) => Math.cos(i)) };
    for (let t = 1; t <= 4; t++) {
      opt.lr = 0.05 / t;
      opt.zeroGrad();
      model.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'mean' });
      const g = Array.from(model.gradView());
      // reference starts from the model's actual float32 parameters each step
      const pr = Array.from(model.paramView());
      refStep(kind, o, pr, g, st, t, 0.05 / t);
      opt.step();
      const got = model.paramView();
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - pr[i]) / Math.max(1e-3, Math.abs(pr[i])));
      expect(worst, `step ${t}`).toBeLessThan(1e-5);
      // keep the reference state in step with float32 storage
      void p;
    }
  });

  it('stateDict/loadStateDict resumes bit-exactly', async () => {
    for (const kind of ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'] as const) {
      const opts = { lr: 0.01, ...(kind === 'sgd' ? { momentum: 0.9 } : {}), ...(kind === 'rmsprop' ? { centered: true, momentum: 0.3 } : {}) };
      const x = { shape: [3, 2, 2], data: Float32Array.from({ length: 12 }, (_, i) => Math.sin(3 * i)) };
      const target = { shape: [3, 2, 1], data: Float32Array.from({ length: 6 }, (_, i) => Math.cos(i)) };
      const run = (m: Model, o: Optimizer, steps: number) => {
        for (let s = 0; s < steps; s++) {
          o.zeroGrad();
          m.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'sum' });
          o.step();
        }
      };
      const a = await createModelOn(path, { cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 1, seed: 1 });
      const oa = createOptimizer(kind, a, opts);
      run(a, oa, 6);
      const b = await createModelOn(path, { cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 1, seed: 1 });
      const ob = createOptimizer(kind, b, opts);
      run(b, ob, 3);
      const saved = ob.stateDict();
      const bp = b.stateDict();
      const c = await createModelOn(path, { cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 1, seed: 99 });
      c.loadStateDict(bp);
      const oc = createOptimizer(kind, c, { lr: 0.5 });
      oc.loadStateDict(saved);
      expect(oc.lr).toBe(0.01);
      expect(oc.stepCount).toBe(3);
      run(c, oc, 3);
      expect(c.paramView(), kind).toEqual(a.paramView());
      expect(() => createOptimizer(kind === 'sgd' ? 'adam' : 'sgd', c, { lr: 1 }).loadStateDict(saved)).toThrow(/state is for optimizer/);
    }
  });
});

describe.each(PATHS)('SGD momentum switched on mid-run (%s)', (path) => {
  it('starts the buffer from that step\'s gradient, as torch does when momentum_buffer is None', async () => {
    const model = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 1, seed: 4 });
    const x = { shape: [3, 2, 2], data: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)) };
    const target = { shape: [3, 2, 1], data: Float32Array.from({ length: 6 }, (_, i) => Math.cos(i)) };
    const opt = new SGD(model, { lr: 0.1 });
    const grad = () => {
      opt.zeroGrad();
      model.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'sum' });
      return model.gradDict();
    };
    grad();
    opt.step(); // plain SGD, no buffer
    opt.momentum = 0.9;
    opt.dampening = 0.5;
    const g = grad();
    const before = model.stateDict();
    opt.step(); // torch: buf = g, undamped (a zero buffer would give 0.9 * 0 + 0.5 * g)
    const g2 = grad();
    const mid = model.stateDict();
    opt.step();
    const after = model.stateDict();
    for (const name of Object.keys(before)) {
      for (let i = 0; i < before[name].data.length; i++) {
        const buf1 = g[name].data[i];
        const buf2 = 0.9 * buf1 + 0.5 * g2[name].data[i];
        expect(mid[name].data[i]).toBeCloseTo(before[name].data[i] - 0.1 * buf1, 5);
        expect(after[name].data[i]).toBeCloseTo(mid[name].data[i] - 0.1 * buf2, 5);
      }
    }
  });
});
