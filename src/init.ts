// Initial weights: PyTorch's default, Xavier/Glorot, orthogonal, identity (IRNN), LSTM
// forget-gate bias. One function for both backends, in plain TypeScript, drawing from the
// seeded Rng, so the same seed gives the same weights on 'wasm' and 'js'.
//
// Every tensor draws from its own stream, seeded from (seed, tensor name): overriding
// the initializer of one tensor kind leaves the others' numbers unchanged.
//
// Recurrent weights are [G*H, in] stacks of G gate blocks (PyTorch's gate order). The
// matrix initializers (xavier, orthogonal, identity) treat each [H, in] gate block as its
// own matrix, because each block is its own linear map: an orthogonal W_hh means an
// orthogonal W_hr, W_hz, W_hn, not one orthogonal [3H, H] stack.

import { BpttError, isFiniteF32, normalizeOptions, show } from './errors.js';
import { Rng, hashSeed } from './rng.js';
import { GATE_NAMES, GATES, type Layout, type ParamKind, type TensorSpec } from './layout.js';

/** How one tensor is filled. Strings are the parameterless forms. */
export type TensorInit =
  | 'pytorch' //    U(-1/sqrt(H), 1/sqrt(H)): PyTorch's default for nn.RNN/LSTM/GRU; the nn.Linear(D*H, O) head U(-1/sqrt(D*H), 1/sqrt(D*H))
  | 'zeros'
  | 'xavier_uniform'
  | 'xavier_normal'
  | 'orthogonal'
  | 'identity'
  | { kind: 'pytorch' }
  | { kind: 'zeros' }
  | { kind: 'constant'; value: number }
  /** U(low, high) */
  | { kind: 'uniform'; low?: number; high?: number }
  | { kind: 'normal'; mean?: number; std?: number }
  /** U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), per gate block */
  | { kind: 'xavier_uniform'; gain?: number }
  /** N(0, std), std = gain * sqrt(2 / (fan_in + fan_out)), per gate block */
  | { kind: 'xavier_normal'; gain?: number }
  /** torch.nn.init.orthogonal_ on each gate block, times gain */
  | { kind: 'orthogonal'; gain?: number }
  /** scale * I on each gate block (torch.nn.init.eye_ for non-square blocks) */
  | { kind: 'identity'; scale?: number };

export type InitPreset = 'pytorch' | 'irnn' | 'xavier' | 'orthogonal';

/**
 * A preset plus per-kind overrides. `bias` sets both bias_ih and bias_hh (the specific
 * keys win). `forgetBias` (LSTM only) is the *total* initial forget-gate bias: it is
 * written into bias_ih's f-block and bias_hh's f-block is set to 0, so that
 * b_if + b_hf = forgetBias (Jozefowicz et al. 2015 recommend 1.0). null = leave the
 * f-blocks to the bias initializers.
 */
export interface InitOptions {
  preset?: InitPreset;
  weightIh?: TensorInit;
  weightHh?: TensorInit;
  bias?: TensorInit;
  biasIh?: TensorInit;
  biasHh?: TensorInit;
  outWeight?: TensorInit;
  outBias?: TensorInit;
  /** `embed.weight` (models with an embedding); default N(0, 1), nn.Embedding's, in every preset */
  embed?: TensorInit;
  forgetBias?: number | null;
}

/**
 * `init` in the model options. Presets:
 * - 'pytorch' (default): every recurrent tensor U(-1/sqrt(H), 1/sqrt(H)), exactly PyTorch's
 *   distribution; the nn.Linear(D*H, O) head's kaiming_uniform(a=sqrt 5) reduces to the bound
 *   1/sqrt(fan_in) = 1/sqrt(D*H) (D = 2 if bidirectional), for its bias too.
 * - 'irnn' (Le, Jaitly & Hinton 2015; use with nonlinearity 'relu'): W_hh = I,
 *   W_ih ~ N(0, 0.001) (std sqrt(0.001)), recurrent biases 0; head as PyTorch.
 * - 'xavier': W_ih and W_hh Xavier-uniform per gate block, recurrent biases 0, LSTM forget
 *   bias 1.0; head as PyTorch.
 * - 'orthogonal': W_ih Xavier-uniform, W_hh orthogonal per gate block, recurrent biases 0,
 *   LSTM forget bias 1.0 (Keras' LSTM defaults); head as PyTorch.
 */
export type InitSpec = InitPreset | InitOptions;

interface Resolved {
  weightIh: TensorInit;
  weightHh: TensorInit;
  biasIh: TensorInit;
  biasHh: TensorInit;
  outWeight: TensorInit;
  outBias: TensorInit;
  embed: TensorInit;
  forgetBias: number | null;
}

/** nn.Embedding.reset_parameters: normal_(weight), N(0, 1) */
const EMBED_INIT: TensorInit = { kind: 'normal', mean: 0, std: 1 };

const PRESETS: Record<InitPreset, Resolved> = {
  pytorch: {
    weightIh: 'pytorch', weightHh: 'pytorch', biasIh: 'pytorch', biasHh: 'pytorch',
    outWeight: 'pytorch', outBias: 'pytorch', embed: EMBED_INIT, forgetBias: null,
  },
  irnn: {
    weightIh: { kind: 'normal', mean: 0, std: Math.sqrt(0.001) }, weightHh: { kind: 'identity', scale: 1 },
    biasIh: 'zeros', biasHh: 'zeros', outWeight: 'pytorch', outBias: 'pytorch', embed: EMBED_INIT, forgetBias: null,
  },
  xavier: {
    weightIh: 'xavier_uniform', weightHh: 'xavier_uniform', biasIh: 'zeros', biasHh: 'zeros',
    outWeight: 'pytorch', outBias: 'pytorch', embed: EMBED_INIT, forgetBias: 1,
  },
  orthogonal: {
    weightIh: 'xavier_uniform', weightHh: 'orthogonal', biasIh: 'zeros', biasHh: 'zeros',
    outWeight: 'pytorch', outBias: 'pytorch', embed: EMBED_INIT, forgetBias: 1,
  },
};

const KIND_KEYS: Record<ParamKind, Exclude<keyof Resolved, 'forgetBias'>> = {
  embed_weight: 'embed',
  weight_ih: 'weightIh', weight_hh: 'weightHh', bias_ih: 'biasIh', bias_hh: 'biasHh',
  out_weight: 'outWeight', out_bias: 'outBias',
};

const TENSOR_INIT_NAMES = ['pytorch', 'zeros', 'constant', 'uniform', 'normal', 'xavier_uniform', 'xavier_normal', 'orthogonal', 'identity'];

/** Validate and resolve an InitSpec against a preset (throws a clear Error on unknown names). */
export function resolveInit(spec: InitSpec | undefined): Resolved {
  if (spec === undefined) return PRESETS.pytorch;
  if (typeof spec === 'string') {
    const p = PRESETS[spec as InitPreset];
    if (!p) throw new BpttError(`init: unknown preset '${spec}' (expected one of ${Object.keys(PRESETS).join(', ')})`);
    return p;
  }
  if (typeof spec !== 'object' || spec === null) throw new BpttError(`init: expected a preset name or an options object, got ${show(spec)}`, 'init');
  const known = ['preset', 'weightIh', 'weightHh', 'bias', 'biasIh', 'biasHh', 'outWeight', 'outBias', 'embed', 'forgetBias'];
  // unknown names are errors; snake_case (weight_hh, forget_bias) are aliases
  spec = normalizeOptions<InitOptions>('init', 'options', spec, known);
  const base = resolveInit(spec.preset ?? 'pytorch');
  const r: Resolved = { ...base };
  if (spec.bias !== undefined) r.biasIh = r.biasHh = spec.bias;
  for (const k of ['weightIh', 'weightHh', 'biasIh', 'biasHh', 'outWeight', 'outBias', 'embed'] as const) {
    if (spec[k] !== undefined) r[k] = spec[k]!;
  }
  if (spec.forgetBias !== undefined) {
    if (spec.forgetBias !== null && !isFiniteF32(spec.forgetBias)) {
      throw new BpttError(`init: forgetBias must be a finite float32 number or null, got ${show(spec.forgetBias)}`, 'init');
    }
    r.forgetBias = spec.forgetBias;
  }
  for (const k of ['weightIh', 'weightHh', 'biasIh', 'biasHh', 'outWeight', 'outBias', 'embed'] as const) checkTensorInit(k, r[k]);
  return r;
}

/** The numeric fields each initializer takes (every one optional except constant's value). */
const INIT_FIELDS: Record<string, string[]> = {
  pytorch: [], zeros: [], constant: ['value'], uniform: ['low', 'high'], normal: ['mean', 'std'],
  xavier_uniform: ['gain'], xavier_normal: ['gain'], orthogonal: ['gain'], identity: ['scale'],
};

function checkTensorInit(key: string, t: TensorInit): void {
  const kind = typeof t === 'string' ? t : t && typeof t === 'object' ? t.kind : undefined;
  if (typeof kind !== 'string' || !TENSOR_INIT_NAMES.includes(kind)) {
    throw new BpttError(`init.${key}: unknown initializer ${show(t)} (expected one of ${TENSOR_INIT_NAMES.join(', ')})`, 'init');
  }
  if (typeof t !== 'object') return;
  const fields = INIT_FIELDS[kind];
  normalizeOptions(`init.${key}`, 'initializer', t, ['kind', ...fields]);
  const o = t as unknown as Record<string, unknown>;
  // float32-finite: the weights are float32, where 1e39 would be Infinity
  for (const f of fields) {
    if ((o[f] !== undefined || kind === 'constant') && !isFiniteF32(o[f])) {
      throw new BpttError(`init.${key}: ${kind} needs a finite float32 '${f}', got ${show(o[f])}`, 'init');
    }
  }
  if (kind === 'normal' && (o.std as number) < 0) throw new BpttError(`init.${key}: normal needs std >= 0, got ${o.std}`, 'init');
  if (kind === 'uniform' && ((o.low as number) ?? 0) > ((o.high as number) ?? 1)) {
    throw new BpttError(`init.${key}: uniform needs low <= high, got low ${show(o.low ?? 0)}, high ${show(o.high ?? 1)}`, 'init');
  }
}

/**
 * Fill the parameter region `view` (exactly layout.numParams floats; the alignment padding
 * between tensors is left at 0) from `spec`, deterministically from `seed`.
 */
export function initParams(layout: Layout, view: Float32Array, spec: InitSpec | undefined, seed: number): void {
  if (view.length !== layout.numParams) {
    throw new BpttError(`initParams: view has ${view.length} floats, the layout needs ${layout.numParams}`);
  }
  if (!Number.isFinite(seed)) throw new BpttError(`initParams: seed must be a finite number, got ${seed}`);
  const r = resolveInit(spec);
  const { cell, hiddenSize: H } = layout.config;
  for (const t of layout.tensors) {
    const rng = new Rng(hashSeed(seed, t.name));
    const dst = view.subarray(t.offset, t.offset + t.size);
    // PyTorch's bound is 1/sqrt(H) for every recurrent tensor (nn.RNNBase, whatever the
    // direction count), but 1/sqrt(fan_in) for the head, and the head of a bidirectional
    // model is nn.Linear(2H, O): its fan_in is D * H, for its bias too.
    const fanIn = t.kind === 'out_weight' || t.kind === 'out_bias' ? layout.D * H : H;
    fillTensor(dst, t, r[KIND_KEYS[t.kind]], H, fanIn, GATES[cell], rng);
    // a finite spec can still draw past float32's range (normal std 1e38, a huge gain)
    const i = dst.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new BpttError(`init: the initializer of '${t.name}' gave ${dst[i]} at index ${i}; weights must be finite float32`, 'init');
  }
  // nn.Embedding(padding_idx=p) zeroes row p at init
  const pad = layout.config.embedding?.paddingIdx;
  if (layout.embed && pad !== undefined) {
    const E = layout.config.embedding!.embeddingDim;
    view.fill(0, layout.embed.offset + pad * E, layout.embed.offset + (pad + 1) * E);
  }
  if (r.forgetBias !== null && cell === 'lstm' && layout.config.bias) {
    const f = GATE_NAMES.lstm.indexOf('f');
    for (const layer of layout.layers) {
      view.fill(r.forgetBias, layer.biasIh!.offset + f * H, layer.biasIh!.offset + (f + 1) * H);
      view.fill(0, layer.biasHh!.offset + f * H, layer.biasHh!.offset + (f + 1) * H);
    }
  }
}

function fillTensor(dst: Float32Array, t: TensorSpec, init: TensorInit, H: number, fanIn: number, G: number, rng: Rng): void {
  const spec = typeof init === 'string' ? ({ kind: init } as Exclude<TensorInit, string>) : init;
  // Gate blocks: recurrent tensors are G stacked [H, in] (or [H]) blocks; the head is one block.
  const isRnn = t.layer >= 0;
  const blocks = isRnn ? G : 1;
  const rows = isRnn ? H : t.shape[0];
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  const is2d = t.shape.length === 2;
  switch (spec.kind) {
    case 'pytorch': {
      if (t.kind === 'embed_weight') { // nn.Embedding's own default: N(0, 1)
        for (let i = 0; i < dst.length; i++) dst[i] = rng.normal(0, 1);
        return;
      }
      // nn.RNNBase.reset_parameters: U(-1/sqrt(H), 1/sqrt(H)) for every tensor. nn.Linear(D*H, O):
      // kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in) = 1/sqrt(D*H); its bias the same.
      const k = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < dst.length; i++) dst[i] = rng.uniform(-k, k);
      return;
    }
    case 'zeros':
      dst.fill(0);
      return;
    case 'constant':
      dst.fill(spec.value);
      return;
    case 'uniform': {
      const lo = spec.low ?? 0, hi = spec.high ?? 1;
      for (let i = 0; i < dst.length; i++) dst[i] = rng.uniform(lo, hi);
      return;
    }
    case 'normal': {
      const mean = spec.mean ?? 0, std = spec.std ?? 1;
      for (let i = 0; i < dst.length; i++) dst[i] = rng.normal(mean, std);
      return;
    }
    case 'xavier_uniform':
    case 'xavier_normal': {
      if (!is2d) throw new BpttError(`init: ${spec.kind} needs a matrix; ${t.name} has shape [${t.shape}]`);
      const gain = spec.gain ?? 1;
      // torch's _calculate_fan_in_and_fan_out on one [rows, cols] block
      const std = gain * Math.sqrt(2 / (rows + cols));
      if (spec.kind === 'xavier_uniform') {
        const a = Math.sqrt(3) * std;
        for (let i = 0; i < dst.length; i++) dst[i] = rng.uniform(-a, a);
      } else {
        for (let i = 0; i < dst.length; i++) dst[i] = rng.normal(0, std);
      }
      return;
    }
    case 'orthogonal': {
      if (!is2d) throw new BpttError(`init: orthogonal needs a matrix; ${t.name} has shape [${t.shape}]`);
      const gain = spec.gain ?? 1;
      for (let b = 0; b < blocks; b++) {
        const q = orthogonal(rows, cols, rng);
        const base = b * rows * cols;
        for (let i = 0; i < rows * cols; i++) dst[base + i] = gain * q[i];
      }
      return;
    }
    case 'identity': {
      if (!is2d) throw new BpttError(`init: identity needs a matrix; ${t.name} has shape [${t.shape}]`);
      const scale = spec.scale ?? 1;
      dst.fill(0);
      for (let b = 0; b < blocks; b++) {
        for (let i = 0; i < Math.min(rows, cols); i++) dst[b * rows * cols + i * cols + i] = scale;
      }
      return;
    }
  }
}

/**
 * A [rows, cols] matrix with orthonormal rows or columns, as torch.nn.init.orthogonal_:
 * QR of a standard-normal matrix (transposed first when rows < cols), with Q's columns
 * sign-corrected so that diag(R) > 0, which makes Q Haar-distributed. Modified
 * Gram-Schmidt, run twice for orthogonality to double precision, yields R with a
 * positive diagonal directly, so no separate sign fix is needed. Row-major result.
 */
export function orthogonal(rows: number, cols: number, rng: Rng): Float64Array {
  const transpose = rows < cols;
  const m = transpose ? cols : rows; // tall: m >= n
  const n = transpose ? rows : cols;
  // A, column-major: column j at a[j*m .. j*m+m]
  const a = new Float64Array(m * n);
  // Draw in row-major order of the (possibly transposed) tall matrix, like torch's flattened.normal_().
  const flat = new Float64Array(rows * cols);
  for (let i = 0; i < flat.length; i++) flat[i] = rng.normal();
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      // tall[i][j] = transpose ? flat^T[i][j] = flat[j][i] : flat[i][j]
      a[j * m + i] = transpose ? flat[j * cols + i] : flat[i * cols + j];
    }
  }
  for (let j = 0; j < n; j++) {
    const qj = a.subarray(j * m, (j + 1) * m);
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        const qk = a.subarray(k * m, (k + 1) * m);
        let d = 0;
        for (let i = 0; i < m; i++) d += qk[i] * qj[i];
        for (let i = 0; i < m; i++) qj[i] -= d * qk[i];
      }
    }
    let nrm = 0;
    for (let i = 0; i < m; i++) nrm += qj[i] * qj[i];
    nrm = Math.sqrt(nrm);
    if (nrm === 0) throw new BpttError('orthogonal: degenerate random matrix'); // probability 0
    for (let i = 0; i < m; i++) qj[i] /= nrm;
  }
  // Back to row-major [rows, cols]; transpose back if needed.
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // tall Q is [m, n]; result = transpose ? Q^T : Q
      out[r * cols + c] = transpose ? a[r * m + c] : a[c * m + r];
    }
  }
  return out;
}
