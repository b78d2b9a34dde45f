// The arena: one WebAssembly.Memory per model, owned by TypeScript.
//
// Every buffer (parameters, gradients, optimizer state, activations, inputs) is a
// float offset into this memory, handed out by a bump allocator. Kernels (Wasm or
// JS) receive offsets and never allocate. Typed-array views are rebuilt after
// `memory.grow`, which detaches the old buffer (tfjs-backend-wasm's rule): never
// hold a view across an allocation.

import { BpttError } from './errors.js';

const PAGE = 65536;
/** Every allocation starts on a 64-byte boundary (a cache line; f32x4 needs 16). */
const ALIGN_FLOATS = 16;

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** next free float index */
  private top: number;
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
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
    this.f64View = new Float64Array(memory.buffer);
  }

  /** Reserve n floats (zeroed: fresh pages are zero and the arena never reuses memory). */
  alloc(n: number): number {
    if (this.frozen) throw new BpttError('bptt-wasm: internal error: a worker thread tried to allocate in the shared arena');
    const off = this.top;
    this.top = off + Math.ceil(Math.max(n, 1) / ALIGN_FLOATS) * ALIGN_FLOATS;
    const needBytes = this.top * 4;
    const have = this.memory.buffer.byteLength;
    if (needBytes > have) {
      // Grow geometrically so a sequence of growing requests costs O(log n) grows.
      const needed = Math.ceil((needBytes - have) / PAGE);
      let pages = Math.max(needed, Math.ceil(have / PAGE / 2));
      try {
        this.memory.grow(pages);
      } catch {
        // the geometric step may pass the memory's maximum where the request itself fits
        pages = needed;
        try {
          this.memory.grow(pages);
        } catch {
          this.top = off;
          throw new BpttError(`bptt-wasm: out of memory: ${(needBytes / 2 ** 20).toFixed(0)} MiB needed in this model's ` +
            `memory (${(have / 2 ** 20).toFixed(0)} MiB now; Wasm memories stop at 2-4 GiB). Use smaller T, B or hiddenSize.`);
        }
      }
    }
    return off;
  }

  /** Bytes in use, for reports. */
  get usedBytes(): number {
    return this.top * 4;
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
    return this.f32.slice(off, off + n);
  }

  write(off: number, src: ArrayLike<number>): void {
    this.f32.set(src, off);
  }
}
