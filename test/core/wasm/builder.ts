// A small WebAssembly binary builder for tests: modules from typed parts, written straight from
// the spec's binary format (not through the code under test), so tests can make modules that
// wat2wasm refuses to make (invalid ones, hostile ones) and generate many valid ones quickly.

export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, funcref: 0x70, externref: 0x6f } as const;

export function u32(n: number): number[] {
  const out: number[] = [];
  let x = n >>> 0;
  do {
    let b = x & 0x7f;
    x >>>= 7;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

export function s64(v: bigint | number): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

export const s32 = (v: number): number[] => s64(v | 0);

export function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...u32(b.length), ...b];
}

export function vec(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

export function section(id: number, body: number[]): number[] {
  return [id, ...u32(body.length), ...body];
}

/** Instructions. */
export const I = {
  end: 0x0b,
  unreachable: 0x00,
  nop: 0x01,
  block: (bt = 0x40) => [0x02, bt],
  loop: (bt = 0x40) => [0x03, bt],
  if: (bt = 0x40) => [0x04, bt],
  else: 0x05,
  br: (l: number) => [0x0c, ...u32(l)],
  brIf: (l: number) => [0x0d, ...u32(l)],
  brTable: (labels: number[], dflt: number) => [0x0e, ...vec(labels.map((l) => u32(l))), ...u32(dflt)],
  return: 0x0f,
  call: (f: number) => [0x10, ...u32(f)],
  callIndirect: (t: number, table = 0) => [0x11, ...u32(t), ...u32(table)],
  drop: 0x1a,
  select: 0x1b,
  localGet: (x: number) => [0x20, ...u32(x)],
  localSet: (x: number) => [0x21, ...u32(x)],
  localTee: (x: number) => [0x22, ...u32(x)],
  globalGet: (x: number) => [0x23, ...u32(x)],
  globalSet: (x: number) => [0x24, ...u32(x)],
  i32Load: (offset = 0) => [0x28, 2, ...u32(offset)],
  i32Store: (offset = 0) => [0x36, 2, ...u32(offset)],
  memorySize: [0x3f, 0],
  memoryGrow: [0x40, 0],
  i32: (v: number) => [0x41, ...s32(v)],
  i64: (v: bigint | number) => [0x42, ...s64(v)],
  i32Eqz: 0x45,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivU: 0x6e,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  refNull: (t: number) => [0xd0, t],
  memoryFill: [0xfc, 11, 0],
  memoryCopy: [0xfc, 10, 0, 0],
  tableGrow: (t = 0) => [0xfc, 15, ...u32(t)],
  tableSize: (t = 0) => [0xfc, 16, ...u32(t)],
};

export interface Fn {
  params?: number[];
  results?: number[];
  locals?: Array<[number, number]>;
  /** instructions, without the final end */
  body: Array<number | number[]>;
  export?: string;
}

export interface ModuleParts {
  imports?: Array<{ module: string; name: string; params: number[]; results: number[] }>;
  funcs: Fn[];
  tables?: Array<{ ref: number; min: number; max?: number }>;
  memory?: { min: number; max?: number; export?: string };
  globals?: Array<{ type: number; mutable: boolean; init: number[]; export?: string }>;
  exports?: Array<{ name: string; kind: number; index: number }>;
  start?: number;
  /** Active element segments on table 0. */
  elems?: Array<{ offset: number; funcs: number[] }>;
  data?: Array<{ offset: number; bytes: number[] }>;
}

export function limits(min: number, max?: number): number[] {
  return max === undefined ? [0, ...u32(min)] : [1, ...u32(min), ...u32(max)];
}

/** The function body bytes (size-prefixed), locals included. */
export function body(f: Pick<Fn, 'locals' | 'body'>): number[] {
  const b = [...vec((f.locals ?? []).map(([n, t]) => [...u32(n), t])), ...f.body.flat(), I.end];
  return [...u32(b.length), ...b];
}

export function wasmModule(p: ModuleParts): Uint8Array {
  // types in order of first use: imports, then functions (tests may rely on this numbering)
  const types: string[] = [];
  const typeOf = (params: number[], results: number[]): number => {
    const k = JSON.stringify([params, results]);
    let i = types.indexOf(k);
    if (i < 0) i = types.push(k) - 1;
    return i;
  };
  const importIdx = (p.imports ?? []).map((i) => typeOf(i.params, i.results));
  const funcIdx = p.funcs.map((f) => typeOf(f.params ?? [], f.results ?? []));
  const nImp = importIdx.length;
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  out.push(...section(1, vec(types.map((k) => {
    const [ps, rs] = JSON.parse(k) as [number[], number[]];
    return [0x60, ...vec(ps.map((x) => [x])), ...vec(rs.map((x) => [x]))];
  }))));
  if (p.imports?.length) out.push(...section(2, vec(p.imports.map((im, i) => [...name(im.module), ...name(im.name), 0x00, ...u32(importIdx[i]!)]))));
  out.push(...section(3, vec(funcIdx.map((t) => u32(t)))));
  if (p.tables?.length) out.push(...section(4, vec(p.tables.map((t) => [t.ref, ...limits(t.min, t.max)]))));
  if (p.memory) out.push(...section(5, vec([limits(p.memory.min, p.memory.max)])));
  if (p.globals?.length) out.push(...section(6, vec(p.globals.map((g) => [g.type, g.mutable ? 1 : 0, ...g.init, I.end]))));
  const exports: number[][] = [];
  p.funcs.forEach((f, i) => f.export && exports.push([...name(f.export), 0x00, ...u32(nImp + i)]));
  if (p.memory?.export) exports.push([...name(p.memory.export), 0x02, 0]);
  p.globals?.forEach((g, i) => g.export && exports.push([...name(g.export), 0x03, ...u32(i)]));
  for (const e of p.exports ?? []) exports.push([...name(e.name), e.kind, ...u32(e.index)]);
  if (exports.length) out.push(...section(7, vec(exports)));
  if (p.start !== undefined) out.push(...section(8, u32(p.start)));
  if (p.elems?.length) out.push(...section(9, vec(p.elems.map((e) => [0, ...I.i32(e.offset), I.end, ...vec(e.funcs.map((f) => u32(f)))]))));
  out.push(...section(10, [...u32(p.funcs.length), ...p.funcs.flatMap((f) => body(f))]));
  if (p.data?.length) out.push(...section(11, vec(p.data.map((d) => [0, ...I.i32(d.offset), I.end, ...u32(d.bytes.length), ...d.bytes]))));
  return Uint8Array.from(out);
}

/**
 * A large WASI command, made with Buffers (the builder's arrays would take seconds): `functions`
 * functions of type [] → [], each `count` repetitions of `instruction`, the first exported as
 * _start, and a one-page memory exported as memory. For the rewriter's bounds: its cost grows
 * with the instructions of the largest function (memory) and of all of them (time).
 */
export function repeatedModule(p: { functions: number; instruction: number[]; count: number }): Uint8Array<ArrayBuffer> {
  const unit = Buffer.from(p.instruction);
  const code = Buffer.alloc(unit.length * p.count);
  for (let i = 0; i < p.count; i++) unit.copy(code, i * unit.length);
  const fn = Buffer.concat([Buffer.from([0x00]), code, Buffer.from([I.end])]); // no locals
  const fnWithSize = Buffer.concat([Buffer.from(u32(fn.length)), fn]);
  const codeBody = Buffer.concat([Buffer.from(u32(p.functions)), ...Array<Buffer>(p.functions).fill(fnWithSize)]);
  const head = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0, 0]])),
    ...section(3, vec(Array.from({ length: p.functions }, () => [0]))),
    ...section(5, vec([limits(1)])),
    ...section(7, vec([[...name('_start'), 0x00, 0], [...name('memory'), 0x02, 0]])),
  ];
  return own(Buffer.concat([Buffer.from(head), Buffer.from([10, ...u32(codeBody.length)]), codeBody]));
}

/**
 * A WASI command whose type section holds `types` distinct function types of `params` parameters
 * each (plus the [] → [] of _start): the engine's validation of many types is superlinear in
 * their number (about 2.7 s for 20,000 of 20 here), all of it in native code.
 */
export function manyTypesModule(types: number, params: number): Uint8Array<ArrayBuffer> {
  const kinds = [T.i32, T.i64, T.f32, T.f64];
  const parts: Buffer[] = [Buffer.from(u32(types + 1)), Buffer.from([0x60, 0, 0])];
  for (let i = 0; i < types; i++) {
    const ps = Buffer.alloc(params, T.i32);
    // distinct: i written in base 4 over the parameters' types
    for (let k = 0, x = i; k < params; k++, x >>= 2) ps[k] = kinds[x & 3]!;
    parts.push(Buffer.from([0x60, ...u32(params)]), ps, Buffer.from([0]));
  }
  const typeSection = Buffer.concat(parts);
  return own(
    Buffer.concat([
      Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
      Buffer.from([1, ...u32(typeSection.length)]),
      typeSection,
      Buffer.from([
        ...section(3, vec([[0]])),
        ...section(5, vec([limits(1)])),
        ...section(7, vec([[...name('_start'), 0x00, 0], [...name('memory'), 0x02, 0]])),
        ...section(10, vec([body({ body: [] })])),
      ]),
    ]),
  );
}

/** The bytes in an ArrayBuffer of their own (what WebAssembly's functions take). */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/**
 * A WASI command whose _start pushes `values` i32s, then runs `blocks` empty blocks typed
 * (i32 × values) → (i32 × values) one after another, then drops the values: three bytes a block,
 * and the engine's validation keeps about 10 KB for each (at 300 values) until the function ends,
 * in native memory (its zone), outside V8's heap (found by attack: 20,000 blocks, 60 KiB of
 * module, about 210 MB).
 */
export function manyParamBlocksModule(values: number, blocks: number): Uint8Array<ArrayBuffer> {
  const many = [...vec(Array.from({ length: values }, () => [T.i32]))];
  const code = Buffer.alloc(1 + 2 * values + 3 * blocks + values + 1);
  let at = 1; // no locals
  for (let i = 0; i < values; i++) (code[at++] = 0x41), (code[at++] = 0); // i32.const 0
  for (let k = 0; k < blocks; k++) (code[at++] = 0x02), (code[at++] = 0x01), (code[at++] = I.end); // block (type 1) end
  for (let i = 0; i < values; i++) code[at++] = I.drop;
  code[at] = I.end;
  const fn = Buffer.concat([Buffer.from(u32(code.length)), code]);
  return own(
    Buffer.concat([
      Buffer.from([
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        ...section(1, vec([[0x60, 0, 0], [0x60, ...many, ...many]])),
        ...section(3, vec([[0]])),
        ...section(5, vec([limits(1)])),
        ...section(7, vec([[...name('_start'), 0x00, 0], [...name('memory'), 0x02, 0]])),
      ]),
      Buffer.from([10, ...u32(fn.length + 1), 1]),
      fn,
    ]),
  );
}
