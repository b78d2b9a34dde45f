// Input validation that names the argument, what was expected and what was given.

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function fail(msg: string): never {
  throw new Error(`bptt-wasm: ${msg}`);
}

export function checkPositiveInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`${name} must be an integer >= ${min}, got ${typeof v === 'number' ? v : JSON.stringify(v)}`);
  }
  return v;
}

export function checkFinitePositive(name: string, v: unknown, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    fail(`${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(v)}`);
  }
  return v;
}

export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

export interface TensorLike {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** Check a tensor argument against an expected shape (and its data length); returns its data. */
export function checkTensor(name: string, t: unknown, expected: readonly number[], what = ''): ArrayLike<number> {
  const exp = shapeStr(expected) + (what ? ` (${what})` : '');
  if (t === null || typeof t !== 'object' || !Array.isArray((t as TensorLike).shape) || (t as TensorLike).data == null ||
    typeof (t as TensorLike).data.length !== 'number') {
    fail(`${name} must be a tensor { shape, data } of shape ${exp}, got ${t === null ? 'null' : typeof t}`);
  }
  const { shape, data } = t as TensorLike;
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    fail(`${name} has shape ${shapeStr(shape)}, expected ${exp}`);
  }
  const n = expected.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    fail(`${name}.data has ${data.length} values, expected ${n} for shape ${shapeStr(expected)}`);
  }
  return data;
}

/** Throws if any value is NaN or infinite (nothing is silently NaN'd). */
export function checkFinite(name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) fail(`${name}.data[${i}] is ${data[i]}; values must be finite`);
  }
}
