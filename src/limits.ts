// The one bounded-size rule for a model, shared by createModel, loadCheckpoint and the
// file readers (safetensors, ONNX): a file's numbers decide nothing about memory until
// they pass here, and this runs before anything is allocated.

import { buildLayout, type ModelConfig } from './layout.js';
import { fail, show } from './errors.js';

/** Bounds on each dimension (far above any RNN that trains in 2 GiB, far below 2^31). */
export const MAX_LAYERS = 1024;
export const MAX_SIZE = 1 << 20;
/** Worker threads per model (each is an OS thread with its own Wasm instance). */
export const MAX_THREADS = 64;
/**
 * threads: 'auto' uses the available cores, at most this many. Each thread beyond the
 * first carries its own workspace and gradient region, and the batch split gives it
 * B / threads rows: at the batch sizes RNN training uses (16-64), past 8 threads a part
 * has a few rows, about one micro-kernel tile, so more threads add memory and gradient
 * summing without faster products. (Measured here on 1 and 2 cores only.)
 */
export const AUTO_THREADS_MAX = 8;
/** The Wasm memory's maximum (2 GiB, backend/wasm.ts); the JS backend keeps the same bound. */
export const MAX_MEMORY_BYTES = 2 ** 31;
/** One call's workspace (activations, inputs, outputs) may use this much by default (model.maxWorkspaceBytes). */
export const DEFAULT_WORKSPACE_BYTES = 2 ** 30;
/** parameters + gradients + up to 3 optimizer state regions must fit beside the activations */
const REGIONS = 5;

function checkDim(where: string, name: string, v: unknown, max: number, nullable = false): void {
  if (nullable && v === null) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) {
    fail(`${where}: ${name} must be an integer in [1, ${max}], got ${show(v)}`, where);
  }
}

/**
 * Throws a BpttError (naming `where`) unless every dimension is bounded and the
 * parameter, gradient and optimizer regions fit the Wasm memory maximum. Returns the
 * parameter count.
 */
export function checkModelSize(config: ModelConfig, where = 'createModel'): number {
  checkDim(where, 'numLayers', config.numLayers, MAX_LAYERS);
  checkDim(where, 'inputSize', config.inputSize, MAX_SIZE);
  checkDim(where, 'hiddenSize', config.hiddenSize, MAX_SIZE);
  checkDim(where, 'outputSize', config.outputSize, MAX_SIZE, true);
  if (config.embedding) {
    checkDim(where, 'embedding.numEmbeddings', config.embedding.numEmbeddings, MAX_SIZE);
    checkDim(where, 'embedding.embeddingDim', config.embedding.embeddingDim, MAX_SIZE);
  }
  // dimensions are bounded now, so the layout is small to build; its sizes are float64 sums
  const n = buildLayout(config).numParams;
  const bytes = n * 4 * REGIONS;
  if (bytes > MAX_MEMORY_BYTES) {
    fail(`${where}: a ${config.cell} model with numLayers ${config.numLayers}, hiddenSize ${config.hiddenSize}, ` +
      `inputSize ${config.inputSize}, outputSize ${config.outputSize}` +
      (config.embedding ? `, embedding ${config.embedding.numEmbeddings} x ${config.embedding.embeddingDim}` : '') + ` has ${n} parameters; its parameter, gradient and ` +
      `optimizer regions (${(bytes / 2 ** 20).toFixed(0)} MiB) do not fit the ${MAX_MEMORY_BYTES / 2 ** 30} GiB memory maximum`, where);
  }
  return n;
}
