// The loss spec and the one rule for a loss target's shape, shared by the model (lossAndGrad,
// loss), the host-side reference lossValue, and the dataset slicing of fit/evaluate/trainTruncated;
// and the one rule for a target's values (checkTargetValue).
// The loss numbers themselves are computed in one place per backend: assembly/loss.ts (wasm)
// and backend/js.ts (js), called from Model.computeLoss (which itself reads out only mse's
// per-element (y - t)^2 for reduction 'none'; the kernels return sums).

import { FLOAT32_MAX, checkOneOf, fail, isFiniteF32, normalizeOptions, shapeStr, show, type TensorLike } from './errors.js';

export interface LossSpec {
  kind: 'mse' | 'cross_entropy';
  /**
   * 'none': the result's `losses` holds each step's loss ([T, B] for cross_entropy, [T, B, O]
   * for mse; [B] / [B, O] with lastStepOnly), `loss` their sum, and the gradients are of the sum
   */
  reduction: 'sum' | 'mean' | 'none';
  /** loss on the final step's output only (many-to-one) */
  lastStepOnly?: boolean;
  /** cross_entropy: targets equal to this add no loss or gradient and do not count for 'mean' (PyTorch's ignore_index; default -100) */
  ignoreIndex?: number;
  /** cross_entropy: one weight per class ([outputSize]); 'mean' divides by the summed weights of the counted targets, as PyTorch */
  weight?: ArrayLike<number>;
  /** cross_entropy: PyTorch's label_smoothing in [0, 1] (default 0) */
  labelSmoothing?: number;
}

/** A validated loss spec with its defaults filled in. */
export interface ResolvedLoss {
  kind: 'mse' | 'cross_entropy';
  reduction: 'sum' | 'mean' | 'none';
  lastStepOnly: boolean;
  ignoreIndex: number;
  weight: Float32Array | null;
  labelSmoothing: number;
}

const LOSS_KEYS = ['kind', 'reduction', 'lastStepOnly', 'ignoreIndex', 'weight', 'labelSmoothing'];

/** Validate a loss spec ({ kind, reduction, lastStepOnly?, ... }) and fill in its defaults. */
export function checkLossSpec(loss: LossSpec): ResolvedLoss {
  if (loss === null || typeof loss !== 'object') fail(`loss must be { kind, reduction, lastStepOnly? }, got ${show(loss)}`, 'loss');
  loss = normalizeOptions<LossSpec>('loss', 'the loss spec', loss, LOSS_KEYS);
  const kind = checkOneOf('loss.kind', loss.kind, ['mse', 'cross_entropy'] as const);
  const reduction = checkOneOf('loss.reduction', loss.reduction, ['sum', 'mean', 'none'] as const);
  const lastStepOnly = loss.lastStepOnly ?? false;
  if (typeof lastStepOnly !== 'boolean') fail(`loss.lastStepOnly must be a boolean, got ${JSON.stringify(lastStepOnly)}`);
  if (kind === 'mse') {
    for (const k of ['ignoreIndex', 'weight', 'labelSmoothing'] as const) {
      if (loss[k] !== undefined) fail(`loss.${k} applies to kind 'cross_entropy' only; got it with kind 'mse'`);
    }
  }
  const ignoreIndex = loss.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex)) fail(`loss.ignoreIndex must be an integer, got ${JSON.stringify(loss.ignoreIndex)}`);
  const labelSmoothing = loss.labelSmoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    fail(`loss.labelSmoothing must be a number in [0, 1], got ${JSON.stringify(loss.labelSmoothing)}`);
  }
  let weight: Float32Array | null = null;
  if (loss.weight !== undefined) {
    const w = loss.weight;
    if (w === null || typeof w !== 'object' || typeof w.length !== 'number') fail(`loss.weight must be an array of one weight per class, got ${JSON.stringify(w)}`);
    weight = Float32Array.from(w);
    for (let i = 0; i < weight.length; i++) {
      if (!(Number.isFinite(w[i]) && w[i] >= 0)) fail(`loss.weight[${i}] is ${w[i]}, expected a finite number >= 0`);
    }
  }
  return { kind, reduction, lastStepOnly, ignoreIndex, weight, labelSmoothing };
}

/** How a valid target is laid out. */
export interface TargetLayout {
  /** true: [T, B, O] / [T, B] (batch-first [B, T, O] / [B, T]); false: lastStepOnly's short form [B, O] / [B] */
  hasTime: boolean;
  /** values per (t, b): O for mse, 1 (a class id) for cross_entropy */
  width: number;
  /** class ids (cross_entropy) rather than values */
  int: boolean;
}

/** Does a target of this shape carry a time axis (rather than lastStepOnly's short form)? */
export function targetHasTime(shape: readonly number[], spec: { kind: LossSpec['kind'] }): boolean {
  return shape.length === (spec.kind === 'mse' ? 3 : 2);
}

/**
 * The one rule for a loss target's shape: mse takes values [T, B, O] (batch-first [B, T, O]),
 * cross_entropy class ids [T, B] ([B, T]); with lastStepOnly also the short form [B, O] / [B]
 * (each sequence's target at its own last step). `O` is the output width, or null where it is
 * not known yet (a dataset before any model sees it): then the target's own last axis.
 * Checks the shape and the data length (not the values); `where` prefixes the message.
 */
export function targetLayout(where: string, target: unknown, spec: ResolvedLoss, T: number, B: number, O: number | null,
  batchFirst = false): TargetLayout {
  const pre = where ? `${where}: ` : '';
  const t = target as TensorLike;
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || t.data == null || typeof t.data.length !== 'number') {
    fail(`${pre}target must be a tensor { shape, data }, got ${show(target)}`, where || undefined);
  }
  const mse = spec.kind === 'mse';
  const s = t.shape;
  const hasTime = !spec.lastStepOnly || targetHasTime(s, spec);
  const width = mse ? O ?? s[s.length - 1] : 1;
  const tb = batchFirst ? [B, T] : [T, B];
  const want = mse ? (hasTime ? [...tb, width] : [B, width]) : hasTime ? tb : [B];
  const widthOk = Number.isInteger(width) && width >= 1;
  if (!widthOk || s.length !== want.length || s.some((d, i) => d !== want[i])) {
    const W = O ?? 'outputSize';
    const dims = batchFirst ? 'B, T' : 'T, B';
    const dimsStr = (d: (number | string)[]): string => `[${d.join(', ')}]`; // 'outputSize' unquoted
    const long = dimsStr(mse ? [...tb, W] : tb), short = dimsStr(mse ? [B, W] : [B]);
    const desc = mse ? `${dims}, outputSize${spec.lastStepOnly ? ' or B, outputSize' : ''}` : `class ids, ${dims}${spec.lastStepOnly ? ' or B' : ''}`;
    fail(`${pre}${spec.kind} target has shape ${shapeStr(s)}, expected ${long}${spec.lastStepOnly ? ` or ${short}` : ''} (${desc})`,
      where || undefined);
  }
  const n = want.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) fail(`${pre}target.data has ${t.data.length} values, expected ${n} for shape ${shapeStr(want)}`, where || undefined);
  return { hasTime, width, int: !mse };
}

/**
 * The one rule for a target's values (at the steps the loss reads): mse takes finite float32
 * numbers, cross_entropy a class id in [0, O) or the ignoreIndex. `name` is the value's
 * place (`target.data[i]`), `where` (optional) says where it is in the caller's terms.
 */
export function checkTargetValue(v: number, spec: ResolvedLoss, O: number, name: string, where = ''): void {
  if (spec.kind === 'mse') {
    if (!isFiniteF32(v)) fail(`${name}${where} is ${show(v)}; values must be finite float32 numbers (|v| <= ${FLOAT32_MAX})`);
  } else if (v !== spec.ignoreIndex && (!Number.isInteger(v) || v < 0 || v >= O)) {
    fail(`${name} = ${v}${where} is not a class id in [0, ${O - 1}] (outputSize ${O}) or the ignoreIndex ${spec.ignoreIndex}`);
  }
}

/** Whether checkTargetValue accepts v: the same rule, with no message built (the hot path; call checkTargetValue for the error). */
export function targetValueOk(v: number, spec: ResolvedLoss, O: number): boolean {
  return spec.kind === 'mse' ? isFiniteF32(v) : v === spec.ignoreIndex || (Number.isInteger(v) && v >= 0 && v < O);
}

/** cross_entropy's class weights: one per class of the model's output. */
export function checkClassWeights(spec: ResolvedLoss, O: number): void {
  if (spec.kind === 'cross_entropy' && spec.weight && spec.weight.length !== O) {
    fail(`loss.weight has ${spec.weight.length} values, expected one per class: outputSize ${O}`);
  }
}

/**
 * Every value of a target (of layout `tl`, over T steps and B sequences, in the caller's
 * layout) that the loss reads: valid steps, or each sequence's last with lastStepOnly. A bad
 * one is named by its index and its step and sequence, so a dataset or a list of
 * micro-batches can be checked whole before any of it trains.
 */
export function checkTargetValues(where: string, target: TensorLike, tl: TargetLayout, spec: ResolvedLoss, T: number, B: number,
  O: number, lengths: ArrayLike<number> | null, batchFirst: boolean): void {
  checkClassWeights(spec, O);
  const { hasTime, width: w } = tl;
  const data = target.data;
  const len = (b: number): number => (lengths ? lengths[b] : T);
  const check = (t: number, b: number): void => {
    const i0 = (hasTime ? (batchFirst ? b * T + t : t * B + b) : b) * w;
    for (let k = 0; k < w; k++) {
      const v = data[i0 + k];
      // the message (and its strings) only for a value that fails
      if (!targetValueOk(v, spec, O)) checkTargetValue(v, spec, O, `${where}: target.data[${i0 + k}]`, ` (${hasTime ? `step ${t} of ` : ''}sequence ${b})`);
    }
  };
  for (let b = 0; b < B; b++) {
    if (spec.lastStepOnly) check(len(b) - 1, b);
    else for (let t = 0; t < len(b); t++) check(t, b);
  }
}
