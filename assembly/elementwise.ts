// Utilities over flat regions (all parameters, all gradients, ...): llm.c's
// one-buffer layout turns zero-grad, global-norm clipping and the like into one
// pass over one region.

import { sq_acc_f64, hsum2, load_lanes, store_lanes } from "./simd";

// Leftover elements (n not a multiple of 4) follow the tail rule (simd.ts): the same
// vector formula, written once over a lane count, with lane loads and stores.

/** p[i] = v for i < n. */
export function fill(p: usize, n: i32, v: f32): void {
  const vv = f32x4.splat(v);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), vv);
  if (i < n) store_lanes(p + (<usize>i << 2), vv, n - i);
}

/** sum of p[i]^2 for i < n, accumulated in f64 (global gradient norms). */
export function sum_squares(p: usize, n: i32): f64 {
  // two accumulators: the f64 adds are the latency chain
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const q = p + (<usize>i << 2);
    a0 = sq_acc_f64(a0, v128.load(q));
    a1 = sq_acc_f64(a1, v128.load(q, 16));
  }
  for (; i + 4 <= n; i += 4) a0 = sq_acc_f64(a0, v128.load(p + (<usize>i << 2)));
  if (i < n) a1 = sq_acc_f64(a1, load_lanes(p + (<usize>i << 2), n - i)); // zero lanes add 0
  return hsum2(f64x2.add(a0, a1));
}

/**
 * 1 if every p[i] (i < n) is finite, else 0: v*0 is 0 for a finite v and NaN for
 * +-Inf and NaN, so one multiply and one add per vector into four accumulators (a NaN
 * stays NaN) and one test at the end. The optimizer's check of every step's result: a fifth of
 * sum_squares' work, which squares in f64.
 */
export function all_finite(p: usize, n: i32): i32 {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = p + (<usize>i << 2);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(q), z));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(q, 16), z));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(q, 32), z));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(q, 48), z));
  }
  for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, f32x4.mul(v128.load(p + (<usize>i << 2)), z));
  if (i < n) a1 = f32x4.add(a1, f32x4.mul(load_lanes(p + (<usize>i << 2), n - i), z)); // zero lanes add 0
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  // all four lanes 0 (a NaN lane compares unequal)
  return i32(i32x4.all_true(f32x4.eq(a, z)));
}

/** q[i] *= s on `lanes` floats at q. */
// @ts-ignore: decorator
@inline
function scale_lanes(q: usize, sv: v128, lanes: i32): void {
  store_lanes(q, f32x4.mul(load_lanes(q, lanes), sv), lanes);
}

/** p[i] *= s for i < n. */
export function scale(p: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) scale_lanes(p + (<usize>i << 2), sv, 4);
  if (i < n) scale_lanes(p + (<usize>i << 2), sv, n - i);
}

/** q[i] = min(max(q[i], lo), hi) on `lanes` floats at q. */
// @ts-ignore: decorator
@inline
function clamp_lanes(q: usize, lo: v128, hi: v128, lanes: i32): void {
  store_lanes(q, f32x4.min(f32x4.max(load_lanes(q, lanes), lo), hi), lanes);
}

/** p[i] = clamp(p[i], -v, v) for i < n (clip_grad_value_). */
export function clamp_abs(p: usize, n: i32, v: f32): void {
  const hi = f32x4.splat(v), lo = f32x4.splat(-v);
  let i = 0;
  for (; i + 4 <= n; i += 4) clamp_lanes(p + (<usize>i << 2), lo, hi, 4);
  if (i < n) clamp_lanes(p + (<usize>i << 2), lo, hi, n - i);
}

/** dst[i] += src[i] on `lanes` floats. */
// @ts-ignore: decorator
@inline
function add_lanes(dst: usize, src: usize, lanes: i32): void {
  store_lanes(dst, f32x4.add(load_lanes(dst, lanes), load_lanes(src, lanes)), lanes);
}

/** dst[i] = (dst[i] + a[i]) + b[i] on `lanes` floats: the two adds in add_to's order. */
// @ts-ignore: decorator
@inline
function add2_lanes(dst: usize, a: usize, b: usize, lanes: i32): void {
  const s = f32x4.add(load_lanes(dst, lanes), load_lanes(a, lanes));
  store_lanes(dst, f32x4.add(s, load_lanes(b, lanes)), lanes);
}

/**
 * dst[i] = (dst[i] + a[i]) + b[i] for i < n: add_to(dst, a) then add_to(dst, b), bit for
 * bit, in one pass over dst (the input projection's two biases, b_ih and b_hh).
 */
export function add2_to(dst: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    add2_lanes(dst + o, a + o, b + o, 4);
  }
  if (i < n) {
    const o = <usize>i << 2;
    add2_lanes(dst + o, a + o, b + o, n - i);
  }
}

/** dst[i] += src[i] for i < n. */
export function add_to(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) add_lanes(dst + (<usize>i << 2), src + (<usize>i << 2), 4);
  if (i < n) add_lanes(dst + (<usize>i << 2), src + (<usize>i << 2), n - i);
}
