#!/usr/bin/env node
// A tiny static file server for the browser demo and the browser tests: the package root
// (dist/, build/, examples/, test/fixtures/), on the loopback interface only, with the
// COOP/COEP headers that make the page cross-origin isolated (SharedArrayBuffer, so the
// model's memory can be shared with Web Workers: threads > 1).
//
//   node examples/browser/serve.mjs [--port 8080] [--no-isolation]
//   then open http://127.0.0.1:8080/

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.txt': 'text/plain; charset=utf-8', '.safetensors': 'application/octet-stream',
};

/**
 * Serve `root` on 127.0.0.1. isolate: send COOP/COEP (default true). port 0 picks a free one.
 * Resolves to { server, url } once listening.
 */
export function serve({ root = ROOT, port = 8080, isolate = true } = {}) {
  const server = createServer(async (req, res) => {
    const headers = { 'Cache-Control': 'no-store' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/') {
        res.writeHead(302, { ...headers, Location: '/examples/browser/' }).end();
        return;
      }
      let file = normalize(join(root, path));
      if (file !== root && !file.startsWith(root + sep)) throw Object.assign(new Error('outside the root'), { code: 'ENOENT' });
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch (e) {
      const missing = e.code === 'ENOENT' || e.code === 'ENOTDIR';
      res.writeHead(missing ? 404 : 500, { ...headers, 'Content-Type': 'text/plain' }).end(missing ? 'not found' : String(e));
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolvePromise({ server, url: `http://127.0.0.1:${p}` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--port');
  const port = i >= 0 ? Number(args[i + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.mjs: --port must be an integer 0-65535, got ${args[i + 1]}`);
    process.exit(2);
  }
  const { url } = await serve({ port, isolate: !args.includes('--no-isolation') });
  console.log(`bptt-wasm demo: ${url}/  (serving ${ROOT}; Ctrl-C stops)`);
}
