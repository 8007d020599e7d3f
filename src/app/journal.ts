// bvisor journal verify [--key FILE] [--repair]: check the journal's hash chain and head, and
// with a key every entry's MAC; --repair mends what an interrupted append left (docs/journal.md).
import { BvisorError } from '../contract/errors.js';
import { isDirectory } from '../host/lookup.js';
import type { JournalRepair } from '../contract/generated/types.js';
import { verifyJournalAt, repairJournalAt, loadJournalKey, type JournalVerdictAt, type JournalKey } from '../host/journal-store.js';

export interface JournalVerifyOptions {
  /** A key file (kept outside the state root): verify every entry's MAC as well. */
  keyFile?: string | null;
  /** Mend an incomplete last line or a head one entry behind, recording it in the journal. */
  repair?: boolean;
}

export interface JournalVerifyResult {
  file: string;
  ok: true;
  entries: number;
  headSeq: number;
  /** chain: hashes and head only (proves nothing against someone who can rewrite the file); keyed: MACs too. */
  mode: 'chain' | 'keyed';
  keyId: string | null;
  /** Entries that carry a MAC (checked only in keyed mode). */
  macs: number;
  /** What --repair did (also recorded as the journal's last entry); null when nothing was needed. */
  repaired: JournalRepair | null;
}

function fail(v: Extract<JournalVerdictAt, { ok: false }>, key: JournalKey | null): never {
  if (v.kind === 'torn' || v.kind === 'head-behind') {
    throw new BvisorError('BV_JOURNAL_TORN', `${v.file}: entry at line ${v.line}: ${v.problem}`, {
      hint: `bvisor journal verify --repair${key ? ' --key FILE' : ''} mends it (the cut bytes are kept aside, the repair is recorded); entries before line ${v.line} are intact`,
      detail: { line: v.line, verifiedEntries: v.entries, problem: v.kind },
    });
  }
  if (v.kind === 'head-invalid') throw new BvisorError('BV_JOURNAL_CORRUPT', v.problem, { hint: 'the journal is evidence: keep a copy aside (docs/journal.md#manual-repair)', detail: { line: 0, verifiedEntries: 0, problem: v.kind } });
  throw new BvisorError('BV_JOURNAL_CORRUPT', `${v.file}: entry at line ${v.line}: ${v.problem}`, {
    hint: 'the journal is evidence: keep this copy aside for inspection; entries before the reported line are intact (docs/journal.md#manual-repair)',
    detail: { line: v.line, verifiedEntries: v.entries, problem: v.kind },
  });
}

export function verifyJournal(root: string, opts: JournalVerifyOptions = {}): JournalVerifyResult {
  // A root that is not there has no journal to vouch for: "ok, 0 entries" would read as a
  // verified journal to a caller who mistyped --root. (A root with no run yet is ok and empty.)
  if (!isDirectory(root)) throw new BvisorError('BV_STATE_ROOT_UNUSABLE', `${root} is not a directory: there is no journal to verify there`, { hint: 'name the state root the runs used (--root; the default is /run/bvisor as root, $XDG_RUNTIME_DIR/bvisor otherwise)' });
  const key = opts.keyFile ? loadJournalKey(opts.keyFile, root) : null;
  let repaired: JournalRepair | null = null;
  let v: JournalVerdictAt;
  if (opts.repair) {
    const r = repairJournalAt(root, key);
    repaired = r.repair;
    v = { ...r.verdict, file: r.file };
  } else {
    v = verifyJournalAt(root, key);
  }
  if (!v.ok) fail(v, key);
  return { file: v.file, ok: true, entries: v.entries, headSeq: v.head?.seq ?? 0, mode: key ? 'keyed' : 'chain', keyId: key?.id ?? null, macs: v.macs, repaired };
}
