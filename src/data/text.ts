// Character-level text data: a vocabulary and batches for truncated BPTT, as one-hot
// vectors or as the ids a model with an embedding takes (the Moby-Dick text is in
// moby-dick.ts: it needs Node).

import type { IntTensor, Tensor } from '../model.js';
import { checkOneOf, checkPositiveInt, fail, normalizeOptions } from '../errors.js';

/** The characters of a text, sorted by code point; ids are indices into `chars`. */
export class CharVocab {
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    if (!Array.isArray(chars) || chars.length === 0) fail('CharVocab: needs a non-empty list of characters');
    const index = new Map<string, number>();
    chars.forEach((c, i) => {
      if (typeof c !== 'string' || [...c].length !== 1) fail(`CharVocab: entry ${i} (${JSON.stringify(c)}) is not one character`);
      if (index.has(c)) fail(`CharVocab: character ${JSON.stringify(c)} appears twice`);
      index.set(c, i);
    });
    this.chars = [...chars];
    this.index = index;
  }

  /** Every distinct character (code point) of `text`, sorted by code point. */
  static fromText(text: string): CharVocab {
    if (typeof text !== 'string' || text.length === 0) fail('CharVocab.fromText: the text is empty');
    const set = new Set<string>(text); // iterates code points, not UTF-16 units
    return new CharVocab([...set].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  }

  get size(): number {
    return this.chars.length;
  }

  has(c: string): boolean {
    return this.index.has(c);
  }

  id(c: string): number {
    const i = this.index.get(c);
    if (i === undefined) fail(`character ${JSON.stringify(c)} is not in the vocabulary (${this.size} characters)`);
    return i;
  }

  /** Text to ids. `unknown: 'error'` (default) throws on a character outside the vocabulary; 'skip' drops it. */
  encode(text: string, opts: { unknown?: 'error' | 'skip' } = {}): Int32Array {
    const out: number[] = [];
    for (const c of text) {
      const i = this.index.get(c);
      if (i !== undefined) out.push(i);
      else if (opts.unknown !== 'skip') this.id(c);
    }
    return Int32Array.from(out);
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let k = 0; k < ids.length; k++) {
      const c = this.chars[ids[k]];
      if (c === undefined) fail(`decode: id ${ids[k]} is outside the vocabulary [0, ${this.size - 1}]`);
      s += c;
    }
    return s;
  }

  /** For checkpoint metadata: the characters as one JSON string. */
  toJSON(): string {
    return JSON.stringify(this.chars);
  }

  static fromJSON(json: string): CharVocab {
    let chars: unknown;
    try {
      chars = JSON.parse(json);
    } catch {
      fail('CharVocab.fromJSON: not valid JSON');
    }
    if (!Array.isArray(chars)) fail('CharVocab.fromJSON: expected a JSON array of characters');
    return new CharVocab(chars as string[]);
  }
}

/** One-hot rows: [ids.length, V]. */
export function oneHot(ids: ArrayLike<number>, V: number, out: Float32Array = new Float32Array(ids.length * V)): Float32Array {
  out.fill(0);
  for (let k = 0; k < ids.length; k++) {
    const i = ids[k];
    if (!(Number.isInteger(i) && i >= 0 && i < V)) fail(`oneHot: id ${i} at ${k} is outside [0, ${V - 1}]`);
    out[k * V + i] = 1;
  }
  return out;
}

export interface CharBatch {
  /** [T, B, V] one-hot inputs, or with `{ inputs: 'ids' }` [T, B] character ids (for a model with an embedding) */
  x: Tensor | IntTensor;
  /** [T, B] next-character ids */
  target: IntTensor;
  /** true when the streams start over (first chunk, or wrapped around): reset the carried state */
  reset: boolean;
}

export interface CharStreamOptions {
  /** 'one-hot' (default): x is [T, B, V] one-hot rows; 'ids': x is [T, B] ids, the input of a model with an embedding */
  inputs?: 'one-hot' | 'ids';
}

/**
 * Truncated-BPTT batches over one long text (the usual language-model layout): the ids
 * are cut into B contiguous streams, and each batch is the next T characters of every
 * stream, so the hidden state at the end of one chunk is the right initial state for the
 * next. The target of x[t] is the character after it. At the end the streams start over
 * (`reset` is true then).
 */
export class CharStream {
  readonly ids: Int32Array;
  readonly V: number;
  readonly T: number;
  readonly B: number;
  /** what x holds: one-hot rows or ids */
  readonly inputs: 'one-hot' | 'ids';
  /** characters per stream (each stream's inputs are ids[b*len .. b*len + len - 1]) */
  readonly streamLength: number;
  private pos = 0;
  private started = false;
  /** chunks handed out so far */
  chunks = 0;
  /** [T, B, V] one-hot or [T, B] ids */
  private readonly x: Float32Array | Int32Array;
  private readonly y: Int32Array;

  constructor(ids: Int32Array, V: number, T: number, B: number, opts: CharStreamOptions = {}) {
    checkPositiveInt('V', V);
    checkPositiveInt('seqLength', T);
    checkPositiveInt('batchSize', B);
    const o = normalizeOptions<CharStreamOptions>('CharStream', 'options', opts, ['inputs']);
    this.inputs = checkOneOf('CharStream: inputs', o.inputs ?? 'one-hot', ['one-hot', 'ids'] as const);
    const len = Math.floor((ids.length - 1) / B);
    if (len < T) {
      fail(`the text has ${ids.length} characters: too short for batchSize ${B} x seqLength ${T} ` +
        `(needs at least ${B * T + 1}); use a smaller batch or sequence length`);
    }
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < V)) fail(`CharStream: ids[${i}] = ${ids[i]} is outside the vocabulary [0, ${V - 1}]`);
    }
    this.ids = ids;
    this.V = V;
    this.T = T;
    this.B = B;
    this.streamLength = len;
    this.x = this.inputs === 'ids' ? new Int32Array(T * B) : new Float32Array(T * B * V);
    this.y = new Int32Array(T * B);
  }

  /** The next [T, B] chunk. The returned buffers are reused by the next call. */
  next(): CharBatch {
    const { T, B, V, ids, streamLength: len } = this;
    let reset = !this.started;
    if (this.pos + T > len) {
      this.pos = 0;
      reset = true;
    }
    this.started = true;
    const x = this.x, y = this.y;
    const oneHot = this.inputs === 'one-hot';
    if (oneHot) x.fill(0);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const at = b * len + this.pos + t;
        if (oneHot) x[(t * B + b) * V + ids[at]] = 1;
        else x[t * B + b] = ids[at];
        y[t * B + b] = ids[at + 1];
      }
    }
    this.pos += T;
    this.chunks++;
    const xt = oneHot ? { shape: [T, B, V], data: x as Float32Array } : { shape: [T, B], data: x as Int32Array };
    return { x: xt, target: { shape: [T, B], data: y }, reset };
  }
}
