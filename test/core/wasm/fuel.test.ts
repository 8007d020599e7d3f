// The fuel rewriter, checked by running what it produces: V8 validates and executes the
// instrumented modules; the oracle for "it stopped because of fuel" is the exported counter
// below zero at the trap, and for "same semantics" the uninstrumented module's own answer.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instrument, WasmRefused, FUEL_EXPORT, START_EXPORT } from '../../../src/core/wasm/fuel.js';
import { tempDir } from '../../helpers/tmp.js';
import { skipOrFail } from '../../helpers/require.js';

function wat(src: string, features: string[] = []): Uint8Array | null {
  const d = tempDir();
  writeFileSync(join(d, 'm.wat'), src);
  const r = spawnSync('wat2wasm', [...features, join(d, 'm.wat'), '-o', join(d, 'm.wasm')], { encoding: 'utf8' });
  if (r.error) return null;
  if (r.status !== 0) throw new Error(r.stderr);
  return new Uint8Array(readFileSync(join(d, 'm.wasm')));
}

function need(m: Uint8Array | null): m is Uint8Array {
  if (m === null) skipOrFail('wabt', 'wat2wasm (Debian wabt) is not installed');
  return m !== null;
}

const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

async function run(bytes: Uint8Array, fuel: bigint, fn: string, ...args: number[]): Promise<{ result?: unknown; trap?: string; fuelLeft: bigint }> {
  const { instance } = await WebAssembly.instantiate(ab(bytes), {});
  const g = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
  g.value = fuel;
  try {
    const result = (instance.exports[fn] as (...a: number[]) => unknown)(...args);
    return { result, fuelLeft: g.value as bigint };
  } catch (e) {
    return { trap: (e as Error).message, fuelLeft: g.value as bigint };
  }
}

const FIB = `(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1))) (call $fib (i32.sub (local.get 0) (i32.const 2))))))))`;
const SPIN = `(module (func (export "spin") (loop $l (br $l))))`;
const SUM = `(module (func (export "sum") (param i32) (result i32) (local i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get 0)))
    (local.set 1 (i32.add (local.get 1) (local.get 0)))
    (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
    (br $l)))
  (local.get 1)))`;

describe('fuel rewriter', () => {
  it('keeps the semantics: fib(20) and sum(1000) give the uninstrumented answers', async () => {
    const fib = wat(FIB);
    const sum = wat(SUM);
    if (!need(fib) || !need(sum)) return;
    const f = instrument(fib, { maxPages: 16, tableEntries: 1024 });
    expect(WebAssembly.validate(ab(f.bytes))).toBe(true);
    expect((await run(f.bytes, 10n ** 12n, 'fib', 20)).result).toBe(6765);
    expect((await run(instrument(sum, { maxPages: 16, tableEntries: 1024 }).bytes, 10n ** 12n, 'sum', 1000)).result).toBe(500500);
  });

  it('counts deterministically: the same fuel used on every run, growing with the work', async () => {
    const fib = wat(FIB);
    if (!need(fib)) return;
    const b = instrument(fib, { maxPages: 16, tableEntries: 1024 }).bytes;
    const used = async (n: number): Promise<bigint> => 10n ** 12n - (await run(b, 10n ** 12n, 'fib', n)).fuelLeft;
    const runs = [await used(18), await used(18), await used(18)];
    expect(new Set(runs.map(String)).size).toBe(1);
    expect(await used(19)).toBeGreaterThan(runs[0]!);
  });

  it('stops an infinite loop when the fuel runs out (trap with the counter below zero)', async () => {
    const spin = wat(SPIN);
    if (!need(spin)) return;
    const r = await run(instrument(spin, { maxPages: 1, tableEntries: 1024 }).bytes, 100_000n, 'spin');
    expect(r.trap).toMatch(/unreachable/);
    expect(r.fuelLeft).toBeLessThan(0n);
    // the red twin: without instrumentation this module would never return (not run here)
  });

  it('charges bulk memory operations by length', async () => {
    const m = wat(`(module (memory 1) (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 7) (local.get 0))))`);
    if (!need(m)) return;
    const b = instrument(m, { maxPages: 4, tableEntries: 1024 }).bytes;
    const left0 = (await run(b, 1_000_000n, 'fill', 0)).fuelLeft;
    const left64k = (await run(b, 1_000_000n, 'fill', 65536)).fuelLeft;
    expect(left0 - left64k).toBe(65536n / 64n);
  });

  it('caps memory: max = min(declared, cap), and refuses a larger minimum', async () => {
    const m = wat(`(module (memory (export "mem") 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    if (!need(m)) return;
    const r = instrument(m, { maxPages: 4, tableEntries: 1024 });
    expect(r.memory).toEqual({ min: 2, max: 4 });
    expect((await run(r.bytes, 10n ** 9n, 'grow', 2)).result).toBe(2);
    expect((await run(r.bytes, 10n ** 9n, 'grow', 3)).result).toBe(-1);
    expect(() => instrument(m, { maxPages: 1, tableEntries: 1024 })).toThrow(WasmRefused);
  });

  it('defers the start function until the host has set the budget', async () => {
    const m = wat(`(module (global $g (export "g") (mut i32) (i32.const 0)) (func $s (global.set $g (i32.const 42))) (start $s))`);
    if (!need(m)) return;
    const r = instrument(m, { maxPages: 1, tableEntries: 1024 });
    expect(r.deferredStart).toBe(0);
    const { instance } = await WebAssembly.instantiate(ab(r.bytes), {});
    expect((instance.exports.g as WebAssembly.Global).value).toBe(0);
    (instance.exports[FUEL_EXPORT] as WebAssembly.Global).value = 1000n;
    (instance.exports[START_EXPORT] as () => void)();
    expect((instance.exports.g as WebAssembly.Global).value).toBe(42);
  });

  it('refuses proposals it cannot meter: SIMD, threads, multi-memory, exceptions, and garbage', () => {
    const simd = wat(`(module (func (result v128) (v128.const i32x4 0 0 0 0)))`);
    if (!need(simd)) return;
    expect(() => instrument(simd, { maxPages: 1, tableEntries: 1024 })).toThrow(/SIMD/);
    const shared = wat(`(module (memory 1 1 shared))`, ['--enable-threads']);
    expect(() => instrument(shared!, { maxPages: 1, tableEntries: 1024 })).toThrow(/shared memory/);
    const multi = wat(`(module (memory 1) (memory 1))`, ['--enable-multi-memory']);
    expect(() => instrument(multi!, { maxPages: 1, tableEntries: 1024 })).toThrow(/multiple memories|memory count of 2/);
    expect(() => instrument(new Uint8Array([1, 2, 3]), { maxPages: 1, tableEntries: 1024 })).toThrow(WasmRefused);
  });

  it('instruments the shipped hello module into a valid module', () => {
    const b = new Uint8Array(readFileSync(join(__dirname, '../../../bundles/hello-wasm/hello.wasm')));
    const r = instrument(b, { maxPages: 2, tableEntries: 1024 });
    expect(WebAssembly.validate(ab(r.bytes))).toBe(true);
    expect(r.functions).toBe(1);
  });
});
