// The last H % 4 hidden units of a layer run through the same code as the others (the
// tail rule, assembly/simd.ts: one vector formula, lane loads for the tail), so they get
// the same numbers. Here every hidden unit is a copy of one of four distinct units, and
// the copies sit in a different order in every group of four, the tail included: unit
// j of the model copies unit u(j) = (3 (j mod 4) + floor(j / 4)) mod 4. Copies have equal
// rows in every weight and bias, equal columns where a weight reads the hidden units,
// and equal initial states and targets, so exact arithmetic gives them equal values
// everywhere; the kernels do every element's sum in the same order, so float32
// arithmetic must give them bit-identical values too, on every path and both builds.

import { describe, expect, it } from 'vitest';
import { Rng, type CreateModelOptions, type Tensor } from '../src/index.js';
import { PATHS, createModelOn } from './helpers/variants.js';

const BASE = 4; // distinct units
const copyOf = (j: number) => (3 * (j % 4) + Math.floor(j / 4)) % BASE;
/** The first unit that copies the same base unit as j: what j must equal. */
const firstCopy = (j: number) => {
  for (let i = 0; ; i++) if (copyOf(i) === copyOf(j)) return i;
};
const GATES = { rnn: 1, lstm: 4, gru: 3 } as const;

type Cell = keyof typeof GATES;
const CASES: Array<[string, Omit<CreateModelOptions, 'backend' | 'threads'> & { cell: Cell; inputSize: number }]> = [];
for (const H of [5, 7, 13]) {
  CASES.push([`rnn tanh H${H}`, { cell: 'rnn', inputSize: 3, hiddenSize: H, numLayers: 2, outputSize: null }]);
  CASES.push([`rnn relu H${H}`, { cell: 'rnn', nonlinearity: 'relu', inputSize: 3, hiddenSize: H, numLayers: 2, outputSize: null }]);
  CASES.push([`lstm H${H}`, { cell: 'lstm', inputSize: 3, hiddenSize: H, numLayers: 2, outputSize: null }]);
  CASES.push([`gru H${H}`, { cell: 'gru', inputSize: 3, hiddenSize: H, numLayers: 2, outputSize: null }]);
}

/** Values in [-s, s) for the distinct units, expanded to H units: [rows, cols] with copy structure. */
function copied(r: Rng, G: number, H: number, cols: number, colsAreUnits: boolean, s: number): Float32Array {
  const bc = colsAreUnits ? BASE : cols;
  const base = Float32Array.from({ length: G * BASE * bc }, () => r.uniform(-s, s));
  const out = new Float32Array(G * H * cols);
  for (let q = 0; q < G; q++) {
    for (let i = 0; i < H; i++) {
      for (let c = 0; c < cols; c++) {
        out[(q * H + i) * cols + c] = base[(q * BASE + copyOf(i)) * bc + (colsAreUnits ? copyOf(c) : c)];
      }
    }
  }
  return out;
}

/** Every element whose unit index (in the dimension of size H at stride `stride`) is a copy equals its first copy's. */
function expectCopiesEqual(name: string, t: Tensor, H: number, stride: number): void {
  const d = t.data;
  let differ = false, miss: string | null = null;
  for (let e = 0; e < d.length && !miss; e++) {
    const j = Math.floor(e / stride) % H;
    const f = e + (firstCopy(j) - j) * stride;
    if (!Object.is(d[e], d[f])) miss = `${name}[${e}] (unit ${j}) = ${d[e]}, its copy unit ${firstCopy(j)} has ${d[f]}`;
    if (j < BASE && j > 0 && d[e] !== d[e - stride]) differ = true;
  }
  expect(miss).toBeNull();
  // the four distinct units must really differ somewhere, or the test proves nothing
  expect(differ, `${name}: the distinct units are all equal`).toBe(true);
}

describe.each(PATHS)('tail hidden units compute what the vectorised units compute, on %s', (path) => {
  it.each(CASES)('%s: copied units stay bit-identical through forward, BPTT and hidden-gradient clipping', async (_name, cfg) => {
    const H = cfg.hiddenSize, I = cfg.inputSize, L = cfg.numLayers ?? 1, G = GATES[cfg.cell];
    const model = await createModelOn(path, cfg);
    const r = new Rng(H * 31 + G);
    const sd: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(model.stateDict())) {
      const isBias = name.includes('bias');
      const cols = isBias ? 1 : t.shape[1];
      // the input layer's weight_ih reads x, every other weight reads hidden units
      const colsAreUnits = !isBias && !name.endsWith('weight_ih_l0');
      sd[name] = { shape: t.shape, data: copied(r, G, H, cols, colsAreUnits, 1 / Math.sqrt(H)) };
    }
    model.loadStateDict(sd);

    for (const B of [1, 5]) {
      const T = 6;
      const state = (n: number) => {
        const base = Float32Array.from({ length: n * BASE }, () => r.uniform(-0.5, 0.5));
        return Float32Array.from({ length: n * H }, (_, e) => base[Math.floor(e / H) * BASE + copyOf(e % H)]);
      };
      const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, () => r.uniform(-1, 1)) };
      const h0 = { shape: [L, B, H], data: state(L * B) };
      const c0 = cfg.cell === 'lstm' ? { shape: [L, B, H], data: state(L * B) } : undefined;
      const target = { shape: [T, B, H], data: state(T * B) };
      const res = model.lossAndGrad({ x, target, h0, ...(c0 ? { c0 } : {}) }, { kind: 'mse', reduction: 'mean' }, { clipHiddenGrad: 0.05 });
      const at = `B=${B}`;
      expectCopiesEqual(`${at} output`, res.output, H, 1);
      expectCopiesEqual(`${at} hN`, res.hN, H, 1);
      if (res.cN) expectCopiesEqual(`${at} cN`, res.cN, H, 1);
      expectCopiesEqual(`${at} dh0`, res.dh0, H, 1);
      if (res.dc0) expectCopiesEqual(`${at} dc0`, res.dc0, H, 1);
      for (const [name, g] of Object.entries(model.gradDict())) {
        const isBias = name.includes('bias');
        const cols = isBias ? 1 : g.shape[1];
        // rows: gate q of unit i is row q*H + i
        expectCopiesEqual(`${at} ${name} rows`, g, H, cols);
        if (!isBias && !name.endsWith('weight_ih_l0')) expectCopiesEqual(`${at} ${name} columns`, g, H, 1);
      }
    }
  });
});
