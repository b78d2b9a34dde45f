// Activations on four lanes at once, accurate to a few float32 ulps (results are
// compared with PyTorch in float64 at ~1e-5, so no fast approximations).
// One e^r - 1 polynomial (Cephes' expf, S. Moshier) under both: exp4 (sigmoid) and tanh4
// through e^{2|x|} - 1. They cost instructions, not memory: an LSTM unit takes three
// sigmoids and two tanh, and the cell step is bound by their instruction count.
// They are the only activation code: tails of fewer than four values run through them
// too, with partial lanes (the tail rule, simd.ts), never through a scalar Mathf copy.

import { fma4 } from "./simd";

// The constants live in memory as whole vectors: one load each, where V8 would
// rebuild every v128 constant from immediates inside the loop (three instructions).
const VC: usize = memory.data<f32>([
  -87.0, -87.0, -87.0, -87.0, // EXP_LO: keeps 2^n a normal float, n >= -126
  88.0, 88.0, 88.0, 88.0, // EXP_HI: n <= 127
  1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341, // LOG2E: log2(e)
  -0.693359375, -0.693359375, -0.693359375, -0.693359375, // NLN2_HI: -ln(2), high part: n*LN2_HI is exact
  2.12194440e-4, 2.12194440e-4, 2.12194440e-4, 2.12194440e-4, // NLN2_LO: -ln(2), low part
  1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, // EP0: expf P0..P5
  1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, // EP1
  8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, // EP2
  4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, // EP3
  1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, // EP4
  5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, // EP5
  1.0, 1.0, 1.0, 1.0, // ONE
  12582912.0, 12582912.0, 12582912.0, 12582912.0, // MAGIC: 1.5 * 2^23: rounds to an integer in the low mantissa bits
  2.0, 2.0, 2.0, 2.0, // TWO
  -0.0, -0.0, -0.0, -0.0, // SIGN: sign mask
], 16);
// 0x4b400000 (bits of 1.5*2^23) - 127 (exponent bias), per lane
const VI: usize = memory.data<i32>([0x4b3fff81, 0x4b3fff81, 0x4b3fff81, 0x4b3fff81], 16);

// byte offsets of the constants in VC
const EXP_LO = 0;
const EXP_HI = 16;
const LOG2E = 32;
const NLN2_HI = 48;
const NLN2_LO = 64;
const EP0 = 80;
const EP1 = 96;
const EP2 = 112;
const EP3 = 128;
const EP4 = 144;
const EP5 = 160;
const ONE = 176;
const MAGIC = 192;
const TWO = 208;
const SIGN = 224;

// e^x = 2^n e^r, n = round(x / ln 2), |r| <= ln(2)/2, in three steps that exp4 and
// tanh4 share. Written for instruction count and latency: in the cells every
// activation sits on a dependency chain (c_t waits for f and i, h_t for tanh(c_t)).

/**
 * x log2(e) + 1.5*2^23 (x clamped to [-87, 88]): the integer n in its low mantissa bits,
 * rounded by the add (one multiply-add instead of floor and an add).
 */
// @ts-ignore: decorator
@inline
function exp_n(x: v128): v128 {
  return fma4(x, v128.load(VC, LOG2E), v128.load(VC, MAGIC));
}

/** e^r - 1 of r = x - n ln2 (t from exp_n): r + r^2 P(r), P by Estrin's scheme (three dependent multiply-adds, not Horner's six). */
// @ts-ignore: decorator
@inline
function exp_rm1(x: v128, t: v128): v128 {
  const fn = f32x4.sub(t, v128.load(VC, MAGIC));
  // r = x - n ln2 in two parts (n*LN2_HI is exact, so unfused it loses nothing either)
  let r = fma4(fn, v128.load(VC, NLN2_HI), x);
  r = fma4(fn, v128.load(VC, NLN2_LO), r);
  const r2 = f32x4.mul(r, r);
  // P0 r^5 + ... + P5 = ((P0 r + P1) r^2 + (P2 r + P3)) r^2 + (P4 r + P5)
  const a = fma4(v128.load(VC, EP0), r, v128.load(VC, EP1));
  const b = fma4(v128.load(VC, EP2), r, v128.load(VC, EP3));
  const c = fma4(v128.load(VC, EP4), r, v128.load(VC, EP5));
  return fma4(fma4(fma4(a, r2, b), r2, c), r2, r);
}

/** 2^n (t from exp_n), built in the exponent field from t's bits: cheaper than V8's saturating float-to-int conversion. */
// @ts-ignore: decorator
@inline
function exp_pow2(t: v128): v128 {
  return i32x4.shl(i32x4.sub(t, v128.load(VI)), 23);
}

/** e^x per lane (relative error ~1e-7 on [-87, 88]; clamped outside). */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  // pmax/pmin are single instructions (min/max are not); x first keeps NaN
  x = f32x4.pmin(f32x4.pmax(x, v128.load(VC, EXP_LO)), v128.load(VC, EXP_HI));
  const t = exp_n(x);
  return f32x4.mul(f32x4.add(exp_rm1(x, t), v128.load(VC, ONE)), exp_pow2(t));
}

/**
 * tanh per lane (within 4 ulp): tanh|x| = m / (m + 2) with m = e^{2|x|} - 1, and
 * e^{2|x|} - 1 = 2^n (e^r - 1) + (2^n - 1), accurate near 0 as well (no cancellation), so
 * one formula covers every x; 2|x| is clamped at 88, where the quotient is 1.
 */
// @ts-ignore: decorator
@inline
export function tanh4(x: v128): v128 {
  const sign = v128.load(VC, SIGN);
  const ax = v128.andnot(x, sign);
  // pmin with the value first keeps NaN
  const x2 = f32x4.pmin(f32x4.add(ax, ax), v128.load(VC, EXP_HI));
  const t = exp_n(x2);
  const p2 = exp_pow2(t);
  const m = fma4(p2, exp_rm1(x2, t), f32x4.sub(p2, v128.load(VC, ONE)));
  const th = f32x4.div(m, f32x4.add(m, v128.load(VC, TWO)));
  // copy the sign of x
  return v128.or(th, v128.and(x, sign));
}

/** 1 / (1 + e^-x) per lane. */
// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const one = v128.load(VC, ONE);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}
