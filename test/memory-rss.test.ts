// Resident memory, measured in a child process against dist/ (so the RSS is that run's own,
// not the test runner's): predict over 40,000 windows stays small (issue #11 item 1), and
// compact() gives a large call's memory back (#11 item 2). Needs `npm run build` first.

import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'memory-child.mjs');
const run = (...args: string[]) =>
  JSON.parse(execFileSync(process.execPath, ['--expose-gc', child, ...args], { encoding: 'utf8', timeout: 120_000 }).trim().split('\n').pop()!);

const PATHS = [['js', '1'], ['wasm', '1'], ['wasm', '2']] as const;

describe.each(PATHS)('memory of a child process on %s (threads %s)', (backend, threads) => {
  it('predicts 40,000 windows of a GRU (1 input, hidden 32, T = 28) under 200 MB peak RSS', () => {
    const r = run('predict', backend, threads);
    expect(r.shape).toEqual([40000, 1]);
    expect(r.finite).toBe(true);
    // measured here: about 80 MB peak (the runtime alone is about 55 MB); forward over the
    // whole input kept ~1 GB before the workspace was sized per call
    expect(r.peak, `peak RSS ${r.peak.toFixed(0)} MB`).toBeLessThan(200);
    expect(r.modelBytes).toBeLessThan(64 * 2 ** 20);
  }, 90_000);

  it('compact() after a large training call brings the model memory and RSS back near the baseline, numbers unchanged', () => {
    const r = run('compact', backend, threads);
    const grew = r.large - r.base;
    // the large call holds 66 MB (js) to 180 MB (wasm) of workspace
    expect(r.largeBytes).toBeGreaterThan(60 * 2 ** 20);
    expect(grew, `RSS ${r.base.toFixed(0)} -> ${r.large.toFixed(0)} MB`).toBeGreaterThan(60);
    expect(r.afterBytes).toBeLessThanOrEqual(r.baseBytes);
    expect(r.after - r.base, `RSS after compact ${r.after.toFixed(0)} MB (base ${r.base.toFixed(0)})`).toBeLessThan(20);
    expect(r.same).toBe(true);
  }, 60_000);
});
