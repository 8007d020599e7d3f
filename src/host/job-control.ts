// The terminal's stop signals (SIGTSTP, SIGTTIN, SIGTTOU), held off bvisor's process while it
// supervises a workload that could send them to it. A supervisor is what enforces a run's wall
// deadline and its polled limits: stopped, it enforces nothing while the workload runs on. A
// workload whose stdin is the caller's terminal stays in bvisor's session and process group, and
// through job control it can stop that group without kill(2), which landlock's signal scope and
// the pid namespace would refuse: it makes another group the terminal's foreground, then a
// process it left in bvisor's group reads the terminal, and the kernel sends SIGTTIN to the whole
// group. So while such a workload runs, those signals are ignored here where their action is the
// default (native-shim/src/sys.c, bv_job_stops, which keeps the count for the whole process); a
// signal the process handles is its own. Holds nest: `bvisor run` holds them for the whole
// command, the launcher for each such run (API callers too), and the defaults come back with the
// last release.
// What a host program must know: removing its last listener for one of the three during a hold
// gives that signal its default back (libuv does), so the hold no longer covers it; and a SIGTTOU
// listener is no substitute for the hold: a handled SIGTTOU makes a background write to a terminal
// whose tostop is set retry for ever.
import { BvisorError } from '../contract/errors.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';
import { groupDescendants, ownGroup } from './proc.js';

/** The first process of each held workload that shares our process group. */
const sharing = new Set<number>();

/** Ignores the stop signals whose action is the default until the returned release is called
 * (once; later calls do nothing). `workload`: the first process of a workload in our process group,
 * which continueSharingWorkloads() reaches. A release that fails is said as a process warning: the
 * run it ends is over, and its report is worth more than this. */
export function holdJobStops(workload?: number): () => void {
  const rc = shim().bv_job_stops(1);
  if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `ignore the terminal's stop signals (sigaction): ${errnoName(rc)}`, { hint: 'the workload never ran; run `bvisor check`' });
  if (workload !== undefined) sharing.add(workload);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (workload !== undefined) sharing.delete(workload);
    const back = shim().bv_job_stops(0);
    if (back < 0) process.emitWarning(`bvisor: restoring the terminal's stop signals (sigaction): ${errnoName(back)}; SIGTSTP, SIGTTIN or SIGTTOU may stay ignored`);
  };
}

/**
 * The terminal's Ctrl-Z goes to its whole foreground group: a workload that shares ours (stdin:
 * inherit) has its processes stopped by it (their actions are the defaults), while bvisor, which
 * does not stop, goes on and no shell sees a job to resume. This continues them: the processes of
 * our group that descend from a held workload, and nothing else of the group (a caller's wrapper,
 * a script, stopped on purpose, stays as its sender left it).
 */
export function continueSharingWorkloads(): void {
  if (sharing.size === 0) return;
  const group = ownGroup();
  for (const first of sharing) {
    for (const pid of groupDescendants(group, first)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone since the scan
      }
    }
  }
}

