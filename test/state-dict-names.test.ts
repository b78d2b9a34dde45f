// PyTorch state dicts under the names users give their modules (`lstm.*`, `fc.*`, nested
// `encoder.rnn.*`): loaded with explicit prefixes or detected, written back under those
// names, and through safetensors and checkpoints; ambiguous dicts and what the library does
// not have are clear errors that leave the model unchanged. The dicts are the torch-seq
// fixtures' weights renamed, so the loaded model must reproduce PyTorch's forward output.

import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  Adam, BpttError, checkpointBytes, createModel, loadCheckpointBytes, readSafetensors, writeSafetensors, type Model, type Tensor,
} from '../src/index.js';
import { fixturePath, listFixtures } from './helpers/fixtures.js';
import { batchFor, modelFor, type Fx, type Path } from './helpers/models.js';
import { expectClose } from './helpers/compare.js';

const FWD = 1e-5; // the fixtures' forward tolerance (float32 against PyTorch's float64)
const fx: Fx = listFixtures('torch-seq').find((f) => f.name === 'seq_lstm_bi_len_2layer_ce_last')!.json;
const c = fx.config;

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

/** A fresh model of the fixture's config with other weights (seed 5), on `path`. */
async function blank(path: Path): Promise<Model> {
  const m = await createModel({
    cell: c.cell, inputSize: c.input_size, hiddenSize: c.hidden_size, numLayers: c.num_layers, outputSize: c.output_size,
    bidirectional: true, seed: 5, backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1,
  });
  live.push(m);
  return m;
}

/** The fixture's params with `rnn.` and `out.` replaced. */
function renamed(rnn: string, out: string, params: Record<string, Tensor> = fx.params): Record<string, Tensor> {
  const join = (p: string, k: string) => (p === '' ? k : `${p}.${k}`);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => {
    const [mod, param] = k.split('.');
    return [join(mod === 'rnn' ? rnn : out, param), v];
  }));
}

function expectForward(m: Model) {
  const b = batchFor(fx);
  const r = m.forward(b.x, { lengths: b.lengths, h0: b.h0, c0: b.c0 });
  expectClose('output', r.output, fx.output, FWD);
  expectClose('h_n', r.hN, fx.h_n, FWD);
}

const snapshot = (m: Model) => JSON.stringify(Object.values(m.stateDict()).map((t) => Array.from(t.data)));

describe.each(['js', 'wasm', 'wasm, 2 threads'] as const)('state dicts under the user\'s module names (%s)', (path) => {
  it("loads { prefixes: { rnn: 'lstm', out: 'fc' } } and reproduces PyTorch's output", async () => {
    const m = await blank(path);
    m.loadStateDict(renamed('lstm', 'fc'), { prefixes: { rnn: 'lstm', out: 'fc' } });
    expectForward(m);
  });

  it('detects the one recurrent module and the one Linear head, nested names too', async () => {
    for (const [rnn, out] of [['lstm', 'fc'], ['encoder.rnn', 'classifier'], ['net.body.gru', 'net.head'], ['', 'fc']]) {
      const m = await blank(path);
      m.loadStateDict(renamed(rnn, out));
      expectForward(m);
    }
  });

  it('stateDict / gradDict write under the user\'s names; that dict loads back', async () => {
    const src = await modelFor(fx, path);
    live.push(src);
    const sd = src.stateDict({ prefixes: { rnn: 'encoder.lstm', out: 'fc' } });
    expect(Object.keys(sd)).toEqual(Object.keys(renamed('encoder.lstm', 'fc')));
    expect(Object.keys(src.gradDict({ prefixes: { out: 'fc' } }))).toContain('fc.weight');
    const m = await blank(path);
    m.loadStateDict(sd);
    expectForward(m);
    expect(() => src.stateDict({ prefixes: { head: 'fc' } })).toThrow(/prefixes names module 'head', but this model's modules are rnn, out/);
  });

  it('an ambiguous dict is an error listing the candidates; prefixes settle it', async () => {
    const m = await blank(path);
    const before = snapshot(m);
    const two = { ...renamed('encoder.lstm', 'fc'), ...renamed('decoder.lstm', 'fc') };
    expect(() => m.loadStateDict(two)).toThrow(/ambiguous: 'encoder.lstm', 'decoder.lstm' could each be 'rnn'.*prefixes: \{ rnn:/);
    const heads = { ...renamed('lstm', 'fc1'), ...renamed('lstm', 'fc2') };
    expect(() => m.loadStateDict(heads)).toThrow(/ambiguous: 'fc1', 'fc2' could each be 'out'/);
    expect(snapshot(m)).toBe(before);
    // with prefixes, the other module's keys are unknown keys, said with the names used
    expect(() => m.loadStateDict(two, { prefixes: { rnn: 'decoder.lstm', out: 'fc' } }))
      .toThrow(/unknown key 'encoder.lstm.weight_ih_l0' for this model \(read with rnn as 'decoder.lstm', out as 'fc'\)/);
    m.loadStateDict(renamed('decoder.lstm', 'fc'), { prefixes: { rnn: 'decoder.lstm', out: 'fc' } });
    expectForward(m);
  });

  it('proj_size, extra layers, a missing head and misshaped tensors keep their plain messages under other names', async () => {
    const m = await blank(path);
    const before = snapshot(m);
    const sd = renamed('lstm', 'fc');
    const H = c.hidden_size;
    expect(() => m.loadStateDict({ ...sd, 'lstm.weight_hr_l0': { shape: [2, H], data: new Float32Array(2 * H) } }))
      .toThrow(/'lstm.weight_hr_l0' is an LSTM projection \(PyTorch's proj_size > 0\), which bptt-wasm does not support/);
    expect(() => m.loadStateDict({ ...sd, 'lstm.weight_ih_l2': { shape: [4 * H, 2 * H], data: new Float32Array(8 * H * H) } }))
      .toThrow(/'lstm.weight_ih_l2' belongs to layer 2, but this model has numLayers 2/);
    const { ['fc.bias']: _b, ...noBias } = sd;
    expect(() => m.loadStateDict(noBias)).toThrow(/missing keys fc.bias \(read with rnn as 'lstm', out as 'fc'\)/);
    const noHead = Object.fromEntries(Object.entries(sd).filter(([k]) => !k.startsWith('fc.')));
    expect(() => m.loadStateDict(noHead)).toThrow(/no module for 'out' \(a Linear '<name>.weight'/);
    expect(() => m.loadStateDict({ ...sd, 'fc.weight': { shape: [1, 1], data: [0] } })).toThrow(/'fc.weight' has shape \[1, 1\]/);
    expect(() => m.loadStateDict({ fc: sd['fc.weight'] } as never)).toThrow(/no recurrent module/);
    expect(() => m.loadStateDict(sd, { prefixes: { rnn: 3 } as never })).toThrow(/prefixes.rnn must be a string/);
    expect(() => m.loadStateDict(sd, { prefix: 'lstm' } as never)).toThrow(BpttError);
    expect(snapshot(m)).toBe(before);
  });

  it('safetensors and checkpoints: PyTorch files under other names load, with or without prefixes', async () => {
    const src = await modelFor(fx, path);
    live.push(src);
    // what safetensors.torch.save_file(net.state_dict()) writes for a Net with lstm/fc
    const file = writeSafetensors(renamed('lstm', 'fc'), { format: 'pt' });
    const m = await blank(path);
    m.loadStateDict(readSafetensors(file).tensors);
    expectForward(m);
    // a checkpoint saved under the user's names: tensors so named, loaded back by its metadata
    const bytes = checkpointBytes(src, { prefixes: { rnn: 'lstm', out: 'fc' } });
    const names = Object.keys(readSafetensors(bytes).tensors);
    expect(names).toContain('lstm.weight_ih_l0_reverse');
    expect(names).toContain('fc.weight');
    const runtime = { backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1 } as const;
    const back = (await loadCheckpointBytes(bytes, runtime)).model;
    live.push(back);
    expectForward(back);
    // with optimizer state beside them (kept under this library's names), restored too
    const opt = new Adam(src, { lr: 0.01 });
    src.lossAndGrad(batchFor(fx), { kind: 'cross_entropy', reduction: 'mean', lastStepOnly: true });
    opt.step();
    const withOpt = await loadCheckpointBytes(checkpointBytes(src, { prefixes: { rnn: 'lstm', out: 'fc' }, optimizer: opt }), runtime);
    live.push(withOpt.model);
    expect(withOpt.model.stateDict()).toEqual(src.stateDict());
    expect(withOpt.optimizer!.stateDict().buffers).toEqual(opt.stateDict().buffers);
    // the same tensors with the config only (no stored prefixes): detected, or given
    const meta = readSafetensors(bytes).metadata;
    const plain = writeSafetensors(renamed('encoder.rnn', 'fc'), { format: 'pt', config: meta.config });
    for (const opts of [{}, { prefixes: { rnn: 'encoder.rnn', out: 'fc' } }]) {
      const again = (await loadCheckpointBytes(plain, { ...runtime, ...opts })).model;
      live.push(again);
      expectForward(again);
    }
    await expect(loadCheckpointBytes(plain, { ...runtime, prefixes: { rnn: 'lstm' } })).rejects.toThrow(/'lstm.weight_ih_l0' \(shape .*\) is missing/);
  });

  it('a PyTorch safetensors fixture renamed (nn.GRU as gru, nn.Linear as fc) loads with its values', async () => {
    const p = fixturePath('gru_2layer_ce_last', 'safetensors')!;
    const { tensors } = readSafetensors(readFileSync(p));
    const fx2: Fx = listFixtures().find((f) => f.name === 'gru_2layer_ce_last')!.json;
    const m = await createModel({ cell: 'gru', inputSize: fx2.config.input_size, hiddenSize: fx2.config.hidden_size,
      numLayers: fx2.config.num_layers, outputSize: fx2.config.output_size, backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1 });
    live.push(m);
    m.loadStateDict(renamed('gru', 'fc', tensors));
    expectClose('output', m.forward(fx2.x, fx2.h0 ? { h0: fx2.h0 } : {}).output, fx2.output, FWD);
  });
});
