// The caller's terminal, as a workload given it leaves it. A workload whose stdin, stdout or
// stderr (or a descriptor it is handed) is the caller's terminal can stop its output
// (tcflow(TCOOFF)) with IXON cleared, so no key resumes it: every later write there blocks,
// bvisor's own last words and the caller's shell after it. So once none of the workload's
// processes is left, the launcher resumes the output of each such terminal. Its modes (raw, no
// echo) are not bvisor's to put back: a program that exits may have set them on purpose (stty),
// and Node puts back at its exit the modes its own stdio had when it started (the CLI's case).
// The stop signals are held meanwhile (host/job-control.ts): from a background process group,
// tcflow would otherwise stop bvisor by SIGTTOU (termios(3)).
import { isatty } from 'node:tty';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';
import { holdJobStops } from './job-control.js';

/** Which of `fds` are terminals, each once. */
export function terminalsAmong(fds: readonly number[]): number[] {
  return [...new Set(fds)].filter((fd) => isatty(fd));
}

/** Resumes each terminal's output. Returns what failed, each naming its descriptor ([] when all
 * went well). */
export function resumeTerminals(fds: readonly number[]): string[] {
  if (fds.length === 0) return [];
  const failed: string[] = [];
  const release = holdJobStops();
  try {
    for (const fd of fds) {
      const rc = shim().bv_tty_resume(fd);
      if (rc < 0) failed.push(`fd ${fd}: tcflow(TCOON): ${errnoName(rc)}`);
    }
  } finally {
    release();
  }
  return failed;
}
