// The journal's attempt events (docs/journal.md#recovery): start records, dispositions and
// recovery entries chain with reports, take the same locked, fsync'd append (and its refusals),
// verify, and are MAC'd in a keyed journal; an incomplete line says what it was going to be, and
// so does a fragment an earlier repair kept aside. Oracle: the file's bytes and lines.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendReport, appendStarted, appendDisposition, appendRecovery, appendEvent, verifyJournalAt, journalPaths, loadJournalKey, readJournalEntries, repairJournalAt } from '../../src/host/journal-store.js';
import { tornFragment, entryKind, entryRunId, makeEventEntry } from '../../src/core/journal.js';
import { validateJournalEntry, validateRecoverOutput } from '../../src/contract/generated/validators.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody } from '../helpers/sample-report.js';
import { thrown } from '../helpers/thrown.js';
import { tempDir } from '../helpers/tmp.js';
import type { JournalStarted, JournalRecovery } from '../../src/contract/generated/types.js';

const RUN = '3f2a6c1e-0b7d-4e59-9a1b-2c3d4e5f6a7b';
const startedOf = (runId = RUN): Omit<JournalStarted, 'kind'> => ({ runId, containerId: 'x1', releasedBy: 'run', backend: 'linux', planHash: 'b'.repeat(64), stateRoot: '/run/bvisor', cgroupDirs: ['/sys/fs/cgroup/bvisor-test/bvisor-x1-3f2a6c1e'], supervisor: { pid: 100, startTime: '5' }, monitor: null, workload: { pid: 101, startTime: '6' } });
const recoveryOf = (runId = RUN): Omit<JournalRecovery, 'kind'> => ({ runId, containerId: 'x1', classification: 'rolled-back', reason: 'started and never completed', actions: [{ do: 'remove-cgroup', target: '/sys/fs/cgroup/bvisor-test/bvisor-x1-3f2a6c1e', done: true, error: null }] });
const lines = (root: string): string[] => readFileSync(journalPaths(root).file, 'utf8').trimEnd().split('\n');

describe('attempt events in the journal', () => {
  it('a start record, the report, a disposition and a recovery chain and verify; each is read back by kind and run', () => {
    const root = tempDir();
    const s = appendStarted(root, startedOf());
    const r = appendReport(root, sealReport(sampleBody(RUN), sha256Hex));
    const d = appendDisposition(root, { runId: RUN, step: 'decided', action: 'commit', artifacts: [{ id: 'a1', sha256: 'c'.repeat(64), to: '/dest/a' }] });
    const f = appendDisposition(root, { runId: RUN, step: 'failed', action: 'commit', artifacts: [{ id: 'a1', sha256: 'c'.repeat(64) }], error: { code: 'BV_IO', message: 'rename: EXDEV' } });
    const v = appendRecovery(root, recoveryOf());
    expect([s, r, d, f, v].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(r.prevHash).toBe(s.entryHash);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 5 });
    for (const l of lines(root)) expect(validateJournalEntry(JSON.parse(l)), l.slice(0, 80)).toBe(true);
    const read = readJournalEntries(root);
    expect(read.entries.map(entryKind)).toEqual(['started', 'report', 'disposition', 'disposition', 'recovery']);
    expect(read.entries.map(entryRunId)).toEqual([RUN, RUN, RUN, RUN, RUN]);
    expect(read.torn).toBeNull();
    // Read for a few run ids only: the others' lines are not parsed.
    appendStarted(root, startedOf('other-run'));
    expect(readJournalEntries(root, new Set(['other-run'])).entries.map((e) => e.seq)).toEqual([6]);
  });

  it('takes the append\'s refusals: nothing is appended after a torn line (the workload would not be released)', () => {
    const root = tempDir();
    appendReport(root, sealReport(sampleBody('r0'), sha256Hex));
    writeFileSync(journalPaths(root).file, readFileSync(journalPaths(root).file, 'utf8') + '{"bvisorVersion":"1","seq":2,"at":"', { flag: 'w' });
    const before = readFileSync(journalPaths(root).file);
    expect(thrown(() => appendStarted(root, startedOf())).code).toBe('BV_JOURNAL_TORN');
    expect(readFileSync(journalPaths(root).file).equals(before)).toBe(true);
  });

  it('is MAC\'d in a keyed journal, and refused without its key', () => {
    const root = tempDir();
    const keyFile = join(tempDir('bvisor-key-'), 'k');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    const key = loadJournalKey(keyFile, root);
    const e = appendStarted(root, startedOf(), { key });
    expect(e.mac?.keyId).toBe(key.id);
    expect(thrown(() => appendRecovery(root, recoveryOf())).code).toBe('BV_JOURNAL_KEY');
    appendRecovery(root, recoveryOf(), { key });
    expect(verifyJournalAt(root, key)).toMatchObject({ ok: true, entries: 2, macs: 2 });
  });

  it('the schema refuses what an event must not be', () => {
    const ok = makeEventEntry(null, { kind: 'started', ...startedOf() }, '2026-12-01T00:00:00.000Z', sha256Hex);
    expect(validateJournalEntry(ok)).toBe(true);
    const bad = (f: (e: any) => void): boolean => {
      const e = structuredClone(ok) as any;
      f(e);
      return validateJournalEntry(e);
    };
    expect(bad((e) => (e.event.runId = '../../etc'))).toBe(false); // a run id is one path segment
    expect(bad((e) => (e.event.releasedBy = 'create'))).toBe(false);
    expect(bad((e) => (e.event.workload = { pid: 1 }))).toBe(false);
    expect(bad((e) => (e.event.secret = 'x'))).toBe(false);
    expect(bad((e) => (e.event = { kind: 'disposition', runId: RUN, step: 'done', action: 'commit', artifacts: [] }))).toBe(false);
    expect(bad((e) => (e.event = { kind: 'disposition', runId: RUN, step: 'applied', action: 'commit', artifacts: [{ id: 'a', sha256: 'short' }] }))).toBe(false);
    expect(bad((e) => (e.event = { kind: 'recovery', ...recoveryOf(), classification: 'lost' }))).toBe(false);
    expect(bad((e) => (e.event = { kind: 'recovery', ...recoveryOf(), actions: [{ do: 'rm -rf', target: '/', done: true, error: null }] }))).toBe(false);
    expect(bad((e) => (e.event = { kind: 'disposition', runId: RUN, step: 'applied', action: 'discard', artifacts: [] }))).toBe(true);
  });

  it('an incomplete line says what it was going to be, and so does a fragment kept aside by a repair', () => {
    const root = tempDir();
    appendStarted(root, startedOf());
    const line = JSON.stringify(makeEventEntry(null, { kind: 'started', ...startedOf('x') }, 'now', sha256Hex));
    expect(tornFragment(line.slice(0, 200))).toEqual({ kind: 'started', runId: 'x' });
    expect(tornFragment('{"bvisorVersion":"1","seq":2,"at":"')).toEqual({ kind: 'unknown', runId: null });
    // A report cut in half, as a crash mid-append leaves it (the head still on entry 1).
    const full = readFileSync(journalPaths(root).file, 'utf8');
    const head = readFileSync(journalPaths(root).head, 'utf8');
    appendReport(root, sealReport(sampleBody(RUN), sha256Hex));
    const last = lines(root).at(-1)!;
    writeFileSync(journalPaths(root).file, full + last.slice(0, last.length >> 1));
    writeFileSync(journalPaths(root).head, head);
    const read = readJournalEntries(root);
    expect(read.torn).toEqual({ line: 2, bytes: last.length >> 1, kind: 'report', runId: RUN });
    repairJournalAt(root);
    const after = readJournalEntries(root);
    expect(after.torn).toBeNull();
    expect(after.keptAside).toEqual([expect.objectContaining({ line: 2, kind: 'report', runId: RUN, savedAs: expect.stringMatching(/^journal\.jsonl\.torn-2-/) })]);
    expect(readdirSync(root).filter((n) => n.startsWith('journal.jsonl.torn-'))).toHaveLength(1);
  });

  it('appendEvent takes any event kind; RecoverOutput validates an empty recovery', () => {
    const root = tempDir();
    appendEvent(root, { kind: 'recovery', ...recoveryOf() });
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 1 });
    expect(validateRecoverOutput({ stateRoot: root, dryRun: true, journal: { entries: 0, torn: null, repaired: false }, attempts: [], counts: { absent: 0, 'rolled-back': 0, completed: 0, running: 0, refused: 0 } })).toBe(true);
    expect(validateRecoverOutput({ stateRoot: root, dryRun: true, journal: { entries: 0, torn: null, repaired: false }, attempts: [], counts: { absent: 0 } })).toBe(false);
  });
});
