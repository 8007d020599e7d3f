// Resolve once, use the descriptor. Every path a plan names (the program, each grant, the
// rootfs, the module, the stdin file) was resolved when planning to a physical path with no
// symlink in it, and its (st_dev, st_ino) went into the plan. Here it is opened once with
// openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so a component swapped for a symlink
// since then fails (ELOOP), and the object is checked against the planned identity, so a
// rename-exchange of a whole directory fails too. Everything after this point uses the fd:
// execveat of the program, landlock rules, detached mount trees, the bytes of a module.
import { BvisorError } from '../../../contract/errors.js';
import type { ObjectRef } from '../../../contract/generated/types.js';
import { shim, O } from '../ffi/shim.js';
import { errnoName } from '../../../host/facts.js';

export const AT_FDCWD = -100;
/** RESOLVE_* (linux/openat2.h). */
export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export interface Identity {
  mode: number;
  dev: string;
  ino: string;
  uid: number;
  gid: number;
}

/** (mode, dev, ino, uid, gid) of an open descriptor. */
export function identityOf(fd: number): Identity {
  const out = new BigInt64Array(6);
  const rc = shim().bv_stat_id(fd, out);
  if (rc < 0) throw new BvisorError('BV_IO', `fstat(${fd}): ${errnoName(rc)}`);
  return { mode: Number(out[0]), dev: BigInt.asUintN(64, out[1]!).toString(), ino: BigInt.asUintN(64, out[2]!).toString(), uid: Number(out[3]), gid: Number(out[4]) };
}

/**
 * Opens a planned object (O_PATH by default) and checks it is still the one planned. The
 * descriptor is the caller's to close. A mismatch is BV_LAUNCH_CHANGED: nothing has run yet.
 */
export function openPlanned(ref: ObjectRef, what: string, flags: number = O.PATH): number {
  const s = shim();
  // openat2 refuses O_PATH with any flag but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC (EINVAL).
  const fd = s.bv_openat2(AT_FDCWD, ref.path, flags === O.PATH ? flags : flags | O.NOCTTY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (fd < 0) {
    throw new BvisorError('BV_LAUNCH_CHANGED', `${what}: open \`${ref.path}\`: ${errnoName(fd)}${fd === -40 ? ' (a symlink appeared on the path since planning)' : ''}`, { hint: 'the path changed after planning; nothing ran. Plan again, and keep the bundle out of reach of other writers' });
  }
  let id: Identity;
  try {
    id = identityOf(fd);
  } catch (e) {
    s.bv_close(fd);
    throw e;
  }
  if (id.dev !== ref.dev || id.ino !== ref.ino) {
    s.bv_close(fd);
    throw new BvisorError('BV_LAUNCH_CHANGED', `${what}: \`${ref.path}\` is no longer the object that was planned (dev ${ref.dev} ino ${ref.ino}, now dev ${id.dev} ino ${id.ino})`, { hint: 'the path was replaced after planning; nothing ran. Plan again, and keep the bundle out of reach of other writers' });
  }
  return fd;
}
