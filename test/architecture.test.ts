// The shape of src/: no import cycle, and the package root exports the library only (no CLI or
// experiment internals). The import graph is esbuild's (a devDependency): it
// bundles every src/**/*.ts in memory and its metafile lists each file's imports, with their
// kind: static `import ... from`, `export ... from`, side-effect `import '...'` and dynamic
// `import('...')`. Type-only imports (`import type`, `export type`, and imports used only as
// types) are not in it: esbuild drops them as tsc does, so they cannot form a cycle at run
// time and cannot load a module. (TypeScript 7 has no JavaScript API to parse with.)

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as browserRoot from '../src/browser.js';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
}

/** src-relative file -> the src files it imports at run time (packages and node: modules left out). */
function importGraph(): Map<string, string[]> {
  const files = sources(SRC);
  const { metafile } = buildSync({
    entryPoints: files, bundle: true, write: false, metafile: true, splitting: true, outdir: join(ROOT, 'dist-never-written'),
    format: 'esm', platform: 'neutral', packages: 'external', external: ['node:*'], absWorkingDir: ROOT, logLevel: 'silent',
  });
  const name = (p: string) => relative(SRC, join(ROOT, p));
  return new Map(Object.entries(metafile.inputs).filter(([p]) => p.startsWith('src/'))
    .map(([p, info]) => [name(p), info.imports.filter((i) => !i.external && i.path.startsWith('src/')).map((i) => name(i.path))]));
}

const graph = importGraph();

/** Every cycle, each once, as a path a -> b -> ... -> a (Tarjan's strongly connected components). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>(), stack: string[] = [];
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.reverse().concat(comp[0]));
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) strong(v);
  return out;
}

/** The modules an entry loads at run time. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const d of graph.get(f) ?? []) walk(d);
  };
  walk(entry);
  return seen;
}

describe('the module graph of src/', () => {
  it('sees the files and their imports (the parser works)', () => {
    expect(graph.size).toBe(sources(SRC).length);
    expect(graph.get('index.ts')).toContain('lib.ts');
    expect(graph.get('backend/factory.ts')).toContain('backend/parallel.ts'); // the dynamic import is an edge
  });

  it('has no import cycle', () => {
    expect(cycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const g = new Map(graph);
    g.set('backend/wasm.ts', [...(g.get('backend/wasm.ts') ?? []), 'backend/parallel.ts']);
    const found = cycles(g);
    expect(found).toHaveLength(1);
    expect(new Set(found[0])).toEqual(new Set(['backend/parallel.ts', 'backend/wasm.ts']));
  });

  it('the training worker loads the protocol, not the main-thread parallel backend', () => {
    expect(reachable('backend/worker.ts')).not.toContain('backend/parallel.ts');
    expect(graph.get('backend/worker.ts')).toContain('backend/protocol.ts');
    expect(graph.get('backend/parallel.ts')).toContain('backend/protocol.ts');
  });

  it('the ops load no sweep, and the factory composes the two', () => {
    expect(reachable('backend/ops-wasm.ts')).not.toContain('backend/wasm.ts'); // it needs the runtime's type only
    expect(reachable('backend/ops-js.ts')).not.toContain('backend/js.ts');
    expect(graph.get('backend/factory.ts')).toEqual(expect.arrayContaining(['backend/ops-wasm.ts', 'backend/ops-js.ts', 'backend/wasm.ts', 'backend/js.ts']));
  });

  // (progress.ts is library: fit's progress bar, installed by the Node host)
  it.each(['index.ts', 'browser.ts', 'node.ts'])('the entry %s loads no CLI module', (entry) => {
    expect([...reachable(entry)].filter((f) => f.startsWith('cli/'))).toEqual([]);
  });
});

describe('the package root', () => {
  // names the demo application used to export from the root (issue #8)
  const APP = ['Progress', 'PALETTE', 'niceTicks', 'MODEL_RECIPES', 'ADDING_LRS', 'trainCharModel', 'measureCharSpeed', 'runCli', 'main'];

  // helpers of the library's own modules that only the library and its tests call (issue #8 item 9)
  const INTERNAL = ['nonfiniteTensors', 'checkLossSpec', 'lengthsMask', 'torchConfig', 'modelOptionsFromMetadata'];

  it.each([['index', root], ['browser', browserRoot]] as const)('%s exports no application internals', (_n, mod) => {
    expect(Object.keys(mod).filter((k) => APP.includes(k) || INTERNAL.includes(k))).toEqual([]);
  });
});

describe('doc comments', () => {
  it('no declaration carries two /** */ blocks in a row (one of them is stale)', () => {
    const stacked = sources(SRC).flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      return [...text.matchAll(/\*\/[ \t]*\n(?:[ \t]*\/\/[^\n]*\n)*[ \t]*\/\*\*/g)]
        .map((m) => `${relative(SRC, f)}:${text.slice(0, m.index).split('\n').length}`);
    });
    expect(stacked).toEqual([]);
  });
});

describe("the README's repository map", () => {
  // Someone new finds a module by its name in the map: every source file is named in a row of
  // its folder (src/backend/, src/io/, src/train/, assembly/ list their files; src/cli/,
  // src/host/ and src/data/ are described as a whole), or by its path at the top of src/.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const map = readme.slice(readme.indexOf('## Repository map'));
  const rows = map.split('\n').filter((l) => l.startsWith('| `'));
  const WHOLE = ['src/cli/', 'src/host/', 'src/data/'];
  const named = (path: string): boolean => {
    if (map.includes(`\`${path}\``)) return true;
    const folder = path.slice(0, path.lastIndexOf('/') + 1);
    const base = path.slice(folder.length);
    const row = rows.find((l) => l.startsWith(`| \`${folder}\``));
    if (!row) return false;
    return WHOLE.includes(folder) || row.includes(`\`${base}\``);
  };

  it('names every file of src/ and assembly/', () => {
    const files = [...sources(SRC), ...sources(join(ROOT, 'assembly'))].map((f) => relative(ROOT, f).replaceAll('\\', '/'));
    expect(files.filter((f) => !named(f))).toEqual([]);
  });

  it('names no src/ file that does not exist', () => {
    const paths = [...map.matchAll(/`(src\/[\w/.-]+\.ts)`/g)].map((m) => m[1]);
    expect(paths.filter((p) => !sources(SRC).some((f) => relative(ROOT, f).replaceAll('\\', '/') === p))).toEqual([]);
  });
});
