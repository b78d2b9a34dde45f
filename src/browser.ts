// The browser entry (package.json's "browser" condition on "."): the library (lib.ts) on the
// page host. Its module graph imports nothing from node: and no bare package names, so it
// loads in a page as it is (dist/src/browser.js) or through a bundler.

import './host/browser.js';

export * from './lib.js';
