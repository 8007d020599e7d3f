// bvisor delete — remove a stopped (or created) container; -f kills it first. Seals and
// journals its report if no one has yet.
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { deleteContainer } from '../app/lifecycle.js';

export default class Delete extends BaseCommand<typeof Delete> {
  static override summary = 'Delete a container: its cgroups, fifo and state; seal and journal its report';
  static override args = { id: Args.string({ description: 'container id', required: true }) };
  static override flags = { force: Flags.boolean({ char: 'f', description: 'kill it first if it is still running', default: false }) };

  async run(): Promise<{ id: string; reportHash: string | null }> {
    const { args } = await this.parse(Delete);
    const r = await deleteContainer(this.stateRoot, args.id, this.flags.force, this.journal);
    return { id: args.id, reportHash: r.report?.bodyHash ?? null };
  }
}
