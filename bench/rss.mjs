// Peak resident memory of a few training steps of one workload on the wasm backend.
import { createModel } from '../dist/src/index.js';
import { WORKLOADS, makeBatch, trainStep } from './workloads.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/rss.mjs [W1|W2|...]\n  peak resident memory of a few training steps of one workload (default W2) on the wasm backend');
  process.exit(0);
}

const w = WORKLOADS[process.argv[2] ?? 'W2'];
const m = await createModel({ ...w.model, backend: 'wasm', seed: 1 });
const batch = makeBatch(w);
const steps = 5;
for (let i = 0; i < steps; i++) trainStep(m, batch, w.loss);
console.log(JSON.stringify({ steps, peakRssMB: process.resourceUsage().maxRSS / 1024, wasmMB: m.arena.memory.buffer.byteLength / 2 ** 20 }));
