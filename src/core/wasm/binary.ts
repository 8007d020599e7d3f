// Minimal WebAssembly binary reading and writing (pure): LEB128, sections, vectors. Enough for
// the fuel rewriter; everything it does not understand is refused by the caller, never guessed.
// Every read is bounded: a length or count that runs past its section, an over-long or
// out-of-range LEB128, or malformed UTF-8 is a WasmFormatError carrying the module's byte
// offset, never a RangeError or a silently short read.

export class WasmFormatError extends Error {
  constructor(
    message: string,
    /** Offset in the module's bytes where the problem was found. */
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    if (end > bytes.length || start > end) throw new WasmFormatError('a length runs past the end of the module', Math.min(start, bytes.length));
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  fail(message: string, at = this.pos): never {
    throw new WasmFormatError(message, at);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of section');
    return this.bytes[this.pos++]!;
  }
  /** The next byte, not consumed (undefined at the end). */
  peek(): number | undefined {
    return this.pos < this.end ? this.bytes[this.pos] : undefined;
  }
  /** Unsigned LEB128 of at most 5 bytes whose value fits 32 bits. */
  u32(): number {
    const at = this.pos;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      if (i === 4 && b > 0x0f) this.fail('u32 LEB128 out of range (more than 32 bits)', at);
      result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return result;
    }
    return this.fail('u32 LEB128 too long', at);
  }
  /** A u32 that counts items of at least `minBytes` bytes each: it cannot exceed what is left. */
  count(what: string, minBytes = 1): number {
    const at = this.pos;
    const n = this.u32();
    if (n * minBytes > this.end - this.pos) this.fail(`${what} count ${n} is larger than the ${this.end - this.pos} bytes left`, at);
    return n;
  }
  /** Signed LEB128 of `bits` bits: returned as a number (exact for bits ≤ 53), bounds-checked. */
  signed(bits: number): number {
    const at = this.pos;
    const max = Math.ceil(bits / 7);
    let result = 0;
    for (let i = 0; i < max; i++) {
      const b = this.byte();
      if ((b & 0x80) === 0) {
        if (i === max - 1) {
          // the unused high bits of the last byte must all equal the sign bit
          const used = bits - 7 * i; // bits taken from this byte, sign included
          const rest = (b & 0x7f) >> (used - 1);
          if (rest !== 0 && rest !== 0x7f >> (used - 1)) this.fail(`signed ${bits}-bit LEB128 out of range`, at);
        }
        result += (b & 0x7f) * 2 ** (7 * i);
        if (b & 0x40) result -= 2 ** (7 * (i + 1));
        return result;
      }
      result += (b & 0x7f) * 2 ** (7 * i);
    }
    return this.fail(`signed ${bits}-bit LEB128 too long`, at);
  }
  skip(n: number): void {
    if (n > this.end - this.pos) this.fail(`a length of ${n} runs past the end of its section (${this.end - this.pos} bytes left)`);
    this.pos += n;
  }
  name(): string {
    const at = this.pos;
    const n = this.u32();
    const from = this.pos;
    this.skip(n);
    try {
      return utf8.decode(this.bytes.subarray(from, from + n));
    } catch {
      return this.fail('a name is not valid UTF-8', at);
    }
  }
  /** The reader must have consumed its range exactly. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) this.fail(`${what}: ${this.end - this.pos} unread bytes before its end`);
  }
}

/** A growable byte buffer (amortised doubling; no per-byte boxing). */
export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): this {
    this.room(1);
    this.buf[this.len++] = b & 0xff;
    return this;
  }
  bytes(bs: Uint8Array | readonly number[]): this {
    this.room(bs.length);
    if (bs instanceof Uint8Array) this.buf.set(bs, this.len);
    else for (let i = 0; i < bs.length; i++) this.buf[this.len + i] = bs[i]! & 0xff;
    this.len += bs.length;
    return this;
  }
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`not a u32: ${v}`);
    let x = v;
    do {
      let b = x % 128;
      x = Math.floor(x / 128);
      if (x !== 0) b |= 0x80;
      this.byte(b);
    } while (x !== 0);
    return this;
  }
  s64(v: bigint): this {
    let x = v;
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }
  get length(): number {
    return this.len;
  }
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export interface Section {
  id: number;
  /** Payload, without id and size. */
  body: Uint8Array;
  /** Offset of the payload in the module's bytes (for messages). */
  offset: number;
}

export const SECTION_NAMES: Record<number, string> = {
  0: 'custom',
  1: 'type',
  2: 'import',
  3: 'function',
  4: 'table',
  5: 'memory',
  6: 'global',
  7: 'export',
  8: 'start',
  9: 'element',
  10: 'code',
  11: 'data',
  12: 'data count',
  13: 'tag',
};

/** Sections as they come, each bounded by its declared size (which must fit the module). */
export function readSections(bytes: Uint8Array): Section[] {
  const r = new Reader(bytes);
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (const m of magic) if (r.done || r.byte() !== m) throw new WasmFormatError('not a WebAssembly 1.0 module (bad magic or version)', 0);
  const out: Section[] = [];
  while (!r.done) {
    const at = r.pos;
    const id = r.byte();
    const size = r.u32();
    if (size > r.end - r.pos) throw new WasmFormatError(`section ${id} (${SECTION_NAMES[id] ?? 'unknown'}) declares ${size} bytes but only ${r.end - r.pos} are left`, at);
    const start = r.pos;
    r.pos += size;
    out.push({ id, body: bytes.subarray(start, start + size), offset: start });
  }
  return out;
}

export function writeModule(sections: ReadonlyArray<Pick<Section, 'id' | 'body'>>): Uint8Array {
  const w = new Writer().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const s of sections) w.byte(s.id).u32(s.body.length).bytes(s.body);
  return w.toBytes();
}
