// What `bvisor run` does when it is told to stop (Ctrl-C, `kill`, timeout(1), a terminal that
// hangs up): it ends the run as the API's abort does (the workload's cgroup killed, the report
// sealed and journaled, the container deleted: nothing left half-made), then dies by the signal
// it got, so that the shell that sent it sees an interrupted command, not an exit status
// (https://www.cons.org/cracauer/sigint.html). A second such signal while the run is being
// closed is not waited on: bvisor dies by it at once, and the journal's start record leaves the
// attempt to recovery (docs/journal.md#recovery), as after any crash.

import { afterNextPoll } from '../host/timers.js';

/** The signals a caller sends to stop a foreground command. SIGQUIT keeps its default (a core
 * dump is what its sender asks for). */
const STOP = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP)[number];

export interface StopSignals {
  signal: AbortSignal;
  /** Stops listening (after hearing any signal already caught); if a stop signal came, bvisor
   * dies by it once the process ends. */
  release(): Promise<void>;
  /** Whether the run was stopped because its reader went (EPIPE on stdout or stderr). */
  readerGone(): boolean;
}

export function stopOnSignals(say: (line: string) => void): StopSignals {
  const ac = new AbortController();
  let got: StopSignal | null = null;
  const die = (sig: StopSignal): void => {
    for (const s of STOP) process.removeListener(s, on);
    process.kill(process.pid, sig);
  };
  const on = (sig: StopSignal): void => {
    if (got !== null) return die(sig);
    got = sig;
    // The next one is the kernel's to act on (its default: death), not this loop's: the rest of
    // the run may be busy for a while (hashing staged outputs) and could not hear it. After this
    // turn of the loop, so that one already caught with this one is still heard (die, above).
    setImmediate(() => {
      for (const s of STOP) process.removeListener(s, on);
    });
    // A terminal that hung up (SIGHUP) fails every later write with EIO; the streams' error
    // listener below ignores it, and what bvisor still prints must not throw either.
    try {
      say(`bvisor: received ${sig}: stopping the run (its workload is killed and its report sealed); send it again to stop at once`);
    } catch {
      // nowhere to say it
    }
    ac.abort(new Error(`bvisor received ${sig}`));
  };
  for (const s of STOP) process.on(s, on);
  // The reader of what the run relays went away (`bvisor run … | head`): a producer in a shell
  // pipeline dies by SIGPIPE there, and so does this run, as an abort (sealed, deleted). Node
  // ignores SIGPIPE for itself and reports EPIPE as an 'error', which with no listener would
  // crash bvisor before the seal. Any other write error is ignored the same way: the report, not
  // the relay, is the run's record.
  let gone = false;
  const onError = (e: NodeJS.ErrnoException): void => {
    if (e.code !== 'EPIPE' || gone) return;
    gone = true;
    ac.abort(new Error('the reader of bvisor run\'s output went away (EPIPE)'));
  };
  for (const stream of [process.stdout, process.stderr]) stream.on('error', onError);
  return {
    signal: ac.signal,
    readerGone: () => gone,
    release: async () => {
      // A signal caught while the run's end was busy (synchronous work: the loop did not turn) is
      // waiting in the loop's queue: hear it before the listeners go, or it is dropped with them.
      await afterNextPoll();
      for (const s of STOP) process.removeListener(s, on);
      // After the output is written (stdout and stderr to pipes and files are synchronous here),
      // with the default action back: the exit a shell reads is the signal's.
      const sig = got;
      if (sig !== null) process.once('exit', () => process.kill(process.pid, sig));
    },
  };
}
