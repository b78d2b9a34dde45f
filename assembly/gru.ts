// GRU cell, one timestep (PyTorch gate order r, z, n):
//   r = sigmoid(gx_r + gh_r)   z = sigmoid(gx_z + gh_z)
//   n = tanh(gx_n + r * gh_n)  h_t = (1 - z) * n + z * h_{t-1}
// gh_n (W_hn h + b_hn) sits inside the reset product, so forward keeps it (hn)
// for backward, next to the activated gates.

import { sigmoid4, tanh4, sigmoid1, tanh1 } from "./vmath";

/**
 * gates = [r, z, n] activated [B, 3H]; hn = gh_n [B, H]; h [B, H] (must not alias hPrev).
 */
export function gru_forward_step(
  h: usize, gates: usize, hn: usize, gx: usize, gh: usize, hPrev: usize, B: i32, H: i32,
): void {
  const H4 = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 3 * H4;
    const rh = <usize>b * H4;
    const xg = gx + rg, hg = gh + rg, ag = gates + rg;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const o = <usize>j << 2;
      const r4 = sigmoid4(f32x4.add(v128.load(xg + o), v128.load(hg + o)));
      const z4 = sigmoid4(f32x4.add(v128.load(xg + H4 + o), v128.load(hg + H4 + o)));
      const hn4 = v128.load(hg + 2 * H4 + o);
      const n4 = tanh4(f32x4.add(v128.load(xg + 2 * H4 + o), f32x4.mul(r4, hn4)));
      v128.store(ag + o, r4);
      v128.store(ag + H4 + o, z4);
      v128.store(ag + 2 * H4 + o, n4);
      v128.store(hn + rh + o, hn4);
      // PyTorch's form of (1-z)*n + z*h: n + z*(h - n)
      const hp = v128.load(hPrev + rh + o);
      v128.store(h + rh + o, f32x4.add(f32x4.mul(f32x4.sub(hp, n4), z4), n4));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const r1 = sigmoid1(load<f32>(xg + o) + load<f32>(hg + o));
      const z1 = sigmoid1(load<f32>(xg + H4 + o) + load<f32>(hg + H4 + o));
      const hn1 = load<f32>(hg + 2 * H4 + o);
      const n1 = tanh1(load<f32>(xg + 2 * H4 + o) + r1 * hn1);
      store<f32>(ag + o, r1);
      store<f32>(ag + H4 + o, z1);
      store<f32>(ag + 2 * H4 + o, n1);
      store<f32>(hn + rh + o, hn1);
      store<f32>(h + rh + o, (load<f32>(hPrev + rh + o) - n1) * z1 + n1);
    }
  }
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
  const one = f32x4.splat(1);
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 3 * H4;
    const rh = <usize>b * H4;
    const ag = gates + rg, dx = dgx + rg, dhh = dgh + rg;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const o = <usize>j << 2;
      const r4 = v128.load(ag + o);
      const z4 = v128.load(ag + H4 + o);
      const n4 = v128.load(ag + 2 * H4 + o);
      const dh4 = v128.load(dh + rh + o);
      const dn = f32x4.mul(dh4, f32x4.sub(one, z4));
      const dz = f32x4.mul(dh4, f32x4.sub(v128.load(hPrev + rh + o), n4));
      const dnp = f32x4.mul(dn, f32x4.sub(one, f32x4.mul(n4, n4)));
      const dr = f32x4.mul(dnp, v128.load(hn + rh + o));
      const drp = f32x4.mul(f32x4.mul(dr, r4), f32x4.sub(one, r4));
      const dzp = f32x4.mul(f32x4.mul(dz, z4), f32x4.sub(one, z4));
      v128.store(dx + o, drp);
      v128.store(dx + H4 + o, dzp);
      v128.store(dx + 2 * H4 + o, dnp);
      v128.store(dhh + o, drp);
      v128.store(dhh + H4 + o, dzp);
      v128.store(dhh + 2 * H4 + o, f32x4.mul(dnp, r4));
      v128.store(dhPrev + rh + o, f32x4.mul(dh4, z4));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const r1 = load<f32>(ag + o);
      const z1 = load<f32>(ag + H4 + o);
      const n1 = load<f32>(ag + 2 * H4 + o);
      const dh1 = load<f32>(dh + rh + o);
      const dn = dh1 * (<f32>1 - z1);
      const dz = dh1 * (load<f32>(hPrev + rh + o) - n1);
      const dnp = dn * (<f32>1 - n1 * n1);
      const dr = dnp * load<f32>(hn + rh + o);
      const drp = dr * r1 * (<f32>1 - r1);
      const dzp = dz * z1 * (<f32>1 - z1);
      store<f32>(dx + o, drp);
      store<f32>(dx + H4 + o, dzp);
      store<f32>(dx + 2 * H4 + o, dnp);
      store<f32>(dhh + o, drp);
      store<f32>(dhh + H4 + o, dzp);
      store<f32>(dhh + 2 * H4 + o, dnp * r1);
      store<f32>(dhPrev + rh + o, dh1 * z1);
    }
  }
}
