// Metrics for fit/evaluate: accuracy for class ids, MAE/MSE/RMSE for values, summed in
// double precision over exactly the steps the loss counts: every step, or each sequence's
// last one (lastStepOnly), and of those only the valid ones when a per-step mask (from
// sequence lengths) is given. Sums add across batches, so an epoch's metric is over all of
// its rows, not a mean of batch means.

import { fail, type TensorLike } from '../errors.js';

export const METRICS = ['accuracy', 'mae', 'mse', 'rmse'] as const;
export type MetricName = (typeof METRICS)[number];

/** Which target each metric needs: class ids (cross_entropy) or values (mse). */
const NEEDS: Record<MetricName, 'cross_entropy' | 'mse'> = { accuracy: 'cross_entropy', mae: 'mse', mse: 'mse', rmse: 'mse' };

/** Validate a metrics list against the loss kind; returns it (deduplicated, in order). */
export function checkMetrics(what: string, metrics: unknown, kind: 'mse' | 'cross_entropy'): MetricName[] {
  if (metrics === undefined) return [];
  if (!Array.isArray(metrics)) fail(`${what}: metrics must be an array of names (${METRICS.join(', ')}), got ${JSON.stringify(metrics)}`);
  const out: MetricName[] = [];
  for (const m of metrics) {
    if (!(METRICS as readonly unknown[]).includes(m)) fail(`${what}: unknown metric ${JSON.stringify(m)} (metrics: ${METRICS.join(', ')})`);
    const name = m as MetricName;
    if (NEEDS[name] !== kind) {
      fail(`${what}: metric '${name}' needs ${NEEDS[name] === 'mse' ? 'value targets (loss kind mse)' : 'class-id targets (loss kind cross_entropy)'}, ` +
        `but the loss kind is '${kind}'`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** A [T, B] mask (1 = step exists) from per-sequence lengths, as PyTorch's packed sequences count steps. */
export function lengthsMask(lengths: ArrayLike<number>, T: number): Uint8Array {
  const B = lengths.length;
  const mask = new Uint8Array(T * B);
  for (let b = 0; b < B; b++) {
    const n = lengths[b];
    if (!Number.isInteger(n) || n < 1 || n > T) fail(`lengths[${b}] = ${n} must be an integer in [1, ${T}]`);
    for (let t = 0; t < n; t++) mask[t * B + b] = 1;
  }
  return mask;
}

export interface MetricBatchOptions {
  kind: 'mse' | 'cross_entropy';
  lastStepOnly?: boolean;
  /** [T, B], nonzero where a step exists; with lastStepOnly each sequence's last such step counts */
  mask?: ArrayLike<number>;
  /** per-sequence lengths (B values); the same as the mask they imply */
  lengths?: ArrayLike<number>;
  /** class-id targets equal to this do not count (the loss's ignoreIndex; default -100) */
  ignoreIndex?: number;
}

/** Running sums for a list of metrics over batches of outputs [T, B, O] and their targets. */
export class MetricAccumulator {
  private correct = 0;
  private rows = 0;
  private absSum = 0;
  private sqSum = 0;
  private values = 0;

  constructor(readonly names: readonly MetricName[]) {}

  /**
   * Add one batch. target: class ids [T, B] (or [B] with lastStepOnly) for accuracy;
   * values [T, B, O] (or [B, O] with lastStepOnly) for the others. With lastStepOnly and a
   * full-length target, the target at the counted step is used (as the loss does).
   */
  add(output: TensorLike, target: TensorLike, opts: MetricBatchOptions): void {
    if (this.names.length === 0) return;
    const [T, B, O] = output.shape;
    const y = output.data, td = target.data;
    const ce = opts.kind === 'cross_entropy';
    const mask = opts.mask ?? (opts.lengths ? lengthsMask(opts.lengths, T) : null);
    if (mask && mask.length !== T * B) fail(`metrics: mask has ${mask.length} values, expected T * B = ${T * B}`);
    const width = ce ? 1 : O;
    const short = opts.lastStepOnly === true && td.length === B * width;
    if (!short && td.length !== T * B * width) {
      fail(`metrics: target has ${td.length} values, expected ${T * B * width}${opts.lastStepOnly ? ` or ${B * width}` : ''} for output [${T}, ${B}, ${O}]`);
    }
    const count = (t: number, b: number): void => {
      const yo = (t * B + b) * O;
      const to = (short ? b : t * B + b) * width;
      if (ce) {
        if (td[to] === (opts.ignoreIndex ?? -100)) return;
        let arg = 0;
        for (let o = 1; o < O; o++) if (y[yo + o] > y[yo + arg]) arg = o;
        if (arg === td[to]) this.correct++;
        this.rows++;
        return;
      }
      for (let o = 0; o < O; o++) {
        const d = y[yo + o] - td[to + o];
        this.absSum += Math.abs(d);
        this.sqSum += d * d;
      }
      this.values += O;
    };
    for (let b = 0; b < B; b++) {
      if (opts.lastStepOnly) {
        let t = T - 1;
        if (mask) while (t >= 0 && !mask[t * B + b]) t--;
        if (t >= 0) count(t, b);
      } else {
        for (let t = 0; t < T; t++) if (!mask || mask[t * B + b]) count(t, b);
      }
    }
  }

  /** The metrics over everything added so far (NaN for a metric with nothing counted). */
  result(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.names) {
      if (m === 'accuracy') out[m] = this.rows ? this.correct / this.rows : NaN;
      else if (m === 'mae') out[m] = this.values ? this.absSum / this.values : NaN;
      else if (m === 'mse') out[m] = this.values ? this.sqSum / this.values : NaN;
      else out[m] = this.values ? Math.sqrt(this.sqSum / this.values) : NaN;
    }
    return out;
  }
}

/** "accuracy 0.9375, mae 0.0123" for log lines (prefix e.g. 'val_'). */
export function formatMetrics(values: Record<string, number> | undefined, prefix = ''): string {
  if (!values) return '';
  return Object.entries(values).map(([k, v]) => `, ${prefix}${k} ${v.toPrecision(4)}`).join('');
}
