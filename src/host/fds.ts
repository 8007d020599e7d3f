// Which descriptors a caller hands to bvisor for the workload. Only those may be passed: never
// one that bvisor, Node or koffi holds (a lock file, the event loop, a pipe to the monitor).
//
// CLI: runc's contract. --preserve-fds N hands over 3..N+2 (after the LISTEN_FDS block of systemd
// socket activation, when LISTEN_PID is us). Each must also have come through exec: Node and
// libuv open every descriptor of their own close-on-exec, so an open descriptor in that range
// without FD_CLOEXEC was inherited from the caller, and one with it was not.
// API: an explicit list; descriptors that can never be the caller's to give (Node's epoll, an
// io_uring) are refused as well.
import { readlinkSync } from 'node:fs';
import { shim } from '../backends/linux/ffi/shim.js';

/** Open and without FD_CLOEXEC: inherited through exec. */
function inherited(fd: number): boolean {
  const info = new Int32Array(3);
  return shim().bv_fd_info(fd, info) === 0 && info[2] === 0;
}

/** The CLI's handed descriptors: the LISTEN_FDS block (if it is ours) and --preserve-fds N. */
export function cliHandedFds(preserve: number, env: NodeJS.ProcessEnv, pid: number): number[] {
  const listen = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === pid ? Math.max(0, Number(env.LISTEN_FDS ?? 0) | 0) : 0;
  const out: number[] = [];
  for (let fd = 3; fd < 3 + listen + Math.max(0, preserve | 0); fd++) if (inherited(fd)) out.push(fd);
  return out;
}

/** The API's list, minus what cannot be the caller's (epoll, io_uring) or is not open. */
export function apiHandedFds(fds: readonly number[]): number[] {
  return fds.filter((fd) => {
    if (!Number.isInteger(fd) || fd < 3) return false;
    try {
      return !/^anon_inode:\[(eventpoll|io_uring)\]$/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  });
}
