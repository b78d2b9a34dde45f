// GEMM micro-benchmark: GFLOP/s of every layout on training-shaped problems,
// both builds, one thread, median of several timed runs.
//
//   node bench/kernels.mjs            (after npm run build:wasm)
//   node bench/kernels.mjs --quick    (fewer runs)

import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/kernels.mjs [--quick]\n  GFLOP/s of every GEMM layout on training-shaped problems, both Wasm builds, one thread');
  process.exit(0);
}

setFlagsFromString('--experimental-wasm-relaxed-simd');

const quick = process.argv.includes('--quick');
const RUNS = quick ? 3 : 7;
const MIN_MS = quick ? 30 : 80; // each timed run repeats the call for at least this long

// [variant, M, N, K, what it stands for]  (T*B = 3200 rows, B = 32, H = 256, LSTM: 4H = 1024)
const SHAPES = [
  ['packed', 64, 256, 256, 'PEAK: pre-packed B, everything in cache'],
  ['packed', 32, 1024, 256, 'h[B,H] * W_hh^T, W_hh packed once per sweep (what training runs)'],
  ['packed', 1, 512, 128, 'batch 1 recurrent step, packed W_hh'],
  ['nn', 32, 1024, 256, 'h[B,H] * W_hh^T[H,4H] (pre-transposed)'],
  ['nn', 3200, 256, 1024, 'dX[TB,In] = dG[TB,4H] * W_ih[4H,In]'],
  ['nn', 1, 512, 128, 'batch 1, matrix-vector'],
  ['tn', 1024, 256, 3200, 'dW_ih[4H,In] += dG^T * X[TB,In]'],
  ['tn', 1024, 256, 256, 'dW_hh per chunk of 8 steps'],
  ['nt', 32, 1024, 256, 'h[B,H] * W_hh^T, W as stored'],
  ['nt', 3200, 1024, 256, 'gx[TB,4H] = X * W_ih^T'],
  ['nt', 1, 512, 128, 'batch 1, matrix-vector'],
  ['nn', 3200, 256, 1024, 'as above, instance without scratch', true],
  ['tn', 1024, 256, 3200, 'as above, instance without scratch', true],
];

function load(name) {
  const bytes = readFileSync(new URL(`../build/bptt.${name}.wasm`, import.meta.url));
  if (!WebAssembly.validate(bytes)) return null;
  // the kernels import their (shared) memory, as the library creates it
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 32768, shared: true });
  const module = new WebAssembly.Module(bytes);
  const k = { ...new WebAssembly.Instance(module, { env: { memory } }).exports, memory };
  // a second instance over the same memory has no packing scratch (unpacked kernels)
  k.second = { ...new WebAssembly.Instance(module, { env: { memory } }).exports, memory };
  return k;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function bench(k0, [v, M, N, K, , unpacked]) {
  const k = unpacked ? k0.second : k0;
  const aLen = M * K, bLen = K * N, cLen = M * N;
  const base = Math.ceil(k.heap_base() / 64) * 64;
  const A = base, B = A + Math.ceil((aLen * 4) / 64) * 64, C = B + Math.ceil((bLen * 4) / 64) * 64;
  const end = C + cLen * 4;
  if (end > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  const f = new Float32Array(k.memory.buffer);
  for (let i = A / 4; i < end / 4; i++) f[i] = Math.random() - 0.5;
  // leading dims: tight, as the training code uses them
  const lda = v === 'tn' ? M : K, ldb = v === 'nt' ? K : N, ldc = N;
  let call;
  if (v === 'packed') {
    // B packed once (as the backend packs W_hh once per forward), then reused
    const Bp = end + 64 - (end % 64);
    const pend = Bp + k.packed_b_floats(K, N) * 4;
    if (pend > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((pend - k.memory.buffer.byteLength) / 65536));
    k.pack_b(Bp, B, K, N, N, 0);
    call = () => k.gemm_packed_b(C, A, Bp, M, N, K, K, N, 1);
  } else {
    const fn = k[`gemm_${v}`];
    call = () => fn(C, A, B, M, N, K, lda, ldb, ldc, 1);
  }
  // warm up past Liftoff into TurboFan code
  const t0 = performance.now();
  let reps = 0;
  while (performance.now() - t0 < 150 || reps < 5) {
    call();
    reps++;
  }
  const perCall = (performance.now() - t0) / reps;
  const n = Math.max(1, Math.ceil(MIN_MS / perCall));
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const s = performance.now();
    for (let i = 0; i < n; i++) call();
    times.push((performance.now() - s) / n);
  }
  const ms = median(times);
  return { ms, gflops: (2 * M * N * K) / (ms * 1e6) };
}

const builds = ['simd', 'relaxed'].map((name) => ({ name, k: load(name) }));
console.log(`node ${process.version}, V8 ${process.versions.v8}; median of ${RUNS} runs`);
const rows = [];
const peak = {};
for (const shape of SHAPES) {
  const [v, M, N, K, what] = shape;
  const row = { gemm: v === 'packed' ? 'gemm_packed_b' : `gemm_${v}`, M, N, K };
  for (const { name, k } of builds) {
    if (!k) {
      row[name] = 'n/a';
      continue;
    }
    const { gflops } = bench(k, shape);
    if (!peak[name]) peak[name] = gflops; // the first shape is the in-cache peak
    row[`${name} GFLOP/s`] = gflops.toFixed(1);
    row[`${name} % peak`] = Math.round((100 * gflops) / peak[name]);
  }
  row.shape = what;
  rows.push(row);
}
console.table(rows);
console.log('peak = the in-cache packed GEMM in the first row, the practical limit of the 4x8 register tile on this CPU');
