// The package in a real browser: Debian's Chromium, headless, driven by playwright-core
// (nothing downloaded). Two ways in: the unbundled ES modules (dist/src/browser.js as it
// is) and an esbuild bundle of a small app that imports 'bptt-wasm' by name; each on a
// cross-origin isolated server (COOP/COEP: threads run in Web Workers) and on one that is
// not (one thread, and model.info() says why). Every case is checked against PyTorch
// (test/fixtures) and against this Node process running the same code (scenarios.js).
// Without Chromium (CHROMIUM_PATH or /usr/bin/chromium) the suite is skipped, saying why
// (npm run test:browser fails instead).

import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as node from '../../src/index.js';
import { expectClose, expectScalarClose, relErr } from '../helpers/compare.js';
// @ts-expect-error plain JavaScript shared with the page
import { fixtureCase, seededTraining } from './scenarios.js';
// @ts-expect-error plain JavaScript (the demo's server)
import { serve } from '../../examples/browser/serve.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
// npm run test:browser (and CI) require the browser; the plain test run says why it skips them.
if (missing && process.env.BPTT_BROWSER === 'required') throw new Error(`browser tests: ${missing}`);
if (missing) console.warn(`browser tests skipped: ${missing}`);

// The tolerances of test/torch-fixtures.test.ts and test/optim.test.ts (float32 vs PyTorch's float64).
const FWD = 1e-5;
const LOSS = 2e-5;
const GRAD = 1e-4;
const TRAINED = 5e-4;
// Whichever build this run tests (CI runs the suite again with BPTT_WASM_BUILD=simd): the
// page runs the same one.
const BUILD = node.wasmBuild();
const FIXTURES = ['lstm_2layer_h0_ce_sum', 'gru_2layer_ce_last'];
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures', `${name}.json`), 'utf8'));

/* eslint-disable @typescript-eslint/no-explicit-any */
type Page = import('playwright-core').Page;
type Context = import('playwright-core').BrowserContext;

describe.skipIf(missing)('in headless Chromium', () => {
  let context: Context;
  let profile: string;
  const servers: Record<'isolated' | 'plain', { server: Server; url: string }> = {} as never;
  const errors: string[] = [];

  beforeAll(async () => {
    const esbuild = await import('esbuild');
    // the app imports 'bptt-wasm' by name: esbuild resolves it through package.json's exports ("browser")
    const common = { bundle: true, format: 'esm', platform: 'browser', logLevel: 'error', absWorkingDir: ROOT } as const;
    await esbuild.build({ ...common, entryPoints: ['test/browser/app.js'], outfile: 'out/browser-test/app.js' });
    await esbuild.build({ ...common, entryPoints: ['dist/src/host/browser-worker.js'], outfile: 'out/browser-test/worker.js' });
    servers.isolated = await serve({ port: 0, isolate: true });
    servers.plain = await serve({ port: 0, isolate: false });
    const { chromium } = await import('playwright-core');
    profile = mkdtempSync(join(tmpdir(), 'bptt-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    for (const s of Object.values(servers)) s.server.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** A page of `server`, once its module has run (it sets globalThis.harness, or demo.ready). */
  async function open(server: 'isolated' | 'plain', path: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${path}: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${path}: ${m.text()}`); });
    await page.goto(servers[server].url + path);
    await page.waitForFunction(() => (globalThis as any).harness !== undefined || (globalThis as any).demo?.ready === true, null, { timeout: 60_000 });
    return page;
  }

  async function inPage(page: Page, scenario: 'fixtureCase' | 'seededTraining', arg: unknown, opts: object) {
    const r = await page.evaluate(async ([s, a, o]: any) => {
      const h = (globalThis as any).harness;
      const fx = s === 'fixtureCase' ? await (await fetch(`/test/fixtures/${a}.json`)).json() : undefined;
      return s === 'fixtureCase' ? h.scenarios.fixtureCase(h.lib, fx, o) : h.scenarios.seededTraining(h.lib, o);
    }, [scenario, arg, opts] as const);
    expect(errors, 'errors in the page or its workers').toEqual([]);
    return r;
  }

  describe.each([
    ['the unbundled ES modules', '/test/browser/harness.html'],
    ['an esbuild bundle of an app', '/test/browser/bundled.html'],
  ] as const)('%s', (_what, path) => {
    describe.each([['a cross-origin isolated page', 'isolated'], ['a page that is not isolated', 'plain']] as const)('on %s', (_where, server) => {
      let page: Page;
      beforeAll(async () => {
        page = await open(server, path);
      }, 60_000);
      afterAll(() => page?.close());

      it('reports the host, the build and the threads it runs (and why not 2 threads without isolation)', async () => {
        const r = await inPage(page, 'seededTraining', null, { threads: 2, steps: 1, wasmBuild: BUILD }) as any;
        expect(r.info).toMatchObject({ backend: 'wasm', host: 'browser', wasmBuild: BUILD, threadsRequested: 2 });
        if (server === 'isolated') expect(r.info).toMatchObject({ threads: 2, threadsNote: null });
        else {
          expect(r.info.threads).toBe(1);
          expect(r.info.threadsNote).toMatch(/not cross-origin isolated.*Cross-Origin-Opener-Policy/);
        }
        // the default build is the relaxed one where the browser validates relaxed SIMD (Chromium does)
        expect(await page.evaluate(() => (globalThis as any).harness.lib.wasmBuild())).toBe('relaxed');
      });

      describe.each([1, 2])('threads: %i', (threads) => {
        it.each(FIXTURES)('%s: forward, loss, every gradient and the optimizer steps match PyTorch, and Node', async (name) => {
          const fx = fixture(name);
          const got = await inPage(page, 'fixtureCase', name, { threads, wasmBuild: BUILD }) as any;
          expectClose('output', got.output, fx.output, FWD);
          expectClose('h_n', got.hN, fx.h_n, FWD);
          if (fx.c_n) expectClose('c_n', got.cN, fx.c_n, FWD);
          expectScalarClose('loss', got.loss, fx.loss_value, LOSS);
          expect(Object.keys(got.grads).sort()).toEqual(Object.keys(fx.grads).sort());
          for (const [k, t] of Object.entries(fx.grads as Record<string, any>)) expectClose(`grad ${k}`, got.grads[k], t, GRAD);
          expectClose('d_h0', got.dh0, fx.d_h0, GRAD);
          got.trainLosses.forEach((l: number, s: number) => expectScalarClose(`loss before step ${s}`, l, fx.train.losses_before_each_step[s], TRAINED));
          for (const [k, t] of Object.entries(fx.train.final_params as Record<string, any>)) expectClose(`final ${k}`, got.finalParams[k], t, TRAINED);
          // Node, same build, same threads, same code
          const ref = await fixtureCase(node, fx, { threads, wasmBuild: BUILD });
          expectScalarClose('loss vs Node', got.loss, ref.loss, LOSS);
          for (const k of Object.keys(ref.grads)) expectClose(`grad ${k} vs Node`, got.grads[k], ref.grads[k], GRAD);
          got.trainLosses.forEach((l: number, s: number) => expectScalarClose(`train loss ${s} vs Node`, l, ref.trainLosses[s], TRAINED));
        }, 60_000);

        it('trains from a seed with the same losses as Node', async () => {
          const got = await inPage(page, 'seededTraining', null, { threads, wasmBuild: BUILD }) as any;
          const ref = await seededTraining(node, { threads, wasmBuild: BUILD });
          expect(got.losses.length).toBe(6);
          const e = relErr(got.losses, ref.losses);
          console.log(`${path} ${server} threads ${threads} (ran ${got.info.threads}): losses ${got.losses.map((l: number) => l.toFixed(6)).join(' ')}; ` +
            `max relative difference from Node ${e.toExponential(2)}`);
          expect(e, `page ${got.losses} vs Node ${ref.losses}`).toBeLessThanOrEqual(TRAINED);
          expect(got.losses[5]).toBeLessThan(got.losses[0]); // it learns
        }, 60_000);
      });
    });
  });

  it('loads the kernels from bytes the app passes (configureWasm) and rejects a bad option by name', async () => {
    const page = await open('plain', '/test/browser/harness.html');
    try {
      const r = await page.evaluate(async () => {
        const h = (globalThis as any).harness;
        const bytes = new Uint8Array(await (await fetch('/build/bptt.simd.wasm')).arrayBuffer());
        h.lib.configureWasm({ simd: bytes });
        const fx = await (await fetch('/test/fixtures/rnn_tanh_mse_sum.json')).json();
        const got = await h.scenarios.fixtureCase(h.lib, fx, { wasmBuild: 'simd' });
        let error = '';
        try {
          h.lib.configureWasm({ simd: 42 });
        } catch (e) {
          error = (e as Error).message;
        }
        return { got, error, nodeOnly: ['saveCheckpoint', 'loadCheckpoint', 'loadMobyDick', 'Progress'].filter((k) => k in h.lib) };
      });
      const fx = fixture('rnn_tanh_mse_sum');
      expect(r.got.info.wasmBuild).toBe('simd');
      expectScalarClose('loss', r.got.loss, fx.loss_value, LOSS);
      expectClose('output', r.got.output, fx.output, FWD);
      expect(r.error).toMatch(/configureWasm: 'simd' must be a URL, bytes or a WebAssembly.Module, got \[object Number\]/);
      expect(r.nodeOnly).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the demo page trains a character model (the loss falls), saves and loads it; its screenshot goes to docs/', async () => {
    const page = await open('isolated', '/examples/browser/index.html?steps=400');
    try {
      await page.click('#train');
      await page.waitForFunction(() => (globalThis as any).demo.state.step >= 400, null, { timeout: 240_000, polling: 500 });
      await page.waitForFunction(() => (globalThis as any).demo.state.running === false, null, { timeout: 30_000 });
      const s = await page.evaluate(() => {
        const st = (globalThis as any).demo.state;
        return { losses: st.losses as number[], info: st.info, sample: st.sample as string };
      });
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      const first = mean(s.losses.slice(0, 10)), last = mean(s.losses.slice(-20));
      console.log(`demo: ${s.losses.length} steps, loss ${first.toFixed(3)} -> ${last.toFixed(3)}, ${s.info.threads} thread(s), build ${s.info.wasmBuild}`);
      expect(last).toBeLessThan(first * 0.75);
      expect(s.sample.length).toBeGreaterThan(20);
      await page.screenshot({ path: join(ROOT, 'docs/browser-demo.png'), fullPage: true });

      // save (a download) and load it back (the file input): the same weights
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
      const saved = join(profile, 'model.safetensors');
      await download.saveAs(saved);
      const bytes = readFileSync(saved);
      const file = node.readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      expect(file.metadata.config).toBeDefined();
      const before = await page.evaluate(() => (globalThis as any).demo.paramSum());
      await page.evaluate(() => (globalThis as any).demo.scramble()); // change the weights, then load the file
      expect(await page.evaluate(() => (globalThis as any).demo.paramSum())).not.toBe(before);
      await page.setInputFiles('#load', saved);
      await page.waitForFunction((b) => (globalThis as any).demo.paramSum() === b, before, { timeout: 30_000 });
    } finally {
      await page.close();
    }
    expect(errors).toEqual([]);
  }, 300_000);
});
