// Per-run host ids. When the administrator gives bvisor a range (`bvisor:START:COUNT` in
// /etc/subuid and /etc/subgid), each rootful launch maps its workload's root to an id of that
// range no live run or container holds, so two workloads never share a host identity: neither
// owns the other's files in a grant both reach, nor counts against the other's per-user limits,
// nor may signal the other (podman's `--userns=auto` does the same with its `containers` range).
//
// A claim is a file named by the host uid in one host-wide directory (the range is host-wide,
// whatever state root a caller names), saying who holds it: processes (pid and start time, so a
// recycled pid holds nothing) and containers (their state directory and run id, so a container
// keeps its id from create to delete, stopped or not, as podman keeps an auto userns until rm).
// A claim none of whose holders exists any more is free: a bvisor killed anywhere leaves a claim
// the next launch that lands on it takes over, never one that blocks an id for good. Every read
// and write is under one flock (the kernel drops it with its holder).
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, constants as C } from 'node:fs';
import { randomInt, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import type { HostFacts, ProcRef } from '../contract/generated/types.js';
import { LOCK_EX } from '../backends/linux/ffi/shim.js';
import { withFlock } from './flock.js';
import { writeAll } from './atomic.js';
import { startTime } from './proc.js';

/** Where claims live: host-wide (not under a state root), and gone at reboot with what held them. */
export const ID_CLAIMS_DIR = '/run/bvisor-ids';

export interface IdRange {
  /** First host uid and gid of the range, and how many of each it holds. */
  uid: number;
  gid: number;
  count: number;
}

export type IdHolder = { proc: ProcRef } | { container: { dir: string; runId: string } };

interface ClaimFile {
  v: 1;
  token: string;
  uid: number;
  gid: number;
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

/**
 * Whether a holder still exists. A process: its pid names the process of that start time (a
 * zombie too: what it leaves in its pid namespace is killed before it can be reaped). A container:
 * its state directory still holds a state of that run (one removed by delete, or made again under
 * the same name by another create, holds nothing). An unreadable state counts as held: a claim is
 * given up only on evidence.
 */
function exists(h: IdHolder): boolean {
  if ('proc' in h) return startTime(h.proc.pid) === h.proc.startTime;
  let text: string;
  try {
    text = readFileSync(join(h.container.dir, 'state.json'), 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR';
  }
  try {
    return (JSON.parse(text) as { runId?: unknown }).runId === h.container.runId;
  } catch {
    return true;
  }
}

/** A claim's file, or null when there is none or it is not one (a torn write, by a writer that
 * died: whatever it named is taken again). */
function readClaim(path: string): ClaimFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw claimsError(`read ${path}`, e);
  }
  try {
    const c = JSON.parse(text) as ClaimFile;
    return c && c.v === 1 && Array.isArray(c.holders) && typeof c.token === 'string' ? c : null;
  } catch {
    return null;
  }
}

function claimsError(what: string, e: unknown): BvisorError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new BvisorError('BV_IO', `per-run ids: ${what}: ${code}`, { hint: `${ID_CLAIMS_DIR} must be a directory only root may write (bvisor makes it, 0700)` });
}

/** Written whole or not at all (rename), under the lock. */
function writeClaim(dir: string, c: ClaimFile): void {
  const path = join(dir, String(c.uid));
  const tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
    try {
      writeAll(fd, JSON.stringify(c) + '\n');
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
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

function handle(dir: string, c: ClaimFile, index: number, me: ProcRef): IdClaim {
  const path = join(dir, String(c.uid));
  let released = false;
  /** Our claim's file under the lock, or null when it is not ours any more. */
  const ours = (): ClaimFile | null => {
    const now = readClaim(path);
    return now && now.token === c.token ? now : null;
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
        writeClaim(dir, { ...now, holders: [...now.holders, h] });
      });
    },
    release() {
      if (released) return;
      released = true;
      // Never thrown: a claim this process fails to let go of is still let go of when it ends (it
      // holds nothing then), and the run or create it ends must keep its own outcome.
      try {
        locked(dir, () => {
        const now = ours();
        if (!now) return;
        const rest = now.holders.filter((h) => !('proc' in h && h.proc.pid === me.pid && h.proc.startTime === me.startTime));
        if (rest.some(exists)) return writeClaim(dir, { ...now, holders: rest });
        rmSync(path, { force: true });
        });
      } catch {
        // (above)
      }
    },
  };
}

/**
 * An id of `range` for this process's launch (and what it holds it with). From a random place in
 * the range: an id let go is not the next one taken, so what a run left in a shared grant meets
 * the next owner of its id as seldom as the range allows. Every id held: BV_IDS_EXHAUSTED.
 */
export function claimIds(range: IdRange, dir: string = ID_CLAIMS_DIR): IdClaim {
  const me: ProcRef = { pid: process.pid, startTime: startTime(process.pid) ?? '' };
  const d = claimsDir(dir);
  return locked(d, () => {
    const from = range.count > 1 ? randomInt(range.count) : 0;
    for (let k = 0; k < range.count; k++) {
      const index = (from + k) % range.count;
      const uid = range.uid + index;
      const held = readClaim(join(d, String(uid)));
      if (held && held.holders.some(exists)) continue;
      const c: ClaimFile = { v: 1, token: randomUUID(), uid, gid: range.gid + index, holders: [{ proc: me }] };
      writeClaim(d, c);
      return handle(d, c, index, me);
    }
    throw new BvisorError('BV_IDS_EXHAUSTED', `every one of the ${range.count} ids of bvisor's range (${range.uid}–${range.uid + range.count - 1}) is held by a live run or container; nothing was run`, { hint: `delete stopped containers (bvisor list), or give bvisor a larger range in /etc/subuid and /etc/subgid (bvisor:START:COUNT)` });
  });
}

/** After a container's delete: its id's claim, if nothing holds it any more, is removed now
 * rather than when a launch next lands on it. Nothing to do where there is no claims directory. */
export function releaseUnheld(uid: number, dir: string = ID_CLAIMS_DIR): void {
  // Only root claims ids (rootless, a workload runs as its caller).
  if (process.geteuid?.() !== 0) return;
  try {
    if (!lstatSync(dir).isDirectory()) return;
  } catch {
    return;
  }
  // Never thrown: the delete it ends is done, and a claim left is taken over by the next launch
  // that lands on it (nothing holds it).
  try {
    locked(claimsDir(dir), () => {
      const path = join(dir, String(uid));
      const c = readClaim(path);
      if (!c || !c.holders.some(exists)) rmSync(path, { force: true });
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
export function perRunHost(host: HostFacts, dir: string = ID_CLAIMS_DIR): { host: HostFacts; claim: IdClaim | null } {
  const range = host.mapping.range ?? null;
  if (!perRunIds(host) || range === null) return { host, claim: null };
  const claim = claimIds(range, dir);
  const source = `${host.mapping.source.replace(/, id \d+ of .*$/, '')}, id ${claim.index} of ${range.count}: this launch's own`;
  return { host: { ...host, mapping: { uid: claim.uid, gid: claim.gid, source, range } }, claim };
}

/** Whether launches on this host take ids of their own (rootful, with a range). */
export function perRunIds(host: HostFacts): boolean {
  return host.identity.euid === 0 && (host.mapping.range ?? null) !== null;
}
