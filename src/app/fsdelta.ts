// Evidence of what a run did to the host's filesystem (issue 15, item 5): for each read-write
// grant, a snapshot before the workload is released (path → kind, size, mtime, ctime, inode)
// and a walk after it ended; the report lists what was created, modified and deleted, with
// sizes, and the sha256 of what is there now (created and modified files). Bounded: a grant
// with more entries than MAX_ENTRIES, longer paths than MAX_LIST_BYTES, or a walk that fails,
// says "not observed" and why, rather than a partial list that would read as complete.
//
// The walk is bvisor's, as root, over a tree the workload wrote: it goes by descriptor from the
// grant's planned directory (dev and inode checked), never by name from the root, so that a
// symlink or a rename the workload left (a nested grant's parent swapped for a symlink to /etc)
// cannot lead it out of the grant. Every step beneath is openat2 with RESOLVE_BENEATH and no
// symlink, magic link or mount crossed; each name is looked at with lstat relative to its
// directory's descriptor; a file is hashed from a descriptor checked to be the regular file the
// walk saw (opened O_PATH first: a FIFO or a device swapped in is never opened for reading).
import { closeSync, fstatSync, lstatSync, openSync, opendirSync, constants as C, type BigIntStats } from 'node:fs';
import type { LaunchInputs, ReportBody } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { AT_FDCWD, openPlanned, RESOLVE } from '../backends/linux/host/objects.js';
import { errnoName } from '../host/facts.js';
import { fdPath } from '../host/proc-fd.js';
import { hashFd, hashFdSteps, ValueWatch, searchBudgetFor } from '../host/hash.js';
import { runSteps, runStepsYielding, StepsStopped, type Steps } from '../host/steps.js';
import { REDACTED, holdsSecret } from '../core/redact.js';

export const MAX_ENTRIES = 20_000;
/** Files above this are listed with their size but not hashed (the report says so). */
export const MAX_HASH_BYTES = 64 * 2 ** 20;
/** Bytes hashed per grant at most, each file once however many names it has: past them files
 * are listed with their size but not hashed. Hashing reads what the workload chose to leave (a
 * sparse 64 MiB file costs it no disk), while bvisor waits to seal the report. */
export const MAX_HASH_TOTAL = 256 * 2 ** 20;
/** A grant's paths at most, as the JSON that lists them: the report is one line of the journal,
 * and 20,000 names of 4 KiB of control characters would be half a gigabyte of it. */
export const MAX_LIST_BYTES = 8 * 2 ** 20;

const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV;

interface Entry {
  kind: 'file' | 'dir' | 'link' | 'other';
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  /** st_dev: a file's can differ from its directory's (overlayfs without xino reports the
   * layer's), so an inode number alone names no file. Absent in an older bvisor's snapshot. */
  dev?: bigint;
  /** Mode bits, owner and group: a directory's chmod or chown is a modification (a file's moves
   * its ctime). Absent in an older bvisor's snapshot. */
  mode?: number;
  uid?: number;
  gid?: number;
}

/** An entry as lstat/fstat saw it. */
function entryOf(kind: Entry['kind'], st: BigIntStats): Entry {
  return { kind, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** The grant's own directory in a snapshot's entries (no name inside a directory is '.'). */
const TOP = '.';

/** Whether two entries are the same object (inode, and device when both are known). */
const sameObject = (a: Entry, b: Entry): boolean => a.ino === b.ino && a.kind === b.kind && (a.dev === undefined || b.dev === undefined || a.dev === b.dev);

/** Whether an entry still there changed: a file, link or other by size, mtime or ctime (ctime
 * moves on any write or metadata change, even one that restores mtime: touch -d). A directory's
 * times move whenever a name inside it does, so it changed when its mode, owner or group did, or
 * when its ctime moved and its mtime did not (an ACL, an xattr, a chattr flag: metadata only).
 * Metadata changed in the same interval as a name inside is seen only through mode and owner. */
function changed(was: Entry, e: Entry): boolean {
  if (e.kind !== 'dir') return was.size !== e.size || was.mtimeNs !== e.mtimeNs || was.ctimeNs !== e.ctimeNs;
  if (was.ctimeNs !== e.ctimeNs && was.mtimeNs === e.mtimeNs) return true;
  if (was.mode === undefined || e.mode === undefined) return false;
  return was.mode !== e.mode || was.uid !== e.uid || was.gid !== e.gid;
}

/** A read-write directory grant as planned: the walk starts from this very directory. */
interface Grant {
  clause: string;
  path: string;
  /** The planned identity; null in a snapshot an older bvisor wrote (its path is then opened
   * with no symlink followed, unchecked). */
  dev: string | null;
  ino: string | null;
}

export interface Snapshot {
  grants: Array<Grant & { entries: Map<string, Entry> | string }>;
}

/** Why a grant's walk or hashing stopped: the grant is then not observed, and this says why. */
class Unobserved extends Error {}

/** The grant's directory, opened and checked to be the one planned; a reason when it is not. */
function openGrant(g: Grant): number | string {
  if (g.dev === null || g.ino === null) {
    const fd = shim().bv_openat2(AT_FDCWD, g.path, O.RDONLY | O.DIRECTORY | O.NOCTTY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
    return fd < 0 ? `open: ${errnoName(fd)}` : fd;
  }
  try {
    return openPlanned({ path: g.path, dev: g.dev, ino: g.ino }, g.clause, O.RDONLY | O.DIRECTORY);
  } catch (e) {
    if (e instanceof BvisorError) return e.message;
    throw e;
  }
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);

/** Every entry beneath the grant's directory (its descriptor), or why there is no listing. */
function scanAt(top: number): Map<string, Entry> | string {
  return runSteps(scanAtSteps(top));
}

function* scanAtSteps(top: number): Steps<Map<string, Entry> | string> {
  const out = new Map<string, Entry>();
  const s = shim();
  const topSt = fstatSync(top, { bigint: true });
  const topDev = topSt.dev;
  // The grant's own directory, as '.': its mode, owner, ACLs and xattrs are the workload's to
  // change too (it owns it), and a world-writable or sticky grant is worth a line in the report.
  out.set(TOP, entryOf('dir', topSt));
  let listBytes = 0;
  const walk = function* (dirFd: number, rel: string, depth: number): Steps<void> {
    if (depth > 64) throw new Unobserved('nested deeper than 64 directories');
    const here = rel || "the grant's directory";
    let dir;
    try {
      // The directory by its descriptor, read as a stream: a directory of millions of names meets
      // MAX_ENTRIES before it could fill memory.
      dir = opendirSync(fdPath(dirFd), { encoding: 'buffer' as BufferEncoding });
    } catch (e) {
      throw new Unobserved(`unreadable ${here}: ${code(e)}`);
    }
    // A read that fails (EIO, ESTALE on NFS) makes the grant not observed, not the report lost.
    const next = (): ReturnType<typeof dir.readSync> => {
      try {
        return dir.readSync();
      } catch (e) {
        throw new Unobserved(`unreadable ${here}: ${code(e)}`);
      }
    };
    try {
      for (let d = next(); d; d = next()) {
        yield;
        const b = d.name as unknown as Buffer;
        const n = b.toString('utf8');
        // The report is JSON text: a name that is not UTF-8 cannot be written as it is, and one
        // written with U+FFFD in it would name no file (and everything beneath would be missed).
        // The reason names its directory as it is (a secret in it is then redacted whole).
        if (!Buffer.from(n, 'utf8').equals(b)) throw new Unobserved(`${here} holds a name that is not UTF-8, which a report cannot spell`);
        const p = rel ? `${rel}/${n}` : n;
        listBytes += Buffer.byteLength(JSON.stringify(p));
        if (listBytes > MAX_LIST_BYTES) throw new Unobserved(`its paths are longer than ${MAX_LIST_BYTES} bytes in all`);
        let st;
        try {
          // One name in the directory held open: no symlink followed, and no path length limit.
          st = lstatSync(fdPath(dirFd, n), { bigint: true });
        } catch (e) {
          // The workload has ended: only another writer of the grant can change it now.
          throw new Unobserved(`${p} changed while it was walked (${code(e)})`);
        }
        const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
        // A directory on another device is a mount or a btrfs subvolume (which an unprivileged
        // workload can make): what it holds would be missing from a listing that reads as whole.
        if (kind === 'dir' && st.dev !== topDev) throw new Unobserved(`${p} is another filesystem (a mount or a subvolume), which the walk does not enter`);
        out.set(p, entryOf(kind, st));
        if (out.size > MAX_ENTRIES + 1) throw new Unobserved(`more than ${MAX_ENTRIES} entries`); // + the grant's own
        if (kind !== 'dir') continue;
        const fd = s.bv_openat2(dirFd, n, O.RDONLY | O.DIRECTORY | O.NOCTTY, 0, BENEATH);
        // EXDEV: a bind mount of the grant's own filesystem (RESOLVE_NO_XDEV refuses to cross it).
        if (fd === -18) throw new Unobserved(`${p} is a mount inside the grant, which the walk does not enter`);
        if (fd < 0) throw new Unobserved(`${p} changed while it was walked (open: ${errnoName(fd)})`);
        try {
          const now = fstatSync(fd, { bigint: true });
          if (now.ino !== st.ino || now.dev !== st.dev) throw new Unobserved(`${p} changed while it was walked (another directory took its name)`);
          yield* walk(fd, p, depth + 1);
        } finally {
          s.bv_close(fd);
        }
      }
    } finally {
      dir.closeSync();
    }
  };
  try {
    yield* walk(top, '', 0);
  } catch (e) {
    if (e instanceof Unobserved) return e.message;
    throw e;
  }
  return out;
}

function scan(g: Grant): Map<string, Entry> | string {
  const top = openGrant(g);
  if (typeof top === 'string') return top;
  try {
    return scanAt(top);
  } finally {
    shim().bv_close(top);
  }
}

/** The read-write directory grants of a launch, scanned now (before release). */
export function snapshotGrants(launch: LaunchInputs): Snapshot {
  const rw = launch.filesystem.filter((r) => r.access.includes('write') && r.kind === 'directory' && r.clause !== 'outputs');
  return {
    grants: rw.map((r) => {
      const g: Grant = { clause: r.clause, path: r.path, dev: r.dev, ino: r.ino };
      return { ...g, entries: scan(g) };
    }),
  };
}

/** Opens `rel` beneath the grant's directory for reading, one name at a time (no symlink, magic
 * link or mount crossed), and only once the name is seen to be the regular file `e`. */
function openFile(top: number, rel: string, e: Entry): number {
  const s = shim();
  const segs = rel.split('/');
  let dir = top;
  try {
    for (const [i, seg] of segs.entries()) {
      const last = i === segs.length - 1;
      const fd = s.bv_openat2(dir, seg, last ? O.PATH | O.NOFOLLOW : O.PATH | O.DIRECTORY, 0, BENEATH);
      if (dir !== top) s.bv_close(dir);
      dir = top;
      if (fd < 0) throw new Unobserved(`${rel} changed before it was hashed (open: ${errnoName(fd)})`);
      dir = fd;
    }
    const st = fstatSync(dir, { bigint: true });
    if (!st.isFile() || st.ino !== e.ino || (e.dev !== undefined && st.dev !== e.dev)) throw new Unobserved(`${rel} changed before it was hashed (another file took its name)`);
    // Reopened through the checked O_PATH descriptor: the very inode, for reading. O_NONBLOCK:
    // a mandatory lock or lease never makes bvisor wait (libuv adds O_CLOEXEC).
    return openSync(fdPath(dir), C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    if (err instanceof Unobserved) throw err;
    throw new Unobserved(`${rel}: open: ${code(err)}`);
  } finally {
    if (dir !== top) s.bv_close(dir);
  }
}

/** Hashes a grant's files, each inode once, within MAX_HASH_TOTAL bytes. A file whose bytes
 * hold a secret value gets no hash (null, as one not hashed): the hash would let a guess at a
 * low-entropy secret be checked offline. */
class Hasher {
  private left = MAX_HASH_TOTAL;
  /** Bytes read times values searched for, left for the grant (ValueWatch.cost): past it a file
   * is not hashed. */
  private searchLeft = searchBudgetFor(MAX_HASH_TOTAL);
  /** By device and inode: one file however many names it has (and only that file). */
  private readonly done = new Map<string, string | null>();
  constructor(
    private readonly top: number,
    private readonly secrets: readonly string[],
  ) {}

  *hashSteps(rel: string, e: Entry): Steps<string | null> {
    if (e.kind !== 'file' || e.size > MAX_HASH_BYTES) return null;
    const key = `${e.dev ?? '?'}:${e.ino}`;
    const known = this.done.get(key);
    if (known !== undefined) return known;
    const watch = new ValueWatch(this.secrets);
    if (e.size > this.left || watch.cost(e.size) > this.searchLeft) return null;
    this.left -= e.size;
    this.searchLeft -= watch.cost(e.size);
    const fd = openFile(this.top, rel, e);
    let r: ReturnType<typeof hashFd>;
    try {
      // No further than the size the walk saw: a file still growing is another writer's.
      r = yield* hashFdSteps(fd, e.size, watch.see);
    } catch (err) {
      throw new Unobserved(`${rel}: read: ${code(err)}`);
    } finally {
      closeSync(fd);
    }
    if (r === null) throw new Unobserved(`${rel} changed while it was hashed (it grew)`);
    if (r.size !== e.size) throw new Unobserved(`${rel} changed while it was hashed (it shrank)`);
    const sha256 = watch.found ? null : r.sha256;
    this.done.set(key, sha256);
    return sha256;
  }
}

type Delta = NonNullable<ReportBody['fsDelta']>[number];

/** The grant's delta since `g`'s snapshot, or why there is none. */
function* deltaSteps(g: Snapshot['grants'][number], secrets: readonly string[]): Steps<Delta> {
  const none = (why: string): Delta => unobserved(g, why);
  if (typeof g.entries === 'string') return none(`at start: ${g.entries}`);
  const top = openGrant(g);
  if (typeof top === 'string') return none(`at the end: ${top}`);
  try {
    const now = yield* scanAtSteps(top);
    if (typeof now === 'string') return none(`at the end: ${now}`);
    const hasher = new Hasher(top, secrets);
    const created: Delta['created'] = [];
    const modified: Delta['modified'] = [];
    const deleted: Delta['deleted'] = [];
    for (const [p, e] of now) {
      yield;
      const was = g.entries.get(p);
      // A snapshot an older bvisor wrote has no entry for the grant's own directory: not new.
      if (p === TOP && !was) continue;
      if (!was || !sameObject(was, e)) created.push({ path: p, kind: e.kind, size: e.size, sha256: yield* hasher.hashSteps(p, e) });
      else if (changed(was, e)) modified.push({ path: p, kind: e.kind, size: e.size, sha256: yield* hasher.hashSteps(p, e) });
    }
    for (const [p, was] of g.entries) {
      const e = now.get(p);
      if (!e || !sameObject(was, e)) deleted.push({ path: p, kind: was.kind, size: was.size });
    }
    const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    return { clause: g.clause, path: g.path, notObserved: null, created: created.sort(byPath), modified: modified.sort(byPath), deleted: deleted.sort(byPath) };
  } catch (e) {
    if (e instanceof Unobserved) return none(`at the end: ${e.message}`);
    throw e;
  } finally {
    shim().bv_close(top);
  }
}

/**
 * The deltas since `before`, one per grant, for the report. `secrets`: the workload's resolved
 * secret values; a listed path or a reason holding one is replaced by REDACTED (a workload can
 * name a file after its token), and a file whose bytes hold one has no hash. null: the values are not known here (a container's seal, in a
 * later process than its create) while the workload had some; each grant is then not observed,
 * since nothing it listed could be checked.
 */
export function grantDeltas(before: Snapshot, secrets: readonly string[] | null): NonNullable<ReportBody['fsDelta']> {
  if (secrets === null) return before.grants.map(unknownSecrets);
  return before.grants.map((g) => redacted(runSteps(deltaSteps(g, secrets)), secrets));
}

/**
 * grantDeltas for run and the API: the event loop gets its turns while the grants are walked and
 * hashed (other runs' deadlines are its timers), and a caller's stop (`signal`) ends the listing
 * there: that grant and the ones after it are not observed, and say why.
 */
export async function grantDeltasYielding(before: Snapshot, secrets: readonly string[], signal?: AbortSignal): Promise<NonNullable<ReportBody['fsDelta']>> {
  const out: NonNullable<ReportBody['fsDelta']> = [];
  for (const g of before.grants) {
    if (signal?.aborted) {
      out.push(stopped(g));
      continue;
    }
    try {
      out.push(redacted(await runStepsYielding(deltaSteps(g, secrets), signal), secrets));
    } catch (e) {
      if (!(e instanceof StepsStopped)) throw e;
      out.push(stopped(g));
    }
  }
  return out;
}

/** A grant with no delta, and why. */
const unobserved = (g: { clause: string; path: string }, why: string): Delta => ({ clause: g.clause, path: g.path, notObserved: why, created: [], modified: [], deleted: [] });
const stopped = (g: { clause: string; path: string }): Delta => unobserved(g, 'the run was told to stop while its delta was listed');
const unknownSecrets = (g: { clause: string; path: string }): Delta => unobserved(g, "the workload had secrets in its environment, whose values are not known where a container's delta is listed (its seal): a name it made could hold one");

/** A delta with every path (and reason) holding a secret value replaced by REDACTED. */
function redacted(d: Delta, secrets: readonly string[]): Delta {
  if (!secrets.length) return d;
  const clean = (t: string): string => (holdsSecret(t, secrets) ? REDACTED : t);
  return { ...d, notObserved: d.notObserved === null ? null : clean(d.notObserved), created: d.created.map((x) => ({ ...x, path: clean(x.path) })), modified: d.modified.map((x) => ({ ...x, path: clean(x.path) })), deleted: d.deleted.map((x) => ({ ...x, path: clean(x.path) })) };
}

/** A snapshot as JSON (a container's, kept in its state directory from create to its seal). */
export function snapshotToJson(s: Snapshot): string {
  return JSON.stringify({ grants: s.grants.map((g) => ({ clause: g.clause, path: g.path, dev: g.dev, ino: g.ino, entries: typeof g.entries === 'string' ? g.entries : [...g.entries].map(([p, e]) => [p, e.kind, e.size, String(e.mtimeNs), String(e.ctimeNs), String(e.ino), e.dev === undefined ? null : String(e.dev), e.mode ?? null, e.uid ?? null, e.gid ?? null]) })) });
}

export function snapshotFromJson(text: string): Snapshot {
  // Entries an older bvisor wrote stop after the inode: no device, mode, owner or group.
  type Row = [string, Entry['kind'], number, string, string, string, (string | null)?, (number | null)?, (number | null)?, (number | null)?];
  const raw = JSON.parse(text) as { grants: Array<{ clause: string; path: string; dev?: string | null; ino?: string | null; entries: string | Row[] }> };
  const entry = ([, kind, size, m, c, ino, dev, mode, uid, gid]: Row): Entry => ({
    kind,
    size,
    mtimeNs: BigInt(m),
    ctimeNs: BigInt(c),
    ino: BigInt(ino),
    ...(dev != null ? { dev: BigInt(dev) } : {}),
    ...(mode != null && uid != null && gid != null ? { mode, uid, gid } : {}),
  });
  return {
    grants: raw.grants.map((g) => ({
      clause: g.clause,
      path: g.path,
      dev: g.dev ?? null,
      ino: g.ino ?? null,
      entries: typeof g.entries === 'string' ? g.entries : new Map(g.entries.map((r) => [r[0], entry(r)])),
    })),
  };
}

/** How a grant's notObserved begins when its lists were left out of the report (withoutDeltaLists). */
export const LISTS_NOT_KEPT = 'observed, but not kept';

/** The body with each observed grant's lists replaced by why they are missing and how long they
 * were; null when there is no list to leave out (the failure was not the lists'). */
export function withoutDeltaLists(body: ReportBody, errno: string): ReportBody | null {
  const listed = (g: NonNullable<ReportBody['fsDelta']>[number]): boolean => g.created.length + g.modified.length + g.deleted.length > 0;
  if (!body.fsDelta?.some(listed)) return null;
  return {
    ...body,
    fsDelta: body.fsDelta.map((g) =>
      !listed(g)
        ? g
        : { ...g, notObserved: `${LISTS_NOT_KEPT}: the report with this grant's ${g.created.length} created, ${g.modified.length} modified and ${g.deleted.length} deleted entries did not fit in the state root (${errno})`, created: [], modified: [], deleted: [] },
    ),
  };
}
