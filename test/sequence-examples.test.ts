// The README's real-data sequence examples run as written: names classified by gender
// (examples/names.mjs: variable lengths, a bidirectional GRU, fit with bucketing) beat the
// majority baseline, and the bidirectional tagger block learns a tag that depends on the
// future, which a forward-only GRU cannot.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const entry = pathToFileURL(join(root, 'dist/src/index.js')).href;

describe('README sequence examples', () => {
  it('names by gender: the bidirectional GRU beats the majority baseline by 20 points', () => {
    const file = join(root, 'examples/names.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'bptt-names-'));
    const copy = join(dir, 'names.mjs');
    // the built package (not whatever 'bptt-wasm' resolves to), and the data beside the original
    writeFileSync(copy, readFileSync(file, 'utf8').replaceAll("from 'bptt-wasm'", `from '${entry}'`)
      .replace("new URL('./names/names.json', import.meta.url)", JSON.stringify(join(root, 'examples/names/names.json'))));
    const out = execFileSync(process.execPath, [copy], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    const m = out.match(/validation accuracy: bidirectional GRU ([\d.]+)%, majority baseline \(always female\) ([\d.]+)%/);
    expect(m, out).not.toBeNull();
    const [acc, baseline] = [Number(m![1]), Number(m![2])];
    expect(baseline).toBe(56.7); // plain counting on the shipped data and the seeded split
    expect(acc).toBeGreaterThan(baseline + 20);
    expect(out).toMatch(/6406 training names, 1602 validation names, lengths 2-15/);
  }, 150_000);

  it('the bidirectional tagger learns the next symbol; the forward-only one stays near chance', () => {
    const block = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)]
      .map((b) => b[1]).find((b) => b.includes('the symbol that follows it'));
    expect(block, 'the README tagger block').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'bptt-tagger-'));
    const file = join(dir, 'tagger.mjs');
    writeFileSync(file, block!.replaceAll("from 'bptt-wasm'", `from '${entry}'`));
    const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const bi = Number(/bidirectional GRU: per-step validation accuracy ([\d.]+)%/.exec(out)?.[1]);
    const fwd = Number(/forward-only +GRU: per-step validation accuracy ([\d.]+)%/.exec(out)?.[1]);
    expect(bi, out).toBeGreaterThan(95);
    // chance for the next of 5 uniform symbols is 20% (the end tag is 1 step in ~9.5)
    expect(fwd, out).toBeLessThan(35);
  }, 90_000);
});
