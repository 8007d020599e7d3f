// --pid-file (create, run, exec), as runc writes it: the bare number (containerd's shim parses it
// with Atoi), written atomically before the process is let go, so an engine never holds a pid
// it cannot know. The same checks for every command that takes one.
import { accessSync, constants, existsSync, realpathSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import { writeFileAtomic } from '../host/atomic.js';

/**
 * The pid file's absolute path, checked before anything runs: its directory must be writable, and
 * it may not lie in the state root, whose files are bvisor's (an attack overwrote the journal
 * with a pid, which then read as a torn append).
 */
export function checkedPidFile(file: string, root: string | null): string {
  const path = resolve(file);
  // Through the links of the root's path and the file's directory: /run/x/../bvisor, a link to it.
  const real = (p: string): string => (existsSync(p) ? realpathSync(p) : p);
  const rel = root === null ? null : relative(real(resolve(root)), join(real(dirname(path)), basename(path)));
  const inside = rel !== null && (rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)));
  if (inside) throw new BvisorError('BV_USAGE', `--pid-file ${file} is inside the state root ${root}, whose files are bvisor's`, { hint: 'name a file outside the --root' });
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (e) {
    throw new BvisorError('BV_IO', `--pid-file ${file}: its directory cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { hint: 'name a file in an existing, writable directory; nothing ran' });
  }
  return path;
}

/** Writes the pid (the file's name, not its temp file's, in an error). */
export function writePidFile(path: string, pid: number): void {
  try {
    writeFileAtomic(path, `${pid}`, 0o644);
  } catch (e) {
    const why = e instanceof BvisorError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    throw new BvisorError('BV_IO', `--pid-file ${path}: ${why}`, { hint: 'name a file that can be made in a writable directory; nothing ran', cause: e });
  }
}

/** A pid file written for a process that then never ran names no process of ours: removed. */
export function removePidFile(path: string | null): void {
  if (path) rmSync(path, { force: true });
}
