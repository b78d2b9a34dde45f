// Training: one optimizer step (micro-batch accumulation, non-finite checks, clipping),
// truncated BPTT over long sequences, the `fit` loop, stateful streaming, sampling.
//
// Truncated BPTT is min-char-rnn's scheme: a long sequence is cut into chunks of k steps;
// each chunk is one forward/backward/update, and its final (h, c) is handed to the next
// chunk as h0/c0 -- a constant, so no gradient crosses the boundary:
//
//   state = zeros
//   for each chunk [t0, t0 + k):
//     r = model.lossAndGrad({ x: x[t0:t0+k], target: ..., h0: state.h, c0: state.c })
//     clip; optimizer.step(); state = { h: r.hN, c: r.cN }

import { NonfiniteError, checkFinitePositive, checkKeys, checkOneOf, fail, normalizeOptions, shapeStr, show, type TensorLike } from '../errors.js';
import { checkLossSpec, checkTargetValues, targetHasTime, targetLayout, type TargetLayout } from '../loss.js';
import {
  BATCH_KEYS, checkLengths, swapAxes01, clipGradNorm, clipGradValue, nonfiniteTensors, type Lengths, type LossSpec, type Model, type PredictOptions, type Tensor,
} from '../model.js';
import { checkInput, checkTokenId, checkTokenIds, expectedInput, type InputOwner } from '../inputs.js';
import { checkMetrics, formatMetrics, MetricAccumulator, type MetricName } from './metrics.js';
import { Adam, type Optimizer } from './optim.js';
import type { ProgressOptions } from '../progress.js';
import { host } from '../host/host.js';
import { Rng } from '../rng.js';
import { LRScheduler, ReduceLROnPlateau, type Scheduler } from './schedulers.js';

/** Recurrent state between calls: h [numLayers, B, hiddenSize], c likewise (LSTM only). */
export interface RecurrentState {
  h: Tensor;
  c?: Tensor;
}

/** A call's final state (hN, cN) as the state to carry into the next call: the one place results become state. */
export function finalState(r: { hN: Tensor; cN?: Tensor }): RecurrentState {
  return r.cN ? { h: r.hN, c: r.cN } : { h: r.hN };
}

/** A carried state as the h0/c0 a batch or forward() starts from (none: zeros): the one place state becomes h0/c0. */
export function initialState(s: RecurrentState | undefined): { h0?: Tensor; c0?: Tensor } {
  return s ? { h0: s.h, ...(s.c ? { c0: s.c } : {}) } : {};
}

/** Thrown when a loss, gradient or optimizer result is NaN/Inf (a BpttError; defined in errors.ts). */
export { NonfiniteError };

// ---------------------------------------------------------------------------------------
// One optimizer step over one or more micro-batches

export interface MicroBatch {
  x: TensorLike;
  target: TensorLike;
  h0?: TensorLike;
  c0?: TensorLike;
  /** each sequence's length (see Batch.lengths) */
  lengths?: Lengths;
}

export interface ClipOptions {
  /** torch.nn.utils.clip_grad_norm_(max_norm) on the whole gradient, before the update */
  clipGradNorm?: number;
  /** torch.nn.utils.clip_grad_value_(clip_value) (applied before clipGradNorm when both are set) */
  clipGradValue?: number;
  /** per-timestep clipping of each sequence's dLoss/dh_t during BPTT (see Model.lossAndGrad) */
  clipHiddenGrad?: number;
}

export interface TrainStepOptions extends ClipOptions {
  loss: LossSpec;
  /** 'throw' (default): a NaN/Inf loss or gradient throws NonfiniteError; 'skip': drop the step */
  onNonfinite?: 'throw' | 'skip';
  /** where the step happened, for error messages */
  where?: string;
}

export interface TrainStepResult {
  /** the batch loss (for reduction 'mean': of the whole batch, micro-batches weighted by what each one's mean divides by) */
  loss: number;
  /** global gradient norm before clipping */
  gradNorm: number;
  /** true when the step was skipped (onNonfinite: 'skip') */
  skipped: boolean;
  /** final states of each micro-batch, in order */
  states: RecurrentState[];
  /** each micro-batch's output [T, B, O] before the update, in order (for metrics) */
  outputs: Tensor[];
}

/** The steps a batch's loss covers: its sequences (lastStepOnly), else its valid steps. */
function stepCount(mb: { x: TensorLike; lengths?: Lengths }, loss: LossSpec, batchFirst = false): number {
  const [T, B] = batchFirst ? [mb.x.shape[1], mb.x.shape[0]] : mb.x.shape;
  if (loss.lastStepOnly) return B;
  if (!mb.lengths) return T * B;
  let n = 0;
  for (let b = 0; b < B; b++) n += mb.lengths[b];
  return n;
}

/**
 * What a batch's 'mean' loss divides by, as Model.computeLoss: for mse the valid steps
 * (sequences with lastStepOnly; the output width is the same for every batch); for
 * cross_entropy the counted targets (valid steps, not ignoreIndex), each weighing its class
 * weight. Batches weighted by it combine into the whole dataset's mean.
 */
function lossCount(mb: { x: TensorLike; target: TensorLike; lengths?: Lengths }, loss: LossSpec, batchFirst = false): number {
  const [T, B] = batchFirst ? [mb.x.shape[1], mb.x.shape[0]] : mb.x.shape;
  const len = (b: number): number => (mb.lengths ? mb.lengths[b] : T);
  const spec = checkLossSpec(loss);
  if (spec.kind === 'mse') return stepCount(mb, loss, batchFirst);
  // class ids: [T, B] ([B, T] batch-first), or lastStepOnly's short form [B]
  const ids = mb.target.data;
  const long = targetHasTime(mb.target.shape, spec);
  const at = (t: number, b: number): number => ids[!long ? b : batchFirst ? b * T + t : t * B + b];
  let n = 0;
  const count = (c: number): void => {
    if (c !== spec.ignoreIndex) n += spec.weight ? spec.weight[c] : 1;
  };
  for (let b = 0; b < B; b++) {
    if (spec.lastStepOnly) count(at(len(b) - 1, b));
    else for (let t = 0; t < len(b); t++) count(at(t, b));
  }
  return n;
}

/**
 * zeroGrad; lossAndGrad on every micro-batch (gradients accumulate into one full-batch
 * gradient: with reduction 'mean', micro-batch i counts with weight n_i / n, n_i what its mean
 * divides by, lossCount); check
 * loss and gradient are finite; clip; optimizer.step(). Nothing changes the weights
 * when a value is non-finite.
 */
const CLIP_KEYS = ['clipGradNorm', 'clipGradValue', 'clipHiddenGrad'];
const TRAIN_STEP_KEYS = ['loss', ...CLIP_KEYS, 'onNonfinite', 'where'];

/** Check the clipping options (before anything runs, so a bad one changes nothing). */
function checkClip(where: string, o: ClipOptions): void {
  for (const k of CLIP_KEYS as (keyof ClipOptions)[]) if (o[k] !== undefined) checkFinitePositive(`${where}: ${k}`, o[k]);
}

export function trainStep(model: Model, optimizer: Optimizer, micro: MicroBatch[], opts: TrainStepOptions): TrainStepResult {
  if (opts === undefined) fail('trainStep: options { loss, ... } are required', 'trainStep');
  opts = normalizeOptions<TrainStepOptions>('trainStep', 'options', opts, TRAIN_STEP_KEYS);
  if (!Array.isArray(micro) || micro.length === 0) fail(`trainStep: micro-batches must be a non-empty array, got ${show(micro)}`, 'trainStep');
  if (!optimizer || optimizer.model !== model) fail('trainStep: the optimizer was built for a different model', 'trainStep');
  const spec = checkLossSpec(opts.loss);
  micro.forEach((mb, i) => {
    if (mb === null || typeof mb !== 'object' || !isTensor(mb.x)) {
      fail(`trainStep: micro-batch ${i} must be { x: ${expectedInput(model)}, target, ... }, got ${show(mb)}`, 'trainStep');
    }
    checkKeys('trainStep', `micro-batch ${i}`, mb, BATCH_KEYS);
    // every micro-batch's x (token ids included) and target (shape and values) before the first one runs: a bad
    // one changes nothing, gradients included (and the weights below read the targets)
    const { T, B, lengths } = checkInput(`trainStep: micro-batch ${i} x`, mb.x, model, mb.lengths);
    const O = model.layout.outputWidth;
    const tl = targetLayout(`trainStep: micro-batch ${i}`, mb.target, spec, T, B, O, model.batchFirst);
    checkTargetValues(`trainStep: micro-batch ${i}`, mb.target, tl, spec, T, B, O, lengths, model.batchFirst);
  });
  checkClip('trainStep', opts);
  if (opts.onNonfinite !== undefined) checkOneOf('trainStep: onNonfinite', opts.onNonfinite, ['throw', 'skip'] as const);
  const be = model.ops;
  const n = model.layout.numParams;
  const mean = opts.loss.reduction === 'mean';
  const total = micro.reduce((s, mb) => s + lossCount(mb, opts.loss, model.batchFirst), 0);
  const w = micro.map((mb) => (mean ? lossCount(mb, opts.loss, model.batchFirst) / total : 1));
  // dLoss/dx is not needed for training: skip that product.
  const grad = { inputGrad: false, ...(opts.clipHiddenGrad !== undefined ? { clipHiddenGrad: opts.clipHiddenGrad } : {}) };
  model.zeroGrad();
  let loss = 0;
  const states: RecurrentState[] = [];
  const outputs: Tensor[] = [];
  for (let i = 0; i < micro.length; i++) {
    // Keep S_i = (sum_{j<=i} w_j g_j) / w_i in the gradient region, so each micro-batch's
    // gradient can be simply added (backward accumulates); the final S_n * w_n is the
    // weighted sum. With equal weights this is one scale by 1/M at the end.
    if (i > 0 && w[i - 1] !== w[i]) be.scale(model.grads, n, w[i - 1] / w[i]);
    const r = model.lossAndGrad(micro[i], opts.loss, grad);
    loss += w[i] * r.loss;
    states.push(finalState(r));
    outputs.push(r.output);
  }
  const wl = w[w.length - 1];
  if (wl !== 1) be.scale(model.grads, n, wl);

  const sq = be.sumSquares(model.grads, n);
  const where = opts.where ? ` at ${opts.where}` : '';
  if (!Number.isFinite(loss) || !Number.isFinite(sq)) {
    const bad = Number.isFinite(sq) ? [] : nonfiniteTensors(model);
    if ((opts.onNonfinite ?? 'throw') === 'skip') {
      model.zeroGrad();
      return { loss, gradNorm: Math.sqrt(sq), skipped: true, states, outputs };
    }
    const what = bad.length ? `non-finite gradient in ${bad.join(', ')} (loss ${loss})` : `non-finite loss (${loss})`;
    throw new NonfiniteError(`bptt-wasm: trainStep: ${what}${where}; the weights were not changed ` +
      `(lower the learning rate, clip gradients, or pass onNonfinite: 'skip')`, bad, loss);
  }
  const gradNorm = Math.sqrt(sq);
  if (opts.clipGradValue !== undefined) clipGradValue(model, opts.clipGradValue);
  if (opts.clipGradNorm !== undefined) {
    if (opts.clipGradValue !== undefined) clipGradNorm(model, opts.clipGradNorm); // norm after value clipping
    else {
      // the norm is already known: clip_grad_norm_'s scale without a second pass
      const coef = opts.clipGradNorm / (gradNorm + 1e-6);
      if (coef < 1) be.scale(model.grads, n, coef);
    }
  }
  optimizer.step();
  return { loss, gradNorm, skipped: false, states, outputs };
}

// ---------------------------------------------------------------------------------------
// Slicing tensors along time and batch

/** Columns `idx` (batch axis 1) and steps [t0, t1) of a time-major [T, N, F] array. */
function gather(data: ArrayLike<number>, T: number, N: number, F: number, idx: ArrayLike<number>, t0: number, t1: number, int: boolean): Float32Array | Int32Array {
  const B = idx.length;
  const out = int ? new Int32Array((t1 - t0) * B * F) : new Float32Array((t1 - t0) * B * F);
  let o = 0;
  for (let t = t0; t < t1; t++) {
    for (let b = 0; b < B; b++) {
      const src = (t * N + idx[b]) * F;
      for (let f = 0; f < F; f++) out[o++] = data[src + f];
    }
  }
  return out;
}

/** A dataset of N sequences, time-major like everything else, padded to T steps. */
export interface Dataset {
  /** [T, N, inputSize] ([N, T, inputSize] batchFirst); for a model with an embedding, integer token ids [T, N] ([N, T]) */
  x: TensorLike;
  /** mse: [T, N, O] (or [N, O] with lastStepOnly); cross_entropy: class ids [T, N] (or [N] with lastStepOnly) */
  target: TensorLike;
  /** each sequence's length (N values in 1..T); omitted = all T. Minibatches keep them. */
  lengths?: Lengths;
}

class DataView3 {
  readonly T: number;
  readonly N: number;
  /** values per (t, n) of x: inputSize, or 1 (a token id) */
  readonly F: number;
  /** x holds token ids (the model has an embedding): minibatches are Int32Array [T, B] */
  readonly ids: boolean;
  readonly tl: TargetLayout;
  readonly lengths: Int32Array | null;
  /** the dataset, time-major (a batch-first one is transposed once, here) */
  readonly data: Dataset;
  /** the dataset and the minibatches are batch-first ([N, T, *]): the model was created with batchFirst */
  readonly bf: boolean;
  /**
   * x is checked as the model takes it (feature vectors or token ids, in its layout; ids at
   * every valid step), and the target's shape and its values at the steps the loss reads,
   * before anything is sliced (so a bad value in the last batch fails before the first one
   * trains, naming its place in the dataset); minibatches are gathered time-major and
   * transposed for a batch-first model.
   */
  constructor(data: Dataset, readonly loss: LossSpec, what: string, model: InputOwner & { readonly layout: { readonly outputWidth: number } }) {
    if (!data || typeof data !== 'object' || !data.x || !data.target) fail(`${what}: expected { x, target }`);
    checkKeys(what, 'the dataset', data, ['x', 'target', 'lengths']);
    this.bf = model.batchFirst;
    this.ids = model.config.embedding !== undefined;
    const x = checkInput(`${what}: x`, data.x, model, data.lengths, 'N');
    [this.T, this.N] = [x.T, x.B];
    this.F = this.ids ? 1 : model.config.inputSize;
    this.lengths = x.lengths;
    const given = data; // the caller's layout: the target values are checked, and named, there
    if (this.bf) data = timeMajorDataset(data, loss, what, this.F, this.ids);
    this.data = data;
    const spec = checkLossSpec(loss);
    this.tl = targetLayout(what, data.target, spec, this.T, this.N, null);
    checkTargetValues(what, given.target, this.tl, spec, this.T, this.N, model.layout.outputWidth, this.lengths, this.bf);
  }

  /**
   * Batch of sequences idx, steps [t0, t1). With lastStepOnly the target is the last step's
   * (each sequence's own last step), short form. With lengths, a whole-sequence batch is
   * cut to its longest sequence and keeps its lengths.
   */
  batch(idx: ArrayLike<number>, t0 = 0, t1 = this.T): MicroBatch {
    const mb = this.batchTM(idx, t0, t1);
    return this.bf ? batchFirstOf(mb, this.loss) : mb;
  }

  /** The same minibatch, time-major whatever the model's layout. */
  batchTM(idx: ArrayLike<number>, t0 = 0, t1 = this.T): MicroBatch {
    const B = idx.length;
    let lengths: Int32Array | undefined;
    if (this.lengths) {
      if (t0 !== 0 || t1 !== this.T) fail('truncated BPTT (tbptt, trainTruncated) does not take a dataset with lengths');
      lengths = Int32Array.from(idx, (i) => this.lengths![i]);
      t1 = lengths.reduce((m, v) => Math.max(m, v), 1);
    }
    const x = { shape: this.ids ? [t1 - t0, B] : [t1 - t0, B, this.F], data: gather(this.data.x.data, this.T, this.N, this.F, idx, t0, t1, this.ids) };
    const { hasTime, width, int } = this.tl;
    const tg = this.data.target.data;
    let target: TensorLike;
    if (this.loss.lastStepOnly) {
      let data: Float32Array | Int32Array;
      if (!hasTime) data = gather(tg, 1, this.N, width, idx, 0, 1, int);
      else if (!lengths) data = gather(tg, this.T, this.N, width, idx, this.T - 1, this.T, int);
      else {
        // each sequence's target at its own last step
        data = int ? new Int32Array(B * width) : new Float32Array(B * width);
        for (let b = 0; b < B; b++) data.set(gather(tg, this.T, this.N, width, [idx[b]], lengths[b] - 1, lengths[b], int), b * width);
      }
      target = { shape: this.loss.kind === 'mse' ? [B, width] : [B], data };
    } else {
      const data = gather(tg, this.T, this.N, width, idx, t0, t1, int);
      target = { shape: this.loss.kind === 'mse' ? [t1 - t0, B, width] : [t1 - t0, B], data };
    }
    return lengths ? { x, target, lengths } : { x, target };
  }
}

/** A batch-first dataset [N, T, *] (x already checked: F values per step, token ids if `ids`) as a time-major one (lengths unchanged). */
function timeMajorDataset(data: Dataset, loss: LossSpec, what: string, F: number, ids: boolean): Dataset {
  const [N, T] = data.x.shape;
  const x = { shape: [T, N, ...data.x.shape.slice(2)], data: swapAxes01(data.x.data, N, T, F, ids ? new Int32Array(N * T) : undefined) };
  let target = data.target;
  if (targetHasTime(target.shape, loss)) {
    const ts = target.shape;
    if (ts[0] !== N || ts[1] !== T) fail(`${what}: target has shape [${ts.join(', ')}], expected [${N}, ${T}, ...] (batchFirst, like x)`);
    const w = ts[2] ?? 1;
    const d = swapAxes01(target.data, N, T, w);
    target = { shape: [T, N, ...ts.slice(2)], data: target.data instanceof Int32Array ? Int32Array.from(d) : d };
  }
  return { x, target, ...(data.lengths ? { lengths: data.lengths } : {}) };
}

/** A batch-first output [B, T, O] and target as time-major ones. */
function timeMajorPair(out: Tensor, target: TensorLike, loss: LossSpec): [Tensor, TensorLike] {
  const [B, T, O] = out.shape;
  const y = { shape: [T, B, O], data: swapAxes01(out.data, B, T, O) };
  if (!targetHasTime(target.shape, loss)) return [y, target];
  const w = target.shape[2] ?? 1;
  const d = swapAxes01(target.data, B, T, w);
  return [y, { shape: [T, B, ...target.shape.slice(2)], data: target.data instanceof Int32Array ? Int32Array.from(d) : d }];
}

/** A time-major minibatch in the batch-first layout. */
function batchFirstOf(mb: MicroBatch, loss: LossSpec): MicroBatch {
  const [T, B] = mb.x.shape;
  const F = mb.x.shape[2] ?? 1; // token ids: [T, B], one value per step
  const ids = mb.x.data instanceof Int32Array;
  const x = { shape: [B, T, ...mb.x.shape.slice(2)], data: swapAxes01(mb.x.data, T, B, F, ids ? new Int32Array(T * B) : undefined) };
  let target = mb.target;
  if (targetHasTime(target.shape, loss)) {
    const w = target.shape[2] ?? 1;
    const d = swapAxes01(target.data, T, B, w);
    target = { shape: [B, T, ...target.shape.slice(2)], data: target.data instanceof Int32Array ? Int32Array.from(d) : d };
  }
  return { ...mb, x, target };
}

// ---------------------------------------------------------------------------------------
// Losses without gradients: evaluate (model.loss, the kernels' numbers), and lossValue, the
// pure-TS reference on host tensors in double precision

/** { shape: number[], data: array-like }, checked before use (bad input is an error, not a TypeError). */
function isTensor(t: unknown): t is TensorLike {
  return t !== null && typeof t === 'object' && Array.isArray((t as TensorLike).shape) && (t as TensorLike).data != null &&
    typeof (t as TensorLike).data.length === 'number';
}

/**
 * Loss of an output [T, B, O] against a target, as the model's loss would compute it
 * (with lengths: valid steps only, lastStepOnly at each sequence's own last step).
 *
 * The pure-TS reference on host tensors, in double precision: no library path calls it
 * (evaluate and fit's validation run model.loss, the backends' own kernels). It stays a
 * second, independent implementation on purpose: it shares with the model only the spec
 * and the target-shape rule (loss.ts), so tests that compare it with lossAndGrad check the
 * model's masking, last-step gathering, ignoreIndex and 'mean' denominators, which a thin
 * wrapper over the same code could not; and it needs no model (an output from elsewhere).
 * It agrees with model.loss to float32 rounding (the kernels sum in f64 over f32 values).
 */
export function lossValue(output: Tensor, target: TensorLike, spec: LossSpec, lengths?: Lengths): number {
  if (!isTensor(output) || output.shape.length !== 3 || !output.shape.every((d) => Number.isSafeInteger(d) && d >= 1) ||
    output.data.length !== output.shape[0] * output.shape[1] * output.shape[2]) {
    fail(`lossValue: output must be a tensor [T, B, O] with T * B * O values, got ${show(output)}`, 'lossValue');
  }
  const loss = checkLossSpec(spec);
  const [T, B, O] = output.shape;
  const y = output.data;
  const tl = targetLayout('lossValue', target, loss, T, B, O);
  const { ignoreIndex, weight, labelSmoothing: eps } = loss;
  const td = target.data;
  const len = lengths == null ? null : checkLengths(lengths, T, B);
  // the steps that count for sequence b
  const first = (b: number): number => (loss.lastStepOnly ? (len ? len[b] : T) - 1 : 0);
  const end = (b: number): number => (len ? len[b] : T);
  // target row for (t, b): with time axis t*B+b, else b
  const row = (t: number, b: number): number => (tl.hasTime ? t * B + b : b);
  // the value checks lossAndGrad makes: nothing may index past a row
  if (loss.kind === 'cross_entropy') {
    if (weight && weight.length !== O) fail(`lossValue: loss.weight has ${weight.length} values, expected outputSize ${O}`);
    for (let b = 0; b < B; b++) {
      for (let t = first(b); t < end(b); t++) {
        const i = row(t, b), v = td[i];
        if (v !== ignoreIndex && (!Number.isInteger(v) || v < 0 || v >= O)) {
          fail(`lossValue: target.data[${i}] = ${v} is not a class id in [0, ${O - 1}] or the ignoreIndex ${ignoreIndex}`);
        }
      }
    }
  }
  const w = (c: number): number => (weight ? weight[c] : 1);
  let sum = 0, count = 0;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      if (t < first(b) || t >= end(b)) continue;
      const yo = (t * B + b) * O;
      if (loss.kind === 'mse') {
        const to = row(t, b) * O;
        for (let o = 0; o < O; o++) {
          const d = y[yo + o] - td[to + o];
          sum += d * d;
        }
        count += O;
      } else {
        const k = td[row(t, b)];
        if (k === ignoreIndex) continue;
        let m = -Infinity;
        for (let o = 0; o < O; o++) m = Math.max(m, y[yo + o]);
        let s = 0;
        for (let o = 0; o < O; o++) s += Math.exp(y[yo + o] - m);
        const logZ = m + Math.log(s);
        // F.cross_entropy: (1 - eps) w_k (-logp_k) + eps/C sum_c w_c (-logp_c); mean over the summed w_k
        let smooth = 0;
        if (eps) for (let o = 0; o < O; o++) smooth += w(o) * (logZ - y[yo + o]);
        sum += (1 - eps) * w(k) * (logZ - y[yo + k]) + (eps / O) * smooth;
        count += w(k);
      }
    }
  }
  return loss.reduction === 'mean' ? sum / count : sum;
}

export interface EvaluateOptions {
  loss: LossSpec;
  batchSize?: number;
  /** also compute these (see METRICS); evaluate then returns { loss, metrics } */
  metrics?: MetricName[];
}

/** Per-sequence lengths of a batch, when the batch carries them. */
const lengthsOf = (mb: object): ArrayLike<number> | undefined => (mb as { lengths?: ArrayLike<number> }).lengths;

/**
 * Loss over a dataset in batches (forward only; no gradients touched). With reduction 'mean'
 * it is the whole dataset's mean, whatever the batch size (batch means weighted by what each
 * divides by: valid steps, or for cross_entropy the counted targets' class weights); with
 * 'sum' the batch sums averaged, weighted by their steps. With `metrics`, returns { loss, metrics }.
 */
export function evaluate(model: Model, data: Dataset, opts: EvaluateOptions & { metrics: MetricName[] }): { loss: number; metrics: Record<string, number> };
export function evaluate(model: Model, data: Dataset, opts: EvaluateOptions): number;
export function evaluate(model: Model, data: Dataset, opts: EvaluateOptions): number | { loss: number; metrics: Record<string, number> } {
  if (opts === undefined) fail('evaluate: options { loss, batchSize?, metrics? } are required', 'evaluate');
  opts = normalizeOptions('evaluate', 'options', opts, ['loss', 'batchSize', 'metrics']);
  const dv = new DataView3(data, opts.loss, 'evaluate', model);
  const names = checkMetrics('evaluate', opts.metrics, opts.loss.kind);
  const metrics = new MetricAccumulator(names);
  const loss = evaluateInto(model, dv, opts.loss, checkIntOpt('evaluate', 'batchSize', opts.batchSize, 256, 1), metrics);
  return opts.metrics === undefined ? loss : { loss, metrics: metrics.result() };
}

/**
 * evaluate's and fit's validation loss: model.loss on each batch (the same loss kernels and
 * target rule as training, no backward), batch losses weighted by what each one's mean divides by.
 */
function evaluateInto(model: Model, dv: DataView3, loss: LossSpec, batchSize: number, metrics: MetricAccumulator): number {
  const bs = Math.min(batchSize, dv.N);
  let acc = 0, total = 0;
  for (let s = 0; s < dv.N; s += bs) {
    const idx = range(s, Math.min(s + bs, dv.N));
    const mb = dv.batchTM(idx);
    const r = model.loss(dv.bf ? batchFirstOf(mb, loss) : mb, loss);
    let out = r.output;
    if (dv.bf) { // back to time-major for the metrics
      const [B, T, O] = out.shape;
      out = { shape: [T, B, O], data: swapAxes01(out.data, B, T, O) };
    }
    // 'mean': each batch's mean times what it divides by, so the result is the whole dataset's mean (a batch
    // with nothing counted adds nothing, rather than its NaN); 'sum', 'none': batch sums averaged over the steps
    const n = loss.reduction === 'mean' ? lossCount(mb, loss) : stepCount(mb, loss);
    if (n > 0) {
      acc += r.loss * n;
      total += n;
    }
    metrics.add(out, mb.target, { kind: loss.kind, lastStepOnly: loss.lastStepOnly, ignoreIndex: loss.ignoreIndex, lengths: lengthsOf(mb) });
  }
  return acc / total;
}

/** A bidirectional layer's reverse direction starts at each sequence's end: no state can be carried forward. */
const NOT_STREAMING = (what: string): string =>
  `${what} carries the state forward in time, which a bidirectional model cannot do (its reverse direction ` +
  'starts at the end of each sequence); run whole sequences with model.forward / lossAndGrad / fit';

/** model.predict(x, opts), as a function: the model's output in batches (see Model.predict). */
export function predict(model: Model, x: TensorLike, opts: PredictOptions = {}): Tensor {
  return model.predict(x, opts);
}

function range(a: number, b: number): Int32Array {
  const r = new Int32Array(b - a);
  for (let i = 0; i < r.length; i++) r[i] = a + i;
  return r;
}

// ---------------------------------------------------------------------------------------
// Truncated BPTT over one long batch of sequences

export interface TruncatedBPTTOptions extends ClipOptions {
  /** chunk length k: one optimizer step per k timesteps */
  k: number;
  loss: LossSpec;
  /** state entering the first chunk (zeros when omitted), e.g. the state a previous call returned */
  state?: RecurrentState;
  onNonfinite?: 'throw' | 'skip';
  /** after each chunk's update */
  onChunk?: (info: { chunk: number; t0: number; t1: number; loss: number; gradNorm: number; skipped: boolean }) => void;
}

/**
 * Train over x [T, B, I] (target as in Dataset) in chunks of k steps, carrying each chunk's
 * final (h, c) into the next as a constant. Returns each chunk's loss and the final state
 * (pass it back as `state` to continue a stream, as min-char-rnn does). With
 * lastStepOnly, chunks before the last only run forward to carry the state.
 */
export function trainTruncated(model: Model, optimizer: Optimizer, seq: Dataset, opts: TruncatedBPTTOptions): { losses: number[]; state: RecurrentState } {
  if (opts === undefined) fail('trainTruncated: options { k, loss, ... } are required', 'trainTruncated');
  opts = normalizeOptions('trainTruncated', 'options', opts, ['k', 'loss', 'state', 'onNonfinite', 'onChunk', ...CLIP_KEYS]);
  if (!Number.isInteger(opts.k) || opts.k < 1) fail(`trainTruncated: k must be an integer >= 1, got ${show(opts.k)}`);
  if (!optimizer || optimizer.model !== model) fail('trainTruncated: the optimizer was built for a different model', 'trainTruncated');
  checkClip('trainTruncated', opts);
  if (model.config.bidirectional) fail(NOT_STREAMING('trainTruncated'));
  const dv = new DataView3(seq, opts.loss, 'trainTruncated', model);
  const idx = range(0, dv.N);
  const losses: number[] = [];
  let state = opts.state;
  for (let c = 0, t0 = 0; t0 < dv.T; c++, t0 += opts.k) {
    const t1 = Math.min(t0 + opts.k, dv.T);
    const mb = { ...dv.batch(idx, t0, t1), ...initialState(state) };
    if (opts.loss.lastStepOnly && t1 < dv.T) {
      // No loss in this chunk: just carry the state forward.
      state = finalState(model.forward(mb.x, initialState(state)));
      continue;
    }
    const r = trainStep(model, optimizer, [mb], {
      loss: opts.loss, clipGradNorm: opts.clipGradNorm, clipGradValue: opts.clipGradValue, clipHiddenGrad: opts.clipHiddenGrad,
      onNonfinite: opts.onNonfinite, where: `chunk ${c} (steps ${t0}..${t1 - 1})`,
    });
    state = r.states[0];
    losses.push(r.loss);
    opts.onChunk?.({ chunk: c, t0, t1, loss: r.loss, gradNorm: r.gradNorm, skipped: r.skipped });
  }
  return { losses, state: state! };
}

// ---------------------------------------------------------------------------------------
// fit

export interface StepInfo {
  epoch: number;
  /** global optimizer step count (1-based) */
  step: number;
  /** batch within the epoch (0-based) */
  batch: number;
  loss: number;
  gradNorm: number;
  lr: number;
  skipped: boolean;
}

export interface EpochInfo {
  epoch: number;
  /** mean training loss of the epoch's steps (weighted by batch size; skipped steps excluded) */
  loss: number;
  valLoss?: number;
  /** the requested metrics over the epoch's training batches (outputs before each update) */
  metrics?: Record<string, number>;
  /** the requested metrics on the validation data */
  valMetrics?: Record<string, number>;
  lr: number;
  steps: number;
  skipped: number;
  seconds: number;
  /**
   * with a dataset that has lengths: the fraction of the epoch's (micro-)batch cells that are
   * padding, 1 - valid steps / (rows * longest length), summed over its batches
   */
  padding?: number;
}

export interface History {
  epochs: EpochInfo[];
  loss: number[];
  valLoss: number[];
  /** per requested metric, its value after each epoch (training batches) */
  metrics: Record<string, number[]>;
  /** per requested metric, its value on the validation data after each epoch */
  valMetrics: Record<string, number[]>;
  steps: number;
  skippedSteps: number;
  stoppedEarly: boolean;
  stopReason?: 'early_stopping' | 'callback';
  /** best epoch by the early-stopping metric (when early stopping is on) */
  bestEpoch?: number;
  bestMetric?: number;
}

/** A callback may return false (or a Promise of false) to stop training after the current step/epoch. */
type Callback<T> = (info: T) => void | boolean | Promise<void | boolean>;

export interface FitOptions extends ClipOptions {
  /** default: new Adam(model) (lr 1e-3) */
  optimizer?: Optimizer;
  /**
   * The loss, or just its kind ('mse' | 'cross_entropy', reduction 'mean'). When omitted it
   * is inferred only where unambiguous: Int32Array targets are class ids (cross_entropy),
   * Float32Array/Float64Array targets [T, N, O] are values (mse); anything else is an error.
   */
  loss?: LossSpec | LossSpec['kind'];
  /** reported per epoch in history, onEpoch and the progress line: 'accuracy' (class ids), 'mae', 'mse', 'rmse' */
  metrics?: MetricName[];
  epochs?: number;
  batchSize?: number;
  /** reshuffle every epoch with the seeded RNG (default true) */
  shuffle?: boolean;
  /**
   * with a dataset that has lengths: minibatches of sequences of similar length, so they
   * carry little padding. Each epoch the (shuffled) sequences are cut into pools of
   * `poolSize` batches (default 100, as torchtext's BucketIterator), each pool is sorted by
   * length and cut into batches, and the batches are shuffled: still seeded and reproducible.
   */
  bucketing?: boolean | { poolSize?: number };
  /** seed for shuffling (default 0) */
  seed?: number;
  /** hold out the LAST fraction of the sequences (before shuffling) for validation */
  validationSplit?: number;
  validationData?: Dataset;
  /** split each batch into this many micro-batches whose gradients accumulate into one step (default 1) */
  accumulationSteps?: number;
  /** truncated BPTT: one optimizer step per chunk of k timesteps, state carried across chunks */
  tbptt?: number;
  scheduler?: Scheduler;
  /** when an LRScheduler steps: after every epoch (default, torch's convention) or every optimizer step */
  schedulerInterval?: 'epoch' | 'step';
  earlyStopping?: {
    patience: number;
    minDelta?: number;
    /** default 'valLoss' when there is validation data, else 'loss' */
    monitor?: 'loss' | 'valLoss';
    /** put back the best epoch's weights when training ends (default true) */
    restoreBest?: boolean;
  };
  onNonfinite?: 'throw' | 'skip';
  onStep?: Callback<StepInfo>;
  onEpoch?: Callback<EpochInfo>;
  /** false for silence; true/options: a bar on a TTY, a log line every logEvery steps otherwise (default true) */
  progress?: boolean | ProgressOptions;
}

function checkIntOpt(where: string, name: string, v: number | undefined, def: number, min: number): number {
  const x = v ?? def;
  if (!Number.isSafeInteger(x) || x < min) fail(`${where}: ${name} must be an integer >= ${min}, got ${show(v)}`, where);
  return x;
}

/**
 * fit's loss: as given (a kind alone means reduction 'mean'), or inferred where the target
 * leaves no doubt; class ids in a plain array must not silently become an mse target.
 */
function fitLoss(data: Dataset, given: LossSpec | LossSpec['kind'] | undefined): LossSpec {
  if (typeof given === 'string') return { kind: checkOneOf('fit: loss', given, ['mse', 'cross_entropy'] as const), reduction: 'mean' };
  if (given !== undefined) return given;
  const td = data?.target?.data;
  const rank = data?.target?.shape?.length;
  if (td instanceof Int32Array) return { kind: 'cross_entropy', reduction: 'mean' };
  if ((td instanceof Float32Array || td instanceof Float64Array) && rank === 3) return { kind: 'mse', reduction: 'mean' };
  const what = td instanceof Float32Array || td instanceof Float64Array ? `a ${td.constructor.name} target of rank ${rank}`
    : `a target whose data is ${Array.isArray(td) ? 'a plain array' : td === undefined ? 'missing' : (td as object).constructor?.name ?? typeof td}`;
  fail(`fit: cannot infer the loss from ${what}; pass loss: 'cross_entropy' for class ids ([T, N], or [N] with ` +
    `loss: { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true }) or loss: 'mse' for values ([T, N, O], or [N, O] with ` +
    `lastStepOnly: true), or give class ids as an Int32Array and values as a Float32Array`);
}

const FIT_KEYS = ['optimizer', 'loss', 'epochs', 'batchSize', 'shuffle', 'bucketing', 'seed', 'validationSplit', 'validationData',
  'accumulationSteps', 'tbptt', 'scheduler', 'schedulerInterval', 'earlyStopping', 'onNonfinite', 'onStep', 'onEpoch',
  'progress', 'metrics', ...CLIP_KEYS];

/** fit's bucketing option as a pool size in batches (0: no bucketing). */
function bucketPool(b: FitOptions['bucketing'], hasLengths: boolean): number {
  if (b === undefined || b === false) return 0;
  if (b !== true && (b === null || typeof b !== 'object' || Array.isArray(b))) fail(`fit: bucketing must be true, false or { poolSize }, got ${show(b)}`);
  const opts = b === true ? {} : normalizeOptions<{ poolSize?: number }>('fit', 'bucketing', b, ['poolSize']);
  const pool = checkIntOpt('fit', 'bucketing.poolSize', opts.poolSize, 100, 1);
  if (!hasLengths) fail('fit: bucketing groups sequences by length, but the dataset has no lengths (equal-length sequences carry no padding)');
  return pool;
}

/**
 * One epoch's minibatches (indices into the training sequences). Without bucketing: the
 * (shuffled) order cut into batches. With bucketing: the shuffled order cut into pools of
 * `pool` batches, each pool sorted by length (stable, so ties keep the shuffled order) and
 * cut into batches, then the batch order shuffled, so neighbours in length share a batch
 * but which batch comes when is still random. `order` is shuffled in place, as before.
 */
function epochBatches(order: Int32Array, batchSize: number, shuffle: boolean, rng: Rng, pool: number, lengths: Int32Array | null): Int32Array[] {
  if (shuffle) rng.shuffle(order);
  const n = order.length;
  const cut = (a: Int32Array): Int32Array[] => {
    const out: Int32Array[] = [];
    for (let i = 0; i < a.length; i += batchSize) out.push(a.subarray(i, Math.min(i + batchSize, a.length)));
    return out;
  };
  if (pool === 0 || !lengths) return cut(order);
  const sorted = new Int32Array(n);
  const span = pool * batchSize;
  for (let p0 = 0; p0 < n; p0 += span) {
    const part = Array.from(order.subarray(p0, Math.min(p0 + span, n)));
    part.sort((a, b) => lengths[a] - lengths[b]); // Array.prototype.sort is stable
    sorted.set(part, p0);
  }
  const batches = cut(sorted);
  if (shuffle) rng.shuffle(batches);
  return batches;
}

/** Train `model` on `data` (N sequences, time-major). */
export async function fit(model: Model, data: Dataset, options: FitOptions = {}): Promise<History> {
  const o = normalizeOptions<FitOptions>('fit', 'options', options, FIT_KEYS);
  if (o.earlyStopping !== undefined) {
    o.earlyStopping = normalizeOptions('fit', 'earlyStopping', o.earlyStopping, ['patience', 'minDelta', 'monitor', 'restoreBest']);
  }
  checkClip('fit', o);
  const loss = fitLoss(data, o.loss);
  const all = new DataView3(data, loss, 'fit', model);
  const metricNames = checkMetrics('fit', o.metrics, loss.kind);
  const epochs = checkIntOpt('fit', 'epochs', o.epochs, 1, 0);
  const accum = checkIntOpt('fit', 'accumulationSteps', o.accumulationSteps, 1, 1);
  const tbptt = o.tbptt === undefined ? undefined : checkIntOpt('fit', 'tbptt', o.tbptt, 0, 1);
  if (tbptt !== undefined && model.config.bidirectional) fail(NOT_STREAMING('fit: tbptt'));
  if (tbptt !== undefined && all.lengths) fail('fit: tbptt does not take a dataset with lengths (each sequence is one BPTT window)');
  if (tbptt !== undefined && loss.lastStepOnly) {
    fail('fit: tbptt needs a loss at every step (loss.lastStepOnly is set); use trainTruncated, or full BPTT');
  }
  if (o.validationSplit !== undefined && o.validationData !== undefined) fail('fit: give validationSplit or validationData, not both');
  const split = o.validationSplit ?? 0;
  if (!(split >= 0 && split < 1)) fail(`fit: validationSplit must be in [0, 1), got ${split}`);
  const nVal = Math.floor(all.N * split);
  const nTrain = all.N - nVal;
  if (nTrain < 1) fail(`fit: no training sequences left after validationSplit ${split} of ${all.N}`);
  if (split > 0 && nVal === 0) {
    fail(`fit: validationSplit ${split} of ${all.N} sequences rounds down to 0 validation sequences; ` +
      `use a split of at least ${(1 / all.N).toPrecision(3)}, pass validationData, or leave validationSplit out`);
  }
  const batchSize = Math.min(checkIntOpt('fit', 'batchSize', o.batchSize, 32, 1), nTrain);
  const poolSize = bucketPool(o.bucketing, all.lengths !== null);
  if (accum > batchSize) fail(`fit: accumulationSteps (${accum}) cannot exceed batchSize (${batchSize})`);
  const optimizer = o.optimizer ?? new Adam(model);
  if (optimizer.model !== model) fail('fit: the optimizer was built for a different model');
  const onNonfinite = o.onNonfinite ?? 'throw';
  if (onNonfinite !== 'throw' && onNonfinite !== 'skip') fail(`fit: onNonfinite must be 'throw' or 'skip', got ${String(onNonfinite)}`);
  if (o.schedulerInterval !== undefined && !o.scheduler) fail(`fit: schedulerInterval '${o.schedulerInterval}' is given without a scheduler`);
  const schedulerInterval = o.schedulerInterval ?? 'epoch';
  if (o.scheduler instanceof ReduceLROnPlateau && schedulerInterval === 'step') fail('fit: ReduceLROnPlateau steps per epoch with the monitored loss; schedulerInterval must be "epoch"');

  let valData: Dataset | undefined = o.validationData;
  if (nVal > 0) {
    const held = all.batch(range(nTrain, all.N));
    valData = { x: held.x, target: held.target, ...(held.lengths ? { lengths: held.lengths } : {}) };
  }
  if (valData) new DataView3(valData, loss, 'fit validation data', model); // validate shapes now
  // With lastStepOnly, all.batch() already returns the short target; the validation
  // DataView3 accepts it.

  const es = o.earlyStopping;
  if (es && !(Number.isInteger(es.patience) && es.patience >= 0)) fail(`fit: earlyStopping.patience must be an integer >= 0, got ${es.patience}`);
  const monitor = es?.monitor ?? (valData ? 'valLoss' : 'loss');
  if (es && monitor === 'valLoss' && !valData) fail('fit: earlyStopping monitors valLoss, but there is no validation data');

  const rng = new Rng(o.seed ?? 0);
  const chunks = tbptt ? Math.ceil(all.T / tbptt) : 1;
  const batchesPerEpoch = Math.ceil(nTrain / batchSize);
  const totalSteps = epochs * batchesPerEpoch * chunks;
  const progressOpts: ProgressOptions | null = o.progress === false ? null : o.progress === true || o.progress === undefined ? {} : o.progress;
  const progress = progressOpts ? host().progress(totalSteps, progressOpts) : null; // none in a browser

  const history: History = { epochs: [], loss: [], valLoss: [], metrics: {}, valMetrics: {}, steps: 0, skippedSteps: 0, stoppedEarly: false };
  for (const m of metricNames) {
    history.metrics[m] = [];
    if (valData) history.valMetrics[m] = [];
  }
  let best = Infinity;
  let bestParams: Float32Array | null = null;
  let bad = 0;
  let stop = false;
  let lastYield = performance.now();
  const order = range(0, nTrain);

  progress?.begin(0);
  try {
    for (let epoch = 1; epoch <= epochs && !stop; epoch++) {
      const t0 = performance.now();
      const batches = epochBatches(order, batchSize, o.shuffle ?? true, rng, poolSize, all.lengths);
      let lossSum = 0, lossCount = 0, skipped = 0, steps = 0;
      let cells = 0, valid = 0;
      const trainMetrics = new MetricAccumulator(metricNames);
      for (let bi = 0; bi < batchesPerEpoch && !stop; bi++) {
        const idx = batches[bi];
        // Split the batch into `accum` micro-batches of near-equal size.
        const m = Math.min(accum, idx.length);
        const parts: Int32Array[] = [];
        for (let j = 0; j < m; j++) parts.push(idx.subarray(Math.floor((j * idx.length) / m), Math.floor(((j + 1) * idx.length) / m)));
        if (all.lengths) {
          // each micro-batch is cut to its own longest sequence (DataView3.batch)
          for (const p of parts) {
            let longest = 0;
            for (const i of p) {
              valid += all.lengths[i];
              longest = Math.max(longest, all.lengths[i]);
            }
            cells += longest * p.length;
          }
        }
        let states: (RecurrentState | undefined)[] = parts.map(() => undefined);
        for (let c = 0; c < chunks && !stop; c++) {
          const ta = tbptt ? c * tbptt : 0;
          const tb = tbptt ? Math.min(ta + tbptt, all.T) : all.T;
          const micro = parts.map((p, j): MicroBatch => ({ ...all.batch(p, ta, tb), ...initialState(states[j]) }));
          const step = history.steps + 1;
          const r = trainStep(model, optimizer, micro, {
            loss, clipGradNorm: o.clipGradNorm, clipGradValue: o.clipGradValue, clipHiddenGrad: o.clipHiddenGrad,
            onNonfinite, where: `epoch ${epoch}, step ${step}`,
          });
          states = r.states;
          history.steps = step;
          steps++;
          if (r.skipped) {
            skipped++;
            history.skippedSteps++;
          } else {
            lossSum += r.loss * idx.length;
            lossCount += idx.length;
            for (let j = 0; j < micro.length; j++) {
              // the metrics read time-major outputs and targets
              const [out, tgt] = model.batchFirst ? timeMajorPair(r.outputs[j], micro[j].target, loss) : [r.outputs[j], micro[j].target];
              trainMetrics.add(out, tgt, { kind: loss.kind, lastStepOnly: loss.lastStepOnly, ignoreIndex: loss.ignoreIndex, lengths: lengthsOf(micro[j]) });
            }
          }
          if (o.scheduler instanceof LRScheduler && schedulerInterval === 'step') o.scheduler.step();
          progress?.update(step, { loss: r.loss, lr: optimizer.lr, epoch, epochs });
          if (o.onStep) {
            const ret = await o.onStep({ epoch, step, batch: bi, loss: r.loss, gradNorm: r.gradNorm, lr: optimizer.lr, skipped: r.skipped });
            if (ret === false) {
              stop = true;
              history.stopReason = 'callback';
            }
          }
          // Let timers (the progress bar, signals) run now and then.
          if (performance.now() - lastYield > 50) {
            await new Promise((res) => (globalThis.setImmediate ?? setTimeout)(res)); // browsers have no setImmediate
            lastYield = performance.now();
          }
        }
      }
      const info: EpochInfo = { epoch, loss: lossCount ? lossSum / lossCount : NaN, lr: optimizer.lr, steps, skipped, seconds: 0 };
      if (all.lengths && cells > 0) info.padding = 1 - valid / cells;
      if (metricNames.length) info.metrics = trainMetrics.result();
      if (valData) {
        const valMetrics = new MetricAccumulator(metricNames);
        info.valLoss = evaluateInto(model, new DataView3(valData, loss, 'fit validation data', model), loss, Math.max(batchSize, 64), valMetrics);
        if (metricNames.length) info.valMetrics = valMetrics.result();
      }
      history.loss.push(info.loss);
      if (info.valLoss !== undefined) history.valLoss.push(info.valLoss);
      for (const m of metricNames) {
        history.metrics[m].push(info.metrics![m]);
        if (info.valMetrics) history.valMetrics[m].push(info.valMetrics[m]);
      }
      const metric = monitor === 'valLoss' ? info.valLoss! : info.loss;
      if (o.scheduler instanceof ReduceLROnPlateau) o.scheduler.step(metric);
      else if (o.scheduler && schedulerInterval === 'epoch') o.scheduler.step();
      info.seconds = (performance.now() - t0) / 1000;
      history.epochs.push(info);
      if (es) {
        if (metric < best - (es.minDelta ?? 0)) {
          best = metric;
          bad = 0;
          history.bestEpoch = epoch;
          history.bestMetric = metric;
          if (es.restoreBest ?? true) bestParams = model.arena.read(model.params, model.layout.numParams);
        } else if (++bad > es.patience) {
          stop = true;
          history.stoppedEarly = true;
          history.stopReason = 'early_stopping';
        }
      }
      progress?.log(`epoch ${epoch}/${epochs}: loss ${info.loss.toPrecision(6)}` +
        (info.valLoss !== undefined ? `, val_loss ${info.valLoss.toPrecision(6)}` : '') +
        formatMetrics(info.metrics) + formatMetrics(info.valMetrics, 'val_') + `, lr ${info.lr.toExponential(2)}, ${info.seconds.toFixed(1)} s`);
      if (o.onEpoch) {
        const ret = await o.onEpoch(info);
        if (ret === false && !stop) {
          stop = true;
          history.stopReason = 'callback';
        }
      }
    }
  } finally {
    progress?.stop();
  }
  // Put the best epoch's weights back (whether training stopped early or ran out of epochs).
  if (bestParams && history.bestEpoch !== history.epochs.length) model.arena.write(model.params, bestParams);
  return history;
}

// ---------------------------------------------------------------------------------------
// Streaming inference and sampling

/**
 * One timestep for a batch of streams: x [B, inputSize] (or [1, B, inputSize]; batchFirst
 * [B, 1, inputSize]), or for a model with an embedding one token id per stream: [B] (or
 * [1, B]; batchFirst [B, 1]). State from the previous call (zeros when omitted). Returns
 * output [B, outputWidth] and the new state.
 */
export function step(model: Model, x: TensorLike, state?: RecurrentState): { output: Tensor; state: RecurrentState } {
  if (model.config.bidirectional) fail(NOT_STREAMING('step'));
  const B = streamCount(model, x);
  const bf = model.batchFirst;
  const emb = model.config.embedding;
  if (emb) checkTokenIds('step: x', x.data, 1, B, false, null, emb.numEmbeddings);
  // the state forward() takes as { h0, c0 } is accepted here too
  if (state !== undefined) state = normalizeOptions<RecurrentState>('step', 'state', state, ['h', 'c'], { aliases: { h0: 'h', c0: 'c' } });
  // one step: [1, B, *] and [B, 1, *] hold the same numbers in the same order
  const one = emb ? [] : [model.config.inputSize];
  const r = model.forward({ shape: bf ? [B, 1, ...one] : [1, B, ...one], data: x.data }, initialState(state));
  const O = model.layout.outputWidth;
  return {
    output: { shape: [B, O], data: r.output.data },
    state: finalState(r),
  };
}

/** The number of streams B in step's x (the shapes step takes; anything else is an error saying which were expected). */
function streamCount(model: Model, x: TensorLike): number {
  const I = model.config.inputSize;
  const bf = model.batchFirst;
  const emb = model.config.embedding !== undefined;
  const shape = isTensor(x) ? x.shape : null;
  const r = shape?.length;
  if (emb) {
    if (r === 1) return shape![0];
    if (r === 2 && shape![bf ? 1 : 0] === 1) return shape![bf ? 0 : 1];
  } else {
    if (r === 2) return shape![0];
    if (r === 3 && shape![bf ? 1 : 0] === 1) return shape![bf ? 0 : 1];
  }
  const want = emb ? `[B] token ids (or ${bf ? '[B, 1], batchFirst' : '[1, B]'})` : `[B, ${I}] (or ${bf ? `[B, 1, ${I}], batchFirst` : `[1, B, ${I}]`})`;
  const hint = emb && (r === 2 || r === 3) ? ' (this model has an embedding: x holds one token id per stream, not one-hot or feature vectors)'
    : !emb && r === 1 ? ' (this model has no embedding: x holds a feature vector per stream; token ids need createModel({ embedding }))' : '';
  fail(`step: x must have shape ${want}, got ${shape ? shapeStr(shape) : show(x)}${hint}`, 'step');
}

/**
 * Draw a class from logits with temperature: p = softmax(logits / temperature)
 * (double precision); temperature 0 takes the argmax.
 */
export function sampleCategorical(logits: ArrayLike<number>, temperature: number, rng: Rng): number {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) fail(`sample: temperature must be a finite number >= 0, got ${temperature}`);
  if (logits.length === 0) fail('sample: no logits');
  let arg = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[arg]) arg = i;
  if (temperature === 0) return arg;
  const m = logits[arg];
  const p = new Float64Array(logits.length);
  for (let i = 0; i < p.length; i++) p[i] = Math.exp((logits[i] - m) / temperature);
  return rng.categorical(p);
}

export interface SampleOptions {
  /** token ids fed first (at least one); the output after the last one gives the first sampled token */
  prime: number[];
  /** tokens to generate */
  length: number;
  /** softmax temperature (default 1; 0 = greedy) */
  temperature?: number;
  /** seed for the draws (default 0), or pass an Rng to continue a stream of draws */
  seed?: number;
  rng?: Rng;
  /** state to start from (zeros when omitted) */
  state?: RecurrentState;
  /** input vector for a token (default: one-hot of size inputSize); not for a model with an embedding, which takes the ids */
  encode?: (token: number) => ArrayLike<number>;
}

/**
 * Generate `length` tokens from a model whose output is logits over classes, feeding each
 * sampled token back in: as its token id to a model with an embedding, else as the vector
 * `encode` gives (default one-hot, e.g. a character model with one-hot inputs).
 */
export function sample(model: Model, opts: SampleOptions): { tokens: number[]; state: RecurrentState } {
  const I = model.config.inputSize;
  opts = normalizeOptions<SampleOptions>('sample', 'options', opts, ['prime', 'length', 'temperature', 'seed', 'rng', 'state', 'encode']);
  if (!Array.isArray(opts?.prime) || opts.prime.length === 0) fail('sample: prime must be a non-empty array of token ids');
  if (!Number.isInteger(opts.length) || opts.length < 0) fail(`sample: length must be an integer >= 0, got ${show(opts.length)}`);
  // every option is checked before the first step, whatever the length (a length-0 call still validates its temperature)
  const temperature = opts.temperature ?? 1;
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) {
    fail(`sample: temperature must be a finite number >= 0, got ${show(opts.temperature)}`, 'sample');
  }
  if (opts.rng !== undefined && !(opts.rng instanceof Rng)) fail(`sample: rng must be an Rng (to continue its stream of draws), got ${show(opts.rng)}`, 'sample');
  if (opts.rng !== undefined && opts.seed !== undefined) {
    fail('sample: seed and rng both given; the draws come from one of them: pass seed for a fresh stream or rng to continue one', 'sample');
  }
  const emb = model.config.embedding;
  let encode: (tok: number) => TensorLike;
  if (emb) {
    if (opts.encode !== undefined) {
      fail('sample: encode maps a token to an input vector, but this model has an embedding and takes the token ids themselves; leave encode out');
    }
    const N = emb.numEmbeddings, O = model.layout.outputWidth;
    opts.prime.forEach((tok, i) => checkTokenId(tok, N, () => `sample: prime[${i}] = ${show(tok)}`));
    if (opts.length > 0 && O > N) {
      fail(`sample: the model's output has ${O} classes, but a sampled class is fed back as a token id, and ids stop at ` +
        `embedding.numEmbeddings ${N}: sampling needs outputSize <= numEmbeddings`);
    }
    encode = (tok) => ({ shape: [1], data: Int32Array.of(tok) });
  } else {
    const vector = opts.encode ?? ((tok: number) => {
      if (!Number.isInteger(tok) || tok < 0 || tok >= I) fail(`sample: token ${tok} is not in [0, ${I - 1}] (one-hot input of size ${I}); pass encode for other inputs`);
      const v = new Float32Array(I);
      v[tok] = 1;
      return v;
    });
    encode = (tok) => ({ shape: [1, I], data: vector(tok) });
  }
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  let state = opts.state;
  let out: Tensor | null = null;
  for (const tok of opts.prime) {
    const r = step(model, encode(tok), state);
    state = r.state;
    out = r.output;
  }
  const tokens: number[] = [];
  for (let i = 0; i < opts.length; i++) {
    const tok = sampleCategorical(out!.data, temperature, rng);
    tokens.push(tok);
    // Feed every sampled token, so the returned state continues the stream after it.
    const r = step(model, encode(tok), state);
    state = r.state;
    out = r.output;
  }
  return { tokens, state: state! };
}
