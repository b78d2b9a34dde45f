// The contract between the model (API, validation, layout) and a compute backend.
//
// Both backends see the same arena and the same layout; they differ only in how the
// numbers are computed:
//   - 'wasm' (backend-wasm.ts): AssemblyScript SIMD kernels, cuDNN-style schedule
//     (input projection and weight gradients as one GEMM over all timesteps).
//   - 'js'   (backend-js.ts):   plain TypeScript loops, one timestep and one sequence at
//     a time, written independently as the baseline and a second opinion.
// Every number crossing this interface is a float offset into `arena.f32`.

import type { Arena, Take } from './arena.js';
import type { Layout } from './layout.js';

/**
 * Where the model keeps one call's inputs and outputs (float offsets into the call's
 * workspace, laid out for exactly this call's T and B; see allocIOBuffers).
 */
export interface IOBuffers {
  /** the shape this set of buffers was laid out for */
  T: number;
  B: number;
  /** false: laid out for a forward only (predict, forward): every gradient buffer below is 0 */
  train: boolean;
  x: number; //      [T, B, I]
  /** int32 [T, B] token ids of a model with an embedding (-1 at padded steps); 0 without one */
  ids: number;
  /** int32 [B]: each sequence's length (1..T); steps t >= lengths[b] are padding */
  lengths: number;
  h0: number; //     [L*D, B, H] row l*D + d: layer l, direction d
  c0: number; //     [L*D, B, H] (lstm)
  y: number; //      [T, B, O]   model output (head output, or the top layer's h_t)
  target: number; // [T, B, O] floats (mse) or [T, B] int32 class ids (cross_entropy); -1 = no loss (padded, ignored)
  dy: number; //     [T, B, O]   dLoss/dy, written by the loss kernels (model.loss too: their scratch)
  dx: number; //     [T, B, I]
  dh0: number; //    [L*D, B, H]
  dc0: number; //    [L*D, B, H] (lstm)
  hN: number; //     [L*D, B, H] each sequence's state at its own last step
  cN: number; //     [L*D, B, H] (lstm)
  norms: number; //  [L*D, T]    ||dLoss/dh_t|| per layer, direction and step
  /** [L-1, T, B, D*H] dropout multipliers (0 or 1/(1-p)) on layer l's output before layer l+1; 0 = no buffer */
  mask: number;
  /** int32 slot: 1 = apply `mask` in this call (training with dropout), 0 = not */
  maskOn: number;
  yLast: number; //  [B, O]      the model's many-to-one loss: y at each sequence's last step
  dyLast: number; // [B, O]
  /** cross-entropy extras: [O] class weights and [T*B] per-row losses (calls with a loss) */
  ceWeight: number;
  rowLoss: number;
}

/**
 * Lay out one call's I/O buffers for exactly (T, B), taking floats from `take` (the
 * arena's workspace, or a counter() to learn the size first). `train` false (a forward
 * only) lays out no gradient buffers (dx, dh0, dc0, norms); `loss` (default: train) lays out
 * the target and the loss kernels' buffers (target, dy, yLast, dyLast, ceWeight, rowLoss),
 * so model.loss runs the loss kernels after a forward-only call; `dropout` says whether this
 * call applies a dropout mask. Pure in its arguments: the same call gives the same offsets.
 */
export function allocIOBuffers(take: Take, layout: Layout, T: number, B: number, train: boolean, dropout: boolean,
  loss = train): IOBuffers {
  const { inputSize: I, hiddenSize: H, cell } = layout.config;
  const L = layout.layers.length; // layers times directions
  const O = layout.outputWidth;
  const lstm = cell === 'lstm';
  const g = (n: number): number => (train ? take(n) : 0); // buffers only backward uses
  const l = (n: number): number => (loss ? take(n) : 0); // buffers the loss kernels use
  return {
    T, B, train,
    x: take(T * B * I),
    ids: layout.embed ? take(T * B) : 0,
    lengths: take(B),
    h0: take(L * B * H),
    c0: lstm ? take(L * B * H) : 0,
    y: take(T * B * O),
    target: l(T * B * O),
    dy: l(T * B * O),
    dx: g(T * B * I),
    dh0: g(L * B * H),
    dc0: lstm ? g(L * B * H) : 0,
    hN: take(L * B * H),
    cN: lstm ? take(L * B * H) : 0,
    norms: g(L * T),
    mask: dropout && layout.config.dropout && layout.config.numLayers > 1
      ? take((layout.config.numLayers - 1) * T * B * layout.D * H) : 0,
    maskOn: take(1),
    yLast: l(B * O),
    dyLast: l(B * O),
    ceWeight: l(O),
    rowLoss: l(T * B),
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
   * Floats of the backend's own workspace for a call of shape (T, B) (train: forward and
   * backward; else forward only; dropout: the call applies a dropout mask), beside the model's IOBuffers. The model adds the two,
   * checks the total against its cap and reserves it before anything is written.
   */
  workFloats(T: number, B: number, train: boolean, dropout: boolean): number;

  /**
   * Lay out that workspace from the arena's current workspace (arena.take), after the
   * model laid out the call's IOBuffers `io` (io.train, io.mask say what to lay out).
   * Called once per call, before forward.
   */
  prepare(io: IOBuffers, T: number, B: number): void;

  /**
   * Forward over T steps for B sequences: reads io.x, io.lengths, io.h0, io.c0 (zeros if
   * the caller gave none; padded steps of x are never read); writes io.y, io.hN, io.cN and keeps what backward needs in the backend's
   * own workspace (laid out by prepare() for this T, B). io is laid out for exactly T, B
   * (tightly packed [T, B, *]).
   */
  forward(io: IOBuffers, T: number, B: number): void;

  /**
   * Full BPTT for the last forward: reads io.dy; ACCUMULATES (+=) parameter gradients
   * into the gradient region; writes io.dx (0 at padded steps), io.dh0, io.dc0 and io.norms.
   * Padded steps of io.dy are ignored.
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
   * writes dy = scale * (softmax(y) - onehot). A row whose id is outside [0, classes) (the
   * model writes -1 at padded steps) adds nothing and gets dy = 0.
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

  /**
   * nn.Embedding's lookup: out[i, :] = weight[ids[i], :] for i < n (dim floats a row); a
   * row whose id is negative (the model writes -1 at padded steps) is set to 0. ids: int32
   * offset, already range-checked.
   */
  embeddingForward(out: number, weight: number, ids: number, n: number, dim: number): void;
  /**
   * Its backward, a scatter-add: dWeight[ids[i], :] += dOut[i, :] for i = 0 .. n-1 in that
   * order (repeated ids accumulate; the order makes it deterministic), skipping negative
   * ids and `skipId` (nn.Embedding's padding_idx; -1 for none).
   */
  embeddingBackward(dWeight: number, dOut: number, ids: number, n: number, dim: number, skipId: number): void;

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

  /**
   * Move the arena's persistent memory into a fresh memory of the size it needs (same
   * offsets; the workspace is dropped) and rebind everything that held the old one
   * (kernel instances, worker threads). model.compact().
   */
  compact?(): Promise<void>;

  /** Release threads and other resources (the arena is garbage-collected with the model). */
  dispose?(): void;
}
