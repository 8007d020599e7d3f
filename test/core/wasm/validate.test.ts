// Nothing is rewritten before it is validated. The exploit: a module that is invalid only
// because it names what the rewriter appends would become valid after rewriting and escape its
// budget. What it could name: the counter global (appended after the module's globals) and the
// wrappers (appended after its functions: what the host calls, reading the budget from the
// global). Each validation layer (the engine's, and the rewriter's own index checks) refuses
// such a module on its own; with both switched off (a test-only parameter the app never passes)
// the escape really happens: the red twin (a forged call of a wrapper). The counter inside a
// function is a parameter no index of the original maps onto, so a forged local.set cannot reach
// it even with both layers off; and a forged global.set of the counter is written over at the
// next sync, before anything reads the global.
// Malformed modules get a WasmRefused naming what is wrong and where, never another exception.
import { describe, expect, it } from 'vitest';
import { instrument, readSurface, WasmRefused, FUEL_EXPORT, type UncheckedForTests } from '../../../src/core/wasm/fuel.js';
import { I, T, body, name, section, u32, vec, wasmModule } from './builder.js';

const CAPS = { maxPages: 16, tableEntries: 1024 };
const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const ITER = 2_000_000;
const BUDGET = 100_000n;
const REFILL = (1n << 62n) - 1n;

/** i += 1 while i < ITER, then return i; `refill` is spliced into the loop body. */
const counting = (refill: Array<number | number[]>) => [I.loop(), ...refill, I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(ITER), I.i32LtU, I.brIf(0), I.end, I.localGet(0)];

// local 1 does not exist before rewriting (one i32 local, no parameters)
const LOCAL_REFILL = wasmModule({ funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: counting([I.i64(REFILL), I.localSet(1)]) }] });
// global 0 does not exist before rewriting; after it, it is the counter (read by the wrapper of
// every export, and after every host call)
const GLOBAL_REFILL = wasmModule({
  imports: [{ module: 'env', name: 'host', params: [], results: [] }],
  funcs: [
    { body: [I.i64(REFILL), I.globalSet(0), I.call(0)] },
    { results: [T.i32], locals: [[1, T.i32]], export: 'run', body: counting([I.call(1)]) },
  ],
});
// function 3 does not exist before rewriting; after it, it is the wrapper of the first export
// (`work`): it runs `work` on the budget left in the global, not on the caller's counter, and
// the caller's next host call writes its own counter back over what `work` used.
const WORK = 5_000; // iterations of `work`'s loop: about 8 units each, 40,000 a call
const WRAPPER_CALL = wasmModule({
  imports: [{ module: 'env', name: 'host', params: [], results: [] }],
  globals: [{ type: T.i32, mutable: true, init: I.i32(0), export: 'done' }],
  funcs: [
    { locals: [[1, T.i32]], export: 'work', body: [I.loop(), I.globalGet(0), I.i32(1), I.i32Add, I.globalSet(0), I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(WORK), I.i32LtU, I.brIf(0), I.end] },
    { results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.loop(), I.call(0), I.call(3), I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(20), I.i32LtU, I.brIf(0), I.end, I.globalGet(0)] },
  ],
});
const HONEST = wasmModule({ funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: counting([]) }] });

function run(bytes: Uint8Array, fuel: bigint): { result?: number; trap?: string; left: bigint } {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(ab(bytes)), { env: { host: () => {} } });
  const g = inst.exports[FUEL_EXPORT] as WebAssembly.Global;
  g.value = fuel;
  try {
    return { result: (inst.exports.run as () => number)(), left: g.value as bigint };
  } catch (e) {
    return { trap: (e as Error).message, left: g.value as bigint };
  }
}

function refusal(bytes: Uint8Array, opts: UncheckedForTests = {}): string {
  let err: unknown = null;
  try {
    instrument(bytes, CAPS, opts);
  } catch (e) {
    err = e;
  }
  expect(err, 'refused').toBeInstanceOf(WasmRefused);
  const m = (err as Error).message;
  expect(m).not.toMatch(/\n\s+at /);
  return m;
}

describe('validation before rewriting: the fuel cannot be forged', () => {
  it('the honest loop runs out of fuel under a budget of 100,000 (the control)', () => {
    const r = run(instrument(HONEST, CAPS).bytes, BUDGET);
    expect(r.trap).toMatch(/unreachable/);
    expect(r.left).toBeLessThan(0n);
  });

  it('the honest twin of the wrapper call (work called directly) runs out of fuel under the same budget', () => {
    const honest = wasmModule({
      imports: [{ module: 'env', name: 'host', params: [], results: [] }],
      globals: [{ type: T.i32, mutable: true, init: I.i32(0), export: 'done' }],
      funcs: [
        { locals: [[1, T.i32]], export: 'work', body: [I.loop(), I.globalGet(0), I.i32(1), I.i32Add, I.globalSet(0), I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(WORK), I.i32LtU, I.brIf(0), I.end] },
        { results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.loop(), I.call(0), I.call(1), I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(20), I.i32LtU, I.brIf(0), I.end, I.globalGet(0)] },
      ],
    });
    const r = run(instrument(honest, CAPS).bytes, BUDGET);
    expect(r.trap).toMatch(/unreachable/);
    expect(r.left).toBeLessThan(0n);
  });

  for (const [what, m, idx] of [
    ['global.set', GLOBAL_REFILL, /global index 0 out of range \(there are none\) at byte \d+/],
    ['call', WRAPPER_CALL, /function index 3 out of range \(only 3\) at byte \d+/],
  ] as const) {
    it(`a ${what} of what the rewriter appends is refused by each layer on its own`, () => {
      expect(WebAssembly.validate(ab(m))).toBe(false); // invalid as it comes
      expect(refusal(m)).toMatch(/^not a valid module: Compiling function #\d+ failed: (invalid global index: \d+|function index #\d+ is out of bounds) @\+\d+/i);
      expect(refusal(m, { skipEngineValidation: true })).toMatch(idx);
      expect(refusal(m, { skipIndexChecks: true })).toMatch(/invalid global index|function index #\d+ is out of bounds/i);
    });
  }

  it('with both layers off, a forged global.set does not refill: every sync writes the counter over it', () => {
    const out = instrument(GLOBAL_REFILL, CAPS, { skipEngineValidation: true, skipIndexChecks: true }).bytes;
    expect(WebAssembly.validate(ab(out))).toBe(true);
    const r = run(out, BUDGET);
    expect(r.trap).toMatch(/unreachable/);
    expect(r.left).toBeLessThan(0n);
  });

  it('red twin: with both layers off, the call module validates after rewriting and works past its budget', () => {
    const out = instrument(WRAPPER_CALL, CAPS, { skipEngineValidation: true, skipIndexChecks: true }).bytes;
    expect(WebAssembly.validate(ab(out))).toBe(true);
    const r = run(out, BUDGET);
    expect(r.trap).toBeUndefined();
    expect(r.result).toBe(20 * WORK); // at least 20 × 5,000 × 8 = 800,000 units under a budget of 100,000
  });

  it('a local.set past the function\'s own locals cannot reach the counter, even with both layers off', () => {
    expect(WebAssembly.validate(ab(LOCAL_REFILL))).toBe(false);
    expect(refusal(LOCAL_REFILL)).toMatch(/invalid local index/i);
    expect(refusal(LOCAL_REFILL, { skipEngineValidation: true })).toMatch(/local index 1 out of range \(only 1\) at byte \d+/);
    // no index of the original maps onto the counter parameter: the forged index stays out of
    // range after rewriting, and the rewriter's output check refuses it
    expect(refusal(LOCAL_REFILL, { skipEngineValidation: true, skipIndexChecks: true })).toMatch(/the instrumented module does not validate.*invalid local index/);
  });
});

/** A module of `sections` (each [id, body]). */
const mod = (...secs: Array<[number, number[]]>): Uint8Array => Uint8Array.from([...HEADER, ...secs.flatMap(([id, b]) => section(id, b))]);
const TYPE_V = vec([[0x60, 0, 0]]); // one type: () -> ()
const oneFunc = (code: number[], extra: Array<[number, number[]]> = []): Uint8Array =>
  mod([1, TYPE_V], [3, vec([[0]])], ...extra.filter(([id]) => id < 10), [10, [...u32(1), ...code]], ...extra.filter(([id]) => id >= 10));
const fbody = (ins: Array<number | number[]>, locals: Array<[number, number]> = []): number[] => body({ locals, body: ins });

describe('malformed modules: a coded refusal naming what and where', () => {
  // [case, bytes, what the rewriter's own checks say (engine layer off)]
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty input', new Uint8Array(0), /not a WebAssembly 1\.0 module/],
    ['a text file', Uint8Array.from(Buffer.from('(module)')), /not a WebAssembly 1\.0 module/],
    ['a duplicate section', mod([1, TYPE_V], [1, TYPE_V]), /duplicate section 1 \(type\) at byte 1\d/],
    ['sections out of order', mod([3, vec([])], [1, TYPE_V]), /section 1 \(type\) at byte \d+ is out of order/],
    ['an unknown section', mod([14, []]), /unknown section id 14 at byte \d+/],
    ['a section longer than the module', Uint8Array.from([...HEADER, 1, 50, 1, 0x60]), /section 1 \(type\) declares 50 bytes but only 2 are left at byte 8/],
    ['an over-long LEB128 section size', Uint8Array.from([...HEADER, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), /LEB128 (too long|out of range)/],
    ['a LEB128 above 32 bits', Uint8Array.from([...HEADER, 1, 0xff, 0xff, 0xff, 0xff, 0x1f]), /u32 LEB128 out of range/],
    ['a vector count far beyond its section', mod([1, [0xff, 0xff, 0xff, 0xff, 0x0f]]), /type count 4294967295 is larger than the 0 bytes left/],
    ['a huge locals count', oneFunc(fbody([], [[0xffffffff, T.i32]])), /function 0 declares 4294967295 or more locals, above the 50000/],
    ['local counts that wrap 32 bits', oneFunc(fbody([], [[0x80000000, T.i32], [0x80000000, T.i32]])), /declares \d+ or more locals/],
    ['a local group count beyond the body', oneFunc(fbody([], [[1, T.i32]]).map((b, i) => (i === 1 ? 0x7f : b))), /local group count 127 is larger than/],
    ['a call to a function that does not exist', oneFunc(fbody([I.call(5)])), /function index 5 out of range \(only 1\)/],
    ['a global.get of a global that does not exist', oneFunc(fbody([I.globalGet(0), I.drop])), /global index 0 out of range \(there are none\)/],
    ['a call_indirect with no table', oneFunc(fbody([I.i32(0), I.callIndirect(0)])), /table index 0 out of range \(there are none\)/],
    ['a call_indirect of a type that does not exist', oneFunc(fbody([I.i32(0), I.callIndirect(9)])), /type index 9 out of range \(only 1\)/],
    ['a branch deeper than its blocks', oneFunc(fbody([I.br(3)])), /branch depth 3 out of range \(1 enclosing blocks\)/],
    ['a load with no memory', oneFunc(fbody([I.i32(0), I.i32Load(), I.drop])), /memory instruction in a module without memory/],
    ['data.drop without a data count section', oneFunc(fbody([[0xfc, 9, 0]])), /data\.drop without a data count section/],
    ['an else outside an if', oneFunc(fbody([I.else])), /else outside an if/],
    ['a function body that ends early', oneFunc([...u32(4), 0, I.end, I.nop, I.nop]), /function 0: 2 unread bytes before its end/],
    ['a body longer than the code section', oneFunc([...u32(40), 0, I.end]), /body of 40 bytes runs past the code section/],
    ['more bodies than functions', mod([1, TYPE_V], [3, vec([[0]])], [10, [...u32(2), ...fbody([]), ...fbody([])]]), /2 function bodies for 1 declared functions/],
    ['functions without a code section', mod([1, TYPE_V], [3, vec([[0]])]), /1 functions declared but there is no code section/],
    ['a function of a type that does not exist', mod([1, TYPE_V], [3, vec([[7]])], [10, [...u32(1), ...fbody([])]]), /function 0: type index 7 out of range/],
    ['an export of a function that does not exist', oneFunc(fbody([]), [[7, vec([[...name('_start'), 0, 4]])]]), /export "_start": function index 4 out of range \(1\)/],
    ['a duplicate export name', oneFunc(fbody([]), [[7, vec([[...name('a'), 0, 0], [...name('a'), 0, 0]])]]), /duplicate export name "a"/],
    ['an export name that is not UTF-8', oneFunc(fbody([]), [[7, vec([[1, 0xff, 0, 0]])]]), /a name is not valid UTF-8/],
    ['a start function that does not exist', oneFunc(fbody([]), [[8, u32(3)]]), /start function 3 out of range/],
    ['a data segment with no memory', oneFunc(fbody([]), [[11, vec([[0, ...I.i32(0), I.end, 1, 65]])]]), /data segment 0 is active but the module has no memory/],
    ['an element segment with a function that does not exist', oneFunc(fbody([]), [[4, vec([[T.funcref, 0, 1]])], [9, vec([[0, ...I.i32(0), I.end, ...vec([u32(6)])]])]]), /element segment 0: function index 6 out of range/],
    ['a table minimum above its maximum', oneFunc(fbody([]), [[4, vec([[T.funcref, 1, 5, 2]])]]), /table minimum 5 is above its maximum 2/],
  ];

  for (const [what, bytes, own] of cases) {
    it(what, () => {
      // as shipped: refused (by the engine or by the framing checks, which run first)
      expect(refusal(bytes)).toMatch(/^not a valid module: .*(@\+\d+|at byte \d+)/);
      // the rewriter's own checks say the same thing on their own, with a byte offset
      const m = refusal(bytes, { skipEngineValidation: true });
      expect(m).toMatch(own);
      expect(m).toMatch(/at byte \d+/);
    });
  }

  it('refuses what it cannot meter or cap, with the reason', () => {
    const tag = mod([1, TYPE_V], [13, vec([[0, 0]])]);
    expect(refusal(tag, { skipEngineValidation: true })).toMatch(/exception-handling proposal \(tag section at byte \d+\)/);
    const reserved = wasmModule({ funcs: [{ body: [], export: '__bvisor_table7' }] });
    expect(refusal(reserved)).toMatch(/exports "__bvisor_table7": export names starting with __bvisor_ are reserved/);
    const tableImport = mod([2, vec([[...name('env'), ...name('t'), 1, T.funcref, 0, 1]])]);
    expect(refusal(tableImport)).toMatch(/imported tables are not supported \(env\.t\)/);
  });

  // readSurface locates the types and decodes only those named (found by attack: 300,000 types of
  // 200 parameters made every cache hit 1.7 s and 895 MB of the supervisor's): what it returns is
  // what the full read of a rewrite returns.
  it('readSurface gives the surface the rewrite reads, types of imports and exports included', () => {
    const many = Array.from({ length: 30 }, (_, i) => [T.i32, T.i64, T.f32, T.f64][i % 4]!);
    const m = wasmModule({
      imports: [
        { module: 'wasi_snapshot_preview1', name: 'fd_write', params: [T.i32, T.i32, T.i32, T.i32], results: [T.i32] },
        { module: 'env', name: 'wide', params: many, results: [T.f64, T.i32] },
      ],
      funcs: [
        { params: many.slice(0, 7), results: [], body: [] },
        { body: [], export: '_start' },
        { params: [T.f32], results: [T.f32], body: [I.localGet(0)], export: 'id' },
      ],
      memory: { min: 1, export: 'memory' },
      globals: [{ type: T.i32, mutable: false, init: I.i32(3), export: 'g' }],
    });
    const full = instrument(m, { maxPages: 16, tableEntries: 1024 });
    expect(readSurface(m)).toEqual({ imports: full.imports, exports: full.exports });
    expect(readSurface(m).imports[1]!.type).toEqual({ params: many, results: [T.f64, T.i32] });
  });

  it('readSurface does not decode a type nothing names (the rewrite, which reads them all, refuses this one)', () => {
    // Type 1 takes a v128 (SIMD, which bvisor refuses); only type 0 is named, by _start.
    const m = mod([1, vec([[0x60, 0, 0], [0x60, 1, 0x7b, 0]])], [3, vec([[0]])], [7, vec([[...name('_start'), 0, 0]])], [10, vec([[2, 0, I.end]])]);
    expect(readSurface(m).exports).toEqual([{ name: '_start', kind: 0, index: 0, type: { params: [], results: [] } }]);
    expect(refusal(m, { skipEngineValidation: true })).toMatch(/the SIMD proposal \(v128 at byte \d+\) is not supported/);
  });

  it('readSurface (for cached modules) is as strict about framing', () => {
    expect(() => readSurface(mod([1, TYPE_V], [1, TYPE_V]))).toThrow(/duplicate section 1/);
    expect(() => readSurface(Uint8Array.from([...HEADER, 2, 9, 1]))).toThrow(WasmRefused);
  });
});
