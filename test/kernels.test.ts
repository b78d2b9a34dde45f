// Every Wasm kernel against a plain float64 loop written here, on both builds
// (plain SIMD and relaxed SIMD), at lengths 1, 3, 4, 5, 17 and 64: lengths that
// run a 4-wide loop zero, one and several times with and without a tail.
// Every call also proves that nothing outside the kernel's outputs changed
// (guard bands, row padding, inputs): see Heap in helpers/wasm.ts.

import { describe, expect, it } from 'vitest';
import { Heap, loadBuild, flat, rng, type Buf, type Kernels, type Window } from './helpers/wasm.js';
import { packedBFloats } from '../src/layout.js';

const SIZES = [1, 3, 4, 5, 17, 64];
/**
 * Hidden sizes that are no multiple of any vector or tile width (4, 8, 16): every cell and
 * loss kernel runs its tail (the last H % 4 values through lane loads, assembly/simd.ts)
 * after zero, one, a few and many full vectors.
 */
const ODD = [1, 3, 5, 13, 33, 130];
const WIDTHS = [...new Set([...SIZES, ...ODD])];
/** float32 unit roundoff */
const U = 2 ** -24;

const builds = [loadBuild('simd'), loadBuild('relaxed')];

// ---------------------------------------------------------------------------
// comparison helpers

interface Miss {
  label: string;
  i: number;
  got: number;
  want: number;
  tol: number;
}

/** First element with |got - want| > tol(i, want) (NaN fails), or null. */
function firstMiss(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: (want: number, i: number) => number): Miss | null {
  if (got.length !== want.length) return { label: `${label} (length)`, i: -1, got: got.length, want: want.length, tol: 0 };
  for (let i = 0; i < want.length; i++) {
    const t = tol(want[i], i);
    if (!(Math.abs(got[i] - want[i]) <= t)) return { label, i, got: got[i], want: want[i], tol: t };
  }
  return null;
}

/** Collects misses and stray writes over many cases; one expect at the end keeps tests fast. */
class Report {
  readonly problems: string[] = [];
  miss(m: Miss | null, ctx: string): void {
    if (m) this.problems.push(`${ctx}: ${m.label}[${m.i}] = ${m.got}, want ${m.want} ± ${m.tol.toExponential(2)}`);
  }
  stray(s: string | null, ctx: string): void {
    if (s) this.problems.push(`${ctx}: stray write, ${s}`);
  }
  /** Run one kernel call and record any write outside its output windows. */
  run(heap: Heap, ctx: string, outputs: Window[], call: () => void): void {
    const before = heap.snapshot();
    call();
    this.stray(heap.strayWrite(before, outputs), ctx);
  }
  check(name: string, cond: boolean, ctx: string): void {
    if (!cond) this.problems.push(`${ctx}: ${name}`);
  }
  expectClean(): void {
    expect(this.problems.slice(0, 8), `${this.problems.length} problem(s)`).toEqual([]);
  }
}

const relTol = (rel: number, abs = 0) => (w: number) => rel * Math.abs(w) + abs;
const exact = () => 0;

/** Random floats in a fresh buffer. */
function randBuf(heap: Heap, n: number, r: () => number): Buf {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = r();
  return heap.from(v);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// ---------------------------------------------------------------------------

for (const build of builds) {
  if (!build.kernels) {
    describe(`${build.name} build`, () => {
      it.skip(build.skip, () => {});
    });
    continue;
  }
  const k: Kernels = build.kernels;
  const heap = new Heap(k);

  describe(`${build.name} build`, () => {
    // -------------------------------------------------------------------------
    describe('GEMM', () => {
      type Variant = 'nn' | 'tn' | 'nt';

      // the workspace table sizes W_hh's packed panels itself (it is pure, for the workers)
      it('packed_b_floats is the workspace table\'s packedBFloats at every shape', () => {
        for (const K of [1, 3, 8, 255, 256, 257, 600]) {
          for (const N of [1, 3, 7, 8, 9, 255, 256, 257, 513]) expect(k.packed_b_floats(K, N)).toBe(packedBFloats(K, N));
        }
      });

      /**
       * One product. Error bound: a float32 dot product of length K is within
       * about K*u of the sum of |terms| (u = 2^-24); 1e-5 covers every K <= 83
       * with margin, and for longer K (the block-boundary shapes) the K*u bound
       * itself, doubled, is used instead.
       */
      function gemmCase(rep: Report, g: Kernels, v: Variant, M: number, N: number, K: number, pad: number[], acc: number, seed: number): void {
        heap.reset();
        const r = rng(seed);
        const aRows = v === 'tn' ? K : M, aCols = v === 'tn' ? M : K;
        const bRows = v === 'nt' ? N : K, bCols = v === 'nt' ? K : N;
        const lda = aCols + pad[0], ldb = bCols + pad[1], ldc = N + pad[2];
        const A = randBuf(heap, aRows * lda, r);
        const B = randBuf(heap, bRows * ldb, r);
        const C = randBuf(heap, M * ldc, r);
        const f = heap.f32;
        // without accumulate C's window must not be read: make it NaN
        if (!acc) for (let i = 0; i < M; i++) f.fill(NaN, C.off + i * ldc, C.off + i * ldc + N);
        const a = heap.read(A), b = heap.read(B), c0 = heap.read(C);
        const at = (i: number, kk: number) => (v === 'tn' ? a[kk * lda + i] : a[i * lda + kk]);
        const bt = (kk: number, j: number) => (v === 'nt' ? b[j * ldb + kk] : b[kk * ldb + j]);
        const want = new Float64Array(M * N), mag = new Float64Array(M * N);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = acc ? c0[i * ldc + j] : 0;
            let m = Math.abs(s);
            for (let kk = 0; kk < K; kk++) {
              const p = at(i, kk) * bt(kk, j);
              s += p;
              m += Math.abs(p);
            }
            want[i * N + j] = s;
            mag[i * N + j] = m;
          }
        }
        const ctx = `gemm_${v} M=${M} N=${N} K=${K} ld+[${pad}] acc=${acc}`;
        rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => g[`gemm_${v}`](C.ptr, A.ptr, B.ptr, M, N, K, lda, ldb, ldc, acc));
        const c = heap.read(C);
        const got = new Float64Array(M * N);
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) got[i * N + j] = c[i * ldc + j];
        const rel = Math.max(1e-5, 2 * K * U);
        rep.miss(firstMiss('C', got, want, (_w, i) => rel * mag[i] + 1e-30), ctx);
      }

      for (const v of ['nn', 'tn', 'nt'] as const) {
        it(`gemm_${v} matches a scalar loop for M, N, K in {1,3,4,5,17,64}, tight and padded leading dims`, () => {
          const rep = new Report();
          let idx = 0;
          for (const M of SIZES) {
            for (const N of SIZES) {
              for (const K of SIZES) {
                // each shape runs tight and padded, once overwriting and once accumulating
                const padded = [3, 1, 2];
                const tight = [0, 0, 0];
                gemmCase(rep, k, v, M, N, K, idx % 2 ? padded : tight, 0, 1000 + idx);
                gemmCase(rep, k, v, M, N, K, idx % 2 ? tight : padded, 1, 2000 + idx);
                idx++;
              }
            }
          }
          rep.expectClean();
        });

        it(`gemm_${v} crosses the packing block boundaries (M > 64, N > 256, K > 256) and long K`, () => {
          const rep = new Report();
          const shapes = [
            [67, 261, 517],
            [3, 300, 259], // fewer than 4 rows: unpacked path with long rows
            [130, 9, 1000],
          ];
          let s = 0;
          for (const [M, N, K] of shapes) {
            gemmCase(rep, k, v, M, N, K, [1, 3, 2], 0, 77 + s++);
            gemmCase(rep, k, v, M, N, K, [0, 0, 5], 1, 77 + s++);
          }
          rep.expectClean();
        });
      }

      /**
       * Pre-packed B (the recurrent weights, packed once per sweep): pack_b from B stored
       * [K, N] or [N, K] (transposed), then gemm_packed_b, against the same scalar loop.
       */
      function packedCase(rep: Report, g: Kernels, transposed: number, M: number, N: number, K: number, pad: number[], acc: number, seed: number): void {
        heap.reset();
        const r = rng(seed);
        const bRows = transposed ? N : K, bCols = transposed ? K : N;
        const lda = K + pad[0], ldb = bCols + pad[1], ldc = N + pad[2];
        const A = randBuf(heap, M * lda, r), B = randBuf(heap, bRows * ldb, r), C = randBuf(heap, M * ldc, r);
        const Bp = heap.alloc(g.packed_b_floats(K, N));
        const f = heap.f32;
        if (!acc) for (let i = 0; i < M; i++) f.fill(NaN, C.off + i * ldc, C.off + i * ldc + N);
        const a = heap.read(A), b = heap.read(B), c0 = heap.read(C);
        const want = new Float64Array(M * N), mag = new Float64Array(M * N);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let sum = acc ? c0[i * ldc + j] : 0, m = Math.abs(sum);
            for (let kk = 0; kk < K; kk++) {
              const p = a[i * lda + kk] * (transposed ? b[j * ldb + kk] : b[kk * ldb + j]);
              sum += p;
              m += Math.abs(p);
            }
            want[i * N + j] = sum;
            mag[i * N + j] = m;
          }
        }
        const ctx = `pack_b(transposed=${transposed}) + gemm_packed_b M=${M} N=${N} K=${K} ld+[${pad}] acc=${acc}`;
        let before = heap.snapshot();
        g.pack_b(Bp.ptr, B.ptr, K, N, ldb, transposed);
        rep.stray(heap.strayWrite(before, [flat(Bp)]), ctx);
        before = heap.snapshot();
        g.gemm_packed_b(C.ptr, A.ptr, Bp.ptr, M, N, K, lda, ldc, acc);
        rep.stray(heap.strayWrite(before, [{ off: C.off, rows: M, cols: N, ld: ldc }]), ctx);
        const c = heap.read(C);
        const got = new Float64Array(M * N);
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) got[i * N + j] = c[i * ldc + j];
        const rel = Math.max(1e-5, 2 * K * U);
        rep.miss(firstMiss('C', got, want, (_w, i) => rel * mag[i] + 1e-30), ctx);
      }

      it('pack_b + gemm_packed_b match a scalar loop (both B layouts, all sizes, block boundaries, no-scratch instance)', () => {
        const rep = new Report();
        const k2 = build.instantiate(k.memory); // no scratch of its own: the row-panel path
        let idx = 0;
        for (const M of SIZES) {
          for (const N of SIZES) {
            for (const K of SIZES) {
              const pad = idx % 2 ? [3, 1, 2] : [0, 0, 0];
              packedCase(rep, k, idx % 2, M, N, K, pad, idx % 3 === 0 ? 1 : 0, 4000 + idx);
              packedCase(rep, k2, (idx + 1) % 2, M, N, K, pad, idx % 3 === 1 ? 1 : 0, 5000 + idx);
              idx++;
            }
          }
        }
        for (const [M, N, K] of [[67, 261, 517], [3, 300, 259], [32, 1024, 256]]) {
          packedCase(rep, k, 1, M, N, K, [1, 3, 2], 0, 90 + M);
          packedCase(rep, k, 0, M, N, K, [0, 0, 5], 1, 91 + M);
          packedCase(rep, k2, 1, M, N, K, [0, 0, 0], 1, 92 + M);
        }
        rep.expectClean();
      });

      // Worker threads run their own instances over the same memory. The first
      // instance owns the static packing scratch; the others must not touch it.
      it('a second instance over the same memory runs the unpacked GEMMs and leaves the static scratch alone', () => {
        const k2 = build.instantiate(k.memory);
        const rep = new Report();
        heap.reset();
        const stat = heap.snapshotStatic();
        let idx = 0;
        for (const v of ['nn', 'tn', 'nt'] as const) {
          for (const M of SIZES) {
            for (const N of SIZES) {
              for (const K of SIZES) {
                gemmCase(rep, k2, v, M, N, K, idx % 2 ? [3, 1, 2] : [0, 0, 0], idx % 2, 3000 + idx);
                idx++;
              }
            }
          }
          gemmCase(rep, k2, v, 67, 261, 517, [1, 3, 2], 1, 99);
        }
        const changed = heap.staticChanged(stat);
        rep.check(`static region changed at float ${changed}`, changed < 0, 'second instance');
        rep.expectClean();
      });

      it('set_scratch gives an instance a private packing region, used and respected', () => {
        const k2 = build.instantiate(k.memory);
        const rep = new Report();
        for (const v of ['nn', 'tn', 'nt'] as const) {
          heap.reset();
          const scratch = heap.alloc(k2.scratch_bytes() / 4, 0);
          k2.set_scratch(scratch.ptr);
          const stat = heap.snapshotStatic();
          const M = 67, N = 261, K = 517;
          // same checks as gemmCase, with the scratch region allowed to change
          const r = rng(5);
          const aRows = v === 'tn' ? K : M, aCols = v === 'tn' ? M : K;
          const bRows = v === 'nt' ? N : K, bCols = v === 'nt' ? K : N;
          const A = randBuf(heap, aRows * aCols, r), B = randBuf(heap, bRows * bCols, r), C = heap.alloc(M * N);
          const a = heap.read(A), b = heap.read(B);
          const want = new Float64Array(M * N), mag = new Float64Array(M * N);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let sum = 0, m = 0;
              for (let kk = 0; kk < K; kk++) {
                const p = (v === 'tn' ? a[kk * M + i] : a[i * K + kk]) * (v === 'nt' ? b[j * K + kk] : b[kk * N + j]);
                sum += p;
                m += Math.abs(p);
              }
              want[i * N + j] = sum;
              mag[i * N + j] = m;
            }
          }
          const before = heap.snapshot();
          k2[`gemm_${v}`](C.ptr, A.ptr, B.ptr, M, N, K, aCols, bCols, N, 0);
          const ctx = `gemm_${v} with set_scratch`;
          rep.stray(heap.strayWrite(before, [flat(C), flat(scratch)]), ctx);
          rep.check('scratch region unused', heap.strayWrite(before, [flat(C)]) !== null, ctx);
          rep.check('static region changed', heap.staticChanged(stat) < 0, ctx);
          rep.miss(firstMiss('C', heap.read(C), want, (_w, i) => 2 * K * U * mag[i]), ctx);
        }
        rep.expectClean();
      });

      // Every micro-kernel variant (tile shapes, FMA or mul+add) behind every packed entry
      // point, at sizes that are no multiple of any tile dimension (MR 2-8, 8 or 16 columns)
      // or block size (MC 64, NC 256, KC 256).
      const VARIANT_SHAPES = [
        [5, 17, 3], [17, 33, 65], [33, 5, 17], [65, 65, 5], [7, 1, 33], [9, 3, 1], [4, 9, 65],
        [6, 24, 7], [8, 16, 9], [13, 47, 300], [67, 261, 19], [11, 23, 0],
      ];
      const OPS = ['packed_b', 'nt', 'tn', 'nn'] as const; // set_gemm_variant's op numbers
      const tuning = (g: Kernels): Kernels => g; // the variant table is part of Kernels (src/backend/wasm.ts)

      it('every micro-kernel variant matches a scalar loop on every packed entry point, odd sizes', () => {
        const t = tuning(k);
        const rep = new Report();
        const n = t.gemm_variant_count();
        rep.check(`variant count ${n}`, n === (build.name === 'relaxed' ? 18 : 9), 'variants');
        let idx = 0;
        try {
          for (let v = 0; v < n; v++) {
            const info = t.gemm_variant_info(v);
            rep.check(`variant ${v} info ${info}`, info > 0 && (info >> 24) === (build.name === 'relaxed' && v < 9 ? 1 : 0), 'variants');
            for (let op = 0; op < OPS.length; op++) {
              rep.check(`set_gemm_variant(${op}, ${v})`, t.set_gemm_variant(op, v) === 0, 'variants');
              rep.check(`gemm_variant(${op}) after set`, t.gemm_variant(op, 32, 32, 32) === v, 'variants');
              for (const [M, N, K] of VARIANT_SHAPES) {
                const pad = idx % 2 ? [3, 1, 2] : [0, 0, 0];
                const acc = (idx >> 1) % 2;
                const ctx = `variant ${v} (0x${info.toString(16)}) `;
                const before = rep.problems.length;
                if (OPS[op] === 'packed_b') packedCase(rep, k, idx % 3 === 0 ? 0 : 1, M, N, K, pad, acc, 7000 + idx);
                else gemmCase(rep, k, OPS[op], M, N, K, pad, acc, 7000 + idx);
                for (let i = before; i < rep.problems.length; i++) rep.problems[i] = ctx + rep.problems[i];
                idx++;
              }
            }
          }
        } finally {
          for (let op = 0; op < OPS.length; op++) t.set_gemm_variant(op, -1);
        }
        rep.expectClean();
      });

      it('the choice table: a shape class each, set per class or for all, refused outside its range', () => {
        const t = tuning(k);
        const n = t.gemm_variant_count(), nc = t.gemm_class_count();
        expect(nc).toBe(6);
        // classes: M in [0,16), [16,64), [64,inf) times K <= 128 or deeper; N never matters
        const cases: [number, number, number, number][] = [
          [4, 9, 128, 0], [15, 1000, 129, 1], [16, 8, 1, 2], [63, 3, 4096, 3], [64, 8, 64, 4], [3200, 1024, 256, 5],
        ];
        for (const [M, N, K, c] of cases) expect(t.gemm_shape_class(M, N, K), `class of ${M}x${N}x${K}`).toBe(c);
        try {
          const rule = [0, 1, 2, 3].map((op) => cases.map(([M, N, K]) => t.gemm_variant(op, M, N, K)));
          // one class of one op changes; every other (op, class) keeps the rule
          const v = (rule[2][3] + 1) % n;
          expect(t.set_gemm_variant_class(2, 3, v)).toBe(0);
          for (let op = 0; op < 4; op++) {
            cases.forEach(([M, N, K], i) => expect(t.gemm_variant(op, M, N, K), `op ${op} class ${i}`).toBe(op === 2 && i === 3 ? v : rule[op][i]));
          }
          expect(t.set_gemm_variant_class(2, 3, -1)).toBe(0);
          expect(t.gemm_variant(2, 63, 3, 4096)).toBe(rule[2][3]);
          // set_gemm_variant sets every class of its op
          expect(t.set_gemm_variant(1, v)).toBe(0);
          for (const [M, N, K] of cases) expect(t.gemm_variant(1, M, N, K)).toBe(v);
          // out of range: refused, nothing changes
          for (const [op, c, w] of [[-1, 0, 0], [4, 0, 0], [0, -1, 0], [0, nc, 0], [0, 0, n], [0, 0, -2]]) {
            expect(t.set_gemm_variant_class(op, c, w), `set_gemm_variant_class(${op}, ${c}, ${w})`).toBe(-1);
          }
          expect(t.gemm_variant(0, 4, 9, 128)).toBe(rule[0][0]);
        } finally {
          for (let op = 0; op < OPS.length; op++) t.set_gemm_variant(op, -1);
        }
      });

      // The timed trial (src/backend/gemm-trial.ts) picks among the variants with the build's
      // own arithmetic (FMA in the relaxed build, mul+add in the plain one) because every one
      // of them computes each element as the same chain over k: the pick must never change a bit.
      it('every variant with the build\'s arithmetic gives bit-identical products (the trial changes speed, never a value)', () => {
        const t = tuning(k);
        const n = t.gemm_variant_count();
        const fusedBuild = build.name === 'relaxed';
        const same = [...Array(n).keys()].filter((v) => (t.gemm_variant_info(v) >>> 24 === 1) === fusedBuild);
        expect(same.length).toBe(9);
        const rep = new Report();
        try {
          let seed = 900;
          for (let op = 0; op < OPS.length; op++) {
            for (const [M, N, K] of [[5, 17, 3], [17, 33, 300], [67, 261, 19], [13, 47, 130], [66, 9, 257]]) {
              for (const acc of [0, 1]) {
                heap.reset();
                const r = rng(seed++);
                const tn = OPS[op] === 'tn', nt = OPS[op] === 'nt' || OPS[op] === 'packed_b';
                const A = randBuf(heap, M * K, r), B = randBuf(heap, K * N, r), C0 = randBuf(heap, M * N, r);
                const C = heap.alloc(M * N);
                const Bp = OPS[op] === 'packed_b' ? heap.alloc(k.packed_b_floats(K, N)) : null;
                if (Bp) k.pack_b(Bp.ptr, B.ptr, K, N, K, 1);
                let first: Float32Array | null = null;
                for (const v of same) {
                  t.set_gemm_variant(op, v);
                  heap.f32.set(heap.read(C0), C.off);
                  if (Bp) k.gemm_packed_b(C.ptr, A.ptr, Bp.ptr, M, N, K, K, N, acc);
                  else k[`gemm_${OPS[op] as 'nt' | 'tn' | 'nn'}`](C.ptr, A.ptr, B.ptr, M, N, K, tn ? M : K, nt ? K : N, N, acc);
                  const got = heap.read(C);
                  if (!first) first = got;
                  else {
                    const i = got.findIndex((x, j) => !Object.is(x, first![j]));
                    rep.check(`${OPS[op]} ${M}x${N}x${K} acc=${acc}: variant ${v} differs from variant ${same[0]} at ${i}`, i < 0, 'bits');
                  }
                }
              }
            }
          }
        } finally {
          for (let op = 0; op < OPS.length; op++) t.set_gemm_variant(op, -1);
        }
        rep.expectClean();
      });

      // Batch-1 recurrent products on W_hh packed for row dots (backend/wasm.ts uses it for a
      // forward of 16 or more steps of fewer than 4 rows): it must be gemm_nt, bit for bit,
      // since the same forward with fewer steps, or on the js backend's order, is the reference.
      it('gemm_nt_dot on pack_dot\'s row groups gives gemm_nt\'s bits, reads no A past K and writes only C', () => {
        const rep = new Report();
        let seed = 1300;
        for (const M of [1, 2, 3]) {
          // N: below one group, whole groups, groups plus 1-5 leftover rows; K: every tail length
          for (const N of [1, 5, 6, 7, 12, 17, 64, 65, 259, 512]) {
            for (const K of [1, 3, 4, 5, 17, 64, 65, 130]) {
              for (const acc of [0, 1]) {
                heap.reset();
                const r = rng(seed++);
                // padded rows: A's past K are NaN (a kernel reading them would turn C into NaN),
                // W's rows and C's rows padded too
                const lda = K + 3, ldw = K + (N % 2), ldc = N + 2;
                const A = heap.from(Float32Array.from({ length: M * lda }, (_, e) => (e % lda < K ? r() : NaN)));
                const W = randBuf(heap, N * ldw, r);
                const C0 = randBuf(heap, M * ldc, r);
                const want = heap.alloc(M * ldc), C = heap.alloc(M * ldc);
                heap.f32.set(heap.read(C0), want.off);
                heap.f32.set(heap.read(C0), C.off);
                k.gemm_nt(want.ptr, A.ptr, W.ptr, M, N, K, lda, ldw, ldc, acc);
                const floats = k.dot_packed_floats(N, K);
                rep.check(`dot_packed_floats(${N}, ${K}) = ${floats}, want ${Math.floor(N / 6) * 6 * Math.ceil(K / 4) * 4}`,
                  floats === Math.floor(N / 6) * 6 * Math.ceil(K / 4) * 4, 'size');
                const Wp = heap.alloc(Math.max(1, floats));
                const ctx = `gemm_nt_dot M=${M} N=${N} K=${K} acc=${acc}`;
                rep.run(heap, `pack_dot N=${N} K=${K}`, [{ off: Wp.off, rows: 1, cols: floats, ld: Math.max(1, floats) }], () => k.pack_dot(Wp.ptr, W.ptr, N, K, ldw));
                rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.gemm_nt_dot(C.ptr, A.ptr, Wp.ptr, W.ptr, M, N, K, lda, ldw, ldc, acc));
                const got = heap.read(C), ref = heap.read(want);
                const i = got.findIndex((x, j) => !Object.is(x, ref[j]));
                rep.check(`C[${i}] = ${got[i]}, gemm_nt gives ${ref[i]}`, i < 0, ctx);
              }
            }
          }
        }
        rep.expectClean();
      });

      // Backward's dG_t W_hh on the groups forward packed (backend/wasm.ts, Schedule.dot): it must
      // be gemm_nn's row kernel, bit for bit, as the same backward with fewer steps runs that.
      it('gemm_nn_dot on pack_dot\'s row groups of B gives gemm_nn\'s bits, reads no A past K and writes only C', () => {
        const rep = new Report();
        let seed = 1400;
        for (const M of [1, 2, 3]) {
          // K (rows of B): below one group, whole groups, groups plus 1-5 rows; N: every tail length
          for (const K of [1, 5, 6, 7, 12, 17, 64, 65, 259, 512]) {
            for (const N of [1, 3, 4, 5, 17, 64, 65, 130]) {
              for (const acc of [0, 1]) {
                heap.reset();
                const r = rng(seed++);
                const lda = K + 3, ldb = N + (K % 2), ldc = N + 2;
                const A = heap.from(Float32Array.from({ length: M * lda }, (_, e) => (e % lda < K ? r() : NaN)));
                const Bm = randBuf(heap, K * ldb, r);
                const C0 = randBuf(heap, M * ldc, r);
                const want = heap.alloc(M * ldc), C = heap.alloc(M * ldc);
                heap.f32.set(heap.read(C0), want.off);
                heap.f32.set(heap.read(C0), C.off);
                k.gemm_nn(want.ptr, A.ptr, Bm.ptr, M, N, K, lda, ldb, ldc, acc);
                const Bp = heap.alloc(Math.max(1, k.dot_packed_floats(K, N)));
                k.pack_dot(Bp.ptr, Bm.ptr, K, N, ldb);
                const ctx = `gemm_nn_dot M=${M} N=${N} K=${K} acc=${acc}`;
                rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.gemm_nn_dot(C.ptr, A.ptr, Bp.ptr, Bm.ptr, M, N, K, lda, ldb, ldc, acc));
                const got = heap.read(C), ref = heap.read(want);
                const i = got.findIndex((x, j) => !Object.is(x, ref[j]));
                rep.check(`C[${i}] = ${got[i]}, gemm_nn gives ${ref[i]}`, i < 0, ctx);
              }
            }
          }
        }
        rep.expectClean();
      });

      // One-hot X (backend/wasm.ts: layer 0 of a model fed one-hot rows): the ids, then the two
      // products, which must give the dense kernels' values, since a model fed the same rows
      // through the dense products (any other x, or another input size) is the reference.
      it('onehot_ids finds one-hot and zero rows and nothing else; gemm_nt_onehot and gemm_tn_onehot give gemm_nt\'s and gemm_tn\'s values', () => {
        const rep = new Report();
        const same = (a: number, b: number) => Object.is(a, b);
        let seed = 1500;
        // ids: each row one-hot at some column (first, last, repeated) or all zeros (-0 too)
        const hotRows = (r: () => number, rows: number, width: number): number[] =>
          Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? -1 : i % 5 === 1 ? width - 1 : Math.floor(Math.abs(r()) * 0.999 * Math.min(width, 4 + (i % 3)))));
        const fillX = (ids: number[], width: number, ldx: number): Float32Array => {
          const x = new Float32Array(ids.length * ldx);
          ids.forEach((id, i) => {
            for (let j = 0; j < ldx; j++) x[i * ldx + j] = j >= width ? 7.5 : (i + j) % 3 === 0 ? -0 : 0; // padding past width is never read
            if (id >= 0) x[i * ldx + id] = 1;
          });
          return x;
        };
        for (const width of [1, 3, 4, 5, 17, 65, 257, 300]) {
          for (const rows of [1, 3, 4, 13, 64]) {
            heap.reset();
            const r = rng(seed++);
            const ids = hotRows(r, rows, width);
            const ldx = width + (width % 2) + 1;
            const X = heap.from(fillX(ids, width, ldx));
            const Ids = heap.alloc(rows);
            const ctx = `onehot_ids rows=${rows} width=${width}`;
            let ok = 0;
            rep.run(heap, ctx, [{ off: Ids.off, rows: 1, cols: rows, ld: rows }], () => { ok = k.onehot_ids(Ids.ptr, X.ptr, rows, width, ldx); });
            rep.check(`returned ${ok}, want 1`, ok === 1, ctx);
            const got = Array.from(heap.i32.subarray(Ids.off, Ids.off + rows));
            rep.check(`ids ${got.slice(0, 8)}, want ${ids.slice(0, 8)}`, got.every((v, i) => v === ids[i]), ctx);
            // one bad element anywhere (first row, last row, last column) makes it 0
            for (const [bad, at] of [[2, 0], [0.5, rows * ldx - ldx + width - 1], [-1, Math.floor(rows / 2) * ldx], [NaN, (rows - 1) * ldx], [1, -1]] as const) {
              const y = fillX(ids, width, ldx);
              let pos: number = at;
              if (pos < 0) {
                // a second 1 in a one-hot row
                const i = ids.findIndex((v) => v >= 0 && width > 1);
                if (i < 0) continue;
                pos = i * ldx + (ids[i] === 0 ? 1 : 0);
              }
              y[pos] = bad;
              const Y = heap.from(y);
              rep.check(`x[${pos}] = ${bad} accepted`, k.onehot_ids(Ids.ptr, Y.ptr, rows, width, ldx) === 0, ctx);
            }
          }
        }
        // X W^T: W [N, K] with some +0 and -0 weights (both must come out as the dense sum's +0)
        for (const K of [1, 3, 5, 65, 257, 300]) {
          for (const M of [1, 2, 3, 4, 5, 17, 64]) {
            for (const N of [1, 3, 4, 8, 13, 130]) {
              heap.reset();
              const r = rng(seed++);
              const ids = hotRows(r, M, K);
              const ldx = K + 1, ldw = K + 2, ldc = N + 3;
              const X = heap.from(fillX(ids, K, ldx));
              const W = heap.from(Float32Array.from({ length: N * ldw }, (_, e) => (e % 11 === 0 ? 0 : e % 13 === 0 ? -0 : r())));
              const Ids = heap.from(new Float32Array(new Int32Array(ids).buffer));
              const want = heap.alloc(M * ldc), C = heap.alloc(M * ldc);
              heap.f32.fill(NaN, C.off, C.off + M * ldc);
              k.gemm_nt(want.ptr, X.ptr, W.ptr, M, N, K, ldx, ldw, ldc, 0);
              const ctx = `gemm_nt_onehot M=${M} N=${N} K=${K}`;
              rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.gemm_nt_onehot(C.ptr, Ids.ptr, W.ptr, M, N, ldw, ldc));
              const got = heap.read(C), ref = heap.read(want);
              const i = ref.findIndex((v, j) => j % ldc < N && !same(got[j], v));
              rep.check(`C[${i}] = ${got[i]}, gemm_nt gives ${ref[i]}`, i < 0, ctx);
            }
          }
        }
        // C += A^T X: K (rows of X) across the depth blocks of 256, ids repeating within a block;
        // M < 4 runs gemm_tn's row kernel itself
        for (const K of [1, 3, 25, 256, 257, 600]) {
          for (const M of [1, 3, 4, 5, 17, 130]) {
            for (const N of [1, 3, 5, 65]) {
              heap.reset();
              const r = rng(seed++);
              const ids = hotRows(r, K, N);
              const ldx = N + 1, lda = M + 2, ldc = N + 3;
              const X = heap.from(fillX(ids, N, ldx));
              const A = randBuf(heap, K * lda, r);
              const Ids = heap.from(new Float32Array(new Int32Array(ids).buffer));
              const C0 = randBuf(heap, M * ldc, r);
              const want = heap.alloc(M * ldc), C = heap.alloc(M * ldc);
              heap.f32.set(heap.read(C0), want.off);
              heap.f32.set(heap.read(C0), C.off);
              k.gemm_tn(want.ptr, A.ptr, X.ptr, M, N, K, lda, ldx, ldc, 1);
              const ctx = `gemm_tn_onehot M=${M} N=${N} K=${K}`;
              rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.gemm_tn_onehot(C.ptr, A.ptr, X.ptr, Ids.ptr, M, N, K, lda, ldx, ldc));
              const got = heap.read(C), ref = heap.read(want);
              const i = ref.findIndex((v, j) => !same(got[j], v));
              rep.check(`C[${i}] = ${got[i]}, gemm_tn gives ${ref[i]}`, i < 0, ctx);
            }
          }
        }
        rep.expectClean();
      });

      /**
       * A product whose A rows are all equal and whose B columns are all equal: every element
       * of C is the same sum of the same products, so each must come out bit-identical,
       * wherever it sits (full tile, partial tile, last panel, rows paths, tail columns).
       */
      function uniformCase(rep: Report, g: Kernels, op: (typeof OPS)[number], transposed: number, M: number, N: number, K: number, acc: number, seed: number): void {
        heap.reset();
        const r = rng(seed);
        const av = Float32Array.from({ length: K }, () => r()), bv = Float32Array.from({ length: K }, () => r());
        const c0 = r();
        // A(m, k) = av[k], B(k, n) = bv[k], stored in each entry point's layout (tight leading dims)
        const aT = op === 'tn', bT = op === 'nt' || (op === 'packed_b' && transposed === 1);
        const A = heap.from(Float32Array.from({ length: M * K }, (_, e) => av[aT ? Math.floor(e / M) : e % K]));
        const B = heap.from(Float32Array.from({ length: K * N }, (_, e) => bv[bT ? e % K : Math.floor(e / N)]));
        const C = heap.from(new Float32Array(M * N).fill(acc ? c0 : NaN));
        const ctx = `${op}${op === 'packed_b' ? `(transposed=${transposed})` : ''} M=${M} N=${N} K=${K} acc=${acc}`;
        if (op === 'packed_b') {
          const Bp = heap.alloc(g.packed_b_floats(K, N));
          g.pack_b(Bp.ptr, B.ptr, K, N, transposed ? K : N, transposed);
          rep.run(heap, ctx, [flat(C)], () => g.gemm_packed_b(C.ptr, A.ptr, Bp.ptr, M, N, K, K, N, acc));
        } else {
          const lda = aT ? M : K, ldb = bT ? K : N;
          rep.run(heap, ctx, [flat(C)], () => g[`gemm_${op}`](C.ptr, A.ptr, B.ptr, M, N, K, lda, ldb, N, acc));
        }
        const c = heap.read(C);
        const i = c.findIndex((v) => !Object.is(v, c[0]));
        rep.check(`C[${i}] = ${c[i]} differs from C[0] = ${c[0]}`, i < 0 && !Number.isNaN(c[0]), ctx);
      }

      it('a product with equal rows and equal columns gives bit-identical elements: every entry point, variant and tile edge', () => {
        const t = tuning(k);
        const k2 = build.instantiate(k.memory); // no scratch: the rows paths at every M
        const rep = new Report();
        const shapes = VARIANT_SHAPES.filter(([, , K]) => K > 0);
        let idx = 0;
        try {
          for (let v = -1; v < t.gemm_variant_count(); v++) {
            for (let op = 0; op < OPS.length; op++) {
              t.set_gemm_variant(op, v); // -1: the built-in rule
              for (const [M, N, K] of shapes) {
                const g = v === -1 && idx % 2 ? k2 : k;
                const before = rep.problems.length;
                uniformCase(rep, g, OPS[op], idx % 3 === 0 ? 1 : 0, M, N, K, (idx >> 1) % 2, 8000 + idx);
                const where = `variant ${v}${g === k2 ? ', no scratch' : ''}: `;
                for (let i = before; i < rep.problems.length; i++) rep.problems[i] = where + rep.problems[i];
                idx++;
              }
            }
          }
        } finally {
          for (let op = 0; op < OPS.length; op++) t.set_gemm_variant(op, -1);
        }
        rep.expectClean();
      });

      it('set_gemm_variant rejects unknown ops and variants and leaves the choice alone', () => {
        const t = tuning(k);
        const rep = new Report();
        const n = t.gemm_variant_count();
        const rule = t.gemm_variant(0, 32, 1024, 256);
        for (const [op, v] of [[-1, 0], [4, 0], [0, n], [0, -2]]) rep.check(`set_gemm_variant(${op}, ${v}) accepted`, t.set_gemm_variant(op, v) === -1, 'bad args');
        rep.check('gemm_variant_info(n) = -1', t.gemm_variant_info(n) === -1 && t.gemm_variant_info(-1) === -1, 'bad args');
        rep.check('choice changed', t.gemm_variant(0, 32, 1024, 256) === rule, 'bad args');
        // the choice lives in the shared static data: another instance over the memory sees it
        const k2 = tuning(build.instantiate(k.memory));
        t.set_gemm_variant(0, n - 1);
        rep.check('second instance sees the choice', k2.gemm_variant(0, 32, 1024, 256) === n - 1, 'shared choice');
        t.set_gemm_variant(0, -1);
        rep.check('rule restored', k2.gemm_variant(0, 32, 1024, 256) === rule, 'shared choice');
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('matrix helpers', () => {
      it('add_bias_rows adds the bias to every row and leaves row padding alone', () => {
        const rep = new Report();
        for (const M of SIZES) {
          for (const N of SIZES) {
            heap.reset();
            const r = rng(M * 100 + N);
            const ldc = N + (M % 2 ? 3 : 0);
            const C = randBuf(heap, M * ldc, r);
            const bias = randBuf(heap, N, r);
            const c0 = heap.read(C), bv = heap.read(bias);
            const want = new Float64Array(M * N);
            for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) want[i * N + j] = Math.fround(c0[i * ldc + j] + bv[j]);
            const ctx = `add_bias_rows M=${M} N=${N} ldc=${ldc}`;
            rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.add_bias_rows(C.ptr, bias.ptr, M, N, ldc));
            const c = heap.read(C);
            const got = new Float64Array(M * N);
            for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) got[i * N + j] = c[i * ldc + j];
            rep.miss(firstMiss('C', got, want, exact), ctx);
          }
        }
        rep.expectClean();
      });

      it('add_bias2_rows gives the bits of add_bias_rows(b1) then add_bias_rows(b2) on the first N2 columns, in one pass', () => {
        const rep = new Report();
        for (const M of SIZES) {
          for (const N of SIZES) {
            // b2 on every column (RNN, LSTM), on none, and on a prefix that is not a multiple of 4 (GRU's 2H)
            for (const N2 of [...new Set([N, 0, Math.floor((2 * N) / 3)])]) {
              heap.reset();
              const r = rng(M * 1000 + N * 10 + N2);
              const ldc = N + (M % 2 ? 3 : 0);
              const C = randBuf(heap, M * ldc, r);
              const b1 = randBuf(heap, N, r), b2 = randBuf(heap, N, r);
              const c0 = heap.read(C), v1 = heap.read(b1), v2 = heap.read(b2);
              const want = new Float64Array(M * N);
              for (let i = 0; i < M; i++) {
                for (let j = 0; j < N; j++) {
                  const s = Math.fround(c0[i * ldc + j] + v1[j]);
                  want[i * N + j] = j < N2 ? Math.fround(s + v2[j]) : s;
                }
              }
              const ctx = `add_bias2_rows M=${M} N=${N} N2=${N2} ldc=${ldc}`;
              rep.run(heap, ctx, [{ off: C.off, rows: M, cols: N, ld: ldc }], () => k.add_bias2_rows(C.ptr, b1.ptr, b2.ptr, M, N, N2, ldc));
              const c = heap.read(C);
              const got = new Float64Array(M * N);
              for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) got[i * N + j] = c[i * ldc + j];
              rep.miss(firstMiss('C', got, want, exact), ctx);
            }
          }
        }
        rep.expectClean();
      });

      it('col_sum_acc adds column sums into dst (also past its 64-row blocks)', () => {
        const rep = new Report();
        for (const M of [...SIZES, 200]) {
          for (const N of SIZES) {
            heap.reset();
            const r = rng(M * 1000 + N);
            const lda = N + (N % 2 ? 2 : 0);
            const A = randBuf(heap, M * lda, r);
            const dst = randBuf(heap, N, r);
            const a = heap.read(A), d0 = heap.read(dst);
            const want = new Float64Array(N), mag = new Float64Array(N);
            for (let j = 0; j < N; j++) {
              let s = d0[j], m = Math.abs(d0[j]);
              for (let i = 0; i < M; i++) {
                s += a[i * lda + j];
                m += Math.abs(a[i * lda + j]);
              }
              want[j] = s;
              mag[j] = m;
            }
            const ctx = `col_sum_acc M=${M} N=${N} lda=${lda}`;
            rep.run(heap, ctx, [flat(dst)], () => k.col_sum_acc(dst.ptr, 0, A.ptr, M, N, lda));
            // f32 sum of M terms: within ~M*u of the sum of |terms|
            const rel = Math.max(1e-5, 2 * M * U);
            const one = heap.read(dst);
            rep.miss(firstMiss('dst', one, want, (_w, j) => rel * mag[j]), ctx);
            // into two destinations at once (b_ih and b_hh): each gets what a call of its own gives
            const d1 = heap.from(d0), d2 = randBuf(heap, N, r), alone = heap.from(heap.read(d2));
            k.col_sum_acc(alone.ptr, 0, A.ptr, M, N, lda);
            rep.run(heap, `${ctx}, two destinations`, [flat(d1), flat(d2)], () => k.col_sum_acc(d1.ptr, d2.ptr, A.ptr, M, N, lda));
            rep.check('dst differs from a call of its own', heap.read(d1).every((v, j) => Object.is(v, one[j])), `${ctx}, two destinations`);
            const a2 = heap.read(alone);
            rep.check('dst2 differs from a call of its own', heap.read(d2).every((v, j) => Object.is(v, a2[j])), `${ctx}, two destinations`);
          }
        }
        rep.expectClean();
      });

      it('row_norms_clip clips rows above the threshold and returns the clipped norm', () => {
        const rep = new Report();
        for (const B of SIZES) {
          for (const H of SIZES) {
            for (const threshold of [0, 0.5, 1e9]) {
              heap.reset();
              const r = rng(B * 100 + H);
              const dh = randBuf(heap, B * H, r);
              const d0 = heap.read(dh);
              const want = new Float64Array(B * H);
              let total = 0;
              for (let b = 0; b < B; b++) {
                let sq = 0;
                for (let j = 0; j < H; j++) sq += d0[b * H + j] ** 2;
                const nb = Math.sqrt(sq);
                const s = threshold > 0 && nb > threshold ? threshold / nb : 1;
                for (let j = 0; j < H; j++) {
                  want[b * H + j] = d0[b * H + j] * s;
                  total += want[b * H + j] ** 2;
                }
              }
              const ctx = `row_norms_clip B=${B} H=${H} threshold=${threshold}`;
              let norm = 0;
              rep.run(heap, ctx, [flat(dh)], () => { norm = k.row_norms_clip(dh.ptr, B, H, threshold); });
              rep.miss(firstMiss('dh', heap.read(dh), want, relTol(3 * U)), ctx);
              rep.miss(firstMiss('norm', [norm], [Math.sqrt(total)], relTol(1e-6)), ctx);
            }
          }
        }
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('activations', () => {
      // tanh and sigmoid are built on one vector e^x - 1 (vmath.ts), also in the tails (lane
      // loads), held to a few float32 ulps of float64: a uniform grid, and log-spaced values
      // down to 2^-130 (where tanh's m / (m + 2) form must keep its relative accuracy).
      const xs: number[] = [];
      for (let x = -100; x <= 100; x += 0.0125) xs.push(Math.fround(x));
      for (let e = 0; e <= 130 * 8; e++) xs.push(Math.fround(2 ** (-e / 8)), Math.fround(-(2 ** (-e / 8))));
      xs.push(0, -0, 1e-30, -1e-30, 1e-40, 0.625, -0.625, Math.fround(0.62499), 44, -44, 88, -88, 90, -90, 1e4, -1e4);

      it('tanh (rnn_forward_step) is within 4 ulps of float64 tanh over [-100, 100]', () => {
        heap.reset();
        const n = xs.length;
        const gx = heap.from(xs), gh = heap.from(new Float32Array(n)), h = heap.alloc(n);
        k.rnn_forward_step(h.ptr, gx.ptr, gh.ptr, n, 0);
        const rep = new Report();
        rep.miss(firstMiss('tanh', heap.read(h), xs.map(Math.tanh), relTol(4 * 2 * U, 1e-45)), 'tanh sweep');
        rep.expectClean();
      });

      it('tanh never exceeds 1 in magnitude and is odd (every float32 step over [7, 10])', () => {
        heap.reset();
        const a = new Float32Array([7]), u = new Uint32Array(a.buffer), first = u[0];
        a[0] = 10;
        const n = u[0] - first + 1;
        const v = new Float32Array(2 * n), bits = new Uint32Array(v.buffer);
        for (let i = 0; i < n; i++) { bits[i] = first + i; v[n + i] = -v[i]; }
        const gx = heap.from(v), gh = heap.from(new Float32Array(2 * n)), h = heap.alloc(2 * n);
        k.rnn_forward_step(h.ptr, gx.ptr, gh.ptr, 2 * n, 0);
        const t = heap.read(h);
        let bad = -1;
        for (let i = 0; i < n && bad < 0; i++) if (Math.abs(t[i]) > 1 || t[n + i] !== -t[i]) bad = i;
        expect(bad, bad < 0 ? '' : `tanh(${v[bad]}) = ${t[bad]}, tanh(${v[n + bad]}) = ${t[n + bad]}`).toBe(-1);
      });

      it('sigmoid and tanh (lstm_forward_step gates) are within 4 ulps over [-100, 100]', () => {
        heap.reset();
        const H = xs.length;
        const pre = new Float32Array(4 * H);
        for (let q = 0; q < 4; q++) pre.set(xs, q * H);
        const gx = heap.from(pre), gh = heap.from(new Float32Array(4 * H)), cPrev = heap.from(new Float32Array(H));
        const h = heap.alloc(H), c = heap.alloc(H), gates = heap.alloc(4 * H);
        k.lstm_forward_step(h.ptr, c.ptr, gates.ptr, gx.ptr, gh.ptr, cPrev.ptr, 1, H);
        const g = heap.read(gates);
        const rep = new Report();
        // below float32's normal range (sigmoid(x) < 1.2e-38) only absolute accuracy is kept
        rep.miss(firstMiss('sigmoid', g.subarray(0, H), xs.map(sigmoid), relTol(4 * 2 * U, 1.2e-38)), 'sigmoid sweep');
        rep.miss(firstMiss('tanh', g.subarray(2 * H, 3 * H), xs.map(Math.tanh), relTol(4 * 2 * U, 1e-45)), 'tanh sweep');
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('cell steps', () => {
      // Values are O(1); each output is a handful of float32 roundings (u = 6e-8)
      // plus activations good to ~2e-7, so 2e-6 * (1 + |x|) is an honest bound.
      const cellTol = (w: number) => 2e-6 * (1 + Math.abs(w));
      const count = [...WIDTHS, 1000];

      it('rnn_forward_step: tanh and relu', () => {
        const rep = new Report();
        for (const n of count) {
          for (const relu of [0, 1]) {
            heap.reset();
            const r = rng(n * 2 + relu);
            const gx = randBuf(heap, n, () => r(-3, 3)), gh = randBuf(heap, n, () => r(-3, 3));
            const h = heap.alloc(n);
            const x = heap.read(gx), y = heap.read(gh);
            const want = Array.from(x, (v, i) => {
              const pre = Math.fround(v + y[i]);
              return relu ? Math.max(0, pre) : Math.tanh(pre);
            });
            const ctx = `rnn_forward_step n=${n} relu=${relu}`;
            rep.run(heap, ctx, [flat(h)], () => k.rnn_forward_step(h.ptr, gx.ptr, gh.ptr, n, relu));
            rep.miss(firstMiss('h', heap.read(h), want, cellTol), ctx);
          }
        }
        rep.expectClean();
      });

      it('rnn_backward_step: tanh and relu', () => {
        const rep = new Report();
        for (const n of count) {
          for (const relu of [0, 1]) {
            heap.reset();
            const r = rng(n * 3 + relu);
            // relu outputs are >= 0 with exact zeros; tanh outputs in (-1, 1)
            const h = randBuf(heap, n, () => (relu ? Math.max(0, r(-1, 2)) : r(-1, 1)));
            const dh = randBuf(heap, n, r);
            const dpre = heap.alloc(n);
            const hv = heap.read(h), g = heap.read(dh);
            const want = Array.from(g, (d, i) => d * (relu ? (hv[i] > 0 ? 1 : 0) : 1 - hv[i] * hv[i]));
            const ctx = `rnn_backward_step n=${n} relu=${relu}`;
            rep.run(heap, ctx, [flat(dpre)], () => k.rnn_backward_step(dpre.ptr, dh.ptr, h.ptr, n, relu));
            rep.miss(firstMiss('dpre', heap.read(dpre), want, cellTol), ctx);
          }
        }
        rep.expectClean();
      });

      it('lstm_forward_step matches the i, f, g, o equations', () => {
        const rep = new Report();
        for (const B of SIZES) {
          for (const H of WIDTHS) {
            heap.reset();
            const r = rng(B * 100 + H);
            const G = 4 * H;
            const gx = randBuf(heap, B * G, () => r(-3, 3)), gh = randBuf(heap, B * G, () => r(-3, 3));
            const cPrev = randBuf(heap, B * H, () => r(-2, 2));
            const h = heap.alloc(B * H), c = heap.alloc(B * H), gates = heap.alloc(B * G);
            const x = heap.read(gx), y = heap.read(gh), cp = heap.read(cPrev);
            const wh = new Float64Array(B * H), wc = new Float64Array(B * H), wg = new Float64Array(B * G);
            for (let b = 0; b < B; b++) {
              for (let j = 0; j < H; j++) {
                const pre = (q: number) => Math.fround(x[b * G + q * H + j] + y[b * G + q * H + j]);
                const i_ = sigmoid(pre(0)), f_ = sigmoid(pre(1)), g_ = Math.tanh(pre(2)), o_ = sigmoid(pre(3));
                wg[b * G + j] = i_;
                wg[b * G + H + j] = f_;
                wg[b * G + 2 * H + j] = g_;
                wg[b * G + 3 * H + j] = o_;
                const cc = f_ * cp[b * H + j] + i_ * g_;
                wc[b * H + j] = cc;
                wh[b * H + j] = o_ * Math.tanh(cc);
              }
            }
            const ctx = `lstm_forward_step B=${B} H=${H}`;
            rep.run(heap, ctx, [flat(h), flat(c), flat(gates)], () => k.lstm_forward_step(h.ptr, c.ptr, gates.ptr, gx.ptr, gh.ptr, cPrev.ptr, B, H));
            rep.miss(firstMiss('gates', heap.read(gates), wg, cellTol), ctx);
            rep.miss(firstMiss('c', heap.read(c), wc, cellTol), ctx);
            rep.miss(firstMiss('h', heap.read(h), wh, cellTol), ctx);
          }
        }
        rep.expectClean();
      });

      it('lstm_backward_step matches the chain rule, with dcPrev separate from or aliasing dc', () => {
        const rep = new Report();
        for (const B of SIZES) {
          for (const H of WIDTHS) {
            for (const alias of [false, true]) {
              heap.reset();
              const r = rng(B * 100 + H);
              const G = 4 * H;
              // activated gates from random pre-activations
              const gv = new Float32Array(B * G);
              for (let b = 0; b < B; b++) {
                for (let q = 0; q < 4; q++) {
                  for (let j = 0; j < H; j++) gv[b * G + q * H + j] = q === 2 ? Math.tanh(r(-3, 3)) : sigmoid(r(-3, 3));
                }
              }
              const gates = heap.from(gv);
              const c = randBuf(heap, B * H, () => r(-2, 2)), cPrev = randBuf(heap, B * H, () => r(-2, 2));
              const dh = randBuf(heap, B * H, r), dc = randBuf(heap, B * H, r);
              const dgates = heap.alloc(B * G);
              const dcPrev = alias ? dc : heap.alloc(B * H);
              const cv = heap.read(c), cp = heap.read(cPrev), dhv = heap.read(dh), dcv = heap.read(dc);
              const wdg = new Float64Array(B * G), wdc = new Float64Array(B * H);
              for (let b = 0; b < B; b++) {
                for (let j = 0; j < H; j++) {
                  const e = b * H + j, q = (n: number) => b * G + n * H + j;
                  const i_ = gv[q(0)], f_ = gv[q(1)], g_ = gv[q(2)], o_ = gv[q(3)];
                  const tc = Math.tanh(cv[e]);
                  const dct = dcv[e] + dhv[e] * o_ * (1 - tc * tc);
                  wdg[q(0)] = dct * g_ * i_ * (1 - i_);
                  wdg[q(1)] = dct * cp[e] * f_ * (1 - f_);
                  wdg[q(2)] = dct * i_ * (1 - g_ * g_);
                  wdg[q(3)] = dhv[e] * tc * o_ * (1 - o_);
                  wdc[e] = dct * f_;
                }
              }
              const ctx = `lstm_backward_step B=${B} H=${H} alias=${alias}`;
              rep.run(heap, ctx, [flat(dgates), flat(dcPrev)], () => k.lstm_backward_step(dgates.ptr, dcPrev.ptr, dh.ptr, dc.ptr, gates.ptr, c.ptr, cPrev.ptr, B, H));
              rep.miss(firstMiss('dgates', heap.read(dgates), wdg, cellTol), ctx);
              rep.miss(firstMiss('dcPrev', heap.read(dcPrev), wdc, cellTol), ctx);
            }
          }
        }
        rep.expectClean();
      });

      it('gru_forward_step matches the r, z, n equations and keeps gh_n + b_hn (with and without b_hn)', () => {
        const rep = new Report();
        for (const B of SIZES) {
          for (const H of WIDTHS) {
           for (const biased of [false, true]) {
            heap.reset();
            const r = rng(B * 100 + H + 7 + (biased ? 1 : 0));
            const G = 3 * H;
            const gx = randBuf(heap, B * G, () => r(-3, 3)), gh = randBuf(heap, B * G, () => r(-3, 3));
            const hPrev = randBuf(heap, B * H, r);
            const bias = biased ? randBuf(heap, H, () => r(-1, 1)) : null;
            const h = heap.alloc(B * H), gates = heap.alloc(B * G), hn = heap.alloc(B * H);
            const x = heap.read(gx), hp = heap.read(hPrev);
            // gh_n + b_hn, rounded once as the kernel adds it
            const y = heap.read(gh);
            const bn = bias ? heap.read(bias) : null;
            if (bn) for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) y[b * G + 2 * H + j] = Math.fround(y[b * G + 2 * H + j] + bn[j]);
            const wh = new Float64Array(B * H), wg = new Float64Array(B * G), whn = new Float64Array(B * H);
            for (let b = 0; b < B; b++) {
              for (let j = 0; j < H; j++) {
                const q = (n: number) => b * G + n * H + j;
                const rr = sigmoid(Math.fround(x[q(0)] + y[q(0)]));
                const z = sigmoid(Math.fround(x[q(1)] + y[q(1)]));
                const nn = Math.tanh(x[q(2)] + rr * y[q(2)]);
                wg[q(0)] = rr;
                wg[q(1)] = z;
                wg[q(2)] = nn;
                whn[b * H + j] = y[q(2)];
                wh[b * H + j] = (1 - z) * nn + z * hp[b * H + j];
              }
            }
            const ctx = `gru_forward_step B=${B} H=${H}${biased ? ' with b_hn' : ''}`;
            rep.run(heap, ctx, [flat(h), flat(gates), flat(hn)], () => k.gru_forward_step(h.ptr, gates.ptr, hn.ptr, gx.ptr, gh.ptr, hPrev.ptr, bias ? bias.ptr : 0, B, H));
            rep.miss(firstMiss('gates', heap.read(gates), wg, cellTol), ctx);
            rep.miss(firstMiss('hn', heap.read(hn), whn, exact), ctx);
            rep.miss(firstMiss('h', heap.read(h), wh, cellTol), ctx);
           }
          }
        }
        rep.expectClean();
      });

      it('gru_backward_step matches the chain rule and overwrites dhPrev', () => {
        const rep = new Report();
        for (const B of SIZES) {
          for (const H of WIDTHS) {
            heap.reset();
            const r = rng(B * 100 + H + 9);
            const G = 3 * H;
            const gv = new Float32Array(B * G);
            for (let b = 0; b < B; b++) {
              for (let q = 0; q < 3; q++) {
                for (let j = 0; j < H; j++) gv[b * G + q * H + j] = q === 2 ? Math.tanh(r(-3, 3)) : sigmoid(r(-3, 3));
              }
            }
            const gates = heap.from(gv);
            const hn = randBuf(heap, B * H, () => r(-2, 2)), hPrev = randBuf(heap, B * H, r), dh = randBuf(heap, B * H, r);
            const dgx = heap.alloc(B * G), dgh = heap.alloc(B * G);
            const dhPrev = randBuf(heap, B * H, r); // stale contents must be overwritten
            const hnv = heap.read(hn), hp = heap.read(hPrev), dhv = heap.read(dh);
            const wx = new Float64Array(B * G), wh = new Float64Array(B * G), wp = new Float64Array(B * H);
            for (let b = 0; b < B; b++) {
              for (let j = 0; j < H; j++) {
                const e = b * H + j, q = (n: number) => b * G + n * H + j;
                const rr = gv[q(0)], z = gv[q(1)], nn = gv[q(2)];
                const dn = dhv[e] * (1 - z);
                const dz = dhv[e] * (hp[e] - nn);
                const dnp = dn * (1 - nn * nn);
                const drp = dnp * hnv[e] * rr * (1 - rr);
                const dzp = dz * z * (1 - z);
                wx[q(0)] = drp;
                wx[q(1)] = dzp;
                wx[q(2)] = dnp;
                wh[q(0)] = drp;
                wh[q(1)] = dzp;
                wh[q(2)] = dnp * rr;
                wp[e] = dhv[e] * z;
              }
            }
            const ctx = `gru_backward_step B=${B} H=${H}`;
            rep.run(heap, ctx, [flat(dgx), flat(dgh), flat(dhPrev)], () => k.gru_backward_step(dgx.ptr, dgh.ptr, dhPrev.ptr, dh.ptr, gates.ptr, hn.ptr, hPrev.ptr, B, H));
            rep.miss(firstMiss('dgx', heap.read(dgx), wx, cellTol), ctx);
            rep.miss(firstMiss('dgh', heap.read(dgh), wh, cellTol), ctx);
            rep.miss(firstMiss('dhPrev', heap.read(dhPrev), wp, cellTol), ctx);
          }
        }
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('tails', () => {
      // The tail rule (assembly/simd.ts): the last H % 4 values of a row run through the
      // same vector formula as the others. Inputs whose unit j repeats unit j % 4 (in every
      // row and gate block) must then give outputs whose unit j is bit-identical to unit
      // j % 4: a tail unit gets exactly what the vector lane it copies gets.
      const TAIL_H = [5, 6, 7, 13, 33, 130];

      /** [rows, G*H] floats from gen, unit j of every gate block repeating unit j % 4. */
      function periodic(rows: number, G: number, H: number, gen: () => number): Float32Array {
        const v = new Float32Array(rows * G * H);
        for (let e = 0; e < v.length; e++) {
          const j = e % H;
          v[e] = j < 4 ? gen() : v[e - j + (j % 4)];
        }
        return v;
      }

      /** First element of [rows, G*H] whose unit j is not bit-identical to unit j % 4, or null. */
      function periodicMiss(label: string, v: Float32Array, H: number, skip = (_j: number) => false): string | null {
        for (let e = 0; e < v.length; e++) {
          const j = e % H, f = e - j + (j % 4);
          if (!skip(j) && !Object.is(v[e], v[f])) return `${label}[${e}] (unit ${j}) = ${v[e]}, unit ${j % 4} has ${v[f]}`;
        }
        return null;
      }

      function check(rep: Report, ctx: string, out: Array<[string, Buf]>, H: number): void {
        for (const [label, b] of out) {
          const m = periodicMiss(label, heap.read(b), H);
          rep.check(m ?? '', m === null, ctx);
        }
      }

      it('rnn steps: a tail value is bit-identical to the vector lane it copies', () => {
        const rep = new Report();
        for (const H of TAIL_H) {
          for (const B of [1, 3]) {
            for (const relu of [0, 1]) {
              heap.reset();
              const r = rng(H * 10 + B + relu);
              const n = B * H;
              const gx = heap.from(periodic(B, 1, H, () => r(-3, 3))), gh = heap.from(periodic(B, 1, H, () => r(-3, 3)));
              const h = heap.alloc(n), dh = heap.from(periodic(B, 1, H, r)), dpre = heap.alloc(n);
              const ctx = `rnn H=${H} B=${B} relu=${relu}`;
              rep.run(heap, ctx, [flat(h)], () => k.rnn_forward_step(h.ptr, gx.ptr, gh.ptr, n, relu));
              rep.run(heap, ctx, [flat(dpre)], () => k.rnn_backward_step(dpre.ptr, dh.ptr, h.ptr, n, relu));
              check(rep, ctx, [['h', h], ['dpre', dpre]], H);
            }
          }
        }
        rep.expectClean();
      });

      it('lstm steps: a tail unit is bit-identical to the vector lane it copies', () => {
        const rep = new Report();
        for (const H of TAIL_H) {
          for (const B of [1, 3]) {
            heap.reset();
            const r = rng(H * 10 + B + 100);
            const gx = heap.from(periodic(B, 4, H, () => r(-3, 3))), gh = heap.from(periodic(B, 4, H, () => r(-3, 3)));
            const cPrev = heap.from(periodic(B, 1, H, () => r(-2, 2)));
            const h = heap.alloc(B * H), c = heap.alloc(B * H), gates = heap.alloc(B * 4 * H);
            const dh = heap.from(periodic(B, 1, H, r)), dc = heap.from(periodic(B, 1, H, r));
            const dgates = heap.alloc(B * 4 * H), dcPrev = heap.alloc(B * H);
            const ctx = `lstm H=${H} B=${B}`;
            rep.run(heap, ctx, [flat(h), flat(c), flat(gates)], () => k.lstm_forward_step(h.ptr, c.ptr, gates.ptr, gx.ptr, gh.ptr, cPrev.ptr, B, H));
            rep.run(heap, ctx, [flat(dgates), flat(dcPrev)], () => k.lstm_backward_step(dgates.ptr, dcPrev.ptr, dh.ptr, dc.ptr, gates.ptr, c.ptr, cPrev.ptr, B, H));
            check(rep, ctx, [['h', h], ['c', c], ['gates', gates], ['dgates', dgates], ['dcPrev', dcPrev]], H);
          }
        }
        rep.expectClean();
      });

      it('gru steps: a tail unit is bit-identical to the vector lane it copies', () => {
        const rep = new Report();
        for (const H of TAIL_H) {
          for (const B of [1, 3]) {
            heap.reset();
            const r = rng(H * 10 + B + 200);
            const gx = heap.from(periodic(B, 3, H, () => r(-3, 3))), gh = heap.from(periodic(B, 3, H, () => r(-3, 3)));
            const hPrev = heap.from(periodic(B, 1, H, r));
            const h = heap.alloc(B * H), gates = heap.alloc(B * 3 * H), hn = heap.alloc(B * H);
            const dh = heap.from(periodic(B, 1, H, r));
            const dgx = heap.alloc(B * 3 * H), dgh = heap.alloc(B * 3 * H), dhPrev = heap.alloc(B * H);
            const bn = heap.from(periodic(1, 1, H, r));
            const ctx = `gru H=${H} B=${B}`;
            rep.run(heap, ctx, [flat(h), flat(gates), flat(hn)], () => k.gru_forward_step(h.ptr, gates.ptr, hn.ptr, gx.ptr, gh.ptr, hPrev.ptr, bn.ptr, B, H));
            rep.run(heap, ctx, [flat(dgx), flat(dgh), flat(dhPrev)], () => k.gru_backward_step(dgx.ptr, dgh.ptr, dhPrev.ptr, dh.ptr, gates.ptr, hn.ptr, hPrev.ptr, B, H));
            check(rep, ctx, [['h', h], ['gates', gates], ['hn', hn], ['dgx', dgx], ['dgh', dgh], ['dhPrev', dhPrev]], H);
          }
        }
        rep.expectClean();
      });

      it('ce_loss: a tail class gets the probability of the vector lane it copies', () => {
        const rep = new Report();
        for (const classes of TAIL_H) {
          heap.reset();
          const r = rng(classes + 300);
          const rows = 3;
          const y = heap.from(periodic(rows, 1, classes, () => r(-5, 5)));
          const t = heap.alloc(rows);
          heap.i32.set([1, 2, 3].map((x) => x % classes), t.off);
          const dy = heap.alloc(rows * classes);
          const ctx = `ce_loss classes=${classes}`;
          rep.run(heap, ctx, [flat(dy)], () => k.ce_loss(dy.ptr, y.ptr, t.ptr, rows, classes, 1 / rows));
          // the target class (1, 2 or 3 in row 0, 1, 2) and its copies differ by the one-hot term
          const d = heap.read(dy);
          for (let row = 0; row < rows; row++) {
            const target = (row + 1) % classes;
            const m = periodicMiss(`dy row ${row}`, d.subarray(row * classes, (row + 1) * classes), classes, (j) => j % 4 === target % 4);
            rep.check(m ?? '', m === null, ctx);
          }
        }
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('losses', () => {
      it('mse_loss returns scale * sum (y - t)^2 and writes 2 * scale * (y - t)', () => {
        const rep = new Report();
        for (const n of [...SIZES, 1000]) {
          heap.reset();
          const r = rng(n + 5);
          const y = randBuf(heap, n, () => r(-2, 2)), t = randBuf(heap, n, () => r(-2, 2));
          const dy = heap.alloc(n);
          const yv = heap.read(y), tv = heap.read(t);
          const scale = 1 / n;
          let loss = 0;
          const wdy = Array.from(yv, (v, i) => {
            loss += (v - tv[i]) ** 2;
            return 2 * scale * (v - tv[i]);
          });
          const ctx = `mse_loss n=${n}`;
          let got = 0;
          rep.run(heap, ctx, [flat(dy)], () => { got = k.mse_loss(dy.ptr, y.ptr, t.ptr, n, scale); });
          // y - t is rounded to f32 once (u), then squared and summed in f64
          rep.miss(firstMiss('loss', [got], [scale * loss], relTol(3 * U)), ctx);
          rep.miss(firstMiss('dy', heap.read(dy), wdy, relTol(3 * U, 1e-30)), ctx);
        }
        rep.expectClean();
      });

      it('ce_loss returns the mean negative log-likelihood and writes scale * (softmax - onehot)', () => {
        const rep = new Report();
        for (const rows of SIZES) {
          for (const classes of WIDTHS) {
            heap.reset();
            const r = rng(rows * 100 + classes);
            const yv = new Float32Array(rows * classes);
            for (let i = 0; i < yv.length; i++) yv[i] = r(-5, 5);
            // one row with huge logits: max subtraction must keep it finite
            if (rows > 2) for (let j = 0; j < classes; j++) yv[classes + j] = j % 2 ? 1000 : -1000;
            const tv = new Int32Array(rows);
            for (let i = 0; i < rows; i++) tv[i] = Math.min(classes - 1, Math.floor(((r() + 1) / 2) * classes));
            if (rows > 3) tv[3] = -100; // ignored row
            const counted = tv.filter((x) => x >= 0).length;
            const scale = 1 / Math.max(counted, 1);
            const y = heap.from(yv);
            const t = heap.alloc(rows);
            heap.i32.set(tv, t.off);
            const dy = heap.alloc(rows * classes);
            let loss = 0;
            const wdy = new Float64Array(rows * classes);
            for (let i = 0; i < rows; i++) {
              if (tv[i] < 0) continue;
              const row = yv.subarray(i * classes, (i + 1) * classes);
              const mx = Math.max(...row);
              let s = 0;
              for (const v of row) s += Math.exp(v - mx);
              loss -= row[tv[i]] - mx - Math.log(s);
              for (let j = 0; j < classes; j++) wdy[i * classes + j] = scale * (Math.exp(row[j] - mx) / s - (j === tv[i] ? 1 : 0));
            }
            const ctx = `ce_loss rows=${rows} classes=${classes}`;
            let got = 0;
            rep.run(heap, ctx, [flat(dy)], () => { got = k.ce_loss(dy.ptr, y.ptr, t.ptr, rows, classes, scale); });
            // per row: f32 exp (~1e-7 relative) summed in f64; log in f64
            rep.miss(firstMiss('loss', [got], [scale * loss], relTol(1e-6, 1e-7 * scale)), ctx);
            rep.miss(firstMiss('dy', heap.read(dy), wdy, () => 1e-6 * scale), ctx);
          }
        }
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('flat-region utilities', () => {
      const lengths = [...SIZES, 1000];

      it('fill, scale, clamp_abs and add_to are exact (one float32 rounding)', () => {
        const rep = new Report();
        for (const n of lengths) {
          heap.reset();
          const r = rng(n + 11);
          const p = randBuf(heap, n, () => r(-3, 3)), q = randBuf(heap, n, () => r(-3, 3));
          const pv = heap.read(p), qv = heap.read(q);
          let before = heap.snapshot();
          k.add_to(p.ptr, q.ptr, n);
          rep.stray(heap.strayWrite(before, [flat(p)]), `add_to n=${n}`);
          const added = Array.from(pv, (v, i) => Math.fround(v + qv[i]));
          rep.miss(firstMiss('add_to', heap.read(p), added, exact), `add_to n=${n}`);

          before = heap.snapshot();
          k.scale(p.ptr, n, 0.37);
          rep.stray(heap.strayWrite(before, [flat(p)]), `scale n=${n}`);
          const scaled = added.map((v) => Math.fround(v * Math.fround(0.37)));
          rep.miss(firstMiss('scale', heap.read(p), scaled, exact), `scale n=${n}`);

          before = heap.snapshot();
          k.clamp_abs(p.ptr, n, 0.5);
          rep.stray(heap.strayWrite(before, [flat(p)]), `clamp_abs n=${n}`);
          rep.miss(firstMiss('clamp_abs', heap.read(p), scaled.map((v) => Math.min(0.5, Math.max(-0.5, v))), exact), `clamp_abs n=${n}`);

          before = heap.snapshot();
          k.fill(p.ptr, n, -1.25);
          rep.stray(heap.strayWrite(before, [flat(p)]), `fill n=${n}`);
          rep.miss(firstMiss('fill', heap.read(p), new Array(n).fill(-1.25), exact), `fill n=${n}`);
        }
        rep.expectClean();
      });

      it('sum_squares accumulates in float64', () => {
        const rep = new Report();
        for (const n of lengths) {
          heap.reset();
          const r = rng(n + 13);
          const p = randBuf(heap, n, () => r(-3, 3));
          const pv = heap.read(p);
          let s = 0;
          for (const v of pv) s += v * v;
          const before = heap.snapshot();
          const got = k.sum_squares(p.ptr, n);
          rep.stray(heap.strayWrite(before, []), `sum_squares n=${n}`);
          // squares of floats are exact in f64: only f64 summation error remains
          rep.miss(firstMiss('sum', [got], [s], relTol(1e-13)), `sum_squares n=${n}`);
        }
        rep.expectClean();
      });

      it('all_finite: 1 for finite values (the largest included), 0 for one NaN or +-Inf at any position, tails included', () => {
        const rep = new Report();
        const bad = [NaN, Infinity, -Infinity];
        for (const n of lengths) {
          heap.reset();
          const r = rng(n + 29);
          // finite extremes: squares would overflow float32, v*0 does not
          const vals = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 3.4e38 : i % 3 === 1 ? -3.4e38 : r(-3, 3)));
          const p = heap.from(vals);
          const before = heap.snapshot();
          if (k.all_finite(p.ptr, n) !== 1) rep.problems.push(`all_finite n=${n}: 0 for finite values`);
          rep.stray(heap.strayWrite(before, []), `all_finite n=${n}`);
          for (let at = 0; at < n; at++) {
            const f = heap.f32;
            f[p.off + at] = bad[at % 3];
            if (k.all_finite(p.ptr, n) !== 0) rep.problems.push(`all_finite n=${n}: 1 with ${bad[at % 3]} at ${at}`);
            f[p.off + at] = vals[at];
          }
          // a non-finite value just past the region is not read
          if (n > 0) {
            const q = heap.from([...vals, NaN]);
            if (k.all_finite(q.ptr, n) !== 1) rep.problems.push(`all_finite n=${n}: read past the end`);
          }
        }
        rep.expectClean();
      });
    });

    // -------------------------------------------------------------------------
    describe('optimizers', () => {
      const lengths = [...SIZES, 1000];
      // Inputs are O(1) and each update is a few float32 roundings of O(1) terms,
      // so errors are ~1e-7 absolute, also where terms cancel (m = lerp(m, d, w)
      // or a momentum buffer can land near zero): hold results to 1e-6 (1 + |x|).
      const optTol = (w: number) => 1e-6 * (1 + Math.abs(w));
      const lerp = (a: number, b: number, w: number) => a + w * (b - a);

      interface Setup {
        n: number;
        bufs: Record<string, Buf>;
        vals: Record<string, Float32Array>;
      }
      /** Random parameter, gradient and state buffers; states listed in `positive` are > 0. */
      function setup(n: number, seed: number, names: string[], positive: string[] = [], small: string[] = []): Setup {
        heap.reset();
        const r = rng(seed);
        const bufs: Record<string, Buf> = {}, vals: Record<string, Float32Array> = {};
        for (const name of names) {
          const gen = positive.includes(name) ? () => r(0.1, 1) : small.includes(name) ? () => r(-0.1, 0.1) : () => r(-1, 1);
          bufs[name] = randBuf(heap, n, gen);
          vals[name] = heap.read(bufs[name]);
        }
        return { n, bufs, vals };
      }

      it('sgd_step: plain, weight decay, momentum with dampening, Nesterov, first step', () => {
        const rep = new Report();
        const configs = [
          { lr: 0.1, momentum: 0, dampening: 0, nesterov: 0, wd: 0, first: 0 },
          { lr: 0.1, momentum: 0, dampening: 0, nesterov: 0, wd: 0.01, first: 0 },
          { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: 0, wd: 0, first: 1 },
          { lr: 0.05, momentum: 0.9, dampening: 0.1, nesterov: 0, wd: 0.01, first: 0 },
          { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: 1, wd: 0.01, first: 0 },
          { lr: 0.05, momentum: 0.8, dampening: 0, nesterov: 1, wd: 0, first: 1 },
        ];
        for (const n of lengths) {
          for (const [ci, c] of configs.entries()) {
            const s = setup(n, n * 10 + ci, ['p', 'g', 'buf']);
            const { p, g, buf } = s.vals;
            // on the first step the buffer's old contents must not be read
            if (c.first) heap.f32.fill(NaN, s.bufs.buf.off, s.bufs.buf.off + n);
            const wp = new Float64Array(n), wb = new Float64Array(n);
            for (let i = 0; i < n; i++) {
              let d = g[i] + c.wd * p[i];
              if (c.momentum !== 0) {
                const b = c.first ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
                wb[i] = b;
                d = c.nesterov ? d + c.momentum * b : b;
              }
              wp[i] = p[i] - c.lr * d;
            }
            const before = heap.snapshot();
            k.sgd_step(s.bufs.p.ptr, s.bufs.g.ptr, s.bufs.buf.ptr, n, c.lr, c.momentum, c.dampening, c.nesterov, c.wd, c.first);
            const ctx = `sgd_step n=${n} ${JSON.stringify(c)}`;
            const outs: Window[] = [flat(s.bufs.p)];
            if (c.momentum !== 0) outs.push(flat(s.bufs.buf));
            rep.stray(heap.strayWrite(before, outs), ctx);
            rep.miss(firstMiss('p', heap.read(s.bufs.p), wp, optTol), ctx);
            if (c.momentum !== 0) rep.miss(firstMiss('buf', heap.read(s.bufs.buf), wb, optTol), ctx);
          }
        }
        rep.expectClean();
      });

      it('adam_step: Adam and AdamW, with and without AMSGrad and weight decay, both lerp branches', () => {
        const rep = new Report();
        const t = 3;
        for (const n of lengths) {
          let ci = 0;
          for (const beta1 of [0.9, 0.3]) {
            for (const decoupled of [0, 1]) {
              for (const amsgrad of [0, 1]) {
                for (const wd of [0, 0.1]) {
                  const c = { lr: 0.01, beta1, beta2: 0.999, eps: 1e-8, wd, decoupled, amsgrad };
                  const s = setup(n, n * 100 + ci++, ['p', 'g', 'm', 'v', 'vmax'], ['v', 'vmax']);
                  const { p, g, m, v, vmax } = s.vals;
                  const stepSize = c.lr / (1 - beta1 ** t);
                  const bc2Sqrt = Math.sqrt(1 - c.beta2 ** t);
                  const wp = new Float64Array(n), wm = new Float64Array(n), wv = new Float64Array(n), wvm = new Float64Array(n);
                  for (let i = 0; i < n; i++) {
                    let pi = p[i], d = g[i];
                    if (wd !== 0) {
                      if (decoupled) pi *= 1 - c.lr * wd;
                      else d += wd * pi;
                    }
                    wm[i] = lerp(m[i], d, 1 - beta1);
                    wv[i] = c.beta2 * v[i] + (1 - c.beta2) * d * d;
                    wvm[i] = Math.max(vmax[i], wv[i]);
                    const den = Math.sqrt(amsgrad ? wvm[i] : wv[i]) / bc2Sqrt + c.eps;
                    wp[i] = pi - (stepSize * wm[i]) / den;
                  }
                  const before = heap.snapshot();
                  k.adam_step(s.bufs.p.ptr, s.bufs.g.ptr, s.bufs.m.ptr, s.bufs.v.ptr, s.bufs.vmax.ptr, n,
                    c.lr, beta1, c.beta2, c.eps, wd, decoupled, amsgrad, stepSize, bc2Sqrt);
                  const ctx = `adam_step n=${n} ${JSON.stringify(c)}`;
                  const outs = [flat(s.bufs.p), flat(s.bufs.m), flat(s.bufs.v)];
                  if (amsgrad) outs.push(flat(s.bufs.vmax));
                  rep.stray(heap.strayWrite(before, outs), ctx);
                  rep.miss(firstMiss('p', heap.read(s.bufs.p), wp, optTol), ctx);
                  rep.miss(firstMiss('m', heap.read(s.bufs.m), wm, optTol), ctx);
                  rep.miss(firstMiss('v', heap.read(s.bufs.v), wv, optTol), ctx);
                  if (amsgrad) rep.miss(firstMiss('vmax', heap.read(s.bufs.vmax), wvm, optTol), ctx);
                }
              }
            }
          }
        }
        rep.expectClean();
      });

      it('rmsprop_step: plain, centered, momentum, weight decay', () => {
        const rep = new Report();
        for (const n of lengths) {
          let ci = 0;
          for (const centered of [0, 1]) {
            for (const momentum of [0, 0.9]) {
              for (const wd of [0, 0.01]) {
                const c = { lr: 0.01, alpha: 0.99, eps: 1e-8, wd, momentum, centered };
                const s = setup(n, n * 50 + ci++, ['p', 'g', 'sq', 'gavg', 'buf'], ['sq'], ['gavg']);
                const { p, g, sq, gavg, buf } = s.vals;
                const wp = new Float64Array(n), ws = new Float64Array(n), wg = new Float64Array(n), wb = new Float64Array(n);
                for (let i = 0; i < n; i++) {
                  const d = g[i] + wd * p[i];
                  ws[i] = c.alpha * sq[i] + (1 - c.alpha) * d * d;
                  let avg: number;
                  if (centered) {
                    wg[i] = lerp(gavg[i], d, 1 - c.alpha);
                    avg = Math.sqrt(ws[i] - wg[i] * wg[i]) + c.eps;
                  } else {
                    avg = Math.sqrt(ws[i]) + c.eps;
                  }
                  if (momentum > 0) {
                    wb[i] = momentum * buf[i] + d / avg;
                    wp[i] = p[i] - c.lr * wb[i];
                  } else {
                    wp[i] = p[i] - (c.lr * d) / avg;
                  }
                }
                const before = heap.snapshot();
                k.rmsprop_step(s.bufs.p.ptr, s.bufs.g.ptr, s.bufs.sq.ptr, s.bufs.gavg.ptr, s.bufs.buf.ptr, n,
                  c.lr, c.alpha, c.eps, wd, momentum, centered);
                const ctx = `rmsprop_step n=${n} ${JSON.stringify(c)}`;
                const outs = [flat(s.bufs.p), flat(s.bufs.sq)];
                if (centered) outs.push(flat(s.bufs.gavg));
                if (momentum > 0) outs.push(flat(s.bufs.buf));
                rep.stray(heap.strayWrite(before, outs), ctx);
                rep.miss(firstMiss('p', heap.read(s.bufs.p), wp, optTol), ctx);
                rep.miss(firstMiss('sq', heap.read(s.bufs.sq), ws, optTol), ctx);
                if (centered) rep.miss(firstMiss('gavg', heap.read(s.bufs.gavg), wg, optTol), ctx);
                if (momentum > 0) rep.miss(firstMiss('buf', heap.read(s.bufs.buf), wb, optTol), ctx);
              }
            }
          }
        }
        rep.expectClean();
      });

      it('adagrad_step: with and without weight decay', () => {
        const rep = new Report();
        for (const n of lengths) {
          for (const wd of [0, 0.1]) {
            const c = { clr: 0.05, wd, eps: 1e-10 };
            const s = setup(n, n * 7 + (wd ? 1 : 0), ['p', 'g', 'sum'], ['sum']);
            const { p, g, sum } = s.vals;
            const wp = new Float64Array(n), ws = new Float64Array(n);
            for (let i = 0; i < n; i++) {
              const d = g[i] + wd * p[i];
              ws[i] = sum[i] + d * d;
              wp[i] = p[i] - (c.clr * d) / (Math.sqrt(ws[i]) + c.eps);
            }
            const ctx = `adagrad_step n=${n} ${JSON.stringify(c)}`;
            rep.run(heap, ctx, [flat(s.bufs.p), flat(s.bufs.sum)], () => k.adagrad_step(s.bufs.p.ptr, s.bufs.g.ptr, s.bufs.sum.ptr, n, c.clr, wd, c.eps));
            rep.miss(firstMiss('p', heap.read(s.bufs.p), wp, optTol), ctx);
            rep.miss(firstMiss('sum', heap.read(s.bufs.sum), ws, optTol), ctx);
          }
        }
        rep.expectClean();
      });
    });

    it('heap_base is 64-byte aligned and inside the initial memory', () => {
      const base = k.heap_base();
      expect(base % 64).toBe(0);
      expect(base).toBeLessThanOrEqual(k.memory.buffer.byteLength);
    });
  });
}
