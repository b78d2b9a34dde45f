// Tensors from nested arrays, for small inputs written by hand: tensor([[1, 2], [3, 4]])
// is { shape: [2, 2], data: Float32Array [1, 2, 3, 4] }, row-major like every tensor here.

import { fail } from '../errors.js';

export type Nested = number | ArrayLike<number> | readonly Nested[];

export interface TensorOptions {
  /** 'float32' (default) or 'int32' (class ids: every value must be an integer) */
  dtype?: 'float32' | 'int32';
}

const where = (path: number[]): string => path.map((i) => `[${i}]`).join('');

/**
 * Shape inferred from the first element at each depth; every other element must match it
 * (a ragged array is an error naming the index where it differs). Leaves may be typed arrays.
 */
export function tensor(values: Nested, opts: { dtype: 'int32' }): { shape: number[]; data: Int32Array };
export function tensor(values: Nested, opts?: TensorOptions): { shape: number[]; data: Float32Array };
export function tensor(values: Nested, opts: TensorOptions = {}): { shape: number[]; data: Float32Array | Int32Array } {
  const dtype = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') fail(`tensor: dtype must be 'float32' or 'int32', got ${JSON.stringify(dtype)}`);
  const shape: number[] = [];
  for (let v: unknown = values; typeof v !== 'number'; v = (v as ArrayLike<unknown>)[0]) {
    if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number') {
      fail(`tensor: expected a number or an array at ${where(shape.map(() => 0)) || 'the top'}, got ${v === null ? 'null' : typeof v}`);
    }
    const n = (v as ArrayLike<unknown>).length;
    if (n === 0) fail(`tensor: empty array at ${where(shape.map(() => 0)) || 'the top'}; every dimension must be >= 1`);
    shape.push(n);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
  let k = 0;
  const path: number[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`tensor: value at ${where(path)} is ${typeof v === 'number' ? v : JSON.stringify(v) ?? typeof v}, expected a finite number`);
      if (dtype === 'int32' && !Number.isInteger(v)) fail(`tensor: value at ${where(path)} is ${v}, expected an integer (dtype 'int32')`);
      data[k++] = v;
      return;
    }
    const a = v as ArrayLike<unknown>;
    if (a === null || typeof a !== 'object' || typeof a.length !== 'number') {
      fail(`tensor: ragged array: ${where(path)} is ${a === null ? 'null' : typeof a}, expected an array of length ${shape[depth]}`);
    }
    if (a.length !== shape[depth]) fail(`tensor: ragged array: ${where(path)} has length ${a.length}, expected ${shape[depth]} (as ${where(path.map(() => 0))})`);
    for (let i = 0; i < a.length; i++) {
      path.push(i);
      walk(a[i], depth + 1);
      path.pop();
    }
  };
  walk(values, 0);
  return { shape, data };
}
