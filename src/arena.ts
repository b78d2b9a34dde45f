// The arena: one WebAssembly.Memory per model, owned by TypeScript.
//
// Two kinds of memory, both float offsets into this memory:
//   - persistent (alloc): parameters, gradients, optimizer state, the threads' gradient regions and
//     control blocks. Bump-allocated once, never freed, never moved (except by
//     compact(), which copies all of it to the same offsets in a fresh memory).
//   - the workspace (beginWorkspace / take): one call's inputs, outputs and activations,
//     laid out above the persistent memory for that call's own (T, B), and laid out again
//     from the same base by the next call. It is REUSED, not leaked: the memory in use is
//     persistent + the current call's workspace, whatever shapes came before.
// Kernels (Wasm or JS) receive offsets and never allocate. Typed-array views are rebuilt
// after `memory.grow`, which detaches the old buffer (tfjs-backend-wasm's rule): never
// hold a view across an allocation.

import { BpttError } from './errors.js';

const PAGE = 65536;
/** Every allocation starts on a 64-byte boundary (a cache line; f32x4 needs 16). */
export const ALIGN_FLOATS = 16;

/** Floats an allocation of n floats occupies (what take() and alloc() advance by). */
export const alignedFloats = (n: number): number => Math.ceil(Math.max(n, 1) / ALIGN_FLOATS) * ALIGN_FLOATS;

/** Something that hands out float offsets (the arena's workspace). */
export type Take = (n: number) => number;

export class Arena {
  memory: WebAssembly.Memory;
  /** next free persistent float index (= the workspace's base) */
  private top: number;
  /** end of the current workspace (float index; = top when none is laid out) */
  private wsTop: number;
  /** end of the reserved workspace: take() beyond it is an internal error */
  private wsEnd: number;
  /** highest float index ever handed out: memory below it may hold old workspace values */
  private high: number;
  private f32View: Float32Array;
  private i32View: Int32Array;
  private f64View: Float64Array;

  /** a read/write view of memory another arena allocates (a worker thread's): alloc() throws */
  private readonly frozen: boolean;

  /** @param baseBytes first byte the arena may use (after the Wasm module's static data) */
  constructor(memory: WebAssembly.Memory, baseBytes: number, opts: { frozen?: boolean } = {}) {
    this.memory = memory;
    this.frozen = opts.frozen ?? false;
    this.top = Math.ceil(baseBytes / 4 / ALIGN_FLOATS) * ALIGN_FLOATS;
    this.wsTop = this.wsEnd = this.high = this.top;
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
    this.f64View = new Float64Array(memory.buffer);
  }

  /** Make floats [0, endFloats) addressable; throws a BpttError (and grows nothing) if the memory cannot. */
  private ensure(endFloats: number, what: string): void {
    const needBytes = endFloats * 4;
    const have = this.memory.buffer.byteLength;
    if (needBytes <= have) return;
    // Grow geometrically so a sequence of growing requests costs O(log n) grows.
    const needed = Math.ceil((needBytes - have) / PAGE);
    try {
      this.memory.grow(Math.max(needed, Math.ceil(have / PAGE / 2)));
    } catch {
      // the geometric step may pass the memory's maximum where the request itself fits
      try {
        this.memory.grow(needed);
      } catch {
        throw new BpttError(`bptt-wasm: out of memory: ${(needBytes / 2 ** 20).toFixed(0)} MiB needed in this model's ` +
          `memory for ${what} (${(have / 2 ** 20).toFixed(0)} MiB now; Wasm memories stop at 2-4 GiB). ` +
          'Use smaller T, B or hiddenSize (model.predict(x, { batchSize }) for inference).');
      }
    }
  }

  /**
   * Reserve n persistent floats, zeroed. Persistent memory goes where the workspace was, so
   * the current workspace is gone afterwards (allocate persistent things outside a call).
   */
  alloc(n: number): number {
    if (this.frozen) throw new BpttError('bptt-wasm: internal error: a worker thread tried to allocate in the shared arena');
    const off = this.top;
    const end = off + alignedFloats(n);
    this.ensure(end, 'persistent state');
    // fresh pages are zero; memory an earlier workspace used is not
    if (off < this.high) this.f32.fill(0, off, Math.min(end, this.high));
    this.top = this.wsTop = this.wsEnd = end;
    this.high = Math.max(this.high, end);
    return off;
  }

  /**
   * Start one call's workspace of `floats` floats at the base (the end of persistent memory),
   * growing the memory first so nothing inside the call grows it. The previous call's
   * workspace is overwritten. Values are NOT zeroed: layouts initialise what they read.
   */
  beginWorkspace(floats: number): void {
    if (this.frozen) throw new BpttError('bptt-wasm: internal error: a worker thread tried to lay out the workspace');
    this.ensure(this.top + floats, 'this call\'s workspace');
    this.wsTop = this.top;
    this.wsEnd = this.top + floats;
    this.high = Math.max(this.high, this.wsEnd);
  }

  /** n floats of the current workspace (reserved by beginWorkspace). */
  readonly take: Take = (n: number): number => {
    const off = this.wsTop;
    const end = off + alignedFloats(n);
    if (end > this.wsEnd) throw new BpttError('bptt-wasm: internal error: a workspace layout took more than it reserved');
    this.wsTop = end;
    return off;
  };

  /** Bytes in use: persistent memory plus the current call's workspace. */
  get usedBytes(): number {
    return this.wsEnd * 4;
  }

  /** Bytes of persistent memory (parameters, gradients, optimizer state, ...), incl. the module's static data. */
  get persistentBytes(): number {
    return this.top * 4;
  }

  /** Bytes the memory holds (a Wasm memory never shrinks; compact() replaces it). */
  get capacityBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Move everything persistent into `memory` (a fresh one, at the same offsets, so every
   * offset anyone holds stays valid); the workspace is dropped.
   */
  moveTo(memory: WebAssembly.Memory): void {
    const bytes = this.top * 4;
    const need = Math.ceil(bytes / PAGE) - memory.buffer.byteLength / PAGE;
    if (need > 0) memory.grow(need);
    new Uint8Array(memory.buffer).set(new Uint8Array(this.memory.buffer, 0, bytes));
    this.memory = memory;
    this.wsTop = this.wsEnd = this.high = this.top;
    this.refresh();
  }

  /** Current Float32Array view over the whole memory (rebuilt after growth). */
  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer || this.f32View.length === 0) this.refresh();
    return this.f32View;
  }

  /** Current Int32Array view (class ids share the memory). */
  get i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer || this.i32View.length === 0) this.refresh();
    return this.i32View;
  }

  /** Current Float64Array view (index = byte offset / 8; for the threads' control blocks). */
  get f64(): Float64Array {
    if (this.f64View.buffer !== this.memory.buffer || this.f64View.length === 0) this.refresh();
    return this.f64View;
  }

  private refresh(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.i32View = new Int32Array(this.memory.buffer);
    this.f64View = new Float64Array(this.memory.buffer);
  }

  /** A copy of n floats at off. */
  read(off: number, n: number): Float32Array {
    // a copy (new + set: TypedArray.prototype.slice takes V8's slow species path)
    const out = new Float32Array(n);
    out.set(this.f32.subarray(off, off + n));
    return out;
  }

  write(off: number, src: ArrayLike<number>): void {
    this.f32.set(src, off);
  }
}
