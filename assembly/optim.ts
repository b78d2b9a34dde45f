// Optimizer steps over flat regions, torch.optim's single-tensor formulas in the
// same operation order (`a.add_(b, alpha=s)` is a + s*b, `addcmul_(x, y, value=s)`
// is a + (s*x)*y, `addcdiv_(x, y, value=s)` is a + (s*x)/y). Hyperparameters
// arrive as f64; combinations like 1 - beta are formed in f64 (Python floats)
// and then rounded to f32, as PyTorch does. Scalars that depend on the step
// count (bias corrections, decayed learning rates) are computed by the caller.
// Tails (< 4 elements) follow the tail rule (simd.ts): one loop over vectors, the
// last one with lanes_at(n, i) < 4, the same formula through lane loads and stores.

import { load_lanes, store_lanes, lanes_at } from "./simd";

/** torch.lerp(a, b, w) = a + w*(b - a), with PyTorch's switch to b - (b - a)(1 - w) for |w| >= 0.5. */
// @ts-ignore: decorator
@inline
function lerp4(a: v128, b: v128, w: f32): v128 {
  const diff = f32x4.sub(b, a);
  if (Mathf.abs(w) < 0.5) return f32x4.add(a, f32x4.mul(f32x4.splat(w), diff));
  return f32x4.sub(b, f32x4.mul(diff, f32x4.splat(<f32>1 - w)));
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
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const L = lanes_at(n, i);
    const pv = load_lanes(p + o, L);
    let d = load_lanes(g + o, L);
    if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
    if (useMom) {
      let b = d;
      if (!firstStep) b = f32x4.add(f32x4.mul(load_lanes(buf + o, L), mom), f32x4.mul(damp, d));
      store_lanes(buf + o, b, L);
      d = nesterov ? f32x4.add(d, f32x4.mul(mom, b)) : b;
    }
    store_lanes(p + o, f32x4.add(pv, f32x4.mul(nlr, d)), L);
  }
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
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const L = lanes_at(n, i);
    let pv = load_lanes(p + o, L);
    let d = load_lanes(g + o, L);
    if (useWd) {
      if (decoupled) pv = f32x4.mul(pv, decay);
      else d = f32x4.add(d, f32x4.mul(wd, pv));
    }
    const mv = lerp4(load_lanes(m + o, L), d, w1);
    store_lanes(m + o, mv, L);
    let vv = f32x4.add(f32x4.mul(load_lanes(v + o, L), b2), f32x4.mul(f32x4.mul(w2, d), d));
    store_lanes(v + o, vv, L);
    if (amsgrad) {
      vv = f32x4.max(load_lanes(vmax + o, L), vv);
      store_lanes(vmax + o, vv, L);
    }
    const den = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2), ep);
    store_lanes(p + o, f32x4.add(pv, f32x4.div(f32x4.mul(nstep, mv), den)), L);
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
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const L = lanes_at(n, i);
    const pv = load_lanes(p + o, L);
    let d = load_lanes(g + o, L);
    if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
    const s = f32x4.add(f32x4.mul(load_lanes(sq + o, L), a), f32x4.mul(f32x4.mul(wv, d), d));
    store_lanes(sq + o, s, L);
    let avg: v128;
    if (centered) {
      const ga = lerp4(load_lanes(gavg + o, L), d, w);
      store_lanes(gavg + o, ga, L);
      avg = f32x4.sqrt(f32x4.sub(s, f32x4.mul(ga, ga)));
    } else {
      avg = f32x4.sqrt(s);
    }
    avg = f32x4.add(avg, ep);
    if (useMom) {
      const b = f32x4.add(f32x4.mul(load_lanes(buf + o, L), mom), f32x4.div(d, avg));
      store_lanes(buf + o, b, L);
      store_lanes(p + o, f32x4.add(pv, f32x4.mul(nlr, b)), L);
    } else {
      store_lanes(p + o, f32x4.add(pv, f32x4.div(f32x4.mul(nlr, d), avg)), L);
    }
  }
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
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const L = lanes_at(n, i);
    const pv = load_lanes(p + o, L);
    let d = load_lanes(g + o, L);
    if (useWd) d = f32x4.add(d, f32x4.mul(wd, pv));
    const s = f32x4.add(load_lanes(sum + o, L), f32x4.mul(d, d));
    store_lanes(sum + o, s, L);
    const std = f32x4.add(f32x4.sqrt(s), ep);
    store_lanes(p + o, f32x4.add(pv, f32x4.div(f32x4.mul(nclr, d), std)), L);
  }
}
