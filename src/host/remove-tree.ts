// Removes a directory tree that a workload or an archive shaped (an outputs quarantine, an
// extracted bundle) by descriptor: each
// directory is read through its own descriptor and each name removed relative to it. Node's
// rmSync goes by whole paths, and a workload can leave a tree deeper than PATH_MAX (4096 bytes)
// in a directory it was given to write: rmSync then fails with ENAMETOOLONG and the tree stays
// (discard, gc and a failed run could never remove it). Names are taken as bytes, so a name that
// is not UTF-8 is removed as it is; no symlink is followed (lstat, O_NOFOLLOW).
import { chmodSync, closeSync, fchmodSync, fstatSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync, constants as C } from 'node:fs';

/** The directory behind a descriptor, as a path of a few bytes (/proc/self/fd/N). */
const viaFd = (fd: number, name?: Buffer): Buffer => Buffer.concat([Buffer.from(`/proc/self/fd/${fd}${name ? '/' : ''}`), name ?? Buffer.alloc(0)]);

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/**
 * Removes `path` and everything beneath it; nothing when it does not exist. A directory made
 * read-only (a frozen quarantine: mode 0500) is made writable by its owner first, as removing
 * its entries needs (root does not, a rootless owner does). Errors are thrown as Node's.
 */
export function removeTree(path: string): void {
  let top: number;
  try {
    top = openSync(path, DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // Not a directory (or a symlink, which O_NOFOLLOW refuses with ELOOP): the name itself goes.
    if (code === 'ENOTDIR' || code === 'ELOOP') return unlinkSync(path);
    throw e;
  }
  try {
    emptyDir(top);
  } finally {
    closeSync(top);
  }
  rmdirSync(path);
}

function emptyDir(dirFd: number): void {
  // Only where needed: a directory someone else owns (rootless, a foreign id) is left as it is,
  // and the removal's own error then says why.
  if ((fstatSync(dirFd).mode & 0o700) !== 0o700) fchmodSync(dirFd, 0o700);
  for (const name of readdirSync(viaFd(dirFd), { encoding: 'buffer' })) {
    const p = viaFd(dirFd, name);
    const st = lstatSync(p);
    if (!st.isDirectory()) {
      unlinkSync(p);
      continue;
    }
    // A directory its owner cannot read (an archive's mode 000): opened up first, rootless too.
    // chmod follows symlinks, but lstat saw a directory, and the tree is bvisor's now (frozen,
    // or extracted by bvisor).
    if ((st.mode & 0o700) !== 0o700) chmodSync(p, 0o700);
    const fd = openSync(p, DIR_FLAGS);
    try {
      emptyDir(fd);
    } finally {
      closeSync(fd);
    }
    rmdirSync(p);
  }
}
