// ONNX export: a model config and a PyTorch-named state dict -> one .onnx file (a ModelProto)
// that ONNX Runtime runs and `readOnnx` reads back exactly. Hand-written protobuf, like the
// reader (docs/CHOICES.md says why); the subset written is the one io/onnx.ts documents, plus
// ModelProto 3 producer_version, 14 metadata_props {1 key, 2 value} and ValueInfoProto's
// elem_type (TypeProto.Tensor 1).
//
// The graph mirrors what torch.onnx.export writes for nn.RNN/LSTM/GRU + nn.Linear, so the
// reader needs no second dialect:
//   x [T, B, I] (batch-first: [B, T, I] then Transpose), or with an embedding x int64 ids
//   [T, B] ([B, T]) and Gather(embed.weight, x) before that Transpose, as torch writes
//   nn.Embedding; optional `lengths` [B] INT32 as every
//   layer's sequence_lens, optional h0/c0 [L*D, B, H] (Slice'd per layer);
//   per layer one RNN/LSTM/GRU node, W [D, G*H, in], R [D, G*H, H], B [D, 2*G*H] = [W_b | R_b],
//   gate blocks in ONNX order (LSTM i,o,f,c; GRU z,r,h with linear_before_reset=1);
//   between layers Y [T, D, B, H] -> Squeeze(axis 1) (D=1) or Transpose(0,2,1,3) +
//   Reshape(0,0,-1) (D=2) -> [T, B, D*H];
//   the head MatMul(seq, out.weight^T) + Add(out.bias) -> y [T, B, O]; h_n/c_n = Concat of
//   every layer's Y_h/Y_c along axis 0, PyTorch's row order l*D + d.

import { VERSION } from '../version.js';
import { checkFinite, checkOneOf, checkPositiveInt, checkTensor, fail as libFail, type TensorLike } from '../errors.js';
import { GATES, type CellKind } from '../layout.js';
import type { OnnxModelConfig } from './onnx.js';

function fail(msg: string): never {
  return libFail(`writeOnnx: ${msg}`);
}

/**
 * What the export needs of a model: its architecture, the config readOnnx gives back (one
 * description of a model's ONNX shape for both directions), whose embedding may also carry
 * padding_idx (training only: it is not in the graph).
 */
export type OnnxExportConfig = Omit<OnnxModelConfig, 'embedding'> & {
  embedding?: { numEmbeddings: number; embeddingDim: number; paddingIdx?: number };
};

export interface WriteOnnxOptions {
  /** ONNX opset, 11 to 21 (default 17) */
  opset?: number;
  /** T and B symbolic ('T', 'B'; default true); false fixes them to `seqLen` and `batchSize` */
  dynamicAxes?: boolean;
  seqLen?: number;
  batchSize?: number;
  /** graph inputs h0 (and c0 for LSTM) [numLayers * D, B, H] (default false: zeros) */
  initialState?: boolean;
  /** graph input `lengths` [B] INT32, PyTorch's packed-sequence lengths (default false: all T) */
  sequenceLens?: boolean;
}

const OPTION_KEYS = ['opset', 'dynamicAxes', 'seqLen', 'batchSize', 'initialState', 'sequenceLens'];
const CONFIG_KEYS = ['cell', 'nonlinearity', 'inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'bias', 'bidirectional', 'batchFirst', 'embedding'];

// ---------------------------------------------------------------------------------------
// Protobuf writing: a growable byte buffer; nested messages are built first, then copied in
// with their length (the files are small next to the weights, which are copied once).

class Pb {
  private buf = new Uint8Array(256);
  private n = 0;

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  /** a non-negative varint, or a negative int64 as 10 bytes of two's complement */
  varint(v: number): this {
    if (v < 0) {
      let x = BigInt.asUintN(64, BigInt(v));
      this.room(10);
      for (let i = 0; i < 10; i++) { this.buf[this.n++] = Number(x & 0x7fn) | (i < 9 ? 0x80 : 0); x >>= 7n; }
      return this;
    }
    this.room(10);
    while (v >= 0x80) { this.buf[this.n++] = (v % 128) | 0x80; v = Math.floor(v / 128); }
    this.buf[this.n++] = v;
    return this;
  }
  int(no: number, v: number): this { return this.varint(no * 8).varint(v); }
  bytes(no: number, b: Uint8Array): this {
    this.varint(no * 8 + 2).varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  str(no: number, s: string): this { return this.bytes(no, utf8.encode(s)); }
  msg(no: number, m: Pb): this { return this.bytes(no, m.done()); }
  f32(no: number, v: number): this {
    this.varint(no * 8 + 5);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.n, v, true);
    this.n += 4;
    return this;
  }
  done(): Uint8Array { return this.buf.subarray(0, this.n); }
}
const utf8 = new TextEncoder();

const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

function tensorPb(name: string, dims: number[], type: number, data: ArrayLike<number>): Pb {
  const t = new Pb();
  for (const d of dims) t.int(1, d);
  t.int(2, type).str(8, name);
  let raw: Uint8Array;
  if (type === FLOAT) raw = new Uint8Array(Float32Array.from(data).buffer); // little-endian on every platform Node runs on
  else if (type === INT64) raw = new Uint8Array(BigInt64Array.from(Array.from(data, (v) => BigInt(v))).buffer);
  else raw = new Uint8Array(Int32Array.from(data).buffer);
  return t.bytes(9, raw);
}

type Attr = number | string | number[] | string[];
function attrPb(name: string, v: Attr): Pb {
  const a = new Pb().str(1, name);
  if (typeof v === 'number') return a.int(20, 2).int(3, v);
  if (typeof v === 'string') return a.int(20, 3).str(4, v);
  if (v.length && typeof v[0] === 'string') {
    a.int(20, 8);
    for (const s of v as string[]) a.str(9, s);
    return a;
  }
  a.int(20, 7);
  for (const i of v as number[]) a.int(8, i);
  return a;
}

function valueInfo(name: string, type: number, dims: (number | string)[]): Pb {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tensorType = new Pb().int(1, type).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensorType));
}

/** ONNX IR version that goes with an opset (onnx/docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  return 6;
}

/** The package's version (src/version.ts). */
export function libraryVersion(): string {
  return VERSION;
}

// ---------------------------------------------------------------------------------------
// The graph

/** For each ONNX gate block (LSTM i,o,f,c; GRU z,r,h), its PyTorch block (LSTM i,f,g,o; GRU r,z,n). */
const TORCH_BLOCK: Record<CellKind, number[]> = { rnn: [0], lstm: [0, 3, 1, 2], gru: [1, 0, 2] };
const OP: Record<CellKind, string> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };

/** Copy [G*H, cols] in PyTorch gate order into dst at off, in ONNX gate order. */
function putGates(dst: Float32Array, off: number, src: ArrayLike<number>, cell: CellKind, H: number, cols: number): void {
  const blk = H * cols;
  TORCH_BLOCK[cell].forEach((tb, ob) => {
    for (let i = 0; i < blk; i++) dst[off + ob * blk + i] = src[tb * blk + i];
  });
}

type CheckedConfig = Required<Omit<OnnxExportConfig, 'outputSize' | 'embedding'>> & {
  outputSize: number | null; embedding: { numEmbeddings: number; embeddingDim: number; paddingIdx?: number } | null;
};

function checkConfig(c: unknown): CheckedConfig {
  if (c === null || typeof c !== 'object') fail(`config must be an object, got ${c === null ? 'null' : typeof c}`);
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!CONFIG_KEYS.includes(k)) fail(`config has an unknown key '${k}' (known: ${CONFIG_KEYS.join(', ')})`);
  const cell = checkOneOf('config.cell', o.cell, ['rnn', 'lstm', 'gru'] as const);
  const nonlinearity = o.nonlinearity === undefined ? 'tanh' : checkOneOf('config.nonlinearity', o.nonlinearity, ['tanh', 'relu'] as const);
  for (const k of ['bias', 'bidirectional', 'batchFirst']) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') fail(`config.${k} must be a boolean, got ${JSON.stringify(o[k])}`);
  }
  if (typeof o.bias !== 'boolean') fail(`config.bias must be a boolean, got ${JSON.stringify(o.bias)}`);
  let embedding: CheckedConfig['embedding'] = null;
  if (o.embedding != null) {
    const e = o.embedding as Record<string, unknown>;
    if (typeof e !== 'object') fail(`config.embedding must be { numEmbeddings, embeddingDim }, got ${JSON.stringify(e)}`);
    embedding = {
      numEmbeddings: checkPositiveInt('config.embedding.numEmbeddings', e.numEmbeddings),
      embeddingDim: checkPositiveInt('config.embedding.embeddingDim', e.embeddingDim),
      ...(e.paddingIdx !== undefined ? { paddingIdx: e.paddingIdx as number } : {}),
    };
    if (o.inputSize !== embedding.embeddingDim) {
      fail(`config.inputSize ${JSON.stringify(o.inputSize)} does not match config.embedding.embeddingDim ${embedding.embeddingDim}`);
    }
  }
  return {
    cell, nonlinearity: cell === 'rnn' ? nonlinearity : 'tanh',
    inputSize: checkPositiveInt('config.inputSize', o.inputSize),
    hiddenSize: checkPositiveInt('config.hiddenSize', o.hiddenSize),
    numLayers: checkPositiveInt('config.numLayers', o.numLayers),
    outputSize: o.outputSize === null ? null : checkPositiveInt('config.outputSize', o.outputSize),
    bias: o.bias,
    bidirectional: o.bidirectional === true,
    batchFirst: o.batchFirst === true,
    embedding,
  };
}

function checkOptions(opts: unknown): Required<Omit<WriteOnnxOptions, 'seqLen' | 'batchSize'>> & { seqLen?: number; batchSize?: number } {
  if (opts === null || typeof opts !== 'object') fail(`options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!OPTION_KEYS.includes(k)) fail(`options has an unknown key '${k}' (known: ${OPTION_KEYS.join(', ')})`);
  const opset = o.opset === undefined ? 17 : checkPositiveInt('options.opset', o.opset);
  if (opset < 11 || opset > 21) fail(`options.opset must be between 11 and 21, got ${opset}`);
  for (const k of ['dynamicAxes', 'initialState', 'sequenceLens']) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') fail(`options.${k} must be a boolean, got ${JSON.stringify(o[k])}`);
  }
  const dynamicAxes = o.dynamicAxes !== false;
  if (!dynamicAxes && (o.seqLen === undefined || o.batchSize === undefined)) {
    fail('options.dynamicAxes false needs options.seqLen and options.batchSize (the fixed T and B)');
  }
  if (dynamicAxes && (o.seqLen !== undefined || o.batchSize !== undefined)) fail('options.seqLen/batchSize fix T and B; they need dynamicAxes: false');
  return {
    opset, dynamicAxes, initialState: o.initialState === true, sequenceLens: o.sequenceLens === true,
    ...(dynamicAxes ? {} : { seqLen: checkPositiveInt('options.seqLen', o.seqLen), batchSize: checkPositiveInt('options.batchSize', o.batchSize) }),
  };
}

/**
 * Write an ONNX model (opset 11-21) of a stacked RNN/LSTM/GRU (bidirectional or not) with an
 * optional Linear head, from its config and its PyTorch-named state dict. Every tensor the
 * config implies must be present with its shape and finite; nothing else may be.
 */
export function writeOnnxGraph(spec: { config: OnnxExportConfig; stateDict: Record<string, TensorLike> }, options: WriteOnnxOptions = {}): Uint8Array {
  if (spec === null || typeof spec !== 'object') fail(`expected { config, stateDict }, got ${spec === null ? 'null' : typeof spec}`);
  const c = checkConfig(spec.config);
  const opts = checkOptions(options);
  const sd = spec.stateDict;
  if (sd === null || typeof sd !== 'object') fail(`stateDict must be an object of tensors, got ${sd === null ? 'null' : typeof sd}`);
  const { cell, hiddenSize: H, numLayers: L, inputSize: I, outputSize: O } = c;
  const D = c.bidirectional ? 2 : 1;
  const G = GATES[cell];
  const GH = G * H;

  const expected = new Set<string>();
  const get = (name: string, shape: number[]): ArrayLike<number> => {
    expected.add(name);
    if (!(name in sd)) fail(`stateDict is missing '${name}' (shape [${shape.join(', ')}])`);
    const data = checkTensor(`stateDict['${name}']`, sd[name], shape);
    checkFinite(`stateDict['${name}']`, data);
    return data;
  };

  const T: number | string = opts.dynamicAxes ? 'T' : opts.seqLen!;
  const Bd: number | string = opts.dynamicAxes ? 'B' : opts.batchSize!;
  const g = new Pb();
  const inits: Pb[] = [];
  let nodeNo = 0;
  const nodeOf = (op: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}) => {
    const n = new Pb();
    for (const i of inputs) n.str(1, i);
    for (const o of outputs) n.str(2, o);
    n.str(3, `/${op}_${nodeNo++}`).str(4, op);
    for (const [k, v] of Object.entries(attrs)) n.msg(5, attrPb(k, v));
    g.msg(1, n);
  };
  const init = (name: string, dims: number[], type: number, data: ArrayLike<number>) => { inits.push(tensorPb(name, dims, type, data)); return name; };
  const ints = (name: string, v: number[]) => init(name, [v.length], INT64, v);

  let X = 'x';
  if (c.embedding) {
    // nn.Embedding: rows of embed.weight by id, [T, B] ids -> [T, B, E] (batch-first likewise)
    const { numEmbeddings: N, embeddingDim: E } = c.embedding;
    nodeOf('Gather', [init('embed.weight', [N, E], FLOAT, get('embed.weight', [N, E])), 'x'], ['x_embed'], { axis: 0 });
    X = 'x_embed';
  }
  if (c.batchFirst) { nodeOf('Transpose', [X], ['x_tm'], { perm: [1, 0, 2] }); X = 'x_tm'; }
  const hOut: string[] = [];
  const cOut: string[] = [];
  for (let l = 0; l < L; l++) {
    const inSize = l === 0 ? I : D * H;
    const W = new Float32Array(D * GH * inSize);
    const R = new Float32Array(D * GH * H);
    const B = new Float32Array(D * 2 * GH);
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d ? '_reverse' : ''}`;
      putGates(W, d * GH * inSize, get(`rnn.weight_ih${sfx}`, [GH, inSize]), cell, H, inSize);
      putGates(R, d * GH * H, get(`rnn.weight_hh${sfx}`, [GH, H]), cell, H, H);
      if (c.bias) {
        putGates(B, d * 2 * GH, get(`rnn.bias_ih${sfx}`, [GH]), cell, H, 1);
        putGates(B, d * 2 * GH + GH, get(`rnn.bias_hh${sfx}`, [GH]), cell, H, 1);
      }
    }
    const inputs = [X, init(`W_l${l}`, [D, GH, inSize], FLOAT, W), init(`R_l${l}`, [D, GH, H], FLOAT, R),
      c.bias ? init(`B_l${l}`, [D, 2 * GH], FLOAT, B) : '', opts.sequenceLens ? 'lengths' : ''];
    if (opts.initialState) {
      // this layer's rows l*D .. l*D+D-1 of h0 (and c0)
      const rows = (s: string) => {
        if (L === 1) return s;
        nodeOf('Slice', [s, ints(`${s}_start_l${l}`, [l * D]), ints(`${s}_end_l${l}`, [(l + 1) * D]), ints(`${s}_axis_l${l}`, [0])], [`${s}_l${l}`]);
        return `${s}_l${l}`;
      };
      inputs.push(rows('h0'));
      if (cell === 'lstm') inputs.push(rows('c0'));
    }
    const attrs: Record<string, Attr> = { hidden_size: H };
    if (D === 2) attrs.direction = 'bidirectional';
    if (cell === 'rnn' && c.nonlinearity === 'relu') attrs.activations = Array.from({ length: D }, () => 'Relu');
    if (cell === 'gru') attrs.linear_before_reset = 1;
    const Y = `Y_l${l}`;
    hOut.push(`Y_h_l${l}`);
    if (cell === 'lstm') cOut.push(`Y_c_l${l}`);
    nodeOf(OP[cell], inputs, [Y, `Y_h_l${l}`, ...(cell === 'lstm' ? [`Y_c_l${l}`] : [])], attrs);
    // [T, D, B, H] -> [T, B, D*H]
    X = `seq_l${l}`;
    if (D === 2) {
      nodeOf('Transpose', [Y], [`${Y}_t`], { perm: [0, 2, 1, 3] });
      nodeOf('Reshape', [`${Y}_t`, ints(`merge_l${l}`, [0, 0, -1])], [X]);
    } else if (opts.opset >= 13) {
      nodeOf('Squeeze', [Y, ints(`axis1_l${l}`, [1])], [X]);
    } else {
      nodeOf('Squeeze', [Y], [X], { axes: [1] });
    }
  }
  if (c.batchFirst) { nodeOf('Transpose', [X], [`${X}_bf`], { perm: [1, 0, 2] }); X = `${X}_bf`; }
  const F = O ?? D * H;
  if (O !== null) {
    const w = get('out.weight', [O, D * H]);
    const wT = new Float32Array(D * H * O);
    for (let o = 0; o < O; o++) for (let h = 0; h < D * H; h++) wT[h * O + o] = w[o * D * H + h];
    nodeOf('MatMul', [X, init('out.weight_T', [D * H, O], FLOAT, wT)], ['head']);
    nodeOf('Add', ['head', init('out.bias', [O], FLOAT, get('out.bias', [O]))], ['y']);
  } else {
    nodeOf('Identity', [X], ['y']);
  }
  nodeOf('Concat', hOut, ['h_n'], { axis: 0 });
  if (cell === 'lstm') nodeOf('Concat', cOut, ['c_n'], { axis: 0 });
  for (const k of Object.keys(sd)) if (!expected.has(k)) fail(`stateDict has '${k}', which this config (${OP[cell]}, ${L} layer(s)${D === 2 ? ', bidirectional' : ''}${c.bias ? '' : ', no bias'}${O === null ? ', no head' : ''}) does not use`);

  g.str(2, 'bptt_wasm');
  for (const t of inits) g.msg(5, t);
  if (c.embedding) g.msg(11, valueInfo('x', INT64, c.batchFirst ? [Bd, T] : [T, Bd]));
  else g.msg(11, valueInfo('x', FLOAT, c.batchFirst ? [Bd, T, I] : [T, Bd, I]));
  if (opts.sequenceLens) g.msg(11, valueInfo('lengths', INT32, [Bd]));
  if (opts.initialState) {
    g.msg(11, valueInfo('h0', FLOAT, [L * D, Bd, H]));
    if (cell === 'lstm') g.msg(11, valueInfo('c0', FLOAT, [L * D, Bd, H]));
  }
  g.msg(12, valueInfo('y', FLOAT, c.batchFirst ? [Bd, T, F] : [T, Bd, F]));
  g.msg(12, valueInfo('h_n', FLOAT, [L * D, Bd, H]));
  if (cell === 'lstm') g.msg(12, valueInfo('c_n', FLOAT, [L * D, Bd, H]));

  const { embedding, ...arch } = c;
  const config = { ...arch, ...(cell === 'rnn' ? {} : { nonlinearity: undefined }), ...(embedding ? { embedding } : {}) };
  const m = new Pb().int(1, irVersionFor(opts.opset)).str(2, 'bptt-wasm').str(3, libraryVersion()).msg(7, g)
    .msg(8, new Pb().str(1, '').int(2, opts.opset));
  const meta: Record<string, string> = { 'bptt_wasm.config': JSON.stringify(config), 'bptt_wasm.version': libraryVersion() };
  for (const [k, v] of Object.entries(meta)) m.msg(14, new Pb().str(1, k).str(2, v));
  return m.done().slice();
}

/**
 * Export a model to ONNX: `writeOnnxGraph({ config: model.config, stateDict: model.stateDict() })`.
 * The result runs in ONNX Runtime with inputs x (and h0/c0, lengths when asked for) and
 * outputs y, h_n (and c_n).
 */
export function writeOnnx(model: { config: OnnxExportConfig; stateDict(): Record<string, TensorLike> }, options: WriteOnnxOptions = {}): Uint8Array {
  if (model === null || typeof model !== 'object' || typeof (model as { stateDict?: unknown }).stateDict !== 'function') {
    fail('expected a Model (from createModel) as the first argument; for a config and a state dict use writeOnnxGraph');
  }
  const mc = model.config as unknown as Record<string, unknown>;
  // the engine's config may carry more than the architecture; inference-time dropout is off
  const config = Object.fromEntries(Object.entries(mc).filter(([k]) => CONFIG_KEYS.includes(k))) as unknown as OnnxExportConfig;
  // a Model keeps batch_first beside its config (the engine runs time-major)
  if ((model as { batchFirst?: unknown }).batchFirst === true) config.batchFirst = true;
  return writeOnnxGraph({ config, stateDict: model.stateDict() }, options);
}
