// Waits for workloads without blocking the event loop or a thread: on SIGCHLD (and on a slow
// timer, in case signals coalesce or arrive before we listen) every watched pidfd is polled
// with waitid(P_PIDFD, WNOHANG). The timer also keeps Node alive while a workload runs.
import { hasExited, parentOf, procState } from '../../../host/proc.js';
import { shim } from '../ffi/shim.js';
import { errnoName } from '../../../host/facts.js';

export interface WaitResult {
  /** CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3) */
  siCode: number;
  /** exit code, or signal number */
  status: number;
  utimeUs: number;
  stimeUs: number;
  maxRssKb: number;
  /** The CPU time the kernel charged it, as RLIMIT_CPU compares it (its PROF clock, read before
   * it was reaped: native-shim/src/cpuclock.h); null where not read. */
  chargedUs: number | null;
}

interface Watch {
  pidfd: number;
  resolve(r: WaitResult): void;
  reject(e: Error): void;
}

const watches = new Set<Watch>();
let timer: NodeJS.Timeout | null = null;
const onSigchld = (): void => poll();

function poll(): void {
  const out = new BigInt64Array(6);
  for (const w of [...watches]) {
    const rc = shim().bv_wait(w.pidfd, out, 1);
    if (rc === 0) continue;
    watches.delete(w);
    if (rc < 0) w.reject(new Error(`waitid(pidfd ${w.pidfd}): ${errnoName(rc)}`));
    else w.resolve({ siCode: Number(out[0]), status: Number(out[1]), utimeUs: Number(out[2]), stimeUs: Number(out[3]), maxRssKb: Number(out[4]), chargedUs: out[5]! < 0n ? null : Number(out[5]) });
  }
  if (watches.size === 0) stop();
}

function stop(): void {
  if (timer) clearInterval(timer);
  timer = null;
  process.removeListener('SIGCHLD', onSigchld);
}

/**
 * Resolves when the process behind pidfd has exited and been reaped. The promise is marked
 * handled: a launch that failed before it awaited its workload's exit leaves it unawaited, and
 * in a program using the API an unhandled rejection ends the whole process.
 */
export function waitPidfd(pidfd: number): Promise<WaitResult> {
  const p = new Promise<WaitResult>((resolve, reject) => {
    if (watches.size === 0) {
      process.on('SIGCHLD', onSigchld);
      timer = setInterval(poll, 100);
    }
    watches.add({ pidfd, resolve, reject });
    poll(); // it may have exited before we listened
  });
  p.catch(() => {});
  return p;
}

/**
 * Stops watching pidfd, which its owner is about to close: its waits reject ("no longer
 * watched"). A watch left on a closed number polls whatever the next open() gets that number: in
 * an API process, another run's pidfd, whose exit it would then reap and take.
 */
export function unwatch(pidfd: number): void {
  for (const w of [...watches]) {
    if (w.pidfd !== pidfd) continue;
    watches.delete(w);
    w.reject(new Error(`waitid(pidfd ${pidfd}): no longer watched (closed by its owner)`));
  }
  if (watches.size === 0) stop();
}

/**
 * A process we cannot reap (the monitor's child): resolves once it has exited (a zombie
 * waiting for its parent counts: its parent may be waiting for us), polling the pidfd with a
 * null signal and its /proc state; after `ms` it is killed, and the wait goes on as long again.
 * Says whether it saw the exit (false: still there after both waits).
 */
export async function awaitExit(pidfd: number, pid: number, ms: number): Promise<boolean> {
  const s = shim();
  const exited = (): boolean => {
    if (s.bv_pidfd_signal(pidfd, 0) === -3) return true; // ESRCH: reaped
    try {
      return hasExited(pid);
    } catch {
      return true;
    }
  };
  for (const kill of [false, true]) {
    if (kill) s.bv_pidfd_signal(pidfd, 9);
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (exited()) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return exited();
}

// Children of ours that nothing else reaps (libuv reaps only the children it made), by pidfd.
const orphans = new Set<number>();

function reapOrphans(): void {
  const out = new BigInt64Array(6);
  for (const pidfd of [...orphans]) {
    if (shim().bv_wait(pidfd, out, 1) === 0) continue; // still running
    orphans.delete(pidfd);
    shim().bv_close(pidfd);
  }
  if (orphans.size === 0) process.removeListener('SIGCHLD', reapOrphans);
}

/**
 * A process started as an orphan (the monitor, native-shim/src/spawn.c) comes back to us when we
 * are pid 1 of a pid namespace or a child subreaper: then it is reaped when it ends, on SIGCHLD (a
 * signal listener holds no event loop open, so a caller may still exit first). 1 when it was
 * ours, 0 when not, or pidfd_open's -errno.
 */
export function reapIfOurs(pid: number): number {
  if (parentOf(pid) !== process.pid) return 0;
  const pidfd = shim().bv_pidfd_open(pid);
  if (pidfd < 0) return pidfd;
  if (orphans.size === 0) process.on('SIGCHLD', reapOrphans);
  orphans.add(pidfd);
  reapOrphans(); // it may have ended before we listened
  return 1;
}
