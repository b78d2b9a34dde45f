// Batch and dataset objects take only the keys the call reads (plus the data helpers' own,
// HELPER_KEYS): a typo such as `lenghts` used to train as if the key were absent. Every
// entry point that takes a batch or a dataset, on every path; a refused call changes
// neither the weights nor the gradients nor the optimizer state.

import { describe, expect, it } from 'vitest';
import {
  addingBatch, BpttError, CharStream, CharVocab, evaluate, fit, SGD, trainStep, trainTruncated, windows, type Model,
} from '../src/index.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const T = 5, B = 3, I = 2, O = 2;
const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i)) };
const target = { shape: [T, B, O], data: Float32Array.from({ length: T * B * O }, (_, i) => Math.cos(i)) };
const mse = { kind: 'mse', reduction: 'mean' } as const;

/** Everything a refused call must leave as it was. */
function snapshot(m: Model, opt: SGD): string {
  return JSON.stringify([m.stateDict(), m.gradDict(), opt.stateDict()], (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
}

async function expectRefused(m: Model, opt: SGD, call: () => unknown, key: string): Promise<void> {
  const before = snapshot(m, opt);
  let err: unknown;
  try {
    await call(); // fit is async
  } catch (e) {
    err = e;
  }
  expect(err, `a call with '${key}'`).toBeInstanceOf(BpttError);
  expect((err as Error).message).toContain(`unknown key '${key}'`);
  expect((err as Error).message).toContain('lengths'); // it lists the keys it takes
  expect(snapshot(m, opt)).toBe(before);
}

describe.each(PATHS)('batch and dataset keys on %s', (path) => {
  it('a misspelt key is an error naming it, and nothing changes', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: I, hiddenSize: 4, outputSize: O, seed: 1 });
    const opt = new SGD(m, { lr: 0.1, momentum: 0.9 });
    trainStep(m, opt, [{ x, target }], { loss: mse }); // some optimizer state and gradients to keep
    const lengths = [5, 3, 1];
    await expectRefused(m, opt, () => m.lossAndGrad({ x, target, lenghts: lengths } as never, mse), 'lenghts');
    await expectRefused(m, opt, () => m.loss({ x, target, h_0: undefined } as never, mse), 'h_0');
    await expectRefused(m, opt, () => trainStep(m, opt, [{ x, target }, { x, target, lenghts: lengths } as never], { loss: mse }), 'lenghts');
    await expectRefused(m, opt, () => fit(m, { x, target, lenghts: lengths } as never, { loss: mse, epochs: 1, optimizer: opt, progress: false }), 'lenghts');
    await expectRefused(m, opt, () => evaluate(m, { x, target, lenght: lengths } as never, { loss: mse }), 'lenght');
    await expectRefused(m, opt, () => trainTruncated(m, opt, { x, target, lenghts: lengths } as never, { k: 2, loss: mse }), 'lenghts');
  });

  it("the data helpers' results pass as they are (their extra keys are allowed and unread)", async () => {
    // addingBatch: positions
    const a = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 4, outputSize: 1, seed: 2 });
    const ab = addingBatch(6, 2, 1);
    expect(Object.keys(ab)).toContain('positions');
    const la = a.lossAndGrad(ab, { kind: 'mse', reduction: 'mean', lastStepOnly: true });
    expect(la.loss).toBe(a.loss({ x: ab.x, target: ab.target }, { kind: 'mse', reduction: 'mean', lastStepOnly: true }).loss);
    // windows: start
    const w = windows(Float32Array.from({ length: 40 }, (_, i) => Math.sin(i / 3)), { length: 6 });
    expect(Object.keys(w)).toContain('start');
    const s = await createModelOn(path, { cell: 'lstm', inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 3 });
    expect(Number.isFinite(evaluate(s, w, { loss: { kind: 'mse', reduction: 'mean', lastStepOnly: true } }))).toBe(true);
    // CharStream: reset
    const text = 'a whale of a tale. '.repeat(8);
    const vocab = CharVocab.fromText(text);
    const c = await createModelOn(path, { cell: 'gru', inputSize: vocab.size, hiddenSize: 4, outputSize: vocab.size, seed: 4 });
    const chunk = new CharStream(vocab.encode(text), vocab.size, 4, 2).next();
    expect(Object.keys(chunk)).toContain('reset');
    expect(Number.isFinite(c.lossAndGrad(chunk, { kind: 'cross_entropy', reduction: 'mean' }).loss)).toBe(true);
  });
});
