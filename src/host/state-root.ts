// The state root before a workload runs. A run ends with writes into the state root (its
// container directory, the sealed report's journal entry, the journal head); if the root cannot
// take them, the workload has run and its evidence is lost. prepareStateRoot finds that out
// first: the root is a real directory of ours (made 0700 if missing; never a symlink, checked
// with lstat), not writable by others, and can take the run's writes now, because a reservation
// of that size is allocated (atomic.ts holdBlocks) and held until the caller releases it just
// before those writes. The journal's tail is checked too (head valid, last line complete, key right), so a
// damaged journal is a coded error before the run rather than after it.
import { lstatSync, statSync, mkdirSync, openSync, closeSync, unlinkSync, readdirSync, statfsSync, readlinkSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import { fault } from './faults.js';
import { onFilesystem } from './facts.js';
import { shim, LOCK_EX, LOCK_NB } from '../backends/linux/ffi/shim.js';
import { freedSpaceUsable, holdBlocks } from './atomic.js';
import { checkJournal, checkJournalYielding, type JournalKey, type JournalState } from './journal-store.js';

/**
 * What a run writes into the root besides captured output: a journal line (a real sealed report
 * is about 6 KiB), the head, and for create the state, plan, exit and report files: 64 KiB is
 * several times that. Callers whose monitor writes captured streams into the root add those
 * (limits.output per captured stream). Cost: about 0.3 ms on tmpfs (/run), a few ms of fsync on
 * a disk.
 */
export const DEFAULT_RESERVE_BYTES = 64 * 1024;
const RESERVE_PREFIX = '.reserve.';

export interface PrepareOptions {
  /** Bytes to reserve (default DEFAULT_RESERVE_BYTES); 0 checks writability with an empty file only. */
  reserveBytes?: number;
  /** The journal key the run will append with (loadJournalKey); checked against a keyed journal. */
  key?: JournalKey | null;
  /** prepareStateRootYielding: asked at each turn of a wait for the journal's lock; a throw ends
   * the wait (the caller's stop), and the room is given back. */
  stillWanted?: () => void;
}

export interface StateRootLease {
  root: string;
  /** The journal as the run will find it (head, size, key id). */
  journal: JournalState;
  /** The reservation file, until released. */
  reservation: string | null;
  /**
   * Gives the reserved space back: call it just before the writes it was held for (appendReport
   * does, given { reservation: lease }), and in a finally. Idempotent; never throws.
   */
  release(): void;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);
}

function unusable(root: string, why: string, hint: string, errno: string | null = null, cause?: unknown): BvisorError {
  return new BvisorError('BV_STATE_ROOT_UNUSABLE', `state root ${root}: ${why}`, { hint, detail: { root, errno }, ...(cause === undefined ? {} : { cause }) });
}

const ROOT_HINT = 'pass --root with a directory of your own on a writable file system with free space';

function errnoHint(code: string, after = 'nothing ran'): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `free space on its file system (df -h), or pass --root on another one; ${after}`;
    case 'EROFS':
      return `its file system is mounted read-only: remount it read-write, or pass --root on a writable one; ${after}`;
    case 'EACCES':
    case 'EPERM':
      return `we may not write there: fix its owner and mode (chmod 700), or pass --root with a directory of our own; ${after}`;
    default:
      return `${ROOT_HINT}; ${after}`;
  }
}

const ROOT_FAULTS = ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'];

/** A failure of the state root itself (full, read-only), as opposed to a bug or bad input. */
export function isRootFault(e: unknown): boolean {
  if (e instanceof BvisorError) return e.code === 'BV_STATE_ROOT_UNUSABLE' || (e.code === 'BV_IO' && ROOT_FAULTS.some((c) => e.message.includes(c)));
  return ROOT_FAULTS.includes(errnoOf(e));
}

/** A root that is full or read-only, where retrying once there is room is safe; not one that
 * fails (EIO), which is reported as the error it is. */
export function isRootOutOfRoom(e: unknown): boolean {
  if (!isRootFault(e)) return false;
  return e instanceof BvisorError ? !e.message.includes('EIO') : errnoOf(e) !== 'EIO';
}

/**
 * A write into the state root after a run (a seal, a state update): a full or read-only root
 * is BV_STATE_ROOT_UNUSABLE, any other errno BV_IO; never BV_INTERNAL. Retrying later is safe.
 */
export function writeIntoRoot(root: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (e instanceof BvisorError || typeof code !== 'string') throw e;
    if (isRootFault(e)) throw unusable(root, `writing: ${code}`, errnoHint(code, 'then retry'), code, e);
    throw new BvisorError('BV_IO', `state root ${root}: writing: ${code}`, { hint: errnoHint(code, 'then retry'), cause: e });
  }
}

/** Makes the root if missing, then checks that it is a real directory that only we can write. */
export function ensureDirectory(root: string): void {
  let st;
  try {
    st = lstatSync(root);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw unusable(root, `lstat: ${errnoOf(e)}`, errnoHint(errnoOf(e)), errnoOf(e), e);
    // One component at a time: Node's recursive mkdir reports ENOENT for what was EROFS.
    const abs = resolve(root);
    const parts = abs.split('/').filter(Boolean);
    // Where the making starts must be trusted first (an attack in December): mkdir follows a
    // symlink on the way, so a root under another user's link or directory made directories
    // wherever that led, as root, before the check refused it.
    let have = parts.length - 1;
    while (have > 0 && !lstatSync('/' + parts.slice(0, have).join('/'), { throwIfNoEntry: false })) have--;
    checkMakeableIn(root, '/' + parts.slice(0, have).join('/'), process.geteuid?.() ?? -1);
    const uid = process.geteuid?.() ?? -1;
    fault('state-root:before-make');
    for (let i = 1; i <= parts.length; i++) {
      const dir = '/' + parts.slice(0, i).join('/');
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (e2) {
        const code = errnoOf(e2);
        if (code !== 'EEXIST') throw unusable(root, `cannot be created (mkdir ${dir}): ${code}`, errnoHint(code), code, e2);
      }
      // Below the checked start, each step is what was just made, or one that appeared since
      // (another user, racing in a sticky directory, an attack in December): that one is refused
      // before anything is made in it. One we made, no one else can rename (sticky, or ours).
      if (i > have) checkMadeStep(root, dir, uid);
    }
    st = lstatSync(root);
  }
  checkOwned(root, st);
}

/**
 * An existing state root, before any command reads what it holds: state files that name
 * processes and cgroups to kill, plans whose OCI hooks it runs, quarantines it removes. The same
 * checks as before a run (a real directory of ours that no one else can write, a real
 * containers/), so a root someone else made or can write (the default /tmp/bvisor-<uid> without
 * XDG_RUNTIME_DIR, which any local user can create first) is refused, not believed. A root
 * that does not exist holds nothing: the command then finds no container (false: there is none).
 */
export function checkStateRoot(root: string): boolean {
  let st;
  try {
    st = lstatSync(root);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw unusable(root, `lstat: ${errnoOf(e)}`, errnoHint(errnoOf(e), 'nothing was read'), errnoOf(e), e);
  }
  checkOwned(root, st);
  return true;
}

function checkOwned(root: string, st: import('node:fs').Stats): void {
  if (st.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(root);
    } catch {
      /* the lstat said symlink; the message needs no more */
    }
    let dangling = false;
    try {
      statSync(root);
    } catch {
      dangling = true;
    }
    throw unusable(root, `is a symlink to ${target}${dangling ? ', which does not exist (dangling)' : ''}; bvisor does not follow a symlinked state root`, 'pass --root with the real directory, or remove the link', 'ELOOP');
  }
  if (!st.isDirectory()) throw unusable(root, 'is not a directory', ROOT_HINT, 'ENOTDIR');
  const uid = process.geteuid?.() ?? st.uid;
  if (st.uid !== uid) throw unusable(root, `is owned by uid ${st.uid}, not by us (uid ${uid})`, `chown ${uid} ${root}, or pass --root with a directory of our own`, 'EPERM');
  if ((st.mode & 0o022) !== 0) throw unusable(root, `is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): they could plant files bvisor trusts`, `chmod 700 ${root}`, 'EPERM');
  checkAncestors(root, uid);
  try {
    const c = lstatSync(join(root, 'containers'));
    if (!c.isDirectory()) throw unusable(root, `${join(root, 'containers')} is ${c.isSymbolicLink() ? 'a symlink' : 'not a directory'}`, `remove ${join(root, 'containers')}; bvisor makes it`, 'ENOTDIR');
  } catch (e) {
    if (e instanceof BvisorError) throw e;
    if (errnoOf(e) !== 'ENOENT') throw unusable(root, `lstat containers: ${errnoOf(e)}`, errnoHint(errnoOf(e)), errnoOf(e), e);
  }
}

/**
 * In a user namespace other than the first (rootless podman runs its runtime as root in one; a
 * container may run bvisor), every file whose owner the namespace does not map shows as the
 * overflow uid (user_namespaces(7)): host root's /, /run and /tmp among them. Such an owner
 * cannot be told apart, so it is taken as the directories' rightful one (their modes still
 * count); in the first namespace there is no such owner (-1).
 */
let unmapped: number | null = null;
function unmappedOwner(): number {
  if (unmapped === null) {
    let initial = true;
    try {
      initial = /^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'));
    } catch {
      // no /proc: taken as the first namespace (the stricter answer)
    }
    let overflow = 65534;
    try {
      overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim()) || 65534;
    } catch {
      // the kernel's default
    }
    unmapped = initial ? -1 : overflow;
  }
  return unmapped;
}

/**
 * The directories above the root: none may be changed by anyone but root or us, or whoever can
 * could swap the whole root for one of theirs (rename(2), RENAME_EXCHANGE) between this check and
 * the reads after it, which go by path: state files that name what delete kills, plans whose OCI
 * hooks it runs as root. So each is owned by root or us and writable by no one else, or sticky
 * (/tmp: another user may not rename what is not theirs there, unlink(2)), and then the entry
 * below it is root's or ours. Checked along the path as given (a symlink on it must be root's or
 * ours) and along its real path (where a symlink leads). OpenSSH's StrictModes, sudo's sudoers
 * checks.
 */
function checkAncestors(root: string, uid: number, of: string = root): void {
  const trusted = (o: number, path: string): boolean => trustedOwner(o, uid, path);
  const look = (p: string): import('node:fs').Stats => {
    try {
      return lstatSync(p);
    } catch (e) {
      throw unusable(root, `lstat ${p}: ${errnoOf(e)}`, errnoHint(errnoOf(e), 'nothing was read'), errnoOf(e), e);
    }
  };
  /** One directory on the way, with the entry below it that the path goes through. */
  const level = (dir: string, st: import('node:fs').Stats, child: string, childSt: import('node:fs').Stats): void => {
    if (childSt.isSymbolicLink() && !trusted(childSt.uid, child)) throw unusable(root, `${child} on its path is a symlink owned by uid ${childSt.uid}: they could point the root elsewhere`, unmappedHint(childSt.uid, uid), 'EPERM');
    if (!trusted(st.uid, dir)) throw unusable(root, `${dir}, above it, is owned by uid ${st.uid}: they could swap the root for a directory of theirs`, unmappedHint(st.uid, uid), 'EPERM');
    if ((st.mode & 0o022) === 0) return;
    if ((st.mode & 0o1000) !== 0 && trusted(childSt.uid, child)) return; // sticky: only the entry's owner (or the directory's) renames it
    throw unusable(root, `${dir}, above it, is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})${st.mode & 0o1000 ? ` and ${child} is owned by uid ${childSt.uid}` : ''}: they could swap the root for a directory of theirs`, unmappedHint(st.mode & 0o1000 ? childSt.uid : -2, uid), 'EPERM');
  };
  // The path walked as the kernel resolves it, one name at a time: every directory it passes
  // through and every symlink it follows, however deep (a link reached inside a link's target is
  // on neither the path as given nor its real path: an attack in December pointed a root-owned
  // link at a user's link, which then chose where root made and wrote the root).
  const pending = resolve(of).split('/').filter(Boolean);
  let dir = '/';
  let dirSt = look('/');
  let links = 0;
  while (pending.length) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      dir = dir === '/' ? '/' : dir.slice(0, dir.lastIndexOf('/')) || '/';
      dirSt = look(dir);
      continue;
    }
    const child = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const childSt = look(child);
    level(dir, dirSt, child, childSt);
    if (childSt.isSymbolicLink()) {
      // A link in /proc is a magic link: the kernel resolves it in another process's view (its
      // root, its cwd, its descriptors), not as its text reads here (an attack in December:
      // /proc/<pid>/root of a process in another mount namespace led there).
      if (onProc(dir)) throw unusable(root, `${child} on its path is a magic link in /proc: the kernel resolves it in another process's view, not as its text says`, 'pass --root with the real directory', 'ELOOP');
      if (++links > 40) throw unusable(root, `${child}: too many symlinks on its path`, 'pass --root with the real directory', 'ELOOP');
      let text: string;
      try {
        text = readlinkSync(child);
      } catch (e) {
        throw unusable(root, `readlink ${child}: ${errnoOf(e)}`, errnoHint(errnoOf(e), 'nothing was read'), errnoOf(e), e);
      }
      pending.unshift(...text.split('/').filter(Boolean));
      if (text.startsWith('/')) {
        dir = '/';
        dirSt = look('/');
      }
      continue;
    }
    // The root's own entry (the last name) is checkOwned's; every directory on the way is the
    // next one's parent here.
    dir = child;
    dirSt = childSt;
  }
}

/**
 * Whether an owner seen on the state root's path is trusted there: root, us, or, in a user
 * namespace, the unmapped owner where the path is one of the directories (and merged-/usr links)
 * a host's root makes by convention. The namespace shows host root's files as the overflow uid,
 * and every other host user's as the same uid: on any other path that owner may be another user,
 * who can rename or retarget what is theirs whatever its mode (an attack in December: uid 1000's
 * link led root's making of the root into a directory of their choosing).
 */
// (Not /opt, /srv, /mnt or /media: an admin may give one to a user, a sixth attack noted. The
// homes of ostree hosts are in /var/home; libpam-tmpdir's root-only /tmp/user holds each user's.)
const SYSTEM_PATHS = new Set(['/', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/etc', '/home', '/var/home', '/root', '/tmp', '/tmp/user', '/dev', '/dev/shm', '/run', '/run/user', '/run/lock', '/var', '/var/run', '/var/lock', '/var/lib', '/var/tmp', '/var/cache']);
/** More directories the caller takes as host root's in a user namespace (colon-separated
 * absolute paths): /scratch, /nix, a vendor's /opt/x. Read when checked, never at start-up. */
export const TRUSTED_DIRS_ENV = 'BVISOR_ROOT_TRUSTED_DIRS';
function trustedOwner(owner: number, uid: number, path: string): boolean {
  if (owner === 0 || owner === uid) return true;
  if (owner !== unmappedOwner()) return false;
  return SYSTEM_PATHS.has(path) || (process.env[TRUSTED_DIRS_ENV] ?? '').split(':').some((p) => p.startsWith('/') && resolve(p) === path);
}
/** The hint of a refusal for an owner the namespace does not map. */
function unmappedHint(owner: number, uid: number): string {
  const base = `pass --root with a directory whose every parent only root or uid ${uid} can change`;
  return owner === unmappedOwner() ? `${base}; in a user namespace host root's directories show as uid ${owner} too: name those on the path in ${TRUSTED_DIRS_ENV} (colon-separated) if they are root's` : base;
}

const PROC_SUPER_MAGIC = 0x9fa0;
const onProc = (dir: string): boolean => onFilesystem(dir, PROC_SUPER_MAGIC);

/**
 * A directory the root (or a directory on the way to it) will be made in: it and every directory
 * above it must be as checkAncestors wants the root's parents, what is made in it being ours.
 */
function checkMakeableIn(root: string, dir: string, uid: number): void {
  if (dir !== '/') checkAncestors(root, uid, dir);
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw unusable(root, `stat ${dir}: ${errnoOf(e)}`, errnoHint(errnoOf(e)), errnoOf(e), e);
  }
  const trusted = trustedOwner(st.uid, uid, dir);
  const open = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0; // sticky: what we make stays ours
  if (!trusted || open) throw unusable(root, `${dir}, where it would be made, is ${!trusted ? `owned by uid ${st.uid}` : `writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`}: they could swap it for a directory of theirs`, `pass --root with a directory whose every parent only root or uid ${uid} can change`, 'EPERM');
}

/** A directory on the way to the root, made (or found) below the checked start: a real directory,
 * root's or ours, writable by no one else. */
function checkMadeStep(root: string, dir: string, uid: number): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    throw unusable(root, `lstat ${dir}: ${errnoOf(e)}`, errnoHint(errnoOf(e)), errnoOf(e), e);
  }
  // (What was just made is ours: an unmapped owner here is someone else's, never trusted.)
  const ok = st.isDirectory() && (st.uid === 0 || st.uid === uid) && (st.mode & 0o022) === 0;
  if (!ok) throw unusable(root, `${dir}, on its way, appeared as ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : 'a file'} of uid ${st.uid} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) while bvisor made it: someone else is making the path`, `pass --root with a directory whose every parent only root or uid ${uid} can change`, 'EPERM');
}

/** Removes reservations whose holder died (its flock is gone): SIGKILL must not leak space. */
function sweepReservations(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith(RESERVE_PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const path = join(root, n);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      continue;
    }
    try {
      if (shim().bv_flock(fd, LOCK_EX | LOCK_NB) === 0) unlinkSync(path);
    } catch {
      /* someone else swept it */
    } finally {
      closeSync(fd);
    }
  }
}

/** A new file of `bytes` real blocks (holdBlocks: not a sparse hole), kept locked. */
function reserve(root: string, bytes: number): { path: string; fd: number } {
  const path = join(root, `${RESERVE_PREFIX}${process.pid}.${randomBytes(6).toString('hex')}`);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const code = errnoOf(e);
    throw unusable(root, `cannot create a file: ${code}`, errnoHint(code), code, e);
  }
  try {
    // Held for the lease's life: a sweeper that can take this lock knows we are gone.
    shim().bv_flock(fd, LOCK_EX | LOCK_NB);
    // Blocks that exist now (fallocate, or zeros fsync'd where there is none); the file's name
    // need not survive a crash, so the directory is not synced.
    holdBlocks(fd, bytes);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      /* best effort: the sweeper takes it later */
    }
    const code = errnoOf(e);
    let free = '';
    try {
      const s = statfsSync(root);
      free = ` (${s.bavail * s.bsize} bytes free for us)`;
    } catch {
      /* only for the message */
    }
    throw unusable(root, `cannot take the ${bytes} bytes a run needs: ${code}${free}`, errnoHint(code), code, e);
  }
  return { path, fd };
}

/**
 * Run before a workload runs (run, create): makes or checks the state root, reserves the space
 * the run's own writes will need, and checks the journal's tail. Throws BV_STATE_ROOT_UNUSABLE
 * (exit 4), or BV_JOURNAL_TORN / BV_JOURNAL_CORRUPT / BV_JOURNAL_KEY for a journal that could
 * not be appended to. Nothing is left behind on failure; on success, release the lease.
 */
export function prepareStateRoot(root: string, opts: PrepareOptions = {}): StateRootLease {
  const held = holdRoom(root, opts);
  try {
    return held.lease(checkJournal(root, opts.key ?? null));
  } catch (e) {
    throw held.failed(e);
  }
}

/** prepareStateRoot, its wait for the journal's lock yielding: bvisor run and the API. */
export async function prepareStateRootYielding(root: string, opts: PrepareOptions = {}): Promise<StateRootLease> {
  const held = holdRoom(root, opts);
  try {
    return held.lease(await checkJournalYielding(root, opts.key ?? null, opts.stillWanted));
  } catch (e) {
    throw held.failed(e);
  }
}

/** The root made or checked and the run's room reserved: the lease, once the journal is checked;
 * or, if that fails, the room given back and the error to throw. */
function holdRoom(root: string, opts: PrepareOptions): { lease(journal: JournalState): StateRootLease; failed(e: unknown): unknown } {
  const bytes = opts.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`reserveBytes ${bytes}`);
  ensureDirectory(root);
  sweepReservations(root);
  const r = reserve(root, bytes);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    try {
      closeSync(r.fd);
      unlinkSync(r.path);
      // ext4 reuses freed blocks only once the unlink is committed (a directory fsync), which
      // the write this space was for needs only on a nearly full file system.
      freedSpaceUsable(root, bytes);
    } catch {
      /* a leftover reservation is swept by the next prepare */
    }
  };
  return {
    lease: (journal) => ({ root, journal, reservation: r.path, release }),
    failed: (e) => {
      release();
      const code = errnoOf(e);
      if (!(e instanceof BvisorError) && typeof (e as NodeJS.ErrnoException)?.code === 'string') return unusable(root, `journal: ${code}`, errnoHint(code), code, e);
      return e;
    },
  };
}
