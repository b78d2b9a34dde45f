// Multi-core training, a Sweep over the model's Wasm runtime and ops (backend/factory.ts composes
// them; the ops run on this thread): the batch is split into contiguous row blocks
// ("parts"); each part (with its rows' lengths; each part sorts and packs its own rows)
// runs the whole single-thread Wasm schedule (backend/wasm.ts) on its own rows, part 0 on
// the calling thread and the others in worker_threads, all over ONE shared
// WebAssembly.Memory. Sequences in a batch are independent through time, so the only
// cross-part work is summing weight gradients (each worker part accumulates into a
// private gradient region that is added into the model's after the sweep) and combining
// the per-step gradient norms. Two synchronisations per training step: after forward,
// after backward.
//
// Synchronisation is through a small control block in the shared memory: the caller
// bumps a sequence number and notifies; a worker spins briefly, then Atomics.wait()s
// (spinning alone collapses when the other core is busy); the caller waits the same way.

import type { BackendInfo, IOBuffers, Ops, Sweep } from './types.js';
import type { Arena } from '../arena.js';
import { BpttError } from '../errors.js';
import { compileBuild, configuredWorker, compactKernels, moveRuntime, WasmSweep, type WasmBuild, type WasmRuntime } from './wasm.js';
import { host, type ThreadHandle } from '../host/host.js';
import { buildWorkspace, type Layout } from '../layout.js';
import type { GemmChoice } from './gemm-trial.js';
import { type BindMessage, CMD, CTRL, SPIN } from './protocol.js';

const DISPOSED = 'bptt-wasm: this model was disposed (its worker threads are stopped); create a new one';

interface Part {
  sweep: WasmSweep; //     for part 0 the live one; for workers the main-thread twin that owns the offsets
  io: IOBuffers | null;
  grads: number; //        gradient region this part accumulates into
  row0: number; //         first batch row of the current split
  rows: number;
  worker: ThreadHandle | null;
  ctrl: number; //         int32 offset of this part's control block
  scratch: number; //      float offset of this part's GEMM packing scratch (workers)
  seq: number;
  /** float offset of this part's buffers in the current call's workspace */
  base: number;
}

/**
 * A sweep over `threads` batch parts, over the model's Wasm runtime and ops (the ops sum
 * the parts' gradients); its worker threads run when this resolves.
 */
export async function createParallelSweep(rt: WasmRuntime, ops: Ops, threads: number, build: WasmBuild): Promise<Sweep> {
  const sweep = new ParallelSweep(rt, ops, threads, build);
  await sweep.start();
  return sweep;
}

class ParallelSweep implements Sweep {
  readonly kind = 'wasm' as const;
  readonly threads: number;
  readonly info: BackendInfo;
  private readonly rt: WasmRuntime;
  private readonly arena: Arena;
  private readonly ops: Ops;
  private readonly build: WasmBuild;
  private layout!: Layout;
  private parts: Part[] = [];
  private main: WasmSweep;
  private disposed = false;

  constructor(rt: WasmRuntime, ops: Ops, threads: number, build: WasmBuild) {
    this.rt = rt;
    this.arena = rt.arena;
    this.ops = ops;
    this.threads = threads;
    this.build = build;
    this.info = { wasmBuild: build, threads, threadsRequested: threads, threadsNote: null };
    this.main = new WasmSweep(rt);
  }

  async start(): Promise<void> {
    for (let p = 0; p < this.threads; p++) {
      const ctrl = this.arena.alloc(CTRL.SIZE);
      // Each extra instance needs its own GEMM packing scratch (the first one uses the
      // module's static area); concurrent GEMMs sharing one would corrupt each other.
      const scratch = p > 0 ? this.arena.alloc(this.rt.k.scratch_bytes() / 4) : 0;
      this.parts.push({ sweep: p === 0 ? this.main : new WasmSweep(this.rt), io: null, grads: 0, row0: 0, rows: 0,
        worker: null, ctrl, scratch, seq: 0, base: 0 });
    }
    await this.startWorkers();
  }

  /** Start a worker for every part but the first, over the arena's (current) memory. */
  private async startWorkers(): Promise<void> {
    const module = await compileBuild(this.build);
    const ready: Promise<ThreadHandle>[] = [];
    for (const part of this.parts.slice(1)) {
      ready.push(host().startThread({ memory: this.arena.memory, module, ctrl: part.ctrl, scratch: part.scratch }, configuredWorker()));
    }
    const started = await Promise.allSettled(ready);
    started.forEach((r, i) => { if (r.status === 'fulfilled') this.parts[i + 1].worker = r.value; });
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      this.dispose(); // the threads that did start
      throw (failed as PromiseRejectedResult).reason;
    }
  }

  /** Stop every worker (each finishes its loop on EXIT). */
  private stopWorkers(): void {
    for (const part of this.parts) {
      if (!part.worker) continue;
      this.command(part, CMD.EXIT, 0, 0, 0, false);
      void part.worker.terminate();
      part.worker = null;
    }
  }

  /**
   * A fresh shared memory of the size the persistent state needs: the workers stop, the
   * state moves (same offsets), the control blocks start over, and new workers start over
   * the new memory.
   */
  async compact(): Promise<void> {
    if (this.disposed) throw new BpttError(DISPOSED, 'model');
    const k = await compactKernels(this.rt, this.build);
    // from here until the new workers run, a call would find no workers: prepare() refuses it
    this.restarting = true;
    this.stopWorkers();
    moveRuntime(this.rt, k); // every part's sweep and the ops share the runtime: all run k now
    for (const part of this.parts) {
      part.io = null;
      part.seq = 0;
      this.arena.i32.fill(0, part.ctrl, part.ctrl + CTRL.SIZE); // a new worker starts from sequence 0
    }
    this.active = [];
    try {
      await this.startWorkers();
    } finally {
      this.restarting = false;
    }
    this.bindWorkers();
  }

  /** compact() is restarting the workers */
  private restarting = false;

  gemmChoices(): GemmChoice[] {
    return this.main.gemmChoices();
  }

  bind(layout: Layout, params: number, grads: number): void {
    this.layout = layout;
    this.params = params;
    this.parts.forEach((part, p) => {
      part.grads = p === 0 ? grads : this.arena.alloc(layout.numParams);
      part.sweep.bind(layout, params, part.grads);
    });
    this.bindWorkers();
  }

  private params = 0;

  /** Tell each worker the model's config and its regions (after bind, and after compact restarts them). */
  private bindWorkers(): void {
    if (!this.layout) return;
    for (const part of this.parts) {
      if (!part.worker) continue;
      part.worker.postMessage({ config: this.layout.config, P: this.params, G: part.grads } satisfies BindMessage);
      this.command(part, CMD.BIND, 0, 0, 0, false);
      this.wait(part);
      this.checkErrors([part]);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.stopWorkers();
  }

  /** Split B rows into at most `threads` contiguous blocks (the same split for the same B). */
  private split(B: number): Part[] {
    const n = Math.min(this.parts.length, B);
    const active = this.parts.slice(0, n);
    let row = 0;
    active.forEach((part, p) => {
      const rows = Math.floor(B / n) + (p < B % n ? 1 : 0);
      part.row0 = row;
      part.rows = rows;
      row += rows;
    });
    return active;
  }

  /** the parts of the current call (laid out by prepare) */
  private active: Part[] = [];

  workFloats(T: number, B: number, train: boolean, dropout: boolean): number {
    if (B === 1) return this.main.workFloats(T, B, train, dropout);
    let floats = 0;
    for (const part of this.split(B)) floats += part.sweep.partFloats(T, part.rows, train, dropout);
    return floats;
  }

  /**
   * Lay out each part's workspace table (its I/O buffers and the Wasm sweep's buffers for
   * its rows), one after another after the model's I/O buffers. A worker lays out its part
   * itself from the base, T, rows and flags in its control block.
   */
  prepare(io: IOBuffers, T: number, B: number): void {
    if (this.disposed) throw new BpttError(DISPOSED, 'model');
    if (this.restarting) throw new BpttError('bptt-wasm: model.compact() is restarting the worker threads; await it before the next call', 'model');
    if (B === 1) {
      // one sequence (sampling, streaming): nothing to split, no copies
      this.active = [];
      this.main.prepare(io, T, B);
      return;
    }
    const parts = (this.active = this.split(B));
    this.train = io.train;
    this.dropout = io.mask !== 0;
    let at = io.base + buildWorkspace(this.layout, T, B, this.train, this.dropout, null, io.loss).floats;
    for (const part of parts) {
      part.base = at;
      part.io = part.sweep.layoutAt(at, T, part.rows, this.train, this.dropout);
      at += part.sweep.partFloats(T, part.rows, this.train, this.dropout);
    }
    // the parts' products (the first part has the most rows): variants chosen on this thread
    this.main.chooseGemm(buildWorkspace(this.layout, T, parts[0].rows, this.train, this.dropout, 'wasm'), T, parts[0].rows);
  }

  /** how the current call's parts were laid out */
  private train = false;
  private dropout = false;

  /** Copy rows [row0, row0 + rows) of `steps` blocks of [B, width] between full and part buffers. */
  private rowsCopy(toPart: boolean, full: number, part: number, steps: number, B: number, row0: number, rows: number, width: number): void {
    const f = this.arena.f32;
    for (let s = 0; s < steps; s++) {
      const a = full + (s * B + row0) * width, b = part + s * rows * width, n = rows * width;
      if (toPart) f.copyWithin(b, a, a + n); else f.copyWithin(a, b, b + n);
    }
  }

  forward(io: IOBuffers, T: number, B: number): void {
    if (this.disposed) throw new BpttError(DISPOSED, 'model');
    if (B === 1) {
      this.main.forward(io, T, B);
      return;
    }
    const parts = this.active;
    const { inputSize: I, hiddenSize: H, cell } = this.layout.config;
    const L = this.layout.layers.length; // state rows: layers times directions
    const O = this.layout.outputWidth;
    for (const p of parts) {
      this.rowsCopy(true, io.x, p.io!.x, T, B, p.row0, p.rows, I);
      // (int32 lengths: copyWithin moves the bits unchanged)
      this.rowsCopy(true, io.lengths, p.io!.lengths, 1, B, p.row0, p.rows, 1);
      // dropout masks [L-1, T, B, D*H], and whether this call applies them
      this.arena.i32[p.io!.maskOn] = this.arena.i32[io.maskOn];
      if (io.mask && this.arena.i32[io.maskOn]) {
        const Lc = this.layout.config.numLayers, DH = this.layout.D * H;
        this.rowsCopy(true, io.mask, p.io!.mask, (Lc - 1) * T, B, p.row0, p.rows, DH);
      }
      this.rowsCopy(true, io.h0, p.io!.h0, L, B, p.row0, p.rows, H);
      if (cell === 'lstm') this.rowsCopy(true, io.c0, p.io!.c0, L, B, p.row0, p.rows, H);
    }
    this.runAll(parts, CMD.FORWARD, T, 0, false, (p) => p.sweep.forward(p.io!, T, p.rows));
    for (const p of parts) {
      this.rowsCopy(false, io.y, p.io!.y, T, B, p.row0, p.rows, O);
      this.rowsCopy(false, io.hN, p.io!.hN, L, B, p.row0, p.rows, H);
      if (cell === 'lstm') this.rowsCopy(false, io.cN, p.io!.cN, L, B, p.row0, p.rows, H);
    }
  }

  backward(io: IOBuffers, T: number, B: number, clip: number, inputGrad: boolean): void {
    if (this.disposed) throw new BpttError(DISPOSED, 'model');
    if (B === 1) {
      this.main.backward(io, T, B, clip, inputGrad);
      return;
    }
    const parts = this.active;
    const { inputSize: I, hiddenSize: H, cell } = this.layout.config;
    const L = this.layout.layers.length;
    const O = this.layout.outputWidth;
    const n = this.layout.numParams;
    for (const p of parts) this.rowsCopy(true, io.dy, p.io!.dy, T, B, p.row0, p.rows, O);
    // worker parts start from zero in their private regions (they zero them themselves)
    this.runAll(parts, CMD.BACKWARD, T, clip, inputGrad, (p) => p.sweep.backward(p.io!, T, p.rows, clip, inputGrad));
    const f = this.arena.f32;
    // squared norms summed in float64: in float32 they overflow (or underflow) where one thread's would not
    if (this.normSq.length < L * T) this.normSq = new Float64Array(L * T);
    const sq = this.normSq.fill(0, 0, L * T);
    for (const p of parts) {
      if (p !== this.parts[0]) this.ops.addTo(this.parts[0].grads, p.grads, n);
      if (inputGrad) this.rowsCopy(false, io.dx, p.io!.dx, T, B, p.row0, p.rows, I);
      this.rowsCopy(false, io.dh0, p.io!.dh0, L, B, p.row0, p.rows, H);
      if (cell === 'lstm') this.rowsCopy(false, io.dc0, p.io!.dc0, L, B, p.row0, p.rows, H);
      // Frobenius norms over the whole batch from the parts' norms: sqrt(sum of squares)
      for (let i = 0; i < L * T; i++) sq[i] += f[p.io!.norms + i] * f[p.io!.norms + i];
    }
    for (let i = 0; i < L * T; i++) f[io.norms + i] = Math.sqrt(sq[i]);
  }

  /** scratch for the squared norms (kept: steady training allocates nothing) */
  private normSq = new Float64Array(0);

  private runAll(parts: Part[], cmd: number, T: number, clip: number, inputGrad: boolean, local: (p: Part) => void): void {
    for (const p of parts) if (p.worker) this.command(p, cmd, T, p.rows, clip, inputGrad);
    try {
      local(parts[0]);
    } finally {
      // every worker finishes before anything is reported, so no control block is reused
      // while its worker still runs
      for (const p of parts) if (p.worker) this.wait(p);
    }
    this.checkErrors(parts);
  }

  /** Throw (once) if a worker reported a failure; the flags are cleared for the next call. */
  private checkErrors(parts: Part[]): void {
    const i32 = this.arena.i32;
    let failed = 0;
    for (const p of parts) {
      if (p.worker && i32[p.ctrl + CTRL.ERROR] !== 0) {
        failed++;
        i32[p.ctrl + CTRL.ERROR] = 0;
      }
    }
    if (failed) throw new BpttError(`bptt-wasm: ${failed} worker thread(s) failed (their errors are on stderr)`);
  }

  private command(part: Part, cmd: number, T: number, B: number, clip: number, inputGrad: boolean): void {
    const i32 = this.arena.i32;
    const c = part.ctrl;
    i32[c + CTRL.CMD] = cmd;
    i32[c + CTRL.T] = T;
    i32[c + CTRL.B] = B;
    i32[c + CTRL.INPUT_GRAD] = inputGrad ? 1 : 0;
    i32[c + CTRL.BASE] = part.base;
    i32[c + CTRL.TRAIN] = this.train ? 1 : 0;
    i32[c + CTRL.DROPOUT] = this.dropout ? 1 : 0;
    // a float64 slot: workers clip at exactly the threshold the caller's part uses
    this.arena.f64[(c + CTRL.CLIP) / 2] = clip;
    part.seq++;
    Atomics.store(i32, c + CTRL.SEQ, part.seq);
    Atomics.notify(i32, c + CTRL.SEQ);
  }

  private wait(part: Part): void {
    const i32 = this.arena.i32;
    const at = part.ctrl + CTRL.DONE;
    const block = host().canBlock; // a page's main thread may not Atomics.wait: it only spins
    let spins = 0;
    for (;;) {
      const done = Atomics.load(i32, at);
      if (done === part.seq) break;
      if (++spins > SPIN && block) Atomics.wait(i32, at, done, 50);
    }
  }
}
