// The OCI-style lifecycle for scripts: start / state / kill / delete / list / report, on what
// create (app/create.ts) made. Nothing here reads a bundle, plans or launches: these commands
// start from a smaller snapshot that holds none of that (docs/startup.md, "three blobs";
// test/arch.test.ts checks the graph).
//
// <root>/containers/<id>/
//   lock          flock: every command on this id holds it while it acts
//   state.json    what bvisor last decided (schemas/state.schema.json), written atomically
//   plan.json     the admitted plan (no secrets: only references)
//   create.json   what create read back (evidence, landlock and seccomp digests, the hooks it ran)
//   start.json    the poststart hooks start ran
//   exec.fifo     start writes a byte here; the monitor then lets the workload exec
//   monitor.json  the monitor's phase;  exit.json  the exit status it reaped
//   stdout/stderr captured streams (relayed by the monitor, capped)
//   wasm.json     a wasm container: its runner's plan, memory caps, cache result, seed
//   wasm-outcome  a wasm container: the runner's outcome line (exit code, trap, fuel), written
//                 through the one descriptor create gave the runner (app/wasm.ts)
//   report.json   the sealed report, once stopped
// The real status is derived from the processes (pid + start time, so a recycled pid is never
// taken for ours) and the monitor's files; state.json alone is never trusted for it.
import { readMonitorDenials, notObservedSeccomp, type MonitorDenialCounts } from '../backends/linux/host/denials.js';
import { containerLandlock, type MonitorLandlockCounts } from '../backends/linux/host/landlock-audit.js';
import { launchPolicy } from '../core/seccomp/policy.js';
import type { Arch } from '../core/seccomp/compile.js';
import { existsSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync, writeSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import { basename, join, posix } from 'node:path';
import type { ContainerState, Evidence, HostFacts, OciState, Plan, ProcRef, ReportBody, SealedReport } from '../contract/generated/types.js';
import { validateContainerState, validateHostFacts } from '../contract/generated/validators-records.js';
import { planIntact, type AdmittedPlan } from '../core/plan-hash.js';
import { BvisorError } from '../contract/errors.js';
import { checkedId } from '../core/ids.js';
import { signalName, parseSignal } from '../core/signals.js';
import { sealReport, notObserved, reportIntact } from '../core/report.js';
import { attributeSignals, parseSignalsSent, withSignalSent, type SentBy, type SignalSent } from '../core/sent-signals.js';
import { removeKeptBundle } from '../host/extracted.js';
import { writeIntoRoot, isRootFault, isRootOutOfRoom, checkStateRoot } from '../host/state-root.js';
import { probeHost, errnoName } from '../host/facts.js';
import { claimsKept, releaseUnheld } from '../host/id-claims.js';
import { sha256Hex, sha256File } from '../host/hash.js';
import { startTime, alive, procState, parentOf } from '../host/proc.js';
import { writeFileAtomic, writeFileOverReservation, type Durability } from '../host/atomic.js';
import { withFlock, withFlockYielding } from '../host/flock.js';
import { appendReport, appendStarted, startRecordReservation, journalHasSince, type JournalKey } from '../host/journal-store.js';
import { shim, LOCK_EX } from '../backends/linux/ffi/shim.js';
import type { LinuxRunResult } from '../backends/linux/launcher.js';
import { awaitExit } from '../backends/linux/host/reaper.js';
import { readBack, teardownCgroups, killAll, cgroupMembers, signalMembers, isFrozen, type CgroupSet, type CgroupReadback } from '../backends/linux/host/cgroups.js';
import { readOutcome, wasmReportBody, wasiSourceOf, WASM_RECORD, type WasmRecord } from './wasm-report.js';
import { linuxReportBody, denialsOf, sealedReportFor } from './report.js';
import { fault } from '../host/faults.js';
import { runSteps } from '../host/steps.js';
import { hookRecords, runHooks, type HookRecord } from './hooks.js';
import { commitOutputs, journalSink, stageArtifacts } from './outputs.js';
import { grantDeltas, snapshotFromJson } from './fsdelta.js';

export const OCI_VERSION = '1.0.2';

/** How reports are journaled: with the key of a keyed journal (--journal-key), if any. */
export interface JournalOptions {
  key?: JournalKey | null;
}

export function containersDir(root: string): string {
  return join(root, 'containers');
}

export function dirOf(root: string, id: string): string {
  return join(containersDir(root), checkedId(id));
}

function notFound(id: string, root: string): BvisorError {
  return new BvisorError('BV_CONTAINER_NOT_FOUND', `container ${id} does not exist under ${root}`, { hint: 'bvisor list shows the containers under this --root' });
}

/** Every command on an id holds its lock while it acts (sync or async bodies alike). */
export function withLock<T>(dir: string, fn: () => T): T {
  // The lock lives in the directory delete removes: a waiter that wakes to find it gone (or
  // made again by a new create) must not act on what is no longer the container it meant.
  const gone = (): Error => new BvisorError('BV_CONTAINER_NOT_FOUND', `container ${basename(dir)} no longer exists (deleted while this command waited)`, { hint: 'bvisor list shows the containers under this --root' });
  return withFlock(join(dir, 'lock'), LOCK_EX, 'BV_IO', fn, { gone });
}

function parsedOrNull<T>(text: string | null): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

function textOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function readJson<T>(path: string): T | null {
  return parsedOrNull<T>(textOrNull(path));
}

export function readState(dir: string): ContainerState | null {
  const s = readJson<ContainerState>(join(dir, 'state.json'));
  if (s && typeof s === 'object') {
    // Written by an earlier bvisor (before runs registered and tar bundles were kept): the same
    // container, with the fields' old meaning.
    const o = s as Partial<ContainerState>;
    if (o.kind === undefined) o.kind = 'container';
    if (o.keptBundle === undefined) o.keptBundle = null;
  }
  return s && validateContainerState(s) ? s : null;
}

/**
 * readState, keeping only the cgroups bvisor named for this container (ourCgroups): delete kills
 * in and removes what a state file names, and a file is data; an entry bvisor never writes (a
 * hand edit, another tool's file) must not make it kill or remove a cgroup that is not ours.
 */
function readOwnState(dir: string, id: string): ContainerState | null {
  const s = readState(dir);
  return s && { ...s, cgroupDirs: ourCgroups(id, s, dir) };
}

/**
 * A state.json that does not validate may still name processes and cgroups of ours: before
 * such a directory is removed, whatever it names is stopped (a pid only if its start time
 * still matches; a cgroup only if bvisor named it for this id).
 */
async function salvage(dir: string, id: string): Promise<void> {
  const raw = readJson<Record<string, unknown>>(join(dir, 'state.json'));
  if (!raw || typeof raw !== 'object') return;
  const ref = (v: unknown): ProcRef | null => {
    const r = v as ProcRef | null;
    return r && typeof r.pid === 'number' && Number.isInteger(r.pid) && r.pid > 1 && typeof r.startTime === 'string' ? { pid: r.pid, startTime: r.startTime } : null;
  };
  const cgroupDirs = ourCgroups(id, { runId: raw.runId, planHash: raw.planHash, cgroupDirs: Array.isArray(raw.cgroupDirs) ? raw.cgroupDirs.filter((d): d is string => typeof d === 'string') : [] }, dir);
  await stopProcesses({ pid: ref(raw.pid), monitor: ref(raw.monitor), cgroupDirs });
  teardownCgroups(leavesOf(cgroupDirs));
}

/** A run's name in its cgroup leaves: <id>-<first 8 of the run id>, or an API run's 18 characters. */
export function runNameOf(id: string | null, runId: string): string {
  return id ? `${id}-${runId.slice(0, 8)}` : runId.slice(0, 18);
}

/**
 * Whether a cgroup leaf is one bvisor named for a run: bvisor-<run name>, or a wasm runner's
 * bvisor-<run name>-<up to 6 of [0-9a-z]> (app/wasm.ts). Nothing longer: the leaves of container
 * "c1-<c1's run8>-x" begin as c1's do.
 */
export function isRunLeaf(leaf: string, runName: string): boolean {
  const name = `bvisor-${runName}`;
  return leaf === name || (leaf.startsWith(`${name}-`) && /^[0-9a-z]{1,6}$/.test(leaf.slice(name.length + 1)));
}

/** What a state file says of a container's cgroups: its run, its plan's hash and the dirs it lists. */
export interface CgroupClaim {
  runId: unknown;
  planHash: unknown;
  cgroupDirs: readonly string[];
}

/** Cgroup dirs as recorded, kept only if bvisor named them for this container's run (isRunLeaf),
 * or they are where the container's plan put the leaf an OCI config's linux.cgroupsPath named
 * (ociLeafIn). A run id that is not a string names no leaf. */
export function ourCgroups(id: string, s: CgroupClaim, dir: string | null = null, oci: OciLeaf | null = dir ? leafOnly(ociLeafIn(dir, s.planHash)) : null): string[] {
  const runId = s.runId;
  const runName = typeof runId === 'string' && runId.length >= 8 ? runNameOf(id, runId) : null;
  return cgroupsNamed(s.cgroupDirs, runName, oci?.leaf ?? null).filter((d) => (runName !== null && isRunLeaf(basename(d), runName)) || oci?.dirs.includes(d) === true);
}

/**
 * The recorded cgroup dirs bvisor named for a run (isRunLeaf), or whose leaf is the OCI leaf the
 * run's plan named; normalised paths under /sys/fs/cgroup only: "<leaf>/.." would name the parent
 * (and cgroup.kill its whole subtree). For state files (ourCgroups) and start records (recover).
 */
export function cgroupsNamed(dirs: readonly string[], runName: string | null, ociLeaf: string | null): string[] {
  return dirs.filter((d) => ((runName !== null && isRunLeaf(basename(d), runName)) || (ociLeaf !== null && basename(d) === ociLeaf)) && d.startsWith('/sys/fs/cgroup/') && posix.normalize(d) === d && !d.endsWith('/'));
}

/** The leaf an OCI config's linux.cgroupsPath named, and the directories the plan puts it in. */
export interface OciLeaf {
  leaf: string;
  /** anchor/segments…/leaf for each of the plan's cgroup placements: where create made it. */
  dirs: string[];
}

/**
 * The cgroup leaf an OCI config's linux.cgroupsPath named, as the container's plan recorded it,
 * with the exact directories its placements put it in (a leaf of that name elsewhere, in another
 * parent or hierarchy, is not the container's): only from the plan the container was created with
 * (its content hashes to the state's planHash), so an edit of plan.json alone names no leaf.
 * (Whoever can rewrite state.json as well owns the state root, and is trusted as such, as for the
 * rest of the plan.) null when plan.json names no leaf; 'not-intact' when it names one and is not
 * that plan. Plans without a leaf (all but an engine's) are not hashed.
 */
export function ociLeafIn(dir: string, planHash: unknown): OciLeaf | 'not-intact' | null {
  const read = readPlan(dir);
  const launch = (read.plan as Plan | null)?.launch;
  const leaf = launch?.oci?.cgroupLeaf;
  if (typeof leaf !== 'string') return null;
  if (!read.intact(planHash)) return 'not-intact';
  return { leaf, dirs: launch!.cgroup.placements.map((p) => join(p.anchor, ...p.segments, leaf)) };
}

const leafOnly = (o: OciLeaf | 'not-intact' | null): OciLeaf | null => (typeof o === 'object' ? o : null);

function stateText(s: ContainerState): string {
  return JSON.stringify(s, null, 2) + '\n';
}

/** `renamed`: a state that records what exists only while this process's work does (a cgroup
 * it is making, a pid it spawned), superseded by a durable write before it returns (Durability). */
export function writeState(dir: string, s: ContainerState, durability: Durability = 'durable'): void {
  writeFileAtomic(join(dir, 'state.json'), stateText(s), 0o600, durability);
}

// start writes the running state after the go byte, when the workload may already be filling the
// state root (its captures live there). create holds that write's space, as it holds the start
// record's, so a root the workload fills cannot make start fail after the workload was released.
export const STATE_RESERVE = '.reserve.state';
/** Taken before the workload exists: the state as it is then, and room for what create and start
 * add (pids, cgroup directories, the kept bundle's path, startedAt), in whole pages. A state that
 * still outgrows it is written beyond it, needing new space only for the excess. */
export const stateReserveBytes = (s: ContainerState): number => Math.ceil((Buffer.byteLength(stateText(s)) + 8192) / 4096) * 4096;

interface ExitFile extends MonitorDenialCounts, MonitorLandlockCounts {
  phase: 'exited' | 'aborted' | 'killed-before-start' | 'exec-failed' | 'monitor-fault';
  siCode: number;
  status: number;
  timedOut: boolean;
  /** What stopped the workload, if the monitor did: wall, cpu, or its own fault. */
  stoppedBy?: 'none' | 'wall' | 'cpu' | 'monitor-fault';
  /** The watched cgroup's cpu usage at the end (limits.cpu, mediated), -1 if none. */
  cpuUsageUs?: number;
  startedAtMs: number;
  endedAtMs: number;
  utimeUs: number;
  stimeUs: number;
  maxRssKb: number;
  /** The CPU time the kernel charged the workload (its PROF clock), -1 if not read; absent
   * from an older monitor's record. */
  chargedUs?: number;
  failStage: number;
  failErrno: number;
  stdoutBytes: number;
  stdoutKept: number;
  stderrBytes: number;
  stderrKept: number;
  /** Who collected the status: the monitor (its child), or the engine (engine mode; no status). */
  reaper?: 'monitor' | 'engine';
}

export interface Derived {
  status: 'creating' | 'created' | 'running' | 'stopped';
  broken: string | null;
  exit: ExitFile | null;
}

/** The real status, from the processes and the monitor's files. */
export function derive(dir: string, s: ContainerState): Derived {
  if (s.kind === 'run') {
    // Kept by run --keep once its report was journaled: stopped, whole, until delete. (Only by
    // its mark: a crashed run's entry is stopped and journaled too once a state or list has
    // sealed it, and stays broken, for gc.)
    if (s.kept) return { status: 'stopped', broken: null, exit: null };
    // A bvisor run in progress: it lives as long as its process.
    if (alive(s.creator)) return { status: 'running', broken: null, exit: null };
    // Its workload dies with it through PR_SET_PDEATHSIG, unless it cleared that (any program
    // may): then it runs on with nothing keeping its wall (an attack in December saw state, list
    // and the sealed report say it had died with the run). Said, and delete -f and recovery kill it.
    if (alive(s.pid)) return { status: 'running', broken: `bvisor run (pid ${s.creator.pid}) is gone (killed) and its workload runs on unsupervised: nothing keeps its limits.wall or records its exit; bvisor delete -f stops it`, exit: null };
    if (readJson<{ unsupervised?: string }>(join(dir, 'killed.json'))?.unsupervised) return { status: 'stopped', broken: 'bvisor run was gone (killed) while its workload ran on unsupervised; bvisor delete -f killed the workload', exit: null };
    return { status: 'stopped', broken: 'bvisor run died before it finished (killed, or the host rebooted); its workload died with it', exit: null };
  }
  const exit = readJson<ExitFile>(join(dir, 'exit.json'));
  if (exit) return { status: 'stopped', broken: exit.phase === 'aborted' ? 'bvisor create died before the container was created (its monitor killed the workload)' : null, exit };
  if (s.status === 'creating') {
    if (alive(s.creator)) return { status: 'creating', broken: null, exit: null };
    return { status: 'stopped', broken: 'bvisor create died before the container was created', exit: null };
  }
  if (s.status === 'stopped') return { status: 'stopped', broken: null, exit: null };
  if (alive(s.pid)) {
    const phase = readJson<{ phase: string }>(join(dir, 'monitor.json'))?.phase;
    const status = phase === 'running' ? 'running' : (s.status as 'created' | 'running');
    // Its monitor killed and the workload still there: one that cleared its PR_SET_PDEATHSIG
    // (any program may), or an engine's sibling (CLONE_PARENT: the engine is its parent). Nothing
    // keeps its wall or records its exit any more: said, and recovery (gc, recover) kills it.
    if (s.monitor && !alive(s.monitor)) {
      // Between the two looks the workload may have ended and its monitor recorded it and gone:
      // looked at again, it is that (exit.json), or gone with no record (below).
      if (existsSync(join(dir, 'exit.json')) || !alive(s.pid)) return derive(dir, s);
      return { status, broken: `its monitor (pid ${s.monitor.pid}) is gone (killed) and the workload runs on unsupervised: nothing keeps its limits.wall or records its exit; bvisor delete -f stops it`, exit: null };
    }
    return { status, broken: null, exit: null };
  }
  if (alive(s.monitor)) return { status: 'running', broken: null, exit: null }; // exit.json is being written
  // delete -f found the workload running without its monitor (killed.json says so) and killed it.
  if (readJson<{ unsupervised?: string }>(join(dir, 'killed.json'))?.unsupervised) return { status: 'stopped', broken: 'its monitor was gone (killed) while the workload ran on unsupervised; bvisor delete -f killed the workload', exit: null };
  return { status: 'stopped', broken: 'the workload is gone and its monitor left no exit status (killed, or the host rebooted)', exit: null };
}

// ---------------------------------------------------------------------------------------------
// helpers shared with create (app/create.ts) and gc (app/gc.ts)

/** What failed without stopping anything (a poststart or poststop hook, a report not recorded
 * yet) says so on stderr. */
function warn(msg: string): void {
  process.stderr.write(`bvisor: warning: ${msg}\n`);
}

/** Removes a container directory, retrying while a dying monitor may still be writing in it. */
export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  } catch (e) {
    throw new BvisorError('BV_IO', `remove ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'the state root must be a writable directory of ours; retry', cause: e });
  }
}

// A registration is filled under a name no id can have ('@' is not in one) and renamed to its id
// only when whole (app/create.ts, claimId), so no crash leaves containers/<id> without a state.
// The name holds its maker's pid and start time: gc removes a claim whose maker is gone.
const CLAIM_PREFIX = '@claim.';

export function claimName(maker: ProcRef, runId: string): string {
  return `${CLAIM_PREFIX}${maker.pid}.${maker.startTime}.${runId}`;
}

/** The process that made a claim, by its name; null for any other entry of containers/. */
export function claimMaker(name: string): ProcRef | null {
  const m = /^@claim\.(\d+)\.(\d+)\./.exec(name);
  return m ? { pid: Number(m[1]), startTime: m[2]! } : null;
}

/** The entries of containers/, claims and all (none if it does not exist yet). */
function entriesOf(root: string): string[] {
  // Checked as it is now (loadExisting says why); a root not there has no entries.
  if (!checkStateRoot(root)) return [];
  try {
    return readdirSync(containersDir(root)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new BvisorError('BV_IO', `read ${containersDir(root)}: ${code ?? (e as Error).message}`, { hint: 'the state root must be a directory of ours holding containers/ (see --root)', cause: e });
  }
}

/** The entries of containers/ but claims (none if it does not exist yet); anything else is a
 * coded error. */
export function containerIds(root: string): string[] {
  return entriesOf(root).filter((n) => !n.startsWith(CLAIM_PREFIX));
}

/** The claims in containers/ (registrations not yet renamed to their id). */
export function claimsIn(root: string): string[] {
  return entriesOf(root).filter((n) => n.startsWith(CLAIM_PREFIX));
}

/** Waits (bounded) for a process of ours to go, then SIGKILLs it and waits again. */
async function awaitGone(ref: ProcRef | null, ms: number): Promise<void> {
  if (!ref) return;
  const s = shim();
  const fd = s.bv_pidfd_open(ref.pid);
  if (fd < 0) return; // gone
  try {
    if (startTime(ref.pid) === ref.startTime) await awaitExit(fd, ref.pid, ms); // not a recycled pid
  } finally {
    s.bv_close(fd);
  }
}

/** Kills a container's workload (and its cgroups' members), then its monitor, waiting for both. */
export async function stopProcesses(s: Pick<ContainerState, 'pid' | 'monitor' | 'cgroupDirs'>): Promise<void> {
  killAll(leavesOf(s.cgroupDirs));
  if (s.pid) signalPid(s.pid.pid, 9, s.pid.startTime);
  // The monitor sees its workload die, writes exit.json and exits; give it the time to.
  await awaitGone(s.monitor, 5000);
  await awaitGone(s.pid, 1000);
}

// ---------------------------------------------------------------------------------------------
// start, kill

export function loadExisting(root: string, id: string): { dir: string; state: ContainerState | null } {
  const dir = dirOf(root, id);
  if (!existsSync(dir)) throw notFound(id, root);
  // The root is there now, whatever it was when the command began (a root missing then was not
  // checked: whoever could make it in between would decide what this command acts on).
  checkStateRoot(root);
  return { dir, state: readState(dir) };
}

export function wrongState(id: string, op: string, status: string, hint: string): BvisorError {
  return new BvisorError('BV_CONTAINER_STATE', `cannot ${op} container ${id}: it is ${status}`, { hint });
}

export async function startContainer(root: string, id: string, j: JournalOptions = {}): Promise<ContainerState> {
  const { dir } = loadExisting(root, id);
  return withLock(dir, async () => {
    // The state as recorded is what start writes back (running); the start record names only the
    // cgroups that are the container's (ourCgroups).
    const s = readState(dir);
    if (!s) throw wrongState(id, 'start', 'broken', `remove it with bvisor delete -f ${id}`);
    const d = derive(dir, s);
    if (d.status !== 'created') throw wrongState(id, 'start', d.status, d.status === 'running' ? 'it was started already' : `delete it with bvisor delete ${id}`);
    if (d.broken) throw new BvisorError('BV_CONTAINER_STATE', `cannot start container ${id}: ${d.broken}`, { hint: `delete it with bvisor delete -f ${id}` });
    // An init handed to an engine is the engine's to reap: if the engine is gone since create
    // (its child now went to init, or to another subreaper), its exit status would go to a
    // process that does not report it. Not released then (create withheld it the same way at READY).
    if (s.engine !== undefined && s.pid) {
      const parent = parentOf(s.pid.pid);
      if (parent !== s.engine) throw new BvisorError('BV_CONTAINER_STATE', `cannot start container ${id}: its init was handed to the engine that created it (pid ${s.engine}), which is gone: the init's parent is now ${parent === null ? 'unknown (its /proc entry cannot be read)' : `pid ${parent}`}, and its exit status would go there`, { hint: `delete it with bvisor delete -f ${id}, and create it again from the engine` });
    }
    const named = ociLeafIn(dir, s.planHash);
    if (named === 'not-intact') warn(`container ${id}: its plan.json names an OCI cgroup leaf but is not the plan it was created with (planHash ${s.planHash}): that leaf is not counted as the container's`);
    const oci = leafOnly(named);
    const own = ourCgroups(id, s, dir, oci);
    // Released into a frozen leaf, the init would not exec until a resume, and start would give
    // up waiting for it; runc refuses too (a paused container is not created).
    if (own.some(isFrozen)) throw wrongState(id, 'start', 'paused', `resume it first (bvisor resume ${id})`);
    let fd: number;
    try {
      fd = openSync(join(dir, 'exec.fifo'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      throw new BvisorError('BV_CONTAINER_STATE', `cannot start container ${id}: its monitor is not waiting (${(e as NodeJS.ErrnoException).code})`, { hint: `delete it with bvisor delete -f ${id}` });
    }
    try {
      // The start record (docs/journal.md#recovery), appended and fsync'd before the go byte.
      fault('start:before-start-record');
      appendStarted(root, { runId: s.runId, containerId: id, releasedBy: 'start', backend: s.backend, planHash: s.planHash, stateRoot: root, cgroupDirs: own, ociLeaf: oci?.leaf ?? null, supervisor: s.monitor, monitor: s.monitor, workload: s.pid }, { key: j.key ?? null, reservation: startRecordReservation(dir) });
      fault('start:after-start-record');
      writeSync(fd, 's');
    } finally {
      closeSync(fd);
    }
    fault('start:after-go');
    // The monitor reports running (exec succeeded) or writes exit.json (it failed).
    const until = Date.now() + 5000;
    for (;;) {
      const phase = readJson<{ phase: string }>(join(dir, 'monitor.json'))?.phase;
      const exit = readJson<ExitFile>(join(dir, 'exit.json'));
      if (exit?.phase === 'exec-failed') throw new BvisorError('BV_LAUNCH_FAILED', `container ${id} failed before exec (stage ${exit.failStage}: ${errnoName(-exit.failErrno)})`, { hint: 'the workload never ran' });
      if (phase === 'running' || exit) break;
      if (Date.now() > until) throw new BvisorError('BV_CONTAINER_STATE', `container ${id} did not report running within 5s`, { hint: 'bvisor state shows where it is' });
      await new Promise((r) => setTimeout(r, 2));
    }
    const next: ContainerState = { ...s, status: 'running', startedAt: new Date().toISOString() };
    writeFileOverReservation(join(dir, 'state.json'), stateText(next), join(dir, STATE_RESERVE));
    // poststart hooks: after the program started; a failure is a warning (runtime-spec).
    const post = plannedHooks(dir, id, s, 'poststart');
    // (The program may have ended already; the state says what start did: running.)
    if (!post) return next;
    const ran = hookRecords(await runHooks('poststart', post, ociState(id, dir, next, { status: 'running', broken: null, exit: null }), warn));
    // For the report (they ran as bvisor's own user), named in the state as create's records are.
    // The workload is running: a write that fails is said, and start still succeeds.
    if (!next.records) return next;
    try {
      const text = JSON.stringify({ hooks: ran }) + '\n';
      writeFileAtomic(join(dir, 'start.json'), text, 0o600);
      const recorded: ContainerState = { ...next, records: { ...next.records, 'start.json': recordHash(text) } };
      writeState(dir, recorded);
      return recorded;
    } catch (e) {
      warn(`container ${id}: its poststart hooks ran, but were not recorded for its report: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      return next;
    }
  });
}

/**
 * The last check of a plan.json against a planHash, with the very text it was made for. One
 * command may check its container's plan more than once (readOwnState's cgroups, the seal, exec's
 * launch, update's limits), and hashing it (RFC 8785 over the whole plan) is what costs: the
 * answer is reused only for the same text and the same planHash, so a plan.json changed in
 * between is checked anew. The answer depends on nothing else (planIntact is a pure function).
 */
let lastPlanCheck: { text: string; planHash: string; intact: boolean } | null = null;

/** dir/plan.json parsed (null when missing or not JSON; a fresh object at each call), and
 * whether it is the plan a given planHash names (planIntact), hashed at most once per text. */
function readPlan(dir: string): { plan: unknown; intact(planHash: unknown): boolean } {
  let text: string | null = null;
  let plan: unknown = null;
  try {
    text = readFileSync(join(dir, 'plan.json'), 'utf8');
    plan = JSON.parse(text);
  } catch {
    text = null;
  }
  return {
    plan,
    intact(planHash: unknown): boolean {
      if (text === null || typeof planHash !== 'string') return false;
      const last = lastPlanCheck;
      if (last && last.text === text && last.planHash === planHash) return last.intact;
      const intact = planIntact(plan, planHash, sha256Hex);
      lastPlanCheck = { text, planHash, intact };
      return intact;
    },
  };
}

/** The container's plan.json when it is the plan it was created with (its content hashes to the state's planHash), else null. */
export function intactPlan(dir: string, s: ContainerState): AdmittedPlan | null {
  const read = readPlan(dir);
  return read.intact(s.planHash) ? (read.plan as AdmittedPlan) : null;
}

/**
 * The container's OCI hooks of one kind, from its plan.json when that is the plan it was created
 * with (its content hashes to the state's planHash); hooks are programs bvisor runs as itself. A
 * plan.json that is not: a warning, and none run (the runtime-spec makes a failed poststart or
 * poststop hook a warning too).
 */
function plannedHooks(dir: string, id: string, s: ContainerState, kind: 'poststart' | 'poststop'): NonNullable<NonNullable<NonNullable<Plan['launch']>['oci']>['hooks']>['poststart'] | null {
  const read = readPlan(dir);
  const hooks = (read.plan as Plan | null)?.launch?.oci?.hooks?.[kind];
  if (!hooks?.length) return null;
  if (read.intact(s.planHash)) return hooks;
  warn(`container ${id}: its ${kind} hooks were not run: its plan.json is not the plan it was created with (planHash ${s.planHash})`);
  return null;
}

export function killContainer(root: string, id: string, signal: string, all: boolean): void {
  const sig = parseSignal(signal);
  if (sig === null) throw new BvisorError('BV_USAGE', `unknown signal ${JSON.stringify(signal)}`, { hint: 'a name (TERM, SIGKILL) or a number (1–64)' });
  const { dir } = loadExisting(root, id);
  withLock(dir, () => {
    const s = readState(dir);
    if (!s) throw wrongState(id, 'kill', 'broken', `remove it with bvisor delete -f ${id}`);
    const d = derive(dir, s);
    if (d.status !== 'created' && d.status !== 'running') throw wrongState(id, 'kill', d.status, 'only created or running containers take signals');
    if (!s.pid) throw wrongState(id, 'kill', 'starting', 'its workload does not exist yet (a bvisor run still setting up); try again');
    // state.json is bvisor's, but it is read back from disk: signal only members of cgroups
    // that bvisor named for this very container (bvisor-<id>-<run>), whatever the file says.
    // --all: each member while it is one (signalMembers); the workload alone otherwise, or when
    // the cgroups hold nobody.
    // Each sending is recorded for the report before it is made (recordSignalSent).
    const ours = ourCgroups(id, s, dir);
    if (all && ours.some((d) => cgroupMembers(d).length > 0)) {
      if (workloadLive(s.pid)) recordSignalSent(dir, id, 'kill --all', sig);
      const failed = signalMembers(ours, sig);
      if (failed.length) throw signalFailed(failed[0]!.pid, sig, failed[0]!.rc);
      return;
    }
    signalPid(s.pid!.pid, sig, s.pid!.startTime, () => recordSignalSent(dir, id, 'kill', sig));
  });
}

/**
 * run --sig-proxy: signal `sig` sent on to the workload of the run `runId` registered at `dir`,
 * recorded first for its report (by `run --sig-proxy`), as bvisor kill sends one. Nothing is sent
 * when the entry is no longer that run's (delete -f, and a create that took the id again) or its
 * workload is not alive. The lock is waited for with the loop turning: the run's relay, deadline
 * and other signals go on meanwhile. Whether it was sent (false: not that run's, or ended).
 */
export async function sendOnToRun(dir: string, id: string, runId: string, sig: number): Promise<boolean> {
  return await withFlockYielding(join(dir, 'lock'), LOCK_EX, 'BV_IO', () => {
    const s = readState(dir);
    if (s?.runId !== runId || !workloadLive(s.pid)) return false;
    return signalPid(s.pid!.pid, sig, s.pid!.startTime, () => recordSignalSent(dir, id, 'run --sig-proxy', sig));
  });
}

const SIGNALS_SENT = 'signals.json';
const LIMITS_UPDATED = 'limits-updated.json';
type LimitUpdate = NonNullable<ReportBody['limitsUpdated']>[number];

/** The limits update wrote to the container's cgroups, in order ([] when none, or when the record
 * is not one: a torn or edited file is not taken for evidence). */
export function limitsUpdatedIn(dir: string): LimitUpdate[] {
  return parseLimitsUpdated(textOrNull(join(dir, LIMITS_UPDATED)));
}

function parseLimitsUpdated(text: string | null): LimitUpdate[] {
  if (text === null) return [];
  try {
    const v = JSON.parse(text) as unknown;
    const ok = (x: unknown): x is LimitUpdate => typeof x === 'object' && x !== null && typeof (x as LimitUpdate).at === 'string' && typeof (x as LimitUpdate).file === 'string' && /^[a-z_.]+$/.test((x as LimitUpdate).file) && typeof (x as LimitUpdate).value === 'string' && (x as LimitUpdate).value.length <= 64;
    return Array.isArray(v) && v.length <= 1024 && v.every(ok) ? v : [];
  } catch {
    return [];
  }
}

/**
 * Records, before update writes it, a limit written to the container's cgroup file `file`, for
 * its report (limitsUpdated): a write the record cannot take is not made (the report would show
 * the planned limit for one no longer in force). Returns how to take it back, for a write the
 * kernel then refuses.
 */
export function recordLimitUpdate(dir: string, file: string, value: string): () => void {
  const path = join(dir, LIMITS_UPDATED);
  const text = textOrNull(path);
  const prev = parseLimitsUpdated(text);
  if (prev.length >= 1024) throw new BvisorError('BV_CONTAINER_STATE', `${basename(dir)} has had 1024 limit updates, as many as its report lists`, { hint: 'create the container again for more' });
  writeFileAtomic(path, JSON.stringify([...prev, { at: new Date().toISOString(), file, value }]) + '\n', 0o600, 'unsynced');
  return () => {
    if (text === null) rmSync(path, { force: true });
    else writeFileAtomic(path, text, 0o600, 'unsynced');
  };
}

/**
 * Records, before it is sent, that a command of ours sends `sig` to the container's live
 * workload: its seal may follow the death at once (a bvisor run's), and must find it
 * (core/sent-signals.ts). Only for a workload that has not ended (the callers check, with the
 * pidfd held where there is one): one that died by someone else's signal while its monitor was
 * still draining its output must not be credited to this one. Not synced (Durability
 * `unsynced`): a crash of the machine may lose the attribution, never the report, and a kill
 * does not wait on a disk. A root that cannot take it does not hold the signal back (a workload
 * filling the root is one a user wants stopped): a warning says what the report will lack.
 * Returns how to take the record back, for a sending that then fails.
 */
function recordSignalSent(dir: string, id: string, by: SentBy, sig: number): () => void {
  const path = join(dir, SIGNALS_SENT);
  const text = textOrNull(path);
  const prev = parseSignalsSent(text);
  const write = (data: string): void => writeFileAtomic(path, data, 0o600, 'unsynced');
  try {
    if (text !== null && prev === null) warn(`container ${id}: its ${SIGNALS_SENT} could not be read (torn or edited): the signals it recorded are not in its report`);
    write(JSON.stringify(withSignalSent(prev ?? [], by, signalName(sig), new Date().toISOString())) + '\n');
  } catch (e) {
    warn(`container ${id}: ${signalName(sig)} will be sent, but is not recorded for its report (${(e as NodeJS.ErrnoException)?.code ?? String(e)}): if it ends the workload, the report says failed, reason signal`);
    return () => {};
  }
  fault('signal:recorded');
  return () => {
    try {
      if (text === null) rmSync(path, { force: true });
      else write(text);
    } catch {
      // The report may then list a signal that was not sent; the failed send is the error shown.
    }
  };
}

/** The workload is running or waiting (not gone, not a zombie whose end is already decided). */
function workloadLive(ref: ProcRef | null): boolean {
  return ref !== null && alive(ref) && procState(ref.pid) !== 'Z';
}

/** What the container's signals.json records, [] when nothing (or nothing readable) was. */
export function signalsSentTo(dir: string): SignalSent[] {
  return parseSignalsSent(textOrNull(join(dir, SIGNALS_SENT))) ?? [];
}

/** pidfd_send_signal, after checking (with the pidfd held) that the pid is still the process
 * that started at `expectStart`; `record` first, once it is known to be a live process (and undone
 * if the sending fails). Whether it was sent to a live one (a zombie has ended already). */
function signalPid(pid: number, sig: number, expectStart: string | null, record?: () => () => void): boolean {
  const s = shim();
  const fd = s.bv_pidfd_open(pid);
  if (fd < 0) return false; // gone
  try {
    if (expectStart !== null && startTime(pid) !== expectStart) return false; // recycled
    const live = procState(pid) !== 'Z';
    const undo = record && live ? record() : null;
    const rc = s.bv_pidfd_signal(fd, sig);
    if (rc < 0 && rc !== -constants.errno.ESRCH) {
      undo?.();
      throw signalFailed(pid, sig, rc);
    }
    return live && rc === 0;
  } finally {
    s.bv_close(fd);
  }
}

function signalFailed(pid: number, sig: number, rc: number): BvisorError {
  return new BvisorError('BV_IO', `pidfd_send_signal(${pid}, ${signalName(sig)}): ${errnoName(rc)}`);
}

// ---------------------------------------------------------------------------------------------
// state, seal, delete, list, report

/** The status state and list show: a created or running container whose v2 leaf is frozen
 * (bvisor pause) is paused, as runc says (runc pauses either, and then calls both paused). */
function shownStatus(id: string, dir: string, s: ContainerState, d: Derived): OciState['status'] {
  if (d.status !== 'running' && d.status !== 'created') return d.status;
  // The run's own leaves first, named by its run id; the plan (parsed and hashed: most of what
  // list spends per container) only for a recorded leaf that is not one, an OCI config's.
  const own = ourCgroups(id, s);
  const all = own.length === s.cgroupDirs.length ? own : ourCgroups(id, s, dir);
  return all.some(isFrozen) ? 'paused' : d.status;
}

export function ociState(id: string, dir: string, s: ContainerState, d: Derived): OciState {
  const report = readJson<SealedReport>(join(dir, 'report.json'));
  const out: OciState = {
    ociVersion: OCI_VERSION,
    id,
    status: shownStatus(id, dir, s, d),
    bundle: s.bundle,
    annotations: s.annotations,
    bvisor: {
      planHash: s.planHash,
      backend: s.backend,
      createdAt: s.createdAt,
      startedAt: s.startedAt,
      reportHash: report?.bodyHash ?? s.reportHash,
      monitorPid: s.monitor?.pid ?? null,
      exit: report ? { status: report.body.outcome.status, exitCode: report.body.outcome.exitCode, signal: report.body.outcome.signal } : null,
      broken: d.broken,
    },
  };
  if ((d.status === 'created' || d.status === 'running') && s.pid) out.pid = s.pid.pid;
  return out;
}

/** Leaves recorded by path: cgroup.controllers exists only on v2; v1 controllers show by their files. */
export function leavesOf(dirs: string[]): CgroupSet {
  const v1Controllers = (dir: string): string[] =>
    [['memory', 'memory.limit_in_bytes'], ['cpuacct', 'cpuacct.usage'], ['pids', 'pids.max'], ['cpu', 'cpu.cfs_quota_us']].filter(([, f]) => existsSync(join(dir, f!))).map(([c]) => c!);
  return {
    leaves: dirs.filter((dir) => existsSync(dir)).map((dir) => {
      const v2 = existsSync(join(dir, 'cgroup.controllers'));
      return { version: v2 ? (2 as const) : (1 as const), controllers: v2 ? [] : v1Controllers(dir), dir, createdParents: [] };
    }),
    v2Fd: -1,
  };
}

let hostCache: HostFacts | null = null;
const host = (): HostFacts => (hostCache ??= probeHost());

/** Seals the report of a stopped container and journals it, exactly once. */
function seal(root: string, id: string, dir: string, s: ContainerState, d: Derived, teardown: { complete: boolean; notes: string[] } | null, j: JournalOptions, readback: CgroupReadback = readBack(leavesOf(s.cgroupDirs)), dropCaptures = false): SealedReport {
  const existing = ourReport(readJson<SealedReport>(join(dir, 'report.json')), s);
  let report = existing;
  let checked: AdmittedPlan | null = null;
  if (!report) {
    // The plan create wrote, or none: its content must hash to the planHash of the (validated)
    // state file, so an edit a schema would take (another mechanism string) cannot reach the report.
    const plan = (checked = intactPlan(dir, s));
    if (!plan) throw new BvisorError('BV_CONTAINER_STATE', `container ${id} has no readable plan.json (missing, or not the plan it was created with: its planHash is ${s.planHash}); no report is sealed from it`, { hint: `remove it with bvisor delete -f ${id}`, detail: { plan: 'refused' } });
    // The records create wrote, each checked before anything is read or frozen for the report.
    type CreateRecord = { evidence: Evidence[]; reaper?: LinuxRunResult['reaper']; landlock: LinuxRunResult['landlock']; seccomp: LinuxRunResult['seccomp']; hooks?: HookRecord[] };
    const created = sealRecord<CreateRecord>(id, dir, s, 'create.json');
    const startRecord = sealRecord<{ hooks?: HookRecord[] }>(id, dir, s, 'start.json');
    const delta = sealRecordText(id, dir, s, 'fsdelta.json', () => (existsSync(join(dir, 'fsdelta.json')) ? readFileSync(join(dir, 'fsdelta.json'), 'utf8') : null));
    const wasm = s.backend === 'wasm' ? wasmRecordOf(id, dir, s) : null;
    const e = d.exit;
    // The monitor's last reading of a watched cpu counter outlives the cgroup.
    if (!readback.cpuUsec && e?.cpuUsageUs !== undefined && e.cpuUsageUs >= 0) readback.cpuUsec = { value: e.cpuUsageUs, source: 'the monitor\'s last reading of the watched cgroup counter' };
    // The seal runs in a later process than create: the workload's secret values are not known
    // here, so names it could have made after one are not listed (stageArtifacts, grantDeltas),
    // nor its captured bytes hashed.
    const hasSecrets = (plan.launch?.env ?? []).some((v) => v.secret !== undefined);
    const stream = (name: 'stdout' | 'stderr', mode: 'null' | 'inherit' | 'capture', bytes: number | undefined, kept: number | undefined): LinuxRunResult['streams']['stdout'] => {
      if (mode !== 'capture') return { mode, bytes: null, kept: null, sha256: null, truncated: false };
      // Hashed as it is read: a capture may be larger than a Buffer can hold (limits.output). Not
      // when the workload had secrets: their values are not known here, and a hash of bytes
      // holding one is a guess at it checked offline (run withholds only those that do).
      return { mode, bytes: bytes ?? null, kept: null, sha256: hasSecrets ? null : sha256File(join(dir, name)), truncated: (bytes ?? 0) > (kept ?? 0) };
    };
    const signal = e && (e.siCode === 2 || e.siCode === 3) ? e.status : null;
    const exitCode = e && e.siCode === 1 ? e.status : null;
    const started = e && e.startedAtMs ? new Date(e.startedAtMs) : s.startedAt ? new Date(s.startedAt) : new Date(s.createdAt);
    const ended = e ? new Date(e.endedAtMs) : new Date(started);
    const result: LinuxRunResult = {
      pid: s.pid?.pid ?? -1,
      startedAt: started,
      endedAt: ended,
      setupMs: s.setupMs ?? 0,
      runMs: Math.max(0, ended.getTime() - started.getTime()),
      teardownMs: 0,
      wait: { siCode: e?.siCode ?? 0, status: e?.status ?? 0, utimeUs: e?.utimeUs ?? 0, stimeUs: e?.stimeUs ?? 0, maxRssKb: e?.maxRssKb ?? 0, chargedUs: e?.chargedUs !== undefined && e.chargedUs >= 0 ? e.chargedUs : null },
      exitCode,
      signal,
      timedOut: e?.timedOut ?? false,
      cpuExceeded: e?.stoppedBy === 'cpu',
      oomKilled: (readback.oomKills?.value ?? 0) > 0 && signal === 9 && !(e?.timedOut ?? false) && e?.stoppedBy !== 'cpu',
      evidence: created?.evidence ?? [],
      // As create read it back (its evidence's PPid), or as the monitor recorded it at the end.
      ...((created?.reaper ?? e?.reaper) ? { reaper: created?.reaper ?? e!.reaper! } : {}),
      readback,
      cgroupDirs: s.cgroupDirs,
      streams: { stdout: stream('stdout', plan.launch!.stdio.stdout, e?.stdoutBytes, e?.stdoutKept), stderr: stream('stderr', plan.launch!.stdio.stderr, e?.stderrBytes, e?.stderrKept) },
      teardown: teardown ?? { complete: false, notes: ['cgroups are removed by bvisor delete, after this report was sealed'] },
      landlock: created?.landlock ?? null,
      seccomp: created?.seccomp ?? null,
    };
    // The host as planned; one that is not the file create wrote (torn by a crash: it is not
    // fsync'd) or fails its schema is probed again instead.
    const hostRecord = recordIn(dir, s, 'host.json');
    const planned = parsedOrNull<HostFacts>(hostRecord === 'unnamed' ? textOrNull(join(dir, 'host.json')) : typeof hostRecord === 'object' ? hostRecord.text : null);
    const facts = planned && validateHostFacts(planned) ? planned : host();
    // The monitor held the listener; its records and counts are in the state directory. (A wasm
    // container's report takes its seccomp source from the wasm backend instead.)
    if (s.backend === 'linux') result.seccompDenials = readMonitorDenials(dir, e, launchPolicy(plan.launch!), facts.kernel.arch as Arch) ?? notObservedSeccomp('the monitor did not observe them (denials off, a kill or log policy, or no seccomp filter)');
    if (s.backend === 'linux' && s.pid) result.landlockDenials = containerLandlock(dir, e, { childPid: s.pid.pid, launch: plan.launch!, arch: facts.kernel.arch as Arch, startedAtMs: e?.startedAtMs ?? Date.parse(s.createdAt), abi: facts.landlock.abi });
    const ctx = { runId: s.runId, containerId: id, bundle: s.bundle, manifestSha256: s.manifestSha256, plan, host: facts, createdAt: new Date(s.createdAt) };
    // A wasm container's report is the one bvisor run seals: the runner's records as for a Linux
    // workload, and the guest's fate from the outcome the runner left (exit code, trap, fuel).
    const outcome = wasm ? readOutcome(dir) : null;
    const body = wasm ? wasmReportBody(ctx, { result, outcome, ...wasm, spare: false }) : linuxReportBody(ctx, result);
    body.backend = s.backend;
    const hooks = [...(created?.hooks ?? []), ...(startRecord?.hooks ?? [])];
    if (hooks.length) body.hooks = hooks;
    // The container's processes are gone (sealing needs it stopped): freeze, then hash.
    const artifacts = stageArtifacts(plan, hasSecrets ? null : []);
    if (artifacts) body.artifacts = artifacts;
    const snap = delta === null ? null : snapshotFromJson(delta);
    const fsDelta = snap ? grantDeltas(snap, hasSecrets ? null : []) : [];
    if (fsDelta.length) body.fsDelta = fsDelta;
    if (!e && readJson<{ unsupervised?: string }>(join(dir, 'killed.json'))?.unsupervised) {
      // Its monitor was gone and delete -f killed what it left running: killed, and said why.
      body.outcome = { status: 'killed', reason: 'deleted', exitCode: null, signal: 'SIGKILL', error: { code: 'BV_CONTAINER_STATE', message: d.broken ?? 'its monitor was gone' } };
      body.budgets.wall.observed = notObserved('its monitor (or bvisor run), which keeps the wall, was gone');
    } else if (!e) {
      body.outcome = { status: 'error', reason: d.broken ? 'lost' : 'never-started', exitCode: null, signal: null, error: { code: 'BV_CONTAINER_STATE', message: d.broken ?? 'the workload never ran' } };
      body.budgets.wall.observed = notObserved('no exit status was recorded');
    } else if (e.phase === 'killed-before-start' || e.phase === 'aborted') {
      body.outcome = { status: 'killed', reason: 'never-started', exitCode: null, signal: signal === null ? null : signalName(signal) };
    } else if (e.phase === 'monitor-fault') {
      // The monitor could not watch the workload any more, so it killed it rather than let it
      // run unsupervised.
      body.outcome = { status: 'killed', reason: 'monitor-fault', exitCode: null, signal: signal === null ? null : signalName(signal), error: { code: 'BV_MONITOR_FAULT', message: `the monitor stopped the workload after its own failure (${errnoName(-e.failErrno)})` } };
    } else if (e.reaper === 'engine' && e.phase === 'exited' && body.outcome.status === 'failed' && exitCode === null && signal === null) {
      // Engine mode: the init's status is the engine's (its subreaper reaped it); what bvisor
      // observed is that and when it ended, and any budget that ended it (above).
      body.outcome = (readback.oomKills?.value ?? 0) > 0 ? { status: 'killed', reason: 'oom', exitCode: null, signal: null } : existsSync(join(dir, 'killed.json')) ? { status: 'killed', reason: 'deleted', exitCode: null, signal: 'SIGKILL' } : { status: 'exited', reason: 'reaped-by-engine', exitCode: null, signal: null };
    } else if (e.phase === 'exec-failed') {
      body.outcome = { status: 'error', reason: 'setup', exitCode: null, signal: null, error: { code: 'BV_LAUNCH_FAILED', message: `failed before exec at stage ${e.failStage}: ${errnoName(-e.failErrno)}` } };
    }
    // A signal our kill or delete -f sent: listed, and the end it caused called a kill.
    attributeSignals(body, signalsSentTo(dir));
    const updated = limitsUpdatedIn(dir);
    if (updated.length) body.limitsUpdated = updated;
    // Once more, from the outcome as corrected above; the monitor's seccomp findings are in dir.
    body.denials = denialsOf(body, plan, result, wasm ? wasiSourceOf(plan, outcome) : null);
    report = sealReport(body, sha256Hex);
  }
  // delete makes room for the report and its journal entry by dropping the captures, once a
  // sealed report holds their hashes: this seal's, or an earlier one's (a list or state whose
  // journal append then failed on a full root).
  if (dropCaptures) for (const name of ['stdout', 'stderr']) rmSync(join(dir, name), { force: true });
  if (!existing) {
    const sealed = report;
    // Named in the state before it is written: a report.json the state does not name is not
    // this container's (ourReport), and is sealed over.
    if (s.records) writeIntoRoot(root, () => writeState(dir, { ...s, reportHash: sealed.bodyHash }));
    writeIntoRoot(root, () => writeFileAtomic(join(dir, 'report.json'), JSON.stringify(sealed) + '\n'));
  }
  if (!s.journaled) {
    const sealed = report;
    if (!alreadyJournaled(root, s, report.bodyHash)) appendReport(root, report, { key: j.key ?? null });
    writeIntoRoot(root, () => writeState(dir, { ...s, status: 'stopped', reportHash: sealed.bodyHash, journaled: true }));
    commitOnSuccess(root, sealed, (checked ?? intactPlan(dir, s))?.launch.outputs?.durability === 'durable', j);
  }
  return report;
}

/**
 * outputs.commit: on-success, for a container: right after its report is sealed and journaled
 * (once), and only for a completed run that exited 0. A failure is a journal entry (a failed
 * disposition), not a failed delete: the quarantine stays for bvisor commit or discard.
 */
function commitOnSuccess(root: string, report: SealedReport, durable: boolean, j: JournalOptions): void {
  const a = report.body.artifacts;
  if (!a || a.commit !== 'on-success' || report.body.outcome.status !== 'completed' || report.body.outcome.exitCode !== 0) return;
  const sink = journalSink(root, j.key ?? null);
  try {
    commitOutputs(root, report, { to: null, durable }, sink);
  } catch (e) {
    runSteps(sink({ runId: report.body.runId, step: 'failed', action: 'commit', artifacts: a.items.map((x) => ({ id: x.id, sha256: x.sha256 })), error: { code: 'BV_OUTPUTS', message: e instanceof Error ? e.message : String(e) } }));
  }
}

/** What the state's `records` names a file by: the sha256 of its bytes as create wrote them
 * (bvisor's own files, never rewritten: no canonical form is needed, and a large fsdelta.json is
 * hashed as fast as it is read). */
export function recordHash(text: string): string {
  return sha256Hex(text);
}

type RecordName = keyof NonNullable<ContainerState['records']>;

/**
 * A file create wrote beside the state that a report is sealed from, as the state names it:
 * { text } when it hashes to the state's entry; 'edited' when the state names it and the file
 * is missing, unreadable or other bytes; 'absent' when the state names other records but not
 * this one (create did not write it, or ended before naming it: nothing is read); and 'unnamed'
 * for a state written before records were named, whose files are read as they were then.
 */
function recordIn(dir: string, s: ContainerState, name: RecordName): { text: string } | 'edited' | 'absent' | 'unnamed' {
  if (!s.records) return 'unnamed';
  const want = s.records[name];
  if (typeof want !== 'string') return 'absent';
  const text = textOrNull(join(dir, name));
  return text !== null && recordHash(text) === want ? { text } : 'edited';
}

/** The seal's refusal of a record that is not the one create wrote (delete -f removes the
 * container unsealed, as for a plan.json that is not its plan). */
function recordRefused(id: string, name: string): BvisorError {
  return new BvisorError('BV_CONTAINER_STATE', `container ${id}: its ${name} is not the record create wrote (missing, or its content is not what the state names); no report is sealed from it`, { hint: `remove it with bvisor delete -f ${id}`, detail: { plan: 'refused', record: name } });
}

/** A record's text for the seal, through recordIn: null when there is none; an edit refuses the
 * seal. `legacy` reads it for a state from before records were named (by default: as it is, or
 * null when it cannot be read). */
function sealRecordText(id: string, dir: string, s: ContainerState, name: RecordName, legacy: () => string | null = () => textOrNull(join(dir, name))): string | null {
  const r = recordIn(dir, s, name);
  if (r === 'edited') throw recordRefused(id, name);
  if (r === 'absent') return null;
  return r === 'unnamed' ? legacy() : r.text;
}

/** A JSON record create wrote, for the seal and exec (sealRecordText, parsed; null when there is
 * none or, for a state from before records were named, when it is not JSON, as readJson had it). */
export function sealRecord<T>(id: string, dir: string, s: ContainerState, name: RecordName): T | null {
  const text = sealRecordText(id, dir, s, name);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    if (s.records) throw recordRefused(id, name); // hashed as written, yet not JSON: not create's
    return null;
  }
}

/** What create recorded about a wasm container's runner (null if create ended before it did). */
function wasmRecordOf(id: string, dir: string, s: ContainerState): WasmRecord | null {
  const r = sealRecord<WasmRecord>(id, dir, s, WASM_RECORD);
  // Its shape, and the runner's plan as create made it: its content hashes to its own planHash
  // (for a state from before records were named, the only check there was).
  const whole = r && typeof r === 'object' && r.runnerPlan && typeof r.runnerPlan.planHash === 'string' && planIntact(r.runnerPlan, r.runnerPlan.planHash, sha256Hex) && Number.isSafeInteger(r.maxPages) && Number.isSafeInteger(r.tableEntries);
  if (whole) return r;
  // A record the state names that is not a whole one: refused, never sealed as if none were made
  // (that path takes the runner's own exit status for the guest's).
  if (r && s.records) throw recordRefused(id, WASM_RECORD);
  return null;
}

/**
 * report.json as the state names it: sealed earlier for this container (its bodyHash is the
 * state's reportHash, written before the file) and whole (its body hashes to it); else null, and
 * the seal makes the report again from the records. A state from before records were named takes
 * the file as it did then.
 */
function ourReport(r: SealedReport | null, s: ContainerState): SealedReport | null {
  if (!r || !s.records) return r;
  try {
    return typeof s.reportHash === 'string' && r.bodyHash === s.reportHash && reportIntact(r, sha256Hex) ? r : null;
  } catch {
    return null; // not a report's shape
  }
}

/** A journaled container without its report.json: a delete was removing it (rm takes the
 * directory's files in its own order) when it died. */
function beingRemoved(dir: string, s: ContainerState): boolean {
  return s.journaled && !existsSync(join(dir, 'report.json'));
}

/** A crash between the append and the state write must not journal the report twice. */
function alreadyJournaled(root: string, s: ContainerState, bodyHash: string): boolean {
  return journalHasSince(root, s.runId, `"bodyHash":"${bodyHash}"`, s.journalAtCreate ?? null);
}

export function stateOf(root: string, id: string, j: JournalOptions = {}): OciState {
  const { dir, state } = loadExisting(root, id);
  // Without the lock when there is nothing to write: every file read here is replaced whole (a
  // rename), so a read sees one version or the next, as runc's state does. Only the first state
  // of a stopped container seals its report, under the lock (and loads the shim for it).
  if (state) {
    const d = derive(dir, state);
    // (A journaled state whose report.json is gone is being deleted: the locked path says so.)
    const sealing = d.status === 'stopped' && !state.journaled && state.status !== 'creating';
    if (!sealing && !beingRemoved(dir, state)) return ociState(id, dir, state, d);
  }
  return withLock(dir, () => {
    const s = readOwnState(dir, id);
    if (!s) throw new BvisorError('BV_CONTAINER_STATE', `container ${id} has no readable state`, { hint: `remove it with bvisor delete -f ${id}` });
    const d = derive(dir, s);
    if (d.status === 'stopped' && !s.journaled && s.status !== 'creating') {
      try {
        seal(root, id, dir, s, d, null, j);
      } catch (e) {
        // A full (or read-only) root must not hide that the container stopped: state answers,
        // says why its report is not recorded yet, and the next state or delete finishes it (or
        // fails, coded). The seal is crash-safe (a report journaled once, whatever step failed),
        // so what it left half-done is what a crash would leave. A failing disk (EIO) is an error.
        if (!isRootOutOfRoom(e)) throw e;
        warn(`container ${id} stopped, but recording its report failed: ${e instanceof BvisorError ? e.message : String(e)} (the next bvisor state or delete finishes it once the state root has room)`);
      }
    }
    return ociState(id, dir, readState(dir) ?? s, d);
  });
}

export function reportOf(root: string, id: string, j: JournalOptions = {}): SealedReport {
  // A finished bvisor run (or a deleted container) has no directory any more: its sealed report
  // is in the journal, found by container id or run id (the denial summary points here).
  if (!existsSync(dirOf(root, id))) {
    try {
      return sealedReportFor(root, id);
    } catch (e) {
      if (e instanceof BvisorError && e.code === 'BV_OUTPUTS_NOT_FOUND') throw notFound(id, root);
      throw e;
    }
  }
  const { dir } = loadExisting(root, id);
  return withLock(dir, () => {
    const s = readOwnState(dir, id);
    if (!s) throw new BvisorError('BV_CONTAINER_STATE', `container ${id} has no readable state`);
    const d = derive(dir, s);
    if (d.status !== 'stopped') throw wrongState(id, 'report on', d.status, 'the report is sealed when the container stops');
    return seal(root, id, dir, s, d, null, j);
  });
}

export async function deleteContainer(root: string, id: string, force: boolean, j: JournalOptions = {}, expectRun: string | null = null): Promise<{ report: SealedReport | null }> {
  const dir = dirOf(root, id);
  // delete --force of what does not exist is done, as runc has it: engines clean up after a
  // create that failed (podman calls `delete --force ID` whatever happened).
  if (!existsSync(dir) && force) return { report: null };
  if (!existsSync(dir)) throw notFound(id, root);
  const step = await withLock(dir, async (): Promise<{ report: SealedReport | null } | { runner: ProcRef; runId: string }> => {
    const s = readOwnState(dir, id);
    if (!s) {
      // Half-made, half-deleted or damaged: nothing to seal; stop whatever it still names, then
      // remove what is there.
      if (!force && existsSync(join(dir, 'state.json'))) throw wrongState(id, 'delete', 'unreadable', `its state.json cannot be read; bvisor delete -f ${id} stops what it names and removes it`);
      await salvage(dir, id);
      // The id its plan names (if one can be read), let go where nothing holds it any more: the
      // plan is not checked against a state, and needs no trust, as the claim's holders decide.
      const named = claimsKept() ? (readJson<{ launch?: { identity?: { uid?: unknown } } }>(join(dir, 'plan.json')) ?? {}).launch?.identity?.uid : undefined;
      removeDir(dir);
      if (typeof named === 'number' && Number.isInteger(named)) releaseUnheld(named);
      return { report: null };
    }
    if (expectRun && s.runId !== expectRun) return { report: null }; // the run ended; the id is someone else's now
    let d = derive(dir, s);
    if ((d.status === 'running' || d.status === 'creating') && !force) throw wrongState(id, 'delete', d.status, `stop it first (bvisor kill ${id} KILL), or use delete -f`);
    // (A run whose bvisor run is gone is broken: its workload is killed below, as any other.)
    if (s.kind === 'run' && d.status === 'running' && !d.broken) {
      if (expectRun) throw wrongState(id, 'delete', 'running', `its bvisor run (pid ${s.creator.pid}) did not stop when killed; try again`);
      // A bvisor run in progress owns its entry: end its workload; the run then seals,
      // journals and removes the entry itself (waited for below, outside the lock it needs).
      if (workloadLive(s.pid)) recordSignalSent(dir, id, 'delete --force', 9);
      killAll(leavesOf(s.cgroupDirs));
      if (s.pid) signalPid(s.pid.pid, 9, s.pid.startTime);
      return { runner: s.creator, runId: s.runId };
    }
    if (d.status !== 'stopped' || d.broken) {
      // Said before the kill: in engine mode nobody here sees the status it ends with, and the
      // report must not call a container bvisor killed one that exited.
      // Unsupervised: its monitor was gone (derive), so no exit record will follow the kill.
      if (d.status === 'running' || d.status === 'created') writeFileAtomic(join(dir, 'killed.json'), JSON.stringify({ by: 'delete --force', atMs: Date.now(), ...(d.broken ? { unsupervised: d.broken } : {}) }) + '\n');
      // The SIGKILL stopProcesses sends, said in the report (a created workload's end is
      // never-started whatever it was sent).
      if ((d.status === 'running' || d.status === 'created') && workloadLive(s.pid)) recordSignalSent(dir, id, 'delete --force', 9);
      await stopProcesses(s);
      d = derive(dir, s);
    }
    // poststop hooks run after the container is deleted; read first, with its last state.
    const poststop = plannedHooks(dir, id, s, 'poststop');
    const last = poststop ? ociState(id, dir, s, d) : null;
    const report = finish(root, id, dir, s, d, j, force);
    if (poststop && last) await runHooks('poststop', poststop, last, warn);
    return { report };
  });
  if ('report' in step) return step;
  // The run should finish within moments of its workload's death; a run that does not (or
  // is stopped) is killed, and its leftovers are cleaned up like a crashed run's.
  await awaitGone(step.runner, 10_000);
  if (!existsSync(dir)) return { report: null };
  // Only that run's entry: if it finished and someone made the id again, that is not ours.
  return deleteContainer(root, id, true, j, step.runId);
}

/** The seal's refusal of a plan.json that is not the container's plan. */
function planRefused(e: unknown): boolean {
  return e instanceof BvisorError && e.code === 'BV_CONTAINER_STATE' && e.detail.plan === 'refused';
}

/**
 * Reads back, tears down, seals (once) and removes a container whose processes are gone. The
 * cgroups are read before they go (peaks, OOM kills, cpu). The captures, hashed into the report,
 * are removed before it is written: they go with the container anyway, and a full root is most
 * often full of them. If the report still cannot be written or journaled, delete keeps the
 * container (retry once there is room); delete -f removes it and says the report was lost, as
 * it does for a container whose plan.json is not its plan (no report is sealed from that).
 */
function finish(root: string, id: string, dir: string, s: ContainerState, d: Derived, j: JournalOptions, force: boolean): SealedReport | null {
  fault('delete:after-kill');
  const readback = readBack(leavesOf(s.cgroupDirs));
  const teardown = teardownCgroups(leavesOf(s.cgroupDirs));
  fault('delete:after-teardown');
  let report: SealedReport | null = null;
  let lost: BvisorError | null = null;
  // A journaled container without its report.json was being removed when a delete died: its
  // report is in the journal, and what it was sealed from may be gone with the rest; nothing is
  // sealed again.
  if (!beingRemoved(dir, s) && (s.status !== 'creating' || d.exit)) {
    try {
      report = seal(root, id, dir, s, d, teardown, j, readback, true);
    } catch (e) {
      // delete -f removes what cannot be sealed: a root out of room, or a plan.json that is not
      // the plan the container was created with (no report is sealed from that one), and says so.
      if (!force || !(isRootFault(e) || planRefused(e))) throw e;
      lost = e as BvisorError;
    }
  }
  fault('delete:after-seal');
  if (s.keptBundle) removeKeptBundle(s.keptBundle, { stateDir: dir, runId: s.runId });
  // The host uid its workload ran as: a claim on it (per-run ids) is let go once nothing holds it.
  // Read while the plan is there; a plan that is not the container's names no claim of its.
  const uid = claimsKept() ? (intactPlan(dir, s)?.launch?.identity.uid ?? null) : null;
  removeDir(dir);
  if (uid !== null) releaseUnheld(uid, s.runId);
  if (lost) throw new BvisorError(lost.code, `container ${id} was removed (delete -f), but its report could not be sealed and journaled: ${lost.message}`, { hint: planRefused(lost) ? 'the container is gone, without a report' : 'free space in the state root; the container is gone' });
  return report;
}


export interface ListEntry {
  id: string;
  pid: number | null;
  status: string;
  bundle: string;
  created: string;
  broken: string | null;
}

export function listContainers(root: string, j: JournalOptions = {}): ListEntry[] {
  const base = containersDir(root);
  const out: ListEntry[] = [];
  for (const id of containerIds(root)) {
    const dir = join(base, id);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    const s = readState(dir);
    if (!s) {
      out.push({ id, pid: null, status: 'stopped', bundle: '', created: '', broken: 'no readable state.json' });
      continue;
    }
    let d = derive(dir, s);
    let sealError: string | null = null;
    if (d.status === 'stopped' && !s.journaled && s.status !== 'creating' && !d.broken) {
      // One container's report that cannot be sealed (a full root) must not hide the others.
      try {
        withLock(dir, () => {
          const again = readOwnState(dir, id);
          if (again && !again.journaled) seal(root, id, dir, again, derive(dir, again), null, j);
        });
      } catch (e) {
        if (!(e instanceof BvisorError)) throw e;
        sealError = `its report cannot be sealed yet: ${e.code}: ${e.message}`;
      }
      d = derive(dir, readState(dir) ?? s);
    }
    out.push({ id, pid: d.status === 'created' || d.status === 'running' ? (s.pid?.pid ?? null) : null, status: shownStatus(id, dir, s, d), bundle: s.bundle, created: s.createdAt, broken: d.broken ?? sealError });
  }
  return out;
}
