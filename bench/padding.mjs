// What padding costs: one training step (forward, loss, full BPTT) on a batch whose lengths
// are uniform in [T/4, T], against the same valid work as an equal-length batch (the same B
// sequences, every one of the mean length, so the same number of valid steps), on both
// backends. The engine sorts and packs the batch, so the ratio should be close to 1
// (target <= 1.15x). For contrast it also times the padded batch run without lengths
// (every sequence computed for all T steps).
// Options: --quick (fewer samples)  --no-js
//
// The machine is shared and noisy: medians of interleaved samples.

import { createModel, Rng } from '../dist/src/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withJs = !args.includes('--no-js');

const CONFIGS = [
  { backend: 'wasm', cell: 'lstm', I: 32, H: 128, B: 32, T: 100 },
  { backend: 'wasm', cell: 'gru', I: 32, H: 64, B: 64, T: 64, bidirectional: true },
  ...(withJs ? [{ backend: 'js', cell: 'lstm', I: 16, H: 32, B: 16, T: 48 }] : []),
];

function batch(rng, T, B, I, O) {
  const x = { shape: [T, B, I], data: Float32Array.from({ length: T * B * I }, () => rng.uniform(-1, 1)) };
  const target = { shape: [T, B, O], data: Float32Array.from({ length: T * B * O }, () => rng.uniform(-1, 1)) };
  return { x, target };
}

const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

console.log(`bptt-wasm padding cost: Node ${process.version}; one training step, mse sum, lengths uniform in [T/4, T]`);
console.log('backend config                          variable ms   equal ms   ratio   padded, no lengths ms');
const loss = { kind: 'mse', reduction: 'sum' };
for (const c of CONFIGS) {
  const O = 8;
  const m = await createModel({ cell: c.cell, inputSize: c.I, hiddenSize: c.H, outputSize: O, bidirectional: !!c.bidirectional, backend: c.backend, seed: 1 });
  const rng = new Rng(42);
  const lo = Math.ceil(c.T / 4);
  const lengths = Int32Array.from({ length: c.B }, () => lo + rng.int(c.T - lo + 1));
  const valid = lengths.reduce((s, v) => s + v, 0);
  const Teq = Math.round(valid / c.B); // equal-length batch with the same valid steps (to rounding)
  const varB = batch(rng, c.T, c.B, c.I, O);
  const eqB = batch(rng, Teq, c.B, c.I, O);
  const runs = {
    variable: () => m.lossAndGrad({ ...varB, lengths }, loss, { inputGrad: false }),
    equal: () => m.lossAndGrad(eqB, loss, { inputGrad: false }),
    padded: () => m.lossAndGrad(varB, loss, { inputGrad: false }),
  };
  const times = { variable: [], equal: [], padded: [] };
  for (const f of Object.values(runs)) f(); // warm up (and size the workspace)
  const samples = quick ? 7 : 21;
  for (let s = 0; s < samples; s++) {
    for (const [k, f] of Object.entries(runs)) {
      m.zeroGrad();
      const t0 = performance.now();
      f();
      times[k].push(performance.now() - t0);
    }
  }
  const v = median(times.variable), e = median(times.equal), p = median(times.padded);
  // the equal batch's valid steps differ from the variable one's by rounding: compare per valid step
  const ratio = (v / valid) / (e / (Teq * c.B));
  const name = `${c.cell}${c.bidirectional ? ' bi' : ''} I${c.I} H${c.H} B${c.B} T${c.T}`;
  console.log(`${c.backend.padEnd(7)} ${name.padEnd(31)} ${v.toFixed(2).padStart(11)} ${e.toFixed(2).padStart(10)} ${ratio.toFixed(3).padStart(7)}x ${p.toFixed(2).padStart(12)}`);
  m.dispose();
}
