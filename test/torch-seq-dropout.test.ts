// Inter-layer dropout (PyTorch's `dropout`): on each layer's output but the top one's, in
// training only (lossAndGrad, fit; forward is eval), inverted scaling 1/(1-p), masks from
// the model's seeded generator. Eval and p = 0 are the model without dropout; the mask has
// the right statistics; gradients are right for a fixed mask (finite differences); the same
// seed gives the same masks and numbers on every path.

import { afterAll, describe, expect, it } from 'vitest';
import { createModel, Rng, type Model } from '../src/index.js';
import { expectClose, expectScalarClose } from './helpers/compare.js';
import { on, PATHS, type Path } from './helpers/variants.js';

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

const T = 6, B = 4, I = 3, H = 5, O = 3, L = 3;
const rng = new Rng(9);
const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, () => rng.uniform(-1, 1)) };
const target = { shape: [T, B], data: Int32Array.from({ length: T * B }, () => rng.int(O)) };
const lengths = [6, 3, 1, 5];
const loss = { kind: 'cross_entropy', reduction: 'sum' } as const;

async function model(path: Path, dropout: number, seed = 3): Promise<Model> {
  const m = await createModel({
    cell: 'lstm', inputSize: I, hiddenSize: H, numLayers: L, outputSize: O, bidirectional: true, dropout, seed,
    ...on(path),
  });
  live.push(m);
  return m;
}

describe.each(PATHS)('dropout on %s', (path) => {
  it('eval mode (forward, lossAndGrad train: false) and p = 0 are the model without dropout', async () => {
    const plain = await model(path, 0), dropped = await model(path, 0.5);
    const a = plain.lossAndGrad({ x, target, lengths }, loss);
    expect(plain.dropoutMask()).toBeNull();
    const e = dropped.lossAndGrad({ x, target, lengths }, loss, { train: false });
    expect(e.loss).toBe(a.loss);
    expect(dropped.gradDict()).toEqual(plain.gradDict());
    expect(dropped.forward(x, { lengths }).output).toEqual(plain.forward(x, { lengths }).output);
    const t = dropped.lossAndGrad({ x, target, lengths }, loss);
    expect(t.loss).not.toBe(a.loss);
    expect(dropped.dropoutMask()!.shape).toEqual([L - 1, T, B, 2 * H]);
  });

  it('drops a fraction p (within 5 standard deviations) and scales the rest by exactly 1/(1-p)', async () => {
    const p = 0.3;
    const m = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 16, numLayers: 3, outputSize: 2, bidirectional: true, dropout: p,
      ...on(path) });
    live.push(m);
    const xb = { shape: [20, 8, 2], data: new Float32Array(320).fill(0.5) };
    m.lossAndGrad({ x: xb, target: { shape: [20, 8], data: new Int32Array(160) } }, loss);
    const mask = m.dropoutMask()!.data;
    expect(mask.length).toBe(2 * 20 * 8 * 32);
    const zeros = mask.filter((v) => v === 0).length;
    const sd = Math.sqrt(p * (1 - p) / mask.length);
    expect(Math.abs(zeros / mask.length - p)).toBeLessThan(5 * sd);
    expect(mask.every((v) => v === 0 || v === Math.fround(1 / (1 - p)))).toBe(true);
  });

  it('gradients are those of the loss with that mask (finite differences)', async () => {
    // a fresh model with the same seed draws the same mask on its first call
    const m = await model(path, 0.4);
    m.lossAndGrad({ x, target, lengths }, loss);
    const grads = m.gradDict();
    const params = m.stateDict();
    const eps = 1e-2;
    for (const name of ['rnn.weight_ih_l1', 'rnn.weight_ih_l2_reverse', 'rnn.weight_hh_l0', 'rnn.bias_hh_l1_reverse', 'out.weight']) {
      for (const i of [0, 7, 13]) {
        const at = async (delta: number) => {
          const f = await model(path, 0.4);
          const sd = { ...params, [name]: { shape: params[name].shape, data: Float32Array.from(params[name].data) } };
          sd[name].data[i] += delta;
          f.loadStateDict(sd);
          return f.lossAndGrad({ x, target, lengths }, loss).loss;
        };
        const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
        const g = grads[name].data[i];
        expect(Math.abs(fd - g), `${name}[${i}]: fd ${fd} vs grad ${g}`).toBeLessThanOrEqual(2e-2 * Math.max(Math.abs(g), 0.05));
      }
    }
  });
});

it('the same seed gives the same masks and the same numbers on js, wasm and wasm with 2 threads', async () => {
  const runs = [];
  for (const path of PATHS) {
    const m = await model(path, 0.25, 11);
    const r1 = m.lossAndGrad({ x, target, lengths }, loss);
    const mask1 = m.dropoutMask()!;
    const r2 = m.lossAndGrad({ x, target, lengths }, loss); // a new mask on every call
    runs.push({ r1, r2, mask1, mask2: m.dropoutMask()!, g: m.gradDict() });
  }
  const [ref, ...others] = runs;
  expect(ref.mask2.data).not.toEqual(ref.mask1.data);
  for (const o of others) {
    expect(o.mask1).toEqual(ref.mask1);
    expect(o.mask2).toEqual(ref.mask2);
    expectScalarClose('loss 1', o.r1.loss, ref.r1.loss, 2e-5);
    expectScalarClose('loss 2', o.r2.loss, ref.r2.loss, 2e-5);
    expectClose('output', o.r2.output, ref.r2.output, 2e-5);
    for (const [k, t] of Object.entries(ref.g)) expectClose(`grad ${k}`, o.g[k], t, 1e-4);
  }
  const other = await model('js', 0.25, 12);
  other.lossAndGrad({ x, target, lengths }, loss);
  expect(other.dropoutMask()!.data).not.toEqual(ref.mask1.data);
});

it('rejects a dropout that is not a probability in [0, 1)', async () => {
  await expect(createModel({ cell: 'rnn', inputSize: 1, hiddenSize: 2, dropout: 1 })).rejects.toThrow(/dropout must be a probability in \[0, 1\), got 1/);
  await expect(createModel({ cell: 'rnn', inputSize: 1, hiddenSize: 2, dropout: -0.1 })).rejects.toThrow(/dropout must be a probability/);
});
