// Initializers: deterministic from the seed and identical on every path (js, wasm, wasm with 2 threads); each preset
// gives the distribution it documents; overrides touch only their own tensors.

import { describe, expect, it } from 'vitest';
import { createModel, type Model } from '../src/model.js';
import { initParams, orthogonal, resolveInit } from '../src/init.js';
import { buildLayout, type ModelConfig } from '../src/layout.js';
import { Rng } from '../src/rng.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const block = (m: Model, name: string, g: number): { rows: number; cols: number; data: Float32Array } => {
  const t = m.stateDict()[name];
  const H = m.config.hiddenSize;
  const cols = t.shape[1];
  return { rows: H, cols, data: t.data.subarray(g * H * cols, (g + 1) * H * cols) };
};

/** max |A A^T - I| (rows orthonormal) or |A^T A - I| (columns), whichever is square-sized. */
function orthoError({ rows, cols, data }: { rows: number; cols: number; data: ArrayLike<number> }): number {
  const n = Math.min(rows, cols);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let d = 0;
      if (rows <= cols) for (let k = 0; k < cols; k++) d += data[i * cols + k] * data[j * cols + k];
      else for (let k = 0; k < rows; k++) d += data[k * cols + i] * data[k * cols + j];
      worst = Math.max(worst, Math.abs(d - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

describe('same seed, same weights', () => {
  it.each(['rnn', 'lstm', 'gru'] as const)('%s: every path starts bit-identical; another seed differs', async (cell) => {
    for (const init of ['pytorch', 'irnn', 'xavier', 'orthogonal'] as const) {
      const opts = { cell, inputSize: 5, hiddenSize: 7, numLayers: 2, outputSize: 3, seed: 42, init };
      const [b, ...others] = await Promise.all(PATHS.map((p) => createModelOn(p, opts)));
      for (const [i, a] of others.entries()) expect(a.paramView(), `${init} on ${PATHS[i + 1]}`).toEqual(b.paramView());
      const c = await createModel({ ...opts, backend: 'js', seed: 43 });
      expect(c.paramView()).not.toEqual(b.paramView());
      const again = await createModel({ ...opts, backend: 'js' });
      expect(again.paramView()).toEqual(b.paramView());
    }
  });

  it('leaves the alignment padding between tensors at zero', async () => {
    const m = await createModel({ cell: 'gru', inputSize: 3, hiddenSize: 5, outputSize: 3, backend: 'js', init: 'orthogonal' });
    const v = m.paramView();
    const used = new Uint8Array(v.length);
    for (const t of m.layout.tensors) used.fill(1, t.offset, t.offset + t.size);
    for (let i = 0; i < v.length; i++) if (!used[i]) expect(v[i]).toBe(0);
  });
});

describe.each(PATHS)('presets on %s', (path) => {
  it("'pytorch': every tensor U(-1/sqrt(H), 1/sqrt(H)), the head too", async () => {
    const H = 64;
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 32, hiddenSize: H, outputSize: 16 });
    const k = 1 / Math.sqrt(H);
    for (const [name, t] of Object.entries(m.stateDict())) {
      let sum = 0, sq = 0, max = 0;
      for (const v of t.data) {
        sum += v;
        sq += v * v;
        max = Math.max(max, Math.abs(v));
      }
      const n = t.data.length;
      expect(max, name).toBeLessThanOrEqual(k);
      expect(max, name).toBeGreaterThan(0.9 * k);
      // U(-k, k): mean 0 (sd k/sqrt(3n)), variance k^2/3; loose 5-sigma-ish bounds
      expect(Math.abs(sum / n), name).toBeLessThan(5 * k / Math.sqrt(3 * n));
      if (n >= 1000) expect(sq / n / (k * k / 3), name).toBeCloseTo(1, 1);
    }
  });

  it("'pytorch', bidirectional: the head nn.Linear(2H, O) has bound 1/sqrt(2H) (its fan_in), the cells keep 1/sqrt(H)", async () => {
    const H = 32;
    const m = await createModelOn(path, { cell: 'gru', inputSize: 8, hiddenSize: H, numLayers: 2, outputSize: 64, bidirectional: true });
    for (const [name, t] of Object.entries(m.stateDict())) {
      const k = name.startsWith('out.') ? 1 / Math.sqrt(2 * H) : 1 / Math.sqrt(H);
      let max = 0;
      for (const v of t.data) max = Math.max(max, Math.abs(v));
      // n >= 64 draws of U(-k, k): P(max < 0.9 k) = 0.9^64 < 0.2%, and a bound of 1/sqrt(H)
      // for the head (1.41x too wide) would exceed k with probability 1 - 0.71^n
      expect(max, name).toBeLessThanOrEqual(k);
      expect(max, name).toBeGreaterThan(0.9 * k);
    }
  });

  it("'irnn': W_hh = I, W_ih ~ N(0, 0.001), zero recurrent biases", async () => {
    const m = await createModelOn(path, { cell: 'rnn', nonlinearity: 'relu', inputSize: 50, hiddenSize: 40, numLayers: 2, outputSize: 2, init: 'irnn' });
    const sd = m.stateDict();
    for (const l of [0, 1]) {
      const w = sd[`rnn.weight_hh_l${l}`].data;
      for (let i = 0; i < 40; i++) for (let j = 0; j < 40; j++) expect(w[i * 40 + j]).toBe(i === j ? 1 : 0);
      expect(sd[`rnn.bias_ih_l${l}`].data.every((v) => v === 0)).toBe(true);
      expect(sd[`rnn.bias_hh_l${l}`].data.every((v) => v === 0)).toBe(true);
    }
    const wih = sd['rnn.weight_ih_l0'].data; // 2000 draws
    let sq = 0;
    for (const v of wih) sq += v * v;
    expect(Math.sqrt(sq / wih.length)).toBeCloseTo(Math.sqrt(0.001), 2);
  });

  it("'orthogonal': orthogonal W_hh per gate block, Xavier W_ih, LSTM forget bias 1 in total", async () => {
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 3, hiddenSize: 6, numLayers: 2, outputSize: 2, init: 'orthogonal' });
    for (const l of [0, 1]) for (let g = 0; g < 4; g++) expect(orthoError(block(m, `rnn.weight_hh_l${l}`, g))).toBeLessThan(1e-6);
    const sd = m.stateDict();
    const H = 6;
    for (const l of [0, 1]) {
      const bih = sd[`rnn.bias_ih_l${l}`].data, bhh = sd[`rnn.bias_hh_l${l}`].data;
      for (let i = 0; i < 4 * H; i++) {
        const f = i >= H && i < 2 * H;
        expect(bih[i] + bhh[i]).toBe(f ? 1 : 0);
      }
    }
    const a = Math.sqrt(6 / (3 + H)); // Xavier bound of one [H, 3] gate block
    expect(Math.max(...sd['rnn.weight_ih_l0'].data.map(Math.abs))).toBeLessThanOrEqual(a);
  });

  it("'xavier': gate-block fans, zero biases; GRU has no forget bias", async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: 30, hiddenSize: 20, outputSize: 2, init: 'xavier' });
    const sd = m.stateDict();
    const a = Math.sqrt(6 / (30 + 20));
    const w = sd['rnn.weight_ih_l0'].data;
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(a);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * a);
    expect(sd['rnn.bias_ih_l0'].data.every((v) => v === 0)).toBe(true);
  });

  it('per-kind overrides change only their tensors and keep the others bit-identical', async () => {
    const base = await createModelOn(path, { cell: 'lstm', inputSize: 4, hiddenSize: 5, outputSize: 2, seed: 7, init: 'pytorch' });
    const over = await createModelOn(path, {
      cell: 'lstm', inputSize: 4, hiddenSize: 5, outputSize: 2, seed: 7,
      init: { weightHh: { kind: 'identity', scale: 0.5 }, outBias: 'zeros', forgetBias: 2 },
    });
    const a = base.stateDict(), b = over.stateDict();
    expect(b['rnn.weight_ih_l0'].data).toEqual(a['rnn.weight_ih_l0'].data);
    expect(b['out.weight'].data).toEqual(a['out.weight'].data);
    expect(b['out.bias'].data.every((v) => v === 0)).toBe(true);
    for (let g = 0; g < 4; g++) {
      const { data } = block(over, 'rnn.weight_hh_l0', g);
      for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(data[i * 5 + j]).toBe(i === j ? 0.5 : 0);
    }
    // forget block: bias_ih = 2, bias_hh = 0; other blocks untouched
    expect(Array.from(b['rnn.bias_ih_l0'].data.subarray(5, 10))).toEqual([2, 2, 2, 2, 2]);
    expect(Array.from(b['rnn.bias_hh_l0'].data.subarray(5, 10))).toEqual([0, 0, 0, 0, 0]);
    expect(b['rnn.bias_ih_l0'].data.subarray(0, 5)).toEqual(a['rnn.bias_ih_l0'].data.subarray(0, 5));
    expect(b['rnn.bias_hh_l0'].data.subarray(10)).toEqual(a['rnn.bias_hh_l0'].data.subarray(10));
  });
});

describe('orthogonal', () => {
  it.each([[6, 6], [3, 8], [8, 3], [1, 5], [5, 1]])('%i x %i has orthonormal rows or columns', (rows, cols) => {
    const q = orthogonal(rows, cols, new Rng(rows * 10 + cols));
    expect(orthoError({ rows, cols, data: q })).toBeLessThan(1e-12);
  });
});

describe('errors', () => {
  it('names unknown presets, options and initializers', async () => {
    expect(() => resolveInit('kaiming' as never)).toThrow(/unknown preset 'kaiming'.*pytorch, irnn, xavier, orthogonal/);
    expect(() => resolveInit({ weightHH: 'zeros' } as never)).toThrow(/unknown option 'weightHH'/);
    expect(() => resolveInit({ weightHh: 'eye' as never })).toThrow(/init.weightHh: unknown initializer "eye"/);
    expect(() => resolveInit({ forgetBias: NaN })).toThrow(/forgetBias/);
    const config: ModelConfig = { cell: 'rnn', nonlinearity: 'tanh', inputSize: 2, hiddenSize: 3, numLayers: 1, outputSize: 1, bias: true };
    const layout = buildLayout(config);
    expect(() => initParams(layout, new Float32Array(3), 'pytorch', 0)).toThrow(/view has 3 floats/);
    expect(() => initParams(layout, new Float32Array(layout.numParams), { biasIh: 'orthogonal' }, 0)).toThrow(/orthogonal needs a matrix; rnn.bias_ih_l0/);
    await expect(createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, backend: 'js', init: 'nope' as never })).rejects.toThrow(/unknown preset/);
  });
});

describe('Rng', () => {
  it('is deterministic, resumable from its state, and separates seeds', () => {
    const draw = (r: Rng) => [r.nextU32(), r.random(), r.normal(), r.normal(), r.int(10)];
    expect(draw(new Rng(3))).toEqual(draw(new Rng(3)));
    expect(new Rng(0).nextU32()).not.toBe(new Rng(-1).nextU32());
    expect(new Rng(0).nextU32()).not.toBe(new Rng(2 ** 32).nextU32());
    const r = new Rng(9);
    r.normal(); // leaves a cached Box-Muller deviate in the state
    const s = JSON.parse(JSON.stringify(r.getState()));
    const next = draw(r);
    expect(draw(Rng.fromState(s))).toEqual(next);
  });

  it('draws uniform, normal, integers, permutations and categories with the right statistics', () => {
    const r = new Rng(1);
    const n = 100_000;
    let su = 0, sn = 0, sn2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.random();
      expect(u >= 0 && u < 1).toBe(true);
      su += u;
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    expect(Math.abs(su / n - 0.5)).toBeLessThan(0.005); // sd 0.0009
    expect(Math.abs(sn / n)).toBeLessThan(0.016); // sd 0.0032
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(0.025); // sd 0.0045
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
    counts.forEach((c) => expect(Math.abs(c - 10_000)).toBeLessThan(500)); // sd ~93
    const p = r.permutation(50);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    const w = [0, 1, 3, 0];
    const cat = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) cat[r.categorical(w)]++;
    expect(cat[0] + cat[3]).toBe(0);
    expect(Math.abs(cat[2] / 40_000 - 0.75)).toBeLessThan(0.011); // sd 0.0022
    expect(() => r.categorical([0, 0])).toThrow(/all weights are 0/);
    expect(() => r.categorical([1, NaN])).toThrow(/weight 1 is NaN/);
    expect(() => r.int(0)).toThrow(/integer in \[1, 2\^32\]/);
  });
});
