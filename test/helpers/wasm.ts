// Loads the two kernel builds for tests and benchmarks, and gives them a small
// bump heap with guard bands so tests can prove a kernel wrote only its outputs.

import { instantiateKernelsSync, sharedMemory, type Kernels as LibKernels } from '../../src/backend/wasm.js';
import { compileBuildSync } from '../../src/host/node.js';
import { Rng } from '../../src/rng.js';

/** The Wasm exports (assembly/index.ts), as the library declares them. Pointers are byte addresses; flags 0/1. */
export type Kernels = LibKernels;

export type BuildName = 'simd' | 'relaxed';

export type Loaded =
  | { name: BuildName; kernels: Kernels; instantiate: (memory: WebAssembly.Memory) => Kernels; skip?: undefined }
  | { name: BuildName; kernels: null; instantiate: null; skip: string };

/** A fresh shared memory as the library makes them (the module imports env.memory). */
export function newMemory(): WebAssembly.Memory {
  return sharedMemory();
}

/**
 * Compiles one build with the library's Node loader (src/host/node.ts, which sets Node
 * 20's relaxed-SIMD flag first) and instantiates it over a fresh memory.
 * `instantiate` makes further instances (e.g. over the same memory).
 */
export function loadBuild(name: BuildName): Loaded {
  const module = compileBuildSync(name);
  if (!module) {
    return { name, kernels: null, instantiate: null, skip: `build/bptt.${name}.wasm does not validate on Node ${process.version} (V8 ${process.versions.v8}), even with --experimental-wasm-relaxed-simd` };
  }
  const instantiate = (memory: WebAssembly.Memory) => instantiateKernelsSync(module, memory);
  return { name, kernels: instantiate(newMemory()), instantiate };
}

/** A float buffer in Wasm memory: byte pointer and float offset. */
export interface Buf {
  ptr: number;
  off: number;
  n: number;
}

/** A row-major window [rows, cols] with leading dimension ld, at float offset off. */
export interface Window {
  off: number;
  rows: number;
  cols: number;
  ld: number;
}

const GUARD = 16; // floats of guard band on each side of every buffer
const SENTINEL = 0x7fc0dead; // a quiet NaN with a recognisable payload

/**
 * Bump allocator over the kernel memory. Everything it hands out (and the guard
 * bands between) starts as SENTINEL, so an output element the kernel forgot to
 * write shows up as NaN, and a stray write anywhere shows up in `check`.
 */
export class Heap {
  private readonly base: number;
  private top: number;
  private count = 0;

  constructor(private readonly k: Kernels) {
    this.base = k.heap_base();
    this.top = this.base;
  }

  reset(): void {
    this.top = this.base;
    this.count = 0;
  }

  get f32(): Float32Array {
    return new Float32Array(this.k.memory.buffer);
  }

  get i32(): Int32Array {
    return new Int32Array(this.k.memory.buffer);
  }

  /**
   * n floats. Successive buffers start 0, 1, 2, 3 floats past a 16-byte boundary
   * in turn, since callers' pointers need only be 4-byte aligned.
   */
  alloc(n: number, misalign = this.count++ % 4): Buf {
    const start = Math.ceil(this.top / 16) * 16;
    const ptr = start + (GUARD + misalign) * 4;
    const end = ptr + (Math.max(n, 1) + GUARD) * 4;
    const mem = this.k.memory;
    if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
    new Uint32Array(mem.buffer, this.top, (end - this.top) / 4).fill(SENTINEL);
    this.top = end;
    return { ptr, off: ptr / 4, n };
  }

  /** Allocate and fill with values. */
  from(values: ArrayLike<number>): Buf {
    const b = this.alloc(values.length);
    this.f32.set(values, b.off);
    return b;
  }

  read(b: Buf, n = b.n): Float32Array {
    return this.f32.slice(b.off, b.off + n);
  }

  /** Bit pattern of the module's own region, [0, heap_base). */
  snapshotStatic(): Uint32Array {
    return new Uint32Array(this.k.memory.buffer, 0, this.base / 4).slice();
  }

  /** Index of the first changed float of [0, heap_base), or -1. */
  staticChanged(before: Uint32Array): number {
    const now = new Uint32Array(this.k.memory.buffer, 0, before.length);
    for (let i = 0; i < before.length; i++) if (now[i] !== before[i]) return i;
    return -1;
  }

  /** Bit pattern of everything allocated so far. */
  snapshot(): Uint32Array {
    return new Uint32Array(this.k.memory.buffer, this.base, (this.top - this.base) / 4).slice();
  }

  /**
   * Every float outside the given output windows is bit-identical to `before`.
   * Returns a description of the first stray write, or null.
   */
  strayWrite(before: Uint32Array, outputs: Window[]): string | null {
    const now = new Uint32Array(this.k.memory.buffer, this.base, before.length);
    const allowed = new Uint8Array(before.length);
    const b0 = this.base / 4;
    for (const w of outputs) {
      for (let r = 0; r < w.rows; r++) {
        const s = w.off - b0 + r * w.ld;
        allowed.fill(1, s, s + w.cols);
      }
    }
    for (let i = 0; i < before.length; i++) {
      if (!allowed[i] && now[i] !== before[i]) {
        return `float ${i + b0} (byte ${(i + b0) * 4}) changed from 0x${before[i].toString(16)} to 0x${now[i].toString(16)}`;
      }
    }
    return null;
  }
}

/** A flat output window. */
export const flat = (b: Buf, n = b.n): Window => ({ off: b.off, rows: 1, cols: n, ld: n });

/** Deterministic uniform floats in [lo, hi), rounded to float32 (the library's generator, src/rng.ts). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  const r = new Rng(seed);
  return (lo = -1, hi = 1) => Math.fround(r.uniform(lo, hi));
}
