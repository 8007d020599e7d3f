// bvisor report — the sealed report of a stopped container.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { reportOf } from '../app/lifecycle.js';
import type { SealedReport } from '../contract/generated/types.js';

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Print the sealed report of a stopped container';
  static override args = { id: Args.string({ required: true }) };

  async run(): Promise<SealedReport> {
    const { args } = await this.parse(Report);
    const r = reportOf(this.stateRoot, args.id, this.journal);
    const o = r.body.outcome;
    this.say(`${args.id}: ${o.status}${o.exitCode !== null ? ` (exit ${o.exitCode})` : ''}${o.signal ? ` (${o.signal})` : ''}; sealed ${r.bodyHash}`);
    return r;
  }
}
