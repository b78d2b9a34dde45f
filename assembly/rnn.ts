// Elman RNN cell, one timestep over count = B*H values:
//   h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  act = tanh | relu
// gx and gh already hold the two projections including their biases.

import { tanh4, tanh1 } from "./vmath";

/** h[i] = act(gx[i] + gh[i]) for i < count. */
export function rnn_forward_step(h: usize, gx: usize, gh: usize, count: i32, relu: i32): void {
  let i = 0;
  if (relu) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      v128.store(h + o, f32x4.max(f32x4.add(v128.load(gx + o), v128.load(gh + o)), zero));
    }
    for (; i < count; i++) {
      const o = <usize>i << 2;
      store<f32>(h + o, max<f32>(load<f32>(gx + o) + load<f32>(gh + o), 0));
    }
  } else {
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      v128.store(h + o, tanh4(f32x4.add(v128.load(gx + o), v128.load(gh + o))));
    }
    for (; i < count; i++) {
      const o = <usize>i << 2;
      store<f32>(h + o, tanh1(load<f32>(gx + o) + load<f32>(gh + o)));
    }
  }
}

/** dpre[i] = dh[i] * act'(pre), written in terms of h = act(pre): 1 - h^2 | (h > 0). */
export function rnn_backward_step(dpre: usize, dh: usize, h: usize, count: i32, relu: i32): void {
  let i = 0;
  if (relu) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      v128.store(dpre + o, v128.and(v128.load(dh + o), f32x4.gt(v128.load(h + o), zero)));
    }
    for (; i < count; i++) {
      const o = <usize>i << 2;
      store<f32>(dpre + o, load<f32>(h + o) > 0 ? load<f32>(dh + o) : 0);
    }
  } else {
    const one = f32x4.splat(1);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      const hv = v128.load(h + o);
      v128.store(dpre + o, f32x4.mul(v128.load(dh + o), f32x4.sub(one, f32x4.mul(hv, hv))));
    }
    for (; i < count; i++) {
      const o = <usize>i << 2;
      const hv = load<f32>(h + o);
      store<f32>(dpre + o, load<f32>(dh + o) * (<f32>1 - hv * hv));
    }
  }
}
