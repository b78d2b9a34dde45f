// Memory child (test/memory-rss.test.ts): runs one scenario against dist/ in its own
// process, so the RSS it reports is that run's own, and prints one JSON line.
//   predict <js|wasm>: 40,000 windows of a GRU (1 input, hidden 32, T = 28), lastStepOnly
//   compact <js|wasm> <threads>: RSS before and after a large training call, and after compact()
import { createModel } from '../../dist/src/index.js';

const [mode, backend, threads = '1'] = process.argv.slice(2);
const MiB = 2 ** 20;
const rss = () => process.memoryUsage().rss / MiB;
const gc = () => { globalThis.gc?.(); globalThis.gc?.(); };

if (mode === 'predict') {
  const m = await createModel({ cell: 'gru', inputSize: 1, hiddenSize: 32, outputSize: 1, backend, threads: Number(threads), seed: 1 });
  const T = 28, N = 40000;
  const x = { shape: [T, N, 1], data: Float32Array.from({ length: T * N }, (_, i) => Math.sin(i * 0.01)) };
  const before = rss();
  const y = m.predict(x, { lastStepOnly: true });
  let finite = true;
  for (const v of y.data) if (!Number.isFinite(v)) finite = false;
  // peak resident set of this whole process (KiB on Linux)
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ shape: y.shape, finite, before, peak, modelBytes: m.info().capacityBytes }));
} else if (mode === 'compact') {
  const m = await createModel({ cell: 'lstm', inputSize: 4, hiddenSize: 64, outputSize: 4, backend, threads: Number(threads), seed: 1 });
  const small = { shape: [20, 4, 4], data: Float32Array.from({ length: 320 }, (_, i) => Math.cos(i)) };
  m.forward(small);
  gc();
  const base = rss(), baseBytes = m.info().capacityBytes;
  // a large training call (forward-only calls run in small time chunks, see README "Memory")
  const T = backend === 'js' ? 120 : 200, B = 256;
  const big = { shape: [T, B, 4], data: new Float32Array(T * B * 4).fill(0.5) };
  m.lossAndGrad({ x: big, target: big }, { kind: 'mse', reduction: 'mean' }, { inputGrad: false });
  m.zeroGrad();
  gc();
  const large = rss(), largeBytes = m.info().capacityBytes;
  const y0 = m.forward(small).output.data;
  await m.compact();
  gc();
  await new Promise((r) => setTimeout(r, 200)); // terminated workers let go of the old memory
  gc();
  const after = rss(), afterBytes = m.info().capacityBytes;
  const y1 = m.forward(small).output.data;
  const same = y0.length === y1.length && y0.every((v, i) => Object.is(v, y1[i]));
  m.dispose();
  console.log(JSON.stringify({ base, large, after, baseBytes, largeBytes, afterBytes, same }));
}
