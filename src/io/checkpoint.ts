// Checkpoints as safetensors files that PyTorch reads directly.
//
// Tensors: the model's state dict under PyTorch's names (`rnn.weight_ih_l0`, ...,
// `out.weight`, `out.bias`), float32, so `Net.load_state_dict(safetensors.torch.load_file(p))`
// works in Python for the reference `Net` (nn.RNN/LSTM/GRU `rnn` + nn.Linear `out`).
// Optional optimizer state goes in beside them as `optimizer.<torch state name>.<param>`
// (e.g. `optimizer.exp_avg.rnn.weight_hh_l0`), in the parameter's own shape; filter the
// `optimizer.` keys out before torch's strict load_state_dict.
//
// Metadata (all strings, as safetensors requires):
//   format             "pt" (what safetensors.torch.save_file writes)
//   config             the model in the fixtures' snake_case form:
//                      {"cell","input_size","hidden_size","output_size","num_layers","bias"[,"nonlinearity"]}
//   bptt_wasm.options  JSON of model.options (camelCase, with init and seed)
//   bptt_wasm.version  checkpoint format version ("1")
//   optimizer          JSON {kind, step, lr, options} when an optimizer was saved
//   scheduler          JSON of scheduler.stateDict() when a scheduler was saved
//   bptt_wasm.prefixes JSON of the user's module names when saved with `prefixes`
//                      (`{"rnn":"lstm","out":"fc"}`: tensors `lstm.weight_ih_l0`, `fc.weight`, ...;
//                      optimizer state keeps this library's names)
//
// This module works on bytes and runs on any host; io/checkpoint-file.ts (Node only) reads and
// writes files. Files are written atomically: a temporary file in the same directory, fsync, rename.
// A save killed mid-write leaves its temp file; the next save of the same target removes
// it. Saving through a symlink writes the link's target (the link stays a link).
//
// Loading never lets the file decide run-time choices (backend, threads, wasmBuild: those
// come from the caller), and checks the model's sizes (the one bounded-size rule) and
// that the file's bytes hold every tensor of that model before anything is allocated.

import { BpttError, fail, normalizeOptions, show } from '../errors.js';
import { createModel, resolveOptions, type CreateModelOptions, type Model, type Tensor } from '../model.js';
import { createOptimizer, type Optimizer, type OptimizerKind, type OptimizerState } from '../train/optim.js';
import { buildLayout } from '../layout.js';
import type { TensorLike } from '../errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { resolvePrefixes, userKey, type Prefixes } from './state-names.js';
import type { Scheduler, SchedulerState } from '../train/schedulers.js';

export const CHECKPOINT_VERSION = '1';
const OPT_PREFIX = 'optimizer.';

export interface SaveCheckpointOptions {
  optimizer?: Optimizer;
  scheduler?: Scheduler;
  /** extra string metadata (keys must not clash with the ones above) */
  metadata?: Record<string, string>;
  /** write the tensors under the user's module names (`{ rnn: 'lstm', out: 'fc' }`), as model.stateDict({ prefixes }) */
  prefixes?: Prefixes;
}

export interface LoadCheckpointOptions {
  /** backend for the rebuilt model (default 'wasm'; never read from the file) */
  backend?: 'wasm' | 'js';
  /** passed to createModel (runtime choices, not stored in checkpoints) */
  wasmBuild?: CreateModelOptions['wasmBuild'];
  threads?: CreateModelOptions['threads'];
  /**
   * the file's module names, as for model.loadStateDict (default: the names it was saved
   * with, else this library's, else the one recurrent module and Linear head it holds)
   */
  prefixes?: Prefixes;
}

export interface LoadedCheckpoint {
  model: Model;
  /** rebuilt and loaded when the checkpoint holds optimizer state */
  optimizer?: Optimizer;
  optimizerState?: OptimizerState;
  /** pass to a new scheduler's loadStateDict() */
  schedulerState?: SchedulerState;
  metadata: Record<string, string>;
}

/** The fixtures' (PyTorch-side) config for a model. */
export function torchConfig(model: Model): Record<string, unknown> {
  const c = model.config;
  return {
    cell: c.cell, input_size: c.inputSize, hidden_size: c.hiddenSize, output_size: c.outputSize,
    num_layers: c.numLayers, bias: c.bias, ...(c.cell === 'rnn' ? { nonlinearity: c.nonlinearity } : {}),
    ...(c.headBias === false ? { head_bias: false } : {}),
    ...(c.bidirectional ? { bidirectional: true } : {}), ...(model.batchFirst ? { batch_first: true } : {}), ...(c.dropout ? { dropout: c.dropout } : {}),
    ...(c.embedding ? { embedding: { num_embeddings: c.embedding.numEmbeddings, embedding_dim: c.embedding.embeddingDim,
      padding_idx: c.embedding.paddingIdx ?? null } } : {}),
  };
}

/** Serialize a checkpoint to bytes (what saveCheckpoint writes). */
export function checkpointBytes(model: Model, opts: SaveCheckpointOptions = {}): Uint8Array {
  opts = normalizeOptions<SaveCheckpointOptions>('saveCheckpoint', 'options', opts, ['optimizer', 'scheduler', 'metadata', 'prefixes']);
  if (!model || typeof model.stateDict !== 'function') fail(`saveCheckpoint: expected a model from createModel, got ${show(model)}`, 'saveCheckpoint');
  const extra = opts.metadata === undefined ? {} : opts.metadata;
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
    fail(`saveCheckpoint: metadata must be an object of strings, got ${show(extra)}`, 'saveCheckpoint');
  }
  const tensors: Record<string, TensorLike> = Object.assign(Object.create(null), model.stateDict(opts.prefixes === undefined ? undefined : { prefixes: opts.prefixes }));
  const metadata: Record<string, string> = {
    format: 'pt',
    config: JSON.stringify(torchConfig(model)),
    'bptt_wasm.options': JSON.stringify(model.options),
    'bptt_wasm.version': CHECKPOINT_VERSION,
  };
  if (opts.optimizer) {
    const opt = opts.optimizer;
    if (!opt || opt.model !== model) throw new BpttError('bptt-wasm: saveCheckpoint: the optimizer belongs to a different model', 'saveCheckpoint');
    const s = opt.stateDict();
    metadata.optimizer = JSON.stringify({ kind: s.kind, step: s.step, lr: s.lr, options: s.options });
    for (const [buf, flat] of Object.entries(s.buffers)) {
      for (const t of model.layout.tensors) {
        tensors[`${OPT_PREFIX}${buf}.${t.name}`] = { shape: [...t.shape], data: flat.subarray(t.offset, t.offset + t.size) };
      }
    }
  }
  if (opts.scheduler) metadata.scheduler = JSON.stringify(opts.scheduler.stateDict());
  if (opts.prefixes !== undefined) metadata['bptt_wasm.prefixes'] = JSON.stringify(opts.prefixes);
  for (const [k, v] of Object.entries(extra)) {
    if (Object.hasOwn(metadata, k)) throw new BpttError(`bptt-wasm: saveCheckpoint: metadata key '${k}' is reserved`, 'saveCheckpoint');
    if (typeof v !== 'string') fail(`saveCheckpoint: metadata['${k}'] must be a string, got ${show(v)}`, 'saveCheckpoint');
    metadata[k] = v;
  }
  try {
    return writeSafetensors(tensors, metadata);
  } catch (e) {
    throw rethrow('saveCheckpoint', 'saveCheckpoint', e);
  }
}

/** An error of `where` whose message names `what` (the target, never a temp file). */
export function rethrow(where: string, what: string, e: unknown): BpttError {
  const err = e as NodeJS.ErrnoException;
  // a Node fs message ends ", open '<temp path>'": keep the code and the reason only
  const reason = err?.code ? `${err.code}: ${String(err.message).split(',')[0].replace(/^[A-Z]+: /, '')}` :
    String(err?.message ?? e).replace(/^bptt-wasm: /, '');
  return new BpttError(`bptt-wasm: ${what}: ${reason}`, where);
}

/** What a file may say about the model; run-time choices (backend, threads, wasmBuild) are never read from it. */
const MODEL_KEYS = ['cell', 'nonlinearity', 'inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'bias', 'headBias', 'bidirectional',
  'batchFirst', 'dropout', 'embedding', 'seed', 'init'];
export const RUNTIME_KEYS = ['backend', 'threads', 'wasmBuild'];
/** loadCheckpoint's options: the run-time choices, and the file's module names */
export const LOAD_KEYS = [...RUNTIME_KEYS, 'prefixes'];

function parseJsonObject(what: string, key: string, raw: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    fail(`${what}: metadata '${key}' is not valid JSON (${(e as Error).message})`, 'loadCheckpoint');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${what}: metadata '${key}' is not a JSON object, got ${show(v)}`, 'loadCheckpoint');
  return v as Record<string, unknown>;
}

/**
 * Model options from checkpoint metadata: `bptt_wasm.options` when present, else
 * `config` in the fixtures' snake_case form (camelCase keys accepted too). Run-time
 * choices in the file (backend, threads, wasmBuild) are dropped; other unknown keys are errors.
 */
export function modelOptionsFromMetadata(metadata: Record<string, string>, what = 'checkpoint'): CreateModelOptions {
  if (metadata === null || typeof metadata !== 'object') fail(`${what}: metadata must be an object of strings, got ${show(metadata)}`, 'loadCheckpoint');
  const ours = Object.hasOwn(metadata, 'bptt_wasm.options') ? metadata['bptt_wasm.options'] : undefined;
  const raw = ours ?? (Object.hasOwn(metadata, 'config') ? metadata.config : undefined);
  if (raw === undefined) {
    fail(`${what} has no model config in its metadata (no 'config' or 'bptt_wasm.options' entry), ` +
      'so the model cannot be rebuilt from it. Create the model yourself with createModel({ cell, inputSize, hiddenSize, ... }) ' +
      'and call model.loadStateDict(readSafetensors(bytes).tensors).', 'loadCheckpoint');
  }
  const key = ours !== undefined ? 'bptt_wasm.options' : 'config';
  const c = parseJsonObject(what, key, raw);
  // the library's one rule for option names (errors.ts): snake_case aliases, unknown or doubled names are errors
  const out = normalizeOptions<Record<string, unknown>>('loadCheckpoint', `${what} metadata '${key}'`, c, [...MODEL_KEYS, ...RUNTIME_KEYS]);
  for (const k of RUNTIME_KEYS) delete out[k];
  // the fixtures' config says output_size null for "no head" and nonlinearity for every cell
  if (out.cell !== 'rnn') delete out.nonlinearity;
  return out as unknown as CreateModelOptions;
}


/** Optimizer state tensors `optimizer.<buffer>.<param>` gathered into flat regions with the parameter layout. */
function optimizerBuffers(model: Model, tensors: Map<string, Tensor>, what: string): Record<string, Float32Array> {
  const bufs: Record<string, Float32Array> = Object.create(null);
  const n = model.layout.numParams;
  for (const [name, t] of tensors) {
    if (!name.startsWith(OPT_PREFIX)) continue;
    const rest = name.slice(OPT_PREFIX.length);
    const dot = rest.indexOf('.');
    const buf = rest.slice(0, dot), param = rest.slice(dot + 1);
    const spec = model.layout.byName.get(param);
    if (dot < 0 || !spec) fail(`${what}: optimizer tensor '${name}' names no parameter of this model`, 'loadCheckpoint');
    if (t.data.length !== spec.size) fail(`${what}: optimizer tensor '${name}' has ${t.data.length} values, '${param}' has ${spec.size}`, 'loadCheckpoint');
    (bufs[buf] ??= new Float32Array(n)).set(t.data, spec.offset);
  }
  return bufs;
}

/**
 * A checkpoint's bytes (what checkpointBytes returns, a file a page's user picked, a
 * download) as the model, and the optimizer (rebuilt) and scheduler state when saved.
 * `what` names the source in errors.
 */
export async function loadCheckpointBytes(bytes: Uint8Array, opts: LoadCheckpointOptions = {}, what = 'checkpoint'): Promise<LoadedCheckpoint> {
  opts = normalizeOptions<LoadCheckpointOptions>('loadCheckpoint', 'options', opts, LOAD_KEYS);
  if (!(bytes instanceof Uint8Array)) {
    fail(`loadCheckpointBytes: bytes must be a Uint8Array, got ${Object.prototype.toString.call(bytes)}`, 'loadCheckpoint');
  }
  let file;
  try {
    file = readSafetensors(bytes);
  } catch (e) {
    throw rethrow('loadCheckpoint', `cannot read ${what}`, e);
  }
  const tensors = new Map(Object.entries(file.tensors));
  const { metadata } = file;
  const options: CreateModelOptions = {
    ...modelOptionsFromMetadata(metadata, what), backend: opts.backend ?? 'wasm',
    ...(opts.wasmBuild !== undefined ? { wasmBuild: opts.wasmBuild } : {}), ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
  };
  // Before any memory exists: the sizes pass the bounded-size rule (resolveOptions) and the
  // file's bytes hold every tensor of that model.
  let config;
  try {
    config = resolveOptions(options).config;
  } catch (e) {
    throw rethrow('loadCheckpoint', `${what}: its metadata does not describe a valid model`, e);
  }
  const sd: Record<string, Tensor> = Object.create(null);
  for (const [name, t] of tensors) if (!name.startsWith(OPT_PREFIX)) sd[name] = t;
  const layout = buildLayout(config);
  const given = opts.prefixes ?? (Object.hasOwn(metadata, 'bptt_wasm.prefixes') ? parseJsonObject(what, 'bptt_wasm.prefixes', metadata['bptt_wasm.prefixes']) : undefined);
  let prefixes;
  try {
    prefixes = resolvePrefixes('loadCheckpoint', layout, sd, given);
  } catch (e) {
    throw rethrow('loadCheckpoint', `${what}: its tensors' names`, e);
  }
  for (const spec of layout.tensors) {
    const key = userKey(spec.name, prefixes);
    const t = tensors.get(key);
    if (!t || t.data.length !== spec.size) {
      fail(`${what} does not match its own config: '${key}' ` + (t ? `has shape [${t.shape.join(', ')}] in the file, ` +
        `the config needs [${spec.shape.join(', ')}]` : `(shape [${spec.shape.join(', ')}]) is missing from the file`), 'loadCheckpoint');
    }
  }
  const model = await createModel(options);
  try {
    return restoreState(model, sd, tensors, metadata, what, Object.fromEntries(prefixes));
  } catch (e) {
    model.dispose(); // no worker threads left behind by a failed load
    throw e;
  }
}

function restoreState(model: Model, sd: Record<string, Tensor>, tensors: Map<string, Tensor>, metadata: Record<string, string>,
  what: string, prefixes: Prefixes): LoadedCheckpoint {
  try {
    model.loadStateDict(sd, { prefixes });
  } catch (e) {
    throw rethrow('loadCheckpoint', `${what} does not match its own config`, e);
  }
  const result: LoadedCheckpoint = { model, metadata };
  if (Object.hasOwn(metadata, 'optimizer')) {
    const o = parseJsonObject(what, 'optimizer', metadata.optimizer);
    const buffers = optimizerBuffers(model, tensors, what);
    try {
      const options = o.options === undefined ? {} : o.options;
      if (options === null || typeof options !== 'object' || Array.isArray(options)) fail(`optimizer options must be an object, got ${show(options)}`);
      const state = { kind: o.kind, step: o.step, lr: o.lr, options, buffers } as OptimizerState;
      const optimizer = createOptimizer(o.kind as OptimizerKind, model, { ...options, lr: o.lr as number });
      optimizer.loadStateDict(state);
      result.optimizer = optimizer;
      result.optimizerState = state;
    } catch (e) {
      throw rethrow('loadCheckpoint', `${what}: its optimizer state cannot be restored`, e);
    }
  }
  if (Object.hasOwn(metadata, 'scheduler')) result.schedulerState = parseJsonObject(what, 'scheduler', metadata.scheduler) as unknown as SchedulerState;
  return result;
}
