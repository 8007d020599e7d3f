// bvisor create, and bvisor run's registration under an id: everything that sets a container up
// (its bundle read, its plan made, its boundary launched under a monitor). Apart from the other
// lifecycle commands (app/lifecycle.ts), which only read, signal, seal and remove what create
// left: their start-up snapshot holds none of the planner, the bundle reader or the launcher
// (docs/startup.md, "three blobs").
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ContainerState, HostFacts, Plan, SealedReport } from '../contract/generated/types.js';
import { BvisorError, undone, withCleanupAsync } from '../contract/errors.js';
import { hostnameFor } from '../core/ids.js';
import { loadBundle, type LoadedBundle } from '../host/bundle.js';
import { prepareStateRoot } from '../host/state-root.js';
import { probeHost, errnoName } from '../host/facts.js';
import { perRunHost, procHolder } from '../host/id-claims.js';
import { idBlock } from '../core/features.js';
import { procRef } from '../host/proc.js';
import { writeFileAtomic, reserveSpace, type Durability } from '../host/atomic.js';
import { reserveStartRecord, readHead, type JournalKey } from '../host/journal-store.js';
import { shim, monitorPath } from '../backends/linux/ffi/shim.js';
import { checkedPidFile, writePidFile } from './pid-file.js';
import { createLinux, type LinuxCreated, type LaunchHooks } from '../backends/linux/launcher.js';
import { teardownCgroups } from '../backends/linux/host/cgroups.js';
import { admittedLinuxPlan, secretFromEnv, reservedPaths } from './run.js';
import { createWasm } from './wasm.js';
import { WASM_RECORD } from './wasm-report.js';
import { defaultCacheDir } from '../host/wasm-cache.js';
import { fault, thenFault } from '../host/faults.js';
import { hookRecords, runHooks, type HookRecord } from './hooks.js';
import { prepareOutputs, removeQuarantine, type Quarantine } from './outputs.js';
import { snapshotGrants, snapshotToJson } from './fsdelta.js';
import { claimName, containersDir, dirOf, ociState, leavesOf, readState, recordHash, removeDir, runNameOf, stateReserveBytes, STATE_RESERVE, stopProcesses, withLock, writeState } from './lifecycle.js';

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  cgroupParent: string | null;
  pidFile: string | null;
  /** The process that called create, as early as it could be read (the CLI: bin/bvisor's
   * reading, cli/caller.ts); the API: our parent when createContainer is called. */
  caller?: number;
  secretEnv: NodeJS.ProcessEnv;
  secrets?: readonly string[];
  fds?: readonly number[];
  host?: HostFacts;
  /** Test-only switches (dropped by the shipped launcher; see backends/linux/test-hooks.ts). */
  hooks?: LaunchHooks;
  /** The journal key (a keyed journal is checked before anything is created). */
  key?: JournalKey | null;
  /** --console-socket: the unix socket that receives the terminal's master (process.terminal). */
  consoleSocket?: string | null;
  /** Observe seccomp denials (default true; --no-denials): the filter denies the same either way. */
  observeDenials?: boolean;
  /** Read landlock's denials from the kernel's audit records where the host emits them (default
   * true; docs/denials.md). Each observed run then adds a few lines to the host's audit log (the
   * reader joining, its barrier); off, landlock denies the same and logs nothing of the run. */
  landlockAudit?: boolean;
  /** --outputs-to: where outputs go, as the caller says (replaces the manifest's outputs.to). */
  outputsTo?: string | null;
  /** Run the OCI config's hooks (as bvisor's own user, outside every boundary): the caller's to allow, never the bundle's. */
  allowHooks?: boolean;
  /** Lines about bvisor's own long work (a large module instrumented): the CLI's, on a terminal. */
  progress?: (line: string) => void;
}

/** Connects to a --console-socket (runc's contract: AF_UNIX, SOCK_STREAM, the pty master sent
 * once with SCM_RIGHTS). The descriptor is the caller's to close. */
/** How long a console socket may keep bvisor waiting, to connect or to take the master: the
 * container's lock is held meanwhile, and kill and delete -f wait for it. */
const CONSOLE_SOCKET_MS = 5000;

export function connectConsole(path: string): number {
  const fd = shim().bv_unix_connect(path, CONSOLE_SOCKET_MS);
  if (fd < 0) throw new BvisorError('BV_CONSOLE_SOCKET', `connect to the console socket \`${path}\`: ${errnoName(fd)}${fd === -11 ? ` (its listener did not accept within ${CONSOLE_SOCKET_MS / 1000} s)` : ''}`, { hint: fd === -36 ? 'a unix socket path must be shorter than 108 bytes' : 'the process that listens on it (conmon, the containerd shim) must be running and accepting, and the path a unix stream socket' });
  return fd;
}

/** runc's rule both ways: a terminal needs a console socket, a console socket a terminal. */
export function checkConsole(terminal: boolean, socket: string | null | undefined): void {
  if (terminal && !socket) throw new BvisorError('BV_CONSOLE_SOCKET', 'process.terminal is true but no --console-socket was given', { hint: 'pass --console-socket PATH (a unix socket that receives the pty master, as conmon and containerd\'s shim do), or set process.terminal to false' });
  if (!terminal && socket) throw new BvisorError('BV_CONSOLE_SOCKET', '--console-socket was given but process.terminal is not true', { hint: 'set process.terminal: true in config.json (exec: --tty), or leave --console-socket out' });
}

const idTaken = (root: string, id: string): BvisorError => new BvisorError('BV_CONTAINER_EXISTS', `container ${id} already exists under ${root}`, { hint: `choose another id, or remove it with bvisor delete -f ${id}` });

/** Takes an id: its directory is made exclusively, so of two commands on one id one wins. */
function takeId(root: string, id: string, dir: string): void {
  mkdirSync(containersDir(root), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw idTaken(root, id);
    throw e;
  }
}

/**
 * Takes an id with its entry whole: `fill` writes the entry under a claim's name (no id has it),
 * which is then renamed to the id unless something holds it (RENAME_NOREPLACE). A crash leaves
 * a claim, never containers/<id> without a state: gc removes a claim at once when its maker is
 * gone, where it must give a state-less entry a minute (a create between its mkdir and its
 * lock). Used by run's registration (a create holds its id's lock from its first moment on).
 */
export function claimId(root: string, id: string, fill: (dir: string) => void): string {
  const dir = dirOf(root, id);
  mkdirSync(containersDir(root), { recursive: true, mode: 0o700 });
  // An id in use is refused before anything is written (the rename checks again).
  if (existsSync(dir)) throw idTaken(root, id);
  const claim = join(containersDir(root), claimName(procRef(process.pid)!, randomUUID()));
  mkdirSync(claim, { mode: 0o700 });
  try {
    fault('run:claimed');
    fill(claim);
    const rc = shim().bv_rename_noreplace(claim, dir);
    if (rc === 0) return dir;
    if (rc === -osConstants.errno.EEXIST) throw idTaken(root, id);
    if (!NO_NOREPLACE.has(-rc)) throw new BvisorError('BV_IO', `rename ${claim} to ${dir}: ${errnoName(rc)}`, { hint: 'the state root must be a writable directory of ours (see --root)' });
  } catch (e) {
    throw undone(e, () => removeDir(claim));
  }
  // No RENAME_NOREPLACE on this file system: the id is taken as create takes it.
  removeDir(claim);
  return takeIdLocked(root, id, dir, fill);
}

/** renameat2(2)'s answers where the file system (EINVAL: NFS, some FUSE) or a sandbox (ENOSYS:
 * a seccomp filter that does not know the call) has no RENAME_NOREPLACE. */
const NO_NOREPLACE = new Set([osConstants.errno.EINVAL, osConstants.errno.ENOSYS]);

/**
 * An id taken by mkdir, then filled under its lock (as create does), where claimId cannot
 * rename: a crash between the two leaves an entry without a state, which gc keeps for a minute.
 * Exported for its test (claimId reaches it only on such a file system).
 */
export function takeIdLocked(root: string, id: string, dir: string, fill: (dir: string) => void): string {
  takeId(root, id, dir);
  try {
    withLock(dir, () => fill(dir));
  } catch (e) {
    throw undone(e, () => removeDir(dir));
  }
  return dir;
}

/** The first state of an entry: this process its creator, nothing else known yet. */
function initialState(f: Pick<ContainerState, 'id' | 'kind' | 'status' | 'bundle' | 'runId' | 'planHash' | 'backend' | 'manifestSha256' | 'journalAtCreate'>): ContainerState {
  return {
    bvisorVersion: '1',
    ...f,
    createdAt: new Date().toISOString(),
    creator: procRef(process.pid)!,
    pid: null,
    monitor: null,
    cgroupDirs: [],
    setupMs: null,
    startedAt: null,
    reportHash: null,
    journaled: false,
    annotations: {},
    keptBundle: null,
  };
}

export async function createContainer(o: CreateOptions): Promise<ContainerState> {
  // Who called, before anything else: a create orphaned on the way hands no init to anyone.
  const caller = o.caller ?? process.ppid;
  // The id first: a bad one is refused before a bundle archive is unpacked.
  const dir = dirOf(o.root, o.id);
  if (o.pidFile) o = { ...o, pidFile: checkedPidFile(o.pidFile, o.root) };
  const loaded = loadBundle(o.bundle, { manifestCacheRoot: o.root });
  return withCleanupAsync(() => createLoaded(o, loaded, dir, caller), loaded.bundle.cleanup);
}

async function createLoaded(o: CreateOptions, loaded: LoadedBundle, dir: string, caller: number): Promise<ContainerState> {
  let quarantine: Quarantine | null = null;
  // This container's own host ids (where bvisor has a range): held by this process until the
  // container's state exists, then by the container until delete removes it.
  const probedHost = o.host ?? probeHost();
  const { host, claim } = perRunHost(probedHost, undefined, idBlock({ host: probedHost, manifest: loaded.manifest, paths: loaded.paths })?.count ?? 1);
  try {
    // The journal's head before this run's id exists anywhere (its quarantine below is the first
    // place): every entry of the run (a recovery of gc's included) comes later, so list reads
    // back to here at most for a container that never started. A head that cannot be read fails
    // here as it would a step later in prepareStateRoot.
    const head = readHead(o.root);
    const runId = randomUUID();
    // outputs: the quarantine exists before planning, so the plan names it (and checks it).
    quarantine = prepareOutputs(o.root, runId, loaded.manifest, loaded.paths, host, loaded.bundle, o.outputsTo ?? null);
    // Both backends: a wasm workload's runner is created under a monitor like a Linux one.
    const plan = admittedLinuxPlan(loaded, host, o, 'created', true);
    // A config's hooks run as bvisor's own user (root), outside every boundary: the bundle is not
    // trusted to run code there, so only a caller who says so (an engine that wrote them) gets them.
    const hooked = Object.keys(plan.launch?.oci?.hooks ?? {});
    if (hooked.length && !o.allowHooks) {
      const hint = 'pass --allow-hooks (or BVISOR_ALLOW_HOOKS=1) if the caller wrote or trusts these hooks';
      throw new BvisorError('BV_PLAN_REFUSED', `${hooked.length} clause(s) refused: hooks run as bvisor's own user, outside the boundary; nothing was created`, {
        issues: hooked.map((k) => ({ code: 'BV_OCI_UNSUPPORTED' as never, clause: `hooks.${k}`, message: `the config's ${k} hooks would run as bvisor's own user (root), outside every boundary, and the bundle is not trusted to choose them`, hint })),
        hint,
      });
    }
    const wasm = plan.backend === 'wasm';
    checkConsole(plan.launch?.oci?.terminal === true, o.consoleSocket);
    // The root must take what this container will write (its records, its report) before
    // anything exists; the monitor reserves its own exit record's space in its directory.
    prepareStateRoot(o.root, { key: o.key ?? null }).release();
    takeId(o.root, o.id, dir);
    const state = initialState({ id: o.id, kind: 'container', status: 'creating', bundle: loaded.bundle.source, runId, planHash: plan.planHash!, backend: wasm ? 'wasm' : 'linux', manifestSha256: loaded.bundle.manifestSha256, journalAtCreate: head ? { seq: head.seq, entryHash: head.entryHash } : null });
    // An OCI config's annotations are the container's (runtime-spec state: "annotations").
    state.annotations = { ...(loaded.manifest.oci?.annotations ?? {}) };
    try {
      return await withLock(dir, async () => {
        // The records before the first state are made durable by that state's directory fsync,
        // those after it by the last one's (writeFileAtomic's Durability); the states between
        // record a cgroup being made and the processes spawned, which a crash of the machine
        // takes with it.
        writeFileAtomic(join(dir, 'plan.json'), JSON.stringify(plan) + '\n', 0o600, 'renamed');
        // The host it was planned on: the report's host facts, sealed later by state, delete or
        // report, which need not probe the host again (issue 12: the lifecycle's commands stay
        // cheap). Not fsync'd (many creates in one process would wait on it): a torn or missing
        // file fails validation at the seal, which then probes the host as before.
        // Each file a report is sealed from is named in the state by its content's hash (the
        // seal takes no other, nor an edit of one: docs/lifecycle.md).
        const hostText = JSON.stringify(host) + '\n';
        writeFileSync(join(dir, 'host.json'), hostText, { mode: 0o600, flag: 'wx' });
        state.records = { 'host.json': recordHash(hostText) };
        const writeRecord = (name: keyof NonNullable<ContainerState['records']>, json: string): void => {
          const text = json + '\n';
          writeFileAtomic(join(dir, name), text, 0o600, 'renamed');
          state.records = { ...state.records, [name]: recordHash(text) };
        };
        // The read-write grants before anything runs: the report's delta is taken from it.
        if (plan.launch) writeRecord('fsdelta.json', snapshotToJson(snapshotGrants(plan.launch)));
        writeState(dir, state);
        claim?.hold({ container: { dir, runId: state.runId } });
        fault('create:after-state');
        reserveStartRecord(dir);
        reserveSpace(join(dir, STATE_RESERVE), stateReserveBytes(state), "the container's running state");
        const fifo = shim().bv_mkfifo(join(dir, 'exec.fifo'), 0o600);
        if (fifo < 0) throw new BvisorError('BV_IO', `mkfifo ${join(dir, 'exec.fifo')}: ${errnoName(fifo)}`);
        // The console socket is connected last, just before the launch, and closed right after
        // it: the workload's child sends the master on its own copy.
        const size = loaded.manifest.oci?.consoleSize ?? null;
        const consoleFd = o.consoleSocket ? connectConsole(o.consoleSocket) : -1;
        // Unique per run: the same id may live under two state roots.
        const runName = runNameOf(o.id, state.runId);
        const recordLeaf = (leaf: string): (() => void) => {
          state.cgroupDirs = [...state.cgroupDirs, leaf];
          writeState(dir, state, 'renamed');
          return () => {
            state.cgroupDirs = state.cgroupDirs.filter((d) => d !== leaf);
            writeState(dir, state, 'renamed');
          };
        };
        const beforeCgroup = thenFault(recordLeaf, 'create:before-cgroup');
        const detached = {
          stateDir: dir,
          monitorPath: monitorPath(),
          caller,
          onSpawned: ({ pid, monitorPid }: { pid: number; monitorPid: number }) => {
            state.pid = procRef(pid);
            state.monitor = procRef(monitorPid);
            writeState(dir, state, 'renamed');
            // Its init holds the id too: while it lives, a bvisor that cannot judge the state
            // directory (another mount namespace) or a delete that could not read the state and
            // so could not stop it does not let the id go.
            if (claim) {
              const h = procHolder(pid);
              if (!h) throw new BvisorError('BV_LAUNCH_FAILED', `container ${o.id}'s init (pid ${pid}) ended as it was made; nothing ran`, { hint: 'create it again' });
              claim.hold(h);
            }
          },
          beforeConfirm: () => fault('create:before-confirm'),
        };
        let created: LinuxCreated;
        if (wasm) {
          const w = await createWasm(loaded, plan, host, { cacheDir: defaultCacheDir(o.root), id: o.id, runName, secret: secretFromEnv(o.secretEnv), reserved: reservedPaths(o.root), beforeCgroup, recordLeaf, detached, ...(o.hooks ? { hooks: o.hooks } : {}), ...(o.progress ? { progress: o.progress } : {}) });
          created = w.created;
          // What sealing needs of the runner (its plan, caps, cache, seed; no secrets).
          writeRecord(WASM_RECORD, JSON.stringify(w.record));
        } else {
          created = await createLinux({
            ...(consoleFd >= 0 ? { console: { fd: consoleFd, rows: size?.height ?? 0, cols: size?.width ?? 0 } } : {}),
            plan,
            host,
            runName,
            // An id may be 128 characters; a hostname at most 64 bytes (sethostname(2)).
            hostname: hostnameFor(o.id),
            secret: secretFromEnv(o.secretEnv),
            capture: { stdout: null, stderr: null },
            // The monitor is the workload's parent: if it dies, so does the workload.
            dieWithParent: true,
            ...(o.hooks ? { hooks: o.hooks } : {}),
            ...(o.observeDenials === false ? { observeDenials: false } : {}),
            ...(o.landlockAudit === false ? { landlockAudit: false } : {}),
            beforeCgroup,
            detached,
          }).finally(() => {
            if (consoleFd >= 0) shim().bv_close(consoleFd);
          });
        }
        // The monitor listens on the exec fifo (the launcher waited for it to say so), so a start
        // right after create never finds nobody there.
        fault('create:after-spawn');
        // prestart and createRuntime hooks: the container exists, its program has not run; a
        // failing hook ends create, and the catch below removes everything.
        const hooks = plan.launch?.oci?.hooks;
        const hooksRan: HookRecord[] = [];
        if (hooks?.prestart || hooks?.createRuntime) {
          // runc's state for these hooks: status creating, with the init's pid (a network hook
          // reaches /proc/<pid>/ns/net through it).
          const st = { ...ociState(o.id, dir, { ...state, monitor: procRef(created.monitorPid) }, { status: 'creating', broken: null, exit: null }), pid: created.pid };
          hooksRan.push(...hookRecords(await runHooks('prestart', hooks.prestart, st)));
          hooksRan.push(...hookRecords(await runHooks('createRuntime', hooks.createRuntime, st)));
        }
        // What the report lists of the hooks (they ran as bvisor's own user: evidence, not a claim).
        writeRecord('create.json', JSON.stringify({ evidence: created.evidence, reaper: created.reaper, landlock: created.landlock, seccomp: created.seccomp, ...(hooksRan.length ? { hooks: hooksRan } : {}) }));
        const kept = loaded.bundle.keep(dir, state.runId);
        const done: ContainerState = { ...state, status: 'created', pid: procRef(created.pid), monitor: procRef(created.monitorPid), cgroupDirs: created.cgroupDirs, setupMs: created.setupMs, keptBundle: kept, ...(created.engine !== null ? { engine: created.engine } : {}) };
        writeState(dir, done);
        // The bare number, as runc writes it: containerd's shim parses the file with Atoi.
        if (o.pidFile) writePidFile(o.pidFile, created.pid);
        return done;
      });
    } catch (e) {
      // Leave the environment as if create had never been attempted: the monitor (told
      // nothing, it kills the workload) must be gone before its directory goes.
      const stop = await stopProcesses(state).then(
        () => null,
        (u: unknown) => u,
      );
      throw undone(e, () => {
        // A monitor that may live on keeps its directory (gc judges it later).
        if (stop !== null) throw stop;
        teardownCgroups(leavesOf(state.cgroupDirs));
        removeDir(dir);
      });
    }
  } catch (e) {
    // No container, so no report will ever list the quarantine: it goes too.
    removeQuarantine(quarantine);
    throw e;
  } finally {
    // The container holds it from here, or (nothing made) nobody does.
    claim?.release();
  }
}

/**
 * A bvisor run in progress, registered under its id like a container (kind run, status
 * running): the id is taken while it runs, list shows it, delete without -f refuses it, and
 * after a crash delete -f or gc finds its cgroups and seals what is known.
 */
export interface RunRegistration {
  dir: string;
  runId: string;
  addCgroup(leaf: string): void;
  /** Drops a leaf recorded by addCgroup whose mkdir failed (it was not made by this run). */
  removeCgroup(leaf: string): void;
  setPid(pid: number): void;
  /** The sealed report, kept before it is journaled, so a crash in between journals it once. */
  saveReport(report: SealedReport): void;
  /** Removes the entry, if it is still this run's. */
  release(): void;
  /** Keeps the entry, if it is still this run's, as a stopped container whose report is sealed
   * and journaled (run --keep): state and report read it, delete removes it (and any cgroup the
   * run's teardown could not). */
  retain(): void;
}

export function registerRun(root: string, id: string, o: { runId: string; bundle: string; manifestSha256: string; plan: Plan }): RunRegistration {
  // journalAtCreate: null, since run's quarantine already exists under its run id; its start
  // record follows within the same command, and list stops at that.
  const state = initialState({ id, kind: 'run', status: 'running', bundle: o.bundle, runId: o.runId, planHash: o.plan.planHash!, backend: o.plan.backend === 'wasm' ? 'wasm' : 'linux', manifestSha256: o.manifestSha256, journalAtCreate: null });
  // A run keeps none of create's records: a seal after a crash (delete -f, gc) reads none.
  state.records = {};
  // Nothing else can see the entry until it is renamed to its id: no lock is needed to fill it.
  const dir = claimId(root, id, (claim) => {
    writeFileAtomic(join(claim, 'plan.json'), JSON.stringify(o.plan) + '\n', 0o600, 'renamed');
    writeState(claim, state);
  });
  // Every write checks, under the lock, that the entry is still this run's: delete -f may have
  // removed it (and a create may have taken the id again) meanwhile.
  const ours = <T>(fn: () => T): T | undefined => {
    try {
      return withLock(dir, () => (readState(dir)?.runId === o.runId ? fn() : undefined));
    } catch (e) {
      if (!existsSync(dir)) return undefined;
      throw e;
    }
  };
  // The cgroups the run makes exist only while it runs: a crash of the machine takes them too
  // (writeFileAtomic's Durability). Its workload's pid and start time are durable: a seal after
  // such a crash (gc) reports when the workload started from them.
  /** Whether the entry was still this run's, and so was written. */
  const update = (fn: () => void, durability: Durability = 'renamed'): boolean =>
    ours(() => {
      fn();
      writeState(dir, state, durability);
      return true;
    }) === true;
  return {
    dir,
    runId: o.runId,
    // A leaf nothing records is one nobody would clean up after a crash: with the entry gone
    // (removed by hand, or by a command that took this run for dead), it is not made.
    addCgroup: (leaf) => {
      if (!update(() => void (state.cgroupDirs = [...state.cgroupDirs, leaf]))) throw new BvisorError('BV_CONTAINER_STATE', `the entry of run ${id} (${dir}) is gone or is no longer this run's: its cgroup ${leaf} is not made, and nothing runs`, { hint: 'something removed the entry while the run was being set up; run it again' });
    },
    removeCgroup: (leaf) => update(() => void (state.cgroupDirs = state.cgroupDirs.filter((d) => d !== leaf))),
    setPid: (pid) =>
      update(() => {
        state.pid = procRef(pid);
        state.startedAt = new Date().toISOString();
      }, 'durable'),
    // Named in the state before it is written, as the seal does (a report.json the state does
    // not name is not the run's).
    saveReport: (report) =>
      void ours(() => {
        state.reportHash = report.bodyHash;
        writeState(dir, state);
        writeFileAtomic(join(dir, 'report.json'), JSON.stringify(report) + '\n');
      }),
    release: () => void ours(() => removeDir(dir)),
    retain: () =>
      void update(() => {
        state.status = 'stopped';
        state.journaled = true;
        state.kept = true;
      }),
  };
}

