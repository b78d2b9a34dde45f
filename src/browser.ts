// The browser entry (package.json's "browser" condition on "."): everything in index.ts
// except what needs Node (checkpoint files, the Moby-Dick text, progress bars on a TTY,
// the experiments' worker_threads). Its module graph imports nothing from node: and no bare
// package names, so it loads in a page as it is (dist/src/browser.js) or through a bundler.

import './host/browser.js';

export {
  createModel, Model, clipGradNorm, clipGradValue, nonfiniteTensors, checkLossSpec,
  type Tensor, type IntTensor, type CreateModelOptions, type LossSpec, type Batch, type GradOptions,
  type ForwardResult, type LossAndGradResult, type ModelInfo,
} from './model.js';
export { buildLayout, GATES, GATE_NAMES, type ModelConfig, type Layout, type TensorSpec, type CellKind,
  type Nonlinearity, type ParamKind, type LayerSpec } from './layout.js';
export { wasmBuild, configureWasm, type WasmBuild, type WasmSource, type WasmSources } from './backend-wasm.js';
export type { BackendKind } from './backends.js';
export type { Backend, IOBuffers } from './backend.js';
export { Rng, type RngState } from './rng.js';
export { initParams, type InitSpec, type InitPreset, type InitOptions, type TensorInit } from './init.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './safetensors.js';
export { Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, createOptimizer, type OptimizerKind, type OptimizerState,
  type SGDOptions, type AdamOptions, type RMSpropOptions, type AdagradOptions, type OptimizerOptions } from './optim.js';
export { LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau, type Scheduler, type SchedulerState,
  type ReduceLROnPlateauOptions, type HasLr } from './schedulers.js';
export { checkpointBytes, loadCheckpointBytes, modelOptionsFromMetadata, torchConfig,
  type SaveCheckpointOptions, type LoadCheckpointOptions, type LoadedCheckpoint } from './checkpoint.js';
export { fit, trainStep, trainTruncated, evaluate, lossValue, step, sample, sampleCategorical, NonfiniteError,
  type Dataset, type FitOptions, type History, type StepInfo, type EpochInfo, type RecurrentState, type MicroBatch,
  type ClipOptions, type TrainStepOptions, type TrainStepResult, type TruncatedBPTTOptions, type SampleOptions } from './train.js';
export type { TensorLike } from './errors.js';
export { gradientFlow, summarizeGradNorms, type GradientFlowOptions, type GradientFlowResult, type GradientFlowSummary } from './diagnostics.js';
export { lineChart, gradFlowChart, lossCurveChart, movingAverage, niceTicks, PALETTE, type Series, type ChartOptions, type LossHistory } from './svg.js';
export { addingBatch, ADDING_BASELINE_MSE, type AddingBatch } from './data/adding.js';
export { CharVocab, CharStream, oneHot, type CharBatch } from './data/text.js';
export { readOnnx, type OnnxImport, type OnnxModelConfig } from './onnx.js';
