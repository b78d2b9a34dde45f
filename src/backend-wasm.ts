// The Wasm backend: AssemblyScript SIMD kernels (assembly/) over one linear memory that
// this file's Arena owns, driven by a cuDNN-style BPTT schedule:
//   forward:  Gx = X W_ih^T + b_ih for ALL timesteps as one GEMM; per step only the
//             recurrent product Gh = h_{t-1} W_hh^T + b_hh and a fused gate kernel.
//   backward: per step (t = T-1 .. 0) the gate kernel and dh_{t-1} = dG_t W_hh; after the
//             sweep, dW_ih += dG^T X and dW_hh += dG^T H_prev as ONE GEMM each over all
//             timesteps ("BPTT accumulation over timesteps" as one big product).
// Variable lengths: the batch is sorted by decreasing length and stored packed (only valid
// steps, step t's rows a prefix), so every product runs on active rows only. A
// bidirectional layer is two such cells, the reverse one stepping t = T-1 .. 0.
// W_hh is the same matrix at every step: it is packed into the GEMM's panel layout once
// per forward (as W_hh^T) and once per backward (as W_hh), not once per timestep.

import { BpttError } from './errors.js';
import { Arena, alignedFloats, counter, type Take } from './arena.js';
import { allocIOBuffers, type Backend, type BackendInfo, type IOBuffers } from './backend.js';
import { GATES, type Layout } from './layout.js';
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
  embedding_forward(out: number, weight: number, ids: number, n: number, dim: number): void;
  embedding_backward(dweight: number, dout: number, ids: number, n: number, dim: number, skip: number): void;
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

/** A fresh memory for one model (compact() asks for exactly the pages the persistent state needs). */
export function sharedMemory(initialPages = INITIAL_PAGES): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: MAXIMUM_PAGES, shared: true });
}

/** Instantiate a compiled kernel module over `memory` (the kernels import env.memory). */
export async function instantiateKernelsFrom(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Kernels> {
  return kernelsOf(await WebAssembly.instantiate(module, kernelImports(memory)), memory);
}

/**
 * instantiateKernelsFrom without a promise, for Node's kernel tests and benches (a page
 * should instantiate asynchronously): the same imports and the same Kernels object.
 */
export function instantiateKernelsSync(module: WebAssembly.Module, memory: WebAssembly.Memory): Kernels {
  return kernelsOf(new WebAssembly.Instance(module, kernelImports(memory)), memory);
}

// env.memory is the module's only import (the kernels never call out)
const kernelImports = (memory: WebAssembly.Memory): WebAssembly.Imports => ({ env: { memory } });
const kernelsOf = (instance: WebAssembly.Instance, memory: WebAssembly.Memory): Kernels =>
  ({ ...(instance.exports as unknown as Kernels), memory });

export async function instantiateKernels(build: WasmBuild = wasmBuild(), memory: WebAssembly.Memory = sharedMemory()): Promise<Kernels> {
  return instantiateKernelsFrom(await compileBuild(build), memory);
}

/**
 * A single-thread Wasm backend. Threading is the factory's choice (backends.ts), so this
 * module never imports backend-parallel.ts (which imports this one). `threadsRequested` and
 * `threadsNote` only record what was asked and why it fell back to one thread.
 */
export async function createWasmBackend(build: WasmBuild = wasmBuild(), threadsRequested = 1, threadsNote: string | null = null): Promise<Backend> {
  const k = await instantiateKernels(build);
  // Everything below heap_base() is the module's static data (math tables, GEMM packing).
  const be = new WasmBackend(k, new Arena(k.memory, k.heap_base()));
  be.info = { wasmBuild: build, threads: 1, threadsRequested, threadsNote };
  return be;
}

/**
 * One (layer, direction) cell's workspace. Rows are PACKED (PyTorch's PackedSequence):
 * the batch is sorted by decreasing length, so at step t the n_t sequences still running
 * are rows 0..n_t-1, stored at rows off_t .. off_t + n_t - 1 of every [N, *] buffer
 * (N = number of valid steps). Padding is never stored or computed.
 */
interface CellWork {
  WhhF: number; //  W_hh^T [H, G*H] packed for forward's h_{t-1} W_hh^T (packed by every forward)
  WhhB: number; //  W_hh [G*H, H] packed for backward's dG_t W_hh (training; packed by every backward)
  gx: number; //    [N, G*H] input projections incl. b_ih (forward); reused as dGx (backward)
  hs: number; //    [N, H] h_t
  hp: number; //    [N, H] h_{t-1} as step t read it (h0 rows at each sequence's first step)
  cs: number; //    [N, H] LSTM c_t
  cp: number; //    [N, H] LSTM c_{t-1}
  gates: number; // [N, G*H] activated gates
  hn: number; //    [N, H]   GRU W_hn h_{t-1} + b_hn
  dgh: number; //   [N, G*H] GRU only: gradient of the recurrent pre-activations
  dhIn: number; //  [N, H]   dLoss/dh_t from above (head or next layer)
  mp: number; //    [N, H]   dropout mask on h_t, packed (layers below the top, with dropout; else 0)
  hd: number; //    [N, H]   h_t * mask: the next layer's input in training
  hLast: number; // [B, H]   a forward in time chunks: h_t of the previous chunk's last step
  cLast: number; // [B, H]   LSTM: c_t of that step
}

/** Buffers shared by all cells (float offsets). */
interface SharedWork {
  xP: number; //  [N, I] x in packed row order
  yP: number; //  [N, O] head output, packed
  dyP: number; // [N, O]
  dxP: number; // [N, I]
  gh: number; //  [B, G*H] recurrent projection of one step
  dhA: number; // [B, H]   dh / dhnext ping-pong
  dhB: number;
  dc: number; //  [B, H]   LSTM dc_next
}

/** The batch's packed schedule, from io.lengths (recomputed by every forward). */
interface Schedule {
  /** perm[r] = the caller's row of sorted row r (stable sort by decreasing length) */
  perm: Int32Array;
  /** n[t] = sequences with length > t, n[T] = 0 */
  n: Int32Array;
  /** off[t] = first packed row of step t, off[T] = N */
  off: Int32Array;
  /** perm is the identity (rows already sorted): step blocks copy in one piece */
  identity: boolean;
  /** every sequence has all T steps and perm is the identity: packed = the caller's layout */
  dense: boolean;
}

const F = 4; // bytes per float: kernels take byte pointers
/**
 * Rows (steps x sequences) per time chunk of a forward-only call: enough for the input
 * projection's GEMM to run near full speed, small enough that a chunk's activations stay
 * in cache-sized megabytes (GRU, hidden 32: 2048 rows are 1 MB of gx + hs).
 */
const CHUNK_ROWS = 2048;

export class WasmBackend implements Backend {
  readonly kind = 'wasm' as const;
  readonly arena: Arena;
  info?: BackendInfo;
  private k: Kernels;
  private layout!: Layout;
  private P = 0;
  private G = 0;
  private cells: CellWork[] = [];
  private bufs: SharedWork = { xP: 0, yP: 0, dyP: 0, dxP: 0, gh: 0, dhA: 0, dhB: 0, dc: 0 };
  /** the current workspace keeps every step of the per-step buffers (laid out for training) */
  private full = true;
  /** a forward's steps per time chunk (0 = all T in one): forward-only, one-direction models without dropout */
  private chunk = 0;
  private sched: Schedule | null = null;

  constructor(k: Kernels, arena: Arena) {
    this.k = k;
    this.arena = arena;
  }

  bind(layout: Layout, params: number, grads: number): void {
    this.layout = layout;
    this.P = params;
    this.G = grads;
    // every cell buffer is in the workspace (layoutWork): bind allocates nothing, so a
    // worker's mirror binds the same way
    this.cells = [];
    for (let i = 0; i < layout.layers.length; i++) {
      this.cells.push({
        WhhF: 0, WhhB: 0,
        gx: 0, hs: 0, hp: 0, cs: 0, cp: 0, gates: 0, hn: 0, dgh: 0, dhIn: 0, mp: 0, hd: 0, hLast: 0, cLast: 0,
      });
    }
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  /** The kernel instance (the parallel backend rebinds its twins after compact). */
  get kernels(): Kernels {
    return this.k;
  }

  set kernels(k: Kernels) {
    this.k = k;
  }

  async compact(): Promise<void> {
    const build = this.info?.wasmBuild ?? wasmBuild();
    const memory = sharedMemory(Math.ceil(this.arena.persistentBytes / 65536));
    const k = await instantiateKernelsFrom(await compileBuild(build), memory);
    // the new instance wrote its static data; the copy below writes the same bytes there
    this.arena.moveTo(memory);
    this.k = k;
  }

  /** Float offset of the gradient region this backend accumulates into. */
  get gradRegion(): number {
    return this.G;
  }

  /**
   * Lay out one call's I/O buffers and this backend's workspace from float offset `base`
   * (a part of the parallel backend, or its worker's mirror: the same arguments give the
   * same offsets, so a worker needs only base, T, B and the two flags, never a state message).
   */
  layoutAt(base: number, T: number, B: number, train: boolean, dropout: boolean): IOBuffers {
    let at = base;
    const take: Take = (n) => { const o = at; at += alignedFloats(n); return o; };
    const io = allocIOBuffers(take, this.layout, T, B, train, dropout);
    this.layoutWork(take, T, B, train, dropout);
    return io;
  }

  /** Floats layoutAt lays out. */
  partFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    const c = counter();
    allocIOBuffers(c.take, this.layout, T, B, train, dropout);
    return c.floats + this.workFloats(T, B, train, dropout);
  }

  /**
   * Lay out this backend's workspace for exactly (T, B) from `take` (pure in its arguments:
   * the same call gives the same offsets, which is how a worker's mirror stays valid).
   * train false (a forward only): no gradient buffers, and the per-step buffers (h_{t-1},
   * c_{t-1}, gates, GRU's hn) hold one step instead of all N rows, since nothing reads them
   * later. A one-direction model without dropout then also runs in time chunks of about
   * CHUNK_ROWS rows (forward): per layer only one chunk of input projections, h_t and c_t.
   * A bidirectional layer's reverse direction needs the whole layer below, so those keep
   * h_t and c_t of every step.
   */
  layoutWork(take: Take, T: number, B: number, train: boolean, dropout: boolean): void {
    const { hiddenSize: H, inputSize: I, cell } = this.layout.config;
    const GH = GATES[cell] * H;
    const O = this.layout.outputWidth;
    const N = T * B;
    const S = train ? N : B; // rows of the per-step buffers
    const g = (n: number): number => (train ? take(n) : 0);
    const drop = dropout && (this.layout.config.dropout ?? 0) > 0;
    const chunk = !train && !drop && this.layout.D === 1 ? Math.max(1, Math.min(T, Math.floor(CHUNK_ROWS / B))) : 0;
    const R = chunk ? chunk * B : N; // rows of gx, hs, cs
    for (const [ci, w] of this.cells.entries()) {
      w.WhhF = take(this.k.packed_b_floats(H, GH));
      w.WhhB = g(this.k.packed_b_floats(GH, H));
      const masked = drop && this.layout.layers[ci].layer < this.layout.config.numLayers - 1;
      w.mp = masked ? take(N * H) : 0;
      w.hd = masked ? take(N * H) : 0;
      w.gx = take(R * GH);
      w.hs = take(R * H);
      w.hp = take(S * H);
      w.cs = cell === 'lstm' ? take(R * H) : 0;
      w.cp = cell === 'lstm' ? take(S * H) : 0;
      w.gates = take(S * GH);
      w.hn = cell === 'gru' ? take(S * H) : 0;
      w.dgh = cell === 'gru' ? g(N * GH) : 0;
      w.dhIn = g(N * H);
      w.hLast = chunk ? take(B * H) : 0;
      w.cLast = chunk && cell === 'lstm' ? take(B * H) : 0;
    }
    this.bufs = {
      xP: take(N * I), yP: take(N * O), dyP: g(N * O), dxP: g(N * I),
      gh: take(B * GH), dhA: g(B * H), dhB: g(B * H), dc: g(B * H),
    };
    this.full = train;
    this.chunk = chunk;
  }

  workFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    const c = counter();
    this.layoutWork(c.take, T, B, train, dropout);
    return c.floats;
  }

  prepare(io: IOBuffers, T: number, B: number): void {
    this.layoutWork(this.arena.take, T, B, io.train, io.mask !== 0);
  }

  /** Sort the batch by decreasing length (cuDNN / pack_padded_sequence): step t's rows are a prefix. */
  private schedule(io: IOBuffers, T: number, B: number): Schedule {
    const len = this.arena.i32.subarray(io.lengths, io.lengths + B);
    const perm = Int32Array.from({ length: B }, (_, b) => b).sort((a, b) => len[b] - len[a] || a - b);
    const n = new Int32Array(T + 1), off = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) for (let t = 0; t < len[b]; t++) n[t]++;
    for (let t = 0; t < T; t++) off[t + 1] = off[t] + n[t];
    const identity = perm.every((p, r) => p === r);
    return { perm, n, off, identity, dense: identity && off[T] === T * B };
  }

  /**
   * Copy every valid (t, b) row between a packed buffer (row off_t + r, stride ps) and a
   * time-major [T, B, *] one (row t*B + perm[r], stride fs): `width` floats each.
   */
  private moveRows(toPacked: boolean, packed: number, ps: number, full: number, fs: number, width: number, T: number, B: number): void {
    const { perm, n, off, identity } = this.sched!;
    const f = this.arena.f32;
    for (let t = 0; t < T; t++) {
      const nt = n[t];
      if (identity && ps === width && fs === width) {
        const p = packed + off[t] * width, q = full + t * B * width, m = nt * width;
        if (toPacked) f.copyWithin(p, q, q + m); else f.copyWithin(q, p, p + m);
        continue;
      }
      for (let r = 0; r < nt; r++) {
        const p = packed + (off[t] + r) * ps, q = full + (t * B + perm[r]) * fs;
        if (toPacked) f.copyWithin(p, q, q + width); else f.copyWithin(q, p, p + width);
      }
    }
  }

  /** Set every padded (t, b) row of a [T, B, width] buffer to `row` (a float offset) or to 0. */
  private fillPadded(full: number, width: number, row: number | null, T: number, B: number): void {
    const { perm, n } = this.sched!;
    const f = this.arena.f32;
    for (let t = 0; t < T; t++) {
      for (let r = n[t]; r < B; r++) {
        const q = full + (t * B + perm[r]) * width;
        if (row === null) f.fill(0, q, q + width); else f.copyWithin(q, row, row + width);
      }
    }
  }

  /** Layer l, direction e's output as the next layer reads it: masked in training with dropout. */
  private input(l: number, e: number, drop: boolean): number {
    const w = this.cells[l * this.layout.D + e];
    return drop ? w.hd : w.hs;
  }

  forward(io: IOBuffers, T: number, B: number): void {
    const sc = (this.sched = this.schedule(io, T, B));
    const k = this.k;
    const { hiddenSize: H, inputSize: I, cell, nonlinearity } = this.layout.config;
    const D = this.layout.D, DH = D * H;
    const GH = GATES[cell] * H;
    const relu = nonlinearity === 'relu' ? 1 : 0;
    const { n, off, perm } = sc;
    const N = off[T];
    const bf = this.bufs;
    const xP = sc.dense ? io.x : bf.xP;
    if (!sc.dense) this.moveRows(true, xP, I, io.x, I, I, T, B);
    const drop = this.arena.i32[io.maskOn] === 1;
    // Packing W_hh pays off over several steps; a single step (sampling, streaming)
    // multiplies by W_hh as stored.
    const packed = N >= 8;
    for (let ci = 0; ci < this.cells.length; ci++) {
      const spec = this.layout.layers[ci];
      if (packed) k.pack_b(this.cells[ci].WhhF * F, (this.P + spec.weightHh.offset) * F, H, GH, H, 1);
    }
    const { outWeight, outBias } = this.layout;
    const top = (this.layout.config.numLayers - 1) * D;
    const O = this.layout.outputWidth;
    const yP = sc.dense ? io.y : bf.yP;
    // Time chunks of `chunk` steps (all T for training and bidirectional models, whose
    // buffers hold every step): every layer runs over one chunk, then the head, then the
    // next chunk, so a forward only keeps one chunk of activations per layer. A cell's rows
    // of hs/gx/cs are relative to the chunk's first packed row r0 = off[t0].
    const chunk = this.chunk || T;
    for (let t0 = 0; t0 < T; t0 += chunk) {
      const t1 = Math.min(T, t0 + chunk);
      const r0 = off[t0], R = off[t1] - r0;
      if (R === 0) break;
      if (t0 > 0) {
        // the last step of the previous chunk, which this chunk's first step continues from
        for (const w of this.cells) {
          const from = (off[t0 - 1] - (off[t0 - chunk])) * H, m = n[t0 - 1] * H;
          this.arena.f32.copyWithin(w.hLast, w.hs + from, w.hs + from + m);
          if (cell === 'lstm') this.arena.f32.copyWithin(w.cLast, w.cs + from, w.cs + from + m);
        }
      }
      for (let ci = 0; ci < this.cells.length; ci++) {
        const w = this.cells[ci];
        const spec = this.layout.layers[ci];
        const { layer: l, dir: d } = spec;
        const fwd = d === 0;
        const f = this.arena.f32;
        const WhhRaw = (this.P + spec.weightHh.offset) * F;
        const Wih = (this.P + spec.weightIh.offset) * F;
        // Gx[R, GH] = X[R, In] W_ih^T + b_ih : every valid timestep of the chunk in one GEMM.
        // Above layer 0 X is [h_fwd, h_rev] of the layer below: one product split over its two column blocks.
        if (l > 0 && d === 0 && drop) {
          // inverted dropout on the layer below's output: hd = hs * mask (elementwise; cheap
          // next to the products that read it; training: one chunk)
          for (let e = 0; e < D; e++) {
            const below = this.cells[(l - 1) * D + e];
            this.moveRows(true, below.mp, H, io.mask + (l - 1) * T * B * DH + e * H, DH, H, T, B);
            for (let i = 0; i < N * H; i++) f[below.hd + i] = f[below.hs + i] * f[below.mp + i];
          }
        }
        if (l === 0) k.gemm_nt(w.gx * F, (xP + r0 * I) * F, Wih, R, GH, I, I, I, GH, 0);
        else {
          for (let e = 0; e < D; e++) {
            k.gemm_nt(w.gx * F, this.input(l - 1, e, drop) * F, Wih + e * H * F, R, GH, H, H, DH, GH, e > 0 ? 1 : 0);
          }
        }
        if (spec.biasIh) k.add_bias_rows(w.gx * F, (this.P + spec.biasIh.offset) * F, R, GH, GH);
        // RNN and LSTM only ever use gx + gh, so b_hh joins b_ih in the all-timestep input
        // projection once; GRU needs gh_n = W_hn h + b_hn on its own, so it adds b_hh per step.
        let bhh = spec.biasHh ? (this.P + spec.biasHh.offset) * F : 0;
        if (bhh && cell !== 'gru') {
          k.add_bias_rows(w.gx * F, bhh, R, GH, GH);
          bhh = 0;
        }
        const h0 = io.h0 + ci * B * H, c0 = io.c0 + ci * B * H;
        for (let s = t0; s < t1; s++) {
          const t = fwd ? s : T - 1 - s; // (bidirectional models run one chunk: s covers 0..T-1)
          const nt = n[t];
          if (nt === 0) continue;
          // h_{t-1} of step t's rows: the first c continue from the previous step (in this
          // direction's order; the saved last step when it is in the previous chunk), the
          // rest start here from h0 (reverse: at their own last step)
          const p = fwd ? t - 1 : t + 1;
          const c = p >= 0 && p < T ? Math.min(n[p], nt) : 0;
          const hPrev = p < t0 ? w.hLast : w.hs + (off[p] - r0) * H;
          const cPrev = p < t0 ? w.cLast : w.cs + (off[p] - r0) * H;
          // per-step buffers: row off[t] when laid out for training, row 0 for a forward only
          const st = this.full ? off[t] : 0;
          const hpT = w.hp + st * H;
          if (c > 0) f.copyWithin(hpT, hPrev, hPrev + c * H);
          for (let r = c; r < nt; r++) f.copyWithin(hpT + r * H, h0 + perm[r] * H, h0 + (perm[r] + 1) * H);
          if (cell === 'lstm') {
            const cpT = w.cp + st * H;
            if (c > 0) f.copyWithin(cpT, cPrev, cPrev + c * H);
            for (let r = c; r < nt; r++) f.copyWithin(cpT + r * H, c0 + perm[r] * H, c0 + (perm[r] + 1) * H);
          }
          const row = off[t] - r0;
          const h = (w.hs + row * H) * F;
          const gx = (w.gx + row * GH) * F, gates = (w.gates + st * GH) * F;
          // Gh[n_t, GH] = h_{t-1} W_hh^T + b_hh : the only per-step product, active rows only
          if (packed) k.gemm_packed_b(bf.gh * F, hpT * F, w.WhhF * F, nt, GH, H, H, GH, 0);
          else k.gemm_nt(bf.gh * F, hpT * F, WhhRaw, nt, GH, H, H, H, GH, 0);
          if (bhh) k.add_bias_rows(bf.gh * F, bhh, nt, GH, GH);
          if (cell === 'rnn') {
            k.rnn_forward_step(h, gx, bf.gh * F, nt * H, relu);
          } else if (cell === 'lstm') {
            k.lstm_forward_step(h, (w.cs + row * H) * F, gates, gx, bf.gh * F, (w.cp + st * H) * F, nt, H);
          } else {
            k.gru_forward_step(h, gates, (w.hn + st * H) * F, gx, bf.gh * F, hpT * F, nt, H);
          }
          // rows whose last step (in this direction) this is: their h_n / c_n
          const q = fwd ? t + 1 : t - 1;
          const cq = q >= 0 && q < T ? Math.min(n[q], nt) : 0;
          for (let r = cq; r < nt; r++) {
            const src = row + r, dst = ci * B + perm[r];
            f.copyWithin(io.hN + dst * H, w.hs + src * H, w.hs + (src + 1) * H);
            if (cell === 'lstm') f.copyWithin(io.cN + dst * H, w.cs + src * H, w.cs + (src + 1) * H);
          }
        }
      }
      // Y[R, O] = [H_fwd H_rev] W_out^T + b_out : one GEMM (per direction block) for every step of the chunk
      if (!outWeight) {
        // no head: the output is the top layer's h_t (bidirectional: one chunk, moved below)
        if (D === 1) this.arena.f32.copyWithin(yP + r0 * H, this.cells[top].hs, this.cells[top].hs + R * H);
        continue;
      }
      for (let e = 0; e < D; e++) {
        k.gemm_nt((yP + r0 * O) * F, this.cells[top + e].hs * F, (this.P + outWeight.offset + e * H) * F, R, O, H, H, DH, O, e > 0 ? 1 : 0);
      }
      if (outBias) k.add_bias_rows((yP + r0 * O) * F, (this.P + outBias.offset) * F, R, O, O);
    }
    if (!outWeight) {
      if (D === 1) {
        if (!sc.dense) this.moveRows(false, yP, H, io.y, H, H, T, B);
      } else {
        for (let e = 0; e < D; e++) this.moveRows(false, this.cells[top + e].hs, H, io.y + e * H, DH, H, T, B);
      }
      if (!sc.dense) this.fillPadded(io.y, DH, null, T, B);
      return;
    }
    if (!sc.dense) {
      this.moveRows(false, yP, O, io.y, O, O, T, B);
      // the stack's output is 0 there: y = b_out (0 for a head without bias)
      this.fillPadded(io.y, O, outBias ? this.P + outBias.offset : null, T, B);
    }
  }

  backward(io: IOBuffers, T: number, B: number, clip: number, inputGrad: boolean): void {
    if (!this.full) throw new BpttError('bptt-wasm: internal error: backward after a forward-only workspace');
    const k = this.k;
    const sc = this.sched!;
    const { hiddenSize: H, inputSize: I, numLayers: L, cell, nonlinearity } = this.layout.config;
    const D = this.layout.D, DH = D * H;
    const GH = GATES[cell] * H;
    const relu = nonlinearity === 'relu' ? 1 : 0;
    const P = this.P, Gr = this.G;
    const { n, off, perm } = sc;
    const N = off[T];
    const bf = this.bufs;
    const top = (L - 1) * D;
    const { outWeight, outBias } = this.layout;
    const O = this.layout.outputWidth;
    const dyP = sc.dense ? io.dy : bf.dyP;
    if (!outWeight) {
      for (let e = 0; e < D; e++) this.moveRows(true, this.cells[top + e].dhIn, H, io.dy + e * H, DH, H, T, B);
    } else {
      if (!sc.dense) this.moveRows(true, dyP, O, io.dy, O, O, T, B);
      // dW_out[O, D*H] += dY^T [H_fwd H_rev] ; db_out += colsum(dY) ; dH_top[N, H] = dY W_out (per block)
      for (let e = 0; e < D; e++) {
        const hs = this.cells[top + e].hs * F;
        k.gemm_tn((Gr + outWeight.offset + e * H) * F, dyP * F, hs, O, H, N, O, H, DH, 1);
        k.gemm_nn(this.cells[top + e].dhIn * F, dyP * F, (P + outWeight.offset + e * H) * F, N, H, O, O, DH, H, 0);
      }
      if (outBias) k.col_sum_acc((Gr + outBias.offset) * F, dyP * F, N, O, O);
    }
    const dxP = sc.dense ? io.dx : bf.dxP;
    const packed = N >= 8;
    const drop = this.arena.i32[io.maskOn] === 1;
    for (let ci = this.cells.length - 1; ci >= 0; ci--) {
      const w = this.cells[ci];
      const spec = this.layout.layers[ci];
      const { layer: l, dir: d } = spec;
      const fwd = d === 0;
      const Wih = (P + spec.weightIh.offset) * F;
      // W_hh packed once for all T steps of dh_{t-1} = dG_t W_hh (as stored for a single step)
      const WhhRaw = (P + spec.weightHh.offset) * F, Whh = w.WhhB * F;
      if (packed) k.pack_b(Whh, WhhRaw, GH, H, H, 0);
      const recur = (C: number, A: number, rows: number, acc: number) => {
        if (packed) k.gemm_packed_b(C, A, Whh, rows, H, GH, GH, H, acc);
        else k.gemm_nn(C, A, WhhRaw, rows, H, GH, GH, H, H, acc);
      };
      // The input projections are no longer needed: their buffer holds dGx now.
      const dgx = w.gx;
      const dgh = cell === 'gru' ? w.dgh : w.gx; // RNN/LSTM: the same pre-activation gradient
      let dh = bf.dhA, spare = bf.dhB;
      const dc = bf.dc;
      const f = this.arena.f32; // no allocation happens during backward, so the view stays valid
      for (let s = 0; s < T; s++) {
        const t = fwd ? T - 1 - s : s;
        const nt = n[t];
        if (nt === 0) {
          f[io.norms + ci * T + t] = 0;
          continue;
        }
        // dh holds dLoss/dh_t through the recurrence for rows that continue into the next
        // step of this direction's order (q); rows whose chain starts here begin at 0
        const q = fwd ? t + 1 : t - 1;
        const cq = q >= 0 && q < T ? Math.min(n[q], nt) : 0;
        f.fill(0, dh + cq * H, dh + nt * H);
        if (cell === 'lstm') f.fill(0, dc + cq * H, dc + nt * H);
        // dh = dhIn_t + dhnext ; per-sequence clipping; ||dh|| for the diagnostics
        k.add_to(dh * F, (w.dhIn + off[t] * H) * F, nt * H);
        f[io.norms + ci * T + t] = k.row_norms_clip(dh * F, nt, H, clip);
        const gates = (w.gates + off[t] * GH) * F;
        const dgxT = (dgx + off[t] * GH) * F, dghT = (dgh + off[t] * GH) * F;
        if (cell === 'rnn') {
          k.rnn_backward_step(dgxT, dh * F, (w.hs + off[t] * H) * F, nt * H, relu);
          recur(dh * F, dgxT, nt, 0); // dhnext = dhraw W_hh
        } else if (cell === 'lstm') {
          k.lstm_backward_step(dgxT, dc * F, dh * F, dc * F, gates, (w.cs + off[t] * H) * F, (w.cp + off[t] * H) * F, nt, H);
          recur(dh * F, dgxT, nt, 0);
        } else {
          k.gru_backward_step(dgxT, dghT, spare * F, dh * F, gates, (w.hn + off[t] * H) * F, (w.hp + off[t] * H) * F, nt, H);
          recur(spare * F, dghT, nt, 1); // dhnext = z * dh + dGh W_hh
          const sw = dh; dh = spare; spare = sw;
        }
        // rows that started at this step (read h0 here): dLoss/dh0, dLoss/dc0
        const p = fwd ? t - 1 : t + 1;
        const c = p >= 0 && p < T ? Math.min(n[p], nt) : 0;
        for (let r = c; r < nt; r++) {
          const dst = (ci * B + perm[r]) * H;
          f.copyWithin(io.dh0 + dst, dh + r * H, dh + (r + 1) * H);
          if (cell === 'lstm') f.copyWithin(io.dc0 + dst, dc + r * H, dc + (r + 1) * H);
        }
      }
      // Weight gradients, summed over every valid timestep in one GEMM each:
      // dW_ih += dGx^T X ; dW_hh += dGh^T H_prev ; biases += column sums
      if (l === 0) k.gemm_tn((Gr + spec.weightIh.offset) * F, dgx * F, (sc.dense ? io.x : bf.xP) * F, GH, I, N, GH, I, I, 1);
      else {
        for (let e = 0; e < D; e++) {
          k.gemm_tn((Gr + spec.weightIh.offset + e * H) * F, dgx * F, this.input(l - 1, e, drop) * F, GH, H, N, GH, H, DH, 1);
        }
      }
      k.gemm_tn((Gr + spec.weightHh.offset) * F, dgh * F, w.hp * F, GH, H, N, GH, H, H, 1);
      if (spec.biasIh) k.col_sum_acc((Gr + spec.biasIh.offset) * F, dgx * F, N, GH, GH);
      if (spec.biasHh) k.col_sum_acc((Gr + spec.biasHh.offset) * F, dgh * F, N, GH, GH);
      // dX = dGx W_ih : the gradient into the layer below (both its directions) or dLoss/dx;
      // cells run last direction first: the first to write sets, the other adds
      const acc = d < D - 1 ? 1 : 0;
      if (l > 0) {
        for (let e = 0; e < D; e++) {
          k.gemm_nn(this.cells[(l - 1) * D + e].dhIn * F, dgx * F, Wih + e * H * F, N, H, GH, GH, DH, H, acc);
        }
      } else if (inputGrad) k.gemm_nn(dxP * F, dgx * F, Wih, N, I, GH, GH, I, I, acc);
      if (l > 0 && d === 0 && drop) {
        // both directions of this layer are done: back through the dropout, dh *= mask
        const f = this.arena.f32;
        for (let e = 0; e < D; e++) {
          const below = this.cells[(l - 1) * D + e];
          for (let i = 0; i < N * H; i++) f[below.dhIn + i] *= f[below.mp + i];
        }
      }
    }
    if (inputGrad && !sc.dense) {
      this.moveRows(false, dxP, I, io.dx, I, I, T, B);
      this.fillPadded(io.dx, I, null, T, B); // padding is never read: its gradient is 0
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

  embeddingForward(out: number, weight: number, ids: number, n: number, dim: number): void {
    this.k.embedding_forward(out * F, weight * F, ids * F, n, dim);
  }

  embeddingBackward(dWeight: number, dOut: number, ids: number, n: number, dim: number, skipId: number): void {
    this.k.embedding_backward(dWeight * F, dOut * F, ids * F, n, dim, skipId);
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
