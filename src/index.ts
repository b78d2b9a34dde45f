// bptt-wasm: recurrent networks with PyTorch's exact math and full backpropagation
// through time, on SIMD WebAssembly (backend 'wasm') or plain TypeScript (backend 'js').
// This is the Node entry: the library (lib.ts) on the Node host, plus the Node-only parts
// (node.ts). browser.ts is the entry bundlers pick for a page.

import './host/node.js';

export * from './lib.js';
export * from './node.js';
