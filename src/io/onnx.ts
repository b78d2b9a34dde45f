// ONNX import: recurrent models written by `torch.onnx.export` (or writeOnnx), read back
// into a model config and a state dict under PyTorch's names, with no dependency. Three
// files: io/onnx-wire.ts (the protobuf wire format), io/onnx-messages.ts (the ONNX messages),
// and this one (from the graph to the model).
//
// An .onnx file is one protobuf message (onnx.proto's ModelProto). Only the wire format is
// needed: every field is a varint key (field number << 3 | wire type) followed by a varint
// (wire type 0), 8 bytes (1), a varint length and that many bytes (2: strings, bytes,
// nested messages, packed repeated numbers) or 4 bytes (5). The subset read here:
//
//   ModelProto      1 ir_version, 2 producer_name, 7 graph, 8 opset_import {1 domain, 2 version}
//   GraphProto      1 node, 5 initializer, 11 input, 12 output
//   NodeProto       1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
//   AttributeProto  1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 9 strings
//   TensorProto     1 dims, 2 data_type, 4 float_data, 5 int32_data, 7 int64_data, 8 name,
//                   9 raw_data (little-endian), 10 double_data, 14 data_location
//   ValueInfoProto  1 name, 2 type {1 tensor_type {2 shape {1 dim {1 dim_value, 2 dim_param}}}}
//
// What the TorchScript exporter (PyTorch 2.11, opset 17) writes for the reference Net
// (nn.RNN/LSTM/GRU `rnn` + nn.Linear `out` on every step), and how it maps back:
//   - one RNN/LSTM/GRU node per layer, in layer order. Y is [T, num_directions=1, B, H];
//     layer k > 0 reads Squeeze(Y_{k-1}, axes=[1]). h0/c0 reach each layer through Slice.
//   - W [1, G*H, in], R [1, G*H, H], B [1, 2*G*H] = [W_b | R_b], as initializers with
//     made-up names (`onnx::LSTM_180`), gate blocks in ONNX order: LSTM i,o,f,c; GRU z,r,h
//     (with linear_before_reset=1, which is PyTorch's GRU); RNN has one block.
//   - bias=False: the B input is left empty (''), it is not a zero tensor. So a B input
//     means bias=true (all-zero biases included); layers without one get zero biases.
//   - the head: MatMul(Squeeze(Y), out.weight^T [H, O]), then Add(out.bias, .).
//
// An nn.Embedding before the stack (token-id inputs) is `Gather(embed.weight [N, E], ids)`
// with axis 0, the ids a graph input ([T, B] or, batch-first, [B, T]); it becomes
// `embed.weight` and config.embedding (padding_idx only matters in training and is not in
// the graph, so it is not recovered).
//
// Bidirectional layers (direction = bidirectional, the `_reverse` tensors) and batch-first
// graphs import too. Anything else that changes the math (direction = reverse alone, other
// activations, clip, input_forget, peepholes, linear_before_reset=0, a learned initial
// state, a head that is not Linear) is refused with an error that names it.

import { onnxFail as fail, type OnnxGraph, type OnnxNode, OnnxTensor, type OnnxValueInfo, decodeModel } from './onnx-messages.js';
import { WireError } from './onnx-wire.js';
import { buildLayout, GATES, type CellKind, type Nonlinearity, type TensorSpec } from '../layout.js';
import type { Tensor } from '../model.js';

export interface OnnxModelConfig {
  cell: CellKind;
  /** cell 'rnn' only */
  nonlinearity?: Nonlinearity;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  /** size of the Linear head; null when the graph outputs the top layer's h_t directly */
  outputSize: number | null;
  bias: boolean;
  /** present (true) for a graph of bidirectional layers */
  bidirectional?: boolean;
  /** present (true) when the graph takes x as [B, T, F] and outputs [B, T, O] (PyTorch's batch_first=True) */
  batchFirst?: boolean;
  /** present when the graph starts with an embedding Gather: x is then token ids [T, B] ([B, T] batch-first) */
  embedding?: { numEmbeddings: number; embeddingDim: number };
}

export interface OnnxImport {
  /** ready for `createModel({ ...config, backend })` */
  config: OnnxModelConfig;
  /** PyTorch names, shapes and gate order, for `model.loadStateDict` */
  stateDict: Record<string, Tensor>;
}

type Cell = CellKind;
const CELL_OF: Record<string, Cell> = { RNN: 'rnn', LSTM: 'lstm', GRU: 'gru' };
/** For each PyTorch gate block (LSTM i,f,g,o; GRU r,z,n), its block index in ONNX's order (LSTM i,o,f,c; GRU z,r,h). */
const ONNX_BLOCK: Record<Cell, number[]> = { rnn: [0], lstm: [0, 2, 3, 1], gru: [1, 0, 2] };
const DEFAULT_ACTIVATIONS: Record<Cell, string[]> = { rnn: ['Tanh'], lstm: ['Sigmoid', 'Tanh', 'Tanh'], gru: ['Sigmoid', 'Tanh'] };
const KNOWN_ATTRS: Record<Cell, string[]> = {
  rnn: ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'layout'],
  lstm: ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'layout', 'input_forget'],
  gru: ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'layout', 'linear_before_reset'],
};
/** Ops that only move or relabel axes; followed (and checked) between the layers and the head. */
const SHAPE_OPS = new Set(['Identity', 'Squeeze', 'Unsqueeze', 'Reshape', 'Transpose']);

/**
 * The meaning of each axis of a value on the data path: time, batch, time*batch (flattened
 * in row-major order, as a Reshape to [-1, F] makes it), features, a size-1 axis, or the
 * direction axis of a bidirectional layer's Y (size 2; D then F merge into 2H features, the
 * forward half first, which is PyTorch's concat(h_fwd, h_rev)).
 */
type Axis = 'T' | 'B' | 'T*B' | 'F' | '1' | 'D';
const axesStr = (ax: Axis[]): string => `[${ax.join(', ')}]`;
/** Row-major data order of the non-trivial axes: [T, B, F] and [T*B, F] hold the same floats in the same order; so do [.., D, F] and [.., F]. */
const order = (ax: Axis[]): string => ax.filter((a) => a !== '1').map((a) => (a === 'T*B' ? 'T,B' : a)).join(',').replace('D,F', 'F');

interface Layer {
  node: OnnxNode;
  cell: Cell;
  nonlinearity: Nonlinearity;
  inSize: number;
  H: number;
  /** num_directions: 1 forward, 2 bidirectional */
  D: 1 | 2;
  W: Float32Array; // [D, G*H, in] ONNX order
  R: Float32Array; // [D, G*H, H]
  B: Float32Array | null; // [D, 2*G*H]
}

class GraphReader {
  private readonly producer = new Map<string, OnnxNode>();
  private readonly consumers = new Map<string, OnnxNode[]>();
  private readonly constants = new Map<string, OnnxTensor>();
  /** the graph inputs a caller feeds (inputs that are not also initializers) */
  readonly feeds: Map<string, OnnxValueInfo>;
  readonly outputNames: Set<string>;

  constructor(readonly g: OnnxGraph) {
    for (const n of g.nodes) {
      for (const o of n.outputs) {
        if (!o) continue;
        const other = this.producer.get(o);
        if (other) fail(`value '${o}' is the output of both ${nodeStr(other)} and ${nodeStr(n)}; each value must have one producer (SSA)`);
        this.producer.set(o, n);
      }
      for (const i of new Set(n.inputs)) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        list.push(n);
        this.consumers.set(i, list);
      }
    }
    checkAcyclic(g.nodes, this.producer);
    this.feeds = new Map(g.inputs.filter((v) => !g.initializers.has(v.name) && !g.sparse.has(v.name)).map((v) => [v.name, v]));
    this.outputNames = new Set(g.outputs.map((v) => v.name));
  }

  /**
   * The tensor behind a name if it is fixed: an initializer, a Constant node, or an Identity
   * of one; else null. A loop, not recursion: an Identity chain may be arbitrarily long.
   */
  constant(name: string): OnnxTensor | null {
    const chain: string[] = [];
    let t: OnnxTensor | null = null;
    for (let cur = name; ; ) {
      if (this.constants.has(cur)) { t = this.constants.get(cur)!; break; }
      if (this.g.sparse.has(cur)) fail(`'${cur}' is a sparse initializer, which is not supported`);
      chain.push(cur);
      if (this.g.initializers.has(cur)) { t = this.g.initializers.get(cur)!; break; }
      const p = this.producer.get(cur);
      if (p && p.opType === 'Identity') { cur = p.inputs[0] ?? ''; continue; } // acyclic (checked), so this ends
      if (p && p.opType === 'Constant') t = constantValue(p);
      break;
    }
    if (t) for (const c of chain) this.constants.set(c, t);
    return t;
  }

  consumersOf(name: string): OnnxNode[] {
    return this.consumers.get(name) ?? [];
  }

  producerOf(name: string): OnnxNode | undefined {
    return this.producer.get(name);
  }
}

/**
 * Kahn's algorithm over the node graph (iterative: no recursion on deep graphs). ONNX graphs
 * are acyclic by definition; every walk below relies on it to end, so a cycle is an error
 * that names the nodes on it.
 */
function checkAcyclic(nodes: OnnxNode[], producer: Map<string, OnnxNode>): void {
  const index = new Map(nodes.map((n, i) => [n, i]));
  const waiting = new Int32Array(nodes.length);
  const users: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const name of new Set(n.inputs)) {
      const p = name ? producer.get(name) : undefined;
      if (!p) continue;
      waiting[i]++;
      users[index.get(p)!].push(i);
    }
  });
  const ready: number[] = [];
  waiting.forEach((w, i) => { if (w === 0) ready.push(i); });
  let done = 0;
  while (ready.length) {
    const i = ready.pop()!;
    done++;
    for (const u of users[i]) if (--waiting[u] === 0) ready.push(u);
  }
  if (done === nodes.length) return;
  const stuck = nodes.filter((_, i) => waiting[i] > 0);
  fail(`the graph has a cycle: ${stuck.length} node(s) depend on their own outputs, e.g. ${stuck.slice(0, 3).map(nodeStr).join(', ')} ` +
    '(an ONNX graph must be acyclic)');
}

/** The value of a Constant node as a tensor (value, or value_float(s) / value_int(s)). */
function constantValue(n: OnnxNode): OnnxTensor {
  const a = n.attrs;
  if (a.get('value')?.t) return a.get('value')!.t!;
  const name = n.outputs[0] || n.name;
  if (a.get('value_float')?.f !== undefined) return OnnxTensor.of(name, [], 1, [a.get('value_float')!.f!]);
  if (a.has('value_floats')) return OnnxTensor.of(name, [a.get('value_floats')!.floats.length], 1, a.get('value_floats')!.floats);
  if (a.get('value_int')?.i !== undefined) return OnnxTensor.of(name, [], 7, [a.get('value_int')!.i!]);
  if (a.has('value_ints')) return OnnxTensor.of(name, [a.get('value_ints')!.ints.length], 7, a.get('value_ints')!.ints);
  fail(`Constant node '${n.name}' has no value this reader understands (attributes: ${[...a.keys()].join(', ') || 'none'})`);
}

const nodeStr = (n: OnnxNode): string => `${n.opType} node '${n.name}'`;

/** Axes of a Squeeze/Unsqueeze: the `axes` attribute (opset < 13) or a constant second input. */
function axesOf(r: GraphReader, n: OnnxNode): number[] | null {
  if (n.attrs.has('axes')) return n.attrs.get('axes')!.ints;
  if (!n.inputs[1]) return null;
  const t = r.constant(n.inputs[1]);
  if (!t) fail(`${nodeStr(n)} takes its axes from a computed value '${n.inputs[1]}'; only constant axes are supported`);
  return t.ints();
}

function normAxis(n: OnnxNode, a: number, rank: number): number {
  if (a < -rank || a >= rank) fail(`${nodeStr(n)}: axis ${a} is out of range for rank ${rank}`);
  return a < 0 ? a + rank : a;
}

/**
 * Follow a shape-only op: what each output axis means. Fails when the op would mix axes
 * (e.g. a Reshape that merges B with the features) or drop a non-trivial axis.
 */
function applyShapeOp(r: GraphReader, n: OnnxNode, ax: Axis[], F: number, Hd = F): Axis[] {
  switch (n.opType) {
    case 'Identity':
      return ax;
    case 'Squeeze': {
      const axes = axesOf(r, n);
      if (axes === null) fail(`${nodeStr(n)} has no axes (it would squeeze T or B when they are 1); only explicit axes are supported`);
      const drop = new Set(axes.map((a) => normAxis(n, a, ax.length)));
      for (const d of drop) if (ax[d] !== '1') fail(`${nodeStr(n)} removes axis ${d} (${ax[d]}) of ${axesStr(ax)}; only size-1 axes can be squeezed`);
      return ax.filter((_, i) => !drop.has(i));
    }
    case 'Unsqueeze': {
      const axes = axesOf(r, n);
      if (axes === null) fail(`${nodeStr(n)} has no axes`);
      const rank = ax.length + axes.length;
      const ins = new Set(axes.map((a) => normAxis(n, a, rank)));
      const out: Axis[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(ins.has(i) ? '1' : ax[k++]);
      return out;
    }
    case 'Transpose': {
      const perm = n.attrs.get('perm')?.ints ?? ax.map((_, i) => ax.length - 1 - i);
      if (perm.length !== ax.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
        fail(`${nodeStr(n)}: perm [${perm}] is not a permutation of ${ax.length} axes`);
      }
      return perm.map((p) => ax[p]);
    }
    case 'Reshape': {
      const st = r.constant(n.inputs[1] ?? '');
      if (!st) fail(`${nodeStr(n)} reshapes to a computed shape '${n.inputs[1]}'; only constant shapes can be followed`);
      const shape = st.ints();
      if (n.attrs.get('allowzero')?.i === 1 && shape.includes(0)) fail(`${nodeStr(n)}: allowzero=1 with a 0 in the shape is not supported`);
      // 'DF': an explicit 2H that merges the direction axis into the features
      const out: (Axis | 'DF' | null)[] = shape.map((s, i) => {
        if (s === 0) {
          if (i >= ax.length) fail(`${nodeStr(n)}: shape [${shape}] copies axis ${i} of a rank-${ax.length} input`);
          return ax[i];
        }
        if (s === 1) return '1';
        if (s === -1) return null;
        if (s === F && ax.includes('F')) return ax.includes('D') && Hd !== F ? 'DF' : 'F';
        if (s === Hd && ax.includes('F') && ax.includes('D')) return 'F';
        fail(`${nodeStr(n)}: shape [${shape}] has a fixed size ${s} for an axis of ${axesStr(ax)} (features: ${F}); ` +
          'a fixed T or B (a non-dynamic export) cannot be followed');
      });
      // The -1 takes the axes not named elsewhere: none (a 1), one, or T then B (flattened).
      const named = out.filter((a): a is Axis | 'DF' => a !== null && a !== '1').flatMap((a): Axis[] => (a === 'DF' ? ['D', 'F'] : [a]));
      const rest: Axis[] = ax.filter((a) => a !== '1');
      for (const a of named) {
        const i = rest.indexOf(a);
        if (i < 0) fail(`${nodeStr(n)}: shape [${shape}] does not fit the input axes ${axesStr(ax)}`);
        rest.splice(i, 1);
      }
      const merged = rest.join(',');
      const fill: Axis = rest.length === 0 ? '1' : rest.length === 1 ? rest[0] : merged === 'T,B' ? 'T*B' : merged === 'D,F' ? 'F' : fail(
        `${nodeStr(n)}: shape [${shape}] merges the axes ${rest.join(', ')} of ${axesStr(ax)}`);
      if (out.filter((a) => a === null).length > 1) fail(`${nodeStr(n)}: shape [${shape}] has more than one -1`);
      if (!out.includes(null) && rest.length) fail(`${nodeStr(n)}: shape [${shape}] drops the axes ${rest.join(', ')} of ${axesStr(ax)}`);
      const res = out.map((a): Axis => (a === 'DF' ? 'F' : a ?? fill));
      if (order(res) !== order(ax)) fail(`${nodeStr(n)}: shape [${shape}] reorders ${axesStr(ax)} into ${axesStr(res)}`);
      return res;
    }
  }
  fail(`unexpected shape op ${n.opType}`);
}

function attrInt(n: OnnxNode, name: string, dflt: number): number {
  const a = n.attrs.get(name);
  if (!a) return dflt;
  if (a.i === undefined) fail(`${nodeStr(n)}: attribute ${name} has no integer value`);
  return a.i;
}

function isZero(t: OnnxTensor): boolean {
  return t.floats().every((v) => v === 0);
}

/** Check one recurrent node's attributes and read its W, R, B. */
function readLayer(r: GraphReader, n: OnnxNode, k: number): Layer {
  const cell = CELL_OF[n.opType];
  const what = `layer ${k} (${nodeStr(n)})`;
  const Gc = GATES[cell];
  for (const a of n.attrs.keys()) {
    if (!KNOWN_ATTRS[cell].includes(a)) fail(`${what}: unknown attribute '${a}'`);
  }
  const direction = n.attrs.get('direction')?.s ?? 'forward';
  if (direction !== 'forward' && direction !== 'bidirectional') {
    fail(`${what}: direction '${direction}' is not supported (only 'forward' or 'bidirectional', as PyTorch writes them)`);
  }
  const D = direction === 'bidirectional' ? 2 : 1;
  if (attrInt(n, 'layout', 0) !== 0) fail(`${what}: layout=1 (batch-first [B, T, F] inputs and states) is not supported; export with batch_first=False`);
  if (n.attrs.has('clip')) fail(`${what}: clip=${n.attrs.get('clip')!.f} (cell clipping) is not supported; PyTorch cells do not clip`);
  if (n.attrs.has('activation_alpha') || n.attrs.has('activation_beta')) fail(`${what}: activation_alpha/activation_beta are not supported`);
  // one list per direction, forward first; both directions must use the same functions
  const perDir = DEFAULT_ACTIVATIONS[cell];
  const acts = n.attrs.get('activations')?.strings ?? Array.from({ length: D }, () => perDir).flat();
  const low = acts.map((s) => s.toLowerCase());
  const first = low.slice(0, perDir.length).join(',');
  if (low.length !== D * perDir.length || low.slice(perDir.length).join(',') !== (D === 2 ? first : '')) {
    fail(`${what}: activations [${acts.join(', ')}] are not supported: expected ${perDir.length} per direction, ` +
      `the same for ${D === 2 ? 'both directions' : 'the one direction'}`);
  }
  let nonlinearity: Nonlinearity = 'tanh';
  if (cell === 'rnn') {
    if (first === 'tanh') nonlinearity = 'tanh';
    else if (first === 'relu') nonlinearity = 'relu';
    else fail(`${what}: activations [${acts.join(', ')}] are not supported (Tanh or Relu, as nn.RNN's nonlinearity)`);
  } else if (first !== perDir.map((s) => s.toLowerCase()).join(',')) {
    fail(`${what}: activations [${acts.join(', ')}] are not supported (only the default [${perDir.join(', ')}], as in PyTorch)`);
  }
  if (cell === 'lstm' && attrInt(n, 'input_forget', 0) !== 0) fail(`${what}: input_forget=1 (coupled input and forget gates) is not supported`);
  if (cell === 'gru' && attrInt(n, 'linear_before_reset', 0) !== 1) {
    fail(`${what}: linear_before_reset=0 (reset gate applied before R_h) is not supported; PyTorch's GRU is linear_before_reset=1`);
  }

  const input = (i: number, role: string, required: boolean): OnnxTensor | null => {
    const name = n.inputs[i] ?? '';
    if (!name) {
      if (required) fail(`${what}: input ${i} (${role}) is missing`);
      return null;
    }
    const t = r.constant(name);
    if (!t) fail(`${what}: ${role} '${name}' is computed in the graph, not a stored tensor; only constant weights can be imported`);
    return t;
  };
  const Wt = input(1, 'W', true)!;
  const Rt = input(2, 'R', true)!;
  const Bt = input(3, 'B', false);
  if (Wt.dims.length !== 3 || Rt.dims.length !== 3) fail(`${what}: W [${Wt.dims}] and R [${Rt.dims}] must have 3 dims [num_directions, ${Gc}*H, *]`);
  if (Wt.dims[0] !== D || Rt.dims[0] !== D) {
    fail(`${what}: num_directions ${Wt.dims[0]} in W [${Wt.dims}] and ${Rt.dims[0]} in R [${Rt.dims}], expected ${D} for direction '${direction}'`);
  }
  const H = Rt.dims[2];
  if (H < 1 || Rt.dims[1] !== Gc * H) fail(`${what}: R has shape [${Rt.dims}], expected [${D}, ${Gc}*H, H] for ${Gc} gate block(s)`);
  if (Wt.dims[1] !== Gc * H) fail(`${what}: W has shape [${Wt.dims}], expected [${D}, ${Gc * H}, input_size] (H=${H} from R)`);
  const hs = n.attrs.get('hidden_size')?.i;
  if (hs !== undefined && hs !== H) fail(`${what}: hidden_size=${hs} but R has shape [${Rt.dims}] (H=${H})`);
  const inSize = Wt.dims[2];
  if (inSize < 1) fail(`${what}: W has shape [${Wt.dims}] with no input features`);
  if (Bt && (Bt.numel !== D * 2 * Gc * H || Bt.dims.length !== 2 || Bt.dims[0] !== D)) {
    fail(`${what}: B has shape [${Bt.dims}], expected [${D}, ${2 * Gc * H}] (W_b then R_b per direction)`);
  }

  // Per-sequence lengths fed at run time are the model's `lengths` (PyTorch's packed
  // sequences); fixed or computed ones would be part of the graph we cannot represent.
  if (n.inputs[4] && !r.feeds.has(n.inputs[4])) {
    fail(`${what}: sequence_lens '${n.inputs[4]}' is ${r.constant(n.inputs[4]) ? 'a stored tensor' : 'computed in the graph'}; ` +
      'only a graph input (lengths fed at run time) is supported');
  }
  // Initial states come in at run time (h0/c0); a stored non-zero one would be a parameter we cannot hold.
  for (const [i, role] of [[5, 'initial_h'], [6, 'initial_c']] as const) {
    if (!n.inputs[i]) continue;
    const t = r.constant(n.inputs[i]);
    if (t && !isZero(t)) fail(`${what}: ${role} is a stored non-zero tensor '${n.inputs[i]}' (a learned initial state); pass it as h0/c0 instead`);
  }
  if (cell === 'lstm' && n.inputs[7]) {
    const P = r.constant(n.inputs[7]);
    if (!P || !isZero(P)) fail(`${what}: peephole weights P '${n.inputs[7]}' are not supported (PyTorch's LSTM has none)`);
  }
  if (!n.outputs[0]) fail(`${what}: its output Y (all steps) is not used; only models that use every step's h_t are supported`);
  return { node: n, cell, nonlinearity, inSize, H, D, W: Wt.floats(), R: Rt.floats(), B: Bt ? Bt.floats() : null };
}

/** [G*H, cols] in ONNX gate order -> PyTorch gate order (each block is H rows). */
function reorderGates(src: Float32Array, srcOffset: number, cell: Cell, H: number, cols: number): Float32Array {
  const blocks = ONNX_BLOCK[cell];
  const out = new Float32Array(blocks.length * H * cols);
  const blk = H * cols;
  blocks.forEach((onnxBlock, p) => out.set(src.subarray(srcOffset + onnxBlock * blk, srcOffset + (onnxBlock + 1) * blk), p * blk));
  return out;
}

/**
 * The embedding torch.onnx.export writes for nn.Embedding: the value `name` is
 * Gather(stored table [N, E], a graph input of ids) along axis 0. null when `name` is not a
 * Gather of a graph input; an error when it is one that no nn.Embedding makes.
 */
function embeddingGather(r: GraphReader, name: string): { node: OnnxNode; weight: OnnxTensor; ids: string } | null {
  const p = r.producerOf(name);
  if (!p || p.opType !== 'Gather' || !r.feeds.has(p.inputs[1] ?? '')) return null;
  const ids = p.inputs[1];
  const weight = r.constant(p.inputs[0] ?? '');
  if (!weight) fail(`${nodeStr(p)} looks up ids in a computed value '${p.inputs[0]}'; an embedding's table must be a stored tensor`);
  if (weight.dims.length !== 2 || weight.dims[0] < 1 || weight.dims[1] < 1) {
    fail(`${nodeStr(p)}: the embedding table '${weight.name}' has shape [${weight.dims}], expected [num_embeddings, embedding_dim]`);
  }
  if (attrInt(p, 'axis', 0) !== 0) fail(`${nodeStr(p)}: axis ${attrInt(p, 'axis', 0)}; an embedding looks up rows (axis 0)`);
  const decl = r.feeds.get(ids)?.shape;
  if (decl && decl.length !== 2) fail(`graph input '${ids}' (token ids of ${nodeStr(p)}) has rank ${decl.length} ([${decl.join(', ')}]); expected [T, B] or [B, T]`);
  return { node: p, weight, ids };
}

/**
 * Trace a layer's X input back through shape-only ops to `source` (the graph input x or the
 * previous layer's Y) and check it arrives as time-major [T, B, features].
 */
function checkLayerInput(r: GraphReader, layer: Layer, k: number, prev: Layer | null): { batchFirst: boolean; embed: OnnxTensor | null } {
  const what = `layer ${k} (${nodeStr(layer.node)})`;
  const chain: OnnxNode[] = [];
  let name = layer.node.inputs[0] ?? '';
  if (!name) fail(`${what}: input X is missing`);
  const isSource = (s: string) => (prev ? s === prev.node.outputs[0] : r.feeds.has(s) || embeddingGather(r, s) !== null);
  while (!isSource(name)) {
    const p = r.producerOf(name);
    if (!p) {
      fail(prev ? `${what}: input X '${name}' does not come from layer ${k - 1}'s output Y` : `${what}: input X '${name}' is neither a graph input nor computed from one`);
    }
    if (!SHAPE_OPS.has(p.opType)) {
      fail(`${what}: input X comes from a ${nodeStr(p)}; expected ${prev ? `layer ${k - 1}'s Y` : 'the graph input'} through ${[...SHAPE_OPS].join('/')} only` +
        (prev && CELL_OF[p.opType] === undefined ? ' (dropout between layers, or another op, is not supported)' : ''));
    }
    chain.unshift(p);
    name = p.inputs[0] ?? '';
  }
  // the previous layer's Y is [T, num_directions, B, H]; the graph input is time-major
  // [T, B, F] or, from a batch_first=True model, [B, T, F] followed by a Transpose
  const F = prev ? prev.D * prev.H : layer.inSize;
  const Hd = prev ? prev.H : F;
  const follow = (start: Axis[]) => chain.reduce((ax, n) => applyShapeOp(r, n, ax, F, Hd), start);
  const emb = prev ? null : embeddingGather(r, name);
  if (emb && emb.weight.dims[1] !== layer.inSize) {
    fail(`${nodeStr(emb.node)}: the embedding table '${emb.weight.name}' has ${emb.weight.dims[1]} columns but layer 0's W expects ${layer.inSize} inputs`);
  }
  if (!prev && !emb) {
    const decl = r.feeds.get(name)?.shape;
    if (decl && decl.length !== 3) fail(`graph input '${name}' has rank ${decl.length} ([${decl.join(', ')}]); expected [T, B, input_size]`);
    if (decl && typeof decl[2] === 'number' && decl[2] !== layer.inSize) {
      fail(`graph input '${name}' has ${decl[2]} features but layer 0's W expects ${layer.inSize}`);
    }
  }
  const ax = follow(prev ? ['T', prev.D === 2 ? 'D' : '1', 'B', 'F'] : ['T', 'B', 'F']);
  const embed = emb ? emb.weight : null;
  if (ax.join(',') === 'T,B,F') return { batchFirst: false, embed };
  if (!prev && follow(['B', 'T', 'F']).join(',') === 'T,B,F') return { batchFirst: true, embed };
  fail(`${what}: input X arrives with axes ${axesStr(ax)}${prev ? '' : ' (or, if the graph input is batch-first [B, T, F], ' +
    `${axesStr(follow(['B', 'T', 'F']))})`}; expected time-major [T, B, F]`);
}

/** From the top layer's Y to a graph output: shape ops, then an optional Linear head, then shape ops. */
function readHead(r: GraphReader, top: Layer, k: number, batchFirst: boolean): { weight: Tensor; bias: Tensor } | null {
  let name = top.node.outputs[0];
  let ax: Axis[] = ['T', top.D === 2 ? 'D' : '1', 'B', 'F'];
  let F = top.D * top.H;
  let Hd = top.H;
  let head: { weight: Tensor; bias: Tensor | null } | null = null;
  const next = (): OnnxNode | null => {
    const cs = r.consumersOf(name);
    if (cs.length === 0) {
      if (r.outputNames.has(name)) return null;
      fail(`the top layer's output '${name}' is not used by any node nor a graph output`);
    }
    if (cs.length > 1) fail(`the top layer's output '${name}' feeds ${cs.length} nodes (${cs.map(nodeStr).join(', ')}); expected one path to the output`);
    return cs[0];
  };
  const other = (n: OnnxNode): string => {
    const others = n.inputs.filter((i) => i !== name);
    if (others.length !== 1 || n.inputs.length !== 2) fail(`${nodeStr(n)} must combine the top layer's output with one stored tensor`);
    return others[0];
  };
  for (;;) {
    const n = next();
    if (n === null) break;
    if (CELL_OF[n.opType] !== undefined) fail(`${nodeStr(n)} after layer ${k} does not continue the stack (check the graph's layer order)`);
    if (SHAPE_OPS.has(n.opType)) {
      ax = applyShapeOp(r, n, ax, F, Hd);
    } else if ((n.opType === 'MatMul' || n.opType === 'Gemm') && head === null) {
      if (ax.includes('D')) fail(`${nodeStr(n)} multiplies a value with axes ${axesStr(ax)}: the two directions must be merged into the features first`);
      head = readLinear(r, n, name, ax, F);
      F = Hd = head.weight.shape[0];
    } else if (n.opType === 'Add' && head !== null && head.bias === null) {
      const b = r.constant(other(n));
      const O = F;
      if (!b) fail(`${nodeStr(n)} adds a computed value '${other(n)}', not a stored bias`);
      if (b.numel !== O || b.dims.slice(0, -1).some((d) => d !== 1)) fail(`${nodeStr(n)}: bias '${b.name}' has shape [${b.dims}], expected [${O}]`);
      head.bias = { shape: [O], data: b.floats() };
    } else {
      const expected = head === null ? 'a Linear head (MatMul then Add, or Gemm) or a graph output' : head.bias === null ? 'the head\'s bias Add or a graph output' : 'a graph output';
      fail(`the top layer's output goes into a ${nodeStr(n)}; expected ${expected} (unsupported op ${n.opType})`);
    }
    name = n.outputs[0];
  }
  if (ax.includes('D') && order(ax) !== 'T,B,F') fail(`the output '${name}' has axes ${axesStr(ax)}; expected the two directions merged into the features`);
  const want = batchFirst ? 'B,T,F' : 'T,B,F';
  if (order(ax) !== want) {
    fail(`the output '${name}' has axes ${axesStr(ax)}; expected ${batchFirst ? '[B, T, features] (the input is batch-first)' : '[T, B, features] (or [T*B, features])'}`);
  }
  if (head === null) return null;
  const O = head.weight.shape[0];
  return { weight: head.weight, bias: head.bias ?? { shape: [O], data: new Float32Array(O) } }; // nn.Linear(bias=False)
}

/** MatMul(y, W^T [H, O]) or Gemm(y, W, C) with y of axes [..., F]: out.weight [O, H] (and Gemm's C as out.bias). */
function readLinear(r: GraphReader, n: OnnxNode, name: string, ax: Axis[], H: number): { weight: Tensor; bias: Tensor | null } {
  if (ax[ax.length - 1] !== 'F') fail(`${nodeStr(n)} multiplies along axis ${ax[ax.length - 1]} of ${axesStr(ax)}, not the features`);
  if (n.inputs[0] !== name) fail(`${nodeStr(n)} has the top layer's output as its second operand; a Linear head multiplies it on the left`);
  const wName = n.inputs[1] ?? '';
  const w = r.constant(wName);
  if (!w) fail(`${nodeStr(n)} multiplies by a computed value '${wName}', not stored weights`);
  if (w.dims.length !== 2) fail(`${nodeStr(n)}: weight '${w.name}' has shape [${w.dims}], expected 2 dims`);
  let transposed = true; // MatMul stores out.weight^T [H, O]
  let bias: Tensor | null = null;
  if (n.opType === 'Gemm') {
    if (ax.length !== 2) fail(`${nodeStr(n)} needs a 2-D input, got axes ${axesStr(ax)}`);
    if (attrInt(n, 'transA', 0) !== 0) fail(`${nodeStr(n)}: transA=1 is not supported`);
    const alpha = n.attrs.get('alpha')?.f ?? 1;
    const beta = n.attrs.get('beta')?.f ?? 1;
    if (alpha !== 1) fail(`${nodeStr(n)}: alpha=${alpha} is not supported (nn.Linear has 1)`);
    transposed = attrInt(n, 'transB', 0) === 0;
    if (n.inputs[2]) {
      const c = r.constant(n.inputs[2]);
      if (!c) fail(`${nodeStr(n)}: C '${n.inputs[2]}' is computed, not a stored bias`);
      if (beta !== 1) fail(`${nodeStr(n)}: beta=${beta} is not supported (nn.Linear has 1)`);
      const O = transposed ? w.dims[1] : w.dims[0];
      if (c.numel !== O || c.dims.slice(0, -1).some((d) => d !== 1)) fail(`${nodeStr(n)}: bias '${c.name}' has shape [${c.dims}], expected [${O}]`);
      bias = { shape: [O], data: c.floats() };
    }
  }
  const [rows, cols] = w.dims;
  if ((transposed ? rows : cols) !== H) {
    fail(`${nodeStr(n)}: weight '${w.name}' has shape [${w.dims}], expected ${transposed ? `[${H}, output_size]` : `[output_size, ${H}]`} for hidden size ${H}`);
  }
  const data = w.floats();
  if (!transposed) return { weight: { shape: [rows, cols], data }, bias };
  const O = cols;
  const out = new Float32Array(O * H);
  for (let h = 0; h < H; h++) for (let o = 0; o < O; o++) out[o * H + h] = data[h * O + o];
  return { weight: { shape: [O, H], data: out }, bias };
}

/**
 * Read an ONNX model of a (stacked, unidirectional) RNN/LSTM/GRU with an optional Linear
 * head, as `torch.onnx.export` writes it, into a model config and a PyTorch state dict.
 * Throws an Error naming the problem for a corrupt file or a graph it cannot represent.
 */
export function readOnnx(bytes: Uint8Array): OnnxImport {
  if (!(bytes instanceof Uint8Array)) fail('expected the file contents as a Uint8Array (e.g. fs.readFileSync(path))');
  if (bytes.length === 0) fail('the file is empty');
  let graph: OnnxGraph;
  try {
    graph = decodeModel(bytes);
  } catch (e) {
    if (e instanceof WireError) fail(`cannot decode the file as an ONNX ModelProto: ${e.message} (truncated, corrupt, or not an ONNX file)`);
    throw e;
  }
  try {
    return importGraph(graph);
  } catch (e) {
    // tensors and attributes are decoded on use, so a corrupt field can surface here too
    if (e instanceof WireError) fail(`cannot decode the file as an ONNX ModelProto: ${e.message} (corrupt file?)`);
    throw e;
  }
}

function importGraph(graph: OnnxGraph): OnnxImport {
  const r = new GraphReader(graph);

  const nodes = graph.nodes.filter((n) => CELL_OF[n.opType] !== undefined && (n.domain === '' || n.domain === 'ai.onnx'));
  if (nodes.length === 0) {
    const ops = [...new Set(graph.nodes.map((n) => n.opType))];
    fail(`no RNN, LSTM or GRU node in the graph (its ops: ${ops.join(', ') || 'none'}); ` +
      'export with torch.onnx.export(..., dynamo=False) so nn.RNN/LSTM/GRU become single ONNX nodes');
  }
  nodes.forEach((n, k) => {
    if (k > 0 && n.opType !== nodes[k - 1].opType) {
      fail(`layer ${k} is ${nodeStr(n)} but layer ${k - 1} is ${nodeStr(nodes[k - 1])}; all layers must be one cell kind`);
    }
  });
  const layers: Layer[] = [];
  let batchFirst = false;
  let embed = null as OnnxTensor | null; // set in the loop below
  nodes.forEach((n, k) => {
    const layer = readLayer(r, n, k);
    if (k > 0) {
      const prev = layers[k - 1];
      if (layer.nonlinearity !== prev.nonlinearity) fail(`layer ${k} uses ${layer.nonlinearity} but layer ${k - 1} uses ${prev.nonlinearity}`);
      if (layer.H !== prev.H) fail(`layer ${k} has hidden size ${layer.H} but layer ${k - 1} has ${prev.H}; stacked layers share one size`);
      if (layer.D !== prev.D) fail(`layer ${k} has ${layer.D} direction(s) but layer ${k - 1} has ${prev.D}; all layers must match`);
      if (layer.inSize !== prev.D * prev.H) fail(`layer ${k}'s W expects ${layer.inSize} inputs but layer ${k - 1} outputs ${prev.D * prev.H}`);
    }
    const inp = checkLayerInput(r, layer, k, layers[k - 1] ?? null);
    if (k === 0) ({ batchFirst, embed } = inp);
    layers.push(layer);
  });
  for (let k = 0; k + 1 < layers.length; k++) {
    const users = r.consumersOf(layers[k].node.outputs[0]);
    if (users.length !== 1) fail(`layer ${k}'s output Y feeds ${users.length} nodes (${users.map(nodeStr).join(', ')}); expected only the path to layer ${k + 1}`);
  }
  const top = layers[layers.length - 1];
  const head = readHead(r, top, layers.length - 1, batchFirst);

  const { cell, H, D } = top;
  const GH = GATES[cell] * H;
  const bias = layers.some((l) => l.B !== null);
  const config: OnnxModelConfig = {
    cell,
    ...(cell === 'rnn' ? { nonlinearity: top.nonlinearity } : {}),
    inputSize: layers[0].inSize,
    hiddenSize: H,
    numLayers: layers.length,
    outputSize: head ? head.weight.shape[0] : null,
    bias,
    ...(D === 2 ? { bidirectional: true } : {}),
    ...(batchFirst ? { batchFirst: true } : {}),
    ...(embed ? { embedding: { numEmbeddings: embed.dims[0], embeddingDim: embed.dims[1] } } : {}),
  };
  // The names, shapes and order are the engine's own (buildLayout: PyTorch's state-dict
  // order), so an import can never name a tensor differently from the model that loads it.
  const layout = buildLayout({ ...config, nonlinearity: config.nonlinearity ?? 'tanh' });
  const dataOf = (t: TensorSpec): Float32Array => {
    const l = layers[t.layer], d = t.dir;
    switch (t.kind) {
      case 'embed_weight': return embed!.floats();
      case 'weight_ih': return reorderGates(l.W, d * GH * l.inSize, cell, H, l.inSize);
      case 'weight_hh': return reorderGates(l.R, d * GH * H, cell, H, H);
      case 'bias_ih': return reorderGates(l.B ?? new Float32Array(D * 2 * GH), d * 2 * GH, cell, H, 1);
      case 'bias_hh': return reorderGates(l.B ?? new Float32Array(D * 2 * GH), d * 2 * GH + GH, cell, H, 1);
      case 'out_weight': return head!.weight.data as Float32Array;
      case 'out_bias': return head!.bias.data as Float32Array;
    }
  };
  const stateDict: Record<string, Tensor> = {};
  for (const t of layout.tensors) {
    const data = dataOf(t);
    // the graph's checks above already fixed every size; a mismatch here is a reader bug, said plainly
    if (data.length !== t.size) fail(`${t.name}: the graph gives ${data.length} values, the model needs ${t.size} (shape [${t.shape.join(', ')}])`);
    stateDict[t.name] = { shape: [...t.shape], data };
  }
  return { config, stateDict };
}
