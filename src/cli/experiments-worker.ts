// Worker thread for `addingExperiment({ jobs > 1 })`: one (model, T) run of the adding
// problem per message, progress and the result posted back.

import { parentPort } from 'node:worker_threads';
import { addingRun, type AddingOptions } from './experiments.js';

if (!parentPort) throw new Error('experiments-worker.js is a worker thread script');
const port = parentPort;
port.on('message', async (msg: { key: string; T: number; opts: Omit<AddingOptions, 'onProgress'> }) => {
  try {
    const row = await addingRun(msg.key, msg.T, { ...msg.opts, onProgress: (p) => port.postMessage({ type: 'progress', p }) });
    port.postMessage({ type: 'done', row });
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message ?? String(e) });
  }
});
