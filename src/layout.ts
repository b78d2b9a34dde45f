// The layout table: the one place that says where every tensor lives.
//
// Parameters are PyTorch state-dict entries (`rnn.weight_ih_l0`, ..., `out.bias`) in
// PyTorch's own shapes and gate order, packed one after another into one flat float
// region. Gradients, and every optimizer state buffer, use a region with this exact
// layout, so "zero the gradients", "global norm" and "one optimizer step" are each one
// loop over `numParams` floats (llm.c style).

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
