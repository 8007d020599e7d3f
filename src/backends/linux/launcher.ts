// The Linux backend's launcher: turns an admitted plan into a running, supervised workload and
// the facts a report needs. Plan first, act second: everything below executes decisions the
// planner already made; on any failure the cleanup stack undoes what was done, in reverse.
//
//   prepare fds (exe O_PATH, stdio, declared fds, sync and fail pipes), landlock ruleset,
//   cgroup leaves → lower the body → bv_spawn (clone3, child blocks) → uid_map, setgroups,
//   gid_map → release (the child joins its v1 leaves itself) → READY: read /proc evidence and
//   v1 membership → go → exec (EOF on the fail pipe) → supervise (SIGCHLD + pidfd, wall
//   deadline) → read back cgroups → tear down.
import { constants as osConstants, tmpdir } from 'node:os';
import { readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import type { DenialSource, Evidence, HostFacts, LaunchInputs, Plan, ReportBody } from '../../contract/generated/types.js';
import { BvisorError } from '../../contract/errors.js';
import { shim, O } from './ffi/shim.js';
import { lower, LowerError, decodeRecord, mountPlan, attrsOf, MOUNT_OP, AUX, type MountStep, type ChildRecord, idmapLines, STAGES, STAGE_READY, STAGE_CONSOLE, STAGE_CGROUP, RECORD_SIZE, type DeclaredFd } from './lower.js';
import { openPlanned, identityOf, S_IFCHR, S_IFDIR, S_IFMT } from './host/objects.js';
import { rootfsRules, prepareMountPoints, prepareCwd } from './host/rootfs.js';
import { maskOf, handledFs, type FsRight } from '../../core/landlock.js';
import { servedBySpecial, insideIds, hostIdsOf } from '../../core/layout.js';
import { createCgroups, cgroupMembers, killAll, readBack, teardownCgroups, teardownEach, leftNotes, withCgroupsLeft, watchPath, cpuUsageUs, type CgroupSet, type LeftLeaves, type RecordLeaf, type CgroupReadback, type Teardown } from './host/cgroups.js';
import { delay, longTimeout, type LongTimer } from '../../host/timers.js';
import { buildRuleset, rulesetEvidence, type Ruleset } from './host/landlock.js';
import { readEvidence, fixedEvidence, statusEvidence, failedEvidence, unread, type EvidenceExpect } from './host/evidence.js';
import { waitPidfd, awaitExit, reapIfOurs, unwatch, type WaitResult } from './host/reaper.js';
import { errnoName, mountsBeneath } from '../../host/facts.js';
import { AUDIT_ARCH, compile, encode, RET, TABLES, type Arch } from '../../core/seccomp/compile.js';
import { launchPolicy } from '../../core/seccomp/policy.js';
import { compileOciSeccomp, composeFilters } from '../../core/seccomp/oci.js';
import { resolveEnv } from '../../core/secrets.js';
import { effectiveHooks } from './test-hooks.js';
import { LandlockAuditReader, auditStatusForLaunch, auditUnavailable, landlockLogsNothing, newMarker, type AuditStatus } from './host/landlock-audit.js';
import { notObservedSource, type SourceDenials } from '../../core/denials.js';
import { DenialHolder, notObservedSeccomp, stringArgSpec, type SeccompDenials } from './host/denials.js';
import type { Policy } from '../../core/seccomp/policy.js';
import { redactionForms } from '../../core/redact.js';
import { fdPath } from '../../host/proc-fd.js';
import { parentOf } from '../../host/proc.js';
import { handToCaller } from '../../core/oci/engine-mode.js';
import { holdJobStops } from '../../host/job-control.js';
import { holdTerminals, letTerminalsGo, type HeldTerminals } from '../../host/terminal.js';

export interface CaptureSink {
  /** Bytes kept; the rest is counted and dropped. */
  cap: number;
  /** Called with every kept chunk as it arrives (e.g. to stream it back to a terminal). */
  onChunk?: (chunk: Buffer) => void;
  /** Called once, when the stream first exceeds the cap: what follows is counted, not kept. */
  onTruncate?: (cap: number) => void;
}

export interface StreamFacts {
  mode: 'null' | 'inherit' | 'capture';
  bytes: number | null;
  kept: Buffer | null;
  sha256: string | null;
  truncated: boolean;
}

/**
 * Test-only fault injection and mechanism switches (the red twins). Production callers never
 * pass it: neither the CLI nor the public API has a way to.
 */
export interface LaunchHooks {
  failUidMap?: boolean;
  /** Edit the inert launch inputs before lowering (drop a namespace, a limit…). */
  mutateLaunch?: (launch: LaunchInputs) => void;
  /** Skip the fd scrub in the child (and an exec's early close, step 1y' in launch.h). */
  noScrub?: boolean;
  /** Skip seccomp / landlock. */
  noSeccomp?: boolean;
  noLandlock?: boolean;
  /** Keep capabilities (skip the drop). */
  keepCaps?: boolean;
  /** Send the go byte whatever the READY-time evidence says (the red twin of "evidence decides"). */
  ignoreEvidence?: boolean;
  /** No PR_SET_PDEATHSIG: the workload outlives its parent (the red twin of "dies with it"). */
  noPdeathsig?: boolean;
  /** clone3 without CLONE_INTO_CGROUP: the workload is born in bvisor's own cgroup and never
   * enters its v2 leaf (the red twin of "born into the cgroup"). */
  noCloneIntoCgroup?: boolean;
  /** The child skips joining its v1 leaves (the red twin of "joined before it runs"). */
  noCgroupJoin?: boolean;
  /** The child installs the listener-holding filter but nobody holds the listener (it is closed
   * on arrival): the red twin of "a dead listener still denies". */
  dropListener?: boolean;
  /** Landlock restricts without LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON while the audit reader
   * runs: the red twin of "the workload's landlock denials are audited and read". */
  noLandlockLog?: boolean;
  /** Called just before the release byte is written: a test can stop the child there, so that it
   * never reads the byte (and never reports READY) before afterRelease kills it. */
  beforeRelease?: (pid: number) => void;
  /** Called once the child is released, before its fixed evidence is read: a test can hold the
   * parent there until the child is on its way out (the evidence it then reads is "not observed"). */
  afterRelease?: (pid: number) => void;
  /** exec: called with a joining child its watch found stopped, before it is killed: a test reads
   * what the stopped process holds (/proc/<pid>/fd). */
  onStopped?: (pid: number) => void;
  /** exec: the second child stops itself as soon as it has the container's ids, the first moment
   * a stop from the container could land (the test build's shim honours it alone). */
  stopJoined?: boolean;
  /** The wasm rewriter's process gets these bounds instead of REWRITER_HEAP_MB,
   * REWRITER_MEMORY_BYTES and REWRITER_WALL_MS (app/instrument.ts): a test's module need not be a
   * gigabyte's or a minute's rewrite to exceed them. null: no such bound (a red twin). */
  rewriterHeapMb?: number;
  rewriterMemoryBytes?: number | null;
  rewriterWallMs?: number | null;
  /** The module is instrumented on the caller's thread, as before the rewriter's process: the
   * red twin of "bounded, stoppable and confined". */
  rewriteInThisThread?: boolean;
  /** mutateLaunch for the wasm rewriter's launch alone (the runner's is mutateLaunch): the red
   * twins of what its environment gives it. */
  mutateRewriterLaunch?: (launch: LaunchInputs) => void;
}

/** bvisor create: the workload's parent is the per-container monitor, not this process. */
export interface Detached {
  stateDir: string;
  monitorPath: string;
  /** The process that called create, read as early as it could be (cli/caller.ts): an OCI init
   * is handed only to it (core/oci/engine-mode.ts). */
  caller: number;
  /** Called as soon as the monitor reports the workload's pid, so the caller can record both
   * before anything else can fail (a crash from here on leaves processes to find). */
  onSpawned?: (pids: { pid: number; monitorPid: number }) => void;
  /** Called just before the monitor is told the container was created (crash tests). */
  beforeConfirm?: () => void;
}

/** Who collects the workload's exit status: the launching process, a container's monitor, or
 * the engine an OCI init was handed to (read back as PPid in the evidence). */
export type Reaper = NonNullable<ReportBody['reaper']>;

export interface LinuxCreated {
  pid: number;
  monitorPid: number;
  reaper: Reaper;
  /** The engine the init was handed to (reaper engine): its pid, the init's parent at READY. */
  engine: number | null;
  setupMs: number;
  evidence: Evidence[];
  cgroupDirs: string[];
  landlock: { abi: number; digest: string; rules: number } | null;
  seccomp: { sha256: string; rules: number; instructions: number; deny: string } | null;
}

export interface LinuxLaunchRequest {
  plan: Plan;
  host: HostFacts;
  /** The caller keeps a wall deadline of its own (the plan's wall is null: the wasm runner's,
   * from its job's hand-over) and starts its backstop through RunControl.backstop. */
  keepsDeadline?: boolean;
  /** Names the cgroup leaves (bvisor-<runName>) and, with a uts namespace, the hostname. */
  runName: string;
  hostname: string;
  /** Resolves a secret reference; never logged, never stored. */
  secret: (name: string) => string | undefined;
  capture: { stdout: CaptureSink | null; stderr: CaptureSink | null };
  /** The workload dies with its parent (bvisor run; the monitor, detached). */
  dieWithParent: boolean;
  /** A session of its own even with stdin: inherit (bvisor run --sig-proxy; lower.ts). */
  ownSession?: boolean;
  /** Called before each cgroup leaf is made, so the caller can record it first (a crash right
   * after the mkdir still leaves a trace to clean). */
  beforeCgroup?: RecordLeaf;
  hooks?: LaunchHooks;
  detached?: Detached;
  /** Called once the workload has exec'd, with ways to end it: as a timeout (a caller that
   * keeps its own deadline, like the wasm backend's pre-started runners), or as the caller's
   * abort (the API's signal). */
  onExec?: (ctl: RunControl) => void;
  /** Called just before the go byte (not detached): the last moment before the workload runs,
   * where bvisor run appends its start record (a wait for the journal's lock may come first:
   * awaited). A throw or a rejection kills the child: it never runs. */
  beforeGo?: (ctl: { pid: number; cgroupDirs: string[] }) => void | Promise<void>;
  /** process.terminal: the connected --console-socket (the caller's descriptor: it closes it)
   * and the window size to set (0 x 0: none). */
  console?: ConsoleRequest | null;
  /** Observe seccomp denials through a user-notification listener (default true; the filter
   * denies the same either way). */
  observeDenials?: boolean;
  /** Read landlock's denials from the kernel's audit records where the host emits them (default
   * true; docs/denials.md). Each observed run then adds a few lines to the host's audit log (the
   * reader joining, its barrier); off, landlock denies the same and logs nothing of the run. */
  landlockAudit?: boolean;
  /** bvisor learn only: these syscalls notify too, and are let through when the policy allows
   * them (observe mode, see ObserveMode); the records come back in seccompDenials.observed. */
  observe?: readonly string[];
}

export interface ConsoleRequest {
  fd: number;
  rows: number;
  cols: number;
}

/** Ends a running workload (its whole cgroup, then the process): the first of the run's ends to
 * fire (wall, cpu, the caller's abort) is the one its result names. */
export interface RunControl {
  pid: number;
  timeout(): void;
  abort(): void;
  /** Starts the wall's backstop (makeBackstop) for a deadline kept by the caller, `ms` from now
   * (the wasm runner's, from its job's hand-over); needs `keepsDeadline`; at most once. */
  backstop(ms: number): void;
}

export interface LinuxRunResult {
  pid: number;
  startedAt: Date;
  /** When the wall's backstop killed the workload (ms since the epoch), the loop being held up
   * then; absent when it did not fire. */
  backstopAt?: number;
  endedAt: Date;
  setupMs: number;
  runMs: number;
  teardownMs: number;
  wait: WaitResult;
  exitCode: number | null;
  signal: number | null;
  timedOut: boolean;
  /** Killed because the run's cgroup used up limits.cpu (guarantee mediated). */
  cpuExceeded?: boolean;
  /** Killed because the caller aborted the run (the API's signal). */
  aborted?: boolean;
  oomKilled: boolean;
  evidence: Evidence[];
  /** Absent: not known (a container sealed from records older than this field). */
  reaper?: Reaper;
  readback: CgroupReadback;
  cgroupDirs: string[];
  streams: { stdout: StreamFacts; stderr: StreamFacts };
  teardown: Teardown;
  landlock: { abi: number; digest: string; rules: number } | null;
  seccomp: { sha256: string; rules: number; instructions: number; deny: string } | null;
  /** What seccomp denied, as observed (or why it was not); absent: not looked at (a container's
   * result before its seal reads the monitor's records). */
  seccompDenials?: SeccompDenials;
  /** What landlock denied, from the kernel's audit records, or why that was not read; absent:
   * not looked at (a container). */
  landlockDenials?: SourceDenials | DenialSource;
}

export class Cleanup {
  private steps: Array<() => void> = [];
  push(fn: () => void): void {
    this.steps.push(fn);
  }
  run(): void {
    while (this.steps.length) {
      try {
        this.steps.pop()!();
      } catch {
        // keep unwinding; the first error is what the caller reports
      }
    }
  }
}

/** Descriptors this launch opened. Closing is idempotent, so a cleanup step can never close a
 * number the kernel has since handed to someone else. */
export class OwnedFds {
  private open = new Set<number>();
  own(fd: number): number {
    if (fd >= 0) this.open.add(fd);
    return fd;
  }
  close(fd: number): void {
    if (!this.open.delete(fd)) return;
    shim().bv_close(fd);
  }
  closeAll(): void {
    for (const fd of [...this.open]) this.close(fd);
  }
  /** fd is no longer ours to close (a socket made from it closes it). */
  release(fd: number): number {
    this.open.delete(fd);
    return fd;
  }
}

export function spawnErr(what: string, rc: number, hint?: string): BvisorError {
  return new BvisorError('BV_LAUNCH_SPAWN', `${what}: ${errnoName(rc)}`, hint ? { hint } : {});
}

/** pipe2, each end close-on-exec or not; failures are BV_LAUNCH_SPAWN. */
export function pipe(cloexecRead: boolean, cloexecWrite: boolean): [number, number] {
  const fds = new Int32Array(2);
  const rc = shim().bv_pipe(fds, cloexecRead ? 1 : 0, cloexecWrite ? 1 : 0);
  if (rc < 0) throw spawnErr('pipe2', rc);
  return [fds[0]!, fds[1]!];
}

/** A connected unix stream socketpair, both ends close-on-exec. */
function socketpair(): [number, number] {
  const fds = new Int32Array(2);
  const rc = shim().bv_socketpair(fds);
  if (rc < 0) throw spawnErr('socketpair', rc);
  return [fds[0]!, fds[1]!];
}

/** Reads child records (16 bytes each) from the fail pipe, without blocking the event loop. */
/**
 * Runs fn with this process's umask set to `mask` (null: unchanged), restored after: a clone
 * made meanwhile (the workload, or the monitor that clones it) inherits it. The promise form
 * restores once the spawn it waits for has forked.
 */
export function withUmask<T>(mask: number | null, fn: () => T): T {
  if (mask === null) return fn();
  const old = process.umask(mask);
  let restoreLater = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      restoreLater = true;
      return r.finally(() => process.umask(old)) as T;
    }
    return r;
  } finally {
    if (!restoreLater) process.umask(old);
  }
}

/**
 * The two pipes of the rendezvous: sync (the parent's release and go bytes) and fail (the
 * child's records, EOF at exec). The child's ends go to `childEnds`, closed once it holds them.
 */
export function rendezvousPipes(fds: OwnedFds, childEnds: number[], cleanup: Cleanup, syncSocket = false): { syncR: number; syncW: number; failR: number; failW: number; records: RecordReader } {
  // With denials observed the child sends the seccomp listener back on the sync channel, which
  // must then be a unix socket (SCM_RIGHTS); bytes flow the same way on either.
  const [syncR, syncW] = syncSocket ? socketpair() : pipe(true, true);
  fds.own(syncR);
  fds.own(syncW);
  childEnds.push(syncR);
  const [failR, failW] = pipe(true, true);
  fds.own(failW);
  childEnds.push(failW);
  const records = new RecordReader(failR);
  cleanup.push(() => records.close());
  return { syncR, syncW, failR, failW, records };
}

export class RecordReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiters: Array<() => void> = [];
  private readonly sock: Socket;
  constructor(fd: number) {
    this.sock = new Socket({ fd, readable: true, writable: false });
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    this.sock.on('end', end);
    this.sock.on('close', end);
    this.sock.on('error', end);
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** The next record, or null at EOF (exec succeeded, or the child died without a word). */
  async next(): Promise<ReturnType<typeof decodeRecord> | null> {
    for (;;) {
      if (this.buf.length >= RECORD_SIZE) {
        const rec = decodeRecord(new Uint8Array(this.buf.subarray(0, RECORD_SIZE)));
        this.buf = this.buf.subarray(RECORD_SIZE);
        return rec;
      }
      if (this.ended) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

function captureStream(fd: number, sink: CaptureSink): Promise<StreamFacts> {
  return new Promise((resolve) => {
    const sock = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    let kept = 0;
    let total = 0;
    const hash = createHash('sha256');
    let told = false;
    sock.on('data', (d: Buffer) => {
      total += d.length;
      // The cap bounds what is kept and what is relayed alike; the rest is only counted.
      if (kept < sink.cap) {
        const part = d.subarray(0, Math.min(d.length, sink.cap - kept));
        chunks.push(part);
        hash.update(part);
        kept += part.length;
        sink.onChunk?.(part);
      }
      // Said once, at the first byte dropped (wherever the chunks happen to split).
      if (total > kept && !told) {
        told = true;
        sink.onTruncate?.(sink.cap);
      }
    });
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const buf = Buffer.concat(chunks);
      resolve({ mode: 'capture', bytes: total, kept: buf, sha256: hash.digest('hex'), truncated: total > kept });
    };
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  });
}

/** Whether a child's failure record names its working directory: the chdir to it (a mount step),
 * or the making of a missing one (the optional MKDIR lowering adds for a container's cwd). */
const atChdir = (mounts: readonly MountStep[], stage: number, item: number): boolean =>
  stage === 3 && (mounts[item]?.op === MOUNT_OP.CHDIR || (mounts[item]?.op === MOUNT_OP.MKDIR && mounts[item]?.aux === AUX.OPTIONAL));

export function describeItem(launch: LaunchInputs, mounts: readonly MountStep[], stage: number, item: number): string {
  const name = STAGES[stage] ?? `stage ${stage}`;
  if (stage === 6 && launch.rlimits[item]) return `${name} ${launch.rlimits[item]!.resource} (${launch.rlimits[item]!.clause})`;
  if ((stage === 9 || stage === 10) && item >= 0) return `${name} ${launch.fds[item]} → ${3 + item} (fds[${item}])`;
  if ((stage === 9 || stage === 10) && item < 0 && item >= -3) return `${name} stdio ${-1 - item}`;
  if (stage === STAGE_CONSOLE) return `${name} (${['open /dev/ptmx', 'unlock', 'the peer (TIOCGPTPEER)', 'window size', 'send to the console socket', 'setsid', 'TIOCSCTTY'][item] ?? item})`;
  if (stage === 20) return `${name} (${['dumpable', 'setns', 'pipe', 'clone'][item] ?? item})`;
  // The program named, as podman's "executable file not found" does (a new-user pass: "at resolve: ENOENT").
  if (stage === 21) return `${name} of the program ${JSON.stringify(launch.workload.argv0)}`;
  if (stage === 11) return `${name} (${item === -2 ? 'the joining helper\'s, before it clones (step 1y\')' : 'the scrub'})`;
  if (stage === STAGE_CGROUP) return `${name} (v1 leaf ${item}: writing ourselves to its tasks file)`;
  if (atChdir(mounts, stage, item)) return `${mounts[item]!.op === MOUNT_OP.MKDIR ? 'the making of the missing working directory' : 'the chdir to the working directory'} ${mounts[item]!.target ?? ''}`;
  if (stage === 3 && mounts[item]) {
    const m = mounts[item]!;
    return `mount step ${item} (${Object.entries(MOUNT_OP).find(([, v]) => v === m.op)?.[0] ?? m.op} ${m.source ? m.source + ' → ' : ''}${m.target ?? ''})`;
  }
  return name;
}

/** The coded error for a child's failure record: the console socket's own code where the
 * terminal could not be handed over, BV_LAUNCH_FAILED otherwise. */
export function childFailure(launch: LaunchInputs, mounts: readonly MountStep[], rec: ChildRecord): BvisorError {
  const where = describeItem(launch, mounts, rec.stage, rec.item);
  const detail = { stage: STAGES[rec.stage] ?? rec.stage, errno: rec.errno, item: rec.item };
  if (rec.stage === STAGE_CONSOLE) {
    return new BvisorError('BV_CONSOLE_SOCKET', `the terminal could not be set up at ${where}: ${errnoName(-rec.errno)}`, {
      hint: rec.item === 0 ? 'process.terminal needs a devpts mount at /dev/pts (the container\'s /dev/ptmx)' : rec.item === 4 ? 'the process behind --console-socket closed it or does not take descriptors' : 'the workload never ran',
      detail,
    });
  }
  // A container of an OCI process.user is assembled as that user's host id, which root's 0700
  // directories (an image's /root) do not let search (docs/oci.md, process.user).
  const user = launch.oci?.user;
  if (user && rec.stage === 3 && rec.errno === 13 /* EACCES */ && !atChdir(mounts, rec.stage, rec.item)) {
    return new BvisorError('BV_LAUNCH_FAILED', `the workload failed before exec at ${where}: ${errnoName(-rec.errno)}`, {
      hint: `the container's user (process.user ${user.uid}:${user.gid}) may not search a directory above that mount point, and bvisor assembles the container's mounts as that user; mount it elsewhere, or make the directories above it searchable (o+x)`,
      detail,
    });
  }
  return new BvisorError('BV_LAUNCH_FAILED', `the workload failed before exec at ${where}: ${errnoName(-rec.errno)}`, {
    hint: rec.stage === 15 ? 'exec failed: check that the program is an executable this kernel can run, under an exec grant' : rec.stage === 21 ? 'the program was not found in the container (args[0], looked up in its PATH)' : atChdir(mounts, rec.stage, rec.item) ? (launch.root && mounts[rec.item]?.op === MOUNT_OP.MKDIR ? 'the workload never ran: its working directory was missing and could not be made there (a read-only grant, or a file on the way); set process.cwd (workload.process.cwd) to a directory the container has' : 'the workload never ran: its working directory (process.cwd, workload.process.cwd, exec --cwd) must exist in its root; a container (root.path) has one made where it is missing, as runc does, but not through a symlink that leads nowhere, nor for a host-mode run or exec --cwd') : 'the workload never ran; see the stage for the cause',
    detail,
  });
}

/** Whether the plan enforces its syscalls clause with seccomp. */
function hasSeccomp(plan: Plan): boolean {
  return plan.clauses.some((c) => c.clause === 'syscalls' && c.mechanism?.startsWith('linux:seccomp'));
}

/** The seccomp program a plan's launch gets, exactly as create computes it (bvisor's policy,
 * with an OCI profile stacked behind it), or null when the plan has none. */
export function seccompProgram(plan: Plan, launch: LaunchInputs, host: HostFacts, notify = false, observe: readonly string[] = []): { bpf: Uint8Array; facts: NonNullable<LinuxRunResult['seccomp']> } | null {
  if (!hasSeccomp(plan)) return null;
  if (!(host.kernel.arch in TABLES)) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', `no syscall table for ${host.kernel.arch}`);
  // Compiling is pure: the same policy, profile and arch give the same program. A program that
  // launches many workloads with one boundary compiles it once. The key is the whole input, with
  // the policy given by what launchPolicy makes it from (policyFor's parameter type lets it read
  // only spawn, network and landlockAbi of the launch, with deny and openat2), so a hit
  // neither builds nor serialises its ~100 rows (0.15 ms of each API launch).
  const key = JSON.stringify([host.kernel.arch, launch.spawn, launch.network, launch.landlockAbi, launch.syscalls.deny, launch.syscalls.openat2, observe, launch.oci?.seccomp ?? null, notify]);
  const hit = programs.get(key);
  if (hit) return { bpf: hit.bpf, facts: { ...hit.facts } };
  const policy = observing(launchPolicy(launch), observe);
  const made = compileProgram(policy, launch, host, notify);
  if (programs.size >= 16) programs.delete(programs.keys().next().value!);
  programs.set(key, made);
  return { bpf: made.bpf, facts: { ...made.facts } };
}

/** Compiled seccomp programs by their whole input (seccompProgram), oldest first. Callers only
 * read a program's bytes (lower copies them into the body). */
const programs = new Map<string, { bpf: Uint8Array; facts: NonNullable<LinuxRunResult['seccomp']> }>();

function compileProgram(policy: Policy, launch: LaunchInputs, host: HostFacts, notify: boolean): { bpf: Uint8Array; facts: NonNullable<LinuxRunResult['seccomp']> } {
  const c = compile(policy, host.kernel.arch as Arch, { notify });
  let insns = c.insns;
  let rules = c.rules;
  if (launch.oci?.seccomp) {
    // An OCI profile runs behind bvisor's own filter, in one program: a call passes only if
    // both allow it, and bvisor's denials keep their answer (core/seccomp/oci.ts).
    const o = compileOciSeccomp(launch.oci.seccomp, host.kernel.arch as Arch);
    if (!o.ok) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', `linux.seccomp: ${o.refusals[0]!.path}: ${o.refusals[0]!.reason}`, { hint: 'plan again: the planner refuses this profile' });
    insns = composeFilters(c.insns, o.compiled.insns);
    rules += o.compiled.rules;
  }
  const bpf = encode(insns);
  return { bpf, facts: { sha256: createHash('sha256').update(bpf).digest('hex'), rules, instructions: insns.length, deny: launch.syscalls.deny } };
}

/** Observe mode: the policy's rows, then every observed call, all answering USER_NOTIF (the holder
 * decides with the plain policy's program). Rows come first, so an ENOSYS row keeps its answer. */
function observing(policy: Policy, observe: readonly string[]): Policy {
  if (!observe.length) return policy;
  return { ...policy, rules: [...policy.rules, ...observe.map((syscall) => ({ syscall, action: 'errno' as const, why: 'observed (bvisor learn)' }))] };
}

/** What the child calls after installing its filter, before exec (launch.c, step 12-13). */
const CHILD_AFTER_FILTER = ['sendmsg', 'close', 'rt_sigprocmask', 'read', 'write', 'exit_group', 'exit'];

/**
 * With an OCI profile stacked behind bvisor's rows (one program), the child hands the listener
 * over with sendmsg after installing it: a profile that refuses sendmsg would fail the launch. The
 * program the child would install decides (the shim's BPF evaluator over that call, as the kernel
 * would run it); such a profile gets the plain program, and its denials are not observed.
 */
function profileRefusesHandOver(plan: Plan, launch: LaunchInputs, host: HostFacts): boolean {
  if (!launch.oci?.seccomp) return false;
  const arch = host.kernel.arch as Arch;
  const prog = seccompProgram(plan, launch, host, true);
  if (!prog) return false;
  const data = new Uint8Array(64); // struct seccomp_data: nr, arch, instruction_pointer, args[6]
  const dv = new DataView(data.buffer);
  dv.setInt32(0, TABLES[arch].sendmsg!, true);
  dv.setUint32(4, AUDIT_ARCH[arch], true);
  return shim().bv_bpf_eval(prog.bpf, prog.bpf.length / 8, data) >>> 0 !== RET.ALLOW >>> 0;
}

/** Why a launch does not observe seccomp denials. */
function notObservedWhy(plan: Plan, launch: LaunchInputs, hooks: LaunchHooks, req: LinuxLaunchRequest, handOverRefused: boolean): string {
  if (hooks.noSeccomp || !hasSeccomp(plan)) return 'no seccomp filter in this launch';
  if (handOverRefused) return 'the OCI seccomp profile refuses sendmsg, with which the workload hands bvisor its listener before exec: the plain program is installed, and bvisor\'s denials are not observed with it';
  if (launch.syscalls.deny === 'kill') return 'syscalls: { deny: kill }: a denied call kills the workload (SIGSYS, in the outcome), nobody is asked';
  if (launch.syscalls.deny === 'log') return 'syscalls: { deny: log }: denylisted calls are allowed and only logged by the kernel (audit), and the rows every launch keeps answer EPERM unrecorded';
  if (req.observeDenials === false) return 'turned off for this launch (observeDenials: false)';
  const crowded = listenerCrowdedOut(launch);
  if (crowded !== null) return `limits.openFiles is ${crowded}: the listener that observes denials needs a free descriptor below it in the workload (0-2 and the declared fds are taken), so the plain program is installed and bvisor's denials are not observed with it`;
  return 'not observed';
}

/** The listener is a new descriptor in the child, made after its RLIMIT_NOFILE is set (launch.h
 * steps 9, 12): the lowest free one is 3 + the declared fds (the launcher's own sit above them),
 * and it must be below the limit (EMFILE otherwise, getrlimit(2)). That limit when there is no
 * room, else null. */
function listenerCrowdedOut(launch: LaunchInputs): number | null {
  const nofile = launch.rlimits.find((r) => r.resource === 'nofile');
  return nofile !== undefined && nofile.soft <= 3 + launch.fds.length ? nofile.soft : null;
}

/** lower(), with its refusals (a body the launcher would not take) as coded errors. */
export function lowerOrRefuse(input: Parameters<typeof lower>[0]): Uint8Array {
  try {
    return lower(input);
  } catch (e) {
    if (e instanceof LowerError) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', `the launch body cannot be built: ${e.message}`, { hint: 'fewer grants, or (container mode) a rootfs with fewer entries beside the mount points' });
    throw e;
  }
}

function writeProc(path: string, text: string): void {
  writeFileSync(path, text);
}

export async function launchLinux(req: LinuxLaunchRequest & { detached?: undefined }): Promise<LinuxRunResult> {
  return (await launch(req)) as LinuxRunResult;
}

export async function createLinux(req: LinuxLaunchRequest & { detached: Detached }): Promise<LinuxCreated> {
  return (await launch(req)) as LinuxCreated;
}

async function launch(req: LinuxLaunchRequest): Promise<LinuxRunResult | LinuxCreated> {
  const { plan, host } = req;
  if (!plan.admitted || !plan.launch || plan.backend !== 'linux') throw new BvisorError('BV_INTERNAL', 'launchLinux needs an admitted linux plan');
  const hooks = effectiveHooks(req.hooks);
  const launch: LaunchInputs = hooks.mutateLaunch ? structuredClone(plan.launch) : plan.launch;
  hooks.mutateLaunch?.(launch);
  // The ids the child becomes (0, or an OCI process.user), and how many the user namespace maps:
  // that one id to the plan's identity, or an OCI config's block, 0..block-1 from the identity.
  const inside = insideIds(launch);
  const block = launch.oci?.ids?.count ?? 1;
  const uidMap = block > 1 ? `0 ${launch.identity.uid} ${block}` : `${inside.uid} ${launch.identity.uid} 1`;
  const gidMap = block > 1 ? `0 ${launch.identity.gid} ${block}` : `${inside.gid} ${launch.identity.gid} 1`;
  const s = shim();
  const t0 = Date.now();
  const cleanup = new Cleanup();
  const fds = new OwnedFds();
  cleanup.push(() => fds.closeAll());
  const closeFd = (fd: number): void => fds.close(fd);
  let pidfd = -1;
  let pid = -1;
  let cgroups: CgroupSet | null = null;
  // What a failed launch's cgroup teardown left (set by its cleanup step).
  let unfinished: LeftLeaves | null = null;
  let holder: DenialHolder | null = null;
  let auditReader: LandlockAuditReader | null = null;
  // Released once none of the workload's processes is left (host/job-control.ts).
  let releaseJobStops: (() => void) | null = null;
  // The caller's terminals the workload was given (host/terminal.ts).
  let terminals: HeldTerminals | null = null;
  let backstopper: Backstop | null = null;
  try {
    // process.terminal: the pty's master goes to the engine's --console-socket; without one
    // nobody could ever read the workload's terminal.
    // bvisor run (and the API) relay the process's stdio and have no such flag: a new user who
    // followed that hint met "Nonexistent flag: --console-socket".
    if (launch.oci?.terminal && !req.console) {
      throw new BvisorError('BV_CONSOLE_SOCKET', 'process.terminal is true but no --console-socket was given', {
        hint: req.detached
          ? 'pass --console-socket PATH (a unix socket that receives the pty master, as conmon and containerd\'s shim do), or set process.terminal to false'
          : 'set process.terminal to false (a run relays the process\'s stdio), or use create --console-socket PATH and start, as engines do',
      });
    }
    if (req.console && !launch.oci?.terminal) throw new BvisorError('BV_CONSOLE_SOCKET', '--console-socket was given but process.terminal is not true', { hint: 'set process.terminal: true in config.json, or leave --console-socket out' });
    // Environment, with secrets resolved only here, in memory.
    const env = resolveEnv(launch.env, req.secret);
    // Which environment strings hold secrets: the denial holder redacts their values (notify.h).
    const secretIdx = launch.env.flatMap((e, i) => (e.secret !== undefined ? [i] : []));

    // Landlock's denials, from the kernel's audit records, where the host emits them (ABI 7 and
    // audit on; AUDIT_GET only reads). A container's monitor reads them (bvmonitor.c, step 5).
    // Unless this launch does not read them at all, or the host's landlock logs nothing (ABI < 7), the
    // audit status is asked now and answered below (the kernel's reply takes a thread of its own;
    // auditStatusAsync says why), or taken from a launch of this process begun at most
    // AUDIT_ANSWER_REUSE_MS before, when that answer was that audit is off (AuditStatusShare).
    const landlockWanted = plan.clauses.some((c) => c.mechanism?.includes('landlock'));
    const auditOff = hooks.noLandlock || !landlockWanted
      ? 'this run applied no landlock domain'
      : req.observeDenials === false
        ? 'turned off for this launch (observeDenials: false)'
        : req.landlockAudit === false
          ? 'turned off for this launch (landlockAudit: false, --no-landlock-audit): the host\'s audit log gets nothing of this run'
          : landlockLogsNothing(host.landlock.abi);
    const auditAsked = auditOff === null ? auditStatusForLaunch() : null;

    // Resolve once: the program, every grant and the rootfs are opened here, checked against
    // the (dev, ino) the plan recorded, and used by descriptor from now on.
    const exeFd = fds.own(openPlanned({ path: launch.workload.path, dev: launch.workload.dev, ino: launch.workload.ino }, 'workload'));
    // An engine's network namespace: the very one planned (nsfs dev/ino), opened for setns.
    // O_NONBLOCK: whatever replaced it since planning (a FIFO) must not block us; the identity
    // check then refuses it.
    const netFd = launch.oci?.netns ? fds.own(openPlanned(launch.oci.netns, 'linux.namespaces(network).path', O.RDONLY | O.NONBLOCK)) : -1;
    const grantFds = new Map<string, number>();
    for (const r of launch.filesystem) {
      if (launch.layout.length > 0 && servedBySpecial(r)) continue;
      grantFds.set(r.clause, fds.own(openPlanned({ path: r.path, dev: r.dev, ino: r.ino }, r.clause)));
    }
    const rootFd = launch.root ? fds.own(openPlanned({ path: launch.root.path, dev: launch.root.dev, ino: launch.root.ino }, 'root')) : -1;
    if (rootFd >= 0 && (identityOf(rootFd).mode & S_IFMT) !== S_IFDIR) throw new BvisorError('BV_LAUNCH_CHANGED', `root: \`${launch.root!.path}\` is not a directory`, { hint: 'plan again' });
    if (rootFd >= 0 && launch.layout.length) prepareMountPoints(rootFd, launch);
    if (rootFd >= 0 && launch.layout.length) prepareCwd(rootFd, launch);

    // stdio
    const childEnds: number[] = [];
    let devnull = -1;
    const nullFd = (): number => {
      if (devnull < 0) {
        devnull = fds.own(s.bv_open('/dev/null', O.RDWR, 0));
        if (devnull < 0) throw spawnErr('open /dev/null', devnull);
        childEnds.push(devnull);
      }
      return devnull;
    };
    let stdinFd: number;
    if (launch.stdio.stdin === 'inherit') stdinFd = 0;
    else if (launch.stdinFile) {
      // O_NONBLOCK: had a FIFO been swapped in, this open must not hang before the check below.
      stdinFd = fds.own(openPlanned(launch.stdinFile, 'stdio.stdin', O.RDONLY | O.NONBLOCK));
      childEnds.push(stdinFd);
    } else stdinFd = nullFd();
    const captures: Array<Promise<StreamFacts>> = [];
    const captureReadEnds: [number, number] = [-1, -1];
    // An inherited terminal is open for reading too (a login's tty is O_RDWR): the workload gets
    // it for writing only, so stdout/stderr: inherit never lets it read what the user types
    // (stdin: null means no input). Reopened through /proc/self/fd, a new description of the same
    // terminal; a regular file is handed as it is (a reopen would lose its offset), and so is a
    // socket (it cannot be reopened).
    const writeOnly = (which: 1 | 2): number => {
      const info = new Int32Array(3);
      if (s.bv_fd_info(which, info) < 0 || info[1] !== O.RDWR || info[0] !== S_IFCHR) return which;
      const w = fds.own(s.bv_open(fdPath(which), O.WRONLY | O.NOCTTY, 0));
      if (w < 0) throw spawnErr(`reopen stdio ${which} write-only`, w);
      childEnds.push(w);
      return w;
    };
    const outFd = (mode: string, which: 1 | 2, sink: CaptureSink | null): number => {
      if (mode === 'inherit') return writeOnly(which);
      if (mode === 'capture') {
        const [r, w] = pipe(true, true);
        fds.own(w);
        childEnds.push(w);
        // Detached: the monitor relays captured output into the state directory.
        if (req.detached) captureReadEnds[which - 1] = fds.own(r);
        else captures[which - 1] = captureStream(r, sink ?? { cap: launch.outputBytes });
        return w;
      }
      return nullFd();
    };
    const stdoutFd = outFd(launch.stdio.stdout, 1, req.capture.stdout);
    const stderrFd = outFd(launch.stdio.stderr, 2, req.capture.stderr);

    // declared fds: must be open now; the child re-checks kind and mode after renumbering.
    const declared: DeclaredFd[] = launch.fds.map((fd, i) => {
      // These are the caller's descriptors: passed on, never closed by us.
      const info = new Int32Array(3);
      const rc = s.bv_fd_info(fd, info);
      if (rc < 0) throw new BvisorError('BV_FD_NOT_OPEN', `fds[${i}]: descriptor ${fd} is not open in bvisor (${errnoName(rc)})`, { hint: 'open it before calling bvisor (e.g. `3<file`), or remove it from fds' });
      return { src: fd, type: info[0]!, accmode: info[1]! };
    });

    // Denials are observed when the filter is bvisor's errno policy (a kill or log policy has
    // nothing to answer). Whether or not, the filter denies the same calls.
    // With an OCI profile stacked behind bvisor's rows (one program), bvisor's rows still notify
    // (they come first); the profile's own answers are its own and not listed. Not when the
    // profile refuses the child's sendmsg of the listener (profileRefusesHandOver).
    const handOverRefused = !hooks.noSeccomp && hasSeccomp(plan) && profileRefusesHandOver(plan, launch, host);
    const notify = !hooks.noSeccomp && (req.observeDenials !== false || (req.observe?.length ?? 0) > 0) && launch.syscalls.deny === 'errno' && hasSeccomp(plan) && !handOverRefused && listenerCrowdedOut(launch) === null;
    // Observe mode (learn, --explain) is for host-mode bundles, never with an OCI profile.
    const observe = notify && !req.detached && !launch.oci?.seccomp ? (req.observe ?? []) : [];
    // The child's own calls between its filter and exec: observing them would wait for a holder
    // that has not got the listener yet.
    const own = observe.filter((n) => CHILD_AFTER_FILTER.includes(n));
    if (own.length) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', `cannot observe ${own.join(', ')}: the launcher itself calls it after installing the filter`, { hint: 'observe other system calls' });
    const { syncR, syncW, failR, failW, records } = rendezvousPipes(fds, childEnds, cleanup, notify);

    let ruleset: Ruleset | null = null;
    if (!hooks.noLandlock && landlockWanted) {
      ruleset = buildRuleset(launch, (clause) => grantFds.get(clause)!);
      childEnds.push(fds.own(ruleset.fd));
    }

    const program = hooks.noSeccomp ? null : seccompProgram(plan, launch, host, notify, observe);
    const seccomp: LinuxRunResult['seccomp'] = program?.facts ?? null;
    const bpf: Uint8Array | null = program?.bpf ?? null;
    // The child installs its filter right after READY, beside the evidence read below, instead of
    // after the go byte (launch.h, step 11): the 0.3-0.5 ms the kernel takes to check and compile
    // it leave the path from READY to exec. Only with bvisor's own filter (it allows the child's
    // read of the go byte and its sendmsg of the listener), and not for a container, whose
    // monitor keeps the go byte until `bvisor start` and whose READY evidence is final.
    const early = bpf !== null && !req.detached && !launch.oci?.seccomp;

    // An OCI config names its own leaf (linux.cgroupsPath), as engines expect to find it.
    cgroups = createCgroups(host, launch, launch.oci?.cgroupLeaf ?? `bvisor-${req.runName}`, req.beforeCgroup);
    const cg = cgroups;
    cleanup.push(() => {
      // Briefly here, the thread held: what does not go at once is retried below, the loop turning.
      const left = teardownEach(cg, TEARDOWN_PASS_MS);
      if (left.busy.length || left.refused.length) unfinished = left;
    });
    // v1 leaves: the child writes itself into each one's `tasks` file, through a descriptor
    // opened here (launch.h, step 1a). A parent writing the child's pid to cgroup.procs takes
    // the kernel's threadgroup lock and waits out an RCU grace period: milliseconds per launch.
    const joinFds = cg.leaves
      .filter((l) => l.version === 1)
      .map((l) => {
        const fd = fds.own(s.bv_open(join(l.dir, 'tasks'), O.WRONLY, 0));
        if (fd < 0) throw new BvisorError('BV_CGROUP_SETUP', `open \`${join(l.dir, 'tasks')}\`: ${errnoName(fd)}`, { hint: 'run `bvisor check` to see which cgroups bvisor may use here' });
        childEnds.push(fd);
        return fd;
      });

    // Rootful: the parent makes every bind a detached tree from the descriptor it checked (and
    // idmaps write grants); the child only moves them into place. Rootless: the child clones
    // them itself, re-opening each path and checking the same identity.
    const trees = new Map<number, number>();
    const rootful = host.identity.euid === 0 && launch.namespaces.includes('user');
    if (rootful) {
      const userns = new Map<string, number>();
      const nsFor = (idmap: { uid: number; gid: number; count?: number }): number => {
        const n = idmap.count ?? 1;
        const key = `${idmap.uid}:${idmap.gid}×${n}`;
        let fd = userns.get(key);
        if (fd === undefined) {
          const rest = launch.oci?.user !== undefined || block > 1;
          fd = s.bv_userns(idmapLines(idmap.uid, launch.identity.uid, rest, n, block), idmapLines(idmap.gid, launch.identity.gid, rest, n, block));
          if (fd < 0) throw spawnErr(`a user namespace for the idmapped mount ${key}→${launch.identity.uid}:${launch.identity.gid}`, fd);
          userns.set(key, fds.own(fd));
        }
        return fd;
      };
      launch.layout.forEach((e, i) => {
        const r = e.kind === 'bind' ? launch.filesystem.find((x) => x.clause === e.clause) : undefined;
        const src = e.kind === 'root' && rootFd >= 0 ? rootFd : r ? grantFds.get(r.clause) : undefined;
        if (src === undefined) return;
        const attrs = e.kind === 'root' ? attrsOf(e.options) & ~1 : attrsOf(e.options);
        const idmap = e.kind === 'root' ? launch.root?.idmap : r?.idmap;
        // An OCI `bind` clones that mount alone. Here, in the host's user namespace, the kernel
        // would uncover what mounts beneath it hide (the child's clone would be refused): the
        // plan saw none, so one made since is a change of the path, refused.
        const single = r?.submounts === false;
        const beneath = single && r.kind === 'directory' ? mountsBeneath(r.path) : [];
        if (beneath.length) throw new BvisorError('BV_LAUNCH_CHANGED', `${r!.clause}: mounts were made beneath ${r!.path} since it was planned (${beneath.join(', ')}); a bind of it would uncover what they hide`, { hint: 'use rbind, or plan again once they are gone' });
        const tree = s.bv_tree(src, attrs, idmap ? nsFor(idmap) : -1, single ? 0 : 1);
        if (tree < 0) throw spawnErr(`${e.clause ?? e.target}: a detached copy of \`${e.source}\`${idmap ? ' (idmapped)' : ''}`, tree, idmap ? 'the filesystem refused an idmapped mount; plan again' : undefined);
        trees.set(i, fds.own(tree));
        childEnds.push(tree);
      });
      for (const fd of userns.values()) closeFd(fd);
    }
    // The audit status, answered here, as late as the body allows (it carries the marker): the
    // request made at the top of launch() overlapped the cgroups, ruleset and trees above.
    let landlockDenials: SourceDenials | DenialSource | undefined;
    let auditStatusNow: AuditStatus | null = null;
    if (auditOff !== null) landlockDenials = notObservedSource(auditOff);
    else {
      // The first yield of a launch between making its child's descriptors and closing our
      // copies after clone3: another launch of this process may clone meanwhile, and its child
      // holds copies (all close-on-exec) until its fd scrub, before it reports ready. That can
      // delay an EOF of ours by that child's setup, never hand a descriptor to a workload.
      const { status: st, askedMsAgo } = await auditAsked!;
      const why = auditUnavailable(host.landlock.abi, st, askedMsAgo);
      if (why) landlockDenials = notObservedSource(why);
      else auditStatusNow = st as AuditStatus;
    }
    // The run's marker directory: for bvisor run and the API a private one under the temp
    // directory (removed after the run), for a container one in its state directory.
    let marker: { dir: string; token: string; fd: number } | null = null;
    if (auditStatusNow) {
      const m = newMarker(req.detached ? req.detached.stateDir : tmpdir(), req.detached ? 'll-' : 'bvisor-ll-');
      if (!req.detached) cleanup.push(() => rmSync(m.dir, { recursive: true, force: true }));
      const fd = s.bv_open(m.dir, O.PATH | O.DIRECTORY | O.NOFOLLOW, 0);
      if (fd < 0) throw new BvisorError('BV_LAUNCH_FAILED', `open \`${m.dir}\`: ${errnoName(fd)}`, { hint: 'bvisor made this directory for the run\'s landlock marker; check the temp directory' });
      marker = { ...m, fd: fds.own(fd) };
    }
    const handled = new Set(handledFs(ruleset?.abi ?? 0));
    const ruleMask = (rights: readonly string[]): number => maskOf((rights as FsRight[]).filter((r) => handled.has(r)));
    const { steps: mounts, slots } = mountPlan(launch, { landlock: ruleset !== null, ruleMask, trees, rootfsRules: rootFd >= 0 && ruleset ? rootfsRules(rootFd, launch) : [] });
    // The report's digest: the parent's rules and the child's LL_RULE steps, from the very steps lowered below.
    const landlockFacts = ruleset ? rulesetEvidence(ruleset, mounts) : null;
    // Detached: every descriptor the body names is handed to the monitor at a fixed position
    // (7, 8, …), and the body carries those positions, since the monitor calls clone3.
    const position = new Map<number, number>();
    const at = (fd: number): number => {
      if (!req.detached || fd < 0) return fd;
      if (!position.has(fd)) position.set(fd, 7 + position.size);
      return position.get(fd)!;
    };
    // Engine mode: the monitor clones the workload as its sibling (CLONE_PARENT), so the init's
    // parent is the monitor's: the engine's subreaper (conmon, the containerd shim), which the
    // monitor was reparented to at its start (spawnMonitor), and which collects the init's exit
    // status. Only detached launches have a monitor, and only where the monitor went to our
    // caller: from a shell, which is no subreaper, the init would go to init(1) or a session's
    // manager, and its status would be lost; there the monitor keeps it as its own child
    // (spawnMonitor sees where it went, and the body is lowered again).
    const wantEngine = req.detached !== undefined && launch.oci?.engine === true;
    const lowerFor = (engine: boolean): Uint8Array => lowerOrRefuse({
      launch,
      argv0: launch.workload.argv0,
      env,
      runtime: {
        exeFd: at(exeFd),
        cgroupFd: hooks.noCloneIntoCgroup ? -1 : at(cg.v2Fd),
        syncFd: at(syncR),
        syncPeerFd: at(syncW),
        failFd: at(failW),
        landlockFd: at(ruleset?.fd ?? -1),
        stdio: [at(stdinFd), at(stdoutFd), at(stderrFd)],
        declared: declared.map((d) => ({ ...d, src: at(d.src) })),
        consoleFd: req.console ? at(req.console.fd) : -1,
        netFd: at(netFd),
        llMarkerFd: marker ? at(marker.fd) : -1,
        cgroupJoin: hooks.noCgroupJoin ? [] : joinFds.map(at),
      },
      console: req.console ? { rows: req.console.rows, cols: req.console.cols } : null,
      hostname: launch.namespaces.includes('uts') ? (launch.oci?.hostname ?? req.hostname) : null,
      ready: true,
      // An engine's init outlives `bvisor create` (its parent until then): it is the engine's.
      dieWithParent: req.dieWithParent && !hooks.noPdeathsig && !engine,
      ownSession: req.ownSession === true,
      engine,
      rootful,
      testNoScrub: hooks.noScrub === true,
      keepCaps: hooks.keepCaps === true,
      bpf,
      seccompNotify: notify,
      seccompEarly: early,
      landlockLog: auditStatusNow !== null && !hooks.noLandlockLog,
      mounts,
      slots: slots.map(at),
    });
    // Lowered before the monitor starts, so a launch the shim would refuse starts nothing.
    const body = lowerFor(wantEngine);
    let monitor: Awaited<ReturnType<typeof spawnMonitor>> | null = null;
    // The engine the init was handed to (its pid), or null: the monitor keeps it.
    let handedTo: number | null = null;
    if (req.detached) {
      // The monitor polls the watched cpu counter through a descriptor we open here.
      const wPath = watchPath(cg, launch.cgroup.watch);
      let watch: MonitorWatch | null = null;
      if (wPath) {
        const fd = fds.own(s.bv_open(wPath, O.RDONLY, 0));
        if (fd < 0) throw spawnErr(`open ${wPath}`, fd);
        watch = { fd: at(fd), kind: wPath.endsWith('cpuacct.usage') ? 2 : 1, limitUs: launch.cgroup.watch!.limitUs };
      }
      // The config's umask reaches the workload through the monitor, which inherits ours.
      monitor = await withUmask(launch.oci?.umask ?? null, () => spawnMonitor(req.detached!, (reaper) => {
        const engine = wantEngine && handToCaller({ reaper, callerAtStart: req.detached!.caller, callerNow: process.ppid });
        handedTo = engine ? reaper : null;
        return engine === wantEngine ? body : lowerFor(engine);
      }, failR, position, captureReadEnds.map(at) as [number, number], launch, watch, notify ? stringArgSpec(launchPolicy(launch), host.kernel.arch as Arch).spec : '', secretIdx.join(','), marker?.token ?? ''));
      pid = monitor.pid;
      // Before anything else can fail: without the "created" byte the monitor kills the workload.
      const mon = monitor;
      cleanup.push(() => mon.abort());
      req.detached.onSpawned?.({ pid, monitorPid: monitor.monitorPid });
      pidfd = fds.own(s.bv_pidfd_open(pid));
      if (pidfd < 0) throw spawnErr(`pidfd_open(${pid})`, pidfd);
    } else {
      // Every descriptor of the caller's the workload gets that may be its terminal, and with
      // stdin inherited the session's (/dev/tty: the workload keeps bvisor's session): held in the
      // same turn as the clone, so a number the caller reuses later is never the one resumed.
      if (!req.console) terminals = holdTerminals([...(launch.stdio.stdin === 'inherit' ? [0] : []), ...(launch.stdio.stdout === 'inherit' ? [1] : []), ...(launch.stdio.stderr === 'inherit' ? [2] : []), ...launch.fds], launch.stdio.stdin === 'inherit' && !req.ownSession);
      const out = new Int32Array(2);
      // The config's umask reaches the workload through clone: ours, for the moment of the call.
      // The child shares our memory until it execs (no copy of Node's page tables per launch);
      // it reads only what bv_spawn_vm copied for it (launch.c, struct bv_child_ctx).
      const rc = withUmask(launch.oci?.umask ?? null, () => s.bv_spawn_vm(body, body.length, out));
      if (rc === -74) throw spawnErr('the shim rejected the launch body', rc, 'this is a bug in bvisor (the body breaks a bound lower.ts should have refused)');
      if (rc < 0) throw spawnErr('clone3', rc, rc === -1 || rc === -28 ? 'the host refused a namespace or the cgroup; run `bvisor check`' : undefined);
      pid = out[0]!;
      pidfd = out[1]!;
      fds.own(pidfd);
    }
    // A detached workload is the monitor's child: we cannot reap it, only see it go.
    const exited = req.detached ? null : waitPidfd(pidfd);
    // The child holds its own copies now; the parent's child-side ends must close so EOF works.
    childEnds.forEach(closeFd);
    childEnds.length = 0;
    closeFd(exeFd);
    if (netFd >= 0) closeFd(netFd);
    for (const fd of grantFds.values()) closeFd(fd);
    if (rootFd >= 0) closeFd(rootFd);

    // Rendezvous: maps in the kernel's required order, then v1 cgroups; the child is blocked.
    try {
      if (launch.namespaces.includes('user')) {
        if (hooks.failUidMap) throw Object.assign(new Error('injected fault'), { code: 'EPERM' });
        // The workload's root is an unprivileged host id (the plan's identity), never host root.
        writeProc(`/proc/${pid}/uid_map`, `${uidMap}\n`);
        // Rootless, the kernel demands setgroups=deny before gid_map. Rootful, we may leave it
        // allowed, and must: the child clears root's supplementary groups with setgroups(0).
        if (!rootful) writeProc(`/proc/${pid}/setgroups`, 'deny');
        writeProc(`/proc/${pid}/gid_map`, `${gidMap}\n`);
      }
      // process.oomScoreAdj: only raised (the planner refuses lowering), before anything runs.
      if (launch.oci?.oomScoreAdj != null) writeProc(`/proc/${pid}/oom_score_adj`, `${launch.oci.oomScoreAdj}\n`);
    } catch (e) {
      // Never release: closing the sync pipe makes the child exit before it runs anything.
      closeFd(syncW);
      // Detached, the monitor holds the sync pipe too (EOF would never come) and reaps the child:
      // kill it (it has run nothing of the workload) and see it go.
      if (!exited) s.bv_pidfd_signal(pidfd, 9);
      await (exited ?? awaitExit(pidfd, pid, 2000));
      const err = e as NodeJS.ErrnoException;
      throw e instanceof BvisorError ? e : new BvisorError('BV_LAUNCH_RENDEZVOUS', `preparing pid ${pid}: ${err.code ?? ''} ${err.message}`.trim(), { hint: 'the workload never ran; run `bvisor check`', cause: e });
    }

    // Landlock's audit reader joins before the release: the child restricts itself and makes its
    // marker's denial (launch.h ll_marker_fd) before it reports ready. (A container's monitor
    // joins before it clones.)
    if (auditStatusNow && marker && !req.detached) {
      const r = LandlockAuditReader.start(auditStatusNow, marker.token, redactionForms(secretIdx.map((i) => env[i]!.value)));
      if (typeof r === 'string') landlockDenials = notObservedSource(r);
      else auditReader = r;
    }
    hooks.beforeRelease?.(pid);
    const rel = s.bv_write_byte(syncW);
    if (rel < 0) throw spawnErr('release', rel);
    const startedAt = new Date();
    // The denial holder's thread starts now, while the child builds its root: it waits on its own
    // duplicate of the sync socket for the listener the child sends right after its filter, so
    // the path from the go byte to exec never waits for the hand-over (a container's monitor
    // holds it instead, bvmonitor.c step 5a).
    // A holder that cannot start (descriptors, memory or threads exhausted) fails the launch
    // before the go byte, so the workload has run nothing: nobody would take the listener, and in
    // observe mode the child's own execve notifies and would wait on it for ever.
    if (notify && !req.detached && !hooks.dropListener) {
      try {
        // Observe mode decides with the very program a plain launch would install.
        const plain = observe.length ? seccompProgram(plan, launch, host, false) : null;
        holder = DenialHolder.start(syncW, launchPolicy(launch), host.kernel.arch as Arch, plain ? { syscalls: observe, denyProgram: plain.bpf } : null, redactionForms(secretIdx.map((i) => env[i]!.value)));
      } catch (e) {
        throw new BvisorError('BV_LAUNCH_FAILED', `the seccomp denial holder could not start: ${(e as Error).message}`, { hint: 'the workload never ran; free descriptors or memory, or launch without observing denials (--no-denials, observeDenials: false)', cause: e });
      }
    }

    let evidence: Evidence[] = [];
    let goNs = 0n;
    let seccompDenials: SeccompDenials | null = notify ? null : notObservedSeccomp(notObservedWhy(plan, launch, hooks, req, handOverRefused));
    // Whose child the workload is, so whose wait(2) gets its exit status: ours (attached), the
    // monitor's, or the engine's it was handed to (CLONE_PARENT). Read back at READY (PPid).
    const reaper: Reaper = !req.detached ? 'launcher' : handedTo !== null ? 'engine' : 'monitor';
    const parentPid = !req.detached ? process.pid : (handedTo ?? monitor!.monitorPid);
    const capEff = launch.capabilities.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, '0');
    const user = launch.namespaces.includes('user');
    const expect: EvidenceExpect = { namespaces: launch.namespaces, noNewPrivs: true, seccomp: false, capEff, ...(user ? { uidMap, gidMap } : {}), ...(rootful ? { ids: hostIdsOf(launch) } : {}), ...(launch.oci?.netns ? { joined: { net: Number(launch.oci.netns.ino) } } : {}), parent: parentPid };
    // The maps and namespaces are final once the child is released: read while it builds its root.
    hooks.afterRelease?.(pid);
    const fixed = fixedEvidence(pid, expect);
    let rec = await records.next();
    if (rec && rec.kind === 1 && rec.stage === STAGE_READY) {
      evidence = readEvidence(pid, expect, fixed);
      // A child that died after READY fails the checks below by itself (its namespaces or /proc
      // are gone, its v1 cgroup no longer lists it, the go byte finds no reader): with the filter
      // going on meanwhile (early), one that could not install it has written its record first.
      // It may still be on its way out when a check meets it: do_exit drops its namespaces and
      // cgroup some time before it is a zombie (the teardown of its mount namespace waits for an
      // RCU grace period), so a look at its state now would often call it alive. It never gets
      // the go byte now either way: kill it (a no-op on one already exiting) and wait until it
      // has exited (attached: reaped by the watch on its pidfd; detached: the monitor's zombie
      // or gone). A record, if any, was written before it began to exit, so it is in the pipe
      // by then; the read is bounded all the same (another launch's child of this process may
      // hold a copy of the pipe's write end until its own descriptor scrub). A child that was
      // alive has written no record (it was waiting for the go byte): the check's failure stands.
      const childWhy = async (e: BvisorError): Promise<BvisorError> => {
        s.bv_pidfd_signal(pidfd, 9);
        const gone = exited ? await Promise.race([exited.then(() => true, () => true), delay(2000, false)]) : await awaitExit(pidfd, pid, 2000);
        if (!gone) return e;
        const r = await Promise.race([records.next(), delay(1000, null)]);
        return r ? childFailure(launch, mounts, r) : e;
      };
      // Evidence decides: what the kernel says about the prepared child must match the plan, or
      // the go byte is never sent and the workload never runs. Evidence that could not be read
      // where a value was expected counts as not matching.
      const bad = failedEvidence(evidence);
      if (bad.length && !hooks.ignoreEvidence) {
        // A parent that changed alone: the process it was handed to (an engine) exited meanwhile.
        const why = bad.every((e) => e.name === 'PPid') ? 'the process that was to collect its exit status (the engine that called create) exited during the launch' : 'this is a bvisor or kernel fault worth reporting';
        const e = new BvisorError('BV_LAUNCH_EVIDENCE', `the prepared workload does not match the plan: ${bad.map((e) => `${e.name} is ${JSON.stringify(e.value)}, expected ${e.expected}`).join('; ')}`, { hint: `the workload never ran; ${why}`, detail: { failed: bad.map((e) => e.name) } });
        throw bad.every(unread) ? await childWhy(e) : e;
      }
      // The child joined its v1 leaves itself: each must list it before it may run.
      const outside = cg.leaves.filter((l) => l.version === 1 && !cgroupMembers(l.dir).includes(pid));
      if (outside.length && !hooks.ignoreEvidence) {
        throw await childWhy(new BvisorError('BV_LAUNCH_EVIDENCE', `the prepared workload is not in its cgroup ${outside.map((l) => l.dir).join(', ')}`, { hint: 'the workload never ran; this is a bvisor or kernel fault worth reporting', detail: { failed: outside.map((l) => `${l.dir}/cgroup.procs`) } }));
      }
      // The filter goes on after this handshake (the last step), or beside it (early); either
      // way it is read back at exec.
      // Detached, the go byte is the monitor's to send, at bvisor start.
      if (!req.detached) {
        // The wall's backstop thread is made before the workload runs: one that cannot be made
        // fails the launch here, not a run under way.
        if (launch.wallMs !== null || req.keepsDeadline) backstopper = makeBackstop(fds, pid, pidfd, cg);
        await req.beforeGo?.({ pid, cgroupDirs: cg.leaves.map((l) => l.dir) });
        // A workload given the caller's terminal keeps this process's session and group (lower.ts,
        // SETSID): from here until it is gone, its job control must not stop its supervisor.
        if (launch.stdio.stdin === 'inherit' && !req.console && !req.ownSession) releaseJobStops = holdJobStops(pid);
        goNs = process.hrtime.bigint(); // CLOCK_MONOTONIC (libuv), the holder's time base
        // The backstop's countdown starts with the go byte, not when this loop sees the exec: from
        // the byte on the workload runs whatever the loop does, and a loop held up before it saw
        // the exec (a host program's synchronous work in the API) would hold the countdown with
        // it. The child's few steps to exec come out of the backstop's quarter second.
        if (launch.wallMs !== null) backstopper!.start(launch.wallMs);
        const go = s.bv_write_byte(syncW);
        if (go < 0) throw await childWhy(spawnErr('go', go));
        holder?.setTimeBase(goNs);
        // Nothing more is written to the child. With a holder, its duplicate is the socket's last
        // end on our side: should the thread end before it takes the listener, the socket closes
        // and the listener queued in it goes with it (the kernel then answers ENOSYS), so the
        // child never waits for a holder that is gone (observe mode notifies its execve).
        if (!hooks.dropListener) closeFd(syncW);
        rec = await records.next();
        // Test switch: nobody holds the listener. It was queued on the socket before exec (EOF);
        // closed now, the kernel answers every denied call ENOSYS.
        if (notify && hooks.dropListener && !rec) {
          const lfd = s.bv_recv_fd(syncW);
          if (lfd >= 0) s.bv_close(lfd);
          seccompDenials = notObservedSeccomp(`the listener was dropped (test switch); denied calls are answered ENOSYS by the kernel`);
        }
      } else rec = null;
    } else if (!rec) {
      // The pipe ended before READY with no record: the child died while it set up (killed from
      // outside, or by the OOM killer). READY is always asked for, so it never had the go byte.
      throw new BvisorError('BV_LAUNCH_FAILED', 'the workload exited before it was ready', { hint: 'the workload never ran' });
    }
    if (req.detached && monitor) {
      if (rec) throw childFailure(launch, mounts, rec);
      req.detached.beforeConfirm?.();
      // Not listening on its exec fifo, the container could never start: create fails (the catch
      // below kills the workload; the caller stops the monitor and removes the rest).
      const notListening = await monitor.confirm();
      if (notListening !== null) throw new BvisorError('BV_LAUNCH_SPAWN', `the monitor did not report the container created: ${notListening}`, { hint: 'nothing was left running' });
      const created: LinuxCreated = {
        pid,
        monitorPid: monitor.monitorPid,
        reaper,
        engine: handedTo,
        setupMs: Date.now() - t0,
        evidence,
        cgroupDirs: cg.leaves.map((l) => l.dir),
        landlock: landlockFacts,
        seccomp,
      };
      records.close();
      fds.closeAll();
      return created;
    }
    closeFd(syncW);
    if (!rec && bpf) {
      const [st] = statusEvidence(pid, [['Seccomp', '2']]);
      evidence = evidence.map((x) => (x.name === 'Seccomp' ? { ...st!, source: `${st!.source} (after exec)` } : x));
    }
    if (rec) {
      await exited!;
      throw childFailure(launch, mounts, rec);
    }
    const setupMs = Date.now() - t0;

    // Supervise: the wall deadline and, if the plan watches one, the cgroup's cpu usage.
    // The first end to fire is the run's reason; a later one only kills again.
    let stoppedBy: 'wall' | 'cpu' | 'abort' | null = null;
    let timer: LongTimer | null = null;
    // When the backstop killed the workload (ms since the epoch), or null.
    let firedAt: number | null = null;
    let cpuWatch: { stop(): void } | null = null;
    // Once reaped (or failed), the pidfd and the cgroup are ours to close and remove, and its
    // number may be another run's descriptor soon: no end acts after that.
    let ended = false;
    const stop = (why: 'wall' | 'cpu' | 'abort'): void => {
      if (ended) return;
      stoppedBy ??= why;
      killAll(cg);
      s.bv_pidfd_signal(pidfd, 9);
    };
    let wait: Awaited<NonNullable<typeof exited>>;
    try {
      const backstop = (ms: number): void => {
        // A runner that ended before its job was handed over: nothing to back up.
        if (ended) return;
        if (!backstopper) throw new BvisorError('BV_INTERNAL', 'the wall\'s backstop was not made for this launch (keepsDeadline)');
        backstopper.start(ms);
      };
      req.onExec?.({ pid, timeout: () => stop('wall'), abort: () => stop('abort'), backstop });
      // The loop's own timer counts from the exec (the backstop's from the go byte, above).
      if (launch.wallMs !== null) timer = longTimeout(() => stop('wall'), launch.wallMs);
      const cpuFile = watchPath(cg, launch.cgroup.watch);
      cpuWatch = cpuFile ? watchCounter(cpuFile, launch.cgroup.watch!.limitUs, () => stop('cpu')) : null;
      wait = await exited!;
    } finally {
      ended = true;
      timer?.clear();
      // Read before the channel closes: whether the backstop fired, and when.
      firedAt = backstopper?.firedAt() ?? null;
      backstopper?.close();
      backstopper = null;
      cpuWatch?.stop();
    }
    // The backstop ended it while this loop was held up (its own timer, overdue, then found the
    // run over): the thread said so, and when, before its kill.
    const byBackstop = stoppedBy === null && firedAt !== null && wait.siCode === 2 && wait.status === 9;
    const endedBy = (byBackstop ? 'wall' : stoppedBy) as 'wall' | 'cpu' | 'abort' | null;
    const timedOut = endedBy === 'wall';
    const cpuExceeded = endedBy === 'cpu';
    // An abort that came as the workload was ending on its own (it exited, not killed) is not
    // what ended it: the run's own end stands.
    const aborted = endedBy === 'abort' && (wait.siCode === 2 || wait.siCode === 3);
    // Landlock's reader starts its barrier now, while the cgroups go and the streams drain.
    auditReader?.stop();
    // A held-up loop saw the end late: the backstop's kill is when it ended.
    const endedAt = byBackstop ? new Date(firedAt!) : new Date();
    const runMs = endedAt.getTime() - startedAt.getTime();
    const t1 = Date.now();

    const readback = readBack(cg);
    const cgroupDirs = cg.leaves.map((l) => l.dir);
    // Descendants may still hold the capture pipes (no pid namespace): kill them so EOF comes.
    killAll(cg);
    const teardown = teardownCgroups(cg);
    cgroups = null;
    const streams = await collectStreams(launch, captures);
    if (holder) seccompDenials = await holder.finish();
    holder = null;
    if (auditReader) landlockDenials = await auditReader.finish({ childPid: pid, launch, arch: host.kernel.arch as Arch, startedAtMs: startedAt.getTime() });
    auditReader = null;
    if (marker) rmSync(marker.dir, { recursive: true, force: true });
    records.close();
    unwatch(pidfd);
    closeFd(pidfd);
    pidfd = -1;
    fds.closeAll();

    const signal = wait.siCode === 2 || wait.siCode === 3 ? wait.status : null;
    const exitCode = wait.siCode === 1 ? wait.status : null;
    const oomKilled = (readback.oomKills?.value ?? 0) > 0 && signal === 9 && endedBy === null;
    return {
      pid,
      startedAt,
      ...(byBackstop ? { backstopAt: firedAt! } : {}),
      endedAt,
      setupMs,
      runMs,
      teardownMs: Date.now() - t1,
      wait,
      exitCode,
      signal,
      timedOut,
      cpuExceeded,
      aborted,
      oomKilled,
      evidence,
      reaper,
      readback,
      cgroupDirs,
      streams,
      teardown,
      landlock: landlockFacts,
      seccomp,
      seccompDenials: seccompDenials!,
      ...(landlockDenials ? { landlockDenials } : {}),
    };
  } catch (e) {
    holder?.abort();
    auditReader?.abort();
    if (pidfd >= 0 && req.detached) s.bv_pidfd_signal(pidfd, 9);
    else if (pidfd >= 0) {
      // Kill (an unreleased child has run nothing of the workload) and reap before the fds and
      // cgroups go.
      s.bv_pidfd_signal(pidfd, 9);
      try {
        await Promise.race([waitPidfd(pidfd), delay(2000, undefined)]);
      } catch {
        // already reaped
      }
    }
    // The pidfd closes with the rest: no watch may poll its number after (reaper.ts unwatch).
    if (pidfd >= 0) unwatch(pidfd);
    cleanup.run();
    // Nothing is left half-made, and nothing the kernel refused is dropped: leaves it would not
    // remove yet (a member slow to exit) get more time, the loop turning; what is still there
    // after it is named in the error, as nobody records a failed launch's leaves.
    const left = unfinished ? await teardownLater(unfinished, TEARDOWN_GRACE_MS) : [];
    throw left.length ? withCgroupsLeft(e, left) : e;
  } finally {
    // Once none of the workload's processes is left: after the run's teardown, or after a failed
    // launch's cleanup killed what was left (its cgroups), whatever of it threw. The terminals
    // first (a workload may have stopped their output).
    letTerminalsGo(terminals, 'the workload');
    releaseJobStops?.();
  }
}

/** How long after the wall the backstop kills, when this process's loop has not: enough that the
 * loop's own timer, a little late on a loaded machine, is what ends a run whose loop turns. */
const BACKSTOP_MS = 250;

/** The wall deadline's backstop thread, made for one launch (makeBackstop). */
interface Backstop {
  /** Starts its countdown: BACKSTOP_MS after `ms` from now; at most once. */
  start(ms: number): void;
  /** When it killed the workload (ms since the epoch), or null: it did not (yet). */
  firedAt(): number | null;
  /** The run has ended: it returns without killing. */
  close(): void;
}

/**
 * The wall deadline's backstop (native-shim/src/sys.c, bv_deadline_thread): a thread of the shim
 * that kills the workload BACKSTOP_MS after its wall, through its pidfd and its v2 leaf's
 * cgroup.kill, whatever this process's event loop is doing then, and says when it did. Made before
 * the workload runs; its channel is one of this launch's descriptors, so every way out of the
 * launch closes it.
 */
function makeBackstop(fds: OwnedFds, pid: number, pidfd: number, cg: CgroupSet): Backstop {
  const s = shim();
  const v2 = cg.leaves.find((l) => l.version === 2);
  // cgroup.kill is Linux 5.14+; before it, the pidfd's SIGKILL (the pid namespace's first
  // process: the kernel kills the rest) is the backstop, and the loop's killAll the rest.
  const killFd = v2 ? s.bv_open(join(v2.dir, 'cgroup.kill'), O.WRONLY, 0) : -1;
  if (killFd < 0 && killFd !== -2 && v2) throw spawnErr(`open ${join(v2.dir, 'cgroup.kill')}, the deadline's backstop`, killFd);
  const sock = s.bv_deadline_thread(pid, pidfd, killFd);
  if (killFd >= 0) s.bv_close(killFd);
  if (sock < 0) throw spawnErr("the wall deadline's backstop thread", sock);
  fds.own(sock);
  // The thread's clock is CLOCK_MONOTONIC, as process.hrtime's: its time, said in the epoch's ms.
  let origin: { epoch: number; mono: number } | null = null;
  return {
    start(ms) {
      if (origin) return;
      const msg = Buffer.alloc(8);
      msg.writeBigInt64LE(BigInt(Math.round(ms) + BACKSTOP_MS));
      origin = { epoch: Date.now(), mono: Number(process.hrtime.bigint() / 1_000_000n) };
      writeSync(sock, msg);
    },
    firedAt() {
      if (!origin) return null;
      const msg = Buffer.alloc(8);
      try {
        if (readSync(sock, msg) !== 8) return null;
      } catch {
        return null; // EAGAIN: it has not fired
      }
      return origin.epoch + (Number(msg.readBigInt64LE()) - origin.mono);
    },
    close() {
      fds.close(sock);
    },
  };
}

/** Each pass of a failed launch's teardown holds the thread this long at most per leaf. */
const TEARDOWN_PASS_MS = 20;
/** How long a failed launch's busy leaves are tried again, 100 ms apart, the loop turning. */
const TEARDOWN_GRACE_MS = 10_000;

/** Tries the busy leaves again until none is left or `ms` have passed; a refusal other than EBUSY
 * is final. Returns the notes of what is left. */
async function teardownLater(left: LeftLeaves, ms: number): Promise<string[]> {
  const until = Date.now() + ms;
  let now = left;
  while (now.busy.length && Date.now() < until) {
    await delay(100, undefined);
    const again = teardownEach({ leaves: now.busy, v2Fd: -1 }, TEARDOWN_PASS_MS);
    now = { busy: again.busy, refused: [...now.refused, ...again.refused] };
  }
  return leftNotes(now);
}

/**
 * Polls a cgroup cpu counter and calls onExceed once it reaches limitUs. The poll comes sooner
 * as the budget runs out (a quarter of what is left, 5–100 ms), so the overshoot is bounded by
 * what the run's CPUs can use in one slice.
 */
function watchCounter(path: string, limitUs: number, onExceed: () => void): { stop(): void } {
  let t: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    const used = cpuUsageUs(path);
    if (used !== null && used >= limitUs) {
      onExceed();
      return;
    }
    const leftMs = (limitUs - (used ?? 0)) / 1000;
    t = setTimeout(tick, Math.min(100, Math.max(5, Math.floor(leftMs / 4))));
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      if (t) clearTimeout(t);
    },
  };
}

async function collectStreams(launch: LaunchInputs, captures: Array<Promise<StreamFacts>>): Promise<{ stdout: StreamFacts; stderr: StreamFacts }> {
  const plain = (mode: 'null' | 'inherit' | 'capture'): StreamFacts => ({ mode, bytes: null, kept: null, sha256: null, truncated: false });
  // Captures end when every writer is gone; bound the wait so a leaked writer cannot hang us.
  const bounded = (p: Promise<StreamFacts> | undefined, mode: 'null' | 'inherit' | 'capture'): Promise<StreamFacts> =>
    p ? Promise.race([p, delay(5000, { ...plain(mode), bytes: null })]) : Promise.resolve(plain(mode));
  const [stdout, stderr] = await Promise.all([bounded(captures[0], launch.stdio.stdout), bounded(captures[1], launch.stdio.stderr)]);
  return { stdout, stderr };
}

/**
 * Starts the monitor (native-shim/build/bvmonitor) detached, in its own session, hands it the
 * body on a pipe (the body carries resolved secrets: it never touches a disk) and the
 * descriptors at the positions the body names, and reads back the workload's pid.
 */
interface MonitorWatch {
  /** Position of the counter's descriptor in the monitor. */
  fd: number;
  /** 1: cgroup v2 cpu.stat, 2: v1 cpuacct.usage. */
  kind: 1 | 2;
  limitUs: number;
}

/**
 * Starts the container's monitor, an orphan from the start, and sends it the launch body that
 * `bodyFor` lowers once it is known where the orphan went: to `reaper` (the pid that adopted it,
 * null if unreadable). The body's CLONE_PARENT tells the monitor which mode it is in.
 */
async function spawnMonitor(d: Detached, bodyFor: (reaper: number | null) => Uint8Array, failR: number, position: Map<number, number>, capture: [number, number], launch: LaunchInputs, watch: MonitorWatch | null, strings: string, secrets: string, llToken: string): Promise<{ pid: number; monitorPid: number; confirm(): Promise<string | null>; abort(): void }> {
  const args = [d.stateDir, String(launch.wallMs ?? 0), String(launch.outputBytes), String(capture[0]), String(capture[1]), String(watch?.fd ?? -1), String(watch?.kind ?? 0), String(watch?.limitUs ?? 0), strings, secrets, llToken];
  if ([d.monitorPath, ...args].some((a) => a.includes('\0'))) throw new BvisorError('BV_LAUNCH_SPAWN', 'an argument of the monitor holds a NUL byte');
  // The monitor's descriptors by position: 3 the body (it reads), 4 its answer (it writes), 5
  // the "created" byte (it reads), 6 the workload's fail pipe, then those the body names. Our
  // ends and theirs are close-on-exec: only the copies bv_spawn_detached puts in place cross.
  const fds = new OwnedFds();
  const ownedPipe = (): [number, number] => {
    try {
      return pipe(true, true).map((f) => fds.own(f)) as [number, number];
    } catch (e) {
      fds.closeAll();
      throw e;
    }
  };
  const [bodyR, bodyW] = ownedPipe();
  const [answerR, answerW] = ownedPipe();
  const [confirmR, confirmW] = ownedPipe();
  const at = new Int32Array(Math.max(7, ...[...position.values()].map((pos) => pos + 1))).fill(-1);
  at[3] = bodyR;
  at[4] = answerW;
  at[5] = confirmR;
  at[6] = failR;
  for (const [fd, pos] of position) at[pos] = fd;
  const argv = Buffer.from([d.monitorPath, ...args].map((a) => `${a}\0`).join(''));
  // Not child_process.spawn: its fork copies this process's page tables, and every page we write
  // afterwards faults again (10-13 ms of a create where faults are dear); and the monitor is an
  // orphan from the start (native-shim/src/spawn.c), never a zombie of a long-lived caller.
  const monitorPid = shim().bv_spawn_detached(d.monitorPath, argv, argv.length, at, at.length);
  fds.close(bodyR);
  fds.close(answerW);
  fds.close(confirmR);
  if (monitorPid < 0) {
    fds.closeAll();
    throw spawnErr(`cannot start the monitor ${d.monitorPath}`, monitorPid, [osConstants.errno.ENOENT, osConstants.errno.EACCES, osConstants.errno.ENOEXEC].includes(-monitorPid) ? 'build it with `npm run build:shim`' : undefined);
  }
  // Where we are pid 1 of a pid namespace, or a child subreaper, the orphan came back to us, and
  // libuv reaps only the children it made: reap this one when it ends.
  const reaped = reapIfOurs(monitorPid);
  if (reaped < 0) {
    fds.closeAll(); // the monitor reads EOF for its body, and ends
    throw spawnErr(`pidfd_open(${monitorPid}), the monitor`, reaped);
  }
  // bv_spawn_detached returned once the intermediate child was reaped, so the monitor has been
  // reparented: its parent now is whoever adopts our orphans (our caller if it is a subreaper,
  // as an engine is; else init or a session's manager, or we ourselves as a subreaper).
  let body: Uint8Array;
  try {
    body = bodyFor(parentOf(monitorPid));
  } catch (e) {
    fds.closeAll(); // the monitor reads EOF for its body, and ends
    throw e;
  }
  // The sockets own their descriptors from here (destroy closes them).
  const toMonitor = new Socket({ fd: fds.release(bodyW), readable: false, writable: true });
  const fromMonitor = new Socket({ fd: fds.release(answerR), readable: true, writable: false });
  // A monitor that died before reading the body: its answer (none) says so below.
  toMonitor.on('error', () => toMonitor.destroy());
  toMonitor.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  // On failure: closing the "created" pipe unanswered makes the monitor kill the workload.
  const closeAll = (): void => {
    toMonitor.destroy();
    fromMonitor.destroy();
    fds.closeAll();
  };
  // The monitor's lines: "pid N" (or why it could not start the workload), then, once told the
  // container was created, "listening" (its exec fifo has a reader) before it closes its end.
  // (Not node:readline: its first load costs a create started from the blob about 1.5 ms.)
  const lines: string[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  let buf = '';
  fromMonitor.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  const end = (): void => {
    if (buf) lines.push(buf);
    buf = '';
    ended = true;
    wake?.();
  };
  fromMonitor.on('end', end);
  fromMonitor.on('error', end);
  /** The monitor's next line; '' at its end, or after ms without one. */
  const nextLine = (ms: number): Promise<string> =>
    new Promise<string>((resolve) => {
      let settled = false;
      const settle = (l: string): void => {
        settled = true;
        clearTimeout(timer);
        if (wake === look) wake = null;
        resolve(l);
      };
      const look = (): boolean => {
        if (settled) return true;
        const l = lines.shift() ?? (ended ? '' : null);
        if (l === null) return false;
        settle(l);
        return true;
      };
      // Timers run before the event loop reads its descriptors: when other work held the loop past
      // the deadline (many creates in one process), the monitor's line may be waiting unread.
      // setImmediate decides after that read; a call already settled by then is left alone.
      const timer = setTimeout(() => setImmediate(() => {
        if (!look()) settle('');
      }), ms);
      wake = look;
      look();
    });
  const line = await nextLine(10_000);
  if (line === '' && !ended) {
    closeAll();
    throw new BvisorError('BV_LAUNCH_SPAWN', 'the monitor did not report the workload within 10s');
  }
  const m = /^pid (\d+)$/.exec(line);
  if (!m) {
    closeAll();
    const reserve = /^reserve (\d+)$/.exec(line);
    if (reserve) throw new BvisorError('BV_STATE_ROOT_UNUSABLE', `the container's state directory ${d.stateDir} cannot hold the monitor's records: ${errnoName(-Number(reserve[1]))}`, { hint: 'free space in the state root (or choose another --root); nothing was started' });
    const err = /^error (\d+)$/.exec(line);
    throw new BvisorError('BV_LAUNCH_SPAWN', `the monitor could not start the workload: ${err ? errnoName(-Number(err[1])) : line || 'no answer'}`);
  }
  const done = (): void => {
    fromMonitor.destroy();
  };
  return {
    pid: Number(m[1]),
    monitorPid,
    confirm: async () => {
      // The "created" byte: without it (we died, or failed) the monitor kills the workload. One
      // byte into an empty pipe does not block; a monitor already gone (EPIPE) answers nothing.
      try {
        writeSync(confirmW, 'c');
      } catch {
        /* the monitor is gone: no "listening" below */
      }
      fds.close(confirmW);
      // Its exec fifo has a reader once it says so: a start right after create finds it. Its
      // record of that (monitor.json, two fsyncs) is written meanwhile, off create's path.
      const said = await nextLine(5000);
      const open = /^error (\d+)$/.exec(said);
      done();
      if (said === 'listening') return null;
      return open ? `it could not open ${join(d.stateDir, 'exec.fifo')}: ${errnoName(-Number(open[1]))}` : said ? `it said "${said.slice(0, 80)}"` : ended ? 'it ended without a word' : 'no answer within 5s';
    },
    abort: () => {
      fds.close(confirmW);
      done();
    },
  };
}
