// Learning-rate schedules with torch.optim.lr_scheduler semantics.
//
// A scheduler acts on anything with a settable `lr` (the optimizers in train/optim.ts). As in
// PyTorch, constructing one performs the "epoch 0" step (the lr is left at its base
// value), and each `step()` advances one epoch (or one step, if you call it per step).
// StepLR, ExponentialLR and CosineAnnealingLR use torch's recursive ("chainable") form:
// each step derives the new lr from the current one, so numbers match torch's to the
// last bit of a double, and an lr changed by hand in between is respected as torch does.

import { BpttError, show } from '../errors.js';

export interface HasLr {
  lr: number;
}

export interface SchedulerState {
  kind: string;
  lastEpoch: number;
  baseLr: number;
  [k: string]: unknown;
}

export abstract class LRScheduler {
  readonly optimizer: HasLr;
  /** the lr at construction (torch's initial_lr) */
  baseLr: number;
  /** epochs stepped so far (torch's last_epoch; 0 after construction) */
  lastEpoch = 0;
  abstract readonly kind: string;

  constructor(optimizer: HasLr) {
    if (!optimizer || typeof optimizer.lr !== 'number') throw new BpttError('scheduler: expected an optimizer with a numeric lr');
    this.optimizer = optimizer;
    this.baseLr = optimizer.lr;
  }

  /** Advance one epoch and set the optimizer's lr. */
  step(): void {
    this.lastEpoch += 1;
    this.optimizer.lr = this.computeLr();
  }

  /** The lr set by the last step (torch's get_last_lr()[0]). */
  getLastLr(): number {
    return this.optimizer.lr;
  }

  protected abstract computeLr(): number;

  stateDict(): SchedulerState {
    return { kind: this.kind, lastEpoch: this.lastEpoch, baseLr: this.baseLr };
  }

  loadStateDict(s: SchedulerState): void {
    if (s === null || typeof s !== 'object') throw new BpttError(`scheduler: loadStateDict expects an object from stateDict(), got ${show(s)}`, 'scheduler');
    if (s.kind !== this.kind) throw new BpttError(`scheduler: state is for ${typeof s.kind === 'string' ? s.kind : show(s.kind)}, this is ${this.kind}`);
    if (!Number.isSafeInteger(s.lastEpoch)) throw new BpttError(`scheduler: lastEpoch must be an integer, got ${show(s.lastEpoch)}`, 'scheduler');
    this.lastEpoch = s.lastEpoch;
    this.baseLr = s.baseLr;
  }
}

/** lr = baseLr * gamma^floor(epoch / stepSize) */
export class StepLR extends LRScheduler {
  readonly kind = 'StepLR';
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: HasLr, opts: { stepSize: number; gamma?: number }) {
    super(optimizer);
    if (!(Number.isInteger(opts?.stepSize) && opts.stepSize >= 1)) throw new BpttError(`StepLR: stepSize must be an integer >= 1, got ${opts?.stepSize}`);
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
  }
  protected computeLr(): number {
    const lr = this.optimizer.lr;
    return this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0 ? lr : lr * this.gamma;
  }
}

/** lr = baseLr * gamma^epoch */
export class ExponentialLR extends LRScheduler {
  readonly kind = 'ExponentialLR';
  readonly gamma: number;
  constructor(optimizer: HasLr, opts: { gamma: number }) {
    super(optimizer);
    if (!Number.isFinite(opts?.gamma)) throw new BpttError(`ExponentialLR: gamma must be a number, got ${opts?.gamma}`);
    this.gamma = opts.gamma;
  }
  protected computeLr(): number {
    return this.lastEpoch === 0 ? this.optimizer.lr : this.optimizer.lr * this.gamma;
  }
}

/**
 * lr = etaMin + (baseLr - etaMin) * (1 + cos(pi * epoch / tMax)) / 2 (and on past tMax,
 * rising again, as torch's CosineAnnealingLR, which does not restart).
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly kind = 'CosineAnnealingLR';
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: HasLr, opts: { tMax: number; etaMin?: number }) {
    super(optimizer);
    if (!(Number.isInteger(opts?.tMax) && opts.tMax >= 1)) throw new BpttError(`CosineAnnealingLR: tMax must be an integer >= 1, got ${opts?.tMax}`);
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
  }
  protected computeLr(): number {
    const { lastEpoch: e, tMax: T, etaMin, baseLr } = this;
    const lr = this.optimizer.lr;
    if (e === 0) return lr;
    if ((e - 1 - T) % (2 * T) === 0) return lr + ((baseLr - etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
    return ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin;
  }
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/** Multiply lr by `factor` once the metric has not improved for `patience` epochs (torch defaults). */
export class ReduceLROnPlateau {
  readonly kind = 'ReduceLROnPlateau';
  readonly optimizer: HasLr;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;

  constructor(optimizer: HasLr, opts: ReduceLROnPlateauOptions = {}) {
    if (!optimizer || typeof optimizer.lr !== 'number') throw new BpttError('ReduceLROnPlateau: expected an optimizer with a numeric lr');
    this.optimizer = optimizer;
    this.mode = opts.mode ?? 'min';
    this.factor = opts.factor ?? 0.1;
    if (!(this.factor < 1)) throw new BpttError(`ReduceLROnPlateau: factor should be < 1.0, got ${this.factor}`);
    this.patience = opts.patience ?? 10;
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? 'rel';
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
    this.eps = opts.eps ?? 1e-8;
    if (this.mode !== 'min' && this.mode !== 'max') throw new BpttError(`ReduceLROnPlateau: mode must be 'min' or 'max', got ${this.mode}`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') throw new BpttError(`ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs'`);
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number): boolean {
    const { best, threshold: th } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - th) : a < best - th;
    return this.thresholdMode === 'rel' ? a > best * (th + 1) : a > best + th;
  }

  /** Report this epoch's metric (e.g. validation loss). */
  step(metric: number): void {
    this.lastEpoch += 1;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      const old = this.optimizer.lr;
      const next = Math.max(old * this.factor, this.minLr);
      if (old - next > this.eps) this.optimizer.lr = next;
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
  }

  getLastLr(): number {
    return this.optimizer.lr;
  }

  stateDict(): SchedulerState {
    return { kind: this.kind, lastEpoch: this.lastEpoch, baseLr: 0, best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter };
  }

  loadStateDict(s: SchedulerState): void {
    if (s === null || typeof s !== 'object') throw new BpttError(`scheduler: loadStateDict expects an object from stateDict(), got ${show(s)}`, 'scheduler');
    if (s.kind !== this.kind) throw new BpttError(`scheduler: state is for ${typeof s.kind === 'string' ? s.kind : show(s.kind)}, this is ${this.kind}`);
    if (!Number.isSafeInteger(s.lastEpoch)) throw new BpttError(`scheduler: lastEpoch must be an integer, got ${show(s.lastEpoch)}`, 'scheduler');
    this.lastEpoch = s.lastEpoch;
    // JSON turns the initial +-Infinity into null
    this.best = typeof s.best === 'number' ? s.best : this.mode === 'min' ? Infinity : -Infinity;
    this.numBadEpochs = s.numBadEpochs as number;
    this.cooldownCounter = s.cooldownCounter as number;
  }
}

export type Scheduler = LRScheduler | ReduceLROnPlateau;
