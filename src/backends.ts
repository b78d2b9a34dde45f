// Backend factory: 'wasm' (the product) or 'js' (the pure-TypeScript baseline). The factory
// owns threading: more than one thread is the parallel backend over the Wasm kernels, loaded
// only when asked for. Keeping that choice here (not in backend-wasm.ts) is what keeps
// backend-wasm.ts and backend-parallel.ts out of an import cycle.

import type { Backend } from './backend.js';
import { createJsBackend } from './backend-js.js';
import { createWasmBackend, wasmBuild, type WasmBuild } from './backend-wasm.js';
import { host } from './host/host.js';

export type BackendKind = 'wasm' | 'js';

export async function createBackend(kind: BackendKind, requested?: WasmBuild, threads = 1): Promise<Backend> {
  if (kind === 'js') return createJsBackend();
  const build = requested ?? wasmBuild();
  if (threads <= 1) return createWasmBackend(build);
  // A page that is not cross-origin isolated cannot share memory with workers: one thread, and why.
  const unavailable = host().threadsUnavailable();
  if (unavailable) return createWasmBackend(build, threads, unavailable);
  const { createParallelBackend } = await import('./backend-parallel.js');
  return createParallelBackend(threads, build);
}
