// The public model: configuration, validation, the parameter/gradient regions, and the
// loss. The numbers are computed by a Sweep (the BPTT schedule: backend/wasm.ts,
// backend/parallel.ts or backend/js.ts) and the Ops over flat regions (backend/ops-wasm.ts or
// backend/ops-js.ts), which the factory (backend/factory.ts) composes.

import type { Arena } from './arena.js';
import { ioBuffersAt, type Backend, type IOBuffers, type Ops, type Sweep } from './backend/types.js';
import { createBackend, type BackendKind } from './backend/factory.js';
import type { WasmBuild } from './backend/wasm.js';
import type { GemmChoice } from './backend/gemm-trial.js';
import { host, hostName } from './host/host.js';
import {
  allFiniteF32, checkFinite, checkFinitePositive, checkKeys, checkOneOf, checkPositiveInt, checkTensor, fail, normalizeOptions, show, type TensorLike,
} from './errors.js';
import { checkClassWeights, checkLossSpec, checkTargetValue, targetLayout, targetValueOk, type LossSpec, type ResolvedLoss } from './loss.js';
import { AUTO_THREADS_MAX, checkModelSize, DEFAULT_WORKSPACE_BYTES, MAX_MEMORY_BYTES, MAX_THREADS } from './limits.js';
import { initParams, resolveInit, type InitSpec } from './init.js';
import { hashSeed, Rng } from './rng.js';
import { buildLayout, buildWorkspace, type CellKind, type EmbeddingConfig, type Layout, type ModelConfig, type Nonlinearity, type Workspace } from './layout.js';
import { checkInput } from './inputs.js';
import { describePrefixes, ourName, resolvePrefixes, userKey, type StateDictNameOptions } from './io/state-names.js';

export type Tensor = { shape: number[]; data: Float32Array };
export type IntTensor = { shape: number[]; data: Int32Array };
export type { BackendKind };
export { checkLengths } from './inputs.js';

export interface CreateModelOptions {
  cell: CellKind;
  nonlinearity?: Nonlinearity;
  /** features per step of x; with an embedding it may be omitted (it is embeddingDim) and must equal embeddingDim if given */
  inputSize?: number;
  hiddenSize: number;
  numLayers?: number;
  /** size of the Linear head on the top layer's h_t; omit for no head (output = h_t) */
  outputSize?: number | null;
  bias?: boolean;
  /** false: a Linear head without bias (PyTorch's nn.Linear(H, O, bias=False); no `out.bias`) */
  headBias?: boolean;
  /** PyTorch's bidirectional: every layer also runs in reverse time (`*_reverse` weights); outputs are [.., 2H] */
  bidirectional?: boolean;
  /** PyTorch's batch_first: x, output, target, dx are [B, T, *] (states stay [numLayers * D, B, H]) */
  batchFirst?: boolean;
  /**
   * PyTorch's dropout: in training (lossAndGrad, fit; not forward) each layer's output but
   * the top one's is zeroed with probability p and scaled by 1/(1-p), from the model's seeded
   * generator. Default 0.
   */
  dropout?: number;
  /**
   * PyTorch's nn.Embedding(numEmbeddings, embeddingDim, padding_idx) before layer 0, named
   * `embed.weight`: x is then [T, B] (batchFirst [B, T]) integer token ids, looked up as
   * rows of embed.weight; backward adds dLoss/d(row) into embed.weight's gradient (and
   * lossAndGrad returns no dx). paddingIdx (optional; negative counts from the end, as
   * PyTorch): that row starts at zero and never gets a gradient.
   */
  embedding?: EmbeddingConfig;

  backend?: BackendKind;
  /** seed for the initial weights (same seed, same weights on both backends) */
  seed?: number;
  init?: InitSpec;
  /** wasm only: force the plain 'simd' or the 'relaxed' (FMA) build; default: the best this Node runs */
  wasmBuild?: WasmBuild;
  /**
   * wasm only: worker threads to split each batch across (default 1). Pays off for
   * batches of 8+ sequences on a quiet multi-core machine; call model.dispose() when done.
   * 'auto': the cores available to this process (Node's os.availableParallelism(), a
   * page's navigator.hardwareConcurrency), at most AUTO_THREADS_MAX (8); with backend
   * 'js', which has no threads, 'auto' is 1. model.info().threads shows the count.
   */
  threads?: number | 'auto';
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
  /** bytes of the model's memory in use: persistent state plus the last call's workspace */
  memoryBytes: number;
  /** bytes of that memory that are persistent (parameters, gradients, optimizer state, the threads' regions) */
  persistentBytes: number;
  /** bytes the memory holds (it never shrinks; compact() replaces it by one of persistentBytes) */
  capacityBytes: number;
  /**
   * Wasm backend: the GEMM micro-kernel (register tile) each class of the last new call
   * shape's matrix products runs, and whether a timed trial on this CPU chose it
   * (setGemmTrial); empty before the first call and for the js backend.
   */
  gemm: GemmChoice[];
}

export type { LossSpec, ResolvedLoss };

/** The keys of a Batch (checkKeys: anything else is an error, but the data helpers' own). */
export const BATCH_KEYS: readonly string[] = ['x', 'target', 'lengths', 'h0', 'c0'];

export interface Batch {
  /** [T, B, inputSize], or [T, B] token ids for a model with an embedding */
  x: TensorLike;
  /** mse: [T, B, O] (or [B, O] with lastStepOnly); cross_entropy: class ids [T, B] (or [B]) */
  target: TensorLike;
  /** [numLayers * D, B, hiddenSize] (D = 2 if bidirectional), row l*D + d; zeros when omitted */
  h0?: TensorLike;
  /** [numLayers * D, B, hiddenSize], LSTM only; zeros when omitted */
  c0?: TensorLike;
  /** each sequence's length (B integers in 1..T, any order); steps t >= lengths[b] are padding */
  lengths?: Lengths;
}

/** Sequence lengths of a batch, as PyTorch's pack_padded_sequence takes them. */
export type Lengths = Int32Array | readonly number[];

export interface ForwardState {
  h0?: TensorLike;
  c0?: TensorLike;
  lengths?: Lengths;
  /** training mode (default false = eval): apply dropout */
  train?: boolean;
}

export interface GradOptions {
  /** per-timestep clipping: rescale each sequence's dLoss/dh_t to L2 norm <= this */
  clipHiddenGrad?: number;
  /** compute dLoss/dx (default true); training loops pass false to skip that product */
  inputGrad?: boolean;
  /** training mode (default true): apply dropout; false = eval mode, as forward() */
  train?: boolean;
}

/** model.loss's options: lossAndGrad's that mean something without a backward. */
export interface LossOptions {
  /** training mode: apply dropout (default false = eval mode, as forward and evaluate) */
  train?: boolean;
}

export interface PredictOptions {
  /** sequences per forward (default: as many as fit 32 MiB of workspace, at least 16, in equal blocks) */
  batchSize?: number;
  /** return [B, O]: each sequence's output at its own last valid step */
  lastStepOnly?: boolean;
  lengths?: Lengths;
  /** [numLayers * D, B, hiddenSize] initial states (zeros when omitted) */
  h0?: TensorLike;
  c0?: TensorLike;
}

/** predict's default batch: as many sequences as fit this much workspace */
const PREDICT_BATCH_BYTES = 32 * 2 ** 20;

export interface ForwardResult {
  output: Tensor;
  hN: Tensor;
  cN?: Tensor;
}

/** model.loss's result: the forward's, the loss (as lossAndGrad returns it) and, with reduction 'none', each step's. */
export interface LossResult extends ForwardResult {
  loss: number;
  /** with reduction 'none': each step's (or, with lastStepOnly, each sequence's) loss */
  losses?: Tensor;
}

export interface LossAndGradResult extends ForwardResult {
  loss: number;
  /** dLoss/dx [T, B, inputSize] (0 at padded steps); absent when called with inputGrad: false, and for a model with an embedding (its gradient is in embed.weight's) */
  dx?: Tensor;
  dh0: Tensor;
  dc0?: Tensor;
  /**
   * [numLayers * D][T] (hN's row order): Frobenius norm over the batch of the total dLoss/dh_t (through the
   * output and the recurrence); with clipHiddenGrad, of the clipped gradient that flows on
   */
  hiddenGradNorms: number[][];
  /** with reduction 'none': each step's (or, with lastStepOnly, each sequence's) loss */
  losses?: Tensor;
}

const CELLS = ['rnn', 'lstm', 'gru'] as const;
const GRAD_KEYS = ['clipHiddenGrad', 'inputGrad', 'train'];
/** what lossAndGrad's backward-only options mean to model.loss: nothing, so they are errors rather than ignored */
const NO_BACKWARD = {
  clipHiddenGrad: 'model.loss runs no backward; clipHiddenGrad is lossAndGrad\'s',
  inputGrad: 'model.loss runs no backward and computes no dLoss/dx; inputGrad is lossAndGrad\'s',
};

/**
 * What a call lays out in its workspace: 'forward' only the inputs and outputs; 'loss' also
 * the target and the loss kernels' buffers (forward workspace for the backend: no
 * backward); 'grad' everything backward needs too.
 */
type CallMode = 'forward' | 'loss' | 'grad';

/** Validate and fill in defaults (PyTorch's: numLayers 1, bias true, tanh). */
const OPTION_NAMES = ['cell', 'nonlinearity', 'inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'bias', 'headBias', 'bidirectional',
  'batchFirst', 'dropout', 'embedding', 'backend', 'seed', 'init', 'wasmBuild', 'threads'];


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
  const embedding = opts.embedding === undefined ? undefined : checkEmbedding(opts.embedding);
  // With an embedding, layer 0 reads embeddingDim features: inputSize is that, or an error if it says otherwise.
  if (embedding && opts.inputSize !== undefined && opts.inputSize !== embedding.embeddingDim) {
    fail(`createModel: inputSize ${show(opts.inputSize)} does not match embedding.embeddingDim ${embedding.embeddingDim} ` +
      '(with an embedding, layer 0 reads the embedding vectors; omit inputSize or make them equal)', 'createModel');
  }
  const inputSize = embedding ? embedding.embeddingDim : checkPositiveInt('inputSize', opts.inputSize);
  const hiddenSize = checkPositiveInt('hiddenSize', opts.hiddenSize);
  const numLayers = checkPositiveInt('numLayers', opts.numLayers ?? 1);
  const outputSize = opts.outputSize == null ? null : checkPositiveInt('outputSize', opts.outputSize);
  const bias = opts.bias ?? true;
  if (typeof bias !== 'boolean') fail(`bias must be a boolean, got ${show(bias)}`);
  const headBias = opts.headBias ?? true;
  if (typeof headBias !== 'boolean') fail(`headBias must be a boolean, got ${show(opts.headBias)}`);
  if (!headBias && outputSize === null) fail('headBias applies to the Linear head; got headBias false without an outputSize');
  const bidirectional = opts.bidirectional ?? false;
  if (typeof bidirectional !== 'boolean') fail(`bidirectional must be a boolean, got ${show(bidirectional)}`);
  const batchFirst = opts.batchFirst ?? false;
  if (typeof batchFirst !== 'boolean') fail(`batchFirst must be a boolean, got ${show(batchFirst)}`);
  const dropout = opts.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail(`dropout must be a probability in [0, 1), got ${show(dropout)}`);
  const backend = checkOneOf('backend', opts.backend ?? 'wasm', ['wasm', 'js'] as const);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) fail(`seed must be a safe integer, got ${show(seed)}`, 'createModel');
  const config: ModelConfig = {
    cell, nonlinearity: cell === 'rnn' ? nonlinearity : 'tanh', inputSize, hiddenSize, numLayers, outputSize, bias,
    ...(headBias ? {} : { headBias }), ...(bidirectional ? { bidirectional } : {}), ...(dropout > 0 ? { dropout } : {}),
    ...(embedding ? { embedding } : {}),
  };
  checkModelSize(config); // bounded sizes, before any backend or memory exists
  if (opts.init !== undefined) resolveInit(opts.init); // throws on a bad init spec, before any backend starts
  const options: CreateModelOptions = {
    cell, ...(cell === 'rnn' ? { nonlinearity } : {}), inputSize, hiddenSize, numLayers, outputSize, bias,
    ...(bidirectional ? { bidirectional } : {}), ...(batchFirst ? { batchFirst } : {}), ...(dropout > 0 ? { dropout } : {}),
    ...(embedding ? { embedding: { ...embedding } } : {}),
    backend, seed,
    ...(opts.init !== undefined ? { init: opts.init } : {}),
    ...(headBias ? {} : { headBias }),
  };
  const wasmBuild = opts.wasmBuild === undefined ? undefined : checkOneOf('wasmBuild', opts.wasmBuild, ['simd', 'relaxed'] as const);
  const threads = resolveThreads(opts.threads, backend);
  if (threads > MAX_THREADS) fail(`createModel: threads must be at most ${MAX_THREADS}, got ${threads}`, 'createModel');
  if (threads > 1 && backend !== 'wasm') fail(`threads applies to backend 'wasm' only; got threads ${threads} with backend '${backend}'`);
  return { options, config, threads, wasmBuild };
}

/** createModel's threads as a count: a positive integer, or 'auto' (the available cores, capped; js: 1). */
function resolveThreads(v: unknown, backend: BackendKind): number {
  if (v === 'auto') return backend === 'wasm' ? Math.max(1, Math.min(AUTO_THREADS_MAX, Math.floor(host().availableCores()) || 1)) : 1;
  if (typeof v === 'string') fail(`threads must be an integer >= 1 or 'auto', got ${show(v)}`, 'createModel');
  return checkPositiveInt('threads', v ?? 1);
}

/**
 * Validate the embedding option: { numEmbeddings, embeddingDim, paddingIdx? } (PyTorch's
 * snake_case too). A negative paddingIdx counts from the end, as nn.Embedding's, and is
 * stored as the row it names.
 */
function checkEmbedding(e: unknown): EmbeddingConfig {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) {
    fail(`createModel: embedding must be { numEmbeddings, embeddingDim, paddingIdx? }, got ${show(e)}`, 'createModel');
  }
  const o = normalizeOptions<Partial<EmbeddingConfig>>('createModel', 'embedding', e, ['numEmbeddings', 'embeddingDim', 'paddingIdx']);
  const numEmbeddings = checkPositiveInt('embedding.numEmbeddings', o.numEmbeddings);
  const embeddingDim = checkPositiveInt('embedding.embeddingDim', o.embeddingDim);
  if (o.paddingIdx === undefined || o.paddingIdx === null) return { numEmbeddings, embeddingDim };
  const p = o.paddingIdx;
  if (!Number.isInteger(p) || p < -numEmbeddings || p >= numEmbeddings) {
    fail(`createModel: embedding.paddingIdx must be an integer in [${-numEmbeddings}, ${numEmbeddings - 1}] ` +
      `(numEmbeddings ${numEmbeddings}), got ${show(p)}`, 'createModel');
  }
  return { numEmbeddings, embeddingDim, paddingIdx: p < 0 ? p + numEmbeddings : p };
}

/** Build a model; the 'wasm' backend compiles (once per process) and instantiates the kernels. */
export async function createModel(opts: CreateModelOptions): Promise<Model> {
  const { options, config, threads, wasmBuild } = resolveOptions(opts);
  const backend = await createBackend(options.backend!, wasmBuild, threads);
  try {
    return new Model(options, config, backend);
  } catch (e) {
    backend.sweep.dispose?.(); // do not leave worker threads behind
    throw e;
  }
}

/**
 * Rows b0 .. b0+nb of `blocks` blocks of [B, width] values (x or a state, for one of
 * predict's batches), as [blocks, nb, width]: a typed source is copied a run per block
 * with set(), which converts each value as an assignment does (ints: token ids).
 */
function blockRows(src: ArrayLike<number>, blocks: number, B: number, b0: number, nb: number, width: number, ints: boolean): Float32Array | Int32Array {
  const d = ints ? new Int32Array(blocks * nb * width) : new Float32Array(blocks * nb * width);
  const run = nb * width;
  for (let k = 0; k < blocks; k++) {
    const from = (k * B + b0) * width;
    if (ArrayBuffer.isView(src)) d.set((src as Float32Array).subarray(from, from + run), k * run);
    else for (let i = 0; i < run; i++) d[k * run + i] = src[from + i];
  }
  return d;
}

export class Model {
  readonly options: CreateModelOptions;
  /** x, output, target and dx are [B, T, *] (PyTorch's batch_first); the engine runs time-major */
  readonly batchFirst: boolean;
  readonly config: ModelConfig;
  readonly layout: Layout;
  /** the BPTT schedule: bind, forward, backward (and the threads, if any) */
  readonly sweep: Sweep;
  /** losses, embedding, norms, clipping and optimizer steps over flat regions of the arena */
  readonly ops: Ops;
  readonly arena: Arena;
  /** float offset of the parameter region (layout.numParams floats) */
  readonly params: number;
  /** float offset of the gradient region (same layout) */
  readonly grads: number;
  /** the current call's buffers, in the arena's workspace (laid out again by every call) */
  private io: IOBuffers | null = null;
  /** the last call's pointer table and where it was laid out (beginCall reuses it for the same table and base) */
  private ioWs: Workspace | null = null;
  private ioBase = -1;
  private ioLast: IOBuffers | null = null;
  private workspaceLimit = DEFAULT_WORKSPACE_BYTES;
  /** the current call's lengths (all T when the caller gave none) */
  private len: Int32Array = new Int32Array(0);
  /** dropout masks come from here: a seed reproduces a run */
  private readonly dropRng: Rng;
  /** (T, B) of the last call's dropout mask, or null when the last call applied none */
  private maskDims: [number, number] | null = null;
  /** a copy of that mask: the workspace it was written to belongs to the next call */
  private maskCopy: Float32Array | null = null;


  constructor(options: CreateModelOptions, config: ModelConfig, backend: Backend) {
    this.options = options;
    this.batchFirst = options.batchFirst ?? false;
    this.dropRng = new Rng(hashSeed(options.seed ?? 0, 'dropout'));
    this.config = config;
    this.layout = buildLayout(config);
    this.sweep = backend.sweep;
    this.ops = backend.ops;
    this.arena = backend.arena;
    this.params = this.arena.alloc(this.layout.numParams);
    this.grads = this.arena.alloc(this.layout.numParams);
    initParams(this.layout, this.paramView(), options.init ?? 'pytorch', options.seed ?? 0);
    this.sweep.bind(this.layout, this.params, this.grads);
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  /** How this model runs: backend, host, Wasm build and threads (with the reason when fewer run than asked for). */
  info(): ModelInfo {
    const b = this.sweep.info;
    return {
      backend: this.sweep.kind, host: hostName() ?? 'unknown', wasmBuild: b?.wasmBuild ?? null, threads: b?.threads ?? 1,
      threadsRequested: b?.threadsRequested ?? 1, threadsNote: b?.threadsNote ?? null, memoryBytes: this.arena.usedBytes,
      persistentBytes: this.arena.persistentBytes, capacityBytes: this.arena.capacityBytes,
      gemm: this.sweep.gemmChoices?.() ?? [],
    };
  }

  /** Stop worker threads (models with threads > 1); the model is unusable afterwards. */
  dispose(): void {
    this.sweep.dispose?.();
  }

  /** Live view of the parameter region (invalid after any allocation; for kernels and initialisers). */
  paramView(): Float32Array {
    return this.arena.f32.subarray(this.params, this.params + this.layout.numParams);
  }

  /** Live view of the gradient region. */
  gradView(): Float32Array {
    return this.arena.f32.subarray(this.grads, this.grads + this.layout.numParams);
  }

  /**
   * PyTorch state dict (copies): `rnn.weight_ih_l0`, ..., `out.weight`, `out.bias`; with
   * `{ prefixes: { rnn: 'lstm', out: 'fc' } }` under the user's module names instead.
   */
  stateDict(opts?: StateDictNameOptions): Record<string, Tensor> {
    return this.regionDict(this.params, 'stateDict', opts);
  }

  /** Gradients by the same names (copies; `prefixes` as for stateDict). */
  gradDict(opts?: StateDictNameOptions): Record<string, Tensor> {
    return this.regionDict(this.grads, 'gradDict', opts);
  }

  private regionDict(base: number, where: string, opts?: StateDictNameOptions): Record<string, Tensor> {
    const o = normalizeOptions<StateDictNameOptions>(where, 'options', opts, ['prefixes']);
    const prefixes = o.prefixes === undefined ? null : resolvePrefixes(where, this.layout, {}, o.prefixes);
    const out: Record<string, Tensor> = {};
    for (const t of this.layout.tensors) {
      out[prefixes ? userKey(t.name, prefixes) : t.name] = { shape: [...t.shape], data: this.arena.read(base + t.offset, t.size) };
    }
    return out;
  }

  /**
   * Load PyTorch-named tensors. Every key must be present with the right shape and finite
   * values; checked before anything is written, so a failed load leaves the model unchanged.
   * Module names as the user's nn.Module has them: `opts.prefixes` (`{ rnn: 'lstm', out: 'fc' }`),
   * else ours (`rnn.`, `out.`; a bare nn.RNN/LSTM/GRU dict's `weight_ih_l0` too), else the one
   * recurrent module and the one Linear head the dict holds (nested names too:
   * `encoder.rnn.weight_ih_l0`); an ambiguous dict is an error listing the candidates.
   */
  loadStateDict(sd: Record<string, TensorLike>, opts?: StateDictNameOptions): void {
    if (sd === null || typeof sd !== 'object') fail(`loadStateDict: state dict must be an object, got ${String(sd)}`);
    const o = normalizeOptions<StateDictNameOptions>('loadStateDict', 'options', opts, ['prefixes']);
    const byName = this.layout.byName;
    const prefixes = resolvePrefixes('loadStateDict', this.layout, sd, o.prefixes);
    const via = describePrefixes(prefixes);
    const readAs = via ? ` (read with ${via})` : '';
    const resolved = new Map<string, ArrayLike<number>>();
    const from = new Map<string, string>();
    for (const [key, value] of Object.entries(sd)) {
      const mapped = ourName(key, prefixes);
      const name = mapped !== null && byName.has(mapped) ? mapped : null;
      if (name === null) {
        // what PyTorch has and this library does not, said plainly rather than as an unknown key or a shape
        if (/(^|\.)weight_hr_l\d+(_reverse)?$/.test(key)) {
          fail(`loadStateDict: '${key}' is an LSTM projection (PyTorch's proj_size > 0), which bptt-wasm does not support`);
        }
        const layer = /(^|\.)(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$/.exec(key);
        if (layer && Number(layer[4]) >= this.config.numLayers) {
          fail(`loadStateDict: '${key}' belongs to layer ${layer[4]}, but this model has numLayers ${this.config.numLayers}`);
        }
        fail(`loadStateDict: unknown key '${key}' for this model${readAs} (expected: ${[...byName.keys()].map((k) => userKey(k, prefixes)).join(', ')})`);
      }
      if (resolved.has(name)) fail(`loadStateDict: '${from.get(name)}' and '${key}' both give '${name}'`);
      const spec = byName.get(name)!;
      const data = checkTensor(`loadStateDict: '${key}'`, value, spec.shape);
      checkFinite(`loadStateDict: '${key}'`, data);
      resolved.set(name, data);
      from.set(name, key);
    }
    const missing = [...byName.keys()].filter((k) => !resolved.has(k));
    if (missing.length) fail(`loadStateDict: missing keys ${missing.map((k) => userKey(k, prefixes)).join(', ')}${readAs}`);
    const f = this.arena.f32;
    for (const t of this.layout.tensors) f.set(resolved.get(t.name)!, this.params + t.offset);
  }

  /** Set every gradient to zero (gradients accumulate across lossAndGrad calls, as in PyTorch). */
  zeroGrad(): void {
    this.ops.fill(this.grads, this.layout.numParams, 0);
  }

  /** Inference over a batch of sequences: x [T, B, inputSize] (token ids [T, B] with an embedding), optionally of lengths `lengths`. */
  forward(x: TensorLike, state: ForwardState = {}): ForwardResult {
    // { h, c } is the shape step() and the training loops return: the same state, accepted
    state = normalizeOptions<ForwardState>('forward', 'state', state, ['h0', 'c0', 'lengths', 'train'], { aliases: { h: 'h0', c: 'c0' } });
    if (state.train !== undefined && typeof state.train !== 'boolean') fail(`forward: train must be a boolean, got ${show(state.train)}`);
    // a forward only: the workspace has no gradient buffers (as predict's)
    const r = this.checkInputs(x, state.h0, state.c0, state.lengths);
    const { T, B } = r;
    this.writeInputs(x, state.h0, state.c0, r.lengths, T, B, state.train ?? false, 'forward');
    this.sweep.forward(this.io!, T, B);
    return this.readForward(T, B);
  }

  /**
   * Inference with small memory: x [T, B, inputSize] ([B, T, inputSize] batchFirst; token
   * ids [T, B] / [B, T] with an embedding) runs
   * in batches of `batchSize` sequences, each a forward over a workspace without any
   * gradient buffer, so memory is one batch's activations, not the whole input's.
   * Returns [T, B, O] ([B, T, O] batchFirst), or [B, O] with lastStepOnly: each sequence's
   * output at its own last valid step (lengths[b] - 1). Same numbers as forward(): bit for bit
   * when a block and forward's batch both have 4 or more sequences; a block of 1-3 runs the
   * per-step product on the row kernels, which sum in another order (float32 rounding apart).
   * batchSize defaults to as many sequences as fit PREDICT_BATCH_BYTES (32 MiB) of workspace, in equal blocks.
   */
  predict(x: TensorLike, opts: PredictOptions = {}): Tensor {
    opts = normalizeOptions<PredictOptions>('predict', 'options', opts, ['batchSize', 'lastStepOnly', 'lengths', 'h0', 'c0'],
      { aliases: { h: 'h0', c: 'c0' } });
    const last = opts.lastStepOnly ?? false;
    if (typeof last !== 'boolean') fail(`predict: lastStepOnly must be a boolean, got ${show(opts.lastStepOnly)}`, 'predict');
    const { T, B, lengths } = this.checkInputs(x, opts.h0, opts.c0, opts.lengths);
    let bs: number;
    if (opts.batchSize === undefined) {
      // bytes per sequence at a batch of up to 64 (the sweep keeps a time chunk that
      // shrinks as the batch grows, so one sequence alone would overstate it), then equal
      // blocks: 32 sequences in two runs of 16, never 30 + 2 (a 2-row block runs the
      // matrix-vector kernels, and every row fewer re-reads W_hh for less work)
      const nb = Math.min(B, 64);
      const perSeq = (buildWorkspace(this.layout, T, nb, false, false, null).floats + this.sweep.workFloats(T, nb, false, false)) * 4 / nb;
      const most = Math.min(B, Math.max(16, Math.floor(PREDICT_BATCH_BYTES / perSeq)));
      bs = Math.ceil(B / Math.ceil(B / most));
    } else {
      bs = checkPositiveInt('predict: batchSize', opts.batchSize);
    }
    const { hiddenSize: H, cell } = this.config;
    const O = this.layout.outputWidth;
    const LD = this.layout.layers.length;
    const bf = this.batchFirst;
    // values per (t, b) of x: a feature vector, or one token id (kept in an Int32Array: exact for any id)
    const ids = this.layout.embed !== null;
    const F = ids ? 1 : this.config.inputSize;
    const step = ids ? [] : [F];
    const out = new Float32Array((last ? 1 : T) * B * O);
    for (let b0 = 0; b0 < B; b0 += bs) {
      const nb = Math.min(bs, B - b0);
      // this batch's sequences, in the caller's layout (writeInputs converts batch-first):
      // the caller's x itself when one block holds them all, else its rows b0 .. b0+nb
      // (batch-first: one run of nb*T*F values; time-major: a run of nb*F per step)
      const xb: TensorLike = nb === B ? x : {
        shape: bf ? [nb, T, ...step] : [T, nb, ...step],
        data: bf ? blockRows(x.data, 1, B, b0, nb, T * F, ids) : blockRows(x.data, T, B, b0, nb, F, ids),
      };
      const rows = (s: TensorLike | undefined): TensorLike | undefined =>
        s == null ? undefined : { shape: [LD, nb, H], data: blockRows(s.data, LD, B, b0, nb, H, false) };
      const lb = lengths ? lengths.subarray(b0, b0 + nb) : null;
      this.writeInputs(xb, rows(opts.h0), cell === 'lstm' ? rows(opts.c0) : undefined, lb, T, nb, false, 'forward');
      const io = this.io!;
      this.sweep.forward(io, T, nb);
      const f = this.arena.f32;
      if (!last && !bf) {
        // time-major: step t's rows of this block are one run of nb*O floats in both
        for (let t = 0; t < T; t++) out.set(f.subarray(io.y + t * nb * O, io.y + (t + 1) * nb * O), (t * B + b0) * O);
        continue;
      }
      for (let b = 0; b < nb; b++) {
        if (last) {
          const src = io.y + (((lb ? lb[b] : T) - 1) * nb + b) * O;
          out.set(f.subarray(src, src + O), (b0 + b) * O);
          continue;
        }
        for (let t = 0; t < T; t++) {
          const src = io.y + (t * nb + b) * O;
          out.set(f.subarray(src, src + O), (bf ? (b0 + b) * T + t : t * B + b0 + b) * O);
        }
      }
    }
    return { shape: last ? [B, O] : bf ? [B, T, O] : [T, B, O], data: out };
  }

  /**
   * Bytes of workspace one call may use (default 1 GiB): a call that needs more fails up
   * front with a BpttError saying what it needs; the workspace is sized per call, so this
   * bounds one call, not the model's life.
   */
  get maxWorkspaceBytes(): number {
    return this.workspaceLimit;
  }

  set maxWorkspaceBytes(v: number) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_MEMORY_BYTES) {
      fail(`maxWorkspaceBytes must be an integer in [1, ${MAX_MEMORY_BYTES}], got ${show(v)}`, 'maxWorkspaceBytes');
    }
    this.workspaceLimit = v;
  }

  /**
   * Give memory back: a Wasm memory never shrinks, so after a large call the model's memory
   * stays at its largest size. compact() copies everything persistent (parameters,
   * gradients, optimizer state such as Adam's m and v) into a fresh memory
   * of the size they need, at the same offsets, and drops the workspace (the next call lays
   * out its own); with threads > 1 the worker threads restart over the new memory. Numbers
   * are unchanged, bit for bit. Not automatic: call it after a large call when memory matters.
   */
  async compact(): Promise<void> {
    await this.sweep.compact();
    this.io = null;
    this.ioLast = null;
  }

  /**
   * Forward and loss, no backward: the loss lossAndGrad returns for the same batch, spec and
   * train flag, bit for bit (the same target rule, the same loss kernels), with no gradient
   * touched and no backward workspace (evaluate and fit's validation run this). train
   * defaults to false (eval mode: no dropout), as forward; lossAndGrad's defaults to true.
   */
  loss(batch: Batch, loss: LossSpec, opts: LossOptions = {}): LossResult {
    opts = normalizeOptions<LossOptions>('loss', 'options', opts, ['train'], { unsupported: NO_BACKWARD });
    if (opts.train !== undefined && typeof opts.train !== 'boolean') fail(`loss: train must be a boolean, got ${show(opts.train)}`, 'loss');
    const { T, B, spec, rowLoss } = this.forwardLoss('loss', batch, loss, opts.train ?? false, 'loss');
    const { loss: value, losses } = this.computeLoss(spec, T, B, rowLoss);
    return { loss: value, ...this.readForward(T, B), ...(losses ? { losses } : {}) };
  }

  /**
   * Forward, loss, and full backpropagation through time. Parameter gradients are ADDED to
   * the gradient region (call zeroGrad() between steps, as with PyTorch).
   */
  lossAndGrad(batch: Batch, loss: LossSpec, opts: GradOptions = {}): LossAndGradResult {
    opts = normalizeOptions<GradOptions>('lossAndGrad', 'options', opts, GRAD_KEYS);
    const clip = opts.clipHiddenGrad ?? 0;
    if (opts.clipHiddenGrad !== undefined) checkFinitePositive('clipHiddenGrad', clip);
    if (opts.inputGrad !== undefined && typeof opts.inputGrad !== 'boolean') fail(`lossAndGrad: inputGrad must be a boolean, got ${show(opts.inputGrad)}`);
    if (opts.train !== undefined && typeof opts.train !== 'boolean') fail(`lossAndGrad: train must be a boolean, got ${show(opts.train)}`);
    const { T, B, spec, rowLoss } = this.forwardLoss('lossAndGrad', batch, loss, opts.train ?? true, 'grad');
    const io = this.io!;
    const { loss: lossValue, losses } = this.computeLoss(spec, T, B, rowLoss);
    const emb = this.layout.embed;
    // an embedding's gradient is dLoss/dx scattered into its rows: dx is always computed then, but not returned
    const inputGrad = (opts.inputGrad ?? true) && !emb;
    this.sweep.backward(io, T, B, clip, inputGrad || emb !== null);
    if (emb) {
      // after the backward (and every thread) is done, on this thread: repeated ids accumulate in a fixed order
      this.ops.embeddingBackward(this.grads + emb.offset, io.dx, io.ids, T * B, this.config.inputSize,
        this.config.embedding!.paddingIdx ?? -1);
    }
    const { config: c } = this;
    const L = this.layout.layers.length, H = c.hiddenSize; // rows: layers times directions
    const norms: number[][] = [];
    const nv = this.arena.read(io.norms, L * T);
    for (let l = 0; l < L; l++) norms.push(Array.from(nv.subarray(l * T, (l + 1) * T)));
    return {
      loss: lossValue,
      ...this.readForward(T, B),
      ...(inputGrad ? { dx: this.userLayout(this.arena.read(io.dx, T * B * c.inputSize), T, B, c.inputSize) } : {}),
      dh0: { shape: [L, B, H], data: this.arena.read(io.dh0, L * B * H) },
      ...(c.cell === 'lstm' ? { dc0: { shape: [L, B, H], data: this.arena.read(io.dc0, L * B * H) } } : {}),
      hiddenGradNorms: norms,
      ...(losses ? { losses } : {}),
    };
  }

  /**
   * The one loss path's first half (model.loss and lossAndGrad): validate the batch and the
   * spec before any write (a bad batch changes nothing), lay out the call, write inputs and
   * target (-1 at padded and ignored class ids), run the forward. computeLoss follows.
   */
  private forwardLoss(where: string, batch: Batch, loss: LossSpec, train: boolean, mode: 'loss' | 'grad'):
  { T: number; B: number; spec: ResolvedLoss; rowLoss: number } {
    if (batch === null || typeof batch !== 'object') fail(`${where}: batch must be { x, target, lengths?, h0?, c0? }, got ${show(batch)}`);
    checkKeys(where, 'batch', batch, BATCH_KEYS);
    const spec = checkLossSpec(loss);
    const { T, B, lengths } = this.checkInputs(batch.x, batch.h0, batch.c0, batch.lengths);
    const writeTarget = this.checkTarget(batch.target, spec, T, B, lengths);
    this.writeInputs(batch.x, batch.h0, batch.c0, lengths, T, B, train, mode);
    const rowLoss = this.lossBuffers(spec);
    writeTarget(this.io!.target);
    this.sweep.forward(this.io!, T, B);
    return { T, B, spec, rowLoss };
  }

  /** Validate x, h0, c0 and lengths (nothing is written). */
  private checkInputs(x: TensorLike, h0?: TensorLike, c0?: TensorLike, lengths?: Lengths): { T: number; B: number; lengths: Int32Array | null } {
    const { hiddenSize: H, cell } = this.config;
    const LD = this.layout.layers.length;
    const rows = this.layout.D === 2 ? 'numLayers * 2, B, hiddenSize' : 'numLayers, B, hiddenSize';
    const { T, B, lengths: len } = checkInput('x', x, this, lengths);
    const h0d = h0 != null ? checkTensor('h0', h0, [LD, B, H], rows) : null;
    if (h0d) checkFinite('h0', h0d);
    if (c0 != null && cell !== 'lstm') fail(`c0 is for cell 'lstm' only; this model's cell is '${cell}'`);
    const c0d = c0 != null ? checkTensor('c0', c0, [LD, B, H], rows) : null;
    if (c0d) checkFinite('c0', c0d);
    return { T, B, lengths: len };
  }

  /**
   * Lay out this call's workspace and copy the (validated) inputs into it. train: apply
   * dropout; mode: what the call lays out (CallMode).
   */
  private writeInputs(x: TensorLike, h0: TensorLike | undefined, c0: TensorLike | undefined, lengths: Int32Array | null, T: number, B: number,
    train: boolean, mode: CallMode): void {
    const n = this.layout.layers.length * B * this.config.hiddenSize;
    const dropout = train && (this.config.dropout ?? 0) > 0 && this.config.numLayers > 1;
    const io = this.beginCall(T, B, mode, dropout);
    const f = this.arena.f32;
    this.len = lengths ?? new Int32Array(B).fill(T);
    if (this.layout.embed) {
      // ids time-major, -1 at padded steps (the kernels skip those: a zero row, no gradient)
      const iv = this.arena.i32;
      const bf = this.batchFirst;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < B; b++) iv[io.ids + t * B + b] = t < this.len[b] ? x.data[bf ? b * T + t : t * B + b] : -1;
      }
      this.ops.embeddingForward(io.x, this.params + this.layout.embed.offset, io.ids, T * B, this.config.inputSize);
    } else {
      f.set(this.batchFirst ? swapAxes01(x.data, B, T, this.config.inputSize) : x.data, io.x);
    }
    if (h0 != null) f.set(h0.data, io.h0); else f.fill(0, io.h0, io.h0 + n);
    if (this.config.cell === 'lstm') {
      if (c0 != null) f.set(c0.data, io.c0); else f.fill(0, io.c0, io.c0 + n);
    }
    this.arena.i32.set(this.len, io.lengths);
    // Dropout masks, [L-1, T, B, D*H]: 0 with probability p, else 1/(1-p) (inverted dropout)
    const p = this.config.dropout ?? 0;
    const on = train && io.mask !== 0;
    this.arena.i32[io.maskOn] = on ? 1 : 0;
    this.maskDims = on ? [T, B] : null;
    this.maskCopy = null;
    if (on) {
      const keep = Math.fround(1 / (1 - p));
      const n = (this.config.numLayers - 1) * T * B * this.layout.D * this.config.hiddenSize;
      const m = (this.maskCopy = new Float32Array(n));
      for (let i = 0; i < n; i++) m[i] = this.dropRng.random() < p ? 0 : keep;
      this.arena.f32.set(m, io.mask);
    }
  }

  /**
   * Lay out one call's workspace for exactly (T, B): the model's IOBuffers (the workspace
   * table's, buildWorkspace in layout.ts), then the sweep's own buffers. The size is
   * computed first and checked against the cap, so a call that is too large fails here,
   * before anything is written.
   */
  private beginCall(T: number, B: number, mode: CallMode, dropout: boolean): IOBuffers {
    const grad = mode === 'grad', loss = mode !== 'forward';
    const ws = buildWorkspace(this.layout, T, B, grad, dropout, null, loss);
    const floats = ws.floats + this.sweep.workFloats(T, B, grad, dropout);
    if (floats * 4 > this.workspaceLimit) {
      const mib = (v: number): string => `${(v / 2 ** 20).toFixed(1)} MiB`;
      const [what, instead] = {
        grad: ['training', 'or truncated BPTT (trainTruncated)'],
        loss: ['a loss', 'or evaluate(model, data, { batchSize }) which runs in batches'],
        forward: ['a forward', 'or model.predict(x, { batchSize }) which runs in batches'],
      }[mode];
      fail(`${what} over T = ${T}, B = ${B} needs ${mib(floats * 4)} of workspace, more than the cap ` +
        `model.maxWorkspaceBytes = ${mib(this.workspaceLimit)}; use a smaller batch (B), shorter sequences (T), ${instead}, ` +
        'or raise model.maxWorkspaceBytes', 'workspace');
    }
    this.arena.beginWorkspace(floats);
    const base = this.arena.take(floats);
    // the same table at the same base has the same pointers: a streaming loop asks for one
    // table at every step, and rebuilding the pointer object was a sixth of a step's time
    const io = ws === this.ioWs && base === this.ioBase && this.ioLast ? this.ioLast : ioBuffersAt(ws, base);
    this.ioWs = ws;
    this.ioBase = base;
    this.ioLast = io;
    this.sweep.prepare(io, T, B);
    this.io = io;
    return io;
  }

  /** The last call's dropout mask [numLayers - 1, T, B, D * hiddenSize] (time-major; a copy), or null if it applied none. */
  dropoutMask(): Tensor | null {
    if (!this.maskDims) return null;
    const [T, B] = this.maskDims;
    const shape = [this.config.numLayers - 1, T, B, this.layout.D * this.config.hiddenSize];
    return { shape, data: this.maskCopy!.slice() };
  }

  /**
   * Validate the target now; return a writer that copies it into the arena. With
   * lastStepOnly the arena gets [B, O] (or [B]) targets, each sequence's at its last step;
   * otherwise [T, B, O] (or [T, B]) with class id -1 at padded and ignored steps (the loss kernels skip those).
   */
  private checkTarget(target: TensorLike, spec: ResolvedLoss, T: number, B: number,
    lengths: Int32Array | null): (off: number) => void {

    const O = this.layout.outputWidth;
    const len = (b: number): number => (lengths ? lengths[b] : T);
    const bf = this.batchFirst;
    const { hasTime, width: w } = targetLayout('', target, spec, T, B, O, bf); // w: values per (t, b)
    const mse = spec.kind === 'mse';
    const isShort = !hasTime;
    const data = target.data;
    // source index of (t, b)'s first value; only valid steps are read (padding may hold anything)
    const at = (t: number, b: number): number => (isShort ? b : bf ? b * T + t : t * B + b) * w;
    const ignore = spec.ignoreIndex;
    checkClassWeights(spec, O);
    // the (t, b) the loss reads, in destination order: each sequence's last step with
    // lastStepOnly, else every valid step. Walked twice (check now, copy later) rather
    // than listed: a list would allocate T*B pairs per call.
    const last = spec.lastStepOnly;
    const steps = last ? 1 : T;
    const each = (visit: (src: number, dst: number) => void): void => {
      for (let s = 0; s < steps; s++) {
        for (let b = 0; b < B; b++) {
          const t = last ? len(b) - 1 : s;
          if (t < len(b)) visit(at(t, b), (s * B + b) * w);
        }
      }
    };
    const n = steps * B * w;
    // Every step of every sequence, time-major: the loss reads data[0, n) as it is, so the
    // check is one loop and the copy one set() (a W1 step spent 6% of its time walking
    // 51,200 MSE targets value by value).
    const whole = !last && !lengths && !bf && hasTime;
    const f32Mse = mse && data instanceof Float32Array;
    // the check allocates nothing and builds a message only for the value that fails
    if (whole && f32Mse) {
      // one branch-free scan; on a failure, the first bad value is found and named
      // (a float32 value is finite iff v - v is 0: NaN and +-Inf give NaN)
      if (!allFiniteF32(data as Float32Array, 0, n)) for (let i = 0; i < n; i++) {
        const v = data[i];
        if (v - v !== 0) checkTargetValue(v, spec, O, `target.data[${i}]`);
      }
    } else {
      each((src) => {
        for (let i = src; i < src + w; i++) {
          if (!targetValueOk(data[i], spec, O)) checkTargetValue(data[i], spec, O, `target.data[${i}]`);
        }
      });
    }
    return (off) => {
      if (mse) {
        const f = this.arena.f32;
        if (whole && f32Mse) {
          f.set((data as Float32Array).subarray(0, n), off);
          return;
        }
        // padded steps: 0 here; computeLoss sets them to the output so they add nothing
        f.fill(0, off, off + n);
        each((src, dst) => { for (let i = 0; i < w; i++) f[off + dst + i] = data[src + i]; });
      } else {
        const iv = this.arena.i32;
        // padded and ignored steps are -1, which the loss kernels skip (even when ignoreIndex is a class id)
        iv.fill(-1, off, off + n);
        each((src, dst) => { iv[off + dst] = data[src] === ignore ? -1 : data[src]; });
      }
    };
  }

  /**
   * Arena buffers the cross-entropy options need: the class weights (written now) and, for
   * reduction 'none', per-row losses (float offset returned; -1 when not needed). Allocated
   * before forward, once per capacity, so steady training allocates nothing.
   */
  private lossBuffers(spec: ResolvedLoss): number {
    const io = this.io!;
    if (spec.weight) this.arena.f32.set(spec.weight, io.ceWeight);
    if (spec.kind !== 'cross_entropy' || spec.reduction !== 'none') return -1;
    return io.rowLoss;
  }


  /**
   * Loss over y (every valid step, or each sequence's last step), writing dLoss/dy into io.dy.
   * Padded steps add nothing: mse gets target = output there, cross-entropy class id -1.
   */
  private computeLoss(spec: ResolvedLoss, T: number, B: number, rowLoss: number): { loss: number; losses?: Tensor } {
    const io = this.io!;
    const O = this.layout.outputWidth;
    const be = this.ops;
    const len = this.len;
    const f = this.arena.f32;
    const mse = spec.kind === 'mse';
    const last = spec.lastStepOnly;
    let y = io.y, dy = io.dy;
    const rows = last ? B : T * B;
    if (last) {
      // Only each sequence's last valid step enters the loss: gather those rows (scattered
      // back into dy below; every other step's output gradient is zero).
      for (let b = 0; b < B; b++) {
        const src = io.y + ((len[b] - 1) * B + b) * O;
        f.copyWithin(io.yLast + b * O, src, src + O);
      }
      y = io.yLast;
      dy = io.dyLast;
    }
    let N = 0; // valid steps
    for (let b = 0; b < B; b++) N += len[b];
    if (mse && !last && N < T * B) {
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < B; b++) {
          if (t < len[b]) continue;
          const r = (t * B + b) * O;
          f.copyWithin(io.target + r, io.y + r, io.y + r + O);
        }
      }
    }
    const none = spec.reduction === 'none';
    let loss: number;
    let per: Float32Array | undefined;
    if (mse) {
      loss = be.mseLoss(dy, y, io.target, rows * O, spec.reduction === 'mean' ? 1 / ((last ? B : N) * O) : 1);
      if (none) {
        per = new Float32Array(rows * O);
        for (let i = 0; i < rows * O; i++) per[i] = (f[y + i] - f[io.target + i]) ** 2;
      }
    } else {
      const { weight, labelSmoothing } = spec;
      let scale = 1;
      if (spec.reduction === 'mean') {
        // PyTorch's mean: over the counted rows (not padded, not ignored), each weighing its class weight
        const iv = this.arena.i32;
        let denom = 0;
        for (let r = 0; r < rows; r++) {
          const t = iv[io.target + r];
          if (t >= 0) denom += weight ? weight[t] : 1;
        }
        scale = 1 / denom;
      }
      if (!weight && labelSmoothing === 0 && !none) loss = be.crossEntropyLoss(dy, y, io.target, rows, O, scale);
      else loss = be.crossEntropyLossExt(dy, y, io.target, rows, O, scale, weight ? io.ceWeight : -1, labelSmoothing, rowLoss);
      if (none) per = this.arena.read(rowLoss, rows);
    }
    if (last) {
      be.fill(io.dy, T * B * O, 0);
      for (let b = 0; b < B; b++) {
        const dst = io.dy + ((len[b] - 1) * B + b) * O;
        f.copyWithin(dst, io.dyLast + b * O, io.dyLast + (b + 1) * O);
      }
    }
    if (!per) return { loss };
    // reduction 'none': per step ([T, B] / [T, B, O], batch-first [B, T] / [B, T, O]) or per sequence ([B] / [B, O])
    const F = mse ? O : 1;
    if (last) return { loss, losses: { shape: mse ? [B, O] : [B], data: per } };
    const data = this.batchFirst ? swapAxes01(per, T, B, F) : per;
    const tb = this.batchFirst ? [B, T] : [T, B];
    return { loss, losses: { shape: mse ? [...tb, O] : tb, data } };
  }

  /** A time-major [T, B, F] result in the caller's layout ([B, T, F] when batchFirst). */
  private userLayout(data: Float32Array, T: number, B: number, F: number): Tensor {
    return this.batchFirst ? { shape: [B, T, F], data: swapAxes01(data, T, B, F) } : { shape: [T, B, F], data };
  }

  private readForward(T: number, B: number): ForwardResult {
    const io = this.io!;
    const { hiddenSize: H, cell } = this.config;
    const L = this.layout.layers.length;
    const O = this.layout.outputWidth;
    return {
      output: this.userLayout(this.arena.read(io.y, T * B * O), T, B, O),
      hN: { shape: [L, B, H], data: this.arena.read(io.hN, L * B * H) },
      ...(cell === 'lstm' ? { cN: { shape: [L, B, H], data: this.arena.read(io.cN, L * B * H) } } : {}),
    };
  }

}

/**
 * [A, B, F] -> [B, A, F] (between the caller's batch-first layout and the engine's time-major
 * one), into `out` (a Float32Array by default; an Int32Array keeps token ids and class ids exact).
 */
export function swapAxes01<O extends Float32Array | Int32Array = Float32Array>(src: ArrayLike<number>, A: number, B: number, F: number,
  out: O = new Float32Array(A * B * F) as O): O {
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      const s = (a * B + b) * F, d = (b * A + a) * F;
      for (let f = 0; f < F; f++) out[d + f] = src[s + f];
    }
  }
  return out;
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
  const norm = normType === 2 ? Math.sqrt(model.ops.sumSquares(model.grads, n)) : maxAbs(model.gradView());
  if (!Number.isFinite(norm) && opts.errorIfNonfinite) {
    fail(`clipGradNorm: the total norm of gradients is non-finite (${norm}); ` +
      `non-finite gradient in ${nonfiniteTensors(model).join(', ')}`);
  }
  // torch multiplies by min(coef, 1) always; skipping the multiply by 1 is the same, and a
  // NaN or infinite norm still poisons the gradients (coef NaN or 0) exactly as in torch.
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef >= 1)) model.ops.scale(model.grads, n, coef);
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
  model.ops.clampAbs(model.grads, model.layout.numParams, value);
}

/** Names of the tensors holding NaN or Inf in a region with the parameter layout (default: the gradients). */
export function nonfiniteTensors(model: Model, region = model.grads): string[] {
  return model.layout.tensors.filter((t) => !model.ops.allFinite(region + t.offset, t.size)).map((t) => t.name);
}
