// The rewriter holds its output to what V8 compiles (src/wasm/wasm-limits.h: at most 7,654,321
// bytes in one function body), as it writes it: a module that is valid as it comes but grows past
// that once instrumented is refused by name, early, not by the engine's validation of the whole
// output as "a rewriter bug" (found by attack). Oracles: WebAssembly.validate itself, on bodies at
// and past the limit, and the input's validity.
import { describe, expect, it } from 'vitest';
import { instrument, V8_MAX_FUNCTION_BYTES, WasmRefused } from '../../../src/core/wasm/fuel.js';
import { I, repeatedModule } from './builder.js';

const CAPS = { maxPages: 16, tableEntries: 1024 };

/** One function whose body (its locals' count, the code, the end) is `size` bytes of nops. */
const bodyOf = (size: number): Uint8Array<ArrayBuffer> => repeatedModule({ functions: 1, instruction: [I.nop], count: size - 2 });

describe('the rewriter and V8 size limits', () => {
  it('the engine compiles a function body of 7,654,321 bytes, not one byte more (the limit held here)', () => {
    expect(WebAssembly.validate(bodyOf(7_654_321))).toBe(true);
    expect(WebAssembly.validate(bodyOf(7_654_322))).toBe(false);
    expect(V8_MAX_FUNCTION_BYTES).toBe(7_654_321);
  });

  it('a valid function that grows past it once instrumented is refused by name, with what to do', () => {
    // 700,000 unreachables: every one ends a straight-line stretch, and gains a charge.
    const m = repeatedModule({ functions: 1, instruction: [I.unreachable], count: 700_000 });
    expect(WebAssembly.validate(m)).toBe(true);
    let err: unknown = null;
    try {
      instrument(m, CAPS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WasmRefused);
    const r = err as WasmRefused;
    expect(r.message).toMatch(/^function 0 is (\d+) bytes once instrumented \(700002 before\), above the 7654321 V8 compiles in one function$/);
    expect(Number(/is (\d+) bytes/.exec(r.message)![1])).toBeGreaterThan(7_654_321);
    expect(r.hint).toMatch(/smaller functions/);
  });
});
