// Single-precision GEMM, three layouts, one engine.
//
//   gemm_nn: C[M,N] (+)= A[M,K]   * B[K,N]
//   gemm_tn: C[M,N] (+)= A[K,M]^T * B[K,N]   (weight gradients: dW += dG^T X)
//   gemm_nt: C[M,N] (+)= A[M,K]   * B[N,K]^T (projections: X W^T, PyTorch's W layout)
//   gemm_packed_b: C (+)= A * B with B packed once by pack_b (the recurrent weights)
//
// GotoBLAS/BLIS schedule: A and B are copied ("packed") block by block into a
// scratch region so that the inner kernel always reads two contiguous streams, whatever
// the caller's layout and leading dimensions (strides of 4 KiB would otherwise map
// a whole column strip onto one cache set). One macro-kernel (`macro`) walks the
// blocks for every entry point; the register tile it calls is one of several
// micro-kernel variants (MR x 8 or MR x 16, FMA or mul+add, unrolled or not), because
// the best one depends on the CPU and on the shape: see gemm_variant below.
//
// Fewer than 4 rows of C (batch-1 matrix-vector products) skip packing, which
// would cost as much as the product itself; so does an instance without scratch (see
// set_scratch). With pre-packed B that is still the macro-kernel, with a 1-row kernel
// that reads A in place (A_DIRECT); nn, tn and nt stream B directly (gemm_rows_*).
//
// Pointers are byte addresses, sizes and leading dimensions are in elements.
// Nothing outside C's [M, N] window is written: partial tiles and short rows are
// stored with lane stores (simd.ts), after the same multiply-adds as full ones.

import { fma4, hsum4, madd4, load_lanes, store_lanes } from "./simd";

const NR = 8; // columns of a packed B panel (two f32x4); 16-wide tiles read two panels
const MR_MAX = 8; // most rows of any register tile
const KC = 256; // depth of a packed block: a B micro-panel is KC*NR*4 = 8 KiB (L1)
const MC = 64; // rows of a packed A block (rounded down to the tile height): MC*KC*4 = 64 KiB (L2)
const NC = 256; // columns of a packed B block: KC*NC*4 = 256 KiB (L2/L3)
const SHALLOW = 128; // depth blocks up to this run the tiles strip by strip (see macro)

// Packing scratch: [A block | B block], one per instance. Several instances may share
// one memory (worker threads), so the scratch is per instance: the first instance to
// start takes the static one, every other instance has none until set_scratch() hands
// it a region of its own, and meanwhile runs the unpacked kernels (correct, slower)
// instead of racing on a shared buffer.
const A_BYTES: usize = MC * KC * 4; // ceil(mc/MR) panels of [kc, MR]
const B_BYTES: usize = KC * NC * 4; // ceil(nc/8) panels of [kc, 8]
const SCRATCH_BYTES: usize = A_BYTES + B_BYTES;
const staticScratch: usize = memory.data(<i32>SCRATCH_BYTES, 64);
const claim: usize = memory.data(4, 4);
let scratch: usize = atomic.cmpxchg<i32>(claim, 0, 1) == 0 ? staticScratch : 0;

/** Bytes of GEMM packing scratch an instance needs (see set_scratch). */
export function scratch_bytes(): i32 {
  return <i32>SCRATCH_BYTES;
}

/**
 * Gives this instance its own GEMM packing scratch: scratch_bytes() bytes at ptr
 * (64-byte aligned is best), used by no other instance. 0 = none (unpacked kernels).
 */
export function set_scratch(ptr: usize): void {
  scratch = ptr;
}

// @ts-ignore: decorator
@inline
function min_i32(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

// ---------------------------------------------------------------------------
// Micro-kernel variants. A variant is a tile shape (MR rows, 8 or 16 columns; A values
// broadcast by a load each, or "s": one vector load of 4 rows and lane shuffles) and, in
// the relaxed build, FMA (relaxed_madd) or separate mul+add. Ids: shape + NSHAPES *
// (fused ? 0 : 1) in the relaxed build, the shape alone in the plain build (no FMA).
//
// Why shapes matter on V8: TurboFan issues all of a k-step's loads before its
// multiply-adds, so a tile needs accumulators + loaded values <= 15 xmm registers or it
// spills (4x8: 8 + 6; 6x8 with broadcast loads: 12 + 8, spills; 5x8s: 10 + 4).

const NSHAPES = 9;
const SHAPE_4X8 = 0, SHAPE_4X8S = 1, SHAPE_5X8S = 2; // (ids of the FMA variants in the relaxed build)
const FUSED: bool = ASC_FEATURE_RELAXED_SIMD;

/** MR | cols << 8 | shuffled << 16 of a tile shape. */
function shape_info(shape: i32): i32 {
  switch (shape) {
    case 0: return 4 | 8 << 8 | 0 << 16;
    case 1: return 4 | 8 << 8 | 1 << 16;
    case 2: return 5 | 8 << 8 | 1 << 16;
    case 3: return 6 | 8 << 8 | 1 << 16;
    case 4: return 8 | 8 << 8 | 1 << 16;
    case 5: return 2 | 16 << 8 | 0 << 16;
    case 6: return 6 | 8 << 8 | 0 << 16;
    case 7: return 4 | 16 << 8 | 0 << 16;
    default: return 2 | 8 << 8 | 0 << 16;
  }
}

/** Number of micro-kernel variants in this build. */
export function gemm_variant_count(): i32 {
  return FUSED ? 2 * NSHAPES : NSHAPES;
}

/**
 * A variant's description: MR | cols << 8 | shuffled << 16 | fused << 24
 * (e.g. 5x8s with FMA = 0x01010805). -1 for an unknown id.
 */
export function gemm_variant_info(v: i32): i32 {
  if (v < 0 || v >= gemm_variant_count()) return -1;
  const fused = FUSED && v < NSHAPES;
  return shape_info(v % NSHAPES) | (fused ? 1 << 24 : 0);
}

// The entry points whose variant can be chosen (each has its own typical shape).
const OP_PACKED_B = 0; // per-step recurrent product h W_hh^T (and dh W_hh)
const OP_NT = 1; // all-timestep input projection X W_ih^T, output layer
const OP_TN = 2; // weight gradients dG^T X
const OP_NN = 3; // input gradients dG W_ih
const NOPS = 4;

// Shape classes: the variant is chosen per entry point and per class of [M, N, K], since
// the best tile depends on the shape (a 5-row tile wastes little only when M is large; the
// shallow input projections, K <= SHALLOW, run their tiles in another order, see macro).
// Classes: M in [0, 16), [16, 64), [64, inf) times K <= SHALLOW or deeper. N is left out:
// every tile is 8 or 16 wide, so N changes only the last partial panel.
const NCLASS = 6;

/** The shape class (0 .. NCLASS-1) of an [M, N, K] product (set_gemm_variant_class). */
export function gemm_shape_class(M: i32, N: i32, K: i32): i32 {
  const m = M < 16 ? 0 : M < 64 ? 1 : 2;
  return m * 2 + (K <= SHALLOW ? 0 : 1);
}

/** Number of shape classes. */
export function gemm_class_count(): i32 {
  return NCLASS;
}

// The chosen variant per entry point and shape class, +1 (0 = the built-in rule). It lives
// in the static data, not in a global, so that every instance over one memory (the worker
// threads) runs what the main thread chose.
const choice: usize = memory.data(NOPS * NCLASS * 4, 4);

/**
 * Makes entry point `op` (0 gemm_packed_b, 1 gemm_nt, 2 gemm_tn, 3 gemm_nn) use
 * micro-kernel variant v for every shape; v = -1 restores the built-in rule.
 * Returns 0, or -1 (nothing changed) for an unknown op or variant.
 */
export function set_gemm_variant(op: i32, v: i32): i32 {
  if (op < 0 || op >= NOPS || v < -1 || v >= gemm_variant_count()) return -1;
  for (let c = 0; c < NCLASS; c++) atomic.store<i32>(choice + (<usize>(op * NCLASS + c) << 2), v + 1);
  return 0;
}

/**
 * As set_gemm_variant for the products of one shape class only (gemm_shape_class): what a
 * timed trial on a real shape (src/backend/gemm-trial.ts) chose for that class.
 */
export function set_gemm_variant_class(op: i32, cls: i32, v: i32): i32 {
  if (op < 0 || op >= NOPS || cls < 0 || cls >= NCLASS || v < -1 || v >= gemm_variant_count()) return -1;
  atomic.store<i32>(choice + (<usize>(op * NCLASS + cls) << 2), v + 1);
  return 0;
}

/**
 * The variant entry point `op` runs for an [M, N, K] product: the one set for its shape
 * class, else the built-in rule. (Products of fewer than 4 rows, and instances without
 * scratch, bypass the tiles altogether.)
 */
export function gemm_variant(op: i32, M: i32, N: i32, K: i32): i32 {
  const set = op >= 0 && op < NOPS ? atomic.load<i32>(choice + (<usize>(op * NCLASS + gemm_shape_class(M, N, K)) << 2)) : 0;
  if (set > 0) return set - 1;
  return rule(op, M, N, K);
}

/**
 * The default choice, from bench/kernels.mjs (which times every variant against it) on
 * a Sapphire Rapids core. With FMA the loop is bound by loads and latency: 4x8s (one
 * vector load of A per k, lane shuffles: 3 loads per 8 FMAs) beats 4x8 by about 10% on
 * the recurrent products (45.7 vs 41.1 GFLOP/s at 32x1024x256), and 5x8s (10
 * accumulators) is 2-10% faster again where M is large enough that its 5-row tiles waste
 * little. Without FMA the separate adds are the bottleneck and the shuffles only add
 * uops: 4x8 (37.5 GFLOP/s; 4x8s 31.3). A CPU where another variant wins can be served by
 * set_gemm_variant (e.g. from a timed trial) without a rebuild.
 */
function rule(op: i32, M: i32, N: i32, K: i32): i32 {
  if (!FUSED) return SHAPE_4X8;
  return op != OP_PACKED_B && M >= 64 ? SHAPE_5X8S : SHAPE_4X8S;
}

// @ts-ignore: decorator
@inline
function out4(p: usize, v: v128, lanes: i32, overwrite: bool): void {
  if (lanes >= 4) {
    v128.store(p, overwrite ? v : f32x4.add(v128.load(p), v));
  } else if (lanes > 0) {
    store_lanes(p, overwrite ? v : f32x4.add(load_lanes(p, lanes), v), lanes);
  }
}

/** Stores (or adds) one tile row of 8: the first nr columns, nothing past them. */
// @ts-ignore: decorator
@inline
function out8(c: usize, v0: v128, v1: v128, nr: i32, overwrite: bool): void {
  out4(c, v0, nr, overwrite);
  out4(c + 16, v1, nr - 4, overwrite);
}

/**
 * C[mr, nr] (+)= Apanel[kc, MR]^T * Bpanel[kc, 8] with MR (<= 8), S (shuffled
 * broadcasts, MR >= 4) and F (FMA) constants after inlining: each variant function below
 * is one instance, rows beyond MR are dead code, folded away.
 */
// @ts-ignore: decorator
@inline
function tile8(
  pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, overwrite: bool,
  MR: i32, S: bool, F: bool,
): void {
  const z = f32x4.splat(0);
  let c0a = z, c0b = z, c1a = z, c1b = z, c2a = z, c2b = z, c3a = z, c3b = z;
  let c4a = z, c4b = z, c5a = z, c5b = z, c6a = z, c6b = z, c7a = z, c7b = z;
  let a = z, a03 = z, a47 = z, a4 = z, b0 = z, b1 = z;
  const end = pb + (<usize>kc << 5);
  while (pb < end) {
    b0 = v128.load(pb);
    b1 = v128.load(pb, 16);
    if (S) {
      a03 = v128.load(pa);
      if (MR == 5) a4 = v128.load32_splat(pa, 16);
      if (MR == 6) a47 = v128.load64_zero(pa, 16);
      if (MR > 6) a47 = v128.load(pa, 16);
    }
    if (MR > 0) {
      a = S ? f32x4.shuffle(a03, a03, 0, 0, 0, 0) : v128.load32_splat(pa);
      c0a = madd4(a, b0, c0a, F);
      c0b = madd4(a, b1, c0b, F);
    }
    if (MR > 1) {
      a = S ? f32x4.shuffle(a03, a03, 1, 1, 1, 1) : v128.load32_splat(pa, 4);
      c1a = madd4(a, b0, c1a, F);
      c1b = madd4(a, b1, c1b, F);
    }
    if (MR > 2) {
      a = S ? f32x4.shuffle(a03, a03, 2, 2, 2, 2) : v128.load32_splat(pa, 8);
      c2a = madd4(a, b0, c2a, F);
      c2b = madd4(a, b1, c2b, F);
    }
    if (MR > 3) {
      a = S ? f32x4.shuffle(a03, a03, 3, 3, 3, 3) : v128.load32_splat(pa, 12);
      c3a = madd4(a, b0, c3a, F);
      c3b = madd4(a, b1, c3b, F);
    }
    if (MR > 4) {
      a = S ? MR == 5 ? a4 : f32x4.shuffle(a47, a47, 0, 0, 0, 0) : v128.load32_splat(pa, 16);
      c4a = madd4(a, b0, c4a, F);
      c4b = madd4(a, b1, c4b, F);
    }
    if (MR > 5) {
      a = S ? f32x4.shuffle(a47, a47, 1, 1, 1, 1) : v128.load32_splat(pa, 20);
      c5a = madd4(a, b0, c5a, F);
      c5b = madd4(a, b1, c5b, F);
    }
    if (MR > 6) {
      a = S ? f32x4.shuffle(a47, a47, 2, 2, 2, 2) : v128.load32_splat(pa, 24);
      c6a = madd4(a, b0, c6a, F);
      c6b = madd4(a, b1, c6b, F);
    }
    if (MR > 7) {
      a = S ? f32x4.shuffle(a47, a47, 3, 3, 3, 3) : v128.load32_splat(pa, 28);
      c7a = madd4(a, b0, c7a, F);
      c7b = madd4(a, b1, c7b, F);
    }
    pa += <usize>(MR << 2);
    pb += 32;
  }
  const ldc4 = <usize>ldc << 2;
  out8(c, c0a, c0b, nr, overwrite);
  if (MR > 1 && mr > 1) out8(c + ldc4, c1a, c1b, nr, overwrite);
  if (MR > 2 && mr > 2) out8(c + 2 * ldc4, c2a, c2b, nr, overwrite);
  if (MR > 3 && mr > 3) out8(c + 3 * ldc4, c3a, c3b, nr, overwrite);
  if (MR > 4 && mr > 4) out8(c + 4 * ldc4, c4a, c4b, nr, overwrite);
  if (MR > 5 && mr > 5) out8(c + 5 * ldc4, c5a, c5b, nr, overwrite);
  if (MR > 6 && mr > 6) out8(c + 6 * ldc4, c6a, c6b, nr, overwrite);
  if (MR > 7 && mr > 7) out8(c + 7 * ldc4, c7a, c7b, nr, overwrite);
}

/** As tile8 for 16 columns (MR <= 4): the panel at pb and the next one (kc*8 floats on). */
// @ts-ignore: decorator
@inline
function tile16(
  pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, overwrite: bool,
  MR: i32, F: bool,
): void {
  const z = f32x4.splat(0);
  let c0a = z, c0b = z, c0c = z, c0d = z, c1a = z, c1b = z, c1c = z, c1d = z;
  let c2a = z, c2b = z, c2c = z, c2d = z, c3a = z, c3b = z, c3c = z, c3d = z;
  let a = z, b0 = z, b1 = z, b2 = z, b3 = z;
  const end = pb + (<usize>kc << 5);
  let pb2 = end;
  while (pb < end) {
    b0 = v128.load(pb);
    b1 = v128.load(pb, 16);
    b2 = v128.load(pb2);
    b3 = v128.load(pb2, 16);
    if (MR > 0) {
      a = v128.load32_splat(pa);
      c0a = madd4(a, b0, c0a, F);
      c0b = madd4(a, b1, c0b, F);
      c0c = madd4(a, b2, c0c, F);
      c0d = madd4(a, b3, c0d, F);
    }
    if (MR > 1) {
      a = v128.load32_splat(pa, 4);
      c1a = madd4(a, b0, c1a, F);
      c1b = madd4(a, b1, c1b, F);
      c1c = madd4(a, b2, c1c, F);
      c1d = madd4(a, b3, c1d, F);
    }
    if (MR > 2) {
      a = v128.load32_splat(pa, 8);
      c2a = madd4(a, b0, c2a, F);
      c2b = madd4(a, b1, c2b, F);
      c2c = madd4(a, b2, c2c, F);
      c2d = madd4(a, b3, c2d, F);
    }
    if (MR > 3) {
      a = v128.load32_splat(pa, 12);
      c3a = madd4(a, b0, c3a, F);
      c3b = madd4(a, b1, c3b, F);
      c3c = madd4(a, b2, c3c, F);
      c3d = madd4(a, b3, c3d, F);
    }
    pa += <usize>(MR << 2);
    pb += 32;
    pb2 += 32;
  }
  const ldc4 = <usize>ldc << 2;
  const n2 = nr - 8;
  out8(c, c0a, c0b, nr, overwrite);
  out8(c + 32, c0c, c0d, n2, overwrite);
  if (MR > 1 && mr > 1) {
    out8(c + ldc4, c1a, c1b, nr, overwrite);
    out8(c + ldc4 + 32, c1c, c1d, n2, overwrite);
  }
  if (MR > 2 && mr > 2) {
    out8(c + 2 * ldc4, c2a, c2b, nr, overwrite);
    out8(c + 2 * ldc4 + 32, c2c, c2d, n2, overwrite);
  }
  if (MR > 3 && mr > 3) {
    out8(c + 3 * ldc4, c3a, c3b, nr, overwrite);
    out8(c + 3 * ldc4 + 32, c3c, c3d, n2, overwrite);
  }
}

// One function per variant, out of line: each gets its own register allocation.
function k4x8_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 4, false, FUSED);
}
function k4x8s_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 4, true, FUSED);
}
function k5x8s_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 5, true, FUSED);
}
function k6x8s_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 6, true, FUSED);
}
function k8x8s_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 8, true, FUSED);
}
function k2x16_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile16(pa, pb, kc, c, ldc, mr, nr, ow, 2, FUSED);
}
function k6x8_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 6, false, FUSED);
}
function k4x16_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile16(pa, pb, kc, c, ldc, mr, nr, ow, 4, FUSED);
}
function k2x8_fma(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 2, false, FUSED);
}
function k4x8_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 4, false, false);
}
function k4x8s_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 4, true, false);
}
function k5x8s_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 5, true, false);
}
function k6x8s_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 6, true, false);
}
function k8x8s_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 8, true, false);
}
function k2x16_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile16(pa, pb, kc, c, ldc, mr, nr, ow, 2, false);
}
function k6x8_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 6, false, false);
}
function k4x16_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile16(pa, pb, kc, c, ldc, mr, nr, ow, 4, false);
}
function k2x8_mul(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  tile8(pa, pb, kc, c, ldc, mr, nr, ow, 2, false, false);
}

/** Runs variant v on one tile. A 16-wide variant on an 8-wide (last) panel runs its 8-wide sibling. */
function micro(v: i32, pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool): void {
  let shape = v % NSHAPES;
  if (nr <= 8 && shape == 5) shape = 8; // 2x16 on the last panel: 2x8
  if (nr <= 8 && shape == 7) shape = 0; // 4x16 on the last panel: 4x8
  if (FUSED && v < NSHAPES) {
    switch (shape) {
      case 0: k4x8_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 1: k4x8s_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 2: k5x8s_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 3: k6x8s_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 4: k8x8s_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 5: k2x16_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 6: k6x8_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 7: k4x16_fma(pa, pb, kc, c, ldc, mr, nr, ow); break;
      default: k2x8_fma(pa, pb, kc, c, ldc, mr, nr, ow);
    }
  } else {
    switch (shape) {
      case 0: k4x8_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 1: k4x8s_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 2: k5x8s_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 3: k6x8s_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 4: k8x8s_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 5: k2x16_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 6: k6x8_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      case 7: k4x16_mul(pa, pb, kc, c, ldc, mr, nr, ow); break;
      default: k2x8_mul(pa, pb, kc, c, ldc, mr, nr, ow);
    }
  }
}

// ---------------------------------------------------------------------------
// Packing. Panels are zero-padded to full MR / NR width so the kernels never
// branch on tails in the k loop; padded lanes land in accumulators that are never stored.

/** A block [mc, kc] from row-major A[M, K] (nn, nt) as panels [kc, MR]: 4x4 transposes. */
function pack_a_n(packA: usize, A: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32, MR: i32): void {
  const lda4 = <usize>lda << 2;
  const stride = <usize>MR << 2; // bytes per k in a panel
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min_i32(MR, mc - ir);
    const dst = packA + (<usize>(ir * kc) << 2);
    const src = A + ((<usize>(i0 + ir) * <usize>lda + <usize>p0) << 2);
    for (let r0 = 0; r0 < MR; r0 += 4) {
      const w = min_i32(4, MR - r0); // panel rows in this group
      const rows = max(0, min_i32(w, mr - r0)); // of them, rows of A
      const d0 = dst + (<usize>r0 << 2);
      const s0 = src + <usize>r0 * lda4;
      let k = 0;
      if (w == 4 && rows == 4) {
        for (; k + 4 <= kc; k += 4) {
          const s = s0 + (<usize>k << 2);
          const r0v = v128.load(s);
          const r1v = v128.load(s + lda4);
          const r2v = v128.load(s + 2 * lda4);
          const r3v = v128.load(s + 3 * lda4);
          const t0 = f32x4.shuffle(r0v, r1v, 0, 4, 1, 5);
          const t1 = f32x4.shuffle(r2v, r3v, 0, 4, 1, 5);
          const t2 = f32x4.shuffle(r0v, r1v, 2, 6, 3, 7);
          const t3 = f32x4.shuffle(r2v, r3v, 2, 6, 3, 7);
          const d = d0 + <usize>k * stride;
          v128.store(d, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
          v128.store(d + stride, f32x4.shuffle(t0, t1, 2, 3, 6, 7));
          v128.store(d + 2 * stride, f32x4.shuffle(t2, t3, 0, 1, 4, 5));
          v128.store(d + 3 * stride, f32x4.shuffle(t2, t3, 2, 3, 6, 7));
        }
      }
      for (; k < kc; k++) {
        const d = d0 + <usize>k * stride;
        const s = s0 + (<usize>k << 2);
        for (let r = 0; r < w; r++) store<f32>(d + (<usize>r << 2), r < rows ? load<f32>(s + <usize>r * lda4) : 0);
      }
    }
  }
}

/** A block [mc, kc] from A stored as [K, M] (tn): rows of the panel are already contiguous. */
function pack_a_t(packA: usize, A: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32, MR: i32): void {
  const lda4 = <usize>lda << 2;
  // Full panels of the common heights (most of tn's packing): straight copies, k outermost,
  // so each row k of the block is read once as one contiguous run of mc floats. Panel by
  // panel instead, the 4-8 floats a panel takes from each of kc rows lda apart (4 KiB for
  // W2's dG, one L1 set) were fetched again for every panel of the same cache line.
  const nfull = MR == 4 || MR == 5 || MR == 8 ? mc / MR : 0;
  if (nfull > 0) {
    const panel4 = <usize>(kc * MR) << 2; // bytes of one packed panel
    const mr4 = <usize>MR << 2;
    let s = A + ((<usize>p0 * <usize>lda + <usize>i0) << 2);
    let d0 = packA;
    for (let k = 0; k < kc; k++) {
      let d = d0, q = s;
      for (let p = 0; p < nfull; p++) {
        v128.store(d, v128.load(q));
        if (MR == 5) store<f32>(d, load<f32>(q, 16), 16);
        if (MR == 8) v128.store(d, v128.load(q, 16), 16);
        d += panel4;
        q += mr4;
      }
      d0 += mr4;
      s += lda4;
    }
  }
  for (let ir = nfull * MR; ir < mc; ir += MR) {
    const mr = min_i32(MR, mc - ir);
    let d = packA + (<usize>(ir * kc) << 2);
    let s = A + ((<usize>p0 * <usize>lda + <usize>(i0 + ir)) << 2);
    for (let k = 0; k < kc; k++) {
      for (let r0 = 0; r0 < MR; r0 += 4) {
        const w = min_i32(4, MR - r0);
        const rows = mr - r0;
        const o = <usize>r0 << 2;
        // w = panel rows in this group (the last group of MR = 3, 5, 6 is short); padding rows are zeros
        const v = rows >= 4 ? v128.load(s + o) : rows > 0 ? load_lanes(s + o, rows) : f32x4.splat(0);
        store_lanes(d + o, v, w);
      }
      d += <usize>MR << 2;
      s += lda4;
    }
  }
}

/** B block [kc, nc] from row-major B[K, N] (nn, tn): two vector copies per row. */
function pack_b_n(packB: usize, B: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32): void {
  const ldb4 = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min_i32(NR, nc - jr);
    let d = packB + (<usize>(jr * kc) << 2);
    let s = B + ((<usize>p0 * <usize>ldb + <usize>(j0 + jr)) << 2);
    if (nr == NR) {
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        d += 32;
        s += ldb4;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        v128.store(d, f32x4.splat(0));
        v128.store(d, f32x4.splat(0), 16);
        for (let c = 0; c < nr; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + (<usize>c << 2)));
        d += 32;
        s += ldb4;
      }
    }
  }
}

/** B block [kc, nc] from B stored as [N, K] (nt): 4x4 transposes, two per 4 rows of the panel. */
function pack_b_t(packB: usize, B: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32): void {
  const ldb4 = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min_i32(NR, nc - jr);
    const dst = packB + (<usize>(jr * kc) << 2);
    const src = B + ((<usize>(j0 + jr) * <usize>ldb + <usize>p0) << 2);
    if (nr == NR) {
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const d = dst + (<usize>k << 5);
        for (let h: usize = 0; h < 2; h++) {
          // columns 4h..4h+3 of the panel are rows j0+jr+4h.. of the stored B
          const s = src + (<usize>k << 2) + h * 4 * ldb4;
          const r0 = v128.load(s);
          const r1 = v128.load(s + ldb4);
          const r2 = v128.load(s + 2 * ldb4);
          const r3 = v128.load(s + 3 * ldb4);
          const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
          const t1 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
          const t2 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
          const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
          const dh = d + (h << 4);
          v128.store(dh, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
          v128.store(dh, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 32);
          v128.store(dh, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 64);
          v128.store(dh, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 96);
        }
      }
      for (; k < kc; k++) {
        const d = dst + (<usize>k << 5);
        const s = src + (<usize>k << 2);
        for (let c = 0; c < NR; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * ldb4));
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const d = dst + (<usize>k << 5);
        const s = src + (<usize>k << 2);
        v128.store(d, f32x4.splat(0));
        v128.store(d, f32x4.splat(0), 16);
        for (let c = 0; c < nr; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * ldb4));
      }
    }
  }
}


// ---------------------------------------------------------------------------
// The macro-kernel: every blocked product, whatever the layouts, packed or not.

// How the macro-kernel gets its A panels (one MR-row strip of a depth block):
const A_ROWS = 0; // A stored [M, K] (nn, nt): pack_a_n per block
const A_COLS = 1; // A stored [K, M] (tn): pack_a_t per block
const A_DIRECT = 2; // A stored [M, K], rows read in place by the 1-row kernel (packed B with few rows)
// ... and its B panels (kc x 8 each, in column order):
const B_ROWS = 0; // B stored [K, N]: pack_b_n per block
const B_COLS = 1; // B stored [N, K]: pack_b_t per block
const B_PACKED = 2; // B packed by pack_b: the blocks in order, no packing here

/** Bytes of one packed B block [kc, nc]: ceil(nc/NR) panels of [kc, NR] (pack_b's and macro's walk). */
// @ts-ignore: decorator
@inline
function packed_block_bytes(nc: i32, kc: i32): usize {
  return <usize>(panel_cols(nc) * kc) << 2;
}

/**
 * One tile: C[mr, nr] (+)= A strip * B panel, by micro-kernel variant v, or (A_DIRECT) by
 * the 1-row kernel over the row of A at pa.
 */
// @ts-ignore: decorator
@inline
function tile(
  aMode: i32, v: i32, pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, ow: bool,
): void {
  if (aMode == A_DIRECT) row_panel_1x8(c, pa, pb, kc, nr, ow);
  else micro(v, pa, pb, kc, c, ldc, mr, nr, ow);
}

/**
 * The blocked driver (BLIS's five loops around the micro-kernel) shared by every layout
 * and by pre-packed B: column blocks jc, depth blocks pc (B packed here unless B_PACKED),
 * row blocks ic (A packed here unless A_DIRECT), then tiles. Every tile of a depth block
 * is one micro-kernel call that overwrites C (first block, no accumulate) or adds to it,
 * so the order in which tiles run never changes a value. v: the micro-kernel variant
 * (ignored for A_DIRECT, whose tiles are one row by NR columns).
 */
function macro(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: bool, aMode: i32, bMode: i32, v: i32,
): void {
  const direct = aMode == A_DIRECT;
  const info = direct ? 1 | NR << 8 : gemm_variant_info(v);
  const MR = info & 255, cols = info >> 8 & 255;
  const mcBlock = MC / MR * MR;
  // Direct A with pre-packed B touches no scratch (instances without one use this).
  const packA = scratch, packB = scratch + A_BYTES;
  let pb0 = B;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min_i32(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min_i32(KC, K - pc);
      let bp = pb0;
      if (bMode == B_COLS) pack_b_t(packB, B, ldb, pc, jc, kc, nc);
      else if (bMode == B_ROWS) pack_b_n(packB, B, ldb, pc, jc, kc, nc);
      if (bMode != B_PACKED) bp = packB;
      // The first depth block decides between overwrite and accumulate.
      const overwrite = pc == 0 && !accumulate;
      for (let ic = 0; ic < M; ic += mcBlock) {
        const mc = min_i32(mcBlock, M - ic);
        // a0 + ir * aStride: the A strip of rows ic + ir.. at depth pc
        let a0 = packA, aStride = <usize>kc << 2;
        if (direct) {
          a0 = A + ((<usize>ic * <usize>lda + <usize>pc) << 2);
          aStride = <usize>lda << 2;
        } else if (aMode == A_COLS) {
          pack_a_t(packA, A, lda, ic, pc, mc, kc, MR);
        } else {
          pack_a_n(packA, A, lda, ic, pc, mc, kc, MR);
        }
        if (kc > SHALLOW) {
          // BLIS order: one B panel (kc x 8, L1) against every A panel of the block (L2)
          for (let jr = 0; jr < nc; jr += cols) {
            const pb = bp + (<usize>(jr * kc) << 2);
            const nr = min_i32(cols, nc - jr);
            for (let ir = 0; ir < mc; ir += MR) {
              const pa = a0 + <usize>ir * aStride;
              const c = C + ((<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) << 2);
              tile(aMode, v, pa, pb, kc, c, ldc, min_i32(MR, mc - ir), nr, overwrite);
            }
          }
        } else {
          // Shallow blocks (the input projections, K = In): little work per tile, so the
          // stores to C dominate; sweeping one MR-row strip across the whole B block writes
          // MR sequential streams instead of mc interleaved ones (the B block, kc x nc
          // <= 128 KiB, is read from L2 either way).
          for (let ir = 0; ir < mc; ir += MR) {
            const pa = a0 + <usize>ir * aStride;
            const mr = min_i32(MR, mc - ir);
            for (let jr = 0; jr < nc; jr += cols) {
              const pb = bp + (<usize>(jr * kc) << 2);
              const c = C + ((<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) << 2);
              tile(aMode, v, pa, pb, kc, c, ldc, mr, min_i32(cols, nc - jr), overwrite);
            }
          }
        }
      }
      pb0 += packed_block_bytes(nc, kc);
    }
  }
}

/** C[m, :] = 0 for an empty sum (K = 0) without accumulate: no depth block runs. */
function zero_rows(C: usize, M: i32, N: i32, ldc: i32): void {
  for (let m = 0; m < M; m++) memory.fill(C + (<usize>m * <usize>ldc << 2), 0, <usize>N << 2);
}

// ---------------------------------------------------------------------------
// Few rows (M < 4), or no scratch: no packing.

/**
 * C[m, :] (+)= sum_k A(m, k) * B[k, :], rows of B streamed in order, four at a time
 * (four independent B streams, one load+store of C per four multiply-adds).
 * A(m, k) lives at A + (m*sam + k*sak)*4, which covers both nn and tn.
 */
function gemm_rows_axpy(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  sam: i32, sak: i32, ldb: i32, ldc: i32, accumulate: bool,
): void {
  const ldb4 = <usize>ldb << 2;
  const sak4 = <usize>sak << 2;
  for (let m = 0; m < M; m++) {
    const c = C + (<usize>m * <usize>ldc << 2);
    const a = A + (<usize>m * <usize>sam << 2);
    if (!accumulate) memory.fill(c, 0, <usize>N << 2);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const ak = a + <usize>k * sak4;
      const s0 = load<f32>(ak), s1 = load<f32>(ak + sak4);
      const s2 = load<f32>(ak + 2 * sak4), s3 = load<f32>(ak + 3 * sak4);
      const a0 = f32x4.splat(s0), a1 = f32x4.splat(s1);
      const a2 = f32x4.splat(s2), a3 = f32x4.splat(s3);
      const b0 = B + <usize>k * ldb4, b1 = b0 + ldb4, b2 = b1 + ldb4, b3 = b2 + ldb4;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        let v = v128.load(c + o);
        v = fma4(a0, v128.load(b0 + o), v);
        v = fma4(a1, v128.load(b1 + o), v);
        v = fma4(a2, v128.load(b2 + o), v);
        v = fma4(a3, v128.load(b3 + o), v);
        v128.store(c + o, v);
      }
      if (j < N) {
        // the last 1-3 columns: the same multiply-adds through lane loads
        const o = <usize>j << 2, n = N - j;
        let v = load_lanes(c + o, n);
        v = fma4(a0, load_lanes(b0 + o, n), v);
        v = fma4(a1, load_lanes(b1 + o, n), v);
        v = fma4(a2, load_lanes(b2 + o, n), v);
        v = fma4(a3, load_lanes(b3 + o, n), v);
        store_lanes(c + o, v, n);
      }
    }
    for (; k < K; k++) {
      const s = load<f32>(a + <usize>k * sak4);
      const av = f32x4.splat(s);
      const b0 = B + <usize>k * ldb4;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        v128.store(c + o, fma4(av, v128.load(b0 + o), v128.load(c + o)));
      }
      if (j < N) {
        const o = <usize>j << 2, n = N - j;
        store_lanes(c + o, fma4(av, load_lanes(b0 + o, n), load_lanes(c + o, n)), n);
      }
    }
  }
}

/**
 * [hsum4(d0), hsum4(d1), hsum4(d2), hsum4(d3)] in one vector: a 4x4 transpose folded into
 * the adds, each lane summed in hsum4's order ((v0 + v2) + (v1 + v3)), so the result is
 * bit-identical to four hsum4 calls and is stored with one vector store.
 */
// @ts-ignore: decorator
@inline
function hsum4x4(d0: v128, d1: v128, d2: v128, d3: v128): v128 {
  const a = f32x4.add(f32x4.shuffle(d0, d1, 0, 4, 1, 5), f32x4.shuffle(d0, d1, 2, 6, 3, 7));
  const b = f32x4.add(f32x4.shuffle(d2, d3, 0, 4, 1, 5), f32x4.shuffle(d2, d3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(a, b, 0, 1, 4, 5), f32x4.shuffle(a, b, 2, 3, 6, 7));
}

/** c[0..4) (+)= s: the four sums of one column group (C + s, the same rounding as scalar adds). */
// @ts-ignore: decorator
@inline
function out_sums(c: usize, s: v128, accumulate: bool): void {
  v128.store(c, accumulate ? f32x4.add(v128.load(c), s) : s);
}

/**
 * C[m, n] (+)= dot(A[m, :], B[n, :]) for nt with few rows (batch-1 steps: x W_ih^T,
 * h W_hh^T, h W_out^T): both operands contiguous in k. Eight columns at a time share each
 * load of A (9 loads per 8 multiply-adds; the loop is load-bound), then four at a time,
 * then one; the sums are reduced in registers (hsum4x4) and stored as vectors.
 */
function gemm_rows_dot(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: bool,
): void {
  const ldb4 = <usize>ldb << 2;
  const K4 = K & ~3, kt = K - K4; // full vectors of k, and the tail's lanes (0-3)
  for (let m = 0; m < M; m++) {
    const a = A + (<usize>m * <usize>lda << 2);
    const c = C + (<usize>m * <usize>ldc << 2);
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const b0 = B + <usize>n * ldb4, b1 = b0 + ldb4, b2 = b1 + ldb4, b3 = b2 + ldb4;
      const b4 = b3 + ldb4, b5 = b4 + ldb4, b6 = b5 + ldb4, b7 = b6 + ldb4;
      let d0 = f32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const av = v128.load(a + o);
        d0 = fma4(av, v128.load(b0 + o), d0);
        d1 = fma4(av, v128.load(b1 + o), d1);
        d2 = fma4(av, v128.load(b2 + o), d2);
        d3 = fma4(av, v128.load(b3 + o), d3);
        d4 = fma4(av, v128.load(b4 + o), d4);
        d5 = fma4(av, v128.load(b5 + o), d5);
        d6 = fma4(av, v128.load(b6 + o), d6);
        d7 = fma4(av, v128.load(b7 + o), d7);
      }
      if (kt > 0) {
        // the last 1-3 terms through the same multiply-adds (zero lanes add exact zeros)
        const o = <usize>K4 << 2;
        const av = load_lanes(a + o, kt);
        d0 = fma4(av, load_lanes(b0 + o, kt), d0);
        d1 = fma4(av, load_lanes(b1 + o, kt), d1);
        d2 = fma4(av, load_lanes(b2 + o, kt), d2);
        d3 = fma4(av, load_lanes(b3 + o, kt), d3);
        d4 = fma4(av, load_lanes(b4 + o, kt), d4);
        d5 = fma4(av, load_lanes(b5 + o, kt), d5);
        d6 = fma4(av, load_lanes(b6 + o, kt), d6);
        d7 = fma4(av, load_lanes(b7 + o, kt), d7);
      }
      const cn = c + (<usize>n << 2);
      out_sums(cn, hsum4x4(d0, d1, d2, d3), accumulate);
      out_sums(cn + 16, hsum4x4(d4, d5, d6, d7), accumulate);
    }
    for (; n + 4 <= N; n += 4) {
      const b0 = B + <usize>n * ldb4, b1 = b0 + ldb4, b2 = b1 + ldb4, b3 = b2 + ldb4;
      let d0 = f32x4.splat(0), d1 = d0, d2 = d0, d3 = d0;
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const av = v128.load(a + o);
        d0 = fma4(av, v128.load(b0 + o), d0);
        d1 = fma4(av, v128.load(b1 + o), d1);
        d2 = fma4(av, v128.load(b2 + o), d2);
        d3 = fma4(av, v128.load(b3 + o), d3);
      }
      if (kt > 0) {
        const o = <usize>K4 << 2;
        const av = load_lanes(a + o, kt);
        d0 = fma4(av, load_lanes(b0 + o, kt), d0);
        d1 = fma4(av, load_lanes(b1 + o, kt), d1);
        d2 = fma4(av, load_lanes(b2 + o, kt), d2);
        d3 = fma4(av, load_lanes(b3 + o, kt), d3);
      }
      out_sums(c + (<usize>n << 2), hsum4x4(d0, d1, d2, d3), accumulate);
    }
    for (; n < N; n++) {
      const b0 = B + <usize>n * ldb4;
      let d0 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        d0 = fma4(v128.load(a + o), v128.load(b0 + o), d0);
      }
      if (kt > 0) {
        const o = <usize>K4 << 2;
        d0 = fma4(load_lanes(a + o, kt), load_lanes(b0 + o, kt), d0);
      }
      const s0 = hsum4(d0);
      const cn = c + (<usize>n << 2);
      store<f32>(cn, accumulate ? load<f32>(cn) + s0 : s0);
    }
  }
}

// ---------------------------------------------------------------------------
// Few rows against W packed for row dots (batch-1 recurrent products, many steps).
//
// gemm_rows_dot reads eight rows of W through eight pointers: V8 computes every address
// with its own instruction and keeps the pointers and accumulators in too few registers,
// so the loop runs at about half the multiply-add limit. Packed once per forward, a group
// of DOT_ROWS rows is one contiguous stream ([k/4][DOT_ROWS][4]): one pointer, constant
// offsets, and six accumulators plus six loaded vectors and A's vector fit the 15 xmm
// registers TurboFan allocates (eight spill one accumulator to the stack every k-step).
// Each output's multiply-adds and their order are gemm_rows_dot's, so the results are
// bit for bit the same; rows past the last whole group run gemm_rows_dot on W as stored.

const DOT_ROWS = 6;

/** Floats pack_dot needs for W[N, K]: floor(N / DOT_ROWS) groups, each k-step a whole vector. */
export function dot_packed_floats(N: i32, K: i32): i32 {
  return N / DOT_ROWS * DOT_ROWS * ((K + 3) & ~3);
}

/**
 * Packs the whole row groups of W[N, K] (row stride ldw) into dst: group g holds rows
 * g*DOT_ROWS.. as [ceil(K/4)][DOT_ROWS][4], the last k-step's missing lanes zero.
 */
export function pack_dot(dst: usize, W: usize, N: i32, K: i32, ldw: i32): void {
  const K4 = K & ~3, kt = K - K4;
  const ldw4 = <usize>ldw << 2;
  let d = dst;
  for (let n = 0; n + DOT_ROWS <= N; n += DOT_ROWS) {
    const w0 = W + <usize>n * ldw4;
    for (let k = 0; k < K4; k += 4) {
      const o = <usize>k << 2;
      for (let i = 0; i < DOT_ROWS; i++) {
        v128.store(d, v128.load(w0 + <usize>i * ldw4 + o));
        d += 16;
      }
    }
    if (kt > 0) {
      const o = <usize>K4 << 2;
      for (let i = 0; i < DOT_ROWS; i++) {
        v128.store(d, load_lanes(w0 + <usize>i * ldw4 + o, kt));
        d += 16;
      }
    }
  }
}

/**
 * C[M, N] (+)= A[M, K] W^T with W packed by pack_dot into Wp (W as stored at W, row stride
 * ldw, for the rows past the last whole group): gemm_nt's result for few rows, bit for bit.
 */
export function gemm_nt_dot(
  C: usize, A: usize, Wp: usize, W: usize, M: i32, N: i32, K: i32,
  lda: i32, ldw: i32, ldc: i32, accumulate: i32,
): void {
  const acc = accumulate != 0;
  const K4 = K & ~3, kt = K - K4; // full vectors of k, and the tail's lanes (0-3)
  const groups = N / DOT_ROWS;
  for (let m = 0; m < M; m++) {
    const a = A + (<usize>m * <usize>lda << 2);
    const aend = a + (<usize>K4 << 2);
    const c = C + (<usize>m * <usize>ldc << 2);
    let p = Wp;
    for (let g = 0; g < groups; g++) {
      let d0 = f32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0;
      for (let q = a; q < aend; q += 16) {
        const av = v128.load(q);
        d0 = fma4(av, v128.load(p), d0);
        d1 = fma4(av, v128.load(p, 16), d1);
        d2 = fma4(av, v128.load(p, 32), d2);
        d3 = fma4(av, v128.load(p, 48), d3);
        d4 = fma4(av, v128.load(p, 64), d4);
        d5 = fma4(av, v128.load(p, 80), d5);
        p += 96;
      }
      if (kt > 0) {
        // A's last 1-3 terms through lane loads (its row may go on past K); W's pad lanes are
        // zero, as gemm_rows_dot's lane loads of W give
        const av = load_lanes(aend, kt);
        d0 = fma4(av, v128.load(p), d0);
        d1 = fma4(av, v128.load(p, 16), d1);
        d2 = fma4(av, v128.load(p, 32), d2);
        d3 = fma4(av, v128.load(p, 48), d3);
        d4 = fma4(av, v128.load(p, 64), d4);
        d5 = fma4(av, v128.load(p, 80), d5);
        p += 96;
      }
      const cn = c + (<usize>(g * DOT_ROWS) << 2);
      out_sums(cn, hsum4x4(d0, d1, d2, d3), acc);
      const s4 = hsum4(d4), s5 = hsum4(d5);
      store<f32>(cn + 16, acc ? load<f32>(cn + 16) + s4 : s4);
      store<f32>(cn + 20, acc ? load<f32>(cn + 20) + s5 : s5);
    }
  }
  const n0 = groups * DOT_ROWS;
  if (n0 < N) {
    gemm_rows_dot(C + (<usize>n0 << 2), A, W + (<usize>n0 * <usize>ldw << 2), M, N - n0, K, lda, ldw, ldc, acc);
  }
}

/** v + a0 * w[0] + ... + a5 * w[5] in that order: one vector of a packed group's six rows. */
// @ts-ignore: decorator
@inline
function axpy6(v: v128, a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, w: usize): v128 {
  v = fma4(a0, v128.load(w), v);
  v = fma4(a1, v128.load(w, 16), v);
  v = fma4(a2, v128.load(w, 32), v);
  v = fma4(a3, v128.load(w, 48), v);
  v = fma4(a4, v128.load(w, 64), v);
  return fma4(a5, v128.load(w, 80), v);
}

/**
 * C[M, N] (+)= A[M, K] * B[K, N] with B's rows packed by pack_dot into Bp (B [K, N] as
 * stored at B, row stride ldb, for the rows past the last whole group): backward's dG_t W_hh
 * on the groups forward packed for its row dots, so it costs no packing of its own. Six rows
 * of B per pass over a row of C (one load and one store of C per six multiply-adds, against
 * four in gemm_rows_axpy), each element's multiply-adds in k order as gemm_rows_axpy does
 * them: gemm_nn's result for few rows, bit for bit.
 */
export function gemm_nn_dot(
  C: usize, A: usize, Bp: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  const groups = K / DOT_ROWS;
  const N4 = N & ~3, nt = N - N4; // whole vectors of a row of C, and the last one's lanes
  const group = <usize>((N + 3) & ~3) * DOT_ROWS << 2; // bytes of one packed group
  for (let m = 0; m < M; m++) {
    const c = C + (<usize>m * <usize>ldc << 2);
    const a = A + (<usize>m * <usize>lda << 2);
    if (accumulate == 0) memory.fill(c, 0, <usize>N << 2);
    let p = Bp;
    for (let q = 0; q < groups; q++) {
      const aq = a + (<usize>(q * DOT_ROWS) << 2);
      const a0 = v128.load32_splat(aq), a1 = v128.load32_splat(aq, 4), a2 = v128.load32_splat(aq, 8);
      const a3 = v128.load32_splat(aq, 12), a4 = v128.load32_splat(aq, 16), a5 = v128.load32_splat(aq, 20);
      const cend = c + (<usize>N4 << 2);
      let w = p;
      for (let cj = c; cj < cend; cj += 16) {
        v128.store(cj, axpy6(v128.load(cj), a0, a1, a2, a3, a4, a5, w));
        w += 96;
      }
      // the last 1-3 columns: the group's pad lanes are zero, C's through lane loads
      if (nt > 0) store_lanes(cend, axpy6(load_lanes(cend, nt), a0, a1, a2, a3, a4, a5, w), nt);
      p += group;
    }
  }
  const k0 = groups * DOT_ROWS;
  if (k0 < K) {
    gemm_rows_axpy(C, A + (<usize>k0 << 2), B + (<usize>k0 * <usize>ldb << 2), M, N, K - k0, lda, 1, ldb, ldc, true);
  }
}

// ---------------------------------------------------------------------------
// One-hot rows of X (character models fed one-hot vectors, as in min-char-rnn).
//
// When every row of X is one-hot (a single 1, the rest 0) or all zeros, X W_ih^T copies one
// column of W_ih per row and dGx^T X adds into one column of dW_ih: the dense products spend
// I multiply-adds per output on zeros. onehot_ids finds such an X once per forward; the two
// products below then give the dense kernels' values. A sum of one term and exact zeros is
// the term: multiplying by 0 adds a signed zero, which changes no nonzero sum and leaves a
// zero sum +0 (the tiles start from +0), and multiplying by 1 adds the term itself, fused or
// not. The weight gradient keeps gemm_tn's order: each depth block of KC rows is summed from
// zero in row order, then added to C.

/**
 * ids[r] = j when row r of X [rows, width] (row stride ldx) is one-hot at j, -1 when it is
 * all zeros. Returns 1 when every row is one of the two; 0, at the first other element,
 * otherwise (ids is then partly written and means nothing).
 */
export function onehot_ids(ids: usize, X: usize, rows: i32, width: i32, ldx: i32): i32 {
  const zero = f32x4.splat(0);
  const W4 = width & ~3;
  for (let r = 0; r < rows; r++) {
    const x = X + (<usize>r * <usize>ldx << 2);
    let id = -1;
    for (let j = 0; j < width; j++) {
      // four zeros (either sign) at a time, the elements one by one where one is not
      if (j < W4 && (j & 3) == 0 && !v128.any_true(f32x4.ne(v128.load(x + (<usize>j << 2)), zero))) {
        j += 3;
        continue;
      }
      const v = load<f32>(x + (<usize>j << 2));
      if (v == 0) continue;
      if (v != 1 || id >= 0) return 0;
      id = j;
    }
    store<i32>(ids + (<usize>r << 2), id);
  }
  return 1;
}

/**
 * C[M, N] = X W^T for an X whose rows onehot_ids described (W stored [N, K], row stride
 * ldw): row m of C is column ids[m] of W, a zero weight as +0, an all-zero row all +0.
 * gemm_nt(C, X, W, M, N, K, ldx, ldw, ldc, 0)'s values.
 */
export function gemm_nt_onehot(C: usize, ids: usize, W: usize, M: i32, N: i32, ldw: i32, ldc: i32): void {
  const ldw4 = <usize>ldw << 2;
  for (let m = 0; m < M; m++) {
    const c = C + (<usize>m * <usize>ldc << 2);
    const id = load<i32>(ids + (<usize>m << 2));
    if (id < 0) {
      memory.fill(c, 0, <usize>N << 2);
      continue;
    }
    let w = W + (<usize>id << 2);
    for (let n = 0; n < N; n++) {
      const v = load<f32>(w);
      store<f32>(c + (<usize>n << 2), v == 0 ? <f32>0 : v);
      w += ldw4;
    }
  }
}

/** c[0], c[ldc], .. (the first `lanes` of a column, stride ldc4 bytes) += s's lanes. */
// @ts-ignore: decorator
@inline
function add_column4(c: usize, ldc4: usize, s: v128, lanes: i32): void {
  store<f32>(c, load<f32>(c) + f32x4.extract_lane(s, 0));
  if (lanes > 1) store<f32>(c + ldc4, load<f32>(c + ldc4) + f32x4.extract_lane(s, 1));
  if (lanes > 2) store<f32>(c + 2 * ldc4, load<f32>(c + 2 * ldc4) + f32x4.extract_lane(s, 2));
  if (lanes > 3) store<f32>(c + 3 * ldc4, load<f32>(c + 3 * ldc4) + f32x4.extract_lane(s, 3));
}

/**
 * C[M, N] += A^T X for an X [K, N] whose rows onehot_ids described (A stored [K, M], row
 * stride lda): gemm_tn(C, A, X, M, N, K, lda, ldx, ldc, 1)'s values. Per depth block of KC
 * rows, column j of C gains the block's rows of A with id j, summed from zero in row order.
 * Where gemm_tn runs its unblocked row kernel (M < 4, or an instance without scratch) this
 * runs gemm_tn itself on X (B, row stride ldb).
 */
export function gemm_tn_onehot(
  C: usize, A: usize, B: usize, ids: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32,
): void {
  if (M < 4 || scratch == 0) {
    gemm_tn(C, A, B, M, N, K, lda, ldb, ldc, 1);
    return;
  }
  // the block's rows as chains of equal ids: next[r] the following row with the same id
  // (-1: none), head[r] 1 for the first row of each id (scratch: this instance's own)
  const next = scratch, head = scratch + (<usize>KC << 2);
  const ldc4 = <usize>ldc << 2, lda4 = <usize>lda << 2;
  const M4 = M & ~3;
  const zero = f32x4.splat(0);
  for (let pc = 0; pc < K; pc += KC) {
    const kc = min_i32(KC, K - pc);
    const id0 = ids + (<usize>pc << 2);
    for (let r = 0; r < kc; r++) store<i32>(head + (<usize>r << 2), load<i32>(id0 + (<usize>r << 2)) >= 0 ? 1 : 0);
    for (let r = 0; r < kc; r++) {
      const id = load<i32>(id0 + (<usize>r << 2));
      let q = r + 1;
      if (id >= 0) while (q < kc && load<i32>(id0 + (<usize>q << 2)) != id) q++;
      const nx = id >= 0 && q < kc ? q : -1;
      store<i32>(next + (<usize>r << 2), nx);
      if (nx >= 0) store<i32>(head + (<usize>nx << 2), 0);
    }
    for (let r = 0; r < kc; r++) {
      if (load<i32>(head + (<usize>r << 2)) == 0) continue;
      const id = load<i32>(id0 + (<usize>r << 2));
      const c = C + (<usize>id << 2);
      const a = A + <usize>(pc + r) * lda4;
      for (let g = 0; g < M; g += 4) {
        const lanes = min_i32(4, M - g);
        const o = <usize>g << 2;
        let s = f32x4.add(zero, g < M4 ? v128.load(a + o) : load_lanes(a + o, lanes));
        for (let q = load<i32>(next + (<usize>r << 2)); q >= 0; q = load<i32>(next + (<usize>q << 2))) {
          const aq = A + <usize>(pc + q) * lda4 + o;
          s = f32x4.add(s, g < M4 ? v128.load(aq) : load_lanes(aq, lanes));
        }
        add_column4(c + <usize>g * ldc4, ldc4, s, lanes);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Exports

/** C[M,N] = (accumulate ? C : 0) + A[M,K] * B[K,N]. */
export function gemm_nn(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  if (M < 4 || scratch == 0) gemm_rows_axpy(C, A, B, M, N, K, lda, 1, ldb, ldc, accumulate != 0);
  else if (K <= 0) { if (accumulate == 0) zero_rows(C, M, N, ldc); }
  else macro(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, A_ROWS, B_ROWS, gemm_variant(OP_NN, M, N, K));
}

/** C[M,N] = (accumulate ? C : 0) + A^T * B, A stored as [K, M], B as [K, N]. */
export function gemm_tn(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  if (M < 4 || scratch == 0) gemm_rows_axpy(C, A, B, M, N, K, 1, lda, ldb, ldc, accumulate != 0);
  else if (K <= 0) { if (accumulate == 0) zero_rows(C, M, N, ldc); }
  else macro(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, A_COLS, B_ROWS, gemm_variant(OP_TN, M, N, K));
}

/** C[M,N] = (accumulate ? C : 0) + A[M,K] * B^T, B stored as [N, K]. */
export function gemm_nt(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  if (M < 4 || scratch == 0) gemm_rows_dot(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0);
  else if (K <= 0) { if (accumulate == 0) zero_rows(C, M, N, ldc); }
  else macro(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, A_ROWS, B_COLS, gemm_variant(OP_NT, M, N, K));
}

// ---------------------------------------------------------------------------
// Pre-packed B: the recurrent weights are the same matrix at every timestep, so they
// are packed once per forward (and once per backward) instead of once per step. The
// packed form is the sequence of the (jc, pc) blocks gemm_packed would build, each
// ceil(nc/NR) panels of [kc, NR], column blocks outermost.

// @ts-ignore: decorator
@inline
function panel_cols(nc: i32): i32 {
  return (nc + NR - 1) / NR * NR;
}

/** Floats needed by pack_b for B with K rows and N columns. */
export function packed_b_floats(K: i32, N: i32): i32 {
  let total = 0;
  for (let jc = 0; jc < N; jc += NC) total += panel_cols(min_i32(NC, N - jc)) * K;
  return total;
}

/**
 * Packs B[K, N] once into dst (packed_b_floats(K, N) floats). transposed != 0: B is
 * stored as [N, K] (PyTorch's W for a product with W^T) with row stride ldb.
 */
export function pack_b(dst: usize, B: usize, K: i32, N: i32, ldb: i32, transposed: i32): void {
  let d = dst;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min_i32(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min_i32(KC, K - pc);
      if (transposed != 0) pack_b_t(d, B, ldb, pc, jc, kc, nc);
      else pack_b_n(d, B, ldb, pc, jc, kc, nc);
      d += packed_block_bytes(nc, kc);
    }
  }
}

/**
 * One row of C against packed panels: c[0..nr) (+)= sum_k a[k] * panel[k, 0..nr), the eight
 * sums kept in two registers over the whole depth block (batch-1 steps, no-scratch instances).
 * A partial panel is stored with lane stores (no spill buffer, so instances sharing the
 * memory never share a scratch here).
 */
function row_panel_1x8(c: usize, a: usize, pb: usize, kc: i32, nr: i32, overwrite: bool): void {
  // Four k-steps per iteration into separate accumulators: eight independent
  // multiply-add chains (two FMA ports x four cycles of latency), so the loop is bound by
  // its loads (one broadcast of A and two panel loads per two multiply-adds), not by the
  // latency of a chain.
  let c0 = f32x4.splat(0), c1 = c0, d0 = c0, d1 = c0, e0 = c0, e1 = c0, g0 = c0, g1 = c0;
  let p = pb;
  let k = 0;
  for (; k + 4 <= kc; k += 4) {
    const ak = a + (<usize>k << 2);
    const a0 = v128.load32_splat(ak), a1 = v128.load32_splat(ak, 4);
    const a2 = v128.load32_splat(ak, 8), a3 = v128.load32_splat(ak, 12);
    c0 = fma4(a0, v128.load(p), c0);
    c1 = fma4(a0, v128.load(p, 16), c1);
    d0 = fma4(a1, v128.load(p, 32), d0);
    d1 = fma4(a1, v128.load(p, 48), d1);
    e0 = fma4(a2, v128.load(p, 64), e0);
    e1 = fma4(a2, v128.load(p, 80), e1);
    g0 = fma4(a3, v128.load(p, 96), g0);
    g1 = fma4(a3, v128.load(p, 112), g1);
    p += 128;
  }
  for (; k < kc; k++) {
    const av = v128.load32_splat(a + (<usize>k << 2));
    c0 = fma4(av, v128.load(p), c0);
    c1 = fma4(av, v128.load(p, 16), c1);
    p += 32;
  }
  out8(c, f32x4.add(f32x4.add(c0, d0), f32x4.add(e0, g0)), f32x4.add(f32x4.add(c1, d1), f32x4.add(e1, g1)), nr, overwrite);
}

/** C[M,N] = (accumulate ? C : 0) + A[M,K] * B with B pre-packed by pack_b. */
export function gemm_packed_b(
  C: usize, A: usize, Bp: usize, M: i32, N: i32, K: i32, lda: i32, ldc: i32, accumulate: i32,
): void {
  const acc = accumulate != 0;
  if (K <= 0) {
    if (!acc) zero_rows(C, M, N, ldc);
  } else if (M >= 4 && scratch != 0) {
    macro(C, A, Bp, M, N, K, lda, 0, ldc, acc, A_ROWS, B_PACKED, gemm_variant(OP_PACKED_B, M, N, K));
  } else {
    // Few rows (or no scratch of our own): the same blocks, each row of A streamed
    // against the panels in place (packing A would cost as much as the product).
    macro(C, A, Bp, M, N, K, lda, 0, ldc, acc, A_DIRECT, B_PACKED, -1);
  }
}
