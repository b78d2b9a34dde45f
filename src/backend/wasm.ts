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
// per forward (as W_hh^T) and once per backward (as W_hh), not once per timestep; a long
// forward of 1-3 rows per step packs it into row groups for gemm_nt_dot instead (and
// backward's gemm_nn_dot reads those groups).

import { BpttError } from '../errors.js';
import { Arena } from '../arena.js';
import { ioBuffersAt, type BackendInfo, type IOBuffers, type Sweep } from './types.js';
import { buildWorkspace, dotPackedFloats, GATES, packedBFloats, regionsAt, type Layout, type TensorSpec, type WasmCellName, type WasmSharedName, type Workspace } from '../layout.js';
import { host, type WasmBuild, type WasmSource } from '../host/host.js';
import { chooseGemmVariants, type GemmChoice, type GemmShape } from './gemm-trial.js';
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
  /** few rows against W packed for row dots: gemm_nt's result, bit for bit */
  dot_packed_floats(N: number, K: number): number;
  pack_dot(dst: number, W: number, N: number, K: number, ldw: number): void;
  gemm_nt_dot(C: number, A: number, Wp: number, W: number, M: number, N: number, K: number, lda: number, ldw: number, ldc: number, acc: number): void;
  /** few rows times B with B's rows packed by pack_dot: gemm_nn's result, bit for bit */
  gemm_nn_dot(C: number, A: number, Bp: number, B: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, acc: number): void;
  /** one-hot rows of X: their ids (1 when every row is one-hot or zero), and the two products with gemm_nt's and gemm_tn's values */
  onehot_ids(ids: number, X: number, rows: number, width: number, ldx: number): number;
  gemm_nt_onehot(C: number, ids: number, W: number, M: number, N: number, ldw: number, ldc: number): void;
  gemm_tn_onehot(C: number, A: number, B: number, ids: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number): void;
  /** micro-kernel variants of this build; info: MR | cols << 8 | shuffled << 16 | fused << 24 */
  gemm_variant_count(): number;
  gemm_variant_info(v: number): number;
  /** the variant entry point op (0 packed_b, 1 nt, 2 tn, 3 nn) runs for [M, N, K] */
  gemm_variant(op: number, M: number, N: number, K: number): number;
  set_gemm_variant(op: number, v: number): number;
  gemm_shape_class(M: number, N: number, K: number): number;
  gemm_class_count(): number;
  set_gemm_variant_class(op: number, cls: number, v: number): number;
  add_bias_rows(C: number, bias: number, M: number, N: number, ldc: number): void;
  add_bias2_rows(C: number, b1: number, b2: number, M: number, N: number, N2: number, ldc: number): void;
  /** dst (and dst2 unless 0) += column sums of A */
  col_sum_acc(dst: number, dst2: number, A: number, M: number, N: number, lda: number): void;
  rnn_forward_step(h: number, gx: number, gh: number, count: number, relu: number): void;
  rnn_backward_step(dpre: number, dh: number, h: number, count: number, relu: number): void;
  lstm_forward_step(h: number, c: number, gates: number, gx: number, gh: number, cPrev: number, B: number, H: number): void;
  lstm_backward_step(dgates: number, dcPrev: number, dh: number, dc: number, gates: number, c: number, cPrev: number, B: number, H: number): void;
  gru_forward_step(h: number, gates: number, hn: number, gx: number, gh: number, hPrev: number, bn: number, B: number, H: number): void;
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
  all_finite(p: number, n: number): number;
  scale(p: number, n: number, s: number): void;
  clamp_abs(p: number, n: number, v: number): void;
  add_to(dst: number, src: number, n: number): void;
  sgd_step(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number): void;
  adam_step(p: number, g: number, m: number, v: number, vmax: number, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, amsgrad: number, stepSize: number, bc2Sqrt: number): void;
  rmsprop_step(p: number, g: number, sq: number, gavg: number, buf: number, n: number, lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number): void;
  adagrad_step(p: number, g: number, sum: number, n: number, clr: number, weightDecay: number, eps: number): void;
}

export type { WasmBuild, WasmSource } from '../host/host.js';

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
 * A model's kernel instance and the arena over its memory, shared by its sweep (every
 * part of a parallel one) and its ops: compact() replaces the memory and `k` here, so all
 * of them run the new instance.
 */
export interface WasmRuntime {
  readonly arena: Arena;
  k: Kernels;
  /** the build and its compiled module (the GEMM trial instantiates it over a memory of its own); a worker thread's runtime has neither and never chooses */
  readonly build?: WasmBuild;
  readonly module?: WebAssembly.Module;
}

/** A fresh shared memory, a kernel instance over it and the arena that owns it. */
export async function createWasmRuntime(build: WasmBuild): Promise<WasmRuntime> {
  const module = await compileBuild(build);
  const k = await instantiateKernelsFrom(module, sharedMemory());
  // Everything below heap_base() is the module's static data (math tables, GEMM packing).
  return { k, arena: new Arena(k.memory, k.heap_base()), build, module };
}

/**
 * compact(), first half: a kernel instance over a fresh memory just large enough for the
 * runtime's persistent state. Nothing moves yet, so a failure here leaves the model as it was.
 */
export async function compactKernels(rt: WasmRuntime, build: WasmBuild): Promise<Kernels> {
  const memory = sharedMemory(Math.ceil(rt.arena.persistentBytes / 65536));
  return instantiateKernelsFrom(await compileBuild(build), memory);
}

/**
 * compact(), second half: move the persistent state to `k`'s memory (same offsets); from
 * here the runtime's sweep and ops run `k`. Threads over the old memory must be stopped first.
 */
export function moveRuntime(rt: WasmRuntime, k: Kernels): void {
  // the new instance wrote its static data; the copy writes the same bytes there
  rt.arena.moveTo(k.memory);
  rt.k = k;
}

/**
 * One (layer, direction) cell's buffers: float offsets by name, from the workspace table
 * (wasmRegions in layout.ts gives each one's shape). Rows are PACKED (PyTorch's
 * PackedSequence): the batch is sorted by decreasing length, so at step t the n_t
 * sequences still running are rows 0..n_t-1, stored at rows off_t .. off_t + n_t - 1 of
 * every [N, *] buffer (N = number of valid steps). Padding is never stored or computed.
 */
type CellWork = Record<WasmCellName, number>;

/** Buffers shared by all cells (float offsets by name; shapes in wasmRegions, layout.ts). */
type SharedWork = Record<WasmSharedName, number>;

/** Byte pointers of one cell's parameters (W_ih, W_hh, b_ih, b_hh) and gradients (the d* ones); a bias is 0 when the model has none. */
interface CellWeights {
  Wih: number; Whh: number; bih: number; bhh: number;
  dWih: number; dWhh: number; dbih: number; dbhh: number;
}

/** Sizes of the bound model (H, I, D directions, DH = D*H, GH = gates*H, O output width, top = the top layer's first cell) and byte strides (Hb = H*4, ...). */
interface Dims {
  H: number; I: number; D: number; DH: number; GH: number; O: number; top: number;
  /** 1 for a ReLU RNN */
  relu: number;
  Hb: number; GHb: number; Ib: number; Ob: number;
}

/** Byte pointers of the Linear head's out.weight and out.bias and their gradients; 0: no head (or no head bias). */
interface HeadWeights {
  W: number; b: number; dW: number; db: number;
}

/** The same buffers as byte pointers (0 stays 0: not laid out). */
function bytes<K extends string>(offsets: Record<K, number>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k in offsets) out[k] = offsets[k] * F;
  return out;
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
  /**
   * W_hh is packed for this batch (forward and backward alike): packing pays off over
   * several steps of PACK_MIN_ROWS rows or more (n[0], the first step, has the most). A
   * single step (sampling, streaming), and every step of fewer rows (batch 1-3, the short
   * tail of a variable-length batch), multiplies by W_hh as stored: the row kernels read
   * it in place at ~1.5x the packed 1-row kernel's speed.
   */
  packed: boolean;
  /**
   * Every step has fewer than PACK_MIN_ROWS rows (batch 1-3) and there are at least
   * DOT_MIN_STEPS of them: forward packs W_hh once into row groups for gemm_nt_dot, 1.2-1.5x
   * the row kernel on W_hh as stored, with the same bits; backward's dG_t W_hh reads the same
   * groups (gemm_nn_dot, 1.05-1.25x gemm_nn's row kernel, the same bits, no packing of its own).
   */
  dot: boolean;
  /**
   * Every valid row of x is one-hot or all zeros (a character model's one-hot inputs; the
   * ids in xHot): layer 0's X W_ih^T copies columns of W_ih and dW_ih += dGx^T X adds into
   * them (gemm_nt_onehot, gemm_tn_onehot), with the dense products' values at 1/I of
   * their work. Models with an embedding never look (their x is dense).
   */
  hot: boolean;
}

const F = 4; // bytes per float: kernels take byte pointers

/**
 * Rows at which a per-step product runs on packed W_hh: the kernels pack A and run the
 * register-tiled micro-kernels from 4 rows (gemm_packed_b's M >= 4); below that the packed
 * 1-row kernel reloads a broadcast per two multiply-adds, and W_hh as stored is faster
 * (gemm_nt's row dots forward, gemm_nn's row updates backward).
 */
const PACK_MIN_ROWS = 4;

/**
 * Steps from which a forward with fewer than PACK_MIN_ROWS rows per step packs W_hh for row
 * dots (gemm_nt_dot, same bits as gemm_nt): packing costs about two products and each step
 * then saves a third of one (relaxed build; a fifth on the plain one), so it pays off after
 * 6-10 steps (bench: W4, T 25, 4-5% a training step); a streaming step (T = 1) never packs.
 */
const DOT_MIN_STEPS = 16;

/**
 * The single-thread Wasm sweep. Threading is the factory's choice (backend/factory.ts): a
 * parallel sweep runs one of these per batch part, so this module never imports
 * backend/parallel.ts (which imports this one). `info` records the build, and for one
 * thread what was asked and why it fell back.
 */
export class WasmSweep implements Sweep {
  readonly kind = 'wasm' as const;
  info?: BackendInfo;
  private readonly rt: WasmRuntime;
  private readonly arena: Arena;
  private layout!: Layout;
  private P = 0;
  private G = 0;
  /** byte pointers of each cell's weights and biases and of their gradients (0: no bias), and the head's; set by bind */
  private wp: CellWeights[] = [];
  private head: HeadWeights = { W: 0, b: 0, dW: 0, db: 0 };
  /** the model's sizes and their byte strides, derived once in bind() (forward and backward read them) */
  private dim: Dims = { H: 0, I: 0, D: 1, DH: 0, GH: 0, O: 0, top: 0, relu: 0, Hb: 0, GHb: 0, Ib: 0, Ob: 0 };
  /** the current call's buffers: float offsets (for the typed-array copies) and the same as byte pointers (for the kernels) */
  private cells: CellWork[] = [];
  private bufs = {} as SharedWork;
  private cellsB: CellWork[] = [];
  private bufsB = {} as SharedWork;
  /** the table and base those pointers come from */
  private placed: Workspace | null = null;
  private placedAt = 0;
  /** the current workspace keeps every step of the per-step buffers (laid out for training) */
  private full = true;
  /** a forward's steps per time chunk (0 = all T in one): forward-only, one-direction models without dropout */
  private chunk = 0;
  private sched: Schedule | null = null;

  constructor(rt: WasmRuntime) {
    this.rt = rt;
    this.arena = rt.arena; // the same object for the model's life (compact moves its memory)
  }

  bind(layout: Layout, params: number, grads: number): void {
    this.layout = layout;
    this.P = params;
    this.G = grads;
    // The workspace table sizes W_hh's packed panels without asking the kernels (it is pure,
    // for the workers); a build whose packing needed more would write past them.
    const { hiddenSize: H, cell } = layout.config;
    const GH = GATES[cell] * H;
    const k = this.rt.k;
    if (k.packed_b_floats(H, GH) !== packedBFloats(H, GH) || k.packed_b_floats(GH, H) !== packedBFloats(GH, H)) {
      throw new BpttError(`bptt-wasm: internal error: the kernels pack W_hh into ${k.packed_b_floats(H, GH)} floats, the workspace table into ${packedBFloats(H, GH)}`);
    }
    if (k.dot_packed_floats(GH, H) !== dotPackedFloats(GH, H)) {
      throw new BpttError(`bptt-wasm: internal error: the kernels pack W_hh for row dots into ${k.dot_packed_floats(GH, H)} floats, the workspace table into ${dotPackedFloats(GH, H)}`);
    }
    // every tensor's byte pointer, once: the regions never move (compact keeps offsets)
    const at = (region: number, t: TensorSpec | null): number => (t ? (region + t.offset) * F : 0);
    this.wp = layout.layers.map((spec) => ({
      Wih: at(params, spec.weightIh), Whh: at(params, spec.weightHh), bih: at(params, spec.biasIh), bhh: at(params, spec.biasHh),
      dWih: at(grads, spec.weightIh), dWhh: at(grads, spec.weightHh), dbih: at(grads, spec.biasIh), dbhh: at(grads, spec.biasHh),
    }));
    this.head = { W: at(params, layout.outWeight), b: at(params, layout.outBias), dW: at(grads, layout.outWeight), db: at(grads, layout.outBias) };
    const { inputSize: I, numLayers: L, nonlinearity } = layout.config;
    const D = layout.D, O = layout.outputWidth;
    this.dim = {
      H, I, D, DH: D * H, GH, O, top: (L - 1) * D, relu: nonlinearity === 'relu' ? 1 : 0,
      Hb: H * F, GHb: GH * F, Ib: I * F, Ob: O * F,
    };
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  async compact(): Promise<void> {
    moveRuntime(this.rt, await compactKernels(this.rt, this.info?.wasmBuild ?? wasmBuild()));
  }

  /** Float offset of the gradient region this backend accumulates into. */
  get gradRegion(): number {
    return this.G;
  }

  /**
   * Lay out one call's I/O buffers and this sweep's buffers from float offset `base` (a
   * part of the parallel sweep, or its worker's mirror): the workspace table is pure, so
   * a worker needs only base, T, B and the two flags, never a state message.
   */
  layoutAt(base: number, T: number, B: number, train: boolean, dropout: boolean): IOBuffers {
    const ws = buildWorkspace(this.layout, T, B, train, dropout, 'wasm');
    this.place(ws, base);
    return ioBuffersAt(ws, base);
  }

  /** Floats layoutAt lays out. */
  partFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    return buildWorkspace(this.layout, T, B, train, dropout, 'wasm').floats;
  }

  /** Point this sweep's buffers into the workspace table `ws` laid out from float offset `base`. */
  private place(ws: Workspace, base: number): void {
    if (ws === this.placed && base === this.placedAt) return; // the same table at the same place: the same pointers
    this.placed = ws;
    this.placedAt = base;
    const work = ws.wasm!;
    this.cells = work.cells.map((c) => regionsAt(c, base));
    this.bufs = regionsAt(work.shared, base);
    this.cellsB = this.cells.map(bytes);
    this.bufsB = bytes(this.bufs);
    this.full = ws.train;
    this.chunk = work.chunk;
  }

  workFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    const ws = buildWorkspace(this.layout, T, B, train, dropout, 'wasm');
    return ws.floats - ws.ioFloats;
  }

  /** The sweep's buffers follow the model's I/O buffers in the same table. */
  prepare(io: IOBuffers, T: number, B: number): void {
    const ws = buildWorkspace(this.layout, T, B, io.train, io.mask !== 0, 'wasm', io.loss);
    this.place(ws, io.base);
    this.chooseGemm(ws, T, B);
  }

  /** workspace tables whose products have their GEMM variants chosen, in the instance tunedK */
  private tuned = new WeakSet<Workspace>();
  /** (weakly: after compact() the old instance and its memory must be free to go) */
  private tunedK: WeakRef<Kernels> | null = null;
  /** what the last new workspace's products run (model.info().gemm) */
  gemm: GemmChoice[] = [];

  gemmChoices(): GemmChoice[] {
    return this.gemm;
  }

  /**
   * The GEMM micro-kernel for every product a call of this table runs, rows sequences per
   * part (gemm-trial.ts: a timed trial the first time a class is seen in this process).
   * The parallel sweep calls it on the main thread for its first part: the choice table
   * is in the shared memory, so every worker runs what was chosen here.
   */
  chooseGemm(ws: Workspace, T: number, rows: number): void {
    const { k, build, module } = this.rt;
    const same = this.tunedK?.deref() === k;
    if (same && this.tuned.has(ws)) return; // the common case: a table seen before
    if (!build || !module) return;
    if (!same) {
      // a new instance (compact() replaced it): its choice table is written again
      this.tuned = new WeakSet();
      this.tunedK = new WeakRef(k);
    }
    this.tuned.add(ws);
    this.gemm = chooseGemmVariants(k, build, this.gemmShapes(T, rows, ws.train), () => instantiateKernelsSync(module, sharedMemory()));
  }

  /** The products forward (and with train, backward) runs for T steps of `rows` sequences (at most: fewer rows at padded steps). */
  private gemmShapes(T: number, rows: number, train: boolean): GemmShape[] {
    const { H, I, D, GH, O } = this.dim;
    const L = this.layout.config.numLayers;
    const N = T * rows, R = Math.min(T, this.chunk || T) * rows;
    const PB = 0, NT = 1, TN = 2, NN = 3;
    const out: GemmShape[] = [];
    const add = (op: number, M: number, n: number, K: number): void => { out.push({ op, M, N: n, K }); };
    for (let l = 0; l < L; l++) {
      const In = l === 0 ? I : H; // an upper layer's input product runs per direction
      add(NT, R, GH, In);
      add(PB, rows, GH, H);
      if (train) {
        add(PB, rows, H, GH);
        add(TN, GH, In, N);
        add(TN, GH, H, N);
        if (l > 0) add(NN, N, H, GH);
      }
    }
    if (O > 0) {
      add(NT, R, O, H);
      if (train) { add(TN, O, H, N); add(NN, N, H, O); }
    }
    if (train) add(NN, N, I, GH); // dLoss/dx, when asked for
    void D;
    return out;
  }

  /** Sort the batch by decreasing length (cuDNN / pack_padded_sequence): step t's rows are a prefix. */
  private schedule(io: IOBuffers, T: number, B: number): Schedule {
    const len = this.arena.i32.subarray(io.lengths, io.lengths + B);
    const perm = Int32Array.from({ length: B }, (_, b) => b).sort((a, b) => len[b] - len[a] || a - b);
    const n = new Int32Array(T + 1), off = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) for (let t = 0; t < len[b]; t++) n[t]++;
    for (let t = 0; t < T; t++) off[t + 1] = off[t] + n[t];
    const identity = perm.every((p, r) => p === r);
    const steps = len[perm[0]]; // steps with any valid row: the longest sequence's length
    const packed = off[T] >= 8 && n[0] >= PACK_MIN_ROWS;
    return { perm, n, off, identity, dense: identity && off[T] === T * B, packed, dot: n[0] < PACK_MIN_ROWS && steps >= DOT_MIN_STEPS, hot: false };
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

  /** Layer l, direction e's output as the next layer reads it (a byte pointer): masked in training with dropout. */
  private input(l: number, e: number, drop: boolean): number {
    const w = this.cellsB[l * this.layout.D + e];
    return drop ? w.hd : w.hs;
  }

  forward(io: IOBuffers, T: number, B: number): void {
    const sc = (this.sched = this.schedule(io, T, B));
    const k = this.rt.k;
    const { cell } = this.layout.config;
    const { H, I, D, DH, GH, O, top, relu, Hb, GHb, Ib, Ob } = this.dim;
    const { n, off, perm } = sc;
    const N = off[T];
    const bf = this.bufs, bb = this.bufsB;
    const xP = sc.dense ? io.x : bf.xP;
    const xPb = xP * F; // the caller's x (a float offset of IOBuffers) or its packed copy
    if (!sc.dense) this.moveRows(true, xP, I, io.x, I, I, T, B);
    // one-hot rows (Schedule.hot): found once, for every layer-0 cell and for backward
    sc.hot = bb.xHot !== 0 && k.onehot_ids(bb.xHot, xPb, N, I, I) === 1;
    const drop = this.arena.i32[io.maskOn] === 1;
    const { packed } = sc; // W_hh packed for this batch (Schedule.packed)
    for (let ci = 0; ci < this.cells.length; ci++) {
      if (packed) k.pack_b(this.cellsB[ci].WhhF, this.wp[ci].Whh, H, GH, H, 1);
      else if (sc.dot) k.pack_dot(this.cellsB[ci].WhhF, this.wp[ci].Whh, GH, H, H);
    }
    const { outWeight, outBias } = this.layout;
    const yP = sc.dense ? io.y : bf.yP;
    const yPb = yP * F;
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
        const w = this.cells[ci], wb = this.cellsB[ci], wt = this.wp[ci];
        const spec = this.layout.layers[ci];
        const { layer: l, dir: d } = spec;
        const fwd = d === 0;
        const f = this.arena.f32;
        const { Wih, Whh: WhhRaw } = wt;
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
        if (l === 0 && sc.hot) k.gemm_nt_onehot(wb.gx, bb.xHot + r0 * F, Wih, R, GH, I, GH);
        else if (l === 0) k.gemm_nt(wb.gx, xPb + r0 * Ib, Wih, R, GH, I, I, I, GH, 0);
        else {
          for (let e = 0; e < D; e++) {
            k.gemm_nt(wb.gx, this.input(l - 1, e, drop), Wih + e * Hb, R, GH, H, H, DH, GH, e > 0 ? 1 : 0);
          }
        }
        // RNN and LSTM only ever use gx + gh, so b_hh joins b_ih in the all-timestep input
        // projection once. GRU needs gh_n = W_hn h + b_hn on its own: b_hr and b_hz join
        // gx (the first 2H columns), and the step kernel adds b_hn in registers. Both
        // biases (a model has both or neither): (gx + b_ih) + b_hh in one pass over gx.
        const { bih, bhh } = wt;
        if (bih) k.add_bias2_rows(wb.gx, bih, bhh, R, GH, cell === 'gru' ? 2 * H : GH, GH);
        const bn = bhh && cell === 'gru' ? bhh + 2 * Hb : 0;
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
          const h = wb.hs + row * Hb, hp = wb.hp + st * Hb;
          const gx = wb.gx + row * GHb, gates = wb.gates + st * GHb;
          // Gh[n_t, GH] = h_{t-1} W_hh^T : the only per-step product, active rows only (b_hh is
          // in gx, or for GRU's b_hn added by the step kernel)
          if (packed && nt >= PACK_MIN_ROWS) k.gemm_packed_b(bb.gh, hp, wb.WhhF, nt, GH, H, H, GH, 0);
          else if (sc.dot) k.gemm_nt_dot(bb.gh, hp, wb.WhhF, WhhRaw, nt, GH, H, H, H, GH, 0);
          else k.gemm_nt(bb.gh, hp, WhhRaw, nt, GH, H, H, H, GH, 0);
          if (cell === 'rnn') {
            k.rnn_forward_step(h, gx, bb.gh, nt * H, relu);
          } else if (cell === 'lstm') {
            k.lstm_forward_step(h, wb.cs + row * Hb, gates, gx, bb.gh, wb.cp + st * Hb, nt, H);
          } else {
            k.gru_forward_step(h, gates, wb.hn + st * Hb, gx, bb.gh, hp, bn, nt, H);
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
        k.gemm_nt(yPb + r0 * Ob, this.cellsB[top + e].hs, this.head.W + e * Hb, R, O, H, H, DH, O, e > 0 ? 1 : 0);
      }
      if (this.head.b) k.add_bias_rows(yPb + r0 * Ob, this.head.b, R, O, O);
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
    const k = this.rt.k;
    const sc = this.sched!;
    const { cell } = this.layout.config;
    const { H, I, D, DH, GH, O, top, relu, Hb, GHb } = this.dim;
    const { n, off, perm } = sc;
    const N = off[T];
    const bf = this.bufs, bb = this.bufsB;
    const { outWeight } = this.layout;
    const dyP = sc.dense ? io.dy : bf.dyP;
    const dyPb = dyP * F; // the caller's dy (a float offset of IOBuffers) or its packed copy
    if (!outWeight) {
      for (let e = 0; e < D; e++) this.moveRows(true, this.cells[top + e].dhIn, H, io.dy + e * H, DH, H, T, B);
    } else {
      if (!sc.dense) this.moveRows(true, dyP, O, io.dy, O, O, T, B);
      // dW_out[O, D*H] += dY^T [H_fwd H_rev] ; db_out += colsum(dY) ; dH_top[N, H] = dY W_out (per block)
      for (let e = 0; e < D; e++) {
        const top_ = this.cellsB[top + e];
        k.gemm_tn(this.head.dW + e * Hb, dyPb, top_.hs, O, H, N, O, H, DH, 1);
        k.gemm_nn(top_.dhIn, dyPb, this.head.W + e * Hb, N, H, O, O, DH, H, 0);
      }
      if (this.head.db) k.col_sum_acc(this.head.db, 0, dyPb, N, O, O);
    }
    const dxP = sc.dense ? io.dx : bf.dxP;
    const dxPb = dxP * F, xPb = (sc.dense ? io.x : bf.xP) * F;
    const { packed } = sc;
    const drop = this.arena.i32[io.maskOn] === 1;
    for (let ci = this.cells.length - 1; ci >= 0; ci--) {
      const wb = this.cellsB[ci], wt = this.wp[ci];
      const spec = this.layout.layers[ci];
      const { layer: l, dir: d } = spec;
      const fwd = d === 0;
      const Wih = wt.Wih;
      // W_hh packed once for all T steps of dh_{t-1} = dG_t W_hh (as stored for a single step)
      const WhhRaw = wt.Whh, Whh = wb.WhhB;
      if (packed) k.pack_b(Whh, WhhRaw, GH, H, H, 0);
      // (a forward of row dots left W_hh packed in WhhF: its row groups serve here too)
      const recur = (C: number, A: number, rows: number, acc: number) => {
        if (packed && rows >= PACK_MIN_ROWS) k.gemm_packed_b(C, A, Whh, rows, H, GH, GH, H, acc);
        else if (sc.dot) k.gemm_nn_dot(C, A, wb.WhhF, WhhRaw, rows, H, GH, GH, H, H, acc);
        else k.gemm_nn(C, A, WhhRaw, rows, H, GH, GH, H, H, acc);
      };
      // The input projections are no longer needed: their buffer holds dGx now.
      const dgx = wb.gx;
      const dgh = cell === 'gru' ? wb.dgh : wb.gx; // RNN/LSTM: the same pre-activation gradient
      // dh and its GRU ping-pong partner, as float offsets (typed-array copies) and bytes (kernels)
      let dh = bf.dhA, spare = bf.dhB, dhb = bb.dhA, spareb = bb.dhB;
      const dc = bf.dc, dcb = bb.dc;
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
        k.add_to(dhb, wb.dhIn + off[t] * Hb, nt * H);
        f[io.norms + ci * T + t] = k.row_norms_clip(dhb, nt, H, clip);
        const gates = wb.gates + off[t] * GHb;
        const dgxT = dgx + off[t] * GHb, dghT = dgh + off[t] * GHb;
        if (cell === 'rnn') {
          k.rnn_backward_step(dgxT, dhb, wb.hs + off[t] * Hb, nt * H, relu);
          recur(dhb, dgxT, nt, 0); // dhnext = dhraw W_hh
        } else if (cell === 'lstm') {
          k.lstm_backward_step(dgxT, dcb, dhb, dcb, gates, wb.cs + off[t] * Hb, wb.cp + off[t] * Hb, nt, H);
          recur(dhb, dgxT, nt, 0);
        } else {
          k.gru_backward_step(dgxT, dghT, spareb, dhb, gates, wb.hn + off[t] * Hb, wb.hp + off[t] * Hb, nt, H);
          recur(spareb, dghT, nt, 1); // dhnext = z * dh + dGh W_hh
          const sw = dh; dh = spare; spare = sw;
          const swb = dhb; dhb = spareb; spareb = swb;
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
      if (l === 0 && sc.hot) k.gemm_tn_onehot(wt.dWih, dgx, xPb, bb.xHot, GH, I, N, GH, I, I);
      else if (l === 0) k.gemm_tn(wt.dWih, dgx, xPb, GH, I, N, GH, I, I, 1);
      else {
        for (let e = 0; e < D; e++) {
          k.gemm_tn(wt.dWih + e * Hb, dgx, this.input(l - 1, e, drop), GH, H, N, GH, H, DH, 1);
        }
      }
      k.gemm_tn(wt.dWhh, dgh, wb.hp, GH, H, N, GH, H, H, 1);
      // both biases or neither; RNN/LSTM: the same column sums (dgh is dgx), read once
      if (wt.dbih && dgh === dgx) k.col_sum_acc(wt.dbih, wt.dbhh, dgx, N, GH, GH);
      else if (wt.dbih) {
        k.col_sum_acc(wt.dbih, 0, dgx, N, GH, GH);
        k.col_sum_acc(wt.dbhh, 0, dgh, N, GH, GH);
      }
      // dX = dGx W_ih : the gradient into the layer below (both its directions) or dLoss/dx;
      // cells run last direction first: the first to write sets, the other adds
      const acc = d < D - 1 ? 1 : 0;
      if (l > 0) {
        for (let e = 0; e < D; e++) {
          k.gemm_nn(this.cellsB[(l - 1) * D + e].dhIn, dgx, Wih + e * Hb, N, H, GH, GH, DH, H, acc);
        }
      } else if (inputGrad) k.gemm_nn(dxPb, dgx, Wih, N, I, GH, GH, I, I, acc);
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
}
