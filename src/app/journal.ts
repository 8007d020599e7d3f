// bvisor journal verify.
import { BvisorError } from '../contract/errors.js';
import { verifyJournalAt } from '../host/journal-store.js';

export interface JournalVerifyResult {
  file: string;
  ok: true;
  entries: number;
  headSeq: number;
}

export function verifyJournal(root: string): JournalVerifyResult {
  const v = verifyJournalAt(root);
  if (!v.ok) {
    throw new BvisorError('BV_JOURNAL_CORRUPT', `${v.file}: entry at line ${v.line}: ${v.problem}`, {
      hint: 'the journal is evidence: keep this copy aside for inspection; entries before the reported line are intact',
      detail: { line: v.line, verifiedEntries: v.entries },
    });
  }
  return { file: v.file, ok: true, entries: v.entries, headSeq: v.head?.seq ?? 0 };
}
