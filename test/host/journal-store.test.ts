// The journal on disk: appends chain, and verify finds any edit, deletion, reorder or truncation;
// a damaged head or a torn tail is a coded error and never appended after; --repair mends only
// what an interrupted append leaves (oracle: we tamper with the file directly, as an attacker or
// a crash would, and compare the file's bytes before and after).
import { readFileSync, renameSync, writeFileSync, existsSync, rmSync, copyFileSync, symlinkSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendReport, appendStarted, verifyJournalAt, journalPaths, loadJournalKey, journalHasSince, readJournalEntries, readJournalEntriesSince, newestEntry, repairJournalAt, appendRecovery, appendDisposition } from '../../src/host/journal-store.js';
import type { JournalEntry } from '../../src/contract/generated/types.js';
import { verifyJournal } from '../../src/app/journal.js';
import { makeEntry } from '../../src/core/journal.js';
import { validateJournalEntry } from '../../src/contract/generated/validators.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody, sampleReport } from '../helpers/sample-report.js';
import { thrown } from '../helpers/thrown.js';
import { tempDir } from '../helpers/tmp.js';

function journalWith(n: number): { root: string; file: string; lines: string[] } {
  const root = tempDir();
  for (let i = 0; i < n; i++) appendReport(root, sealReport(sampleBody(`run-${i}`), sha256Hex));
  const file = journalPaths(root).file;
  return { root, file, lines: readFileSync(file, 'utf8').trimEnd().split('\n') };
}

describe('journal', () => {
  it('chains appends and verifies', () => {
    const { root, lines } = journalWith(4);
    expect(lines).toHaveLength(4);
    const entries = lines.map((l) => JSON.parse(l));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < 4; i++) expect(entries[i].prevHash).toBe(entries[i - 1].entryHash);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 4 });
  });

  it('an entry that would not pass verification is never written: the journal and its head are unchanged, and it still verifies', () => {
    const { root, file } = journalWith(2);
    const before = [readFileSync(file, 'utf8'), readFileSync(journalPaths(root).head, 'utf8')];
    // schemas/journal-entry.schema.json bounds a disposition's `to` at 4096 characters.
    const e = thrown(() => appendDisposition(root, { runId: 'run-0', step: 'decided', action: 'commit', artifacts: [{ id: 'a'.repeat(16), sha256: '0'.repeat(64), to: `/${'x'.repeat(4096)}` }] }));
    expect(e.code).toBe('BV_INTERNAL');
    expect(e.message).toContain('a disposition entry for');
    expect(e.message).toContain('(/event/artifacts/0/to must NOT have more than 4096 characters); it was not written, and the journal is unchanged');
    expect([readFileSync(file, 'utf8'), readFileSync(journalPaths(root).head, 'utf8')]).toEqual(before);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 2 });
  });

  it('an empty journal verifies', () => {
    const root = tempDir();
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 0 });
  });

  it('finds an edited report (line 2)', () => {
    const { root, file, lines } = journalWith(3);
    lines[1] = lines[1]!.replace('"exitCode":0', '"exitCode":1');
    writeFileSync(file, lines.join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds an edit that also recomputes the report seal', () => {
    const { root, file, lines } = journalWith(3);
    const e = JSON.parse(lines[1]!);
    e.report.body.outcome.exitCode = 1;
    e.report = sealReport(e.report.body, sha256Hex);
    e.bodyHash = e.report.bodyHash;
    lines[1] = JSON.stringify(e);
    writeFileSync(file, lines.join('\n') + '\n');
    const v = verifyJournalAt(root);
    expect(v).toMatchObject({ ok: false, line: 2 });
    expect(!v.ok && v.problem).toMatch(/entry hash/);
  });

  it('finds a deleted entry', () => {
    const { root, file, lines } = journalWith(4);
    writeFileSync(file, [lines[0], lines[2], lines[3]].join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds reordered entries', () => {
    const { root, file, lines } = journalWith(3);
    writeFileSync(file, [lines[0], lines[2], lines[1]].join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds a truncated tail (whole entries) through the head record', () => {
    const { root, file, lines } = journalWith(3);
    writeFileSync(file, lines.slice(0, 2).join('\n') + '\n');
    const v = verifyJournalAt(root);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.problem).toMatch(/truncated/);
  });

  it('finds a torn last line', () => {
    const { root, file } = journalWith(2);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length - 20));
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds a journal whose head was deleted', () => {
    const { root } = journalWith(1);
    const head = journalPaths(root).head;
    expect(existsSync(head)).toBe(true);
    rmSync(head);
    expect(verifyJournalAt(root).ok).toBe(false);
  });

  it('serialises concurrent appenders (no lost or duplicated sequence numbers)', async () => {
    const root = tempDir();
    const { spawn } = await import('node:child_process');
    // Four processes append 10 reports each through the compiled build.
    const child = (i: number) =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, ['-e', `const {appendReport}=require('./dist/host/journal-store.js');const {sealReport}=require('./dist/core/report.js');const {sha256Hex}=require('./dist/host/hash.js');const b=${JSON.stringify(sampleBody())};for(let k=0;k<10;k++){b.runId='p${i}-'+k;appendReport(${JSON.stringify(root)},sealReport(b,sha256Hex));}`], { cwd: process.cwd(), stdio: 'inherit' });
        p.on('exit', (c) => resolve(c ?? -1));
      });
    const codes = await Promise.all([0, 1, 2, 3].map(child));
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 40 });
  });
});

// ---- faults: the head, a torn tail, repair, the old format ---------------------------------


const report = sampleReport;

describe('journal head', () => {
  for (const [name, text] of [
    ['[]', '[]\n'],
    ['garbage', 'not json at all'],
    ['empty', ''],
    ['null', 'null\n'],
    ['a string seq', '{"seq":"3","entryHash":"' + 'a'.repeat(64) + '"}'],
    ['seq 0', '{"seq":0,"entryHash":"' + 'a'.repeat(64) + '"}'],
    ['a short hash', '{"seq":1,"entryHash":"abc"}'],
    ['an extra key', '{"seq":1,"entryHash":"' + 'a'.repeat(64) + '","x":1}'],
    ['another version', '{"bvisorVersion":"2","seq":1,"entryHash":"' + 'a'.repeat(64) + '"}'],
  ] as const) {
    it(`a head that is ${name} is a coded error for append and verify, never "no head"`, () => {
      const { root, file } = journalWith(2);
      const before = readFileSync(file);
      writeFileSync(journalPaths(root).head, text);
      const e = thrown(() => appendReport(root, report('x')));
      expect(e.code).toBe('BV_JOURNAL_CORRUPT');
      expect(e.message).toContain(journalPaths(root).head);
      expect(readFileSync(file).equals(before)).toBe(true); // nothing appended
      expect(verifyJournalAt(root)).toMatchObject({ ok: false, kind: 'head-invalid', line: 0 });
      expect(thrown(() => verifyJournal(root)).code).toBe('BV_JOURNAL_CORRUPT');
    });
  }

  it('new heads carry bvisorVersion; old heads without it still verify', () => {
    const { root } = journalWith(1);
    expect(JSON.parse(readFileSync(journalPaths(root).head, 'utf8'))).toEqual({ bvisorVersion: '1', seq: 1, entryHash: expect.stringMatching(/^[0-9a-f]{64}$/), lineHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});

// The head's lineHash: SHA-256 of the last line's bytes as the append wrote them. Oracle: the
// file's own bytes, hashed here with node:crypto, and lines rewritten on disk as an editor would.
describe("the head's lineHash", () => {
  const lastLine = (file: string): Buffer => {
    const b = readFileSync(file);
    return b.subarray(b.lastIndexOf(0x0a, b.length - 2) + 1, b.length - 1);
  };
  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
  /** The last entry with its keys in another order: the same entry (entryHash covers canonical JSON), another line. */
  const reordered = (line: string): string => {
    const e = JSON.parse(line) as Record<string, unknown>;
    return JSON.stringify(Object.fromEntries(Object.entries(e).reverse()));
  };

  it('is the hash of the last line on disk after every append, whatever its kind', () => {
    const { root, file } = journalWith(2);
    const head = () => JSON.parse(readFileSync(journalPaths(root).head, 'utf8')) as { lineHash: string; seq: number };
    expect(head().lineHash).toBe(sha(lastLine(file)));
    appendStarted(root, { runId: 'run-s', containerId: 'c', releasedBy: 'start', backend: 'linux', planHash: '0'.repeat(64), stateRoot: '/x', cgroupDirs: [], supervisor: null, monitor: null, workload: null });
    expect(head()).toMatchObject({ seq: 3, lineHash: sha(lastLine(file)) });
  });

  it('a last line rewritten without changing its entry (keys reordered) is refused by append and by verify; an older head without lineHash takes it, as before', () => {
    const { root, file, lines } = journalWith(2);
    const headFile = journalPaths(root).head;
    const head = JSON.parse(readFileSync(headFile, 'utf8')) as { seq: number; entryHash: string };
    lines[1] = reordered(lines[1]!);
    expect(lines[1]).not.toBe(readFileSync(file, 'utf8').trimEnd().split('\n')[1]);
    writeFileSync(file, lines.join('\n') + '\n');
    const before = readFileSync(file);
    const e = thrown(() => appendReport(root, report('x')));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/last entry \(line 2\) is not the line its head records \(lineHash\)/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, kind: 'head-rewritten', line: 2, problem: expect.stringMatching(/lineHash/) });
    // The same journal under a head of the format before lineHash: the entry is what it was.
    writeFileSync(headFile, JSON.stringify({ bvisorVersion: '1', seq: head.seq, entryHash: head.entryHash }) + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 2 });
    appendReport(root, report('y'));
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 3 });
    expect(JSON.parse(readFileSync(headFile, 'utf8')).lineHash).toBe(sha(lastLine(file)));
  });

  it('a line the head records by lineHash is not checked again by append (the quick path), and journal verify still checks it in full', () => {
    // Both files rewritten together, as only someone who can write the state root can: the quick
    // path trusts the head, as the full check does (an unkeyed chain can be recomputed by anyone).
    const { root, file, lines } = journalWith(2);
    const e = JSON.parse(lines[1]!);
    e.report.body.outcome.exitCode = 1; // its hashes no longer match: the full check refuses this
    lines[1] = JSON.stringify(e);
    writeFileSync(file, lines.join('\n') + '\n');
    writeFileSync(journalPaths(root).head, JSON.stringify({ seq: e.seq, entryHash: e.entryHash, lineHash: sha(lines[1]!) }) + '\n');
    appendReport(root, report('z'));
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/entry hash does not match its content/) });
    // Without lineHash in the head, the append checks the line and refuses it.
    const { root: r2, file: f2, lines: l2 } = journalWith(2);
    writeFileSync(f2, [l2[0], lines[1]].join('\n') + '\n');
    writeFileSync(journalPaths(r2).head, JSON.stringify({ seq: e.seq, entryHash: e.entryHash }) + '\n');
    expect(thrown(() => appendReport(r2, report('z'))).message).toMatch(/line 2: entry hash does not match its content/);
  });

  it('a head whose lineHash names the last line but whose seq or entryHash is another entry\'s gets the full check', () => {
    const { root, file, lines } = journalWith(2);
    // lineHash of line 2, but seq and entryHash of line 1: what the full check makes of a head one
    // behind, as before.
    const first = JSON.parse(lines[0]!) as { seq: number; entryHash: string };
    writeFileSync(journalPaths(root).head, JSON.stringify({ seq: first.seq, entryHash: first.entryHash, lineHash: sha(lastLine(file)) }) + '\n');
    expect(thrown(() => appendReport(root, report('x'))).message).toMatch(/entry 2 \(the last line\) is complete but its head still records entry 1/);
    // lineHash and seq of line 2, entryHash of line 1: rewritten, as before.
    writeFileSync(journalPaths(root).head, JSON.stringify({ seq: 2, entryHash: first.entryHash, lineHash: sha(lastLine(file)) }) + '\n');
    const e = thrown(() => appendReport(root, report('x')));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/the last entry \(line 2, seq 2\) is not the one its head records \(seq 2\)/);
    // (A keyed entry always gets the full check: 'an append onto a forged last entry is refused
    // when the key is given', below, with and without a lineHash naming the forged line.)
  });

  it('a lineHash that is not 64 lowercase hex digits makes the head invalid', () => {
    const { root, file } = journalWith(1);
    const head = JSON.parse(readFileSync(journalPaths(root).head, 'utf8'));
    writeFileSync(journalPaths(root).head, JSON.stringify({ ...head, lineHash: head.lineHash.toUpperCase() }));
    const before = readFileSync(file);
    const e = thrown(() => appendReport(root, report('x')));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/has lineHash "[0-9A-F]{64}", not 64 lowercase hex digits/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, kind: 'head-invalid' });
  });
});

describe('a torn last line', () => {
  // What an append that died mid-write (ENOSPC, SIGKILL, power loss) leaves: n-1 committed
  // entries, then the first part of entry n, and a head that still records entry n-1.
  function torn(n: number, keep = 300): { root: string; file: string; bytes: Buffer } {
    const { root, file } = journalWith(n);
    const b = readFileSync(file);
    const headBefore = readFileSync(journalPaths(root).head);
    const full = journalWith(n - 1);
    writeFileSync(file, Buffer.concat([readFileSync(full.file), b.subarray(b.lastIndexOf(0x0a, b.length - 2) + 1).subarray(0, keep)]));
    writeFileSync(journalPaths(root).head, readFileSync(journalPaths(full.root).head));
    expect(readFileSync(journalPaths(root).head).equals(headBefore)).toBe(n === 1);
    return { root, file, bytes: readFileSync(file) };
  }

  it('append refuses to write after it, naming the line, and leaves the bytes as they were', () => {
    const { root, file, bytes } = torn(3);
    const e = thrown(() => appendReport(root, report('after')));
    expect(e.code).toBe('BV_JOURNAL_TORN');
    expect(e.message).toMatch(/line 3 is incomplete/);
    expect(e.detail).toMatchObject({ line: 3 });
    expect(e.hint).toMatch(/--repair/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('a torn first line (the first append died) is named line 1, and --repair leaves a journal of one repair entry', () => {
    const root = tempDir();
    writeFileSync(journalPaths(root).file, '{"bvisorVersion":"1","se');
    expect(thrown(() => appendReport(root, report('a'))).detail).toMatchObject({ line: 1 });
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, kind: 'torn', line: 1, entries: 0 });
    expect(verifyJournal(root, { repair: true })).toMatchObject({ entries: 1, repaired: { truncated: { line: 1, bytes: 24 } } });
  });

  it('--repair refuses to cut a line its head records (a committed entry damaged, not an unfinished append)', () => {
    const { root, file } = journalWith(3);
    const b = readFileSync(file);
    writeFileSync(file, b.subarray(0, b.length - 20));
    const bytes = readFileSync(file);
    const e = thrown(() => verifyJournal(root, { repair: true }));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/head records entry 3/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('verify reports it as BV_JOURNAL_TORN after checking the complete lines before it', () => {
    const { root } = torn(3);
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, kind: 'torn', line: 3, entries: 2 });
    const e = thrown(() => verifyJournal(root));
    expect(e.code).toBe('BV_JOURNAL_TORN');
    expect(e.message).toMatch(/line 3/);
  });

  it('--repair cuts it, keeps the cut bytes aside byte for byte, records the repair, and appends work again', () => {
    const { root, file, bytes } = torn(3);
    const nl = bytes.lastIndexOf(0x0a);
    const cut = bytes.subarray(nl + 1);
    const r = verifyJournal(root, { repair: true });
    expect(r).toMatchObject({ ok: true, entries: 3, headSeq: 3, repaired: { kind: 'repair', truncated: { line: 3, bytes: cut.length }, headRolledForward: null } });
    // On disk: the two intact lines unchanged, then the repair entry; the cut bytes saved.
    const after = readFileSync(file);
    expect(after.subarray(0, nl + 1).equals(bytes.subarray(0, nl + 1))).toBe(true);
    const lines = after.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const ev = JSON.parse(lines[2]!);
    expect(ev).toMatchObject({ seq: 3, event: { kind: 'repair', truncated: { line: 3, bytes: cut.length, sha256: createHash('sha256').update(cut).digest('hex') } } });
    expect(readFileSync(join(root, ev.event.truncated.savedAs)).equals(cut)).toBe(true);
    appendReport(root, report('after'));
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 4 });
  });

  it('an append interrupted between its line and its head is refused, and --repair moves the head onto it', () => {
    const { root, file } = journalWith(2);
    const head = journalPaths(root).head;
    const oldHead = readFileSync(head);
    appendReport(root, report('third'));
    writeFileSync(head, oldHead); // as if killed before the head moved
    const bytes = readFileSync(file);
    const e = thrown(() => appendReport(root, report('fourth')));
    expect(e.code).toBe('BV_JOURNAL_TORN');
    expect(e.message).toMatch(/entry 3 .*complete but its head still records entry 2/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(thrown(() => verifyJournal(root)).code).toBe('BV_JOURNAL_TORN');
    const r = verifyJournal(root, { repair: true });
    expect(r.repaired).toMatchObject({ truncated: null, headRolledForward: { from: 2, to: 3 } });
    expect(r).toMatchObject({ entries: 4, headSeq: 4 });
    expect(readFileSync(file).subarray(0, bytes.length).equals(bytes)).toBe(true);
  });

  it('--repair on a sound journal changes nothing', () => {
    const { root, file } = journalWith(2);
    const bytes = readFileSync(file);
    expect(verifyJournal(root, { repair: true })).toMatchObject({ ok: true, entries: 2, repaired: null });
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('--repair refuses any other damage (an edit before the torn line) and touches nothing', () => {
    const { root, file } = torn(3);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[0] = lines[0]!.replace('"exitCode":0', '"exitCode":7');
    writeFileSync(file, lines.join('\n'));
    const bytes = readFileSync(file);
    const headBytes = readFileSync(journalPaths(root).head);
    const e = thrown(() => verifyJournal(root, { repair: true }));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/line 1/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readFileSync(journalPaths(root).head).equals(headBytes)).toBe(true);
  });

  it('the torn line of the old bug (a fragment, then a later entry on the same line) is refused, not repaired', () => {
    const { root, file } = journalWith(2);
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    writeFileSync(file, lines[0] + '\n' + lines[1]!.slice(0, 50) + lines[1] + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2, kind: 'json' });
    expect(thrown(() => verifyJournal(root, { repair: true })).code).toBe('BV_JOURNAL_CORRUPT');
  });
});

describe('the journal format before keys and repairs', () => {
  it('a journal written by the first format (no MACs, a head without bvisorVersion) verifies and takes appends', () => {
    const root = tempDir();
    const fx = join(__dirname, 'fixtures', 'journal-v1');
    copyFileSync(join(fx, 'journal.jsonl'), journalPaths(root).file);
    copyFileSync(join(fx, 'journal.head.json'), journalPaths(root).head);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 3, macs: 0 });
    const old = readFileSync(journalPaths(root).file);
    appendReport(root, report('new'));
    expect(readFileSync(journalPaths(root).file).subarray(0, old.length).equals(old)).toBe(true);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 4 });
  });

  it('the schema takes report and repair entries and nothing in between', () => {
    const r = report('s');
    const e = makeEntry(null, r, '2026-01-01T00:00:00Z', sha256Hex);
    expect(validateJournalEntry(e)).toBe(true);
    expect(validateJournalEntry({ ...e, event: { kind: 'repair', problem: 'x', truncated: null, headRolledForward: null } })).toBe(false);
    const { report: _r, bodyHash: _b, ...bare } = e;
    expect(validateJournalEntry(bare)).toBe(false);
    expect(validateJournalEntry({ ...bare, event: { kind: 'repair', problem: 'x', truncated: null, headRolledForward: null } })).toBe(true);
    expect(validateJournalEntry({ ...bare, event: { kind: 'other', problem: 'x', truncated: null, headRolledForward: null } })).toBe(false);
    expect(validateJournalEntry({ ...e, mac: { alg: 'hmac-sha256', keyId: '0'.repeat(16), value: 'f'.repeat(64) } })).toBe(true);
    expect(validateJournalEntry({ ...e, mac: { alg: 'sha1', keyId: '0'.repeat(16), value: 'f'.repeat(64) } })).toBe(false);
  });
});

describe('the journal file itself', () => {
  it('a journal.jsonl planted as a symlink is never followed: append and verify refuse, the target is untouched', () => {
    const root = tempDir();
    const victim = join(tempDir(), 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, journalPaths(root).file);
    const e = thrown(() => appendReport(root, report('x')));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.message).toMatch(/is a symlink/);
    expect(thrown(() => verifyJournal(root)).code).toBe('BV_JOURNAL_CORRUPT');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('a journal.jsonl that is a directory is a coded error, not a crash', () => {
    const root = tempDir();
    mkdirSync(journalPaths(root).file);
    expect(thrown(() => appendReport(root, report('x'))).message).toMatch(/is not a regular file/);
  });

  it('an append onto a forged last entry is refused when the key is given, whether or not the head names the forged line (lineHash)', () => {
    for (const withLineHash of [false, true]) {
      const root = tempDir();
      const keyFile = join(tempDir('bvisor-key-'), 'k');
      writeFileSync(keyFile, Buffer.alloc(40, 9), { mode: 0o600 });
      const key = loadJournalKey(keyFile, root);
      appendReport(root, report('a'), { key });
      const file = journalPaths(root).file;
      const e = JSON.parse(readFileSync(file, 'utf8'));
      e.at = '2030-01-01T00:00:00.000Z';
      const { entryHash: _h, mac, ...rest } = e;
      e.entryHash = makeEntry(null, e.report, e.at, sha256Hex).entryHash;
      expect(rest.at).toBe(e.at);
      const forged = JSON.stringify({ ...e, mac });
      writeFileSync(file, forged + '\n');
      // Only the MAC can tell: the entry's hashes, and the head with its lineHash, were remade.
      writeFileSync(journalPaths(root).head, JSON.stringify({ seq: 1, entryHash: e.entryHash, ...(withLineHash ? { lineHash: createHash('sha256').update(forged).digest('hex') } : {}) }));
      const bytes = readFileSync(file);
      const err = thrown(() => appendReport(root, report('b'), { key }));
      expect(err.code, `lineHash: ${withLineHash}`).toBe('BV_JOURNAL_CORRUPT');
      expect(err.message).toMatch(/line 1: its MAC does not match/);
      expect(readFileSync(file).equals(bytes)).toBe(true);
    }
  });
});

// A container's seal asks whether its report is journaled already (a crash between the append
// and the state write). The answer must not cost a read of every run the root ever had: the scan
// stops at the run's own start record. Oracle: journals written by the store itself, and a
// needle placed before the start record, which a bounded scan must not reach.
describe('journalHasSince: what was journaled since a run started', () => {
  const startOf = (runId: string) => ({ runId, containerId: 'c', releasedBy: 'start' as const, backend: 'linux' as const, planHash: '0'.repeat(64), stateRoot: '/x', cgroupDirs: [], supervisor: null, monitor: null, workload: null });

  it('finds a report after the start, stops at the start, and reads across chunk boundaries alike', () => {
    const root = tempDir();
    const early = sealReport(sampleBody('early'), sha256Hex);
    appendReport(root, early); // before run-b started
    appendStarted(root, startOf('run-b'));
    const mid = sealReport(sampleBody('mid'), sha256Hex);
    appendReport(root, mid);
    appendStarted(root, startOf('run-c'));
    const hash = (r: { bodyHash: string }) => `"bodyHash":"${r.bodyHash}"`;
    for (const chunk of [64 * 1024, 997, 13, 1]) {
      expect(journalHasSince(root, 'run-b', hash(mid), null, chunk), `chunk ${chunk}`).toBe(true);
      // early is in the journal, but before run-b's start: the scan never reads that far
      expect(journalHasSince(root, 'run-b', hash(early), null, chunk), `chunk ${chunk}`).toBe(false);
      // a run with no start record reads it all
      expect(journalHasSince(root, 'never-started', hash(early), null, chunk), `chunk ${chunk}`).toBe(true);
      expect(journalHasSince(root, 'never-started', '"bodyHash":"none"', null, chunk), `chunk ${chunk}`).toBe(false);
      // the first line (no newline before it) and the last (a newline after it) are read
      expect(journalHasSince(root, 'never-started', '"seq":1,', null, chunk)).toBe(true);
      expect(journalHasSince(root, 'never-started', '"runId":"run-c"', null, chunk)).toBe(true);
    }
    expect(journalHasSince(tempDir(), 'run-b', hash(mid))).toBe(false); // no journal yet
  });

  it('a torn last line does not answer: that report is not journaled', () => {
    const root = tempDir();
    appendStarted(root, startOf('run-t'));
    const torn = sealReport(sampleBody('torn'), sha256Hex);
    appendReport(root, torn);
    const file = journalPaths(root).file;
    const lines = readFileSync(file, 'utf8');
    const last = lines.slice(lines.lastIndexOf('\n', lines.length - 2) + 1);
    // the report's line cut after its bodyHash, as a crash mid-append leaves it
    writeFileSync(file, lines.slice(0, lines.length - last.length) + last.slice(0, last.indexOf('"report"')));
    for (const chunk of [64 * 1024, 97, 1]) expect(journalHasSince(root, 'run-t', `"bodyHash":"${torn.bodyHash}"`, null, chunk), `chunk ${chunk}`).toBe(false);
    writeFileSync(file, last.slice(0, last.indexOf('"report"'))); // nothing but a torn line
    expect(journalHasSince(root, 'run-t', `"bodyHash":"${torn.bodyHash}"`)).toBe(false);
    writeFileSync(file, last); // one whole line, no start record before it
    expect(journalHasSince(root, 'run-t', `"bodyHash":"${torn.bodyHash}"`)).toBe(true);
  });
});

// `bvisor list` classifies each container's attempt from its journal entries, and `bvisor report`
// (and outputs commit/discard) wants a run's newest report. Both read backwards from the end and
// stop early, so they cost what was appended since, not every run the root ever had. Oracle: the
// whole read (readJournalEntries) over the same journal, and entries placed where a bounded read
// must not reach.
describe('bounded reads: list and report read from the end', () => {
  const startOf = (runId: string) => ({ runId, containerId: 'c', releasedBy: 'start' as const, backend: 'linux' as const, planHash: '0'.repeat(64), stateRoot: '/x', cgroupDirs: [], supervisor: null, monitor: null, workload: null });
  const seqs = (es: Array<{ seq: number }>) => es.map((e) => e.seq);
  /** Runs whose state names no journal seq at create (states written before it). */
  const unstarted = (ids: string[]) => new Map(ids.map((id) => [id, null]));

  it("list: every entry of the runs asked about from their start on, the repairs among them, nothing from before their start", () => {
    const root = tempDir();
    appendReport(root, sealReport(sampleBody('run-a'), sha256Hex)); // names run-a before its start: out of the window
    appendReport(root, sealReport(sampleBody('other'), sha256Hex));
    appendStarted(root, startOf('run-a'));
    appendReport(root, sealReport(sampleBody('other-2'), sha256Hex));
    appendStarted(root, startOf('run-b'));
    appendReport(root, sealReport(sampleBody('run-b'), sha256Hex));
    appendReport(root, sealReport(sampleBody('run-a'), sha256Hex));
    const whole = readJournalEntries(root, new Set(['run-a', 'run-b']));
    expect(seqs(whole.entries)).toEqual([1, 3, 5, 6, 7]);
    for (const chunk of [64 * 1024, 997, 13, 1]) {
      const w = readJournalEntriesSince(root, unstarted(['run-a', 'run-b']), chunk);
      // the whole read's entries from run-a's start record (seq 3) on, in order
      expect(seqs(w.entries), `chunk ${chunk}`).toEqual([3, 5, 6, 7]);
      expect(w.entries).toEqual(whole.entries.slice(1));
      expect(w.torn).toBeNull();
      // one run asked about: only its window
      expect(seqs(readJournalEntriesSince(root, unstarted(['run-b']), chunk).entries)).toEqual([5, 6]);
      // a run with no start record reads it all (its entries could be anywhere)
      expect(seqs(readJournalEntriesSince(root, unstarted(['run-a', 'never']), chunk).entries)).toEqual([1, 3, 7]);
    }
    expect(readJournalEntriesSince(tempDir(), unstarted(['run-a']))).toEqual({ entries: [], torn: null, keptAside: [] }); // no journal yet
  });

  it('list: a torn tail is named (kind and run) as the whole read names it, and a repair after the start is kept with its fragment', () => {
    const root = tempDir();
    appendStarted(root, startOf('run-t'));
    const file = journalPaths(root).file;
    // the first bytes of run-t's report, as a crash mid-append (before the head's update) leaves them
    writeFileSync(file, readFileSync(file, 'utf8') + '{"seq":2,"prevHash":"00","report":{"bodyHash":"00","body":{"runId":"run-t","containerId":"c"', { flag: 'w' });
    const whole = readJournalEntries(root, new Set(['run-t']));
    expect(whole.torn).toMatchObject({ line: 2, kind: 'report', runId: 'run-t' });
    for (const chunk of [64 * 1024, 31, 1]) {
      const w = readJournalEntriesSince(root, unstarted(['run-t']), chunk);
      const { line: _line, ...rest } = whole.torn!;
      expect(w.torn, `chunk ${chunk}`).toEqual(rest);
      expect(seqs(w.entries)).toEqual([1]);
    }
    repairJournalAt(root, null, new Date('2026-12-02T00:00:00Z'));
    const whole2 = readJournalEntries(root, new Set(['run-t']));
    expect(whole2.keptAside).toHaveLength(1);
    expect(whole2.keptAside[0]).toMatchObject({ kind: 'report', runId: 'run-t' });
    for (const chunk of [64 * 1024, 7]) {
      const w = readJournalEntriesSince(root, unstarted(['run-t']), chunk);
      expect(w.entries).toEqual(whole2.entries);
      expect(w.keptAside).toEqual(whole2.keptAside);
      expect(w.torn).toBeNull();
    }
  });

  it('list: a run id that is a prefix of another does not stop at the other\'s start; a repair before the start is left out; a torn start record reads it all', () => {
    const root = tempDir();
    appendStarted(root, startOf('run-a')); // seq 1
    appendReport(root, sealReport(sampleBody('run-a'), sha256Hex)); // 2
    // a start record built in another key order still begins with kind, then runId
    const { runId: _r, ...rest } = startOf('run-ab');
    appendStarted(root, { ...rest, runId: 'run-ab' } as ReturnType<typeof startOf>); // 3
    const file = journalPaths(root).file;
    expect(readFileSync(file, 'utf8').split('\n')[2]).toContain('"event":{"kind":"started","runId":"run-ab"');
    for (const chunk of [64 * 1024, 5]) {
      // run-ab's start record names "run-a" as a prefix: only run-a's own start stops the read
      expect(seqs(readJournalEntriesSince(root, unstarted(['run-a']), chunk).entries), `chunk ${chunk}`).toEqual([1, 2, 3]);
      expect(seqs(readJournalEntriesSince(root, unstarted(['run-ab']), chunk).entries)).toEqual([3]);
      expect(journalHasSince(root, 'run-ab', '"seq":2,', null, chunk)).toBe(false);
      expect(journalHasSince(root, 'run-a', '"seq":2,', null, chunk)).toBe(true);
    }
    // a torn append, repaired, then run-c starts: the repair (seq 4) is before run-c's start
    writeFileSync(file, readFileSync(file, 'utf8') + '{"seq":4,"prevHash":"00","report":{"bodyHash":"00","body":{"runId":"run-q"');
    repairJournalAt(root, null, new Date('2026-12-02T00:00:00Z'));
    appendStarted(root, startOf('run-c')); // 5
    expect(seqs(readJournalEntries(root, new Set(['run-c'])).entries)).toEqual([4, 5]);
    expect(seqs(readJournalEntriesSince(root, unstarted(['run-c'])).entries)).toEqual([5]);
    // run-d's start record torn (the tail): no whole start record, so the read goes to the start
    writeFileSync(file, readFileSync(file, 'utf8') + '{"seq":6,"prevHash":"00","event":{"kind":"started","runId":"run-d"');
    const w = readJournalEntriesSince(root, unstarted(['run-d']));
    expect(seqs(w.entries)).toEqual([4]); // only the repair, which every read keeps
    expect(w.torn).toMatchObject({ kind: 'started', runId: 'run-d' });
    expect(seqs(readJournalEntriesSince(root, unstarted(['run-d', 'run-a'])).entries)).toEqual([1, 2, 3, 4]);
  });

  it("list: a run that never started reads back to the journal's head when its container was made, not to the start", () => {
    const root = tempDir();
    appendReport(root, sealReport(sampleBody('run-n'), sha256Hex)); // 1: names run-n, but before its container existed
    const e2 = appendReport(root, sealReport(sampleBody('other'), sha256Hex)); // 2: the head when run-n's container was made
    const e3 = appendRecovery(root, { runId: 'run-n', containerId: 'c', classification: 'running', reason: 'its monitor is alive', actions: [] }); // 3
    appendReport(root, sealReport(sampleBody('other-2'), sha256Hex)); // 4
    const at = (e: { seq: number; entryHash: string }) => ({ seq: e.seq, entryHash: e.entryHash });
    for (const chunk of [64 * 1024, 11, 1]) {
      expect(seqs(readJournalEntriesSince(root, new Map([['run-n', at(e2)]]), chunk).entries), `chunk ${chunk}`).toEqual([3]);
      // no head at create (an older state): the whole way, as the whole read
      expect(seqs(readJournalEntriesSince(root, new Map([['run-n', null]]), chunk).entries)).toEqual([1, 3]);
      // two runs: the read goes back to the older one's head ('other-2' mentions 'other': a
      // substring test first, as in the whole read; journalSide then groups by the parsed run id)
      expect(seqs(readJournalEntriesSince(root, new Map([['run-n', at(e2)], ['other-2', at(e3)]]), chunk).entries)).toEqual([3, 4]);
      // a floor whose entry is not the one at its seq (another journal's) is dropped: the whole way
      expect(seqs(readJournalEntriesSince(root, new Map([['run-n', { seq: 2, entryHash: e3.entryHash }]]), chunk).entries)).toEqual([1, 3]);
    }
    expect(seqs(readJournalEntries(root, new Set(['run-n'])).entries)).toEqual([1, 3]);
  });

  it('list: after a new journal is started (seq from 1 again), an old floor does not stop the read', () => {
    const root = tempDir();
    const p = journalPaths(root);
    for (let i = 0; i < 5; i++) appendReport(root, sealReport(sampleBody(`old-${i}`), sha256Hex));
    const floor = JSON.parse(readFileSync(p.head, 'utf8')) as { seq: number; entryHash: string }; // the head at create: seq 5
    expect(floor.seq).toBe(5);
    // docs/journal.md: a new journal (new keys, manual repair) moves the old files aside
    renameSync(p.file, `${p.file}.old`);
    renameSync(p.head, `${p.head}.old`);
    appendStarted(root, startOf('run-s')); // 1: the container's start, in the new journal
    for (let i = 0; i < 6; i++) appendReport(root, sealReport(sampleBody(`new-${i}`), sha256Hex)); // 2..7
    for (const chunk of [64 * 1024, 9]) {
      // seq 5 of the new journal is another entry: the floor is dropped, and the start record found
      expect(seqs(readJournalEntriesSince(root, new Map([['run-s', { seq: floor.seq, entryHash: floor.entryHash }]]), chunk).entries), `chunk ${chunk}`).toEqual([1]);
      // a floor beyond the new journal's length: also dropped at the first line below it
      expect(seqs(readJournalEntriesSince(root, new Map([['run-s', { seq: 50, entryHash: floor.entryHash }]]), chunk).entries)).toEqual([1]);
    }
  });

  it('a FIFO planted as journal.jsonl is refused at once (not a regular file) by list\'s and report\'s reads and by an append, never waited on', () => {
    const root = tempDir();
    const file = journalPaths(root).file;
    execFileSync('mkfifo', [file]);
    // Were an open to wait for the other end, it would block this worker for good (a sync open):
    // a process of ours opens the FIFO after 3 s (O_RDWR, which does not wait), so such an open
    // returns then, and the time it took shows the wait.
    const unblock = spawn('sh', ['-c', 'sleep 3; exec 3<>"$0"; sleep 10', file], { stdio: 'ignore' });
    try {
      for (const f of [() => readJournalEntriesSince(root, unstarted(['run-a'])), () => newestEntry(root, 'c1', () => true), () => journalHasSince(root, 'run-a', 'x'), () => appendStarted(root, startOf('run-a'))]) {
        const t0 = performance.now();
        expect(thrown(f)).toMatchObject({ code: 'BV_JOURNAL_CORRUPT', message: expect.stringContaining('is not a regular file') });
        expect(performance.now() - t0, 'the open waited for the FIFO\'s other end').toBeLessThan(2000);
      }
    } finally {
      unblock.kill('SIGKILL');
    }
  });

  it("report: a run's or a container's newest report, reading from the end; never the torn tail", () => {
    const root = tempDir();
    const old = sealReport(sampleBody('run-x'), sha256Hex);
    appendReport(root, old);
    const body = sampleBody('run-y'); // the same container (c1), a later run
    const newer = sealReport(body, sha256Hex);
    appendReport(root, newer);
    appendReport(root, sealReport({ ...sampleBody('run-z'), containerId: 'c2' }, sha256Hex));
    const reportOf = (id: string) => (x: JournalEntry) => 'report' in x && (x.report.body.runId === id || x.report.body.containerId === id);
    for (const chunk of [64 * 1024, 101, 1]) {
      expect(newestEntry(root, 'c1', reportOf('c1'), chunk), `chunk ${chunk}`).toMatchObject({ seq: 2, report: { bodyHash: newer.bodyHash } });
      expect(newestEntry(root, 'run-x', reportOf('run-x'), chunk)).toMatchObject({ seq: 1, report: { bodyHash: old.bodyHash } });
      expect(newestEntry(root, 'nobody', reportOf('nobody'), chunk)).toBeNull();
    }
    // the needle is a substring test only: the match decides ('c' is in every line)
    expect(newestEntry(root, 'c', reportOf('c'))).toBeNull();
    const file = journalPaths(root).file;
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text + text.split('\n')[2]!.slice(0, 400)); // a torn copy of c2's report after the last newline
    expect(newestEntry(root, 'c2', reportOf('c2'))).toMatchObject({ seq: 3 });
    writeFileSync(file, text.slice(0, text.indexOf('\n') + 1) + text.split('\n')[1]!.slice(0, 300)); // run-y's report torn
    expect(newestEntry(root, 'c1', reportOf('c1'))).toMatchObject({ seq: 1 });
  });
});
