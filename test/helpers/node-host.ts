// vitest setup file (vitest.config.ts): the Node host, as index.ts installs it.
import '../../src/host/node.js';
