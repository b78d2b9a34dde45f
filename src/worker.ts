// A training worker thread (see backend-parallel.ts; the protocol is worker-protocol.ts): mirrors one batch part's WasmBackend
// over the shared memory and runs forward/backward on command. Host-neutral: it is started
// through host/node-worker.js (worker_threads) or host/browser-worker.js (a Web Worker),
// which install the channel to the main thread first.

import { Arena } from './arena.js';
import type { IOBuffers } from './backend.js';
import { instantiateKernelsFrom, WasmBackend } from './backend-wasm.js';
import { CMD, CTRL, SPIN, type SyncMessage } from './worker-protocol.js';
import { workerPort } from './host/host.js';

const port = workerPort();
const { memory, module, ctrl, scratch } = port.init;
const k = await instantiateKernelsFrom(module, memory);
k.set_scratch(scratch * 4);
const arena = new Arena(memory, k.heap_base(), { frozen: true }); // the main thread allocates everything
const backend = new WasmBackend(k, arena);
let io: IOBuffers | null = null;
port.ready();

let seen = 0;
for (;;) {
  const i32 = arena.i32;
  let spins = 0;
  while (Atomics.load(i32, ctrl + CTRL.SEQ) === seen) {
    if (++spins > SPIN) Atomics.wait(i32, ctrl + CTRL.SEQ, seen, 1000);
  }
  seen = Atomics.load(i32, ctrl + CTRL.SEQ);
  const cmd = i32[ctrl + CTRL.CMD];
  if (cmd === CMD.EXIT) break;
  try {
    const T = i32[ctrl + CTRL.T], B = i32[ctrl + CTRL.B];
    if (cmd === CMD.SYNC) {
      const msg = (await port.next()) as SyncMessage | undefined;
      if (!msg) throw new Error('worker: SYNC without a state message');
      backend.restore(msg.state);
      io = msg.io;
    } else if (cmd === CMD.FORWARD) {
      backend.forward(io!, T, B);
    } else if (cmd === CMD.BACKWARD) {
      backend.fill(backend.gradRegion, backend.numParams, 0);
      const clip = arena.f64[(ctrl + CTRL.CLIP) / 2];
      backend.backward(io!, T, B, clip, i32[ctrl + CTRL.INPUT_GRAD] === 1);
    }
  } catch (e) {
    arena.i32[ctrl + CTRL.ERROR] = 1;
    console.error('bptt-wasm worker:', e);
  }
  Atomics.store(arena.i32, ctrl + CTRL.DONE, seen);
  Atomics.notify(arena.i32, ctrl + CTRL.DONE);
}
