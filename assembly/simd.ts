// Small inline SIMD helpers shared by every kernel file.

/** a*b + c per lane. One fused instruction when relaxed SIMD is on (folded at compile time). */
// @ts-ignore: decorator
@inline
export function fma4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** a*b + c per lane, always as two rounded operations (the plain build's fma4). */
// @ts-ignore: decorator
@inline
export function mul_add4(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * fma4 when fused, else mul_add4. With fused a constant after inlining, the choice is
 * folded away: one source for the FMA and the mul+add variants of a kernel.
 */
// @ts-ignore: decorator
@inline
export function madd4(a: v128, b: v128, c: v128, fused: bool): v128 {
  return fused ? fma4(a, b, c) : mul_add4(a, b, c);
}

/** Sum of the four f32 lanes. */
// @ts-ignore: decorator
@inline
export function hsum4(v: v128): f32 {
  // (0+2, 1+3), then lane 0 + lane 1
  const s = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** Sum of the two f64 lanes. */
// @ts-ignore: decorator
@inline
export function hsum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** acc + (squares of the four f32 lanes), in f64x2 (lanes 0,1 and 2,3 folded together). */
// @ts-ignore: decorator
@inline
export function sq_acc_f64(acc: v128, v: v128): v128 {
  // Squaring after promotion is exact (24-bit mantissa squared fits in 53 bits).
  const lo = f64x2.promote_low_f32x4(v);
  const hi = f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f64x2.add(f64x2.add(acc, f64x2.mul(lo, lo)), f64x2.mul(hi, hi));
}

// The tail rule, for every kernel in assembly/: the last n % 4 elements of a row or
// region run through the same vector formula as the others, with load_lanes /
// store_lanes below in place of v128.load / v128.store. The formula is written once,
// over a lane count: full vectors pass lanes = 4 (folded to plain loads and stores
// after inlining), the tail passes n % 4. So every element gets the same activation
// code and the same rounding, and a tail never reads or writes past the buffer's end:
// these lane loads touch exactly `lanes` floats (a whole-v128 load of a tail could run
// off the end of a buffer, even off the end of the memory). Lanes past the tail hold
// zeros, which a formula either discards (store_lanes never writes them) or, where it
// reduces across lanes (sums, maxima), masks with lane_mask.

/**
 * The first `lanes` (1..4) floats at p, remaining lanes zero: the tail rule's load
 * (with lanes = 4 constant after inlining, this is a plain v128.load).
 */
// @ts-ignore: decorator
@inline
export function load_lanes(p: usize, lanes: i32): v128 {
  if (lanes == 4) return v128.load(p);
  let v = v128.load32_zero(p);
  if (lanes > 1) v = v128.load32_lane(p, v, 1, 4);
  if (lanes > 2) v = v128.load32_lane(p, v, 2, 8);
  return v;
}

/** Store the first `lanes` (1..4) floats of v at p; nothing past them is written (the tail rule's store). */
// @ts-ignore: decorator
@inline
export function store_lanes(p: usize, v: v128, lanes: i32): void {
  if (lanes == 4) {
    v128.store(p, v);
    return;
  }
  v128.store32_lane(p, v, 0);
  if (lanes > 1) v128.store32_lane(p, v, 1, 4);
  if (lanes > 2) v128.store32_lane(p, v, 2, 8);
}

/** All ones in the first `lanes` (1..4) lanes, zeros past them: for bitselect in reductions over a tail. */
// @ts-ignore: decorator
@inline
export function lane_mask(lanes: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(lanes));
}

/** How many of the elements i, i+1, ... (< n) one vector covers: 4, or the tail's n - i. */
// @ts-ignore: decorator
@inline
export function lanes_at(n: i32, i: i32): i32 {
  return n - i < 4 ? n - i : 4;
}
