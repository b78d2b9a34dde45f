// Fuzz worker: parses one file per message (safetensors bytes, or a checkpoint to load)
// and reports the outcome, the time and what it allocated. It runs in its own thread so
// the suite's watchdog can stop a case that hangs (worker.terminate()).
import { parentPort } from 'node:worker_threads';
import { writeFileSync, rmSync } from 'node:fs';
import { BpttError, readSafetensors, loadTrainingCheckpoint } from '../../dist/src/index.js';

parentPort.on('message', async ({ id, kind, bytes, path, backend }) => {
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let outcome, where = '', message = '', usedBytes = 0, kept = null;
  try {
    if (kind === 'safetensors') {
      kept = readSafetensors(bytes);
    } else {
      writeFileSync(path, bytes);
      const r = await loadTrainingCheckpoint(path, { backend });
      usedBytes = r.model.arena.usedBytes;
      r.model.dispose();
    }
    outcome = 'ok';
  } catch (e) {
    outcome = e instanceof BpttError ? 'BpttError' : `engine:${e?.name ?? typeof e}`;
    where = e?.where ?? '';
    message = String(e?.message ?? e).slice(0, 300);
  } finally {
    if (path) rmSync(path, { force: true });
  }
  // measured while the result is still alive
  const abDelta = process.memoryUsage().arrayBuffers - ab0;
  kept = null;
  parentPort.postMessage({ id, outcome, where, message, ms: performance.now() - t0, abDelta, usedBytes });
});
