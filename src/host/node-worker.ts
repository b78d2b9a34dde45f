// A Node training thread: installs the worker_threads channel, then runs backend/worker.ts.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { setWorkerPort, type WorkerInit } from './host.js';

setWorkerPort({
  init: workerData as WorkerInit,
  ready: () => parentPort!.postMessage('ready'),
  // the main thread posts the config before it sends BIND, so it is already queued
  next: () => receiveMessageOnPort(parentPort as never)?.message,
});
await import('../backend/worker.js');
