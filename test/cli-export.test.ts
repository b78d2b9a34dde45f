// `bptt-wasm export`: a checkpoint becomes an ONNX file that ONNX Runtime runs and that
// readOnnx reads back to the same weights; bad arguments are usage or user errors.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { createModel, readOnnx } from '../src/index.js';
import { saveCheckpoint } from '../src/io/checkpoint-file.js';
import { Rng } from '../src/rng.js';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'src', 'cli', 'index.js');
let dir = '';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => execFile(process.execPath, [CLI, ...args], { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) =>
    res({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })));
}

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bptt-wasm-export-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('bptt-wasm export', () => {
  it('writes an ONNX file that readOnnx reads back exactly and ONNX Runtime runs like forward', async () => {
    const model = await createModel({ cell: 'lstm', inputSize: 3, hiddenSize: 5, numLayers: 2, outputSize: 2, backend: 'js', seed: 7 });
    const ckpt = join(dir, 'm.safetensors'), onnx = join(dir, 'm.onnx');
    await saveCheckpoint(model, ckpt);
    const r = await cli(['export', '--checkpoint', ckpt, '--out', onnx, '--initial-state']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*m\.onnx .*opset 17.*lstm 2 layer/);
    const bytes = new Uint8Array(readFileSync(onnx));
    const back = readOnnx(bytes);
    const sd = model.stateDict();
    for (const [name, t] of Object.entries(sd)) expect(Array.from(back.stateDict[name].data), name).toEqual(Array.from(t.data));
    // ONNX Runtime on the exported file against forward, T=4, B=3, with h0/c0
    const T = 4, B = 3, rng = new Rng(3);
    const x = Float32Array.from({ length: T * B * 3 }, () => rng.uniform(-1, 1));
    const h0 = Float32Array.from({ length: 2 * B * 5 }, () => rng.uniform(-1, 1));
    const c0 = Float32Array.from({ length: 2 * B * 5 }, () => rng.uniform(-1, 1));
    const want = model.forward({ shape: [T, B, 3], data: x }, { h0: { shape: [2, B, 5], data: h0 }, c0: { shape: [2, B, 5], data: c0 } });
    const session = await ort.InferenceSession.create(bytes);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', x, [T, B, 3]), h0: new ort.Tensor('float32', h0, [2, B, 5]), c0: new ort.Tensor('float32', c0, [2, B, 5]),
    };
    const got = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]])));
    const y = got[session.outputNames[0]].data as Float32Array;
    const scale = Math.max(...Array.from(want.output.data, Math.abs));
    for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - want.output.data[i])).toBeLessThan(1e-5 * scale);
    model.dispose();
  });

  it('a missing checkpoint is an error (exit 1); a missing --out is a usage error (exit 2)', async () => {
    const a = await cli(['export', '--checkpoint', join(dir, 'none.safetensors'), '--out', join(dir, 'x.onnx')]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/checkpoint not found/);
    const b = await cli(['export', '--checkpoint', join(dir, 'none.safetensors')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--out/);
  });
});
