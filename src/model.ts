// The public model: configuration, validation, the parameter/gradient regions, and the
// loss. The numbers are computed by a Backend (backend-wasm.ts or backend-js.ts).

import type { Arena } from './arena.js';
import { allocIOBuffers, growCapacity, type Backend, type IOBuffers } from './backend.js';
import { createBackend, type BackendKind } from './backends.js';
import type { WasmBuild } from './backend-wasm.js';
import { hostName } from './host/host.js';
import {
  checkFinite, checkFinitePositive, checkOneOf, checkPositiveInt, checkTensor, fail, normalizeOptions, shapeStr, show, type TensorLike,
} from './errors.js';
import { checkModelSize, MAX_THREADS } from './limits.js';
import { initParams, resolveInit, type InitSpec } from './init.js';
import { buildLayout, type CellKind, type Layout, type ModelConfig, type Nonlinearity } from './layout.js';

export type Tensor = { shape: number[]; data: Float32Array };
export type IntTensor = { shape: number[]; data: Int32Array };
export type { BackendKind };

export interface CreateModelOptions {
  cell: CellKind;
  nonlinearity?: Nonlinearity;
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  /** size of the Linear head on the top layer's h_t; omit for no head (output = h_t) */
  outputSize?: number | null;
  bias?: boolean;
  /** false: a Linear head without bias (PyTorch's nn.Linear(H, O, bias=False); no `out.bias`) */
  headBias?: boolean;
  backend?: BackendKind;
  /** seed for the initial weights (same seed, same weights on both backends) */
  seed?: number;
  init?: InitSpec;
  /** wasm only: force the plain 'simd' or the 'relaxed' (FMA) build; default: the best this Node runs */
  wasmBuild?: WasmBuild;
  /**
   * wasm only: worker threads to split each batch across (default 1). Pays off for
   * batches of 8+ sequences on a quiet multi-core machine; call model.dispose() when done.
   */
  threads?: number;
}

/** How a model runs (model.info()). */
export interface ModelInfo {
  backend: BackendKind;
  /** 'node' or 'browser' */
  host: 'node' | 'browser' | 'unknown';
  /** the Wasm build in use (wasm backend), else null */
  wasmBuild: WasmBuild | null;
  /** threads training runs on */
  threads: number;
  /** threads asked for (createModel's threads) */
  threadsRequested: number;
  /** why threads < threadsRequested (a page that is not cross-origin isolated), else null */
  threadsNote: string | null;
  /** bytes of the model's memory in use */
  memoryBytes: number;
}

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

export interface Batch {
  /** [T, B, inputSize] */
  x: TensorLike;
  /** mse: [T, B, O] (or [B, O] with lastStepOnly); cross_entropy: class ids [T, B] (or [B]) */
  target: TensorLike;
  /** [numLayers, B, hiddenSize]; zeros when omitted */
  h0?: TensorLike;
  /** [numLayers, B, hiddenSize], LSTM only; zeros when omitted */
  c0?: TensorLike;
}

export interface GradOptions {
  /** per-timestep clipping: rescale each sequence's dLoss/dh_t to L2 norm <= this */
  clipHiddenGrad?: number;
  /** compute dLoss/dx (default true); training loops pass false to skip that product */
  inputGrad?: boolean;
}

export interface ForwardResult {
  output: Tensor;
  hN: Tensor;
  cN?: Tensor;
}

export interface LossAndGradResult extends ForwardResult {
  loss: number;
  /** dLoss/dx [T, B, inputSize]; absent when called with inputGrad: false */
  dx?: Tensor;
  dh0: Tensor;
  dc0?: Tensor;
  /**
   * [numLayers][T]: Frobenius norm over the batch of the total dLoss/dh_t (through the
   * output and the recurrence); with clipHiddenGrad, of the clipped gradient that flows on
   */
  hiddenGradNorms: number[][];
  /** with reduction 'none': each step's (or, with lastStepOnly, each sequence's) loss */
  losses?: Tensor;
}

const CELLS = ['rnn', 'lstm', 'gru'] as const;
const LOSS_KEYS = ['kind', 'reduction', 'lastStepOnly', 'ignoreIndex', 'weight', 'labelSmoothing'];
const GRAD_KEYS = ['clipHiddenGrad', 'inputGrad'];

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

/** Validate and fill in defaults (PyTorch's: numLayers 1, bias true, tanh). */
const OPTION_NAMES = ['cell', 'nonlinearity', 'inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'bias', 'backend', 'seed',
  'init', 'wasmBuild', 'threads', 'headBias'];


/**
 * The model's options (what checkpoints store), its config, and the run-time choices
 * (threads, Wasm build) that are not part of the model.
 */
export function resolveOptions(opts: CreateModelOptions): {
  options: CreateModelOptions; config: ModelConfig; threads: number; wasmBuild: WasmBuild | undefined;
} {
  if (opts === null || typeof opts !== 'object') fail(`createModel options must be an object, got ${show(opts)}`, 'createModel');
  // unknown names are errors; PyTorch's spellings (input_size, hidden_size, ...) are aliases
  opts = normalizeOptions<CreateModelOptions>('createModel', 'options', opts, OPTION_NAMES);
  const cell = checkOneOf('cell', opts.cell, CELLS);
  const nonlinearity = checkOneOf('nonlinearity', opts.nonlinearity ?? 'tanh', ['tanh', 'relu'] as const);
  if (cell !== 'rnn' && opts.nonlinearity !== undefined && nonlinearity !== 'tanh') {
    fail(`nonlinearity applies to cell 'rnn' only; cell '${cell}' got nonlinearity '${nonlinearity}'`);
  }
  const inputSize = checkPositiveInt('inputSize', opts.inputSize);
  const hiddenSize = checkPositiveInt('hiddenSize', opts.hiddenSize);
  const numLayers = checkPositiveInt('numLayers', opts.numLayers ?? 1);
  const outputSize = opts.outputSize == null ? null : checkPositiveInt('outputSize', opts.outputSize);
  const bias = opts.bias ?? true;
  if (typeof bias !== 'boolean') fail(`bias must be a boolean, got ${show(bias)}`);
  const headBias = opts.headBias ?? true;
  if (typeof headBias !== 'boolean') fail(`headBias must be a boolean, got ${show(opts.headBias)}`);
  if (!headBias && outputSize === null) fail('headBias applies to the Linear head; got headBias false without an outputSize');
  const backend = checkOneOf('backend', opts.backend ?? 'wasm', ['wasm', 'js'] as const);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) fail(`seed must be a safe integer, got ${show(seed)}`, 'createModel');
  const config: ModelConfig = {
    cell, nonlinearity: cell === 'rnn' ? nonlinearity : 'tanh', inputSize, hiddenSize, numLayers, outputSize, bias,
    ...(headBias ? {} : { headBias }),
  };
  checkModelSize(config); // bounded sizes, before any backend or memory exists
  if (opts.init !== undefined) resolveInit(opts.init); // throws on a bad init spec, before any backend starts
  const options: CreateModelOptions = {
    cell, ...(cell === 'rnn' ? { nonlinearity } : {}), inputSize, hiddenSize, numLayers, outputSize, bias, backend, seed,
    ...(opts.init !== undefined ? { init: opts.init } : {}),
    ...(headBias ? {} : { headBias }),
  };
  const wasmBuild = opts.wasmBuild === undefined ? undefined : checkOneOf('wasmBuild', opts.wasmBuild, ['simd', 'relaxed'] as const);
  const threads = checkPositiveInt('threads', opts.threads ?? 1);
  if (threads > MAX_THREADS) fail(`createModel: threads must be at most ${MAX_THREADS}, got ${threads}`, 'createModel');
  if (threads > 1 && backend !== 'wasm') fail(`threads applies to backend 'wasm' only; got threads ${threads} with backend '${backend}'`);
  return { options, config, threads, wasmBuild };
}

/** Build a model; the 'wasm' backend compiles (once per process) and instantiates the kernels. */
export async function createModel(opts: CreateModelOptions): Promise<Model> {
  const { options, config, threads, wasmBuild } = resolveOptions(opts);
  const backend = await createBackend(options.backend!, wasmBuild, threads);
  try {
    return new Model(options, config, backend);
  } catch (e) {
    backend.dispose?.(); // do not leave worker threads behind
    throw e;
  }
}

export class Model {
  readonly options: CreateModelOptions;
  readonly config: ModelConfig;
  readonly layout: Layout;
  readonly backend: Backend;
  readonly arena: Arena;
  /** float offset of the parameter region (layout.numParams floats) */
  readonly params: number;
  /** float offset of the gradient region (same layout) */
  readonly grads: number;
  private io: IOBuffers | null = null;
  /** cross-entropy class weights [O] and per-row losses, allocated on first use */
  private ceWeight: number | null = null;
  private rowLoss: { off: number; n: number } | null = null;

  constructor(options: CreateModelOptions, config: ModelConfig, backend: Backend) {
    this.options = options;
    this.config = config;
    this.layout = buildLayout(config);
    this.backend = backend;
    this.arena = backend.arena;
    this.params = this.arena.alloc(this.layout.numParams);
    this.grads = this.arena.alloc(this.layout.numParams);
    initParams(this.layout, this.paramView(), options.init ?? 'pytorch', options.seed ?? 0);
    backend.bind(this.layout, this.params, this.grads);
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  /** How this model runs: backend, host, Wasm build and threads (with the reason when fewer run than asked for). */
  info(): ModelInfo {
    const b = this.backend.info;
    return {
      backend: this.backend.kind, host: hostName() ?? 'unknown', wasmBuild: b?.wasmBuild ?? null, threads: b?.threads ?? 1,
      threadsRequested: b?.threadsRequested ?? 1, threadsNote: b?.threadsNote ?? null, memoryBytes: this.arena.usedBytes,
    };
  }

  /** Stop worker threads (models with threads > 1); the model is unusable afterwards. */
  dispose(): void {
    this.backend.dispose?.();
  }

  /** Live view of the parameter region (invalid after any allocation; for kernels and initialisers). */
  paramView(): Float32Array {
    return this.arena.f32.subarray(this.params, this.params + this.layout.numParams);
  }

  /** Live view of the gradient region. */
  gradView(): Float32Array {
    return this.arena.f32.subarray(this.grads, this.grads + this.layout.numParams);
  }

  /** PyTorch state dict (copies): `rnn.weight_ih_l0`, ..., `out.weight`, `out.bias`. */
  stateDict(): Record<string, Tensor> {
    return this.regionDict(this.params);
  }

  /** Gradients by the same names (copies). */
  gradDict(): Record<string, Tensor> {
    return this.regionDict(this.grads);
  }

  private regionDict(base: number): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const t of this.layout.tensors) {
      out[t.name] = { shape: [...t.shape], data: this.arena.read(base + t.offset, t.size) };
    }
    return out;
  }

  /**
   * Load PyTorch-named tensors. Every key must be present with the right shape and finite
   * values; checked before anything is written, so a failed load leaves the model unchanged.
   * Keys of a bare nn.RNN/LSTM/GRU state dict (`weight_ih_l0`, no `rnn.` prefix) are accepted too.
   */
  loadStateDict(sd: Record<string, TensorLike>): void {
    if (sd === null || typeof sd !== 'object') fail(`loadStateDict: state dict must be an object, got ${String(sd)}`);
    const byName = this.layout.byName;
    const resolved = new Map<string, ArrayLike<number>>();
    for (const [key, value] of Object.entries(sd)) {
      const name = byName.has(key) ? key : byName.has(`rnn.${key}`) ? `rnn.${key}` : null;
      if (name === null) {
        // what PyTorch has and this library does not, said plainly rather than as an unknown key or a shape
        if (/(^|\.)weight_hr_l\d+(_reverse)?$/.test(key)) {
          fail(`loadStateDict: '${key}' is an LSTM projection (PyTorch's proj_size > 0), which bptt-wasm does not support`);
        }
        const layer = /(^|\.)(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$/.exec(key);
        if (layer && Number(layer[4]) >= this.config.numLayers) {
          fail(`loadStateDict: '${key}' belongs to layer ${layer[4]}, but this model has numLayers ${this.config.numLayers}`);
        }
        fail(`loadStateDict: unknown key '${key}' for this model (expected: ${[...byName.keys()].join(', ')})`);
      }
      if (resolved.has(name)) fail(`loadStateDict: '${key}' is given twice (as '${name}' and without the 'rnn.' prefix)`);
      const spec = byName.get(name)!;
      const data = checkTensor(`loadStateDict: '${key}'`, value, spec.shape);
      checkFinite(`loadStateDict: '${key}'`, data);
      resolved.set(name, data);
    }
    const missing = [...byName.keys()].filter((k) => !resolved.has(k));
    if (missing.length) fail(`loadStateDict: missing keys ${missing.join(', ')}`);
    const f = this.arena.f32;
    for (const t of this.layout.tensors) f.set(resolved.get(t.name)!, this.params + t.offset);
  }

  /** Set every gradient to zero (gradients accumulate across lossAndGrad calls, as in PyTorch). */
  zeroGrad(): void {
    this.backend.fill(this.grads, this.layout.numParams, 0);
  }

  /** Inference over a batch of sequences: x [T, B, inputSize]. */
  forward(x: TensorLike, state: { h0?: TensorLike; c0?: TensorLike } = {}): ForwardResult {
    // { h, c } is the shape step() and the training loops return: the same state, accepted
    state = normalizeOptions('forward', 'state', state, ['h0', 'c0'], { aliases: { h: 'h0', c: 'c0' } });
    const { T, B } = this.prepareInputs(x, state.h0, state.c0);
    this.backend.forward(this.io!, T, B);
    return this.readForward(T, B);
  }

  /**
   * Forward, loss, and full backpropagation through time. Parameter gradients are ADDED to
   * the gradient region (call zeroGrad() between steps, as with PyTorch).
   */
  lossAndGrad(batch: Batch, loss: LossSpec, opts: GradOptions = {}): LossAndGradResult {
    if (batch === null || typeof batch !== 'object') fail(`lossAndGrad: batch must be { x, target, h0?, c0? }, got ${show(batch)}`);
    const spec = checkLossSpec(loss);
    opts = normalizeOptions<GradOptions>('lossAndGrad', 'options', opts, GRAD_KEYS);
    const clip = opts.clipHiddenGrad ?? 0;
    if (opts.clipHiddenGrad !== undefined) checkFinitePositive('clipHiddenGrad', clip);
    if (opts.inputGrad !== undefined && typeof opts.inputGrad !== 'boolean') fail(`lossAndGrad: inputGrad must be a boolean, got ${show(opts.inputGrad)}`);
    const { T, B } = this.prepareInputs(batch.x, batch.h0, batch.c0);
    // Validate the target before any compute, so a bad target changes nothing.
    const writeTarget = this.checkTarget(batch.target, spec, T, B);
    const io = this.io!;
    const rowLoss = this.lossBuffers(spec);
    writeTarget(io.target);
    this.backend.forward(io, T, B);
    const { loss: lossValue, losses } = this.computeLoss(spec, T, B, rowLoss);
    const inputGrad = opts.inputGrad ?? true;
    this.backend.backward(io, T, B, clip, inputGrad);
    const { config: c } = this;
    const L = c.numLayers, H = c.hiddenSize;
    const norms: number[][] = [];
    const nv = this.arena.read(io.norms, L * T);
    for (let l = 0; l < L; l++) norms.push(Array.from(nv.subarray(l * T, (l + 1) * T)));
    return {
      loss: lossValue,
      ...this.readForward(T, B),
      ...(inputGrad ? { dx: { shape: [T, B, c.inputSize], data: this.arena.read(io.dx, T * B * c.inputSize) } } : {}),
      dh0: { shape: [L, B, H], data: this.arena.read(io.dh0, L * B * H) },
      ...(c.cell === 'lstm' ? { dc0: { shape: [L, B, H], data: this.arena.read(io.dc0, L * B * H) } } : {}),
      hiddenGradNorms: norms,
      ...(losses ? { losses } : {}),
    };
  }

  /** Validate x, h0, c0 and copy them into the arena; returns T and B. */
  private prepareInputs(x: TensorLike, h0?: TensorLike, c0?: TensorLike): { T: number; B: number } {
    const { inputSize: I, hiddenSize: H, numLayers: L, cell } = this.config;
    if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) {
      fail(`x must be a tensor { shape: [T, B, ${I}], data }, got ${x === null ? 'null' : typeof x}`);
    }
    if (x.shape.length !== 3) fail(`x has shape ${shapeStr(x.shape)}, expected [T, B, ${I}] (time-major)`);
    const [T, B] = x.shape;
    if (!Number.isInteger(T) || T < 1) fail(`x has shape ${shapeStr(x.shape)}: T (sequence length) must be an integer >= 1, got ${T}`);
    if (!Number.isInteger(B) || B < 1) fail(`x has shape ${shapeStr(x.shape)}: B (batch size) must be an integer >= 1, got ${B}`);
    const xd = checkTensor('x', x, [T, B, I], 'T, B, inputSize');
    checkFinite('x', xd);
    const h0d = h0 != null ? checkTensor('h0', h0, [L, B, H], 'numLayers, B, hiddenSize') : null;
    if (h0d) checkFinite('h0', h0d);
    if (c0 != null && cell !== 'lstm') fail(`c0 is for cell 'lstm' only; this model's cell is '${cell}'`);
    const c0d = c0 != null ? checkTensor('c0', c0, [L, B, H], 'numLayers, B, hiddenSize') : null;
    if (c0d) checkFinite('c0', c0d);
    const io = this.ensureIO(T, B);
    const f = this.arena.f32;
    f.set(xd, io.x);
    if (h0d) f.set(h0d, io.h0); else f.fill(0, io.h0, io.h0 + L * B * H);
    if (cell === 'lstm') {
      if (c0d) f.set(c0d, io.c0); else f.fill(0, io.c0, io.c0 + L * B * H);
    }
    return { T, B };
  }

  /** Validate the target now; return a writer that copies it into the arena. */
  private checkTarget(target: TensorLike, spec: ResolvedLoss, T: number, B: number): (off: number) => void {
    const O = this.layout.outputWidth;
    const steps = spec.lastStepOnly ? 1 : T;
    if (target === null || typeof target !== 'object' || !Array.isArray(target.shape)) {
      fail(`target must be a tensor { shape, data }, got ${target === null ? 'null' : typeof target}`);
    }
    if (spec.kind === 'mse') {
      // [T, B, O] always accepted (with lastStepOnly only the last step is used, as the
      // fixtures do); [B, O] with lastStepOnly.
      const full = [T, B, O];
      const short = [B, O];
      const isShort = spec.lastStepOnly && target.shape.length === 2;
      const data = checkTensor('target', target, isShort ? short : full,
        spec.lastStepOnly ? `T, B, outputSize or B, outputSize` : 'T, B, outputSize');
      checkFinite('target', data);
      const skip = isShort || !spec.lastStepOnly ? 0 : (T - 1) * B * O;
      const n = steps * B * O;
      return (off) => {
        const f = this.arena.f32;
        for (let i = 0; i < n; i++) f[off + i] = data[skip + i];
      };
    }
    const isShort = spec.lastStepOnly && target.shape.length === 1;
    const data = checkTensor('target', target, isShort ? [B] : [T, B],
      spec.lastStepOnly ? 'class ids, T, B or B' : 'class ids, T, B');
    const skip = isShort || !spec.lastStepOnly ? 0 : (T - 1) * B;
    const n = steps * B;
    const ignore = spec.ignoreIndex;
    if (spec.weight && spec.weight.length !== O) fail(`loss.weight has ${spec.weight.length} values, expected one per class: outputSize ${O}`);
    for (let i = 0; i < n; i++) {
      const v = data[skip + i];
      if (v !== ignore && (!Number.isInteger(v) || v < 0 || v >= O)) {
        fail(`target.data[${skip + i}] = ${v} is not a class id in [0, ${O - 1}] (outputSize ${O}) or the ignoreIndex ${ignore}`);
      }
    }
    // an ignored target becomes -1, which the loss kernels skip (even when ignoreIndex is a class id)
    return (off) => {
      const iv = this.arena.i32;
      for (let i = 0; i < n; i++) iv[off + i] = data[skip + i] === ignore ? -1 : data[skip + i];
    };
  }

  /**
   * Arena buffers the cross-entropy options need: the class weights (written now) and, for
   * reduction 'none', per-row losses (float offset returned; -1 when not needed). Allocated
   * before forward, once per capacity, so steady training allocates nothing.
   */
  private lossBuffers(spec: ResolvedLoss): number {
    const io = this.io!;
    if (spec.weight) {
      this.ceWeight ??= this.arena.alloc(this.layout.outputWidth);
      this.arena.f32.set(spec.weight, this.ceWeight);
    }
    if (spec.kind !== 'cross_entropy' || spec.reduction !== 'none') return -1;
    if (!this.rowLoss || this.rowLoss.n < io.T * io.B) this.rowLoss = { off: this.arena.alloc(io.T * io.B), n: io.T * io.B };
    return this.rowLoss.off;
  }

  /** Loss over y (whole sequence or last step), writing dLoss/dy into io.dy. */
  private computeLoss(spec: ResolvedLoss, T: number, B: number, rowLoss: number): { loss: number; losses?: Tensor } {
    const io = this.io!;
    const O = this.layout.outputWidth;
    const be = this.backend;
    let y = io.y, dy = io.dy;
    let steps = T;
    if (spec.lastStepOnly) {
      // Earlier steps do not enter the loss: their output gradient is zero.
      be.fill(io.dy, (T - 1) * B * O, 0);
      y += (T - 1) * B * O;
      dy += (T - 1) * B * O;
      steps = 1;
    }
    const none = spec.reduction === 'none';
    const shape = spec.lastStepOnly ? [B] : [T, B];
    if (spec.kind === 'mse') {
      const n = steps * B * O;
      const loss = be.mseLoss(dy, y, io.target, n, spec.reduction === 'mean' ? 1 / n : 1);
      if (!none) return { loss };
      const f = this.arena.f32, per = new Float32Array(n);
      for (let i = 0; i < n; i++) per[i] = (f[y + i] - f[io.target + i]) ** 2;
      return { loss, losses: { shape: [...shape, O], data: per } };
    }
    const rows = steps * B;
    const { weight, labelSmoothing } = spec;
    let scale = 1;
    if (spec.reduction === 'mean') {
      // PyTorch's mean: over the counted (not ignored) rows, each weighing its class weight
      const iv = this.arena.i32;
      let denom = 0;
      for (let r = 0; r < rows; r++) {
        const t = iv[io.target + r];
        if (t >= 0) denom += weight ? weight[t] : 1;
      }
      scale = 1 / denom;
    }
    if (!weight && labelSmoothing === 0 && !none) return { loss: be.crossEntropyLoss(dy, y, io.target, rows, O, scale) };
    const loss = be.crossEntropyLossExt(dy, y, io.target, rows, O, scale, weight ? this.ceWeight! : -1, labelSmoothing, rowLoss);
    return none ? { loss, losses: { shape, data: this.arena.read(rowLoss, rows) } } : { loss };
  }

  private readForward(T: number, B: number): ForwardResult {
    const io = this.io!;
    const { hiddenSize: H, numLayers: L, cell } = this.config;
    const O = this.layout.outputWidth;
    return {
      output: { shape: [T, B, O], data: this.arena.read(io.y, T * B * O) },
      hN: { shape: [L, B, H], data: this.arena.read(io.hN, L * B * H) },
      ...(cell === 'lstm' ? { cN: { shape: [L, B, H], data: this.arena.read(io.cN, L * B * H) } } : {}),
    };
  }

  /** I/O buffers sized for (T, B); reused while the sizes fit, so steady training allocates nothing. */
  private ensureIO(T: number, B: number): IOBuffers {
    const cur = this.io;
    if (cur && T <= cur.T && B <= cur.B) return cur;
    const { T: Tc, B: Bc } = growCapacity(cur, T, B);
    this.io = allocIOBuffers(this.arena, this.layout, Tc, Bc);
    return this.io;
  }
}

/**
 * Global-norm clipping over every parameter gradient, as torch.nn.utils.clip_grad_norm_:
 * returns the norm before clipping; scales by maxNorm / (norm + 1e-6) when that is < 1.
 * normType 2 (default, L2) or Infinity (max |g|; 'inf' too), as torch's norm_type.
 */
export function clipGradNorm(model: Model, maxNorm: number, opts: { errorIfNonfinite?: boolean; normType?: number | 'inf' } = {}): number {
  checkFinitePositive('maxNorm', maxNorm);
  opts = normalizeOptions('clipGradNorm', 'options', opts, ['errorIfNonfinite', 'normType']);
  const normType = opts.normType ?? 2;
  if (normType !== 2 && normType !== Infinity && normType !== 'inf') {
    fail(`clipGradNorm: normType must be 2 or Infinity ('inf'), got ${show(normType)}`, 'clipGradNorm');
  }
  if (opts.errorIfNonfinite !== undefined && typeof opts.errorIfNonfinite !== 'boolean') {
    fail(`clipGradNorm: errorIfNonfinite must be a boolean, got ${show(opts.errorIfNonfinite)}`, 'clipGradNorm');
  }
  const n = model.layout.numParams;
  const norm = normType === 2 ? Math.sqrt(model.backend.sumSquares(model.grads, n)) : maxAbs(model.gradView());
  if (!Number.isFinite(norm) && opts.errorIfNonfinite) {
    fail(`clipGradNorm: the total norm of gradients is non-finite (${norm}); ` +
      `non-finite gradient in ${nonfiniteTensors(model).join(', ')}`);
  }
  // torch multiplies by min(coef, 1) always; skipping the multiply by 1 is the same, and a
  // NaN or infinite norm still poisons the gradients (coef NaN or 0) exactly as in torch.
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef >= 1)) model.backend.scale(model.grads, n, coef);
  return norm;
}

/** max |v| (NaN if any v is NaN, as torch's inf-norm); the padding between tensors is 0. */
function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (a !== a) return NaN;
    if (a > m) m = a;
  }
  return m;
}

/** Clamp every gradient to [-value, value], as torch.nn.utils.clip_grad_value_. */
export function clipGradValue(model: Model, value: number): void {
  checkFinitePositive('value', value);
  model.backend.clampAbs(model.grads, model.layout.numParams, value);
}

/** Names of gradient tensors holding NaN or Inf. */
export function nonfiniteTensors(model: Model, region: 'grads' | 'params' = 'grads'): string[] {
  const base = region === 'grads' ? model.grads : model.params;
  const bad: string[] = [];
  for (const t of model.layout.tensors) {
    if (!Number.isFinite(model.backend.sumSquares(base + t.offset, t.size))) bad.push(t.name);
  }
  return bad;
}
