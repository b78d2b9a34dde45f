// One-hot inputs (a character model without an embedding, min-char-rnn's inputs): the Wasm
// backend reads layer 0's input product as a copy of W_ih's columns and its weight gradient
// as additions into them (backend/wasm.ts, Schedule.hot). The reference is the same model
// through the dense products: a model with one more input, whose W_ih column is 0 and
// whose x there is 0.5, so no row is one-hot and every product runs dense, while the sums
// are the same ones (0.5 * 0 adds a zero). Outputs, losses, gradients, dLoss/dx and
// predict must agree bit for bit, on every path, for every cell, with variable lengths,
// all-zero rows, two layers and both directions.

import { describe, expect, it } from 'vitest';
import type { Model } from '../src/index.js';
import { createModelOn, PATHS } from './helpers/variants.js';

const I = 7, H = 9, O = 5;

/** x [T, B, I] one-hot at (t * 3 + b * 5) % I, every 6th row all zeros; the dense twin [T, B, I + 1] with 0.5 in the last column. */
function inputs(T: number, B: number): { hot: Float32Array; dense: Float32Array } {
  const hot = new Float32Array(T * B * I), dense = new Float32Array(T * B * (I + 1));
  for (let r = 0; r < T * B; r++) {
    const t = Math.floor(r / B), b = r % B;
    if (r % 6 !== 5) {
      hot[r * I + ((t * 3 + b * 5) % I)] = 1;
      dense[r * (I + 1) + ((t * 3 + b * 5) % I)] = 1;
    }
    dense[r * (I + 1) + I] = 0.5;
  }
  return { hot, dense };
}

/** Copy a's weights into b (b's W_ih of layer 0 has one more column, set to 0). */
function copyWeights(a: Model, b: Model): void {
  const sd = a.stateDict();
  for (const [name, t] of Object.entries(sd)) {
    if (!/weight_ih_l0/.test(name)) continue;
    const [G] = t.shape;
    const w = new Float32Array(G * (I + 1));
    for (let g = 0; g < G; g++) w.set(t.data.subarray(g * I, (g + 1) * I), g * (I + 1));
    sd[name] = { shape: [G, I + 1], data: w };
  }
  b.loadStateDict(sd);
}

/** b's tensor with its last input column dropped (layer 0's W_ih), else as it is. */
function narrow(name: string, t: { shape: number[]; data: Float32Array }): number[] {
  if (!/weight_ih_l0/.test(name)) return Array.from(t.data);
  const [G] = t.shape;
  const out: number[] = [];
  for (let g = 0; g < G; g++) out.push(...t.data.subarray(g * (I + 1), g * (I + 1) + I));
  return out;
}

/** First index where a and b differ as values (NaN never equal), or -1. */
const differ = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i])) return i;
  return a.length === b.length ? -1 : a.length;
};

describe.each(PATHS)('one-hot inputs on %s', (path) => {
  const shapes = [
    { numLayers: 1, bidirectional: false, T: 20, B: 1, lengths: null },
    { numLayers: 1, bidirectional: false, T: 6, B: 5, lengths: [6, 2, 5, 6, 1] },
    { numLayers: 2, bidirectional: true, T: 17, B: 4, lengths: [17, 9, 17, 3] },
  ];
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    for (const s of shapes) {
      it(`${cell}, ${s.numLayers} layer(s)${s.bidirectional ? ', bidirectional' : ''}, T ${s.T}, B ${s.B}${s.lengths ? ', variable lengths' : ''}: the dense products' numbers, bit for bit`, async () => {
        const cfg = { cell, hiddenSize: H, outputSize: O, numLayers: s.numLayers, bidirectional: s.bidirectional, seed: 11 };
        const a = await createModelOn(path, { ...cfg, inputSize: I });
        const b = await createModelOn(path, { ...cfg, inputSize: I + 1 });
        copyWeights(a, b);
        const { T, B } = s;
        const { hot, dense } = inputs(T, B);
        const lengths = s.lengths ? Int32Array.from(s.lengths) : undefined;
        const xa = { shape: [T, B, I], data: hot, lengths }, xb = { shape: [T, B, I + 1], data: dense, lengths };
        const target = { shape: [T, B], data: Int32Array.from({ length: T * B }, (_, i) => (i * 7 + 2) % O) };
        const loss = { kind: 'cross_entropy', reduction: 'mean' } as const;

        const fa = a.forward(xa), fb = b.forward(xb);
        let i = differ(fa.output.data, fb.output.data);
        expect(i, `output[${i}]: ${fa.output.data[i]} vs dense ${fb.output.data[i]}`).toBe(-1);
        expect(differ(fa.hN.data, fb.hN.data)).toBe(-1);
        if (path === 'wasm') expect((a.sweep as unknown as { sched: { hot: boolean } }).sched.hot, 'one-hot path taken').toBe(true);

        const ra = a.lossAndGrad({ x: xa, target }, loss, { inputGrad: true });
        const rb = b.lossAndGrad({ x: xb, target }, loss, { inputGrad: true });
        expect(ra.loss).toBe(rb.loss);
        // then a second call on the same batch, adding to the gradients (PyTorch's accumulation)
        const sameGrads = (when: string) => {
          const ga = a.gradDict(), gb = b.gradDict();
          for (const name of Object.keys(ga)) {
            const want = narrow(name, gb[name]);
            const j = differ(ga[name].data, want);
            expect(j, `${when}: grad ${name}[${j}]: ${ga[name].data[j]} vs dense ${want[j]}`).toBe(-1);
          }
        };
        sameGrads('one call');
        // dLoss/dx: the dense model's first I columns
        const dxa = ra.dx!.data, dxb = rb.dx!.data;
        const dxbN = Array.from({ length: T * B * I }, (_, e) => dxb[Math.floor(e / I) * (I + 1) + (e % I)]);
        i = differ(dxa, dxbN);
        expect(i, `dx[${i}]: ${dxa[i]} vs dense ${dxbN[i]}`).toBe(-1);

        a.lossAndGrad({ x: xa, target }, loss);
        b.lossAndGrad({ x: xb, target }, loss);
        sameGrads('two calls');

        const pa = a.predict(xa, { batchSize: 2 }), pb = b.predict(xb, { batchSize: 2 });
        expect(differ(pa.data, pb.data)).toBe(-1);
      });
    }
  }

  // a forward-only call longer than one time chunk (layout.ts CHUNK_ROWS, 2048 rows): the
  // ids are found once for the whole call and each chunk reads its own rows of them
  it('a predict of 2100 steps (two time chunks) gives the dense products\' numbers', async () => {
    const cfg = { cell: 'lstm' as const, hiddenSize: H, outputSize: O, seed: 5 };
    const a = await createModelOn(path, { ...cfg, inputSize: I });
    const b = await createModelOn(path, { ...cfg, inputSize: I + 1 });
    copyWeights(a, b);
    const T = 2100, B = 1;
    const { hot, dense } = inputs(T, B);
    const pa = a.predict({ shape: [T, B, I], data: hot }), pb = b.predict({ shape: [T, B, I + 1], data: dense });
    const i = differ(pa.data, pb.data);
    expect(i, `output[${i}]: ${pa.data[i]} vs dense ${pb.data[i]}`).toBe(-1);
  });
});
