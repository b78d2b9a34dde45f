// A model's input x, checked one way for every entry point (forward, lossAndGrad, predict,
// step, sample, trainStep, trainTruncated, evaluate, fit): feature vectors [T, B, inputSize]
// for a model without an embedding, integer token ids [T, B] for a model with one
// (batchFirst: [B, T, inputSize] / [B, T]). Giving one kind to a model of the other kind is
// an error that says which was expected; an id outside [0, numEmbeddings) is an error that
// names the argument, the position and numEmbeddings.

import { checkFinite, checkTensor, fail, shapeStr, show } from './errors.js';
import type { EmbeddingConfig } from './layout.js';

/** What decides the layout of x: the model's inputSize and embedding, and batchFirst. */
export interface InputOwner {
  readonly config: { readonly inputSize: number; readonly embedding?: EmbeddingConfig };
  readonly batchFirst: boolean;
}

export interface CheckedInput {
  /** steps and sequences (the caller's B, or a dataset's N) */
  T: number;
  B: number;
  lengths: Int32Array | null;
  data: ArrayLike<number>;
}

/** The layout x must have, in words: `[T, B] token ids (time-major)`, `[B, T, 8] (batchFirst)`, ... */
export function expectedInput(m: InputOwner, seq = 'B'): string {
  const bf = m.batchFirst;
  const axes = bf ? `${seq}, T` : `T, ${seq}`;
  const layout = bf ? 'batchFirst' : 'time-major';
  return m.config.embedding ? `[${axes}] token ids (${layout})` : `[${axes}, ${m.config.inputSize}] (${layout})`;
}

/** Why an x of the other kind does not fit this model (appended to a shape error). */
function kindHint(m: InputOwner, rank: number): string {
  if (m.config.embedding && rank === 3) {
    return ' (this model has an embedding: x holds integer ids, not one-hot or feature vectors)';
  }
  if (!m.config.embedding && rank === 2) {
    return ' (this model has no embedding: x holds feature vectors; token ids need createModel({ embedding: { numEmbeddings, embeddingDim } }))';
  }
  return '';
}

/**
 * Check x for this model: a tensor of the model's kind and layout, positive T and B,
 * `lengths` (B integers in 1..T) if given, then finite float32 values, or token ids at
 * every valid step. `name` is the argument as the caller knows it ('x', 'fit: x', ...);
 * `seq` the letter of the sequence axis in messages (B for a batch, N for a dataset).
 */
export function checkInput(name: string, x: unknown, m: InputOwner, lengths?: unknown, seq = 'B'): CheckedInput {
  const want = expectedInput(m, seq);
  const emb = m.config.embedding;
  const I = m.config.inputSize;
  const bf = m.batchFirst;
  if (x === null || typeof x !== 'object' || !Array.isArray((x as { shape?: unknown }).shape)) {
    fail(`${name} must be a tensor { shape: ${want}, data }, got ${x === null ? 'null' : typeof x}`);
  }
  const shape = (x as { shape: number[] }).shape;
  if (shape.length !== (emb ? 2 : 3)) fail(`${name} has shape ${shapeStr(shape)}, expected ${want}${kindHint(m, shape.length)}`);
  const [T, B] = bf ? [shape[1], shape[0]] : shape;
  if (!Number.isInteger(T) || T < 1) fail(`${name} has shape ${shapeStr(shape)}: T (sequence length) must be an integer >= 1, got ${show(T)}`);
  if (!Number.isInteger(B) || B < 1) fail(`${name} has shape ${shapeStr(shape)}: ${seq} (${seq === 'B' ? 'batch size' : 'sequences'}) must be an integer >= 1, got ${show(B)}`);
  // the caller's prefix ('fit: ' of 'fit: x') goes on the lengths messages too
  const len = lengths == null ? null : checkLengths(lengths, T, B, name.slice(0, name.length - name.replace(/^.*: /, '').length));
  const axes = bf ? `${seq}, T` : `T, ${seq}`;
  const data = emb ? checkTensor(name, x, bf ? [B, T] : [T, B], `${axes} token ids${bf ? '; batchFirst' : ''}`)
    : checkTensor(name, x, bf ? [B, T, I] : [T, B, I], `${axes}, inputSize${bf ? '; batchFirst' : ''}`);
  if (!emb) checkFinite(name, data);
  if (emb) checkTokenIds(name, data, T, B, bf, len, emb.numEmbeddings);
  return { T, B, lengths: len, data };
}

/**
 * Token ids [T, B] ([B, T] batchFirst) at every valid step: integers in [0, numEmbeddings).
 * Padded steps (t >= lengths[b]) are never read, so whatever they hold (a pad id, -1) is fine.
 */
export function checkTokenIds(name: string, data: ArrayLike<number>, T: number, B: number, bf: boolean,
  lengths: Int32Array | null, numEmbeddings: number): void {
  for (let b = 0; b < B; b++) {
    const n = lengths ? lengths[b] : T;
    for (let t = 0; t < n; t++) {
      const i = bf ? b * T + t : t * B + b;
      checkTokenId(data[i], numEmbeddings, () => `${name}.data[${i}] = ${show(data[i])} (step ${t} of sequence ${b})`);
    }
  }
}

/** One token id: an integer in [0, numEmbeddings); `what` says where it was (only built for the error). */
export function checkTokenId(v: unknown, numEmbeddings: number, what: () => string): void {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < numEmbeddings) return;
  fail(`${what()} is not a token id: expected an integer in [0, ${numEmbeddings - 1}] (embedding.numEmbeddings ${numEmbeddings})`);
}

/**
 * Check a batch's `lengths`: B integers with 1 <= lengths[b] <= T, any order (PyTorch's
 * pack_padded_sequence with enforce_sorted=False). Returns a copy. `where` prefixes the messages.
 */
export function checkLengths(lengths: unknown, T: number, B: number, where = ''): Int32Array {
  if (lengths === null || typeof lengths !== 'object' || typeof (lengths as ArrayLike<number>).length !== 'number') {
    fail(`${where}lengths must be an Int32Array or number[] of B = ${B} sequence lengths in [1, ${T}], got ${lengths === null ? 'null' : typeof lengths}`);
  }
  const a = lengths as ArrayLike<number>;
  if (a.length !== B) fail(`${where}lengths has ${a.length} values, expected B = ${B} (one per sequence)`);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const v = a[b];
    if (!Number.isInteger(v) || v < 1 || v > T) {
      fail(`${where}lengths[${b}] = ${String(v)}, expected an integer in [1, ${T}] (T = ${T}, the length of x)`);
    }
    out[b] = v;
  }
  return out;
}
