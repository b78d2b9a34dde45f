// Character inputs: an embedding (nn.Embedding, 32 per character) against one-hot vectors,
// for the demo's model (a character LSTM, hidden 128, truncated BPTT over 64 steps x 32
// streams, Adam lr 0.01, clipping 5, on the demo's text). Both models train in this process
// on the same chunks, one step of each in turn (the order swapped every step, so load on
// the shared machine falls on both alike): the median time per training step, and the loss
// after the steps as the demo reports it (the mean of the last 50 steps' losses).
// Options: --steps N (default 600)  --threads N (default 1)  --backend wasm|js

import { Adam, createModel, trainTruncated, CharStream, CharVocab } from '../dist/src/index.js';
import { demoText } from '../dist/src/cli/char.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
const STEPS = Number(arg('steps', 600));
const THREADS = Number(arg('threads', 1));
const BACKEND = arg('backend', 'wasm');
const H = 128, T = 64, B = 32, LR = 1e-2, CLIP = 5, SEED = 0;
const loss = { kind: 'cross_entropy', reduction: 'mean' };

const { text, source } = demoText();
const vocab = CharVocab.fromText(text);
const ids = vocab.encode(text);
const V = vocab.size;

async function run(name, embeddingDim) {
  const model = await createModel({
    cell: 'lstm', hiddenSize: H, outputSize: V, seed: SEED, backend: BACKEND, threads: THREADS,
    ...(embeddingDim > 0 ? { embedding: { numEmbeddings: V, embeddingDim } } : { inputSize: V }),
  });
  const stream = new CharStream(ids, V, T, B, { inputs: embeddingDim > 0 ? 'ids' : 'one-hot' });
  const optimizer = new Adam(model, { lr: LR });
  let state;
  return {
    name, model, losses: [], ms: [],
    /** one truncated-BPTT step, as the demo's trainChunk */
    step() {
      const b = stream.next();
      const t0 = performance.now();
      const r = trainTruncated(model, optimizer, { x: b.x, target: b.target }, {
        k: T, loss, clipGradNorm: CLIP, ...(b.reset || !state ? {} : { state }),
      });
      this.ms.push(performance.now() - t0);
      state = r.state;
      this.losses.push(r.losses[0]);
    },
  };
}

const runs = [await run('embedding 32', 32), await run('one-hot', 0)];
console.log(`bptt-wasm character inputs: Node ${process.version}, backend ${BACKEND}, ${THREADS} thread(s); ` +
  `LSTM hidden ${H}, ${V} characters, ${T} steps x ${B} streams, Adam lr ${LR}, clip ${CLIP}, ${STEPS} steps on ${source}`);
for (const r of runs) r.step(); // warm-up (JIT, buffers); counted as step 1 of the loss, as in the demo
for (let s = 1; s < STEPS; s++) {
  const order = s % 2 ? [0, 1] : [1, 0];
  for (const i of order) runs[i].step();
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const tail = (a) => {
  const t = a.slice(-50);
  return t.reduce((x, y) => x + y, 0) / t.length;
};
console.log('inputs         ms/step (median)   loss after the steps (mean of the last 50)   params');
for (const r of runs) {
  console.log(`${r.name.padEnd(14)} ${median(r.ms.slice(1)).toFixed(2).padStart(10)}         ${tail(r.losses).toFixed(3).padStart(10)}` +
    `                                   ${r.model.numParams}`);
}
const [e, o] = runs;
console.log(`embedding / one-hot: time per step ${(median(e.ms.slice(1)) / median(o.ms.slice(1))).toFixed(2)}x, ` +
  `loss ${tail(e.losses).toFixed(3)} vs ${tail(o.losses).toFixed(3)}`);
for (const r of runs) r.model.dispose();
