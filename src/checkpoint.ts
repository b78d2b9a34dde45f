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
//
// Files are written atomically: a temporary file in the same directory, fsync, rename.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createModel, type CreateModelOptions, type Model, type Tensor } from './model.js';
import { createOptimizer, type Optimizer, type OptimizerKind, type OptimizerState } from './optim.js';
import type { TensorLike } from './errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import type { Scheduler, SchedulerState } from './schedulers.js';

export const CHECKPOINT_VERSION = '1';
const OPT_PREFIX = 'optimizer.';

export interface SaveCheckpointOptions {
  optimizer?: Optimizer;
  scheduler?: Scheduler;
  /** extra string metadata (keys must not clash with the ones above) */
  metadata?: Record<string, string>;
}

export interface LoadCheckpointOptions {
  /** backend for the rebuilt model (default: the one saved in bptt_wasm.options, else 'wasm') */
  backend?: 'wasm' | 'js';
  /** passed to createModel (runtime choices, not stored in checkpoints) */
  wasmBuild?: CreateModelOptions['wasmBuild'];
  threads?: number;
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
    ...(c.bidirectional ? { bidirectional: true } : {}), ...(model.batchFirst ? { batch_first: true } : {}), ...(c.dropout ? { dropout: c.dropout } : {}),
  };
}

/** Serialize a checkpoint to bytes (what saveCheckpoint writes). */
export function checkpointBytes(model: Model, opts: SaveCheckpointOptions = {}): Uint8Array {
  const tensors: Record<string, TensorLike> = { ...model.stateDict() };
  const metadata: Record<string, string> = {
    format: 'pt',
    config: JSON.stringify(torchConfig(model)),
    'bptt_wasm.options': JSON.stringify(model.options),
    'bptt_wasm.version': CHECKPOINT_VERSION,
  };
  if (opts.optimizer) {
    const opt = opts.optimizer;
    if (opt.model !== model) throw new Error('bptt-wasm: saveCheckpoint: the optimizer belongs to a different model');
    const s = opt.stateDict();
    metadata.optimizer = JSON.stringify({ kind: s.kind, step: s.step, lr: s.lr, options: s.options });
    for (const [buf, flat] of Object.entries(s.buffers)) {
      for (const t of model.layout.tensors) {
        tensors[`${OPT_PREFIX}${buf}.${t.name}`] = { shape: [...t.shape], data: flat.subarray(t.offset, t.offset + t.size) };
      }
    }
  }
  if (opts.scheduler) metadata.scheduler = JSON.stringify(opts.scheduler.stateDict());
  for (const [k, v] of Object.entries(opts.metadata ?? {})) {
    if (k in metadata) throw new Error(`bptt-wasm: saveCheckpoint: metadata key '${k}' is reserved`);
    metadata[k] = v;
  }
  return writeSafetensors(tensors, metadata);
}

/**
 * Write a checkpoint atomically (temp file in the same directory + fsync + rename). The
 * file is complete when this returns, awaited or not: the work is synchronous (a
 * checkpoint is a few MB at most), the Promise is for symmetry with loadCheckpoint.
 */
export async function saveCheckpoint(model: Model, path: string, opts: SaveCheckpointOptions = {}): Promise<void> {
  const bytes = checkpointBytes(model, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    writeFileSync(fd, bytes); // writes the whole buffer (writeSync may stop short)
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Model options from checkpoint metadata: `bptt_wasm.options` when present, else
 * `config` in the fixtures' snake_case form (camelCase keys accepted too).
 */
export function modelOptionsFromMetadata(metadata: Record<string, string>, what = 'checkpoint'): CreateModelOptions {
  const ours = metadata['bptt_wasm.options'];
  if (ours !== undefined) {
    try {
      return JSON.parse(ours) as CreateModelOptions;
    } catch (e) {
      throw new Error(`bptt-wasm: ${what}: metadata 'bptt_wasm.options' is not valid JSON (${(e as Error).message})`);
    }
  }
  const raw = metadata.config;
  if (raw === undefined) {
    throw new Error(`bptt-wasm: ${what} has no model config in its metadata (no 'config' or 'bptt_wasm.options' entry), ` +
      'so the model cannot be rebuilt from it. Create the model yourself with createModel({ cell, inputSize, hiddenSize, ... }) ' +
      'and call model.loadStateDict(readSafetensors(bytes).tensors).');
  }
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(raw);
  } catch (e) {
    throw new Error(`bptt-wasm: ${what}: metadata 'config' is not valid JSON (${(e as Error).message})`);
  }
  if (typeof c !== 'object' || c === null) throw new Error(`bptt-wasm: ${what}: metadata 'config' is not a JSON object`);
  const pick = (snake: string, camel: string): unknown => (c[snake] !== undefined ? c[snake] : c[camel]);
  const cell = c.cell as CreateModelOptions['cell'];
  const out: CreateModelOptions = {
    cell,
    inputSize: pick('input_size', 'inputSize') as number,
    hiddenSize: pick('hidden_size', 'hiddenSize') as number,
  };
  const numLayers = pick('num_layers', 'numLayers');
  if (numLayers !== undefined) out.numLayers = numLayers as number;
  const outputSize = pick('output_size', 'outputSize');
  if (outputSize !== undefined) out.outputSize = outputSize as number | null;
  if (c.bias !== undefined) out.bias = c.bias as boolean;
  if (cell === 'rnn' && c.nonlinearity !== undefined) out.nonlinearity = c.nonlinearity as 'tanh' | 'relu';
  if (c.bidirectional !== undefined) out.bidirectional = c.bidirectional as boolean;
  const batchFirst = pick('batch_first', 'batchFirst');
  if (batchFirst !== undefined) out.batchFirst = batchFirst as boolean;
  if (c.dropout !== undefined) out.dropout = c.dropout as number;
  return out;
}

/** The model's tensors: everything not under `optimizer.`. */
function modelTensors(tensors: Record<string, Tensor>): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) if (!name.startsWith(OPT_PREFIX)) sd[name] = t;
  return sd;
}

/** Optimizer state tensors `optimizer.<buffer>.<param>` gathered into flat regions with the parameter layout. */
function optimizerBuffers(model: Model, tensors: Record<string, Tensor>, what: string): Record<string, Float32Array> {
  const bufs: Record<string, Float32Array> = {};
  const n = model.layout.numParams;
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith(OPT_PREFIX)) continue;
    const rest = name.slice(OPT_PREFIX.length);
    const dot = rest.indexOf('.');
    const buf = rest.slice(0, dot), param = rest.slice(dot + 1);
    const spec = model.layout.byName.get(param);
    if (dot < 0 || !spec) throw new Error(`bptt-wasm: ${what}: optimizer tensor '${name}' names no parameter of this model`);
    if (t.data.length !== spec.size) throw new Error(`bptt-wasm: ${what}: optimizer tensor '${name}' has ${t.data.length} values, '${param}' has ${spec.size}`);
    (bufs[buf] ??= new Float32Array(n)).set(t.data, spec.offset);
  }
  return bufs;
}

/** Read a checkpoint: rebuild the model from its config, load weights (and optimizer state). */
/**
 * A model built from a checkpoint's config metadata, with its weights loaded. For the
 * optimizer and scheduler state saved beside them, use loadTrainingCheckpoint.
 */
export async function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<Model> {
  return (await loadTrainingCheckpoint(path, opts)).model;
}

/** Everything a checkpoint holds: the model, and the optimizer (rebuilt) and scheduler state when saved. */
export async function loadTrainingCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const bytes = await readFile(path);
  const what = `checkpoint '${path}'`;
  let file;
  try {
    file = readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new Error(`bptt-wasm: cannot read ${what}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = file;
  const options = modelOptionsFromMetadata(metadata, what);
  const model = await createModel({
    ...options, backend: opts.backend ?? options.backend ?? 'wasm',
    ...(opts.wasmBuild !== undefined ? { wasmBuild: opts.wasmBuild } : {}), ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
  });
  try {
    return restoreState(model, tensors, metadata, what);
  } catch (e) {
    model.dispose(); // no worker threads left behind by a failed load
    throw e;
  }
}

function restoreState(model: Model, tensors: Record<string, Tensor>, metadata: Record<string, string>, what: string): LoadedCheckpoint {
  try {
    model.loadStateDict(modelTensors(tensors));
  } catch (e) {
    throw new Error(`bptt-wasm: ${what} does not match its own config: ${(e as Error).message}`);
  }
  const result: LoadedCheckpoint = { model, metadata };
  if (metadata.optimizer !== undefined) {
    let o: { kind: OptimizerKind; step: number; lr: number; options: Record<string, unknown> };
    try {
      o = JSON.parse(metadata.optimizer);
    } catch (e) {
      throw new Error(`bptt-wasm: ${what}: metadata 'optimizer' is not valid JSON (${(e as Error).message})`);
    }
    const buffers = optimizerBuffers(model, tensors, what);
    const state: OptimizerState = { kind: o.kind, step: o.step, lr: o.lr, options: o.options, buffers };
    const optimizer = createOptimizer(o.kind, model, { ...o.options, lr: o.lr });
    optimizer.loadStateDict(state);
    result.optimizer = optimizer;
    result.optimizerState = state;
  }
  if (metadata.scheduler !== undefined) {
    try {
      result.schedulerState = JSON.parse(metadata.scheduler);
    } catch (e) {
      throw new Error(`bptt-wasm: ${what}: metadata 'scheduler' is not valid JSON (${(e as Error).message})`);
    }
  }
  return result;
}
