// The browser entry's module graph (no browser needed): esbuild walks it from the compiled
// dist/src/browser.js, and from the Web Worker's script, recording every import. Neither
// graph may import node: builtins, fs/path/worker_threads, or any package by name (the
// page loads dist/ as it is, and module workers have no import maps). And the two
// entries split the API: the root entry in Node = the browser entry + 'bptt-wasm/node'.

import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Every module of the graph from `entry` and every import it makes (externals: not followed). */
async function graph(entry: string): Promise<{ files: string[]; imports: { from: string; path: string; external: boolean }[]; exports: string[] }> {
  const r = await build({
    entryPoints: [entry], absWorkingDir: ROOT, bundle: true, write: false, metafile: true, format: 'esm', outdir: 'out/graph',
    // neutral: no platform's modules are assumed; packages external: a bare import is recorded, not bundled
    platform: 'neutral', packages: 'external', logLevel: 'silent',
  });
  const meta: Metafile = r.metafile;
  const imports = Object.entries(meta.inputs).flatMap(([from, input]) =>
    input.imports.map((i) => ({ from, path: i.original ?? i.path, external: i.external ?? false })));
  const out = Object.values(meta.outputs).find((o) => o.entryPoint)!;
  return { files: Object.keys(meta.inputs).sort(), imports, exports: [...out.exports].sort() };
}

const NODE_NAMES = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

describe('the browser entry and its worker import nothing from Node', () => {
  it.each(['dist/src/browser.js', 'dist/src/host/browser-worker.js'])('%s: only relative imports, none of Node\'s modules', async (entry) => {
    const g = await graph(entry);
    expect(g.files.length).toBeGreaterThan(entry.includes('worker') ? 5 : 20);
    const bad = g.imports.filter((i) => i.external || NODE_NAMES.has(i.path) || /^(node:|fs|path|worker_threads)/.test(i.path) || !i.path.startsWith('.'));
    expect(bad, `imports that a page cannot load: ${JSON.stringify(bad)}`).toEqual([]);
    // The Node-only modules are not in it
    for (const f of ['dist/src/host/node.js', 'dist/src/progress.js', 'dist/src/data/moby-dick.js', 'dist/src/experiments.js', 'dist/src/cli.js']) {
      expect(g.files).not.toContain(f);
    }
  });

  it('the Node graphs do reach Node (the walk sees node: imports where they are)', async () => {
    const g = await graph('dist/src/index.js');
    expect(g.imports.filter((i) => i.path.startsWith('node:')).map((i) => i.path)).toEqual(expect.arrayContaining(['node:fs', 'node:worker_threads', 'node:v8']));
  });

  it("the root entry in Node exports exactly the browser entry's names plus 'bptt-wasm/node''s", async () => {
    const [root, browser, node] = await Promise.all(['dist/src/index.js', 'dist/src/browser.js', 'dist/src/node.js'].map(graph));
    expect(browser.exports.filter((n) => node.exports.includes(n)), 'exported by both').toEqual([]);
    expect([...browser.exports, ...node.exports].sort()).toEqual(root.exports);
    expect(node.exports).toEqual(expect.arrayContaining(['saveCheckpoint', 'loadCheckpoint', 'loadTrainingCheckpoint', 'loadMobyDick']));
    expect(browser.exports).toEqual(expect.arrayContaining(['createModel', 'checkpointBytes', 'loadCheckpointBytes', 'configureWasm', 'readOnnx', 'gradientFlow']));
  });

  it("package.json sends bundlers to the browser entry ('browser' before 'import'), Node to index.js, and has ./node", () => {
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8'));
    const dot = pkg.exports['.'];
    const keys = Object.keys(dot);
    expect(keys.indexOf('browser')).toBeLessThan(keys.indexOf('import'));
    expect(dot.browser.default).toBe('./dist/src/browser.js');
    expect(dot.import.default).toBe('./dist/src/index.js');
    expect(dot.require.default).toBe('./dist/src/index.js');
    expect(pkg.exports['./node'].import.default).toBe('./dist/src/node.js');
  });
});
