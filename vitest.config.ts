import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Several suites spawn the CLI, pack the tarball or start worker threads; on a shared
    // 2-core machine one such test can take longer than vitest's 5 s default without
    // anything being wrong.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests import internal modules (src/model.ts, ...) directly, not an entry point: install
    // the Node host the entries would (src/host/host.ts).
    setupFiles: ['./test/helpers/node-host.ts'],
    projects: [
      { extends: true, test: { name: 'node', exclude: [...configDefaults.exclude, 'test/browser/**'] } },
      // Chromium after the rest (groupOrder): sharing the cores with it slows the CLI tests' processes past their timeouts
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
