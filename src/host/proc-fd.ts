// Paths through /proc/self/fd: a directory bvisor holds open, and a name inside it, as a path of a
// few bytes whatever the directory's own path (which a workload may have made longer than
// PATH_MAX). The lookup of "/proc/self/fd/N" jumps to the very directory behind descriptor N, and
// only the last name is then looked up in it. That holds only if /proc is procfs: a /proc that is
// something else (a bind mount over it, an empty directory in a chroot) would make these paths
// mean anything, as runc learned (CVE-2019-16884, CVE-2019-19921); checked once per process.
import { statfsSync } from 'node:fs';
import { BvisorError } from '../contract/errors.js';

/** statfs(2): f_type of procfs (linux/magic.h PROC_SUPER_MAGIC). */
const PROC_SUPER_MAGIC = 0x9fa0;

let checked = false;

function checkProc(): void {
  if (checked) return;
  let type: number;
  try {
    type = statfsSync('/proc/self/fd').type;
  } catch (e) {
    throw new BvisorError('BV_IO', `statfs /proc/self/fd: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'bvisor needs procfs mounted at /proc' });
  }
  if (type !== PROC_SUPER_MAGIC) throw new BvisorError('BV_IO', `/proc/self/fd is not on procfs (f_type 0x${type.toString(16)})`, { hint: 'bvisor needs procfs mounted at /proc' });
  checked = true;
}

/** /proc/self/fd/<fd>, or /proc/self/fd/<fd>/<name> (a name: no slash). Bytes when the name is. */
export function fdPath(fd: number, name?: string): string;
export function fdPath(fd: number, name: Buffer): Buffer;
export function fdPath(fd: number, name?: string | Buffer): string | Buffer {
  checkProc();
  const dir = `/proc/self/fd/${fd}`;
  if (name === undefined) return dir;
  return typeof name === 'string' ? `${dir}/${name}` : Buffer.concat([Buffer.from(`${dir}/`), name]);
}

/** /proc/self/fdinfo/<fd>: the descriptor's flags, position and mount id (proc(5)). */
export function fdInfoPath(fd: number): string {
  checkProc();
  return `/proc/self/fdinfo/${fd}`;
}
