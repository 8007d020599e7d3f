// bvisor exec — run a new process in a running container (runc's exec): `exec --process FILE ID`
// (an OCI process JSON, as podman and containerd send it) or `exec [flags] ID ARGS...`. Without
// --detach it waits and exits with the process's status (128+N for signal N; 125 when bvisor
// itself failed and nothing ran); with --detach it writes --pid-file and returns at once.
// As with runc, everything after the container id is the process's own argv (flags included).
import { Args, Flags } from '@oclif/core';
import { constants as osConstants } from 'node:os';
import { BaseCommand } from '../cli/base.js';
import { BvisorError } from '../contract/errors.js';
import { execContainer } from '../app/exec.js';
import { dieWithProcess, type DieWithProcess } from '../cli/stop-signals.js';
import { splitExecArgv } from '../cli/argv.js';

export default class Exec extends BaseCommand<typeof Exec> {
  static override summary = 'Run a new process in a running container, under the same boundary as its init or a narrower one';
  static override failureExit = 125;
  static override strict = false;
  static override args = { id: Args.string({ description: 'container id; the program and its arguments follow it (ID ARGS…), unless --process names them', required: true }) };
  static override usage = ['exec [FLAGS] ID ARGS…', 'exec [FLAGS] --process FILE ID'];
  static override flags = {
    process: Flags.string({ char: 'p', description: 'an OCI process JSON file (args, env, cwd, user, capabilities, terminal, rlimits…); ARGS are then not taken' }),
    detach: Flags.boolean({ char: 'd', description: 'do not wait: write --pid-file and return once the process runs', default: false }),
    tty: Flags.boolean({ char: 't', description: 'a terminal (pty from the container\'s devpts); needs --console-socket', default: false }),
    'console-socket': Flags.string({ description: 'unix socket that receives the terminal\'s master (SCM_RIGHTS)' }),
    'pid-file': Flags.string({ description: 'write the process\'s pid to this file' }),
    // runc exec sends its caller's signals on; bvisor exec stops (SIGKILLs) the process by default.
    'sig-proxy': Flags.boolean({ description: 'send the signals bvisor exec gets (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPWR) on to the process while it runs, as runc exec does, instead of killing it: bvisor exec then exits with its status when it ends (143 for a SIGTERM it did not handle)', default: false, exclusive: ['detach'] }),
    cwd: Flags.string({ description: 'working directory inside the container (default: the container\'s)' }),
    env: Flags.string({ char: 'e', description: 'NAME=value over the container\'s environment; repeatable', multiple: true, multipleNonGreedy: true }),
    user: Flags.string({ char: 'u', description: 'UID[:GID] inside the container: its own id (0:0, or its config\'s process.user), or with a block of ids (its config\'s maps) any of them; GID defaults to its gid' }),
    cap: Flags.string({ char: 'c', description: 'a capability to keep, if the container\'s init has it (never more); repeatable', multiple: true, multipleNonGreedy: true }),
  };

  private command: string[] = [];

  public override async init(): Promise<void> {
    const { head, command } = splitExecArgv(this.argv);
    this.argv = head;
    this.command = command;
    await super.init();
  }

  async run(): Promise<{ id: string; pid: number; status: number | null; narrowed: string[] }> {
    const { args } = await this.parse(Exec, this.argv);
    if (this.flags.process && this.command.length) throw new BvisorError('BV_USAGE', 'exec takes --process FILE or ARGS, not both', { hint: 'put the program in the process JSON\'s args, or leave --process out' });
    // Attached, a stop signal ends the process and then bvisor (cli/stop-signals.ts); with
    // --sig-proxy the signals are the process's while it runs.
    const dying = this.flags.detach ? null : dieWithProcess({ sigProxy: this.flags['sig-proxy'] });
    try {
      return await this.execIn(args.id, dying);
    } finally {
      await dying?.release();
    }
  }

  private async execIn(id: string, dying: DieWithProcess | null): Promise<{ id: string; pid: number; status: number | null; narrowed: string[] }> {
    const started = await execContainer({
      root: this.stateRoot,
      id,
      processFile: this.flags.process ?? null,
      args: this.command,
      env: this.flags.env ?? [],
      cwd: this.flags.cwd ?? null,
      user: this.flags.user ?? null,
      tty: this.flags.tty,
      caps: this.flags.cap ?? [],
      consoleSocket: this.flags['console-socket'] ?? null,
      pidFile: this.flags['pid-file'] ?? null,
      detach: this.flags.detach,
      secretEnv: process.env,
    });
    // What the request asked beyond the container's init, and did not get: in the log (runc's
    // --log, which engines keep), and in --json; never on the process's own stderr.
    for (const n of started.narrowed) this.logger.log('warn', `exec narrowed: ${n}`, { id });
    this.logger.log('info', 'exec', { id, pid: started.pid, detach: this.flags.detach });
    dying?.started(started.kill, (sig) => started.signal(osConstants.signals[sig]));
    const status = started.exit ? (await started.exit).status : null;
    if (status !== null) process.exitCode = status;
    return { id, pid: started.pid, status, narrowed: started.narrowed };
  }
}
