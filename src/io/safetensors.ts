// The safetensors file format (huggingface/safetensors), read and written in TypeScript.
//
//   [8 bytes]  N, little-endian uint64: length of the JSON header
//   [N bytes]  JSON: { "__metadata__": {str: str}, name: { dtype, shape, data_offsets: [begin, end] }, ... }
//              padded with spaces to a multiple of 8 bytes
//   [rest]     the byte buffer; data_offsets are relative to its start, little-endian data
//
// Reading validates everything a corrupt or hostile file could get wrong (header length,
// JSON, dtypes, shapes, offsets in range, sizes matching shape * dtype, no overlaps, no
// holes) and names the offending tensor. F32 is read as is; F64, F16 and BF16 are
// converted to float32. Writing produces what `safetensors.torch.save_file` writes:
// `__metadata__` first, tensors sorted by name and laid out in that order.

import { BpttError, show } from '../errors.js';
import type { TensorLike } from '../errors.js';
import type { Tensor } from '../model.js';

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
const READABLE = new Set(['F32', 'F64', 'F16', 'BF16']);

/** The safetensors library refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;
/**
 * At most this many tensors per file, counted on the raw header before JSON.parse (which
 * alone takes seconds on a 59 MB header of 1,000,000 empty tensors). A checkpoint of the
 * largest model (1024 layers, with optimizer state) has about 16,400.
 */
export const MAX_TENSORS = 100_000;

function fail(msg: string): never {
  throw new BpttError(`safetensors: ${msg}`, 'readSafetensors');
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Parse a safetensors file. Throws an Error that names the problem (and the tensor) on bad input. */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) fail('expected the file contents as a Uint8Array (e.g. fs.readFileSync(path))');
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length (truncated or not a safetensors file)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 0x100000000 + lo;
  if (n > MAX_HEADER) fail(`header length ${n} is over the 100 MB limit (corrupt or not a safetensors file)`);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the ${bytes.length}-byte file (truncated or not a safetensors file)`);
  if (n < 2) fail(`header length ${n} is too short for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    fail(`header is not valid UTF-8 (${(e as Error).message}); corrupt or not a safetensors file`);
  }
  // count the tensors before JSON.parse builds them all (a huge header of empty tensors is cheap to write, slow to parse)
  let count = 0;
  for (let p = text.indexOf('"data_offsets"'); p >= 0; p = text.indexOf('"data_offsets"', p + 14)) {
    if (++count > MAX_TENSORS) fail(`header describes more than ${MAX_TENSORS} tensors (the limit; corrupt or not a checkpoint)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message}); corrupt or not a safetensors file`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  // null-prototype records: a tensor or key named "__proto__" is a name like any other
  const metadata: Record<string, string> = Object.create(null);
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(`__metadata__['${k}'] must be a string, got ${typeof s}`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) fail(`tensor '${name}': entry is not an object`);
    const { dtype, shape, data_offsets } = v as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    if (!READABLE.has(dtype)) {
      fail(`tensor '${name}': dtype ${dtype} is not supported (readable: F32, F64, F16, BF16; converted to float32)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}': data_offsets ${JSON.stringify(data_offsets)} is not [begin, end]`);
    }
    const [begin, end] = data_offsets as [number, number];
    if (begin > end) fail(`tensor '${name}': data_offsets [${begin}, ${end}] has begin > end`);
    if (end > dataLen) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data buffer (truncated file?)`);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (numel * DTYPE_BYTES[dtype] !== end - begin) {
      fail(`tensor '${name}': shape [${shape}] of ${dtype} needs ${numel * DTYPE_BYTES[dtype]} bytes, data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The spec: the byte buffer is entirely indexed, without overlaps or holes.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i];
    if (e.begin < pos) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${sorted[i - 1].name}'`);
    if (e.begin > pos) fail(`tensor '${e.name}': data_offsets start at ${e.begin}, leaving a hole after byte ${pos} of the data buffer`);
    pos = e.end;
  }
  if (pos !== dataLen) fail(`data buffer has ${dataLen} bytes but the tensors cover ${pos} (trailing bytes or a corrupt header)`);

  const tensors: Record<string, Tensor> = Object.create(null);
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors[e.name] = { shape: [...e.shape], data: decode(raw, e.dtype) };
  }
  return { tensors, metadata };
}

function decode(raw: Uint8Array, dtype: string): Float32Array {
  const rdv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype) {
    case 'F32': {
      if (raw.length === 0) return new Float32Array(0);
      // copy into an exact, aligned buffer (new Uint8Array(view) copies; a Node Buffer's slice() would not)
      if (littleEndian) return new Float32Array(new Uint8Array(raw).buffer);
      const out = new Float32Array(raw.length / 4);
      for (let i = 0; i < out.length; i++) out[i] = rdv.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(raw.length / 8);
      for (let i = 0; i < out.length; i++) out[i] = rdv.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(raw.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(rdv.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32
      const out = new Float32Array(raw.length / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = rdv.getUint16(2 * i, true) << 16;
      return out;
    }
  }
  throw new BpttError(`safetensors: unsupported dtype ${dtype}`);
}

/** IEEE 754 binary16 -> number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Serialize float32 tensors (any ArrayLike data is stored as F32) and a string->string
 * metadata map. Tensors are sorted by name, as the Python library writes them.
 */
export function writeSafetensors(tensors: Record<string, TensorLike>, metadata: Record<string, string> = {}): Uint8Array {
  const bad = (msg: string): never => {
    throw new BpttError(`safetensors: ${msg}`, 'writeSafetensors');
  };
  if (tensors === null || typeof tensors !== 'object') bad(`tensors must be an object { name: { shape, data } }, got ${show(tensors)}`);
  if (metadata === null || typeof metadata !== 'object') bad(`metadata must be an object of strings, got ${show(metadata)}`);
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = Object.create(null);
  const metaKeys = Object.keys(metadata);
  if (metaKeys.length > 0) {
    for (const k of metaKeys) {
      if (typeof metadata[k] !== 'string') throw new BpttError(`safetensors: metadata['${k}'] must be a string, got ${typeof metadata[k]}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new BpttError("safetensors: '__metadata__' is reserved and cannot name a tensor");
    const t = tensors[name];
    if (t === null || typeof t !== 'object' || t.data == null || typeof t.data.length !== 'number') {
      bad(`tensor '${name}' must be { shape, data }, got ${show(t)}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new BpttError(`safetensors: tensor '${name}': shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) {
      throw new BpttError(`safetensors: tensor '${name}': shape [${t.shape}] needs ${numel} values, data has ${t.data.length}`);
    }
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * numel] };
    offset += 4 * numel;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, padded % 0x100000000, true);
  dv.setUint32(4, Math.floor(padded / 0x100000000), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded); // spaces, as the spec pads
  json = new Uint8Array(0);
  let pos = 8 + padded;
  for (const name of names) {
    const data = tensors[name].data;
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    if (littleEndian) {
      out.set(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength), pos);
    } else {
      for (let i = 0; i < f32.length; i++) dv.setFloat32(pos + 4 * i, f32[i], true);
    }
    pos += f32.byteLength;
  }
  return out;
}
