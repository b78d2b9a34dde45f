// Time series into training data: sliding windows in the time-major layout the models take,
// and standardisation fitted on the training part only (so validation statistics do not
// leak into training), stored with the model as checkpoint metadata.

import { fail, type TensorLike } from '../errors.js';
import type { Tensor } from '../model.js';
import { tensor } from './tensor.js';

/** A series of n steps: numbers (one feature), rows of F features, or a tensor [n] / [n, F]. */
export type SeriesLike = ArrayLike<number> | readonly ArrayLike<number>[] | TensorLike;

interface Series {
  n: number;
  F: number;
  data: ArrayLike<number>;
}

function isTensor(v: unknown): v is TensorLike {
  return v !== null && typeof v === 'object' && Array.isArray((v as TensorLike).shape) && (v as TensorLike).data != null;
}

function asSeries(what: string, s: SeriesLike): Series {
  if (isTensor(s)) {
    const sh = s.shape;
    if (sh.length !== 1 && sh.length !== 2) fail(`${what}: series tensor has shape [${sh.join(', ')}], expected [n] or [n, features]`);
    const n = sh[0], F = sh.length === 2 ? sh[1] : 1;
    if (s.data.length !== n * F) fail(`${what}: series data has ${s.data.length} values, shape [${sh.join(', ')}] needs ${n * F}`);
    return { n, F, data: s.data };
  }
  if (s === null || typeof s !== 'object' || typeof (s as ArrayLike<unknown>).length !== 'number') {
    fail(`${what}: series must be an array of numbers, an array of feature rows, or a tensor [n, features]; got ${s === null ? 'null' : typeof s}`);
  }
  const first = (s as ArrayLike<unknown>)[0];
  if (first !== null && typeof first === 'object') {
    const t = tensor(s as readonly ArrayLike<number>[]);
    if (t.shape.length !== 2) fail(`${what}: series rows must be flat arrays of features, got nesting of shape [${t.shape.join(', ')}]`);
    return { n: t.shape[0], F: t.shape[1], data: t.data };
  }
  const a = s as ArrayLike<number>;
  for (let i = 0; i < a.length; i++) {
    if (typeof a[i] !== 'number' || !Number.isFinite(a[i])) fail(`${what}: series[${i}] is ${String(a[i])}, expected a finite number`);
  }
  return { n: a.length, F: 1, data: a };
}

const posInt = (what: string, name: string, v: unknown, def?: number): number => {
  const x = v ?? def;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) fail(`${what}: ${name} must be an integer >= 1, got ${JSON.stringify(v)}`);
  return x;
};

export interface WindowOptions {
  /** steps in each input window (T) */
  length: number;
  /** steps after the window to predict (default 1); the target holds all of them */
  horizon?: number;
  /** steps between the starts of consecutive windows (default 1) */
  stride?: number;
  /** x as [N, length, F] instead of the time-major [length, N, F] */
  batchFirst?: boolean;
  /**
   * a target at every step (sequence to sequence): [length, N, horizon * F], step t's being
   * the horizon steps after step t (default false: only the window's last step, [N, horizon * F])
   */
  everyStep?: boolean;
}

export interface Windows {
  /** [length, N, F] (time-major), or [N, length, F] with batchFirst */
  x: Tensor;
  /**
   * [N, horizon * F]: the horizon steps after each window, step-major (mse with lastStepOnly);
   * with everyStep [length, N, horizon * F] (or [N, length, horizon * F] with batchFirst)
   */
  target: Tensor;
  /** index in the series of each window's first step */
  start: Int32Array;
}

/**
 * Sliding windows over a series: window i covers steps [s, s + length) with
 * s = i * stride, and its target is steps [s + length, s + length + horizon).
 * The result is a Dataset for fit with loss { kind: 'mse', lastStepOnly: true }.
 */
export function windows(series: SeriesLike, opts: WindowOptions): Windows {
  if (opts === null || typeof opts !== 'object') fail(`windows: options must be { length, horizon?, stride?, batchFirst? }, got ${String(opts)}`);
  const known = ['length', 'horizon', 'stride', 'batchFirst', 'everyStep'];
  for (const k of Object.keys(opts)) if (!known.includes(k)) fail(`windows: unknown option '${k}' (options: ${known.join(', ')})`);
  const { n, F, data } = asSeries('windows', series);
  const T = posInt('windows', 'length', opts.length);
  const h = posInt('windows', 'horizon', opts.horizon, 1);
  const stride = posInt('windows', 'stride', opts.stride, 1);
  const batchFirst = opts.batchFirst ?? false;
  const every = opts.everyStep ?? false;
  if (typeof batchFirst !== 'boolean') fail(`windows: batchFirst must be a boolean, got ${JSON.stringify(batchFirst)}`);
  if (typeof every !== 'boolean') fail(`windows: everyStep must be a boolean, got ${JSON.stringify(every)}`);
  if (n < T + h) fail(`windows: the series has ${n} steps, fewer than length + horizon = ${T} + ${h} = ${T + h}`);
  const N = Math.floor((n - T - h) / stride) + 1;
  const x = new Float32Array(T * N * F);
  const W = h * F;
  const y = new Float32Array((every ? T : 1) * N * W);
  const start = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const s = i * stride;
    start[i] = s;
    for (let t = 0; t < T; t++) {
      const o = batchFirst ? i * T + t : t * N + i;
      for (let f = 0; f < F; f++) x[o * F + f] = data[(s + t) * F + f];
      if (every) for (let j = 0; j < W; j++) y[o * W + j] = data[(s + t + 1) * F + j];
    }
    if (!every) for (let j = 0; j < W; j++) y[i * W + j] = data[(s + T) * F + j];
  }
  const target = every ? { shape: batchFirst ? [N, T, W] : [T, N, W], data: y } : { shape: [N, W], data: y };
  return { x: { shape: batchFirst ? [N, T, F] : [T, N, F], data: x }, target, start };
}

/** The metadata key under which a Standardizer is stored (the CLI's `train` writes the same). */
export const STANDARDIZE_KEY = 'bptt_wasm.standardize';

/** Per-feature (v - mean) / std; the feature of a flat value is its index modulo the feature count. */
export class Standardizer {
  readonly mean: Float64Array;
  readonly std: Float64Array;

  constructor(mean: ArrayLike<number>, std: ArrayLike<number>) {
    if (mean.length < 1 || mean.length !== std.length) fail(`Standardizer: mean (${mean.length} values) and std (${std.length}) must have the same length >= 1`);
    for (let i = 0; i < mean.length; i++) {
      if (!Number.isFinite(mean[i])) fail(`Standardizer: mean[${i}] is ${mean[i]}, expected a finite number`);
      if (!(Number.isFinite(std[i]) && std[i] > 0)) fail(`Standardizer: std[${i}] is ${std[i]}, expected a finite number > 0`);
    }
    this.mean = Float64Array.from(mean);
    this.std = Float64Array.from(std);
  }

  get features(): number {
    return this.mean.length;
  }

  /** Standardize: numbers give a Float32Array, a tensor (or nested rows) gives a tensor of the same shape. */
  apply(v: ArrayLike<number>): Float32Array;
  apply(v: TensorLike): Tensor;
  apply(v: SeriesLike): Float32Array | Tensor;
  apply(v: SeriesLike): Float32Array | Tensor {
    return this.map('apply', v, (x, f) => (x - this.mean[f]) / this.std[f]);
  }

  /** Undo apply (e.g. on predictions [N, horizon * F]), to the series' own units. */
  invert(v: ArrayLike<number>): Float32Array;
  invert(v: TensorLike): Tensor;
  invert(v: SeriesLike): Float32Array | Tensor;
  invert(v: SeriesLike): Float32Array | Tensor {
    return this.map('invert', v, (x, f) => x * this.std[f] + this.mean[f]);
  }

  private map(what: string, v: SeriesLike, fn: (x: number, f: number) => number): Float32Array | Tensor {
    const F = this.features;
    const t = isTensor(v) ? v : (v !== null && typeof v === 'object' && typeof (v as ArrayLike<unknown>)[0] === 'object') ? tensor(v as readonly ArrayLike<number>[]) : null;
    const src = t ? t.data : asSeries(`Standardizer.${what}`, v).data;
    if (src.length % F !== 0) fail(`Standardizer.${what}: ${src.length} values are not a whole number of rows of ${F} features`);
    if (t && t.shape.length > 0 && t.shape[t.shape.length - 1] % F !== 0) {
      fail(`Standardizer.${what}: the last axis of shape [${t.shape.join(', ')}] is not a multiple of the ${F} features`);
    }
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = fn(src[i], i % F);
    return t ? { shape: [...t.shape], data: out } : out;
  }

  /** { mean, std }: numbers for one feature (as the CLI stores them), arrays otherwise. */
  toJSON(): { mean: number | number[]; std: number | number[] } {
    return this.features === 1 ? { mean: this.mean[0], std: this.std[0] } : { mean: [...this.mean], std: [...this.std] };
  }

  /** Checkpoint metadata: pass as saveCheckpoint(model, path, { metadata: s.toMetadata() }). */
  toMetadata(): Record<string, string> {
    return { [STANDARDIZE_KEY]: JSON.stringify(this.toJSON()) };
  }

  /** The Standardizer stored by toMetadata (or by the CLI's `train`), from a checkpoint's metadata. */
  static fromMetadata(metadata: Record<string, string>): Standardizer {
    const raw = metadata?.[STANDARDIZE_KEY];
    if (raw === undefined) fail(`Standardizer.fromMetadata: the metadata has no '${STANDARDIZE_KEY}' entry`);
    let j: { mean?: unknown; std?: unknown };
    try {
      j = JSON.parse(raw);
    } catch (e) {
      fail(`Standardizer.fromMetadata: '${STANDARDIZE_KEY}' is not valid JSON (${(e as Error).message})`);
    }
    const arr = (name: string, v: unknown): number[] => {
      if (typeof v === 'number') return [v];
      if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v;
      fail(`Standardizer.fromMetadata: '${name}' must be a number or an array of numbers, got ${JSON.stringify(v)}`);
    };
    return new Standardizer(arr('mean', j?.mean), arr('std', j?.std));
  }
}

/**
 * Mean and (population) std per feature of the training part of a series; a constant
 * feature gets std 1 so that apply maps it to 0 instead of dividing by zero.
 */
export function standardize(train: SeriesLike): Standardizer {
  const { n, F, data } = asSeries('standardize', train);
  if (n < 1) fail('standardize: the series is empty');
  const mean = new Float64Array(F), std = new Float64Array(F);
  for (let i = 0; i < n * F; i++) mean[i % F] += data[i];
  for (let f = 0; f < F; f++) mean[f] /= n;
  for (let i = 0; i < n * F; i++) std[i % F] += (data[i] - mean[i % F]) ** 2;
  for (let f = 0; f < F; f++) std[f] = Math.sqrt(std[f] / n) || 1;
  return new Standardizer(mean, std);
}
