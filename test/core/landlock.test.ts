// Landlock rights per ABI against the kernel's UAPI, written here by hand from
// include/uapi/linux/landlock.h and landlock(7), never from src/core/landlock.ts's table: the bit
// of each LANDLOCK_ACCESS_FS_* right, the ABI that introduced it, and which rights apply to a
// file (landlock(7): EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE, IOCTL_DEV; the others only make
// sense on a directory and landlock_add_rule(2) refuses them on a file with EINVAL).
import { describe, expect, it } from 'vitest';
import { handledFs, maskOf, rightsFor, unhandledFs, type FsRight } from '../../src/core/landlock.js';

/** LANDLOCK_ACCESS_FS_* = 1ULL << n, and the ABI version that introduced it. */
const UAPI: Record<FsRight, { bit: number; abi: number }> = {
  EXECUTE: { bit: 1 << 0, abi: 1 },
  WRITE_FILE: { bit: 1 << 1, abi: 1 },
  READ_FILE: { bit: 1 << 2, abi: 1 },
  READ_DIR: { bit: 1 << 3, abi: 1 },
  REMOVE_DIR: { bit: 1 << 4, abi: 1 },
  REMOVE_FILE: { bit: 1 << 5, abi: 1 },
  MAKE_CHAR: { bit: 1 << 6, abi: 1 },
  MAKE_DIR: { bit: 1 << 7, abi: 1 },
  MAKE_REG: { bit: 1 << 8, abi: 1 },
  MAKE_SOCK: { bit: 1 << 9, abi: 1 },
  MAKE_FIFO: { bit: 1 << 10, abi: 1 },
  MAKE_BLOCK: { bit: 1 << 11, abi: 1 },
  MAKE_SYM: { bit: 1 << 12, abi: 1 },
  REFER: { bit: 1 << 13, abi: 2 },
  TRUNCATE: { bit: 1 << 14, abi: 3 },
  IOCTL_DEV: { bit: 1 << 15, abi: 5 },
};
const bits = (...rights: FsRight[]): number => rights.reduce((m, r) => m | UAPI[r].bit, 0);
const FILE_RIGHTS: FsRight[] = ['EXECUTE', 'WRITE_FILE', 'READ_FILE', 'TRUNCATE', 'IOCTL_DEV'];

describe('rights handled per ABI (landlock(7), "Access rights")', () => {
  // The masks a ruleset's handled_access_fs takes on each ABI: 13 rights in ABI 1, REFER from 2,
  // TRUNCATE from 3, nothing new for files in 4 (network), IOCTL_DEV from 5, nothing new after.
  it.each([
    [0, 0],
    [1, 0x1fff],
    [2, 0x3fff],
    [3, 0x7fff],
    [4, 0x7fff],
    [5, 0xffff],
    [6, 0xffff],
    [7, 0xffff],
  ])('ABI %d handles mask %i', (abi, mask) => {
    expect(maskOf(handledFs(abi))).toBe(mask);
    // what is not handled is exactly the rest of the rights the newest ABI knows
    expect(maskOf(unhandledFs(abi))).toBe(0xffff & ~mask);
    expect([...handledFs(abi), ...unhandledFs(abi)].sort()).toEqual((Object.keys(UAPI) as FsRight[]).sort());
  });

  it('each right has the UAPI bit and comes in with its ABI', () => {
    for (const [right, { bit, abi }] of Object.entries(UAPI) as [FsRight, { bit: number; abi: number }][]) {
      expect(maskOf([right]), right).toBe(bit);
      expect(handledFs(abi), `${right} in ABI ${abi}`).toContain(right);
      expect(handledFs(abi - 1), `${right} not in ABI ${abi - 1}`).not.toContain(right);
      expect(unhandledFs(abi - 1), `${right} unhandled in ABI ${abi - 1}`).toContain(right);
    }
  });

  it('maskOf of nothing is 0', () => expect(maskOf([])).toBe(0));
});

describe('rights a grant needs', () => {
  const WRITE_DIR = bits('WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER');

  it.each([
    ['read', 'directory', '/data', bits('READ_FILE', 'READ_DIR')],
    ['read-exec', 'directory', '/usr', bits('READ_FILE', 'READ_DIR', 'EXECUTE')],
    // write alone reads nothing
    ['write', 'directory', '/out', WRITE_DIR],
    ['read-write', 'directory', '/work', WRITE_DIR | bits('READ_FILE', 'READ_DIR')],
    ['read-write-exec', 'directory', '/work', WRITE_DIR | bits('READ_FILE', 'READ_DIR', 'EXECUTE')],
    // on a file, only the rights landlock(7) lets a file rule carry
    ['read', 'file', '/etc/hosts', bits('READ_FILE')],
    ['read-exec', 'file', '/bin/sh', bits('READ_FILE', 'EXECUTE')],
    ['write', 'file', '/out.log', bits('WRITE_FILE', 'TRUNCATE')],
    ['read-write', 'other', '/run/x.sock', bits('READ_FILE', 'WRITE_FILE', 'TRUNCATE')],
  ] as const)('%s on a %s (%s)', (access, kind, path, mask) => expect(maskOf(rightsFor(access, kind, path))).toBe(mask));

  it('a file grant never carries a directory-only right, whatever the access', () => {
    for (const access of ['read', 'read-exec', 'write', 'read-write', 'read-write-exec'] as const) {
      for (const kind of ['file', 'other'] as const) {
        for (const r of rightsFor(access, kind, '/x')) expect(FILE_RIGHTS, `${access} ${kind}: ${r}`).toContain(r);
      }
    }
  });

  it('device nodes are never made (MAKE_CHAR, MAKE_BLOCK: a privilege matter)', () => {
    const all = rightsFor('read-write-exec', 'directory', '/dev');
    expect(all).not.toContain('MAKE_CHAR');
    expect(all).not.toContain('MAKE_BLOCK');
  });

  it('writing to /dev and below also needs IOCTL_DEV (terminals are driven by ioctl); nothing else does', () => {
    expect(rightsFor('read-write', 'directory', '/dev')).toContain('IOCTL_DEV');
    expect(rightsFor('write', 'directory', '/dev/pts')).toContain('IOCTL_DEV');
    expect(rightsFor('read-write', 'file', '/dev/null')).toContain('IOCTL_DEV');
    expect(rightsFor('read', 'directory', '/dev')).not.toContain('IOCTL_DEV');
    expect(rightsFor('read-write', 'file', '/devices')).not.toContain('IOCTL_DEV');
    expect(rightsFor('read-write', 'directory', '/home/dev')).not.toContain('IOCTL_DEV');
    expect(rightsFor('read-write', 'directory', '/home/dev/')).not.toContain('IOCTL_DEV');
  });

  it('rights come in the UAPI bit order', () => {
    const r = rightsFor('read-write-exec', 'directory', '/dev');
    expect(r.map((x) => UAPI[x].bit)).toEqual([...r.map((x) => UAPI[x].bit)].sort((a, b) => a - b));
  });
});
