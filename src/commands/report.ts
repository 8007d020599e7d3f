// bvisor report — the sealed report of a stopped container: its outcome, its seal, and what the
// boundary denied (docs/denials.md); --json prints the whole report.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { reportOf } from '../app/lifecycle.js';
import type { SealedReport } from '../contract/generated/types.js';
import { denialSummary } from '../core/denials.js';
import { reportsOfContainer } from '../app/report.js';

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Print the sealed report of a stopped container';
  static override args = { id: Args.string({ description: 'container id (a container deleted since, or a bvisor run: its report from the journal)', required: true }) };

  async run(): Promise<SealedReport> {
    const { args } = await this.parse(Report);
    const r = reportOf(this.stateRoot, args.id, this.journal);
    const o = r.body.outcome;
    // The reason too: a kill, an abort, the oom killer and limits.cpu all end in SIGKILL.
    const why = [o.reason !== null ? `reason ${o.reason}` : null, o.exitCode !== null ? `exit ${o.exitCode}` : null, o.signal].filter((w) => w !== null);
    this.say(`${args.id}: ${o.status}${why.length ? ` (${why.join(', ')})` : ''}; run ${r.body.runId}, sealed ${r.bodyHash}`);
    // Every denial (not only the first few bvisor run prints), and each source not watched.
    if (r.body.denials) this.say(denialSummary(r.body, { id: args.id, max: r.body.denials.items.length }).join('\n'));
    // An id used again (run x, then run x) has a report per run: this is the newest; the others
    // are named (a new-user pass found no way to them).
    if (!this.jsonEnabled() && r.body.containerId === args.id) {
      const others = reportsOfContainer(this.stateRoot, args.id, 6).filter((x) => x.runId !== r.body.runId);
      if (others.length) this.say(this.rooted(`earlier runs of ${args.id} in the journal, newest first: ${others.slice(0, 5).map((x) => `${x.runId} (${x.status})`).join(', ')}${others.length > 5 ? ', …' : ''}; bvisor report RUN_ID reads one`));
    }
    return r;
  }
}
