// bvisor run — create, start, wait, seal, journal and delete in one go. Exits with the
// workload's status (128+N for signal N, 124 on a wall timeout); 125 when bvisor itself failed
// and the workload never ran (the error names why). SIGINT, SIGTERM or SIGHUP ends the run, then
// bvisor by that signal (cli/stop-signals.ts); with --sig-proxy they are the workload's, as in runc.
import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { isatty } from 'node:tty';
import { BaseCommand } from '../cli/base.js';
import { handoverFlags, handover, launchChoices } from '../cli/handover.js';
import { runBundle } from '../app/run.js';
import { createContainer } from '../app/create.js';
import { callerPid } from '../cli/caller.js';
import { deleteContainer, startContainer } from '../app/lifecycle.js';
import { signalRelay, type SignalRelay } from '../app/sig-proxy.js';
import { removePidFile } from '../app/pid-file.js';
import { afterNextPoll } from '../host/timers.js';
import type { SealedReport } from '../contract/generated/types.js';
import { formatSize } from '../core/units.js';
import { denialSummary, runFailed, summaryWorthSaying } from '../core/denials.js';
import { stoppedByCaller } from '../core/sent-signals.js';
import { LISTS_NOT_KEPT } from '../app/fsdelta.js';
import { stopOnSignals, type ForwardedSignal, type StopSignals } from '../cli/stop-signals.js';
import { outcomeErrorLine } from '../cli/render.js';

export default class Run extends BaseCommand<typeof Run> {
  static override summary = 'Run a bundle to completion under its boundary; exit with its status';
  static override description = "--json prints the sealed report on stdout, after whatever the workload writes there when its stdout is inherited (stdio.stdout: inherit, an OCI process): capture its stdout (stdio.stdout: capture; --json relays what it captures to stderr) for a report that parses alone, or read it after with bvisor report ID --json.";
  static override failureExit = 125;
  static override ownsOutputErrors = true;
  static override args = { id: Args.string({ description: 'container id (letters, digits, _ + - .)', required: true }) };
  static override flags = {
    ...handoverFlags,
    bundle: Flags.string({ char: 'b', description: 'bundle directory, or .tar/.tar.gz', default: '.' }),
    explain: Flags.boolean({ description: 'observe every path lookup and connect, and explain the filesystem and network denials they show, after the run whatever its end (slower: each such call waits for bvisor)', default: false }),
    'no-denials': Flags.boolean({ description: 'do not observe seccomp denials (the filter denies the same calls; the report says they were not observed)', default: false }),
    'outputs-to': Flags.string({ description: 'promote the manifest\'s outputs to this host directory (replaces its outputs.to, which may only name a ./ place in the bundle)' }),
    'no-landlock-audit': Flags.boolean({ description: 'do not read landlock\'s denials from the kernel\'s audit records (where audit is on, an observed run adds a few lines to the host\'s audit log; landlock denies the same either way)', default: false }),
    // A new-user pass: the note on what was not watched (audit off) after every failed run.
    quiet: Flags.boolean({ char: 'q', description: 'after the run, print no summary of what the boundary denied and no note on what was not watched (the report keeps both; errors still print)', default: false, exclusive: ['explain'] }),
    'pid-file': Flags.string({ description: 'write the workload\'s pid to this file before it is released (a wasm bundle: its runner\'s)' }),
    // runc run --keep: the entry outlives the run, for state, report and delete.
    keep: Flags.boolean({ description: 'keep the container after it ends, stopped, with its sealed report: bvisor state, list and report read it, and bvisor delete removes it (as runc run --keep); the id stays taken until then. run -d keeps its container anyway', default: false }),
    // runc run and podman run send their caller's signals on; bvisor run stops the run by default.
    'sig-proxy': Flags.boolean({ description: 'send the signals bvisor run gets (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPWR) on to the workload while it runs, as runc run does, instead of stopping the run: the run ends when the workload does, with its status, and the report credits the signal it died by (killed, reason kill). A process that is its pid namespace\'s init ignores signals it has no handler for: bvisor kill ID KILL ends it. With stdin: inherit the workload then has a session of its own (no controlling terminal), so each signal reaches it once. Not for a wasm bundle (WASI has no signals)', default: false, exclusive: ['detach'] }),
    // runc run -d: create and start, then return; the report is sealed at delete, as create's.
    detach: Flags.boolean({ char: 'd', description: 'create and start the container, then return (exit 0, its pid in --json): it runs on under its monitor; bvisor state, kill and delete it by id, and its report is sealed at delete. A workload whose stdout is inherited (stdio.stdout: inherit, an OCI process) keeps the caller\'s: $(bvisor run -d …) then waits for it to end, and --json follows what it writes there; give it stdio.stdout: capture or null', default: false, exclusive: ['explain'] }),
  };

  async run(): Promise<SealedReport | { id: string; pid: number | null; status: string }> {
    const { args } = await this.parse(Run);
    if (this.flags.detach) return this.detached(args.id);
    const json = this.jsonEnabled();
    const relay = this.flags['sig-proxy'] ? signalRelay((line) => stop.write('stderr', line)) : null;
    const stop: StopSignals = stopOnSignals(relay ? { forward: (sig) => this.sendOn(args.id, sig, relay, stop) } : {});
    const out = await runBundle(this.flags.bundle, {
      signal: stop.signal,
      id: args.id,
      root: this.stateRoot,
      cgroupParent: this.cgroupParent,
      secretEnv: process.env,
      ...handover(this.flags),
      journalKey: this.journal.key,
      ...launchChoices(this.flags),
      ...(this.flags.explain ? { explain: true } : {}),
      ...(this.flags['pid-file'] !== undefined ? { pidFile: resolve(this.flags['pid-file']) } : {}),
      ...(this.flags.keep ? { keep: true } : {}),
      ...(relay ? { signalsForwarded: relay } : {}),
      // bvisor's own long work, said to a person (a terminal), never into a script's stderr. (isatty,
      // not process.stderr.isTTY: that getter makes the stream, about 2 ms.)
      ...(isatty(2) ? { progress: (line: string) => stop.write('stderr', line) } : {}),
      // Captured streams are relayed as they arrive: when stdout carries the JSON report, both to
      // stderr (so the report parses alone, and what the workload wrote is still seen; else it
      // would be counted and hashed, and shown nowhere). Both stop at limits.output, and the cut
      // is said on stderr (the report counts the rest).
      relay: {
        stdout: (b: Buffer) => stop.write(json ? 'stderr' : 'stdout', b),
        stderr: (b: Buffer) => stop.write('stderr', b),
        truncated: (stream: string, cap: number) => stop.write('stderr', `\nbvisor: ${stream} reached limits.output (${formatSize(cap)}): the rest is counted in the report, not shown\n`),
      },
    }).finally(stop.release);
    this.logger.log('info', 'run finished', { id: args.id, outcome: out.report.body.outcome.status, bodyHash: out.report.bodyHash });
    // (Unless the reader went, or the output could not be written: stop.release() says then.)
    process.exitCode = out.exitStatus;
    // After a failed workload (after any with --explain), what the boundary denied
    // (docs/denials.md#the-summary); --json carries the same in the report.
    const body = out.report.body;
    // The report was kept without a grant's lists (a full state root): said where a user looks.
    for (const g of body.fsDelta ?? []) if (g.notObserved?.startsWith(LISTS_NOT_KEPT)) stop.write('stderr', `bvisor: warning: ${g.clause} (${g.path}): ${g.notObserved}\n`);
    // bvisor's own failure after the launch (exit 125): said, as a thrown error would be.
    const failed = json ? null : outcomeErrorLine(body.outcome, args.id, (e) => this.aimed(e));
    if (failed) stop.write('stderr', failed + '\n');
    // A run its caller stopped (abort, bvisor kill, delete -f) did not fail: what it was denied
    // on the way says nothing. --explain asked for the explanation whatever the end: a workload
    // that exits 0 after handling an ENOENT is what it is for too, and "no denial" is an answer.
    const wanted = this.flags.explain || (!this.flags.quiet && !stoppedByCaller(body.outcome) && runFailed(body, out.exitStatus) && summaryWorthSaying(body));
    const summary = !json && wanted ? denialSummary(body, { id: args.id }) : [];
    if (summary.length) stop.write('stderr', summary.map((l) => (l.startsWith('  … and') ? this.rooted(l) : l)).join('\n') + '\n');
    if (json) stop.guard(); // the report is printed after this returns
    return out.report;
  }

  private toldSendingOn = false;

  /** --sig-proxy: `sig` for the run's workload (app/sig-proxy.ts); false when it has none released
   * and alive (still being set up, or ended): a stop signal then stops the run. Said once, to a
   * person, that the run now waits for the workload. */
  private sendOn(id: string, sig: ForwardedSignal, relay: SignalRelay, stop: StopSignals): boolean {
    if (!relay.take(sig)) return false;
    if (!this.toldSendingOn && isatty(2)) stop.write('stderr', `bvisor: ${sig} sent on to the workload (--sig-proxy); the run ends when it does. A pid namespace's init ignores signals it has no handler for: bvisor kill ${id} KILL ends it\n`);
    this.toldSendingOn = true;
    return true;
  }

  /** run -d: create, then start. A start that fails, or a stop signal (Ctrl-C, timeout(1)) while
   * either is under way, leaves nothing behind: the container is deleted (-f), its pid file
   * removed, and bvisor then dies by the signal, as `run` does; the caller is never told of a
   * container that is not there, nor left one it was told failed. */
  private async detached(id: string): Promise<{ id: string; pid: number | null; status: string }> {
    const root = this.stateRoot;
    const pidFile = this.flags['pid-file'] !== undefined ? resolve(this.flags['pid-file']) : null;
    const stop = stopOnSignals();
    try {
      const s = await createContainer({ root, id, caller: callerPid(), bundle: this.flags.bundle, cgroupParent: this.cgroupParent, pidFile, consoleSocket: null, secretEnv: process.env, ...handover(this.flags), ...this.journal, ...launchChoices(this.flags), ...(isatty(2) ? { progress: (line: string) => void process.stderr.write(line) } : {}) });
      // What could not be undone is said (the error that led here is the one thrown).
      const undo = async (): Promise<void> => {
        await deleteContainer(root, id, true, this.journal).catch((u: unknown) => stop.write('stderr', `bvisor: ${this.rooted(`container ${id} could not be removed after run -d stopped: ${(u as Error).message}; bvisor delete -f ${id} removes it`)}\n`));
        removePidFile(pidFile);
      };
      // A signal caught while the loop did not turn (create's and start's synchronous stretches)
      // waits in its queue: heard before each check.
      const stopped = async (): Promise<boolean> => {
        await afterNextPoll();
        return stop.signal.aborted;
      };
      try {
        const started = (await stopped()) ? null : await startContainer(root, id, this.journal);
        // Stopped on the way: undone; release() below then ends bvisor by the signal.
        if (started === null || (await stopped())) {
          await undo();
          return { id, pid: null, status: 'stopped' };
        }
        this.logger.log('info', 'started', { id, pid: started.pid?.pid });
        return { id, pid: started.pid?.pid ?? s.pid?.pid ?? null, status: started.status };
      } catch (e) {
        await undo();
        throw e;
      }
    } finally {
      await stop.release();
    }
  }
}
