#!/usr/bin/env node
// The `bptt-wasm` command: one file per command in this folder; this one builds the program,
// maps errors to exit codes and runs it when executed as the bin.
//
// Exit codes: 0 success (also a run stopped by Ctrl-C or SIGTERM: its checkpoint is saved);
// 1 the command failed (a missing or unreadable file, a bad checkpoint, a training error);
// 2 the command line was wrong (unknown command or option, a bad number, a missing argument).

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { UsageError, UserError, err, guardStream, libraryErrorMessage, version } from './common.js';
import { registerDemo } from './demo.js';
import { registerTrain } from './train.js';
import { registerSample } from './sample.js';
import { registerPredict } from './predict.js';
import { registerGradflow } from './gradflow.js';
import { registerExperiment } from './experiment.js';
import { registerBench } from './bench.js';

export function buildProgram(): Command {
  const program = new Command('bptt-wasm')
    .description('Train RNN/LSTM/GRU with PyTorch-exact backpropagation through time on SIMD WebAssembly')
    .version(version(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText('after', '\nExit codes: 0 success, 1 the command failed (e.g. a missing file), 2 a usage error.\n' +
      'Ctrl-C or SIGTERM during training: the run stops after the current step and saves its checkpoint (exit 0);\n' +
      'a second signal quits at once.\n' +
      'Start with: bptt-wasm demo');
  for (const register of [registerDemo, registerTrain, registerSample, registerPredict, registerGradflow, registerExperiment, registerBench]) {
    register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  guardStream(process.stdout);
  guardStream(process.stderr);
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
    const lib = libraryErrorMessage(e);
    if (e instanceof UserError || lib !== undefined) {
      err(`error: ${lib ?? (e as Error).message}`);
      return 1;
    }
    // not a failure the library or the CLI anticipated: a bug, so the stack helps
    err(`error: ${(e as Error)?.stack ?? String(e)}`);
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
