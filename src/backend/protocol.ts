// The protocol between the main thread (backend/parallel.ts) and a training worker
// (backend/worker.ts), in its own module so the worker loads only this and the single-thread
// Wasm sweep, never the main-thread ParallelSweep class.
//
// Each worker has a control block of CTRL.SIZE int32 slots in the shared memory. The main
// thread writes the command and its arguments, bumps SEQ and notifies; the worker runs the
// command and stores SEQ into DONE. The worker lays out its part's buffers itself from
// BASE, T, B, TRAIN and DROPOUT (WasmSweep.layoutAt: the workspace table the main thread
// used), so no offsets are ever sent; the only message is a BindMessage, once per worker.

import type { ModelConfig } from '../layout.js';

export type { WorkerInit } from '../host/host.js';

/**
 * Control block layout (int32 slots). CLIP is a float64 slot: int32 index 8 = byte 32 of a
 * 64-byte aligned block. BASE, TRAIN, DROPOUT: where the part's buffers start and how they
 * were laid out.
 */
export const CTRL = { SEQ: 0, CMD: 1, T: 2, B: 3, INPUT_GRAD: 4, DONE: 5, ERROR: 6, CLIP: 8, BASE: 10, TRAIN: 11, DROPOUT: 12, SIZE: 16 } as const;
/** Commands written to CTRL.CMD. BIND is preceded by one BindMessage on the worker's channel. */
export const CMD = { BIND: 1, FORWARD: 2, BACKWARD: 3, EXIT: 4 } as const;
/** Spins before either side falls back to Atomics.wait (spinning alone collapses when the other core is busy). */
export const SPIN = 20000;

/** Posted before BIND: the model's config (its layout), the parameters and this part's gradient region (float offsets). */
export interface BindMessage {
  config: ModelConfig;
  P: number;
  G: number;
}
