// The pure-TypeScript sweep (its ops are backend/ops-js.ts): the benchmark baseline and an
// independent second opinion.
//
// Written the way min-char-rnn reads: one timestep, one sequence, one dot product at a
// time, with its names (dh, dhraw, dhnext). It shares nothing with the Wasm schedule
// except the arena layout, so agreement between the two is real evidence.
// Dot products are summed in JS doubles; everything stored (activations, gradients) is
// float32, like the Wasm backend.

import type { Arena } from '../arena.js';
import { BpttError } from '../errors.js';
import type { IOBuffers, Sweep } from './types.js';
import { buildWorkspace, GATES, regionsAt, type JsCellName, type JsLayerName, type Layout } from '../layout.js';

/** One (layer, direction) cell's buffers: float offsets by name (shapes: jsRegions in layout.ts). */
type CellWork = Record<JsCellName, number>;

/** One layer's buffers (its output, the gradient into it, and its masked copy). */
type LayerWork = Record<JsLayerName, number>;

export class JsSweep implements Sweep {
  readonly kind = 'js' as const;
  private readonly arena: Arena;
  private layout!: Layout;
  private P = 0; // parameter region
  private G = 0; // gradient region
  private cells: CellWork[] = []; // one per (layer, direction): layout.layers' order
  private work: LayerWork[] = [];
  /** the workspace holds every step's gates (laid out for training) */
  private full = true;
  // temporaries in doubles: gate rows sized in bind(), [B, H] rows in prepare()
  private aIh = new Float64Array(0);
  private aHh = new Float64Array(0);
  private dIh = new Float64Array(0);
  private dHh = new Float64Array(0);
  private dh = new Float64Array(0);
  private dhnext = new Float64Array(0);
  private dcnext = new Float64Array(0);
  private len = new Int32Array(0); // the current batch's lengths

  constructor(arena: Arena) {
    this.arena = arena;
  }

  bind(layout: Layout, params: number, grads: number): void {
    this.layout = layout;
    this.P = params;
    this.G = grads;
    const GH = GATES[layout.config.cell] * layout.config.hiddenSize;
    this.aIh = new Float64Array(GH);
    this.aHh = new Float64Array(GH);
    this.dIh = new Float64Array(GH);
    this.dHh = new Float64Array(GH);
  }

  /** A plain (unshared) memory is enough: no kernel instance or thread holds it. */
  async compact(): Promise<void> {
    this.arena.moveTo(new WebAssembly.Memory({ initial: 1 }));
  }

  workFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    const ws = buildWorkspace(this.layout, T, B, train, dropout, 'js');
    return ws.floats - ws.ioFloats;
  }

  /** The sweep's buffers follow the model's I/O buffers in the same workspace table. */
  prepare(io: IOBuffers, T: number, B: number): void {
    const ws = buildWorkspace(this.layout, T, B, io.train, io.mask !== 0, 'js', io.loss);
    this.cells = ws.js!.cells.map((c) => regionsAt(c, io.base));
    this.work = ws.js!.layers.map((l) => regionsAt(l, io.base));
    this.full = io.train;
    const H = this.layout.config.hiddenSize;
    if (io.train && this.dh.length !== B * H) {
      this.dh = new Float64Array(B * H);
      this.dhnext = new Float64Array(B * H);
      this.dcnext = new Float64Array(B * H);
    }
  }

  /**
   * Where step t of sequence b reads its previous state: the initial state at the sequence's
   * first step in this direction's order (t = 0 forward, t = len - 1 reverse), else the
   * neighbouring step's slot.
   */
  private prev(states: number, init: number, fwd: boolean, t: number, b: number, B: number, H: number): number {
    const first = fwd ? t === 0 : t === this.len[b] - 1;
    return first ? init + b * H : states + ((fwd ? t - 1 : t + 1) * B + b) * H;
  }

  /** Layer l's input: x, the layer below's output, or (training with dropout) that output masked. */
  private layerInput(io: IOBuffers, l: number): number {
    if (l === 0) return io.x;
    return this.arena.i32[io.maskOn] ? this.work[l - 1].drop : this.work[l - 1].out;
  }

  forward(io: IOBuffers, T: number, B: number): void {
    const f = this.arena.f32;
    const { hiddenSize: H, numLayers: L, cell, nonlinearity } = this.layout.config;
    const D = this.layout.D, DH = D * H;
    const GH = GATES[cell] * H;
    const { aIh, aHh } = this;
    const len = (this.len = this.arena.i32.slice(io.lengths, io.lengths + B));
    for (let ci = 0; ci < this.layout.layers.length; ci++) {
      const spec = this.layout.layers[ci];
      const { layer: l, dir: d } = spec;
      const w = this.cells[ci];
      const fwd = d === 0;
      const In = spec.inSize;
      const Wih = this.P + spec.weightIh.offset, Whh = this.P + spec.weightHh.offset;
      const bih = spec.biasIh ? this.P + spec.biasIh.offset : -1;
      const bhh = spec.biasHh ? this.P + spec.biasHh.offset : -1;
      const h0 = io.h0 + ci * B * H, c0 = io.c0 + ci * B * H;
      if (l > 0 && d === 0 && this.arena.i32[io.maskOn]) {
        // inverted dropout on the layer below's output: drop = out * mask
        const below = this.work[l - 1], m = io.mask + (l - 1) * T * B * DH;
        for (let i = 0; i < T * B * DH; i++) f[below.drop + i] = f[below.out + i] * f[m + i];
      }
      const input = this.layerInput(io, l);
      f.fill(0, w.hs, w.hs + T * B * H); // padded steps output 0
      for (let s = 0; s < T; s++) {
        const t = fwd ? s : T - 1 - s;
        for (let b = 0; b < B; b++) {
          if (t >= len[b]) continue; // padding: not part of sequence b
          const x = input + (t * B + b) * In;
          const hprev = this.prev(w.hs, h0, fwd, t, b, B, H);
          const hcur = w.hs + (t * B + b) * H;
          // a_ih = W_ih x + b_ih ; a_hh = W_hh h_{t-1} + b_hh   (one row of gates at a time)
          for (let j = 0; j < GH; j++) {
            let s1 = bih >= 0 ? f[bih + j] : 0;
            const row = Wih + j * In;
            for (let k = 0; k < In; k++) s1 += f[row + k] * f[x + k];
            aIh[j] = s1;
            let s2 = bhh >= 0 ? f[bhh + j] : 0;
            const row2 = Whh + j * H;
            for (let k = 0; k < H; k++) s2 += f[row2 + k] * f[hprev + k];
            aHh[j] = s2;
          }
          const g = w.gates + ((this.full ? t * B : 0) + b) * GH; // a forward only keeps one step's gates
          if (cell === 'rnn') {
            for (let k = 0; k < H; k++) {
              const a = aIh[k] + aHh[k];
              const h = nonlinearity === 'relu' ? (a > 0 ? a : 0) : Math.tanh(a);
              f[hcur + k] = h;
              f[g + k] = h;
            }
          } else if (cell === 'lstm') {
            const cprev = this.prev(w.cs, c0, fwd, t, b, B, H);
            const ccur = w.cs + (t * B + b) * H;
            for (let k = 0; k < H; k++) {
              const i = sigmoid(aIh[k] + aHh[k]);
              const fg = sigmoid(aIh[H + k] + aHh[H + k]);
              const gg = Math.tanh(aIh[2 * H + k] + aHh[2 * H + k]);
              const o = sigmoid(aIh[3 * H + k] + aHh[3 * H + k]);
              const c = fg * f[cprev + k] + i * gg;
              f[ccur + k] = c;
              f[hcur + k] = o * Math.tanh(c);
              f[g + k] = i; f[g + H + k] = fg; f[g + 2 * H + k] = gg; f[g + 3 * H + k] = o;
            }
          } else {
            const hn = w.hn + ((this.full ? t * B : 0) + b) * H;
            for (let k = 0; k < H; k++) {
              const r = sigmoid(aIh[k] + aHh[k]);
              const z = sigmoid(aIh[H + k] + aHh[H + k]);
              const n = Math.tanh(aIh[2 * H + k] + r * aHh[2 * H + k]);
              f[hcur + k] = (1 - z) * n + z * f[hprev + k];
              f[g + k] = r; f[g + H + k] = z; f[g + 2 * H + k] = n;
              f[hn + k] = aHh[2 * H + k];
            }
          }
        }
      }
      // the layer's output [T, B, D*H]: this direction's h_t in columns d*H .. d*H + H
      const out = this.work[l].out;
      for (let r = 0; r < T * B; r++) f.copyWithin(out + r * DH + d * H, w.hs + r * H, w.hs + (r + 1) * H);
      // h_n: forward after step len-1, reverse after step 0
      for (let b = 0; b < B; b++) {
        const last = ((fwd ? len[b] - 1 : 0) * B + b) * H;
        f.copyWithin(io.hN + (ci * B + b) * H, w.hs + last, w.hs + last + H);
        if (cell === 'lstm') f.copyWithin(io.cN + (ci * B + b) * H, w.cs + last, w.cs + last + H);
      }
    }
    // y_t = W_hy out_t + b_y on the top layer (or y_t = out_t without a head)
    const top = this.work[L - 1].out;
    const { outWeight, outBias } = this.layout;
    if (!outWeight) {
      f.copyWithin(io.y, top, top + T * B * DH);
      return;
    }
    const O = outWeight.shape[0];
    const W = this.P + outWeight.offset, bo = outBias ? this.P + outBias.offset : -1;
    for (let r = 0; r < T * B; r++) {
      const h = top + r * DH;
      const padded = Math.floor(r / B) >= len[r % B]; // out is 0 there: y = b_y
      for (let o = 0; o < O; o++) {
        let s = bo < 0 ? 0 : f[bo + o];
        if (!padded) for (let k = 0; k < DH; k++) s += f[W + o * DH + k] * f[h + k];
        f[io.y + r * O + o] = s;
      }
    }
  }

  backward(io: IOBuffers, T: number, B: number, clip: number, inputGrad: boolean): void {
    if (!this.full) throw new BpttError('bptt-wasm: internal error: backward after a forward-only workspace');
    const f = this.arena.f32;
    const { hiddenSize: H, numLayers: L } = this.layout.config;
    const D = this.layout.D, DH = D * H;
    const P = this.P, Gr = this.G;
    const len = this.len;
    // Head: dW_hy += dy out^T, db_y += dy, and d(out_t) = W_hy^T dy, on valid steps only.
    const topW = this.work[L - 1];
    const top = topW.out;
    const { outWeight, outBias } = this.layout;
    f.fill(0, topW.dOut, topW.dOut + T * B * DH);
    const O = this.layout.outputWidth;
    for (let r = 0; r < T * B; r++) {
      if (Math.floor(r / B) >= len[r % B]) continue; // padding: its dy does not exist
      const dyr = io.dy + r * O, dhr = topW.dOut + r * DH;
      if (!outWeight) {
        f.copyWithin(dhr, dyr, dyr + DH);
        continue;
      }
      const h = top + r * DH;
      const W = P + outWeight.offset, dW = Gr + outWeight.offset, db = outBias ? Gr + outBias.offset : -1;
      for (let o = 0; o < O; o++) {
        const d = f[dyr + o];
        if (db >= 0) f[db + o] += d;
        for (let k = 0; k < DH; k++) {
          f[dW + o * DH + k] += d * f[h + k];
          f[dhr + k] += d * f[W + o * DH + k];
        }
      }
    }
    for (let l = L - 1; l >= 0; l--) {
      // where dLoss/d(input) goes: dx for layer 0, the layer below's dOut otherwise
      const dInput = l === 0 ? io.dx : this.work[l - 1].dOut;
      const wantDInput = l > 0 || inputGrad;
      const In = this.layout.layers[l * D].inSize;
      if (wantDInput) for (let i = 0; i < T * B * In; i++) f[dInput + i] = 0;
      for (let d = 0; d < D; d++) this.backwardCell(io, l * D + d, T, B, clip, wantDInput, dInput);
      if (l > 0 && this.arena.i32[io.maskOn]) {
        // through the dropout: d(out) = d(drop) * mask
        const m = io.mask + (l - 1) * T * B * DH;
        for (let i = 0; i < T * B * DH; i++) f[dInput + i] *= f[m + i];
      }
    }
  }

  /** BPTT through one (layer, direction) cell: its steps in reverse of its forward order. */
  private backwardCell(io: IOBuffers, ci: number, T: number, B: number, clip: number, wantDInput: boolean, dInput: number): void {
    const f = this.arena.f32;
    const { hiddenSize: H, cell, nonlinearity } = this.layout.config;
    const DH = this.layout.D * H;
    const GH = GATES[cell] * H;
    const P = this.P, Gr = this.G;
    const { dIh, dHh, dh, dhnext, dcnext, len } = this;
    const spec = this.layout.layers[ci];
    const { layer: l, dir: d } = spec;
    const fwd = d === 0;
    const w = this.cells[ci];
    const In = spec.inSize;
    const Wih = P + spec.weightIh.offset, Whh = P + spec.weightHh.offset;
    const dWih = Gr + spec.weightIh.offset, dWhh = Gr + spec.weightHh.offset;
    const dbih = spec.biasIh ? Gr + spec.biasIh.offset : -1;
    const dbhh = spec.biasHh ? Gr + spec.biasHh.offset : -1;
    const input = this.layerInput(io, l);
    const dhIn = this.work[l].dOut + d * H; // rows of width D*H
    const h0 = io.h0 + ci * B * H, c0 = io.c0 + ci * B * H;
    // each sequence's chain starts at its own last step (in this direction) with dhnext = 0
    dhnext.fill(0);
    dcnext.fill(0);
    for (let s = 0; s < T; s++) {
      const t = fwd ? T - 1 - s : s;
      // dh = (gradient from above at step t) + dhnext (from the next step through W_hh)
      let sq = 0;
      for (let b = 0; b < B; b++) {
        if (t >= len[b]) continue; // no h_t: contributes 0 to the norm
        let rs = 0;
        for (let k = 0; k < H; k++) {
          const v = f[dhIn + (t * B + b) * DH + k] + dhnext[b * H + k];
          dh[b * H + k] = v;
          rs += v * v;
        }
        // Per-timestep clipping: "if the gradient > threshold, normalize it", per sequence.
        if (clip > 0 && Math.sqrt(rs) > clip) {
          const sc = clip / Math.sqrt(rs);
          for (let k = 0; k < H; k++) dh[b * H + k] *= sc;
          rs *= sc * sc;
        }
        sq += rs;
      }
      f[io.norms + ci * T + t] = Math.sqrt(sq);
      for (let b = 0; b < B; b++) {
        if (t >= len[b]) continue;
        const g = w.gates + (t * B + b) * GH;
        const hprev = this.prev(w.hs, h0, fwd, t, b, B, H);
        const x = input + (t * B + b) * In;
        const dhb = b * H;
        if (cell === 'rnn') {
          // dhraw = (1 - h^2) * dh   (tanh)   or   (h > 0) * dh   (relu)
          for (let k = 0; k < H; k++) {
            const h = f[g + k];
            const dhraw = nonlinearity === 'relu' ? (h > 0 ? dh[dhb + k] : 0) : (1 - h * h) * dh[dhb + k];
            dIh[k] = dhraw;
            dHh[k] = dhraw;
            dhnext[dhb + k] = 0;
          }
        } else if (cell === 'lstm') {
          const c = w.cs + (t * B + b) * H, cprev = this.prev(w.cs, c0, fwd, t, b, B, H);
          for (let k = 0; k < H; k++) {
            const i = f[g + k], fg = f[g + H + k], gg = f[g + 2 * H + k], o = f[g + 3 * H + k];
            const tc = Math.tanh(f[c + k]);
            const dc = dcnext[dhb + k] + dh[dhb + k] * o * (1 - tc * tc);
            dIh[k] = dc * gg * i * (1 - i);
            dIh[H + k] = dc * f[cprev + k] * fg * (1 - fg);
            dIh[2 * H + k] = dc * i * (1 - gg * gg);
            dIh[3 * H + k] = dh[dhb + k] * tc * o * (1 - o);
            dcnext[dhb + k] = dc * fg;
            dhnext[dhb + k] = 0;
          }
          for (let j = 0; j < GH; j++) dHh[j] = dIh[j];
        } else {
          const hn = w.hn + (t * B + b) * H;
          for (let k = 0; k < H; k++) {
            const r = f[g + k], z = f[g + H + k], n = f[g + 2 * H + k];
            const dd = dh[dhb + k];
            const dnraw = dd * (1 - z) * (1 - n * n);
            const dr = dnraw * f[hn + k] * r * (1 - r);
            const dz = dd * (f[hprev + k] - n) * z * (1 - z);
            dIh[k] = dr; dIh[H + k] = dz; dIh[2 * H + k] = dnraw;
            dHh[k] = dr; dHh[H + k] = dz; dHh[2 * H + k] = dnraw * r;
            dhnext[dhb + k] = dd * z; // h_t = ... + z * h_{t-1}
          }
        }
        // dW_ih += d_ih x^T ; dW_hh += d_hh h_{t-1}^T ; biases ; dx = W_ih^T d_ih ; dhnext += W_hh^T d_hh
        for (let j = 0; j < GH; j++) {
          const di = dIh[j], dhh = dHh[j];
          if (dbih >= 0) f[dbih + j] += di;
          if (dbhh >= 0) f[dbhh + j] += dhh;
          const ri = j * In, rh = j * H;
          for (let k = 0; k < In; k++) f[dWih + ri + k] += di * f[x + k];
          if (wantDInput) {
            const dxr = dInput + (t * B + b) * In;
            for (let k = 0; k < In; k++) f[dxr + k] += di * f[Wih + ri + k];
          }
          for (let k = 0; k < H; k++) {
            f[dWhh + rh + k] += dhh * f[hprev + k];
            dhnext[dhb + k] += dhh * f[Whh + rh + k];
          }
        }
      }
    }
    // after each sequence's first step (in this direction), dhnext is dLoss/dh0
    for (let i = 0; i < B * H; i++) f[io.dh0 + ci * B * H + i] = dhnext[i];
    if (cell === 'lstm') for (let i = 0; i < B * H; i++) f[io.dc0 + ci * B * H + i] = dcnext[i];
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
