// Backend factory: 'wasm' (the product) or 'js' (the pure-TypeScript baseline), each a
// Sweep (the BPTT schedule) composed with the Ops over the same arena (losses, norms,
// optimizer steps). The factory owns threading: more than one thread is the parallel
// sweep over the same Wasm runtime and ops, loaded only when asked for. Keeping that
// choice here (not in backend/wasm.ts) is what keeps backend/wasm.ts and
// backend/parallel.ts out of an import cycle.

import { Arena } from '../arena.js';
import type { Backend } from './types.js';
import { JsSweep } from './js.js';
import { createWasmRuntime, wasmBuild, WasmSweep, type WasmBuild } from './wasm.js';
import { host } from '../host/host.js';
import { JsOps } from './ops-js.js';
import { WasmOps } from './ops-wasm.js';

export type BackendKind = 'wasm' | 'js';

export async function createBackend(kind: BackendKind, requested?: WasmBuild, threads = 1): Promise<Backend> {
  if (kind === 'js') {
    // no kernels read it: a plain (unshared) memory
    const arena = new Arena(new WebAssembly.Memory({ initial: 1 }), 0);
    return { arena, sweep: new JsSweep(arena), ops: new JsOps(arena) };
  }
  const build = requested ?? wasmBuild();
  const rt = await createWasmRuntime(build);
  const ops = new WasmOps(rt);
  // A page that is not cross-origin isolated cannot share memory with workers: one thread, and why.
  const unavailable = threads > 1 ? host().threadsUnavailable() : null;
  if (threads <= 1 || unavailable) {
    const sweep = new WasmSweep(rt);
    sweep.info = { wasmBuild: build, threads: 1, threadsRequested: Math.max(1, threads), threadsNote: unavailable };
    return { arena: rt.arena, sweep, ops };
  }
  const { createParallelSweep } = await import('./parallel.js');
  return { arena: rt.arena, sweep: await createParallelSweep(rt, ops, threads, build), ops };
}
