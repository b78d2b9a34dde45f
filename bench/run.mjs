// npm run bench: every workload on the Wasm backend (plain SIMD and relaxed-SIMD FMA builds)
// against the pure-JS backend, in one process, with the `benchmark` package. Prints ms per
// training step (median of the samples), GFLOP/s (stepFlops in workloads.mjs: the products
// multiplied; W4's one-hot input product is column copies) and the speed-up over js; writes
// bench/results.json. Batches of 8+ also run on 2 threads (default build), and W2 runs
// 1 vs 2 threads again with a CPU hog on the other core.
// Options: --workloads W1,W4  --quick (fewer samples)  --no-js  --no-busy
//          --baseline DIR  (also time DIR/dist/src/index.js, e.g. a build of main, in the same rounds)
//          --with-pytorch  (also run bench/pytorch.py, PyTorch's CPU path on the same workloads
//                           from the same starting weights, and print both in one table)
//          --torch-blas DIR  (a directory with OpenBLAS's libblas.so.3 for PyTorch, put first
//                           on LD_LIBRARY_PATH; env BPTT_TORCH_BLAS; python: env BPTT_PYTHON)
//
// The machine is shared and noisy: the Wasm cases run interleaved (one sample of each per
// round) and report the median and the best sample; the js baseline (seconds per step) is
// measured in the same process, right after. Every Wasm figure is also printed as % of this
// core's multiply-add limit (bench/limit.mjs, measured in this process before and after
// every workload; 2 threads: % of two cores' limit).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel, setGemmTrial, wasmBuild, writeSafetensors } from '../dist/src/index.js';
import { pathToFileURL } from 'node:url';
import { WORKLOADS, makeBatch, median, runSuite, stepFlops, trainStep } from './workloads.mjs';
import { describeLimits, machineLimits } from './limit.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node --expose-gc bench/run.mjs [--workloads W1,W4] [--quick] [--no-js] [--no-busy] [--baseline DIR]\n' +
    '                                      [--with-pytorch [--torch-blas DIR]]\n' +
    '  every workload on the Wasm backend (simd and relaxed builds) against the pure-JS backend; writes bench/results.json\n' +
    '  --with-pytorch: also PyTorch (bench/pytorch.py, python3 with torch; BPTT_PYTHON picks the interpreter) from the same weights,\n' +
    '  one thread and its best thread configuration, in one table; --torch-blas DIR (or BPTT_TORCH_BLAS): OpenBLAS for PyTorch');
  process.exit(0);
}

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const quick = args.includes('--quick');
const withJs = !args.includes('--no-js');
const names = opt('--workloads', Object.keys(WORKLOADS).join(',')).split(',');
for (const n of names) if (!WORKLOADS[n]) throw new Error(`unknown workload '${n}' (have ${Object.keys(WORKLOADS).join(', ')})`);


const withTorch = args.includes('--with-pytorch');
const torchBlas = opt('--torch-blas', process.env.BPTT_TORCH_BLAS ?? null);
const baseDir = opt('--baseline', null);
const base = baseDir ? await import(pathToFileURL(`${baseDir.replace(/\/$/, '')}/dist/src/index.js`).href) : null;

/** Interleaved timing: rounds of one sample per case (reps steps each), median and best ms/step. */
function interleaved(cases, rounds) {
  for (const c of cases) {
    const t0 = performance.now();
    c.fn();
    c.reps = Math.max(1, Math.ceil(20 / (performance.now() - t0))); // samples of >= ~20 ms
    c.samples = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t0 = performance.now();
      for (let i = 0; i < c.reps; i++) c.fn();
      c.samples.push((performance.now() - t0) / c.reps);
    }
  }
  return cases.map((c) => ({ name: c.name, ms: median(c.samples), best: Math.min(...c.samples), samples: c.samples.length }));
}

/** max of two limit measurements, per build */
function foldLimits(a, b) {
  if (!a) return b;
  const out = { cpu: a.cpu };
  for (const k of ['simd', 'relaxed']) {
    out[k] = a[k] && b[k] ? { fused: a[k].fused === null ? null : Math.max(a[k].fused, b[k].fused), mulAdd: Math.max(a[k].mulAdd, b[k].mulAdd), limit: Math.max(a[k].limit, b[k].limit) } : a[k] ?? b[k];
  }
  return out;
}

const builds = ['simd', 'relaxed'];
console.log(`bptt-wasm benchmark: Node ${process.version}, default Wasm build '${wasmBuild()}', 1 thread${base ? `; baseline ${baseDir}` : ''}`);
let limits = machineLimits();
// the GEMM micro-kernels each workload's products run (model.info().gemm: the timed trial's picks)
const gemmChoice = {};
const results = [];
for (const wname of names) {
  const w = WORKLOADS[wname];
  const flops = stepFlops(w);
  const batch = makeBatch(w);
  process.stderr.write(`${wname}: ${w.desc} (${(flops / 1e6).toFixed(0)} MFLOP/step)\n`);
  const cases = [];
  for (const build of builds) {
    const m = await createModel({ ...w.model, backend: 'wasm', wasmBuild: build, seed: 1 });
    trainStep(m, batch, w.loss);
    cases.push({ name: `wasm-${build}`, fn: () => trainStep(m, batch, w.loss), build, threads: 1 });
    if (build === wasmBuild()) {
      gemmChoice[wname] = m.info().gemm;
      // the same model with the kernels' built-in rule instead of the trial's picks (the
      // choice table is per model instance, so both run in this process)
      setGemmTrial(false);
      const mr = await createModel({ ...w.model, backend: 'wasm', wasmBuild: build, seed: 1 });
      trainStep(mr, batch, w.loss);
      setGemmTrial(true);
      cases.push({ name: `wasm-${build}-rule`, fn: () => trainStep(mr, batch, w.loss), build, threads: 1 });
    }
    if (base) {
      const mb = await base.createModel({ ...w.model, backend: 'wasm', wasmBuild: build, seed: 1 });
      trainStep(mb, batch, w.loss, base.SGD);
      cases.push({ name: `base-wasm-${build}`, fn: () => trainStep(mb, batch, w.loss, base.SGD), build, threads: 1 });
    }
  }
  if (w.B >= 8) {
    const m = await createModel({ ...w.model, backend: 'wasm', seed: 1, threads: 2 });
    trainStep(m, batch, w.loss);
    cases.push({ name: `wasm-${wasmBuild()}-2t`, fn: () => trainStep(m, batch, w.loss), model: m, build: wasmBuild(), threads: 2 });
    if (base) {
      const mb = await base.createModel({ ...w.model, backend: 'wasm', seed: 1, threads: 2 });
      trainStep(mb, batch, w.loss, base.SGD);
      cases.push({ name: `base-wasm-${wasmBuild()}-2t`, fn: () => trainStep(mb, batch, w.loss, base.SGD), model: mb, build: wasmBuild(), threads: 2 });
    }
  }
  const res = interleaved(cases, quick ? 5 : 15);
  for (const r of res) process.stderr.write(`  ${r.name}: ${r.ms.toFixed(2)} ms/step median, ${r.best.toFixed(2)} best (${r.samples} samples)\n`);
  if (withJs) {
    const m = await createModel({ ...w.model, backend: 'js', seed: 1 });
    const t0 = performance.now();
    trainStep(m, batch, w.loss);
    const once = performance.now() - t0;
    // the JS baseline takes seconds per step on W2/W3: a handful of samples is enough
    const [js] = await runSuite([{ name: 'js', fn: () => trainStep(m, batch, w.loss), minSamples: once > 1000 ? 2 : 5, maxTime: quick ? 1 : 3 }]);
    res.push({ ...js, best: js.ms });
  }
  limits = foldLimits(limits, machineLimits());
  for (const c of cases) c.model?.dispose();
  for (const r of res) {
    const c = cases.find((x) => x.name === r.name);
    if (c) Object.assign(r, { build: c.build, threads: c.threads });
  }
  const js = res.find((r) => r.name === 'js');
  for (const r of res) {
    results.push({ workload: wname, desc: w.desc, impl: r.name, msPerStep: r.ms, bestMsPerStep: r.best, gflops: flops / (r.ms * 1e6), bestGflops: flops / (r.best * 1e6),
      build: r.build ?? null, threads: r.threads ?? null, samples: r.samples, speedupVsJs: js ? js.ms / r.ms : null });
  }
}

// PyTorch on the same workloads, in a child process after ours (so the two never share the
// cores), from the same starting weights: each workload's seed-1 stateDict goes to
// PyTorch as safetensors with its batch (x, target), and both sides report the loss of the first step and of the
// step after one SGD update, which must agree to float32 rounding before any time is
// compared.
let torch = null;
if (withTorch) torch = await runPytorch();

async function runPytorch() {
  const pythons = process.env.BPTT_PYTHON ? [process.env.BPTT_PYTHON] : ['python3', '/usr/bin/python3'];
  const env = { ...process.env };
  if (torchBlas) env.LD_LIBRARY_PATH = `${torchBlas}${env.LD_LIBRARY_PATH ? `:${env.LD_LIBRARY_PATH}` : ''}`;
  // the first interpreter that imports torch (a pyenv python3 on PATH often has none; Debian's python3-torch is /usr/bin's)
  const python = pythons.find((p) => spawnSync(p, ['-c', 'import torch'], { env, stdio: 'ignore' }).status === 0);
  if (!python) {
    console.log(`\n--with-pytorch: no python with torch found (tried ${pythons.join(', ')}; set BPTT_PYTHON); PyTorch skipped`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bptt-bench-'));
  try {
    const ours = {};
    for (const wname of names) {
      const w = WORKLOADS[wname];
      const m = await createModel({ ...w.model, backend: 'wasm', seed: 1 });
      writeFileSync(join(dir, `${wname}.safetensors`), writeSafetensors(m.stateDict()));
      const batch = makeBatch(w);
      // the same x and target numbers for PyTorch (class ids are small integers, exact in float32)
      writeFileSync(join(dir, `${wname}.batch.safetensors`), writeSafetensors({
        x: { shape: batch.x.shape, data: batch.x.data },
        target: { shape: batch.target.shape, data: Float32Array.from(batch.target.data) },
      }));
      ours[wname] = { loss0: trainStep(m, batch, w.loss), loss1: trainStep(m, batch, w.loss) };
    }
    process.stderr.write(`PyTorch (${python}${torchBlas ? `, LD_LIBRARY_PATH ${torchBlas}` : ''}):\n`);
    const script = fileURLToPath(new URL('./pytorch.py', import.meta.url));
    const out = await new Promise((resolve, reject) => {
      const child = spawn(python, [script, '--workloads', names.join(','), '--weights', dir, ...(quick ? ['--runs', '5'] : [])],
        { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`bench/pytorch.py exited with ${code}`))));
    });
    const r = JSON.parse(out);
    for (const wname of names) {
      const t = r.results.find((x) => x.workload === wname);
      // relative difference of the summed losses: float32 sums over T*B*O terms in different orders
      const rel = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
      ours[wname].check = { torch0: t.loss0, torch1: t.loss1, rel0: rel(t.loss0, ours[wname].loss0), rel1: rel(t.loss1, ours[wname].loss1) };
    }
    return { ...r, python, check: ours };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A busy machine: the same W2 step on 1 and 2 threads while another process keeps one
// core at 100%. Two threads must not be slower than one then.
let busy = null;
if (names.includes('W2') && !args.includes('--no-busy')) {
  const w = WORKLOADS.W2;
  const batch = makeBatch(w);
  const hog = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  try {
    const m1 = await createModel({ ...w.model, seed: 1 });
    const m2 = await createModel({ ...w.model, seed: 1, threads: 2 });
    const time = (m) => {
      for (let i = 0; i < 2; i++) trainStep(m, batch, w.loss);
      const ts = [];
      for (let i = 0; i < (quick ? 5 : 11); i++) { const t0 = performance.now(); trainStep(m, batch, w.loss); ts.push(performance.now() - t0); }
      return median(ts);
    };
    busy = { oneThreadMs: time(m1), twoThreadsMs: time(m2) };
    m2.dispose();
    process.stderr.write(`  W2 with one core busy: 1 thread ${busy.oneThreadMs.toFixed(1)} ms, 2 threads ${busy.twoThreadsMs.toFixed(1)} ms\n`);
  } finally {
    hog.kill();
  }
}

// Peak RSS of a W2 training run (wasm, default build), in a fresh process so the js runs
// above do not count.
let rss = null;
if (names.includes('W2')) {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./rss.mjs', import.meta.url)), 'W2'], { encoding: 'utf8' });
  rss = JSON.parse(out);
}

const pad = (s, n) => String(s).padEnd(n);
const pctOf = (r) => (r.build && limits[r.build] ? `${Math.round((100 * r.bestGflops) / (limits[r.build].limit * r.threads))}%` : '-');
console.log(`\n${describeLimits(limits)} (max of the measurements before and after each workload)`);
console.log(`${pad('workload', 9)}${pad('impl', 22)}${pad('ms/step', 11)}${pad('best', 10)}${pad('GFLOP/s', 9)}${pad('best', 8)}${pad('% limit', 9)}x js`);
for (const r of results) {
  console.log(`${pad(r.workload, 9)}${pad(r.impl, 22)}${pad(r.msPerStep.toFixed(2), 11)}${pad(r.bestMsPerStep.toFixed(2), 10)}${pad(r.gflops.toFixed(2), 9)}${pad(r.bestGflops.toFixed(2), 8)}${pad(pctOf(r), 9)}${r.speedupVsJs ? r.speedupVsJs.toFixed(1) : '-'}`);
}
console.log('ms/step: median of interleaved samples; best: fastest sample; % limit: best GFLOP/s over the build\'s multiply-add limit (x threads)');
for (const wname of names) {
  const g = gemmChoice[wname] ?? [];
  if (g.length) console.log(`${wname} GEMM tiles (${wasmBuild()}, timed trial; GFLOP/s on the capped trial product, the rule's tile and GFLOP/s in brackets): ${g.map((c) => `${c.op} ${c.M}x${c.N}x${c.K} ${c.variant}${c.trial ? ` ${c.trial.gflops} [${c.trial.rule} ${c.trial.ruleGflops}]` : ''}`).join('; ')}`);
}
for (const r of results.filter((q) => q.impl.endsWith('-rule'))) {
  const t = results.find((q) => q.workload === r.workload && q.impl === r.impl.slice(0, -5));
  if (t) console.log(`${r.workload}: the trial's tiles ${(r.msPerStep / t.msPerStep).toFixed(2)}x the rule's speed (medians ${t.msPerStep.toFixed(2)} vs ${r.msPerStep.toFixed(2)} ms)`);
}
const t2 = results.filter((r) => r.impl.endsWith('-2t'));
for (const r of t2) {
  const one = results.find((q) => q.workload === r.workload && q.impl === r.impl.slice(0, -3));
  if (one) console.log(`${r.workload}: 2 threads ${(one.msPerStep / r.msPerStep).toFixed(2)}x one thread`);
}
if (busy) console.log(`W2 with the other core busy: 1 thread ${busy.oneThreadMs.toFixed(1)} ms/step, 2 threads ${busy.twoThreadsMs.toFixed(1)} ms/step`);
if (rss) console.log(`\npeak RSS, W2 training (wasm, ${rss.steps} steps, fresh process): ${rss.peakRssMB.toFixed(0)} MB`);
if (torch) {
  // One table: this run's medians of bptt-wasm (default build) and PyTorch, same machine, same process tree.
  const d = wasmBuild();
  const lim = limits[d]?.limit;
  console.log(`\nbptt-wasm vs PyTorch ${torch.torch}, ${limits.cpu}, ${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}`);
  console.log(`  PyTorch: ${torch.python}, BLAS ${torch.blas ?? 'unknown'}${torch.ompWaitPolicy ? `, OMP_WAIT_POLICY=${torch.ompWaitPolicy}` : ''}`);
  if (torch.blas && !/openblas|mkl|blis/i.test(torch.blas)) console.log('  warning: PyTorch runs on the reference (netlib) BLAS here, several times slower than OpenBLAS: pass --torch-blas DIR');
  console.log(`  ms per training step, medians; bptt-wasm's '${d}' build; PyTorch best = fastest median over its (OpenMP, OpenBLAS) thread pairs; % limit = bptt-wasm 1 thread's GFLOP/s over one core's multiply-add limit (${lim?.toFixed(1) ?? '?'} GFLOP/s)`);
  console.log(`${pad('workload', 9)}${pad('wasm 1t', 9)}${pad('wasm 2t', 9)}${pad('torch 1t', 10)}${pad('torch best', 17)}${pad('1t vs 1t', 10)}${pad('best vs best', 14)}${pad('% limit', 9)}loss check (rel. diff, step 1 / step 2)`);
  for (const wname of names) {
    const one = results.find((r) => r.workload === wname && r.impl === `wasm-${d}`);
    const two = results.find((r) => r.workload === wname && r.impl === `wasm-${d}-2t`);
    const t = torch.results.filter((r) => r.workload === wname);
    const t1 = t.find((r) => r.ompThreads === 1 && (r.blasThreads ?? 1) === 1);
    const tb = t.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
    const ourBest = two && two.msPerStep < one.msPerStep ? two : one;
    const c = torch.check[wname].check;
    const cfg = tb.blasThreads === null ? `${tb.ompThreads}t` : `${tb.ompThreads}x${tb.blasThreads}`;
    console.log(`${pad(wname, 9)}${pad(one.msPerStep.toFixed(2), 9)}${pad(two ? two.msPerStep.toFixed(2) : '-', 9)}${pad(t1.msPerStep.toFixed(2), 10)}` +
      `${pad(`${tb.msPerStep.toFixed(2)} (${cfg})`, 17)}${pad(`${(t1.msPerStep / one.msPerStep).toFixed(2)}x`, 10)}${pad(`${(tb.msPerStep / ourBest.msPerStep).toFixed(2)}x`, 14)}` +
      `${pad(lim ? `${Math.round((100 * one.gflops) / lim)}%` : '-', 9)}${c.rel0.toExponential(1)} / ${c.rel1.toExponential(1)}`);
  }
  console.log('  ratios: PyTorch\'s time over bptt-wasm\'s (>1: bptt-wasm is faster); best vs best: each side\'s fastest configuration');
  const bad = names.filter((n) => !(torch.check[n].check.rel0 < 1e-4 && torch.check[n].check.rel1 < 1e-4));
  if (bad.length) console.log(`  warning: the losses disagree by more than 1e-4 on ${bad.join(', ')}: the two sides do not compute the same thing`);
}
const file = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), cpu: limits.cpu, limits, defaultBuild: wasmBuild(), baseline: baseDir, results, busy, rss, pytorch: torch }, null, 2));
console.log(`\nwrote ${file}`);
