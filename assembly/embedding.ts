// nn.Embedding: the lookup (a gather of rows) and its backward (a scatter-add of row
// gradients). Rows are `dim` floats; a row starts wherever id * dim puts it, so the loads
// are unaligned v128s (Wasm allows them) with lane loads for the last dim % 4 floats.

import { load_lanes, store_lanes } from "./simd";

/**
 * out[i, :] = weight[ids[i], :] for i < n; a negative id (a padded step) gives a zero row.
 * out [n, dim], weight [numEmbeddings, dim], ids int32 [n] (already range-checked).
 */
export function embedding_forward(out: usize, weight: usize, ids: usize, n: i32, dim: i32): void {
  const row = <usize>dim << 2;
  const zero = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const dst = out + <usize>i * row;
    let j = 0;
    if (id < 0) {
      for (; j + 4 <= dim; j += 4) v128.store(dst + (<usize>j << 2), zero);
      if (j < dim) store_lanes(dst + (<usize>j << 2), zero, dim - j);
      continue;
    }
    const src = weight + <usize>id * row;
    for (; j + 4 <= dim; j += 4) v128.store(dst + (<usize>j << 2), v128.load(src + (<usize>j << 2)));
    if (j < dim) store_lanes(dst + (<usize>j << 2), load_lanes(src + (<usize>j << 2), dim - j), dim - j);
  }
}

/**
 * dweight[ids[i], :] += dout[i, :] for i = 0 .. n-1 in order, skipping negative ids and
 * `skip` (padding_idx, or -1). One thread, one order: repeated ids accumulate the same
 * way on every run and in the JS backend (each sum is one f32 add per element).
 */
export function embedding_backward(dweight: usize, dout: usize, ids: usize, n: i32, dim: i32, skip: i32): void {
  const row = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    if (id < 0 || id == skip) continue;
    const dst = dweight + <usize>id * row;
    const src = dout + <usize>i * row;
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    if (j < dim) {
      const o = <usize>j << 2;
      store_lanes(dst + o, f32x4.add(load_lanes(dst + o, dim - j), load_lanes(src + o, dim - j)), dim - j);
    }
  }
}
