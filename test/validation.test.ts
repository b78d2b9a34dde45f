// Bad input gets an Error that names the argument, the expected shape and the actual one;
// nothing is silently truncated, broadcast or NaN'd; a failed load changes nothing.

import { describe, expect, it } from 'vitest';
import { clipGradNorm, clipGradValue, createModel } from '../src/index.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const t = (shape: number[], fill = 0.1) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
const ids = (shape: number[], v = 0) => ({ shape, data: new Int32Array(shape.reduce((a, b) => a * b, 1)).fill(v) });
const MSE = { kind: 'mse', reduction: 'sum' } as const;
const CE = { kind: 'cross_entropy', reduction: 'mean' } as const;

describe('createModel options', () => {
  it.each([
    [{ cell: 'transformer', inputSize: 2, hiddenSize: 3 }, /cell must be one of 'rnn', 'lstm', 'gru', got "transformer"/],
    [{ cell: 'rnn', inputSize: 2.5, hiddenSize: 3 }, /inputSize must be an integer >= 1, got 2.5/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 0 }, /hiddenSize must be an integer >= 1, got 0/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 3, numLayers: 0 }, /numLayers must be an integer >= 1, got 0/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: -1 }, /outputSize must be an integer >= 1, got -1/],
    [{ cell: 'rnn', nonlinearity: 'sigmoid', inputSize: 2, hiddenSize: 3 }, /nonlinearity must be one of 'tanh', 'relu', got "sigmoid"/],
    [{ cell: 'lstm', nonlinearity: 'relu', inputSize: 2, hiddenSize: 3 }, /nonlinearity applies to cell 'rnn' only/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 3, backend: 'gpu' }, /backend must be one of 'wasm', 'js', got "gpu"/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 3, bias: 1 }, /bias must be a boolean, got 1/],
    [{ cell: 'rnn', inputSize: 2, hiddenSize: 3, dropuot: 0.5 }, /unknown option 'dropuot'/],
    [{ cell: 'rnn', inputSize: 2, hidenSize: 3 }, /unknown option 'hidenSize'/],
    [{ cell: 'rnn', inputSize: 2, input_size: 2, hiddenSize: 3 }, /'inputSize' is given twice/],
  ])('rejects %j', async (opts, re) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await expect(createModel(opts as any)).rejects.toThrow(re);
  });
});

it("accepts PyTorch's option spellings (a fixture's config works as it is)", async () => {
  const m = await createModel({ cell: 'gru', input_size: 3, hidden_size: 4, num_layers: 2, output_size: 5, bias: false } as never);
  expect(m.config).toMatchObject({ inputSize: 3, hiddenSize: 4, numLayers: 2, outputSize: 5, bias: false });
});

describe.each(PATHS)('bad input on %s', (path) => {
  const make = (cell: 'rnn' | 'lstm' | 'gru' = 'lstm') =>
    createModelOn(path, { cell, inputSize: 3, hiddenSize: 4, numLayers: 2, outputSize: 5, seed: 1 });

  it('names x, its expected shape and its actual shape', async () => {
    const m = await make();
    expect(() => m.forward(t([2, 1, 4]))).toThrow(/x has shape \[2, 1, 4\], expected \[2, 1, 3\]/);
    expect(() => m.forward(t([2, 3]))).toThrow(/x has shape \[2, 3\], expected \[T, B, 3\]/);
    expect(() => m.forward({ shape: [2, 1, 3], data: new Float32Array(5) })).toThrow(/x.data has 5 values, expected 6/);
    expect(() => m.forward(t([0, 1, 3]))).toThrow(/T \(sequence length\) must be an integer >= 1, got 0/);
    expect(() => m.forward(t([2, 0, 3]))).toThrow(/B \(batch size\) must be an integer >= 1, got 0/);
  });

  it('rejects NaN inputs instead of propagating them', async () => {
    const m = await make();
    const x = t([2, 1, 3]);
    x.data[4] = NaN;
    expect(() => m.forward(x)).toThrow(/x.data\[4\] is NaN/);
    // every position of a float32 x whose length is no multiple of 4 (the scan's four sums
    // and its tail), and the largest finite float32 values, which pass
    const y = t([3, 1, 3]);
    for (let i = 0; i < 9; i++) {
      for (const v of [NaN, Infinity, -Infinity]) {
        y.data.fill(0.5);
        y.data[i] = v;
        expect(() => m.forward(y)).toThrow(new RegExp(`x.data\\[${i}\\] is ${String(v)}`));
      }
    }
    y.data.fill(3.4028234663852886e38);
    y.data[7] = -3.4028234663852886e38;
    expect(() => m.forward(y)).not.toThrow();
  });

  it('checks h0 and c0 shapes, and c0 only for LSTM', async () => {
    const m = await make();
    expect(() => m.forward(t([2, 3, 3]), { h0: t([2, 1, 4]) })).toThrow(/h0 has shape \[2, 1, 4\], expected \[2, 3, 4\]/);
    expect(() => m.forward(t([2, 3, 3]), { c0: t([1, 3, 4]) })).toThrow(/c0 has shape \[1, 3, 4\], expected \[2, 3, 4\]/);
    const g = await make('gru');
    expect(() => g.forward(t([2, 3, 3]), { c0: t([2, 3, 4]) })).toThrow(/c0 is for cell 'lstm' only/);
  });

  it('checks targets: shape, class ids in range, integers, loss spec', async () => {
    const m = await make();
    const x = t([2, 3, 3]);
    expect(() => m.lossAndGrad({ x, target: t([2, 3, 4]) }, MSE)).toThrow(/target has shape \[2, 3, 4\], expected \[2, 3, 5\]/);
    expect(() => m.lossAndGrad({ x, target: t([3, 5]) }, MSE)).toThrow(/target has shape \[3, 5\], expected \[2, 3, 5\]/);
    expect(() => m.lossAndGrad({ x, target: ids([2, 3], 5) }, CE)).toThrow(/target.data\[0\] = 5 is not a class id in \[0, 4\]/);
    expect(() => m.lossAndGrad({ x, target: { shape: [2, 3], data: [0, 1, 2, 3, 1.5, 0] } }, CE)).toThrow(/target.data\[4\] = 1.5 is not a class id/);
    expect(() => m.lossAndGrad({ x, target: ids([3]) }, CE)).toThrow(/target has shape \[3\], expected \[2, 3\]/);
    expect(() => m.lossAndGrad({ x, target: ids([2, 3]) }, { kind: 'hinge', reduction: 'sum' } as never)).toThrow(/loss.kind must be one of 'mse', 'cross_entropy', got "hinge"/);
    expect(() => m.lossAndGrad({ x, target: ids([2, 3]) }, { kind: 'mse', reduction: 'avg' } as never)).toThrow(/loss.reduction must be one of 'sum', 'mean', 'none', got "avg"/);
    expect(() => m.lossAndGrad({ x, target: ids([2, 3]) }, CE, { clipHiddenGrad: -1 })).toThrow(/clipHiddenGrad must be a finite number > 0, got -1/);
    // the short forms for many-to-one
    expect(() => m.lossAndGrad({ x, target: ids([3]) }, { ...CE, lastStepOnly: true })).not.toThrow();
    expect(() => m.lossAndGrad({ x, target: t([3, 5]) }, { ...MSE, lastStepOnly: true })).not.toThrow();
  });

  it('rejects a non-finite MSE target by index, whatever array holds it, and changes nothing', async () => {
    const m = await make();
    const x = t([2, 3, 3]);
    for (const [i, v] of [[0, NaN], [17, Infinity], [29, -Infinity]] as const) {
      const f32 = t([2, 3, 5]);
      f32.data[i] = v;
      expect(() => m.lossAndGrad({ x, target: f32 }, MSE)).toThrow(new RegExp(`target.data\\[${i}\\] is ${String(v)}; values must be finite`));
      const plain = { shape: [2, 3, 5], data: Array.from(f32.data) };
      expect(() => m.lossAndGrad({ x, target: plain }, MSE)).toThrow(new RegExp(`target.data\\[${i}\\] is ${String(v)}`));
      // beyond float32: finite as a double, Infinity once stored
      plain.data[i] = 1e39;
      expect(() => m.lossAndGrad({ x, target: plain }, MSE)).toThrow(new RegExp(`target.data\\[${i}\\] is 1e\\+39`));
    }
    expect(Object.values(m.gradDict()).every((g) => g.data.every((v) => v === 0))).toBe(true);
    // and a good one after them gives the numbers of a fresh model
    const good = t([2, 3, 5]);
    const fresh = await make();
    expect(m.lossAndGrad({ x, target: good }, MSE).loss).toBe(fresh.lossAndGrad({ x, target: good }, MSE).loss);
  });

  it('a failed target check leaves the gradients untouched', async () => {
    const m = await make();
    expect(() => m.lossAndGrad({ x: t([2, 3, 3]), target: ids([2, 3], 9) }, CE)).toThrow();
    expect(Object.values(m.gradDict()).every((g) => g.data.every((v) => v === 0))).toBe(true);
  });

  it('loadStateDict rejects missing, unknown and misshaped keys and changes nothing', async () => {
    const m = await make();
    const before = m.stateDict();
    const sd = m.stateDict();
    sd['rnn.weight_ih_l0'].data.fill(7);
    const { ['rnn.bias_hh_l1']: _drop, ...missing } = sd;
    expect(() => m.loadStateDict(missing)).toThrow(/missing keys rnn.bias_hh_l1/);
    expect(() => m.loadStateDict({ ...sd, 'rnn.weight_ih_l9': t([16, 3]) })).toThrow(/'rnn.weight_ih_l9' belongs to layer 9, but this model has numLayers 2/);
    expect(() => m.loadStateDict({ ...sd, 'out.weight': t([4, 5]) })).toThrow(/'out.weight' has shape \[4, 5\], expected \[5, 4\]/);
    const nan = t([5]); nan.data[2] = Infinity;
    expect(() => m.loadStateDict({ ...sd, 'out.bias': nan })).toThrow(/'out.bias'.data\[2\] is Infinity/);
    expect(m.stateDict()).toEqual(before);
    // a bare nn.LSTM state dict (no 'rnn.' prefix) is accepted
    const bare = Object.fromEntries(Object.entries(sd).map(([k, v]) => [k.replace(/^rnn\./, ''), v]));
    m.loadStateDict(bare);
    expect(m.stateDict()['rnn.weight_ih_l0'].data[0]).toBe(7);
  });

  it('clipping arguments are checked', async () => {
    const m = await make();
    expect(() => clipGradNorm(m, 0)).toThrow(/maxNorm must be a finite number > 0, got 0/);
    expect(() => clipGradValue(m, NaN)).toThrow(/value must be a finite number > 0, got NaN/);
  });

  it('getters return copies', async () => {
    const m = await make();
    const sd = m.stateDict();
    sd['out.bias'].data.fill(123);
    expect(m.stateDict()['out.bias'].data[0]).not.toBe(123);
  });
});

describe('threaded models', () => {
  it('refuse to run after dispose(), with a message that says so', async () => {
    const m = await createModel({ cell: 'gru', inputSize: 3, hiddenSize: 4, outputSize: 2, threads: 2, seed: 1 });
    const x = t([3, 4, 3]);
    expect(m.forward(x).output.shape).toEqual([3, 4, 2]);
    m.dispose();
    expect(() => m.forward(x)).toThrow(/disposed/);
  });

  it('a bad init spec fails before any worker starts; threads need the wasm backend', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await expect(createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, threads: 2, init: 'bogus' as any })).rejects.toThrow(/init/);
    await expect(createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, threads: 2, backend: 'js' })).rejects.toThrow(/threads applies to backend 'wasm' only/);
    await expect(createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, threads: 0 })).rejects.toThrow(/threads must be an integer >= 1, got 0/);
  });
});

describe.each(PATHS)('state dicts with what this library does not have (%s)', (path) => {
  it('proj_size weights and extra layers get a plain "not supported" / layer message, and the model is unchanged', async () => {
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 2, hiddenSize: 3, numLayers: 1, outputSize: 1, seed: 1 });
    const sd = m.stateDict();
    const before = JSON.stringify(Object.values(sd).map((t) => Array.from(t.data)));
    expect(() => m.loadStateDict({ ...sd, 'rnn.weight_hr_l0': { shape: [3, 2], data: new Float32Array(6) } }))
      .toThrow(/'rnn.weight_hr_l0' is an LSTM projection \(PyTorch's proj_size > 0\), which bptt-wasm does not support/);
    expect(() => m.loadStateDict({ ...sd, 'rnn.weight_ih_l1': { shape: [12, 3], data: new Float32Array(36) } }))
      .toThrow(/'rnn.weight_ih_l1' belongs to layer 1, but this model has numLayers 1/);
    expect(JSON.stringify(Object.values(m.stateDict()).map((t) => Array.from(t.data)))).toBe(before);
    m.dispose();
  });
});
