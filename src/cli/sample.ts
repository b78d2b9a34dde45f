// `bptt-wasm sample`: text from a character-model checkpoint.

import { Option, type Command } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import { sample } from '../train/train.js';
import { intArg, numArg, UserError } from './common.js';
import { loadCharCheckpoint } from './load.js';

async function cmdSample(o: { checkpoint: string; temperature: number; length: number; prime?: string; seed: number; backend?: BackendKind }): Promise<void> {
  const { model, vocab } = await loadCharCheckpoint(o.checkpoint, o.backend);
  const prime = o.prime ?? (vocab.has('\n') ? '\n' : vocab.chars[0]);
  if (prime.length === 0) throw new UserError('--prime must not be empty');
  for (const c of prime) if (!vocab.has(c)) throw new UserError(`--prime: character ${JSON.stringify(c)} is not in the model's vocabulary`);
  const s = sample(model, { prime: Array.from(vocab.encode(prime)), length: o.length, temperature: o.temperature, seed: o.seed });
  let text = vocab.decode(s.tokens);
  // With the default prime (a newline), leave out the blank lines the model starts with.
  if (o.prime === undefined) text = text.replace(/^\s*\n/, '');
  process.stdout.write((o.prime ?? '') + text + '\n');
}

export function registerSample(program: Command): void {
  program.command('sample')
    .description('generate text from a character-model checkpoint')
    .requiredOption('--checkpoint <file>', 'a .safetensors file written by demo or train')
    .option('--temperature <t>', 'softmax temperature (0 = greedy; lower = safer, higher = wilder)', numArg(0), 0.8)
    .option('--length <n>', 'characters to generate', intArg(0), 300)
    .option('--prime <text>', 'text to start from (printed first)')
    .option('--seed <n>', 'seed of the draws', intArg(0), 0)
    .addOption(new Option('--backend <name>', 'compute backend (default: the one saved)').choices(['wasm', 'js']))
    .action(async (o) => cmdSample(o));
}
