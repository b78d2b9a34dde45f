// LSTM cell, one timestep (PyTorch gate order i, f, g, o):
//   i = sigmoid(pre_i)  f = sigmoid(pre_f)  g = tanh(pre_g)  o = sigmoid(pre_o)
//   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
// A gate row is [4H]: gates[b, k*H + j] is gate k of hidden unit j.
// Forward stores the activated gates and c_t: all that backward needs.

import { sigmoid4, tanh4, sigmoid1, tanh1 } from "./vmath";

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
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const o = <usize>j << 2;
      const i4 = sigmoid4(f32x4.add(v128.load(xg + o), v128.load(hg + o)));
      const f4 = sigmoid4(f32x4.add(v128.load(xg + H4 + o), v128.load(hg + H4 + o)));
      const g4 = tanh4(f32x4.add(v128.load(xg + 2 * H4 + o), v128.load(hg + 2 * H4 + o)));
      const o4 = sigmoid4(f32x4.add(v128.load(xg + 3 * H4 + o), v128.load(hg + 3 * H4 + o)));
      v128.store(ag + o, i4);
      v128.store(ag + H4 + o, f4);
      v128.store(ag + 2 * H4 + o, g4);
      v128.store(ag + 3 * H4 + o, o4);
      const c4 = f32x4.add(f32x4.mul(f4, v128.load(cPrev + rh + o)), f32x4.mul(i4, g4));
      v128.store(c + rh + o, c4);
      v128.store(h + rh + o, f32x4.mul(o4, tanh4(c4)));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const i1 = sigmoid1(load<f32>(xg + o) + load<f32>(hg + o));
      const f1 = sigmoid1(load<f32>(xg + H4 + o) + load<f32>(hg + H4 + o));
      const g1 = tanh1(load<f32>(xg + 2 * H4 + o) + load<f32>(hg + 2 * H4 + o));
      const o1 = sigmoid1(load<f32>(xg + 3 * H4 + o) + load<f32>(hg + 3 * H4 + o));
      store<f32>(ag + o, i1);
      store<f32>(ag + H4 + o, f1);
      store<f32>(ag + 2 * H4 + o, g1);
      store<f32>(ag + 3 * H4 + o, o1);
      const c1 = f1 * load<f32>(cPrev + rh + o) + i1 * g1;
      store<f32>(c + rh + o, c1);
      store<f32>(h + rh + o, o1 * tanh1(c1));
    }
  }
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
  const one = f32x4.splat(1);
  for (let b = 0; b < B; b++) {
    const rg = <usize>b * 4 * H4;
    const rh = <usize>b * H4;
    const ag = gates + rg, dg = dgates + rg;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const o = <usize>j << 2;
      const i4 = v128.load(ag + o);
      const f4 = v128.load(ag + H4 + o);
      const g4 = v128.load(ag + 2 * H4 + o);
      const o4 = v128.load(ag + 3 * H4 + o);
      const dh4 = v128.load(dh + rh + o);
      const tc = tanh4(v128.load(c + rh + o));
      const dct = f32x4.add(
        v128.load(dc + rh + o),
        f32x4.mul(f32x4.mul(dh4, o4), f32x4.sub(one, f32x4.mul(tc, tc))),
      );
      const di = f32x4.mul(dct, g4);
      const df = f32x4.mul(dct, v128.load(cPrev + rh + o));
      const dgg = f32x4.mul(dct, i4);
      const dout = f32x4.mul(dh4, tc);
      v128.store(dg + o, f32x4.mul(f32x4.mul(di, i4), f32x4.sub(one, i4)));
      v128.store(dg + H4 + o, f32x4.mul(f32x4.mul(df, f4), f32x4.sub(one, f4)));
      v128.store(dg + 2 * H4 + o, f32x4.mul(dgg, f32x4.sub(one, f32x4.mul(g4, g4))));
      v128.store(dg + 3 * H4 + o, f32x4.mul(f32x4.mul(dout, o4), f32x4.sub(one, o4)));
      v128.store(dcPrev + rh + o, f32x4.mul(dct, f4));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const i1 = load<f32>(ag + o);
      const f1 = load<f32>(ag + H4 + o);
      const g1 = load<f32>(ag + 2 * H4 + o);
      const o1 = load<f32>(ag + 3 * H4 + o);
      const dh1 = load<f32>(dh + rh + o);
      const tc = tanh1(load<f32>(c + rh + o));
      const dct = load<f32>(dc + rh + o) + dh1 * o1 * (<f32>1 - tc * tc);
      const di = dct * g1;
      const df = dct * load<f32>(cPrev + rh + o);
      const dgg = dct * i1;
      const dout = dh1 * tc;
      store<f32>(dg + o, di * i1 * (<f32>1 - i1));
      store<f32>(dg + H4 + o, df * f1 * (<f32>1 - f1));
      store<f32>(dg + 2 * H4 + o, dgg * (<f32>1 - g1 * g1));
      store<f32>(dg + 3 * H4 + o, dout * o1 * (<f32>1 - o1));
      store<f32>(dcPrev + rh + o, dct * f1);
    }
  }
}
