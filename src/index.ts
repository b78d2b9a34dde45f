// bptt-wasm: recurrent networks with PyTorch's exact math and full backpropagation
// through time, on SIMD WebAssembly (backend 'wasm') or plain TypeScript (backend 'js').

export {
  createModel, Model, clipGradNorm, clipGradValue, nonfiniteTensors,
  type Tensor, type IntTensor, type CreateModelOptions, type LossSpec, type Batch, type GradOptions,
  type ForwardResult, type LossAndGradResult, type Lengths, type ForwardState,
} from './model.js';
export { buildLayout, GATES, GATE_NAMES, type ModelConfig, type Layout, type TensorSpec, type CellKind } from './layout.js';
export { wasmBuild, type WasmBuild } from './backend-wasm.js';
export type { BackendKind } from './backends.js';
export { Rng, type RngState } from './rng.js';
export { initParams, type InitSpec, type InitPreset, type InitOptions, type TensorInit } from './init.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './safetensors.js';
export { Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, createOptimizer, type OptimizerKind, type OptimizerState,
  type SGDOptions, type AdamOptions, type RMSpropOptions, type AdagradOptions } from './optim.js';
export { LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau, type Scheduler, type SchedulerState,
  type ReduceLROnPlateauOptions } from './schedulers.js';
export { saveCheckpoint, loadCheckpoint, loadTrainingCheckpoint, checkpointBytes, modelOptionsFromMetadata, torchConfig,
  type SaveCheckpointOptions, type LoadCheckpointOptions, type LoadedCheckpoint } from './checkpoint.js';
export { fit, trainStep, trainTruncated, evaluate, lossValue, step, sample, sampleCategorical, NonfiniteError,
  type Dataset, type FitOptions, type History, type StepInfo, type EpochInfo, type RecurrentState, type MicroBatch,
  type ClipOptions, type TrainStepOptions, type TrainStepResult, type TruncatedBPTTOptions, type SampleOptions } from './train.js';
export type { ProgressOptions, ProgressValues, ProgressStatus, ProgressStream } from './progress.js';
export type { TensorLike } from './errors.js';
export { gradientFlow, summarizeGradNorms, type GradientFlowOptions, type GradientFlowResult, type GradientFlowSummary } from './diagnostics.js';
export { lineChart, gradFlowChart, lossCurveChart, type Series, type ChartOptions, type LossHistory } from './svg.js';
export { addingBatch, ADDING_BASELINE_MSE, type AddingBatch } from './data/adding.js';
export { CharVocab, CharStream, oneHot, loadMobyDick, type CharBatch } from './data/text.js';
export { readOnnx, type OnnxImport, type OnnxModelConfig } from './onnx.js';
export { writeOnnx, writeOnnxGraph, type WriteOnnxOptions, type OnnxExportConfig } from './onnx-write.js';
// Types that appear in the signatures above.
export type { Nonlinearity, ParamKind, LayerSpec } from './layout.js';
export type { OptimizerOptions } from './optim.js';
export type { HasLr } from './schedulers.js';
export type { Backend, IOBuffers } from './backend.js';
export { checkLossSpec } from './model.js';
export { predict, type EvaluateOptions } from './train.js';
export { METRICS, MetricAccumulator, checkMetrics, lengthsMask, type MetricName, type MetricBatchOptions } from './metrics.js';
export { tensor, type Nested, type TensorOptions } from './data/tensor.js';
export { windows, standardize, Standardizer, STANDARDIZE_KEY, type SeriesLike, type WindowOptions, type Windows } from './data/series.js';
