// Variable lengths and bidirectional layers beyond the fixtures, on every compute path:
// the packed-sequence definition itself (a batch equals each sequence run alone, cut to
// its length), larger and odd-sized cases (T 80, 3 layers, lengths 1 and T) where js,
// wasm and wasm with 2 threads must agree, lengths all T = no lengths, validation, and
// datasets with lengths through evaluate/trainStep/fit.
// Tolerances are the float32 ones of the PyTorch fixtures: 2e-5 forward, 1e-4 gradients.

import { describe, expect, it } from 'vitest';
import {
  evaluate, fit, lossValue, Rng, SGD, step, trainStep, trainTruncated, type CellKind, type LossSpec, type Model,
} from '../src/index.js';
import { createModelOn, PATHS, type Path } from './helpers/variants.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';

const FWD = 2e-5;
const GRAD = 1e-4;

interface Case {
  cell: CellKind; nonlinearity?: 'tanh' | 'relu'; I: number; H: number; L: number; O: number | null;
  T: number; B: number; bidirectional: boolean; loss: LossSpec; lengths: number[] | null; h0: boolean;
}

async function model(c: Case, path: Path, seed = 7): Promise<Model> {
  return createModelOn(path, {
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.I, hiddenSize: c.H, numLayers: c.L, outputSize: c.O,
    bidirectional: c.bidirectional, seed,
  });
}

/** Random inputs, targets and states for a case (padding filled with junk: it must not be read). */
function batchOf(c: Case, seed = 3) {
  const rng = new Rng(seed);
  const O = c.O ?? (c.bidirectional ? 2 : 1) * c.H;
  const rows = c.L * (c.bidirectional ? 2 : 1);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  const x = { shape: [c.T, c.B, c.I], data: rand(c.T * c.B * c.I) };
  const target = c.loss.kind === 'mse'
    ? { shape: [c.T, c.B, O], data: rand(c.T * c.B * O) }
    : { shape: [c.T, c.B], data: Int32Array.from({ length: c.T * c.B }, () => rng.int(O)) };
  return {
    x, target,
    ...(c.lengths ? { lengths: c.lengths } : {}),
    ...(c.h0 ? { h0: { shape: [rows, c.B, c.H], data: rand(rows * c.B * c.H) } } : {}),
    ...(c.h0 && c.cell === 'lstm' ? { c0: { shape: [rows, c.B, c.H], data: rand(rows * c.B * c.H) } } : {}),
  };
}

/** Rows b of a [T, B, F] tensor, steps [0, n). */
function column(t: { shape: readonly number[]; data: ArrayLike<number> }, b: number, n: number) {
  const [, B, Fw] = t.shape;
  const Ctor = t.data instanceof Int32Array ? Int32Array : Float32Array;
  const out = new Ctor(n * (Fw ?? 1));
  const w = Fw ?? 1;
  for (let s = 0; s < n; s++) for (let f = 0; f < w; f++) out[s * w + f] = t.data[(s * B + b) * w + f];
  return { shape: Fw === undefined ? [n, 1] : [n, 1, Fw], data: out };
}

const SMALL: Case = {
  cell: 'lstm', I: 3, H: 5, L: 2, O: 3, T: 9, B: 5, bidirectional: true,
  loss: { kind: 'mse', reduction: 'sum' }, lengths: [4, 9, 1, 6, 9], h0: true,
};

describe.each(PATHS)('variable lengths on %s', (path) => {
  it.each(['rnn', 'lstm', 'gru'] as const)('%s: a batch is each sequence run alone on x[:len] (outputs, h_n, gradients, d_x)', async (cell) => {
    const c: Case = { ...SMALL, cell };
    const m = await model(c, path);
    const batch = batchOf(c);
    m.zeroGrad();
    const r = m.lossAndGrad(batch, c.loss);
    const whole = m.gradDict();
    m.zeroGrad();
    const rows = c.L * 2;
    for (let b = 0; b < c.B; b++) {
      const n = c.lengths![b];
      const pick = (t: { shape: number[]; data: Float32Array }) => ({
        shape: [rows, 1, c.H], data: Float32Array.from({ length: rows * c.H }, (_, i) => t.data[(Math.floor(i / c.H) * c.B + b) * c.H + (i % c.H)]),
      });
      const one = m.lossAndGrad({
        x: column(batch.x, b, n), target: column(batch.target, b, n), h0: pick(batch.h0 as never), ...(cell === 'lstm' ? { c0: pick(batch.c0 as never) } : {}),
      }, c.loss);
      expectClose(`seq ${b} output`, { data: one.output.data }, column(r.output, b, n), FWD);
      expectClose(`seq ${b} h_n`, { data: one.hN.data }, pick(r.hN), FWD);
      expectClose(`seq ${b} d_x`, { data: one.dx!.data }, column(r.dx!, b, n), GRAD);
      expectClose(`seq ${b} d_h0`, { data: one.dh0.data }, pick(r.dh0), GRAD);
    }
    // sum reduction: the batch gradient is the sum of the sequences' gradients
    const summed = m.gradDict();
    for (const [k, t] of Object.entries(whole)) expectClose(`grad ${k}`, summed[k], t, GRAD);
  });

  it('lengths all equal to T give exactly the numbers of no lengths', async () => {
    const c: Case = { ...SMALL, lengths: null };
    const m = await model(c, path);
    const batch = batchOf(c);
    m.zeroGrad();
    const a = m.lossAndGrad(batch, c.loss);
    const ga = m.gradDict();
    m.zeroGrad();
    const b = m.lossAndGrad({ ...batch, lengths: new Int32Array(c.B).fill(c.T) }, c.loss);
    const gb = m.gradDict();
    expect(b.loss).toBe(a.loss);
    for (const k of ['output', 'hN', 'cN', 'dx', 'dh0', 'dc0'] as const) expect(Array.from(b[k]!.data)).toEqual(Array.from(a[k]!.data));
    expect(b.hiddenGradNorms).toEqual(a.hiddenGradNorms);
    for (const k of Object.keys(ga)) expect(Array.from(gb[k].data)).toEqual(Array.from(ga[k].data));
  });

  it('many-to-one uses each sequence\'s own last step; mean divides by the valid steps', async () => {
    const c: Case = { ...SMALL, cell: 'gru', loss: { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true } };
    const m = await model(c, path);
    const batch = batchOf(c);
    const r = m.lossAndGrad(batch, c.loss);
    expectScalarClose('last-step loss', r.loss, lossValue(r.output, batch.target, c.loss, c.lengths!), FWD);
    const short = { shape: [c.B], data: Int32Array.from({ length: c.B }, (_, b) => batch.target.data[(c.lengths![b] - 1) * c.B + b]) };
    expect(m.lossAndGrad({ ...batch, target: short }, c.loss).loss).toBe(r.loss);
    const every: LossSpec = { kind: 'mse', reduction: 'mean' };
    const cm: Case = { ...c, loss: every };
    const bm = batchOf(cm);
    const rm = m.lossAndGrad({ ...bm, target: { shape: [c.T, c.B, 3], data: bm.target.data as Float32Array } }, every);
    expectScalarClose('masked mse mean', rm.loss, lossValue(rm.output, bm.target, every, c.lengths!), FWD);
  });
});

// Odd sizes, long sequences, deep stacks, lengths of 1 and T: the three paths agree.
const BIG: Case[] = [
  { cell: 'lstm', I: 5, H: 13, L: 3, O: 3, T: 80, B: 9, bidirectional: true, loss: { kind: 'cross_entropy', reduction: 'mean' },
    lengths: [80, 1, 37, 80, 2, 61, 15, 80, 44], h0: true },
  { cell: 'gru', I: 7, H: 6, L: 3, O: 4, T: 41, B: 7, bidirectional: true, loss: { kind: 'mse', reduction: 'mean', lastStepOnly: true },
    lengths: [1, 41, 3, 41, 20, 7, 33], h0: false },
  { cell: 'rnn', nonlinearity: 'relu', I: 4, H: 9, L: 2, O: null, T: 30, B: 11, bidirectional: true,
    loss: { kind: 'mse', reduction: 'sum' }, lengths: [30, 1, 2, 3, 30, 29, 10, 11, 5, 17, 30], h0: true },
  { cell: 'rnn', I: 3, H: 17, L: 3, O: 2, T: 25, B: 6, bidirectional: false, loss: { kind: 'cross_entropy', reduction: 'sum', lastStepOnly: true },
    lengths: [25, 12, 1, 25, 8, 19], h0: true },
];

describe.each(BIG.map((c) => [`${c.cell}${c.bidirectional ? ' bidirectional' : ''} ${c.L} layers T=${c.T} B=${c.B} H=${c.H}`, c] as const))('%s', (_n, c) => {
  it('js, wasm and wasm with 2 threads agree on every output and gradient', async () => {
    const res = [];
    for (const path of PATHS) {
      const m = await model(c, path);
      const r = m.lossAndGrad(batchOf(c), c.loss);
      res.push({ r, g: m.gradDict() });
    }
    const [ref, ...others] = res;
    for (const { r, g } of others) {
      expectScalarClose('loss', r.loss, ref.r.loss, FWD);
      expectClose('output', r.output, ref.r.output, FWD);
      expectClose('h_n', r.hN, ref.r.hN, FWD);
      if (c.cell === 'lstm') expectClose('c_n', r.cN!, ref.r.cN!, FWD);
      expectClose('d_x', r.dx!, ref.r.dx!, GRAD);
      expectClose('d_h0', r.dh0, ref.r.dh0, GRAD);
      r.hiddenGradNorms.forEach((row, i) => expectClose(`hidden_grad_norms[${i}]`, { data: row }, { shape: [row.length], data: ref.r.hiddenGradNorms[i] }, GRAD));
      for (const [k, t] of Object.entries(ref.g)) expectClose(`grad ${k}`, g[k], t, GRAD);
    }
  });
});

describe.each(PATHS)('lengths validation on %s', (path) => {
  it('rejects bad lengths by name, with expected and actual, and leaves the model unchanged', async () => {
    const c: Case = { ...SMALL, lengths: null };
    const m = await model(c, path);
    const batch = batchOf(c);
    const before = m.lossAndGrad(batch, c.loss);
    const grads = m.gradDict();
    const params = m.stateDict();
    const bad: [unknown, RegExp][] = [
      [[4, 9, 1], /lengths has 3 values, expected B = 5/],
      [[4, 9, 0, 6, 9], /lengths\[2\] = 0, expected an integer in \[1, 9\]/],
      [[4, 10, 1, 6, 9], /lengths\[1\] = 10, expected an integer in \[1, 9\]/],
      [[4, 9, 1.5, 6, 9], /lengths\[2\] = 1.5, expected an integer/],
      ['9', /lengths must be an Int32Array or number\[\] of B = 5/],
    ];
    for (const [lengths, re] of bad) {
      expect(() => m.lossAndGrad({ ...batch, lengths: lengths as number[] }, c.loss)).toThrow(re);
      expect(() => m.forward(batch.x, { lengths: lengths as number[] })).toThrow(re);
    }
    expect(() => m.forward(batch.x, { h0: { shape: [2, 5, 5], data: new Float32Array(50) } }))
      .toThrow(/h0 has shape \[2, 5, 5\], expected \[4, 5, 5\] \(numLayers \* 2, B, hiddenSize\)/);
    const sd = m.stateDict(), gd = m.gradDict();
    for (const k of Object.keys(params)) {
      expect(Array.from(sd[k].data)).toEqual(Array.from(params[k].data));
      expect(Array.from(gd[k].data)).toEqual(Array.from(grads[k].data));
    }
    const { x: bx, target: _target, ...state } = batch; // forward takes the state part of a batch
    expect(Array.from(m.forward(bx, state).output.data)).toEqual(Array.from(before.output.data));
  });

  it('streaming and truncated BPTT refuse a bidirectional model (its reverse direction starts at the end)', async () => {
    const m = await model({ ...SMALL }, path);
    const b = batchOf({ ...SMALL, lengths: null });
    expect(() => step(m, { shape: [5, 3], data: new Float32Array(15) })).toThrow(/step carries the state forward in time, which a bidirectional model cannot/);
    expect(() => trainTruncated(m, new SGD(m, { lr: 0.1 }), { x: b.x, target: b.target }, { k: 3, loss: SMALL.loss }))
      .toThrow(/trainTruncated carries the state forward/);
    await expect(fit(m, { x: b.x, target: b.target }, { loss: SMALL.loss, tbptt: 3, progress: false })).rejects.toThrow(/fit: tbptt carries the state forward/);
  });

  it('names the parameters as PyTorch does (_reverse, Linear(2H, O), layer l > 0 takes 2H)', async () => {
    const m = await model({ ...SMALL }, path);
    const sd = m.stateDict();
    expect(Object.keys(sd).slice(0, 8)).toEqual(['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0',
      'rnn.weight_ih_l0_reverse', 'rnn.weight_hh_l0_reverse', 'rnn.bias_ih_l0_reverse', 'rnn.bias_hh_l0_reverse']);
    expect(sd['rnn.weight_ih_l1_reverse'].shape).toEqual([20, 10]);
    expect(sd['out.weight'].shape).toEqual([3, 10]);
  });
});

describe.each(PATHS)('datasets with lengths on %s', (path) => {
  const c: Case = { ...SMALL, B: 6, lengths: [4, 9, 1, 6, 9, 3], h0: false, loss: { kind: 'cross_entropy', reduction: 'mean' } };
  it('evaluate in minibatches equals the loss of the whole batch', async () => {
    const m = await model(c, path);
    const { x, target, lengths } = batchOf(c);
    const whole = m.lossAndGrad({ x, target, lengths }, c.loss).loss;
    expectScalarClose('evaluate', evaluate(m, { x, target, lengths }, { loss: c.loss, batchSize: 4 }), whole, FWD);
  });

  it('trainStep over micro-batches with lengths gives the whole batch\'s gradient (mean over valid steps)', async () => {
    const m = await model(c, path);
    const { x, target, lengths } = batchOf(c);
    m.zeroGrad();
    m.lossAndGrad({ x, target, lengths }, c.loss);
    const whole = m.gradDict();
    const split = (lo: number, hi: number) => {
      const idx = Array.from({ length: hi - lo }, (_, i) => lo + i);
      return { x: { shape: [c.T, hi - lo, c.I], data: Float32Array.from({ length: c.T * (hi - lo) * c.I }, (_, i) => x.data[(Math.floor(i / ((hi - lo) * c.I)) * c.B + idx[Math.floor(i / c.I) % (hi - lo)]) * c.I + (i % c.I)]) },
        target: { shape: [c.T, hi - lo], data: Int32Array.from({ length: c.T * (hi - lo) }, (_, i) => target.data[Math.floor(i / (hi - lo)) * c.B + idx[i % (hi - lo)]]) },
        lengths: lengths!.slice(lo, hi) };
    };
    const opt = new SGD(m, { lr: 0 });
    trainStep(m, opt, [split(0, 2), split(2, 6)], { loss: c.loss });
    const g = m.gradDict();
    for (const [k, t] of Object.entries(whole)) expectClose(`grad ${k}`, g[k], t, GRAD);
  });

  it('fit trains a variable-length many-to-one classifier below the majority baseline', async () => {
    // class = whether the sum of the sequence's values is positive, over lengths 1..12
    const N = 96, T = 12;
    const rng = new Rng(5);
    const lengths = Array.from({ length: N }, () => 1 + rng.int(T));
    const x = new Float32Array(T * N);
    const y = new Int32Array(N);
    for (let b = 0; b < N; b++) {
      let s = 0;
      for (let t = 0; t < T; t++) {
        x[t * N + b] = rng.uniform(-1, 1);
        if (t < lengths[b]) s += x[t * N + b];
      }
      y[b] = s > 0 ? 1 : 0;
    }
    const m = await createModelOn(path, { cell: 'gru', inputSize: 1, hiddenSize: 8, outputSize: 2, bidirectional: true, seed: 1 });
    const loss: LossSpec = { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true };
    const data = { x: { shape: [T, N, 1], data: x }, target: { shape: [N], data: y }, lengths };
    const before = evaluate(m, data, { loss });
    const h = await fit(m, data, { loss, epochs: 30, batchSize: 16, optimizer: new SGD(m, { lr: 0.5, momentum: 0.9 }), progress: false, seed: 2 });
    const after = evaluate(m, data, { loss });
    expect(h.loss.length).toBe(30);
    expect(after).toBeLessThan(before);
    expect(after).toBeLessThan(0.6); // the majority baseline's cross-entropy is ~0.69
  });
});
