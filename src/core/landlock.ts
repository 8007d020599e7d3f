// Landlock rights per ABI, as data. The kernel's UAPI (include/uapi/linux/landlock.h) defines
// each access right and the ABI that introduced it; a ruleset must "handle" every right the
// ABI knows, or that operation stays unrestricted everywhere. This table lets the planner say
// exactly which rights a grant needs and which the host's ABI cannot restrict.

export type FsRight =
  | 'EXECUTE'
  | 'WRITE_FILE'
  | 'READ_FILE'
  | 'READ_DIR'
  | 'REMOVE_DIR'
  | 'REMOVE_FILE'
  | 'MAKE_CHAR'
  | 'MAKE_DIR'
  | 'MAKE_REG'
  | 'MAKE_SOCK'
  | 'MAKE_FIFO'
  | 'MAKE_BLOCK'
  | 'MAKE_SYM'
  | 'REFER'
  | 'TRUNCATE'
  | 'IOCTL_DEV';

/** LANDLOCK_ACCESS_FS_* bit and the ABI that introduced it. */
export const FS_RIGHTS: Record<FsRight, { bit: number; abi: number; fileOk: boolean }> = {
  EXECUTE: { bit: 1 << 0, abi: 1, fileOk: true },
  WRITE_FILE: { bit: 1 << 1, abi: 1, fileOk: true },
  READ_FILE: { bit: 1 << 2, abi: 1, fileOk: true },
  READ_DIR: { bit: 1 << 3, abi: 1, fileOk: false },
  REMOVE_DIR: { bit: 1 << 4, abi: 1, fileOk: false },
  REMOVE_FILE: { bit: 1 << 5, abi: 1, fileOk: false },
  MAKE_CHAR: { bit: 1 << 6, abi: 1, fileOk: false },
  MAKE_DIR: { bit: 1 << 7, abi: 1, fileOk: false },
  MAKE_REG: { bit: 1 << 8, abi: 1, fileOk: false },
  MAKE_SOCK: { bit: 1 << 9, abi: 1, fileOk: false },
  MAKE_FIFO: { bit: 1 << 10, abi: 1, fileOk: false },
  MAKE_BLOCK: { bit: 1 << 11, abi: 1, fileOk: false },
  MAKE_SYM: { bit: 1 << 12, abi: 1, fileOk: false },
  REFER: { bit: 1 << 13, abi: 2, fileOk: false },
  TRUNCATE: { bit: 1 << 14, abi: 3, fileOk: true },
  IOCTL_DEV: { bit: 1 << 15, abi: 5, fileOk: true },
};

/** LANDLOCK_ACCESS_NET_* (ABI 4). */
export const NET_RIGHTS = { BIND_TCP: { bit: 1 << 0, abi: 4 }, CONNECT_TCP: { bit: 1 << 1, abi: 4 } } as const;
/** LANDLOCK_SCOPE_* (ABI 6). */
export const SCOPES = { ABSTRACT_UNIX_SOCKET: { bit: 1 << 0, abi: 6 }, SIGNAL: { bit: 1 << 1, abi: 6 } } as const;

/** The newest ABI this table knows. ABI 7 added audit logging flags, no new access rights. */
export const KNOWN_ABI = 7;

const ALL_FS = Object.keys(FS_RIGHTS) as FsRight[];

/** Rights a ruleset handles on this ABI: everything the ABI knows, so nothing is left unrestricted by omission. */
export function handledFs(abi: number): FsRight[] {
  return ALL_FS.filter((r) => FS_RIGHTS[r].abi <= abi);
}

/** Rights this ABI cannot restrict at all. */
export function unhandledFs(abi: number): FsRight[] {
  return ALL_FS.filter((r) => FS_RIGHTS[r].abi > abi);
}

export type AccessWord = 'read' | 'read-exec' | 'write' | 'read-write' | 'read-write-exec';

const READ: FsRight[] = ['READ_FILE', 'READ_DIR'];
const EXEC: FsRight[] = ['EXECUTE'];
// Device nodes (MAKE_CHAR/MAKE_BLOCK) are never granted: creating them is a privilege matter.
const WRITE: FsRight[] = ['WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER'];

/**
 * The rights a grant needs on the newest ABI. File grants get only file rights (the kernel
 * rejects directory rights on a file with EINVAL). Write access to /dev also needs IOCTL_DEV,
 * since terminals and devices are driven by ioctl.
 */
export function rightsFor(access: AccessWord, kind: 'file' | 'directory' | 'other', path: string): FsRight[] {
  const set = new Set<FsRight>();
  if (access.startsWith('read')) READ.forEach((r) => set.add(r));
  if (access.includes('exec')) EXEC.forEach((r) => set.add(r));
  if (access.includes('write')) {
    WRITE.forEach((r) => set.add(r));
    if (path === '/dev' || path.startsWith('/dev/')) set.add('IOCTL_DEV');
  }
  let out = ALL_FS.filter((r) => set.has(r));
  if (kind !== 'directory') out = out.filter((r) => FS_RIGHTS[r].fileOk);
  return out;
}

export function maskOf(rights: readonly FsRight[]): number {
  return rights.reduce((m, r) => m | FS_RIGHTS[r].bit, 0);
}
