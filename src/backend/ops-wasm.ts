// The ops of the Wasm backend (the Ops contract in backend/types.ts): one typed wrapper over the
// loss, embedding, elementwise and optimizer kernels (assembly/loss.ts, embedding.ts,
// elementwise.ts, train/optim.ts), turning the model's float offsets into the kernels' byte
// pointers. They run on the calling thread whatever the sweep's threads: each is one pass
// over a flat region, and running them after the parts have joined keeps one fixed order
// of every sum (the embedding's scatter-add, the norms).

import type { Ops } from './types.js';
import type { WasmRuntime } from './wasm.js';

const F = 4; // bytes per float: kernels take byte pointers

export class WasmOps implements Ops {
  /** read `rt.k` at every call: compact() replaces the instance */
  private readonly rt: WasmRuntime;

  constructor(rt: WasmRuntime) {
    this.rt = rt;
  }

  mseLoss(dy: number, y: number, target: number, n: number, scale: number): number {
    return this.rt.k.mse_loss(dy * F, y * F, target * F, n, scale);
  }

  crossEntropyLoss(dy: number, y: number, target: number, rows: number, classes: number, scale: number): number {
    return this.rt.k.ce_loss(dy * F, y * F, target * F, rows, classes, scale);
  }

  crossEntropyLossExt(dy: number, y: number, target: number, rows: number, classes: number, scale: number,
    weight: number, smoothing: number, rowLoss: number): number {
    // byte pointer 0 = none for the kernel
    return this.rt.k.ce_loss_ext(dy * F, y * F, target * F, rows, classes, scale, weight < 0 ? 0 : weight * F, smoothing,
      rowLoss < 0 ? 0 : rowLoss * F);
  }

  embeddingForward(out: number, weight: number, ids: number, n: number, dim: number): void {
    this.rt.k.embedding_forward(out * F, weight * F, ids * F, n, dim);
  }

  embeddingBackward(dWeight: number, dOut: number, ids: number, n: number, dim: number, skipId: number): void {
    this.rt.k.embedding_backward(dWeight * F, dOut * F, ids * F, n, dim, skipId);
  }

  fill(off: number, n: number, value: number): void {
    this.rt.k.fill(off * F, n, value);
  }

  sumSquares(off: number, n: number): number {
    return this.rt.k.sum_squares(off * F, n);
  }

  allFinite(off: number, n: number): boolean {
    return this.rt.k.all_finite(off * F, n) === 1;
  }

  scale(off: number, n: number, s: number): void {
    this.rt.k.scale(off * F, n, s);
  }

  clampAbs(off: number, n: number, v: number): void {
    this.rt.k.clamp_abs(off * F, n, v);
  }

  addTo(dst: number, src: number, n: number): void {
    this.rt.k.add_to(dst * F, src * F, n);
  }

  sgdStep(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number,
    nesterov: boolean, weightDecay: number, firstStep: boolean): void {
    this.rt.k.sgd_step(p * F, g * F, buf * F, n, lr, momentum, dampening, +nesterov, weightDecay, +firstStep);
  }

  adamStep(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, amsgrad: boolean, stepSize: number,
    bc2Sqrt: number): void {
    this.rt.k.adam_step(p * F, g * F, m * F, v * F, vmax * F, n, lr, beta1, beta2, eps, weightDecay, +decoupled, +amsgrad,
      stepSize, bc2Sqrt);
  }

  rmspropStep(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number,
    eps: number, weightDecay: number, momentum: number, centered: boolean): void {
    this.rt.k.rmsprop_step(p * F, g * F, sq * F, gavg * F, buf * F, n, lr, alpha, eps, weightDecay, momentum, +centered);
  }

  adagradStep(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void {
    this.rt.k.adagrad_step(p * F, g * F, sum * F, n, clr, weightDecay, eps);
  }
}
