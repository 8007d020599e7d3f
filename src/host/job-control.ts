// The terminal's stop signals (SIGTSTP, SIGTTIN, SIGTTOU), held off bvisor's process while it
// supervises a workload that could send them to it. A supervisor is what enforces a run's wall
// deadline and its polled limits: stopped, it enforces nothing while the workload runs on. A
// workload whose stdin is the caller's terminal stays in bvisor's session and process group, and
// through job control it can stop that group without kill(2), which landlock's signal scope and
// the pid namespace would refuse: it makes another group the terminal's foreground, then a
// process it left in bvisor's group reads the terminal, and the kernel sends SIGTTIN to the whole
// group. So while such a workload runs, those signals are ignored here where their action is the
// default (native-shim/src/sys.c, bv_job_stops); a signal the process handles is its own.
// Holds nest: `bvisor run` holds them for the whole command, the launcher for each such run
// (API callers too), and the actions come back when the last hold is released.
import { BvisorError } from '../contract/errors.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

let holds = 0;
/** Which signals the first hold set to "ignored" (bit 0 SIGTSTP, 1 SIGTTIN, 2 SIGTTOU). */
let mask = 0;

/** Ignores the stop signals whose action is the default until the returned release is called
 * (once; later calls do nothing). */
export function holdJobStops(): () => void {
  if (holds === 0) {
    const rc = shim().bv_job_stops(1, 0);
    if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `ignore the terminal's stop signals (sigaction): ${errnoName(rc)}`, { hint: 'the workload never ran; run `bvisor check`' });
    mask = rc;
  }
  holds++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds > 0) return;
    const rc = shim().bv_job_stops(0, mask);
    mask = 0;
    if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `restore the terminal's stop signals (sigaction): ${errnoName(rc)}`);
  };
}
