// Comparison against TensorFlow.js on its WebAssembly backend (@tensorflow/tfjs-backend-wasm,
// XNNPACK + SIMD) on the same workloads as bench/run.mjs: same cells (PyTorch gate order and
// GRU formula), sizes, data, summed loss, full BPTT through all T steps, SGD update (lr 1e-4).
// One tfjs step = tf.variableGrads over the unrolled loop + tf.train.sgd's applyGradients.
// bptt-wasm (default Wasm build, 1 thread) is measured in the same process, next to it.
// Before timing, each workload checks that tfjs and bptt-wasm, loaded with the same weights
// (bptt-wasm seed 1, via stateDict()), agree on the initial loss and gradients.
//
//   node bench/tfjs.mjs [--workloads W1,W4] [--quick]
//
// Threads: tfjs-backend-wasm turns its multi-threaded build off under Node
// (WASM_HAS_MULTITHREAD_SUPPORT is false when IS_NODE; forcing the flag fails, the pthread
// workers are blob: URLs that Node's Worker rejects), so tfjs runs single-threaded SIMD here,
// and is compared with bptt-wasm on 1 thread.
//
// How the tfjs side is made fast (measured on this machine, tfjs 4.22):
// - The wasm backend's MatMul takes XNNPACK's fast path (~40 GFLOP/s) only for untransposed
//   operands; with transposeA/transposeB it falls back to a plain loop (1-3 GFLOP/s), and
//   tfjs's own matMul gradient uses exactly those forms. So every product is a custom op
//   (tf.customGrad) whose forward and backward products are all untransposed, with the
//   weights' transposes made once per step outside the tape (XNNPACK packs them once per step).
// - The wasm Slice kernel (behind unstack, split, stridedSlice) copies its whole input out of
//   the heap on every call, so cutting T timesteps out of one big tensor is O(T^2) (and Gather
//   moves only ~40M floats/s). Hence the input product x_t W_ih^T runs per timestep on
//   per-timestep input tensors (its GEMMs still run at ~40 GFLOP/s; one [T*B, I] product
//   followed by unstack made W2 about 3x slower, ~820 vs ~265 ms), while the head is one
//   product over all timesteps: the hidden states are stacked with one Concat, whose
//   backward cuts dy into timesteps on the JS side (one read, T uploads).
// - RNN/LSTM add b_ih + b_hh as one bias; the all-zero h0 (and c0) is not multiplied; each
//   step runs in tf.tidy (checked: no tensor leaks).

import path from 'node:path';
import { createRequire } from 'node:module';
// @tensorflow/tfjs, not bare tfjs-core: the gradient functions are registered by the union
// package's bundle (tfjs-core's CommonJS build has none; its register_all_gradients is ESM
// with extensionless imports that Node cannot load).
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { createModel, wasmBuild } from '../dist/src/index.js';
import { WORKLOADS, makeBatch, median, runSuite, stepFlops, trainStep } from './workloads.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/tfjs.mjs [--workloads W1,W4] [--quick]\n  bptt-wasm against TensorFlow.js (tfjs-backend-wasm) on the same workloads');
  process.exit(0);
}

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const quick = args.includes('--quick');
const names = opt('--workloads', Object.keys(WORKLOADS).join(',')).split(',');
for (const n of names) if (!WORKLOADS[n]) throw new Error(`unknown workload '${n}' (have ${Object.keys(WORKLOADS).join(', ')})`);

const LR = 1e-4; // as bench/workloads.mjs trainStep

// ---- tfjs setup: wasm backend from the package's own dist folder (no download) ----
const require = createRequire(import.meta.url);
const wasmPkgFile = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
const wasmPkg = require(wasmPkgFile);
tfwasm.setWasmPaths(path.join(path.dirname(wasmPkgFile), 'dist') + path.sep);
if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: could not initialize the wasm backend');
await tf.ready();
const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
const mt = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
const tfThreads = tfwasm.getThreadsCount();
if (!simd) throw new Error('tfjs-backend-wasm: SIMD build not available');

// ---- custom ops: untransposed products only (XNNPACK fast path), no big slices ----

/**
 * x @ W^T (+ b), W in PyTorch layout [out, in], WT = transpose(W) made once per step outside
 * the tape (so XNNPACK packs it once and reuses it for all T steps). Gradients: dx = dy @ W
 * (skipped when x is the network input), dW = dy^T @ x, db = sum of dy's rows.
 */
function linear(x, W, WT, b = null, xIsInput = false) {
  const value = () => (b ? tf.add(tf.matMul(x, WT), b) : tf.matMul(x, WT));
  const dWdb = (dy, xs) => (b ? [tf.matMul(tf.transpose(dy), xs), tf.sum(dy, 0)] : [tf.matMul(tf.transpose(dy), xs)]);
  const params = b ? [W, b] : [W];
  if (xIsInput) {
    return tf.customGrad((...args) => ({ value: value(), gradFunc: (dy) => dWdb(dy, x) }))(...params);
  }
  return tf.customGrad((...args) => {
    args[args.length - 1]([x]); // save
    return { value: value(), gradFunc: (dy, [xs]) => [tf.matMul(dy, W), ...dWdb(dy, xs)] };
  })(x, ...params);
}

/**
 * The T hidden states [B, H] stacked into [T*B, H] (one Concat). The backward pass cuts dy
 * into its T row blocks on the JS side (one read, T uploads): the wasm backend's Slice kernel
 * (behind unstack/split) copies its whole input out of the heap on every call, which makes T
 * slices of one big tensor O(T^2), and its Gather kernel moves ~40M floats/s.
 */
function stackRows(hs, T, B) {
  return tf.customGrad((...args) => {
    const inputs = args.slice(0, T);
    return {
      value: tf.concat(inputs, 0),
      gradFunc: (dy) => {
        const d = dy.dataSync(), n = d.length / T, H = n / B;
        return inputs.map((_, t) => tf.tensor2d(d.subarray(t * n, (t + 1) * n), [B, H]));
      },
    };
  })(...hs);
}

// ---- the model ----

function buildTfjs(w, sd, batch) {
  const { cell, inputSize: I, hiddenSize: H, outputSize: O } = w.model;
  const { T, B } = w;
  const v = (name) => tf.variable(tf.tensor(sd[name].data, sd[name].shape), true, `${w.name}.${name}`);
  const P = {
    wih: v('rnn.weight_ih_l0'), whh: v('rnn.weight_hh_l0'),
    bih: v('rnn.bias_ih_l0'), bhh: v('rnn.bias_hh_l0'),
    wout: v('out.weight'), bout: v('out.bias'),
  };
  const varList = Object.values(P);
  // the inputs, one [B, I] tensor per timestep (constants, made once)
  const Xs = Array.from({ length: T }, (_, t) => tf.tensor2d(batch.x.data.subarray(t * B * I, (t + 1) * B * I), [B, I]));
  const target = w.loss === 'mse'
    ? tf.tensor2d(batch.target.data, [T * B, O])
    : tf.tidy(() => tf.oneHot(tf.tensor1d(batch.target.data, 'int32'), O).toFloat());
  const optimizer = tf.train.sgd(LR);

  /** The summed loss; WT holds this step's transposed weights (not on the tape). */
  function lossFn(WT, probe = null) {
    const hs = [];
    let h = null, c = null;
    // RNN, LSTM: one bias b_ih + b_hh, added with the input product
    const bias = cell === 'gru' ? null : tf.add(P.bih, P.bhh);
    for (let t = 0; t < T; t++) {
      // h0 (and c0) = 0: at t = 0, W_hh h0 = 0
      if (cell === 'rnn') {
        const zx = linear(Xs[t], P.wih, WT.ih, bias, true);
        h = tf.tanh(t === 0 ? zx : tf.add(zx, linear(h, P.whh, WT.hh)));
      } else if (cell === 'lstm') {
        const zx = linear(Xs[t], P.wih, WT.ih, bias, true);
        const z = t === 0 ? zx : tf.add(zx, linear(h, P.whh, WT.hh));
        const [zi, zf, zg, zo] = tf.split(z, 4, 1); // PyTorch order i, f, g, o
        const i = tf.sigmoid(zi), g = tf.tanh(zg), o = tf.sigmoid(zo);
        c = t === 0 ? tf.mul(i, g) : tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(i, g));
        h = tf.mul(o, tf.tanh(c));
      } else {
        // GRU, PyTorch order r, z, n: r, z = sigmoid(gi_rz + gh_rz), n = tanh(gi_n + r * gh_n),
        // gi = W_ih x + b_ih, gh = W_hh h + b_hh (= b_hh at t = 0)
        const gi = linear(Xs[t], P.wih, WT.ih, P.bih, true);
        const gh = t === 0 ? P.bhh : linear(h, P.whh, WT.hh, P.bhh);
        const [irz, inn] = tf.split(gi, [2 * H, H], 1);
        const [hrz, hn] = tf.split(t === 0 ? tf.reshape(gh, [1, 3 * H]) : gh, [2 * H, H], 1);
        const [r, z] = tf.split(tf.sigmoid(tf.add(irz, hrz)), 2, 1);
        const n = tf.tanh(tf.add(inn, tf.mul(r, hn)));
        // h = (1 - z) * n + z * h_prev = n + z * (h_prev - n)
        h = t === 0 ? tf.sub(n, tf.mul(z, n)) : tf.add(n, tf.mul(z, tf.sub(h, n)));
      }
      hs.push(h);
    }
    // the head over all timesteps, one product
    const Y = linear(stackRows(hs, T, B), P.wout, WT.out, P.bout);
    if (probe) probe.Y = Y.dataSync().slice();
    if (w.loss === 'mse') return tf.sum(tf.squaredDifference(Y, target));
    return tf.losses.softmaxCrossEntropy(target, Y, undefined, 0, tf.Reduction.SUM);
  }

  const transposed = () => ({ ih: tf.transpose(P.wih), hh: tf.transpose(P.whh), out: tf.transpose(P.wout) });

  /** One training step: forward + loss + BPTT (variableGrads), SGD update; returns the loss. */
  function step() {
    let loss;
    tf.tidy(() => {
      const WT = transposed();
      const { value, grads } = tf.variableGrads(() => lossFn(WT), varList);
      optimizer.applyGradients(grads);
      loss = value.dataSync()[0];
    });
    return loss;
  }

  /**
   * Loss and gradients (PyTorch names) at the current weights, no update; also the loss summed
   * in float64 from tfjs's outputs (tfjs's own Sum adds float32s, a ~1e-5 relative error here).
   */
  function lossAndGrads() {
    return tf.tidy(() => {
      const WT = transposed();
      const probe = {};
      const { value, grads } = tf.variableGrads(() => lossFn(WT, probe), varList);
      const byName = {};
      for (const [k, p] of Object.entries(P)) byName[k] = grads[p.name].dataSync();
      return { loss: value.dataSync()[0], loss64: loss64(probe.Y), grads: byName };
    });
  }

  function loss64(Y) {
    const tg = batch.target.data;
    let s = 0;
    if (w.loss === 'mse') {
      for (let i = 0; i < Y.length; i++) s += (Y[i] - tg[i]) ** 2;
      return s;
    }
    for (let r = 0; r < T * B; r++) {
      const row = Y.subarray(r * O, (r + 1) * O);
      const m = Math.max(...row);
      let z = 0;
      for (const y of row) z += Math.exp(y - m);
      s += m + Math.log(z) - row[tg[r]];
    }
    return s;
  }

  function dispose() {
    for (const p of varList) p.dispose();
    for (const x of Xs) x.dispose();
    target.dispose();
    optimizer.dispose();
  }
  return { step, lossAndGrads, dispose };
}

const TF_NAMES = {
  wih: 'rnn.weight_ih_l0', whh: 'rnn.weight_hh_l0', bih: 'rnn.bias_ih_l0', bhh: 'rnn.bias_hh_l0',
  wout: 'out.weight', bout: 'out.bias',
};

/** max |a - b| / max |b| */
function relErr(a, b) {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / (m || 1);
}

// ---- measurement: runSuite and median from workloads.mjs, as bench/run.mjs ----


console.log(`tfjs comparison: Node ${process.version}; @tensorflow/tfjs ${tf.version.tfjs} (tfjs-core ${tf.version['tfjs-core']}), ` +
  `@tensorflow/tfjs-backend-wasm ${wasmPkg.version} (SIMD ${simd ? 'on' : 'off'}, ` +
  `${tfThreads} thread${mt ? '' : ': no multi-threading under Node'}); bptt-wasm build '${wasmBuild()}', 1 thread`);

const results = [];
for (const wname of names) {
  const w = { ...WORKLOADS[wname], name: wname };
  const batch = makeBatch(w);
  const flops = stepFlops(w);
  process.stderr.write(`${wname}: ${w.desc} (${(flops / 1e6).toFixed(0)} MFLOP/step)\n`);

  // the same weights on both sides
  const model = await createModel({ ...w.model, backend: 'wasm', seed: 1 });
  const sd = model.stateDict();
  const tfm = buildTfjs(w, sd, batch);

  // correctness: initial loss (and gradients) for identical weights
  model.zeroGrad();
  const ref = model.lossAndGrad(batch, { kind: w.loss, reduction: 'sum' }, { inputGrad: false });
  const refGrads = model.gradDict();
  const got = tfm.lossAndGrads();
  const lossRel = Math.abs(got.loss - ref.loss) / Math.abs(ref.loss);
  const loss64Rel = Math.abs(got.loss64 - ref.loss) / Math.abs(ref.loss);
  const gradRel = Math.max(...Object.entries(TF_NAMES).map(([k, n]) => relErr(got.grads[k], refGrads[n].data)));
  const ok = lossRel < 1e-4 && gradRel < 1e-3;
  console.log(`${wname} check, same weights: initial loss tfjs ${got.loss.toPrecision(8)}, bptt-wasm ${ref.loss.toPrecision(8)} ` +
    `(rel. diff ${lossRel.toExponential(1)}; ${loss64Rel.toExponential(1)} with tfjs's outputs summed in float64); ` +
    `gradients max rel. diff ${gradRel.toExponential(1)}: ${ok ? 'OK' : 'MISMATCH'}`);
  if (!ok) process.exitCode = 1;

  // warm up both, and check that a tfjs step leaks no tensors
  trainStep(model, batch, w.loss);
  tfm.step();
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  tfm.step();
  const once = performance.now() - t0;
  if (tf.memory().numTensors !== before) throw new Error(`tfjs step leaks ${tf.memory().numTensors - before} tensors`);

  // W2/W3 take a few hundred ms per tfjs step: fewer samples
  const slow = once > 100;
  const res = await runSuite([
    { name: 'tfjs-wasm', fn: () => tfm.step(), minSamples: slow ? (quick ? 3 : 5) : (quick ? 5 : 20), maxTime: quick ? 1 : 3 },
    { name: 'bptt-wasm', fn: () => trainStep(model, batch, w.loss), minSamples: quick ? 5 : 20, maxTime: quick ? 1 : 3 },
  ]);
  const tfr = res.find((r) => r.name === 'tfjs-wasm'), bw = res.find((r) => r.name === 'bptt-wasm');
  results.push({ workload: wname, tfjs: tfr, bptt: bw });
  tfm.dispose();
  model.dispose();
}

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('workload', 9)}${pad('tfjs-wasm ms/step', 19)}${pad('bptt-wasm ms/step', 19)}tfjs / bptt-wasm`);
for (const r of results) {
  console.log(`${pad(r.workload, 9)}${pad(`${r.tfjs.ms.toFixed(2)} (n=${r.tfjs.samples})`, 19)}` +
    `${pad(`${r.bptt.ms.toFixed(2)} (n=${r.bptt.samples})`, 19)}${(r.tfjs.ms / r.bptt.ms).toFixed(1)}x`);
}
