// Small-file writes that a crash cannot tear: temp file in the same directory, fsync, rename over,
// then (unless the caller says a later write will) fsync the directory. A crash leaves either the
// old file or the new one, never a torn one. And the reservations that hold space for them.
import { openSync, writeSync, fsyncSync, fstatSync, closeSync, renameSync, rmSync, ftruncateSync, fchmodSync, statfsSync, constants as C } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { constants as osConstants } from 'node:os';
import { BvisorError } from '../contract/errors.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

/** writeSync until all is written: a file system that fills up mid-write writes less than asked
 * once, and only the next call reports the errno. */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length; ) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw Object.assign(new Error('write returned 0'), { code: 'EIO' });
    off += n;
  }
}

/**
 * How far a write must reach the disk before writeFileAtomic returns. The file's data is always
 * fsync'd before its rename, so a crash of the machine leaves the old file or the new one, never a
 * torn one. `durable` (the default) also fsyncs the directory, so the new name survives such a
 * crash. `renamed` leaves that to a later durable write in the same directory (whose directory
 * fsync commits every rename before it), or to nobody, for a record that matters only while the
 * processes it names exist: a machine that crashes takes those with it, and the file it left is
 * the previous whole one. `unsynced` fsyncs nothing: for a record that only explains what a
 * report says (its loss costs words, never the report), whose reader rejects a torn or empty file,
 * and whose writer must not wait on a disk a workload may be keeping busy.
 */
export type Durability = 'durable' | 'renamed' | 'unsynced';

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600, durability: Durability = 'durable'): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeAll(fd, data);
    if (durability !== 'unsynced') fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (durability === 'durable') fsyncDir(dirname(path));
}

/** Free space beyond twice a reservation's size above which its freed blocks are not needed at once. */
const FREED_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * After a reservation of `bytes` in `dir` was unlinked, just before the write it was held for:
 * ext4 hands freed blocks out again once the unlink is committed to its journal, which a
 * directory fsync forces (it also commits and retries by itself on ENOSPC; xfs and btrfs free
 * them later in any case). That matters only where the write might not fit without them.
 * With twice the reservation and 16 MiB more free for us (statfs(2) f_bavail), the fsync would
 * flush the disk for nothing, and is skipped; near full, or when statfs fails, it is made.
 */
export function freedSpaceUsable(dir: string, bytes: number): void {
  try {
    const s = statfsSync(dir);
    if (s.bavail * s.bsize >= 2 * bytes + FREED_SLACK_BYTES) return;
  } catch {
    // the fsync below
  }
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fallocate(2)'s answers that mean "not here" (a file system without it, NFSv3 or FUSE; a
 * sandbox that filters the call): the blocks are then written. */
const NO_FALLOCATE = new Set([osConstants.errno.EOPNOTSUPP, osConstants.errno.ENOSYS]);

/**
 * Gives an empty file `bytes` of real blocks (not a sparse hole), so that a later write over them
 * needs no new space. fallocate(2) allocates them at once, with nothing written and nothing to
 * fsync (retried on EINTR: tmpfs's gives up when a signal is pending); where there is none, zeros
 * are written (zeroFill). Either way the file then reads as `bytes` zeros. Throws an Error whose
 * code is the errno's name (ENOSPC, EDQUOT…).
 */
export function holdBlocks(fd: number, bytes: number): void {
  if (bytes <= 0) return;
  let rc: number;
  do rc = shim().bv_fallocate(fd, bytes);
  while (rc === -osConstants.errno.EINTR);
  if (rc === 0) return;
  if (!NO_FALLOCATE.has(-rc)) throw Object.assign(new Error(`fallocate: ${errnoName(rc)}`), { code: errnoName(rc) });
  zeroFill(fd, bytes);
}

/** Writes `bytes` zeros from offset 0 and fsyncs: the fsync makes delayed allocation allocate
 * the blocks now (otherwise it only promises them). holdBlocks where there is no fallocate. */
export function zeroFill(fd: number, bytes: number): void {
  writeAll(fd, Buffer.alloc(bytes));
  fsyncSync(fd);
}

/**
 * Holds `bytes` of the state root for a later write of `what` (holdBlocks): a file made
 * exclusively, removed again if it could not be filled. A root that cannot take it is
 * BV_STATE_ROOT_UNUSABLE, before anything that needs it exists. The file's name need not survive
 * a crash (its space is for this process's writes), so neither it nor its directory is fsync'd.
 */
export function reserveSpace(path: string, bytes: number, what: string): void {
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      holdBlocks(fd, bytes);
    } catch (e) {
      closeSync(fd);
      rmSync(path, { force: true });
      throw e;
    }
    closeSync(fd);
  } catch (e) {
    throw new BvisorError('BV_STATE_ROOT_UNUSABLE', `cannot take the ${bytes} bytes of ${what} in ${dirname(path)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'free space in the state root (or make it writable); nothing was created', cause: e });
  }
}

/**
 * writeFileAtomic through a reservation (reserveSpace): the data overwrites the reservation's
 * blocks, which needs no new space where those blocks are written in place (ext4 and xfs, whose
 * conversion of fallocated extents draws on a pool they keep for it; tmpfs; btrfs writes into
 * its fallocated extents in place once; not ZFS, which copies on every write and whose fallocate
 * allocates nothing), and the file is renamed into place. So the write
 * succeeds on a file system that filled up since the reservation was made. Data longer than the
 * reservation is written beyond it (new space only for the excess). Without the reservation (used,
 * never made), or when what is there is not a plain file of ours with one link, a plain
 * writeFileAtomic.
 */
export function writeFileOverReservation(path: string, data: string | Uint8Array, reservation: string, mode = 0o600): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put there must not hang us (it fails the check below instead).
    fd = openSync(reservation, C.O_WRONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch {
    return writeFileAtomic(path, buf, mode);
  }
  let ours: boolean;
  try {
    const st = fstatSync(fd);
    ours = st.isFile() && st.nlink === 1 && st.uid === process.geteuid?.();
    if (ours) {
      writeAll(fd, buf);
      ftruncateSync(fd, buf.length);
      fchmodSync(fd, mode);
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
  if (!ours) return writeFileAtomic(path, buf, mode);
  renameSync(reservation, path);
  fsyncDir(dirname(path));
}
