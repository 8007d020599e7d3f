// What a recorded system call did, and to which path (pure): the arguments that hold paths, the
// intent of an open's flags, a sockaddr's family and port. Shared by learn (which proposes a
// boundary from the calls) and explain (which says why a denied call was denied), so that a
// report's denials can be explained without learn's YAML writer (a lifecycle command seals
// reports; its start-up snapshot holds only what it runs: docs/startup.md).
import { normalizeAbsolute } from './paths.js';
// open(2), asm-generic/fcntl.h (octal): O_ACCMODE 03, O_WRONLY 01, O_RDWR 02, O_CREAT 0100,
// O_TRUNC 01000, O_DIRECTORY 0200000, O_PATH 010000000.
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;
/** openat(2): a relative path is taken from the caller's working directory. */
export const AT_FDCWD = -100;
// O_TRUNC, CLONE_THREAD (clone(2)) and the socket families and types (socket(2),
// address_families(7)) are the seccomp policy's, which checks the same arguments.
export { O_TRUNC, CLONE_THREAD, AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM } from './seccomp/policy.js';
import { O_TRUNC, AF_UNIX, AF_INET, AF_INET6 } from './seccomp/policy.js';

export type HostKind = 'file' | 'dir' | 'socket' | 'other' | 'missing';
/** What the host says about an absolute path: its physical path (symlinks resolved; for a missing
 * path, the lexical one) and what it is. */
export interface HostPath {
  real: string;
  kind: HostKind;
}
export type HostLookup = (abs: string) => HostPath;

/** POSIX lexical normalisation of an absolute path (no host: symlinks are the lookup's). */
export const normalize = normalizeAbsolute;

/** A call's argument as the kernel reads an int: its low 32 bits, signed. */
export const int32 = (v: bigint | undefined): number => Number(BigInt.asIntN(32, (v ?? 0n) & 0xffffffffn));

/** Where each call's path arguments are, and the directory descriptor each is relative to
 * (null: relative to the working directory). */
export const PATHS: Readonly<Record<string, ReadonlyArray<[number, number | null]>>> = {
  open: [[0, null]], creat: [[0, null]], openat: [[1, 0]], openat2: [[1, 0]], execve: [[0, null]], execveat: [[1, 0]],
  mkdir: [[0, null]], mkdirat: [[1, 0]], unlink: [[0, null]], unlinkat: [[1, 0]], rmdir: [[0, null]],
  rename: [[0, null], [1, null]], renameat: [[1, 0], [3, 2]], renameat2: [[1, 0], [3, 2]], chdir: [[0, null]], truncate: [[0, null]],
  stat: [[0, null]], lstat: [[0, null]], newfstatat: [[1, 0]], statx: [[1, 0]], access: [[0, null]], faccessat: [[1, 0]], faccessat2: [[1, 0]],
  readlink: [[0, null]], readlinkat: [[1, 0]],
};

export type Intent = 'read' | 'write' | 'readwrite' | 'create' | 'remove' | 'exec' | 'list' | 'probe';

export function intentOf(name: string, args: readonly bigint[]): Intent {
  switch (name) {
    case 'open':
    case 'openat': {
      const f = int32(args[name === 'open' ? 1 : 2]);
      if (f & O_PATH) return 'probe';
      if (f & O_CREAT) return 'create';
      if ((f & 3) === O_RDWR) return 'readwrite';
      if ((f & 3) === O_WRONLY || f & O_TRUNC) return 'write';
      return f & O_DIRECTORY ? 'list' : 'read';
    }
    case 'openat2': // its flags are in struct open_how, in memory the record does not hold
      return 'read';
    case 'creat':
    case 'mkdir':
    case 'mkdirat':
      return 'create';
    case 'unlink':
    case 'unlinkat':
    case 'rmdir':
    case 'rename':
    case 'renameat':
    case 'renameat2':
      return 'remove';
    case 'truncate':
      return 'write';
    case 'execve':
    case 'execveat':
      return 'exec';
    default:
      return 'probe';
  }
}

/** A sockaddr's family, and for IP its port and whether it is loopback; for unix, its path. */
export function decodeSockaddr(b: Uint8Array): { family: number; port?: number; loopback?: boolean; path?: string; abstract?: boolean } | null {
  if (b.length < 2) return null;
  const family = b[0]! | (b[1]! << 8); // sa_family_t, host order (little-endian arches)
  if (family === AF_INET && b.length >= 8) return { family, port: (b[2]! << 8) | b[3]!, loopback: b[4] === 127 };
  if (family === AF_INET6 && b.length >= 24) {
    const addr = b.subarray(8, 24);
    const v4mapped = addr.subarray(0, 10).every((x) => x === 0) && addr[10] === 0xff && addr[11] === 0xff;
    const loop = addr.subarray(0, 15).every((x) => x === 0) && addr[15] === 1;
    return { family, port: (b[2]! << 8) | b[3]!, loopback: loop || (v4mapped && addr[12] === 127) };
  }
  if (family === AF_UNIX) {
    if (b.length <= 2) return { family, path: '', abstract: false };
    if (b[2] === 0) return { family, abstract: true, path: '@' + String.fromCharCode(...b.subarray(3).filter((x) => x !== 0)) };
    const end = b.indexOf(0, 2);
    return { family, abstract: false, path: String.fromCharCode(...b.subarray(2, end < 0 ? b.length : end)) };
  }
  return { family };
}
