// Container mode's landlock rules on the rootfs itself. A rule on "/" would cover every grant
// mounted beneath it (landlock rights add up along a path, across mounts), widening a read
// grant to the rootfs's rights. So the rules go on the rootfs's own entries instead: every entry
// of "/" except the mount points, and, inside a directory that leads to a mount point, its other
// entries, recursively. Listed here from the descriptor the launcher checked; the child opens
// each again in the final root (no symlink followed; a symlink or a vanished entry is skipped,
// so an entry that changed in between gets no rule: closed, not open).
import { lchownSync, readdirSync, readlinkSync } from 'node:fs';
import type { LaunchInputs } from '../../../contract/generated/types.js';
import { FS_RIGHTS, type FsRight } from '../../../core/landlock.js';
import { under } from '../../../core/layout.js';
import { BvisorError } from '../../../contract/errors.js';
import { shim, O } from '../ffi/shim.js';
import { identityOf, RESOLVE, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR } from './objects.js';
import { errnoName } from '../../../host/facts.js';
import { fdPath } from '../../../host/proc-fd.js';

const READ: FsRight[] = ['READ_FILE', 'READ_DIR', 'EXECUTE'];
const WRITE: FsRight[] = ['WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER'];

export function rootfsRules(rootFd: number, launch: LaunchInputs): Array<{ target: string; rights: FsRight[] }> {
  // A narrowing boundary beside an OCI config names the reachable paths itself; a file among
  // them gets only the rights a file can have (landlock refuses directory rights on a file).
  if (launch.oci?.rootRules) {
    return launch.oci.rootRules.map((r) => {
      // Looked at beneath the rootfs, no symlink followed (a rootfs link must not make bvisor,
      // as root, look up a host path); missing or a link: the child skips it (optional rule),
      // closed rather than open.
      const at = beneathNoLinks(rootFd, r.target);
      let isDir = true;
      if (at >= 0) {
        try {
          isDir = (identityOf(at).mode & S_IFMT) === S_IFDIR;
        } finally {
          shim().bv_close(at);
        }
      }
      const rights = r.rights as FsRight[];
      return { target: r.target, rights: isDir ? rights : rights.filter((x) => FS_RIGHTS[x].fileOk) };
    });
  }
  const dirRights = launch.root?.readonly ? READ : [...READ, ...WRITE];
  const fileRights = dirRights.filter((r) => FS_RIGHTS[r].fileOk);
  const mounts = launch.layout.filter((e) => e.target !== '/' && e.kind !== 'symlink' && e.kind !== 'mask' && e.kind !== 'readonly').map((e) => e.target);
  const out: Array<{ target: string; rights: FsRight[] }> = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 32) return;
    let entries;
    // Listed through a descriptor opened beneath the rootfs with no symlink followed: a
    // directory a writable root's workload swapped for a link is not listed on the host.
    const at = dir === '' ? beneathNoLinks(rootFd, '.') : beneathNoLinks(rootFd, dir);
    if (at < 0) return; // vanished, a link, or unreadable: no rule, so nothing is allowed there
    try {
      entries = readdirSync(fdPath(at), { withFileTypes: true });
    } catch {
      return;
    } finally {
      shim().bv_close(at);
    }
    for (const e of entries) {
      const t = `${dir}/${e.name}`;
      if (mounts.includes(t)) continue; // its own mount brings its own rules
      if (mounts.some((m) => under(m, t))) {
        if (e.isDirectory()) walk(t, depth + 1);
        continue;
      }
      if (e.isSymbolicLink()) continue;
      out.push({ target: t, rights: e.isDirectory() ? dirRights : fileRights });
    }
  };
  walk('', 0);
  // Listing "/" only (READ_DIR) widens nothing but a write-only grant's listing: add it unless
  // one exists.
  if (!launch.filesystem.some((r) => !r.access.startsWith('read'))) out.push({ target: '/', rights: ['READ_DIR'] });
  return out;
}

/** openat2(rootFd, path, O_PATH|O_NOFOLLOW) beneath the rootfs, no symlink followed: an fd or -errno. */
function beneathNoLinks(rootFd: number, path: string): number {
  return shim().bv_openat2(rootFd, path.replace(/^\/+/, '') || '.', O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
}

/**
 * Creates, as the parent (bvisor's own ids), the mount points container mode needs directly in
 * the rootfs: the workload's ids may not write a root-owned rootfs. Each is made beneath the
 * rootfs descriptor, one component at a time, never through a symlink (a rootfs whose `data`
 * is a link to a host directory cannot make bvisor create anything on the host). Mount points
 * inside another mount (/dev/null in /dev's tmpfs) are the child's to make.
 */
export function prepareMountPoints(rootFd: number, launch: LaunchInputs): void {
  const s = shim();
  const mounts = launch.layout.filter((e) => e.target !== '/' && (e.kind === 'bind' || e.kind === 'tmpfs' || e.kind === 'proc' || e.kind === 'device' || e.kind === 'sysfs' || e.kind === 'mqueue' || e.kind === 'devpts' || e.kind === 'cgroup2'));
  for (const e of mounts) {
    if (mounts.some((o) => o !== e && o.target !== e.target && under(e.target, o.target))) continue;
    const file = e.kind === 'device' || (e.kind === 'bind' && launch.filesystem.find((r) => r.clause === e.clause)?.kind !== 'directory');
    const segs = e.target.split('/').filter(Boolean);
    let dir = s.bv_openat2(rootFd, '.', O.PATH | O.DIRECTORY, 0, RESOLVE.BENEATH);
    if (dir < 0) throw stepErr(e.target, dir);
    try {
      for (let i = 0; i < segs.length; i++) {
        const last = i === segs.length - 1;
        const name = segs[i]!;
        let next = s.bv_openat2(dir, name, O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
        if (next === -2 /* ENOENT */) {
          const made = last && file ? s.bv_openat2(dir, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW, 0o644, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS) : s.bv_mkdirat(dir, name, 0o755);
          if (made < 0 && made !== -17 /* EEXIST */) throw stepErr(e.target, made);
          if (last && file && made >= 0) s.bv_close(made);
          next = s.bv_openat2(dir, name, O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
        }
        if (next < 0) throw stepErr(e.target, next);
        const kind = identityOf(next).mode & S_IFMT;
        const want = last && file ? S_IFREG : S_IFDIR;
        // A symlink, a FIFO or a device where a mount point belongs: never used, never opened.
        if (kind !== want && !(last && file && e.kind === 'bind' && kind === S_IFCHR)) {
          s.bv_close(next);
          throw new BvisorError('BV_LAUNCH_FAILED', `root: the mount point ${e.target} (${e.clause ?? e.kind}) is ${kind === S_IFLNK ? 'a symlink' : 'not a ' + (want === S_IFDIR ? 'directory' : 'regular file')} in the rootfs at /${segs.slice(0, i + 1).join('/')}`, { hint: 'the rootfs must not put links or special files where bvisor mounts; nothing ran' });
        }
        s.bv_close(dir);
        dir = next;
      }
    } finally {
      s.bv_close(dir);
    }
  }
}

/**
 * Makes a missing working directory in the rootfs, as runc and crun make it, as the parent (the
 * workload's ids may not write a root-owned rootfs). Each prefix is resolved as the workload will
 * resolve it, inside the root (RESOLVE_IN_ROOT: `/var/run -> /run` is followed there, never out of
 * it), on the rootfs's own filesystem (RESOLVE_NO_XDEV: a mount inside the rootfs is not bvisor's
 * to write as root), and only a missing step is made, 0755, owned as the directory it is made in.
 * Where a prefix lands under a mount the layout puts there (a grant, /tmp's or /run's tmpfs), the
 * rest is the child's to make, as the workload, after the mounts. Anything else in the way (a file,
 * a dangling link) is left for the chdir, which fails naming the working directory.
 */
export function prepareCwd(rootFd: number, launch: LaunchInputs): void {
  const cwd = launch.workload.cwd;
  const mounted = launch.layout.filter((e) => e.target !== '/' && e.kind !== 'symlink' && e.kind !== 'readonly').map((e) => e.target);
  const underMount = (p: string): boolean => mounted.some((t) => under(p, t));
  if (cwd === '/' || underMount(cwd)) return;
  const s = shim();
  const top = readlinkSync(fdPath(rootFd));
  /** Where an fd opened in the root is, as a path in the root; null if not in it. */
  const inRoot = (fd: number): string | null => {
    const at = readlinkSync(fdPath(fd));
    return at === top ? '/' : at.startsWith(top + '/') ? at.slice(top.length) : null;
  };
  const open = (rel: string): number => s.bv_openat2(rootFd, rel || '.', O.PATH | O.DIRECTORY, 0, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV);
  const segs = cwd.split('/').filter(Boolean);
  let parent = open('');
  if (parent < 0) return;
  try {
    for (let i = 1; i <= segs.length; i++) {
      const prefix = segs.slice(0, i).join('/');
      let at = open(prefix);
      if (at === -2 /* ENOENT */) {
        const name = segs[i - 1]!;
        const made = s.bv_mkdirat(parent, name, 0o755);
        // EEXIST: a dangling link holds the name. The chdir says so.
        if (made === -17 /* EEXIST */) return;
        if (made < 0) throw new BvisorError('BV_LAUNCH_FAILED', `root: making the missing working directory ${cwd} in the rootfs, at /${prefix}: ${errnoName(made)}`, { hint: 'nothing ran; set process.cwd (workload.process.cwd) to a directory the rootfs has' });
        const owner = identityOf(parent);
        at = open(prefix);
        if (at >= 0) {
          const got = identityOf(at);
          if (got.uid !== owner.uid || got.gid !== owner.gid) lchownSync(fdPath(parent, name), owner.uid, owner.gid);
        }
      }
      if (at < 0) return;
      s.bv_close(parent);
      parent = at;
      const where = inRoot(at);
      if (where === null || underMount(where)) return;
    }
  } finally {
    s.bv_close(parent);
  }
}

function stepErr(target: string, rc: number): BvisorError {
  return new BvisorError('BV_LAUNCH_FAILED', `root: making the mount point ${target} in the rootfs: ${errnoName(rc)}${rc === -40 ? ' (a symlink is in the way)' : ''}`, { hint: 'nothing ran; the rootfs must let bvisor create its mount points, with no symlink on their paths' });
}
