// A test-only ONNX writer (enough protobuf to build graphs as torch.onnx.export writes them),
// shared by the ONNX tests and the fuzz test.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { listFixtures, LOCAL_DIR } from './fixtures.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fx = any;
export type T = { shape: number[]; data: number[] };

export type AttrVal = number | string | number[] | string[] | { float: number } | { floats: number[] } | Init;
export interface Init {
  name?: string; dims: number[]; data: ArrayLike<number>; type?: 'float' | 'double' | 'int64' | 'float16';
  /** float_data / int64_data / double_data instead of raw_data */
  field?: boolean;
  /** data_location: EXTERNAL, no data in the file */
  external?: boolean;
}
export interface GNode { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Record<string, AttrVal> }
export interface Graph { nodes: GNode[]; inits: Init[]; inputs: { name: string; dims: (number | string)[] }[]; outputs: string[]; opset: number }

export class Pb {
  private b: number[] = [];
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do { let byte = Number(x & 0x7fn); x >>= 7n; if (x) byte |= 0x80; this.b.push(byte); } while (x);
    return this;
  }
  int(no: number, v: number): this { return this.varint(no * 8).varint(v); }
  len(no: number, bytes: Uint8Array): this { this.varint(no * 8 + 2).varint(bytes.length); for (const x of bytes) this.b.push(x); return this; }
  str(no: number, s: string): this { return this.len(no, new TextEncoder().encode(s)); }
  f32(no: number, v: number): this { this.varint(no * 8 + 5); this.b.push(...new Uint8Array(new Float32Array([v]).buffer)); return this; }
  bytes(): Uint8Array { return Uint8Array.from(this.b); }
}

export const DT = { float: 1, int64: 7, float16: 10, double: 11 };
export function tensorPb(t: Init): Uint8Array {
  const type = t.type ?? 'float';
  const p = new Pb();
  for (const d of t.dims) p.int(1, d);
  p.int(2, DT[type]);
  if (t.name) p.str(8, t.name);
  if (t.external) return p.int(14, 1).bytes();
  const vals = Array.from(t.data);
  if (type === 'int64') {
    if (t.field) p.len(7, packed(vals));
    else p.len(9, new Uint8Array(new BigInt64Array(vals.map(BigInt)).buffer));
  } else if (type === 'double') {
    p.len(t.field ? 10 : 9, new Uint8Array(new Float64Array(vals).buffer));
  } else if (type === 'float16') {
    p.len(9, new Uint8Array(new Uint16Array(vals).buffer)); // data given as raw bit patterns
  } else {
    p.len(t.field ? 4 : 9, new Uint8Array(new Float32Array(vals).buffer)); // packed float_data or raw_data
  }
  return p.bytes();
}
export function packed(vals: number[]): Uint8Array {
  const p = new Pb();
  for (const v of vals) p.varint(v);
  return p.bytes();
}
export function attrPb(name: string, v: AttrVal): Uint8Array {
  const p = new Pb().str(1, name);
  if (typeof v === 'number') p.int(20, 2).int(3, v);
  else if (typeof v === 'string') p.int(20, 3).str(4, v);
  else if (Array.isArray(v) && typeof v[0] === 'string') { p.int(20, 8); for (const s of v as string[]) p.str(9, s); }
  else if (Array.isArray(v)) p.int(20, 7).len(8, packed(v as number[]));
  else if ('float' in v) p.int(20, 1).f32(2, v.float);
  else if ('floats' in v) p.int(20, 6).len(7, new Uint8Array(new Float32Array(v.floats).buffer));
  else if ('dims' in v && 'data' in v) p.int(20, 4).len(5, tensorPb(v));
  return p.bytes();
}
export function encode(g: Graph): Uint8Array {
  const gp = new Pb();
  for (const n of g.nodes) {
    const np = new Pb();
    for (const i of n.inputs) np.str(1, i);
    for (const o of n.outputs) np.str(2, o);
    np.str(3, n.name).str(4, n.op);
    for (const [k, v] of Object.entries(n.attrs)) np.len(5, attrPb(k, v));
    gp.len(1, np.bytes());
  }
  gp.str(2, 'main_graph');
  for (const t of g.inits) gp.len(5, tensorPb(t));
  const vi = (name: string, dims: (number | string)[]) => {
    const shape = new Pb();
    for (const d of dims) shape.len(1, typeof d === 'number' ? new Pb().int(1, d).bytes() : new Pb().str(2, d).bytes());
    const tt = new Pb().int(1, 1).len(2, shape.bytes());
    return new Pb().str(1, name).len(2, new Pb().len(1, tt.bytes()).bytes()).bytes();
  };
  for (const i of g.inputs) gp.len(11, vi(i.name, i.dims));
  for (const o of g.outputs) gp.len(12, new Pb().str(1, o).bytes());
  return new Pb().int(1, 8).str(2, 'test').len(7, gp.bytes()).len(8, new Pb().str(1, '').int(2, g.opset).bytes()).bytes();
}

/** PyTorch gate blocks -> ONNX's (LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h), as the exporter does. */
export const ONNX_OF_TORCH: Record<string, number[]> = { rnn: [0], lstm: [0, 2, 3, 1], gru: [1, 0, 2] };
export function toOnnxOrder(t: T, cell: string): number[] {
  const blocks = ONNX_OF_TORCH[cell];
  const blk = t.data.length / blocks.length;
  const out = new Array<number>(t.data.length);
  blocks.forEach((o, p) => { for (let i = 0; i < blk; i++) out[o * blk + i] = t.data[p * blk + i]; });
  return out;
}

export interface ExportOpts {
  /** how the weights are stored */
  weights?: 'raw' | 'float_data' | 'double' | 'constant' | 'identity';
  /** < 13: Squeeze takes its axes as an attribute */
  opset?: number;
  head?: 'matmul' | 'gemm' | 'none';
}

/** The graph torch.onnx.export writes for a fixture's Net (see src/io/onnx.ts), rebuilt from its params. */
export function exportLike(fx: Fx, opts: ExportOpts = {}): Graph {
  const c = fx.config;
  const { weights = 'raw', opset = 17, head = 'matmul' } = opts;
  const op = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' }[c.cell as string]!;
  const H = c.hidden_size;
  const g: Graph = { nodes: [], inits: [], inputs: [{ name: 'x', dims: ['T', 'B', c.input_size] }], outputs: ['y'], opset };
  const store = (name: string, dims: number[], data: number[]) => {
    const t: Init = { dims, data, ...(weights === 'double' ? { type: 'double' as const } : {}), field: weights === 'float_data' };
    if (weights === 'constant') g.nodes.push({ op: 'Constant', name: `c_${name}`, inputs: [], outputs: [name], attrs: { value: t } });
    else if (weights === 'identity') {
      g.inits.push({ ...t, name: `${name}_stored` });
      g.nodes.push({ op: 'Identity', name: `id_${name}`, inputs: [`${name}_stored`], outputs: [name], attrs: {} });
    } else g.inits.push({ ...t, name });
  };
  const squeeze = (from: string, to: string) => {
    if (opset < 13) g.nodes.push({ op: 'Squeeze', name: `sq_${to}`, inputs: [from], outputs: [to], attrs: { axes: [1] } });
    else {
      g.nodes.push({ op: 'Constant', name: `ax_${to}`, inputs: [], outputs: [`ax_${to}`], attrs: { value: { dims: [1], data: [1], type: 'int64' } } });
      g.nodes.push({ op: 'Squeeze', name: `sq_${to}`, inputs: [from, `ax_${to}`], outputs: [to], attrs: {} });
    }
  };
  let X = 'x';
  for (let l = 0; l < c.num_layers; l++) {
    const p = (n: string) => fx.params[`rnn.${n}_l${l}`] as T;
    store(`W${l}`, [1, ...p('weight_ih').shape], toOnnxOrder(p('weight_ih'), c.cell));
    store(`R${l}`, [1, ...p('weight_hh').shape], toOnnxOrder(p('weight_hh'), c.cell));
    if (c.bias) store(`B${l}`, [1, 2 * p('bias_ih').shape[0]], [...toOnnxOrder(p('bias_ih'), c.cell), ...toOnnxOrder(p('bias_hh'), c.cell)]);
    const attrs: Record<string, AttrVal> = { hidden_size: H };
    if (c.cell === 'rnn') attrs.activations = [c.nonlinearity === 'relu' ? 'Relu' : 'Tanh'];
    if (c.cell === 'gru') attrs.linear_before_reset = 1;
    g.nodes.push({
      op, name: `/rnn/${op}_${l}`, inputs: [X, `W${l}`, `R${l}`, c.bias ? `B${l}` : ''],
      outputs: [`Y${l}`, `Yh${l}`, ...(c.cell === 'lstm' ? [`Yc${l}`] : [])], attrs,
    });
    X = `X${l + 1}`;
    squeeze(`Y${l}`, head === 'none' && l === c.num_layers - 1 ? 'y' : X);
  }
  const ow = fx.params['out.weight'] as T;
  const [O] = ow.shape;
  if (head === 'matmul') {
    const wt: number[] = [];
    for (let h = 0; h < H; h++) for (let o = 0; o < O; o++) wt.push(ow.data[o * H + h]);
    store('out_wT', [H, O], wt);
    store('out.bias', [O], fx.params['out.bias'].data);
    g.nodes.push({ op: 'MatMul', name: '/out/MatMul', inputs: [X, 'out_wT'], outputs: ['mm'], attrs: {} });
    g.nodes.push({ op: 'Add', name: '/out/Add', inputs: ['out.bias', 'mm'], outputs: ['y'], attrs: {} });
  } else if (head === 'gemm') {
    // Linear on [T*B, H], the output left flattened: the same floats in the same order as [T, B, O]
    g.inits.push({ name: 'flat', dims: [2], data: [-1, H], type: 'int64' });
    g.nodes.push({ op: 'Reshape', name: '/out/Reshape', inputs: [X, 'flat'], outputs: ['flat_x'], attrs: {} });
    store('out.weight', [O, H], ow.data);
    store('out.bias', [O], fx.params['out.bias'].data);
    g.nodes.push({ op: 'Gemm', name: '/out/Gemm', inputs: ['flat_x', 'out.weight', 'out.bias'], outputs: ['y'], attrs: { transB: 1, alpha: { float: 1 } } });
  }
  return g;
}

export const fx = (name: string): Fx => listFixtures().find((f) => f.name === name)!.json;
export const headless = (params: Record<string, T>) => Object.fromEntries(Object.entries(params).filter(([k]) => !k.startsWith('out.')));
export const node = (g: Graph, op: string, i = 0) => g.nodes.filter((n) => n.op === op)[i];

/** A fixture's config (snake_case, PyTorch's) in createModel's / writeOnnxGraph's spelling. */
export function torchConfig(c: Fx) {
  return {
    cell: c.cell, ...(c.cell === 'rnn' ? { nonlinearity: c.nonlinearity } : {}), inputSize: c.input_size, hiddenSize: c.hidden_size,
    numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias, ...(c.bidirectional ? { bidirectional: true } : {}),
  } as const;
}

const SEQ_DIRS = [resolve(LOCAL_DIR, '../../../shared/fixtures/torch-seq'), resolve(LOCAL_DIR, 'torch-seq')];
let seqCache: { name: string; json: Fx }[] | null = null;
/** The torch-seq cases (bidirectional, lengths): the shared folder's, then test/fixtures/torch-seq's, by name. */
export function seqFixtures(): { name: string; json: Fx }[] {
  if (seqCache) return seqCache;
  const seen = new Map<string, Fx>();
  for (const d of SEQ_DIRS.filter((x) => existsSync(x))) {
    for (const f of readdirSync(d).sort()) {
      if (f.endsWith('.json') && !seen.has(f)) seen.set(f, JSON.parse(readFileSync(resolve(d, f), 'utf8')));
    }
  }
  seqCache = [...seen].map(([f, json]) => ({ name: f.slice(0, -5), json }));
  if (seqCache.length === 0) throw new Error(`no torch-seq fixtures in ${SEQ_DIRS.join(' or ')}`);
  return seqCache;
}
