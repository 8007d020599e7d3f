// bvisor ps — the processes of a container (its cgroups' members), as runc ps lists them.
import { Args, Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { BaseCommand } from '../cli/base.js';
import { containerPids } from '../app/oci.js';

export default class Ps extends BaseCommand<typeof Ps> {
  static override summary = 'List the processes of a container (host pids; --format json prints the pid array engines read)';
  static override args = { id: Args.string({ description: 'container id', required: true }) };
  static override flags = { format: Flags.string({ char: 'f', description: 'table or json', options: ['table', 'json'], default: 'table' }) };

  async run(): Promise<number[]> {
    const { args } = await this.parse(Ps);
    const pids = containerPids(this.stateRoot, args.id);
    if (this.flags.format === 'json') this.say(JSON.stringify(pids));
    else {
      const cmd = (pid: number): string => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        } catch {
          return '';
        }
      };
      this.say(['PID CMD', ...pids.map((p) => `${p} ${cmd(p)}`)].join('\n'));
    }
    return pids;
  }
}
