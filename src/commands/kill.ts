// bvisor kill — signal a created or running container (pidfd: a recycled pid is never hit).
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { killContainer } from '../app/lifecycle.js';

export default class Kill extends BaseCommand<typeof Kill> {
  static override summary = 'Send a signal to a container (default SIGTERM; note a pid-namespace init ignores signals it has no handler for, as in runc)';
  static override args = { id: Args.string({ description: 'container id', required: true }), signal: Args.string({ description: 'name (TERM, SIGKILL) or number', default: 'TERM' }) };
  static override flags = { all: Flags.boolean({ char: 'a', description: 'signal every process in the container', default: false }) };

  async run(): Promise<{ id: string; signal: string }> {
    const { args } = await this.parse(Kill);
    killContainer(this.stateRoot, args.id, args.signal, this.flags.all);
    return { id: args.id, signal: args.signal };
  }
}
