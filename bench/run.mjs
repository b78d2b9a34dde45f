// npm run bench: every workload on the Wasm backend (plain SIMD and relaxed-SIMD FMA builds)
// against the pure-JS backend, in one process, with the `benchmark` package. Prints ms per
// training step (median of the samples), GFLOP/s and the speed-up over js; writes
// bench/results.json. Options: --workloads W1,W4  --quick (fewer samples)  --no-js
//
// The machine is shared and noisy: medians, not means, and the js baseline is measured in
// the same process, right next to the Wasm numbers.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { createModel, wasmBuild } from '../dist/src/index.js';
import { WORKLOADS, makeBatch, stepFlops, trainStep } from './workloads.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const quick = args.includes('--quick');
const withJs = !args.includes('--no-js');
const names = opt('--workloads', Object.keys(WORKLOADS).join(',')).split(',');
for (const n of names) if (!WORKLOADS[n]) throw new Error(`unknown workload '${n}' (have ${Object.keys(WORKLOADS).join(', ')})`);

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function runSuite(cases) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite();
    for (const c of cases) {
      // Slow cases (the js baseline on big workloads) get few samples; fast ones many.
      suite.add(c.name, c.fn, { minSamples: c.minSamples, maxTime: c.maxTime, initCount: 1 });
    }
    const out = [];
    suite.on('cycle', (ev) => {
      const b = ev.target;
      const ms = median(b.stats.sample) * 1000;
      out.push({ name: b.name, ms, samples: b.stats.sample.length, rme: b.stats.rme });
      process.stderr.write(`  ${b.name}: ${ms.toFixed(2)} ms/step (median of ${b.stats.sample.length})\n`);
    });
    suite.on('complete', () => resolve(out));
    suite.run({ async: false });
  });
}

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
  if (withJs) {
    const m = await createModel({ ...w.model, backend: 'js', seed: 1 });
    const t0 = performance.now();
    trainStep(m, batch, w.loss);
    const once = performance.now() - t0;
    // the JS baseline takes seconds per step on W2/W3: a handful of samples is enough
    cases.push({ name: 'js', fn: () => trainStep(m, batch, w.loss), minSamples: once > 1000 ? 2 : 5, maxTime: quick ? 1 : 3 });
  }
  const res = await runSuite(cases);
  const js = res.find((r) => r.name === 'js');
  for (const r of res) {
    results.push({ workload: wname, desc: w.desc, impl: r.name, msPerStep: r.ms, gflops: flops / (r.ms * 1e6), samples: r.samples,
      speedupVsJs: js ? js.ms / r.ms : null });
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
console.log(`\n${pad('workload', 9)}${pad('impl', 14)}${pad('ms/step', 11)}${pad('GFLOP/s', 9)}x js`);
for (const r of results) {
  console.log(`${pad(r.workload, 9)}${pad(r.impl, 14)}${pad(r.msPerStep.toFixed(2), 11)}${pad(r.gflops.toFixed(2), 9)}${r.speedupVsJs ? r.speedupVsJs.toFixed(1) : '-'}`);
}
if (rss) console.log(`\npeak RSS, W2 training (wasm, ${rss.steps} steps, fresh process): ${rss.peakRssMB.toFixed(0)} MB`);
const file = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), results, rss }, null, 2));
console.log(`\nwrote ${file}`);
