// The compute paths every behavioural suite runs on: one list, so no suite can forget the
// threaded one. `describe.each(PATHS)('... on %s', (path) => ...)`, then
// `createModelOn(path, options)` (or `{ ...on(path) }` in options passed elsewhere).
//
// Both Wasm builds, where rounding matters: this list runs the build the host picks (relaxed
// SIMD where Node can validate it); CI runs the whole suite a second time with
// BPTT_WASM_BUILD=simd, so every suite here also covers the plain SIMD build. Tests that
// need both builds in one run name `wasmBuild` themselves.

import { afterAll } from 'vitest';
import { createModel, type CreateModelOptions, type Model } from '../../src/index.js';

/** The compute paths: the JS backend, the Wasm kernels on one thread, and on two. */
export type Path = 'js' | 'wasm' | 'wasm, 2 threads';

export interface Variant {
  name: Path;
  backend: 'js' | 'wasm';
  threads: number;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'js', backend: 'js', threads: 1 },
  { name: 'wasm', backend: 'wasm', threads: 1 },
  // two threads split every batch of 2+ rows, so the worker path runs in every suite
  { name: 'wasm, 2 threads', backend: 'wasm', threads: 2 },
];

export const PATHS: readonly Path[] = VARIANTS.map((v) => v.name);

/** createModel's backend options for a path. */
export function on(path: Path): { backend: 'js' | 'wasm'; threads: number } {
  const v = VARIANTS.find((x) => x.name === path);
  if (!v) throw new Error(`unknown test path ${path}`);
  return { backend: v.backend, threads: v.threads };
}

// Threaded models hold worker threads: every model made here is disposed when its test file
// ends (a test may dispose it earlier; dispose is idempotent), so suites need no bookkeeping.
// (vitest evaluates this module once per test file, while it collects the file's tests, so
// the hook below belongs to the importing file.)
const live: Model[] = [];
afterAll(() => { for (const m of live.splice(0)) m.dispose(); });

/** Remember a model to dispose at the end of the test file. */
export function track<M extends Model>(m: M): M {
  live.push(m);
  return m;
}

/** createModel on a path (its backend and threads override any in opts). */
export async function createModelOn(path: Path, opts: Omit<CreateModelOptions, 'backend' | 'threads'>): Promise<Model> {
  return checkPath(track(await createModel({ ...opts, ...on(path) })), path);
}

/** Fail when a model does not run the way its path says (a host without threads would fall back to one quietly). */
export function checkPath<M extends Model>(m: M, path: Path): M {
  const want = on(path), got = m.info();
  if (got.backend !== want.backend || got.threads !== want.threads) {
    throw new Error(`test path ${path}: the model runs ${got.backend} on ${got.threads} thread(s)${got.threadsNote ? ` (${got.threadsNote})` : ''}`);
  }
  return m;
}
