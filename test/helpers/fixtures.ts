// PyTorch reference fixtures: the copies shipped in test/fixtures/ merged (by name) with
// ../shared/fixtures/torch/ when that folder exists, so new upstream cases get exercised.
// The 'torch-seq' set (bidirectional layers, variable lengths) works the same way:
// test/fixtures/torch-seq/ merged with ../shared/fixtures/torch-seq/.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const LOCAL_DIR = resolve(here, '../fixtures');
export const SHARED_DIR = resolve(here, '../../../shared/fixtures/torch');

/** A fixture set: 'torch' (the original cases) or 'torch-seq'. */
export type FixtureSet = 'torch' | 'torch-seq';
const SETS: Record<FixtureSet, { local: string; shared: string }> = {
  torch: { local: LOCAL_DIR, shared: SHARED_DIR },
  'torch-seq': { local: join(LOCAL_DIR, 'torch-seq'), shared: resolve(here, '../../../shared/fixtures/torch-seq') },
};

export interface FixtureFile {
  name: string;
  dir: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

function dirs(set: FixtureSet = 'torch'): string[] {
  // shared first: it wins for a name present in both
  return [SETS[set].shared, SETS[set].local].filter((d) => existsSync(d));
}

const caches = new Map<FixtureSet, FixtureFile[]>();

export function listFixtures(set: FixtureSet = 'torch'): FixtureFile[] {
  const hit = caches.get(set);
  if (hit) return hit;
  const seen = new Map<string, FixtureFile>();
  for (const dir of dirs(set)) {
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) continue;
      const name = f.slice(0, -5);
      if (seen.has(name)) continue;
      seen.set(name, { name, dir, json: JSON.parse(readFileSync(join(dir, f), 'utf8')) });
    }
  }
  const list = [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (list.length === 0) throw new Error(`no fixtures found in ${SETS[set].local} or ${SETS[set].shared}`);
  caches.set(set, list);
  return list;
}

/** Path of `<name>.<ext>` (e.g. 'safetensors'), shared copy preferred; null if absent. */
export function fixturePath(name: string, ext: string, set: FixtureSet = 'torch'): string | null {
  for (const dir of dirs(set)) {
    const p = join(dir, `${name}.${ext}`);
    if (existsSync(p)) return p;
  }
  return null;
}
