// The runner's outcome as bvisor believes it (app/wasm.ts parseOutcome): under run it comes on a
// pipe, for a created container from a file the runner wrote in the state directory. Whatever
// the runner wrote is checked before it reaches a report: the shape, the trap's name, the size.
import { describe, expect, it } from 'vitest';
import { parseOutcome } from '../../src/app/wasm-report.js';

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
});
