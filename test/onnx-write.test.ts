// ONNX export: readOnnx(writeOnnx(m)) gives back the model's config and every parameter
// bit for bit, for every fixture configuration, bidirectional and batch-first configs
// (through writeOnnxGraph, which needs no engine support), every opset and input option;
// bad arguments are refused with an error naming them. (ONNX Runtime runs the files in
// onnx-ort.test.ts.)

import { afterAll, describe, expect, it } from 'vitest';
import { createModel, type Model } from '../src/model.js';
import { readOnnx } from '../src/io/onnx.js';
import { writeOnnx, writeOnnxGraph, libraryVersion, type OnnxExportConfig } from '../src/io/onnx-write.js';
import { listFixtures } from './helpers/fixtures.js';
import { torchConfig, seqFixtures, type Fx } from './helpers/onnx-graph.js';

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));

function expectSameDict(a: Record<string, { shape: number[]; data: ArrayLike<number> }>, b: Record<string, { shape: number[]; data: ArrayLike<number> }>) {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const k of Object.keys(b)) {
    expect(a[k].shape, k).toEqual(b[k].shape);
    expect(Array.from(a[k].data), k).toEqual(Array.from(b[k].data, Math.fround));
  }
}

/** readOnnx's spelling of an export config (nonlinearity only for rnn, flags only when set). */
const asRead = (c: OnnxExportConfig) => ({
  cell: c.cell, ...(c.cell === 'rnn' ? { nonlinearity: c.nonlinearity ?? 'tanh' } : {}), inputSize: c.inputSize, hiddenSize: c.hiddenSize,
  numLayers: c.numLayers, outputSize: c.outputSize, bias: c.bias, ...(c.bidirectional ? { bidirectional: true } : {}), ...(c.batchFirst ? { batchFirst: true } : {}),
});

/** the metadata_props entries of a file (a small scan: key/value strings follow their tags) */
function metadata(bytes: Uint8Array): Record<string, string> {
  const text = Buffer.from(bytes).toString('latin1');
  const out: Record<string, string> = {};
  for (const key of ['bptt_wasm.config', 'bptt_wasm.version']) {
    const i = text.indexOf(key);
    if (i < 0) continue;
    const at = i + key.length + 1; // field 2 tag, then a varint length
    let len = 0; let p = at; let mul = 1;
    for (;;) { const b = bytes[p++]; len += (b & 0x7f) * mul; mul *= 128; if (!(b & 0x80)) break; }
    out[key] = Buffer.from(bytes.subarray(p, p + len)).toString('utf8');
  }
  return out;
}

describe('writeOnnx(model) round-trips through readOnnx exactly', () => {
  it.each(listFixtures().map((f) => [f.name, f.json]))('%s (on the js and wasm backends)', async (_name, fx: Fx) => {
    for (const backend of ['js', 'wasm'] as const) {
      const m = await createModel({ ...torchConfig(fx.config), backend });
      live.push(m);
      m.loadStateDict(fx.params);
      const bytes = writeOnnx(m);
      const back = readOnnx(bytes);
      expect(back.config).toEqual(asRead(torchConfig(fx.config)));
      expectSameDict(back.stateDict, m.stateDict());
      for (const opts of [{ initialState: true }, { sequenceLens: true }, { opset: 11 }, { opset: 21 }, { dynamicAxes: false, seqLen: 3, batchSize: 2 }]) {
        expectSameDict(readOnnx(writeOnnx(m, opts)).stateDict, m.stateDict());
      }
    }
  });

  it('records the config and the library version in metadata_props', async () => {
    const fx = listFixtures().find((f) => f.name === 'lstm_2layer_h0_ce_sum')!.json;
    const m = await createModel({ ...torchConfig(fx.config), backend: 'js' });
    live.push(m);
    const meta = metadata(writeOnnx(m));
    expect(JSON.parse(meta['bptt_wasm.config'])).toMatchObject({ cell: 'lstm', inputSize: 5, hiddenSize: 4, numLayers: 2, outputSize: 6, bias: true });
    expect(meta['bptt_wasm.version']).toBe(libraryVersion());
    expect(libraryVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('writeOnnxGraph: configs the engine need not support', () => {
  it.each(seqFixtures().filter((f) => f.json.config.bidirectional).map((f) => [f.name, f.json]))('%s (bidirectional) round-trips exactly', (_name, fx: Fx) => {
    const config = torchConfig(fx.config);
    for (const opts of [{}, { initialState: true, sequenceLens: true }, { opset: 12 }]) {
      const back = readOnnx(writeOnnxGraph({ config, stateDict: fx.params }, opts));
      expect(back.config).toEqual(asRead(config));
      expectSameDict(back.stateDict, fx.params);
    }
  });

  it.each(listFixtures().filter((f) => f.json.config.num_layers <= 2).slice(0, 6).map((f) => [f.name, f.json]))('%s as batch-first round-trips exactly', (_name, fx: Fx) => {
    const config = { ...torchConfig(fx.config), batchFirst: true };
    const back = readOnnx(writeOnnxGraph({ config, stateDict: fx.params }, { initialState: true }));
    expect(back.config).toEqual(asRead(config));
    expectSameDict(back.stateDict, fx.params);
  });

  it('a model without a head exports its top layer sequence as y', () => {
    const fx = listFixtures().find((f) => f.name === 'gru_mse_sum')!.json;
    const config = { ...torchConfig(fx.config), outputSize: null };
    const sd = Object.fromEntries(Object.entries(fx.params as Record<string, unknown>).filter(([k]) => !k.startsWith('out.'))) as Fx;
    const back = readOnnx(writeOnnxGraph({ config, stateDict: sd }));
    expect(back.config.outputSize).toBe(null);
    expectSameDict(back.stateDict, sd);
  });
});

describe('writeOnnx errors', () => {
  const fx = listFixtures().find((f) => f.name === 'rnn_tanh_mse_sum')!.json;
  const config = torchConfig(fx.config);
  const sd = fx.params as Record<string, { shape: number[]; data: number[] }>;
  const cases: [string, () => unknown, RegExp][] = [
    ['a missing tensor', () => writeOnnxGraph({ config, stateDict: { ...sd, 'rnn.bias_hh_l0': undefined as never } }), /stateDict\['rnn.bias_hh_l0'\] must be a tensor/],
    ['an absent tensor', () => { const s = { ...sd }; delete (s as Record<string, unknown>)['out.bias']; return writeOnnxGraph({ config, stateDict: s }); },
      /writeOnnx: stateDict is missing 'out.bias' \(shape \[3\]\)/],
    ['a wrong shape', () => writeOnnxGraph({ config, stateDict: { ...sd, 'rnn.weight_hh_l0': { shape: [6, 5], data: new Array(30).fill(0) } } }),
      /stateDict\['rnn.weight_hh_l0'\] has shape \[6, 5\], expected \[6, 6\]/],
    ['a non-finite value', () => writeOnnxGraph({ config, stateDict: { ...sd, 'out.bias': { shape: [3], data: [0, NaN, 0] } } }),
      /stateDict\['out.bias'\].data\[1\] is NaN/],
    ['an extra tensor', () => writeOnnxGraph({ config, stateDict: { ...sd, 'rnn.weight_ih_l1': sd['rnn.weight_ih_l0'] } }),
      /writeOnnx: stateDict has 'rnn.weight_ih_l1', which this config \(RNN, 1 layer\(s\)\) does not use/],
    ['a bidirectional config without _reverse weights', () => writeOnnxGraph({ config: { ...config, bidirectional: true }, stateDict: sd }),
      /stateDict is missing 'rnn.weight_ih_l0_reverse'/],
    ['a bad cell', () => writeOnnxGraph({ config: { ...config, cell: 'tcn' as never }, stateDict: sd }), /config.cell must be one of 'rnn', 'lstm', 'gru', got "tcn"/],
    ['an unknown config key', () => writeOnnxGraph({ config: { ...config, dropuot: 0.1 } as never, stateDict: sd }), /config has an unknown key 'dropuot'/],
    ['an opset out of range', () => writeOnnxGraph({ config, stateDict: sd }, { opset: 7 }), /options.opset must be between 11 and 21, got 7/],
    ['an unknown option', () => writeOnnxGraph({ config, stateDict: sd }, { dynamic_axes: true } as never), /options has an unknown key 'dynamic_axes'/],
    ['fixed axes without sizes', () => writeOnnxGraph({ config, stateDict: sd }, { dynamicAxes: false }), /dynamicAxes false needs options.seqLen and options.batchSize/],
    ['not a model', () => writeOnnx({} as never), /writeOnnx: expected a Model \(from createModel\)/],
  ];
  it.each(cases)('refuses %s', (_what, call, msg) => {
    expect(call).toThrow(msg);
    expect(call).toThrow(/^bptt-wasm: /);
  });
});
