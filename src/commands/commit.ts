// bvisor commit — promote a run's staged outputs (the artifacts its sealed report lists) into a
// directory: each re-verified against its hash, written whole (copy, fsync, rename).
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { commitOutputs, failures, journalSink, type Disposition } from '../app/outputs.js';
import { sealedReportFor } from '../app/report.js';
import { BvisorError } from '../contract/errors.js';
import { visible } from '../core/visible.js';

export default class Commit extends BaseCommand<typeof Commit> {
  static override summary = 'Promote the outputs a run staged (its report\'s artifacts) into a directory, each re-verified against its sealed hash';
  static override args = { id: Args.string({ description: 'the run id, or the container id whose last report it is', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'destination directory (default: the manifest\'s outputs.to)' }),
    artifact: Flags.string({ description: 'only this artifact (id or path); repeatable', multiple: true }),
    durable: Flags.boolean({ description: 'fsync each file and the directories it lands in', default: false }),
  };

  async run(): Promise<Disposition> {
    const { args } = await this.parse(Commit);
    const report = sealedReportFor(this.stateRoot, args.id);
    const d = commitOutputs(this.stateRoot, report, { to: this.flags.to ?? null, only: this.flags.artifact ?? [], durable: this.flags.durable }, journalSink(this.stateRoot, this.journal.key));
    // Names the workload chose, escaped: a terminal must not act on them, nor a reader take one
    // for a line of bvisor's own.
    // (At most a screenful: --json carries each failure.)
    this.say(`committed ${d.applied.length} artifact(s) of run ${d.runId} to ${visible(d.to ?? '')}${d.failed.length ? `; ${d.failed.length} failed: ${visible(failures(d.failed))}` : ''}`);
    // Copies an earlier commit cut short left that could not be removed: the host's to look at.
    for (const l of d.left ?? []) process.stderr.write(`bvisor: a copy a commit cut short left was not removed: ${visible(l)}\n`);
    if (d.failed.length) throw new BvisorError('BV_OUTPUTS', `${d.failed.length} artifact(s) of run ${d.runId} were not committed: ${failures(d.failed)}`, { hint: 'the quarantine is kept: look at it, then commit again or discard' });
    return d;
  }
}
