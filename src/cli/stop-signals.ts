// What `bvisor run` does when it is told to stop (Ctrl-C, `kill`, timeout(1), a terminal that
// hangs up): it ends the run as the API's abort does (the workload's cgroup killed, the report
// sealed and journaled, the container deleted: nothing left half-made), then dies by the signal
// it got, so that the shell that sent it sees an interrupted command, not an exit status
// (https://www.cons.org/cracauer/sigint.html). A second such signal while the run is being
// closed is not waited on: bvisor dies by it at once, and the journal's start record leaves the
// attempt to recovery (docs/journal.md#recovery), as after any crash.

/** The signals a caller sends to stop a foreground command. SIGQUIT keeps its default (a core
 * dump is what its sender asks for). */
const STOP = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP)[number];

export interface StopSignals {
  signal: AbortSignal;
  /** Stops listening; if a stop signal came, bvisor dies by it once the process ends. */
  release(): void;
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
    // A terminal that hung up (SIGHUP) fails every later write with EIO: what bvisor still has
    // to print must not throw it off sealing the report (an 'error' on a stream with no listener
    // is an uncaught exception).
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    try {
      say(`bvisor: received ${sig}: stopping the run (its workload is killed and its report sealed); send it again to stop at once`);
    } catch {
      // nowhere to say it
    }
    ac.abort(new Error(`bvisor received ${sig}`));
  };
  for (const s of STOP) process.on(s, on);
  return {
    signal: ac.signal,
    release: () => {
      for (const s of STOP) process.removeListener(s, on);
      // After the output is written (stdout and stderr to pipes and files are synchronous here),
      // with the default action back: the exit a shell reads is the signal's.
      const sig = got;
      if (sig !== null) process.once('exit', () => process.kill(process.pid, sig));
    },
  };
}
