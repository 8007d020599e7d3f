// bvisor discard — drop the outputs a run staged, unpromoted.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { discardOutputs, journalSink, type Disposition } from '../app/outputs.js';
import { sealedReportFor } from '../app/report.js';
import { visible } from '../core/visible.js';

export default class Discard extends BaseCommand<typeof Discard> {
  static override summary = 'Drop the outputs a run staged (its quarantine), without promoting any';
  static override args = { id: Args.string({ description: 'the run id, or the container id whose last report it is', required: true }) };

  async run(): Promise<Disposition> {
    const { args } = await this.parse(Discard);
    const d = discardOutputs(this.stateRoot, sealedReportFor(this.stateRoot, args.id), journalSink(this.stateRoot, this.journal.key));
    this.say(`discarded ${d.applied.length} artifact(s) of run ${d.runId}`);
    // Copies a commit cut short left that could not be removed: the host's to look at.
    for (const l of d.left ?? []) process.stderr.write(`bvisor: a copy a commit cut short left was not removed: ${visible(l)}\n`);
    return d;
  }
}
