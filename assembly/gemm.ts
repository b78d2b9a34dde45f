// Single-precision GEMM, three layouts, one engine.
//
//   gemm_nn: C[M,N] (+)= A[M,K]   * B[K,N]
//   gemm_tn: C[M,N] (+)= A[K,M]^T * B[K,N]   (weight gradients: dW += dG^T X)
//   gemm_nt: C[M,N] (+)= A[M,K]   * B[N,K]^T (projections: X W^T, PyTorch's W layout)
//
// GotoBLAS/BLIS schedule: A and B are copied ("packed") block by block into a
// scratch region so that the inner kernel always reads two contiguous streams, whatever
// the caller's layout and leading dimensions (strides of 4 KiB would otherwise map
// a whole column strip onto one cache set). The 4x8 register tile keeps eight
// f32x4 accumulators, one broadcast A value and two B vectors live: 11-12 of the
// ~15 xmm registers V8 allocates, so nothing spills.
//
// Fewer than 4 rows of C (batch-1 matrix-vector products) skip packing, which
// would cost as much as the product itself, and stream B directly; so does an
// instance without scratch (see set_scratch).
//
// Pointers are byte addresses, sizes and leading dimensions are in elements.
// Nothing outside C's [M, N] window is written; partial tiles go through `tile`.

import { fma4, hsum4 } from "./simd";

const MR = 4; // rows of the register tile
const NR = 8; // columns of the register tile (two f32x4)
const KC = 256; // depth of a packed block: a B micro-panel is KC*NR*4 = 8 KiB (L1)
const MC = 64; // rows of a packed A block: MC*KC*4 = 64 KiB (L2)
const NC = 256; // columns of a packed B block: KC*NC*4 = 256 KiB (L2/L3)

// Packing scratch: [A block | B block | partial tile], one per instance. Several
// instances may share one memory (worker threads), so the scratch is per instance:
// the first instance to start takes the static one, every other instance has none
// until set_scratch() hands it a region of its own, and meanwhile runs the unpacked
// kernels (correct, slower) instead of racing on a shared buffer.
const A_BYTES: usize = MC * KC * 4; // ceil(mc/4) panels of [kc, 4]
const B_BYTES: usize = KC * NC * 4; // ceil(nc/8) panels of [kc, 8]
const TILE_BYTES: usize = MR * NR * 4; // [4, 8] spill for partial tiles
const SCRATCH_BYTES: usize = A_BYTES + B_BYTES + TILE_BYTES;
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
// Packing. Panels are zero-padded to full MR / NR width so the kernel never
// branches on tails; padded lanes land in accumulators that are never stored.

/** A block [mc, kc] from row-major A[M, K] (nn, nt): 4x4 transposes. */
function pack_a_n(packA: usize, A: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32): void {
  const lda4 = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min_i32(MR, mc - ir);
    const dst = packA + (<usize>(ir * kc) << 2);
    const src = A + ((<usize>(i0 + ir) * <usize>lda + <usize>p0) << 2);
    if (mr == MR) {
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const s = src + (<usize>k << 2);
        const r0 = v128.load(s);
        const r1 = v128.load(s + lda4);
        const r2 = v128.load(s + 2 * lda4);
        const r3 = v128.load(s + 3 * lda4);
        const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
        const t1 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
        const t2 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
        const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
        const d = dst + (<usize>k << 4);
        v128.store(d, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
        v128.store(d, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 16);
        v128.store(d, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 32);
        v128.store(d, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 48);
      }
      for (; k < kc; k++) {
        const s = src + (<usize>k << 2);
        const d = dst + (<usize>k << 4);
        store<f32>(d, load<f32>(s));
        store<f32>(d, load<f32>(s + lda4), 4);
        store<f32>(d, load<f32>(s + 2 * lda4), 8);
        store<f32>(d, load<f32>(s + 3 * lda4), 12);
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const d = dst + (<usize>k << 4);
        v128.store(d, f32x4.splat(0));
        for (let r = 0; r < mr; r++) {
          store<f32>(d + (<usize>r << 2), load<f32>(src + <usize>r * lda4 + (<usize>k << 2)));
        }
      }
    }
  }
}

/** A block [mc, kc] from A stored as [K, M] (tn): rows of the panel are already contiguous. */
function pack_a_t(packA: usize, A: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32): void {
  const lda4 = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min_i32(MR, mc - ir);
    let d = packA + (<usize>(ir * kc) << 2);
    let s = A + ((<usize>p0 * <usize>lda + <usize>(i0 + ir)) << 2);
    if (mr == MR) {
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(s));
        d += 16;
        s += lda4;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        v128.store(d, f32x4.splat(0));
        for (let r = 0; r < mr; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + (<usize>r << 2)));
        d += 16;
        s += lda4;
      }
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
// The register tile: C[mr, nr] (+)= Apanel[kc, 4]^T * Bpanel[kc, 8].

function kernel_4x8(
  pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, overwrite: bool, tile: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = pb + (<usize>kc << 5);
  while (pb < end) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = fma4(a, b0, c00);
    c01 = fma4(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = fma4(a, b0, c10);
    c11 = fma4(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = fma4(a, b0, c20);
    c21 = fma4(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = fma4(a, b0, c30);
    c31 = fma4(a, b1, c31);
    pa += 16;
    pb += 32;
  }
  const ldc4 = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    const c0 = c, c1 = c + ldc4, c2 = c + 2 * ldc4, c3 = c + 3 * ldc4;
    if (!overwrite) {
      c00 = f32x4.add(c00, v128.load(c0));
      c01 = f32x4.add(c01, v128.load(c0, 16));
      c10 = f32x4.add(c10, v128.load(c1));
      c11 = f32x4.add(c11, v128.load(c1, 16));
      c20 = f32x4.add(c20, v128.load(c2));
      c21 = f32x4.add(c21, v128.load(c2, 16));
      c30 = f32x4.add(c30, v128.load(c3));
      c31 = f32x4.add(c31, v128.load(c3, 16));
    }
    v128.store(c0, c00);
    v128.store(c0, c01, 16);
    v128.store(c1, c10);
    v128.store(c1, c11, 16);
    v128.store(c2, c20);
    v128.store(c2, c21, 16);
    v128.store(c3, c30);
    v128.store(c3, c31, 16);
  } else {
    // Partial tile at the bottom/right edge: spill, then copy only the valid part.
    v128.store(tile, c00);
    v128.store(tile, c01, 16);
    v128.store(tile, c10, 32);
    v128.store(tile, c11, 48);
    v128.store(tile, c20, 64);
    v128.store(tile, c21, 80);
    v128.store(tile, c30, 96);
    v128.store(tile, c31, 112);
    for (let r = 0; r < mr; r++) {
      const t = tile + (<usize>r << 5);
      const cr = c + <usize>r * ldc4;
      for (let j = 0; j < nr; j++) {
        const o = <usize>j << 2;
        const v = load<f32>(t + o);
        store<f32>(cr + o, overwrite ? v : load<f32>(cr + o) + v);
      }
    }
  }
}

/** The blocked driver shared by all three layouts. */
function gemm_packed(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: bool, aT: bool, bT: bool,
): void {
  if (K <= 0) {
    // empty sum: no depth block runs, yet C must still become 0
    if (!accumulate) for (let m = 0; m < M; m++) memory.fill(C + (<usize>m * <usize>ldc << 2), 0, <usize>N << 2);
    return;
  }
  const packA = scratch, packB = scratch + A_BYTES, tile = packB + B_BYTES;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min_i32(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min_i32(KC, K - pc);
      if (bT) pack_b_t(packB, B, ldb, pc, jc, kc, nc);
      else pack_b_n(packB, B, ldb, pc, jc, kc, nc);
      // The first depth block decides between overwrite and accumulate.
      const overwrite = pc == 0 && !accumulate;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min_i32(MC, M - ic);
        if (aT) pack_a_t(packA, A, lda, ic, pc, mc, kc);
        else pack_a_n(packA, A, lda, ic, pc, mc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const pb = packB + (<usize>(jr * kc) << 2);
          const nr = min_i32(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const pa = packA + (<usize>(ir * kc) << 2);
            const c = C + ((<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) << 2);
            kernel_4x8(pa, pb, kc, c, ldc, min_i32(MR, mc - ir), nr, overwrite, tile);
          }
        }
      }
    }
  }
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
      for (; j < N; j++) {
        const o = <usize>j << 2;
        let v = load<f32>(c + o);
        v += s0 * load<f32>(b0 + o);
        v += s1 * load<f32>(b1 + o);
        v += s2 * load<f32>(b2 + o);
        v += s3 * load<f32>(b3 + o);
        store<f32>(c + o, v);
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
      for (; j < N; j++) {
        const o = <usize>j << 2;
        store<f32>(c + o, load<f32>(c + o) + s * load<f32>(b0 + o));
      }
    }
  }
}

/** C[m, n] (+)= dot(A[m, :], B[n, :]) for nt with few rows: both operands contiguous in k. */
function gemm_rows_dot(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: bool,
): void {
  const ldb4 = <usize>ldb << 2;
  for (let m = 0; m < M; m++) {
    const a = A + (<usize>m * <usize>lda << 2);
    const c = C + (<usize>m * <usize>ldc << 2);
    let n = 0;
    // four dot products share each load of A
    for (; n + 4 <= N; n += 4) {
      const b0 = B + <usize>n * ldb4, b1 = b0 + ldb4, b2 = b1 + ldb4, b3 = b2 + ldb4;
      let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        const av = v128.load(a + o);
        d0 = fma4(av, v128.load(b0 + o), d0);
        d1 = fma4(av, v128.load(b1 + o), d1);
        d2 = fma4(av, v128.load(b2 + o), d2);
        d3 = fma4(av, v128.load(b3 + o), d3);
      }
      let s0 = hsum4(d0), s1 = hsum4(d1), s2 = hsum4(d2), s3 = hsum4(d3);
      for (; k < K; k++) {
        const o = <usize>k << 2;
        const s = load<f32>(a + o);
        s0 += s * load<f32>(b0 + o);
        s1 += s * load<f32>(b1 + o);
        s2 += s * load<f32>(b2 + o);
        s3 += s * load<f32>(b3 + o);
      }
      const cn = c + (<usize>n << 2);
      if (accumulate) {
        s0 += load<f32>(cn);
        s1 += load<f32>(cn, 4);
        s2 += load<f32>(cn, 8);
        s3 += load<f32>(cn, 12);
      }
      store<f32>(cn, s0);
      store<f32>(cn, s1, 4);
      store<f32>(cn, s2, 8);
      store<f32>(cn, s3, 12);
    }
    for (; n < N; n++) {
      const b0 = B + <usize>n * ldb4;
      let d0 = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        d0 = fma4(v128.load(a + o), v128.load(b0 + o), d0);
      }
      let s0 = hsum4(d0);
      for (; k < K; k++) {
        const o = <usize>k << 2;
        s0 += load<f32>(a + o) * load<f32>(b0 + o);
      }
      const cn = c + (<usize>n << 2);
      store<f32>(cn, accumulate ? load<f32>(cn) + s0 : s0);
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
  if (M < MR || scratch == 0) gemm_rows_axpy(C, A, B, M, N, K, lda, 1, ldb, ldc, accumulate != 0);
  else gemm_packed(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, false, false);
}

/** C[M,N] = (accumulate ? C : 0) + A^T * B, A stored as [K, M], B as [K, N]. */
export function gemm_tn(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  if (M < MR || scratch == 0) gemm_rows_axpy(C, A, B, M, N, K, 1, lda, ldb, ldc, accumulate != 0);
  else gemm_packed(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, true, false);
}

/** C[M,N] = (accumulate ? C : 0) + A[M,K] * B^T, B stored as [N, K]. */
export function gemm_nt(
  C: usize, A: usize, B: usize, M: i32, N: i32, K: i32,
  lda: i32, ldb: i32, ldc: i32, accumulate: i32,
): void {
  if (M < MR || scratch == 0) gemm_rows_dot(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0);
  else gemm_packed(C, A, B, M, N, K, lda, ldb, ldc, accumulate != 0, false, true);
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
      d += <usize>(panel_cols(nc) * kc) << 2;
    }
  }
}

/**
 * One row of C against packed panels: c[0..nr) (+)= sum_k a[k] * panel[k, 0..nr), the eight
 * sums kept in two registers over the whole depth block (batch-1 steps, no-scratch instances).
 */
function row_panel_1x8(c: usize, a: usize, pb: usize, kc: i32, nr: i32, overwrite: bool): void {
  // Two k-steps per iteration into separate accumulators: four independent
  // multiply-add chains, so the loop is not bound by the latency of one chain.
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), d0 = f32x4.splat(0), d1 = f32x4.splat(0);
  let p = pb;
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    const av = f32x4.splat(load<f32>(a + (<usize>k << 2)));
    const bv = f32x4.splat(load<f32>(a + (<usize>k << 2), 4));
    c0 = fma4(av, v128.load(p), c0);
    c1 = fma4(av, v128.load(p, 16), c1);
    d0 = fma4(bv, v128.load(p, 32), d0);
    d1 = fma4(bv, v128.load(p, 48), d1);
    p += 64;
  }
  if (k < kc) {
    const av = f32x4.splat(load<f32>(a + (<usize>k << 2)));
    c0 = fma4(av, v128.load(p), c0);
    c1 = fma4(av, v128.load(p, 16), c1);
  }
  c0 = f32x4.add(c0, d0);
  c1 = f32x4.add(c1, d1);
  if (nr == NR && !overwrite) {
    v128.store(c, f32x4.add(v128.load(c), c0));
    v128.store(c, f32x4.add(v128.load(c, 16), c1), 16);
  } else if (nr == NR) {
    v128.store(c, c0);
    v128.store(c, c1, 16);
  } else {
    // a partial panel, lane by lane (lane indices must be constants; no spill buffer,
    // so instances sharing the memory never share a scratch here)
    put(c, 0, f32x4.extract_lane(c0, 0), overwrite);
    if (nr > 1) put(c, 1, f32x4.extract_lane(c0, 1), overwrite);
    if (nr > 2) put(c, 2, f32x4.extract_lane(c0, 2), overwrite);
    if (nr > 3) put(c, 3, f32x4.extract_lane(c0, 3), overwrite);
    if (nr > 4) put(c, 4, f32x4.extract_lane(c1, 0), overwrite);
    if (nr > 5) put(c, 5, f32x4.extract_lane(c1, 1), overwrite);
    if (nr > 6) put(c, 6, f32x4.extract_lane(c1, 2), overwrite);
  }
}

// @ts-ignore: decorator
@inline
function put(c: usize, j: usize, v: f32, overwrite: bool): void {
  store<f32>(c + (j << 2), overwrite ? v : load<f32>(c + (j << 2)) + v);
}

/** C[M,N] = (accumulate ? C : 0) + A[M,K] * B with B pre-packed by pack_b. */
export function gemm_packed_b(
  C: usize, A: usize, Bp: usize, M: i32, N: i32, K: i32, lda: i32, ldc: i32, accumulate: i32,
): void {
  const acc = accumulate != 0;
  if (K <= 0) {
    if (!acc) for (let m = 0; m < M; m++) memory.fill(C + (<usize>m * <usize>ldc << 2), 0, <usize>N << 2);
    return;
  }
  const blocked = M >= MR && scratch != 0;
  const packA = scratch, tile = scratch + A_BYTES + B_BYTES;
  let pb0 = Bp;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min_i32(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min_i32(KC, K - pc);
      const overwrite = pc == 0 && !acc;
      if (blocked) {
        for (let ic = 0; ic < M; ic += MC) {
          const mc = min_i32(MC, M - ic);
          pack_a_n(packA, A, lda, ic, pc, mc, kc);
          for (let jr = 0; jr < nc; jr += NR) {
            const pb = pb0 + (<usize>(jr * kc) << 2);
            const nr = min_i32(NR, nc - jr);
            for (let ir = 0; ir < mc; ir += MR) {
              const pa = packA + (<usize>(ir * kc) << 2);
              const c = C + ((<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) << 2);
              kernel_4x8(pa, pb, kc, c, ldc, min_i32(MR, mc - ir), nr, overwrite, tile);
            }
          }
        }
      } else {
        // Few rows (or no scratch of our own): stream the panels once per row.
        for (let m = 0; m < M; m++) {
          const a = A + ((<usize>m * <usize>lda + <usize>pc) << 2);
          for (let jr = 0; jr < nc; jr += NR) {
            const c = C + ((<usize>m * <usize>ldc + <usize>(jc + jr)) << 2);
            row_panel_1x8(c, a, pb0 + (<usize>(jr * kc) << 2), kc, min_i32(NR, nc - jr), overwrite);
          }
        }
      }
      pb0 += <usize>(panel_cols(nc) * kc) << 2;
    }
  }
}
