// What `bvisor run` does when it is told to stop (Ctrl-C, `kill`, timeout(1), a terminal that
// hangs up): it ends the run as the API's abort does (the workload's cgroup killed, the report
// sealed and journaled, the container deleted: nothing left half-made), then dies by the signal
// it got, so that the shell that sent it sees an interrupted command, not an exit status
// (https://www.cons.org/cracauer/sigint.html). A second SIGINT or SIGTERM while the run is being
// closed is not waited on: bvisor dies by it at once, and the journal's start record leaves the
// attempt to recovery (docs/journal.md#recovery), as after any crash. The same module keeps a
// failed write to stdout or stderr from crashing bvisor before the seal.
// And bvisor run does not stop (Ctrl-Z, SIGTSTP, SIGTTIN, SIGTTOU): a stopped supervisor enforces
// no deadline while its workload runs on (host/job-control.ts). Ctrl-Z is answered on stderr, and
// the workload's processes it stopped are continued; the terminal's other two are ignored, so a
// background run writes to a terminal whose tostop is set, as GNU timeout does. SIGSTOP cannot be
// refused: whoever sends it stops the deadline too.
// With `run --sig-proxy`, as runc run and podman run do, the signals a caller sends are the
// workload's instead: each is sent on (forward) while the workload lives, and the run ends when
// the workload does. Before it exists and once it has ended, a stop signal stops the run as above.

import { closeSync, constants as fsConstants, fstatSync, openSync, write as fsWrite, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { afterNextPoll, delay } from '../host/timers.js';
import { continueSharingWorkloads, holdJobStops } from '../host/job-control.js';
import { resumeHeld, saveModes } from '../host/terminal.js';
import { READER_GONE } from './base.js';

/** The signals a caller sends to stop a foreground command. SIGQUIT (the terminal's Ctrl-\\)
 * keeps its effect, at once and with a core dump as its sender asks, after the terminal is put
 * back (beforeDying). */
const STOP = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP)[number];
/* Only SIGINT and SIGTERM, sent again, mean "at once". A hang-up comes twice without anyone
 * asking twice (bash resends it to its jobs, then the kernel sends it to the old foreground
 * group; systemd's SendSIGHUP follows its SIGTERM): after the first stop signal it is ignored. */

export interface StopSignals {
  signal: AbortSignal;
  /** Stops listening (after hearing any signal already caught). At the process's exit: if a stop
   * signal came, bvisor dies by it; else if the reader went (EPIPE), exit 141; else if writing
   * the output failed, exit 125. */
  release(): Promise<void>;
  /** Writes to stdout or stderr with the write errors above handled (the streams are made, and
   * watched, on the first write: making them costs a command about 2 ms). */
  write(to: 'stdout' | 'stderr', data: string | Uint8Array): void;
  /** Watches both streams now: for output written by others (oclif's --json). */
  guard(): void;
}

/** All of `data` written to `fd` asynchronously, in order. A descriptor some other opener made
 * non-blocking answers EAGAIN while the terminal's output is stopped: tried again shortly. */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length; ) {
    try {
      at += await new Promise<number>((resolve, reject) => fsWrite(fd, data, at, data.length - at, null, (e, n) => (e ? reject(e) : resolve(n))));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      await delay(20, undefined);
    }
  }
}

/** Before bvisor dies by a signal (which skips the launcher's end and Node's own reset of its
 * stdio's modes at exit): the terminals a run under way holds resumed, and bvisor's own modes put
 * back as `modes` saved them. What failed is not said: bvisor is about to die, and its terminal is
 * what failed. */
function putBack(modes: ReturnType<typeof saveModes>): void {
  resumeHeld();
  modes?.();
}


/** What `run --sig-proxy` sends on besides the stop signals and SIGQUIT: the ones a program
 * handles to be told something (reload, rotate, dump). SIGCHLD and SIGURG are bvisor's own, as in
 * runc; SIGWINCH is the terminal's, which a workload given it sees by itself; the job-control
 * signals keep their handling above. */
const FORWARDED_ONLY = ['SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGPWR'] as const;
export type ForwardedSignal = StopSignal | 'SIGQUIT' | (typeof FORWARDED_ONLY)[number];

export interface StopOptions {
  /** Sends `sig` on to the workload (run --sig-proxy); false when there is none alive to take it
   * (not yet made, or ended), and a stop signal then stops the run. Called while no stop is under
   * way. */
  forward?: (sig: ForwardedSignal) => boolean;
}

export function stopOnSignals(o: StopOptions = {}): StopSignals {
  const forward = o.forward ?? null;
  const ac = new AbortController();
  let got: StopSignal | null = null;
  const ignore = (): void => {};
  const die = (sig: StopSignal): void => {
    for (const s of STOP) process.removeListener(s, on);
    process.removeListener('SIGHUP', ignore);
    beforeDying();
    process.kill(process.pid, sig);
  };
  const on = (sig: StopSignal): void => {
    if (got === null && forward?.(sig)) return;
    if (got !== null) {
      if (sig !== 'SIGHUP') die(sig);
      return;
    }
    got = sig;
    // Hang-ups from here on are ignored (the note after STOP says why): this listener stays, so
    // SIGHUP never gets its default back.
    process.on('SIGHUP', ignore);
    // A second SIGINT or SIGTERM is heard here (die, above), when the loop turns: staging and the
    // delta give it turns (host/steps.ts), the seal once it is written. Giving the signal its
    // default back instead would act at once, but a signal libuv has caught and not yet delivered
    // when its listener goes is dropped (Node 20), and a second Ctrl-C lost is worse than a late
    // one. SIGKILL is always at once.
    // The stop first, then the word: the abort kills the workload as it is dispatched, and a
    // write to a terminal can block (a workload given it may have stopped its output: tcflow).
    ac.abort(new Error(`bvisor received ${sig}`));
    say(`bvisor: received ${sig}: stopping the run (if its workload has started, it is killed and the report sealed); send SIGINT or SIGTERM again to stop at once\n`);
  };
  for (const s of STOP) process.on(s, on);
  // Sent on while the workload lives and no stop is under way; else ignored (their default would
  // end bvisor unsealed).
  const onOther = (sig: (typeof FORWARDED_ONLY)[number]): void => void (got === null && forward?.(sig));
  if (forward) for (const s of FORWARDED_ONLY) process.on(s, onOther);
  let toldTstp = false;
  const onTstp = (): void => {
    // With `stdin: inherit` the terminal's Ctrl-Z stopped the workload's own processes too: they
    // go on with bvisor (host/job-control.ts).
    try {
      continueSharingWorkloads();
    } catch (e) {
      say(`bvisor: the workload's processes stopped by SIGTSTP could not be continued: ${(e as Error).message}\n`);
    }
    if (toldTstp) return;
    toldTstp = true;
    say('bvisor: received SIGTSTP: bvisor run and its workload go on (stopped, bvisor would enforce no deadline while the workload runs); send SIGINT or SIGTERM to stop the run\n');
  };
  // Handled here, so the hold below leaves SIGTSTP to this listener. The hold is never released:
  // the command writes its last words (the denial summary) after release(), and a background run
  // writing them to a tostop terminal would stop there, its job shown stopped at its very end.
  process.on('SIGTSTP', onTstp);
  holdJobStops();
  // Writes to stdout and stderr fail as 'error' events, which with no listener crash bvisor
  // before the seal. EPIPE: the reader of what the run relays went away (`bvisor run … | head`);
  // a producer in a shell pipeline dies by SIGPIPE there (Node ignores that signal), and so does
  // this run, as an abort. EIO: a terminal that hung up, as SIGHUP says. Anything else (ENOSPC
  // under `--json > file`) means the output is not what it should be: the command fails.
  let gone = false;
  let failed: string | null = null;
  const onError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE') {
      if (!gone) ac.abort(new Error("the reader of bvisor run's output went away (EPIPE)"));
      gone = true;
    } else if (e.code !== 'EIO') failed ??= e.code ?? e.message;
  };
  let guarded = false;
  const guard = (): void => {
    if (guarded) return;
    guarded = true;
    for (const stream of [process.stdout, process.stderr]) stream.on('error', onError);
  };
  /** A line of bvisor's own on stderr. A terminal that hung up fails every later write with EIO
   * (the streams' listener takes it); what bvisor still says there must not throw either. */
  function say(text: string): void {
    try {
      write('stderr', text);
    } catch {
      // nowhere to say it
    }
  }
  // While the run is under way, bvisor's own writes to a terminal never block: a workload given
  // that terminal may stop its output (tcflow(TCOOFF), IXON off), and a write blocked there would
  // hold the event loop, and with it the wall deadline, the stop signals and the run's end. Each
  // is tried at once through a non-blocking descriptor of its own (a new open file description:
  // the caller's stays as it is); what the terminal does not take then goes, in order, through one
  // queue of asynchronous writes (libuv's threads). The launcher resumes the terminal once the
  // workload is gone (host/terminal.ts); release() waits for the queue first. (isatty, not the
  // stream's isTTY: that getter makes the stream.)
  const terminal = { stdout: isatty(1), stderr: isatty(2) };
  const now: { stdout: number | null; stderr: number | null } = { stdout: null, stderr: null };
  for (const to of ['stdout', 'stderr'] as const) {
    if (!terminal[to]) continue;
    try {
      const n = to === 'stdout' ? 1 : 2;
      const fd = openSync(`/proc/self/fd/${n}`, fsConstants.O_WRONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
      // The same terminal, or not at all: reopening a pty's master (/dev/ptmx) makes a new pty.
      if (fstatSync(fd).rdev === fstatSync(n).rdev) now[to] = fd;
      else closeSync(fd);
    } catch {
      // Only the queue, then: it never blocks the loop either.
    }
  }
  let queue: Promise<void> = Promise.resolve();
  let queued = 0;
  let underWay = true;
  function write(to: 'stdout' | 'stderr', data: string | Uint8Array): void {
    guard();
    if (!(underWay && terminal[to]) && queued === 0) return void (to === 'stdout' ? process.stdout : process.stderr).write(data);
    let rest = typeof data === 'string' ? Buffer.from(data) : data;
    const fd = now[to];
    if (queued === 0 && underWay && fd !== null) {
      try {
        while (rest.length) rest = rest.subarray(writeSync(fd, rest));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return void onError(e as NodeJS.ErrnoException);
      }
      if (rest.length === 0) return;
    }
    const left = rest;
    queued++;
    queue = queue.then(() => writeAll(to === 'stdout' ? 1 : 2, left).catch(onError)).finally(() => void queued--);
  }
  // bvisor's own terminal modes as it found them, put back before it dies by a signal (putBack).
  const modes = saveModes([0, 1, 2]);
  const beforeDying = (): void => putBack(modes);
  const onQuit = (): void => {
    if (got === null && forward?.('SIGQUIT')) return;
    // Its default back (libuv restores it with the last listener), then the same signal again.
    process.removeListener('SIGQUIT', onQuit);
    beforeDying();
    process.kill(process.pid, 'SIGQUIT');
  };
  if (modes || forward) process.on('SIGQUIT', onQuit);
  return {
    signal: ac.signal,
    write,
    guard,
    release: async () => {
      underWay = false;
      await queue;
      for (const fd of [now.stdout, now.stderr]) if (fd !== null) closeSync(fd);
      // A signal caught while the run's end was busy (synchronous work: the loop did not turn) is
      // waiting in the loop's queue: hear it before the listeners go, or it is dropped with them.
      await afterNextPoll();
      for (const s of STOP) process.removeListener(s, on);
      process.removeListener('SIGTSTP', onTstp);
      process.removeListener('SIGQUIT', onQuit);
      // onOther stays to the end: a SIGUSR2, SIGALRM or SIGPWR meant for the workload that comes
      // while bvisor writes its last words is ignored then (their default would end bvisor, 128+N
      // instead of the workload's status).
      // At the very end, after the output is written (stdout and stderr to pipes and files are
      // synchronous here): the status a shell reads.
      process.once('exit', () => {
        if (got === 'SIGHUP') process.removeListener('SIGHUP', ignore);
        if (got !== null) {
          beforeDying();
          return void process.kill(process.pid, got);
        }
        if (gone) process.exitCode = READER_GONE;
        else if (failed !== null) {
          process.exitCode = 125;
          try {
            process.stderr.write(`bvisor: error BV_IO: writing the command's output failed (${failed}); the run's report is in the journal (bvisor report)\n`);
          } catch {
            // stderr is what failed
          }
        }
      });
    },
  };
}

export interface DieWithProcess {
  /** The process is running: what kills it (SIGKILL), now if a stop signal came already; and,
   * with sigProxy, what sends it a signal (false once it has ended). */
  started(kill: () => void, signal?: (sig: ForwardedSignal) => boolean): void;
  /** Stops listening, once a signal caught meanwhile has been heard. If a stop signal came,
   * bvisor dies by it now (its process has ended, or never started). */
  release(): Promise<void>;
}

/**
 * bvisor exec, attached: its process dies with bvisor (docs/lifecycle.md). A stop signal (SIGINT,
 * SIGTERM, SIGHUP) SIGKILLs the process first, and bvisor dies by the signal at release(), once the
 * process has ended and the terminals it was given are resumed (backends/linux/exec.ts). A second
 * SIGINT or SIGTERM, or SIGQUIT (whose core dump is kept), does not wait for that end: the held
 * terminals are resumed now. Either way bvisor's own terminal modes are put back first: dying by
 * a signal skips Node's reset at exit. Listening starts before the process is made: it may stop
 * the terminal before bvisor exec has returned from starting it.
 */
export function dieWithProcess(o: { sigProxy?: boolean } = {}): DieWithProcess {
  let got: StopSignal | null = null;
  let kill: (() => void) | null = null;
  // exec --sig-proxy, as runc exec: the signals are the process's while it runs (sent on, and
  // bvisor waits for its end); before it runs and once it has ended, as without it.
  let send: ((sig: ForwardedSignal) => boolean) | null = null;
  const onOther = (sig: (typeof FORWARDED_ONLY)[number]): void => void (got === null && send?.(sig));
  const modes = saveModes([0, 1, 2]);
  const stopListening = (): void => {
    for (const s of STOP) process.removeListener(s, on);
    process.removeListener('SIGQUIT', now);
    for (const s of FORWARDED_ONLY) process.removeListener(s, onOther);
  };
  const dieBy = (sig: NodeJS.Signals): void => {
    stopListening();
    putBack(modes);
    process.kill(process.pid, sig);
  };
  function now(sig: NodeJS.Signals): void {
    if (sig === 'SIGQUIT' && got === null && send?.(sig)) return;
    kill?.();
    dieBy(sig);
  }
  function on(sig: StopSignal): void {
    if (got === null && send?.(sig)) return;
    if (got === null) {
      got = sig;
      kill?.();
    } else if (sig !== 'SIGHUP') now(sig); // a hang-up comes twice unasked (STOP's note)
  }
  for (const s of STOP) process.on(s, on);
  process.on('SIGQUIT', now);
  if (o.sigProxy) for (const s of FORWARDED_ONLY) process.on(s, onOther);
  return {
    started(k: () => void, signal?: (sig: ForwardedSignal) => boolean): void {
      kill = k;
      if (o.sigProxy && signal) send = signal;
      if (got !== null) k();
    },
    async release(): Promise<void> {
      // A signal libuv caught and has not yet handed to its listener is dropped with the listener
      // (stopOnSignals' release says the same): heard first.
      await afterNextPoll();
      if (got !== null) dieBy(got);
      else stopListening();
    },
  };
}
