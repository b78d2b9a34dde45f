// The arena: one WebAssembly.Memory per model, owned by TypeScript.
//
// Every buffer (parameters, gradients, optimizer state, activations, inputs) is a
// float offset into this memory, handed out by a bump allocator. Kernels (Wasm or
// JS) receive offsets and never allocate. Typed-array views are rebuilt after
// `memory.grow`, which detaches the old buffer (tfjs-backend-wasm's rule): never
// hold a view across an allocation.

const PAGE = 65536;
/** Every allocation starts on a 64-byte boundary (a cache line; f32x4 needs 16). */
const ALIGN_FLOATS = 16;

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** next free float index */
  private top: number;
  private f32View: Float32Array;
  private i32View: Int32Array;

  /** @param baseBytes first byte the arena may use (after the Wasm module's static data) */
  constructor(memory: WebAssembly.Memory, baseBytes: number) {
    this.memory = memory;
    this.top = Math.ceil(baseBytes / 4 / ALIGN_FLOATS) * ALIGN_FLOATS;
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
  }

  /** Reserve n floats (zeroed: fresh pages are zero and the arena never reuses memory). */
  alloc(n: number): number {
    const off = this.top;
    this.top = off + Math.ceil(Math.max(n, 1) / ALIGN_FLOATS) * ALIGN_FLOATS;
    const needBytes = this.top * 4;
    const have = this.memory.buffer.byteLength;
    if (needBytes > have) {
      // Grow geometrically so a sequence of growing requests costs O(log n) grows.
      const pages = Math.max(Math.ceil((needBytes - have) / PAGE), Math.ceil(have / PAGE / 2));
      this.memory.grow(pages);
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

  private refresh(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.i32View = new Int32Array(this.memory.buffer);
  }

  /** A copy of n floats at off. */
  read(off: number, n: number): Float32Array {
    return this.f32.slice(off, off + n);
  }

  write(off: number, src: ArrayLike<number>): void {
    this.f32.set(src, off);
  }
}
