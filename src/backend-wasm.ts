// The Wasm backend: AssemblyScript SIMD kernels (assembly/) over one linear memory that
// this file's Arena owns, driven by a cuDNN-style BPTT schedule:
//   forward:  Gx = X W_ih^T + b_ih for ALL timesteps as one GEMM; per step only the
//             recurrent product Gh = h_{t-1} W_hh^T + b_hh and a fused gate kernel.
//   backward: per step (t = T-1 .. 0) the gate kernel and dh_{t-1} = dG_t W_hh; after the
//             sweep, dW_ih += dG^T X and dW_hh += dG^T H_prev as ONE GEMM each over all
//             timesteps ("BPTT accumulation over timesteps" as one big product).
// W_hh is the same matrix at every step: it is packed into the GEMM's panel layout once
// per forward (as W_hh^T) and once per backward (as W_hh), not once per timestep.

import { BpttError } from './errors.js';
import { Arena } from './arena.js';
import { growCapacity, type Backend, type BackendInfo, type IOBuffers } from './backend.js';
import { buildLayout, GATES, type Layout } from './layout.js';
import { host, type WasmBuild, type WasmSource } from './host/host.js';
/** The kernels exported by assembly/index.ts (byte pointers, i32 sizes). */
export interface Kernels {
  memory: WebAssembly.Memory;
  /** first byte after the module's static data */
  heap_base(): number;
  /** bytes of GEMM packing scratch one instance needs */
  scratch_bytes(): number;
  /** give this instance its own scratch (every instance over a memory but the first needs one) */
  set_scratch(ptr: number): void;
  gemm_nn(C: number, A: number, B: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, acc: number): void;
  gemm_tn(C: number, A: number, B: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, acc: number): void;
  gemm_nt(C: number, A: number, B: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, acc: number): void;
  packed_b_floats(K: number, N: number): number;
  pack_b(dst: number, B: number, K: number, N: number, ldb: number, transposed: number): void;
  gemm_packed_b(C: number, A: number, Bp: number, M: number, N: number, K: number, lda: number, ldc: number, acc: number): void;
  add_bias_rows(C: number, bias: number, M: number, N: number, ldc: number): void;
  col_sum_acc(dst: number, A: number, M: number, N: number, lda: number): void;
  rnn_forward_step(h: number, gx: number, gh: number, count: number, relu: number): void;
  rnn_backward_step(dpre: number, dh: number, h: number, count: number, relu: number): void;
  lstm_forward_step(h: number, c: number, gates: number, gx: number, gh: number, cPrev: number, B: number, H: number): void;
  lstm_backward_step(dgates: number, dcPrev: number, dh: number, dc: number, gates: number, c: number, cPrev: number, B: number, H: number): void;
  gru_forward_step(h: number, gates: number, hn: number, gx: number, gh: number, hPrev: number, B: number, H: number): void;
  gru_backward_step(dgx: number, dgh: number, dhPrev: number, dh: number, gates: number, hn: number, hPrev: number, B: number, H: number): void;
  row_norms_clip(dh: number, B: number, H: number, threshold: number): number;
  mse_loss(dy: number, y: number, target: number, n: number, scale: number): number;
  ce_loss(dy: number, y: number, target: number, rows: number, classes: number, scale: number): number;
  ce_loss_ext(dy: number, y: number, target: number, rows: number, classes: number, scale: number,
    weight: number, smoothing: number, rowLoss: number): number;
  fill(p: number, n: number, v: number): void;
  sum_squares(p: number, n: number): number;
  scale(p: number, n: number, s: number): void;
  clamp_abs(p: number, n: number, v: number): void;
  add_to(dst: number, src: number, n: number): void;
  sgd_step(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number): void;
  adam_step(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, amsgrad: number, stepSize: number, bc2Sqrt: number): void;
  rmsprop_step(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number): void;
  adagrad_step(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void;
}

export type { WasmBuild, WasmSource } from './host/host.js';

/** Where the builds and the training threads' script come from, when not from the package itself. */
export interface WasmSources {
  simd?: WasmSource;
  relaxed?: WasmSource;
  /** the training thread's module script (browser: dist/src/host/browser-worker.js, or its bundled copy) */
  worker?: string | URL;
}

const sources: WasmSources = {};
const modules = new Map<WasmBuild, Promise<WebAssembly.Module>>();

/**
 * Load the kernels from somewhere else than the package's build/ directory: a URL, the
 * bytes, or a compiled module per build (a bundler that does not copy the .wasm files, an
 * app that serves them elsewhere). Applies to models created afterwards.
 */
export function configureWasm(opts: WasmSources): void {
  if (opts === null || typeof opts !== 'object') throw new BpttError(`bptt-wasm: configureWasm takes an object, got ${String(opts)}`);
  for (const [key, v] of Object.entries(opts)) {
    if (key !== 'simd' && key !== 'relaxed' && key !== 'worker') {
      throw new BpttError(`bptt-wasm: configureWasm: unknown option '${key}' (options: simd, relaxed, worker)`);
    }
    const ok = key === 'worker' ? typeof v === 'string' || v instanceof URL
      : typeof v === 'string' || v instanceof URL || v instanceof ArrayBuffer || ArrayBuffer.isView(v) || v instanceof WebAssembly.Module;
    if (v !== undefined && !ok) {
      throw new BpttError(`bptt-wasm: configureWasm: '${key}' must be ${key === 'worker' ? 'a URL' : 'a URL, bytes or a WebAssembly.Module'}, got ${Object.prototype.toString.call(v)}`);
    }
  }
  for (const key of ['simd', 'relaxed'] as const) if (key in opts) modules.delete(key);
  Object.assign(sources, opts);
}

/** The worker script configured with configureWasm, if any. */
export function configuredWorker(): string | URL | undefined {
  return sources.worker;
}

async function compile(build: WasmBuild): Promise<WebAssembly.Module> {
  // before loading: Node 20 must set its V8 flag before compiling, and a browser without
  // relaxed SIMD gets this message rather than a CompileError
  if (build === 'relaxed' && !host().relaxedSupported()) {
    throw new BpttError(`bptt-wasm: the relaxed-SIMD build was requested, but this ${host().name === 'node' ? 'Node' : 'browser'} cannot run relaxed SIMD`);
  }
  const got = await host().load(build, sources[build]);
  return got instanceof WebAssembly.Module ? got : WebAssembly.compile(got);
}

let defaultBuild: WasmBuild | null = null;

/**
 * The Wasm build models use unless told otherwise: the relaxed-SIMD one (f32x4.relaxed_madd,
 * FMA) where this host can validate it, the plain SIMD one otherwise.
 * BPTT_WASM_BUILD=simd|relaxed forces one in Node (CI runs the suite on both).
 */
export function wasmBuild(): WasmBuild {
  if (defaultBuild) return defaultBuild;
  const forced = host().forcedBuild();
  if (forced !== undefined && forced !== '' && forced !== 'simd' && forced !== 'relaxed') {
    throw new BpttError(`bptt-wasm: BPTT_WASM_BUILD must be 'simd' or 'relaxed', got '${forced}'`);
  }
  if (forced === 'simd' || forced === 'relaxed') defaultBuild = forced;
  else defaultBuild = host().relaxedSupported() ? 'relaxed' : 'simd';
  return defaultBuild;
}

/** The compiled module of a build (compiled once per process, or again after configureWasm). */
export function compileBuild(build: WasmBuild = wasmBuild()): Promise<WebAssembly.Module> {
  let m = modules.get(build);
  if (!m) {
    m = compile(build);
    modules.set(build, m);
    m.catch(() => modules.delete(build)); // a failed load (network, bad bytes) may be retried
  }
  return m;
}

// The kernels import their memory: TypeScript creates it (shared, so worker threads can
// run kernels over the same arena) and hands it in. Sizes in 64 KiB pages; the maximum is
// reserved address space, not memory in use.
const INITIAL_PAGES = 16;
const MAXIMUM_PAGES = 32768; // 2 GiB; the same as maximumMemory in asconfig.json (the import's declared maximum)

/** A fresh memory for one model. */
export function sharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
}

/** Instantiate a compiled kernel module over `memory` (the kernels import env.memory). */
export async function instantiateKernelsFrom(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Kernels> {
  // env.memory is the module's only import (the kernels never call out)
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { ...(instance.exports as unknown as Kernels), memory };
}

export async function instantiateKernels(build: WasmBuild = wasmBuild(), memory: WebAssembly.Memory = sharedMemory()): Promise<Kernels> {
  return instantiateKernelsFrom(await compileBuild(build), memory);
}

export async function createWasmBackend(build: WasmBuild = wasmBuild(), threads = 1): Promise<Backend> {
  // A page that is not cross-origin isolated cannot share memory with workers: one thread, and why.
  const unavailable = threads > 1 ? host().threadsUnavailable() : null;
  if (threads > 1 && !unavailable) {
    const { createParallelBackend } = await import('./backend-parallel.js');
    return createParallelBackend(threads, build);
  }
  const k = await instantiateKernels(build);
  // Everything below heap_base() is the module's static data (math tables, GEMM packing).
  const be = new WasmBackend(k, new Arena(k.memory, k.heap_base()));
  be.info = { wasmBuild: build, threads: 1, threadsRequested: threads, threadsNote: unavailable };
  return be;
}

/** Where a WasmBackend keeps everything (float offsets): enough to rebuild it in a worker. */
export interface WasmBackendState {
  config: Layout['config'];
  P: number;
  G: number;
  work: LayerWork[];
  gh: number;
  dhA: number;
  dhB: number;
  dc: number;
  capT: number;
  capB: number;
}

interface LayerWork {
  WhhF: number; //  W_hh^T [H, G*H] packed for forward's h_{t-1} W_hh^T
  WhhB: number; //  W_hh [G*H, H] packed for backward's dG_t W_hh
  gx: number; //    [T, B, G*H] input projections incl. b_ih (forward); reused as dGx (backward)
  hs: number; //    [T+1, B, H] slot 0 = h0, slot t+1 = h_t
  cs: number; //    [T+1, B, H] LSTM
  gates: number; // [T, B, G*H] activated gates
  hn: number; //    [T, B, H]   GRU W_hn h_{t-1} + b_hn
  dgh: number; //   [T, B, G*H] GRU only: gradient of the recurrent pre-activations
  dhIn: number; //  [T, B, H]   dLoss/dh_t from above (head or next layer)
}

const F = 4; // bytes per float: kernels take byte pointers

export class WasmBackend implements Backend {
  readonly kind = 'wasm' as const;
  readonly arena: Arena;
  info?: BackendInfo;
  private readonly k: Kernels;
  private layout!: Layout;
  private P = 0;
  private G = 0;
  private work: LayerWork[] = [];
  private gh = 0; //    [B, G*H] recurrent projection of one step
  private dhA = 0; //   [B, H]   dh / dhnext ping-pong
  private dhB = 0;
  private dc = 0; //    [B, H]   LSTM dc_next
  private capT = 0;
  private capB = 0;

  constructor(k: Kernels, arena: Arena) {
    this.k = k;
    this.arena = arena;
  }

  bind(layout: Layout, params: number, grads: number): void {
    this.layout = layout;
    this.P = params;
    this.G = grads;
    const { hiddenSize: H, cell } = layout.config;
    const GH = GATES[cell] * H;
    for (const spec of layout.layers) {
      this.work.push({
        WhhF: this.arena.alloc(this.k.packed_b_floats(H, GH)), WhhB: this.arena.alloc(this.k.packed_b_floats(GH, H)),
        gx: 0, hs: 0, cs: 0, gates: 0, hn: 0, dgh: 0, dhIn: 0,
      });
    }
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  /** Float offset of the gradient region this backend accumulates into. */
  get gradRegion(): number {
    return this.G;
  }

  /** Everything this backend's kernels touch, as offsets (for a worker's mirror of it). */
  snapshot(): WasmBackendState {
    const { P, G, gh, dhA, dhB, dc, capT, capB } = this;
    return { config: this.layout.config, P, G, work: this.work.map((w) => ({ ...w })), gh, dhA, dhB, dc, capT, capB };
  }

  /** Become a mirror of another backend over the same (shared) memory; allocates nothing. */
  restore(s: WasmBackendState): void {
    this.layout = buildLayout(s.config);
    ({ P: this.P, G: this.G, gh: this.gh, dhA: this.dhA, dhB: this.dhB, dc: this.dc,
      capT: this.capT, capB: this.capB } = s);
    this.work = s.work.map((w) => ({ ...w }));
  }

  /** Size the workspace for (T, B); returns true if it had to (re)allocate. */
  ensureWork(T: number, B: number): boolean {
    if (T <= this.capT && B <= this.capB) return false;
    const { T: Tc, B: Bc } = growCapacity(this.capT ? { T: this.capT, B: this.capB } : null, T, B);
    const { hiddenSize: H, cell } = this.layout.config;
    const GH = GATES[cell] * H;
    const a = this.arena;
    for (const w of this.work) {
      w.gx = a.alloc(Tc * Bc * GH);
      w.hs = a.alloc((Tc + 1) * Bc * H);
      w.cs = cell === 'lstm' ? a.alloc((Tc + 1) * Bc * H) : 0;
      w.gates = a.alloc(Tc * Bc * GH);
      w.hn = cell === 'gru' ? a.alloc(Tc * Bc * H) : 0;
      w.dgh = cell === 'gru' ? a.alloc(Tc * Bc * GH) : 0;
      w.dhIn = a.alloc(Tc * Bc * H);
    }
    this.gh = a.alloc(Bc * GH);
    this.dhA = a.alloc(Bc * H);
    this.dhB = a.alloc(Bc * H);
    this.dc = a.alloc(Bc * H);
    this.capT = Tc;
    this.capB = Bc;
    return true;
  }

  forward(io: IOBuffers, T: number, B: number): void {
    this.ensureWork(T, B);
    const k = this.k;
    const { hiddenSize: H, numLayers: L, cell, nonlinearity } = this.layout.config;
    const GH = GATES[cell] * H;
    const relu = nonlinearity === 'relu' ? 1 : 0;
    const f = this.arena.f32;
    const TB = T * B;
    for (let l = 0; l < L; l++) {
      const w = this.work[l];
      const spec = this.layout.layers[l];
      const In = spec.inSize;
      // Packing W_hh pays off over several steps; a single step (sampling, streaming)
      // multiplies by W_hh as stored.
      const packed = T * B >= 8;
      const WhhRaw = (this.P + spec.weightHh.offset) * F;
      if (packed) k.pack_b(w.WhhF * F, WhhRaw, H, GH, H, 1);
      f.copyWithin(w.hs, io.h0 + l * B * H, io.h0 + (l + 1) * B * H);
      if (cell === 'lstm') f.copyWithin(w.cs, io.c0 + l * B * H, io.c0 + (l + 1) * B * H);
      const input = l === 0 ? io.x : this.work[l - 1].hs + B * H;
      // Gx[T*B, GH] = X[T*B, In] W_ih^T + b_ih : every timestep in one GEMM
      k.gemm_nt(w.gx * F, input * F, (this.P + spec.weightIh.offset) * F, TB, GH, In, In, In, GH, 0);
      if (spec.biasIh) k.add_bias_rows(w.gx * F, (this.P + spec.biasIh.offset) * F, TB, GH, GH);
      // RNN and LSTM only ever use gx + gh, so b_hh joins b_ih in the all-timestep input
      // projection once; GRU needs gh_n = W_hn h + b_hn on its own, so it adds b_hh per step.
      let bhh = spec.biasHh ? (this.P + spec.biasHh.offset) * F : 0;
      if (bhh && cell !== 'gru') {
        k.add_bias_rows(w.gx * F, bhh, TB, GH, GH);
        bhh = 0;
      }
      for (let t = 0; t < T; t++) {
        const hPrev = (w.hs + t * B * H) * F, h = (w.hs + (t + 1) * B * H) * F;
        const gx = (w.gx + t * B * GH) * F, gates = (w.gates + t * B * GH) * F;
        // Gh[B, GH] = h_{t-1} W_hh^T + b_hh : the only per-step product
        if (packed) k.gemm_packed_b(this.gh * F, hPrev, w.WhhF * F, B, GH, H, H, GH, 0);
        else k.gemm_nt(this.gh * F, hPrev, WhhRaw, B, GH, H, H, H, GH, 0);
        if (bhh) k.add_bias_rows(this.gh * F, bhh, B, GH, GH);
        if (cell === 'rnn') {
          k.rnn_forward_step(h, gx, this.gh * F, B * H, relu);
        } else if (cell === 'lstm') {
          k.lstm_forward_step(h, (w.cs + (t + 1) * B * H) * F, gates, gx, this.gh * F, (w.cs + t * B * H) * F, B, H);
        } else {
          k.gru_forward_step(h, gates, (w.hn + t * B * H) * F, gx, this.gh * F, hPrev, B, H);
        }
      }
      const g = this.arena.f32;
      g.copyWithin(io.hN + l * B * H, w.hs + T * B * H, w.hs + (T + 1) * B * H);
      if (cell === 'lstm') g.copyWithin(io.cN + l * B * H, w.cs + T * B * H, w.cs + (T + 1) * B * H);
    }
    // Y[T*B, O] = H_top W_out^T + b_out : one GEMM for every step's output
    const top = this.work[L - 1].hs + B * H;
    const { outWeight, outBias } = this.layout;
    if (!outWeight) {
      this.arena.f32.copyWithin(io.y, top, top + TB * H);
      return;
    }
    const O = outWeight.shape[0];
    k.gemm_nt(io.y * F, top * F, (this.P + outWeight.offset) * F, TB, O, H, H, H, O, 0);
    if (outBias) k.add_bias_rows(io.y * F, (this.P + outBias.offset) * F, TB, O, O);
  }

  backward(io: IOBuffers, T: number, B: number, clip: number, inputGrad: boolean): void {
    const k = this.k;
    const { hiddenSize: H, numLayers: L, cell, nonlinearity } = this.layout.config;
    const GH = GATES[cell] * H;
    const relu = nonlinearity === 'relu' ? 1 : 0;
    const P = this.P, Gr = this.G;
    const TB = T * B;
    const topW = this.work[L - 1];
    const top = topW.hs + B * H;
    const { outWeight, outBias } = this.layout;
    if (!outWeight) {
      this.arena.f32.copyWithin(topW.dhIn, io.dy, io.dy + TB * H);
    } else {
      const O = outWeight.shape[0];
      // dW_out[O, H] += dY^T H_top ; db_out += colsum(dY) ; dH_top[T*B, H] = dY W_out
      k.gemm_tn((Gr + outWeight.offset) * F, io.dy * F, top * F, O, H, TB, O, H, H, 1);
      if (outBias) k.col_sum_acc((Gr + outBias.offset) * F, io.dy * F, TB, O, O);
      k.gemm_nn(topW.dhIn * F, io.dy * F, (P + outWeight.offset) * F, TB, H, O, O, H, H, 0);
    }
    for (let l = L - 1; l >= 0; l--) {
      const w = this.work[l];
      const spec = this.layout.layers[l];
      const In = spec.inSize;
      const Wih = (P + spec.weightIh.offset) * F;
      // W_hh packed once for all T steps of dh_{t-1} = dG_t W_hh (as stored for a single step)
      const packed = T * B >= 8;
      const WhhRaw = (P + spec.weightHh.offset) * F, Whh = w.WhhB * F;
      if (packed) k.pack_b(Whh, WhhRaw, GH, H, H, 0);
      const recur = (C: number, A: number, acc: number) => {
        if (packed) k.gemm_packed_b(C, A, Whh, B, H, GH, GH, H, acc);
        else k.gemm_nn(C, A, WhhRaw, B, H, GH, GH, H, H, acc);
      };
      // The input projections are no longer needed: their buffer holds dGx now.
      const dgx = w.gx;
      const dgh = cell === 'gru' ? w.dgh : w.gx; // RNN/LSTM: the same pre-activation gradient
      let dh = this.dhA, spare = this.dhB;
      k.fill(dh * F, B * H, 0);
      if (cell === 'lstm') k.fill(this.dc * F, B * H, 0);
      for (let t = T - 1; t >= 0; t--) {
        // dh = dhIn_t + dhnext ; per-sequence clipping; ||dh|| for the diagnostics
        k.add_to(dh * F, (w.dhIn + t * B * H) * F, B * H);
        // (no allocation happens during backward, so the view stays valid)
        this.arena.f32[io.norms + l * T + t] = k.row_norms_clip(dh * F, B, H, clip);
        const gates = (w.gates + t * B * GH) * F;
        const dgxT = (dgx + t * B * GH) * F, dghT = (dgh + t * B * GH) * F;
        if (cell === 'rnn') {
          k.rnn_backward_step(dgxT, dh * F, (w.hs + (t + 1) * B * H) * F, B * H, relu);
          // dhnext = dhraw W_hh
          recur(dh * F, dgxT, 0);
        } else if (cell === 'lstm') {
          k.lstm_backward_step(dgxT, this.dc * F, dh * F, this.dc * F, gates, (w.cs + (t + 1) * B * H) * F,
            (w.cs + t * B * H) * F, B, H);
          recur(dh * F, dgxT, 0);
        } else {
          k.gru_backward_step(dgxT, dghT, spare * F, dh * F, gates, (w.hn + t * B * H) * F, (w.hs + t * B * H) * F, B, H);
          // dhnext = z * dh + dGh W_hh
          recur(spare * F, dghT, 1);
          const s = dh; dh = spare; spare = s;
        }
      }
      const nf = this.arena.f32;
      nf.copyWithin(io.dh0 + l * B * H, dh, dh + B * H);
      if (cell === 'lstm') nf.copyWithin(io.dc0 + l * B * H, this.dc, this.dc + B * H);
      // Weight gradients, summed over every timestep in one GEMM each:
      // dW_ih += dGx^T X ; dW_hh += dGh^T H_prev ; biases += column sums
      const input = l === 0 ? io.x : this.work[l - 1].hs + B * H;
      k.gemm_tn((Gr + spec.weightIh.offset) * F, dgx * F, input * F, GH, In, TB, GH, In, In, 1);
      k.gemm_tn((Gr + spec.weightHh.offset) * F, dgh * F, w.hs * F, GH, H, TB, GH, H, H, 1);
      if (spec.biasIh) k.col_sum_acc((Gr + spec.biasIh.offset) * F, dgx * F, TB, GH, GH);
      if (spec.biasHh) k.col_sum_acc((Gr + spec.biasHh.offset) * F, dgh * F, TB, GH, GH);
      // dX = dGx W_ih : the gradient into the layer below (or dLoss/dx)
      if (l > 0) k.gemm_nn(this.work[l - 1].dhIn * F, dgx * F, Wih, TB, In, GH, GH, In, In, 0);
      else if (inputGrad) k.gemm_nn(io.dx * F, dgx * F, Wih, TB, In, GH, GH, In, In, 0);
    }
  }

  mseLoss(dy: number, y: number, target: number, n: number, scale: number): number {
    return this.k.mse_loss(dy * F, y * F, target * F, n, scale);
  }

  crossEntropyLoss(dy: number, y: number, target: number, rows: number, classes: number, scale: number): number {
    return this.k.ce_loss(dy * F, y * F, target * F, rows, classes, scale);
  }

  crossEntropyLossExt(dy: number, y: number, target: number, rows: number, classes: number, scale: number,
    weight: number, smoothing: number, rowLoss: number): number {
    // byte pointer 0 = none for the kernel
    return this.k.ce_loss_ext(dy * F, y * F, target * F, rows, classes, scale, weight < 0 ? 0 : weight * F, smoothing,
      rowLoss < 0 ? 0 : rowLoss * F);
  }

  fill(off: number, n: number, value: number): void {
    this.k.fill(off * F, n, value);
  }

  sumSquares(off: number, n: number): number {
    return this.k.sum_squares(off * F, n);
  }

  scale(off: number, n: number, s: number): void {
    this.k.scale(off * F, n, s);
  }

  clampAbs(off: number, n: number, v: number): void {
    this.k.clamp_abs(off * F, n, v);
  }

  sgdStep(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number,
    nesterov: boolean, weightDecay: number, firstStep: boolean): void {
    this.k.sgd_step(p * F, g * F, buf * F, n, lr, momentum, dampening, +nesterov, weightDecay, +firstStep);
  }

  adamStep(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, decoupled: boolean, amsgrad: boolean, stepSize: number,
    bc2Sqrt: number): void {
    this.k.adam_step(p * F, g * F, m * F, v * F, vmax * F, n, lr, beta1, beta2, eps, weightDecay, +decoupled, +amsgrad,
      stepSize, bc2Sqrt);
  }

  rmspropStep(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number,
    eps: number, weightDecay: number, momentum: number, centered: boolean): void {
    this.k.rmsprop_step(p * F, g * F, sq * F, gavg * F, buf * F, n, lr, alpha, eps, weightDecay, momentum, +centered);
  }

  adagradStep(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void {
    this.k.adagrad_step(p * F, g * F, sum * F, n, clr, weightDecay, eps);
  }
}
