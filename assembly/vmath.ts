// Activations on four lanes at once, accurate to a few float32 ulps (results are
// compared with PyTorch in float64 at ~1e-5, so no fast approximations).
// The polynomials are Cephes' expf and tanhf (S. Moshier), evaluated per lane.
// They are the only activation code: tails of fewer than four values run through them
// too, with partial lanes (the tail rule, simd.ts), never through a scalar Mathf copy.

import { fma4 } from "./simd";

// The constants live in memory as whole vectors: one load each, where V8 would
// rebuild every v128 constant from immediates inside the loop (three instructions).
const VC: usize = memory.data<f32>([
  -87.0, -87.0, -87.0, -87.0, // EXP_LO: keeps 2^n a normal float, n >= -125
  88.0, 88.0, 88.0, 88.0, // EXP_HI: n <= 127
  1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341, // log2(e)
  0.5, 0.5, 0.5, 0.5,
  0.693359375, 0.693359375, 0.693359375, 0.693359375, // ln(2) high part: n*LN2_HI is exact
  -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, // ln(2) low part
  1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, // expf P0..P5
  1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3,
  8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3,
  4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2,
  1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1,
  5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1,
  1.0, 1.0, 1.0, 1.0,
  12582912.0, 12582912.0, 12582912.0, 12582912.0, // 1.5 * 2^23: rounds to an integer in the low mantissa bits
  2.0, 2.0, 2.0, 2.0,
  -5.70498872745e-3, -5.70498872745e-3, -5.70498872745e-3, -5.70498872745e-3, // tanhf P0..P4
  2.06390887954e-2, 2.06390887954e-2, 2.06390887954e-2, 2.06390887954e-2,
  -5.37397155531e-2, -5.37397155531e-2, -5.37397155531e-2, -5.37397155531e-2,
  1.33314422036e-1, 1.33314422036e-1, 1.33314422036e-1, 1.33314422036e-1,
  -3.33332819422e-1, -3.33332819422e-1, -3.33332819422e-1, -3.33332819422e-1,
  0.625, 0.625, 0.625, 0.625, // tanh: polynomial below, exp formula above
  -0.0, -0.0, -0.0, -0.0, // sign mask
], 16);
// 0x4b400000 (bits of 1.5*2^23) - 127 (exponent bias), per lane
const VI: usize = memory.data<i32>([0x4b3fff81, 0x4b3fff81, 0x4b3fff81, 0x4b3fff81], 16);

const EXP_LO = 0;
const EXP_HI = 16;
const LOG2E = 32;
const HALF = 48;
const LN2_HI = 64;
const LN2_LO = 80;
const EP0 = 96;
const EP1 = 112;
const EP2 = 128;
const EP3 = 144;
const EP4 = 160;
const EP5 = 176;
const ONE = 192;
const MAGIC = 208;
const TWO = 224;
const TP0 = 240;
const TP1 = 256;
const TP2 = 272;
const TP3 = 288;
const TP4 = 304;
const T_SPLIT = 320;
const SIGN = 336;

/** e^x per lane (relative error ~1e-7 on [-87, 88]; clamped outside). */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  // pmax/pmin are single instructions (min/max are not); x first keeps NaN
  x = f32x4.pmin(f32x4.pmax(x, v128.load(VC, EXP_LO)), v128.load(VC, EXP_HI));
  // e^x = 2^n * e^r, n = round(x / ln 2), |r| <= ln(2)/2
  const fn = f32x4.floor(fma4(x, v128.load(VC, LOG2E), v128.load(VC, HALF)));
  let r = f32x4.sub(x, f32x4.mul(fn, v128.load(VC, LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(fn, v128.load(VC, LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = v128.load(VC, EP0);
  p = fma4(p, r, v128.load(VC, EP1));
  p = fma4(p, r, v128.load(VC, EP2));
  p = fma4(p, r, v128.load(VC, EP3));
  p = fma4(p, r, v128.load(VC, EP4));
  p = fma4(p, r, v128.load(VC, EP5));
  p = f32x4.add(fma4(p, r2, r), v128.load(VC, ONE));
  // 2^n built in the exponent field: fn + 1.5*2^23 holds n in its low mantissa
  // bits, cheaper than V8's saturating float-to-int conversion
  const nb = f32x4.add(fn, v128.load(VC, MAGIC));
  const pow2n = i32x4.shl(i32x4.sub(nb, v128.load(VI)), 23);
  return f32x4.mul(p, pow2n);
}

/** tanh per lane (relative error ~2e-7). */
// @ts-ignore: decorator
@inline
export function tanh4(x: v128): v128 {
  const sign = v128.load(VC, SIGN);
  const ax = v128.andnot(x, sign);
  const one = v128.load(VC, ONE);
  // |x| >= 0.625: 1 - 2/(e^{2|x|} + 1), no cancellation there; saturates to 1
  const e = exp4(f32x4.add(ax, ax));
  const big = f32x4.sub(one, f32x4.div(v128.load(VC, TWO), f32x4.add(e, one)));
  // |x| < 0.625: odd polynomial |x| + |x|^3 P(x^2)
  const z = f32x4.mul(ax, ax);
  let p = v128.load(VC, TP0);
  p = fma4(p, z, v128.load(VC, TP1));
  p = fma4(p, z, v128.load(VC, TP2));
  p = fma4(p, z, v128.load(VC, TP3));
  p = fma4(p, z, v128.load(VC, TP4));
  const small = fma4(f32x4.mul(p, z), ax, ax);
  const t = v128.bitselect(small, big, f32x4.lt(ax, v128.load(VC, T_SPLIT)));
  // copy the sign of x
  return v128.or(t, v128.and(x, sign));
}

/** 1 / (1 + e^-x) per lane. */
// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const one = v128.load(VC, ONE);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}
