// Crash consistency of saveCheckpoint: a child process saves in a loop and is killed
// (SIGKILL) at a random moment, many times. The checkpoint is always a complete file of
// some round (old or new, never torn); the next save removes the temp file a killed save
// left; through a symlink, the link stays a link and its target is what gets updated.

import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createModel, loadCheckpoint, readSafetensors, saveCheckpoint } from '../src/index.js';
import { Rng } from '../src/rng.js';

const here = dirname(fileURLToPath(import.meta.url));
/** kills in all: two thirds saving to a plain path, one third through a symlink */
const TRIALS = Number(process.env.BPTT_CRASH_TRIALS ?? 30);

/** Start the child, wait for its first complete save, let it run `ms` more, kill -9. */
function killDuringSaves(path: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'helpers', 'crash-child.mjs'), path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), ms));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

/** The round of a complete checkpoint file (throws on a torn one). */
function roundOf(path: string): number {
  const { tensors, metadata } = readSafetensors(new Uint8Array(readFileSync(path)));
  const round = Number(metadata.round);
  expect(Array.from(new Set(tensors['out.bias'].data))).toEqual([round]);
  return round;
}

describe('saveCheckpoint under kill -9', () => {
  it.each([false, true])('kills (through a symlink: %s): always a complete file, no temp files after the next save', async (viaLink) => {
    const trials = viaLink ? Math.round(TRIALS / 3) : TRIALS - Math.round(TRIALS / 3);
    const dir = mkdtempSync(join(tmpdir(), 'bptt-crash-'));
    const real = join(dir, 'model.safetensors');
    const path = viaLink ? join(dir, 'latest.safetensors') : real;
    if (viaLink) symlinkSync('model.safetensors', path);
    const rng = new Rng(viaLink ? 2 : 1);
    const m = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 3, backend: 'js' });
    let tempsLeft = 0;
    const rounds: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      await killDuringSaves(path, rng.int(60));
      rounds.push(roundOf(path));
      const temps = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
      tempsLeft += temps.length;
      // the next save of the same target cleans up after the killed one
      await saveCheckpoint(m, path, { metadata: { round: '0' } });
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect((await loadCheckpoint(path, { backend: 'js' })).stateDict()).toEqual(m.stateDict());
      if (viaLink) {
        expect(lstatSync(path).isSymbolicLink()).toBe(true);
        expect(realpathSync(path)).toBe(realpathSync(real));
      }
    }
    console.log(`crash (symlink ${viaLink}): ${trials} kills, rounds reached ${Math.min(...rounds)}..${Math.max(...rounds)}, ` +
      `${tempsLeft} temp files left by killed saves, all removed by the next save`);
    expect(rounds.every((r) => r >= 1)).toBe(true);
  }, 300_000);
});
