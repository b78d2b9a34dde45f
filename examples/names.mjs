// Names classified by gender, the variable-length classification example of the README:
// 8,008 English first names (examples/names/names.json, from the Moby Word II lists; see
// scripts/make-names.mjs), each a sequence of one-hot characters of its own length (2 to 15),
// a bidirectional GRU trained with fit on length-bucketed minibatches, and its validation
// accuracy against the majority baseline. Run after `npm run build`: node examples/names.mjs
import { readFileSync } from 'node:fs';
import { createModel, evaluate, fit, Adam, Rng } from 'bptt-wasm';

const { female, male } = JSON.parse(readFileSync(new URL('./names/names.json', import.meta.url), 'utf8'));
const names = [...female.map((n) => [n.toLowerCase(), 0]), ...male.map((n) => [n.toLowerCase(), 1])];
new Rng(0).shuffle(names);                                    // seeded: the same split every run
const alphabet = [...new Set(names.flatMap(([n]) => [...n]))].sort(), V = alphabet.length;
const index = new Map(alphabet.map((ch, i) => [ch, i]));

// N names as a dataset: x [T, N, V] one-hot, padded to the longest name; lengths; labels [N]
function encode(list) {
  const N = list.length, T = Math.max(...list.map(([n]) => n.length));
  const x = new Float32Array(T * N * V), y = new Int32Array(N), lengths = new Int32Array(N);
  list.forEach(([name, label], b) => {
    [...name].forEach((ch, t) => { x[(t * N + b) * V + index.get(ch)] = 1; });
    lengths[b] = name.length;
    y[b] = label;
  });
  return { x: { shape: [T, N, V], data: x }, target: { shape: [N], data: y }, lengths };
}
const cut = Math.floor(names.length * 0.8);
const train = encode(names.slice(0, cut)), val = encode(names.slice(cut));

const model = await createModel({ cell: 'gru', inputSize: V, hiddenSize: 64, outputSize: 2, bidirectional: true, seed: 1 });
const loss = { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true };   // each name's own last character
const t0 = performance.now();
const history = await fit(model, train, {
  loss, metrics: ['accuracy'], validationData: val, optimizer: new Adam(model, { lr: 3e-3 }),
  epochs: 12, batchSize: 32, bucketing: true, earlyStopping: { patience: 2 }, seed: 0, progress: false,
});
const seconds = (performance.now() - t0) / 1000;

const { metrics } = evaluate(model, val, { loss, metrics: ['accuracy'] });   // the restored best epoch
const femaleShare = (d) => d.target.data.filter((y) => y === 0).length / d.target.data.length;
const majority = femaleShare(train) >= 0.5 ? 0 : 1;                          // the training set's majority
const baseline = majority === 0 ? femaleShare(val) : 1 - femaleShare(val);
const pct = (v) => `${(100 * v).toFixed(1)}%`;
console.log(`${cut} training names, ${names.length - cut} validation names, lengths 2-${train.x.shape[0]}; ` +
  `padding ${pct(history.epochs[0].padding)} of the bucketed batches`);
console.log(`validation accuracy: bidirectional GRU ${pct(metrics.accuracy)}, majority baseline ` +
  `(always ${majority === 0 ? 'female' : 'male'}) ${pct(baseline)}; best epoch ${history.bestEpoch} of ` +
  `${history.epochs.length}, ${seconds.toFixed(1)} s`);
