// Minimal WebAssembly binary reading and writing (pure): LEB128, sections, vectors. Enough for
// the fuel rewriter; everything it does not understand is refused by the caller, never guessed.

export class WasmFormatError extends Error {}

export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end of module');
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw new WasmFormatError('u32 LEB128 too long');
  }
  /** Signed LEB128 of up to `bits` bits, skipped (the rewriter copies bytes, it needs no value). */
  skipSigned(bits: number): void {
    const max = Math.ceil(bits / 7);
    for (let i = 0; i < max; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError('signed LEB128 too long');
  }
  /** A signed 33-bit block type: 0x40, a value type, or a type index. */
  blockType(): void {
    const b = this.bytes[this.pos];
    if (b === 0x40 || (b !== undefined && b >= 0x6f && b <= 0x7f)) {
      this.pos++;
      return;
    }
    this.skipSigned(33);
  }
  skip(n: number): void {
    if (this.pos + n > this.end) throw new WasmFormatError('unexpected end of module');
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + n));
    this.skip(n);
    return s;
  }
}

export class Writer {
  private chunks: number[] = [];
  byte(b: number): this {
    this.chunks.push(b & 0xff);
    return this;
  }
  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.chunks.push(bs[i]! & 0xff);
    return this;
  }
  u32(v: number): this {
    let x = v >>> 0;
    do {
      let b = x & 0x7f;
      x >>>= 7;
      if (x !== 0) b |= 0x80;
      this.chunks.push(b);
    } while (x !== 0);
    return this;
  }
  s64(v: bigint): this {
    let x = v;
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
      this.chunks.push(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }
  get length(): number {
    return this.chunks.length;
  }
  toBytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export interface Section {
  id: number;
  /** Payload, without id and size. */
  body: Uint8Array;
}

export function readSections(bytes: Uint8Array): Section[] {
  const r = new Reader(bytes);
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (const m of magic) if (r.byte() !== m) throw new WasmFormatError('not a WebAssembly 1.0 module');
  const out: Section[] = [];
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    out.push({ id, body: bytes.subarray(start, start + size) });
  }
  return out;
}

export function writeModule(sections: readonly Section[]): Uint8Array {
  const w = new Writer().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const s of sections) w.byte(s.id).u32(s.body.length).bytes(s.body);
  return w.toBytes();
}
