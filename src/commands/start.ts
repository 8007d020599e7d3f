// bvisor start — release a created container's workload.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { startContainer } from '../app/lifecycle.js';

export default class Start extends BaseCommand<typeof Start> {
  static override summary = 'Start a created container (its workload execs); status running';
  static override args = { id: Args.string({ description: 'container id', required: true }) };

  async run(): Promise<{ id: string; status: string }> {
    const { args } = await this.parse(Start);
    const s = await startContainer(this.stateRoot, args.id, this.journal);
    return { id: s.id, status: s.status };
  }
}
