#!/usr/bin/env node
// The `bptt-wasm` command: demo, train, sample, gradflow, experiment adding, bench.
//
// Exit codes: 0 success; 1 the command failed (a missing or unreadable file, a bad
// checkpoint, a training error); 2 the command line was wrong (unknown command or option,
// a bad number, a missing argument).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import './host/node.js';
import { createModel, type Model } from './model.js';
import type { BackendKind } from './backends.js';
import { loadTrainingCheckpoint, saveCheckpoint } from './checkpoint.js';
import { createOptimizer, type OptimizerKind } from './optim.js';
import { fit, sample, type Dataset } from './train.js';
import { Progress, formatDuration } from './progress.js';
import { CharVocab } from './data/text.js';
import { loadMobyDick } from './data/moby-dick.js';
import { ADDING_BASELINE_MSE } from './data/adding.js';
import {
  ADDING_LRS, DEFAULT_ADDING, DEFAULT_GRADFLOW_MODELS, MODEL_RECIPES, addingExperiment, addingTable, gradflowExperiment, gradflowSvg,
  gradflowTable, measureCharSpeed, trainCharModel, type AddingRow, type CharStepInfo,
} from './experiments.js';
import { lossCurveChart } from './svg.js';
import type { InitPreset } from './init.js';

/** A failure the user can fix (bad file, bad combination of options): printed without a stack. */
class UserError extends Error {}

// ---------------------------------------------------------------------------------------
// Argument parsers: each names what it expected; commander adds the option and the value.

function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*[+-]?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`Expected an integer >= ${min}.`);
    }
    return n;
  };
}

function numArg(min: number, opts: { exclusive?: boolean } = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (opts.exclusive ? n <= min : n < min)) {
      throw new InvalidArgumentError(`Expected a number ${opts.exclusive ? '>' : '>='} ${min}.`);
    }
    return n;
  };
}

function intListArg(min: number) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (parts.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of integers, e.g. 50,100.');
    return parts.map((p) => {
      const n = Number(p);
      if (!/^[+-]?\d+$/.test(p) || !Number.isSafeInteger(n) || n < min) {
        throw new InvalidArgumentError(`'${p}' is not an integer >= ${min} (expected e.g. 50,100).`);
      }
      return n;
    });
  };
}

function modelListArg(v: string): string[] {
  const keys = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (keys.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of models.');
  for (const k of keys) {
    if (!MODEL_RECIPES[k]) throw new InvalidArgumentError(`Unknown model '${k}' (have ${Object.keys(MODEL_RECIPES).join(', ')}).`);
  }
  return keys;
}

const backendOption = (): Option =>
  new Option('--backend <name>', 'compute backend').choices(['wasm', 'js']).default('wasm');

// ---------------------------------------------------------------------------------------
// Output helpers

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function writeFileMkdir(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, data);
}

function readTextFile(path: string, what = 'file'): string {
  if (!existsSync(path)) throw new UserError(`${what} not found: ${path}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${path} is not valid UTF-8 text`);
  }
}

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

function showSample(p: Progress<CharStepInfo>, step: number, prime: string, text: string, temperature: number): void {
  const body = (prime + text).replace(/^\n+/, '').replace(/\s+$/, '');
  p.print(`--- sample at step ${step} (temperature ${temperature}) ---\n${body}\n---`);
}

// ---------------------------------------------------------------------------------------
// Commands

interface CharOpts {
  cell: 'rnn' | 'lstm' | 'gru';
  hidden: number;
  layers: number;
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

/** Worker threads for a wasm model: as asked, else up to 2 of the machine's cores (js: 1). */
function resolveThreads(o: { backend: BackendKind; threads?: number; batch: number }): number {
  if (o.backend === 'js') {
    if (o.threads !== undefined && o.threads > 1) throw new UsageError('--threads applies to --backend wasm only');
    return 1;
  }
  return o.threads ?? (o.batch >= 8 ? Math.min(2, availableParallelism()) : 1);
}

async function runCharTraining(text: string, source: string, o: CharOpts, label: string) {
  const vocab = CharVocab.fromText(text);
  if (o.prime !== undefined) {
    for (const c of o.prime) if (!vocab.has(c)) throw new UserError(`--prime: character ${JSON.stringify(c)} does not occur in ${source}`);
  }
  const threads = resolveThreads(o);
  const limit = [o.seconds !== undefined ? `${o.seconds} s` : '', o.steps !== undefined ? `${o.steps} steps` : ''].filter(Boolean).join(' or ');
  out(`${label}: a character ${o.cell.toUpperCase()} (hidden ${o.hidden}${o.layers > 1 ? `, ${o.layers} layers` : ''}, ` +
    `${vocab.size} characters) on ${source} (${fmtInt(text.length)} characters), ` +
    `backend ${o.backend}${threads > 1 ? ` (${threads} threads)` : ''}, ` +
    `truncated BPTT over ${o.seqLen} steps x ${o.batch} streams, Adam lr ${o.lr}, for ${limit}`);
  const progress = charProgress(label, o);
  // Ctrl-C once: finish the current step, save the checkpoint and stop; twice: quit at once.
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.print('(interrupted: saving the checkpoint; press Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  let r;
  try {
    progress.begin();
    r = await trainCharModel({
      text, vocab, cell: o.cell, hiddenSize: o.hidden, numLayers: o.layers, seqLength: o.seqLen, batchSize: o.batch,
      lr: o.lr, clip: o.clip, steps: o.steps, seconds: o.seconds, backend: o.backend, threads, seed: o.seed,
      sampleEvery: o.sampleEvery, sampleLength: o.sampleLength, temperature: o.temperature, prime: o.prime,
      onStep: (s) => progress.update(s.step, s),
      onSample: (s) => showSample(progress, s.step, o.prime ?? '', s.text, o.temperature),
      shouldStop: () => interrupted,
    });
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
  r.model.dispose(); // stop the worker threads; the weights stay readable
  await mkdir(dirname(resolve(o.out)), { recursive: true });
  await saveCheckpoint(r.model, o.out, {
    metadata: { 'bptt_wasm.task': 'char', 'bptt_wasm.vocab': r.vocab.toJSON(), 'bptt_wasm.steps': String(r.steps) },
  });
  const tail = r.losses.slice(-Math.max(1, Math.min(50, Math.floor(r.losses.length / 5))));
  const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  out(`trained ${r.steps} steps (${fmtInt(r.chars)} characters) in ${r.seconds.toFixed(r.seconds < 10 ? 2 : 1)} s; loss ${r.losses[0].toFixed(3)} -> ` +
    `${finalLoss.toFixed(3)} nats/char (mean of the last ${tail.length} steps)`);
  out(`checkpoint: ${o.out}  (try: ${selfCommand()} sample --checkpoint ${o.out} --temperature 0.8 --length 300)`);
  if (o.lossSvg) {
    await writeFileMkdir(o.lossSvg, lossCurveChart({ name: 'training loss', loss: r.losses }, {
      smooth: Math.max(1, Math.round(r.losses.length / 50)), yLabel: 'cross-entropy (nats per character)', subtitle: `${source}, ${o.cell.toUpperCase()} hidden ${o.hidden}`,
    }));
    out(`loss curve: ${o.lossSvg}`);
  }
  return { ...r, threads, interrupted };
}

async function cmdDemo(o: CharOpts & { compareSeconds: number; chapters?: number }): Promise<void> {
  const text = loadMobyDick(o.chapters !== undefined ? { chapters: o.chapters } : {});
  const r = await runCharTraining(text, 'Moby-Dick', o, 'demo');
  if (o.compareSeconds <= 0 || r.interrupted) {
    out(`speed: ${o.backend} ${fmtInt(r.charsPerSecond)} chars/s` +
      (r.threads > 1 ? ` on ${r.threads} threads` : '') + ` (comparison skipped${r.interrupted ? '' : ': --compare-seconds 0'})`);
    return;
  }
  // The same model, weights and chunks, briefly on the other backend (and on one wasm
  // thread when the run used more), all in this process.
  const measure = async (backend: BackendKind): Promise<number> => {
    out(`measuring ${backend === 'wasm' ? 'wasm on 1 thread' : 'the js backend'} on the same model and data for ~${o.compareSeconds} s ...`);
    const m = await measureCharSpeed(r.model, text, r.vocab, {
      backend, seconds: o.compareSeconds, seqLength: o.seqLen, batchSize: o.batch, lr: o.lr, clip: o.clip,
    });
    return m.charsPerSecond;
  };
  const wasm1 = o.backend === 'js' || r.threads > 1 ? await measure('wasm') : r.charsPerSecond;
  const js = o.backend === 'js' ? r.charsPerSecond : await measure('js');
  if (o.backend === 'wasm' && r.threads > 1) {
    out(`speed: wasm ${fmtInt(r.charsPerSecond)} chars/s on ${r.threads} threads (${fmtInt(wasm1)} on 1 thread), ` +
      `js ${fmtInt(js)} chars/s: wasm/js = ${(r.charsPerSecond / js).toFixed(1)}x (${(wasm1 / js).toFixed(1)}x thread for thread)`);
  } else {
    out(`speed: wasm ${fmtInt(wasm1)} chars/s, js ${fmtInt(js)} chars/s: wasm/js = ${(wasm1 / js).toFixed(1)}x`);
  }
}

/** Numeric CSV: one sequence per line. Returns the rows (a non-numeric first line is a header and skipped). */
export function parseCsvSequences(text: string, path: string): number[][] {
  const lines = text.split(/\r?\n/);
  const rows: number[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split(',').map((c) => c.trim());
    const nums = cells.map(Number);
    const bad = cells.findIndex((c, j) => c === '' || !Number.isFinite(nums[j]));
    if (bad >= 0) {
      if (rows.length === 0 && nums.every((v, j) => cells[j] === '' || !Number.isFinite(v))) continue; // header
      throw new UserError(`${path}:${i + 1}: column ${bad + 1} is ${JSON.stringify(cells[bad])}, not a number ` +
        '(the CSV must hold one sequence of numbers per line)');
    }
    if (rows.length && nums.length !== rows[0].length) {
      throw new UserError(`${path}:${i + 1}: ${nums.length} values, but the first sequence has ${rows[0].length} ` +
        '(all sequences must have the same length)');
    }
    rows.push(nums);
  }
  if (rows.length === 0) throw new UserError(`${path}: no numeric sequences found`);
  if (rows[0].length < 2) throw new UserError(`${path}: sequences need at least 2 values (the model predicts each next value)`);
  return rows;
}

interface CsvOpts {
  cell: 'rnn' | 'lstm' | 'gru';
  hidden: number;
  layers: number;
  batch: number;
  lr: number;
  clip: number;
  epochs: number;
  valSplit: number;
  optimizer: OptimizerKind;
  out: string;
  lossSvg?: string;
  backend: BackendKind;
  threads?: number;
  seed: number;
  init?: InitPreset;
  nonlinearity?: 'tanh' | 'relu';
  quiet?: boolean;
}

async function cmdTrainCsv(path: string, o: CsvOpts): Promise<void> {
  const rows = parseCsvSequences(readTextFile(path, 'training file'), path);
  const N = rows.length, T = rows[0].length - 1;
  // Standardize with the training rows' mean and std so one learning rate fits any scale.
  const nVal = Math.floor(N * o.valSplit);
  const train = rows.slice(0, N - nVal);
  let mean = 0, count = 0;
  for (const r of train) for (const v of r) { mean += v; count++; }
  mean /= count;
  let varSum = 0;
  for (const r of train) for (const v of r) varSum += (v - mean) ** 2;
  const std = Math.sqrt(varSum / count) || 1;
  const x = new Float32Array(T * N), y = new Float32Array(T * N);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      x[t * N + n] = (rows[n][t] - mean) / std;
      y[t * N + n] = (rows[n][t + 1] - mean) / std;
    }
  }
  const data: Dataset = { x: { shape: [T, N, 1], data: x }, target: { shape: [T, N, 1], data: y } };
  const threads = resolveThreads(o);
  const model = await createModel({ threads,
    cell: o.cell, ...(o.nonlinearity ? { nonlinearity: o.nonlinearity } : {}), ...(o.init ? { init: o.init } : {}),
    inputSize: 1, hiddenSize: o.hidden, numLayers: o.layers, outputSize: 1, backend: o.backend, seed: o.seed,
  });
  const optimizer = createOptimizer(o.optimizer, model, { lr: o.lr });
  out(`train: ${o.cell.toUpperCase()} (hidden ${o.hidden}) predicting the next value of ${N} sequences of length ${T + 1} ` +
    `from ${path} (${N - nVal} train, ${nVal} validation), ${o.optimizer} lr ${o.lr}, ${o.epochs} epochs, backend ${o.backend}`);
  const t0 = performance.now();
  const history = await fit(model, data, {
    optimizer, epochs: o.epochs, batchSize: o.batch, seed: o.seed, loss: { kind: 'mse', reduction: 'mean' },
    ...(nVal > 0 ? { validationSplit: o.valSplit } : {}), ...(o.clip > 0 ? { clipGradNorm: o.clip } : {}),
    progress: o.quiet ? false : { logEvery: Math.max(1, Math.ceil(((N - nVal) / o.batch) * o.epochs / 10)) },
  });
  model.dispose(); // stop the worker threads; the weights stay readable
  const secs = (performance.now() - t0) / 1000;
  // Persistence baseline: predict x_{t+1} = x_t, in the same standardized units.
  const base = (from: number, to: number): number => {
    let s = 0, c = 0;
    for (let n = from; n < to; n++) for (let t = 0; t < T; t++) { s += (y[t * N + n] - x[t * N + n]) ** 2; c++; }
    return s / c;
  };
  const last = history.epochs[history.epochs.length - 1];
  out(`trained ${history.steps} steps in ${secs.toFixed(1)} s; final training MSE ${last.loss.toFixed(5)}` +
    (last.valLoss !== undefined ? `, validation MSE ${last.valLoss.toFixed(5)}` : '') + ' (standardized units)');
  out(`baseline "next = current": training MSE ${base(0, N - nVal).toFixed(5)}` +
    (nVal > 0 ? `, validation MSE ${base(N - nVal, N).toFixed(5)}` : ''));
  await mkdir(dirname(resolve(o.out)), { recursive: true });
  await saveCheckpoint(model, o.out, {
    metadata: { 'bptt_wasm.task': 'regression', 'bptt_wasm.standardize': JSON.stringify({ mean, std }) },
  });
  out(`checkpoint: ${o.out}`);
  if (o.lossSvg) {
    await writeFileMkdir(o.lossSvg, lossCurveChart({
      name: 'MSE', loss: history.loss, ...(history.valLoss.length ? { valLoss: history.valLoss } : {}),
    }, { xLabel: 'epoch', yLabel: 'MSE (standardized)', subtitle: path }));
    out(`loss curve: ${o.lossSvg}`);
  }
}

async function cmdSample(o: { checkpoint: string; temperature: number; length: number; prime?: string; seed: number; backend?: BackendKind }): Promise<void> {
  if (!existsSync(o.checkpoint)) throw new UserError(`checkpoint not found: ${o.checkpoint}`);
  let loaded;
  try {
    loaded = await loadTrainingCheckpoint(o.checkpoint, o.backend ? { backend: o.backend } : {});
  } catch (e) {
    throw new UserError(`cannot load ${o.checkpoint}: ${(e as Error).message.replace(/^bptt-wasm: /, '')}`);
  }
  const vocabJson = loaded.metadata['bptt_wasm.vocab'];
  if (!vocabJson) {
    throw new UserError(`${o.checkpoint} is not a character model (its metadata has no bptt_wasm.vocab); ` +
      'train one with `bptt-wasm demo` or `bptt-wasm train FILE.txt`');
  }
  const vocab = CharVocab.fromJSON(vocabJson);
  const model: Model = loaded.model;
  const prime = o.prime ?? (vocab.has('\n') ? '\n' : vocab.chars[0]);
  if (prime.length === 0) throw new UserError('--prime must not be empty');
  for (const c of prime) if (!vocab.has(c)) throw new UserError(`--prime: character ${JSON.stringify(c)} is not in the model's vocabulary`);
  const s = sample(model, { prime: Array.from(vocab.encode(prime)), length: o.length, temperature: o.temperature, seed: o.seed });
  let text = vocab.decode(s.tokens);
  // With the default prime (a newline), leave out the blank lines the model starts with.
  if (o.prime === undefined) text = text.replace(/^\s*\n/, '');
  process.stdout.write((o.prime ?? '') + text + '\n');
}

async function cmdGradflow(o: { T: number; hidden: number; batch: number; models: string[]; svg: string; json?: string; backend: BackendKind; seed: number }): Promise<void> {
  const res = await gradflowExperiment({ T: o.T, hiddenSize: o.hidden, batchSize: o.batch, models: o.models, backend: o.backend, seed: o.seed });
  out(`Gradient norm \u2016dL/dh_t\u2016 at initialization: T = ${o.T}, hidden ${o.hidden}, batch ${o.batch}, inputs N(0, 1), ` +
    `MSE loss on the last step only, backend ${o.backend}, seed ${o.seed}`);
  out('');
  out(gradflowTable(res));
  out('');
  out('factor per step: geometric mean of \u2016dL/dh_t\u2016 / \u2016dL/dh_{t+1}\u2016 (< 1 vanishing, > 1 exploding); ' +
    'ratio: \u2016dL/dh_0\u2016 / \u2016dL/dh_{T-1}\u2016');
  await writeFileMkdir(o.svg, gradflowSvg(res));
  out(`chart: ${o.svg}`);
  if (o.json) {
    await writeFileMkdir(o.json, JSON.stringify(res, null, 1) + '\n');
    out(`data: ${o.json}`);
  }
}

async function cmdAdding(o: {
  T: number[]; models: string[]; steps: number; batch: number; hidden: number; lr?: number; clip: number;
  testSize: number; jobs: number; out?: string; backend: BackendKind; seed: number; quiet?: boolean;
}, argv: string[]): Promise<void> {
  const runs = o.T.length * o.models.length;
  const lrs = o.lr !== undefined ? `lr ${o.lr}` : `lr ${o.models.map((m) => `${m} ${ADDING_LRS[m]}`).join(', ')}`;
  const header = `Adding problem: ${o.models.join(', ')} at T = ${o.T.join(', ')}; ${o.steps} Adam steps (${lrs}) of ` +
    `${o.batch} sequences, clip_grad_norm ${o.clip}, hidden ${o.hidden}, test on ${o.testSize} sequences, ` +
    `backend ${o.backend}, seed ${o.seed}, ${runs} runs${Math.min(o.jobs, runs) > 1 ? `, ${Math.min(o.jobs, runs)} at a time` : ''}`;
  out(header);
  const t0 = performance.now();
  const started = new Map<string, number>();
  const rows: AddingRow[] = await addingExperiment({
    Ts: o.T, models: o.models, steps: o.steps, batchSize: o.batch, hiddenSize: o.hidden, lr: o.lr, clip: o.clip,
    testSize: o.testSize, backend: o.backend, seed: o.seed, jobs: o.jobs,
    reportEvery: Math.max(1, Math.ceil(o.steps / 4)),
    onProgress: (p) => {
      const k = `${p.model} T=${p.T}`;
      if (!started.has(k)) started.set(k, performance.now());
      if (!o.quiet) err(`  [${k}] step ${p.step}/${p.steps} train MSE ${p.loss.toFixed(4)}`);
    },
  });
  const total = (performance.now() - t0) / 1000;
  out('');
  const table = addingTable(rows);
  out(table);
  out('');
  const footer = `baseline: always predicting 1 gives MSE ${ADDING_BASELINE_MSE.toFixed(3)}; "solved" = test MSE below a tenth of it. ` +
    `Total ${formatDuration(total)}.`;
  out(footer);
  if (o.out) {
    const cmd = ['bptt-wasm', ...argv.map((a) => (/^[\w.,=/:-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
    await writeFileMkdir(o.out, `Command: \`${cmd}\`\n\n${header}\n\n${table}\n\n${footer}\n`);
    out(`table: ${o.out}`);
  }
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if (JSON.parse(readFileSync(p, 'utf8')).name === 'bptt-wasm') return dir;
      } catch { /* keep looking */ }
    }
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;
  } catch {
    return '0.0.0';
  }
}

async function cmdBench(o: { workloads?: string; quick?: boolean; js: boolean }): Promise<number> {
  const script = join(packageRoot(), 'bench', 'run.mjs');
  if (!existsSync(script)) {
    throw new UserError(`the benchmark script ${script} is not there: it ships with the repository, not the npm package ` +
      '(clone the repository, npm install, npm run build)');
  }
  const args = ['--expose-gc', script];
  if (o.workloads) args.push('--workloads', o.workloads);
  if (o.quick) args.push('--quick');
  if (!o.js) args.push('--no-js');
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal ? 1 : 0)));
  });
}

// ---------------------------------------------------------------------------------------
// The program

const charOptions = (cmd: Command, d: { hidden: number; seqLen: number; batch: number; lr: number; sampleEvery: number }): Command => cmd
  .addOption(new Option('--cell <cell>', 'recurrent cell').choices(['rnn', 'lstm', 'gru']).default('lstm'))
  .option('--hidden <n>', 'hidden size', intArg(1), d.hidden)
  .option('--layers <n>', 'stacked layers', intArg(1), 1)
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

export function buildProgram(): Command {
  const program = new Command('bptt-wasm')
    .description('Train RNN/LSTM/GRU with PyTorch-exact backpropagation through time on SIMD WebAssembly')
    .version(version(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText('after', '\nExit codes: 0 success, 1 the command failed (e.g. a missing file), 2 a usage error.\n' +
      'Start with: bptt-wasm demo');

  charOptions(program.command('demo')
    .description('train a character LSTM on Moby-Dick for about a minute (samples on the way), save a checkpoint, ' +
      'and compare the speed of the wasm and js backends'), { hidden: 128, seqLen: 64, batch: 32, lr: 1e-2, sampleEvery: 250 })
    .option('--seconds <s>', 'training time', numArg(0, { exclusive: true }), 60)
    .option('--steps <n>', 'stop after n steps (if sooner than --seconds)', intArg(1))
    .option('--compare-seconds <s>', 'time to measure the other backend (0 = skip)', numArg(0), 4)
    .option('--chapters <n>', 'use only the first n chapters of the book', intArg(1))
    .option('--out <file>', 'checkpoint to write', 'moby-dick.safetensors')
    .action(async (o) => cmdDemo({ ...o, lossSvg: o.lossSvg ?? 'moby-dick-loss.svg' }));

  charOptions(program.command('train')
    .argument('<file>', 'a UTF-8 text file (character model) or a .csv of numeric sequences, one per line (regression)')
    .description('train on your own data: text -> a character model with truncated BPTT; CSV -> next-value regression'),
  { hidden: 128, seqLen: 64, batch: 32, lr: 3e-3, sampleEvery: 200 })
    .addOption(new Option('--format <kind>', 'how to read the file (auto: .csv is csv)').choices(['auto', 'text', 'csv']).default('auto'))
    .option('--steps <n>', 'text: optimizer steps', intArg(1))
    .option('--seconds <s>', 'text: stop after this much training time', numArg(0, { exclusive: true }))
    .option('--epochs <n>', 'csv: epochs', intArg(1), 20)
    .option('--val-split <f>', 'csv: fraction of sequences held out for validation', numArg(0), 0.1)
    .addOption(new Option('--optimizer <name>', 'csv: optimizer').choices(['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad']).default('adam'))
    .addOption(new Option('--nonlinearity <f>', 'cell rnn: tanh or relu').choices(['tanh', 'relu']))
    .addOption(new Option('--init <preset>', 'initialization preset').choices(['pytorch', 'irnn', 'xavier', 'orthogonal']))
    .option('--out <file>', 'checkpoint to write', 'model.safetensors')
    .action(async (file: string, o, cmd: Command) => {
      const csv = o.format === 'csv' || (o.format === 'auto' && extname(file).toLowerCase() === '.csv');
      // options of the other kind of training are errors, not silently ignored
      const given = (names: string[]) => names.filter((n) => cmd.getOptionValueSource(n) === 'cli');
      const flag = (n: string) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      const wrong = csv
        ? given(['steps', 'seconds', 'seqLen', 'sampleEvery', 'sampleLength', 'temperature', 'prime'])
        : given(['epochs', 'valSplit', 'optimizer', 'init', 'nonlinearity']);
      if (wrong.length) {
        throw new UsageError(`${wrong.map(flag).join(', ')} ${wrong.length > 1 ? 'apply' : 'applies'} to ${csv ? 'text' : 'CSV'} training only (${file} is read as ${csv ? 'CSV' : 'text'}; --format chooses)`);
      }
      if (csv) {
        if (o.valSplit >= 1) throw new UsageError(`option '--val-split <f>' must be < 1, got ${o.valSplit}`);
        await cmdTrainCsv(file, o);
        return;
      }
      if (o.steps === undefined && o.seconds === undefined) o.steps = 1000;
      const text = readTextFile(file, 'training file');
      if (text.length === 0) throw new UserError(`${file} is empty`);
      await runCharTraining(text, basename(file), o, 'train');
    });

  program.command('sample')
    .description('generate text from a character-model checkpoint')
    .requiredOption('--checkpoint <file>', 'a .safetensors file written by demo or train')
    .option('--temperature <t>', 'softmax temperature (0 = greedy; lower = safer, higher = wilder)', numArg(0), 0.8)
    .option('--length <n>', 'characters to generate', intArg(0), 300)
    .option('--prime <text>', 'text to start from (printed first)')
    .option('--seed <n>', 'seed of the draws', intArg(0), 0)
    .addOption(new Option('--backend <name>', 'compute backend (default: the one saved)').choices(['wasm', 'js']))
    .action(async (o) => cmdSample(o));

  program.command('gradflow')
    .description('the vanishing-gradient experiment: ||dL/dh_t|| through time at initialization for several models; ' +
      'prints a table and writes an SVG chart')
    .option('--T <n>', 'sequence length', intArg(2), 100)
    .option('--hidden <n>', 'hidden size', intArg(1), 128)
    .option('--batch <n>', 'probe sequences', intArg(1), 8)
    .addOption(new Option('--models <list>', `comma-separated, from ${Object.keys(MODEL_RECIPES).join(', ')}`)
      .argParser(modelListArg).default(DEFAULT_GRADFLOW_MODELS, DEFAULT_GRADFLOW_MODELS.join(',')))
    .option('--svg <file>', 'chart to write', 'gradflow.svg')
    .option('--json <file>', 'also write the norms as JSON')
    .addOption(backendOption())
    .option('--seed <n>', 'seed of the weights and the probe inputs', intArg(0), 0)
    .action(async (o) => cmdGradflow(o));

  const experiment = program.command('experiment').description('run an experiment (adding)');
  experiment.command('adding')
    .description('the adding problem: train each model at each T with global-norm clipping under a fixed step ' +
      'budget; table of test MSE against the 0.167 baseline and training time')
    .addOption(new Option('--T <list>', 'sequence lengths, comma-separated')
      .argParser(intListArg(2)).default([...DEFAULT_ADDING.Ts], DEFAULT_ADDING.Ts.join(',')))
    .addOption(new Option('--models <list>', `comma-separated, from ${Object.keys(MODEL_RECIPES).join(', ')}`)
      .argParser(modelListArg).default([...DEFAULT_ADDING.models], DEFAULT_ADDING.models.join(',')))
    .option('--steps <n>', 'Adam steps per run (the budget)', intArg(1), DEFAULT_ADDING.steps)
    .option('--batch <n>', 'sequences per step', intArg(1), DEFAULT_ADDING.batchSize)
    .option('--hidden <n>', 'hidden size', intArg(1), DEFAULT_ADDING.hiddenSize)
    .option('--lr <x>', 'Adam learning rate for every model (default: per model, ' +
      `${Object.entries(ADDING_LRS).map(([k, v]) => `${k} ${v}`).join(', ')})`, numArg(0, { exclusive: true }))
    .option('--clip <x>', 'clip_grad_norm max norm', numArg(0, { exclusive: true }), DEFAULT_ADDING.clip)
    .option('--test-size <n>', 'test sequences', intArg(1), DEFAULT_ADDING.testSize)
    .option('--jobs <n>', 'runs at a time (worker threads)', intArg(1), Math.min(2, availableParallelism()))
    .option('--out <file>', 'also write the table (Markdown, with the command) to a file')
    .addOption(backendOption())
    .option('--seed <n>', 'seed of weights and data', intArg(0), 0)
    .option('-q, --quiet', 'no progress lines')
    .action(async (o) => cmdAdding(o, process.argv.slice(2)));

  program.command('bench')
    .description('run the benchmark (bench/run.mjs): wasm against the pure-JS backend, in one process')
    .option('--workloads <list>', 'comma-separated workload names, e.g. W1,W4')
    .option('--quick', 'fewer samples')
    .option('--no-js', 'skip the pure-JS baseline')
    .action(async (o) => {
      process.exitCode = await cmdBench(o);
    });

  return program;
}

/** Usage errors found after parsing (inconsistent options): exit code 2. */
class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed the message (or the help) already
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      err(`error: ${e.message}`);
      return 2;
    }
    const msg = (e as Error)?.message ?? String(e);
    err(`error: ${msg.replace(/^bptt-wasm: /, '')}`);
    if (!(e instanceof UserError) && process.env.BPTT_WASM_DEBUG) err((e as Error).stack ?? '');
    return 1;
  }
}

// Run when executed as the bin (directly or through npm's symlink), not when imported.
function isEntry(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntry()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

/**
 * How the user can run this CLI again: `bptt-wasm` when it was started through the
 * installed bin, `node dist/src/cli.js` (relative to the current folder) in a checkout.
 */
function selfCommand(): string {
  const script = process.argv[1] ?? '';
  if (/node_modules[\\/]\.bin[\\/]/.test(script) || /bptt-wasm$/.test(script)) return 'bptt-wasm';
  const rel = relative(process.cwd(), script);
  return rel && !rel.startsWith('..') ? `node ${rel}` : 'bptt-wasm';
}
