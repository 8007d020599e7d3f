// limits.memory covers tables as well as linear memory: the budget is split (splitMemory), the
// planner says what it caps, and the rewriter cuts every table's maximum so that all tables
// together stay within their share. Oracles: V8's table.grow (-1 when refused) on the rewritten
// module, and the same module with a larger cap (the twin, where the growth succeeds).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instrument, splitMemory, WasmRefused, FUEL_EXPORT } from '../../../src/core/wasm/fuel.js';
import { plan } from '../../../src/core/planner.js';
import { loadManifest } from '../../../src/core/manifest.js';
import type { PathFact } from '../../../src/core/features.js';
import { sha256Hex } from '../../../src/host/hash.js';
import { v2Host } from '../../helpers/hosts.js';
import { I, T, wasmModule } from './builder.js';

const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

// The split as docs/security.md (Wasm) states it, written here rather than read from the code:
// linear memory gets 15/16 of limits.memory in 64 KiB pages, tables 1/16 in 64-byte entries
// (V8 needs up to 60 B per funcref entry at the peak of a table.grow).
const PAGE = 65536;
const ENTRY = 64;
const documentedSplit = (bytes: number): { maxPages: number; tableEntries: number } => {
  const tables = Math.floor(bytes / 16);
  return { maxPages: Math.floor((bytes - tables) / PAGE), tableEntries: Math.floor(tables / ENTRY) };
};

/** A module with the given tables; grow(t, n) grows table t by n (funcref null) and returns the old size or -1. */
function tablesModule(tables: Array<{ min: number; max?: number }>): Uint8Array {
  return wasmModule({
    tables: tables.map((t) => ({ ref: T.funcref, ...t })),
    funcs: tables.map((_, i) => ({ params: [T.i32], results: [T.i32], body: [I.refNull(T.funcref), I.localGet(0), I.tableGrow(i)], export: `grow${i}` })),
  });
}

function instance(bytes: Uint8Array): WebAssembly.Exports {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(ab(bytes)), {});
  (inst.exports[FUEL_EXPORT] as WebAssembly.Global).value = 10n ** 12n;
  return inst.exports;
}

describe('limits.memory split between linear memory and tables', () => {
  it('the two shares never add up to more than the limit', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 42 }), (bytes) => {
        const s = splitMemory(bytes);
        expect(s.maxPages * PAGE + s.tableEntries * ENTRY).toBeLessThanOrEqual(bytes);
        expect(s.tableEntries * ENTRY).toBeLessThanOrEqual(bytes / 16);
        expect(s).toEqual(documentedSplit(bytes));
      }),
    );
    expect(splitMemory(8 * 2 ** 20)).toEqual({ maxPages: 120, tableEntries: 8192 });
  });

  it('the planner names both caps, and they are the ones the rewriter applies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1024, max: 2 ** 30 }), (kib) => {
        const m = loadManifest(`bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\nlimits: { memory: ${kib}Ki }\n`, 't.yaml').manifest;
        const file: PathFact = { path: '/b/m.wasm', kind: 'file', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o644 };
        const p = plan({ manifest: m, host: v2Host(), paths: { grants: [], exe: null, module: file, root: null }, cgroupParent: null }, sha256Hex);
        const s = documentedSplit(kib * 1024);
        expect(p.clauses.find((c) => c.clause === 'limits.memory')?.mechanism).toBe(`wasm:memory-cap(max-pages=${s.maxPages},table-entries=${s.tableEntries})`);
      }),
      { numRuns: 50 },
    );
  });
});

describe('table caps in the rewritten module', () => {
  it('a table without a maximum gets the cap; growth past it is refused (-1); the twin with room grows', () => {
    const m = tablesModule([{ min: 2 }]);
    const r = instrument(m, { maxPages: 1, tableEntries: 8192 });
    expect(r.tables).toEqual([{ min: 2, max: 8192 }]);
    const e = instance(r.bytes);
    const grow = e.grow0 as (n: number) => number;
    expect(grow(100_000)).toBe(-1);
    expect(grow(8190)).toBe(2);
    expect(grow(1)).toBe(-1);
    expect((e.__bvisor_table0 as WebAssembly.Table).length).toBe(8192);
    // the twin: the same module, a cap with room
    expect((instance(instrument(m, { maxPages: 1, tableEntries: 1 << 20 }).bytes).grow0 as (n: number) => number)(100_000)).toBe(2);
  });

  it('a declared maximum below the cap stays', () => {
    expect(instrument(tablesModule([{ min: 1, max: 3 }]), { maxPages: 1, tableEntries: 100 }).tables).toEqual([{ min: 1, max: 3 }]);
  });

  it('a table minimum above the cap is refused at load, naming the numbers', () => {
    expect(() => instrument(tablesModule([{ min: 9000 }]), { maxPages: 1, tableEntries: 8192 })).toThrow(WasmRefused);
    expect(() => instrument(tablesModule([{ min: 5000 }, { min: 5000 }]), { maxPages: 1, tableEntries: 8192 })).toThrow(/tables need 10000 entries at start, above the 8192 that limits\.memory leaves for tables/);
  });

  it('several tables share the cap: the maxima add up to no more than it, none below its minimum or above its declared maximum', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ min: fc.nat({ max: 50 }), extra: fc.option(fc.nat({ max: 100 })) }), { minLength: 1, maxLength: 4 }), fc.nat({ max: 300 }), (ts, cap) => {
        const tables = ts.map((t) => (t.extra === null ? { min: t.min } : { min: t.min, max: t.min + t.extra }));
        const need = tables.reduce((a, t) => a + t.min, 0);
        const m = tablesModule(tables);
        if (need > cap) {
          expect(() => instrument(m, { maxPages: 1, tableEntries: cap })).toThrow(/tables need/);
          return;
        }
        const r = instrument(m, { maxPages: 1, tableEntries: cap });
        expect(r.tables.reduce((a, t) => a + t.max, 0)).toBeLessThanOrEqual(cap);
        r.tables.forEach((t, i) => {
          expect(t.max).toBeGreaterThanOrEqual(tables[i]!.min);
          expect(t.max).toBeLessThanOrEqual(tables[i]!.max ?? Infinity);
        });
        // the engine agrees: growing every table as far as it goes stops at the maxima
        const e = instance(r.bytes);
        let total = 0;
        tables.forEach((_, i) => {
          const grow = e[`grow${i}`] as (n: number) => number;
          while (grow(1) !== -1);
          total += (e[`__bvisor_table${i}`] as WebAssembly.Table).length;
        });
        expect(total).toBeLessThanOrEqual(cap);
      }),
      { numRuns: 100 },
    );
  });

  it('table.grow is charged like a bulk operation: one more unit per 64 entries', () => {
    const r = instrument(tablesModule([{ min: 0 }]), { maxPages: 1, tableEntries: 1 << 20 });
    const e = instance(r.bytes);
    const fuel = e[FUEL_EXPORT] as WebAssembly.Global;
    const grow = e.grow0 as (n: number) => number;
    const left = (n: number): bigint => {
      const before = fuel.value as bigint;
      grow(n);
      return before - (fuel.value as bigint);
    };
    expect(left(6400) - left(0)).toBe(100n);
  });
});
