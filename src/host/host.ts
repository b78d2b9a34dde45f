// What differs between Node and a web page, behind one interface. The core (models,
// training, optimizers, bytes in and out) calls host(); the entry point the user imports
// installs the implementation: index.ts (Node) imports ./node.js, browser.ts imports
// ./browser.js. This file imports only errors.ts (which imports nothing), so it is safe in every module graph.

import { BpttError } from '../errors.js';
import type { Progress, ProgressOptions } from '../progress.js';

export type WasmBuild = 'simd' | 'relaxed';

/** Where a Wasm build comes from: a URL (fetched, or read from disk in Node), its bytes, or a compiled module. */
export type WasmSource = string | URL | WasmBytes | WebAssembly.Module;
export type WasmBytes = ArrayBuffer | ArrayBufferView;

/** What a training thread starts with (see backend/parallel.ts, backend/worker.ts). */
export interface WorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  ctrl: number;
  scratch: number;
}

/** A running training thread, as the main thread sees it. */
export interface ThreadHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

/** A training thread's side of the channel (installed before backend/worker.ts runs). */
export interface WorkerPort {
  init: WorkerInit;
  ready(): void;
  /** the next message from the main thread (one arrives before every BIND command) */
  next(): unknown | Promise<unknown>;
}

export interface Host {
  readonly name: 'node' | 'browser';
  /** The build the environment forces (Node: BPTT_WASM_BUILD), or undefined. */
  forcedBuild(): string | undefined;
  /** Can this host run the relaxed-SIMD build? (Node 20 needs a V8 flag, set here.) */
  relaxedSupported(): boolean;
  /** The bytes (or module) of a build from where this host keeps them (or from `source`). */
  load(build: WasmBuild, source: WasmSource | undefined): Promise<BufferSource | WebAssembly.Module>;
  /** Cores this process may use (threads: 'auto'): Node's availableParallelism(), a page's navigator.hardwareConcurrency. */
  availableCores(): number;
  /** Why more than one training thread cannot run here, or null when they can. */
  threadsUnavailable(): string | null;
  /** Start one training thread; resolves once it is ready for commands. */
  startThread(init: WorkerInit, workerUrl: string | URL | undefined): Promise<ThreadHandle>;
  /** May this thread block in Atomics.wait? (A page's main thread may not; it spins instead.) */
  readonly canBlock: boolean;
  /** A progress bar for fit(), or null where there is no terminal. */
  progress(total: number, opts: ProgressOptions): Progress | null;
}

let current: Host | undefined;
let port: WorkerPort | undefined;

export function setHost(h: Host): void {
  current = h;
}

export function host(): Host {
  if (!current) {
    throw new Error("bptt-wasm: no host is set up; import the package's entry ('bptt-wasm', or 'bptt-wasm/node'), not one of its internal modules");
  }
  return current;
}

/** Which host is installed ('node' | 'browser'), or undefined. */
export function hostName(): Host['name'] | undefined {
  return current?.name;
}

export function setWorkerPort(p: WorkerPort): void {
  port = p;
}

export function workerPort(): WorkerPort {
  if (!port) throw new BpttError('bptt-wasm: internal error: worker.js started without a worker port (start it through host/*-worker.js)');
  return port;
}
