// bvisor resume — thaw a paused container.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { setPaused } from '../app/oci.js';

export default class Resume extends BaseCommand<typeof Resume> {
  static override summary = 'Resume a paused container';
  static override args = { id: Args.string({ description: 'container id', required: true }) };

  async run(): Promise<{ id: string; paused: boolean }> {
    const { args } = await this.parse(Resume);
    setPaused(this.stateRoot, args.id, false);
    return { id: args.id, paused: false };
  }
}
