// Losses: each returns scale * sum of per-element (or per-row) losses, summed in
// f64, and writes dL/dy scaled the same way. `scale` carries the reduction
// (1/n for 'mean', 1 for 'sum') so the kernels need no mode flags.

import { load_lanes, store_lanes, lane_mask, lanes_at, sq_acc_f64, hsum2 } from "./simd";
import { exp4 } from "./vmath";

/** L = scale * sum (y - t)^2;  dy = 2 * scale * (y - t). */
export function mse_loss(dy: usize, y: usize, target: usize, n: i32, scale: f64): f64 {
  const s2 = f32x4.splat(<f32>(2 * scale));
  let acc = f64x2.splat(0);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const lanes = lanes_at(n, i);
    // the tail rule (simd.ts): zero lanes past the tail add (0 - 0)^2 = 0
    const d = f32x4.sub(load_lanes(y + o, lanes), load_lanes(target + o, lanes));
    acc = sq_acc_f64(acc, d);
    store_lanes(dy + o, f32x4.mul(s2, d), lanes);
  }
  return scale * hsum2(acc);
}

/** Largest of a row of `classes` floats (subtracted before exp so that exp never overflows). */
@inline function row_max(x: usize, classes: i32): f32 {
  const ninf = f32x4.splat(-Infinity);
  let j = 0;
  let mv = ninf;
  for (; j + 4 <= classes; j += 4) mv = f32x4.max(mv, v128.load(x + (<usize>j << 2)));
  if (j < classes) {
    // the tail rule (simd.ts); its zero lanes become -Infinity, which no maximum picks
    const n = classes - j;
    mv = f32x4.max(mv, v128.bitselect(load_lanes(x + (<usize>j << 2), n), ninf, lane_mask(n)));
  }
  return max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
    max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
}

/** e = exp(x - mx) on `lanes` classes at byte offset o, stored into d; returns e, zero past the tail. */
@inline function exp_lanes(d: usize, x: usize, o: usize, lanes: i32, m4: v128): v128 {
  const e = exp4(f32x4.sub(load_lanes(x + o, lanes), m4));
  store_lanes(d + o, e, lanes);
  // lanes past the tail hold exp(0 - mx) and are never stored: zeroed before the sum
  return lanes == 4 ? e : v128.and(e, lane_mask(lanes));
}

/** acc + the four f32 lanes of e, in f64x2 (lanes 0,1 and 2,3 folded together). */
@inline function add_f64(acc: v128, e: v128): v128 {
  return f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(e), f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1))));
}

/** e = exp(x - mx) into d; returns sum(e) in f64. */
@inline function row_exp_sum(d: usize, x: usize, classes: i32, mx: f32): f64 {
  const m4 = f32x4.splat(mx);
  let sv = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= classes; j += 4) sv = add_f64(sv, exp_lanes(d, x, <usize>j << 2, 4, m4));
  if (j < classes) sv = add_f64(sv, exp_lanes(d, x, <usize>j << 2, classes - j, m4));
  return hsum2(sv);
}

/**
 * Softmax cross-entropy over rows of `classes` logits, target = i32 class ids.
 *   logp = (y - max) - log(sum exp(y - max));  L = scale * sum_rows -logp[target]
 *   dy = scale * (softmax(y) - onehot(target))
 * A row whose target is outside [0, classes) adds no loss and gets dy = 0; `scale`
 * should then count only the other rows. The model writes -1 for padded steps and for
 * targets equal to loss.ignoreIndex (which may be a class id), so both take this one rule.
 */
export function ce_loss(dy: usize, y: usize, target: usize, rows: i32, classes: i32, scale: f64): f64 {
  return ce_loss_ext(dy, y, target, rows, classes, scale, 0, 0, 0);
}

/**
 * ce_loss with PyTorch's class weights and label smoothing (eps), as F.cross_entropy:
 *   L_r = (1 - eps) w[t] (-logp[t]) + (eps / C) sum_c w[c] (-logp[c])
 *   dy_j = scale * ((a p_j - (eps / C) w[j]) - (1 - eps) w[t] [j = t]),  a = (1 - eps) w[t] + (eps / C) sum_c w[c]
 * weight = 0: every class weighs 1. Rows with a target outside [0, classes) add nothing
 * (dy = 0); `scale` carries the reduction (1 / sum of the counted rows' w[t] for 'mean').
 * row_loss != 0: each row's L_r (unscaled; 0 for ignored rows) is stored there as f32.
 */
export function ce_loss_ext(dy: usize, y: usize, target: usize, rows: i32, classes: i32, scale: f64,
  weight: usize, smoothing: f64, row_loss: usize): f64 {
  const rb = <usize>classes << 2;
  const ec = smoothing / <f64>classes;
  const c4 = f32x4.splat(<f32>(scale * ec));
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const x = y + <usize>r * rb;
    const d = dy + <usize>r * rb;
    const t = load<i32>(target + (<usize>r << 2));
    if (t < 0 || t >= classes) {
      memory.fill(d, 0, rb);
      if (row_loss) store<f32>(row_loss + (<usize>r << 2), 0);
      continue;
    }
    const mx = row_max(x, classes);
    const sum = row_exp_sum(d, x, classes, mx);
    const lse = Math.log(sum);
    const to = <usize>t << 2;
    const wt: f64 = weight ? <f64>load<f32>(weight + to) : 1.0;
    // smoothing: sum_c w_c (lse - (x_c - mx)) = W lse - sum_c w_c (x_c - mx)
    let sW: f64 = 0, sWx: f64 = 0;
    if (smoothing != 0) {
      for (let j = 0; j < classes; j++) {
        const o = <usize>j << 2;
        const wc: f64 = weight ? <f64>load<f32>(weight + o) : 1.0;
        sW += wc;
        sWx += wc * <f64>(load<f32>(x + o) - mx);
      }
    }
    const L = (1 - smoothing) * wt * (lse - <f64>(load<f32>(x + to) - mx)) + ec * (sW * lse - sWx);
    loss += L;
    if (row_loss) store<f32>(row_loss + (<usize>r << 2), <f32>L);
    const a = (1 - smoothing) * wt + ec * sW;
    // target entry in f64 first (p_t a - (1 - eps) w_t cancels when p_t is near 1)
    const dt = <f32>(scale * (a * <f64>load<f32>(d + to) / sum - (1 - smoothing) * wt - ec * wt));
    const k4 = f32x4.splat(<f32>(scale * a / sum));
    for (let j = 0; j < classes; j += 4) {
      const o = <usize>j << 2;
      const lanes = lanes_at(classes, j);
      const w4 = weight ? load_lanes(weight + o, lanes) : f32x4.splat(1);
      store_lanes(d + o, f32x4.sub(f32x4.mul(load_lanes(d + o, lanes), k4), f32x4.mul(c4, w4)), lanes);
    }
    store<f32>(d + to, dt);
  }
  return scale * loss;
}
