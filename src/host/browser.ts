// The browser host: builds fetched from the package's build/ directory (or where
// configureWasm says), relaxed SIMD where the browser validates it, training threads as
// Web Workers when the page is cross-origin isolated. Importing it installs it (browser.ts does).

import { BpttError } from '../errors.js';
import { setHost, type Host, type ThreadHandle, type WorkerInit } from './host.js';

// () -> v128 { f32x4.relaxed_madd(v128.const 0, v128.const 0, v128.const 0) }: validates
// exactly where the relaxed build's FMA instruction does.
const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, //       type section: () -> v128
  0x03, 0x02, 0x01, 0x00, //                         one function of that type
  0x0a, 0x3d, 0x01, 0x3b, 0x00, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x0b,
]);

let blocks: boolean | undefined;

/** Atomics.wait throws on a page's main thread (and works in workers). */
function canBlock(): boolean {
  if (blocks === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); // value differs: returns at once where allowed
      blocks = true;
    } catch {
      blocks = false;
    }
  }
  return blocks;
}


export const browserHost: Host = {
  name: 'browser',
  forcedBuild: () => undefined,
  relaxedSupported: () => WebAssembly.validate(RELAXED_PROBE),
  async load(build, source) {
    if (source instanceof WebAssembly.Module) return source;
    if (source !== undefined && typeof source !== 'string' && !(source instanceof URL)) return source;
    // build/ sits at the package root, three levels up from dist/src/host/browser.js
    const url = source ?? new URL(`../../../build/bptt.${build}.wasm`, import.meta.url);
    const res = await fetch(url);
    if (!res.ok) throw new BpttError(`bptt-wasm: fetching ${String(url)} failed: HTTP ${res.status}`);
    // compileStreaming needs the server to say application/wasm; otherwise compile the bytes
    if (res.headers.get('content-type')?.startsWith('application/wasm')) return WebAssembly.compileStreaming(res);
    return res.arrayBuffer();
  },
  // a hint the browser may round or cap (privacy); absent in a few contexts
  availableCores: () => (typeof navigator !== 'undefined' && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1),
  threadsUnavailable() {
    if (typeof Worker === 'undefined') return 'this context has no Web Workers';
    if (typeof SharedArrayBuffer === 'undefined' || !globalThis.crossOriginIsolated) {
      return 'the page is not cross-origin isolated, so Wasm memory cannot be shared with Web Workers ' +
        '(serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
    }
    return null;
  },
  startThread(init: WorkerInit, url) {
    const worker = new Worker(url ?? new URL('./browser-worker.js', import.meta.url), { type: 'module' });
    return new Promise<ThreadHandle>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent) => {
        worker.onmessage = null;
        if (e.data === 'ready') resolve(worker);
        else {
          worker.terminate();
          reject(new BpttError(`bptt-wasm: a training thread failed to start: ${String(e.data)}`));
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        worker.terminate();
        reject(new BpttError(`bptt-wasm: a training thread failed to start: ${e.message || 'cannot load the worker script'}`));
      };
      worker.postMessage(init);
    });
  },
  get canBlock() {
    return canBlock();
  },
  progress: () => null, // no terminal: fit's onStep / onEpoch callbacks report progress
};

setHost(browserHost);
