// PyTorch reference fixtures: the copies shipped in test/fixtures/ merged (by name) with
// ../shared/fixtures/torch/ when that folder exists, so new upstream cases get exercised.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const LOCAL_DIR = resolve(here, '../fixtures');
export const SHARED_DIR = resolve(here, '../../../shared/fixtures/torch');

export interface FixtureFile {
  name: string;
  dir: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

function dirs(): string[] {
  // shared first: it wins for a name present in both
  return [SHARED_DIR, LOCAL_DIR].filter((d) => existsSync(d));
}

let cache: FixtureFile[] | null = null;

export function listFixtures(): FixtureFile[] {
  if (cache) return cache;
  const seen = new Map<string, FixtureFile>();
  for (const dir of dirs()) {
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) continue;
      const name = f.slice(0, -5);
      if (seen.has(name)) continue;
      seen.set(name, { name, dir, json: JSON.parse(readFileSync(join(dir, f), 'utf8')) });
    }
  }
  cache = [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (cache.length === 0) throw new Error(`no fixtures found in ${LOCAL_DIR} or ${SHARED_DIR}`);
  return cache;
}

/** Path of `<name>.<ext>` (e.g. 'safetensors'), shared copy preferred; null if absent. */
export function fixturePath(name: string, ext: string): string | null {
  for (const dir of dirs()) {
    const p = join(dir, `${name}.${ext}`);
    if (existsSync(p)) return p;
  }
  return null;
}
