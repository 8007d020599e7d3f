// The journal on disk: <root>/journal.jsonl (one entry per line, append-only) and
// <root>/journal.head.json (the last entry's seq and hash, which is what reveals a truncated
// tail). Appends hold an exclusive flock on <root>/journal.lock and fsync the line before the
// head moves; verification holds a shared lock so it never reads a half-done append.
import { openSync, closeSync, writeSync, fsyncSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { JournalEntry, SealedReport } from '../contract/generated/types.js';
import { makeEntry, verifyJournal, type JournalHead, type JournalVerdict } from '../core/journal.js';
import { LOCK_EX, LOCK_SH } from '../backends/linux/ffi/shim.js';
import { sha256Hex } from './hash.js';
import { writeFileAtomic, fsyncDir } from './atomic.js';
import { withFlock } from './flock.js';

export function journalPaths(root: string): { file: string; head: string; lock: string } {
  return { file: join(root, 'journal.jsonl'), head: join(root, 'journal.head.json'), lock: join(root, 'journal.lock') };
}

function withLock<T>(root: string, op: number, fn: () => T): T {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  return withFlock(journalPaths(root).lock, op, 'BV_JOURNAL_LOCK', fn);
}

function readHead(path: string): JournalHead | null {
  if (!existsSync(path)) return null;
  const h = JSON.parse(readFileSync(path, 'utf8')) as JournalHead;
  return h;
}

export function appendReport(root: string, report: SealedReport, now: Date = new Date()): JournalEntry {
  const p = journalPaths(root);
  return withLock(root, LOCK_EX, () => {
    const head = readHead(p.head);
    const entry = makeEntry(head, report, now.toISOString(), sha256Hex);
    const fd = openSync(p.file, 'a', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (!head) fsyncDir(root);
    writeFileAtomic(p.head, JSON.stringify({ seq: entry.seq, entryHash: entry.entryHash }) + '\n');
    return entry;
  });
}

export function verifyJournalAt(root: string): JournalVerdict & { file: string } {
  const p = journalPaths(root);
  return withLock(root, LOCK_SH, () => {
    const text = existsSync(p.file) ? readFileSync(p.file, 'utf8') : '';
    let head: JournalHead | null;
    try {
      head = readHead(p.head);
    } catch {
      return { ok: false as const, entries: 0, line: 0, problem: `the head record ${p.head} is unreadable`, file: p.file };
    }
    return { ...verifyJournal(text, head, sha256Hex), file: p.file };
  });
}
