// Where a host path resolves, as the kernel resolves it (openat2, one component at a time, a
// symlink followed only when nobody but root could have made or swapped it), and the facts of
// what is there. Apart from the bundle reader (host/bundle.ts), so that outputs' commit, which a
// lifecycle command runs when it seals a report, does not bring the manifest and OCI parsers
// into that command's start-up snapshot (docs/startup.md).
import { readlinkSync, realpathSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { PathFact } from '../core/features.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { identityOf, openPlanned, AT_FDCWD, RESOLVE, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } from '../backends/linux/host/objects.js';

/** What an open descriptor is: physical path (the kernel's, from /proc/self/fd), kind, identity. */
export function factOfFd(fd: number): PathFact {
  const id = identityOf(fd);
  const t = id.mode & S_IFMT;
  return { path: readlinkSync(`/proc/self/fd/${fd}`), kind: t === S_IFDIR ? 'directory' : t === S_IFREG ? 'file' : 'other', dev: id.dev, ino: id.ino, uid: id.uid, gid: id.gid, mode: id.mode & 0o7777 };
}

/**
 * An absolute host path, resolved one component at a time. A symlink on the way is followed
 * only when nobody but root (or the caller) could have made it or could swap it: the link is
 * theirs and sits in a directory of theirs that nobody else may write (the merged-/usr `/bin`).
 * Any other link (one a workload planted in a directory it could write, one a local user races
 * in and out) makes the fact `untrusted`, and the planner refuses it: a grant never silently
 * becomes a different directory.
 */
export function resolveHostPath(path: string): PathFact {
  const s = shim();
  const me = process.geteuid?.() ?? -1;
  const trustedId = (uid: number): boolean => uid === 0 || uid === me;
  let dir = s.bv_openat2(AT_FDCWD, '/', O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
  if (dir < 0) return { path, kind: 'missing' };
  let dirId = identityOf(dir);
  let rest = path.split('/').filter((x) => x && x !== '.');
  let hops = 0;
  const links: Array<{ at: string; text: string }> = [];
  // Every directory the lookup passed through: the kernel needs search permission on each.
  const searched: Array<{ uid: number; gid: number; mode: number }> = [];
  try {
    while (rest.length) {
      const name = rest.shift()!;
      searched.push({ uid: dirId.uid, gid: dirId.gid, mode: dirId.mode });
      const fd = s.bv_openat2(dir, name, O.PATH | O.NOFOLLOW, 0, RESOLVE.NO_MAGICLINKS);
      if (fd < 0) return { path: physical(path), kind: 'missing' };
      const id = identityOf(fd);
      if ((id.mode & S_IFMT) !== S_IFLNK) {
        s.bv_close(dir);
        dir = fd;
        dirId = id;
        continue;
      }
      // A symlink: whose is it, and who could change the directory it sits in?
      const parent = dirId;
      const where = readlinkSync(`/proc/self/fd/${dir}`);
      const link = `${where === '/' ? '' : where}/${name}`;
      s.bv_close(fd);
      if (!trustedId(id.uid) || !trustedId(parent.uid) || (parent.mode & 0o022) !== 0 || ++hops > 40) {
        return { path: link, kind: 'missing', untrusted: `${link} is a symlink ${!trustedId(id.uid) ? `owned by uid ${id.uid}` : 'in a directory others may write'}` };
      }
      const text = readlinkSync(link);
      links.push({ at: link, text });
      if (text.startsWith('/')) {
        s.bv_close(dir);
        dir = s.bv_openat2(AT_FDCWD, '/', O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
        if (dir < 0) return { path, kind: 'missing' };
        dirId = identityOf(dir);
      }
      rest = [...text.split('/').filter((x) => x && x !== '.'), ...rest];
    }
    const fact = { ...factOfFd(dir), searched };
    return links.length ? { ...fact, links } : fact;
  } finally {
    if (dir >= 0) s.bv_close(dir);
  }
}

/**
 * A path a plan already identified, as a fact again: opened with no symlink allowed and checked
 * to be the same object (dev, ino), else BV_LAUNCH_CHANGED.
 */
export function resolvePlanned(ref: { path: string; dev: string; ino: string }, what: string): PathFact {
  const fd = openPlanned(ref, what);
  try {
    return factOfFd(fd);
  } finally {
    shim().bv_close(fd);
  }
}

/** The real path when it exists; else the real path of the deepest existing ancestor + the rest. */
export function physical(path: string): string {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = realpathSync.native(head);
      return tail.length ? join(real, ...tail.reverse()) : real;
    } catch {
      const parent = posix.dirname(head);
      if (parent === head) return path;
      tail.push(posix.basename(head));
      head = parent;
    }
  }
}


/**
 * A directory's identity (`dev:ino`, decimal), and those of every directory above it as `..`
 * climbs to the root of this mount namespace: what it is, whatever path named it. A negative
 * errno when a step cannot be opened.
 */
export function dirLineage(fd: number): string[] | number {
  const s = shim();
  const out: string[] = [];
  let cur = s.bv_openat2(fd, '.', O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
  try {
    while (cur >= 0 && out.length < 4096) {
      const id = identityKey(cur);
      if (out.at(-1) === id) break; // `..` of the root is the root
      out.push(id);
      const up = s.bv_openat2(cur, '..', O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
      s.bv_close(cur);
      cur = up;
    }
    return cur < 0 ? cur : out;
  } finally {
    if (cur >= 0) s.bv_close(cur);
  }
}

/** An open object's identity as dirLineage and the plan's facts spell it: `dev:ino`, decimal,
 * all 64 bits (a JS number would round a large inode). */
export function identityKey(fd: number): string {
  const id = identityOf(fd);
  return `${id.dev}:${id.ino}`;
}

/** The identity of `name` beneath the directory fd (not followed if a symlink), or none. */
export function identityBeneath(dirFd: number, name: string): string[] {
  const s = shim();
  const fd = s.bv_openat2(dirFd, name, O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS);
  if (fd < 0) return [];
  try {
    return [identityKey(fd)];
  } finally {
    s.bv_close(fd);
  }
}
