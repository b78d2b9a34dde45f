// 'bptt-wasm/node': the parts that need Node (the root entry 'bptt-wasm' in Node has them
// too; this subpath is where code that also runs in a page imports them from).

import './host/node.js';

export { saveCheckpoint, loadCheckpoint, loadTrainingCheckpoint } from './io/checkpoint-file.js';
export { loadMobyDick } from './data/moby-dick.js';
