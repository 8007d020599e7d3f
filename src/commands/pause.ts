// bvisor pause — freeze every process of a container (cgroup v2 cgroup.freeze); state shows paused.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { setPaused } from '../app/oci.js';

export default class Pause extends BaseCommand<typeof Pause> {
  static override summary = 'Pause a container: freeze all its processes (cgroup v2 freezer)';
  static override args = { id: Args.string({ description: 'container id', required: true }) };

  async run(): Promise<{ id: string; paused: boolean }> {
    const { args } = await this.parse(Pause);
    setPaused(this.stateRoot, args.id, true);
    return { id: args.id, paused: true };
  }
}
