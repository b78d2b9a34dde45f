// A training worker thread (see backend/parallel.ts; the protocol is backend/protocol.ts): mirrors one batch part's WasmSweep
// over the shared memory and runs forward/backward on command. It lays out its part's
// buffers itself from the control block's base, T, B and flags (WasmSweep.layoutAt), the
// same workspace table (buildWorkspace in layout.ts) the main thread used; the only message is the model's config, once
// (BIND). Host-neutral: it is started through host/node-worker.js (worker_threads) or
// host/browser-worker.js (a Web Worker), which install the channel to the main thread first.

import { Arena } from '../arena.js';
import type { IOBuffers } from './types.js';
import { instantiateKernelsFrom, WasmSweep, type WasmRuntime } from './wasm.js';
import { WasmOps } from './ops-wasm.js';
import { buildLayout } from '../layout.js';
import { type BindMessage, CMD, CTRL, SPIN } from './protocol.js';
import { workerPort } from '../host/host.js';

const port = workerPort();
const { memory, module, ctrl, scratch } = port.init;
const k = await instantiateKernelsFrom(module, memory);
k.set_scratch(scratch * 4);
const arena = new Arena(memory, k.heap_base(), { frozen: true }); // the main thread allocates everything
const rt: WasmRuntime = { arena, k };
const sweep = new WasmSweep(rt);
const ops = new WasmOps(rt); // only to zero the part's gradient region
let io: IOBuffers | null = null;
/** the (base, T, B, train, dropout) io was laid out for */
let laidOut = '';
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
    if (cmd === CMD.BIND) {
      const msg = (await port.next()) as BindMessage | undefined;
      if (!msg) throw new Error('worker: BIND without a config message');
      sweep.bind(buildLayout(msg.config), msg.P, msg.G);
      laidOut = '';
    } else {
      const base = i32[ctrl + CTRL.BASE], train = i32[ctrl + CTRL.TRAIN] === 1, dropout = i32[ctrl + CTRL.DROPOUT] === 1;
      const key = `${base},${T},${B},${+train},${+dropout}`;
      if (key !== laidOut) {
        io = sweep.layoutAt(base, T, B, train, dropout);
        laidOut = key;
      }
      if (cmd === CMD.FORWARD) {
        sweep.forward(io!, T, B);
      } else if (cmd === CMD.BACKWARD) {
        ops.fill(sweep.gradRegion, sweep.numParams, 0);
        const clip = arena.f64[(ctrl + CTRL.CLIP) / 2];
        sweep.backward(io!, T, B, clip, i32[ctrl + CTRL.INPUT_GRAD] === 1);
      }
    }
  } catch (e) {
    arena.i32[ctrl + CTRL.ERROR] = 1;
    console.error('bptt-wasm worker:', e);
  }
  Atomics.store(arena.i32, ctrl + CTRL.DONE, seen);
  Atomics.notify(arena.i32, ctrl + CTRL.DONE);
}
