// `bptt-wasm predict`: run a checkpoint that `train` or `demo` wrote on new input.
// A regression model (train series.csv) forecasts the next --horizon values of each CSV row,
// in the CSV's units: the rows are standardized with the mean and std stored in the
// checkpoint, later steps feed each forecast back in, and the outputs are mapped back.
// A character model reads a text (a file or --text) and reports its cross-entropy and the
// most likely next characters.

import type { Command } from 'commander';
import { Option } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import type { Model } from '../model.js';
import { oneHot, type CharVocab } from '../data/text.js';
import { UsageError, UserError, fmtInt, intArg, out, readTextFile } from './common.js';
import { charModel, loadCliCheckpoint } from './load.js';
import { parseCsvSequences } from './train.js';
import { finalState, initialState, type RecurrentState } from '../train/train.js';

/** Forward in pieces of at most this many steps (state carried), so a long text needs bounded memory. */
const CHUNK = 4096;

interface PredictOpts { checkpoint: string; text?: string; horizon: number; top: number; backend?: BackendKind }

/**
 * Forward x [T, B, I] (token ids [T, B] for a model with an embedding) chunk by chunk; calls
 * `each(t, output row block)` with the outputs of step t.
 */
function forwardChunked(model: Model, x: Float32Array | Int32Array, T: number, B: number, each: (t: number, y: ArrayLike<number>, o: number) => void):
RecurrentState {
  const O = model.layout.outputWidth;
  const ids = model.config.embedding !== undefined;
  const I = ids ? 1 : model.config.inputSize; // values per (t, b)
  let state: RecurrentState | undefined;
  for (let t0 = 0; t0 < T; t0 += CHUNK) {
    const n = Math.min(CHUNK, T - t0);
    const r = model.forward({ shape: ids ? [n, B] : [n, B, I], data: x.subarray(t0 * B * I, (t0 + n) * B * I) }, initialState(state));
    for (let t = 0; t < n; t++) each(t0 + t, r.output.data, t * B * O);
    state = finalState(r);
  }
  return state!;
}

function predictCsv(file: string, o: PredictOpts, model: Model, metadata: Record<string, string>): void {
  if (model.config.embedding || model.config.inputSize !== 1 || model.layout.outputWidth !== 1) {
    const what = model.config.embedding ? 'takes token ids' : `maps ${model.config.inputSize} inputs to ${model.layout.outputWidth} outputs`;
    throw new UserError(`${o.checkpoint} ${what}; ` +
      'predict on a CSV needs a one-value-per-step model (bptt-wasm train series.csv)');
  }
  let norm = { mean: 0, std: 1 };
  const stored = metadata['bptt_wasm.standardize'];
  if (stored !== undefined) {
    const s = JSON.parse(stored) as { mean?: unknown; std?: unknown };
    if (typeof s.mean !== 'number' || typeof s.std !== 'number' || !Number.isFinite(s.mean) || !(s.std > 0)) {
      throw new UserError(`${o.checkpoint}: bptt_wasm.standardize must be {"mean": number, "std": number > 0}, got ${stored}`);
    }
    norm = { mean: s.mean, std: s.std };
  }
  const rows = parseCsvSequences(readTextFile(file, 'input file'), file, 1);
  const N = rows.length, T = rows[0].length;
  const x = new Float32Array(T * N);
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) x[t * N + n] = (rows[n][t] - norm.mean) / norm.std;
  const next = new Float32Array(N); // standardized forecast of the step after the input
  let state = forwardChunked(model, x, T, N, (t, y, off) => {
    if (t === T - 1) for (let n = 0; n < N; n++) next[n] = y[off + n];
  });
  const forecasts: number[][] = rows.map(() => []);
  for (let k = 0; k < o.horizon; k++) {
    for (let n = 0; n < N; n++) forecasts[n].push(next[n] * norm.std + norm.mean);
    if (k === o.horizon - 1) break;
    const r = model.forward({ shape: [1, N, 1], data: next }, initialState(state));
    next.set(r.output.data);
    state = finalState(r);
  }
  out(Array.from({ length: o.horizon }, (_, k) => `forecast_${k + 1}`).join(','));
  for (const f of forecasts) out(f.map((v) => String(Number(v.toPrecision(7)))).join(','));
}

function predictText(text: string, what: string, o: PredictOpts, { model, vocab }: { model: Model; vocab: CharVocab }): void {
  if (text.length === 0) throw new UserError(`${what} is empty`);
  for (const c of text) if (!vocab.has(c)) throw new UserError(`${what}: character ${JSON.stringify(c)} is not in the model's vocabulary`);
  const ids = vocab.encode(text), V = vocab.size, L = ids.length;
  let nll = 0;
  const last = new Float64Array(V);
  // log-softmax of the output at step t, scored against the character at t + 1
  // a model with an embedding reads the ids themselves, a one-hot model their one-hot rows
  forwardChunked(model, model.config.embedding ? ids : oneHot(ids, V), L, 1, (t, y, off) => {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, y[off + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(y[off + v] - max);
    const lse = max + Math.log(sum);
    if (t + 1 < L) nll += lse - y[off + ids[t + 1]];
    else for (let v = 0; v < V; v++) last[v] = Math.exp(y[off + v] - lse);
  });
  if (L > 1) {
    const ce = nll / (L - 1);
    out(`${what}: ${fmtInt(L)} characters; cross-entropy ${ce.toFixed(4)} nats/char (${(ce / Math.LN2).toFixed(4)} bits/char) ` +
      'predicting each next character');
  }
  out(`most likely next characters after ${what}:`);
  const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a]).slice(0, o.top);
  for (const v of order) out(`  ${JSON.stringify(vocab.chars[v]).padEnd(6)} ${last[v].toFixed(4)}`);
}

export function registerPredict(program: Command): void {
  program.command('predict')
    .description('run a checkpoint on new input: a regression model (train series.csv) forecasts each row of a CSV, ' +
      'in its units (the stored mean/std applied); a character model scores a text and lists the likely next characters')
    .argument('[input]', 'a CSV of sequences, one per line (regression model) or a UTF-8 text file (character model)')
    .requiredOption('--checkpoint <file>', 'a .safetensors file written by train or demo')
    .option('--text <string>', 'character model: the text to read (instead of a file)')
    .option('--horizon <n>', 'regression: values to forecast after each row (later ones from the earlier forecasts)', intArg(1), 1)
    .option('--top <k>', 'character model: how many next characters to list', intArg(1), 5)
    .addOption(new Option('--backend <name>', 'compute backend (default: the one saved)').choices(['wasm', 'js']))
    .action(async (input: string | undefined, o: PredictOpts, cmd: Command) => {
      if ((input === undefined) === (o.text === undefined)) throw new UsageError('give an input file or --text, one of the two');
      const loaded = await loadCliCheckpoint(o.checkpoint, o.backend);
      const task = loaded.metadata['bptt_wasm.task'];
      const given = (n: string): boolean => cmd.getOptionValueSource(n) === 'cli';
      try {
        if (task === 'char') {
          if (given('horizon')) throw new UsageError('--horizon applies to regression models only (this is a character model)');
          const text = input !== undefined ? readTextFile(input, 'input file') : o.text!;
          predictText(text, input ?? 'the text', o, charModel(loaded, o.checkpoint));
        } else {
          if (o.text !== undefined || given('top')) throw new UsageError(`--text and --top apply to character models only (${o.checkpoint} is not one)`);
          predictCsv(input!, o, loaded.model, loaded.metadata);
        }
      } finally {
        loaded.model.dispose();
      }
    });
}
