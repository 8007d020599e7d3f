// bvisor create — set everything up and leave the workload waiting before exec.
import { Args, Flags } from '@oclif/core';
import { isatty } from 'node:tty';
import { BaseCommand } from '../cli/base.js';
import { handoverFlags, handover, launchChoices } from '../cli/handover.js';
import { createContainer } from '../app/create.js';
import { callerPid } from '../cli/caller.js';

export default class Create extends BaseCommand<typeof Create> {
  static override summary = 'Create a container: plan, set up the boundary, leave the workload waiting before exec (status created)';
  static override args = { id: Args.string({ description: 'container id (letters, digits, _ + - .)', required: true }) };
  static override flags = {
    ...handoverFlags,
    bundle: Flags.string({ char: 'b', description: 'bundle directory, or .tar/.tar.gz', default: '.' }),
    'pid-file': Flags.string({ description: 'write the workload pid to this file' }),
    'no-denials': Flags.boolean({ description: 'do not observe seccomp denials (the filter denies the same calls; the report says they were not observed)', default: false }),
    'no-landlock-audit': Flags.boolean({ description: 'do not read landlock\'s denials from the kernel\'s audit records (where audit is on, an observed run adds a few lines to the host\'s audit log; landlock denies the same either way)', default: false }),
    'outputs-to': Flags.string({ description: 'promote the manifest\'s outputs to this host directory (replaces its outputs.to, which may only name a ./ place in the bundle)' }),
    'allow-hooks': Flags.boolean({ description: 'run the OCI config\'s hooks (prestart, createRuntime, poststart, poststop): they run as bvisor\'s own user (root), outside every boundary, so only for a bundle whose hooks the caller trusts (an engine that wrote them). Without it a config with hooks is refused', env: 'BVISOR_ALLOW_HOOKS', default: false }),
    'console-socket': Flags.string({ description: 'unix socket that receives the terminal\'s master (SCM_RIGHTS) when process.terminal is true (runc\'s contract)' }),
    // runc's: bvisor always pivot_roots and never makes a session keyring (keyctl is denied),
    // so both are what bvisor does anyway; accepted so engines can pass them.
    'no-pivot': Flags.boolean({ description: 'accepted for runc compatibility: bvisor always uses pivot_root', default: false }),
    'no-new-keyring': Flags.boolean({ description: 'accepted for runc compatibility: bvisor never creates a session keyring', default: false }),
  };

  async run(): Promise<{ id: string; pid: number | null; status: string }> {
    const { args } = await this.parse(Create);
    const s = await createContainer({ root: this.stateRoot, id: args.id, caller: callerPid(), bundle: this.flags.bundle, cgroupParent: this.cgroupParent, pidFile: this.flags['pid-file'] ?? null, consoleSocket: this.flags['console-socket'] ?? null, secretEnv: process.env, ...handover(this.flags), ...this.journal, ...launchChoices(this.flags), ...(this.flags['allow-hooks'] ? { allowHooks: true } : {}), ...(isatty(2) ? { progress: (line: string) => void process.stderr.write(line) } : {}) });
    this.logger.log('info', 'created', { id: args.id, pid: s.pid?.pid });
    return { id: s.id, pid: s.pid?.pid ?? null, status: s.status };
  }
}
