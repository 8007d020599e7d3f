// The journal on disk: <root>/journal.jsonl (one entry per line, append-only) and
// <root>/journal.head.json (the last entry's seq and hash, which is what reveals a truncated
// tail). Appends hold an exclusive flock on <root>/journal.lock, look at the tail first (never
// append after an incomplete line, or onto a journal its head disagrees with), fsync the line,
// then move the head; if either write fails the line is cut back off, so a full disk leaves the
// journal as it was instead of torn. Verification holds a shared lock so it never reads a
// half-done append. Keys for keyed journals are loaded here (docs/journal.md).
import { openSync, closeSync, fsyncSync, readFileSync, readSync, fstatSync, ftruncateSync, existsSync, realpathSync, unlinkSync, constants as C } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';
import { join, resolve, dirname, basename } from 'node:path';
import type { EventEntry, JournalDisposition, JournalEntry, JournalRecovery, JournalRepair, JournalStarted, ReportEntry, SealedReport } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { makeEntry, makeEventEntry, unfitEntry, makeRepairEntry, verifyJournal, checkEntry, parseHead, headText, tornFragment, entryKind, KEY_ID_DOMAIN, type EntryKind, type JournalHead, type JournalKey, type JournalVerdict } from '../core/journal.js';
import { faultPoints, fault, type FaultStage } from './faults.js';
import { LOCK_EX, LOCK_SH, O } from '../backends/linux/ffi/shim.js';
import { fdPath } from './proc-fd.js';
import { sha256Hex } from './hash.js';
import { writeFileAtomic, fsyncDir, writeAll, reserveSpace, freedSpaceUsable } from './atomic.js';
import { withFlockSteps } from './flock.js';
import { runSteps, runStepsYielding, type Steps } from './steps.js';

export type { JournalKey } from '../core/journal.js';

export function journalPaths(root: string): { file: string; head: string; lock: string } {
  return { file: join(root, 'journal.jsonl'), head: join(root, 'journal.head.json'), lock: join(root, 'journal.lock') };
}

const REPAIR_HINT = 'run bvisor journal verify --repair: it keeps the cut bytes aside and records the repair as a journal entry (docs/journal.md#repair)';
const MANUAL_HINT = 'the journal is evidence: keep a copy aside; docs/journal.md#manual-repair says how to start a new journal';

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);
}

/** The errno behind a failure to open or lock the journal's lock file (flock.ts puts it in the
 * error's detail). */
function lockFileErrno(e: unknown): string {
  const errno = e instanceof BvisorError ? e.detail.errno : undefined;
  return typeof errno === 'string' ? errno : errnoOf(e);
}

/** fn under the journal's lock, the thread asleep while another holds it (withLockSteps). */
function withLock<T>(root: string, op: number, fn: () => T): T {
  return runSteps(withLockSteps(root, op, fn));
}

/**
 * fn under the journal's lock, as steps (host/steps.ts): run by runSteps (withLock) the thread
 * sleeps while another process holds it; by runStepsYielding (withLockYielding: `bvisor run` and
 * the API) the event loop turns meanwhile, where other runs' wall deadlines and the caller's stop
 * are timers and signals. What is done under the lock is the same, synchronously.
 */
function* withLockSteps<T>(root: string, op: number, fn: () => T, stillWanted?: () => void): Steps<T> {
  // A root is made only where its parents are checked (state-root.ts ensureDirectory), before any
  // append: a recursive mkdir here made one through another user's symlink, as root, for
  // journal verify --repair (an attack in December).
  if (!existsSync(root)) {
    if (op === LOCK_SH) return fn(); // nothing to read, nothing to lock, nothing made
    throw new BvisorError('BV_STATE_ROOT_UNUSABLE', `state root ${root} does not exist, so its journal cannot be written; nothing was made`, { hint: 'bvisor makes the root (checked) before a run; pass --root with an existing state root' });
  }
  try {
    return yield* withFlockSteps(journalPaths(root).lock, op, 'BV_JOURNAL_LOCK', fn, stillWanted ? { stillWanted } : {});
  } catch (e) {
    // A reader on a read-only file system where the lock file was never made: nobody can append
    // there either, so reading unlocked is safe.
    if (op === LOCK_SH && lockFileErrno(e) === 'EROFS') return fn();
    throw e;
  }
}

function withLockYielding<T>(root: string, op: number, fn: () => T, stillWanted?: () => void): Promise<T> {
  return runStepsYielding(withLockSteps(root, op, fn, stillWanted));
}

// ---- the key ------------------------------------------------------------------------------

const KEY_MIN = 32;
const KEY_MAX = 4096;

function keyError(file: string, why: string, hint: string): BvisorError {
  return new BvisorError('BV_JOURNAL_KEY', `journal key ${file}: ${why}`, { hint });
}

/** The path inside `root` (both resolved through symlinks as far as they exist), or null. */
function insideRoot(path: string, root: string): boolean {
  const real = (p: string): string => {
    let head = resolve(p);
    const rest: string[] = [];
    for (;;) {
      try {
        return join(realpathSync(head), ...rest);
      } catch {
        const up = dirname(head);
        if (up === head) return join(head, ...rest);
        rest.unshift(basename(head));
        head = up;
      }
    }
  };
  const r = real(root);
  const p = real(path);
  return p === r || p.startsWith(r.endsWith('/') ? r : r + '/');
}

/**
 * Loads a journal key: a regular file (not a symlink, one link only) owned by us, mode 0600 or
 * stricter, 32 to 4096 bytes (its raw bytes are the key, e.g. `head -c 32 /dev/urandom`), and not
 * inside the state root: a key beside the journal proves nothing, since whoever can rewrite the
 * journal could read it. The bytes never leave this closure.
 */
export function loadJournalKey(file: string, stateRoot: string): JournalKey {
  let fd: number;
  try {
    // O_PATH first: nothing is opened for reading until it is known to be a regular file (a
    // FIFO would hold the open until a writer came; a device's open can act).
    fd = openSync(file, O.PATH | C.O_NOFOLLOW);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ELOOP') throw keyError(file, 'is a symlink', 'name the key file itself');
    throw keyError(file, `cannot be opened: ${code}`, 'create one with: head -c 32 /dev/urandom > FILE && chmod 600 FILE (outside the state root)');
  }
  try {
    const st = fstatSync(fd);
    // (O_PATH with O_NOFOLLOW opens a symlink itself rather than failing ELOOP.)
    if (st.isSymbolicLink()) throw keyError(file, 'is a symlink', 'name the key file itself');
    if (!st.isFile()) throw keyError(file, 'is not a regular file', 'name a file holding the key bytes');
    // The very file checked, reopened for reading through its descriptor.
    const pathFd = fd;
    try {
      fd = openSync(fdPath(pathFd), C.O_RDONLY | C.O_NOCTTY);
    } catch (e) {
      throw keyError(file, `cannot be opened: ${errnoOf(e)}`, 'check the key file\'s mode (0600, ours)');
    }
    closeSync(pathFd);
    if ((st.mode & 0o077) !== 0) throw keyError(file, `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; others may read it`, `chmod 600 ${file}`);
    const uid = process.geteuid?.() ?? st.uid;
    if (st.uid !== uid) throw keyError(file, `is owned by uid ${st.uid}, not by us (uid ${uid})`, `chown ${uid} ${file}`);
    if (st.nlink !== 1) throw keyError(file, `has ${st.nlink} hard links; another name could be inside the state root`, 'copy the key to a file of its own');
    if (insideRoot(file, stateRoot)) throw keyError(file, `is inside the state root ${stateRoot}: whoever can rewrite the journal could read the key`, 'keep the key outside the state root, e.g. /etc/bvisor/journal.key');
    if (st.size < KEY_MIN || st.size > KEY_MAX) throw keyError(file, `holds ${st.size} bytes; a key is ${KEY_MIN} to ${KEY_MAX}`, 'head -c 32 /dev/urandom > FILE');
    const key = Buffer.alloc(st.size);
    let got = 0;
    while (got < key.length) {
      const n = readSync(fd, key, got, key.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== key.length) throw keyError(file, 'changed size while being read', 'retry');
    const hmac = (message: string): string => createHmac('sha256', key).update(message, 'utf8').digest('hex');
    return { id: hmac(KEY_ID_DOMAIN).slice(0, 16), hmac };
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens journal.jsonl never through a symlink, and only if it is a regular file: bvisor appends
 * as root, and a journal.jsonl planted as a link to another file must not make it write there.
 * O_NONBLOCK: a FIFO planted there would otherwise hold the open (and list, report, every
 * append) until a writer came; on the regular file it must be, the flag changes nothing.
 */
function openJournal(file: string, flags: number): number {
  let fd: number;
  try {
    fd = openSync(file, flags | C.O_NOFOLLOW | C.O_NONBLOCK, 0o600);
  } catch (e) {
    if (errnoOf(e) === 'ELOOP') throw new BvisorError('BV_JOURNAL_CORRUPT', `${file} is a symlink; bvisor does not follow it`, { hint: MANUAL_HINT, detail: { line: 0 } });
    throw e;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new BvisorError('BV_JOURNAL_CORRUPT', `${file} is not a regular file`, { hint: MANUAL_HINT, detail: { line: 0 } });
  }
  return fd;
}

/** openJournal for reading: null when there is no journal yet; other errors coded, naming the file. */
function openJournalToRead(file: string): number | null {
  try {
    return openJournal(file, C.O_RDONLY);
  } catch (e) {
    if (e instanceof BvisorError) throw e;
    if (errnoOf(e) === 'ENOENT') return null;
    throw new BvisorError('BV_IO', `read ${file}: ${errnoOf(e)}`, { cause: e });
  }
}

// ---- the head and the tail ----------------------------------------------------------------

/** The head record, strictly: null when there is none; a coded error when it is not a head. */
export function readHead(root: string): JournalHead | null {
  const path = journalPaths(root).head;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') return null;
    if (code === 'EISDIR') throw new BvisorError('BV_JOURNAL_CORRUPT', `${path}: the journal head is a directory`, { hint: MANUAL_HINT, detail: { file: path } });
    throw new BvisorError('BV_IO', `read ${path}: ${code}`, { hint: 'check the state root’s file system', cause: e });
  }
  const h = parseHead(text);
  if (!h.ok) throw new BvisorError('BV_JOURNAL_CORRUPT', `${path}: the journal head ${h.problem}`, { hint: MANUAL_HINT, detail: { file: path, line: 0 } });
  return h.head;
}

/** Counts newlines before `end`: the 1-based number of the line that starts there. Error paths only. */
function lineAt(fd: number, end: number): number {
  const buf = Buffer.alloc(64 * 1024);
  let lines = 1;
  for (let pos = 0; pos < end; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0) break;
    for (let i = 0; i < n; i++) if (buf[i] === 0x0a) lines++;
    pos += n;
  }
  return lines;
}

interface Tail {
  /** Bytes in journal.jsonl (0 when missing). */
  size: number;
  /** Offset where the last complete line starts, and its text; null when there is none. */
  last: { start: number; text: string } | null;
  /** Bytes after the last newline (an incomplete line), or null. */
  torn: { start: number; bytes: number } | null;
}

/** Reads backwards from the end: the last complete line and any incomplete one after it. */
function readTail(fd: number): Tail {
  const size = fstatSync(fd).size;
  if (size === 0) return { size, last: null, torn: null };
  const chunk = 64 * 1024;
  const parts: Buffer[] = [];
  const newlines: number[] = []; // offsets of the last two newlines found, latest first
  for (let end = size; end > 0 && newlines.length < 2; ) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    parts.unshift(buf);
    for (let i = buf.length - 1; i >= 0 && newlines.length < 2; i--) if (buf[i] === 0x0a) newlines.push(start + i);
    end = start;
  }
  const all = Buffer.concat(parts);
  const base = size - all.length;
  const lastNl = newlines[0];
  if (lastNl === undefined) return { size, last: null, torn: { start: 0, bytes: size } };
  const torn = lastNl === size - 1 ? null : { start: lastNl + 1, bytes: size - lastNl - 1 };
  const lineStart = newlines[1] === undefined ? 0 : newlines[1] + 1;
  return { size, last: { start: lineStart, text: all.subarray(lineStart - base, lastNl - base).toString('utf8') }, torn };
}

export interface JournalState {
  file: string;
  size: number;
  head: JournalHead | null;
  /** The key id the journal's last entry was MAC'd with, or null (unkeyed or empty). */
  keyId: string | null;
}

/**
 * What an append may build on, checked from the tail (O(one entry), not O(journal)): the head is
 * a head, the last line is complete, valid and is the entry the head records, and the key (if
 * any) is the journal's. Throws BV_JOURNAL_TORN, BV_JOURNAL_CORRUPT or BV_JOURNAL_KEY. Call it
 * under the journal lock; prepareStateRoot calls it (shared) before a workload runs.
 */
function inspect(root: string, key: JournalKey | null, forWrite: boolean): JournalState {
  const p = journalPaths(root);
  const head = readHead(root);
  let fd: number;
  try {
    fd = openJournal(p.file, C.O_RDONLY);
  } catch (e) {
    if (e instanceof BvisorError) throw e;
    if (errnoOf(e) !== 'ENOENT') throw new BvisorError('BV_IO', `open ${p.file}: ${errnoOf(e)}`, { cause: e });
    if (head) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: missing, but its head records entry ${head.seq} (truncated or removed)`, { hint: MANUAL_HINT, detail: { line: 1, verifiedEntries: 0 } });
    return { file: p.file, size: 0, head: null, keyId: null };
  }
  try {
    const t = readTail(fd);
    if (t.torn) {
      const line = lineAt(fd, t.torn.start);
      throw new BvisorError('BV_JOURNAL_TORN', `${p.file}: line ${line} is incomplete (${t.torn.bytes} bytes without a newline: a write that did not finish); nothing will be appended after it`, { hint: REPAIR_HINT, detail: { line, bytes: t.torn.bytes } });
    }
    if (!t.last) {
      if (head) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: empty, but its head records entry ${head.seq} (truncated)`, { hint: MANUAL_HINT, detail: { line: 1, verifiedEntries: 0 } });
      return { file: p.file, size: 0, head: null, keyId: null };
    }
    if (unchangedSinceAppend(t.last.text, head)) return { file: p.file, size: t.size, head, keyId: null };
    const c = checkEntry(t.last.text, sha256Hex);
    if (!c.ok) {
      const line = lineAt(fd, t.last.start);
      throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: entry at line ${line}: ${c.problem}`, { hint: MANUAL_HINT, detail: { line } });
    }
    const last = c.entry;
    if (!head) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: the journal has entries but no head record ${p.head}`, { hint: MANUAL_HINT, detail: { line: 1 } });
    if (last.seq === head.seq + 1 && last.prevHash === head.entryHash) {
      throw new BvisorError('BV_JOURNAL_TORN', `${p.file}: entry ${last.seq} (the last line) is complete but its head still records entry ${head.seq}: an append that did not finish; nothing will be appended after it`, { hint: REPAIR_HINT, detail: { line: last.seq } });
    }
    if (last.seq !== head.seq || last.entryHash !== head.entryHash) {
      const line = lineAt(fd, t.last.start);
      throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: the last entry (line ${line}, seq ${last.seq}) is not the one its head records (seq ${head.seq}): truncated, rewritten or appended without the lock`, { hint: MANUAL_HINT, detail: { line } });
    }
    const keyId = last.mac?.keyId ?? null;
    if (keyId && !key) throw new BvisorError('BV_JOURNAL_KEY', `${p.file} is keyed (key id ${keyId}) and no journal key was given${forWrite ? '; an unkeyed entry would break its keyed verification' : ''}`, { hint: 'pass --journal-key FILE (the key this journal was written with)' });
    if (keyId && key && keyId !== key.id) throw new BvisorError('BV_JOURNAL_KEY', `${p.file} is keyed with key id ${keyId}, not with the given key (key id ${key.id})`, { hint: 'pass the key this journal was written with, or start a new journal (docs/journal.md#keys)' });
    if (key && keyId) {
      const m = checkEntry(t.last.text, sha256Hex, key);
      if (!m.ok) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: entry at line ${lineAt(fd, t.last.start)}: ${m.problem}`, { hint: MANUAL_HINT, detail: { line: lineAt(fd, t.last.start) } });
    }
    // A valid last entry the head records by seq and hash, but not by its line: the line was
    // rewritten (reformatted, keys reordered) since it was appended; journal verify says the same.
    if (head.lineHash !== undefined && sha256Hex(t.last.text) !== head.lineHash) {
      const line = lineAt(fd, t.last.start);
      throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: the last entry (line ${line}) is not the line its head records (lineHash): rewritten since it was appended`, { hint: MANUAL_HINT, detail: { line } });
    }
    return { file: p.file, size: t.size, head, keyId };
  } finally {
    closeSync(fd);
  }
}

/**
 * The tail check's quick answer: the last line is the one the head records (head.lineHash, of
 * its text as UTF-8, written by the append that wrote the line from an entry bvisor made: the
 * tests check every kind against the schema), it is that entry by seq and hash, and it carries
 * no MAC. Then parsing it against the schema and recomputing its hashes, 2-4 ms of every append
 * in a fresh process, is skipped. Anything else (no lineHash in an older head, another line, a
 * keyed entry) gets the full check. What this trusts is what the full check trusts: the head.
 */
function unchangedSinceAppend(text: string, head: JournalHead | null): boolean {
  if (!head || head.lineHash === undefined || sha256Hex(text) !== head.lineHash) return false;
  let e: { seq?: unknown; entryHash?: unknown; mac?: unknown };
  try {
    e = JSON.parse(text) as typeof e;
  } catch {
    return false;
  }
  return typeof e === 'object' && e !== null && e.seq === head.seq && e.entryHash === head.entryHash && e.mac === undefined;
}

/** The tail check of appends, under a shared lock: for callers that must know before a workload runs. */
export function checkJournal(root: string, key: JournalKey | null = null): JournalState {
  return withLock(root, LOCK_SH, () => inspect(root, key, true));
}

/** checkJournal, its wait for the lock yielding (withLockYielding). */
export function checkJournalYielding(root: string, key: JournalKey | null = null, stillWanted?: () => void): Promise<JournalState> {
  return withLockYielding(root, LOCK_SH, () => inspect(root, key, true), stillWanted);
}

// ---- appends ------------------------------------------------------------------------------

/** Cuts the journal back to `size` after a failed append. Returns a note when even that failed. */
function rollBack(fd: number, size: number): string {
  try {
    ftruncateSync(fd, size);
    fsyncSync(fd);
    return `the journal was cut back to its previous ${size} bytes`;
  } catch (e) {
    return `cutting the journal back failed too (${errnoOf(e)}): it may end in an incomplete line, which the next append refuses and bvisor journal verify --repair cuts`;
  }
}

/** The fault point at which the crash tests tear an append of this kind (written in two halves). */
function tearStage(entry: JournalEntry): FaultStage | null {
  const k = entryKind(entry);
  return k === 'report' ? 'journal:torn-report' : k === 'started' ? 'journal:torn-started' : null;
}

/** Appends one entry (under the exclusive lock, after inspect). */
function appendEntry<E extends JournalEntry>(root: string, state: JournalState, entry: E, beforeWrite?: () => void): E {
  const p = journalPaths(root);
  // Dispositions and recovery entries carry names a workload chose (its artifacts' paths, the
  // errors that name them): checked against the schema before they are written. Reports and start
  // records are built within their bounds on every run's path, where the validator's first call
  // (it is compiled lazily, kept out of the start-up blobs) would cost about 9 ms.
  const kind = entryKind(entry);
  const unfit = kind === 'report' || kind === 'started' ? null : unfitEntry(entry);
  if (unfit) throw new BvisorError('BV_INTERNAL', `a ${kind} entry for ${p.file} ${unfit}; it was not written, and the journal is unchanged`, { hint: 'a bug in bvisor: report it with this message' });
  beforeWrite?.();
  let fd: number;
  try {
    fd = openJournal(p.file, C.O_WRONLY | C.O_APPEND | C.O_CREAT);
  } catch (e) {
    if (e instanceof BvisorError) throw e;
    throw new BvisorError('BV_IO', `append to ${p.file}: ${errnoOf(e)}; nothing was written`, { hint: 'check that the state root is writable and has space (bvisor runs prepareStateRoot before a workload for this)', cause: e });
  }
  try {
    let text: string;
    try {
      text = JSON.stringify(entry);
      const line = Buffer.from(text + '\n', 'utf8');
      const tear = tearStage(entry);
      if (tear && faultPoints.armed(tear)) {
        // Crash tests only (a shipped bvisor never arms a fault point): half the line reaches the
        // disk, then bvisor dies, as a power cut mid-write would leave it.
        writeAll(fd, line.subarray(0, line.length >> 1));
        fsyncSync(fd);
        fault(tear);
        writeAll(fd, line.subarray(line.length >> 1));
      } else writeAll(fd, line);
      fsyncSync(fd);
      if (state.size === 0) fsyncDir(root); // the journal file may be new
    } catch (e) {
      throw new BvisorError('BV_IO', `append entry ${entry.seq} to ${p.file}: ${errnoOf(e)}; ${rollBack(fd, state.size)}`, { hint: 'free space on the state root’s file system (or make it writable), then retry', cause: e, detail: { errno: errnoOf(e) } });
    }
    try {
      writeFileAtomic(p.head, headText({ seq: entry.seq, entryHash: entry.entryHash, lineHash: sha256Hex(text) }));
    } catch (e) {
      // The entry is not committed until the head records it: without the head moving, the
      // next append would refuse the journal, so the line goes too.
      throw new BvisorError('BV_IO', `write ${p.head} for entry ${entry.seq}: ${errnoOf(e)}; ${rollBack(fd, state.size)}`, { hint: 'free space on the state root’s file system (or make it writable), then retry', cause: e, detail: { errno: errnoOf(e) } });
    }
  } finally {
    closeSync(fd);
  }
  return entry;
}

export interface AppendOptions {
  now?: Date;
  /** Called under the lock, before the entry is made: a throw appends nothing (a caller's last
   * check, made once the lock is held, as a wait for it may be long). */
  beforeAppend?: () => void;
  /** Yielding appends: asked at each turn of a wait for the lock; a throw ends the wait and
   * appends nothing (a start record the caller no longer wants, its run stopped meanwhile). */
  stillWanted?: () => void;
  /** A journal key (loadJournalKey): the entry gets an HMAC. Required when the journal is keyed. */
  key?: JournalKey | null;
  /** Space reserved by prepareStateRoot: released under the lock just before the write it was for. */
  reservation?: { release(): void } | null;
}

/** The report's line, made and appended; the caller holds the lock. */
function reportLocked(root: string, report: SealedReport, opts: AppendOptions): ReportEntry {
  opts.beforeAppend?.();
  const key = opts.key ?? null;
  const state = inspect(root, key, true);
  const entry = makeEntry(state.head, report, (opts.now ?? new Date()).toISOString(), sha256Hex, key);
  return appendEntry(root, state, entry, () => opts.reservation?.release());
}

/** An event's line, made and appended; the caller holds the lock. */
function eventLocked(root: string, event: EventEntry['event'], opts: AppendOptions): EventEntry {
  opts.beforeAppend?.();
  const key = opts.key ?? null;
  const state = inspect(root, key, true);
  const entry = makeEventEntry(state.head, event, (opts.now ?? new Date()).toISOString(), sha256Hex, key);
  return appendEntry(root, state, entry, () => opts.reservation?.release());
}

export function appendReport(root: string, report: SealedReport, opts: AppendOptions = {}): ReportEntry {
  return withLock(root, LOCK_EX, () => reportLocked(root, report, opts));
}

/** appendReport, its wait for the lock yielding (withLockYielding): bvisor run and the API. */
export function appendReportYielding(root: string, report: SealedReport, opts: AppendOptions = {}): Promise<ReportEntry> {
  return withLockYielding(root, LOCK_EX, () => reportLocked(root, report, opts));
}

/** Appends an event entry: an attempt's (started, disposition, recovery) or the journal's own. */
export function appendEvent(root: string, event: EventEntry['event'], opts: AppendOptions = {}): EventEntry {
  return withLock(root, LOCK_EX, () => eventLocked(root, event, opts));
}

/**
 * The start record, appended (locked, fsync'd, head moved) before the workload is released: the
 * caller releases it only once this returns. A journal that cannot take it (torn, corrupt, full,
 * wrong key) throws, and the workload is never released.
 */
export function appendStarted(root: string, started: Omit<JournalStarted, 'kind'>, opts: AppendOptions = {}): EventEntry {
  return appendEvent(root, startedEvent(started), opts);
}

/** appendStarted, its wait for the lock yielding (withLockYielding): bvisor run and the API. */
export function appendStartedYielding(root: string, started: Omit<JournalStarted, 'kind'>, opts: AppendOptions = {}): Promise<EventEntry> {
  return withLockYielding(root, LOCK_EX, () => eventLocked(root, startedEvent(started), opts), opts.stillWanted);
}

function startedEvent(started: Omit<JournalStarted, 'kind'>): EventEntry['event'] {
  // runId right after kind, whatever the caller's key order: every start record reads the same.
  const { runId, ...rest } = started;
  return { kind: 'started', runId, ...rest };
}

/**
 * One step of a disposition of an attempt's staged artifacts (bvisor commit/discard): `decided`
 * before anything is moved, then `applied` or `failed` (with error). Recovery reads them: a commit
 * applied without a sealed report before it is a canonical refusal; a decided step with neither
 * after it is an interrupted commit/discard.
 */
export function appendDisposition(root: string, entry: Omit<JournalDisposition, 'kind'>, opts: AppendOptions = {}): EventEntry {
  return appendEvent(root, { kind: 'disposition', ...entry }, opts);
}

/** appendDisposition as steps: a commit's sink, run in slices by bvisor run's on-success commit
 * (its wait for the lock then turns the loop) and at once by bvisor commit. */
export function appendDispositionSteps(root: string, entry: Omit<JournalDisposition, 'kind'>, opts: AppendOptions = {}): Steps<EventEntry> {
  return withLockSteps(root, LOCK_EX, () => eventLocked(root, { kind: 'disposition', ...entry }, opts), opts.stillWanted);
}

/** The space a container's start record needs (a line and the head's new copy, a few blocks). */
export const START_RESERVE_BYTES = 16 * 1024;
const START_RESERVE = '.reserve.start';

/**
 * create holds the space of the container's start record (containers/<id>/.reserve.start, real
 * blocks: atomic.ts holdBlocks), as the monitor holds its records': a state root that fills up between
 * create and start must not keep a created container from starting. It goes with the container.
 */
export function reserveStartRecord(dir: string): void {
  reserveSpace(join(dir, START_RESERVE), START_RESERVE_BYTES, 'the start record');
}

/** start's reservation: given back under the journal lock just before its append (appendStarted). */
export function startRecordReservation(dir: string): { release(): void } {
  return {
    release: () => {
      try {
        unlinkSync(join(dir, START_RESERVE));
        freedSpaceUsable(dir, START_RESERVE_BYTES); // ext4 reuses the blocks once the unlink is committed
      } catch {
        // none (a container created before start records), or released already
      }
    },
  };
}

/** What bvisor recover (or gc) decided about an attempt and did. */
export function appendRecovery(root: string, entry: Omit<JournalRecovery, 'kind'>, opts: AppendOptions = {}): EventEntry {
  return appendEvent(root, { kind: 'recovery', ...entry }, opts);
}

/** appendRecovery, its wait for the lock yielding (withLockYielding): bvisor run and the API. */
export function appendRecoveryYielding(root: string, entry: Omit<JournalRecovery, 'kind'>, opts: AppendOptions = {}): Promise<EventEntry> {
  return withLockYielding(root, LOCK_EX, () => eventLocked(root, { kind: 'recovery', ...entry }, opts));
}

// ---- reading entries ------------------------------------------------------------------------

export interface TornTail {
  /** 1-based line number of the incomplete line. */
  line: number;
  bytes: number;
  kind: EntryKind | 'unknown';
  runId: string | null;
}

/** What a bounded read returns: line numbers are unknown, since it did not count from the start. */
export interface JournalWindow {
  /** Complete entries that parse as JSON objects, in order (checked by verify, not here). */
  entries: JournalEntry[];
  /** The incomplete last line, if any. */
  torn: Omit<TornTail, 'line'> | null;
  /** Fragments earlier repairs cut off and kept aside (journal.jsonl.torn-*), as far as they read. */
  keptAside: Array<Omit<TornTail, 'line'> & { savedAs: string }>;
}

export interface JournalRead extends JournalWindow {
  torn: TornTail | null;
  keptAside: Array<TornTail & { savedAs: string }>;
}

/** Whether a line is a repair entry, which the readers keep whatever run ids they ask about. */
const REPAIR = '"event":{"kind":"repair"';

/** The lines (in order) that parse as entries. */
function parseEntries(lines: Iterable<string>): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of lines) {
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (e && typeof e === 'object' && typeof e.seq === 'number') entries.push(e);
    } catch {
      // verify names it; a reader skips it
    }
  }
  return entries;
}

/** The fragments that the repairs among `entries` cut off and kept aside, as far as they read. */
function keptAsideBy(root: string, entries: JournalEntry[]): JournalRead['keptAside'] {
  const out: JournalRead['keptAside'] = [];
  for (const e of entries) {
    if ('event' in e && e.event.kind === 'repair' && e.event.truncated && /^journal\.jsonl\.torn-[0-9]+-[0-9]+$/.test(e.event.truncated.savedAs)) {
      let text: string;
      try {
        text = readFileSync(join(root, e.event.truncated.savedAs), 'utf8');
      } catch {
        continue; // moved away by a person: the repair entry still says where it was
      }
      out.push({ line: e.event.truncated.line, bytes: e.event.truncated.bytes, savedAs: e.event.truncated.savedAs, ...tornFragment(text) });
    }
  }
  return out;
}

/**
 * Reads the journal's entries under the shared lock (no verification: callers that act on them
 * verify first). With `only`, a line is parsed only if it mentions one of these run ids (a cheap
 * substring test first). Reads the whole file: recover and gc, which act on every attempt.
 */
export function readJournalEntries(root: string, only: ReadonlySet<string> | null = null): JournalRead {
  const p = journalPaths(root);
  return withLock(root, LOCK_SH, () => {
    const bytes = readJournal(p.file);
    const nl = bytes.lastIndexOf(0x0a);
    const lines = bytes.subarray(0, nl + 1).toString('utf8').split('\n');
    lines.pop();
    const entries = parseEntries(only ? lines.filter((line) => line.includes(REPAIR) || [...only].some((id) => line.includes(id))) : lines);
    const rest = bytes.subarray(nl + 1);
    const torn = rest.length ? { line: lines.length + 1, bytes: rest.length, ...tornFragment(rest.toString('utf8')) } : null;
    return { entries, torn, keptAside: keptAsideBy(root, entries) };
  });
}

/** A line's seq, read from its opening (`{"bvisorVersion":"1","seq":N,`; the first format had no version). */
const SEQ_AT_START = /^\{(?:"bvisorVersion":"[^"\\]*",)?"seq":([0-9]{1,15})[,}]/;
const STARTED = Buffer.from('"event":{"kind":"started"');

/** The journal's head when a container was made (its state's journalAtCreate). */
export interface JournalFloor {
  seq: number;
  entryHash: string;
}

/**
 * Visits, newest first, the journal's lines until every one of these runs is accounted for (or
 * `visit` returns true), and returns the bytes after the last newline (scanBackward). A run is
 * accounted for once its start record is read: every entry of a run follows it (the started
 * record is its first), and so does a repair of its torn report. A run that never started has
 * none, but its state may name the journal's head when its container was made (its floor,
 * journalAtCreate), read before its run id existed: every entry of it is later, so reaching that
 * entry accounts for it too. Only if it is that entry: the line at that seq must carry that
 * entryHash, since a new journal (new keys, a manual repair) starts its seq again; otherwise the
 * floor is dropped and the read goes on. A run with neither reads it all. `entry()` parses the
 * visited line, once.
 */
function scanRuns(file: string, runs: ReadonlyMap<string, JournalFloor | null>, chunk: number, visit: (line: Buffer, entry: () => JournalEntry | null) => boolean): { tail: Buffer } {
  const waiting = new Map(runs);
  const quoted = [...runs.keys()].map((id) => Buffer.from(JSON.stringify(id)));
  return scanBackward(file, chunk, (line) => {
    let parsed: JournalEntry | null | undefined; // undefined: not parsed yet
    const entry = (): JournalEntry | null => (parsed === undefined ? (parsed = parseEntries([line.toString('utf8')])[0] ?? null) : parsed);
    if (visit(line, entry)) return true;
    // A start record is decided on the parsed entry, not the bytes (the bytes only pick which
    // lines to parse): a damaged line that merely holds the text stops the read neither early nor late.
    if (line.includes(STARTED) && quoted.some((q) => line.includes(q))) {
      const e = entry();
      if (e && 'event' in e && e.event.kind === 'started') waiting.delete(e.event.runId);
    }
    const m = SEQ_AT_START.exec(line.subarray(0, 64).toString('latin1'));
    if (m) {
      const seq = Number(m[1]);
      for (const [id, floor] of waiting) {
        if (floor === null || seq > floor.seq) continue;
        if (seq === floor.seq && entry()?.entryHash === floor.entryHash) waiting.delete(id);
        else waiting.set(id, null); // not the journal the container was made on: read on
      }
    }
    return waiting.size === 0;
  });
}

/**
 * The entries of these runs (and the repairs among them), from the end back to where each run
 * is accounted for (scanRuns). So `bvisor list` costs what was appended since its oldest
 * container was made, not every run the root ever had. Under the shared lock, as the whole read.
 */
export function readJournalEntriesSince(root: string, runs: ReadonlyMap<string, JournalFloor | null>, chunk = 64 * 1024): JournalWindow {
  if (runs.size === 0) return { entries: [], torn: null, keptAside: [] };
  return withLock(root, LOCK_SH, () => {
    const ids = [...runs.keys()].map((id) => Buffer.from(id));
    const newestFirst: JournalEntry[] = [];
    const { tail } = scanRuns(journalPaths(root).file, runs, chunk, (line, entry) => {
      if (line.includes(REPAIR) || ids.some((id) => line.includes(id))) {
        const e = entry();
        if (e) newestFirst.push(e);
      }
      return false;
    });
    const entries = newestFirst.reverse();
    const torn = tail.length ? { bytes: tail.length, ...tornFragment(tail.toString('utf8')) } : null;
    return { entries, torn, keptAside: keptAsideBy(root, entries) };
  });
}

/**
 * The newest `max` entries for which `match` holds, newest first, among the lines that mention
 * `needle`, read backwards from the end: `bvisor report` and outputs commit/discard ask for a
 * run's or a container's last report, which is near the end of a long journal. Under the shared
 * lock.
 */
export function newestEntries(root: string, needle: string, match: (e: JournalEntry) => boolean, max: number, chunk = 64 * 1024): JournalEntry[] {
  return withLock(root, LOCK_SH, () => {
    const want = Buffer.from(needle);
    const found: JournalEntry[] = [];
    scanBackward(journalPaths(root).file, chunk, (line) => {
      if (!line.includes(want)) return false;
      const [e] = parseEntries([line.toString('utf8')]);
      if (e && match(e)) found.push(e);
      return found.length >= max;
    });
    return found;
  });
}

/** The newest entry for which `match` holds (newestEntries). */
export function newestEntry(root: string, needle: string, match: (e: JournalEntry) => boolean, chunk = 64 * 1024): JournalEntry | null {
  return newestEntries(root, needle, match, 1, chunk)[0] ?? null;
}

/**
 * Whether a line of the journal written since the run began holds `needle`: read backwards from
 * the end and stopped where the run is accounted for (scanRuns: its start record, or for a
 * container that never started its floor). So a container's seal reads what was appended since
 * it started, where a read of the whole file cost every seal O(every run the root ever had). Only
 * whole lines answer: the bytes after the last newline are an append in progress or torn by a
 * crash, and a report torn there is not journaled (the next append says BV_JOURNAL_TORN until
 * `journal verify --repair`). Without the journal lock: the caller holds the container's, so no
 * entry of this run is being appended.
 */
export function journalHasSince(root: string, runId: string, needle: string, floor: JournalFloor | null = null, chunk = 64 * 1024): boolean {
  const want = Buffer.from(needle);
  let answer = false;
  scanRuns(journalPaths(root).file, new Map([[runId, floor]]), chunk, (line) => (answer = line.includes(want)));
  return answer;
}

/**
 * Visits the journal's whole lines from the newest to the oldest, reading backwards `chunk`
 * bytes at a time, until `visit` returns true or the file's start. Returns the bytes after the
 * last newline (an append in progress, or torn by a crash), which no visit sees. A missing
 * journal has no lines.
 */
function scanBackward(file: string, chunk: number, visit: (line: Buffer) => boolean): { tail: Buffer } {
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`journal scan: chunk ${chunk}`);
  const fd = openJournalToRead(file);
  if (fd === null) return { tail: Buffer.alloc(0) };
  // (lastIndexOf counts a negative offset from the end: at 0 there is nothing left to search.)
  const before = (b: Buffer, at: number): number => (at > 0 ? b.lastIndexOf(0x0a, at - 1) : -1);
  try {
    let later: Buffer[] = []; // the bytes of the line being read, after this chunk, in order
    let tail: Buffer | null = null; // null while still after the file's last newline
    for (let end = fstatSync(fd).size; end > 0; ) {
      const from = Math.max(0, end - chunk);
      const got = Buffer.alloc(end - from);
      // The journal only grows under its lock; journalHasSince reads without it, and a repair
      // that cut a torn tail meanwhile would leave zeros here: say so rather than read them.
      if (readSync(fd, got, 0, got.length, from) !== got.length) throw new BvisorError('BV_IO', `read ${file}: it shrank while being read`, { hint: 'a journal repair ran at the same time: retry' });
      // Newlines are searched in the new bytes only, and a line is joined once: linear in the
      // bytes read however long its lines.
      let stop = got.length;
      for (let nl = before(got, stop); nl >= 0; nl = before(got, stop)) {
        const line = later.length ? Buffer.concat([got.subarray(nl + 1, stop), ...later]) : got.subarray(nl + 1, stop);
        later = [];
        if (tail === null) tail = Buffer.from(line);
        else if (visit(line)) return { tail };
        stop = nl;
      }
      later.unshift(got.subarray(0, stop));
      end = from;
    }
    // The file's first line, unless there was no newline at all (all of it a torn append).
    if (tail === null) return { tail: Buffer.concat(later) };
    visit(Buffer.concat(later));
    return { tail };
  } catch (e) {
    if (e instanceof BvisorError) throw e;
    throw new BvisorError('BV_IO', `read ${file}: ${errnoOf(e)}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

// ---- verification and repair --------------------------------------------------------------

export type JournalVerdictAt = JournalVerdict & { file: string };

function readJournal(file: string): Buffer {
  const fd = openJournalToRead(file);
  if (fd === null) return Buffer.alloc(0);
  try {
    return readFileSync(fd);
  } catch (e) {
    throw new BvisorError('BV_IO', `read ${file}: ${errnoOf(e)}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

export function verifyJournalAt(root: string, key: JournalKey | null = null): JournalVerdictAt {
  const p = journalPaths(root);
  return withLock(root, LOCK_SH, () => {
    let head: JournalHead | null;
    try {
      head = readHead(root);
    } catch (e) {
      if (e instanceof BvisorError && e.code === 'BV_JOURNAL_CORRUPT') return { ok: false as const, entries: 0, line: 0, kind: 'head-invalid' as const, problem: e.message, file: p.file };
      throw e;
    }
    return { ...verifyJournal(readJournal(p.file).toString('utf8'), head, sha256Hex, key), file: p.file };
  });
}

export interface RepairOutcome {
  file: string;
  /** What was done, as recorded in the journal; null when there was nothing to repair. */
  repair: JournalRepair | null;
  entry: EventEntry | null;
  /** The journal verified after the repair. */
  verdict: JournalVerdict;
}

/**
 * Repairs what an interrupted append leaves, and nothing else: an incomplete last line (cut off
 * and kept aside byte for byte) and one complete entry its head does not record yet (the head
 * moves onto it). Everything before must verify; then a repair entry records what was done.
 * Any other damage is refused with BV_JOURNAL_CORRUPT: deciding what to trust is then a person's
 * job (docs/journal.md#manual-repair).
 */
export function repairJournalAt(root: string, key: JournalKey | null = null, now: Date = new Date()): RepairOutcome {
  const p = journalPaths(root);
  // No root, no journal: nothing to mend (verify says the same), and nothing is made.
  if (!existsSync(root)) return { file: p.file, repair: null, entry: null, verdict: verifyJournalAt(root, key) };
  return withLock(root, LOCK_EX, () => {
    const head = readHead(root);
    const bytes = readJournal(p.file);
    const nl = bytes.lastIndexOf(0x0a);
    const completeLen = nl + 1;
    const tornBytes = bytes.subarray(completeLen);
    const v = verifyJournal(bytes.subarray(0, completeLen).toString('utf8'), head, sha256Hex, key);
    let rollTo: JournalHead | null = null;
    if (!v.ok) {
      // The one complete entry of an append interrupted between its fsync and its head: the
      // head is one behind (or, for the very first entry, missing).
      const interrupted = (v.kind === 'head-behind' && head !== null && v.entries === head.seq + 1) || (v.kind === 'head-missing' && v.entries === 1);
      if (!interrupted) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: entry at line ${v.line}: ${v.problem}; --repair mends only an append that did not finish`, { hint: MANUAL_HINT, detail: { line: v.line, verifiedEntries: v.entries } });
      const lastLine = bytes.subarray(0, completeLen).toString('utf8').trimEnd().split('\n').pop()!;
      const last = JSON.parse(lastLine) as JournalEntry;
      const recheck = verifyJournal(bytes.subarray(0, completeLen).toString('utf8'), { seq: last.seq, entryHash: last.entryHash }, sha256Hex, key);
      if (!recheck.ok) throw new BvisorError('BV_JOURNAL_CORRUPT', `${p.file}: entry at line ${recheck.line}: ${recheck.problem}`, { hint: MANUAL_HINT, detail: { line: recheck.line } });
      rollTo = { seq: last.seq, entryHash: last.entryHash };
    }
    if (tornBytes.length === 0 && !rollTo) return { file: p.file, repair: null, entry: null, verdict: v };
    const prev = rollTo ?? (v.ok ? v.head : null);
    // A keyed journal gets a keyed repair entry, or none.
    const lastComplete = completeLen > 0 ? (JSON.parse(bytes.subarray(0, completeLen).toString('utf8').trimEnd().split('\n').pop()!) as JournalEntry) : null;
    const keyId = lastComplete?.mac?.keyId ?? null;
    if (keyId && !key) throw new BvisorError('BV_JOURNAL_KEY', `${p.file} is keyed (key id ${keyId}); its repair entry must be keyed too`, { hint: 'pass --key FILE (the key this journal was written with)' });
    const entries = v.ok ? v.entries : rollTo!.seq;
    let truncated: JournalRepair['truncated'] = null;
    if (tornBytes.length > 0) {
      const line = entries + 1;
      const savedAs = `journal.jsonl.torn-${line}-${now.getTime()}`;
      const keep = openSync(join(root, savedAs), 'wx', 0o600);
      try {
        writeAll(keep, Buffer.from(tornBytes));
        fsyncSync(keep);
      } finally {
        closeSync(keep);
      }
      const fd = openJournal(p.file, C.O_WRONLY);
      try {
        ftruncateSync(fd, completeLen);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(root);
      truncated = { line, bytes: tornBytes.length, sha256: createHash('sha256').update(tornBytes).digest('hex'), savedAs };
    }
    const repair: JournalRepair = {
      kind: 'repair',
      problem: [tornBytes.length > 0 ? `line ${entries + 1} was incomplete (${tornBytes.length} bytes)` : null, rollTo ? `the head recorded entry ${head?.seq ?? 0} but entry ${rollTo.seq} was complete` : null].filter(Boolean).join('; '),
      truncated,
      headRolledForward: rollTo ? { from: head?.seq ?? 0, to: rollTo.seq } : null,
    };
    const entry = makeRepairEntry(prev, repair, now.toISOString(), sha256Hex, key);
    appendEntry(root, { file: p.file, size: completeLen, head: prev, keyId }, entry);
    return { file: p.file, repair, entry, verdict: verifyJournal(readJournal(p.file).toString('utf8'), readHead(root), sha256Hex, key) };
  });
}

