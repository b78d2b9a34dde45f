// The library itself, host-free: everything both entries export (index.ts for Node,
// browser.ts for a page). Nothing reachable from here imports node: modules; what needs Node
// (checkpoint files on disk, the Moby-Dick text) is in node.ts.

export {
  createModel, Model, clipGradNorm, clipGradValue,
  type Tensor, type IntTensor, type CreateModelOptions, type LossSpec, type Batch, type GradOptions,
  type ForwardResult, type LossAndGradResult, type ModelInfo, type ResolvedLoss, type Lengths, type ForwardState,
  type PredictOptions, type LossOptions, type LossResult,
} from './model.js';
export { buildLayout, GATES, GATE_NAMES, type ModelConfig, type Layout, type TensorSpec, type CellKind,
  type Nonlinearity, type ParamKind, type LayerSpec } from './layout.js';
export { wasmBuild, configureWasm, type WasmBuild, type WasmSource, type WasmSources } from './backend/wasm.js';
export { setGemmTrial, gemmChoices, type GemmChoice, type GemmTrial, type GemmOp } from './backend/gemm-trial.js';
export type { BackendKind } from './backend/factory.js';
export type { Backend, Sweep, Ops, IOBuffers } from './backend/types.js';
export { Rng, type RngState } from './rng.js';
export { initParams, type InitSpec, type InitPreset, type InitOptions, type TensorInit } from './init.js';
export type { StateDictNameOptions, Prefixes } from './io/state-names.js';
export { readSafetensors, writeSafetensors, MAX_TENSORS, type SafetensorsFile } from './io/safetensors.js';
export { Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, createOptimizer, type OptimizerKind, type OptimizerState,
  type SGDOptions, type AdamOptions, type RMSpropOptions, type AdagradOptions, type OptimizerOptions } from './train/optim.js';
export { LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau, type Scheduler, type SchedulerState,
  type ReduceLROnPlateauOptions, type HasLr } from './train/schedulers.js';
export { checkpointBytes, loadCheckpointBytes,
  type SaveCheckpointOptions, type LoadCheckpointOptions, type LoadedCheckpoint } from './io/checkpoint.js';
export { fit, trainStep, trainTruncated, evaluate, predict, lossValue, step, sample, sampleCategorical,
  type Dataset, type FitOptions, type EvaluateOptions, type History, type StepInfo, type EpochInfo, type RecurrentState,
  type MicroBatch, type ClipOptions, type TrainStepOptions, type TrainStepResult, type TruncatedBPTTOptions,
  type SampleOptions } from './train/train.js';
export type { ProgressOptions, ProgressValues, ProgressStatus, ProgressStream } from './progress.js';
export { BpttError, NonfiniteError, type TensorLike } from './errors.js';
export { checkModelSize, MAX_LAYERS, MAX_SIZE, MAX_MEMORY_BYTES, MAX_THREADS, AUTO_THREADS_MAX } from './limits.js';
export { gradientFlow, summarizeGradNorms, type GradientFlowOptions, type GradientFlowResult, type GradientFlowSummary } from './diagnostics.js';
export { lineChart, gradFlowChart, lossCurveChart, type Series, type ChartOptions, type LossHistory } from './svg.js';
export { METRICS, MetricAccumulator, checkMetrics, type MetricName, type MetricBatchOptions } from './train/metrics.js';
export { addingBatch, ADDING_BASELINE_MSE, type AddingBatch } from './data/adding.js';
export { CharVocab, CharStream, oneHot, type CharBatch, type CharStreamOptions } from './data/text.js';
export { tensor, type Nested, type TensorOptions } from './data/tensor.js';
export { windows, standardize, Standardizer, STANDARDIZE_KEY, type SeriesLike, type WindowOptions, type Windows } from './data/series.js';
export { readOnnx, type OnnxImport, type OnnxModelConfig } from './io/onnx.js';
export { writeOnnx, writeOnnxGraph, type WriteOnnxOptions, type OnnxExportConfig } from './io/onnx-write.js';
