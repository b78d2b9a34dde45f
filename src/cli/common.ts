// What every command shares: argument parsers, output that survives a closed pipe, the two
// error kinds and the exit-code rule, signals that stop a run cleanly, file checks.

import { BpttError } from '../errors.js';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import { MODEL_RECIPES } from './experiments.js';

/** A failure the user can fix (bad file, bad combination of options): exit 1, no stack. */
export class UserError extends Error {}

/** Usage errors found after parsing (inconsistent options): exit 2. */
export class UsageError extends Error {}

/**
 * The message of an error the library threw on purpose (bad input, bad file), without its
 * prefix; undefined for anything else (a bug). The one place that knows how library errors
 * look: every library error is a BpttError (src/errors.ts).
 */
export function libraryErrorMessage(e: unknown): string | undefined {
  if (e instanceof BpttError) return e.message.replace(/^bptt-wasm: /, '');
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Argument parsers: each names what it expected; commander adds the option and the value.

export function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*[+-]?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`Expected an integer >= ${min}.`);
    }
    return n;
  };
}

export function numArg(min: number, opts: { exclusive?: boolean } = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (opts.exclusive ? n <= min : n < min)) {
      throw new InvalidArgumentError(`Expected a number ${opts.exclusive ? '>' : '>='} ${min}.`);
    }
    return n;
  };
}

export function intListArg(min: number) {
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

export function modelListArg(v: string): string[] {
  const keys = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (keys.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of models.');
  for (const k of keys) {
    if (!MODEL_RECIPES[k]) throw new InvalidArgumentError(`Unknown model '${k}' (have ${Object.keys(MODEL_RECIPES).join(', ')}).`);
  }
  return keys;
}

export const backendOption = (): Option =>
  new Option('--backend <name>', 'compute backend').choices(['wasm', 'js']).default('wasm');

/** Worker threads for a wasm model: as asked, else up to 2 of the machine's cores (js: 1). */
export function resolveThreads(o: { backend: BackendKind; threads?: number; batch: number }): number {
  if (o.backend === 'js') {
    if (o.threads !== undefined && o.threads > 1) throw new UsageError('--threads applies to --backend wasm only');
    return 1;
  }
  return o.threads ?? (o.batch >= 8 ? Math.min(2, availableParallelism()) : 1);
}

// ---------------------------------------------------------------------------------------
// Output. A reader that goes away (`bptt-wasm train ... | head`) must not kill a run with an
// unhandled EPIPE: from then on that stream's output is dropped and the run goes on, so the
// checkpoint is still written.

const closed = new Set<NodeJS.WriteStream>();
/** training runs under way (onInterrupt), for whom a closed stdout is worth a note */
let running = 0;

export function guardStream(s: NodeJS.WriteStream): void {
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (closed.has(s)) return; // later writes (the progress bar's too) fail on the destroyed stream
    if (e.code !== 'EPIPE') throw e;
    closed.add(s);
    if (s === process.stdout && running > 0 && !closed.has(process.stderr)) {
      process.stderr.write('(stdout was closed: the run goes on, its output is dropped)\n');
    }
  });
}

const write = (s: NodeJS.WriteStream, text: string): void => {
  if (!closed.has(s)) s.write(text);
};
export const out = (s: string): void => write(process.stdout, s + '\n');
export const err = (s: string): void => write(process.stderr, s + '\n');
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------
// Interruption: Ctrl-C (SIGINT) and job managers' SIGTERM both end training after the current
// step, and the command saves what it has; a second signal quits at once.

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export interface Interrupt {
  readonly requested: boolean;
  /** remove the handlers (call in a finally) */
  release(): void;
}

export function onInterrupt(say: (msg: string) => void): Interrupt {
  const state = { requested: false };
  const handler = (sig: keyof typeof SIGNAL_EXIT): void => {
    if (state.requested) process.exit(SIGNAL_EXIT[sig]);
    state.requested = true;
    say(`(${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: saving the checkpoint; send the signal again to quit at once)`);
  };
  const sigs = Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[];
  for (const s of sigs) process.on(s, handler);
  running++;
  return {
    get requested() { return state.requested; },
    release: () => {
      for (const s of sigs) process.off(s, handler);
      running--;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Files

/**
 * Fail now, before any training, if `path` cannot be written later: its folder is created
 * and a probe file written and removed there (what saving does: a temp file, then a rename).
 */
export function checkWritable(path: string, option: string): void {
  const full = resolve(path);
  const why = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  if (existsSync(full) && statSync(full).isDirectory()) throw new UserError(`${option} ${path} is a folder, not a file`);
  const dir = dirname(full);
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.bptt-wasm-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    if (existsSync(full)) accessSync(full, constants.W_OK);
  } catch (e) {
    throw new UserError(`${option} ${path} is not writable (${why(e)}); nothing was trained`);
  }
}

export async function writeFileMkdir(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, data);
}

export function readTextFile(path: string, what = 'file'): string {
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

/** The installed (or checked-out) package's folder: the one whose package.json is bptt-wasm's. */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if (JSON.parse(readFileSync(p, 'utf8')).name === 'bptt-wasm') return dir;
      } catch { /* keep looking */ }
    }
    dir = dirname(dir);
  }
  return resolve(here, '..', '..', '..');
}

export function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;
  } catch {
    return '0.0.0';
  }
}

/**
 * How the user can run this CLI again: `bptt-wasm` when it was started through the
 * installed bin, `node dist/src/cli/index.js` (relative to the current folder) in a checkout.
 */
export function selfCommand(): string {
  const script = process.argv[1] ?? '';
  if (/node_modules[\\/]/.test(script) || /bptt-wasm$/.test(script)) return 'bptt-wasm';
  const rel = relative(process.cwd(), script);
  return rel && !rel.startsWith('..') ? `node ${rel}` : 'bptt-wasm';
}
