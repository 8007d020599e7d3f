// Which descriptors a caller hands to bvisor for the workload. Only those may be passed: never
// one that bvisor, Node or koffi holds (a lock file, the event loop, a pipe to the monitor).
//
// CLI: runc's contract. --preserve-fds N hands over 3..N+2 (after the LISTEN_FDS block of systemd
// socket activation, when LISTEN_PID is us). Node marks inherited descriptors close-on-exec at
// start-up, like its own, so that flag cannot tell them apart; what can is the order: the first
// descriptor Node opens is its event loop's epoll, at the lowest free number. Every descriptor
// below it was there before Node ran, i.e. inherited; one at or above it may be Node's (a caller
// who leaves a hole in 3..N+2 has Node fill it), so it is not handed, and a manifest asking for
// it is refused.
// API: an explicit list; descriptors that can never be the caller's to give (Node's epoll, an
// io_uring) are refused as well.
import { readdirSync, readlinkSync } from 'node:fs';

function target(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Node's first descriptor: the lowest epoll in our table (null: none, so hand nothing). */
export function firstOwnFd(): number | null {
  const fds = readdirSync('/proc/self/fd').map(Number).filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
  return fds.find((fd) => fd >= 3 && target(fd) === 'anon_inode:[eventpoll]') ?? null;
}

/** The CLI's handed descriptors: the LISTEN_FDS block (if it is ours) and --preserve-fds N. */
export function cliHandedFds(preserve: number, env: NodeJS.ProcessEnv, pid: number): number[] {
  const listen = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === pid ? Math.max(0, Number(env.LISTEN_FDS ?? 0) | 0) : 0;
  const count = listen + Math.max(0, preserve | 0);
  if (count === 0) return [];
  const own = firstOwnFd();
  if (own === null) return [];
  const out: number[] = [];
  for (let fd = 3; fd < 3 + count && fd < own; fd++) if (target(fd) !== null) out.push(fd);
  return out;
}

/** The API's list, minus what cannot be the caller's (epoll, io_uring) or is not open. */
export function apiHandedFds(fds: readonly number[]): number[] {
  return fds.filter((fd) => {
    if (!Number.isInteger(fd) || fd < 3) return false;
    const t = target(fd);
    return t !== null && !/^anon_inode:\[(eventpoll|io_uring)\]$/.test(t);
  });
}
