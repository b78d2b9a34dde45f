// Tolerance checks relative to a tensor's largest magnitude (the fixtures README's rule:
// ~1e-5 for forward values, 1e-4 for gradients in float32 arithmetic).

import { expect } from 'vitest';

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Max |a - b| divided by max(|b|_inf, floor). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d / Math.max(maxAbs(b), floor);
}

export function expectClose(what: string, actual: { shape?: number[]; data: ArrayLike<number> },
  expected: { shape: number[]; data: ArrayLike<number> }, tol: number): void {
  if (actual.shape) expect(actual.shape, `${what} shape`).toEqual(expected.shape);
  expect(actual.data.length, `${what} length`).toBe(expected.data.length);
  const e = relErr(actual.data, expected.data);
  expect(e, `${what}: max error relative to max |expected| = ${e.toExponential(2)} (tol ${tol})`).toBeLessThanOrEqual(tol);
}

export function expectScalarClose(what: string, actual: number, expected: number, tol: number): void {
  const e = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
  expect(e, `${what}: ${actual} vs ${expected} (rel ${e.toExponential(2)}, tol ${tol})`).toBeLessThanOrEqual(tol);
}
