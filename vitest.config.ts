import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests import internal modules (src/model.ts, ...) directly, not an entry point: install
    // the Node host the entries would (src/host/host.ts).
    setupFiles: ['./test/helpers/node-host.ts'],
  },
});
