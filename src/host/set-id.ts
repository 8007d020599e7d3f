// Set-ID programs in a tree a workload may write through an idmapped mount. Through such a
// mount the workload is the files' owner; a write through a shared mapping (mmap, then msync)
// does not clear a set-ID bit as write(2), truncate and fallocate do, and seccomp cannot see it.
// So a container with a writable, root-idmapped rootfs could change the code of the image's own
// set-user-ID-root programs (Debian's su, passwd, mount): the host file stays set-ID root, and
// any host user who reaches it runs that code as root (an attack in December). The planner binds
// each such file read-only over itself in the container; this finds them.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Directory entries looked at before giving up (the planner then refuses the writable tree). */
export const SET_ID_SCAN_ENTRIES = 2 ** 20;
/** Set-ID files made read-only at most (each one is a mount in the container). */
export const SET_ID_FILES_MAX = 4096;

export interface SetIdScan {
  /** Paths relative to the tree's top, with a leading "/". */
  files: string[];
  /** false: the tree had more entries, or more set-ID files, than the bounds above. */
  complete: boolean;
}

/**
 * The set-ID regular files beneath dir that the workload could open for writing when the idmap
 * makes it uid and gid: as their owner, through their group's write bit, or anyone's. Symlinks
 * are never followed (lstat, and directories from their own entries).
 */
export function scanSetId(dir: string, uid: number, gid: number): SetIdScan {
  const files: string[] = [];
  let seen = 0;
  const stack: string[] = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(join(dir, rel), { withFileTypes: true });
    } catch (e) {
      // A directory the walk cannot read (gone, or a mode that keeps even root out on a
      // filesystem that enforces it) cannot be vouched for.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return { files, complete: false };
    }
    for (const e of entries) {
      if (++seen > SET_ID_SCAN_ENTRIES) return { files, complete: false };
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        const st = lstatSync(join(dir, p), { throwIfNoEntry: false });
        if (!st || !st.isFile()) continue;
        // Writable by the workload: as the owner, through the group, or by anyone.
        const writable = st.uid === uid || (st.gid === gid && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0;
        if ((st.mode & 0o6000) !== 0 && writable) {
          if (files.length >= SET_ID_FILES_MAX) return { files, complete: false };
          files.push(p);
        }
      }
    }
  }
  return { files: files.sort(), complete: true };
}
