// The records' validators (src/contract/generated/validators-records.js) are each compiled on
// their first call, so that a start-up snapshot holds only the source of those its warm-up never
// runs (scripts/gen-contract.mjs, lazyValidators; docs/performance.md, fifteenth pass). Oracle:
// the module's own list of what it has loaded, in a module instance of this file's alone (vitest
// isolates test files), and what each validator decides and reports on a real document.
import { describe, expect, it } from 'vitest';
import { loadedValidators, validateContainerState, validateJournalEntry } from '../../src/contract/generated/validators-records.js';
import { warmPlan } from '../../src/cli/warm-up.js';
import { warmUpRecords } from '../../src/cli/warm-up-records.js';
import { makeEntry } from '../../src/core/journal.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleReport } from '../helpers/sample-report.js';

describe('the records validators load on first call', () => {
  it('none is compiled at import; the warm-up compiles the state and host facts validators, never the journal entry one', () => {
    expect(loadedValidators()).toEqual([]);
    warmUpRecords(warmPlan());
    expect(loadedValidators().sort()).toEqual(['validateContainerState', 'validateHostFacts']);
  });

  it('a validator loaded late decides and reports its errors as ajv leaves them, call after call', () => {
    expect(validateJournalEntry({ bvisorVersion: '1', seq: 0 })).toBe(false);
    expect(loadedValidators()).toContain('validateJournalEntry');
    expect(validateJournalEntry.errors?.length).toBeGreaterThan(0);
    expect(validateJournalEntry.errors?.map((e) => e.keyword)).toContain('required');
    // A valid document clears them, as ajv's own function does.
    expect(validateJournalEntry(makeEntry(null, sampleReport('lazy'), '2026-01-01T00:00:00.000Z', sha256Hex))).toBe(true);
    expect(validateJournalEntry.errors).toBeNull();
    expect(validateContainerState({})).toBe(false);
    expect(validateContainerState.errors?.map((e) => e.keyword)).toContain('required');
  });
});
