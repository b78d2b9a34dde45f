// The host layer in Node: model.info(), configureWasm (kernels from a URL or bytes the
// caller gives, bad options named), and the Node-only file functions behind the host.
// test/browser/ runs the same things in Chromium.

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Adam, checkpointBytes, configureWasm, createModel, loadCheckpointBytes, wasmBuild } from '../src/index.js';
import { hostName } from '../src/host/host.js';
import { browserHost } from '../src/host/browser.js';
import { setHost } from '../src/host/host.js';
import { nodeHost } from '../src/host/node.js';

const wasmUrl = (b: string) => new URL(`../build/bptt.${b}.wasm`, import.meta.url);

afterEach(() => {
  setHost(nodeHost); // importing browser.js installed the browser host
  configureWasm({ simd: undefined, relaxed: undefined, worker: undefined });
});

describe('model.info()', () => {
  it('says host, backend, build and threads', async () => {
    setHost(nodeHost);
    expect(hostName()).toBe('node');
    for (const threads of [1, 2]) {
      const m = await createModel({ cell: 'gru', inputSize: 3, hiddenSize: 4, threads });
      expect(m.info()).toMatchObject({ backend: 'wasm', host: 'node', wasmBuild: wasmBuild(), threads, threadsRequested: threads, threadsNote: null });
      expect(m.info().memoryBytes).toBeGreaterThan(0);
      m.dispose();
    }
    const js = await createModel({ cell: 'rnn', inputSize: 3, hiddenSize: 4, backend: 'js' });
    expect(js.info()).toMatchObject({ backend: 'js', host: 'node', wasmBuild: null, threads: 1, threadsNote: null });
  });
});

describe('configureWasm', () => {
  it('loads a build from a file URL, from bytes and from a compiled module, with the same results', async () => {
    setHost(nodeHost);
    const bytes = new Uint8Array(readFileSync(wasmUrl('simd')));
    const results: number[][] = [];
    for (const simd of [wasmUrl('simd'), wasmUrl('simd').href, bytes, bytes.buffer, await WebAssembly.compile(bytes)]) {
      configureWasm({ simd });
      const m = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 1, wasmBuild: 'simd', seed: 4 });
      const x = { shape: [3, 1, 2], data: [0.1, -0.2, 0.3, 0.4, -0.5, 0.6] };
      results.push(Array.from(m.forward(x).output.data));
      expect(m.info().wasmBuild).toBe('simd');
    }
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('names a bad option, and a bad source fails the createModel that needs it (later ones can succeed)', async () => {
    setHost(nodeHost);
    expect(() => configureWasm({ smid: 'x' } as never)).toThrow(/configureWasm: unknown option 'smid' \(options: simd, relaxed, worker\)/);
    expect(() => configureWasm({ simd: 3 } as never)).toThrow(/'simd' must be a URL, bytes or a WebAssembly.Module, got \[object Number\]/);
    expect(() => configureWasm({ worker: new Uint8Array(1) } as never)).toThrow(/'worker' must be a URL, got \[object Uint8Array\]/);
    expect(() => configureWasm(null as never)).toThrow(/configureWasm takes an object, got null/);
    configureWasm({ simd: new Uint8Array([0, 1, 2, 3]) });
    await expect(createModel({ cell: 'rnn', inputSize: 1, hiddenSize: 1, wasmBuild: 'simd' })).rejects.toThrow(WebAssembly.CompileError);
    configureWasm({ simd: undefined });
    const m = await createModel({ cell: 'rnn', inputSize: 1, hiddenSize: 1, wasmBuild: 'simd' });
    expect(m.info().wasmBuild).toBe('simd');
  });
});

describe('the browser host, seen from Node', () => {
  it('probes relaxed SIMD with a tiny module (valid here: Node has the flag set), and has no progress bar', async () => {
    setHost(nodeHost);
    expect(nodeHost.relaxedSupported()).toBe(true); // sets the V8 flag on Node 20
    expect(browserHost.relaxedSupported()).toBe(true);
    expect(browserHost.progress(10, {})).toBeNull();
  });
});

describe('checkpoints as bytes (what a page saves and loads)', () => {
  it('loadCheckpointBytes restores the weights and the optimizer from checkpointBytes, and names bad input', async () => {
    setHost(nodeHost);
    const m = await createModel({ cell: 'lstm', inputSize: 3, hiddenSize: 5, outputSize: 2, seed: 9 });
    const opt = new Adam(m, { lr: 0.01 });
    const bytes = checkpointBytes(m, { optimizer: opt, metadata: { note: 'x' } });
    const back = await loadCheckpointBytes(bytes);
    expect(Array.from(back.model.paramView())).toEqual(Array.from(m.paramView()));
    expect(back.optimizer?.lr).toBe(0.01);
    expect(back.metadata.note).toBe('x');
    await expect(loadCheckpointBytes([1, 2] as never)).rejects.toThrow(/loadCheckpointBytes: bytes must be a Uint8Array, got \[object Array\]/);
    await expect(loadCheckpointBytes(new Uint8Array(3), {}, "file 'a.safetensors'")).rejects.toThrow(/cannot read file 'a.safetensors'/);
  });
});
