// Inference against ONNX Runtime: the four training workloads of bench/workloads.mjs run
// forward only, plus a batch-1 streaming step loop of the char model, on bptt-wasm (1 and 2
// threads) and on onnxruntime-node (intra-op threads 1 and 2), with identical weights (the
// model is exported with writeOnnx and the bytes loaded into ORT), in one process. Outputs
// are checked to agree before anything is timed. Run `node bench/inference.mjs --help`.

import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import { createModel, step, wasmBuild, writeOnnx } from '../dist/src/index.js';
import { WORKLOADS, forwardFlops, makeBatch, median } from './workloads.mjs';
import { cpuModel, describeLimits, machineLimits } from './limit.mjs';

const HELP = `node bench/inference.mjs [--runs N] [--min-ms MS] [--stream-steps S] [--workloads W1,W2,...] [--no-2t]

Forward-only inference, bptt-wasm vs onnxruntime-node ${ort.env.versions?.node ?? ''}, same weights, one process:
  W1-W4      model.forward(x) of bench/workloads.mjs's workloads (T x B at once)
  W4-stream  the char model (LSTM V65 H128) one step at a time, batch 1, the state fed back
             (bptt-wasm's step(); ORT runs a T=1 export with h0/c0 inputs and h_n/c_n outputs)
The bptt-wasm side is model.predict(x) where the library has it, else model.forward(x).
Impls: wasm-1t, wasm-2t (threads: 2), ort-1t, ort-2t (intraOpNumThreads 1 / 2; interOp 1,
sequential, all graph optimizations). Each time is the median of --runs timed samples (default
15), each sample repeating the call until it takes --min-ms (default 50) ms, after warm-up.
Columns: ms per call (per step for W4-stream), GFLOP/s of the matrix products (2 per
multiply-add, forward only, as bench/workloads.mjs forwardFlops counts them: W4's one-hot
layer-0 input product is a column copy, not counted; from the median), the fastest sample, and ort-1t's time over this impl's (>1 = faster than ORT on one
thread), and % of the Wasm SIMD multiply-add limit of this core (bench/limit.mjs, default
build, measured before and after; x2 for 2 threads; ORT runs native AVX2 code, so its rows can
pass 100%). Before timing, each impl's outputs are compared with wasm-1t's (max error relative
to the largest magnitude, must be < 1e-4) and printed.
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  if (v === undefined) { console.error(`${name} needs a value\n\n${HELP}`); process.exit(2); }
  return v;
};
const known = new Set(['--runs', '--min-ms', '--stream-steps', '--workloads', '--no-2t']);
for (const a of args) if (a.startsWith('--') && !known.has(a)) { console.error(`unknown option ${a}\n\n${HELP}`); process.exit(2); }
const RUNS = Number(opt('--runs', 15));
const MIN_MS = Number(opt('--min-ms', 50));
const STREAM = Number(opt('--stream-steps', 100));
const ONLY = opt('--workloads', 'W1,W2,W3,W4,W4-stream').split(',');
const TWO = !args.includes('--no-2t');

function relErr(a, b) {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / Math.max(m, 1e-30);
}

/**
 * { ms: median ms per call, best: fastest sample's }: samples of `reps` calls, reps grown
 * until a sample takes MIN_MS. The median is the figure quoted; the best shows what a quiet
 * core gives (on a shared machine neighbours only ever add time).
 */
async function time(fn) {
  for (let i = 0; i < 3; i++) await fn();
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await fn();
    if (performance.now() - t >= MIN_MS || reps >= 1 << 16) break;
    reps *= 2;
  }
  const samples = [];
  for (let s = 0; s < RUNS; s++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await fn();
    samples.push((performance.now() - t) / reps);
  }
  return { ms: median(samples), best: Math.min(...samples) };
}

const session = (bytes, threads) => ort.InferenceSession.create(bytes, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});

const rows = [];
/** t: time()'s result for `per` calls' worth (W4-stream: STREAM steps); base: ort-1t's */
function report(workload, impl, t, flops, base, per = 1) {
  const ms = t.ms / per, best = t.best / per;
  rows.push({ workload, impl, ms, best, gflops: flops / ms / 1e6, vsOrt: base ? base.ms / t.ms : 1, threads: impl.endsWith('-2t') ? 2 : 1 });
}

/** The inference call: predict (saves nothing for backward) where this version of the library has it, else forward. */
const infer = (m, x) => {
  if (typeof m.predict === 'function') {
    const r = m.predict(x);
    return r.output ?? r;
  }
  return m.forward(x).output;
};
let usesPredict = false;
/** the GEMM tiles each workload's predict runs (model.info().gemm), printed after the table */
const tiles = [];

async function batched(name) {
  const w = WORKLOADS[name];
  const { x } = makeBatch(w);
  const m1 = await createModel({ ...w.model, backend: 'wasm', seed: 7 });
  const m2 = TWO ? await createModel({ ...w.model, backend: 'wasm', seed: 7, threads: 2 }) : null;
  m2?.loadStateDict(m1.stateDict());
  const bytes = writeOnnx(m1);
  const feeds = { x: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) };
  const s1 = await session(bytes, 1);
  const s2 = TWO ? await session(bytes, 2) : null;
  usesPredict = typeof m1.predict === 'function';
  const ref = infer(m1, x).data;
  if (m1.info().gemm) tiles.push(`${name}: ${m1.info().gemm.map((c) => `${c.op} ${c.M}x${c.N}x${c.K} ${c.variant} (${c.source})`).join('; ')}`);
  const errs = { 'wasm-2t': m2 && relErr(infer(m2, x).data, ref), 'ort-1t': relErr((await s1.run(feeds)).y.data, ref) };
  if (s2) errs['ort-2t'] = relErr((await s2.run(feeds)).y.data, ref);
  check(name, errs);
  const flops = forwardFlops(w);
  const tOrt1 = await time(() => s1.run(feeds));
  report(name, 'wasm-1t', await time(() => infer(m1, x)), flops, tOrt1);
  if (m2) report(name, 'wasm-2t', await time(() => infer(m2, x)), flops, tOrt1);
  report(name, 'ort-1t', tOrt1, flops, tOrt1);
  if (s2) report(name, 'ort-2t', await time(() => s2.run(feeds)), flops, tOrt1);
  m1.dispose(); m2?.dispose();
  await s1.release(); await s2?.release();
}

function check(name, errs) {
  const parts = Object.entries(errs).filter(([, e]) => e !== null).map(([k, e]) => `${k} ${e.toExponential(1)}`);
  process.stderr.write(`${name}: outputs vs wasm-1t: ${parts.join(', ')}\n`);
  for (const [k, e] of Object.entries(errs)) {
    if (e !== null && !(e < 1e-4)) { console.error(`${name}: ${k} disagrees with wasm-1t (${e}); not timing`); process.exit(1); }
  }
}

/** The char model one step at a time, batch 1: what a streaming/sampling loop does. */
async function streaming() {
  const w = WORKLOADS.W4;
  const { x } = makeBatch(w);
  const I = w.model.inputSize;
  const xs = Array.from({ length: STREAM }, (_, t) => ({ shape: [1, I], data: x.data.subarray((t % w.T) * I, (t % w.T + 1) * I) }));
  const m1 = await createModel({ ...w.model, backend: 'wasm', seed: 7 });
  // batch 1 has one row to split: a 2-thread model runs it on the calling thread, so this
  // row measures what the threaded model costs a streaming loop (its extra bookkeeping)
  const m2 = TWO ? await createModel({ ...w.model, backend: 'wasm', seed: 7, threads: 2 }) : null;
  m2?.loadStateDict(m1.stateDict());
  const bytes = writeOnnx(m1, { initialState: true });
  const s1 = await session(bytes, 1);
  const s2 = TWO ? await session(bytes, 2) : null;
  const H = w.model.hiddenSize;
  const ours = (m) => () => {
    let state;
    let y;
    for (const xt of xs) ({ output: y, state } = step(m, xt, state));
    return y.data;
  };
  const theirs = (s) => async () => {
    let h = new ort.Tensor('float32', new Float32Array(H), [1, 1, H]);
    let c = new ort.Tensor('float32', new Float32Array(H), [1, 1, H]);
    let y;
    for (const xt of xs) {
      const r = await s.run({ x: new ort.Tensor('float32', xt.data, [1, 1, I]), h0: h, c0: c });
      h = r.h_n; c = r.c_n; y = r.y.data;
    }
    return y;
  };
  const ref = ours(m1)();
  const errs = { 'wasm-2t': m2 && relErr(ours(m2)(), ref), 'ort-1t': relErr(await theirs(s1)(), ref) };
  if (s2) errs['ort-2t'] = relErr(await theirs(s2)(), ref);
  check('W4-stream', errs);
  const flops = forwardFlops(w, 1, 1);
  const tOrt1 = await time(theirs(s1));
  report('W4-stream', 'wasm-1t', await time(ours(m1)), flops, tOrt1, STREAM);
  if (m2) report('W4-stream', 'wasm-2t', await time(ours(m2)), flops, tOrt1, STREAM);
  report('W4-stream', 'ort-1t', tOrt1, flops, tOrt1, STREAM);
  if (s2) report('W4-stream', 'ort-2t', await time(theirs(s2)), flops, tOrt1, STREAM);
  m1.dispose(); m2?.dispose();
  await s1.release(); await s2?.release();
}

const cpu = cpuModel();
process.stderr.write(`bptt-wasm vs onnxruntime-node ${ort.env.versions?.node ?? ''}, ${cpu}, ${availableParallelism()} available, Node ${process.version}\n`);
// the core's limit before and after the runs (max of the two: turbo and neighbours only lower it)
const limA = machineLimits();
for (const name of ONLY) {
  if (name === 'W4-stream') await streaming();
  else if (WORKLOADS[name]) await batched(name);
  else { console.error(`unknown workload ${name}\n\n${HELP}`); process.exit(2); }
}
const limB = machineLimits();
const build = wasmBuild();
const limit = Math.max(limA[build]?.limit ?? 0, limB[build]?.limit ?? 0);
console.log(`inference, ${new Date().toISOString().slice(0, 16)}Z, ${cpu}, Node ${process.version}, onnxruntime-node ${ort.env.versions?.node ?? ''}, bptt-wasm ${usesPredict ? 'model.predict' : 'model.forward'} ('${build}' build)`);
console.log(describeLimits(limB));
console.log(`ms: median per call (W4-stream: per step); % limit: GFLOP/s over ${limit.toFixed(1)} GFLOP/s x threads`);
console.log('workload   impl      ms         best       GFLOP/s  % limit  ort-1t/this');
for (const r of rows) {
  const pct = limit ? `${Math.round((100 * r.gflops) / (limit * r.threads))}%` : '-';
  console.log(`${r.workload.padEnd(10)} ${r.impl.padEnd(9)} ${r.ms.toPrecision(4).padEnd(10)} ${r.best.toPrecision(4).padEnd(10)} ${r.gflops.toFixed(2).padEnd(8)} ${pct.padEnd(8)} ${r.vsOrt.toFixed(2)}`);
}
console.log('ms: median; best: fastest sample; GFLOP/s and % limit from the median; ort-1t/this: ratio of medians (>1: faster than ORT on one thread)');
console.log(`GEMM tiles (model.info().gemm): ${tiles.join(' | ')}`);
