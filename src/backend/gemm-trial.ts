// Which GEMM micro-kernel each product runs, chosen by a short timed trial (issue 14).
//
// The kernels have several register tiles (4x8, 4x8s, 5x8s, 2x16, ...; assembly/gemm.ts)
// and a built-in rule tuned on one CPU. The fastest tile depends on the CPU and on the
// shape, so the first time a model runs a product of a new (entry point, shape class) in
// this process, every tile is timed on that product (capped to a few MFLOP) in a
// throwaway kernel instance with its own memory, and the fastest is written into the
// kernels' choice table (set_gemm_variant_class) of every model's instance.
//
// Only tiles with the build's own arithmetic compete: FMA ones in the relaxed build,
// mul+add in the plain one. Every such tile computes each output as the same chain of
// multiply-adds over k in the same order, so whatever the trial picks, results are
// bit-for-bit the same: the choice changes speed, never a value.

import type { Kernels } from './wasm.js';

/** The entry points with a variant choice, by set_gemm_variant's op number. */
export const GEMM_OPS = ['packed_b', 'nt', 'tn', 'nn'] as const;
export type GemmOp = (typeof GEMM_OPS)[number];

/** One product a sweep runs: op (index into GEMM_OPS) and C[M, N] = A[M, K] B[K, N]. */
export interface GemmShape {
  op: number;
  M: number;
  N: number;
  K: number;
}

/** How a trial decided a class: the product it timed and what it measured. */
export interface GemmTrial {
  /** the first product of its class this process ran, which the trial timed */
  M: number;
  N: number;
  K: number;
  /** that product capped to a few MFLOP (the class kept), as timed */
  timed: [number, number, number];
  /** GFLOP/s of the chosen tile and of the rule's on the timed product */
  gflops: number;
  ruleGflops: number;
  /** the rule's tile for that product */
  rule: string;
}

/** What one class of a model's matrix products runs (model.info().gemm). */
export interface GemmChoice {
  /** the entry point: packed_b (recurrent products), nt (input projections, head), tn (weight gradients), nn (input gradients) */
  op: GemmOp;
  /** the model's product, C[M, N] = A[M, K] B[K, N] (the first of its class in the call) */
  M: number;
  N: number;
  K: number;
  /** its shape class (gemm_shape_class) */
  shapeClass: number;
  /** the tile, e.g. '4x8 fma' */
  variant: string;
  /** 'trial': the fastest in this process's timed trial for the class; 'rule': the built-in rule (the trial is off) */
  source: 'trial' | 'rule';
  /** the trial that decided the class, or null */
  trial: GemmTrial | null;
}

interface Result {
  v: number;
  variant: string;
  trial: GemmTrial;
}

/** Human name of a variant (gemm_variant_info code), as the benches print it. */
export function variantName(info: number): string {
  const mr = info & 255, cols = (info >> 8) & 255, shuffled = (info >> 16) & 255, fused = info >>> 24;
  return `${mr}x${cols}${shuffled ? 's' : ''} ${fused ? 'fma' : 'mul+add'}`;
}

// Trial products are capped (the shape class is kept: M >= 64 stays >= 64, K > 128 stays
// > 128) so that one run is well under a millisecond.
const CAP_M = 64, CAP_N = 512, CAP_K = 256;
const ROUNDS = 5; // interleaved rounds, best of each variant's
// A tile replaces the rule's only when it is this much faster, confirmed in CONFIRM more
// rounds of the two alone: a shared machine's noise moves single samples by more than the
// few percent between the top tiles, and a pick by noise can be slower than the rule.
const MARGIN = 0.03, CONFIRM = 5;
// Warm-up: Node 20's V8 runs a Wasm function in its baseline tier (about half speed here)
// until the optimised code, compiled in the background after the function has run a while,
// is ready: 10-20 ms after the first call on this 2-core EPYC. 2 ms per tile left whole
// trials timing baseline code (every tile at half speed, the pick random).
const WARM_CALLS = 16, WARM_MS = 30;
const MIN_SAMPLE_MS = 0.3; // repetitions per sample so a sample spans this (coarse browser timers)

/** Process-wide results by `${build}:${op}:${class}`, and a trial instance per build. */
const results = new Map<string, Result>();
const trialInstances = new Map<string, { k: Kernels; warmed: boolean }>();
let enabled = true;

/**
 * Turn the trial off or on again (default on). Off: products of a call shape a model has
 * not run yet use the built-in rule (bench/ compares the two); results never differ, the
 * choice is speed only.
 */
export function setGemmTrial(on: boolean): void {
  enabled = on;
}

/** Whether the trial runs (setGemmTrial). */
export function gemmTrialEnabled(): boolean {
  return enabled;
}

/** Every result so far in this process, in the order they were decided. */
export function gemmChoices(): { op: GemmOp; shapeClass: number; variant: string; trial: GemmTrial }[] {
  return [...results.entries()].map(([key, r]) => {
    const [, op, cls] = key.split(':').map(Number);
    return { op: GEMM_OPS[op], shapeClass: cls, variant: r.variant, trial: r.trial };
  });
}

/** The variants that compete: the build's own arithmetic (see the top of this file). */
function candidates(k: Kernels): number[] {
  const n = k.gemm_variant_count();
  const fused = (v: number): boolean => (k.gemm_variant_info(v) >>> 24) !== 0;
  let anyFused = false;
  for (let v = 0; v < n; v++) if (fused(v)) anyFused = true;
  const out: number[] = [];
  for (let v = 0; v < n; v++) if (fused(v) === anyFused) out.push(v);
  return out;
}

const flops = (M: number, N: number, K: number): number => 2 * M * N * K;

/**
 * The kernels' choice for every product in `shapes`: a trial for each (op, class) this
 * process has not seen (in an instance from `fresh`, never in `k`'s memory), then the
 * results written into `k`'s choice table. Returns the choices, one per class.
 */
export function chooseGemmVariants(k: Kernels, build: string, shapes: readonly GemmShape[], fresh: () => Kernels): GemmChoice[] {
  const out: GemmChoice[] = [];
  const seen = new Set<string>();
  for (const s of shapes) {
    // fewer than 4 rows bypass the tiles (matrix-vector kernels): nothing to choose
    if (s.M < 4 || s.N < 1 || s.K < 1) continue;
    const cls = k.gemm_shape_class(s.M, s.N, s.K);
    const key = `${build}:${s.op}:${cls}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let r = enabled ? results.get(key) : undefined;
    if (!r && enabled) {
      r = trial(build, s, cls, fresh);
      results.set(key, r);
    }
    // without a result (trial off) the class runs the rule, even where an earlier trial set it
    k.set_gemm_variant_class(s.op, cls, r ? r.v : -1);
    const v = k.gemm_variant(s.op, s.M, s.N, s.K);
    out.push({ op: GEMM_OPS[s.op], M: s.M, N: s.N, K: s.K, shapeClass: cls, variant: variantName(k.gemm_variant_info(v)),
      source: r ? 'trial' : 'rule', trial: r ? r.trial : null });
  }
  return out;
}

/** Time every candidate on the capped product; the fastest wins if it beats the rule's tile by MARGIN, else the rule's. */
function trial(build: string, s: GemmShape, cls: number, fresh: () => Kernels): Result {
  let inst = trialInstances.get(build);
  if (!inst) {
    inst = { k: fresh(), warmed: false };
    trialInstances.set(build, inst);
  }
  const k = inst.k;
  const M = Math.min(s.M, CAP_M), N = Math.min(s.N, CAP_N), K = s.K <= 128 ? s.K : Math.min(s.K, CAP_K);
  const run = product(k, s.op, M, N, K);
  const cand = candidates(k);
  k.set_gemm_variant_class(s.op, cls, -1);
  const ruleV = k.gemm_variant(s.op, M, N, K);
  const time = (v: number, reps: number): number => {
    k.set_gemm_variant_class(s.op, cls, v);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run();
    return (performance.now() - t0) / reps;
  };
  if (!inst.warmed) {
    // Wasm starts in a baseline tier and each function is optimised once it has run
    // enough (V8: after a few calls of a kernel this size, compiled in the background):
    // the tiles run round-robin, each at least WARM_CALLS times, for WARM_MS in all, once
    // per process: their optimised versions compile in the background side by side.
    const t0 = performance.now();
    for (let i = 0; i < WARM_CALLS || performance.now() - t0 < WARM_MS; i++) for (const v of cand) time(v, 1);
    inst.warmed = true;
  }
  const one = Math.min(...cand.map((v) => time(v, 1)));
  const reps = Math.max(1, Math.ceil(MIN_SAMPLE_MS / Math.max(one, 1e-3)));
  const best = new Map<number, number>(cand.map((v) => [v, Infinity]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of cand) best.set(v, Math.min(best.get(v)!, time(v, reps)));
  }
  let win = ruleV;
  for (const v of cand) if (best.get(v)! < best.get(win)!) win = v;
  if (win !== ruleV) {
    for (let r = 0; r < CONFIRM; r++) {
      for (const v of [win, ruleV]) best.set(v, Math.min(best.get(v)!, time(v, reps)));
    }
    if (!(best.get(win)! < best.get(ruleV)! * (1 - MARGIN))) win = ruleV;
  }
  k.set_gemm_variant_class(s.op, cls, -1);
  const gf = (v: number): number => Math.round(flops(M, N, K) / best.get(v)! / 1e5) / 10;
  const name = (v: number): string => variantName(k.gemm_variant_info(v));
  return {
    v: win, variant: name(win),
    trial: { M: s.M, N: s.N, K: s.K, timed: [M, N, K], gflops: gf(win), ruleGflops: gf(ruleV), rule: name(ruleV) },
  };
}

/** A closure running one [M, N, K] product of entry point op over buffers in k's memory. */
function product(k: Kernels, op: number, M: number, N: number, K: number): () => void {
  const packed = op === 0 ? k.packed_b_floats(K, N) : 0;
  const floats = M * K + (op === 0 ? K * N + packed : K * N) + M * N + 64;
  const base = Math.ceil(k.heap_base() / 64) * 64;
  const need = base + floats * 4;
  const have = k.memory.buffer.byteLength;
  if (need > have) k.memory.grow(Math.ceil((need - have) / 65536));
  const f32 = new Float32Array(k.memory.buffer);
  const A = base, B = A + M * K * 4, Bp = B + K * N * 4, C = Bp + packed * 4;
  // small values that stay normal whatever the product (no denormal slow paths)
  for (let i = 0; i < M * K + K * N; i++) f32[A / 4 + i] = ((i * 37) % 17) / 17 - 0.5;
  switch (op) {
    case 0: // recurrent product h W^T: B is W [N, K] as stored, packed once
      k.pack_b(Bp, B, K, N, K, 1);
      return () => k.gemm_packed_b(C, A, Bp, M, N, K, K, N, 0);
    case 1: // A [M, K] B [N, K]^T
      return () => k.gemm_nt(C, A, B, M, N, K, K, K, N, 0);
    case 2: // A [K, M]^T B [K, N], accumulating like the weight gradients
      return () => k.gemm_tn(C, A, B, M, N, K, M, N, N, 1);
    default: // A [M, K] B [K, N]
      return () => k.gemm_nn(C, A, B, M, N, K, K, N, N, 0);
  }
}
