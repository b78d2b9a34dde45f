// A model and a batch from a PyTorch fixture, for any of the compute paths the tests run.

import { createModel, type Model } from '../../src/index.js';
import { checkPath, on, track, type Path } from './variants.js';

export { PATHS, VARIANTS, type Path } from './variants.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fx = any;

/** A model with the fixture's config and weights (disposed when the test file ends). */
export async function modelFor(fx: Fx, path: Path): Promise<Model> {
  const c = fx.config;
  const m = track(await createModel({
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.input_size, hiddenSize: c.hidden_size,
    numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias,
    ...(c.bidirectional ? { bidirectional: true } : {}),
    ...(c.head_bias !== undefined ? { headBias: c.head_bias } : {}),
    ...on(path),
  }));
  m.loadStateDict(fx.params);
  return checkPath(m, path);
}

/** The fixture's inputs and targets as lossAndGrad takes them (class ids as Int32Array). */
export function batchFor(fx: Fx) {
  const ce = fx.loss.kind === 'cross_entropy';
  return {
    x: fx.x,
    target: ce ? { shape: fx.target.shape, data: Int32Array.from(fx.target.data) } : fx.target,
    ...(fx.h0 ? { h0: fx.h0 } : {}),
    ...(fx.c0 ? { c0: fx.c0 } : {}),
    ...(fx.lengths ? { lengths: fx.lengths as number[] } : {}),
  };
}

export const lossFor = (fx: Fx) => ({ kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only });
