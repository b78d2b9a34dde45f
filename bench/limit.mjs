// The machine's own 100%: this core's Wasm SIMD multiply-add limit, measured in the
// calling process (so it sees the same turbo state and neighbours as the workloads it
// is compared with), and the CPU model. Used by every bench.
//
// The limit kernels (assembly/limit.ts) run 12 independent f32x4 multiply-add chains:
// relaxed_madd (FMA) in the relaxed build, mul+add in both.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { instantiateKernelsSync, sharedMemory } from '../dist/src/backend/wasm.js';
import { compileBuildSync } from '../dist/src/host/node.js';

/** CPU model, from /proc/cpuinfo where there is one (os.cpus() otherwise). */
export function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return `${m[1].trim()} (${cpus().length} logical cores)`;
  } catch {}
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'} (${c.length} logical cores)`;
}

/**
 * Instantiates build/bptt.<build>.wasm (or dir's, a baseline build) over a fresh shared memory
 * with the library's Node loader (null if it does not validate).
 */
export function loadKernels(build, dir = new URL('../build/', import.meta.url)) {
  const module = compileBuildSync(build, dir);
  return module && instantiateKernelsSync(module, sharedMemory());
}

/**
 * Times `call` in `runs` short runs of about `ms` each and returns the FASTEST run's ms per
 * call. Why best-of and not the median: other processes only ever add time, and on a
 * shared machine (load above the core count) the median measures the neighbours; a run
 * of a few ms that got its core to itself measures the code. Interleave the runs of the
 * things compared (see bench/kernels.mjs).
 */
export function bestMs(call, { runs = 15, ms = 3 } = {}) {
  const reps = repsFor(call, ms);
  let best = Infinity;
  for (let r = 0; r < runs; r++) best = Math.min(best, timeRun(call, reps));
  return best;
}

/** Calls per timed run so that one run lasts about ms (also warms the code up past Liftoff). */
export function repsFor(call, ms) {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 30 || n < 3) { call(); n++; }
  const per = (performance.now() - t0) / n;
  return Math.max(1, Math.round(ms / per));
}

/** ms per call of one run of reps calls. */
export function timeRun(call, reps) {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) call();
  return (performance.now() - t0) / reps;
}

/**
 * The multiply-add limit kernels of one build as timed calls: [{ name, flops, call }].
 * fused: 12 relaxed_madd chains (relaxed build only); mul+add two ways, a*m+d chains and
 * acc += x*m with x loaded (only the add on the chain, as in a GEMM).
 */
export function limitCalls(k, build) {
  const fpi = k.limit_flops_per_iter();
  const n = 1 << 14;
  const p = Math.ceil(k.heap_base() / 64) * 64;
  new Float32Array(k.memory.buffer, p, 16).fill(0.5);
  const out = [
    { name: 'mulAdd', flops: n * fpi, call: () => k.limit_mul_add(n, 0.999) },
    { name: 'mulAdd', flops: n * fpi, call: () => k.limit_mul_add_load(n, p, 0.999) },
  ];
  if (build === 'relaxed') out.push({ name: 'fused', flops: n * fpi, call: () => k.limit_madd(n, 0.999) });
  return out;
}

/** Folds GFLOP/s measurements of limitCalls entries into { fused, mulAdd, limit } (max of each). */
export function foldLimit(acc, name, gflops) {
  const r = acc ?? { fused: null, mulAdd: 0, limit: 0 };
  if (name === 'fused') r.fused = Math.max(r.fused ?? 0, gflops);
  else r.mulAdd = Math.max(r.mulAdd, gflops);
  r.limit = Math.max(r.fused ?? 0, r.mulAdd);
  return r;
}

/**
 * The multiply-add limit of both builds, GFLOP/s, plus the CPU model:
 * { cpu, simd: { fused: null, mulAdd, limit }, relaxed: { fused, mulAdd, limit } }, where
 * limit is what that build's GEMMs can reach at best (FMA if there, else mul+add).
 */
export function machineLimits(opts) {
  const out = { cpu: cpuModel() };
  const calls = [];
  for (const b of ['simd', 'relaxed']) {
    const k = loadKernels(b);
    out[b] = null;
    if (k) for (const c of limitCalls(k, b)) calls.push({ ...c, build: b, reps: repsFor(c.call, 3) });
  }
  const runs = opts?.runs ?? 15;
  for (let r = 0; r < runs; r++) {
    for (const c of calls) out[c.build] = foldLimit(out[c.build], c.name, c.flops / (timeRun(c.call, c.reps) * 1e6));
  }
  return out;
}

/** One line describing the limits, for bench headers. */
export function describeLimits(l) {
  const parts = [];
  if (l.relaxed) parts.push(`relaxed build ${l.relaxed.fused.toFixed(1)} GFLOP/s FMA (${l.relaxed.mulAdd.toFixed(1)} mul+add)`);
  if (l.simd) parts.push(`simd build ${l.simd.mulAdd.toFixed(1)} GFLOP/s mul+add`);
  return `${l.cpu}; Wasm SIMD multiply-add limit, one core, 12 chains, best of short runs: ${parts.join(', ')}`;
}

/** Human name of a GEMM micro-kernel variant (gemm_variant_info code). */
export function variantName(info) {
  const mr = info & 255, cols = (info >> 8) & 255, shuffled = (info >> 16) & 255, fused = info >> 24;
  return `${mr}x${cols}${shuffled ? 's' : ''} ${fused ? 'fma' : 'mul+add'}`;
}

/** The GEMM entry points whose variant is chosen separately (set_gemm_variant's op). */
export const GEMM_OPS = ['gemm_packed_b', 'gemm_nt', 'gemm_tn', 'gemm_nn'];
