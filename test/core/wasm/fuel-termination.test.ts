// Running out of fuel cannot be escaped: every way a guest can run without end (a loop
// back-edge, recursion direct, mutual, indirect or through tail calls, a loop around a host call)
// must stop with the fuel trap under a budget far smaller than its work. The spec: a run whose
// need is above its budget ends in a trap with the counter below zero, having used at most the
// budget plus what is charged between two checks (one straight-line segment, at most the whole
// function here). Every guest below is bounded (tens of millions of units, well under a second
// unmetered), so a rewriter that skipped the check on a back-edge or a call would let it return
// a result, failing the test, instead of hanging it.
import { describe, expect, it } from 'vitest';
import { instrument, FUEL_EXPORT } from '../../../src/core/wasm/fuel.js';
import { I, T, wasmModule, type Fn } from './builder.js';

const CAPS = { maxPages: 1, tableEntries: 16 };
const BUDGET = 1_000_000n;
const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

function run(bytes: Uint8Array, fuel: bigint, ...args: number[]): { result?: unknown; trap?: string; left: bigint; hostCalls: number } {
  let hostCalls = 0;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(ab(bytes)), { env: { host: () => void hostCalls++ } });
  const g = inst.exports[FUEL_EXPORT] as WebAssembly.Global;
  g.value = fuel;
  try {
    return { result: (inst.exports.run as (...a: number[]) => unknown)(...args), left: g.value as bigint, hostCalls };
  } catch (e) {
    return { trap: (e as Error).message, left: g.value as bigint, hostCalls };
  }
}

/** Stopped by fuel: the trap, the counter below zero, at most one function body past the budget. */
function expectOutOfFuel(m: Uint8Array, bodyBound: number, ...args: number[]): void {
  const bytes = instrument(m, CAPS).bytes;
  const r = run(bytes, BUDGET, ...args);
  expect(r.result, 'returned a result: the fuel check was skipped').toBeUndefined();
  expect(r.trap).toMatch(/unreachable/);
  expect(r.left).toBeLessThan(0n);
  expect(BUDGET - r.left).toBeLessThanOrEqual(BUDGET + BigInt(bodyBound));
}

const fibBody = (call: Array<number | number[]>): Fn['body'] => [
  I.localGet(0), I.i32(2), I.i32LtU, I.if(T.i32), I.localGet(0), I.else,
  I.localGet(0), I.i32(1), I.i32Sub, ...call, I.localGet(0), I.i32(2), I.i32Sub, ...call, I.i32Add, I.end,
];
// fib(32): about 7 million calls, some 90 million units; the answer proves a run completed
const N = 32;

describe('running out of fuel cannot be escaped', () => {
  it('the guests complete with enough fuel (the controls: they are bounded, and metering keeps their answers)', () => {
    const fib = wasmModule({ funcs: [{ params: [T.i32], results: [T.i32], body: fibBody([I.call(0)]), export: 'run' }] });
    expect(run(instrument(fib, CAPS).bytes, 1n << 40n, 20).result).toBe(6765);
  });

  it('a loop whose only way back is its back-edge (no call anywhere)', () => {
    // i = 20M; loop { i -= 1; br_if 0 (i) }
    const m = wasmModule({ funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.i32(20_000_000), I.localSet(0), I.loop(), I.localGet(0), I.i32(1), I.i32Sub, I.localTee(0), I.brIf(0), I.end, I.localGet(0)] }] });
    expectOutOfFuel(m, 10);
  });

  it('a back-edge taken from inside nested blocks (br to the loop label from depth 2)', () => {
    const m = wasmModule({
      funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [
        I.i32(20_000_000), I.localSet(0),
        I.block(), I.loop(), I.block(),
        I.localGet(0), I.i32Eqz, I.brIf(2), // done: leave the outer block
        I.localGet(0), I.i32(1), I.i32Sub, I.localSet(0),
        I.br(1), // continue: back to the loop header from inside the inner block
        I.end, I.end, I.end, I.localGet(0),
      ] }],
    });
    expectOutOfFuel(m, 20);
  });

  it('direct recursion without any loop', () => {
    const m = wasmModule({ funcs: [{ params: [T.i32], results: [T.i32], body: fibBody([I.call(0)]), export: 'run' }] });
    expectOutOfFuel(m, 20, N);
  });

  it('mutual recursion (f calls g calls f)', () => {
    const m = wasmModule({
      funcs: [
        { params: [T.i32], results: [T.i32], body: fibBody([I.call(1)]), export: 'run' },
        { params: [T.i32], results: [T.i32], body: fibBody([I.call(0)]) },
      ],
    });
    expectOutOfFuel(m, 20, N);
  });

  it('recursion through call_indirect (a table of functions)', () => {
    const m = wasmModule({
      tables: [{ ref: T.funcref, min: 1, max: 1 }],
      elems: [{ offset: 0, funcs: [0] }],
      funcs: [{ params: [T.i32], results: [T.i32], body: fibBody([I.i32(0), I.callIndirect(0)]), export: 'run' }],
    });
    expectOutOfFuel(m, 24, N);
  });

  it('a tail-call loop (return_call to itself: no stack grows, no loop instruction)', () => {
    // f(n) = n == 0 ? 0 : return_call f(n - 1), from 20M
    const m = wasmModule({
      funcs: [{ params: [T.i32], results: [T.i32], export: 'run', body: [I.localGet(0), I.i32Eqz, I.if(T.i32), I.i32(0), I.else, I.localGet(0), I.i32(1), I.i32Sub, [0x12, 0], I.end] }],
    });
    expectOutOfFuel(m, 12, 20_000_000);
  });

  it('a loop around a host call (the host charges nothing here; the loop is still checked)', () => {
    const m = wasmModule({
      imports: [{ module: 'env', name: 'host', params: [], results: [] }],
      funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.i32(20_000_000), I.localSet(0), I.loop(), I.call(0), I.localGet(0), I.i32(1), I.i32Sub, I.localTee(0), I.brIf(0), I.end, I.localGet(0)] }],
    });
    expectOutOfFuel(m, 10);
  });

  it('what the host charges during a call counts: a charge that empties the budget stops the next check', () => {
    // The runner's host subtracts its cost from the exported counter during the call. A loop of
    // 10 iterations with a host call that takes 200,000 units each needs 2M: above the budget.
    const m = wasmModule({
      imports: [{ module: 'env', name: 'host', params: [], results: [] }],
      funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.i32(10), I.localSet(0), I.loop(), I.call(0), I.localGet(0), I.i32(1), I.i32Sub, I.localTee(0), I.brIf(0), I.end, I.localGet(0)] }],
    });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(ab(instrument(m, CAPS).bytes)), {
      env: { host: () => void ((inst.exports[FUEL_EXPORT] as WebAssembly.Global).value = ((inst.exports[FUEL_EXPORT] as WebAssembly.Global).value as bigint) - 200_000n) },
    });
    const g = inst.exports[FUEL_EXPORT] as WebAssembly.Global;
    g.value = BUDGET;
    expect(() => (inst.exports.run as () => number)()).toThrow(/unreachable/);
    expect(g.value as bigint).toBeLessThan(0n);
    // 5 host calls take the whole budget, the loop's own units take it below zero, and the next
    // check (the loop header) stops the run before a 6th
    expect(BUDGET - (g.value as bigint)).toBeGreaterThan(5n * 200_000n);
    expect(BUDGET - (g.value as bigint)).toBeLessThan(5n * 200_000n + 100n);
  });
});
