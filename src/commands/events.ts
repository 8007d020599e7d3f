// bvisor events — cgroup statistics of a container, as runc events prints them: once with
// --stats, else one JSON line every --interval until the container stops.
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { containerStats, containerLive, type OciStats } from '../app/oci.js';
import { parseDuration } from '../core/units.js';
import { BvisorError } from '../contract/errors.js';

export default class Events extends BaseCommand<typeof Events> {
  static override summary = 'Print container statistics (cpu, memory, pids) from its cgroups: once with --stats, else every --interval until it stops';
  static override args = { id: Args.string({ description: 'container id', required: true }) };
  static override flags = {
    stats: Flags.boolean({ description: 'print the statistics once and exit', default: false }),
    interval: Flags.string({ description: 'how often to print (a duration: 5s, 500ms)', default: '5s' }),
  };

  async run(): Promise<OciStats | null> {
    const { args } = await this.parse(Events);
    const first = containerStats(this.stateRoot, args.id);
    if (this.flags.stats) {
      this.say(JSON.stringify(first));
      return first;
    }
    const ms = parseDuration(this.flags.interval);
    if (ms === null || ms < 10) throw new BvisorError('BV_USAGE', `--interval ${this.flags.interval} is not a duration of at least 10ms`, { hint: 'e.g. --interval 5s' });
    process.stdout.write(JSON.stringify(first) + '\n');
    while (containerLive(this.stateRoot, args.id)) {
      await new Promise((r) => setTimeout(r, ms));
      if (!containerLive(this.stateRoot, args.id)) break;
      process.stdout.write(JSON.stringify(containerStats(this.stateRoot, args.id)) + '\n');
    }
    return null;
  }
}
