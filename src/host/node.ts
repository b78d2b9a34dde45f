// The Node host: builds read from the package's build/ directory, relaxed SIMD behind
// V8's flag on Node 20, training threads as worker_threads, (checkpoint files on disk are io/checkpoint-file.ts's).
// Importing this module installs it (index.ts, node.ts, cli.ts and the Node workers do).

import { BpttError } from '../errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { Progress } from '../progress.js';
import { setHost, type Host, type ThreadHandle, type WasmBuild, type WasmBytes, type WorkerInit } from './host.js';

/** A file next to this module in dist/src/host, or its compiled copy there (tests run src/host/*.ts directly). */
function packageFile(fromDist: string, fromSrc: string): URL {
  const here = new URL(fromDist, import.meta.url);
  return existsSync(here) ? here : new URL(fromSrc, import.meta.url);
}

const wasmPath = (build: WasmBuild) => packageFile(`../../../build/bptt.${build}.wasm`, `../../build/bptt.${build}.wasm`);

let relaxed: boolean | undefined;

/**
 * The one place Node reads and compiles a kernel build: models (through load below), the
 * kernel tests (test/helpers/wasm.ts) and the benches. `dir`: another build/ directory (a
 * baseline checkout's); default this package's. Relaxed SIMD: Node 20 validates it only
 * behind a V8 flag, set here before compiling. Null when this Node cannot validate the build.
 */
export function compileBuildSync(build: WasmBuild, dir?: URL): WebAssembly.Module | null {
  const bytes = readBuild(build, dir);
  return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
}

/** A build's bytes (see compileBuildSync), with the relaxed-SIMD flag set first where Node needs it. */
function readBuild(build: WasmBuild, dir?: URL): Uint8Array<ArrayBuffer> {
  if (build === 'relaxed') nodeHost.relaxedSupported();
  return readFileSync(dir ? new URL(`bptt.${build}.wasm`, dir) : wasmPath(build));
}

async function readSource(source: string | URL | WasmBytes): Promise<BufferSource> {
  if (typeof source !== 'string' && !(source instanceof URL)) return source as BufferSource; // a SharedArrayBuffer-backed view fails in WebAssembly.compile with its own message
  const url = source instanceof URL ? source : URL.canParse(source) ? new URL(source) : null;
  if (url && url.protocol !== 'file:') {
    const res = await fetch(url);
    if (!res.ok) throw new BpttError(`bptt-wasm: fetching ${url.href} failed: HTTP ${res.status}`);
    return res.arrayBuffer();
  }
  return readFileSync(url ? fileURLToPath(url) : source);
}

export const nodeHost: Host = {
  name: 'node',
  forcedBuild: () => process.env.BPTT_WASM_BUILD,
  relaxedSupported() {
    if (relaxed === undefined) {
      const bytes = readFileSync(wasmPath('relaxed'));
      // Node 20 validates relaxed SIMD only behind this flag; it must be set before compiling.
      if (!WebAssembly.validate(bytes)) setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxed = WebAssembly.validate(bytes);
    }
    return relaxed;
  },
  async load(build, source) {
    if (source instanceof WebAssembly.Module) return source;
    return source === undefined ? readBuild(build) : readSource(source as string | URL | WasmBytes);
  },
  // the cores this process may run on (its CPU affinity / cgroup share), not the machine's count
  availableCores: () => availableParallelism(),
  threadsUnavailable: () => null,
  startThread(init: WorkerInit, url) {
    const worker = new Worker(url ?? packageFile('./node-worker.js', '../../dist/src/host/node-worker.js'), { workerData: init });
    worker.unref(); // an idle training thread does not keep the process alive
    return new Promise<ThreadHandle>((resolve, reject) => {
      worker.once('message', (m) => (m === 'ready' ? resolve(worker) : reject(new Error(String(m)))));
      worker.once('error', reject);
    });
  },
  canBlock: true,
  progress: (total, opts) => new Progress(total, opts),
};

setHost(nodeHost);
