// Per-run cgroup leaves: created before clone (v2: entered at birth with CLONE_INTO_CGROUP; v1:
// joined by the parent while the child is still blocked before exec), limited, read back after
// the run, and torn down: rmdir, killing what is inside (and beneath) while the kernel refuses
// it. Only where the plan placed them (core/host-view.ts placementFor, docs/cgroups.md), never
// anywhere else.
import { mkdirSync, rmdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { HostFacts, LaunchInputs, CgroupHierarchy } from '../../../contract/generated/types.js';
import { BvisorError, undone } from '../../../contract/errors.js';
import { shim, O } from '../ffi/shim.js';
import { auditCgroupPath } from './cgroup-audit.js';
import { fault } from '../../../host/faults.js';

/** Members pinned (one pidfd each) before the leaves are read again. */
const SIGNAL_BATCH = 256;

export interface Leaf {
  version: 1 | 2;
  controllers: string[];
  dir: string;
  /** Parent directories we created (deepest last), removed at teardown when empty. */
  createdParents: string[];
}

export interface CgroupSet {
  leaves: Leaf[];
  /** Open fd of the v2 leaf for CLONE_INTO_CGROUP, or -1. */
  v2Fd: number;
}

function cgErr(op: string, path: string, e: unknown): BvisorError {
  const err = e as NodeJS.ErrnoException;
  return new BvisorError('BV_CGROUP_SETUP', `${op} \`${path}\`: ${err.code ?? err.message}`, { hint: 'run `bvisor check` to see which cgroups bvisor may use here', cause: e });
}

function write(path: string, value: string, op = 'write'): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw cgErr(`${op} ${value.trim()} to`, path, e);
  }
}

function hierarchyFor(host: HostFacts, version: 1 | 2, controller: string): CgroupHierarchy | undefined {
  if (version === 2) return host.cgroup.v2 ?? undefined;
  return host.cgroup.v1.find((h) => h.controllers.includes(controller));
}

type Placement = LaunchInputs['cgroup']['placements'][number];

/**
 * Records a leaf before its mkdir (so a crash right after still leaves a trace to clean); what
 * it returns undoes the record if the mkdir then fails, for a leaf that was not made here may be
 * another's (made between the check and the mkdir), and whatever is recorded gets killed and
 * removed by the caller's clean-up.
 */
export type RecordLeaf = (leaf: string) => (() => void) | void;

/**
 * Creates one leaf per placement the plan decided (one per hierarchy: the limits', the watched
 * counter's, or membership alone so teardown can find every descendant), writing the limits.
 * Cleans up after itself on failure.
 */
export function createCgroups(host: HostFacts, launch: LaunchInputs, leafName: string, beforeMkdir?: RecordLeaf): CgroupSet {
  const byHierarchy = new Map<string, { p: Placement; controllers: Set<string>; limits: LaunchInputs['cgroup']['limits'] }>();
  for (const p of launch.cgroup.placements) byHierarchy.set(p.mountPoint, { p, controllers: new Set(), limits: [] });
  const entryFor = (clause: string, version: 1 | 2, controller: string) => {
    const h = hierarchyFor(host, version, controller);
    const entry = h && byHierarchy.get(h.mountPoint);
    if (!entry) throw new BvisorError('BV_CGROUP_SETUP', `no ${controller} hierarchy placed for ${clause}`, { hint: 'the host changed since planning; plan again' });
    return entry;
  };
  for (const l of launch.cgroup.limits) {
    const entry = entryFor(l.clause, l.version as 1 | 2, l.controller);
    entry.controllers.add(l.controller);
    entry.limits.push(l);
  }
  const w = launch.cgroup.watch;
  // A counter to poll (limits.cpu, mediated): v2 keeps cpu.stat in every cgroup; v1 needs a
  // leaf in the cpuacct hierarchy.
  if (w) {
    const entry = entryFor(w.clause, w.version as 1 | 2, w.controller);
    if (w.version === 1) entry.controllers.add(w.controller);
  }
  const set: CgroupSet = { leaves: [], v2Fd: -1 };
  try {
    for (const { p, controllers, limits } of byHierarchy.values()) {
      const v2 = p.version === 2;
      const { leaf, created } = makeLeaf(p, v2 ? controllers : new Set(), leafName, beforeMkdir);
      set.leaves.push({ version: p.version as 1 | 2, controllers: [...controllers], dir: leaf, createdParents: created });
      for (const l of limits) {
        const file = join(leaf, l.file);
        // Where the kernel lacks a swap knob (no swap accounting), the limit still holds for RAM.
        if ((l.file === 'memory.swap.max' || l.file === 'memory.swappiness') && !existsSync(file)) continue;
        write(file, l.value);
      }
      if (!v2 && controllers.has('memory')) {
        const memsw = join(leaf, 'memory.memsw.limit_in_bytes');
        const lim = limits.find((x) => x.file === 'memory.limit_in_bytes');
        if (lim && existsSync(memsw)) write(memsw, lim.value);
      }
      if (v2) {
        const fd = shim().bv_open(leaf, O.DIRECTORY | O.PATH, 0);
        if (fd < 0) throw cgErr('open', leaf, { code: `errno ${-fd}` });
        set.v2Fd = fd;
      }
    }
  } catch (e) {
    // What cannot be removed is said beside the error, never dropped.
    const t = teardownCgroups(set);
    throw t.complete ? e : withCgroupsLeft(e, t.notes);
  }
  return set;
}

/**
 * The parents from the anchor down (made when missing, with the controllers enabled at each
 * level on v2), then the leaf. Another run's teardown may remove an empty parent we are about
 * to use (ENOENT on the leaf): make the path again, a few times.
 */
function makeLeaf(p: Placement, controllers: Set<string>, leafName: string, beforeMkdir?: RecordLeaf): { leaf: string; created: string[] } {
  const created: string[] = [];
  for (let attempt = 0; ; attempt++) {
    let dir = p.anchor;
    for (const seg of p.segments) {
      enableControllers(dir, controllers);
      dir = join(dir, seg);
      auditCgroupPath(dir);
      try {
        mkdirSync(dir);
        created.push(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cgErr('mkdir', dir, e);
        // An existing parent with processes in it is someone's leaf (another container's, a
        // service's): a leaf made inside it would count against that one's limits and be killed
        // with it (an OCI cgroupsPath naming another container's leaf as its parent).
        if (cgroupMembers(dir).length) throw new BvisorError('BV_CGROUP_SETUP', `the cgroup ${dir}, above this container's, holds processes: it is another container's or a service's`, { hint: 'give the container a cgroup path of its own (linux.cgroupsPath) beside other containers\', not inside one' });
      }
    }
    enableControllers(dir, controllers);
    const leaf = join(dir, leafName);
    auditCgroupPath(leaf);
    // A leaf that exists is someone else's (another container's, a service's: an OCI config
    // names its own leaf): never record it, or a failed create would kill and remove it.
    if (existsSync(leaf)) throw new BvisorError('BV_CGROUP_SETUP', `the cgroup ${leaf} exists already: it is not this container's`, { hint: 'give the container its own cgroup (linux.cgroupsPath, or another id); bvisor never adopts an existing cgroup' });
    // Recorded before it exists, so a crash right after mkdir still leaves a trace to clean.
    const undo = beforeMkdir?.(leaf);
    try {
      mkdirSync(leaf);
      return { leaf, created };
    } catch (e) {
      // Not made here, so not ours to clean up: EEXIST means someone made it between the check
      // and the mkdir (a race only a process racing bvisor could win, unlike a config naming an
      // existing cgroup), and the caller's clean-up would kill what is in it.
      undo?.();
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw cgErr('mkdir', leaf, e);
    }
  }
}

function enableControllers(dir: string, controllers: Set<string>): void {
  if (controllers.size === 0) return;
  const file = join(dir, 'cgroup.subtree_control');
  const have = new Set(readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean));
  const missing = [...controllers].filter((c) => !have.has(c));
  if (missing.length) write(file, missing.map((c) => `+${c}`).join(' '), 'enable');
}

/** Moves a (still blocked) child into every v1 leaf. v2 leaves were entered at birth. */
export function joinV1(set: CgroupSet, pid: number): void {
  for (const l of set.leaves) if (l.version === 1) write(join(l.dir, 'cgroup.procs'), String(pid), 'join');
}

/** The pids in one leaf's cgroup.procs ([] once the leaf is gone). */
export function cgroupMembers(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Signals each member of the leaves once, while it is one. A pid read from cgroup.procs is pinned
 * with a pidfd, looked for in the leaves' cgroup.procs again, and signalled through the pidfd:
 * kill(2) by the first read's pid would reach whoever holds the pid by then, if the member left,
 * or exited and its pid was reused elsewhere. (A reused pid found in a leaf again belongs to a
 * process the pidfd does not name: pidfd_send_signal answers ESRCH, and that new member is for the
 * caller's next pass.) A process in several hierarchies' leaves is signalled once. Returns the
 * errors other than ESRCH (the member had exited), by pid.
 */
export function signalMembers(dirs: readonly string[], sig: number): Array<{ pid: number; rc: number }> {
  const s = shim();
  const failed: Array<{ pid: number; rc: number }> = [];
  const listed = [...new Set(dirs.flatMap(cgroupMembers))];
  // In batches, so that a fork bomb's members do not each cost a descriptor at once, and the
  // leaves are read again once per batch rather than once per member.
  for (let i = 0; i < listed.length; i += SIGNAL_BATCH) {
    const pinned: Array<{ pid: number; fd: number }> = [];
    try {
      for (const pid of listed.slice(i, i + SIGNAL_BATCH)) {
        const fd = s.bv_pidfd_open(pid);
        if (fd >= 0) pinned.push({ pid, fd }); // else gone
      }
      fault('cgroup:member-pinned');
      const still = new Set(dirs.flatMap(cgroupMembers));
      for (const { pid, fd } of pinned) {
        if (!still.has(pid)) continue; // no longer a member
        const rc = s.bv_pidfd_signal(fd, sig);
        if (rc < 0 && rc !== -constants.errno.ESRCH) failed.push({ pid, rc });
      }
    } finally {
      for (const { fd } of pinned) s.bv_close(fd);
    }
  }
  return failed;
}

/** Kills every process in every leaf (cgroup.kill on v2, SIGKILL each member on v1). A member
 * that could not be killed stays, and the teardown that follows finds the leaf busy and says so. */
export function killAll(set: CgroupSet): void {
  for (const l of set.leaves) {
    const killFile = join(l.dir, 'cgroup.kill');
    if (l.version === 2 && existsSync(killFile)) {
      try {
        writeFileSync(killFile, '1');
        continue;
      } catch {
        // fall through to per-member kills
      }
    }
    signalMembers([l.dir], constants.signals.SIGKILL);
  }
}

/**
 * Freezes or thaws every process of a v2 leaf (cgroup.freeze), returning once cgroup.events
 * reports it (cgroup-v2.rst: the freeze completes asynchronously): the ground for pause and
 * resume. v1 leaves have no freezer here; the caller refuses pause for them.
 */
export function freezeLeaf(dir: string, frozen: boolean, deadlineMs = 5000): void {
  write(join(dir, 'cgroup.freeze'), frozen ? '1' : '0', frozen ? 'freeze with' : 'thaw with');
  const until = Date.now() + deadlineMs;
  while (readKey(join(dir, 'cgroup.events'), 'frozen') !== (frozen ? 1 : 0)) {
    if (Date.now() > until) throw new BvisorError('BV_CGROUP_SETUP', `${dir} did not ${frozen ? 'freeze' : 'thaw'} within ${deadlineMs} ms`, { hint: 'a task in an uninterruptible sleep can delay a freeze; try again' });
    sleepMs(5);
  }
}

/** Whether a v2 leaf is frozen (cgroup.events "frozen 1"); false for v1 leaves and gone ones. */
export function isFrozen(dir: string): boolean {
  // cgroup.events is cgroup v2's: a v1 leaf has none. Looked for before it is read: the ENOENT
  // a read throws and readKey catches costs ten times the look (list asks of every container).
  const events = join(dir, 'cgroup.events');
  return existsSync(events) && readKey(events, 'frozen') === 1;
}

/** The file of the plan's watched counter in this run's leaves, or null. */
export function watchPath(set: CgroupSet, w: LaunchInputs['cgroup']['watch']): string | null {
  if (!w) return null;
  const leaf = set.leaves.find((l) => l.version === w.version && (l.version === 2 || l.controllers.includes(w.controller)));
  return leaf ? join(leaf.dir, w.file) : null;
}

/** CPU time used, in µs: cpu.stat's usage_usec (v2) or cpuacct.usage in ns (v1); null if unreadable. */
export function cpuUsageUs(path: string): number | null {
  if (path.endsWith('cpuacct.usage')) {
    const ns = readNum(path);
    return ns === null ? null : Math.floor(ns / 1000);
  }
  return readKey(path, 'usage_usec');
}

export interface Teardown {
  complete: boolean;
  notes: string[];
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The cgroups beneath `dir` (every directory of a cgroup filesystem is one), deepest first. */
function cgroupsBeneath(dir: string): string[] {
  const out: string[] = [];
  let subs: string[] = [];
  try {
    subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return out;
  }
  for (const sub of subs) out.push(...cgroupsBeneath(sub), sub);
  return out;
}

/** Tears the leaves down within `deadlineMs` in all; what could not be removed is noted. */
export function teardownCgroups(set: CgroupSet, deadlineMs = 3000): Teardown {
  const until = Date.now() + deadlineMs;
  const notes = leftNotes(sweep(set, () => until));
  return { complete: notes.length === 0, notes };
}

/** What a teardown left: leaves the kernel still refused as busy (worth another try), and the
 * notes of leaves refused for good (another errno). */
export interface LeftLeaves {
  busy: Leaf[];
  refused: string[];
}

/**
 * teardownCgroups, each leaf given `deadlineMs` of its own, saying which are left. A leaf removed
 * is never looked at again (by teardownEach on what this returns): a cgroup made later under its
 * name, as an OCI config names its own leaf, is someone else's.
 */
export function teardownEach(set: CgroupSet, deadlineMs: number): LeftLeaves {
  return sweep(set, () => Date.now() + deadlineMs);
}

/** Each leaf removed by `untilFor()` (with the parents its creation made), or left. */
function sweep(set: CgroupSet, untilFor: () => number): LeftLeaves {
  closeV2(set);
  const left: LeftLeaves = { busy: [], refused: [] };
  for (const l of set.leaves) {
    const end = removeLeaf(l, untilFor());
    if (end.refused !== null) left.refused.push(refusedNote(l, end.refused));
    else if (!end.removed) left.busy.push(l);
    else removeParents(l);
  }
  set.leaves = [];
  return left;
}

/** The notes of what a teardown left. */
export function leftNotes(left: LeftLeaves): string[] {
  return [...left.refused, ...left.busy.map(busyNote)];
}

/** A launch's error with what its teardown left said beside it (its message and detail.cleanup,
 * as every failed clean-up is: contract/errors.ts undone). */
export function withCgroupsLeft(e: unknown, notes: readonly string[]): unknown {
  return undone(e, () => {
    throw new Error(`the launch's cgroups were not all removed: ${notes.join('; ')} (rmdir them once their processes are gone)`);
  });
}

function closeV2(set: CgroupSet): void {
  if (set.v2Fd >= 0) {
    shim().bv_close(set.v2Fd);
    set.v2Fd = -1;
  }
}

/**
 * rmdir first: the kernel refuses it (EBUSY) while any task is in the cgroup or a cgroup is
 * beneath it, so a leaf it removes was empty, and after a run whose workload was reaped it
 * usually is. Each refusal kills what is inside, in the leaf and in every cgroup the workload
 * made beneath it (a delegated subtree), and removes those, deepest first, as runc's delete
 * does; again and again until `until`, since new tasks can appear while we kill (a fork in
 * flight), and exiting tasks still being released refuse it for a moment. Any other error will
 * not pass: it is returned at once.
 */
function removeLeaf(l: Leaf, until: number): { removed: boolean; refused: string | null } {
  for (;;) {
    fault('cgroup:teardown-pass');
    try {
      rmdirSync(l.dir);
      return { removed: true, refused: null };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { removed: true, refused: null };
      if (code !== 'EBUSY') return { removed: false, refused: code ?? String(e) };
    }
    if (Date.now() >= until) return { removed: false, refused: null };
    const beneath = cgroupsBeneath(l.dir);
    for (const dir of [l.dir, ...beneath]) killAll({ leaves: [{ ...l, dir }], v2Fd: -1 });
    for (const dir of beneath) {
      try {
        rmdirSync(dir);
      } catch {
        // its tasks are not released yet: the next round
      }
    }
    sleepMs(5);
  }
}

function refusedNote(l: Leaf, code: string): string {
  return `could not remove ${l.dir}: rmdir: ${code}`;
}

function busyNote(l: Leaf): string {
  const n = cgroupMembers(l.dir).length;
  return `could not remove ${l.dir}: ${n ? `${n} process(es) still inside` : 'the kernel still refuses it (EBUSY: a cgroup beneath it, or tasks not yet released)'}`;
}

/** The parents this leaf's creation made, deepest first, if nothing else uses them now. */
function removeParents(l: Leaf): void {
  for (const p of [...l.createdParents].reverse()) {
    try {
      rmdirSync(p);
    } catch {
      // still used by another run: leave it
    }
  }
}

export interface CgroupReadback {
  memoryPeak: { value: number; source: string } | null;
  oomKills: { value: number; source: string } | null;
  pidsPeak: { value: number; source: string } | null;
  /** How many times a fork or clone failed because pids.max was reached: the "max" line of
   * pids.events, on v2 and on v1 alike (Documentation/admin-guide/cgroup-v2.rst, "pids"). */
  pidsMax: { value: number; source: string } | null;
  cpuUsec: { value: number; source: string } | null;
}

export function readNum(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

export function readKey(path: string, key: string): number | null {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function readBack(set: CgroupSet): CgroupReadback {
  const r: CgroupReadback = { memoryPeak: null, oomKills: null, pidsPeak: null, pidsMax: null, cpuUsec: null };
  const take = (key: keyof CgroupReadback, source: string, value: number | null): void => {
    if (value !== null && r[key] === null) r[key] = { value, source };
  };
  for (const l of set.leaves) {
    if (l.version === 2) {
      take('memoryPeak', join(l.dir, 'memory.peak'), readNum(join(l.dir, 'memory.peak')));
      take('oomKills', join(l.dir, 'memory.events'), readKey(join(l.dir, 'memory.events'), 'oom_kill'));
      take('pidsPeak', join(l.dir, 'pids.peak'), readNum(join(l.dir, 'pids.peak')));
      take('pidsMax', join(l.dir, 'pids.events'), readKey(join(l.dir, 'pids.events'), 'max'));
      take('cpuUsec', join(l.dir, 'cpu.stat'), readKey(join(l.dir, 'cpu.stat'), 'usage_usec'));
    } else {
      if (l.controllers.includes('memory')) {
        take('memoryPeak', join(l.dir, 'memory.max_usage_in_bytes'), readNum(join(l.dir, 'memory.max_usage_in_bytes')));
        take('oomKills', join(l.dir, 'memory.oom_control'), readKey(join(l.dir, 'memory.oom_control'), 'oom_kill'));
      }
      if (l.controllers.includes('pids')) take('pidsMax', join(l.dir, 'pids.events'), readKey(join(l.dir, 'pids.events'), 'max'));
      if (l.controllers.includes('cpuacct')) {
        const ns = readNum(join(l.dir, 'cpuacct.usage'));
        take('cpuUsec', join(l.dir, 'cpuacct.usage'), ns === null ? null : Math.round(ns / 1000));
      }
    }
  }
  return r;
}
