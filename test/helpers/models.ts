// A model and a batch from a PyTorch fixture, for any of the compute paths the tests run.

import { createModel, type Model } from '../../src/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fx = any;

/** The compute paths: the Wasm kernels on one thread, on two, and the JS backend. */
export type Path = 'wasm' | 'js' | 'wasm, 2 threads';

/** A model with the fixture's config and weights. Dispose it if path uses threads. */
export async function modelFor(fx: Fx, path: Path): Promise<Model> {
  const c = fx.config;
  const m = await createModel({
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.input_size, hiddenSize: c.hidden_size,
    numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias,
    ...(c.bidirectional ? { bidirectional: true } : {}),
    backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1,
  });
  m.loadStateDict(fx.params);
  return m;
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
