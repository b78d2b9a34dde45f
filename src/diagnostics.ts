// Gradient flow through time: how large is dL/dh_t as the loss's gradient travels back
// from the last step to the first?
//
// With the loss on the final step only, every earlier ||dL/dh_t|| is pure
// backpropagation through time: dL/dh_t = (dh_{t+1}/dh_t)^T dL/dh_{t+1}. Each factor
// (for a tanh RNN, W_hh^T diag(1 - h_{t+1}^2)) shrinks or stretches the vector; over
// T steps these products vanish or explode geometrically. That is the whole story of
// why plain BPTT struggles, and it is visible in one forward/backward at initialization.

import type { Batch, LossSpec, Model } from './model.js';
import { checkFinitePositive, checkPositiveInt, fail } from './errors.js';
import { Rng } from './rng.js';

export interface GradientFlowOptions {
  /** length of the random probe sequence (default 100); ignored when `batch` is given */
  T?: number;
  /** probe sequences (default 8); ignored when `batch` is given */
  batchSize?: number;
  /** seed of the probe inputs, x ~ N(0, 1) (default 0) */
  seed?: number;
  /**
   * Your own batch and loss instead of the probe. The probe is: inputs x ~ N(0, 1),
   * target 0, MSE (mean) on the last step's output only.
   */
  batch?: Batch;
  loss?: LossSpec;
  /** "vanished" means below threshold x the final step's norm (default 1e-6) */
  threshold?: number;
}

export interface GradientFlowSummary {
  layer: number;
  /** ||dL/dh_{T-1}||: where the gradient enters (with the probe's last-step loss) */
  finalNorm: number;
  /** ||dL/dh_0|| */
  firstNorm: number;
  /**
   * Average factor per step, going back in time: the geometric mean
   * (||dL/dh_a|| / ||dL/dh_{T-1}||)^(1 / (T-1-a)), where a is the earliest step whose
   * norm is still > 0 in float32 (a = 0 unless the norm underflowed). < 1: vanishing;
   * > 1: exploding.
   */
  stepFactor: number;
  /**
   * The step t (0-based) at which, counting back from the end, the norm first fell below
   * threshold x finalNorm; null if it never did.
   */
  vanishedAt: number | null;
  /** how many steps back from the last step that is (T - 1 - vanishedAt); null if never */
  vanishedAfter: number | null;
  /** the same for growth above finalNorm / threshold; null if never */
  explodedAt: number | null;
  /** earliest step whose norm is exactly 0 (float32 underflow), null if none */
  underflowAt: number | null;
}

export interface GradientFlowResult {
  T: number;
  loss: number;
  /** [numLayers][T]: Frobenius norm over the batch of dL/dh_t */
  hiddenGradNorms: number[][];
  /** one per layer */
  summary: GradientFlowSummary[];
}

/** Summarize one layer's ||dL/dh_t|| series (t = 0 .. T-1); see GradientFlowSummary. */
export function summarizeGradNorms(norms: ArrayLike<number>, threshold = 1e-6, layer = 0): GradientFlowSummary {
  checkFinitePositive('threshold', threshold);
  const T = norms.length;
  if (T === 0) fail('summarizeGradNorms: empty series');
  const finalNorm = norms[T - 1];
  let vanishedAt: number | null = null;
  let explodedAt: number | null = null;
  let underflowAt: number | null = null;
  for (let t = T - 2; t >= 0; t--) {
    const n = norms[t];
    if (vanishedAt === null && n < threshold * finalNorm) vanishedAt = t;
    if (explodedAt === null && n > finalNorm / threshold) explodedAt = t;
    if (n === 0) underflowAt = t;
  }
  // geometric mean over the span that is still > 0
  let a = 0;
  while (a < T - 1 && !(norms[a] > 0)) a++;
  const steps = T - 1 - a;
  const stepFactor = steps > 0 && finalNorm > 0 ? Math.pow(norms[a] / finalNorm, 1 / steps) : finalNorm > 0 ? 1 : 0;
  return {
    layer,
    finalNorm,
    firstNorm: norms[0],
    stepFactor,
    vanishedAt,
    vanishedAfter: vanishedAt === null ? null : T - 1 - vanishedAt,
    explodedAt,
    underflowAt,
  };
}

/**
 * One forward/backward through `model` and the gradient norms it produced, per layer and
 * step, with a summary. The model's parameters and accumulated gradients are left as
 * they were.
 */
export function gradientFlow(model: Model, opts: GradientFlowOptions = {}): GradientFlowResult {
  const threshold = opts.threshold ?? 1e-6;
  checkFinitePositive('threshold', threshold);
  let batch: Batch, loss: LossSpec;
  if (opts.batch !== undefined) {
    if (opts.loss === undefined) fail('gradientFlow: give `loss` together with `batch`');
    batch = opts.batch;
    loss = opts.loss;
  } else {
    const T = checkPositiveInt('T', opts.T ?? 100);
    const B = checkPositiveInt('batchSize', opts.batchSize ?? 8);
    const I = model.config.inputSize, O = model.layout.outputWidth;
    const rng = new Rng(opts.seed ?? 0);
    const x = new Float32Array(T * B * I);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    batch = { x: { shape: [T, B, I], data: x }, target: { shape: [B, O], data: new Float32Array(B * O) } };
    loss = { kind: 'mse', reduction: 'mean', lastStepOnly: true };
  }
  const n = model.layout.numParams;
  const saved = model.arena.read(model.grads, n);
  try {
    const r = model.lossAndGrad(batch, loss, { inputGrad: false });
    const T = r.hiddenGradNorms[0].length;
    return {
      T,
      loss: r.loss,
      hiddenGradNorms: r.hiddenGradNorms,
      summary: r.hiddenGradNorms.map((norms, l) => summarizeGradNorms(norms, threshold, l)),
    };
  } finally {
    model.arena.write(model.grads, saved);
  }
}
