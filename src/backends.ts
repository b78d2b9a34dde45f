// Backend factory: 'wasm' (the product) or 'js' (the pure-TypeScript baseline).

import type { Backend } from './backend.js';
import { createJsBackend } from './backend-js.js';
import { createWasmBackend, type WasmBuild } from './backend-wasm.js';

export type BackendKind = 'wasm' | 'js';

export async function createBackend(kind: BackendKind, build?: WasmBuild, threads = 1): Promise<Backend> {
  return kind === 'js' ? createJsBackend() : createWasmBackend(build, threads);
}
