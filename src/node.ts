// 'bptt-wasm/node': the parts that need Node (the root entry 'bptt-wasm' in Node has them
// too; this subpath is where code that also runs in a page imports them from).

import './host/node.js';

export { saveCheckpoint, loadCheckpoint, loadTrainingCheckpoint } from './checkpoint.js';
export { loadMobyDick } from './data/moby-dick.js';
export { Progress, formatDuration, type ProgressOptions, type ProgressValues, type ProgressStatus } from './progress.js';
export { gradflowExperiment, gradflowTable, gradflowSvg, addingExperiment, addingRun, addingTable, addingTestMSE,
  trainCharModel, measureCharSpeed, MODEL_RECIPES, ADDING_LRS, DEFAULT_ADDING, DEFAULT_GRADFLOW_MODELS,
  type GradflowOptions, type GradflowResult, type AddingOptions, type AddingRow, type CharModelOptions, type CharModelResult,
  type ModelRecipe, type GradflowRow, type AddingProgress, type CharStepInfo } from './experiments.js';
