// LSTM cell, one timestep (PyTorch gate order i, f, g, o):
//   i = sigmoid(pre_i)  f = sigmoid(pre_f)  g = tanh(pre_g)  o = sigmoid(pre_o)
//   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
// A gate row is [4H]: gates[b, k*H + j] is gate k of hidden unit j.
// Forward stores the activated gates and c_t: all that backward needs.
// Each formula is written once, over a lane count (the tail rule, simd.ts): the last
// H % 4 hidden units of a row get the same activation code as the others.

import { load_lanes, store_lanes } from "./simd";
import { sigmoid4, tanh4 } from "./vmath";

/**
 * The forward formula on `lanes` hidden units at byte offset o of one batch row: gate
 * pointers (xg, hg, ag) at the row's gate block 0, state pointers (h, c, cPrev) at the
 * row; gate block k is k*H4 bytes on.
 */
// @ts-ignore: decorator
@inline
function lstm_forward_lanes(
  h: usize, c: usize, ag: usize, xg: usize, hg: usize, cPrev: usize, H4: usize, o: usize, lanes: i32,
): void {
  const i4 = sigmoid4(f32x4.add(load_lanes(xg + o, lanes), load_lanes(hg + o, lanes)));
  const f4 = sigmoid4(f32x4.add(load_lanes(xg + H4 + o, lanes), load_lanes(hg + H4 + o, lanes)));
  const g4 = tanh4(f32x4.add(load_lanes(xg + 2 * H4 + o, lanes), load_lanes(hg + 2 * H4 + o, lanes)));
  const o4 = sigmoid4(f32x4.add(load_lanes(xg + 3 * H4 + o, lanes), load_lanes(hg + 3 * H4 + o, lanes)));
  store_lanes(ag + o, i4, lanes);
  store_lanes(ag + H4 + o, f4, lanes);
  store_lanes(ag + 2 * H4 + o, g4, lanes);
  store_lanes(ag + 3 * H4 + o, o4, lanes);
  const c4 = f32x4.add(f32x4.mul(f4, load_lanes(cPrev + o, lanes)), f32x4.mul(i4, g4));
  store_lanes(c + o, c4, lanes);
  store_lanes(h + o, f32x4.mul(o4, tanh4(c4)), lanes);
}

/**
 * pre = gx + gh; gates = activations [B, 4H]; c = f*cPrev + i*g; h = o*tanh(c).
 * h, c, cPrev: [B, H]; gates, gx, gh: [B, 4H].
 */
export function lstm_forward_step(
  h: usize, c: usize, gates: usize, gx: usize, gh: usize, cPrev: usize, B: i32, H: i32,
): void {
  const H4 = <usize>H << 2; // bytes of one gate block
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 4 * H4; // gate row offset
    const rh = <usize>b * H4; // state row offset
    const xg = gx + rg, hg = gh + rg, ag = gates + rg;
    const hr = h + rh, cr = c + rh, pr = cPrev + rh;
    let j = 0;
    for (; j + 4 <= H; j += 4) lstm_forward_lanes(hr, cr, ag, xg, hg, pr, H4, <usize>j << 2, 4);
    if (j < H) lstm_forward_lanes(hr, cr, ag, xg, hg, pr, H4, <usize>j << 2, H - j);
  }
}

/**
 * The backward formula on `lanes` hidden units at byte offset o of one batch row
 * (pointers as in lstm_forward_lanes). Every value of dc is loaded before dcPrev is stored.
 */
// @ts-ignore: decorator
@inline
function lstm_backward_lanes(
  dg: usize, dcPrev: usize, dh: usize, dc: usize, ag: usize, c: usize, cPrev: usize,
  H4: usize, o: usize, lanes: i32,
): void {
  const one = f32x4.splat(1);
  const i4 = load_lanes(ag + o, lanes);
  const f4 = load_lanes(ag + H4 + o, lanes);
  const g4 = load_lanes(ag + 2 * H4 + o, lanes);
  const o4 = load_lanes(ag + 3 * H4 + o, lanes);
  const dh4 = load_lanes(dh + o, lanes);
  const tc = tanh4(load_lanes(c + o, lanes));
  const dct = f32x4.add(
    load_lanes(dc + o, lanes),
    f32x4.mul(f32x4.mul(dh4, o4), f32x4.sub(one, f32x4.mul(tc, tc))),
  );
  const di = f32x4.mul(dct, g4);
  const df = f32x4.mul(dct, load_lanes(cPrev + o, lanes));
  const dgg = f32x4.mul(dct, i4);
  const dout = f32x4.mul(dh4, tc);
  store_lanes(dg + o, f32x4.mul(f32x4.mul(di, i4), f32x4.sub(one, i4)), lanes);
  store_lanes(dg + H4 + o, f32x4.mul(f32x4.mul(df, f4), f32x4.sub(one, f4)), lanes);
  store_lanes(dg + 2 * H4 + o, f32x4.mul(dgg, f32x4.sub(one, f32x4.mul(g4, g4))), lanes);
  store_lanes(dg + 3 * H4 + o, f32x4.mul(f32x4.mul(dout, o4), f32x4.sub(one, o4)), lanes);
  store_lanes(dcPrev + o, f32x4.mul(dct, f4), lanes);
}

/**
 * Gradients through one cell, given dh (total dL/dh_t) and dc (dL/dc_t from step t+1):
 *   tc = tanh(c_t); dc_tot = dc + dh*o*(1 - tc^2)
 *   d pre_i = dc_tot*g * i(1-i)   d pre_f = dc_tot*c_{t-1} * f(1-f)
 *   d pre_g = dc_tot*i * (1-g^2)  d pre_o = dh*tc * o(1-o)
 *   dcPrev = dc_tot * f
 * dcPrev may alias dc: each element is read before it is written.
 */
export function lstm_backward_step(
  dgates: usize, dcPrev: usize, dh: usize, dc: usize, gates: usize, c: usize, cPrev: usize,
  B: i32, H: i32,
): void {
  const H4 = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 4 * H4;
    const rh = <usize>b * H4;
    const ag = gates + rg, dg = dgates + rg;
    const dpr = dcPrev + rh, dhr = dh + rh, dcr = dc + rh, cr = c + rh, pr = cPrev + rh;
    let j = 0;
    for (; j + 4 <= H; j += 4) lstm_backward_lanes(dg, dpr, dhr, dcr, ag, cr, pr, H4, <usize>j << 2, 4);
    if (j < H) lstm_backward_lanes(dg, dpr, dhr, dcr, ag, cr, pr, H4, <usize>j << 2, H - j);
  }
}
