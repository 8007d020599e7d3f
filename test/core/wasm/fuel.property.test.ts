// Properties of the fuel rewriter over generated modules (gen.ts): the instrumented module
// validates, behaves like the original (same result or trap, same globals and memory), and never
// runs past its fuel by more than the static slack between two checks. Oracles: V8 running the
// original module, and V8's validator. Plus: whatever bytes come in, the rewriter refuses with
// WasmRefused or produces a module that validates, never another exception.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instrument, WasmRefused, FUEL_EXPORT, type UncheckedForTests } from '../../../src/core/wasm/fuel.js';
import { generate, Tape } from './gen.js';
import { I, T, wasmModule } from './builder.js';

const CAPS = { maxPages: 16, tableEntries: 1024 };
const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;
const tape = fc.array(fc.nat(), { minLength: 20, maxLength: 300 });

interface Ran {
  result?: number;
  trap?: string;
  fuelLeft?: bigint;
  globals: unknown[];
  memory: string | null;
}

function runModule(bytes: Uint8Array, args: number[], fuel: bigint | null): Ran {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(ab(bytes)), {});
  const g = inst.exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
  if (fuel !== null) g!.value = fuel;
  const out: Ran = { globals: [], memory: null };
  try {
    out.result = (inst.exports.run as (...a: number[]) => number)(...args);
  } catch (e) {
    out.trap = (e as Error).message;
  }
  if (g) out.fuelLeft = g.value as bigint;
  for (let i = 0; `g${i}` in inst.exports; i++) out.globals.push((inst.exports[`g${i}`] as WebAssembly.Global).value);
  const mem = inst.exports.mem as WebAssembly.Memory | undefined;
  if (mem) out.memory = createHash('sha256').update(new Uint8Array(mem.buffer)).digest('hex');
  return out;
}

const BIG = 10n ** 15n;

describe('fuel rewriter properties (generated modules)', () => {
  it('the generator makes valid modules, and the rewriter keeps them valid and equivalent', () => {
    fc.assert(
      fc.property(tape, fc.array(fc.integer({ min: -5, max: 40 }), { minLength: 2, maxLength: 2 }), (xs, argv) => {
        const m = generate(new Tape(xs));
        expect(WebAssembly.validate(ab(m.bytes))).toBe(true);
        const r = instrument(m.bytes, CAPS);
        expect(WebAssembly.validate(ab(r.bytes))).toBe(true);
        const args = argv.slice(0, m.params);
        const want = runModule(m.bytes, args, null);
        const got = runModule(r.bytes, args, BIG);
        expect({ result: got.result, trap: got.trap, globals: got.globals, memory: got.memory }).toEqual({ result: want.result, trap: want.trap, globals: want.globals, memory: want.memory });
        expect(got.fuelLeft).toBeGreaterThanOrEqual(0n);
      }),
      { numRuns: 250 },
    );
  });

  it('never runs past its fuel: with any budget, a run ends within budget + slack; short of need − slack it is stopped', () => {
    fc.assert(
      fc.property(tape, fc.nat({ max: 20_000 }), (xs, budget) => {
        const m = generate(new Tape(xs));
        const b = instrument(m.bytes, CAPS).bytes;
        const args = [3, 7].slice(0, m.params);
        const full = runModule(b, args, BIG);
        // The count is exact when the run completes or ends in `unreachable` (the counter is
        // written back first); after a trap the engine raises (division by zero) it is a lower bound.
        const exact = full.trap === undefined || /unreachable/.test(full.trap);
        const need = BIG - full.fuelLeft!;
        const B = BigInt(budget);
        const r = runModule(b, args, B);
        const used = B - r.fuelLeft!;
        // never more than the budget plus what can be charged between two checks
        expect(used).toBeLessThanOrEqual(B + BigInt(m.slack));
        if (!exact) {
          // whatever stopped it: fuel (below zero) or the same trap as with unlimited fuel
          if (r.fuelLeft! >= 0n) expect(r.trap).toBe(full.trap);
          return;
        }
        if (r.fuelLeft! < 0n && r.trap !== undefined) {
          expect(need).toBeGreaterThan(B); // stopped by fuel: the need was really above the budget
        } else {
          // not stopped by fuel: the same outcome as with unlimited fuel, and the same count
          expect({ result: r.result, trap: r.trap, used }).toEqual({ result: full.result, trap: full.trap, used: need });
        }
        if (need > B + BigInt(m.slack)) expect(r.fuelLeft).toBeLessThan(0n); // it was stopped
        // exactly the need is always enough
        const just = runModule(b, args, need);
        expect({ result: just.result, trap: just.trap, left: just.fuelLeft }).toEqual({ result: full.result, trap: full.trap, left: 0n });
      }),
      { numRuns: 200 },
    );
  });

  it('a loop guest with budget N stops out of fuel having used at most N + its loop body', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2_000_000 }), fc.nat({ max: 40 }), (budget, nops) => {
        // c = 10M; loop { nop×k; c -= 1; br_if c }: each iteration costs k + 5, far more in all
        // than any budget here. Bounded, so a rewriter that stopped checking would fail this
        // test (the loop ends, no trap) instead of hanging it.
        const body = [I.i32(10_000_000), I.localSet(0), I.loop(), ...Array(nops).fill(I.nop), I.localGet(0), I.i32(1), I.i32Sub, I.localTee(0), I.brIf(0), I.end];
        const m = wasmModule({ funcs: [{ results: [], locals: [[1, T.i32]], body, export: 'run' }] });
        const r = runModule(instrument(m, CAPS).bytes, [], BigInt(budget));
        expect(r.trap).toMatch(/unreachable/);
        expect(r.fuelLeft).toBeLessThan(0n);
        expect(BigInt(budget) - r.fuelLeft!).toBeLessThanOrEqual(BigInt(budget) + BigInt(nops + 5));
      }),
      { numRuns: 100 },
    );
  });

  it('any bytes: a WasmRefused or a module that validates, never another exception (with and without the engine layer)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0x00, 0x01, 0x0b, 0x7f, 0x80, 0xff, 0x20, 0x21, 0x24, 0x10, 0x41) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), v: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    let refused = 0;
    let accepted = 0;
    fc.assert(
      fc.property(tape, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (xs, muts, skipEngine) => {
        const b = [...generate(new Tape(xs)).bytes];
        for (const m of muts) {
          const at = m.at % (b.length + 1);
          if (m.kind === 'flip' && at < b.length) b[at]! ^= 1 << m.bit;
          else if (m.kind === 'set' && at < b.length) b[at] = m.v;
          else if (m.kind === 'insert') b.splice(at, 0, m.v);
          else if (m.kind === 'delete') b.splice(at, 1);
          else if (m.kind === 'truncate') b.length = at;
        }
        const bytes = Uint8Array.from(b);
        const opts: UncheckedForTests = { skipEngineValidation: skipEngine };
        let out: Uint8Array;
        try {
          out = instrument(bytes, CAPS, opts).bytes;
        } catch (e) {
          if (!(e instanceof WasmRefused)) throw new Error(`not a WasmRefused: ${(e as Error)?.stack ?? String(e)}`);
          expect((e as Error).message).not.toMatch(/\n\s+at /);
          refused++;
          return;
        }
        accepted++;
        expect(WebAssembly.validate(ab(out))).toBe(true);
        // accepted by the rewriter's own checks alone: the original was valid too (nothing the
        // rewriter appends can make an invalid module valid)
        expect(WebAssembly.validate(ab(bytes))).toBe(true);
      }),
      { numRuns: 1500 },
    );
    expect(refused).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(10);
  });
});
