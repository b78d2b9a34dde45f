// bptt-wasm: recurrent networks with PyTorch's exact math and full backpropagation
// through time, on SIMD WebAssembly (backend 'wasm') or plain TypeScript (backend 'js').

export {
  createModel, Model, clipGradNorm, clipGradValue, nonfiniteTensors,
  type Tensor, type IntTensor, type CreateModelOptions, type LossSpec, type Batch, type GradOptions,
  type ForwardResult, type LossAndGradResult,
} from './model.js';
export { buildLayout, GATES, GATE_NAMES, type ModelConfig, type Layout, type TensorSpec, type CellKind } from './layout.js';
export { wasmBuild, type WasmBuild } from './backend-wasm.js';
export type { BackendKind } from './backends.js';
