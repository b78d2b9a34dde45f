// Optimizers with torch.optim's update rules and defaults, options in camelCase.
//
// Each optimizer keeps its state (momentum, Adam's m and v, ...) in flat arena regions
// with the parameter layout, so `step()` is ONE call of `model.ops` over the whole
// parameter region (llm.c style), never a loop over tensors. Scalars that depend on the
// step count (Adam's bias corrections, Adagrad's decayed lr) are computed here in double
// precision, as PyTorch computes them in Python floats.
//
// State buffers are named as torch names them in `optimizer.state[p]` (exp_avg,
// exp_avg_sq, momentum_buffer, ...), which is also how checkpoints store them.

import { BpttError, NonfiniteError, isFiniteF32, normalizeOptions, show } from '../errors.js';
import { nonfiniteTensors, type Model } from '../model.js';

export type OptimizerKind = 'sgd' | 'adam' | 'adamw' | 'rmsprop' | 'adagrad';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** torch's spelling of weightDecay */
  weight_decay?: number;
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** torch's spelling of weightDecay */
  weight_decay?: number;
  amsgrad?: boolean;
}

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  /** torch's spelling of weightDecay */
  weight_decay?: number;
  momentum?: number;
  centered?: boolean;
}

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
  /** torch's spellings of lrDecay, weightDecay, initialAccumulatorValue */
  lr_decay?: number;
  weight_decay?: number;
  initial_accumulator_value?: number;
}

export type OptimizerOptions = SGDOptions | AdamOptions | RMSpropOptions | AdagradOptions;

/** Everything needed to resume bit-exactly: step count, lr, hyperparameters, state regions. */
export interface OptimizerState {
  kind: OptimizerKind;
  /** optimizer steps taken */
  step: number;
  lr: number;
  /** resolved hyperparameters (camelCase, lr excluded) */
  options: Record<string, unknown>;
  /** state regions, each a copy of layout.numParams floats in the parameter layout */
  buffers: Record<string, Float32Array>;
}

function optError(kind: string, msg: string): never {
  throw new BpttError(`bptt-wasm: ${kind}: ${msg}`, kind);
}

function num(kind: string, name: string, v: unknown, min: number, opts: { max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {}): number {
  // float32-finite: the kernels take hyperparameters as float32 (lr 1e39 would be Infinity)
  const ok = isFiniteF32(v) && (opts.minExclusive ? v > min : v >= min) &&
    (opts.max === undefined || (opts.maxExclusive ? v < opts.max : v <= opts.max));
  if (!ok) {
    const range = `${opts.minExclusive ? '>' : '>='} ${min}${opts.max !== undefined ? ` and ${opts.maxExclusive ? '<' : '<='} ${opts.max}` : ''}`;
    optError(kind, `${name} must be a finite number ${range} (in float32 range), got ${show(v)}`);
  }
  return v as number;
}

/**
 * Check option names (the library's one rule): torch's own keyword spellings
 * (weight_decay, lr_decay, initial_accumulator_value) are aliases of the camelCase names,
 * so options copied from a PyTorch script work as they are.
 */
function checkKeys<T extends object>(kind: string, opts: T, allowed: string[]): T {
  return normalizeOptions<T>(kind, 'options', opts, allowed);
}

export abstract class Optimizer {
  readonly model: Model;
  abstract readonly kind: OptimizerKind;
  /** learning rate; may be changed between steps (schedulers do) */
  lr: number;
  /** steps taken (torch's state['step']) */
  protected t = 0;
  /** state regions: torch name -> float offset (layout.numParams floats each) */
  protected readonly regions: Record<string, number> = {};

  protected constructor(model: Model, lr: number) {
    if (!model || typeof model !== 'object' || !model.layout || !model.arena) {
      throw new BpttError('bptt-wasm: optimizer: the first argument must be a model from createModel', 'optimizer');
    }
    this.model = model;
    this.lr = lr;
  }

  /** Allocate the state regions. All are allocated (zeroed) even when an option leaves one unused, so a kernel never sees a dangling offset. */
  protected allocRegions(names: string[]): void {
    for (const n of names) this.regions[n] = this.model.arena.alloc(this.model.layout.numParams);
  }

  /** Number of steps taken. */
  get stepCount(): number {
    return this.t;
  }

  /** the parameters and state regions before the current step (restored if it overflows) */
  private snapshot: Float32Array | null = null;

  /**
   * Update the parameters from the accumulated gradients (one kernel call). A step whose
   * result is NaN/Inf anywhere (weights or state, e.g. SGD with lr 3e38) is undone: the
   * weights, state and step count are put back and a NonfiniteError says so.
   */
  step(): void {
    if (!(isFiniteF32(this.lr) && this.lr >= 0)) {
      optError(this.kind, `lr must be a finite number >= 0 (in float32 range), got ${show(this.lr)}`);
    }
    const m = this.model;
    const n = m.layout.numParams;
    // Only what this step's kernel writes is saved and checked: the parameters and the
    // state regions its options use (SGD without momentum: the parameters alone).
    const active = this.activeRegions();
    const regions = [m.params, ...active.map((k) => this.regions[k])];
    if (!this.snapshot || this.snapshot.length < regions.length * n) this.snapshot = new Float32Array(regions.length * n);
    const snap = this.snapshot;
    regions.forEach((off, i) => snap.set(m.arena.f32.subarray(off, off + n), i * n));
    const saved = this.saveScalars();
    this.t += 1;
    this.update();
    const be = m.ops;
    if (regions.every((off) => be.allFinite(off, n))) return;
    const bad = nonfiniteTensors(m, m.params);
    const badState = active.filter((k) => !be.allFinite(this.regions[k], n));
    regions.forEach((off, i) => m.arena.write(off, snap.subarray(i * n, (i + 1) * n)));
    this.t -= 1;
    this.restoreScalars(saved);
    throw new NonfiniteError(`bptt-wasm: ${this.kind}: step ${this.t + 1} produced non-finite values in ` +
      `${[...bad, ...badState.map((k) => `optimizer state '${k}'`)].join(', ')} (lr ${this.lr}); the weights and the optimizer ` +
      'state were restored to their values before the step (lower the learning rate or clip gradients)', bad, NaN, this.kind);
  }

  /** Scalar state a step changes besides t (SGD's momentum flag); restored with the regions. */
  protected saveScalars(): unknown {
    return undefined;
  }
  protected restoreScalars(_s: unknown): void {}

  protected abstract update(): void;

  /** Hyperparameters other than lr (resolved, camelCase). */
  abstract get options(): Record<string, unknown>;
  protected abstract setOptions(o: Record<string, unknown>): void;

  /** State regions that hold information for the current options (torch's state keys). */
  protected abstract activeRegions(): string[];

  /** Set every gradient to zero. */
  zeroGrad(): void {
    this.model.zeroGrad();
  }

  stateDict(): OptimizerState {
    const n = this.model.layout.numParams;
    const buffers: Record<string, Float32Array> = {};
    for (const name of this.activeRegions()) buffers[name] = this.model.arena.read(this.regions[name], n);
    return { kind: this.kind, step: this.t, lr: this.lr, options: { ...this.options }, buffers };
  }

  /** Restore a stateDict() (step count, lr, hyperparameters and state, as torch's load_state_dict). */
  loadStateDict(s: OptimizerState): void {
    if (!s || typeof s !== 'object') optError(this.kind, 'loadStateDict: expected an object from stateDict()');
    if (s.kind !== this.kind) optError(this.kind, `loadStateDict: state is for optimizer '${typeof s.kind === 'string' ? s.kind : show(s.kind)}', this is '${this.kind}'`);
    if (!Number.isInteger(s.step) || s.step < 0) optError(this.kind, `loadStateDict: step must be an integer >= 0, got ${show(s.step)}`);
    const n = this.model.layout.numParams;
    // Validate everything (on a scratch copy of the options) before changing anything.
    const before = { ...this.options };
    this.setOptions({ ...before, ...s.options });
    const need = this.activeRegions();
    this.setOptions(before);
    for (const name of need) {
      const b = s.buffers?.[name];
      if (s.step > 0 || name === 'sum') {
        if (!(b instanceof Float32Array)) optError(this.kind, `loadStateDict: missing state buffer '${name}'`);
        if (b.length !== n) optError(this.kind, `loadStateDict: buffer '${name}' has ${b.length} floats, this model's parameter region has ${n}`);
      }
      if (b instanceof Float32Array) {
        // a NaN here would reach the weights at the next step without an error
        const i = b.findIndex((v) => !Number.isFinite(v));
        if (i >= 0) optError(this.kind, `loadStateDict: state buffer '${name}'[${i}] is ${b[i]}; optimizer state must be finite`);
      }
    }
    if (!isFiniteF32(s.lr) || s.lr < 0) optError(this.kind, `loadStateDict: lr must be a finite number >= 0 (in float32 range), got ${show(s.lr)}`);
    this.setOptions({ ...before, ...s.options });
    this.lr = s.lr;
    this.t = s.step;
    for (const name of Object.keys(this.regions)) {
      const b = s.buffers?.[name];
      if (b instanceof Float32Array && b.length === n) this.model.arena.write(this.regions[name], b);
      else this.model.ops.fill(this.regions[name], n, 0);
    }
  }
}

/** torch.optim.SGD: lr is required (as in torch < 2.2). */
export class SGD extends Optimizer {
  readonly kind = 'sgd' as const;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;

  constructor(model: Model, opts: SGDOptions) {
    if (!opts || typeof opts !== 'object') optError('SGD', 'options { lr, momentum?, dampening?, nesterov?, weightDecay? } are required');
    opts = checkKeys('SGD', opts, ['lr', 'momentum', 'dampening', 'nesterov', 'weightDecay']);
    super(model, num('SGD', 'lr', opts.lr, 0));
    this.momentum = 0; this.dampening = 0; this.nesterov = false; this.weightDecay = 0;
    this.setOptions({ momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 0 });
    this.allocRegions(['momentum_buffer']);
  }

  get options(): Record<string, unknown> {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected setOptions(o: Record<string, unknown>): void {
    const momentum = num('SGD', 'momentum', o.momentum, 0);
    const dampening = num('SGD', 'dampening', o.dampening, -Infinity);
    const weightDecay = num('SGD', 'weightDecay', o.weightDecay, 0);
    const nesterov = o.nesterov;
    if (typeof nesterov !== 'boolean') optError('SGD', `nesterov must be a boolean, got ${String(nesterov)}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) optError('SGD', 'Nesterov momentum requires a momentum and zero dampening');
    Object.assign(this, { momentum, dampening, nesterov, weightDecay });
  }

  protected activeRegions(): string[] {
    return this.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  /** whether the momentum buffer holds a value (torch: state['momentum_buffer'] is not None) */
  private bufferSet = false;

  protected update(): void {
    const m = this.model;
    // torch initialises the momentum buffer to the first (decayed) gradient, undamped: on
    // the first step that uses momentum, which is not step 1 if momentum was turned on later.
    const first = !this.bufferSet;
    if (this.momentum !== 0) this.bufferSet = true;
    m.ops.sgdStep(m.params, m.grads, this.regions.momentum_buffer, m.layout.numParams, this.lr, this.momentum,
      this.dampening, this.nesterov, this.weightDecay, first);
  }

  override loadStateDict(s: OptimizerState): void {
    super.loadStateDict(s);
    this.bufferSet = s.step > 0 && s.buffers?.momentum_buffer instanceof Float32Array;
  }

  protected override saveScalars(): unknown {
    return this.bufferSet;
  }
  protected override restoreScalars(s: unknown): void {
    this.bufferSet = s as boolean;
  }
}

/** torch.optim.Adam (L2 weight decay added to the gradient). */
export class Adam extends Optimizer {
  readonly kind: 'adam' | 'adamw' = 'adam';
  betas: [number, number] = [0.9, 0.999];
  eps = 1e-8;
  weightDecay = 0;
  amsgrad = false;
  /** 'Adam' or 'AdamW', for messages (set before AdamW's own field initialisers run) */
  private label: string;

  constructor(model: Model, opts: AdamOptions = {}, defaults: { weightDecay: number; name: string } = { weightDecay: 0, name: 'Adam' }) {
    if (!opts || typeof opts !== 'object') optError(defaults.name, 'options must be an object');
    opts = checkKeys(defaults.name, opts, ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']);
    super(model, num(defaults.name, 'lr', opts.lr ?? 1e-3, 0));
    this.label = defaults.name;
    this.setOptions({ betas: opts.betas ?? [0.9, 0.999], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? defaults.weightDecay, amsgrad: opts.amsgrad ?? false });
    this.allocRegions(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
  }

  get options(): Record<string, unknown> {
    return { betas: [...this.betas], eps: this.eps, weightDecay: this.weightDecay, amsgrad: this.amsgrad };
  }

  protected setOptions(o: Record<string, unknown>): void {
    const name = this.label;
    const betas = o.betas;
    if (!Array.isArray(betas) || betas.length !== 2) optError(name, `betas must be [beta1, beta2], got ${JSON.stringify(betas)}`);
    const b1 = num(name, 'betas[0]', betas[0], 0, { max: 1, maxExclusive: true });
    const b2 = num(name, 'betas[1]', betas[1], 0, { max: 1, maxExclusive: true });
    const eps = num(name, 'eps', o.eps, 0);
    const weightDecay = num(name, 'weightDecay', o.weightDecay, 0);
    if (typeof o.amsgrad !== 'boolean') optError(name, `amsgrad must be a boolean, got ${String(o.amsgrad)}`);
    this.betas = [b1, b2];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.amsgrad = o.amsgrad;
  }

  protected activeRegions(): string[] {
    return this.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }

  protected update(): void {
    const m = this.model;
    const [b1, b2] = this.betas;
    // torch: bias_correction1 = 1 - beta1**step; step_size = lr / bias_correction1;
    //        bias_correction2_sqrt = sqrt(1 - beta2**step)   (Python floats: double)
    const stepSize = this.lr / (1 - Math.pow(b1, this.t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, this.t));
    const r = this.regions;
    m.ops.adamStep(m.params, m.grads, r.exp_avg, r.exp_avg_sq, r.max_exp_avg_sq, m.layout.numParams, this.lr, b1, b2,
      this.eps, this.weightDecay, this.kind === 'adamw', this.amsgrad, stepSize, bc2Sqrt);
  }
}

/** torch.optim.AdamW: decoupled weight decay p *= 1 - lr * weightDecay; default weightDecay 0.01. */
export class AdamW extends Adam {
  override readonly kind = 'adamw' as const;
  constructor(model: Model, opts: AdamOptions = {}) {
    super(model, opts, { weightDecay: 0.01, name: 'AdamW' });
  }
}

/** torch.optim.RMSprop. */
export class RMSprop extends Optimizer {
  readonly kind = 'rmsprop' as const;
  alpha = 0.99;
  eps = 1e-8;
  weightDecay = 0;
  momentum = 0;
  centered = false;

  constructor(model: Model, opts: RMSpropOptions = {}) {
    if (!opts || typeof opts !== 'object') optError('RMSprop', 'options must be an object');
    opts = checkKeys('RMSprop', opts, ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']);
    super(model, num('RMSprop', 'lr', opts.lr ?? 1e-2, 0));
    this.setOptions({ alpha: opts.alpha ?? 0.99, eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 0, momentum: opts.momentum ?? 0, centered: opts.centered ?? false });
    this.allocRegions(['square_avg', 'grad_avg', 'momentum_buffer']);
  }

  get options(): Record<string, unknown> {
    return { alpha: this.alpha, eps: this.eps, weightDecay: this.weightDecay, momentum: this.momentum, centered: this.centered };
  }

  protected setOptions(o: Record<string, unknown>): void {
    const alpha = num('RMSprop', 'alpha', o.alpha, 0);
    const eps = num('RMSprop', 'eps', o.eps, 0);
    const weightDecay = num('RMSprop', 'weightDecay', o.weightDecay, 0);
    const momentum = num('RMSprop', 'momentum', o.momentum, 0);
    if (typeof o.centered !== 'boolean') optError('RMSprop', `centered must be a boolean, got ${String(o.centered)}`);
    Object.assign(this, { alpha, eps, weightDecay, momentum, centered: o.centered });
  }

  protected activeRegions(): string[] {
    return ['square_avg', ...(this.centered ? ['grad_avg'] : []), ...(this.momentum > 0 ? ['momentum_buffer'] : [])];
  }

  protected update(): void {
    const m = this.model;
    const r = this.regions;
    m.ops.rmspropStep(m.params, m.grads, r.square_avg, r.grad_avg, r.momentum_buffer, m.layout.numParams, this.lr,
      this.alpha, this.eps, this.weightDecay, this.momentum, this.centered);
  }
}

/** torch.optim.Adagrad: clr = lr / (1 + (t - 1) * lrDecay); sum starts at initialAccumulatorValue. */
export class Adagrad extends Optimizer {
  readonly kind = 'adagrad' as const;
  lrDecay = 0;
  weightDecay = 0;
  initialAccumulatorValue = 0;
  eps = 1e-10;

  constructor(model: Model, opts: AdagradOptions = {}) {
    if (!opts || typeof opts !== 'object') optError('Adagrad', 'options must be an object');
    opts = checkKeys('Adagrad', opts, ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']);
    super(model, num('Adagrad', 'lr', opts.lr ?? 1e-2, 0));
    this.setOptions({ lrDecay: opts.lrDecay ?? 0, weightDecay: opts.weightDecay ?? 0, initialAccumulatorValue: opts.initialAccumulatorValue ?? 0, eps: opts.eps ?? 1e-10 });
    this.allocRegions(['sum']);
    // Per tensor, so the alignment padding of the region stays 0 like every region.
    const v = this.initialAccumulatorValue;
    if (v !== 0) for (const t of model.layout.tensors) model.ops.fill(this.regions.sum + t.offset, t.size, v);
  }

  get options(): Record<string, unknown> {
    return { lrDecay: this.lrDecay, weightDecay: this.weightDecay, initialAccumulatorValue: this.initialAccumulatorValue, eps: this.eps };
  }

  protected setOptions(o: Record<string, unknown>): void {
    const lrDecay = num('Adagrad', 'lrDecay', o.lrDecay, 0);
    const weightDecay = num('Adagrad', 'weightDecay', o.weightDecay, 0);
    const initialAccumulatorValue = num('Adagrad', 'initialAccumulatorValue', o.initialAccumulatorValue, 0);
    const eps = num('Adagrad', 'eps', o.eps, 0);
    Object.assign(this, { lrDecay, weightDecay, initialAccumulatorValue, eps });
  }

  protected activeRegions(): string[] {
    return ['sum'];
  }

  protected update(): void {
    const m = this.model;
    const clr = this.lr / (1 + (this.t - 1) * this.lrDecay);
    m.ops.adagradStep(m.params, m.grads, this.regions.sum, m.layout.numParams, clr, this.weightDecay, this.eps);
  }
}

/** Build an optimizer by kind (used by checkpoints and the training loop). */
export function createOptimizer(kind: OptimizerKind, model: Model, options: Record<string, unknown> & { lr?: number }): Optimizer {
  switch (kind) {
    case 'sgd': return new SGD(model, options as unknown as SGDOptions);
    case 'adam': return new Adam(model, options as AdamOptions);
    case 'adamw': return new AdamW(model, options as AdamOptions);
    case 'rmsprop': return new RMSprop(model, options as RMSpropOptions);
    case 'adagrad': return new Adagrad(model, options as AdagradOptions);
  }
  throw new BpttError(`bptt-wasm: unknown optimizer kind ${show(kind)} (expected sgd, adam, adamw, rmsprop, adagrad)`, 'createOptimizer');
}
