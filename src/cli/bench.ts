// `bptt-wasm bench`: bench/run.mjs in a checkout. The benchmarks are not in the npm package
// (they need the development dependencies), so there the command is not offered.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from './common.js';

const script = (): string => join(packageRoot(), 'bench', 'run.mjs');

async function cmdBench(o: { workloads?: string; quick?: boolean; js: boolean }): Promise<number> {
  const args = ['--expose-gc', script()];
  if (o.workloads) args.push('--workloads', o.workloads);
  if (o.quick) args.push('--quick');
  if (!o.js) args.push('--no-js');
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal ? 1 : 0)));
  });
}

/** Adds `bench` when bench/run.mjs is there (a checkout), not in an installed package. */
export function registerBench(program: Command): void {
  if (!existsSync(script())) return;
  program.command('bench')
    .description('run the benchmark (bench/run.mjs): wasm against the pure-JS backend, in one process')
    .option('--workloads <list>', 'comma-separated workload names, e.g. W1,W4')
    .option('--quick', 'fewer samples')
    .option('--no-js', 'skip the pure-JS baseline')
    .action(async (o) => {
      process.exitCode = await cmdBench(o);
    });
}
