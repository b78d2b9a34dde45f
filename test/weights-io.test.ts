// The README's "Weights from and to PyTorch" path, as a user writes it: files read with
// fs.readFileSync (Node Buffers, which may be views into a shared pool), for every fixture
// that has them, on every path (js, wasm, wasm with 2 threads).

import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, readOnnx, readSafetensors, saveCheckpoint } from '../src/index.js';
import { fixturePath, listFixtures } from './helpers/fixtures.js';
import { expectClose } from './helpers/compare.js';
import { checkPath, createModelOn, on, PATHS, track } from './helpers/variants.js';

const withFiles = listFixtures().filter((f) => fixturePath(f.name, 'safetensors') && fixturePath(f.name, 'onnx'));

describe.each(PATHS)('weights from PyTorch files (%s)', (via) => {
  it.each(withFiles.map((f) => [f.name, f.json]))('%s: safetensors -> model -> checkpoint, and ONNX, give the fixture output', async (name, fx) => {
    const c = fx.config;
    // a pooled Buffer: readSafetensors must not assume it owns its ArrayBuffer
    const buf = Buffer.from(readFileSync(fixturePath(name as string, 'safetensors')!));
    const { tensors } = readSafetensors(buf);
    const model = await createModelOn(via, { cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.input_size, hiddenSize: c.hidden_size,
      numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias });
    model.loadStateDict(tensors);
    const state = { h0: fx.h0 ?? undefined, c0: fx.c0 ?? undefined };
    expectClose('safetensors output', model.forward(fx.x, state).output, fx.output, 1e-5);

    const path = join(mkdtempSync(join(tmpdir(), 'bptt-io-')), 'model.safetensors');
    await saveCheckpoint(model, path);
    const same = checkPath(track(await loadCheckpoint(path, on(via))), via);
    expect(same.stateDict()).toEqual(model.stateDict());

    const { config, stateDict } = readOnnx(readFileSync(fixturePath(name as string, 'onnx')!));
    const fromOnnx = await createModelOn(via, config);
    fromOnnx.loadStateDict(stateDict);
    expectClose('onnx output', fromOnnx.forward(fx.x, state).output, fx.output, 1e-5);
  });
});
