// The embedding kernels (assembly/embedding.ts) against a scalar loop on both Wasm builds,
// and the JS backend against the same loop, at row widths 1, 3, 4, 5, 17 and 64 (the
// 4-wide loop zero, one and several times, with and without a lane-load tail), with
// repeated and negative (padded) ids and a skipped id; each call writes only its outputs.

import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/backend/factory.js';
import { Heap, loadBuild, flat, rng } from './helpers/wasm.js';

const DIMS = [1, 3, 4, 5, 17, 64];
const N = 6; // rows of the table
const IDS = [2, 5, 2, -1, 0, 2, 5, -1, 3]; // repeats, padding (-1)
const SKIP = 3;

/** The reference: gather (zero row for id < 0) and scatter-add in order with float32 sums. */
function reference(w: Float32Array, dw: Float32Array, dout: Float32Array, dim: number) {
  const out = new Float32Array(IDS.length * dim);
  const g = dw.slice();
  IDS.forEach((id, i) => {
    if (id >= 0) for (let j = 0; j < dim; j++) out[i * dim + j] = w[id * dim + j];
    if (id >= 0 && id !== SKIP) for (let j = 0; j < dim; j++) g[id * dim + j] = Math.fround(g[id * dim + j] + dout[i * dim + j]);
  });
  return { out, g };
}

function inputs(dim: number) {
  const r = rng(dim + 7);
  const w = Float32Array.from({ length: N * dim }, () => r(-2, 2));
  const dw = Float32Array.from({ length: N * dim }, () => r(-1, 1));
  const dout = Float32Array.from({ length: IDS.length * dim }, () => r(-1, 1));
  return { w, dw, dout };
}

for (const build of [loadBuild('simd'), loadBuild('relaxed')]) {
  describe(`${build.name} build`, () => {
    if (!build.kernels) {
      it.skip(build.skip, () => {});
      return;
    }
    const k = build.kernels;
    const heap = new Heap(k);
    it.each(DIMS)('embedding_forward and embedding_backward at dim %i are exact and write only their outputs', (dim) => {
      heap.reset();
      const { w, dw, dout } = inputs(dim);
      const want = reference(w, dw, dout, dim);
      const W = heap.from(w), DW = heap.from(dw), DOUT = heap.from(dout);
      const ids = heap.alloc(IDS.length);
      heap.i32.set(IDS, ids.off);
      const out = heap.alloc(IDS.length * dim);
      let before = heap.snapshot();
      k.embedding_forward(out.ptr, W.ptr, ids.ptr, IDS.length, dim);
      expect(heap.strayWrite(before, [flat(out)])).toBeNull();
      expect(heap.read(out)).toEqual(want.out);
      before = heap.snapshot();
      k.embedding_backward(DW.ptr, DOUT.ptr, ids.ptr, IDS.length, dim, SKIP);
      expect(heap.strayWrite(before, [flat(DW)])).toBeNull();
      expect(heap.read(DW)).toEqual(want.g);
    });
  });
}

describe('JS backend', () => {
  it.each(DIMS)('embeddingForward and embeddingBackward at dim %i match the loop bit for bit', async (dim) => {
    const be = await createBackend('js', undefined, 1);
    const { w, dw, dout } = inputs(dim);
    const want = reference(w, dw, dout, dim);
    const a = be.arena;
    const W = a.alloc(w.length), DW = a.alloc(dw.length), DOUT = a.alloc(dout.length), ids = a.alloc(IDS.length);
    const out = a.alloc(IDS.length * dim);
    a.f32.set(w, W); a.f32.set(dw, DW); a.f32.set(dout, DOUT); a.i32.set(IDS, ids);
    a.f32.fill(NaN, out, out + IDS.length * dim);
    be.ops.embeddingForward(out, W, ids, IDS.length, dim);
    expect(a.read(out, IDS.length * dim)).toEqual(want.out);
    be.ops.embeddingBackward(DW, DOUT, ids, IDS.length, dim, SKIP);
    expect(a.read(DW, dw.length)).toEqual(want.g);
  });
});
