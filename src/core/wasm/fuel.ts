// The fuel rewriter (pure): instruments a WASI module so it meters itself, deterministically.
//
//   - a mutable i64 global, exported as __bvisor_fuel, holds the budget left; the host sets it
//     before running and reads it after;
//   - every straight-line segment is charged its instruction count where it starts (1 per
//     instruction; block, loop, end and else free: wasmtime's rule, unit fuel:wasmtime-like/v1);
//   - the budget is checked at function entry and at every loop header: below zero the module
//     executes `unreachable` (the host tells this trap from others by the negative fuel);
//   - memory.fill/copy/init and table.fill/copy/init are charged one more unit per 64 elements,
//     at run time, from their length operand;
//   - the memory's maximum becomes min(declared, cap) pages; a minimum above the cap is refused;
//   - a start function is not run at instantiation but exported as __bvisor_start, so the
//     budget is set before any guest code runs.
// Proposals the rewriter cannot meter soundly are refused: threads (shared memory, atomics),
// exceptions, GC, SIMD, memory64, multiple memories. Indices of existing functions, globals
// and locals do not change (new items are appended), so name sections stay valid.
import { Reader, Writer, readSections, writeModule, WasmFormatError, type Section } from './binary.js';

export const FUEL_VERSION = 'fuel:wasmtime-like/v1';
export const FUEL_EXPORT = '__bvisor_fuel';
export const START_EXPORT = '__bvisor_start';
/** Bulk operations cost one extra unit per this many bytes or elements (as wasmi does). */
export const BULK_UNIT = 64;

export interface FuelOptions {
  /** Memory cap in 64 KiB pages. */
  maxPages: number;
}

export interface FuelResult {
  bytes: Uint8Array;
  /** Every import, as module/name. */
  imports: Array<{ module: string; name: string; kind: number }>;
  /** The start function that was deferred, if any. */
  deferredStart: number | null;
  functions: number;
  /** Declared memory limits after the cap. */
  memory: { min: number; max: number } | null;
}

export class WasmRefused extends Error {}

/** The module's imports, read from its import section only (cheap: for cache hits). */
export function readImportList(input: Uint8Array): FuelResult['imports'] {
  const info = emptyInfo();
  for (const s of readSections(input)) if (s.id === 2) readImports(new Reader(s.body), info);
  return info.imports;
}

const SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

interface ModuleInfo {
  imports: Array<{ module: string; name: string; kind: number }>;
  paramCounts: number[]; // per type index
  funcTypes: number[]; // per defined function
  importedFuncs: number;
  importedGlobals: number;
  definedGlobals: number;
  exportNames: Set<string>;
}

function emptyInfo(): ModuleInfo {
  return { imports: [], paramCounts: [], funcTypes: [], importedFuncs: 0, importedGlobals: 0, definedGlobals: 0, exportNames: new Set() };
}

export function instrument(input: Uint8Array, opts: FuelOptions): FuelResult {
  let sections: Section[];
  try {
    sections = readSections(input);
  } catch (e) {
    throw new WasmRefused(`not a valid module: ${(e as Error).message}`);
  }
  const info = emptyInfo();
  let start: number | null = null;
  let memory: FuelResult['memory'] = null;
  const out: Section[] = [];
  try {
    for (const s of sections) {
      const r = new Reader(s.body);
      switch (s.id) {
        case 1:
          readTypes(r, info);
          break;
        case 2:
          readImports(r, info);
          break;
        case 3: {
          const n = r.u32();
          for (let i = 0; i < n; i++) info.funcTypes.push(r.u32());
          break;
        }
        case 5: {
          const n = r.u32();
          if (n > 1) throw new WasmRefused('multiple memories are not supported');
          if (n === 1) {
            memory = capMemory(r, opts.maxPages);
            out.push({ id: 5, body: new Writer().u32(1).byte(1).u32(memory.min).u32(memory.max).toBytes() });
            continue;
          }
          break;
        }
        case 6:
          info.definedGlobals = r.u32();
          break;
        case 7: {
          const n = r.u32();
          for (let i = 0; i < n; i++) {
            info.exportNames.add(r.name());
            r.byte();
            r.u32();
          }
          break;
        }
        case 8:
          start = r.u32();
          continue; // dropped: exported as __bvisor_start instead
        case 13:
          throw new WasmRefused('the exception-handling proposal (tag section) is not supported');
        default:
          if (s.id > 13) throw new WasmRefused(`unknown section ${s.id}`);
      }
      out.push(s);
    }
  } catch (e) {
    if (e instanceof WasmRefused) throw e;
    throw new WasmRefused(`not a valid module: ${(e as Error).message}`);
  }
  for (const n of [FUEL_EXPORT, START_EXPORT]) if (info.exportNames.has(n)) throw new WasmRefused(`the module already exports ${n}`);
  const fuelGlobal = info.importedGlobals + info.definedGlobals;

  // Globals: append the fuel counter (create the section if there is none).
  const gi = out.findIndex((s) => s.id === 6);
  const fuelDef = new Writer().byte(0x7e).byte(0x01).byte(0x42).byte(0x00).byte(0x0b).toBytes(); // i64 mut = i64.const 0
  if (gi >= 0) {
    const r = new Reader(out[gi]!.body);
    const n = r.u32();
    out[gi] = { id: 6, body: new Writer().u32(n + 1).bytes(out[gi]!.body.subarray(r.pos)).bytes(fuelDef).toBytes() };
  } else out.push({ id: 6, body: new Writer().u32(1).bytes(fuelDef).toBytes() });

  // Exports: the counter, and the deferred start.
  const ei = out.findIndex((s) => s.id === 7);
  const extra = new Writer().name(FUEL_EXPORT).byte(0x03).u32(fuelGlobal);
  let count = 1;
  if (start !== null) {
    extra.name(START_EXPORT).byte(0x00).u32(start);
    count++;
  }
  if (ei >= 0) {
    const r = new Reader(out[ei]!.body);
    const n = r.u32();
    out[ei] = { id: 7, body: new Writer().u32(n + count).bytes(out[ei]!.body.subarray(r.pos)).bytes(extra.toBytes()).toBytes() };
  } else out.push({ id: 7, body: new Writer().u32(count).bytes(extra.toBytes()).toBytes() });

  // Code.
  const ci = out.findIndex((s) => s.id === 10);
  if (ci >= 0) out[ci] = { id: 10, body: rewriteCode(out[ci]!.body, info, fuelGlobal) };

  // Sections in canonical order; custom sections keep their place after the section they followed.
  const ordered = sortSections(out);
  return { bytes: writeModule(ordered), imports: info.imports, deferredStart: start, functions: info.funcTypes.length, memory };
}

function sortSections(list: Section[]): Section[] {
  const known = list.filter((s) => s.id !== 0).sort((a, b) => SECTION_ORDER.indexOf(a.id) - SECTION_ORDER.indexOf(b.id));
  // customs after the known section that preceded them in the input (or at the front)
  const result: Section[] = [];
  const customsAfter = new Map<number, Section[]>();
  let prev = -1;
  for (const s of list) {
    if (s.id === 0) {
      const arr = customsAfter.get(prev) ?? [];
      arr.push(s);
      customsAfter.set(prev, arr);
    } else prev = s.id;
  }
  result.push(...(customsAfter.get(-1) ?? []));
  for (const s of known) {
    result.push(s);
    result.push(...(customsAfter.get(s.id) ?? []));
  }
  return result;
}

function readTypes(r: Reader, info: ModuleInfo): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const form = r.byte();
    if (form !== 0x60) throw new WasmRefused(`type ${i} is not a function type (GC proposal?)`);
    const params = r.u32();
    for (let p = 0; p < params; p++) valType(r);
    const results = r.u32();
    for (let p = 0; p < results; p++) valType(r);
    info.paramCounts.push(params);
  }
}

function valType(r: Reader): void {
  const t = r.byte();
  if (t === 0x7b) throw new WasmRefused('the SIMD proposal (v128) is not supported');
  if (![0x7f, 0x7e, 0x7d, 0x7c, 0x70, 0x6f].includes(t)) throw new WasmRefused(`value type 0x${t.toString(16)} is not supported`);
}

function readImports(r: Reader, info: ModuleInfo): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const kind = r.byte();
    info.imports.push({ module, name, kind });
    if (kind === 0) {
      r.u32();
      info.importedFuncs++;
    } else if (kind === 1) {
      r.byte();
      limits(r);
    } else if (kind === 2) throw new WasmRefused('imported memories are not supported (a WASI module defines its own)');
    else if (kind === 3) {
      valType(r);
      r.byte();
      info.importedGlobals++;
    } else throw new WasmRefused(`import kind ${kind} is not supported`);
  }
}

function limits(r: Reader): { min: number; max: number | null } {
  const flag = r.byte();
  if (flag & 0x02) throw new WasmRefused('shared memory (threads proposal) is not supported');
  if (flag & 0x04) throw new WasmRefused('memory64 is not supported');
  if (flag > 1) throw new WasmRefused(`limits flag 0x${flag.toString(16)} is not supported`);
  const min = r.u32();
  const max = flag === 1 ? r.u32() : null;
  return { min, max };
}

function capMemory(r: Reader, cap: number): { min: number; max: number } {
  const l = limits(r);
  if (l.min > cap) throw new WasmRefused(`the module needs ${l.min} pages of memory at start, above the cap of ${cap} pages`);
  return { min: l.min, max: Math.min(l.max ?? cap, cap) };
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
  kind: K;
  free: boolean;
  /** call or call_indirect: the callee (or the host) charges the shared counter */
  call: boolean;
  /** leaves the function (return, a tail call, or a branch to the function's own label) */
  exits: boolean;
}

function decode(r: Reader): Insn[] {
  const out: Insn[] = [];
  let depth = 1;
  while (depth > 0) {
    const start = r.pos;
    const op = r.byte();
    let kind = K.Plain;
    let free = false;
    let call = false;
    let exits = false;
    const fnLabel = depth - 1; // label index of the function's own block here
    switch (op) {
      case 0x00: // unreachable
        kind = K.Boundary;
        break;
      case 0x01: // nop
        break;
      case 0x02: // block
        r.blockType();
        depth++;
        kind = K.Boundary;
        free = true;
        break;
      case 0x03: // loop
        r.blockType();
        depth++;
        kind = K.Loop;
        free = true;
        break;
      case 0x04: // if
        r.blockType();
        depth++;
        kind = K.Boundary;
        break;
      case 0x05: // else
        kind = K.Boundary;
        free = true;
        break;
      case 0x0b: // end
        depth--;
        kind = K.Boundary;
        free = true;
        break;
      case 0x0c:
      case 0x0d: // br, br_if
        exits = r.u32() === fnLabel;
        kind = K.Boundary;
        break;
      case 0x0e: {
        const n = r.u32();
        for (let i = 0; i <= n; i++) if (r.u32() === fnLabel) exits = true;
        kind = K.Boundary;
        break;
      }
      case 0x0f: // return
        kind = K.Boundary;
        exits = true;
        break;
      case 0x10: // call
        r.u32();
        call = true;
        break;
      case 0x11: // call_indirect
        r.u32();
        r.u32();
        call = true;
        break;
      case 0x12: // return_call
        r.u32();
        kind = K.Boundary;
        exits = true;
        break;
      case 0x13: // return_call_indirect
        r.u32();
        r.u32();
        kind = K.Boundary;
        exits = true;
        break;
      case 0x1a:
      case 0x1b: // drop, select
        break;
      case 0x1c: {
        const n = r.u32();
        for (let i = 0; i < n; i++) valType(r);
        break;
      }
      case 0x20:
      case 0x21:
      case 0x22:
      case 0x23:
      case 0x24:
      case 0x25:
      case 0x26:
        r.u32();
        break;
      case 0x3f:
      case 0x40:
        if (r.byte() !== 0) throw new WasmRefused('multiple memories are not supported');
        break;
      case 0x41:
        r.skipSigned(32);
        break;
      case 0x42:
        r.skipSigned(64);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0xd0:
        r.byte();
        break;
      case 0xd1:
        break;
      case 0xd2:
        r.u32();
        break;
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) break;
        if (sub === 8) {
          r.u32();
          if (r.byte() !== 0) throw new WasmRefused('multiple memories are not supported');
          kind = K.Bulk;
        } else if (sub === 9 || sub === 13 || sub === 15 || sub === 16) r.u32();
        else if (sub === 10) {
          if (r.byte() !== 0 || r.byte() !== 0) throw new WasmRefused('multiple memories are not supported');
          kind = K.Bulk;
        } else if (sub === 11) {
          if (r.byte() !== 0) throw new WasmRefused('multiple memories are not supported');
          kind = K.Bulk;
        } else if (sub === 12 || sub === 14) {
          r.u32();
          r.u32();
          kind = K.Bulk;
        } else if (sub === 17) {
          r.u32();
          kind = K.Bulk;
        } else throw new WasmRefused(`instruction 0xfc ${sub} is not supported`);
        break;
      }
      case 0xfd:
        throw new WasmRefused('the SIMD proposal is not supported');
      case 0xfe:
        throw new WasmRefused('the threads proposal (atomics) is not supported');
      case 0xfb:
        throw new WasmRefused('the GC proposal is not supported');
      default:
        if (op >= 0x28 && op <= 0x3e) {
          const align = r.u32();
          if (align & 0x40) throw new WasmRefused('multiple memories are not supported');
          r.u32();
        } else if (op >= 0x45 && op <= 0xc4) {
          // numeric, no immediates
        } else throw new WasmRefused(`opcode 0x${op.toString(16)} is not supported (exceptions or an unknown proposal)`);
    }
    out.push({ start, end: r.pos, kind, free, call, exits });
  }
  return out;
}

// Where the counter lives while a function runs. In a function with loops it is cached in a
// local ($f): loaded at entry, written back to the global before anything that can observe it
// (a call, which the callee or the host charges; leaving the function; the trap) and reloaded
// after calls. A function without loops (often a small recursive one) works on the global
// directly: for it the loads and write-backs around every call would cost more than they save.
// Measured on V8: a summing loop 1.59× → 1.06× with the local; fib 1.94× with the global,
// 2.51× with the local.
interface Counter {
  get(w: Writer): void;
  set(w: Writer): void;
  /** write the cached value back (local mode only) */
  sync(w: Writer): void;
  /** reload after a call (local mode only) */
  reload(w: Writer): void;
}

function globalCounter(g: number): Counter {
  return {
    get: (w) => void w.byte(0x23).u32(g),
    set: (w) => void w.byte(0x24).u32(g),
    sync: () => {},
    reload: () => {},
  };
}

function localCounter(g: number, f: number): Counter {
  return {
    get: (w) => void w.byte(0x20).u32(f),
    set: (w) => void w.byte(0x21).u32(f),
    sync: (w) => void w.byte(0x20).u32(f).byte(0x24).u32(g),
    reload: (w) => void w.byte(0x23).u32(g).byte(0x21).u32(f),
  };
}

function charge(w: Writer, c: Counter, cost: number): void {
  if (cost <= 0) return;
  c.get(w);
  w.byte(0x42).s64(BigInt(cost)).byte(0x7d);
  c.set(w);
}

function check(w: Writer, c: Counter): void {
  // if counter < 0 { write it back; unreachable }
  c.get(w);
  w.byte(0x42).byte(0x00).byte(0x53).byte(0x04).byte(0x40);
  c.sync(w);
  w.byte(0x00).byte(0x0b);
}

function bulkCharge(w: Writer, c: Counter, tmp: number): void {
  // [..., len] → tee len; counter -= len / BULK_UNIT
  w.byte(0x22).u32(tmp);
  c.get(w);
  w.byte(0x20).u32(tmp).byte(0xad).byte(0x42).s64(BigInt(Math.log2(BULK_UNIT))).byte(0x88).byte(0x7d);
  c.set(w);
}

function rewriteCode(body: Uint8Array, info: ModuleInfo, g: number): Uint8Array {
  const r = new Reader(body);
  const n = r.u32();
  if (n !== info.funcTypes.length) throw new WasmRefused('function and code section counts differ');
  const w = new Writer().u32(n);
  for (let f = 0; f < n; f++) {
    const size = r.u32();
    const end = r.pos + size;
    const fr = new Reader(body, r.pos, end);
    // locals
    const groups = fr.u32();
    const localDecl: Array<[number, number]> = [];
    let locals = info.paramCounts[info.funcTypes[f]!] ?? 0;
    for (let i = 0; i < groups; i++) {
      const c = fr.u32();
      const t = fr.byte();
      if (t === 0x7b) throw new WasmRefused('the SIMD proposal (v128) is not supported');
      localDecl.push([c, t]);
      locals += c;
    }
    const insns = decode(fr);
    if (fr.pos !== end) throw new WasmRefused(`function ${info.importedFuncs + f}: trailing bytes after its end`);
    const needsTmp = insns.some((i) => i.kind === K.Bulk);
    const useLocal = insns.some((i) => i.kind === K.Loop);
    const fl = locals; // appended i64 local: the cached counter (functions with loops)
    const tmp = locals + (useLocal ? 1 : 0); // appended i32 local, only when a bulk op needs it
    const ctr = useLocal ? localCounter(g, fl) : globalCounter(g);
    const fw = new Writer();
    fw.u32(localDecl.length + (useLocal ? 1 : 0) + (needsTmp ? 1 : 0));
    for (const [c, t] of localDecl) fw.u32(c).byte(t);
    if (useLocal) fw.u32(1).byte(0x7e);
    if (needsTmp) fw.u32(1).byte(0x7f);
    // Segments: from a boundary to the next; the first begins at entry and is checked there.
    const costOf = (from: number): number => {
      let c = 0;
      for (let k = from; k < insns.length; k++) {
        if (!insns[k]!.free) c++;
        if (insns[k]!.kind === K.Boundary || insns[k]!.kind === K.Loop) break;
      }
      return c;
    };
    ctr.reload(fw);
    charge(fw, ctr, costOf(0));
    check(fw, ctr);
    for (let k = 0; k < insns.length; k++) {
      const ins = insns[k]!;
      const last = k === insns.length - 1;
      if (ins.kind === K.Bulk) bulkCharge(fw, ctr, tmp);
      if (ins.call || ins.exits || last) ctr.sync(fw);
      fw.bytes(body.subarray(ins.start, ins.end));
      if (ins.call) ctr.reload(fw);
      if (!last && (ins.kind === K.Boundary || ins.kind === K.Loop)) {
        charge(fw, ctr, costOf(k + 1));
        if (ins.kind === K.Loop) check(fw, ctr);
      }
    }
    const fb = fw.toBytes();
    w.u32(fb.length).bytes(fb);
    r.pos = end;
  }
  return w.toBytes();
}

export { WasmFormatError };
