// The layout table: the one place that says where every tensor lives.
//
// Parameters are PyTorch state-dict entries (`rnn.weight_ih_l0`, ..., `out.bias`) in
// PyTorch's own shapes and gate order, packed one after another into one flat float
// region. Gradients, and every optimizer state buffer, use a region with this exact
// layout, so "zero the gradients", "global norm" and "one optimizer step" are each one
// loop over `numParams` floats (llm.c style).

import { alignedFloats } from './arena.js';

export type CellKind = 'rnn' | 'lstm' | 'gru';
export type Nonlinearity = 'tanh' | 'relu';

/** A fully resolved model configuration (defaults applied, validated). */
export interface ModelConfig {
  cell: CellKind;
  /** only meaningful for cell 'rnn'; 'tanh' otherwise */
  nonlinearity: Nonlinearity;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  /** size of the Linear head `out`; null = no head, the output is the top layer's h_t */
  outputSize: number | null;
  bias: boolean;
  /** false: the Linear head has no bias (nn.Linear(D * H, O, bias=False); no `out.bias`); default true */
  headBias?: boolean;
  /** PyTorch's bidirectional: each layer runs a second, reverse-time cell (`*_reverse` names) */
  bidirectional?: boolean;
  /** PyTorch's inter-layer dropout probability (on every layer's output but the top one's, in training) */
  dropout?: number;
  /**
   * PyTorch's nn.Embedding before layer 0 (`embed.weight` [numEmbeddings, embeddingDim]): x is
   * then integer token ids and inputSize equals embeddingDim. paddingIdx: that row starts at 0
   * and gets no gradient, as nn.Embedding(padding_idx=...).
   */
  embedding?: EmbeddingConfig;
}

export interface EmbeddingConfig {
  numEmbeddings: number;
  embeddingDim: number;
  paddingIdx?: number;
}

/** Gate blocks per cell, in PyTorch's order: RNN [h], LSTM [i,f,g,o], GRU [r,z,n]. */
export const GATES: Record<CellKind, number> = { rnn: 1, lstm: 4, gru: 3 };
export const GATE_NAMES: Record<CellKind, readonly string[]> = {
  rnn: ['h'],
  lstm: ['i', 'f', 'g', 'o'],
  gru: ['r', 'z', 'n'],
};

export type ParamKind = 'embed_weight' | 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh' | 'out_weight' | 'out_bias';

export interface TensorSpec {
  /** PyTorch state-dict name */
  name: string;
  kind: ParamKind;
  /** layer index for rnn.* tensors, -1 for the head and the embedding */
  layer: number;
  /** direction for rnn.* tensors (0 forward, 1 reverse), 0 for the head */
  dir: number;
  shape: number[];
  /** number of floats */
  size: number;
  /** float offset from the start of the parameter region (16-byte aligned) */
  offset: number;
}

/** One cell: layer `layer`, direction `dir`; `layers[layer * D + dir]`, the row of h0/hN it owns. */
export interface LayerSpec {
  layer: number;
  dir: number;
  /** input features of this layer: inputSize for layer 0, D * hiddenSize above */
  inSize: number;
  weightIh: TensorSpec;
  weightHh: TensorSpec;
  biasIh: TensorSpec | null;
  biasHh: TensorSpec | null;
}

export interface Layout {
  config: ModelConfig;
  tensors: TensorSpec[];
  byName: Map<string, TensorSpec>;
  /** one entry per (layer, direction), in h0/hN row order: l * D + d */
  layers: LayerSpec[];
  /** directions per layer: 2 if bidirectional, else 1 */
  D: number;
  outWeight: TensorSpec | null;
  outBias: TensorSpec | null;
  /** `embed.weight` [numEmbeddings, embeddingDim] when the model has an embedding, else null */
  embed: TensorSpec | null;
  /** floats in the region, including alignment padding (padding stays 0 in every region) */
  numParams: number;
  /** width of the model's output: outputSize, or D * hiddenSize without a head */
  outputWidth: number;
}

/** Round up to a multiple of 4 floats so every tensor starts on a 16-byte (f32x4) boundary. */
export const align4 = (n: number): number => Math.ceil(n / 4) * 4; // not `&`: sizes may pass 2^31

export function buildLayout(config: ModelConfig): Layout {
  const { cell, inputSize: I, hiddenSize: H, numLayers: L, outputSize: O, bias } = config;
  const G = GATES[cell];
  const D = config.bidirectional ? 2 : 1;
  const tensors: TensorSpec[] = [];
  let offset = 0;
  const add = (name: string, kind: ParamKind, layer: number, shape: number[], dir = 0): TensorSpec => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t: TensorSpec = { name, kind, layer, dir, shape, size, offset };
    offset += align4(size);
    tensors.push(t);
    return t;
  };
  // PyTorch's state-dict order follows module definition: embed, rnn, out.
  const emb = config.embedding;
  const embed = emb ? add('embed.weight', 'embed_weight', -1, [emb.numEmbeddings, emb.embeddingDim]) : null;
  const layers: LayerSpec[] = [];
  for (let l = 0; l < L; l++) {
    const inSize = l === 0 ? I : D * H;
    // PyTorch's state-dict order: weight_ih, weight_hh, bias_ih, bias_hh per layer and
    // direction, the reverse direction's with the suffix `_reverse`.
    for (let d = 0; d < D; d++) {
      const sfx = `l${l}${d === 1 ? '_reverse' : ''}`;
      const weightIh = add(`rnn.weight_ih_${sfx}`, 'weight_ih', l, [G * H, inSize], d);
      const weightHh = add(`rnn.weight_hh_${sfx}`, 'weight_hh', l, [G * H, H], d);
      const biasIh = bias ? add(`rnn.bias_ih_${sfx}`, 'bias_ih', l, [G * H], d) : null;
      const biasHh = bias ? add(`rnn.bias_hh_${sfx}`, 'bias_hh', l, [G * H], d) : null;
      layers.push({ layer: l, dir: d, inSize, weightIh, weightHh, biasIh, biasHh });
    }
  }
  // The Linear head has a bias, as nn.Linear(D * H, O) in the reference model, unless headBias is false.
  const outWeight = O !== null ? add('out.weight', 'out_weight', -1, [O, D * H]) : null;
  const outBias = O !== null && config.headBias !== false ? add('out.bias', 'out_bias', -1, [O]) : null;
  return {
    config,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    layers,
    D,
    outWeight,
    outBias,
    embed,
    numParams: offset,
    outputWidth: O ?? D * H,
  };
}

// ---------------------------------------------------------------------------------------
// The workspace table: where every working buffer of one call lives, as buildLayout says
// where every parameter lives (llm.c's act_sizes beside its param_sizes). One call of shape
// (T, B) lays out, in this order: the model's I/O buffers, then the sweep's own buffers
// (the Wasm schedule's per (layer, direction) cells and shared rows, or the JS loops'
// cells and layer outputs). Offsets count floats from the workspace's start, each buffer
// on a 64-byte boundary (alignedFloats); a pure function of its arguments, so a worker
// thread recomputes its part's pointers from (config, base, T, B, train, dropout) alone.

/** One buffer: `offset` floats from the workspace's start, `floats` long; floats 0 = not laid out in this call. */
export interface Region {
  readonly offset: number;
  readonly floats: number;
}

const NONE: Region = { offset: 0, floats: 0 };

/** The model's I/O buffers of one call (see IOBuffers in backend/types.ts for each one's shape). */
export const IO_BUFFERS = ['x', 'ids', 'lengths', 'h0', 'c0', 'y', 'target', 'dy', 'dx', 'dh0', 'dc0', 'hN', 'cN', 'norms',
  'mask', 'maskOn', 'yLast', 'dyLast', 'ceWeight', 'rowLoss'] as const;
export type IOBufferName = (typeof IO_BUFFERS)[number];

/** The Wasm schedule's buffers of one (layer, direction) cell (shapes: wasmRegions below). */
export type WasmCellName = 'WhhF' | 'WhhB' | 'mp' | 'hd' | 'gx' | 'hs' | 'hp' | 'cs' | 'cp' | 'gates' | 'hn' | 'dgh' | 'dhIn' | 'hLast' | 'cLast';
/** The Wasm schedule's buffers shared by all cells (shapes: wasmRegions below). */
export type WasmSharedName = 'xP' | 'xHot' | 'yP' | 'dyP' | 'dxP' | 'gh' | 'dhA' | 'dhB' | 'dc';
/** The JS loops' buffers of one cell, and of one layer (shapes: jsRegions below). */
export type JsCellName = 'hs' | 'cs' | 'gates' | 'hn';
export type JsLayerName = 'out' | 'dOut' | 'drop';

export interface WasmWork {
  /** one per (layer, direction), layout.layers' order */
  cells: Record<WasmCellName, Region>[];
  shared: Record<WasmSharedName, Region>;
  /** a forward's steps per time chunk (0 = all T in one) */
  chunk: number;
}

export interface JsWork {
  cells: Record<JsCellName, Region>[];
  /** one per layer */
  layers: Record<JsLayerName, Region>[];
}

export interface Workspace {
  T: number;
  B: number;
  /** laid out for forward and backward (else a forward only: no gradient buffers) */
  train: boolean;
  /** laid out with the target and the loss kernels' buffers (training, or model.loss) */
  loss: boolean;
  /** the call applies a dropout mask (asked for, and the model has dropout between layers) */
  dropout: boolean;
  io: Record<IOBufferName, Region>;
  /** floats of the I/O buffers: the sweep's own buffers start here */
  ioFloats: number;
  /** the sweep's buffers: Wasm, JS, or none (a table of the model's I/O buffers only) */
  wasm: WasmWork | null;
  js: JsWork | null;
  /** floats of the whole table */
  floats: number;
}

/**
 * Rows (steps x sequences) per time chunk of a Wasm forward-only call: enough for the
 * input projection's GEMM to run near full speed, small enough that a chunk's activations
 * stay in cache-sized megabytes (GRU, hidden 32: 2048 rows are 1 MB of gx + hs).
 */
export const CHUNK_ROWS = 2048;

/** Columns of a packed GEMM panel: NR in assembly/gemm.ts (kernels.test.ts checks packedBFloats against the kernel). */
const PANEL_COLS = 8;

/** Floats the kernels' pack_b needs for B[K, N]: every column block padded to whole panels (packed_b_floats). */
export function packedBFloats(K: number, N: number): number {
  return K * Math.ceil(N / PANEL_COLS) * PANEL_COLS;
}

/** Rows of a group packed for row dots: DOT_ROWS in assembly/gemm.ts (checked like PANEL_COLS). */
const DOT_ROWS = 6;

/** Floats the kernels' pack_dot needs for W[N, K]: whole groups of DOT_ROWS rows, k padded to vectors (dot_packed_floats). */
export function dotPackedFloats(N: number, K: number): number {
  return Math.floor(N / DOT_ROWS) * DOT_ROWS * Math.ceil(K / 4) * 4;
}

/**
 * The workspace table of one call of shape (T, B). train false (a forward only) lays out no
 * gradient buffers (dx, dh0, dc0, norms); `loss` (default: train) lays out the target and the
 * loss kernels' buffers (target, dy, yLast, dyLast, ceWeight, rowLoss), so model.loss runs
 * the loss after a forward-only sweep; `dropout` asks for the call's dropout mask (it applies
 * only to a model with dropout between layers). `sweep` says whose buffers follow the I/O
 * buffers; null gives the I/O buffers alone (the model's part, whatever the sweep).
 */
export function buildWorkspace(layout: Layout, T: number, B: number, train: boolean, dropout: boolean,
  sweep: 'wasm' | 'js' | null, loss = train): Workspace {
  // Steady training asks for the same few tables every step (the model's, the sweep's, each
  // thread part's): a pure function may hand back the one it built (tables are read-only).
  let cache = tables.get(layout);
  if (!cache) tables.set(layout, (cache = new Map()));
  // a number, not a string, for the usual sizes: this runs several times per call (a
  // streaming step is ~30 us); exact while T < 2^24 and B < 2^24
  const flags = (sweep === null ? 0 : sweep === 'wasm' ? 1 : 2) * 8 + +train * 4 + +dropout * 2 + +loss;
  const key = T < 2 ** 24 && B < 2 ** 24 ? (T * 2 ** 24 + B) * 32 + flags : `${T},${B},${flags}`;
  let ws = cache.get(key);
  if (!ws) {
    if (cache.size >= 16) cache.clear();
    ws = tableOf(layout, T, B, train, dropout, sweep, loss);
    cache.set(key, ws);
  }
  return ws;
}

/** The tables built per layout, by their arguments. */
const tables = new WeakMap<Layout, Map<number | string, Workspace>>();

function tableOf(layout: Layout, T: number, B: number, train: boolean, dropout: boolean, sweep: 'wasm' | 'js' | null,
  loss: boolean): Workspace {
  const { config } = layout;
  const drop = dropout && (config.dropout ?? 0) > 0 && config.numLayers > 1;
  let at = 0;
  /** n floats at the next aligned offset, or nothing when `when` is false */
  const take = (n: number, when = true): Region => {
    if (!when) return NONE;
    const r = { offset: at, floats: n };
    at += alignedFloats(n);
    return r;
  };
  const io = ioRegions(take, layout, T, B, train, drop, loss);
  const ioFloats = at;
  const wasm = sweep === 'wasm' ? wasmRegions(take, layout, T, B, train, drop) : null;
  const js = sweep === 'js' ? jsRegions(take, layout, T, B, train, drop) : null;
  return { T, B, train, loss, dropout: drop, io, ioFloats, wasm, js, floats: at };
}

type TakeRegion = (n: number, when?: boolean) => Region;

function ioRegions(take: TakeRegion, layout: Layout, T: number, B: number, train: boolean, drop: boolean,
  loss: boolean): Record<IOBufferName, Region> {
  const { inputSize: I, hiddenSize: H, cell } = layout.config;
  const L = layout.layers.length; // layers times directions
  const O = layout.outputWidth;
  const lstm = cell === 'lstm';
  // in this order (the offsets follow it); `train` buffers are backward's, `loss` buffers the loss kernels'
  return {
    x: take(T * B * I),
    ids: take(T * B, layout.embed !== null),
    lengths: take(B),
    h0: take(L * B * H),
    c0: take(L * B * H, lstm),
    y: take(T * B * O),
    target: take(T * B * O, loss),
    dy: take(T * B * O, loss),
    dx: take(T * B * I, train),
    dh0: take(L * B * H, train),
    dc0: take(L * B * H, train && lstm),
    hN: take(L * B * H),
    cN: take(L * B * H, lstm),
    norms: take(L * T, train),
    mask: take((layout.config.numLayers - 1) * T * B * layout.D * H, drop),
    maskOn: take(1),
    yLast: take(B * O, loss),
    dyLast: take(B * O, loss),
    ceWeight: take(O, loss),
    rowLoss: take(T * B, loss),
  };
}

/**
 * The Wasm schedule's buffers. A forward only (train false): no gradient buffers, and the
 * per-step buffers (h_{t-1}, c_{t-1}, gates, GRU's hn) hold one step instead of all N rows,
 * since nothing reads them later. A one-direction model without dropout then also runs in
 * time chunks of about CHUNK_ROWS rows: per layer only one chunk of input projections,
 * h_t and c_t. A bidirectional layer's reverse direction needs the whole layer below, so
 * those keep h_t and c_t of every step.
 */
function wasmRegions(take: TakeRegion, layout: Layout, T: number, B: number, train: boolean, drop: boolean): WasmWork {
  const { hiddenSize: H, inputSize: I, cell } = layout.config;
  const GH = GATES[cell] * H;
  const O = layout.outputWidth;
  const N = T * B;
  const S = train ? N : B; // rows of the per-step buffers
  const lstm = cell === 'lstm', gru = cell === 'gru';
  const chunk = !train && !drop && layout.D === 1 ? Math.max(1, Math.min(T, Math.floor(CHUNK_ROWS / B))) : 0;
  const R = chunk ? chunk * B : N; // rows of gx, hs, cs
  const cells = layout.layers.map((spec) => {
    const masked = drop && spec.layer < layout.config.numLayers - 1;
    // rows are packed (backend/wasm.ts): N = valid steps x sequences, at most T * B
    return {
      // W_hh packed for forward's h_{t-1} W_hh^T: as GEMM panels (W_hh^T [H, G*H]), or with
      // fewer than 4 rows per step as row groups for gemm_nt_dot (Schedule in backend/wasm.ts)
      WhhF: take(Math.max(packedBFloats(H, GH), dotPackedFloats(GH, H))),
      WhhB: take(packedBFloats(GH, H), train), // W_hh [G*H, H] packed for backward's dG_t W_hh
      mp: take(N * H, masked), //                [N, H]   dropout mask on h_t, packed (layers below the top)
      hd: take(N * H, masked), //                [N, H]   h_t * mask: the next layer's input in training
      gx: take(R * GH), //                       [R, G*H] input projections incl. b_ih; backward: dGx
      hs: take(R * H), //                        [R, H]   h_t
      hp: take(S * H), //                        [S, H]   h_{t-1} as step t read it (h0 rows at each sequence's first step)
      cs: take(R * H, lstm), //                  [R, H]   LSTM c_t
      cp: take(S * H, lstm), //                  [S, H]   LSTM c_{t-1}
      gates: take(S * GH), //                    [S, G*H] activated gates
      hn: take(S * H, gru), //                   [S, H]   GRU W_hn h_{t-1} + b_hn
      dgh: take(N * GH, train && gru), //        [N, G*H] GRU: gradient of the recurrent pre-activations
      dhIn: take(N * H, train), //               [N, H]   dLoss/dh_t from above (head or next layer)
      hLast: take(B * H, chunk > 0), //          [B, H]   time chunks: h_t of the previous chunk's last step
      cLast: take(B * H, chunk > 0 && lstm), //  [B, H]   LSTM: c_t of that step
    };
  });
  const shared = {
    xP: take(N * I), //             [N, I]   x in packed row order
    xHot: take(N, !layout.config.embedding), // [N] int32: each row's one-hot index (-1: all zeros), when every row is one (Schedule.hot)
    yP: take(N * O), //             [N, O]   head output, packed
    dyP: take(N * O, train), //     [N, O]
    dxP: take(N * I, train), //     [N, I]
    gh: take(B * GH), //            [B, G*H] recurrent projection of one step
    dhA: take(B * H, train), //     [B, H]   dh / dhnext ping-pong
    dhB: take(B * H, train),
    dc: take(B * H, train), //      [B, H]   LSTM dc_next
  };
  return { cells, shared, chunk };
}

/** The JS loops' buffers: a forward only needs no dOut, and its gates (GRU: hn) hold one step. */
function jsRegions(take: TakeRegion, layout: Layout, T: number, B: number, train: boolean, drop: boolean): JsWork {
  const { hiddenSize: H, numLayers: L, cell } = layout.config;
  const GH = GATES[cell] * H;
  const DH = layout.D * H;
  const N = T * B;
  const S = train ? N : B; // rows of the per-step buffers
  const cells = layout.layers.map(() => ({
    hs: take(N * H), //                    [T, B, H]   h_t at slot t (0 at padded steps)
    cs: take(N * H, cell === 'lstm'), //   [T, B, H]   LSTM cell states, same slots
    gates: take(S * GH), //                [S, G*H]    activated gates (LSTM i,f,g,o; GRU r,z,n)
    hn: take(S * H, cell === 'gru'), //    [S, H]      GRU: W_hn h_{t-1} + b_hn
  }));
  const layers: Record<JsLayerName, Region>[] = [];
  for (let l = 0; l < L; l++) {
    layers.push({
      out: take(N * DH), //                        [T, B, D*H] the layer's output: concat(h_fwd[t], h_rev[t]), 0 at padded steps
      dOut: take(N * DH, train), //                [T, B, D*H] dLoss/d(out) arriving from above
      drop: take(N * DH, drop && l < L - 1), //    [T, B, D*H] out * dropout mask: the next layer's input in training
    });
  }
  return { cells, layers };
}

/** Float offsets of a table's regions in a workspace starting at float `base` (0 for a region not laid out). */
export function regionsAt<K extends string>(regions: Record<K, Region>, base: number): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k in regions) out[k] = regions[k].floats ? base + regions[k].offset : 0;
  return out;
}
