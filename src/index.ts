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
export { Progress, formatDuration, type ProgressOptions } from './progress.js';
export type { TensorLike } from './errors.js';
export { gradientFlow, summarizeGradNorms, type GradientFlowOptions, type GradientFlowResult, type GradientFlowSummary } from './diagnostics.js';
export { lineChart, gradFlowChart, lossCurveChart, movingAverage, niceTicks, PALETTE, type Series, type ChartOptions, type LossHistory } from './svg.js';
export { addingBatch, ADDING_BASELINE_MSE, type AddingBatch } from './data/adding.js';
export { CharVocab, CharStream, oneHot, loadMobyDick, type CharBatch } from './data/text.js';
export { gradflowExperiment, gradflowTable, gradflowSvg, addingExperiment, addingRun, addingTable, addingTestMSE,
  trainCharModel, measureCharSpeed, MODEL_RECIPES, ADDING_LRS, DEFAULT_ADDING, DEFAULT_GRADFLOW_MODELS,
  type GradflowOptions, type GradflowResult, type AddingOptions, type AddingRow, type CharModelOptions, type CharModelResult } from './experiments.js';
export { readOnnx, type OnnxImport, type OnnxModelConfig } from './onnx.js';
// Types that appear in the signatures above.
export type { Nonlinearity, ParamKind, LayerSpec } from './layout.js';
export type { OptimizerOptions } from './optim.js';
export type { HasLr } from './schedulers.js';
export type { ProgressValues } from './progress.js';
export type { ModelRecipe, GradflowRow, AddingProgress, CharStepInfo } from './experiments.js';
export type { Backend, IOBuffers } from './backend.js';
export { checkLossSpec } from './model.js';
export type { ProgressStatus } from './progress.js';
