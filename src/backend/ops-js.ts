// The ops of the pure-TypeScript backend (the Ops contract in backend/types.ts): losses,
// nn.Embedding's lookup, flat-region utilities and the torch.optim updates, as plain loops
// over the arena's views. Sums run in JS doubles; every value stored is float32, as on
// Wasm. Written independently of the kernels (assembly/loss.ts, assembly/optim.ts), so
// the two agreeing is evidence.

import type { Arena } from '../arena.js';
import type { Ops } from './types.js';
import { allFiniteF32 } from '../errors.js';

export class JsOps implements Ops {
  private readonly arena: Arena;

  constructor(arena: Arena) {
    this.arena = arena;
  }

  mseLoss(dy: number, y: number, target: number, n: number, scale: number): number {
    const f = this.arena.f32;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const d = f[y + i] - f[target + i];
      s += d * d;
      f[dy + i] = 2 * scale * d;
    }
    return s * scale;
  }

  crossEntropyLoss(dy: number, y: number, target: number, rows: number, classes: number, scale: number): number {
    return this.crossEntropyLossExt(dy, y, target, rows, classes, scale, -1, 0, -1);
  }

  crossEntropyLossExt(dy: number, y: number, target: number, rows: number, classes: number, scale: number,
    weight: number, smoothing: number, rowLoss: number): number {
    const f = this.arena.f32, iv = this.arena.i32;
    const w = (c: number): number => (weight < 0 ? 1 : f[weight + c]);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const row = y + r * classes, k = iv[target + r];
      if (k < 0 || k >= classes) {
        for (let c = 0; c < classes; c++) f[dy + r * classes + c] = 0;
        if (rowLoss >= 0) f[rowLoss + r] = 0;
        continue;
      }
      let m = -Infinity;
      for (let c = 0; c < classes; c++) m = Math.max(m, f[row + c]);
      let z = 0;
      for (let c = 0; c < classes; c++) z += Math.exp(f[row + c] - m);
      const logZ = m + Math.log(z);
      // L = (1 - eps) w_k (-logp_k) + eps/C sum_c w_c (-logp_c), as F.cross_entropy
      let smooth = 0;
      for (let c = 0; c < classes; c++) smooth += w(c) * (logZ - f[row + c]);
      const L = (1 - smoothing) * w(k) * (logZ - f[row + k]) + (smoothing / classes) * smooth;
      total += L;
      if (rowLoss >= 0) f[rowLoss + r] = L;
      // dL/dy_c = (1 - eps) w_k (p_c - [c = k]) + eps/C sum_c2 w_c2 (p_c - [c = c2])
      let W = 0;
      for (let c = 0; c < classes; c++) W += w(c);
      for (let c = 0; c < classes; c++) {
        const p = Math.exp(f[row + c] - logZ);
        const g = (1 - smoothing) * w(k) * (p - (c === k ? 1 : 0)) + (smoothing / classes) * (W * p - w(c));
        f[dy + r * classes + c] = scale * g;
      }
    }
    return total * scale;
  }

  embeddingForward(out: number, weight: number, ids: number, n: number, dim: number): void {
    const f = this.arena.f32, iv = this.arena.i32;
    for (let i = 0; i < n; i++) {
      const id = iv[ids + i], dst = out + i * dim;
      if (id < 0) f.fill(0, dst, dst + dim);
      else f.copyWithin(dst, weight + id * dim, weight + (id + 1) * dim);
    }
  }

  embeddingBackward(dWeight: number, dOut: number, ids: number, n: number, dim: number, skipId: number): void {
    const f = this.arena.f32, iv = this.arena.i32;
    for (let i = 0; i < n; i++) {
      const id = iv[ids + i];
      if (id < 0 || id === skipId) continue;
      const dst = dWeight + id * dim, src = dOut + i * dim;
      for (let j = 0; j < dim; j++) f[dst + j] += f[src + j]; // float32 stores round each sum, as the kernel's f32 adds
    }
  }

  fill(off: number, n: number, value: number): void {
    this.arena.f32.fill(value, off, off + n);
  }

  sumSquares(off: number, n: number): number {
    const f = this.arena.f32;
    let s = 0;
    for (let i = 0; i < n; i++) s += f[off + i] * f[off + i];
    return s;
  }

  allFinite(off: number, n: number): boolean {
    return allFiniteF32(this.arena.f32, off, off + n);
  }

  scale(off: number, n: number, s: number): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) f[off + i] *= s;
  }

  clampAbs(off: number, n: number, v: number): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) f[off + i] = Math.min(v, Math.max(-v, f[off + i]));
  }

  addTo(dst: number, src: number, n: number): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) f[dst + i] += f[src + i];
  }

  sgdStep(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number,
    nesterov: boolean, weightDecay: number, firstStep: boolean): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) {
      let d = f[g + i] + weightDecay * f[p + i];
      if (momentum !== 0) {
        const bv = firstStep ? d : momentum * f[buf + i] + (1 - dampening) * d;
        f[buf + i] = bv;
        d = nesterov ? d + momentum * f[buf + i] : f[buf + i];
      }
      f[p + i] -= lr * d;
    }
  }

  adamStep(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, amsgrad: boolean, stepSize: number,
    bc2Sqrt: number): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) {
      let d = f[g + i];
      if (decoupled) f[p + i] *= 1 - lr * weightDecay;
      else d += weightDecay * f[p + i];
      f[m + i] += (1 - beta1) * (d - f[m + i]);
      f[v + i] = beta2 * f[v + i] + (1 - beta2) * d * d;
      let den: number;
      if (amsgrad) {
        f[vmax + i] = Math.max(f[vmax + i], f[v + i]);
        den = Math.sqrt(f[vmax + i]) / bc2Sqrt + eps;
      } else {
        den = Math.sqrt(f[v + i]) / bc2Sqrt + eps;
      }
      f[p + i] -= stepSize * f[m + i] / den;
    }
  }

  rmspropStep(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number,
    eps: number, weightDecay: number, momentum: number, centered: boolean): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) {
      const d = f[g + i] + weightDecay * f[p + i];
      f[sq + i] = alpha * f[sq + i] + (1 - alpha) * d * d;
      let avg: number;
      if (centered) {
        f[gavg + i] = alpha * f[gavg + i] + (1 - alpha) * d;
        // in float32, as the Wasm kernel and torch: a double grad_avg^2 can exceed the
        // float32 square_avg it underflowed beside (sqrt of a negative, NaN)
        avg = Math.sqrt(Math.fround(f[sq + i] - Math.fround(f[gavg + i] * f[gavg + i]))) + eps;
      } else {
        avg = Math.sqrt(f[sq + i]) + eps;
      }
      if (momentum > 0) {
        f[buf + i] = momentum * f[buf + i] + d / avg;
        f[p + i] -= lr * f[buf + i];
      } else {
        f[p + i] -= lr * d / avg;
      }
    }
  }

  adagradStep(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void {
    const f = this.arena.f32;
    for (let i = 0; i < n; i++) {
      const d = f[g + i] + weightDecay * f[p + i];
      f[sum + i] += d * d;
      f[p + i] -= clr * d / (Math.sqrt(f[sum + i]) + eps);
    }
  }
}
