import { defineConfig } from 'vitest/config';

// Several suites spawn the CLI, pack the tarball or start worker threads; on a shared 2-core
// machine one such test can take longer than vitest's 5 s default without anything being wrong.
export default defineConfig({
  test: { testTimeout: 60_000, hookTimeout: 120_000 },
});
