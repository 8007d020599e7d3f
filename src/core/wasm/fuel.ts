// The fuel rewriter (pure): instruments a WASI module so it meters itself, deterministically.
//
//   - a mutable i64 global, exported as __bvisor_fuel, holds the budget left; the host sets it
//     before running and reads it after; while guest code runs the counter is passed from
//     function to function in a register (an extra i64 parameter and result, see below);
//   - every straight-line segment is charged its instruction count where it starts (1 per
//     instruction; block, loop, end and else free: wasmtime's rule, unit fuel:wasmtime-like/v1);
//   - the budget is checked at function entry and at every loop header: below zero the module
//     writes the counter back and executes `unreachable` (the host tells this trap from others by
//     the negative fuel);
//   - memory.fill/copy/init, table.fill/copy/init and table.grow are charged one more unit per
//     64 elements, at run time, from their length operand, and checked right after that charge,
//     before they run: one such op cannot take more than the budget left (found by attack: 20,000
//     fills of 15 MiB in one segment ran to the wall, their charges checked only at its end);
//   - limits.memory covers linear memory and tables together (splitMemory): the memory's maximum
//     becomes min(declared, cap) pages, each table's maximum is cut so that all tables stay
//     within their share, and a minimum above either cap is refused;
//   - a start function is not run at instantiation but exported as __bvisor_start, so the
//     budget is set before any guest code runs; every table is exported as __bvisor_tableN, so
//     the runner can report what the tables reached.
//
// Nothing is rewritten before it is validated. The rewriter appends a global (the counter) and
// functions (the wrappers the host calls), so a module that is invalid only because it names them
// (a call of the function index just past its own) would become valid, and able to escape its
// budget, after rewriting.
// Two independent layers stop that: the engine's own validation of the original bytes, and the
// rewriter's bounds checks on every length, count and index it reads (section order and sizes,
// vector counts, LEB128 widths, local, global, function, type, table, memory, element, data and
// label indices). Finally the rewritten bytes are validated again; a failure there is refused too.
//
// Proposals the rewriter cannot meter soundly are refused: threads (shared memory, atomics),
// exceptions, GC, SIMD, memory64, multiple memories; and an imported function used as a value.
// Indices of existing functions, globals and types do not change (new items are appended), so a
// name section's function names stay valid; a function's declared locals move up by one (after
// the counter parameter), which only a debugger's local names would notice. docs/wasm-fuel.md has
// the strategy and its measurements.
import { effectiveChecks, type UncheckedForTests } from './test-checks.js';
import { Reader, Writer, readSections, writeModule, WasmFormatError, SECTION_NAMES, type Section } from './binary.js';
import { WASI_PREVIEW1, sameType, showType, type FuncType } from './wasi-types.js';
import { FUEL_EXPORT, START_EXPORT, TABLE_EXPORT_PREFIX, FUEL_VERSION, TABLE_ENTRY_BYTES } from './names.js';

export { FUEL_EXPORT, START_EXPORT, TABLE_EXPORT_PREFIX, FUEL_VERSION, TABLE_ENTRY_BYTES };

/** Changes whenever the rewriter's output or its checks change (part of the cache key). */
export const REWRITER_VERSION = 'bvisor-rewriter/6';
/** Bulk operations cost one extra unit per this many bytes or elements (as wasmi does). */
export const BULK_UNIT = 64;
export const WASM_PAGE = 65536;
/** Tables get 1/TABLE_SHARE of limits.memory, linear memory the rest. */
export const TABLE_SHARE = 16;
/** The most locals (parameters included) a function may have: V8's limit. */
export const MAX_LOCALS = 50_000;
/** V8's limits (src/wasm/wasm-limits.h: kV8MaxWasmFunctionSize, kV8MaxWasmModuleSize): what it
 * compiles at most in one function body and in one module. The rewriter's output is held to them
 * as it is written, so a module that grows past them (every one-byte segment gains a charge) is
 * refused by name, early, rather than by the engine's validation of the whole output. */
export const V8_MAX_FUNCTION_BYTES = 7_654_321;
export const V8_MAX_MODULE_BYTES = 2 ** 30;
/** Caps without a memory limit: 1 GiB of linear memory and 2^20 table entries (64 MiB). */
export const DEFAULT_CAPS: Readonly<FuelOptions> = { maxPages: 16384, tableEntries: 1 << 20 };

/**
 * limits.memory split between linear memory and tables, so that together they stay within it:
 * maxPages × 64 KiB + tableEntries × TABLE_ENTRY_BYTES ≤ bytes.
 */
export function splitMemory(bytes: number): FuelOptions {
  const tableBytes = Math.floor(bytes / TABLE_SHARE);
  return { maxPages: Math.floor((bytes - tableBytes) / WASM_PAGE), tableEntries: Math.floor(tableBytes / TABLE_ENTRY_BYTES) };
}

export interface FuelOptions {
  /** Memory cap in 64 KiB pages. */
  maxPages: number;
  /** Cap on the sum of all tables' entries. */
  tableEntries: number;
}

export interface Import {
  module: string;
  name: string;
  /** 0 function, 1 table, 2 memory, 3 global */
  kind: number;
  /** A function import's type. */
  type?: FuncType;
}

export interface Export {
  name: string;
  kind: number;
  index: number;
  /** An exported function's type. */
  type?: FuncType;
}

/** What the host links against: imports and exports (with function types). */
export interface ModuleSurface {
  imports: Import[];
  exports: Export[];
}

export interface FuelResult extends ModuleSurface {
  bytes: Uint8Array;
  /** The start function that was deferred, if any. */
  deferredStart: number | null;
  functions: number;
  /** Declared memory limits after the cap. */
  memory: { min: number; max: number } | null;
  /** Each table's limits after the cap. */
  tables: Array<{ min: number; max: number }>;
}

/** The hint of a refusal by size: what makes a module smaller once instrumented. */
const SPLIT_HINT = 'instrumenting adds a fuel charge to every straight-line stretch of code: build the module with smaller functions, or optimised (fewer, longer stretches)';

/** A module bvisor will not run, and why (the message names what and where). */
export class WasmRefused extends Error {
  constructor(
    message: string,
    /** What to do, where the generic hint (a valid WASI preview 1 module, within limits) is not it. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

export type { UncheckedForTests } from './test-checks.js';

const KIND = ['function', 'table', 'memory', 'global'];

// ---------------------------------------------------------------------------------------------
// module structure

interface Info {
  check: boolean;
  /** Every type, or (a surface read: readSurface) only those an import or export named, decoded
   * when named from `typeAt`. */
  types: FuncType[];
  typeAt?: { input: Uint8Array; offsets: Uint32Array };
  imports: Import[];
  /** type index of every function, imported ones first */
  funcTypes: number[];
  importedFuncs: number;
  importedGlobals: number;
  globals: number;
  tables: Array<{ ref: number; min: number; max: number | null }>;
  memories: number;
  memory: { min: number; max: number | null } | null;
  exports: Export[];
  start: number | null;
  elems: number;
  /** the most elements one element segment holds */
  longestElems: number;
  dataCount: number | null;
  datas: number | null;
  codeSeen: boolean;
}

function emptyInfo(check = true): Info {
  return { check, types: [], imports: [], funcTypes: [], importedFuncs: 0, importedGlobals: 0, globals: 0, tables: [], memories: 0, memory: null, exports: [], start: null, elems: 0, longestElems: 0, dataCount: null, datas: null, codeSeen: false };
}

/** Canonical order of the non-custom sections (the data count section sits before code). */
const ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11];

function sectionLabel(s: Section): string {
  return `section ${s.id} (${SECTION_NAMES[s.id] ?? 'unknown'}) at byte ${s.offset}`;
}

/** Runs `f`, turning a format error into a refusal that says which section. */
function inSection<T>(s: Section, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WasmFormatError) throw new WasmRefused(`not a valid module: ${sectionLabel(s)}: ${e.message}`);
    throw e;
  }
}

function sectionReader(input: Uint8Array, s: Section): Reader {
  return new Reader(input, s.offset, s.offset + s.body.length);
}

function sections(input: Uint8Array): Section[] {
  let list: Section[];
  try {
    list = readSections(input);
  } catch (e) {
    if (e instanceof WasmFormatError) throw new WasmRefused(`not a valid module: ${e.message}`);
    throw e;
  }
  let last = -1;
  for (const s of list) {
    if (s.id === 0) continue;
    if (s.id === 13) throw new WasmRefused(`the exception-handling proposal (tag section at byte ${s.offset}) is not supported`);
    const at = ORDER.indexOf(s.id);
    if (at < 0) throw new WasmRefused(`not a valid module: unknown section id ${s.id} at byte ${s.offset}`);
    if (at === last) throw new WasmRefused(`not a valid module: duplicate ${sectionLabel(s)}`);
    if (at < last) throw new WasmRefused(`not a valid module: ${sectionLabel(s)} is out of order`);
    last = at;
  }
  return list;
}

function valType(r: Reader): number {
  const at = r.pos;
  const t = r.byte();
  if (t === 0x7b) throw new WasmRefused(`the SIMD proposal (v128 at byte ${at}) is not supported`);
  if (t !== 0x7f && t !== 0x7e && t !== 0x7d && t !== 0x7c && t !== 0x70 && t !== 0x6f) throw new WasmRefused(`value type 0x${t.toString(16)} at byte ${at} is not supported (GC or an unknown proposal)`);
  return t;
}

function refType(r: Reader): number {
  const at = r.pos;
  const t = r.byte();
  if (t !== 0x70 && t !== 0x6f) r.fail(`0x${t.toString(16)} is not a reference type`, at);
  return t;
}

function readTypes(r: Reader, info: Info): void {
  const n = r.count('type', 3);
  if (info.typeAt) {
    // A module the cache vouches for (it was validated when it was rewritten): where each type is,
    // and none decoded until an import or export names it. A type section can be most of a
    // module (300,000 types of 200 parameters: 61 MB), and decoding all of it on every cache hit
    // costs the supervisor seconds and gigabytes. Each value type is one byte in the proposals
    // bvisor runs.
    const offsets = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      offsets[i] = r.pos;
      r.byte();
      // (The count first: `r.pos += r.count()` would add it to the position before the count.)
      const params = r.count('parameter');
      r.pos += params;
      const results = r.count('result');
      r.pos += results;
    }
    info.typeAt = { input: info.typeAt.input, offsets };
    info.types = new Array<FuncType>(n);
    return;
  }
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const form = r.byte();
    if (form !== 0x60) throw new WasmRefused(`type ${i} at byte ${at} is not a function type (GC proposal?)`);
    const params: number[] = [];
    const results: number[] = [];
    for (let p = r.count('parameter'); p > 0; p--) params.push(valType(r));
    for (let p = r.count('result'); p > 0; p--) results.push(valType(r));
    info.types.push({ params, results });
  }
}

/** Type `t`, decoded now where the types were only located (readSurface). */
function typeOf(info: Info, t: number): FuncType | undefined {
  const known = info.types[t];
  if (known !== undefined || !info.typeAt || t < 0 || t >= info.typeAt.offsets.length) return known;
  const { input, offsets } = info.typeAt;
  const r = new Reader(input, offsets[t]!, input.length);
  r.byte();
  const params: number[] = [];
  const results: number[] = [];
  for (let p = r.count('parameter'); p > 0; p--) params.push(valType(r));
  for (let p = r.count('result'); p > 0; p--) results.push(valType(r));
  return (info.types[t] = { params, results });
}

function typeIndex(r: Reader, info: Info, what: string): number {
  const at = r.pos;
  const t = r.u32();
  if (t >= info.types.length) r.fail(`${what}: type index ${t} out of range (${info.types.length} types)`, at);
  return t;
}

function limits(r: Reader, what: 'memory' | 'table'): { min: number; max: number | null } {
  const at = r.pos;
  const flag = r.byte();
  if (what === 'memory' && flag & 0x02) throw new WasmRefused(`shared memory (threads proposal, byte ${at}) is not supported`);
  if (what === 'memory' && flag & 0x04) throw new WasmRefused(`memory64 (byte ${at}) is not supported`);
  if (flag > 1) throw new WasmRefused(`${what} limits flag 0x${flag.toString(16)} at byte ${at} is not supported`);
  const min = r.u32();
  const max = flag === 1 ? r.u32() : null;
  if (max !== null && min > max) r.fail(`${what} minimum ${min} is above its maximum ${max}`, at);
  if (what === 'memory' && (min > 65536 || (max ?? 0) > 65536)) r.fail(`memory limits above 65536 pages (4 GiB)`, at);
  return { min, max };
}

function readImports(r: Reader, info: Info): void {
  const n = r.count('import', 4);
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const at = r.pos;
    const kind = r.byte();
    if (kind === 0) {
      const t = typeIndex(r, info, `import ${module}.${name}`);
      info.imports.push({ module, name, kind, type: typeOf(info, t)! });
      info.funcTypes.push(t);
      info.importedFuncs++;
    } else if (kind === 1) throw new WasmRefused(`imported tables are not supported (${module}.${name}): bvisor caps the tables a module defines, and WASI provides none`);
    else if (kind === 2) throw new WasmRefused(`imported memories are not supported (${module}.${name}): a WASI module defines its own`);
    else if (kind === 3) {
      valType(r);
      const m = r.byte();
      if (m > 1) r.fail(`global mutability ${m}`, r.pos - 1);
      info.imports.push({ module, name, kind });
      info.importedGlobals++;
      info.globals++;
    } else throw new WasmRefused(`import kind ${kind} (${module}.${name}, byte ${at}) is not supported`);
  }
}

/**
 * An imported function used as a value (in a table, or by ref.func) is refused: every value of
 * function type is called with the fuel-passing convention (see below), which a host function does
 * not follow. WASI guests call their imports directly.
 */
function refValue(f: number, at: number): never {
  throw new WasmRefused(`imported function ${f} is used as a value (a table element or ref.func, byte ${at}): not supported, bvisor meters calls to imported functions only where they are called directly`);
}

/** Skips the immediate of a constant instruction (i32/i64/f32/f64.const, ref.null): constant expressions and code read them alike. */
function constImmediate(r: Reader, op: 0x41 | 0x42 | 0x43 | 0x44 | 0xd0): void {
  if (op === 0x41) r.signed(32);
  else if (op === 0x42) r.signed(64);
  else if (op === 0x43) r.skip(4);
  else if (op === 0x44) r.skip(8);
  else refType(r);
}

/** A constant expression (init or offset) ending with `end`; global.get must name an earlier global. */
function constExpr(r: Reader, info: Info, globalsVisible: number): void {
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x0b:
        return;
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x44:
      case 0xd0:
        constImmediate(r, op);
        break;
      case 0xd2: {
        const f = r.u32();
        if (info.check && f >= info.funcTypes.length) r.fail(`ref.func ${f}: function index out of range`, at);
        if (f < info.importedFuncs) refValue(f, at);
        break;
      }
      case 0x23: {
        const g = r.u32();
        if (info.check && g >= globalsVisible) r.fail(`global.get ${g} in a constant expression: global index out of range (${globalsVisible} visible)`, at);
        break;
      }
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break; // extended-const arithmetic
      default:
        r.fail(`opcode 0x${op.toString(16)} is not allowed in a constant expression`, at);
    }
  }
}

function readGlobals(r: Reader, info: Info): void {
  const n = r.count('global', 3);
  for (let i = 0; i < n; i++) {
    valType(r);
    const m = r.byte();
    if (m > 1) r.fail(`global mutability ${m}`, r.pos - 1);
    constExpr(r, info, info.globals);
    info.globals++;
  }
}

function readExports(r: Reader, info: Info): void {
  const n = r.count('export', 3);
  const seen = new Set<string>();
  const spaces = [info.funcTypes.length, info.tables.length, info.memories, info.globals];
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const name = r.name();
    if (seen.has(name)) r.fail(`duplicate export name ${JSON.stringify(name)}`, at);
    seen.add(name);
    const k = r.byte();
    if (k > 3) r.fail(`export ${JSON.stringify(name)}: unknown kind ${k}`, r.pos - 1);
    const ia = r.pos;
    const index = r.u32();
    if (info.check && index >= spaces[k]!) r.fail(`export ${JSON.stringify(name)}: ${KIND[k]} index ${index} out of range (${spaces[k]})`, ia);
    const t = k === 0 ? typeOf(info, info.funcTypes[index] ?? -1) : undefined;
    info.exports.push({ name, kind: k, index, ...(t ? { type: t } : {}) });
  }
}

function readElements(r: Reader, info: Info): void {
  const n = r.count('element segment');
  info.elems = n;
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const flags = r.u32();
    if (flags > 7) r.fail(`element segment ${i}: flags ${flags}`, at);
    const active = (flags & 1) === 0;
    if (active) {
      const t = flags & 2 ? r.u32() : 0;
      if (info.check && t >= info.tables.length) r.fail(`element segment ${i}: table index ${t} out of range (${info.tables.length} tables)`, at);
      constExpr(r, info, info.globals);
    }
    const exprs = (flags & 4) !== 0;
    if (flags & 3) {
      // an element kind (0x00: funcref) or a reference type
      if (exprs) refType(r);
      else if (r.byte() !== 0x00) r.fail(`element segment ${i}: unknown element kind`, r.pos - 1);
    }
    const m = r.count('element');
    if (m > info.longestElems) info.longestElems = m;
    for (let k = 0; k < m; k++) {
      if (exprs) constExpr(r, info, info.globals);
      else {
        const fa = r.pos;
        const f = r.u32();
        if (info.check && f >= info.funcTypes.length) r.fail(`element segment ${i}: function index ${f} out of range`, fa);
        if (f < info.importedFuncs) refValue(f, fa);
      }
    }
  }
}

function readData(r: Reader, info: Info): void {
  const at0 = r.pos;
  const n = r.count('data segment');
  if (info.dataCount !== null && n !== info.dataCount) r.fail(`${n} data segments, but the data count section says ${info.dataCount}`, at0);
  info.datas = n;
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const flags = r.u32();
    if (flags > 2) r.fail(`data segment ${i}: flags ${flags}`, at);
    if (flags !== 1) {
      if (flags === 2 && r.u32() !== 0) throw new WasmRefused(`multiple memories are not supported (data segment ${i}, byte ${at})`);
      if (info.check && info.memories === 0) r.fail(`data segment ${i} is active but the module has no memory`, at);
      constExpr(r, info, info.globals);
    }
    r.skip(r.u32());
  }
}

/** The whole structure, every section but code (which `body` handles), checked. */
function readModule(input: Uint8Array, list: Section[], info: Info, body: ((s: Section) => void) | null): void {
  let funcCount: number | null = null;
  for (const s of list) {
    inSection(s, () => {
      const r = sectionReader(input, s);
      switch (s.id) {
        case 0:
          r.name(); // a custom section's name must be well-formed; its payload is its own
          return;
        case 1:
          readTypes(r, info);
          break;
        case 2:
          readImports(r, info);
          break;
        case 3: {
          const n = r.count('function');
          for (let i = 0; i < n; i++) info.funcTypes.push(typeIndex(r, info, `function ${info.importedFuncs + i}`));
          funcCount = n;
          break;
        }
        case 4: {
          const n = r.count('table', 2);
          for (let i = 0; i < n; i++) {
            const ref = refType(r);
            info.tables.push({ ref, ...limits(r, 'table') });
          }
          break;
        }
        case 5: {
          const n = r.count('memory', 2);
          if (n > 1) throw new WasmRefused('multiple memories are not supported');
          if (n === 1) info.memory = limits(r, 'memory');
          info.memories = n;
          break;
        }
        case 6:
          readGlobals(r, info);
          break;
        case 7:
          readExports(r, info);
          break;
        case 8: {
          const at = r.pos;
          info.start = r.u32();
          if (info.check && info.start >= info.funcTypes.length) r.fail(`start function ${info.start} out of range (${info.funcTypes.length} functions)`, at);
          break;
        }
        case 9:
          readElements(r, info);
          break;
        case 12:
          info.dataCount = r.u32();
          break;
        case 10: {
          const at = r.pos;
          const n = r.u32();
          if (n !== (funcCount ?? 0)) r.fail(`${n} function bodies for ${funcCount ?? 0} declared functions`, at);
          info.codeSeen = true;
          body?.(s);
          return;
        }
        case 11:
          readData(r, info);
          break;
      }
      r.expectEnd(`section ${s.id}`);
    });
  }
  if (body === null) return; // the surface only: no code or data sections were given
  if ((funcCount ?? 0) > 0 && !info.codeSeen) throw new WasmRefused(`not a valid module: ${funcCount} functions declared but there is no code section (none before the end, at byte ${input.length})`);
  if (info.dataCount !== null && info.datas === null && info.dataCount !== 0) throw new WasmRefused(`not a valid module: the data count section says ${info.dataCount} segments but there is no data section (none before the end, at byte ${input.length})`);
}

function surfaceOf(info: Info): ModuleSurface {
  return { imports: info.imports, exports: info.exports };
}

/** Imports and exports only, for a module the cache already vouches for (it was validated then). */
export function readSurface(input: Uint8Array): ModuleSurface {
  const list = sections(input).filter((s) => s.id <= 7 && s.id !== 0);
  const info: Info = { ...emptyInfo(), typeAt: { input, offsets: new Uint32Array(0) } };
  readModule(input, list, info, null);
  return surfaceOf(info);
}

/** Why the engine refuses the bytes (its own message, with its byte offset), or null. */
function engineProblem(bytes: Uint8Array): string | null {
  const b = bytes as Uint8Array<ArrayBuffer>;
  if (WebAssembly.validate(b)) return null;
  try {
    new WebAssembly.Module(b);
    return 'the engine does not validate it';
  } catch (e) {
    return String((e as Error)?.message ?? e).replace(/^WebAssembly\.Module\(\):\s*/, '');
  }
}

export function instrument(input: Uint8Array, opts: FuelOptions, requested: UncheckedForTests = {}): FuelResult {
  const testOnly = effectiveChecks(requested);
  const list = sections(input);
  if (!testOnly.skipEngineValidation) {
    const why = engineProblem(input);
    if (why !== null) throw new WasmRefused(`not a valid module: ${why}`);
  }
  const info = emptyInfo(!testOnly.skipIndexChecks);
  let code: Code | null = null;
  let types: Types | null = null;
  readModule(input, list, info, (s) => {
    types = new Types(info.types);
    // every type the function section will name, before the type section is written
    for (let f = info.importedFuncs; f < info.funcTypes.length; f++) types.ext(info.funcTypes[f]!);
    code = rewriteCode(input, s, info, types);
  });
  const tableExports = info.tables.map((_, i) => `${TABLE_EXPORT_PREFIX}${i}`);
  // bvisor's own names (the runner reads them): a module may not export any of that form
  const reserved = info.exports.find((e) => e.name.startsWith('__bvisor_'));
  if (reserved) throw new WasmRefused(`the module exports ${JSON.stringify(reserved.name)}: export names starting with __bvisor_ are reserved`);

  let memory: FuelResult['memory'] = null;
  if (info.memory) {
    const l = info.memory;
    if (l.min > opts.maxPages) throw new WasmRefused(`the module needs ${l.min} pages of memory at start, above the cap of ${opts.maxPages} pages`);
    memory = { min: l.min, max: Math.min(l.max ?? opts.maxPages, opts.maxPages) };
  }
  const tables = capTables(info.tables, opts.tableEntries);
  // The engine bounds every element segment (active, passive or declarative) by the table limit
  // the runner is started with (V8's --wasm-max-table-size): refused here, with the reason, rather
  // than by the runner's compile after it started (found by attack: a BV_WASM_RUNNER error).
  const elemsRefused = (n: number, what: string): WasmRefused =>
    new WasmRefused(`${what} ${n} elements, above the ${opts.tableEntries} table entries limits.memory leaves for tables (${TABLE_ENTRY_BYTES} bytes each), which bound every element segment in the engine`);
  if (info.longestElems > opts.tableEntries) throw elemsRefused(info.longestElems, 'an element segment of the module holds');

  // What the host calls (exported functions, the deferred start) gets a wrapper with the
  // original type, appended after every function (no index moves).
  const defined = info.funcTypes.length;
  const wrapped = new Map<number, number>();
  const wrap = (f: number): number => {
    if (f < info.importedFuncs) return f; // a host function re-exported: nothing to adapt
    let i = wrapped.get(f);
    if (i === undefined) wrapped.set(f, (i = defined + wrapped.size));
    return i;
  };
  const exports = info.exports.map((e) => (e.kind === 0 ? { ...e, index: wrap(e.index) } : e));
  const start = info.start === null ? null : wrap(info.start);
  // A function named by ref.func must be declared outside code; an export was such a declaration,
  // so those the wrappers replaced are declared again by a declarative element segment.
  const c = code as Code | null;
  const tt = types as Types | null;
  // (A set of the exported functions: a search of the exports per ref.func was quadratic, 12 s for
  // 100,000 exported functions each named by a ref.func, found by attack.)
  const exportedFuncs = new Set(info.exports.filter((e) => e.kind === 0).map((e) => e.index));
  const declare = c ? [...c.refFuncs].filter((f) => wrapped.has(f) && exportedFuncs.has(f)) : [];
  if (declare.length > opts.tableEntries) throw elemsRefused(declare.length, 'the module names exported functions with ref.func, which bvisor declares again in one element segment of');

  const fuelGlobal = info.globals;
  const out: Array<Pick<Section, 'id' | 'body'>> = [];
  const fuelDef = [0x7e, 0x01, 0x42, 0x00, 0x0b]; // i64 mut = i64.const 0
  // Exports: the module's own (functions through their wrappers), the counter, the deferred
  // start, and every table (so the runner can report their size).
  const ex = new Writer().u32(exports.length + 1 + (start !== null ? 1 : 0) + tableExports.length);
  for (const e of exports) ex.name(e.name).byte(e.kind).u32(e.index);
  ex.name(FUEL_EXPORT).byte(0x03).u32(fuelGlobal);
  if (start !== null) ex.name(START_EXPORT).byte(0x00).u32(start);
  tableExports.forEach((n, i) => ex.name(n).byte(0x01).u32(i));
  const declSegment = declare.length ? new Writer().byte(0x03).byte(0x00).u32(declare.length) : null;
  for (const f of declare) declSegment!.u32(f);
  const appended = (s: Section, count: number, items: Uint8Array): Uint8Array => {
    const r = sectionReader(input, s);
    const n = r.u32();
    return new Writer().u32(n + count).bytes(input.subarray(r.pos, s.offset + s.body.length)).bytes(items).toBytes();
  };
  const seen = new Set<number>();
  for (const s of list) {
    seen.add(s.id);
    switch (s.id) {
      case 1: {
        const w = new Writer();
        for (const t of tt?.added ?? []) encodeType(w, t);
        out.push({ id: 1, body: appended(s, tt?.added.length ?? 0, w.toBytes()) });
        break;
      }
      case 3: {
        // each defined function has its fuel-passing type; the wrappers the original one
        const w = new Writer().u32(defined - info.importedFuncs + wrapped.size);
        for (let f = info.importedFuncs; f < defined; f++) w.u32(tt!.ext(info.funcTypes[f]!));
        for (const f of wrapped.keys()) w.u32(info.funcTypes[f]!);
        out.push({ id: 3, body: w.toBytes() });
        break;
      }
      case 4: {
        const w = new Writer().u32(tables.length);
        tables.forEach((t, i) => w.byte(info.tables[i]!.ref).byte(1).u32(t.min).u32(t.max));
        out.push({ id: 4, body: w.toBytes() });
        break;
      }
      case 5:
        out.push({ id: 5, body: memory ? new Writer().u32(1).byte(1).u32(memory.min).u32(memory.max).toBytes() : s.body });
        break;
      case 6:
        out.push({ id: 6, body: appended(s, 1, Uint8Array.from(fuelDef)) });
        break;
      case 7:
        out.push({ id: 7, body: ex.toBytes() });
        break;
      case 8:
        break; // dropped: exported as __bvisor_start instead
      case 9:
        out.push({ id: 9, body: declSegment ? appended(s, 1, declSegment.toBytes()) : s.body });
        break;
      case 10: {
        const w = new Writer().u32(defined - info.importedFuncs + wrapped.size).bytes(c!.bodies);
        for (const f of wrapped.keys()) {
          const b = wrapper(info, f);
          w.u32(b.length).bytes(b);
        }
        out.push({ id: 10, body: w.toBytes() });
        break;
      }
      default:
        out.push(s);
    }
  }
  if (!seen.has(6)) out.push({ id: 6, body: new Writer().u32(1).bytes(fuelDef).toBytes() });
  if (!seen.has(7)) out.push({ id: 7, body: ex.toBytes() });
  if (!seen.has(9) && declSegment) out.push({ id: 9, body: new Writer().u32(1).bytes(declSegment.toBytes()).toBytes() });
  const bytes = writeModule(sortSections(out));
  if (bytes.length > V8_MAX_MODULE_BYTES) throw new WasmRefused(`it is ${bytes.length} bytes once instrumented (${input.length} before), above the ${V8_MAX_MODULE_BYTES} (1 GiB) V8 compiles in one module`, SPLIT_HINT);
  // The output is the engine's to judge too: a rewriter bug must refuse, never run.
  const why = engineProblem(bytes);
  if (why !== null) throw new WasmRefused(`the instrumented module does not validate (a bvisor rewriter bug; nothing was run): ${why}`);
  return { bytes, ...surfaceOf(info), deferredStart: info.start, functions: info.funcTypes.length - info.importedFuncs, memory, tables };
}

/**
 * Each table's maximum, so that all of them together stay within `cap` entries: what the
 * minimums leave is shared equally, and no table gets more than it declared.
 */
function capTables(tables: Info['tables'], cap: number): Array<{ min: number; max: number }> {
  const need = tables.reduce((a, t) => a + t.min, 0);
  if (need > cap) throw new WasmRefused(`the module's tables need ${need} entries at start, above the ${cap} that limits.memory leaves for tables (${TABLE_ENTRY_BYTES} bytes each)`);
  const share = tables.length ? Math.floor((cap - need) / tables.length) : 0;
  return tables.map((t) => ({ min: t.min, max: Math.min(t.max ?? Infinity, t.min + share) }));
}

function sortSections<T extends { id: number }>(list: T[]): T[] {
  const rank = (id: number): number => ORDER.indexOf(id);
  const known = list.filter((s) => s.id !== 0).sort((a, b) => rank(a.id) - rank(b.id));
  // customs after the known section that preceded them in the input (or at the front)
  const result: T[] = [];
  const customsAfter = new Map<number, T[]>();
  let prev = -1;
  for (const s of list) {
    if (s.id === 0) {
      const arr = customsAfter.get(prev) ?? [];
      arr.push(s);
      customsAfter.set(prev, arr);
    } else prev = s.id;
  }
  // One push at a time: a spread of 300,000 custom sections overflows the call stack (found by
  // attack: BV_INTERNAL "Maximum call stack size exceeded").
  const put = (arr: T[] | undefined): void => {
    for (const x of arr ?? []) result.push(x);
  };
  put(customsAfter.get(-1));
  for (const s of known) {
    result.push(s);
    put(customsAfter.get(s.id));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// the WASI command surface

/**
 * Why a module cannot run as a WASI preview 1 command under bvisor's host: every problem, each
 * on its own (an empty list: it can). `provided` is the host's list of implemented names.
 */
export function wasiProblems(s: ModuleSurface, provided: readonly string[]): string[] {
  const out: string[] = [];
  const foreign = s.imports.filter((i) => i.module !== 'wasi_snapshot_preview1' || i.kind !== 0 || !provided.includes(i.name) || !WASI_PREVIEW1.has(i.name));
  if (foreign.length) out.push(`it imports what bvisor does not provide: ${foreign.map((i) => `${i.module}.${i.name}${i.kind !== 0 ? ` (a ${KIND[i.kind] ?? 'kind ' + i.kind})` : ''}`).join(', ')}`);
  for (const i of s.imports) {
    const want = i.module === 'wasi_snapshot_preview1' && i.kind === 0 ? WASI_PREVIEW1.get(i.name) : undefined;
    if (want && i.type && !sameType(want, i.type)) out.push(`it imports ${i.module}.${i.name} as ${showType(i.type)}, but WASI preview 1 defines it as ${showType(want)}`);
  }
  const start = s.exports.find((e) => e.name === '_start');
  if (!start) out.push('module has no _start export (a WASI command starts there)');
  else if (start.kind !== 0) out.push(`_start is exported as a ${KIND[start.kind]}, not a function`);
  else if (start.type && (start.type.params.length || start.type.results.length)) out.push(`_start has type ${showType(start.type)}; a WASI command's _start takes nothing and returns nothing`);
  const memory = s.exports.find((e) => e.name === 'memory');
  if (memory && memory.kind !== 2) out.push(`"memory" is exported as a ${KIND[memory.kind]}, not a memory`);
  else if (!memory && s.imports.some((i) => i.kind === 0)) out.push('module imports WASI functions but exports no memory named "memory" for them to use');
  return out;
}

// ---------------------------------------------------------------------------------------------
// instructions

/** How an instruction affects metering. */
const enum K {
  Plain = 0,
  /** starts a new segment after it (block, if, else, end, br…) */
  Boundary = 1,
  /** a loop header: new segment after it, and a check */
  Loop = 2,
  /** bulk op with the length on top of the stack */
  Bulk = 3,
}

interface Insn {
  start: number;
  end: number;
  op: number;
  kind: K;
  free: boolean;
  /** the immediate the rewriter changes or needs: a local, function or type index, a branch depth */
  imm: number;
  /** br_table's targets, the default last */
  labels: number[] | null;
  /** call_indirect's table */
  imm2: number;
  /** a branch (br, br_if, br_table) that can leave the function through its own label */
  toFn: boolean;
  /** the function's own label index at this instruction */
  fnLabel: number;
}

/** What a function body may name. */
interface Scope {
  info: Info;
  locals: number;
}

function decode(r: Reader, sc: Scope): Insn[] {
  const { info } = sc;
  const ck = info.check;
  const out: Insn[] = [];
  // open blocks: 0x02 block, 0x03 loop, 0x04 if, 0x05 else; the function's own block first
  const blocks: number[] = [0x02];
  const idx = (what: string, n: number, at: number, limit: number): void => {
    if (ck && n >= limit) r.fail(`${what} index ${n} out of range (${limit === 0 ? 'there are none' : `only ${limit}`})`, at);
  };
  const label = (at: number): number => {
    const l = r.u32();
    if (l >= blocks.length) r.fail(`branch depth ${l} out of range (${blocks.length} enclosing blocks)`, at);
    return l;
  };
  const blockType = (at: number): void => {
    const b = r.peek();
    if (b === 0x40) r.pos++;
    else if (b !== undefined && (b & 0xc0) === 0x40) valType(r);
    else {
      const t = r.signed(33);
      if (t < 0) r.fail(`block type ${t} is neither a value type nor a type index`, at);
      idx('type', t, at, info.types.length);
    }
  };
  const memory = (at: number): void => {
    if (ck && info.memories === 0) r.fail('memory instruction in a module without memory', at);
  };
  const memIndexByte = (at: number): void => {
    if (r.byte() !== 0) throw new WasmRefused(`multiple memories are not supported (byte ${at})`);
    memory(at);
  };
  const table = (at: number): void => idx('table', r.u32(), at, info.tables.length);
  const data = (at: number): void => {
    if (ck && info.dataCount === null) r.fail('memory.init or data.drop without a data count section', at);
    idx('data segment', r.u32(), at, info.dataCount ?? 0);
  };
  while (blocks.length > 0) {
    const start = r.pos;
    const op = r.byte();
    let kind = K.Plain;
    let free = false;
    let imm = -1;
    let labels: number[] | null = null;
    let toFn = false;
    let imm2 = -1;
    const fnLabel = blocks.length - 1; // label index of the function's own block here
    switch (op) {
      case 0x00: // unreachable: a trap, so the counter is written back first (exact fuel after abort())
        kind = K.Boundary;
        break;
      case 0x01: // nop
        break;
      case 0x02: // block
      case 0x03: // loop
      case 0x04: // if
        blockType(start);
        blocks.push(op);
        kind = op === 0x03 ? K.Loop : K.Boundary;
        free = op !== 0x04;
        break;
      case 0x05: // else
        if (blocks[blocks.length - 1] !== 0x04) r.fail('else outside an if', start);
        blocks[blocks.length - 1] = 0x05;
        kind = K.Boundary;
        free = true;
        break;
      case 0x0b: // end
        blocks.pop();
        kind = K.Boundary;
        free = true;
        break;
      case 0x0c:
      case 0x0d: // br, br_if
        imm = label(start);
        toFn = imm === fnLabel;
        kind = K.Boundary;
        break;
      case 0x0e: {
        const n = r.count('br_table target');
        labels = [];
        for (let i = 0; i <= n; i++) labels.push(label(start));
        toFn = labels.includes(fnLabel);
        kind = K.Boundary;
        break;
      }
      case 0x0f: // return
        kind = K.Boundary;
        break;
      case 0x10: // call
      case 0x12: // return_call
        imm = r.u32();
        idx('function', imm, start, info.funcTypes.length);
        if (op === 0x12) kind = K.Boundary;
        break;
      case 0x11: // call_indirect
      case 0x13: // return_call_indirect
        imm = r.u32();
        idx('type', imm, start, info.types.length);
        imm2 = r.u32();
        idx('table', imm2, start, info.tables.length);
        if (op === 0x13) kind = K.Boundary;
        break;
      case 0x1a:
      case 0x1b: // drop, select
        break;
      case 0x1c: {
        const n = r.u32();
        if (n !== 1) r.fail(`select with ${n} types`, start);
        valType(r);
        break;
      }
      case 0x20:
      case 0x21:
      case 0x22: // local.get/set/tee
        imm = r.u32();
        idx('local', imm, start, sc.locals);
        break;
      case 0x23:
      case 0x24: // global.get/set
        idx('global', r.u32(), start, info.globals);
        break;
      case 0x25:
      case 0x26: // table.get/set
        table(start);
        break;
      case 0x3f:
      case 0x40: // memory.size/grow
        memIndexByte(start);
        break;
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x44:
      case 0xd0:
        constImmediate(r, op);
        break;
      case 0xd1:
        break;
      case 0xd2:
        imm = r.u32();
        idx('function', imm, start, info.funcTypes.length);
        if (imm < info.importedFuncs) refValue(imm, start);
        break;
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) break; // saturating truncations
        switch (sub) {
          case 8: // memory.init
            data(start);
            memIndexByte(start);
            kind = K.Bulk;
            break;
          case 9: // data.drop
            data(start);
            break;
          case 10: // memory.copy
            memIndexByte(start);
            memIndexByte(start);
            kind = K.Bulk;
            break;
          case 11: // memory.fill
            memIndexByte(start);
            kind = K.Bulk;
            break;
          case 12: // table.init
            idx('element segment', r.u32(), start, info.elems);
            table(start);
            kind = K.Bulk;
            break;
          case 13: // elem.drop
            idx('element segment', r.u32(), start, info.elems);
            break;
          case 14: // table.copy
            table(start);
            table(start);
            kind = K.Bulk;
            break;
          case 15: // table.grow: O(n) in the engine, charged like a bulk op
          case 17: // table.fill
            table(start);
            kind = K.Bulk;
            break;
          case 16: // table.size
            table(start);
            break;
          default:
            throw new WasmRefused(`instruction 0xfc ${sub} at byte ${start} is not supported`);
        }
        break;
      }
      case 0xfd:
        throw new WasmRefused(`the SIMD proposal (byte ${start}) is not supported`);
      case 0xfe:
        throw new WasmRefused(`the threads proposal (atomics, byte ${start}) is not supported`);
      case 0xfb:
        throw new WasmRefused(`the GC proposal (byte ${start}) is not supported`);
      default:
        if (op >= 0x28 && op <= 0x3e) {
          const align = r.u32();
          if (align & 0x40) throw new WasmRefused(`multiple memories are not supported (byte ${start})`);
          if (align >= 32) r.fail(`alignment 2^${align}`, start);
          r.u32();
          memory(start);
        } else if (op >= 0x45 && op <= 0xc4) {
          // numeric, no immediates
        } else throw new WasmRefused(`opcode 0x${op.toString(16)} at byte ${start} is not supported (exceptions or an unknown proposal)`);
    }
    out.push({ start, end: r.pos, op, kind, free, imm, imm2, labels, toFn, fnLabel });
  }
  return out;
}

// Where the counter lives while a function runs: in a register. Every function the module
// defines gets one more parameter and one more result, an i64 (the fuel-passing convention): a
// caller passes the fuel it has left and gets back what the callee left. Inside a function the
// counter is that parameter, a local V8 keeps in a register, so a charge is one subtraction and a
// check one compare and branch, with no memory access, across calls too.
//
// The global is synced with it only where something else may read or write it:
//   - around a call to an imported (host) function, which charges the global: written before,
//     read back after;
//   - at the edge of the module: what the host calls (every exported function, the deferred start)
//     is a wrapper with the original type that reads the global, calls the function, writes back;
//   - before a trap the module raises itself: the fuel check's, and the guest's own `unreachable`.
// So the counter is exact after a normal return, an exit, and the trap for running out of fuel.
// After a trap the engine raises (division by zero, out of bounds, stack overflow) the global
// holds its value at the last sync, a lower bound of the fuel used: the trap itself is reported
// exactly, and budgets are unaffected (the register is what the checks read).
//
// Function values keep the convention: tables hold the functions themselves, with their extended
// type, and call_indirect names the extended type, so a signature mismatch traps exactly where it
// did. An imported function cannot be a value (refValue), since the host does not follow it.
//
// Measured (docs/wasm-fuel.md): against a counter in a global (2.1× on a recursive fib, 1.9× on
// clang's fib) or one cached in a local and synced around calls (worse on call-heavy code), the
// register counter costs 1.0–1.3× on both and on loop kernels.

/** V8's limits on a function's parameters and results; the rewriter adds one of each. */
export const MAX_PARAMS = 1000;
export const MAX_RESULTS = 1000;

/** The type section as the rewriter extends it: equal types are reused, new ones appended. */
class Types {
  readonly added: FuncType[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly extended = new Map<number, number>();
  constructor(private readonly base: readonly FuncType[]) {
    base.forEach((t, i) => {
      if (!this.byKey.has(key(t))) this.byKey.set(key(t), i);
    });
  }
  index(t: FuncType): number {
    const k = key(t);
    let i = this.byKey.get(k);
    if (i === undefined) {
      i = this.base.length + this.added.push(t) - 1;
      this.byKey.set(k, i);
    }
    return i;
  }
  /** The fuel-passing form of type `t`: one more i64 parameter and result. */
  ext(t: number): number {
    let i = this.extended.get(t);
    if (i === undefined) {
      const ft = this.base[t]!;
      i = this.index({ params: [...ft.params, 0x7e], results: [...ft.results, 0x7e] });
      this.extended.set(t, i);
    }
    return i;
  }
  /** A block type: empty, one result, or a type index (as a signed LEB128). */
  block(w: Writer, params: readonly number[], results: readonly number[]): void {
    if (params.length === 0 && results.length === 0) w.byte(0x40);
    else if (params.length === 0 && results.length === 1) w.byte(results[0]!);
    else w.s64(BigInt(this.index({ params: [...params], results: [...results] })));
  }
}

function key(t: FuncType): string {
  return `${t.params.join(',')}>${t.results.join(',')}`;
}

function encodeType(w: Writer, t: FuncType): void {
  w.byte(0x60).u32(t.params.length);
  for (const p of t.params) w.byte(p);
  w.u32(t.results.length);
  for (const p of t.results) w.byte(p);
}

interface Code {
  /** the rewritten bodies, each with its size */
  bodies: Uint8Array;
  /** functions named by ref.func in code */
  refFuncs: Set<number>;
}

function rewriteCode(input: Uint8Array, s: Section, info: Info, types: Types): Code {
  const g = info.globals; // the fuel counter: appended after every existing global
  const r = sectionReader(input, s);
  const n = r.u32();
  const w = new Writer();
  const refFuncs = new Set<number>();
  for (let f = 0; f < n; f++) {
    const fi = info.importedFuncs + f;
    const bodyAt = r.pos;
    const size = r.u32();
    if (size > r.end - r.pos) r.fail(`function ${fi}: body of ${size} bytes runs past the code section (${r.end - r.pos} left)`, bodyAt);
    const end = r.pos + size;
    const fr = new Reader(input, r.pos, end);
    try {
      const ft = info.types[info.funcTypes[fi]!]!;
      if (ft.params.length >= MAX_PARAMS || ft.results.length >= MAX_RESULTS) throw new WasmRefused(`function ${fi} has ${ft.params.length} parameters and ${ft.results.length} results: bvisor adds one of each, above the ${MAX_PARAMS} an engine allows`);
      // locals
      const groups = fr.count('local group', 2);
      const localDecl: Array<[number, number]> = [];
      const P = ft.params.length;
      let locals = P;
      for (let i = 0; i < groups; i++) {
        const at = fr.pos;
        const c = fr.u32();
        locals += c;
        if (locals > MAX_LOCALS) fr.fail(`function ${fi} declares ${locals} or more locals, above the ${MAX_LOCALS} an engine allows`, at);
        localDecl.push([c, valType(fr)]);
      }
      const insns = decode(fr, { info, locals });
      fr.expectEnd(`function ${fi}`);
      // The counter is parameter P; the declared locals move up by one. No index of the original
      // maps onto P, so no local.set of the original, valid or not, can write the counter.
      const F = P;
      const local = (i: number): number => (i < P ? i : i + 1);
      const needsTmp = insns.some((i) => i.kind === K.Bulk || i.op === 0x11 || i.op === 0x13);
      const tmp = locals + 1; // an appended i32 scratch local
      const R = ft.results;
      const fw = new Writer();
      fw.u32(localDecl.length + (needsTmp ? 1 : 0));
      for (const [c, t] of localDecl) fw.u32(c).byte(t);
      if (needsTmp) fw.u32(1).byte(0x7f);
      const get = (): void => void fw.byte(0x20).u32(F);
      const set = (): void => void fw.byte(0x21).u32(F);
      const sync = (): void => {
        get();
        fw.byte(0x24).u32(g);
      };
      const reload = (): void => {
        fw.byte(0x23).u32(g);
        set();
      };
      // counter -= cost; and with a check: if (counter < 0) { write it back; unreachable }
      const charge = (cost: number, checked: boolean): void => {
        if (cost > 0) {
          get();
          fw.byte(0x42).s64(BigInt(cost)).byte(0x7d);
          if (!checked) return set();
          fw.byte(0x22).u32(F); // local.tee
        } else if (checked) get();
        else return;
        fw.byte(0x42).byte(0x00).byte(0x53).byte(0x04).byte(0x40);
        sync();
        fw.byte(0x00).byte(0x0b);
      };
      // Segments: from a boundary to the next; the first begins at entry and is checked there.
      const costOf = (from: number): number => {
        let c = 0;
        for (let k = from; k < insns.length; k++) {
          if (!insns[k]!.free) c++;
          if (insns[k]!.kind === K.Boundary || insns[k]!.kind === K.Loop) break;
        }
        return c;
      };
      charge(costOf(0), true);
      for (let k = 0; k < insns.length; k++) {
        const ins = insns[k]!;
        const last = k === insns.length - 1;
        const copy = (): void => void fw.bytes(input.subarray(ins.start, ins.end));
        if (ins.kind === K.Bulk) {
          // [..., len] → tee len; counter -= len / BULK_UNIT
          fw.byte(0x22).u32(tmp);
          get();
          fw.byte(0x20).u32(tmp).byte(0xad).byte(0x42).s64(BigInt(Math.log2(BULK_UNIT))).byte(0x88).byte(0x7d);
          set();
          // and checked before the op runs: its work is its length
          charge(0, true);
        }
        switch (ins.op) {
          case 0x00: // unreachable
            sync();
            copy();
            break;
          case 0x0f: // return: the counter is the last result
            get();
            copy();
            break;
          case 0x0c: // br
            if (ins.toFn) get();
            copy();
            break;
          case 0x0d: // br_if to the function's label: a conditional return
            if (!ins.toFn) copy();
            else {
              fw.byte(0x04);
              types.block(fw, R, R);
              get();
              fw.byte(0x0f).byte(0x0b);
            }
            break;
          case 0x0e: // br_table with the function's label among its targets: through a block that returns
            if (!ins.toFn) copy();
            else {
              fw.byte(0x02);
              types.block(fw, [...R, 0x7f], R);
              fw.byte(0x0e).u32(ins.labels!.length - 1);
              for (const l of ins.labels!) fw.u32(l === ins.fnLabel ? 0 : l + 1);
              fw.byte(0x0b);
              get();
              fw.byte(0x0f);
            }
            break;
          case 0x10: // call
            if (ins.imm < info.importedFuncs) {
              sync();
              copy();
              reload();
            } else {
              get();
              copy();
              set();
            }
            break;
          case 0x12: // return_call
            if (ins.imm < info.importedFuncs) {
              sync();
              fw.byte(0x10).u32(ins.imm).byte(0x23).u32(g).byte(0x0f);
            } else {
              get();
              copy();
            }
            break;
          case 0x11: // call_indirect: the counter goes under the table index
          case 0x13: // return_call_indirect
            fw.byte(0x21).u32(tmp);
            get();
            fw.byte(0x20).u32(tmp).byte(ins.op).u32(types.ext(ins.imm)).u32(ins.imm2);
            if (ins.op === 0x11) set();
            break;
          case 0x20:
          case 0x21:
          case 0x22:
            fw.byte(ins.op).u32(local(ins.imm));
            break;
          case 0xd2:
            refFuncs.add(ins.imm);
            copy();
            break;
          default:
            if (last) get(); // the final end: the counter is the last result
            copy();
        }
        if (!last && (ins.kind === K.Boundary || ins.kind === K.Loop)) charge(costOf(k + 1), ins.kind === K.Loop);
      }
      const fb = fw.toBytes();
      if (fb.length > V8_MAX_FUNCTION_BYTES) throw new WasmRefused(`function ${fi} is ${fb.length} bytes once instrumented (${size} before), above the ${V8_MAX_FUNCTION_BYTES} V8 compiles in one function`, SPLIT_HINT);
      w.u32(fb.length).bytes(fb);
      if (w.length > V8_MAX_MODULE_BYTES) throw new WasmRefused(`its code is more than ${V8_MAX_MODULE_BYTES} bytes (1 GiB) once instrumented, by function ${fi} of ${n}: above what V8 compiles in one module`, SPLIT_HINT);
    } catch (e) {
      if (e instanceof WasmFormatError) throw new WasmFormatError(`function ${fi} (body at byte ${bodyAt}): ${e.message.replace(/ at byte \d+$/, '')}`, e.offset);
      throw e;
    }
    r.pos = end;
  }
  r.expectEnd('code section');
  return { bodies: w.toBytes(), refFuncs };
}

/** What the host calls instead of function `f`: the original type; fuel from the global and back. */
function wrapper(info: Info, f: number): Uint8Array {
  const ft = info.types[info.funcTypes[f]!]!;
  const b = new Writer().u32(0);
  for (let i = 0; i < ft.params.length; i++) b.byte(0x20).u32(i);
  b.byte(0x23).u32(info.globals).byte(0x10).u32(f).byte(0x24).u32(info.globals).byte(0x0b);
  return b.toBytes();
}

export { WasmFormatError };
