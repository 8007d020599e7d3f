// The runner's outcome as bvisor believes it (app/wasm.ts parseOutcome): under run it comes on a
// pipe, for a created container from a file the runner wrote in the state directory. Whatever
// the runner wrote is checked before it reaches a report: the shape, the trap's name, the size.
import { describe, expect, it } from 'vitest';
import { parseOutcome, wasmExitStatus } from '../../src/app/wasm-report.js';

const ok = { exitCode: 0, trap: null, fuelUsed: '7', peakPages: 1, tableEntries: 0, message: null };

describe('the runner\'s outcome line', () => {
  it('takes the last line of a well-formed outcome', () => {
    expect(parseOutcome(JSON.stringify(ok) + '\n')).toEqual(ok);
    expect(parseOutcome(`${JSON.stringify({ ...ok, exitCode: 3 })}\n${JSON.stringify(ok)}\n`)).toEqual(ok);
    expect(parseOutcome(JSON.stringify({ ...ok, exitCode: null, trap: 'out_of_fuel', fuelUsed: '1000001' }))).toMatchObject({ trap: 'out_of_fuel', fuelUsed: '1000001' });
    // An outcome from before tables were counted: none.
    const { tableEntries: _t, ...old } = ok;
    expect(parseOutcome(JSON.stringify(old))).toEqual(ok);
  });

  it('believes nothing that is not an outcome: empty, not JSON, wrong types, a trap that is no name, too long', () => {
    expect(parseOutcome('')).toBeNull();
    expect(parseOutcome('hello\n')).toBeNull();
    expect(parseOutcome('[1,2]')).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, exitCode: '0' }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, exitCode: 1.5 }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, fuelUsed: 7 }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, fuelUsed: '1e9' }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, peakPages: -1 }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, trap: 'Out Of Fuel!' }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, trap: 'x'.repeat(33) }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, message: 'm'.repeat(70_000) }))).toBeNull();
    expect(parseOutcome(`${' '.repeat(70_000)}${JSON.stringify(ok)}`)).toBeNull();
  });

  // A counter above its budget (a negative use) means the runner was handed fuel; the report's
  // schema (budgets.*.observed ≥ 0) would refuse the number, and one such journal line would make
  // `journal verify`, `recover` and `gc` refuse for good. Found by attack (random_get with a
  // length of 2^31, which arrived negative).
  it('believes no negative fuel use and no negative exit code', () => {
    expect(parseOutcome(JSON.stringify({ ...ok, fuelUsed: '-33554427' }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, exitCode: -1 }))).toBeNull();
    expect(parseOutcome(JSON.stringify({ ...ok, fuelUsed: '0' }))).toMatchObject({ fuelUsed: '0' });
  });
});

describe('run\'s exit status for a guest', () => {
  const status = (exitCode: number | null, trap: string | null = null): number =>
    wasmExitStatus({ result: { timedOut: false, signal: null }, outcome: { ...ok, exitCode, trap } } as unknown as Parameters<typeof wasmExitStatus>[0]);
  // proc_exit takes a u32 (wasi_snapshot_preview1.witx, $exitcode); wait(2) keeps 8 bits of a
  // status, so 256 would read as 0, success, to `bvisor run … && next`.
  it('is the guest\'s code up to 255, and 255 above it, never 0 for a failure', () => {
    expect(status(0)).toBe(0);
    expect(status(3)).toBe(3);
    expect(status(255)).toBe(255);
    expect(status(256)).toBe(255);
    expect(status(4294967295)).toBe(255);
    expect(status(null, 'out_of_fuel')).toBe(124);
    expect(status(null, 'unreachable')).toBe(134);
  });
});
