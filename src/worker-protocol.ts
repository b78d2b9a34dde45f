// The protocol between the main thread (backend-parallel.ts) and a training worker
// (worker.ts), in its own module so the worker loads only this and the single-thread
// Wasm backend, never the main-thread ParallelBackend class.
//
// Each worker has a control block of CTRL.SIZE int32 slots in the shared memory. The main
// thread writes the command and its arguments, bumps SEQ and notifies; the worker runs the
// command and stores SEQ into DONE. A SYNC command is preceded by one SyncMessage posted on
// the worker's channel.

import type { IOBuffers } from './backend.js';
import type { WasmBackendState } from './backend-wasm.js';

export type { WorkerInit } from './host/host.js';

/** Control block layout (int32 slots). CLIP is a float64 slot: int32 index 8 = byte 32 of a 64-byte aligned block. */
export const CTRL = { SEQ: 0, CMD: 1, T: 2, B: 3, INPUT_GRAD: 4, DONE: 5, ERROR: 6, CLIP: 8, SIZE: 16 } as const;
/** Commands written to CTRL.CMD. */
export const CMD = { SYNC: 1, FORWARD: 2, BACKWARD: 3, EXIT: 4 } as const;
/** Spins before either side falls back to Atomics.wait (spinning alone collapses when the other core is busy). */
export const SPIN = 20000;

/** Posted before every SYNC command: the part's offsets, to rebuild its WasmBackend in the worker. */
export interface SyncMessage {
  state: WasmBackendState;
  io: IOBuffers;
}
