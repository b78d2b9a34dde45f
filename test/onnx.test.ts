// ONNX import: every .onnx file that torch.onnx.export (PyTorch 2.11, opset 17) wrote for
// the fixtures reads back as exactly the fixture's config and parameters, and the model
// built from it reproduces the fixture's output on every path. Synthetic graphs (from a
// small protobuf writer below) cover the other encodings a file may use, and the graphs and
// bytes that must be refused with an error naming the problem.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOnnx } from '../src/io/onnx.js';
import { fixturePath, listFixtures, LOCAL_DIR } from './helpers/fixtures.js';
import { expectClose } from './helpers/compare.js';
import { createModelOn, PATHS } from './helpers/variants.js';
import { encode, exportLike, fx, headless, node, type AttrVal, type Fx, type Graph, type T } from './helpers/onnx-graph.js';

const withOnnx = listFixtures().filter((f) => fixturePath(f.name, 'onnx'));
const onnxBytes = (name: string) => new Uint8Array(readFileSync(fixturePath(name, 'onnx')!));

/** The fixture's config in readOnnx's (createModel's) spelling. */
const expectedConfig = (c: Fx) => ({
  cell: c.cell, ...(c.cell === 'rnn' ? { nonlinearity: c.nonlinearity } : {}), inputSize: c.input_size,
  hiddenSize: c.hidden_size, numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias,
});

function expectParamsEqual(sd: Record<string, { shape: number[]; data: Float32Array }>, params: Record<string, T>) {
  expect(Object.keys(sd)).toEqual(Object.keys(params)); // PyTorch's state-dict order too
  for (const [k, t] of Object.entries(params)) {
    expect(sd[k].shape, k).toEqual(t.shape);
    expect(sd[k].data, k).toBeInstanceOf(Float32Array);
    expect(Array.from(sd[k].data), k).toEqual(t.data); // float32-representable: exact
  }
}

describe('the .onnx files torch.onnx.export wrote for the fixtures', () => {
  it('exist for every fixture shipped in test/fixtures', () => {
    // shared cases: exported with PyTorch 2.11; our 'extra_*' cases: scripts/make_extra_onnx.py
    // (PyTorch 1.13). A new upstream case is exercised below if it comes with an .onnx.
    const shipped = listFixtures().filter((f) => existsSync(join(LOCAL_DIR, `${f.name}.json`)));
    expect(shipped.filter((f) => !fixturePath(f.name, 'onnx')).map((f) => f.name)).toEqual([]);
    expect(withOnnx.length).toBeGreaterThanOrEqual(shipped.length);
  });

  it.each(withOnnx.map((f) => [f.name, f.json]))('%s: config and every parameter exactly', (name, fx: Fx) => {
    const { config, stateDict } = readOnnx(onnxBytes(name as string));
    expect(config).toEqual(expectedConfig(fx.config));
    expectParamsEqual(stateDict, fx.params);
  });
});

describe.each(PATHS)('a model built from the .onnx file on %s', (path) => {
  it.each(withOnnx.map((f) => [f.name, f.json]))('%s reproduces the fixture output', async (name, fx: Fx) => {
    const { config, stateDict } = readOnnx(onnxBytes(name as string));
    const m = await createModelOn(path, config);
    m.loadStateDict(stateDict);
    const r = m.forward(fx.x, { ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.c0 ? { c0: fx.c0 } : {}) });
    expectClose('output', r.output, fx.output, 1e-5);
    expectClose('h_n', r.hN, fx.h_n, 1e-5);
  });
});


describe('other encodings of the same model', () => {
  const cases = ['lstm_2layer_h0_ce_sum', 'gru_2layer_ce_last', 'rnn_tanh_2layer_h0_mse_mean', 'rnn_tanh_nobias_T1_B1'];

  it.each(cases)('%s: weights as raw_data, float_data, DOUBLE, Constant nodes and Identity of initializers', (name) => {
    for (const weights of ['raw', 'float_data', 'double', 'constant', 'identity'] as const) {
      const { config, stateDict } = readOnnx(encode(exportLike(fx(name), { weights })));
      expect(config, weights).toEqual(expectedConfig(fx(name).config));
      expectParamsEqual(stateDict, fx(name).params);
    }
  });

  it.each(cases)('%s: opset 11 (Squeeze axes as an attribute), a Gemm head on [T*B, H], and no head', (name) => {
    const f = fx(name);
    expectParamsEqual(readOnnx(encode(exportLike(f, { opset: 11 }))).stateDict, f.params);
    expectParamsEqual(readOnnx(encode(exportLike(f, { head: 'gemm' }))).stateDict, f.params);
    const bare = readOnnx(encode(exportLike(f, { head: 'none' })));
    expect(bare.config).toEqual({ ...expectedConfig(f.config), outputSize: null });
    expectParamsEqual(bare.stateDict, headless(f.params));
  });

  it('reads DOUBLE weights as float32 (rounded) and FLOAT16 ones exactly', () => {
    const g = exportLike(fx('rnn_tanh_mse_sum'), { weights: 'double' });
    g.inits.find((t) => t.name === 'W0')!.data = Array.from(g.inits.find((t) => t.name === 'W0')!.data, (v, i) => (i === 0 ? 0.1 : v));
    expect(readOnnx(encode(g)).stateDict['rnn.weight_ih_l0'].data[0]).toBe(Math.fround(0.1));
    const h = exportLike(fx('rnn_tanh_mse_sum'));
    const R = h.inits.find((t) => t.name === 'R0')!;
    Object.assign(R, { type: 'float16', data: Array.from(R.data, (_, i) => [0x3c00, 0xc000, 0x3555, 0x8000][i % 4]) });
    expect(Array.from(readOnnx(encode(h)).stateDict['rnn.weight_hh_l0'].data.slice(0, 4))).toEqual([1, -2, 0.333251953125, -0]);
  });

  it('follows Transpose/Reshape/Unsqueeze that only move size-1 axes, and Constant value_ints / value_floats', () => {
    const f = fx('gru_2layer_ce_last');
    const g = exportLike(f);
    // between the layers, as the exporter writes it for two directions: [T,1,B,H] -> [T,B,1,H] -> [T,B,H]
    const sq = node(g, 'Squeeze');
    g.nodes.splice(g.nodes.indexOf(sq), 1,
      { op: 'Transpose', name: '/tr', inputs: ['Y0'], outputs: ['Y0t'], attrs: { perm: [0, 2, 1, 3] } },
      { op: 'Constant', name: '/shape', inputs: [], outputs: ['shape'], attrs: { value_ints: [0, 0, -1] } },
      { op: 'Reshape', name: '/rs', inputs: ['Y0t', 'shape'], outputs: ['X1'], attrs: {} });
    // on top: an Unsqueeze then a Squeeze of the new axis before the head; the bias as value_floats
    const top = node(g, 'Squeeze', 0);
    top.outputs = ['X2a'];
    g.nodes.push({ op: 'Constant', name: '/last', inputs: [], outputs: ['last'], attrs: { value_ints: [-1] } },
      { op: 'Unsqueeze', name: '/un', inputs: ['X2a', 'last'], outputs: ['X2b'], attrs: {} },
      { op: 'Constant', name: '/three', inputs: [], outputs: ['three'], attrs: { value_int: 3 } },
      { op: 'Squeeze', name: '/sq2', inputs: ['X2b', 'three'], outputs: ['X2'], attrs: {} });
    g.inits = g.inits.filter((t) => t.name !== 'out.bias');
    g.nodes.push({ op: 'Constant', name: '/b', inputs: [], outputs: ['out.bias'], attrs: { value_floats: { floats: f.params['out.bias'].data } } });
    const { config, stateDict } = readOnnx(encode(g));
    expect(config).toEqual(expectedConfig(f.config));
    expectParamsEqual(stateDict, f.params);
  });

  it('accepts a Linear without bias (zero out.bias), all-zero peepholes and a stored all-zero initial state', () => {
    const f = fx('lstm_mse_sum');
    const g = exportLike(f);
    const add = node(g, 'Add');
    g.nodes = g.nodes.filter((n) => n !== add);
    node(g, 'MatMul').outputs = ['y'];
    const lstm = node(g, 'LSTM');
    g.inits.push({ name: 'P', dims: [1, 18], data: new Array(18).fill(0) }, { name: 'h0z', dims: [1, 2, 6], data: new Array(12).fill(0) });
    lstm.inputs = [...lstm.inputs, '', 'h0z', '', 'P'];
    const { stateDict } = readOnnx(encode(g));
    expectParamsEqual(stateDict, { ...f.params, 'out.bias': { shape: [3], data: [0, 0, 0] } });
  });
});

describe('errors', () => {
  it('a truncated file: every prefix of a real export fails with a clear message', () => {
    const bytes = onnxBytes('rnn_tanh_nobias_T1_B1');
    const messages = new Set<string>();
    for (let n = 0; n < bytes.length; n++) {
      let msg = '';
      try {
        readOnnx(bytes.subarray(0, n));
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg, `${n} of ${bytes.length} bytes`).toMatch(/^bptt-wasm: onnx: /);
      messages.add(msg.replace(/\d+/g, 'N'));
    }
    // cut inside a field, before the graph, and between the graph and the opset list
    const kinds = [/past the end of its message.*\(truncated, corrupt, or not an ONNX file\)$/, /^bptt-wasm: onnx: no graph in the file/,
      /^bptt-wasm: onnx: no opset_import after the graph \(truncated file\?\)$/, /^bptt-wasm: onnx: the file is empty$/];
    for (const k of kinds) expect([...messages].some((m) => k.test(m)), String(k)).toBe(true);
  });

  it('corrupt tensor data', () => {
    const bad = exportLike(fx('rnn_tanh_mse_sum'));
    const R = bad.inits.find((t) => t.name === 'R0')!;
    R.data = Array.from(R.data).slice(1);
    expect(() => readOnnx(encode(bad))).toThrow(/tensor 'R0': dims \[1,6,6\] of FLOAT need 144 bytes of raw_data, found 140 \(corrupt file\?\)/);
    const short = exportLike(fx('rnn_tanh_mse_sum'), { weights: 'float_data' });
    const B = short.inits.find((t) => t.name === 'B0')!;
    B.data = Array.from(B.data).slice(1);
    expect(() => readOnnx(encode(short))).toThrow(/tensor 'B0': dims \[1,12\] need 12 values, float_data has 11/);
  });

  it('files that are not ONNX', () => {
    const notOnnx = /^bptt-wasm: onnx: (cannot decode the file as an ONNX ModelProto: .*\(truncated, corrupt, or not an ONNX file\)|no graph in the file)/;
    const name = withOnnx.find((f) => fixturePath(f.name, 'safetensors'))!.name;
    expect(() => readOnnx(new Uint8Array(readFileSync(fixturePath(name, 'json')!)))).toThrow(notOnnx);
    expect(() => readOnnx(new Uint8Array(readFileSync(fixturePath(name, 'safetensors')!)))).toThrow(notOnnx);
    expect(() => readOnnx(new TextEncoder().encode('PK\x03\x04 a zip, e.g. a torch.save file'))).toThrow(notOnnx);
    expect(() => readOnnx(new Uint8Array([0x08, 0x80, 0x80]))).toThrow(/varint runs past the end/);
    expect(() => readOnnx('model.onnx' as unknown as Uint8Array)).toThrow(/expected the file contents as a Uint8Array/);
  });

  it('a graph without recurrent nodes, or with an unsupported op on the output path', () => {
    const conv: Graph = {
      nodes: [{ op: 'Conv', name: 'c', inputs: ['x', 'w'], outputs: ['y'], attrs: {} }, { op: 'Relu', name: 'r', inputs: ['y'], outputs: ['z'], attrs: {} }],
      inits: [{ name: 'w', dims: [1, 1, 1], data: [1] }], inputs: [{ name: 'x', dims: [1, 1, 3] }], outputs: ['z'], opset: 17,
    };
    expect(() => readOnnx(encode(conv))).toThrow(/no RNN, LSTM or GRU node in the graph \(its ops: Conv, Relu\)/);
    const g = exportLike(fx('gru_mse_sum'));
    node(g, 'Add').outputs = ['logits'];
    g.nodes.push({ op: 'Softmax', name: '/softmax', inputs: ['logits'], outputs: ['y'], attrs: {} });
    expect(() => readOnnx(encode(g))).toThrow(/output goes into a Softmax node '\/softmax'; expected a graph output \(unsupported op Softmax\)/);
  });

  type Mutate = (g: Graph) => void;
  const attr = (op: string, a: Record<string, AttrVal>): Mutate => (g) => Object.assign(node(g, op).attrs, a);
  const refused: [string, string, Mutate, RegExp][] = [
    ['bidirectional with one direction of weights', 'lstm_mse_sum', attr('LSTM', { direction: 'bidirectional' }),
      /layer 0 \(LSTM node '\/rnn\/LSTM_0'\): num_directions 1 in W \[1,24,4\] and 1 in R \[1,24,6\], expected 2 for direction 'bidirectional'/],
    ['reverse', 'gru_mse_sum', attr('GRU', { direction: 'reverse' }), /direction 'reverse' is not supported \(only 'forward' or 'bidirectional'/],
    ['two directions of weights', 'rnn_tanh_mse_sum', (g) => { const W = g.inits.find((t) => t.name === 'W0')!; W.dims = [2, 6, 2]; }, /num_directions 2 in W \[2,6,2\]/],
    ['clip', 'lstm_mse_sum', attr('LSTM', { clip: { float: 0.5 } }), /clip=0.5 \(cell clipping\) is not supported/],
    ['Sigmoid RNN', 'rnn_tanh_mse_sum', attr('RNN', { activations: ['Sigmoid'] }), /activations \[Sigmoid\] are not supported \(Tanh or Relu/],
    ['LSTM activations', 'lstm_mse_sum', attr('LSTM', { activations: ['Sigmoid', 'Relu', 'Tanh'] }), /activations \[Sigmoid, Relu, Tanh\] are not supported \(only the default/],
    ['activation_alpha', 'rnn_tanh_mse_sum', attr('RNN', { activation_alpha: { floats: [1] } }), /activation_alpha\/activation_beta/],
    ['linear_before_reset=0', 'gru_mse_sum', attr('GRU', { linear_before_reset: 0 }), /linear_before_reset=0 .* PyTorch's GRU is linear_before_reset=1/],
    ['input_forget', 'lstm_mse_sum', attr('LSTM', { input_forget: 1 }), /input_forget=1/],
    ['layout=1', 'rnn_tanh_mse_sum', attr('RNN', { layout: 1 }), /layout=1 \(batch-first/],
    ['an unknown attribute', 'rnn_tanh_mse_sum', attr('RNN', { zoneout: 1 }), /unknown attribute 'zoneout'/],
    ['peepholes', 'lstm_mse_sum', (g) => {
      g.inits.push({ name: 'P', dims: [1, 18], data: new Array(18).fill(0.5) });
      node(g, 'LSTM').inputs.push('', '', '', 'P');
    }, /peephole weights P 'P' are not supported/],
    ['stored sequence_lens', 'gru_mse_sum', (g) => {
      node(g, 'GRU').inputs.push('lens');
      g.inits.push({ name: 'lens', dims: [2], data: [1, 2], type: 'int64' });
    }, /sequence_lens 'lens' is a stored tensor; only a graph input \(lengths fed at run time\) is supported/],
    ['a learned initial state', 'rnn_tanh_mse_sum', (g) => {
      g.inits.push({ name: 'h0', dims: [1, 1, 6], data: [1, 0, 0, 0, 0, 0] });
      node(g, 'RNN').inputs.push('', 'h0');
    }, /initial_h is a stored non-zero tensor 'h0' \(a learned initial state\)/],
    ['computed weights', 'rnn_tanh_mse_sum', (g) => { node(g, 'RNN').inputs[2] = 'x'; }, /R 'x' is computed in the graph, not a stored tensor/],
    ['a batch-first input', 'rnn_tanh_mse_sum', (g) => {
      g.nodes.unshift({ op: 'Transpose', name: '/Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: [1, 0, 2] } });
      node(g, 'RNN').inputs[0] = 'xt';
    }, /the output 'y' has axes \[T, B, F\]; expected \[B, T, features\] \(the input is batch-first\)/],
    ['an input whose axes cannot be followed', 'rnn_tanh_mse_sum', (g) => {
      g.nodes.unshift({ op: 'Transpose', name: '/Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: [2, 0, 1] } });
      node(g, 'RNN').inputs[0] = 'xt';
    }, /input X arrives with axes \[F, T, B\] \(or, if the graph input is batch-first \[B, T, F\], \[F, B, T\]\); expected time-major \[T, B, F\]/],
    ['a cycle', 'gru_2layer_ce_last', (g) => { node(g, 'GRU', 1).inputs[0] = 'y'; },
      /the graph has a cycle: \d+ node\(s\) depend on their own outputs, e.g. .*GRU node '\/rnn\/GRU_1'/],
    ['two producers of one value', 'rnn_tanh_mse_sum', (g) => { g.nodes.push({ op: 'Identity', name: 'dup', inputs: ['x'], outputs: ['X1'], attrs: {} }); },
      /value 'X1' is the output of both Squeeze node 'sq_X1' and Identity node 'dup'; each value must have one producer/],
    ['dims larger than a file can hold', 'rnn_tanh_mse_sum', (g) => { g.inits.find((t) => t.name === 'R0')!.dims = [2 ** 20, 2 ** 20, 6]; },
      /tensor 'R0': dims \[1048576,1048576,6\] have more than 2147483648 elements/],
    ['a stored initial state claiming gigabytes', 'rnn_tanh_mse_sum', (g) => {
      g.inits.push({ name: 'h0', dims: [1, 2 ** 26, 6], data: [0] });
      node(g, 'RNN').inputs.push('', 'h0');
    }, /tensor 'h0': dims \[1,67108864,6\] of FLOAT need 1610612736 bytes of raw_data, found 4/],
    ['dropout between layers', 'lstm_2layer_h0_ce_sum', (g) => {
      g.nodes.push({ op: 'Dropout', name: '/drop', inputs: ['X1'], outputs: ['X1d'], attrs: {} });
      node(g, 'LSTM', 1).inputs[0] = 'X1d';
    }, /layer 1 \(LSTM node '\/rnn\/LSTM_1'\): input X comes from a Dropout node '\/drop'/],
    ['layers side by side, not stacked', 'gru_2layer_ce_last', (g) => { node(g, 'GRU', 1).inputs[0] = 'x'; }, /layer 1 .* input X 'x' does not come from layer 0's output Y/],
    ['a Reshape that mixes batch and features', 'rnn_tanh_mse_sum', (g) => {
      g.inits.push({ name: 'shp', dims: [3], data: [0, 0, -1], type: 'int64' });
      const sq = node(g, 'Squeeze');
      g.nodes.splice(g.nodes.indexOf(sq), 1, { op: 'Reshape', name: '/Reshape', inputs: ['Y0', 'shp'], outputs: ['X1'], attrs: {} });
    }, /Reshape node '\/Reshape': shape \[0,0,-1\] merges the axes B, F of \[T, 1, B, F\]/],
    ['mixed cells', 'rnn_tanh_2layer_h0_mse_mean', (g) => {
      Object.assign(node(g, 'RNN', 1), { op: 'GRU', attrs: { hidden_size: 5, linear_before_reset: 1 } });
    }, /layer 1 is GRU node '\/rnn\/RNN_1' but layer 0 is RNN node '\/rnn\/RNN_0'; all layers must be one cell kind/],
    ['a head on the wrong side', 'lstm_mse_sum', (g) => { node(g, 'MatMul').inputs.reverse(); }, /MatMul node '\/out\/MatMul' has the top layer's output as its second operand/],
    ['weights in an external file', 'rnn_tanh_mse_sum', (g) => { g.inits.find((t) => t.name === 'W0')!.external = true; },
      /tensor 'W0' keeps its data in an external file; save the model with all tensors inside/],
  ];

  it.each(refused)('refuses %s', (_what, name, mutate, msg) => {
    const g = exportLike(fx(name));
    mutate(g);
    expect(() => readOnnx(encode(g))).toThrow(msg);
  });
});

// ---------------------------------------------------------------------------------------
// Bidirectional layers (PyTorch 1.13's exports beside ../shared/fixtures/torch-seq/, copied
// into test/fixtures/torch-seq/) and batch-first graphs.

const SEQ_DIRS = [join(LOCAL_DIR, '../../../shared/fixtures/torch-seq'), join(LOCAL_DIR, 'torch-seq')];
const seqOnnx = [...new Set(SEQ_DIRS.filter(existsSync).flatMap((d) => readdirSync(d)).filter((f) => f.endsWith('.onnx')))].sort();
/** A torch-seq case's JSON (shared copy first) and .onnx (the copy here first: it ships with the package tests). */
function seqCase(file: string): { json: Fx; onnx: Uint8Array } {
  const name = file.replace(/\.onnx$/, '');
  const json = SEQ_DIRS.map((d) => join(d, `${name}.json`)).find(existsSync);
  const onnx = [...SEQ_DIRS].reverse().map((d) => join(d, file)).find(existsSync)!;
  return { json: json ? JSON.parse(readFileSync(json, 'utf8')) : null, onnx: new Uint8Array(readFileSync(onnx)) };
}

describe('bidirectional graphs', () => {
  it('the four bidirectional .onnx files ship in test/fixtures/torch-seq', () => {
    expect(readdirSync(join(LOCAL_DIR, 'torch-seq')).filter((f) => f.endsWith('.onnx')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(seqOnnx)('%s: config (bidirectional: true) and every parameter, _reverse included, exactly', (file) => {
    const { json, onnx } = seqCase(file);
    const { config, stateDict } = readOnnx(onnx);
    if (!json) return expect(config.bidirectional).toBe(true); // the JSON arrives with the seq helper's copy
    expect(config).toEqual({ ...expectedConfig(json.config), bidirectional: true });
    expectParamsEqual(stateDict, json.params);
    const L = json.config.num_layers;
    expect(stateDict['rnn.weight_ih_l0_reverse'].shape[1]).toBe(json.config.input_size);
    if (L > 1) expect(stateDict['rnn.weight_ih_l1'].shape[1]).toBe(2 * json.config.hidden_size);
    expect(stateDict['out.weight'].shape[1]).toBe(2 * json.config.hidden_size);
  });
});

describe('batch-first graphs (batch_first=True: Transpose in, Transpose out)', () => {
  it.each(['lstm_2layer_h0_ce_sum', 'gru_mse_sum', 'rnn_tanh_mse_sum'])('%s: imports with batchFirst: true', (name) => {
    const f = fx(name);
    const g = exportLike(f);
    g.inputs[0].dims = ['B', 'T', f.config.input_size];
    g.nodes.unshift({ op: 'Transpose', name: '/in', inputs: ['xb'], outputs: ['x'], attrs: { perm: [1, 0, 2] } });
    g.inputs[0].name = 'xb';
    // the head's input turned batch-first: Squeeze -> Transpose -> MatMul
    const mm = node(g, 'MatMul');
    g.nodes.push({ op: 'Transpose', name: '/out/T', inputs: [mm.inputs[0]], outputs: ['seq_bf'], attrs: { perm: [1, 0, 2] } });
    mm.inputs[0] = 'seq_bf';
    const { config, stateDict } = readOnnx(encode(g));
    expect(config).toEqual({ ...expectedConfig(f.config), batchFirst: true });
    expectParamsEqual(stateDict, f.params);
  });

  it('a batch-first input with a time-major output is refused', () => {
    const g = exportLike(fx('gru_mse_sum'));
    g.nodes.unshift({ op: 'Transpose', name: '/in', inputs: ['xb'], outputs: ['x'], attrs: { perm: [1, 0, 2] } });
    g.inputs[0] = { name: 'xb', dims: ['B', 'T', 4] };
    expect(() => readOnnx(encode(g))).toThrow(/the output 'y' has axes \[T, B, F\]; expected \[B, T, features\] \(the input is batch-first\)/);
  });
});

describe('run-time inputs', () => {
  it('sequence_lens fed as a graph input (variable lengths) imports', () => {
    const f = fx('gru_mse_sum');
    const g = exportLike(f);
    node(g, 'GRU').inputs.push('lens');
    g.inputs.push({ name: 'lens', dims: ['B'] });
    expectParamsEqual(readOnnx(encode(g)).stateDict, f.params);
  });
});

describe.each(PATHS)('bidirectional graphs run on %s', (path) => {
  it.each(seqOnnx)('%s: readOnnx, then forward reproduces the fixture output and h_n', async (file) => {
    const { json, onnx } = seqCase(file);
    expect(json, `${file} has its .json beside it`).toBeTruthy();
    const { config, stateDict } = readOnnx(onnx);
    const m = await createModelOn(path, config);
    try {
      m.loadStateDict(stateDict);
      const f32 = (t: T | null | undefined) => (t ? { shape: t.shape, data: Float32Array.from(t.data) } : undefined);
      const r = m.forward(f32(json.x)!, { ...(json.h0 ? { h0: f32(json.h0) } : {}), ...(json.c0 ? { c0: f32(json.c0) } : {}) });
      expectClose('output', r.output, json.output, 2e-5); // the fixtures' forward tolerance (float32 arithmetic)
      expectClose('h_n', r.hN, json.h_n, 2e-5);
    } finally {
      m.dispose();
    }
  });
});
