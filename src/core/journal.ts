// The journal's hash chain (pure). Each entry carries the previous entry's hash; entryHash covers
// the whole entry (sequence, time, previous hash and the sealed report). A separate head record
// (last seq and hash) is what catches truncation of whole trailing entries, which a chain alone
// cannot see.
import type { JournalEntry, SealedReport } from '../contract/generated/types.js';
import { validateJournalEntry } from '../contract/generated/validators.js';
import { contentHash, type Sha256Hex } from './seal.js';
import { reportIntact } from './report.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface JournalHead {
  seq: number;
  entryHash: string;
}

export function makeEntry(prev: JournalHead | null, report: SealedReport, at: string, sha256: Sha256Hex): JournalEntry {
  const partial = {
    bvisorVersion: '1' as const,
    seq: (prev?.seq ?? 0) + 1,
    at,
    prevHash: prev?.entryHash ?? GENESIS_HASH,
    bodyHash: report.bodyHash,
    report,
  };
  return { ...partial, entryHash: contentHash(partial, sha256) };
}

export type JournalVerdict =
  | { ok: true; entries: number; head: JournalHead | null }
  | { ok: false; entries: number; line: number; problem: string };

/** Checks every line; reports the first bad entry (1-based line number). */
export function verifyJournal(text: string, head: JournalHead | null, sha256: Sha256Hex): JournalVerdict {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (lines.length > 0) return { ok: false, entries: 0, line: lines.length, problem: 'the last line is incomplete (truncated write or edit)' };
  let prev: JournalHead | null = null;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let entry: JournalEntry;
    try {
      entry = JSON.parse(lines[i]!) as JournalEntry;
    } catch {
      return { ok: false, entries: i, line: n, problem: 'not valid JSON' };
    }
    if (!validateJournalEntry(entry)) return { ok: false, entries: i, line: n, problem: `does not match the journal entry schema (${validateJournalEntry.errors?.[0]?.instancePath ?? ''} ${validateJournalEntry.errors?.[0]?.message ?? ''})`.trim() };
    const expectSeq: number = (prev?.seq ?? 0) + 1;
    if (entry.seq !== expectSeq) return { ok: false, entries: i, line: n, problem: `sequence ${entry.seq} where ${expectSeq} was expected (entry deleted or reordered)` };
    if (entry.prevHash !== (prev?.entryHash ?? GENESIS_HASH)) return { ok: false, entries: i, line: n, problem: 'previous-hash link is broken (entry deleted, inserted or reordered)' };
    const { entryHash, ...rest } = entry;
    if (contentHash(rest, sha256) !== entryHash) return { ok: false, entries: i, line: n, problem: 'entry hash does not match its content (edited)' };
    if (!reportIntact(entry.report, sha256) || entry.bodyHash !== entry.report.bodyHash) return { ok: false, entries: i, line: n, problem: 'report body does not match its seal (edited)' };
    prev = { seq: entry.seq, entryHash };
  }
  if (head) {
    if (!prev || prev.seq < head.seq) return { ok: false, entries: lines.length, line: lines.length + 1, problem: `the journal ends at entry ${prev?.seq ?? 0} but its head records entry ${head.seq} (truncated)` };
    if (prev.seq === head.seq && prev.entryHash !== head.entryHash) return { ok: false, entries: lines.length, line: lines.length, problem: 'the last entry does not match the head record (rewritten)' };
    if (prev.seq > head.seq) return { ok: false, entries: lines.length, line: head.seq + 1, problem: `entries after ${head.seq} were appended without the journal lock` };
  } else if (prev) {
    return { ok: false, entries: lines.length, line: 1, problem: 'the journal has entries but no head record' };
  }
  return { ok: true, entries: lines.length, head: prev };
}
