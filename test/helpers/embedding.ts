// The token-input fixtures (test/fixtures/embedding/, scripts/make_embedding_fixtures.py).

import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Fx } from './models.js';

export const EMBEDDING_DIR = resolve(import.meta.dirname, '../fixtures/embedding');
export const embeddingFixtures: [string, Fx][] = readdirSync(EMBEDDING_DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(EMBEDDING_DIR, f), 'utf8'))]);
