// threads: 'auto' uses the cores this process may run on (capped at AUTO_THREADS_MAX), shows the
// count in model.info(), trains exactly like an explicit count, is 1 on the js backend (it has
// no threads), and bad values still fail with a BpttError that names threads.

import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUTO_THREADS_MAX, BpttError, checkpointBytes, createModel, loadCheckpointBytes, type Model } from '../src/index.js';
import { browserHost } from '../src/host/browser.js';
import { setHost } from '../src/host/host.js';
import { nodeHost } from '../src/host/node.js';

const cfg = { cell: 'lstm', inputSize: 3, hiddenSize: 5, outputSize: 2, seed: 4 } as const;
const expected = Math.min(availableParallelism(), AUTO_THREADS_MAX);

// T=4, B=6 (more rows than this machine's cores, so every thread gets some)
const T = 4, B = 6;
const x = { shape: [T, B, 3], data: Float32Array.from({ length: T * B * 3 }, (_, i) => Math.sin(i * 0.7)) };
const target = { shape: [T, B, 2], data: Float32Array.from({ length: T * B * 2 }, (_, i) => Math.cos(i * 0.3)) };
const lossOf = (m: Model) => m.lossAndGrad({ x, target }, { kind: 'mse', reduction: 'sum' }).loss;

afterEach(() => {
  setHost(nodeHost); // importing browser.js installed the browser host
  vi.unstubAllGlobals();
});

describe("threads: 'auto'", () => {
  it.each(['wasm', 'js'] as const)('%s: uses the available cores (js: 1) and says how many in info()', async (backend) => {
    setHost(nodeHost);
    const m = await createModel({ ...cfg, backend, threads: 'auto' });
    try {
      const n = backend === 'wasm' ? expected : 1;
      expect(m.info()).toMatchObject({ backend, threads: n, threadsRequested: n, threadsNote: null });
    } finally {
      m.dispose();
    }
  });

  it.each(['wasm', 'js'] as const)('%s: trains like the same model with the count given explicitly', async (backend) => {
    setHost(nodeHost);
    const auto = await createModel({ ...cfg, backend, threads: 'auto' });
    const explicit = await createModel({ ...cfg, backend, threads: backend === 'wasm' ? expected : 1 });
    try {
      // same thread count, same split of the batch, so the same float32 sums: equal, not close
      expect(lossOf(auto)).toBe(lossOf(explicit));
      const ga = auto.gradDict(), ge = explicit.gradDict();
      for (const k of Object.keys(ge)) expect(Array.from(ga[k].data), k).toEqual(Array.from(ge[k].data));
    } finally {
      auto.dispose();
      explicit.dispose();
    }
  });

  it('a checkpoint loads with threads: auto (a run-time choice, never read from the file)', async () => {
    setHost(nodeHost);
    const m = await createModel({ ...cfg });
    const loaded = await loadCheckpointBytes(checkpointBytes(m), { threads: 'auto' });
    try {
      expect(loaded.model.info().threads).toBe(expected);
      expect(lossOf(loaded.model)).toBeCloseTo(lossOf(m), 4);
    } finally {
      loaded.model.dispose();
    }
  });

  it('is capped at AUTO_THREADS_MAX and never below 1, whatever the host reports', async () => {
    for (const [cores, n] of [[64, AUTO_THREADS_MAX], [0, 1], [Number.NaN, 1]] as const) {
      setHost({ ...nodeHost, availableCores: () => cores });
      const m = await createModel({ ...cfg, threads: 'auto' });
      try {
        expect(m.info().threads, `host says ${cores} cores`).toBe(n);
      } finally {
        m.dispose();
      }
    }
  });

  it("a page's count comes from navigator.hardwareConcurrency (1 when there is none)", () => {
    vi.stubGlobal('navigator', { hardwareConcurrency: 12 });
    expect(browserHost.availableCores()).toBe(12);
    vi.stubGlobal('navigator', {});
    expect(browserHost.availableCores()).toBe(1);
  });

  it.each([['max'], ['AUTO'], [''], [0], [1.5], [-2], [true]])('bad value %j: a BpttError naming threads, the expected and the actual', async (v) => {
    setHost(nodeHost);
    const p = createModel({ ...cfg, threads: v as never });
    await expect(p).rejects.toBeInstanceOf(BpttError);
    await expect(p).rejects.toThrow(typeof v === 'string' ? `threads must be an integer >= 1 or 'auto', got "${v}"` : /threads must be an integer >= 1, got/);
  });
});
