// `bptt-wasm experiment adding`: the adding problem under a fixed step budget.

import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import { ADDING_BASELINE_MSE } from '../data/adding.js';
import { formatDuration } from '../progress.js';
import {
  ADDING_LRS, DEFAULT_ADDING, MODEL_RECIPES, addingExperiment, addingTable, type AddingRow,
} from './experiments.js';
import { backendOption, checkWritable, err, intArg, intListArg, modelListArg, numArg, out, writeFileMkdir } from './common.js';

async function cmdAdding(o: {
  T: number[]; models: string[]; steps: number; batch: number; hidden: number; lr?: number; clip: number;
  testSize: number; jobs: number; out?: string; backend: BackendKind; seed: number; quiet?: boolean;
}, argv: string[]): Promise<void> {
  if (o.out) checkWritable(o.out, '--out');
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

export function registerExperiment(program: Command): void {
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
}
