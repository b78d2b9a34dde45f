// The benchmark workloads (W1-W4) and their FLOP counts, and the measurement helpers the
// benchmarks share.

import Benchmark from 'benchmark';
import { Rng, SGD } from '../dist/src/index.js';

export const WORKLOADS = {
  W1: { desc: 'tanh RNN I32 H128 O32 T50 B32, MSE', model: { cell: 'rnn', inputSize: 32, hiddenSize: 128, outputSize: 32 }, T: 50, B: 32, loss: 'mse' },
  W2: { desc: 'LSTM I64 H256 O64 T100 B32, MSE', model: { cell: 'lstm', inputSize: 64, hiddenSize: 256, outputSize: 64 }, T: 100, B: 32, loss: 'mse' },
  W3: { desc: 'GRU I64 H256 O64 T100 B32, MSE', model: { cell: 'gru', inputSize: 64, hiddenSize: 256, outputSize: 64 }, T: 100, B: 32, loss: 'mse' },
  W4: { desc: 'char LSTM one-hot V65 H128 T25 B1, softmax CE', model: { cell: 'lstm', inputSize: 65, hiddenSize: 128, outputSize: 65 }, T: 25, B: 1, loss: 'cross_entropy', oneHot: true },
};

const GATES = { rnn: 1, lstm: 4, gru: 3 };

/**
 * FLOPs of one forward over T steps of B sequences, counting the matrix products the
 * engine multiplies, 2 per multiply-add. A one-hot workload's layer-0 input product is a
 * copy of W_ih's columns (backend/wasm.ts, Schedule.hot): not counted, so its GFLOP/s and
 * % of the limit are the arithmetic done (PyTorch and ONNX Runtime multiply those zeros too,
 * and their GFLOP/s count the same FLOPs as ours).
 */
export function forwardFlops(w, T = w.T, B = w.B) {
  const { cell, inputSize: I, hiddenSize: H, outputSize: O, numLayers: L = 1 } = w.model;
  const TB = T * B, GH = GATES[cell] * H;
  let f = 2 * TB * H * O;
  for (let l = 0; l < L; l++) f += 2 * TB * ((l === 0 ? (w.oneHot ? 0 : I) : H) + H) * GH;
  return f;
}

/**
 * FLOPs of one training step (forward, loss, BPTT, no dLoss/dx for the input layer), as
 * forwardFlops counts them: forward, then weight gradients and gradients into each layer's
 * inputs and previous state (a one-hot layer 0's dW_ih is additions into columns).
 */
export function stepFlops(w) {
  const { cell, inputSize: I, hiddenSize: H } = w.model;
  const TB = w.T * w.B, GH = GATES[cell] * H;
  return 3 * forwardFlops(w) - (w.oneHot ? 0 : 2 * TB * I * GH);
}

/** Deterministic inputs for a workload. */
export function makeBatch(w) {
  const rng = new Rng(12345);
  const r = () => rng.uniform(-1, 1);
  const { inputSize: I, outputSize: O } = w.model;
  const { T, B } = w;
  let x;
  if (w.loss === 'cross_entropy') {
    // one-hot characters
    x = new Float32Array(T * B * I);
    for (let i = 0; i < T * B; i++) x[i * I + ((i * 31 + 7) % I)] = 1;
  } else {
    x = Float32Array.from({ length: T * B * I }, r);
  }
  const target = w.loss === 'mse'
    ? { shape: [T, B, O], data: Float32Array.from({ length: T * B * O }, r) }
    : { shape: [T, B], data: Int32Array.from({ length: T * B }, (_, i) => (i * 17 + 3) % O) };
  return { x: { shape: [T, B, I], data: x }, target };
}

const optimizers = new WeakMap();

/**
 * One SGD training step through the public API: zero grads, forward + loss + BPTT,
 * optimizer.step(). `Sgd` is the SGD class of the module that built the model (run.mjs's
 * --baseline passes the baseline's). SGD.step() also checks the update for non-finite values
 * (a copy of the weights and one sum-of-squares pass, O(parameters) next to the O(T B
 * parameters) sweep): the public API has no update without that check.
 */
export function trainStep(model, batch, loss, Sgd = SGD) {
  let opt = optimizers.get(model);
  if (!opt) optimizers.set(model, (opt = new Sgd(model, { lr: 1e-4 })));
  opt.zeroGrad();
  const r = model.lossAndGrad(batch, { kind: loss, reduction: 'sum' }, { inputGrad: false });
  opt.step();
  return r.loss;
}

export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Time cases { name, fn, minSamples, maxTime } with the `benchmark` package, one after
 * another in this process; resolves to [{ name, ms (median per call), samples, rme }].
 * Slow cases (the js baseline on big workloads) get few samples, fast ones many.
 */
export function runSuite(cases) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite();
    for (const c of cases) suite.add(c.name, c.fn, { minSamples: c.minSamples, maxTime: c.maxTime, initCount: 1 });
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
