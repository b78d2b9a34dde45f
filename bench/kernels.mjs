// GEMM micro-benchmark: every micro-kernel variant on the products training runs, both
// builds, one thread, as GFLOP/s and as % of this core's multiply-add limit measured in
// the same process (bench/limit.mjs). Variants and the limit kernels are timed round-robin
// in short runs (one run of each per round), and each keeps its fastest run: see bestMs
// in bench/limit.mjs for why best-of on a shared machine. Then the batch-1 products, which
// run no tiles: row dots on W_hh as stored and packed into row groups, and the row updates.
//
//   node bench/kernels.mjs                     (after npm run build:wasm)
//   node bench/kernels.mjs --quick             (fewer rounds)
//   node bench/kernels.mjs --baseline DIR      (also time DIR/bptt.<build>.wasm's GEMMs, e.g. main's build/)
//   node bench/kernels.mjs --json FILE         (write the figures)
//   node bench/kernels.mjs --only tn,packed    (only these entry points)

import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Rng } from '../dist/src/index.js';
import { GEMM_OPS, cpuModel, describeLimits, foldLimit, limitCalls, loadKernels, repsFor, timeRun, variantName } from './limit.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/kernels.mjs [--quick] [--baseline DIR] [--json FILE] [--only packed,nt,tn,nn]\n' +
    '  GFLOP/s of every GEMM micro-kernel variant on training-shaped problems, both Wasm builds, one thread,\n' +
    '  as % of the multiply-add limit measured in the same process');
  process.exit(0);
}

const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const quick = args.includes('--quick');
const ROUNDS = quick ? 7 : 15;
const RUN_MS = 3; // one timed run: short, so that some runs get the core to themselves
const baseDir = opt('--baseline');

// [entry point, M, N, K, what it stands for]. W2: T 100, B 32, I 64, H 256 (LSTM: 4H = 1024).
const SHAPES = [
  ['packed', 32, 1024, 256, 'W2 forward step: h[B,H] W_hh^T, packed once per sweep'],
  ['packed', 32, 256, 1024, 'W2 backward step: dG[B,4H] W_hh'],
  ['packed', 32, 768, 256, 'W3 forward step (GRU, 3H)'],
  ['packed', 32, 128, 128, 'W1 step (RNN H128)'],
  ['nt', 3200, 1024, 64, 'W2 input projection X W_ih^T, all steps'],
  ['nt', 3200, 64, 256, 'W2 output layer h W_out^T'],
  ['tn', 1024, 256, 3200, 'W2 dW_hh += dG^T H'],
  ['tn', 1024, 64, 3200, 'W2 dW_ih += dG^T X'],
  ['tn', 64, 256, 3200, 'W2 dW_out += dY^T H'],
  ['nn', 3200, 256, 64, 'W2 dH = dY W_out'],
  ['nt', 1600, 128, 32, 'W1 input projection'],
  ['tn', 128, 128, 1600, 'W1 dW_hh'],
];
const OP = { packed: 0, nt: 1, tn: 2, nn: 3 };
const only = opt('--only')?.split(',');

/** Operands for one shape in k's memory, and a function running the product once. */
function setup(k, [v, M, N, K]) {
  const aLen = M * K, bLen = K * N, cLen = M * N;
  const base = Math.ceil(k.heap_base() / 64) * 64;
  const A = base, B = A + Math.ceil((aLen * 4) / 64) * 64, C = B + Math.ceil((bLen * 4) / 64) * 64;
  const Bp = C + Math.ceil((cLen * 4) / 64) * 64;
  const end = Bp + (v === 'packed' ? k.packed_b_floats(K, N) * 4 : 0);
  if (end > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  const f = new Float32Array(k.memory.buffer);
  const rng = new Rng(M * 1000 + N + K); // seeded: every run times the same operands
  for (let i = A / 4; i < Bp / 4; i++) f[i] = rng.uniform(-0.5, 0.5);
  // leading dims: tight, as the training code uses them
  const lda = v === 'tn' ? M : K, ldb = v === 'nt' ? K : N, ldc = N;
  if (v === 'packed') {
    k.pack_b(Bp, B, K, N, N, 0);
    return () => k.gemm_packed_b(C, A, Bp, M, N, K, K, N, 0);
  }
  const fn = k[`gemm_${v}`];
  return () => fn(C, A, B, M, N, K, lda, ldb, ldc, 0);
}

console.log(`node ${process.version}, V8 ${process.versions.v8}; ${cpuModel()}; best of ${ROUNDS} interleaved runs of ~${RUN_MS} ms`);
const limits = { cpu: cpuModel(), simd: null, relaxed: null };

const builds = ['simd', 'relaxed'].map((name) => ({ name, k: loadKernels(name), base: baseDir ? loadKernels(name, pathToFileURL(baseDir.endsWith('/') ? baseDir : `${baseDir}/`)) : null }))
  .filter((b) => b.k);
const results = [];
for (const { name, k, base } of builds) {
  const nv = k.gemm_variant_count();
  const variants = [...Array(nv).keys()];
  const lim = limitCalls(k, name).map((c) => ({ ...c, reps: repsFor(c.call, RUN_MS) }));
  const table = [];
  for (const shape of SHAPES.filter((x) => !only || only.includes(x[0]))) {
    const [v, M, N, K, what] = shape;
    const op = OP[v];
    const flops = 2 * M * N * K;
    const call = setup(k, shape);
    const ruleV = k.gemm_variant(op, M, N, K);
    const cases = variants.map((id) => ({ id, name: variantName(k.gemm_variant_info(id)), run: () => { k.set_gemm_variant(op, id); return call; } }));
    if (base) {
      const bcall = setup(base, shape);
      cases.push({ id: 'base', name: 'baseline', run: () => bcall });
    }
    for (const c of cases) { const fn = c.run(); c.reps = repsFor(fn, RUN_MS); c.ms = Infinity; }
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of cases) c.ms = Math.min(c.ms, timeRun(c.run(), c.reps));
      for (const c of lim) limits[name] = foldLimit(limits[name], c.name, c.flops / (timeRun(c.call, c.reps) * 1e6));
    }
    k.set_gemm_variant(op, -1);
    const g = {};
    for (const c of cases) g[c.name] = flops / (c.ms * 1e6);
    results.push({ build: name, gemm: v === 'packed' ? 'packed_b' : v, M, N, K, what, gflops: g, ruleV, base: !!base });
  }
  // the limit is the best over every round of this build, so % are computed at the end
  const limit = limits[name].limit;
  console.log(`\n${name} build: ${nv} micro-kernel variants; 100% = ${limit.toFixed(1)} GFLOP/s (${name === 'relaxed' ? 'FMA' : 'mul+add'} limit, measured between the GEMM runs)`);
  for (const res of results.filter((x) => x.build === name)) {
    const { M, N, K, gflops: g, ruleV } = res;
    const cases = Object.keys(g).filter((n) => n !== 'baseline');
    const best = cases.reduce((a, b) => (g[a] >= g[b] ? a : b));
    const ruleName = variantName(k.gemm_variant_info(ruleV));
    const pct = (x) => `${Math.round((100 * x) / limit)}%`;
    const row = { gemm: res.gemm, M, N, K, best, 'best GF/s': g[best].toFixed(1), 'best %': pct(g[best]),
      rule: ruleName, 'rule GF/s': g[ruleName].toFixed(1), 'rule %': pct(g[ruleName]) };
    if (res.base) { row['main GF/s'] = g.baseline.toFixed(1); row['main %'] = pct(g.baseline); }
    table.push(row);
    Object.assign(res, { limit, best, rule: ruleName });
  }
  console.table(table);
  // every variant on every shape, GFLOP/s
  const names = variants.map((id) => variantName(k.gemm_variant_info(id)));
  const full = names.map((n) => {
    const row = { variant: n };
    for (const r of results.filter((x) => x.build === name)) row[`${r.gemm} ${r.M}x${r.N}x${r.K}`] = r.gflops[n].toFixed(1);
    return row;
  });
  console.table(full);
}

// Batch-1 steps (W4: char LSTM H128, 4H = 512) skip the tiles: row dots on W_hh as stored
// (gemm_nt with M = 1), or on W_hh packed into row groups (gemm_nt_dot, what a forward of
// 16+ steps runs; same bits), and the row updates of backward's dG W_hh on W_hh as stored
// (gemm_nn, M = 1) and on the same row groups (gemm_nn_dot, what backward then runs).
const B1 = [[1, 512, 128, 'W4 forward step h W_hh^T'], [1, 1024, 256, 'H256 forward step']];
for (const { name, k } of builds) {
  const limit = limits[name].limit;
  const rows = [];
  for (const [M, N, K, what] of B1) {
    const base = Math.ceil(k.heap_base() / 64) * 64;
    // A: h (K floats) forward, dG (N floats) backward; C: N floats forward, K backward
    const A = base, W = A + Math.max(N, K) * 4 + 64, C = W + N * K * 4 + 64, Wp = C + Math.max(N, K) * 4 + 64;
    const end = Wp + k.dot_packed_floats(N, K) * 4;
    if (end > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
    const f = new Float32Array(k.memory.buffer);
    const rng = new Rng(N + K);
    for (let i = A / 4; i < Wp / 4; i++) f[i] = rng.uniform(-0.5, 0.5);
    k.pack_dot(Wp, W, N, K, K);
    const cases = {
      'rows_dot (W as stored)': () => k.gemm_nt(C, A, W, M, N, K, K, K, N, 0),
      'nt_dot (W packed)': () => k.gemm_nt_dot(C, A, Wp, W, M, N, K, K, K, N, 0),
      'pack_dot (once per forward)': () => k.pack_dot(Wp, W, N, K, K),
      'rows_axpy (backward dG W_hh)': () => k.gemm_nn(C, A, W, M, K, N, N, K, K, 0),
      'nn_dot (backward, W packed)': () => k.gemm_nn_dot(C, A, Wp, W, M, K, N, N, K, K, 0),
    };
    const cs = Object.entries(cases).map(([n, call]) => ({ n, call, reps: repsFor(call, RUN_MS), ms: Infinity }));
    for (let r = 0; r < ROUNDS; r++) for (const c of cs) c.ms = Math.min(c.ms, timeRun(c.call, c.reps));
    const flops = 2 * M * N * K;
    for (const c of cs) {
      const pack = c.n.startsWith('pack');
      rows.push({ shape: `${M}x${N}x${K}`, what, kernel: c.n, us: (c.ms * 1000).toFixed(2),
        'GF/s': pack ? '-' : (flops / (c.ms * 1e6)).toFixed(1), '%': pack ? `${(c.ms / cs[0].ms).toFixed(1)} products` : `${Math.round((100 * flops) / (c.ms * 1e6) / limit)}%` });
    }
    results.push({ build: name, batch1: `${M}x${N}x${K}`, what, us: Object.fromEntries(cs.map((c) => [c.n, c.ms * 1000])), limit });
  }
  console.log(`\n${name} build, batch-1 products (no tiles): GFLOP/s and % of ${limit.toFixed(1)} GFLOP/s; pack_dot in products of rows_dot`);
  console.table(rows);
}
console.log(describeLimits(limits));
console.log(`best = fastest variant on that shape in this run; rule = what the kernels pick by default (gemm_variant); % = of the build's multiply-add limit measured above${baseDir ? `; main = ${baseDir}'s kernels` : ''}. Entry points: ${GEMM_OPS.join(', ')}.`);
const json = opt('--json');
if (json) writeFileSync(json, JSON.stringify({ node: process.version, date: new Date().toISOString(), limits, results }, null, 2));
