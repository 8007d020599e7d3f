// bvisor journal verify — check the journal's hash chain and head (and, with --key, every
// entry's MAC); exits 8 on the first bad entry. --repair mends what an interrupted append left.
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { verifyJournal, type JournalVerifyResult } from '../../app/journal.js';

export default class JournalVerify extends BaseCommand<typeof JournalVerify> {
  static override summary = "Verify the journal's hash chain: finds any edit, deletion, reorder or truncation; with --key, forgery";
  static override description = 'Without a key this proves the journal is intact against accidents and careless edits, not against someone who can rewrite it and recompute the hashes: that takes --key (docs/journal.md).';
  static override flags = {
    key: Flags.string({ description: 'journal key file (0600, outside the state root): check every entry’s MAC too (default: --journal-key)' }),
    repair: Flags.boolean({ description: 'cut an incomplete last line (kept aside) or move the head onto an entry an interrupted append left, and record it', default: false }),
  };

  async run(): Promise<JournalVerifyResult> {
    // Verifying only reads, and its proof (the chain; with a key, every MAC) does not rest on who
    // owns the root: an audit of a root that is not ours is its point. --repair writes into it.
    const r = verifyJournal(this.flags.repair ? this.stateRoot : this.stateRootToAudit, { keyFile: this.flags.key ?? this.journalKeyFile, repair: this.flags.repair });
    if (r.repaired) this.say(`${r.file}: repaired: ${r.repaired.problem}${r.repaired.truncated ? ` (cut bytes kept in ${r.repaired.truncated.savedAs})` : ''}`);
    const what = r.mode === 'keyed' ? `, every MAC checked (key id ${r.keyId})` : ' (hash chain and head; no key)';
    this.say(`${r.file}: ok, ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} verified${what}`);
    return r;
  }
}
