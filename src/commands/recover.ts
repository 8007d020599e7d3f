// bvisor recover [--dry-run] — the journal as a recovery log: classify every attempt from the
// journal and the host (absent, rolled back, completed, running, refused) and clean up after
// crashed ones (docs/journal.md#recovery). Exits 8 when an attempt is a canonical refusal, 1 when
// an action failed.
import { Flags } from '@oclif/core';
import { BaseCommand, EXIT } from '../cli/base.js';
import { recoverRoot } from '../app/recover.js';
import { visible } from '../cli/render.js';
import type { RecoverOutput } from '../contract/generated/types.js';

export default class Recover extends BaseCommand<typeof Recover> {
  static override summary = 'Classify every attempt from the journal and the host after a crash, and clean up what crashed runs left';
  static override description =
    'absent: never released; rolled back: started, never completed (its orphans are killed, its cgroups, state and quarantine removed); completed: report sealed (outputs wait for commit/discard); running: its supervisor lives; refused: promoted bytes without a sealed report, or a torn report (left for a person, exit 8). Each attempt acted on gets a recovery entry in the journal (docs/journal.md#recovery).';
  static override flags = {
    'dry-run': Flags.boolean({ description: 'print the classification and what would be done; change nothing (not even a torn journal tail)', default: false }),
    all: Flags.boolean({ description: 'also list completed and absent attempts with nothing to do (always in --json)', default: false }),
  };

  async run(): Promise<RecoverOutput> {
    const r = await recoverRoot(this.stateRoot, { key: this.journal.key, dryRun: this.flags['dry-run'] });
    if (r.journal.torn) this.say(`journal: line ${r.journal.torn.line} was incomplete (${r.journal.torn.bytes} bytes, a ${r.journal.torn.kind} entry${r.journal.torn.runId ? ` of run ${r.journal.torn.runId}` : ''})${r.journal.repaired ? '; repaired (the bytes are kept aside)' : '; recover (without --dry-run) repairs it'}`);
    let quiet = 0;
    for (const a of r.attempts) {
      if (!this.flags.all && a.actions.length === 0 && a.recorded === null && (a.classification === 'completed' || a.classification === 'absent')) {
        quiet++;
        continue;
      }
      this.say(visible(`${a.runId}${a.containerId ? ` (${a.containerId})` : ''}: ${a.classification}: ${a.reason}`));
      for (const x of a.actions) this.say(visible(`  ${r.dryRun ? 'would ' : ''}${x.do} ${x.target}${x.error ? `: FAILED: ${x.error}` : ''}`));
    }
    const c = r.counts;
    this.say(`${r.attempts.length} attempt(s): ${c.running} running, ${c.completed} completed, ${c['rolled-back']} rolled back, ${c.absent} absent, ${c.refused} refused${quiet ? ` (${quiet} with nothing to do not shown; --all shows them)` : ''}${r.dryRun ? '; dry run: nothing was changed' : ''}`);
    if (r.attempts.some((a) => a.actions.some((x) => x.error !== null))) process.exitCode = EXIT.runtime;
    if (c.refused > 0) process.exitCode = EXIT.integrity;
    return r;
  }
}
