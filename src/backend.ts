// The contract between the model (API, validation, layout) and a compute backend.
//
// Both backends see the same arena and the same layout; they differ only in how the
// numbers are computed:
//   - 'wasm' (backend-wasm.ts): AssemblyScript SIMD kernels, cuDNN-style schedule
//     (input projection and weight gradients as one GEMM over all timesteps).
//   - 'js'   (backend-js.ts):   plain TypeScript loops, one timestep and one sequence at
//     a time, written independently as the baseline and a second opinion.
// Every number crossing this interface is a float offset into `arena.f32`.

import type { Arena } from './arena.js';
import type { Layout } from './layout.js';

/** Where the model keeps one call's inputs and outputs (float offsets; sized for capacity T, B). */
export interface IOBuffers {
  /** capacity this set of buffers was sized for */
  T: number;
  B: number;
  x: number; //      [T, B, I]
  h0: number; //     [L, B, H]
  c0: number; //     [L, B, H]   (lstm)
  y: number; //      [T, B, O]   model output (head output, or the top layer's h_t)
  target: number; // [T, B, O] floats (mse) or [T, B] int32 class ids (cross_entropy)
  dy: number; //     [T, B, O]   dLoss/dy, written by the loss
  dx: number; //     [T, B, I]
  dh0: number; //    [L, B, H]
  dc0: number; //    [L, B, H]   (lstm)
  hN: number; //     [L, B, H]
  cN: number; //     [L, B, H]   (lstm)
  norms: number; //  [L, T]      ||dLoss/dh_t|| per layer and step
}

/**
 * The capacity to allocate when (T, B) does not fit `cur`: at least 1.5x the old one in
 * the dimension that grew, so a run of growing sequence lengths costs O(log) allocations
 * (the arena never frees) instead of one per new length.
 */
export function growCapacity(cur: { T: number; B: number } | null, T: number, B: number): { T: number; B: number } {
  if (!cur) return { T, B };
  return {
    T: T > cur.T ? Math.max(T, Math.ceil(cur.T * 1.5)) : cur.T,
    B: B > cur.B ? Math.max(B, Math.ceil(cur.B * 1.5)) : cur.B,
  };
}

/** Allocate I/O buffers for capacity (T, B). */
export function allocIOBuffers(arena: Arena, layout: Layout, T: number, B: number): IOBuffers {
  const { inputSize: I, hiddenSize: H, numLayers: L, cell } = layout.config;
  const O = layout.outputWidth;
  const lstm = cell === 'lstm';
  const a = arena;
  return {
    T, B,
    x: a.alloc(T * B * I),
    h0: a.alloc(L * B * H),
    c0: lstm ? a.alloc(L * B * H) : 0,
    y: a.alloc(T * B * O),
    target: a.alloc(T * B * O),
    dy: a.alloc(T * B * O),
    dx: a.alloc(T * B * I),
    dh0: a.alloc(L * B * H),
    dc0: lstm ? a.alloc(L * B * H) : 0,
    hN: a.alloc(L * B * H),
    cN: lstm ? a.alloc(L * B * H) : 0,
    norms: a.alloc(L * T),
  };
}

/** How a Wasm backend runs (model.info() reports it). */
export interface BackendInfo {
  wasmBuild: 'simd' | 'relaxed';
  /** threads in use */
  threads: number;
  /** threads asked for */
  threadsRequested: number;
  /** why fewer threads run than were asked for (e.g. a page that is not cross-origin isolated), or null */
  threadsNote: string | null;
}

export interface Backend {
  readonly kind: 'wasm' | 'js';
  readonly arena: Arena;
  /** Wasm backends: build and threads */
  readonly info?: BackendInfo;

  /**
   * Bind to a model: parameter and gradient regions (float offsets, `layout.numParams`
   * floats each). Called once.
   */
  bind(layout: Layout, params: number, grads: number): void;

  /**
   * Forward over T steps for B sequences: reads io.x, io.h0, io.c0 (zeros if the caller
   * gave none); writes io.y, io.hN, io.cN and keeps what backward needs in the backend's
   * own workspace. Sizes: T <= io.T, B <= io.B; the layout of io buffers uses the actual T, B
   * (tightly packed [T, B, *]).
   */
  forward(io: IOBuffers, T: number, B: number): void;

  /**
   * Full BPTT for the last forward: reads io.dy; ACCUMULATES (+=) parameter gradients
   * into the gradient region; writes io.dx, io.dh0, io.dc0 and io.norms.
   * clipHiddenGrad > 0: each sequence's total dLoss/dh_t (every layer and step) is rescaled
   * to L2 norm <= clipHiddenGrad before it flows back into step t's cell.
   * inputGrad = false skips dLoss/dx (training does not need it; io.dx is left as it was).
   */
  backward(io: IOBuffers, T: number, B: number, clipHiddenGrad: number, inputGrad: boolean): void;

  /** MSE: returns scale * sum((y - t)^2) over n values and writes dy = 2 * scale * (y - t). */
  mseLoss(dy: number, y: number, target: number, n: number, scale: number): number;
  /**
   * Softmax cross-entropy over `rows` rows of `classes` logits with int32 class ids at
   * `target` (already range-checked): returns scale * sum(-log softmax(y)[target]) and
   * writes dy = scale * (softmax(y) - onehot).
   */
  crossEntropyLoss(dy: number, y: number, target: number, rows: number, classes: number, scale: number): number;
  /**
   * crossEntropyLoss with PyTorch's class weights (`weight`: float offset of `classes`
   * weights, -1 for none) and label smoothing, as F.cross_entropy; rows whose target is
   * outside [0, classes) add nothing and get dy = 0. rowLoss (float offset, -1 for none)
   * receives each row's unscaled loss (0 for such rows).
   */
  crossEntropyLossExt(dy: number, y: number, target: number, rows: number, classes: number, scale: number,
    weight: number, smoothing: number, rowLoss: number): number;

  // Flat-region utilities (gradient clipping, zeroing, checks).
  fill(off: number, n: number, value: number): void;
  /** sum of squares, accumulated in double precision */
  sumSquares(off: number, n: number): number;
  scale(off: number, n: number, s: number): void;
  /** clamp every value to [-v, v] */
  clampAbs(off: number, n: number, v: number): void;

  // Optimizer updates over flat regions with the parameter layout (torch.optim semantics;
  // scalars that depend on the step count are computed by the caller).
  sgdStep(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number,
    nesterov: boolean, weightDecay: number, firstStep: boolean): void;
  /** Adam/AdamW: stepSize = lr / (1 - beta1^t), bc2Sqrt = sqrt(1 - beta2^t); decoupled = AdamW */
  adamStep(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, amsgrad: boolean, stepSize: number,
    bc2Sqrt: number): void;
  rmspropStep(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number,
    eps: number, weightDecay: number, momentum: number, centered: boolean): void;
  /** clr = lr / (1 + (t - 1) * lrDecay) */
  adagradStep(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void;

  /** Release threads and other resources (the arena is garbage-collected with the model). */
  dispose?(): void;
}
