// Losses: each returns scale * sum of per-element (or per-row) losses, summed in
// f64, and writes dL/dy scaled the same way. `scale` carries the reduction
// (1/n for 'mean', 1 for 'sum') so the kernels need no mode flags.

import { load_lanes, store_lanes, sq_acc_f64, hsum2 } from "./simd";
import { exp4, exp1 } from "./vmath";

/** L = scale * sum (y - t)^2;  dy = 2 * scale * (y - t). */
export function mse_loss(dy: usize, y: usize, target: usize, n: i32, scale: f64): f64 {
  const s2 = f32x4.splat(<f32>(2 * scale));
  let acc = f64x2.splat(0);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const lanes = n - i < 4 ? n - i : 4;
    // zero lanes past the tail add (0 - 0)^2 = 0
    const d = f32x4.sub(load_lanes(y + o, lanes), load_lanes(target + o, lanes));
    acc = sq_acc_f64(acc, d);
    store_lanes(dy + o, f32x4.mul(s2, d), lanes);
  }
  return scale * hsum2(acc);
}

/**
 * Softmax cross-entropy over rows of `classes` logits, target = i32 class ids.
 *   logp = (y - max) - log(sum exp(y - max));  L = scale * sum_rows -logp[target]
 *   dy = scale * (softmax(y) - onehot(target))
 * A row whose target is outside [0, classes) (e.g. ignore_index = -100) adds no
 * loss and gets dy = 0; `scale` should then count only the other rows.
 */
export function ce_loss(dy: usize, y: usize, target: usize, rows: i32, classes: i32, scale: f64): f64 {
  const rb = <usize>classes << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const x = y + <usize>r * rb;
    const d = dy + <usize>r * rb;
    const t = load<i32>(target + (<usize>r << 2));
    if (t < 0 || t >= classes) {
      memory.fill(d, 0, rb);
      continue;
    }
    // row max (subtracted so that exp never overflows)
    let j = 0;
    let mv = f32x4.splat(-Infinity);
    for (; j + 4 <= classes; j += 4) mv = f32x4.max(mv, v128.load(x + (<usize>j << 2)));
    let mx = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
      max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < classes; j++) mx = max<f32>(mx, load<f32>(x + (<usize>j << 2)));
    // e = exp(y - max), parked in dy; their sum in f64
    const m4 = f32x4.splat(mx);
    let sv = f64x2.splat(0);
    j = 0;
    for (; j + 4 <= classes; j += 4) {
      const o = <usize>j << 2;
      const e = exp4(f32x4.sub(v128.load(x + o), m4));
      v128.store(d + o, e);
      sv = f64x2.add(sv, f64x2.add(f64x2.promote_low_f32x4(e),
        f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1))));
    }
    let sum = hsum2(sv);
    for (; j < classes; j++) {
      const o = <usize>j << 2;
      const e = exp1(load<f32>(x + o) - mx);
      store<f32>(d + o, e);
      sum += <f64>e;
    }
    const to = <usize>t << 2;
    loss += Math.log(sum) - <f64>(load<f32>(x + to) - mx);
    // target entry in f64 first: p_t - 1 cancels when p_t is near 1
    const dt = <f32>(scale * (<f64>load<f32>(d + to) / sum - 1.0));
    // dy = scale * e / sum
    const k = <f32>(scale / sum);
    const k4 = f32x4.splat(k);
    j = 0;
    for (; j + 4 <= classes; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.mul(v128.load(d + o), k4));
    }
    for (; j < classes; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) * k);
    }
    store<f32>(d + to, dt);
  }
  return scale * loss;
}
