// Activations on four lanes at once, accurate to a few float32 ulps (results are
// compared with PyTorch in float64 at ~1e-5, so no fast approximations).
// The polynomials are Cephes' expf and tanhf (S. Moshier), evaluated per lane.
// Scalar tails use Mathf (musl), which is equally accurate.

import { fma4 } from "./simd";

// Clamp so that 2^n stays a normal float: n = round(x*log2(e)) in [-125, 127].
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;
const LOG2E: f32 = 1.44269504088896341;
// ln(2) split in two so that n*LN2_HI is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/** e^x per lane (relative error ~1e-7 on [-87, 88]; clamped outside). */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  // e^x = 2^n * e^r, |r| <= ln(2)/2
  const fn = f32x4.floor(fma4(x, f32x4.splat(LOG2E), f32x4.splat(0.5)));
  let r = f32x4.sub(x, f32x4.mul(fn, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(fn, f32x4.splat(LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.splat(1.9875691500e-4);
  p = fma4(p, r, f32x4.splat(1.3981999507e-3));
  p = fma4(p, r, f32x4.splat(8.3334519073e-3));
  p = fma4(p, r, f32x4.splat(4.1665795894e-2));
  p = fma4(p, r, f32x4.splat(1.6666665459e-1));
  p = fma4(p, r, f32x4.splat(5.0000001201e-1));
  p = f32x4.add(fma4(p, r2, r), f32x4.splat(1.0));
  // 2^n built directly in the exponent field
  const n = i32x4.trunc_sat_f32x4_s(fn);
  const pow2n = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(p, pow2n);
}

/** tanh per lane (relative error ~2e-7). */
// @ts-ignore: decorator
@inline
export function tanh4(x: v128): v128 {
  const ax = f32x4.abs(x);
  // |x| >= 0.625: 1 - 2/(e^{2|x|} + 1) (no cancellation there); saturates to 1.
  const e = exp4(f32x4.add(ax, ax));
  const big = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  // |x| < 0.625: odd polynomial x + x^3 P(x^2)
  const z = f32x4.mul(ax, ax);
  let p = f32x4.splat(-5.70498872745e-3);
  p = fma4(p, z, f32x4.splat(2.06390887954e-2));
  p = fma4(p, z, f32x4.splat(-5.37397155531e-2));
  p = fma4(p, z, f32x4.splat(1.33314422036e-1));
  p = fma4(p, z, f32x4.splat(-3.33332819422e-1));
  const small = fma4(f32x4.mul(p, z), ax, ax);
  const t = v128.bitselect(small, big, f32x4.lt(ax, f32x4.splat(0.625)));
  // copy the sign of x
  return v128.or(t, v128.and(x, f32x4.splat(-0.0)));
}

/** 1 / (1 + e^-x) per lane. */
// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

/** Scalar sigmoid for tails. */
// @ts-ignore: decorator
@inline
export function sigmoid1(x: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + Mathf.exp(-x));
}

/** Scalar tanh for tails. */
// @ts-ignore: decorator
@inline
export function tanh1(x: f32): f32 {
  return Mathf.tanh(x);
}

/** Scalar e^x for tails. */
// @ts-ignore: decorator
@inline
export function exp1(x: f32): f32 {
  return Mathf.exp(x);
}
