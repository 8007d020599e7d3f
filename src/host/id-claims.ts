// Per-run host ids. When the administrator gives bvisor a range (`bvisor:START:COUNT` in
// /etc/subuid and /etc/subgid), each rootful launch maps its workload's root to an id of that
// range no live run or container holds, so two workloads never share a host identity: neither
// owns the other's files in a grant both reach, nor shares the other's per-user accounts in the
// kernel, nor may signal the other (podman's `--userns=auto` does the same with its `containers`
// range).
//
// A claim is a file named by the host uid (`UID`, or `UID+COUNT` for an OCI config's block of
// consecutive ids, so the names alone say which ids are claimed) in one host-wide directory (the range is host-wide,
// whatever state root a caller names), saying who holds it: processes (pid and start time, so a
// recycled pid holds nothing) and containers (their state directory and run id, so a container
// keeps its id from create to delete, stopped or not, as podman keeps an auto userns until rm).
// A claim none of whose holders exists any more is free: a bvisor killed with its workload leaves
// a claim the next launch that lands on it takes over. What cannot be judged holds (fail closed)
// until a bvisor that can judge it lets it go, or the administrator removes it: a holder named in
// another mount, pid or time namespace (a path, a pid and a start time mean something only
// there), a state or a /proc/<pid>/stat that cannot be read, a claim file this bvisor cannot read.
// Every read and write is under one flock (the kernel drops it with its holder). The range's
// first id is never given out (claimIds says why).
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, constants as C } from 'node:fs';
import { randomInt, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import type { HostFacts, ProcRef } from '../contract/generated/types.js';
import { LOCK_EX } from '../backends/linux/ffi/shim.js';
import { withFlock } from './flock.js';
import { writeFileAtomic } from './atomic.js';
import { startTimeStrict } from './proc.js';
import { perRunIds } from '../core/host-view.js';

/** Where claims live: host-wide (not under a state root), and gone at reboot with what held them. */
export const ID_CLAIMS_DIR = '/run/bvisor-ids';

export interface IdRange {
  /** First host uid and gid of the range, and how many of each it holds. */
  uid: number;
  gid: number;
  count: number;
}

/** Who holds a claim. `ns` is the namespaces it is named in, as the process that added it saw
 * them: a container's path means something only in its mount namespace, a process's pid and start
 * time only in their pid and time namespaces. */
export type IdHolder = ({ proc: ProcRef } | { container: { dir: string; runId: string } }) & { ns?: string };

interface ClaimFile {
  v: 1;
  token: string;
  uid: number;
  gid: number;
  /** How many consecutive ids from uid and gid (absent: one). */
  count?: number;
  holders: IdHolder[];
}

export interface IdClaim {
  uid: number;
  gid: number;
  /** Its place in the range (0 is the range's first id). */
  index: number;
  /** One more holder (the container a create made): the claim stays while any holder exists. */
  hold(h: IdHolder): void;
  /** This process lets go: the claim is removed once no other holder exists. Idempotent. */
  release(): void;
}

/** How this process names namespaces in a holder: `mnt` for a container's path, `proc` for a
 * process's pid and start time. Where /proc is not its own pid namespace's (/proc/self is not its
 * pid), it cannot judge a pid at all, and says so. */
interface Here {
  mnt: string;
  /** null: /proc is not this pid namespace's, so no pid can be judged here. */
  proc: string | null;
}
function ownNamespaces(): Here {
  const ns = (n: string): string => {
    try {
      return readlinkSync(`/proc/self/ns/${n}`);
    } catch {
      return `${n}:?`; // (a kernel without time namespaces: the same answer for every bvisor)
    }
  };
  let ownProc = false;
  try {
    ownProc = readlinkSync('/proc/self') === String(process.pid);
  } catch {
    // (no /proc: nothing can be judged by pid)
  }
  return { mnt: ns('mnt'), proc: ownProc ? `${ns('pid')} ${ns('time')}` : null };
}

/** A holder for a process of this pid namespace, its start time read strictly (startTimeStrict). */
export function procHolder(pid: number): { proc: ProcRef } | null {
  const st = startTimeStrict(pid);
  return st === null ? null : { proc: { pid, startTime: st } };
}

/** A container's state file as root (this process) wrote it: a regular file of ours, read without
 * following a link or waiting on a FIFO, at most 1 MiB. null: there is none, or what is there is
 * not ours (a directory above it was removed and made again by someone else). */
function ownStateText(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return null;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.geteuid?.() ?? -1) || st.size > STATE_MAX) return null;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
const STATE_MAX = 1024 * 1024;

/**
 * Whether a holder still exists. A process: its pid names the process of that start time (a
 * zombie too: what it leaves in its pid namespace is killed before it can be reaped). A container:
 * its state directory still holds a state of that run (one removed by delete, or made again under
 * the same name by another create, holds nothing). A holder named in other namespaces than this
 * process's (a pid in another pid or time namespace, a path in another mount namespace) cannot be
 * judged from here, and neither can a state that cannot be read: both hold. A claim is given up
 * only on evidence.
 */
function exists(h: IdHolder, here: Here): boolean {
  if ('proc' in h) {
    if (here.proc === null || h.ns !== here.proc) return true;
    try {
      return startTimeStrict(h.proc.pid) === h.proc.startTime;
    } catch {
      return true; // (not read: EMFILE, ENOMEM… say nothing of whether it ended)
    }
  }
  if (h.ns !== here.mnt) return true;
  let text: string | null;
  try {
    text = ownStateText(join(h.container.dir, 'state.json'));
  } catch {
    return true;
  }
  if (text === null) return false;
  try {
    return (JSON.parse(text) as { runId?: unknown }).runId === h.container.runId;
  } catch {
    return true;
  }
}

/** A claim's file; null when there is none; 'unreadable' when it is not one this bvisor can read
 * (its writes are renames, so never torn): that holds its id, as a holder that cannot be judged. */
function readClaim(path: string): ClaimFile | null | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw claimsError(`read ${path}`, e);
  }
  try {
    const c = JSON.parse(text) as ClaimFile;
    return c && c.v === 1 && Array.isArray(c.holders) && typeof c.token === 'string' ? c : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Whether a claim holds its id: any holder exists, or it cannot be read. */
const held = (c: ClaimFile | 'unreadable', here: Here): boolean => c === 'unreadable' || c.holders.some((h) => exists(h, here));

function claimsError(what: string, e: unknown): BvisorError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new BvisorError('BV_IO', `per-run ids: ${what}: ${code}`, { hint: `${ID_CLAIMS_DIR} must be a directory only root may write (bvisor makes it, 0700)` });
}

/** A claim's file name: its first uid, and `+count` for a block (so the ids every claim holds are
 * known from the directory's names alone, without reading a file). */
const claimName = (c: Pick<ClaimFile, 'uid' | 'count'>): string => (c.count !== undefined && c.count > 1 ? `${c.uid}+${c.count}` : String(c.uid));

/** Written whole or not at all (rename), under the lock. Not fsync'd: /run goes at a reboot, and
 * with it everything a claim names. */
function writeClaim(dir: string, c: ClaimFile): void {
  const path = join(dir, claimName(c));
  try {
    writeFileAtomic(path, JSON.stringify(c) + '\n', 0o600, 'unsynced');
  } catch (e) {
    throw claimsError(`write ${path}`, e);
  }
}

/** The directory, made 0700 if missing, and refused unless it is a real directory of ours that no
 * one else may write: another user who could write it could take every id, or free one in use. */
function claimsDir(dir: string): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw claimsError(`mkdir ${dir}`, e);
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    throw claimsError(`lstat ${dir}`, e);
  }
  const me = process.geteuid?.() ?? -1;
  if (!st.isDirectory() || st.uid !== me || (st.mode & 0o022) !== 0) {
    throw new BvisorError('BV_IO', `per-run ids: ${dir} is ${!st.isDirectory() ? 'not a directory' : st.uid !== me ? `owned by uid ${st.uid}, not ${me}` : `writable by others (mode ${(st.mode & 0o7777).toString(8)})`}; nothing was run`, { hint: `remove ${dir} (bvisor makes it again, 0700)` });
  }
  return dir;
}

function locked<T>(dir: string, fn: () => T): T {
  return withFlock(join(dir, 'lock'), LOCK_EX, 'BV_IO', fn, { timeoutMs: 10_000 });
}

function handle(dir: string, c: ClaimFile, index: number, me: IdHolder & { proc: ProcRef }, here: Here): IdClaim {
  const path = join(dir, claimName(c));
  let released = false;
  /** Our claim's file under the lock, or null when it is not ours any more. */
  const ours = (): ClaimFile | null => {
    const now = readClaim(path);
    return now && now !== 'unreadable' && now.token === c.token ? now : null;
  };
  return {
    uid: c.uid,
    gid: c.gid,
    index,
    hold(h) {
      locked(dir, () => {
        const now = ours();
        // Taken over: only after every holder, this process among them, was gone. Never here.
        if (!now) throw new BvisorError('BV_INTERNAL', `per-run ids: the claim on ${c.uid} is not this run's any more`);
        writeClaim(dir, { ...now, holders: [...now.holders, { ...h, ns: ('proc' in h ? here.proc : here.mnt) ?? undefined }] });
      });
    },
    release() {
      if (released) return;
      released = true;
      const letGo = (): void =>
        locked(dir, () => {
          const now = ours();
          if (!now) return;
          const rest = now.holders.filter((h) => !('proc' in h && h.proc.pid === me.proc.pid && h.proc.startTime === me.proc.startTime && h.ns === me.ns));
          if (rest.some((h) => exists(h, here))) return writeClaim(dir, { ...now, holders: rest });
          rmSync(path, { force: true });
        });
      // Never thrown: the run or create it ends must keep its own outcome. One that fails (the
      // lock not had within its time) is tried again at this process's next claim, so a
      // long-lived API process does not keep the id for its whole life.
      try {
        letGo();
      } catch {
        failedReleases.push(letGo);
      }
    },
  };
}

/** Releases that failed in this process, tried again before its next claim. */
const failedReleases: Array<() => void> = [];
function retryReleases(): void {
  for (const letGo of failedReleases.splice(0)) {
    try {
      letGo();
    } catch {
      failedReleases.push(letGo);
    }
  }
}

/**
 * `count` consecutive ids of `range` for this process's launch (one, or an OCI config's block: its
 * user namespace maps container ids 0..count-1 to them), and what it holds them with. The range's
 * first id is never one: every launch shared it before ids were per run (containers made then may
 * still run as it), and `bvisor plan` shows it for a launch it cannot know. The others from a
 * random place among the free ones: an id let go is not the next one taken, so what a run left in
 * a shared grant meets the next owner of its id as seldom as the range allows. A block's claim is
 * one file, `UID+COUNT`. Ids no claim names are taken without reading any claim; only when none
 * are free are the claims read and their holders judged, and the ones nothing holds any more
 * taken over where the new claim meets them. Too few free: BV_IDS_EXHAUSTED.
 */
export function claimIds(range: IdRange, dir: string = ID_CLAIMS_DIR, count = 1): IdClaim {
  const here = ownNamespaces();
  const procs = here.proc;
  if (procs === null) throw new BvisorError('BV_IO', `per-run ids: /proc is not this pid namespace's (/proc/self is not pid ${process.pid}), so no process holding an id can be judged; nothing was run`, { hint: 'mount a /proc of this pid namespace (unshare --pid --fork --mount-proc), or run bvisor where /proc is its own' });
  const st = startTimeStrict(process.pid);
  if (st === null) throw new BvisorError('BV_IO', `per-run ids: /proc/${process.pid}/stat is missing, so this process cannot be named as a holder; nothing was run`, { hint: 'run bvisor where /proc is mounted and its own' });
  const me = { proc: { pid: process.pid, startTime: st }, ns: procs };
  retryReleases();
  const d = claimsDir(dir);
  const usable = range.count - 1;
  const what = count === 1 ? 'an id' : `a block of ${count} consecutive ids`;
  const hint = `${dir}/<uid>[+<count>] names each claim's holders (state directories, pids, the namespaces they were named in) and how many ids it holds; delete containers no longer needed, remove a claim whose holders' namespaces are known to be gone, or give bvisor a larger range in /etc/subuid and /etc/subgid (bvisor:START:COUNT)`;
  if (!Number.isInteger(count) || count < 1 || count > usable) throw new BvisorError('BV_IDS_EXHAUSTED', `${what} cannot come from bvisor's range, which gives out ${usable} (${range.uid + 1}–${range.uid + range.count - 1}); nothing was run`, { hint });
  return locked(d, () => {
    const named = listClaims(d, range);
    // First by the names alone: ids no claim names at all (no file read, whatever the number of
    // claims held).
    let index = freeStart(named.map((c) => [c.from, c.to] as const), 1, range.count, count);
    let stale: typeof named = [];
    /** Claims held only by holders this bvisor cannot judge (another namespace's, or unreadable). */
    let unjudged = 0;
    if (index === null) {
      // Then with each claim's holders judged: one none of whose holders exists any more is taken
      // over (removed) where the new claim meets it. An unreadable one holds the ids it names.
      const busy: Array<readonly [number, number]> = [];
      for (const c of named) {
        const now = readClaim(c.path);
        if (!now) continue;
        if (held(now, here)) {
          busy.push([c.from, c.to]);
          if (now === 'unreadable' || !now.holders.some((h) => ('proc' in h ? here.proc : here.mnt) === h.ns && exists(h, here))) unjudged++;
        } else stale.push(c);
      }
      index = freeStart(busy, 1, range.count, count);
    }
    if (index === null) {
      const other = unjudged ? `; ${unjudged} of them only by holders this bvisor cannot judge (recorded in another mount, pid or time namespace, which only a bvisor there can judge, or a claim it cannot read)` : '';
      const held = count === 1 ? `every one of the ${usable} ids bvisor's range gives out (${range.uid + 1}–${range.uid + range.count - 1}) is held` : `no ${count} consecutive ids of the ${usable} bvisor's range gives out (${range.uid + 1}–${range.uid + range.count - 1}) are free: the claims between them are held`;
      throw new BvisorError('BV_IDS_EXHAUSTED', `${held} by a live run, a spare wasm runner or a container (stopped ones too, until their delete)${other}; nothing was run`, { hint });
    }
    const at = index;
    for (const c of stale) if (c.from < at + count && at < c.to) rmSync(c.path, { force: true });
    const c: ClaimFile = { v: 1, token: randomUUID(), uid: range.uid + at, gid: range.gid + at, ...(count > 1 ? { count } : {}), holders: [me] };
    writeClaim(d, c);
    return handle(d, c, at, me, here);
  });
}

/** The claims in the directory, by their names (`UID`, or `UID+COUNT` for a block): where each
 * lies in the range ([from, to), by place; one named outside it holds none of it). */
function listClaims(d: string, range: IdRange): Array<{ path: string; from: number; to: number }> {
  let names: string[];
  try {
    names = readdirSync(d);
  } catch (e) {
    throw claimsError(`read ${d}`, e);
  }
  const out: Array<{ path: string; from: number; to: number }> = [];
  for (const n of names) {
    const m = /^([0-9]{1,10})(?:\+([0-9]{1,10}))?$/.exec(n);
    if (!m) continue;
    const from = Number(m[1]) - range.uid;
    out.push({ path: join(d, n), from, to: from + (m[2] === undefined ? 1 : Math.max(1, Number(m[2]))) });
  }
  return out;
}

/**
 * A random start s in [lo, hi - count] whose [s, s + count) meets no busy interval, each start
 * equally likely; null when there is none. Linear in the number of busy intervals, whatever the
 * range's size (a range of 2^31 ids is common).
 */
export function freeStart(busy: ReadonlyArray<readonly [number, number]>, lo: number, hi: number, count: number, pick: (n: number) => number = randomInt): number | null {
  const sorted = [...busy].sort((a, b) => a[0] - b[0]);
  const gaps: Array<[number, number]> = []; // [first start, number of starts]
  let at = lo;
  for (const [a, b] of [...sorted, [hi, hi] as const]) {
    const end = Math.min(a, hi);
    if (end - at >= count) gaps.push([at, end - at - count + 1]);
    at = Math.max(at, b);
    if (at >= hi) break;
  }
  const total = gaps.reduce((n, g) => n + g[1], 0);
  if (total === 0) return null;
  let r = total > 1 ? pick(total) : 0;
  for (const [first, n] of gaps) {
    if (r < n) return first + r;
    r -= n;
  }
  return null;
}

/** Whether this host keeps claims at all (as root, where a launch made the directory): delete
 * reads no plan for an id where none can be held. */
export function claimsKept(dir: string = ID_CLAIMS_DIR): boolean {
  if (process.geteuid?.() !== 0) return false;
  try {
    return lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * After a container's delete: the container (its run id, named in whatever namespace) and every
 * process holder that has ended let go of its id's claim, which goes when nothing holds it any
 * more, rather than when a launch next lands on it. Without a run id (a state that could not be
 * read), only a claim nothing holds goes. Nothing to do where there is no claims directory.
 */
export function releaseUnheld(uid: number, runId: string | null = null, dir: string = ID_CLAIMS_DIR): void {
  // Only root claims ids (rootless, a workload runs as its caller).
  if (!claimsKept(dir)) return;
  // Never thrown: the delete it ends is done, and a claim left is taken over by the next launch
  // that lands on it (once nothing holds it).
  try {
    const here = ownNamespaces();
    locked(claimsDir(dir), () => {
      // The claim's file: its first uid, with a block's count or without.
      const name = readdirSync(dir).find((n) => n === String(uid) || n.startsWith(`${uid}+`));
      if (name === undefined) return;
      const path = join(dir, name);
      const c = readClaim(path);
      if (!c || c === 'unreadable') return;
      // The run id is a random UUID: the deleted container's own, in any namespace.
      const rest = c.holders.filter((h) => !('container' in h && runId !== null && h.container.runId === runId) && !('proc' in h && h.ns === here.proc && !exists(h, here)));
      if (!rest.some((h) => exists(h, here))) rmSync(path, { force: true });
      else if (rest.length !== c.holders.length) writeClaim(dir, { ...c, holders: rest });
    });
  } catch {
    // (above)
  }
}

/**
 * The host facts a launch plans and runs with: where bvisor has a range (as root), the mapping is
 * an id claimed for this launch alone; else the facts as they are (the shared overflow ids, or
 * the caller's own). The caller releases the claim when its launch is over (a run) or lets the
 * container it made hold it (create); the planner then names this id in every mechanism.
 */
export function perRunHost(host: HostFacts, dir: string = ID_CLAIMS_DIR, count = 1): { host: HostFacts; claim: IdClaim | null } {
  const range = host.mapping.range ?? null;
  if (!perRunIds(host) || range === null) return { host, claim: null };
  // A block only where the planner gives one (core/features.ts idBlock, which the callers ask):
  // never more than the range gives out.
  const n = count > 1 && count <= range.count - 1 ? count : 1;
  const claim = claimIds(range, dir, n);
  const source = `${host.mapping.source.replace(/, ids? \d+.* of .*$/, '')}, ${n === 1 ? `id ${claim.index}` : `ids ${claim.index}–${claim.index + n - 1}`} of ${range.count}: this launch's own`;
  return { host: { ...host, mapping: { uid: claim.uid, gid: claim.gid, source, range } }, claim };
}

