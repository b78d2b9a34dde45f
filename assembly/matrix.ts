// Row- and column-wise matrix helpers around the GEMMs: bias rows, bias gradients
// (column sums) and per-row gradient clipping.

import { sq_acc_f64, hsum2, load_lanes, store_lanes } from "./simd";
import { add_to, add2_to, scale } from "./elementwise";

// Leftover columns (not a multiple of 4) follow the tail rule (simd.ts): the same
// vector formula with lane loads and stores; row-wise adds and scalings are the
// flat-region kernels of elementwise.ts, one row at a time.

/** C[m, n] += bias[n] for every row m < M. */
export function add_bias_rows(C: usize, bias: usize, M: i32, N: i32, ldc: i32): void {
  const ldc4 = <usize>ldc << 2;
  for (let m = 0; m < M; m++) add_to(C + <usize>m * ldc4, bias, N);
}

/**
 * C[m, n] = (C[m, n] + b1[n]) + b2[n] for n < N2, C[m, n] += b1[n] for N2 <= n < N: the
 * same bits as add_bias_rows(b1) then add_bias_rows(b2) over the first N2 columns, in one
 * pass over C (the input projection gx gets b_ih and b_hh; a GRU's b_hh only on its r and z
 * columns, N2 = 2H). N2 <= N.
 */
export function add_bias2_rows(C: usize, b1: usize, b2: usize, M: i32, N: i32, N2: i32, ldc: i32): void {
  const ldc4 = <usize>ldc << 2;
  const o2 = <usize>N2 << 2;
  for (let m = 0; m < M; m++) {
    const c = C + <usize>m * ldc4;
    add2_to(c, b1, b2, N2);
    if (N2 < N) add_to(c + o2, b1 + o2, N - N2);
  }
}

// Rows summed in f32 registers before each flush into dst: bounds the rounding
// error of long sums (T*B rows) like a two-level pairwise sum, at no extra cost.
const COL_BLOCK = 64;

/** d[0..4) += s, at d + 0 and, when d2 != 0, at d2 + the same offset: a column group's sums. */
// @ts-ignore: decorator
@inline
function add_sums(d: usize, d2: usize, o: usize, s: v128, lanes: i32): void {
  if (lanes >= 4) {
    v128.store(d + o, f32x4.add(v128.load(d + o), s));
    if (d2 != 0) v128.store(d2 + o, f32x4.add(v128.load(d2 + o), s));
  } else {
    store_lanes(d + o, f32x4.add(load_lanes(d + o, lanes), s), lanes);
    if (d2 != 0) store_lanes(d2 + o, f32x4.add(load_lanes(d2 + o, lanes), s), lanes);
  }
}

/**
 * dst[n] += sum over m < M of A[m, n] (bias gradients: db += column sums of dG), and the
 * same sums into dst2 when it is not 0: an RNN's or LSTM's b_ih and b_hh both take the
 * column sums of the one pre-activation gradient, so A is read once for both (each dst
 * gets the bits a call of its own would give).
 */
export function col_sum_acc(dst: usize, dst2: usize, A: usize, M: i32, N: i32, lda: i32): void {
  const lda4 = <usize>lda << 2;
  for (let m0 = 0; m0 < M; m0 += COL_BLOCK) {
    const m1 = m0 + COL_BLOCK < M ? m0 + COL_BLOCK : M;
    const a0 = A + <usize>m0 * lda4;
    let j = 0;
    // 16 columns (one cache line of each row) per pass, four accumulators
    for (; j + 16 <= N; j += 16) {
      const o = <usize>j << 2;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let a = a0 + o;
      for (let m = m0; m < m1; m++) {
        s0 = f32x4.add(s0, v128.load(a));
        s1 = f32x4.add(s1, v128.load(a, 16));
        s2 = f32x4.add(s2, v128.load(a, 32));
        s3 = f32x4.add(s3, v128.load(a, 48));
        a += lda4;
      }
      add_sums(dst, dst2, o, s0, 4);
      add_sums(dst, dst2, o + 16, s1, 4);
      add_sums(dst, dst2, o + 32, s2, 4);
      add_sums(dst, dst2, o + 48, s3, 4);
    }
    // then four columns at a time, the last 1-3 through lane loads
    for (; j < N; j += 4) {
      const o = <usize>j << 2, n = N - j;
      let s0 = f32x4.splat(0);
      let a = a0 + o;
      for (let m = m0; m < m1; m++) {
        s0 = f32x4.add(s0, n >= 4 ? v128.load(a) : load_lanes(a, n));
        a += lda4;
      }
      add_sums(dst, dst2, o, s0, n);
    }
  }
}

/** Sum of squares of n floats at p, in f64. */
// @ts-ignore: decorator
@inline
function row_sq(p: usize, n: i32): f64 {
  let acc = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = sq_acc_f64(acc, v128.load(p + (<usize>j << 2)));
  if (j < n) acc = sq_acc_f64(acc, load_lanes(p + (<usize>j << 2), n - j)); // zero lanes add 0
  return hsum2(acc);
}

/**
 * Per-row clipping of dh[B, H]: a row whose L2 norm exceeds threshold (> 0) is
 * scaled down to norm threshold. Returns the Frobenius norm after clipping.
 */
export function row_norms_clip(dh: usize, B: i32, H: i32, threshold: f64): f64 {
  const ld4 = <usize>H << 2;
  let total: f64 = 0;
  for (let b = 0; b < B; b++) {
    const p = dh + <usize>b * ld4;
    let sq = row_sq(p, H);
    const nb = Math.sqrt(sq);
    if (threshold > 0 && nb > threshold) {
      scale(p, H, <f32>(threshold / nb));
      sq = row_sq(p, H); // the stored (rounded) values are what later steps see
    }
    total += sq;
  }
  return Math.sqrt(total);
}
