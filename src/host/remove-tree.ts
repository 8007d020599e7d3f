// Removes a directory tree that a workload or an archive shaped (an outputs quarantine, an
// extracted bundle) by descriptor. Node's rmSync goes by whole paths and recurses: a workload can
// leave a tree deeper than PATH_MAX (ENAMETOOLONG) or thousands of levels deep (a JS stack
// overflow), and discard, gc and a failed run could then never remove it. Here, as fts does:
// - one directory is open at a time, read as a stream (a directory of millions of names is never
//   held in memory), its names taken as bytes (one that is not UTF-8 goes as it is);
// - going down opens the name O_NOFOLLOW and checks the directory opened is the one lstat saw and
//   on the tree's own mount (device and mount id: no mount is entered, not even a bind mount of
//   the same filesystem; no symlink followed); going up opens ".." and checks it is the directory
//   that was left;
// - a directory its owner cannot read (an archive's mode 000, rootless) is made readable through
//   an O_PATH descriptor checked first, never by a name a writer could swap for a symlink (root
//   needs no chmod at all).
// Errors name the tree and the depth, never a name inside it (a workload chose those).
import { chmodSync, closeSync, fchmodSync, fstatSync, lstatSync, openSync, opendirSync, readFileSync, rmdirSync, unlinkSync, constants as C } from 'node:fs';
import { BvisorError } from '../contract/errors.js';
import { fdInfoPath, fdPath } from './proc-fd.js';

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
/** open(2) O_PATH (not in Node's constants). */
const O_PATH = 0o10000000;

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** Runs `f`; a name that is already gone (another removal got there first) is not an error. */
function unlessGone(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
  }
}

interface Id {
  dev: bigint;
  ino: bigint;
}

const idOf = (fd: number): Id => {
  const st = fstatSync(fd, { bigint: true });
  return { dev: st.dev, ino: st.ino };
};

/** Rootless, a directory's entries can be removed only if its owner may write it (a frozen
 * quarantine is 0500): made 0700 through its descriptor. Root needs nothing. */
function writable(fd: number, root: boolean): void {
  if (!root && (fstatSync(fd).mode & 0o700) !== 0o700) fchmodSync(fd, 0o700);
}

class Changed extends Error {}

/** The mount a descriptor is on (proc(5): /proc/self/fdinfo, mnt_id): a bind mount of the same
 * filesystem has the device of the tree, and only its mount id tells it apart. */
function mountOf(fd: number): string {
  const m = /^mnt_id:\s*(\d+)$/m.exec(readFileSync(fdInfoPath(fd), 'utf8'));
  if (!m) throw new Changed('no mount id for a directory (proc(5) fdinfo)');
  return m[1]!;
}

/**
 * Removes `path` and everything beneath it; nothing when it does not exist; a symlink or a file
 * given as `path` is unlinked, not followed. Throws BV_IO naming `path`.
 */
export function removeTree(path: string): void {
  const root = process.geteuid?.() === 0;
  let top: number;
  try {
    top = openDir(path, null, root, null);
  } catch (e) {
    if (code(e) === 'ENOENT') return;
    // Not a directory, or a symlink (O_NOFOLLOW: ELOOP): the name itself goes.
    if (code(e) === 'ENOTDIR' || code(e) === 'ELOOP') {
      try {
        return unlessGone(() => unlinkSync(path));
      } catch (u) {
        throw new BvisorError('BV_IO', `remove ${path}: unlink: ${code(u) ?? String(u)}`, { hint: 'check its permissions' });
      }
    }
    throw new BvisorError('BV_IO', `remove ${path}: open: ${e instanceof Changed ? e.message : (code(e) ?? String(e))}`, { hint: 'check its permissions' });
  }
  let topId: Id;
  try {
    topId = idOf(top);
  } catch (e) {
    closeSync(top);
    throw new BvisorError('BV_IO', `remove ${path}: fstat: ${code(e) ?? String(e)}`, { hint: 'check its permissions' });
  }
  let topMount = '';
  // The directories between the top and the current one: each one's name in its parent, the
  // parent's identity (for the check on the way up), and the parent's subdirectories still to
  // remove. Only `cur` and `top` are open.
  const path_: Array<{ name: Buffer; parent: Id; queue: Sub[] }> = [];
  let cur = top;
  let curId = topId;
  // Subdirectories of `cur` found by its last pass, not yet removed: a pass per subdirectory
  // re-read the directory from its start each time (120,000 of them: 81 s, mostly the kernel
  // skipping the slots of those already gone). Bounded in all (PENDING_MAX): a deep tree holds
  // one queue per level.
  let queue: Sub[] = [];
  let pending = 0;
  try {
    topMount = mountOf(top);
    writable(top, root);
    for (;;) {
      if (queue.length === 0) {
        queue = emptyOrSubdirs(cur, Math.max(1, Math.min(PASS_MAX, PENDING_MAX - pending)));
        pending += queue.length;
      }
      const sub = queue.pop();
      if (sub) {
        pending--;
        // Another filesystem is never entered (nor, rootless, opened up by a chmod first).
        if (sub.dev !== topId.dev) throw new Changed('another filesystem is mounted inside');
        let down: number;
        try {
          down = openDir(fdPath(cur, sub.name), sub, root, topMount);
        } catch (e) {
          if (code(e) === 'ENOENT') continue; // gone since its pass
          throw e;
        }
        try {
          writable(down, root);
        } catch (e) {
          closeSync(down);
          throw e;
        }
        path_.push({ name: sub.name, parent: curId, queue });
        if (cur !== top) closeSync(cur);
        cur = down;
        curId = { dev: sub.dev, ino: sub.ino };
        queue = [];
        continue;
      }
      // `cur` is empty: up to its parent, which removes it.
      const step = path_.pop();
      if (!step) break; // the top itself
      let parent: number;
      if (path_.length === 0) parent = top;
      else {
        parent = openSync(fdPath(cur, '..'), DIR_FLAGS);
        const pid = idOf(parent);
        if (pid.dev !== step.parent.dev || pid.ino !== step.parent.ino) {
          closeSync(parent);
          throw new Changed('a directory was moved while it was removed');
        }
      }
      closeSync(cur);
      cur = parent;
      curId = step.parent;
      queue = step.queue;
      unlessGone(() => rmdirSync(fdPath(cur, step.name)));
    }
  } catch (e) {
    const why = e instanceof Changed ? e.message : (code(e) ?? String(e));
    throw new BvisorError('BV_IO', `remove ${path}: ${why} (${path_.length} directories down)`, { hint: 'nothing outside it was touched; look at what is left, then remove it by hand' });
  } finally {
    if (cur !== top) closeSync(cur);
    closeSync(top);
  }
  try {
    unlessGone(() => rmdirSync(path));
  } catch (e) {
    throw new BvisorError('BV_IO', `remove ${path}: rmdir: ${code(e) ?? String(e)}`, { hint: 'look at what is left, then remove it by hand' });
  }
}

type Sub = Id & { name: Buffer };
/** Subdirectories one pass collects at most, and all the queues together hold at most. */
const PASS_MAX = 1024;
const PENDING_MAX = 65_536;

/**
 * Unlinks every entry of the directory but its subdirectories, reading it as a stream, until
 * either `max` subdirectories are found (returned, to be removed before it is read again) or a
 * pass finds nothing left ([]): entries removed while a stream reads may hide others from it, so
 * a pass that removes nothing and finds no subdirectory is the only proof it is empty.
 */
function emptyOrSubdirs(dirFd: number, max: number): Sub[] {
  for (;;) {
    let removed = 0;
    const subs: Sub[] = [];
    const dir = opendirSync(fdPath(dirFd), { encoding: 'buffer' as BufferEncoding });
    try {
      for (let d = dir.readSync(); d; d = dir.readSync()) {
        const name = d.name as unknown as Buffer;
        const p = fdPath(dirFd, name);
        let st;
        try {
          st = lstatSync(p, { bigint: true });
        } catch (e) {
          if (code(e) === 'ENOENT') continue;
          throw e;
        }
        if (st.isDirectory()) {
          subs.push({ name, dev: st.dev, ino: st.ino });
          if (subs.length >= max) break;
          continue;
        }
        unlessGone(() => unlinkSync(p));
        removed++;
      }
    } finally {
      dir.closeSync();
    }
    if (subs.length || removed === 0) return subs;
  }
}

/** Throws unless the directory behind `fd` is the one lstat saw (`expect`, if any) and on the
 * tree's own mount (`mount`, if any: not even a bind mount of the same filesystem). */
function check(fd: number, expect: Id | null, mount: string | null): void {
  if (expect !== null) {
    const id = idOf(fd);
    if (id.dev !== expect.dev || id.ino !== expect.ino) throw new Changed('a directory changed while it was removed');
  }
  if (mount !== null && mountOf(fd) !== mount) throw new Changed('another filesystem is mounted inside');
}

/**
 * Opens a directory to empty it, checked (`check`). One its owner cannot read (rootless: mode
 * 000, or the top of a quarantine a workload chmod'ed) is opened O_PATH and checked first, made
 * 0700 through that very descriptor, then opened. Root reads any directory and changes no mode.
 */
function openDir(p: string | Buffer, expect: Id | null, root: boolean, mount: string | null): number {
  let fd: number;
  try {
    fd = openSync(p, DIR_FLAGS);
  } catch (e) {
    if (root || code(e) !== 'EACCES') throw e;
    const pathFd = openSync(p, O_PATH | C.O_NOFOLLOW | C.O_DIRECTORY);
    try {
      check(pathFd, expect, mount);
      chmodSync(fdPath(pathFd), 0o700);
      fd = openSync(fdPath(pathFd), C.O_RDONLY | C.O_DIRECTORY);
    } finally {
      closeSync(pathFd);
    }
  }
  try {
    check(fd, expect, mount);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}
