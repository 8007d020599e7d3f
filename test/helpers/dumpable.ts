// Whether a process is dumpable, as the kernel's own ptrace(2) access check tells it ("Ptrace
// access mode checking", step 5: a target that is not dumpable is refused to a caller without
// CAP_SYS_PTRACE in its user namespace, even one with its own ids). The reader enters the
// target's user namespace, takes the ids bvisor maps (0 there), and execs `head` with no
// capability at all (setpriv clears the bounding set), then opens /proc/<pid>/environ.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface OwnIdsRead {
  pid: number;
  status: number | null;
  stderr: string;
  /** What the reader's sameness rests on: the target's uid_map (one id, 0 to its host uid), its
   * host uid, and its permitted capabilities (none, so the reader lacks none of them). */
  uidMap: string[];
  uid: string;
  capPrm: string;
}

/** The read, and what it rests on. */
export function readByItsOwnIds(pid: number): OwnIdsRead {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const uidMap = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/);
  const r = spawnSync('nsenter', ['--user', `--target=${pid}`, '--setuid=0', '--setgid=0', 'setpriv', '--bounding-set=-all', '--inh-caps=-all', '--', 'head', '-c', '1', `/proc/${pid}/environ`], { encoding: 'utf8', timeout: 10_000 });
  return { pid, status: r.status, stderr: r.stderr, uidMap, uid: /^Uid:\s+(\d+)/m.exec(status)![1]!, capPrm: /^CapPrm:\s+(\S+)/m.exec(status)![1]! };
}

/** What the read of a process that is not dumpable looks like: head's EACCES, status 1. */
export function refused(r: OwnIdsRead): Pick<OwnIdsRead, 'status' | 'stderr' | 'uidMap' | 'capPrm'> {
  return { status: 1, stderr: `head: cannot open '/proc/${r.pid}/environ' for reading: Permission denied\n`, uidMap: ['0', r.uid, '1'], capPrm: '0000000000000000' };
}

/** Why the reader cannot run here, or null (nsenter and setpriv are util-linux's). */
export function readerMissing(): string | null {
  return spawnSync('nsenter', ['--version']).error || spawnSync('setpriv', ['--version']).error ? 'nsenter(1) or setpriv(1) is not installed' : null;
}

/** The number of threads of `pid` (proc(5)): more than one once its Node has started. */
export function threadsOf(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}
