// Privileged programs in a tree a workload may write through an idmapped mount. Through such a
// mount the workload is the files' owner; a write through a shared mapping (mmap, then msync)
// clears neither a set-ID bit nor a file capability (security.capability), as write(2),
// truncate and fallocate do, and seccomp cannot see it. So a container with a writable,
// root-idmapped rootfs could change the code of the image's own set-user-ID-root programs
// (Debian's su, passwd, mount) or of its capability-bearing ones (newuidmap, ping): the host file
// stays privileged, and any host user who reaches it runs that code so (attacks in December). The
// planner binds each such file read-only over itself in the container, by identity; this finds
// them.
//
// The walk goes by descriptor, names as bytes (a name that is not UTF-8 is walked like any
// other), and fails closed: a tree that changed while it was looked through (another writer: a
// volume two containers share, a rootfs another runtime writes) is not vouched for, since a
// directory moved from a part not yet read into one already read would be missed.
import { closeSync, fstatSync, lstatSync, openSync, opendirSync, constants, type BigIntStats } from 'node:fs';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { fdPath } from './proc-fd.js';

/** Directory entries looked at before giving up (the planner then refuses the writable tree). */
export const SET_ID_SCAN_ENTRIES = 2 ** 20;
/** Privileged files made read-only at most (each one is a mount in the container). */
export const SET_ID_FILES_MAX = 4096;

export interface SetIdScan {
  /** Paths relative to the tree's top, with a leading "/" ("" for the top itself: a file), and
   * the identity (decimal st_dev, st_ino) the launch binds read-only. */
  files: Array<{ path: string; dev: string; ino: string }>;
  /** false: more than the bounds above, a privileged file whose path is not UTF-8 (a plan
   * cannot name it), or the tree changed while it was looked through. */
  complete: boolean;
}

class Incomplete extends Error {}

const ENODATA = 61;
const ENOTSUP = 95;

/** A file capability on path (follow: a /proc/self/fd magic link to the file). */
function hasFileCaps(path: string, follow: boolean): boolean {
  const n = shim().bv_xattr_size(path, 'security.capability', follow ? 1 : 0);
  if (n >= 0) return true;
  if (n === -ENODATA || n === -ENOTSUP) return false;
  throw new Incomplete();
}

/** A file capability on the file `name` in the directory fd (lstat'ed as st). */
function capsAt(fd: number, name: Buffer, st: BigIntStats): boolean {
  const text = name.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(name)) return hasFileCaps(fdPath(fd, text), false);
  // A name the shim's strings cannot carry: the file by an O_PATH descriptor, checked to be it.
  let pfd: number;
  try {
    pfd = openSync(fdPath(fd, name), O.PATH | constants.O_NOFOLLOW);
  } catch {
    throw new Incomplete();
  }
  try {
    const now = fstatSync(pfd, { bigint: true });
    if (now.ino !== st.ino || now.dev !== st.dev) throw new Incomplete();
    return hasFileCaps(fdPath(pfd), true);
  } finally {
    closeSync(pfd);
  }
}

/**
 * The set-ID regular files, and those carrying a file capability, beneath dir (or dir itself, a
 * file). Every one, whoever owns it: which the workload could write through the idmap is not
 * only a matter of owner and mode bits (a POSIX ACL entry may name the id it is mapped to), and
 * one kept read-only that it could not write anyway costs a mount, nothing more.
 */
export function scanSetId(dir: string): SetIdScan {
  const files: SetIdScan['files'] = [];
  let top: number;
  try {
    top = openSync(dir, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return { files, complete: false };
  }
  try {
    const st = fstatSync(top, { bigint: true });
    if (st.isFile()) {
      const priv = (Number(st.mode) & 0o6000) !== 0 || hasFileCaps(fdPath(top), true);
      return { files: priv ? [{ path: '', dev: String(st.dev), ino: String(st.ino) }] : [], complete: true };
    }
    if (!st.isDirectory()) return { files, complete: true };
    // Every directory read, with its change time before it was read: looked at again at the end.
    const dirs: Array<{ rel: Buffer; ino: bigint; ctimeNs: bigint }> = [];
    let seen = 0;
    const walk = (fd: number, rel: Buffer, here: BigIntStats): void => {
      dirs.push({ rel, ino: here.ino, ctimeNs: here.ctimeNs });
      const d = opendirSync(fdPath(fd), { encoding: 'buffer' as BufferEncoding });
      try {
        for (let e = d.readSync(); e; e = d.readSync()) {
          if (++seen > SET_ID_SCAN_ENTRIES) throw new Incomplete();
          const name = e.name as unknown as Buffer;
          const path = Buffer.concat([rel, Buffer.from('/'), name]);
          // The kind from lstat, never the entry's d_type alone (not every filesystem fills it).
          const st = lstatSync(fdPath(fd, name), { bigint: true, throwIfNoEntry: false });
          if (!st) throw new Incomplete(); // gone since it was listed: the tree is being written
          if (st.isDirectory()) {
            let sub: number;
            try {
              sub = openSync(fdPath(fd, name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
            } catch {
              throw new Incomplete();
            }
            try {
              const now = fstatSync(sub, { bigint: true });
              if (now.ino !== st.ino || now.dev !== st.dev) throw new Incomplete();
              walk(sub, path, now);
            } finally {
              closeSync(sub);
            }
          } else if (st.isFile() && ((Number(st.mode) & 0o6000) !== 0 || capsAt(fd, name, st))) {
            const text = path.toString('utf8');
            // A plan is JSON text: a path that is not UTF-8 cannot be named in it.
            if (!Buffer.from(text, 'utf8').equals(path) || files.length >= SET_ID_FILES_MAX) throw new Incomplete();
            files.push({ path: text, dev: String(st.dev), ino: String(st.ino) });
          }
        }
      } finally {
        d.closeSync();
      }
    };
    walk(top, Buffer.alloc(0), st);
    // Nothing moved in or out of a directory already read: each is still there, unchanged.
    for (const x of dirs) {
      let fd: number;
      try {
        fd = x.rel.length ? openSync(fdPath(top, x.rel.subarray(1)), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW) : top;
      } catch {
        throw new Incomplete();
      }
      try {
        const now = fstatSync(fd, { bigint: true });
        if (now.ino !== x.ino || now.ctimeNs !== x.ctimeNs) throw new Incomplete();
      } finally {
        if (fd !== top) closeSync(fd);
      }
    }
    return { files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), complete: true };
  } catch (e) {
    if (e instanceof Incomplete) return { files, complete: false };
    // A directory the walk cannot read (EACCES on a filesystem that keeps even root out, EIO):
    // not vouched for either.
    if ((e as NodeJS.ErrnoException).code) return { files, complete: false };
    throw e;
  } finally {
    closeSync(top);
  }
}
