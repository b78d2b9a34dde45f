// GRU cell, one timestep (PyTorch gate order r, z, n):
//   r = sigmoid(gx_r + gh_r)   z = sigmoid(gx_z + gh_z)
//   n = tanh(gx_n + r * gh_n)  h_t = (1 - z) * n + z * h_{t-1}
// gh_n (W_hn h + b_hn) sits inside the reset product, so forward keeps it (hn)
// for backward, next to the activated gates.
// Each formula is written once, over a lane count (the tail rule, simd.ts): the last
// H % 4 hidden units of a row get the same activation code as the others.

import { load_lanes, store_lanes } from "./simd";
import { sigmoid4, tanh4 } from "./vmath";

/**
 * The forward formula on `lanes` hidden units at byte offset o of one batch row: gate
 * pointers (xg, hg, ag) at the row's gate block 0, state pointers (h, hn, hPrev) at the
 * row, bn at b_hn (read when `biased`, a constant after inlining); gate block k is k*H4
 * bytes on.
 */
// @ts-ignore: decorator
@inline
function gru_forward_lanes(
  h: usize, ag: usize, hn: usize, xg: usize, hg: usize, hPrev: usize, bn: usize, biased: bool,
  H4: usize, o: usize, lanes: i32,
): void {
  const r4 = sigmoid4(f32x4.add(load_lanes(xg + o, lanes), load_lanes(hg + o, lanes)));
  const z4 = sigmoid4(f32x4.add(load_lanes(xg + H4 + o, lanes), load_lanes(hg + H4 + o, lanes)));
  let hn4 = load_lanes(hg + 2 * H4 + o, lanes);
  if (biased) hn4 = f32x4.add(hn4, load_lanes(bn + o, lanes));
  const n4 = tanh4(f32x4.add(load_lanes(xg + 2 * H4 + o, lanes), f32x4.mul(r4, hn4)));
  store_lanes(ag + o, r4, lanes);
  store_lanes(ag + H4 + o, z4, lanes);
  store_lanes(ag + 2 * H4 + o, n4, lanes);
  store_lanes(hn + o, hn4, lanes);
  // PyTorch's form of (1-z)*n + z*h: n + z*(h - n)
  const hp = load_lanes(hPrev + o, lanes);
  store_lanes(h + o, f32x4.add(f32x4.mul(f32x4.sub(hp, n4), z4), n4), lanes);
}

/** gru_forward_step's rows, with or without b_hn (`biased` folded after inlining). */
// @ts-ignore: decorator
@inline
function gru_forward_rows(
  h: usize, gates: usize, hn: usize, gx: usize, gh: usize, hPrev: usize, bn: usize, biased: bool, B: i32, H: i32,
): void {
  const H4 = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 3 * H4;
    const rh = <usize>b * H4;
    const xg = gx + rg, hg = gh + rg, ag = gates + rg;
    const hr = h + rh, nr = hn + rh, pr = hPrev + rh;
    let j = 0;
    for (; j + 4 <= H; j += 4) gru_forward_lanes(hr, ag, nr, xg, hg, pr, bn, biased, H4, <usize>j << 2, 4);
    if (j < H) gru_forward_lanes(hr, ag, nr, xg, hg, pr, bn, biased, H4, <usize>j << 2, H - j);
  }
}

/**
 * gates = [r, z, n] activated [B, 3H]; hn = gh_n + b_hn [B, H]; h [B, H] (must not alias
 * hPrev). gh = h_{t-1} W_hh^T without bias: b_hr and b_hz go into gx once per row (the
 * input projection), and b_hn [H] (bn; 0: the model has no bias) is added here, in
 * registers, so the per-step product's output is not passed over again to add it.
 */
export function gru_forward_step(
  h: usize, gates: usize, hn: usize, gx: usize, gh: usize, hPrev: usize, bn: usize, B: i32, H: i32,
): void {
  if (bn) gru_forward_rows(h, gates, hn, gx, gh, hPrev, bn, true, B, H);
  else gru_forward_rows(h, gates, hn, gx, gh, hPrev, 0, false, B, H);
}

/** The backward formula on `lanes` hidden units at byte offset o of one batch row (as gru_forward_lanes). */
// @ts-ignore: decorator
@inline
function gru_backward_lanes(
  dx: usize, dhh: usize, dhPrev: usize, dh: usize, ag: usize, hn: usize, hPrev: usize,
  H4: usize, o: usize, lanes: i32,
): void {
  const one = f32x4.splat(1);
  const r4 = load_lanes(ag + o, lanes);
  const z4 = load_lanes(ag + H4 + o, lanes);
  const n4 = load_lanes(ag + 2 * H4 + o, lanes);
  const dh4 = load_lanes(dh + o, lanes);
  const dn = f32x4.mul(dh4, f32x4.sub(one, z4));
  const dz = f32x4.mul(dh4, f32x4.sub(load_lanes(hPrev + o, lanes), n4));
  const dnp = f32x4.mul(dn, f32x4.sub(one, f32x4.mul(n4, n4)));
  const dr = f32x4.mul(dnp, load_lanes(hn + o, lanes));
  const drp = f32x4.mul(f32x4.mul(dr, r4), f32x4.sub(one, r4));
  const dzp = f32x4.mul(f32x4.mul(dz, z4), f32x4.sub(one, z4));
  store_lanes(dx + o, drp, lanes);
  store_lanes(dx + H4 + o, dzp, lanes);
  store_lanes(dx + 2 * H4 + o, dnp, lanes);
  store_lanes(dhh + o, drp, lanes);
  store_lanes(dhh + H4 + o, dzp, lanes);
  store_lanes(dhh + 2 * H4 + o, f32x4.mul(dnp, r4), lanes);
  store_lanes(dhPrev + o, f32x4.mul(dh4, z4), lanes);
}

/**
 *   dn = dh (1 - z)   dz = dh (h_{t-1} - n)   dnp = dn (1 - n^2)
 *   drp = dnp * hn * r (1 - r)                dzp = dz * z (1 - z)
 *   dgx = [drp, dzp, dnp]  dgh = [drp, dzp, dnp * r]  dhPrev = dh * z (overwritten)
 */
export function gru_backward_step(
  dgx: usize, dgh: usize, dhPrev: usize, dh: usize, gates: usize, hn: usize, hPrev: usize,
  B: i32, H: i32,
): void {
  const H4 = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 3 * H4;
    const rh = <usize>b * H4;
    const ag = gates + rg, dx = dgx + rg, dhh = dgh + rg;
    const dpr = dhPrev + rh, dhr = dh + rh, nr = hn + rh, pr = hPrev + rh;
    let j = 0;
    for (; j + 4 <= H; j += 4) gru_backward_lanes(dx, dhh, dpr, dhr, ag, nr, pr, H4, <usize>j << 2, 4);
    if (j < H) gru_backward_lanes(dx, dhh, dpr, dhr, ag, nr, pr, H4, <usize>j << 2, H - j);
  }
}
