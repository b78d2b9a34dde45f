// Elman RNN cell, one timestep over count = B*H values:
//   h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  act = tanh | relu
// gx and gh already hold the two projections including their biases.
// Each formula is written once, over a lane count (the tail rule, simd.ts): the last
// count % 4 values get the same activation code as the others.

import { load_lanes, store_lanes } from "./simd";
import { tanh4 } from "./vmath";

/** h = act(gx + gh) on `lanes` values at byte offset o. */
// @ts-ignore: decorator
@inline
function rnn_forward_lanes(h: usize, gx: usize, gh: usize, o: usize, lanes: i32, relu: bool): void {
  const pre = f32x4.add(load_lanes(gx + o, lanes), load_lanes(gh + o, lanes));
  store_lanes(h + o, relu ? f32x4.max(pre, f32x4.splat(0)) : tanh4(pre), lanes);
}

/** dpre = dh * act'(pre) on `lanes` values at byte offset o, from h = act(pre). */
// @ts-ignore: decorator
@inline
function rnn_backward_lanes(dpre: usize, dh: usize, h: usize, o: usize, lanes: i32, relu: bool): void {
  const hv = load_lanes(h + o, lanes), d = load_lanes(dh + o, lanes);
  const v = relu
    ? v128.and(d, f32x4.gt(hv, f32x4.splat(0))) // h > 0 ? dh : 0
    : f32x4.mul(d, f32x4.sub(f32x4.splat(1), f32x4.mul(hv, hv))); // dh * (1 - h^2)
  store_lanes(dpre + o, v, lanes);
}

// @ts-ignore: decorator
@inline
function rnn_forward_all(h: usize, gx: usize, gh: usize, count: i32, relu: bool): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) rnn_forward_lanes(h, gx, gh, <usize>i << 2, 4, relu);
  if (i < count) rnn_forward_lanes(h, gx, gh, <usize>i << 2, count - i, relu);
}

// @ts-ignore: decorator
@inline
function rnn_backward_all(dpre: usize, dh: usize, h: usize, count: i32, relu: bool): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) rnn_backward_lanes(dpre, dh, h, <usize>i << 2, 4, relu);
  if (i < count) rnn_backward_lanes(dpre, dh, h, <usize>i << 2, count - i, relu);
}

/** h[i] = act(gx[i] + gh[i]) for i < count. */
export function rnn_forward_step(h: usize, gx: usize, gh: usize, count: i32, relu: i32): void {
  // relu as a constant in each instance: the activation is chosen once, outside the loop
  if (relu) rnn_forward_all(h, gx, gh, count, true);
  else rnn_forward_all(h, gx, gh, count, false);
}

/** dpre[i] = dh[i] * act'(pre), written in terms of h = act(pre): 1 - h^2 | (h > 0). */
export function rnn_backward_step(dpre: usize, dh: usize, h: usize, count: i32, relu: i32): void {
  if (relu) rnn_backward_all(dpre, dh, h, count, true);
  else rnn_backward_all(dpre, dh, h, count, false);
}
