// `bptt-wasm gradflow`: ||dL/dh_t|| through time at initialization for several models.

import { Option, type Command } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import { DEFAULT_GRADFLOW_MODELS, MODEL_RECIPES, gradflowExperiment, gradflowSvg, gradflowTable } from './experiments.js';
import { backendOption, checkWritable, intArg, modelListArg, out, writeFileMkdir } from './common.js';

async function cmdGradflow(o: { T: number; hidden: number; batch: number; models: string[]; svg: string; json?: string; backend: BackendKind; seed: number }): Promise<void> {
  checkWritable(o.svg, '--svg');
  if (o.json) checkWritable(o.json, '--json');
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

export function registerGradflow(program: Command): void {
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
}
