// A Web Worker training thread: the first message is its WorkerInit, later ones are the
// model configs that precede BIND commands. backend/worker.ts blocks in Atomics.wait between commands and
// awaits next() on BIND, which lets this worker's event loop deliver the queued config.

import { setWorkerPort, type WorkerInit } from './host.js';

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}
const scope = globalThis as unknown as Scope;
const queued: unknown[] = [];
let waiting: ((m: unknown) => void) | null = null;
let started = false;

scope.onmessage = (e) => {
  if (!started) {
    started = true;
    setWorkerPort({
      init: e.data as WorkerInit,
      ready: () => scope.postMessage('ready'),
      next: () => (queued.length ? queued.shift() : new Promise((resolve) => { waiting = resolve; })),
    });
    import('../backend/worker.js').catch((err: unknown) => scope.postMessage(String(err)));
    return;
  }
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(e.data);
  } else queued.push(e.data);
};
