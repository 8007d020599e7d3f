// bvisor state — the OCI state of a container (always JSON, as runc prints it).
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { stateOf } from '../app/lifecycle.js';
import type { OciState } from '../contract/generated/types.js';

export default class State extends BaseCommand<typeof State> {
  static override summary = 'Print the OCI state of a container (derived from the processes, not just the state file)';
  static override args = { id: Args.string({ description: 'container id', required: true }) };

  async run(): Promise<OciState> {
    const { args } = await this.parse(State);
    const st = stateOf(this.stateRoot, args.id, this.journal);
    this.say(JSON.stringify(st, null, 2));
    return st;
  }
}
