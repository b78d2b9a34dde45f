// A small app that imports the package by name, as an app would: esbuild bundles it (with
// the package's "browser" condition) for the browser tests. The bundle does not sit next to
// the package's build/ directory, so it says where the kernels and the worker script are.
import * as lib from 'bptt-wasm';
import * as scenarios from './scenarios.js';

lib.configureWasm({ simd: '/build/bptt.simd.wasm', relaxed: '/build/bptt.relaxed.wasm', worker: new URL('./worker.js', import.meta.url) });
globalThis.harness = { lib, scenarios, bundled: true };
