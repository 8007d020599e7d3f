// bvisor update — new memory, pids or cpu limits for a live container (runc update --resources).
import { Args, Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { BaseCommand } from '../cli/base.js';
import { updateResources } from '../app/oci.js';
import { BvisorError } from '../contract/errors.js';

export default class Update extends BaseCommand<typeof Update> {
  static override summary = 'Update the cgroup limits of a running container from an OCI LinuxResources JSON file (- for stdin)';
  static override args = { id: Args.string({ description: 'container id', required: true }) };
  static override flags = { resources: Flags.string({ char: 'r', description: 'LinuxResources JSON file (memory.limit, pids.limit, cpu.quota/period), - for stdin', required: true }) };

  async run(): Promise<{ id: string; written: string[]; ignored: string[] }> {
    const { args } = await this.parse(Update);
    const file = this.flags.resources;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
    } catch (e) {
      throw new BvisorError('BV_USAGE', `--resources ${file}: ${(e as Error).message}`, { hint: 'a JSON object such as {"memory":{"limit":268435456}}' });
    }
    const { written, ignored } = updateResources(this.stateRoot, args.id, parsed);
    // What the runtime spec has and bvisor does not apply: in the log (runc's --log, which
    // engines keep) and in --json, never silently.
    for (const f of ignored) this.logger.log('warn', `update ignored: ${f} (bvisor does not apply it)`, { id: args.id });
    return { id: args.id, written, ignored };
  }
}
