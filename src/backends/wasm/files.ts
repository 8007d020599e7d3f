// The WASI file host: preopened directories as pinned descriptors, every guest path resolved
// by the kernel with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) on them, *at() calls on
// a parent opened the same way, read-only preopens enforced here, absolute guest paths and
// absolute symlink targets refused, and anything that is neither a regular file nor a
// directory refused at open (opened O_NONBLOCK, then fstat), so a FIFO cannot hang the runner.
// Why not node:wasi: a guest escapes its preopens with two symlinks of its own (WASM.md §1.3).
// Every refusal that is the boundary's (ENOTCAPABLE: an absolute path, a path leaving its
// preopen, a write to a read-only one) is recorded for the report's denials (docs/denials.md).
import type { WasiRefusalFact } from '../../core/denials.js';
import { constants, readSync, writeSync, ftruncateSync, closeSync } from 'node:fs';
import { shim } from '../linux/ffi/shim.js';
import { REDACTED, holdsSecret } from '../../core/redact.js';

const RESOLVE = 0x08 | 0x02; // RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
const O_PATH = 0o10000000;
const AT_FDCWD = -100;
const AT_REMOVEDIR = 0x200;

/** WASI errno values. */
export const W = {
  SUCCESS: 0, TOOBIG: 1, ACCES: 2, AGAIN: 6, BADF: 8, DQUOT: 19, EXIST: 20, FAULT: 21, FBIG: 22, INTR: 27, INVAL: 28, IO: 29, ISDIR: 31,
  LOOP: 32, NAMETOOLONG: 37, NOENT: 44, NOSPC: 51, NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, NOTSUP: 58, PERM: 63, PIPE: 64, ROFS: 69,
  SPIPE: 70, XDEV: 75, NOTCAPABLE: 76,
} as const;

/** Linux errno → WASI errno. EXDEV is what RESOLVE_BENEATH says about an escape. */
const FROM_LINUX: Record<number, number> = {
  1: W.PERM, 2: W.NOENT, 4: W.INTR, 5: W.IO, 9: W.BADF, 11: W.AGAIN, 13: W.ACCES, 14: W.FAULT, 17: W.EXIST, 18: W.NOTCAPABLE, 20: W.NOTDIR,
  21: W.ISDIR, 22: W.INVAL, 27: W.FBIG, 28: W.NOSPC, 29: W.SPIPE, 30: W.ROFS, 32: W.PIPE, 36: W.NAMETOOLONG, 39: W.NOTEMPTY,
  40: W.LOOP, 95: W.NOTSUP, 122: W.DQUOT,
};
const wasiErr = (rc: number): number => FROM_LINUX[-rc] ?? W.IO;

// Made at the first wait: a SharedArrayBuffer cannot be in a start-up snapshot (the runner's blob).
let nap: Int32Array | null = null;

/** op() as a blocking call answers: retried when interrupted (EINTR) or when it would block
 * (EAGAIN, waiting a millisecond between tries); any other error is thrown. */
function blocking(op: () => number): number {
  for (;;) {
    try {
      return op();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'EAGAIN') Atomics.wait((nap ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
      else if (code !== 'EINTR') throw err;
    }
  }
}

/**
 * Moves data through a guest's iovec array as readv(2)/writev(2) would answer a blocking caller:
 * a short transfer ends the call with the count that moved; an error with nothing moved is the
 * guest's errno (EPIPE when a reader left, ENOSPC…); an interrupted call is retried, and so is one
 * that would block (a descriptor someone else made non-blocking: stdio is blocking to the guest,
 * fd_fdstat_get says so; the wall limit bounds the wait). An iovec array, a buffer or a result
 * outside the guest's memory is FAULT. Only errors that carry an errno are answers: anything
 * else is a bug of the host, and is thrown. Writes the count to `out`; returns a WASI errno.
 */
export function transferIovecs(mem: DataView, bytes: Uint8Array, iovs: number, n: number, out: number, op: (buf: Uint8Array, off: number, len: number) => number, charge: (units: number) => void): { errno: number; total: number } {
  const size = mem.byteLength;
  iovs >>>= 0; // i32 arguments arrive signed
  n >>>= 0;
  out >>>= 0;
  // Fuel: one unit per iovec, before they are walked (found by attack: 4 million empty ones a
  // call for one unit), and one per 64 bytes moved, after.
  charge(n);
  const r = walkIovecs(mem, bytes, iovs, n, out, op, size);
  charge(Math.floor(r.total / 64));
  return r;
}

function walkIovecs(mem: DataView, bytes: Uint8Array, iovs: number, n: number, out: number, op: (buf: Uint8Array, off: number, len: number) => number, size: number): { errno: number; total: number } {
  if (iovs + 8 * n > size || out + 4 > size) return { errno: W.FAULT, total: 0 };
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = mem.getUint32(iovs + 8 * i, true);
    const l = mem.getUint32(iovs + 8 * i + 4, true);
    if (l === 0) continue;
    if (p + l > bytes.length) {
      if (total > 0) break;
      return { errno: W.FAULT, total: 0 };
    }
    let k: number;
    try {
      k = blocking(() => op(bytes, p, l));
    } catch (err) {
      if (typeof (err as NodeJS.ErrnoException)?.errno !== 'number') throw err; // a bug of ours, not an answer
      if (total > 0) break; // what moved stands
      return { errno: wasiErrOf(err), total: 0 };
    }
    total += k;
    if (k < l) break;
  }
  mem.setUint32(out, total, true);
  return { errno: W.SUCCESS, total };
}

/** The WASI errno of an error Node threw for a read or write (its errno is the negative Linux one). */
export function wasiErrOf(err: unknown): number {
  const n = (err as NodeJS.ErrnoException)?.errno;
  return typeof n === 'number' ? wasiErr(-Math.abs(n)) : W.IO;
}
const EXDEV = 18;
const EFAULT = 14;
/** Linux's PATH_MAX (limits.h): a symlink's target is shorter. */
const PATH_MAX = 4096;

export interface Preopen {
  guest: string;
  host: string;
  readonly: boolean;
}

interface Entry {
  fd: number; // host descriptor
  kind: 'dir' | 'file';
  readonly: boolean;
  preopen: string | null; // guest name, for fd_prestat
  append: boolean;
  /** The preopen it was opened beneath (its index in the job's preopens), and its guest path. */
  grant: number;
  path: string;
}

/** One refusal of the boundary's, as the guest asked it; repeats counted (the report's shape:
 * core/denials.ts). */
export type WasiRefusal = WasiRefusalFact;

/** Distinct refusals kept (the rest are counted); paths are cut to this many characters. */
export const REFUSALS_KEPT = 32;
const PATH_MAX_KEPT = 256;

export class FileTable {
  private entries = new Map<number, Entry>();
  private next = 3;
  readonly refusals: WasiRefusal[] = [];
  refusalsTotal = 0;
  private readonly t0 = performance.now();

  /** The guest's secret values (its environment's, resolved): a guest can name a path after
   * its token, and a refusal's path leaves the runner in its outcome, for the report. */
  private readonly redact: readonly string[];

  constructor(preopens: readonly Preopen[], redact: readonly string[] = []) {
    this.redact = redact;
    for (const [i, p] of preopens.entries()) {
      // In the runner's root the preopen is a mount of the object the plan checked; no symlink
      // is followed on the way to it.
      const fd = shim().bv_openat2(AT_FDCWD, p.host, O_PATH | constants.O_DIRECTORY, 0, 0x04 | 0x02 /* RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS */);
      if (fd < 0) throw new Error(`cannot open preopen ${p.host}: errno ${-fd}`);
      this.entries.set(this.next++, { fd, kind: 'dir', readonly: p.readonly, preopen: p.guest, append: false, grant: i, path: '.' });
    }
  }

  /** Records a refusal of the boundary's and returns what the guest gets (ENOTCAPABLE). */
  refuse(op: string, at: Entry | null, path: string, why: WasiRefusal['why']): number {
    this.refusalsTotal++;
    // Beneath a directory opened below the preopen: the path from the preopen.
    const named = at && at.kind === 'dir' && at.path !== '.' && !path.startsWith('/') ? `${at.path}/${path}` : path;
    // Redacted whole, before it is cut to PATH_MAX_KEPT (a cut could keep part of a value).
    const full = holdsSecret(named, this.redact) ? REDACTED : named;
    // Cut where a code point ends: a surrogate pair split in two would put ill-formed Unicode
    // in the report (found by attack: 200 emoji).
    const cut = full.length > PATH_MAX_KEPT && /[\ud800-\udbff]/.test(full[PATH_MAX_KEPT - 1]!) ? PATH_MAX_KEPT - 1 : PATH_MAX_KEPT;
    const kept = full.length > PATH_MAX_KEPT ? `${full.slice(0, cut)}…` : full;
    const grant = at ? at.grant : null;
    const same = this.refusals.find((r) => r.op === op && r.path === kept && r.grant === grant && r.why === why);
    if (same) same.count++;
    else if (this.refusals.length < REFUSALS_KEPT) this.refusals.push({ op, path: kept, grant, why, count: 1, atMs: Math.round((performance.now() - this.t0) * 1000) / 1000 });
    return W.NOTCAPABLE;
  }

  get(fd: number): Entry | undefined {
    return this.entries.get(fd);
  }

  add(e: Entry): number {
    const n = this.next++;
    this.entries.set(n, e);
    return n;
  }

  close(fd: number): number {
    const e = this.entries.get(fd);
    if (!e) return W.BADF;
    this.entries.delete(fd);
    closeSync(e.fd);
    return W.SUCCESS;
  }
}

/** shim()'s functions, loaded on the first call of any of them. */
function lazyShim(): ReturnType<typeof shim> {
  let fns: ReturnType<typeof shim> | null = null;
  return new Proxy({} as ReturnType<typeof shim>, { get: (_, k) => (fns ??= shim())[k as keyof ReturnType<typeof shim>] });
}

/** Splits a guest path for an *at() call: the parent opened beneath dir, and a plain leaf. */
function parentAndLeaf(dir: Entry, path: string): { parent: number; leaf: string; close(): void } | number {
  if (path.startsWith('/')) return W.NOTCAPABLE;
  const parts = path.split('/').filter((p) => p !== '');
  const leaf = parts.pop();
  if (leaf === undefined || leaf === '.' || leaf === '..') return W.NOTCAPABLE;
  const parentPath = parts.length ? parts.join('/') : '.';
  const parent = shim().bv_openat2(dir.fd, parentPath, O_PATH | constants.O_DIRECTORY, 0, RESOLVE);
  if (parent < 0) return wasiErr(parent);
  return { parent, leaf, close: () => void closeSync(parent) };
}

export interface FileOps {
  table: FileTable;
  mem: () => DataView;
  bytes: () => Uint8Array;
  str: (ptr: number, len: number) => string;
  /** Charges fuel for the host's work beyond the call's own unit (wasi.ts charges that). */
  charge: (units: number) => void;
}

const FILETYPE = { unknown: 0, dir: 3, file: 4, symlink: 7 } as const;

function filetypeOf(mode: number): number {
  const t = mode & 0o170000;
  return t === 0o040000 ? FILETYPE.dir : t === 0o100000 ? FILETYPE.file : t === 0o120000 ? FILETYPE.symlink : FILETYPE.unknown;
}

function writeFilestat(dv: DataView, at: number, st: BigInt64Array): void {
  dv.setBigUint64(at, BigInt.asUintN(64, st[3]!), true);
  dv.setBigUint64(at + 8, BigInt.asUintN(64, st[2]!), true);
  dv.setUint8(at + 16, filetypeOf(Number(st[0])));
  dv.setBigUint64(at + 24, BigInt.asUintN(64, st[4]!), true);
  dv.setBigUint64(at + 32, BigInt.asUintN(64, st[1]!), true);
  dv.setBigUint64(at + 40, BigInt.asUintN(64, st[5]!), true);
  dv.setBigUint64(at + 48, BigInt.asUintN(64, st[6]!), true);
  dv.setBigUint64(at + 56, BigInt.asUintN(64, st[7]!), true);
}

const RIGHT_FD_READ = 1n << 1n;
const RIGHT_FD_WRITE = 1n << 6n;

// i64 parameters arrive from wasm as BigInt.
type Arg = number & bigint;
export function fileImports(o: FileOps): Record<string, (...a: Arg[]) => number> {
  // The shim (koffi, a native addon: about 10 ms to load) only on the first call that needs it:
  // a guest with no preopens never makes one, and its runner never loads koffi.
  const s = lazyShim();
  const t = o.table;
  const dirOf = (fd: number): Entry | number => {
    const e = t.get(fd);
    if (!e) return W.BADF;
    if (e.kind !== 'dir') return W.NOTDIR;
    return e;
  };
  /** ENOTCAPABLE for a path: absolute, or leaving its preopen (RESOLVE_BENEATH's EXDEV, a leaf of "..") . */
  const escaped = (op: string, d: Entry, path: string): number => t.refuse(op, d, path, path.startsWith('/') ? 'absolute' : 'escape');
  const atCall = (op: string, fd: number, ptr: number, len: number, mutating: boolean, fn: (parent: number, leaf: string) => number): number => {
    const d = dirOf(fd);
    if (typeof d === 'number') return d;
    const path = o.str(ptr, len);
    if (mutating && d.readonly) return t.refuse(op, d, path, 'readonly');
    const pl = parentAndLeaf(d, path);
    if (pl === W.NOTCAPABLE) return escaped(op, d, path);
    if (typeof pl === 'number') return pl;
    try {
      const rc = fn(pl.parent, pl.leaf);
      if (rc === -EXDEV) return escaped(op, d, path);
      return rc < 0 ? wasiErr(rc) : W.SUCCESS;
    } finally {
      pl.close();
    }
  };
  /** rename and link: both ends beneath their directories; the target's must be writable. */
  const twoPaths = (op: string, fd: number, ptr: number, len: number, fd2: number, ptr2: number, len2: number, sourceMutates: boolean, fn: (p: number, l: string, tp: number, tl: string) => number): number => {
    const d2 = dirOf(fd2);
    if (typeof d2 === 'number') return d2;
    const path2 = o.str(ptr2, len2);
    if (d2.readonly) return t.refuse(op, d2, path2, 'readonly');
    const to = parentAndLeaf(d2, path2);
    if (to === W.NOTCAPABLE) return escaped(op, d2, path2);
    if (typeof to === 'number') return to;
    try {
      return atCall(op, fd, ptr, len, sourceMutates, (p, l) => fn(p, l, to.parent, to.leaf));
    } finally {
      to.close();
    }
  };
  const io = (fd: number, iovs: number, n: number, out: number, op: (hostFd: number, buf: Uint8Array, off: number, len: number) => number): number => {
    const e = t.get(fd);
    if (!e || e.kind !== 'file') return e ? W.ISDIR : W.BADF;
    return transferIovecs(o.mem(), o.bytes(), iovs, n, out, (b, p, l) => op(e.fd, b, p, l), o.charge).errno;
  };

  /** pread/pwrite: the transfer from `offset` on, moving with what each iovec moved. */
  const positioned = (fd: number, iovs: number, n: number, offset: Arg, out: number, move: (h: number, b: Uint8Array, p: number, l: number, pos: number) => number): number => {
    // A u64 offset past 2^53 cannot be a position Node's reads take (and none is a file's).
    if (BigInt(offset) > BigInt(Number.MAX_SAFE_INTEGER)) return W.INVAL;
    let pos = Number(offset);
    return io(fd, iovs, n, out, (h, b, p, l) => {
      const k = move(h, b, p, l, pos);
      pos += k;
      return k;
    });
  };

  return {
    fd_prestat_get: (fd, buf) => {
      const e = t.get(fd);
      if (!e || e.preopen === null) return W.BADF;
      const dv = o.mem();
      dv.setUint8(buf, 0);
      dv.setUint32(buf + 4, new TextEncoder().encode(e.preopen).length, true);
      return W.SUCCESS;
    },
    fd_prestat_dir_name: (fd, ptr, len) => {
      const e = t.get(fd);
      if (!e || e.preopen === null) return W.BADF;
      const b = new TextEncoder().encode(e.preopen);
      if (len < b.length) return W.NAMETOOLONG;
      o.bytes().set(b, ptr);
      return W.SUCCESS;
    },
    path_open: (dirfd, lookup, ptr, len, oflags, rightsBase, _rightsInheriting, fdflags, outFd) => {
      const d = dirOf(dirfd);
      if (typeof d === 'number') return d;
      const path = o.str(ptr, len);
      if (path.startsWith('/')) return escaped('path_open', d, path);
      const rights = BigInt(rightsBase);
      const creat = (oflags & 1) !== 0;
      const directory = (oflags & 2) !== 0;
      const excl = (oflags & 4) !== 0;
      const trunc = (oflags & 8) !== 0;
      const append = (fdflags & 1) !== 0;
      const wantWrite = (rights & RIGHT_FD_WRITE) !== 0n || creat || trunc || append;
      if (wantWrite && d.readonly) return t.refuse('path_open', d, path, 'readonly');
      const wantRead = (rights & RIGHT_FD_READ) !== 0n || !wantWrite;
      let flags = constants.O_NONBLOCK | (wantWrite ? (wantRead ? constants.O_RDWR : constants.O_WRONLY) : constants.O_RDONLY);
      if (directory) flags = constants.O_RDONLY | constants.O_DIRECTORY;
      if (creat) flags |= constants.O_CREAT;
      if (excl) flags |= constants.O_EXCL;
      if (trunc) flags |= constants.O_TRUNC;
      if (append) flags |= constants.O_APPEND;
      if ((lookup & 1) === 0) flags |= constants.O_NOFOLLOW;
      let fd = s.bv_openat2(d.fd, path, flags, creat ? 0o644 : 0, RESOLVE);
      // A directory asked for with write rights: open it for reading (it is a directory).
      if (fd === -21 && !directory) fd = s.bv_openat2(d.fd, path, constants.O_RDONLY | constants.O_DIRECTORY | ((lookup & 1) === 0 ? constants.O_NOFOLLOW : 0), 0, RESOLVE);
      if (fd === -EXDEV) return escaped('path_open', d, path);
      if (fd < 0) return wasiErr(fd);
      const st = new BigInt64Array(8);
      s.bv_fstat(fd, st);
      const type = filetypeOf(Number(st[0]));
      if (type !== FILETYPE.file && type !== FILETYPE.dir) {
        closeSync(fd);
        return W.ACCES; // FIFOs, devices, sockets: never (a FIFO would block the runner)
      }
      o.mem().setUint32(outFd, t.add({ fd, kind: type === FILETYPE.dir ? 'dir' : 'file', readonly: d.readonly, preopen: null, append, grant: d.grant, path: d.path === '.' ? path : `${d.path}/${path}` }), true);
      return W.SUCCESS;
    },
    fd_close: (fd) => (fd <= 2 ? W.SUCCESS : t.close(fd)),
    fd_read: (fd, iovs, n, out) => io(fd, iovs, n, out, (h, b, p, l) => readSync(h, b, p, l, null)),
    fd_write: (fd, iovs, n, out) => {
      const e = t.get(fd);
      if (e?.readonly) return t.refuse('fd_write', e, e.path, 'readonly');
      return io(fd, iovs, n, out, (h, b, p, l) => writeSync(h, b, p, l));
    },
    fd_pread: (fd, iovs, n, offset, out) => positioned(fd, iovs, n, offset, out, readSync),
    fd_pwrite: (fd, iovs, n, offset, out) => {
      const e = t.get(fd);
      if (e?.readonly) return t.refuse('fd_pwrite', e, e.path, 'readonly');
      return positioned(fd, iovs, n, offset, out, writeSync);
    },
    fd_seek: (fd, offset, whence, out) => {
      const e = t.get(fd);
      if (!e) return fd <= 2 ? W.SPIPE : W.BADF;
      const off = BigInt.asIntN(64, BigInt(offset));
      const r = BigInt(s.bv_lseek(e.fd, off, whence));
      if (r < 0n) return wasiErr(Number(r));
      o.mem().setBigUint64(out, r, true);
      return W.SUCCESS;
    },
    fd_tell: (fd, out) => {
      const e = t.get(fd);
      if (!e) return fd <= 2 ? W.SPIPE : W.BADF;
      const r = BigInt(s.bv_lseek(e.fd, 0n, 1));
      if (r < 0n) return wasiErr(Number(r));
      o.mem().setBigUint64(out, r, true);
      return W.SUCCESS;
    },
    fd_filestat_get: (fd, buf) => {
      const e = t.get(fd);
      if (!e) return W.BADF;
      const st = new BigInt64Array(8);
      const rc = s.bv_fstat(e.fd, st);
      if (rc < 0) return wasiErr(rc);
      writeFilestat(o.mem(), buf, st);
      return W.SUCCESS;
    },
    fd_filestat_set_size: (fd, size) => {
      const e = t.get(fd);
      if (!e || e.kind !== 'file') return W.BADF;
      if (e.readonly) return t.refuse('fd_filestat_set_size', e, e.path, 'readonly');
      try {
        ftruncateSync(e.fd, Number(size));
      } catch {
        return W.IO;
      }
      return W.SUCCESS;
    },
    fd_readdir: (fd, buf, bufLen, cookieArg, usedPtr) => {
      const e = t.get(fd);
      if (!e) return W.BADF;
      if (e.kind !== 'dir') return W.NOTDIR;
      // Re-read from the start each call; the cookie is the index of the next entry.
      const cookie = Number(cookieArg);
      const dfd = s.bv_openat2(e.fd, '.', constants.O_RDONLY | constants.O_DIRECTORY, 0, RESOLVE);
      if (dfd < 0) return wasiErr(dfd);
      const names: Array<{ name: Uint8Array; ino: bigint; type: number }> = [];
      try {
        const chunk = new Uint8Array(32768);
        for (;;) {
          const n = s.bv_getdents(dfd, chunk, chunk.length);
          if (n < 0) return wasiErr(n);
          if (n === 0) break;
          const dv = new DataView(chunk.buffer, 0, n);
          for (let off = 0; off < n; ) {
            const reclen = dv.getUint16(off + 16, true);
            const dtype = dv.getUint8(off + 18);
            let end = off + 19;
            while (end < off + reclen && chunk[end] !== 0) end++;
            names.push({ name: chunk.slice(off + 19, end), ino: dv.getBigUint64(off, true), type: dtype === 4 ? FILETYPE.dir : dtype === 8 ? FILETYPE.file : dtype === 10 ? FILETYPE.symlink : FILETYPE.unknown });
            off += reclen;
          }
        }
      } finally {
        closeSync(dfd);
      }
      // The host lists the whole directory on every call: one unit per entry listed, so a guest
      // that pages through a large directory a few bytes at a time pays for the host's work.
      o.charge(names.length);
      const dv = o.mem();
      const b = o.bytes();
      let used = 0;
      for (let i = cookie; i < names.length && used < bufLen; i++) {
        const ent = new Uint8Array(24 + names[i]!.name.length);
        const edv = new DataView(ent.buffer);
        edv.setBigUint64(0, BigInt(i + 1), true);
        edv.setBigUint64(8, names[i]!.ino, true);
        edv.setUint32(16, names[i]!.name.length, true);
        edv.setUint8(20, names[i]!.type);
        ent.set(names[i]!.name, 24);
        const n = Math.min(ent.length, bufLen - used);
        b.set(ent.subarray(0, n), buf + used);
        used += n;
      }
      dv.setUint32(usedPtr, used, true);
      return W.SUCCESS;
    },
    path_filestat_get: (fd, lookup, ptr, len, buf) => {
      const d = dirOf(fd);
      if (typeof d === 'number') return d;
      const path = o.str(ptr, len);
      if (path.startsWith('/')) return escaped('path_filestat_get', d, path);
      const h = s.bv_openat2(d.fd, path, O_PATH | ((lookup & 1) === 0 ? constants.O_NOFOLLOW : 0), 0, RESOLVE);
      if (h === -EXDEV) return escaped('path_filestat_get', d, path);
      if (h < 0) return wasiErr(h);
      const st = new BigInt64Array(8);
      const rc = s.bv_fstat(h, st);
      closeSync(h);
      if (rc < 0) return wasiErr(rc);
      writeFilestat(o.mem(), buf, st);
      return W.SUCCESS;
    },
    path_create_directory: (fd, ptr, len) => atCall('path_create_directory', fd, ptr, len, true, (p, l) => s.bv_mkdirat(p, l, 0o755)),
    path_unlink_file: (fd, ptr, len) => atCall('path_unlink_file', fd, ptr, len, true, (p, l) => s.bv_unlinkat(p, l, 0)),
    path_remove_directory: (fd, ptr, len) => atCall('path_remove_directory', fd, ptr, len, true, (p, l) => s.bv_unlinkat(p, l, AT_REMOVEDIR)),
    path_symlink: (tptr, tlen, fd, ptr, len) => {
      const target = o.str(tptr, tlen);
      const d = dirOf(fd);
      // absolute targets point at the host
      if (target.startsWith('/')) return typeof d === 'number' ? W.NOTCAPABLE : t.refuse('path_symlink', d, target, 'absolute');
      return atCall('path_symlink', fd, ptr, len, true, (p, l) => s.bv_symlinkat(target, p, l));
    },
    path_readlink: (fd, ptr, len, buf, bufLen, usedPtr) =>
      atCall('path_readlink', fd, ptr, len, false, (p, l) => {
        // A link's target is at most PATH_MAX - 1 bytes: the buffer is never what the guest asked
        // for (found by attack: 4 GiB allocated per call for one unit), and the answer goes where
        // the guest's buffer is, or FAULT.
        if (buf + bufLen > o.bytes().length || usedPtr + 4 > o.bytes().length) return -EFAULT;
        const tmp = new Uint8Array(Math.max(1, Math.min(bufLen, PATH_MAX)));
        const n = s.bv_readlinkat(p, l, tmp, tmp.length);
        if (n >= 0) {
          o.bytes().set(tmp.subarray(0, n), buf);
          o.mem().setUint32(usedPtr, n, true);
        }
        return n;
      }),
    path_rename: (fd, ptr, len, fd2, ptr2, len2) => twoPaths('path_rename', fd, ptr, len, fd2, ptr2, len2, true, (p, l, tp, tl) => s.bv_renameat(p, l, tp, tl)),
    path_link: (fd, _flags, ptr, len, fd2, ptr2, len2) => twoPaths('path_link', fd, ptr, len, fd2, ptr2, len2, false, (p, l, tp, tl) => s.bv_linkat(p, l, tp, tl)),
  };
}

