// Optimizer steps over flat regions, torch.optim's single-tensor formulas in the
// same operation order (`a.add_(b, alpha=s)` is a + s*b, `addcmul_(x, y, value=s)`
// is a + (s*x)*y, `addcdiv_(x, y, value=s)` is a + (s*x)/y). Hyperparameters
// arrive as f64; combinations like 1 - beta are formed in f64 (Python floats)
// and then rounded to f32, as PyTorch does. Scalars that depend on the step
// count (bias corrections, decayed learning rates) are computed by the caller.
// Tails (< 4 elements) follow the tail rule (simd.ts): each formula is written once, as
// an inline <name>_lanes over a lane count; the loop over full vectors passes 4 (plain
// loads and stores after inlining: a lane count computed per vector cost a test per load,
// ~9 cycles per vector, a tenth of a W4 training step), the tail passes n % 4.

import { load_lanes, store_lanes } from "./simd";

/** torch.lerp(a, b, w) = a + w*(b - a), with PyTorch's switch to b - (b - a)(1 - w) for |w| >= 0.5. */
// @ts-ignore: decorator
@inline
function lerp4(a: v128, b: v128, w: f32): v128 {
  const diff = f32x4.sub(b, a);
  if (Mathf.abs(w) < 0.5) return f32x4.add(a, f32x4.mul(f32x4.splat(w), diff));
  return f32x4.sub(b, f32x4.mul(diff, f32x4.splat(<f32>1 - w)));
}

/** One vector (L = 4) or the tail (L < 4) of sgd_step. */
// @ts-ignore: decorator
@inline
function sgd_step_lanes(p: usize, g: usize, buf: usize, wd: v128, mom: v128, damp: v128, nlr: v128, useWd: bool, useMom: bool, nesterov: i32, firstStep: i32, L: i32): void {
  const pv = load_lanes(p, L);
  let d = load_lanes(g, L);
  if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
  if (useMom) {
    let b = d;
    if (!firstStep) b = f32x4.add(f32x4.mul(load_lanes(buf, L), mom), f32x4.mul(damp, d));
    store_lanes(buf, b, L);
    d = nesterov ? f32x4.add(d, f32x4.mul(mom, b)) : b;
  }
  store_lanes(p, f32x4.add(pv, f32x4.mul(nlr, d)), L);
}

/**
 * SGD with momentum / dampening / Nesterov / weight decay:
 *   d = g + wd*p
 *   buf = first ? d : momentum*buf + (1 - dampening)*d;  d = nesterov ? d + momentum*buf : buf
 *   p -= lr * d
 */
export function sgd_step(
  p: usize, g: usize, buf: usize, n: i32,
  lr: f64, momentum: f64, dampening: f64, nesterov: i32, weightDecay: f64, firstStep: i32,
): void {
  const wd = f32x4.splat(<f32>weightDecay);
  const mom = f32x4.splat(<f32>momentum);
  const damp = f32x4.splat(<f32>(1 - dampening));
  const nlr = f32x4.splat(<f32>-lr);
  const useWd = weightDecay != 0, useMom = momentum != 0;
  let i = 0;
  // full vectors with L = 4 folded in (plain loads and stores, no lane tests), then the tail
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    sgd_step_lanes(p + o, g + o, buf + o, wd, mom, damp, nlr, useWd, useMom, nesterov, firstStep, 4);
  }
  if (i < n) {
    const o = <usize>i << 2;
    sgd_step_lanes(p + o, g + o, buf + o, wd, mom, damp, nlr, useWd, useMom, nesterov, firstStep, n - i);
  }
}

/** One vector (L = 4) or the tail (L < 4) of adam_step. */
// @ts-ignore: decorator
@inline
function adam_step_lanes(p: usize, g: usize, m: usize, v: usize, vmax: usize, w1: f32, b2: v128, w2: v128, wd: v128, decay: v128, bc2: v128, ep: v128, nstep: v128, useWd: bool, decoupled: i32, amsgrad: i32, L: i32): void {
  let pv = load_lanes(p, L);
  let d = load_lanes(g, L);
  if (useWd) {
    if (decoupled) pv = f32x4.mul(pv, decay);
    else d = f32x4.add(d, f32x4.mul(wd, pv));
  }
  const mv = lerp4(load_lanes(m, L), d, w1);
  store_lanes(m, mv, L);
  let vv = f32x4.add(f32x4.mul(load_lanes(v, L), b2), f32x4.mul(f32x4.mul(w2, d), d));
  store_lanes(v, vv, L);
  if (amsgrad) {
    vv = f32x4.max(load_lanes(vmax, L), vv);
    store_lanes(vmax, vv, L);
  }
  const den = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2), ep);
  store_lanes(p, f32x4.add(pv, f32x4.div(f32x4.mul(nstep, mv), den)), L);
}

/**
 * Adam / AdamW (decoupled) with optional AMSGrad. stepSize = lr / (1 - beta1^t),
 * bc2Sqrt = sqrt(1 - beta2^t).
 *   m = lerp(m, d, 1 - beta1);  v = beta2*v + (1 - beta2)*d*d
 *   den = sqrt(amsgrad ? vmax = max(vmax, v) : v) / bc2Sqrt + eps;  p -= stepSize * m / den
 */
export function adam_step(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64, decoupled: i32, amsgrad: i32,
  stepSize: f64, bc2Sqrt: f64,
): void {
  const w1 = <f32>(1 - beta1);
  const b2 = f32x4.splat(<f32>beta2);
  const w2 = f32x4.splat(<f32>(1 - beta2));
  const wd = f32x4.splat(<f32>weightDecay);
  const decay = f32x4.splat(<f32>(1 - lr * weightDecay));
  const bc2 = f32x4.splat(<f32>bc2Sqrt);
  const ep = f32x4.splat(<f32>eps);
  const nstep = f32x4.splat(<f32>-stepSize);
  const useWd = weightDecay != 0;
  let i = 0;
  // full vectors with L = 4 folded in (plain loads and stores, no lane tests), then the tail
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    adam_step_lanes(p + o, g + o, m + o, v + o, vmax + o, w1, b2, w2, wd, decay, bc2, ep, nstep, useWd, decoupled, amsgrad, 4);
  }
  if (i < n) {
    const o = <usize>i << 2;
    adam_step_lanes(p + o, g + o, m + o, v + o, vmax + o, w1, b2, w2, wd, decay, bc2, ep, nstep, useWd, decoupled, amsgrad, n - i);
  }
}

/** One vector (L = 4) or the tail (L < 4) of rmsprop_step. */
// @ts-ignore: decorator
@inline
function rmsprop_step_lanes(p: usize, g: usize, sq: usize, gavg: usize, buf: usize, a: v128, w: f32, wv: v128, wd: v128, ep: v128, mom: v128, nlr: v128, useWd: bool, useMom: bool, centered: i32, L: i32): void {
  const pv = load_lanes(p, L);
  let d = load_lanes(g, L);
  if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
  const s = f32x4.add(f32x4.mul(load_lanes(sq, L), a), f32x4.mul(f32x4.mul(wv, d), d));
  store_lanes(sq, s, L);
  let avg: v128;
  if (centered) {
    const ga = lerp4(load_lanes(gavg, L), d, w);
    store_lanes(gavg, ga, L);
    avg = f32x4.sqrt(f32x4.sub(s, f32x4.mul(ga, ga)));
  } else {
    avg = f32x4.sqrt(s);
  }
  avg = f32x4.add(avg, ep);
  if (useMom) {
    const b = f32x4.add(f32x4.mul(load_lanes(buf, L), mom), f32x4.div(d, avg));
    store_lanes(buf, b, L);
    store_lanes(p, f32x4.add(pv, f32x4.mul(nlr, b)), L);
  } else {
    store_lanes(p, f32x4.add(pv, f32x4.div(f32x4.mul(nlr, d), avg)), L);
  }
}

/**
 * RMSprop, optionally centered and with momentum:
 *   sq = alpha*sq + (1 - alpha)*d*d;  gavg = lerp(gavg, d, 1 - alpha)
 *   avg = sqrt(centered ? sq - gavg^2 : sq) + eps
 *   momentum > 0 ? (buf = momentum*buf + d/avg; p -= lr*buf) : p -= lr*d/avg
 */
export function rmsprop_step(
  p: usize, g: usize, sq: usize, gavg: usize, buf: usize, n: i32,
  lr: f64, alpha: f64, eps: f64, weightDecay: f64, momentum: f64, centered: i32,
): void {
  const a = f32x4.splat(<f32>alpha);
  const w = <f32>(1 - alpha);
  const wv = f32x4.splat(w);
  const wd = f32x4.splat(<f32>weightDecay);
  const ep = f32x4.splat(<f32>eps);
  const mom = f32x4.splat(<f32>momentum);
  const nlr = f32x4.splat(<f32>-lr);
  const useWd = weightDecay != 0, useMom = momentum > 0;
  let i = 0;
  // full vectors with L = 4 folded in (plain loads and stores, no lane tests), then the tail
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    rmsprop_step_lanes(p + o, g + o, sq + o, gavg + o, buf + o, a, w, wv, wd, ep, mom, nlr, useWd, useMom, centered, 4);
  }
  if (i < n) {
    const o = <usize>i << 2;
    rmsprop_step_lanes(p + o, g + o, sq + o, gavg + o, buf + o, a, w, wv, wd, ep, mom, nlr, useWd, useMom, centered, n - i);
  }
}

/** One vector (L = 4) or the tail (L < 4) of adagrad_step. */
// @ts-ignore: decorator
@inline
function adagrad_step_lanes(p: usize, g: usize, sum: usize, wd: v128, ep: v128, nclr: v128, useWd: bool, L: i32): void {
  const pv = load_lanes(p, L);
  let d = load_lanes(g, L);
  if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
  const s = f32x4.add(load_lanes(sum, L), f32x4.mul(d, d));
  store_lanes(sum, s, L);
  const std = f32x4.add(f32x4.sqrt(s), ep);
  store_lanes(p, f32x4.add(pv, f32x4.div(f32x4.mul(nclr, d), std)), L);
}

/**
 * Adagrad; clr = lr / (1 + (t - 1) * lr_decay):
 *   sum += d*d;  p -= clr * d / (sqrt(sum) + eps)
 */
export function adagrad_step(p: usize, g: usize, sum: usize, n: i32, clr: f64, weightDecay: f64, eps: f64): void {
  const wd = f32x4.splat(<f32>weightDecay);
  const ep = f32x4.splat(<f32>eps);
  const nclr = f32x4.splat(<f32>-clr);
  const useWd = weightDecay != 0;
  let i = 0;
  // full vectors with L = 4 folded in (plain loads and stores, no lane tests), then the tail
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    adagrad_step_lanes(p + o, g + o, sum + o, wd, ep, nclr, useWd, 4);
  }
  if (i < n) {
    const o = <usize>i << 2;
    adagrad_step_lanes(p + o, g + o, sum + o, wd, ep, nclr, useWd, n - i);
  }
}
