// The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015).
//
// Each step's input is a pair (value, marker): value ~ U(0, 1), marker 1 at exactly two
// steps and 0 elsewhere; one marked step lies in the first half of the sequence, the
// other in the second half. The target is the sum of the two marked values. It tests
// memory over time: the first marked value has to be carried for up to T steps.
//
// Always answering 1 (the mean of the target) scores MSE = Var(u1 + u2) = 2/12 = 1/6,
// the baseline a model must beat to show it learned anything across time.

import { Rng } from '../rng.js';
import type { Tensor } from '../model.js';
import { checkPositiveInt } from '../errors.js';

/** MSE of always predicting 1 (the target's mean): Var(U(0,1) + U(0,1)) = 1/6. */
export const ADDING_BASELINE_MSE = 1 / 6;

export interface AddingBatch {
  /** [T, B, 2]: (value, marker) per step */
  x: Tensor;
  /** [B, 1]: sum of the two marked values (use with a lastStepOnly MSE loss) */
  target: Tensor;
  /** [B, 2]: the two marked steps of each sequence */
  positions: Int32Array;
}

/**
 * B sequences of length T (T >= 2), drawn from `rng` (or a new Rng(seed)): the same
 * seed gives the same batch everywhere.
 */
export function addingBatch(T: number, B: number, rng: Rng | number = 0): AddingBatch {
  checkPositiveInt('T', T, 2);
  checkPositiveInt('B', B);
  const r = typeof rng === 'number' ? new Rng(rng) : rng;
  const x = new Float32Array(T * B * 2);
  const target = new Float32Array(B);
  const positions = new Int32Array(B * 2);
  const half = Math.floor(T / 2);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) x[(t * B + b) * 2] = r.random();
    const p1 = r.int(half);
    const p2 = half + r.int(T - half);
    positions[b * 2] = p1;
    positions[b * 2 + 1] = p2;
    x[(p1 * B + b) * 2 + 1] = 1;
    x[(p2 * B + b) * 2 + 1] = 1;
    target[b] = x[(p1 * B + b) * 2] + x[(p2 * B + b) * 2];
  }
  return { x: { shape: [T, B, 2], data: x }, target: { shape: [B, 1], data: target }, positions };
}
