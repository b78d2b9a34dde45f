// npm run bench: every workload on the Wasm backend (plain SIMD and relaxed-SIMD FMA builds)
// against the pure-JS backend, in one process, with the `benchmark` package. Prints ms per
// training step (median of the samples), GFLOP/s and the speed-up over js; writes
// bench/results.json. Batches of 8+ also run on 2 threads (default build), and W2 runs
// 1 vs 2 threads again with a CPU hog on the other core.
// Options: --workloads W1,W4  --quick (fewer samples)  --no-js  --no-busy
//
// The machine is shared and noisy: medians, not means, and the js baseline is measured in
// the same process, right next to the Wasm numbers.

import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModel, wasmBuild } from '../dist/src/index.js';
import { WORKLOADS, makeBatch, median, runSuite, stepFlops, trainStep } from './workloads.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node --expose-gc bench/run.mjs [--workloads W1,W4] [--quick] [--no-js] [--no-busy]\n  every workload on the Wasm backend (simd and relaxed builds) against the pure-JS backend; writes bench/results.json');
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


const builds = ['simd', 'relaxed'];
console.log(`bptt-wasm benchmark: Node ${process.version}, default Wasm build '${wasmBuild()}', 1 thread`);
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
    cases.push({ name: `wasm-${build}`, fn: () => trainStep(m, batch, w.loss), minSamples: quick ? 5 : 20, maxTime: quick ? 1 : 3 });
  }
  if (w.B >= 8) {
    const m = await createModel({ ...w.model, backend: 'wasm', seed: 1, threads: 2 });
    trainStep(m, batch, w.loss);
    cases.push({ name: `wasm-${wasmBuild()}-2t`, fn: () => trainStep(m, batch, w.loss), minSamples: quick ? 5 : 20, maxTime: quick ? 1 : 3, model: m });
  }
  if (withJs) {
    const m = await createModel({ ...w.model, backend: 'js', seed: 1 });
    const t0 = performance.now();
    trainStep(m, batch, w.loss);
    const once = performance.now() - t0;
    // the JS baseline takes seconds per step on W2/W3: a handful of samples is enough
    cases.push({ name: 'js', fn: () => trainStep(m, batch, w.loss), minSamples: once > 1000 ? 2 : 5, maxTime: quick ? 1 : 3 });
  }
  const res = await runSuite(cases);
  for (const c of cases) c.model?.dispose();
  const js = res.find((r) => r.name === 'js');
  for (const r of res) {
    results.push({ workload: wname, desc: w.desc, impl: r.name, msPerStep: r.ms, gflops: flops / (r.ms * 1e6), samples: r.samples,
      speedupVsJs: js ? js.ms / r.ms : null });
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
console.log(`\n${pad('workload', 9)}${pad('impl', 18)}${pad('ms/step', 11)}${pad('GFLOP/s', 9)}x js`);
for (const r of results) {
  console.log(`${pad(r.workload, 9)}${pad(r.impl, 18)}${pad(r.msPerStep.toFixed(2), 11)}${pad(r.gflops.toFixed(2), 9)}${r.speedupVsJs ? r.speedupVsJs.toFixed(1) : '-'}`);
}
const t2 = results.filter((r) => r.impl.endsWith('-2t'));
for (const r of t2) {
  const one = results.find((q) => q.workload === r.workload && q.impl === `wasm-${wasmBuild()}`);
  if (one) console.log(`${r.workload}: 2 threads ${(one.msPerStep / r.msPerStep).toFixed(2)}x one thread`);
}
if (busy) console.log(`W2 with the other core busy: 1 thread ${busy.oneThreadMs.toFixed(1)} ms/step, 2 threads ${busy.twoThreadsMs.toFixed(1)} ms/step`);
if (rss) console.log(`\npeak RSS, W2 training (wasm, ${rss.steps} steps, fresh process): ${rss.peakRssMB.toFixed(0)} MB`);
const file = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), defaultBuild: wasmBuild(), results, busy, rss }, null, 2));
console.log(`\nwrote ${file}`);
