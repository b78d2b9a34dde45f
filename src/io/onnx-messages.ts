// The ONNX messages the import reads (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto), decoded from the wire format (io/onnx-wire.ts). Tensors are
// decoded on use, and every size is checked against the bytes before anything is allocated.

import { fail as libFail } from '../errors.js';
import { halfToFloat } from './safetensors.js';
import { Msg } from './onnx-wire.js';

/** The library's error (errors.ts), every message starting 'onnx: '. */
function fail(msg: string): never {
  return libFail(`onnx: ${msg}`);
}
export { fail as onnxFail };

const DTYPES: Record<number, string> = {
  1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};
const dtypeName = (t: number): string => DTYPES[t] ?? `data_type ${t}`;
/** 2^31: protobuf messages are under 2 GiB, so no tensor in a file has more one-byte elements */
const MAX_ELEMENTS = 2 ** 31;

/**
 * A TensorProto, decoded on use (so an odd tensor the import never needs does no harm), or
 * the plain values of a Constant node's value_float(s) / value_int(s).
 */
export class OnnxTensor {
  private constructor(
    readonly name: string, readonly dims: number[], readonly dataType: number,
    private readonly m: Msg | null, private readonly values: number[] | null,
  ) {
    for (const d of dims) if (!Number.isSafeInteger(d) || d < 0) fail(`tensor '${name}': dims [${dims}] has an invalid size ${d}`);
    // An ONNX file holds at most 2 GiB (protobuf's limit), so more elements than that cannot
    // all be present; the product is checked as it grows so it cannot overflow either.
    let n = 1;
    for (const d of dims) {
      n *= d;
      if (n > MAX_ELEMENTS) fail(`tensor '${name}': dims [${dims}] have more than ${MAX_ELEMENTS} elements, more than an ONNX file can hold`);
    }
    if (dims.length > 8) fail(`tensor '${name}': ${dims.length} dims [${dims}]; at most 8 expected`);
  }

  static decode(m: Msg, fallbackName: string): OnnxTensor {
    const t = new OnnxTensor(m.str(8, 'name') || fallbackName, m.ints(1, 'dims'), m.int(2, 'data_type') ?? 0, m, null);
    if (m.int(14, 'data_location') === 1 || m.has(13)) {
      fail(`tensor '${t.name}' keeps its data in an external file; save the model with all tensors inside ` +
        `(onnx.save(model, path, save_as_external_data=False))`);
    }
    return t;
  }

  static of(name: string, dims: number[], dataType: 1 | 7, values: number[]): OnnxTensor {
    return new OnnxTensor(name, dims, dataType, null, values);
  }

  get numel(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  private rawOrNull(bytesPer: number): DataView | null {
    const raw = this.m?.bytes(9, 'raw_data');
    if (raw === undefined) return null;
    if (raw.length !== this.numel * bytesPer) {
      fail(`tensor '${this.name}': dims [${this.dims}] of ${dtypeName(this.dataType)} need ${this.numel * bytesPer} bytes of raw_data, found ${raw.length} (corrupt file?)`);
    }
    return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  private counted<T extends ArrayLike<number>>(vals: T, field: string): T {
    if (vals.length !== this.numel) fail(`tensor '${this.name}': dims [${this.dims}] need ${this.numel} values, ${field} has ${vals.length}`);
    return vals;
  }

  /**
   * FLOAT as is; DOUBLE, FLOAT16 and BFLOAT16 converted (rounded) to float32. The output is
   * allocated only once the values are known to be present (dims alone may claim gigabytes).
   */
  floats(): Float32Array {
    const n = this.numel;
    if (this.values && this.dataType === 1) return Float32Array.from(this.counted(this.values, 'value_floats'));
    const m = this.m ?? fail(`tensor '${this.name}' is ${dtypeName(this.dataType)}; weights must be floats`);
    switch (this.dataType) {
      case 1: {
        const dv = this.rawOrNull(4);
        if (!dv) return Float32Array.from(this.counted(m.reals(4, 'float_data', 5), 'float_data'));
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
        return out;
      }
      case 11: {
        const dv = this.rawOrNull(8);
        if (!dv) return Float32Array.from(this.counted(m.reals(10, 'double_data', 1), 'double_data'));
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
        return out;
      }
      case 10:
      case 16: {
        // 16-bit floats: raw_data, or one uint16 per int32_data entry
        const dv = this.rawOrNull(2);
        const bits = dv ? Array.from({ length: n }, (_, i) => dv.getUint16(2 * i, true)) : this.counted(m.ints(5, 'int32_data'), 'int32_data');
        const out = new Float32Array(n);
        if (this.dataType === 10) for (let i = 0; i < n; i++) out[i] = halfToFloat(bits[i] & 0xffff);
        else new Uint32Array(out.buffer).set(Array.from(bits, (b) => (b & 0xffff) << 16)); // bfloat16 = top half of a float32
        return out;
      }
    }
    fail(`tensor '${this.name}' is ${dtypeName(this.dataType)}; weights must be FLOAT, DOUBLE, FLOAT16 or BFLOAT16`);
  }

  /** INT64 / INT32 (axes, shapes, perms) */
  ints(): number[] {
    const n = this.numel;
    if (this.values && this.dataType === 7) return this.counted(this.values, 'value_ints');
    const m = this.m ?? fail(`tensor '${this.name}' is ${dtypeName(this.dataType)}, expected INT64 or INT32`);
    if (this.dataType === 7) {
      const dv = this.rawOrNull(8);
      if (!dv) return this.counted(m.ints(7, 'int64_data'), 'int64_data');
      return Array.from({ length: n }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
    }
    if (this.dataType === 6) {
      const dv = this.rawOrNull(4);
      if (!dv) return this.counted(m.ints(5, 'int32_data'), 'int32_data').map((v) => v | 0);
      return Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
    }
    fail(`tensor '${this.name}' is ${dtypeName(this.dataType)}, expected INT64 or INT32`);
  }
}

export interface OnnxAttr {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  strings: string[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, OnnxAttr>;
}

export interface OnnxValueInfo {
  name: string;
  /** dims: a number, a symbolic name, or null when unknown; undefined shape = not declared */
  shape?: (number | string | null)[];
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  /** names of sparse initializers (not written by PyTorch for dense weights; refused on use) */
  sparse: Set<string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

function decodeAttr(m: Msg): OnnxAttr {
  const name = m.str(1, 'name') ?? '';
  const f = m.has(2) ? m.reals(2, 'f', 5).pop() : undefined;
  const t = m.msg(5, 't');
  return {
    name, f, i: m.int(3, 'i'), s: m.str(4, 's'), t: t && OnnxTensor.decode(t, `${name} attribute`),
    floats: m.reals(7, 'floats', 5), ints: m.ints(8, 'ints'), strings: m.strs(9, 'strings'),
  };
}

function decodeNode(m: Msg, index: number): OnnxNode {
  const opType = m.str(4, 'op_type') ?? '';
  const attrs = new Map<string, OnnxAttr>();
  for (const a of m.msgs(5, 'attribute')) {
    const attr = decodeAttr(a);
    attrs.set(attr.name, attr);
  }
  return {
    name: m.str(3, 'name') || `#${index} (${opType})`, opType, domain: m.str(7, 'domain') ?? '',
    inputs: m.strs(1, 'input'), outputs: m.strs(2, 'output'), attrs,
  };
}

function decodeValueInfo(m: Msg): OnnxValueInfo {
  const name = m.str(1, 'name') ?? '';
  const shape = m.msg(2, 'type')?.msg(1, 'tensor_type')?.msg(2, 'shape');
  if (!shape) return { name };
  return {
    name,
    shape: shape.msgs(1, 'dim').map((d) => d.int(1, 'dim_value') ?? d.str(2, 'dim_param') ?? null),
  };
}

export function decodeModel(bytes: Uint8Array): OnnxGraph {
  const model = new Msg(bytes, 0, bytes.length, 'ModelProto');
  const irVersion = model.int(1, 'ir_version');
  const g = model.msg(7, 'graph');
  if (!g) {
    fail(`no graph in the file (${irVersion === undefined ? 'no ir_version either: ' : ''}not an ONNX model, or truncated before the graph)`);
  }
  // Every ONNX model names its opsets; PyTorch writes them after the graph, so a file cut
  // right after the graph still shows up as truncated. (The ops read here mean the same in
  // every opset from 7 on; Squeeze/Unsqueeze axes are read from attribute or input.)
  if (model.msgs(8, 'opset_import').length === 0) fail('no opset_import after the graph (truncated file?)');
  const initializers = new Map<string, OnnxTensor>();
  g.msgs(5, 'initializer').forEach((t, i) => {
    const tensor = OnnxTensor.decode(t, `initializer #${i}`);
    initializers.set(tensor.name, tensor);
  });
  return {
    nodes: g.msgs(1, 'node').map(decodeNode),
    initializers,
    sparse: new Set(g.msgs(15, 'sparse_initializer').map((s) => s.msg(1, 'values')?.str(8, 'name') ?? '')),
    inputs: g.msgs(11, 'input').map(decodeValueInfo),
    outputs: g.msgs(12, 'output').map(decodeValueInfo),
  };
}
