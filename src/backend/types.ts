// The contract between the model (API, validation, layout) and a compute backend, which is
// two things: the BPTT sweep (bind, forward, backward) and the ops over flat regions
// (losses, norms, optimizer steps). The factory (backend/factory.ts) composes them.
//
// Both kinds see the same arena and the same layout; they differ only in how the numbers
// are computed:
//   - 'wasm' (backend/wasm.ts, backend/ops-wasm.ts; backend/parallel.ts on several threads):
//     AssemblyScript SIMD kernels, cuDNN-style schedule (input projection and weight
//     gradients as one GEMM over all timesteps).
//   - 'js'   (backend/js.ts, backend/ops-js.ts): plain TypeScript loops, one timestep and one
//     sequence at a time, written independently as the baseline and a second opinion.
// Every number crossing these interfaces is a float offset into `arena.f32`.

import type { GemmChoice } from './gemm-trial.js';
import type { Arena } from '../arena.js';
import { regionsAt, type Layout, type Workspace } from '../layout.js';

/**
 * Where the model keeps one call's inputs and outputs: float offsets into the arena, from
 * the call's workspace table (buildWorkspace in layout.ts, laid out for exactly this
 * call's T and B; see ioBuffersAt). 0 = not laid out in this call.
 */
export interface IOBuffers {
  /** the shape this set of buffers was laid out for */
  T: number;
  B: number;
  /** false: laid out for a forward only (predict, forward): every gradient buffer below is 0 */
  train: boolean;
  /** laid out with the target and the loss kernels' buffers (training, or model.loss's forward-only call) */
  loss: boolean;
  /** float offset of the workspace table's start (x is its first buffer; the sweep's own buffers follow) */
  base: number;
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

/** The I/O buffers of workspace table `ws` laid out from float offset `base`. */
export function ioBuffersAt(ws: Workspace, base: number): IOBuffers {
  return { T: ws.T, B: ws.B, train: ws.train, loss: ws.loss, base, ...regionsAt(ws.io, base) };
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

/**
 * The BPTT sweep over a model's layers: lay out a call's workspace, run forward over every
 * step, then backward through time. Three implementations: the JS loops (backend/js.ts),
 * the Wasm schedule (backend/wasm.ts) and the Wasm schedule over batch parts on several
 * threads (backend/parallel.ts). Everything else a model runs over flat regions (losses,
 * norms, optimizer steps) is its `Ops`.
 */
export interface Sweep {
  readonly kind: 'wasm' | 'js';
  /** Wasm sweeps: build and threads */
  readonly info?: BackendInfo;

  /**
   * Bind to a model: parameter and gradient regions (float offsets, `layout.numParams`
   * floats each). Called once.
   */
  bind(layout: Layout, params: number, grads: number): void;

  /**
   * Floats of the sweep's own buffers for a call of shape (T, B) (train: forward and
   * backward; else forward only; dropout: the call applies a dropout mask), after the
   * model's IOBuffers in the workspace table. The model adds the two, checks the total
   * against its cap and reserves it before anything is written.
   */
  workFloats(T: number, B: number, train: boolean, dropout: boolean): number;

  /**
   * Point the sweep's buffers into the call's workspace: they follow the IOBuffers `io`
   * laid out from io.base (io.train, io.mask say what the table holds). Called once per
   * call, before forward.
   */
  prepare(io: IOBuffers, T: number, B: number): void;

  /**
   * Forward over T steps for B sequences: reads io.x, io.lengths, io.h0, io.c0 (zeros if
   * the caller gave none; padded steps of x are never read); writes io.y, io.hN, io.cN and
   * keeps what backward needs in the sweep's own workspace (laid out by prepare() for this
   * T, B). io is laid out for exactly T, B (tightly packed [T, B, *]).
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

  /**
   * Move the arena's persistent memory into a fresh memory of the size it needs (same
   * offsets; the workspace is dropped) and rebind everything that held the old one
   * (kernel instances, worker threads). model.compact().
   */
  compact(): Promise<void>;

  /** Release threads and other resources (the arena is garbage-collected with the model). */
  dispose?(): void;

  /** Wasm sweeps: the GEMM micro-kernel each product class of the last new call shape runs (backend/gemm-trial.ts) */
  gemmChoices?(): GemmChoice[];
}

/**
 * Everything a model computes over flat regions besides the sweep: losses, nn.Embedding's
 * lookup, the utilities of clipping, zeroing and checks, and the optimizer steps. Every
 * number is a float offset into the arena (int32 offsets for ids and class targets). One
 * implementation per kind (backend/ops-js.ts, backend/ops-wasm.ts), whatever the threads: these run on
 * the calling thread.
 */
export interface Ops {
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

  // Flat-region utilities (gradient clipping, zeroing, checks, summing the threads' gradients).
  fill(off: number, n: number, value: number): void;
  /** sum of squares, accumulated in double precision */
  sumSquares(off: number, n: number): number;
  /** whether every value is finite (no NaN, no +-Inf) */
  allFinite(off: number, n: number): boolean;
  scale(off: number, n: number, s: number): void;
  /** clamp every value to [-v, v] */
  clampAbs(off: number, n: number, v: number): void;
  /** dst[i] += src[i] for i < n */
  addTo(dst: number, src: number, n: number): void;

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
}

/** What the factory (backend/factory.ts) hands a model: one arena, a sweep and the ops over it. */
export interface Backend {
  readonly arena: Arena;
  readonly sweep: Sweep;
  readonly ops: Ops;
}
