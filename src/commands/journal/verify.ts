// bvisor journal verify — check the journal's hash chain and head; exits 8 on the first bad entry.
import { BaseCommand } from '../../cli/base.js';
import { verifyJournal, type JournalVerifyResult } from '../../app/journal.js';

export default class JournalVerify extends BaseCommand<typeof JournalVerify> {
  static override summary = "Verify the journal's hash chain: finds any edit, deletion, reorder or truncation";

  async run(): Promise<JournalVerifyResult> {
    const r = verifyJournal(this.stateRoot);
    this.say(`${r.file}: ok, ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} verified`);
    return r;
  }
}
