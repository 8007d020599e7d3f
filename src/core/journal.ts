// The journal's hash chain (pure). Each entry carries the previous entry's hash; entryHash covers
// the whole entry but its own hash and MAC (sequence, time, previous hash and the sealed report or
// event). A separate head record (last seq and hash) is what catches truncation of whole trailing
// entries, which a chain alone cannot see. A keyed journal adds to each entry an HMAC over its
// entryHash, made with a key kept outside the state root: since entryHash commits to every entry
// before it, one valid MAC vouches for the whole prefix, and recomputing hashes after an edit
// (which anyone can do) no longer yields a journal that verifies. The HMAC itself is computed by
// the host (node:crypto) behind the JournalKey interface, so this module stays pure.
import type { EventEntry, JournalEntry, JournalMac, JournalRepair, ReportEntry, SealedReport } from '../contract/generated/types.js';
import { validateJournalEntry } from '../contract/generated/validators-records.js';
import { contentHash, type Sha256Hex } from './seal.js';
import { reportIntact } from './report.js';

export const GENESIS_HASH = '0'.repeat(64);
/** Domain-separation prefixes: a journal MAC can never be confused with any other use of the key. */
export const MAC_DOMAIN = 'bvisor-journal-mac-v1\n';
export const KEY_ID_DOMAIN = 'bvisor-journal-key-id-v1';

export interface JournalHead {
  seq: number;
  entryHash: string;
  /**
   * SHA-256 of the last line's text as the append wrote it (as UTF-8, without the newline). An
   * append's tail check that finds that line need not parse, validate and rehash it
   * (docs/journal.md, "How an append works"). Absent in heads written before it existed, whose
   * tails get the full check.
   */
  lineHash?: string;
}

/** A journal key as the core sees it: a name and a MAC function. The key bytes stay in the host. */
export interface JournalKey {
  /** First 16 hex digits of HMAC-SHA256(key, KEY_ID_DOMAIN). */
  id: string;
  /** HMAC-SHA256(key, message) as lowercase hex. */
  hmac(message: string): string;
}

export function entryMac(entryHash: string, key: JournalKey): JournalMac {
  return { alg: 'hmac-sha256', keyId: key.id, value: key.hmac(MAC_DOMAIN + entryHash) };
}

/** What entryHash covers: the entry without entryHash and mac. */
function hashedPart(entry: JournalEntry): Record<string, unknown> {
  const { entryHash: _h, mac: _m, ...rest } = entry;
  return rest;
}

function finish<T extends Omit<JournalEntry, 'entryHash' | 'mac'>>(partial: T, sha256: Sha256Hex, key: JournalKey | null): T & { entryHash: string; mac?: JournalMac } {
  const entryHash = contentHash(partial, sha256);
  return key ? { ...partial, entryHash, mac: entryMac(entryHash, key) } : { ...partial, entryHash };
}

export function makeEntry(prev: JournalHead | null, report: SealedReport, at: string, sha256: Sha256Hex, key: JournalKey | null = null): ReportEntry {
  return finish(
    {
      bvisorVersion: '1' as const,
      seq: (prev?.seq ?? 0) + 1,
      at,
      prevHash: prev?.entryHash ?? GENESIS_HASH,
      bodyHash: report.bodyHash,
      report,
    },
    sha256,
    key,
  );
}

/** An event entry: the journal's own (repair) or an attempt's (started, disposition, recovery). */
export function makeEventEntry(prev: JournalHead | null, event: EventEntry['event'], at: string, sha256: Sha256Hex, key: JournalKey | null = null): EventEntry {
  return finish({ bvisorVersion: '1' as const, seq: (prev?.seq ?? 0) + 1, at, prevHash: prev?.entryHash ?? GENESIS_HASH, event }, sha256, key);
}

export function makeRepairEntry(prev: JournalHead | null, event: JournalRepair, at: string, sha256: Sha256Hex, key: JournalKey | null = null): EventEntry {
  return makeEventEntry(prev, event, at, sha256, key);
}

/** What an entry is about: 'report', or its event's kind. */
export type EntryKind = 'report' | EventEntry['event']['kind'];

export function entryKind(entry: JournalEntry): EntryKind {
  return 'report' in entry ? 'report' : entry.event.kind;
}

/** The attempt an entry belongs to (a report's body.runId, an attempt event's runId), or null. */
export function entryRunId(entry: JournalEntry): string | null {
  if ('report' in entry) return entry.report.body.runId;
  return 'runId' in entry.event ? entry.event.runId : null;
}

/**
 * What an incomplete last line (an append cut short) was going to be, as far as its bytes say:
 * entries are written as JSON.stringify leaves them, so a report's fragment has `"report":` before
 * its body, an event's `"event":{"kind":"…"` and, for an attempt's event or a report body, its
 * `"runId":"…"` once enough was written. Anything shorter is 'unknown' (and its run id null).
 */
export function tornFragment(text: string): { kind: EntryKind | 'unknown'; runId: string | null } {
  const ev = /"event":\{"kind":"(repair|started|disposition|recovery)"/.exec(text);
  const kind: EntryKind | 'unknown' = ev ? (ev[1] as EntryKind) : /"report":\{/.test(text) ? 'report' : 'unknown';
  const id = /"runId":"([A-Za-z0-9][A-Za-z0-9_.+-]{0,127})"/.exec(text);
  return { kind, runId: kind === 'unknown' || kind === 'repair' || !id ? null : id[1]! };
}

// ---- the head record ----------------------------------------------------------------------

/** The head file's text. bvisorVersion marks the format; heads written before it have none. */
export function headText(head: JournalHead): string {
  return JSON.stringify({ bvisorVersion: '1', seq: head.seq, entryHash: head.entryHash, ...(head.lineHash === undefined ? {} : { lineHash: head.lineHash }) }) + '\n';
}

/**
 * Strict reading of journal.head.json: an object with exactly seq (integer ≥ 1) and entryHash
 * (64 lowercase hex), and optionally bvisorVersion "1" and lineHash (64 lowercase hex). Anything
 * else (`[]`, `{}`, a string seq, extra keys) is a problem, never a head: a lenient reader would
 * turn a damaged head into "no head", which is exactly what hides a truncated journal.
 */
export function parseHead(text: string): { ok: true; head: JournalHead } | { ok: false; problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'is not valid JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, problem: `is ${Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`}, not an object {seq, entryHash}` };
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'seq' && k !== 'entryHash' && k !== 'bvisorVersion' && k !== 'lineHash');
  if (extra.length) return { ok: false, problem: `has unknown keys (${extra.join(', ')})` };
  if ('bvisorVersion' in o && o.bvisorVersion !== '1') return { ok: false, problem: `has bvisorVersion ${JSON.stringify(o.bvisorVersion)}, not "1"` };
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 1) return { ok: false, problem: `has seq ${JSON.stringify(o.seq)}, not an integer ≥ 1` };
  if (typeof o.entryHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.entryHash)) return { ok: false, problem: `has entryHash ${JSON.stringify(o.entryHash)?.slice(0, 80)}, not 64 lowercase hex digits` };
  if ('lineHash' in o && (typeof o.lineHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.lineHash))) return { ok: false, problem: `has lineHash ${JSON.stringify(o.lineHash)?.slice(0, 80)}, not 64 lowercase hex digits` };
  return { ok: true, head: typeof o.lineHash === 'string' ? { seq: o.seq, entryHash: o.entryHash, lineHash: o.lineHash } : { seq: o.seq, entryHash: o.entryHash } };
}

// ---- one entry ----------------------------------------------------------------------------

export type JournalProblemKind =
  | 'torn' // the last line has no newline: a write that did not finish
  | 'json'
  | 'schema'
  | 'seq'
  | 'link'
  | 'hash'
  | 'report'
  | 'mac' // keyed verification failed
  | 'head-invalid'
  | 'head-missing'
  | 'head-truncated'
  | 'head-rewritten'
  | 'head-behind'; // complete entries beyond the head: an append interrupted before its head moved

export type EntryCheck = { ok: true; entry: JournalEntry } | { ok: false; kind: JournalProblemKind; problem: string };

function schemaProblem(entry: unknown): string {
  const errs = validateJournalEntry.errors ?? [];
  // The schema is a oneOf (report | event): report the branch this line was meant to be, at its
  // deepest mismatch (the other branch's "required bodyHash" says nothing about an event).
  const within = typeof entry === 'object' && entry !== null && 'event' in entry ? '/event' : '/report';
  const e = errs.filter((x) => x.instancePath.startsWith(within)).sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? errs[0];
  return `does not match the journal entry schema (${e?.instancePath ?? ''} ${e?.message ?? ''})`.replace(/\( /, '(').trim();
}

/** Why an entry about to be appended would not pass verification's schema check, or null. An
 * entry that would not is never written: one such line would make the whole journal fail to
 * verify, and recover and gc refuse to act, for good. */
export function unfitEntry(entry: JournalEntry): string | null {
  return validateJournalEntry(entry) ? null : schemaProblem(entry);
}

/**
 * Checks one line on its own: JSON, schema, its own hash, its report's seal, and (with a key) its
 * MAC. Linking to the previous entry is verifyJournal's job.
 */
export function checkEntry(line: string, sha256: Sha256Hex, key: JournalKey | null = null): EntryCheck {
  let entry: JournalEntry;
  try {
    entry = JSON.parse(line) as JournalEntry;
  } catch {
    return { ok: false, kind: 'json', problem: 'not valid JSON' };
  }
  if (!validateJournalEntry(entry)) return { ok: false, kind: 'schema', problem: schemaProblem(entry) };
  if (contentHash(hashedPart(entry), sha256) !== entry.entryHash) return { ok: false, kind: 'hash', problem: 'entry hash does not match its content (edited)' };
  if ('report' in entry && (!reportIntact(entry.report, sha256) || entry.bodyHash !== entry.report.bodyHash)) return { ok: false, kind: 'report', problem: 'report body does not match its seal (edited)' };
  if (key && entry.mac) {
    if (entry.mac.keyId !== key.id) return { ok: false, kind: 'mac', problem: `its MAC was made with another key (key id ${entry.mac.keyId}, this key is ${key.id})` };
    if (entry.mac.value !== key.hmac(MAC_DOMAIN + entry.entryHash)) return { ok: false, kind: 'mac', problem: 'its MAC does not match (the entry was edited or forged and its hashes recomputed by someone without the key)' };
  }
  return { ok: true, entry };
}

// ---- the whole journal --------------------------------------------------------------------

export type JournalVerdict =
  | { ok: true; entries: number; head: JournalHead | null; macs: number }
  | { ok: false; entries: number; line: number; kind: JournalProblemKind; problem: string };

/**
 * Checks every line; reports the first bad entry (1-based line number). With a key, every entry
 * from the first MAC'd one on must carry a valid MAC of this key, and a journal with entries must
 * have at least one: entries before the first MAC are vouched for by it through the chain (a key
 * adopted on an existing journal), entries after the last one would be unvouched.
 */
export function verifyJournal(text: string, head: JournalHead | null, sha256: Sha256Hex, key: JournalKey | null = null): JournalVerdict {
  const lines = text.split('\n');
  const tail = lines.pop()!; // '' when the text ends with a newline (or is empty)
  let prev: JournalHead | null = null;
  let macs = 0;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const c = checkEntry(lines[i]!, sha256, key);
    if (!c.ok) return { ok: false, entries: i, line: n, kind: c.kind, problem: c.problem };
    const entry = c.entry;
    const expectSeq: number = (prev?.seq ?? 0) + 1;
    if (entry.seq !== expectSeq) return { ok: false, entries: i, line: n, kind: 'seq', problem: `sequence ${entry.seq} where ${expectSeq} was expected (entry deleted or reordered)` };
    if (entry.prevHash !== (prev?.entryHash ?? GENESIS_HASH)) return { ok: false, entries: i, line: n, kind: 'link', problem: 'previous-hash link is broken (entry deleted, inserted or reordered)' };
    if (key) {
      if (entry.mac) macs++;
      else if (macs > 0) return { ok: false, entries: i, line: n, kind: 'mac', problem: 'it has no MAC although earlier entries have one (appended or rewritten without the key)' };
    } else if (entry.mac) macs++;
    prev = { seq: entry.seq, entryHash: entry.entryHash };
  }
  const complete = lines.length;
  if (tail !== '') return { ok: false, entries: complete, line: complete + 1, kind: 'torn', problem: `the last line is incomplete (${tail.length} characters without a newline: a write that did not finish, or an edit)` };
  if (key && complete > 0 && macs === 0) return { ok: false, entries: complete, line: complete, kind: 'mac', problem: 'no entry carries a MAC: this journal was not written with the key (or its MACs were stripped)' };
  if (head) {
    if (!prev || prev.seq < head.seq) return { ok: false, entries: complete, line: complete + 1, kind: 'head-truncated', problem: `the journal ends at entry ${prev?.seq ?? 0} but its head records entry ${head.seq} (truncated)` };
    if (prev.seq === head.seq && prev.entryHash !== head.entryHash) return { ok: false, entries: complete, line: complete, kind: 'head-rewritten', problem: 'the last entry does not match the head record (rewritten)' };
    if (prev.seq === head.seq && head.lineHash !== undefined && sha256(lines[complete - 1]!) !== head.lineHash) return { ok: false, entries: complete, line: complete, kind: 'head-rewritten', problem: "the last line is not the one its head records (its lineHash): rewritten since it was appended" };
    if (prev.seq > head.seq) return { ok: false, entries: complete, line: head.seq + 1, kind: 'head-behind', problem: `the head records entry ${head.seq} but the journal goes on to entry ${prev.seq} (an append interrupted before its head moved, or entries appended without the journal lock)` };
  } else if (prev) {
    return { ok: false, entries: complete, line: 1, kind: 'head-missing', problem: 'the journal has entries but no head record' };
  }
  return { ok: true, entries: complete, head: prev, macs };
}
