// After tsc: CommonJS twins (.d.cts) of the library's declarations, for the `require`
// condition of package.json. At run time require('bptt-wasm') loads the same ES module
// (Node's require(esm)); these files only tell TypeScript before 5.8 that a CommonJS file
// may import it (it rejects a .cts importing ESM-format declarations with TS1479).
// The .d.cts files are the .d.ts files with relative imports pointed at their twins.
//
//   node scripts/cjs-types.mjs        (npm run build:ts runs it)

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/src/', import.meta.url).pathname;
let n = 0;
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'cli') walk(p); // the CLI is not part of the library's API
    } else if (e.name.endsWith('.d.ts')) {
      const text = readFileSync(p, 'utf8').replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.js(['"])/g, '$1$2.cjs$3');
      writeFileSync(p.replace(/\.d\.ts$/, '.d.cts'), text);
      n++;
    }
  }
};
walk(root);
console.log(`scripts/cjs-types.mjs: ${n} .d.cts files in dist/src`);
