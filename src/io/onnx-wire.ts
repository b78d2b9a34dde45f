// The protobuf wire format, the part of it an ONNX file needs (io/onnx.ts lists the fields
// read): every field is a varint key (field number << 3 | wire type) followed by a varint
// (wire type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5).
// Decoding errors are WireError; io/onnx.ts turns them into the library's error.

/** A decode error: the bytes are not a well-formed protobuf message. */
export class WireError extends Error {}

interface Field {
  no: number;
  wire: number;
  /** the value of a varint field (wire type 0) */
  value: number;
  /** byte range [start, end) of the payload for wire types 1, 2 and 5 */
  start: number;
  end: number;
}

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit'];

/** Read a varint at p (< end); int64 fields are two's complement in 10 bytes when negative. */
function readVarint(buf: Uint8Array, p: number, end: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 7; i++) {
    if (p >= end) throw new WireError(`varint runs past the end of its message at byte ${p}`);
    const b = buf[p++];
    value += (b & 0x7f) * mul;
    mul *= 128;
    if (!(b & 0x80)) return [value, p];
  }
  // Over 49 bits: rare (negative int64s), so take the exact but slow path.
  let big = BigInt(value);
  let shift = 49n;
  for (let i = 7; i < 10; i++) {
    if (p >= end) throw new WireError(`varint runs past the end of its message at byte ${p}`);
    const b = buf[p++];
    big |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (!(b & 0x80)) return [Number(BigInt.asIntN(64, big)), p];
  }
  throw new WireError(`varint longer than 10 bytes at byte ${p - 10}`);
}

function readFields(buf: Uint8Array, start: number, end: number): Field[] {
  const out: Field[] = [];
  let p = start;
  while (p < end) {
    const at = p;
    const [key, q] = readVarint(buf, p, end);
    p = q;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (no < 1 || no > 0x1fffffff) throw new WireError(`invalid field number ${no} at byte ${at}`);
    switch (wire) {
      case 0: {
        const [value, r] = readVarint(buf, p, end);
        out.push({ no, wire, value, start: p, end: r });
        p = r;
        break;
      }
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (p + n > end) throw new WireError(`field ${no} (${WIRE_NAMES[wire]}) at byte ${at} runs past the end of its message`);
        out.push({ no, wire, value: 0, start: p, end: p + n });
        p += n;
        break;
      }
      case 2: {
        const [len, r] = readVarint(buf, p, end);
        if (len < 0 || r + len > end) {
          throw new WireError(`field ${no} at byte ${at} declares ${len} bytes, past the end of its message (${end - r} left)`);
        }
        out.push({ no, wire, value: 0, start: r, end: r + len });
        p = r + len;
        break;
      }
      default:
        throw new WireError(`field ${no} at byte ${at} has wire type ${wire} (${WIRE_NAMES[wire] ?? 'invalid'}), which ONNX never uses`);
    }
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One decoded message: typed accessors over its fields, checking wire types. */
export class Msg {
  readonly fields: Field[];
  constructor(readonly buf: Uint8Array, readonly start: number, readonly end: number, readonly what: string) {
    this.fields = readFields(buf, start, end);
  }

  private all(no: number, wires: number[], kind: string): Field[] {
    const fs = this.fields.filter((f) => f.no === no);
    for (const f of fs) {
      if (!wires.includes(f.wire)) {
        throw new WireError(`${this.what}: field ${no} (${kind}) has wire type ${f.wire} (${WIRE_NAMES[f.wire]}), expected ${wires.map((w) => WIRE_NAMES[w]).join(' or ')}`);
      }
    }
    return fs;
  }

  has(no: number): boolean {
    return this.fields.some((f) => f.no === no);
  }

  int(no: number, kind: string): number | undefined {
    const fs = this.all(no, [0], kind);
    return fs.length ? fs[fs.length - 1].value : undefined; // proto3: the last one wins
  }

  bytes(no: number, kind: string): Uint8Array | undefined {
    const fs = this.all(no, [2], kind);
    return fs.length ? this.buf.subarray(fs[fs.length - 1].start, fs[fs.length - 1].end) : undefined;
  }

  str(no: number, kind: string): string | undefined {
    const b = this.bytes(no, kind);
    return b === undefined ? undefined : this.decodeStr(b, kind);
  }

  strs(no: number, kind: string): string[] {
    return this.all(no, [2], kind).map((f) => this.decodeStr(this.buf.subarray(f.start, f.end), kind));
  }

  msgs(no: number, kind: string): Msg[] {
    return this.all(no, [2], kind).map((f, i) => new Msg(this.buf, f.start, f.end, `${this.what}.${kind}[${i}]`));
  }

  msg(no: number, kind: string): Msg | undefined {
    const fs = this.all(no, [2], kind);
    if (!fs.length) return undefined;
    const f = fs[fs.length - 1];
    return new Msg(this.buf, f.start, f.end, `${this.what}.${kind}`);
  }

  /** repeated int64/int32: packed (one length-delimited run of varints) or one field each */
  ints(no: number, kind: string): number[] {
    const out: number[] = [];
    for (const f of this.all(no, [0, 2], kind)) {
      if (f.wire === 0) { out.push(f.value); continue; }
      for (let p = f.start; p < f.end;) {
        const [v, q] = readVarint(this.buf, p, f.end);
        out.push(v);
        p = q;
      }
    }
    return out;
  }

  /** float (wire 5) or double (wire 1), packed or not */
  reals(no: number, kind: string, wire: 1 | 5): number[] {
    const n = wire === 1 ? 8 : 4;
    const out: number[] = [];
    for (const f of this.all(no, [wire, 2], kind)) {
      if ((f.end - f.start) % n) throw new WireError(`${this.what}: packed ${kind} has ${f.end - f.start} bytes, not a multiple of ${n}`);
      const dv = new DataView(this.buf.buffer, this.buf.byteOffset + f.start, f.end - f.start);
      for (let i = 0; i < dv.byteLength; i += n) out.push(n === 8 ? dv.getFloat64(i, true) : dv.getFloat32(i, true));
    }
    return out;
  }

  private decodeStr(b: Uint8Array, kind: string): string {
    try {
      return utf8.decode(b);
    } catch {
      throw new WireError(`${this.what}: ${kind} is not valid UTF-8`);
    }
  }
}
