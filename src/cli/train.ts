// `bptt-wasm train FILE`: a text file trains a character model (truncated BPTT, as the demo);
// a CSV of numeric sequences trains next-value regression with fit(), standardized with the
// training rows' mean and std, which the checkpoint stores for `predict`.

import { basename, extname } from 'node:path';
import { Option, type Command } from 'commander';
import { createModel } from '../model.js';
import type { BackendKind } from '../backend/factory.js';
import { saveCheckpoint } from '../io/checkpoint-file.js';
import { createOptimizer, type OptimizerKind } from '../train/optim.js';
import { fit, type Dataset, type History } from '../train/train.js';
import { lossCurveChart } from '../svg.js';
import type { InitPreset } from '../init.js';
import { charOptions, runCharTraining } from './char.js';
import {
  UsageError, UserError, checkWritable, err, intArg, numArg, onInterrupt, out, readTextFile, resolveThreads, writeFileMkdir,
} from './common.js';

/** Numeric CSV: one sequence per line. Returns the rows (a non-numeric first line is a header and skipped). */
export function parseCsvSequences(text: string, path: string, minLength = 2): number[][] {
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
  if (rows[0].length < minLength) {
    throw new UserError(`${path}: sequences need at least ${minLength} value${minLength > 1 ? 's' : ''}${minLength > 1 ? ' (the model predicts each next value)' : ''}`);
  }
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
  checkWritable(o.out, '--out');
  if (o.lossSvg) checkWritable(o.lossSvg, '--loss-svg');
  const model = await createModel({ threads,
    cell: o.cell, ...(o.nonlinearity ? { nonlinearity: o.nonlinearity } : {}), ...(o.init ? { init: o.init } : {}),
    inputSize: 1, hiddenSize: o.hidden, numLayers: o.layers, outputSize: 1, backend: o.backend, seed: o.seed,
  });
  const optimizer = createOptimizer(o.optimizer, model, { lr: o.lr });
  out(`train: ${o.cell.toUpperCase()} (hidden ${o.hidden}) predicting the next value of ${N} sequences of length ${T + 1} ` +
    `from ${path} (${N - nVal} train, ${nVal} validation), ${o.optimizer} lr ${o.lr}, ${o.epochs} epochs, backend ${o.backend}`);
  const t0 = performance.now();
  const interrupt = onInterrupt(err);
  let history: History;
  try {
    history = await fit(model, data, {
      optimizer, epochs: o.epochs, batchSize: o.batch, seed: o.seed, loss: { kind: 'mse', reduction: 'mean' },
      ...(nVal > 0 ? { validationSplit: o.valSplit } : {}), ...(o.clip > 0 ? { clipGradNorm: o.clip } : {}),
      progress: o.quiet ? false : { logEvery: Math.max(1, Math.ceil(((N - nVal) / o.batch) * o.epochs / 10)) },
      onStep: () => !interrupt.requested, // false ends training after this step; the checkpoint is still saved
    });
    model.dispose(); // stop the worker threads; the weights stay readable
    await saveCheckpoint(model, o.out, {
      metadata: { 'bptt_wasm.task': 'regression', 'bptt_wasm.standardize': JSON.stringify({ mean, std }) },
    });
  } finally {
    interrupt.release();
  }
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
  out(`checkpoint: ${o.out}${interrupt.requested ? ` (interrupted after ${history.steps} steps)` : ''}`);
  if (o.lossSvg) {
    await writeFileMkdir(o.lossSvg, lossCurveChart({
      name: 'MSE', loss: history.loss, ...(history.valLoss.length ? { valLoss: history.valLoss } : {}),
    }, { xLabel: 'epoch', yLabel: 'MSE (standardized)', subtitle: path }));
    out(`loss curve: ${o.lossSvg}`);
  }
}

export function registerTrain(program: Command): void {
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
        ? given(['steps', 'seconds', 'seqLen', 'embeddingDim', 'sampleEvery', 'sampleLength', 'temperature', 'prime'])
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
}
