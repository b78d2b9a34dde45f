// What length bucketing saves in fit: one epoch on the names dataset (examples/names/names.json,
// 8,008 names of 2-15 characters, one-hot), a bidirectional GRU (hidden 64), batches of 32,
// with and without `bucketing: true`, on both backends. The engine already packs each batch
// (steps past a sequence's end cost nothing), so what bucketing removes is the rest: the rows
// of a step that carry fewer sequences, and the per-step overhead of long batches.
// Options: --quick (fewer samples)  --no-js
//
// The machine is shared and noisy: medians of interleaved samples.

import { readFileSync } from 'node:fs';
import { createModel, fit, Adam } from '../dist/src/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const backends = args.includes('--no-js') ? ['wasm'] : ['wasm', 'js'];

const { female, male } = JSON.parse(readFileSync(new URL('../examples/names/names.json', import.meta.url), 'utf8'));
const names = [...female.map((n) => [n.toLowerCase(), 0]), ...male.map((n) => [n.toLowerCase(), 1])];
const alphabet = [...new Set(names.flatMap(([n]) => [...n]))].sort(), V = alphabet.length;
const index = new Map(alphabet.map((ch, i) => [ch, i]));
const N = names.length, T = Math.max(...names.map(([n]) => n.length));
const x = new Float32Array(T * N * V), y = new Int32Array(N), lengths = new Int32Array(N);
names.forEach(([name, label], b) => {
  [...name].forEach((ch, t) => { x[(t * N + b) * V + index.get(ch)] = 1; });
  lengths[b] = name.length;
  y[b] = label;
});
const data = { x: { shape: [T, N, V], data: x }, target: { shape: [N], data: y }, lengths };
const loss = { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true };
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

console.log(`bptt-wasm bucketing: Node ${process.version}; one fit epoch, ${N} names (lengths 2-${T}), bidirectional GRU H64, batches of 32`);
console.log('backend   shuffled s (padding)   bucketed s (padding)   ratio');
for (const backend of backends) {
  const m = await createModel({ cell: 'gru', inputSize: V, hiddenSize: 64, outputSize: 2, bidirectional: true, backend, seed: 1 });
  const opt = new Adam(m, { lr: 3e-3 });
  const times = { plain: [], bucketed: [] }, padding = {};
  const samples = quick ? 3 : 7;
  for (let s = 0; s < samples + 1; s++) {
    for (const [k, bucketing] of [['plain', false], ['bucketed', true]]) {
      const t0 = performance.now();
      const h = await fit(m, data, { loss, optimizer: opt, epochs: 1, batchSize: 32, bucketing, seed: s, progress: false });
      if (s > 0) times[k].push((performance.now() - t0) / 1000); // sample 0 warms up
      padding[k] = h.epochs[0].padding;
    }
  }
  const p = median(times.plain), b = median(times.bucketed);
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  console.log(`${backend.padEnd(8)}  ${p.toFixed(2).padStart(6)} (${pct(padding.plain)})        ${b.toFixed(2).padStart(6)} (${pct(padding.bucketed)})         ${(b / p).toFixed(2)}x`);
  m.dispose();
}
