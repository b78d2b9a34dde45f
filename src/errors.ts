// The library's one error class, and input validation that names the argument, what was
// expected and what was given.

/**
 * Every error the library throws on bad input, bad files or a failed step. `where` is the
 * place it came from ('createModel', 'loadCheckpoint', 'readSafetensors', 'SGD', ...), so
 * callers test `instanceof BpttError` and `.where`, not message prefixes.
 */
export class BpttError extends Error {
  readonly where: string;
  constructor(message: string, where?: string) {
    super(message);
    this.name = 'BpttError';
    this.where = where ?? inferWhere(message);
  }
}

/** Thrown when a loss, gradient or optimizer result is NaN/Inf; the message says what happened to the weights. */
export class NonfiniteError extends BpttError {
  /** tensors holding NaN/Inf (empty when only the loss was non-finite) */
  readonly tensors: string[];
  readonly loss: number;
  constructor(message: string, tensors: string[], loss: number, where = 'trainStep') {
    super(message, where);
    this.name = 'NonfiniteError';
    this.tensors = tensors;
    this.loss = loss;
  }
}

/** The leading `name:` of a message (after the package prefix), else 'bptt-wasm'. */
function inferWhere(message: string): string {
  const m = /^(?:bptt-wasm: )?([A-Za-z_][\w.]*)(?:\(\))?: /.exec(message);
  return m ? m[1] : 'bptt-wasm';
}

/** A value for a message: never throws (BigInt, symbols, cycles). */
export function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null || typeof v === 'symbol') return String(v);
  if (typeof v === 'function') return 'a function';
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

export function shapeStr(shape: readonly unknown[]): string {
  return `[${shape.map((d) => show(d)).join(', ')}]`;
}

export function fail(msg: string, where?: string): never {
  throw new BpttError(`bptt-wasm: ${msg}`, where);
}

/** Largest finite float32: values beyond it become Infinity when stored. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** A number that stays finite when stored as float32 (1e39 does not). */
export function isFiniteF32(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(Math.fround(v));
}

export function checkPositiveInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`${name} must be an integer >= ${min}, got ${show(v)}`);
  }
  return v;
}

export function checkFinitePositive(name: string, v: unknown, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    fail(`${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${show(v)}`);
  }
  return v;
}

export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}

export interface OptionRules {
  /** other accepted spellings -> the canonical name (snake_case -> camelCase is automatic) */
  aliases?: Record<string, string>;
  /** names PyTorch has that we do not implement -> why (an error, never silently ignored) */
  unsupported?: Record<string, string>;
}

// (most keys are camelCase already: no regex for them, options are read on every call)
const camelCase = (k: string): string => (k.includes('_') ? k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : k);

/**
 * The one rule for option objects: undefined means {}; anything but a plain object is an
 * error; unknown names are errors (a typo must not silently mean a default); PyTorch's
 * snake_case spellings (weight_decay, last_step_only, ...) are aliases of the camelCase
 * names. Returns the options with canonical keys.
 */
export function normalizeOptions<T extends object>(where: string, what: string, opts: unknown, allowed: readonly string[],
  rules: OptionRules = {}): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    fail(`${where}: ${what} must be an object, got ${Array.isArray(opts) ? 'an array' : show(opts)}`, where);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    const camel = rules.aliases?.[k] ?? camelCase(k);
    const why = rules.unsupported?.[k] ?? rules.unsupported?.[camel];
    if (why !== undefined) fail(`${where}: option '${k}' is not supported (${why})`, where);
    if (!allowed.includes(camel)) fail(`${where}: unknown option '${k}' (options: ${allowed.join(', ')})`, where);
    if (camel in out) fail(`${where}: option '${camel}' is given twice (as '${camel}' and as '${k}')`, where);
    out[camel] = v;
  }
  return out as T;
}

/**
 * Keys the library's data helpers put beside x and target (addingBatch's `positions`,
 * windows' `start`, CharStream's `reset`): a helper's result may be passed on as a batch or
 * a dataset as it is, so these are allowed, and nothing reads them.
 */
export const HELPER_KEYS: readonly string[] = ['positions', 'start', 'reset'];

/**
 * The rule for batch and dataset objects ({ x, target, lengths, ... }): every key is one the
 * call reads, or a data helper's (HELPER_KEYS). A typo (`lenghts`) must not silently train
 * as if the key were absent.
 */
export function checkKeys(where: string, what: string, obj: object, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k) && !HELPER_KEYS.includes(k)) {
      fail(`${where}: ${what} has an unknown key '${k}' (its keys: ${keys.join(', ')})`, where);
    }
  }
}

export interface TensorLike {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** Check a tensor argument against an expected shape (and its data length); returns its data. */
export function checkTensor(name: string, t: unknown, expected: readonly number[], what = ''): ArrayLike<number> {
  // the message text is built only for a failure (this runs on every streaming step)
  const exp = (): string => shapeStr(expected) + (what ? ` (${what})` : '');
  if (t === null || typeof t !== 'object' || !Array.isArray((t as TensorLike).shape) || (t as TensorLike).data == null ||
    typeof (t as TensorLike).data.length !== 'number') {
    fail(`${name} must be a tensor { shape, data } of shape ${exp()}, got ${t === null ? 'null' : typeof t}`);
  }
  const { shape, data } = t as TensorLike;
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    fail(`${name} has shape ${shapeStr(shape)}, expected ${exp()}`);
  }
  const n = expected.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    fail(`${name}.data has ${data.length} values, expected ${n} for shape ${shapeStr(expected)}`);
  }
  return data;
}

/**
 * Whether data[from, to) holds no NaN or Infinity: v * 0 is 0 for a finite v and NaN for
 * NaN and +-Inf, so four running sums of v * 0 stay 0 exactly when every value is finite
 * (one multiply and one add per value, no branch: 4x faster than testing each value, a
 * W1 training step spent 2% of its time here). The caller finds the index only on failure.
 */
export function allFiniteF32(data: Float32Array, from: number, to: number): boolean {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    s0 += data[i] * 0;
    s1 += data[i + 1] * 0;
    s2 += data[i + 2] * 0;
    s3 += data[i + 3] * 0;
  }
  for (; i < to; i++) s0 += data[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/**
 * Throws if any value is NaN, infinite, or beyond float32's range (the model stores
 * float32, where 1e39 would become Infinity): nothing is silently NaN'd or Inf'd.
 */
export function checkFinite(name: string, data: ArrayLike<number>): void {
  // float32 data is already in range; other arrays are checked as they will be stored
  const f32 = data instanceof Float32Array;
  if (f32 && allFiniteF32(data, 0, data.length)) return;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (f32 ? !Number.isFinite(v) : !isFiniteF32(v)) {
      fail(`${name}.data[${i}] is ${show(v)}; values must be finite float32 numbers (|v| <= ${FLOAT32_MAX})`);
    }
  }
}
