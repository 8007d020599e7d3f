// bvisor exec's launcher: a new process in a running container, with the init's confinement or
// narrower (core/exec.ts decides the narrowing; this file only executes it).
//
//   the init's pidfd (checked against its recorded start time), the container's cgroups, the
//   seccomp program recomputed from the plan (and checked against the digest create recorded),
//   a landlock ruleset with the init's handled rights and every path rule re-opened by the
//   child on its target inside the joined mount namespace (a grant's target must still be the
//   planned inode) → lower an exec body → bv_spawn: the first child (born into the v2 leaf)
//   waits; we join it to the v1 leaves → release → it joins every namespace of the init
//   (setns through the pidfd) and clones the second child into the pid namespace, as our child
//   (CLONE_PARENT), and reports its pid → READY: the kernel's view of the second child (its
//   namespaces are the init's, its cgroups are the init's, NoNewPrivs, CapEff, ids) must match,
//   or it never runs → go → exec (EOF on the fail pipe) → wait, or leave it (--detach).
//
// --detach: the process stays our child until we exit, then the kernel hands it to the nearest
// child subreaper (containerd's shim, conmon) or to init, which reap it. That is runc's own
// behaviour and what `ctr task exec` relies on (its shim passes --detach --pid-file and reaps
// the pid as a subreaper). CLONE_PARENT onto our caller, as create does in engine mode, would
// make a caller that is not a reaper (a shell script, a test) collect a zombie instead.
import { readFileSync, readlinkSync, existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { HostFacts, LaunchInputs, Plan, Evidence } from '../../contract/generated/types.js';
import { BvisorError } from '../../contract/errors.js';
import { shim, O } from './ffi/shim.js';
import { mountPlan, MOUNT_OP, RECORD_KIND, STAGE_READY, type MountStep } from './lower.js';
import { openPlanned } from './host/objects.js';
import { rootfsRules } from './host/rootfs.js';
import { maskOf, handledFs, type FsRight } from '../../core/landlock.js';
import { servedBySpecial, hostIdsOf } from '../../core/layout.js';
import { buildRuleset, type Ruleset } from './host/landlock.js';
import { statusEvidence, failedEvidence } from './host/evidence.js';
import { unwatch, waitPidfd, type WaitResult } from './host/reaper.js';
import { errnoName } from '../../host/facts.js';
import { procState, startTime } from '../../host/proc.js';
import { effectiveHooks } from './test-hooks.js';
import { Cleanup, OwnedFds, rendezvousPipes, withUmask, spawnErr, lowerOrRefuse, seccompProgram, childFailure, type ConsoleRequest, type LaunchHooks } from './launcher.js';
import { delay } from '../../host/timers.js';
import { holdTerminals, letTerminalsGo, type HeldTerminals } from '../../host/terminal.js';

export interface LinuxExecRequest {
  plan: Plan;
  host: HostFacts;
  /** The container's launch inputs narrowed for this process (args, cwd, capabilities, rlimits:
   * core/exec.ts); everything else is the plan's. */
  launch: LaunchInputs;
  /** The program as args[0] names it: resolved in the container (its PATH for a bare name). */
  exePath: string;
  env: ReadonlyArray<{ name: string; value: string }>;
  /** The container's init, as its state records it. */
  init: { pid: number; startTime: string };
  /** The container's cgroup leaves (v2 and v1), as its state records them. */
  cgroupDirs: readonly string[];
  /** The descriptors that become 0, 1, 2 (ours by default). */
  stdio: [number, number, number];
  console: ConsoleRequest | null;
  detach: boolean;
  /** The seccomp digest create recorded (create.json), or null if it recorded none. */
  createdSeccomp: string | null;
  umask: number | null;
  oomScoreAdj: number | null;
  /** Called with the prepared process's pid before it is let go: a throw kills it unrun. */
  beforeGo?: (pid: number) => void;
  hooks?: LaunchHooks;
}

export interface LinuxExecStarted {
  pid: number;
  evidence: Evidence[];
  /** What the launch narrowed that only the running container tells (oom_score_adj). */
  narrowed: string[];
  /** Resolves when the process ends (not for --detach, which leaves it to its reaper), once the
   * terminals it was given are resumed. */
  exited: Promise<WaitResult> | null;
  /** SIGKILLs the process through its pidfd, if it has not ended (attached only: a no-op after). */
  kill(): void;
  /** Sends signal `sig` through its pidfd (exec --sig-proxy): false once it has ended (or for
   * --detach), and the caller then does what it would without it. */
  signal(sig: number): boolean;
}

const NS_FILE: Record<LaunchInputs['namespaces'][number], string> = { user: 'user', pid: 'pid', mount: 'mnt', net: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' };

function nsLink(pid: number, ns: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The READY-time checks an exec adds: the process sits in every namespace of the init, and in
 * each of the container's cgroups (the hierarchies where bvisor made a leaf for it; elsewhere the
 * init sits wherever create ran, which is not the container's) (the kernel's word, from /proc). */
function joinEvidence(pid: number, init: number, launch: LaunchInputs, leaves: readonly string[]): Evidence[] {
  const out: Evidence[] = launch.namespaces.map((ns) => {
    const f = NS_FILE[ns];
    const mine = nsLink(pid, f);
    const theirs = nsLink(init, f);
    const source = `/proc/${pid}/ns/${f}`;
    return mine === null || theirs === null ? { name: `ns.${f}`, source, value: { notObserved: 'process gone before read-back' }, expected: theirs ?? 'the init\'s' } : { name: `ns.${f}`, source, value: mine, expected: theirs, ok: mine === theirs };
  });
  const lines = (text: string | null): Map<string, string> => new Map((text ?? '').split('\n').filter(Boolean).map((l) => [l.slice(0, l.lastIndexOf(':')), l.slice(l.lastIndexOf(':') + 1)] as [string, string]));
  const mine = lines(readText(`/proc/${pid}/cgroup`));
  const theirs = lines(readText(`/proc/${init}/cgroup`));
  const names = new Set(leaves.map((d) => basename(d)));
  for (const [hierarchy, path] of theirs) {
    if (!names.has(basename(path))) continue;
    const source = `/proc/${pid}/cgroup`;
    const v = mine.get(hierarchy);
    out.push(v === undefined ? { name: `cgroup ${hierarchy}`, source, value: { notObserved: 'process gone before read-back' }, expected: path } : { name: `cgroup ${hierarchy}`, source, value: v, expected: path, ok: v === path });
  }
  return out;
}

/** The child-side landlock rules an exec adds: every path rule the init's parent added on a
 * grant's descriptor becomes a rule on the grant's target inside the container, checked against
 * the planned (dev, ino) (a bind mount shows the same inode). */
function grantRules(launch: LaunchInputs, ruleMask: (rights: readonly string[]) => number): MountStep[] {
  return launch.filesystem
    .filter((r) => !(launch.layout.length > 0 && servedBySpecial(r)))
    .map((r) => ({ op: MOUNT_OP.LL_RULE, flags: ruleMask(r.rights), target: r.target, aux: 0, dev: BigInt(r.dev), ino: BigInt(r.ino) }));
}

/** What to do when the container's processes stopped or killed the joining process. */
const SIGNALLED_HINT = 'nothing ran; give the container isolate: { signals: true } (landlock) so that its processes cannot signal one joining it, or retry';

/** The container stopped or killed the joining process (`how`: "stopped by a signal (pid N)"…). */
function signalled(how: string): BvisorError {
  return new BvisorError('BV_LAUNCH_FAILED', `the process was ${how} while it joined the container, before it ran: a process of the container can signal it`, { hint: SIGNALLED_HINT });
}

/**
 * A record from the children, or a refusal when one of them is stopped meanwhile. Once it has
 * joined, the second child is in the container's pid namespace with the container's ids, so a
 * process of the container may signal it (kill(2): same uid, or CAP_KILL in its namespace), and a
 * SIGSTOP would hold this setup, and the container's lock, for ever. SIGKILL ends a stopped
 * process (the caller's catch sends it), so the watch ends the wait instead. proc(5): T is
 * stopped by a signal; t, stopped by a tracer, is not counted (seccomp denies the container
 * ptrace: a tracer is the caller's own, strace or a debugger).
 */
async function watched<T>(next: Promise<T>, pids: () => number[], onStopped?: (pid: number) => void): Promise<T> {
  let timer: NodeJS.Timeout | null = null;
  let settled = false;
  const stopped = new Promise<never>((_, reject) => {
    const look = (): void => {
      try {
        const pid = pids().find((p) => procState(p) === 'T');
        if (pid === undefined) {
          timer = setTimeout(look, 50);
          return;
        }
        // Timers run before the loop polls for I/O: a record (or the exec's EOF) already there
        // is read first, and a process stopped after it ran is not taken for one that never did.
        setImmediate(() => {
          if (settled) return;
          try {
            onStopped?.(pid);
          } catch (e) {
            reject(e);
            return;
          }
          reject(signalled(`stopped by a signal (pid ${pid})`));
        });
      } catch (e) {
        reject(e);
      }
    };
    timer = setTimeout(look, 50);
  });
  try {
    return await Promise.race([next.finally(() => (settled = true)), stopped]);
  } finally {
    settled = true;
    if (timer) clearTimeout(timer);
  }
}

export async function execLinux(req: LinuxExecRequest): Promise<LinuxExecStarted> {
  const { plan, host, launch } = req;
  if (!plan.admitted || !plan.launch || plan.backend !== 'linux') throw new BvisorError('BV_INTERNAL', 'execLinux needs an admitted linux plan');
  if (launch.namespaces.length === 0) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', 'the container has no namespace of its own to join', { hint: 'bvisor exec joins a container\'s namespaces' });
  const hooks = effectiveHooks(req.hooks);
  const s = shim();
  const cleanup = new Cleanup();
  const fds = new OwnedFds();
  cleanup.push(() => fds.closeAll());
  const closeFd = (fd: number): void => fds.close(fd);
  // The two children's pidfds and their waits (one wait per pidfd: a second waitid on a reaped
  // child would fail).
  let first = -1;
  let firstWait: Promise<WaitResult> | null = null;
  let second = -1;
  let secondWait: Promise<WaitResult> | null = null;
  // Watched only once someone waits: a detached process is left to its reaper, and a watch left
  // behind would poll a descriptor number closed and handed out again.
  const waitSecond = (): Promise<WaitResult> => (secondWait ??= waitPidfd(second));
  // The caller's terminals the process is given (host/terminal.ts), attached only: resumed when
  // it ends, as bvisor run resumes its workload's. The container goes on (what it started may
  // outlive the process); a detached process is the caller's to wait for.
  let terminals: HeldTerminals | null = null;
  const narrowed: string[] = [];
  try {
    // The init, pinned by a pidfd and checked to be the process the state names (not a pid
    // recycled since): everything below joins what this descriptor points at.
    const initFd = fds.own(s.bv_pidfd_open(req.init.pid));
    if (initFd < 0 || startTime(req.init.pid) !== req.init.startTime) throw new BvisorError('BV_CONTAINER_STATE', `the container's init (pid ${req.init.pid}) is gone`, { hint: 'the container is not running' });

    // cgroups: born into the v2 leaf; the v1 leaves are joined by pid before release.
    const v2 = req.cgroupDirs.filter((d) => existsSync(join(d, 'cgroup.controllers')));
    const v1 = req.cgroupDirs.filter((d) => !v2.includes(d) && existsSync(join(d, 'cgroup.procs')));
    let cgroupFd = -1;
    if (v2[0] && !hooks.noCloneIntoCgroup) {
      cgroupFd = fds.own(s.bv_open(v2[0], O.RDONLY | O.DIRECTORY, 0));
      if (cgroupFd < 0) throw new BvisorError('BV_CGROUP_SETUP', `open \`${v2[0]}\`: ${errnoName(cgroupFd)}`, { hint: 'the container\'s cgroup is gone; is it running?' });
    }

    // seccomp: exactly create's program (recomputed from the plan, compared with its digest).
    // The init's deny rows may notify its monitor (denials observed); an exec'd process has no
    // holder, so it gets the same rows answering EPERM directly: the same decisions, its denials
    // not observed.
    const program = hooks.noSeccomp ? null : seccompProgram(plan, plan.launch, host);
    const twin = hooks.noSeccomp ? null : seccompProgram(plan, plan.launch, host, true);
    if (!hooks.noSeccomp && (program?.facts.sha256 ?? null) !== req.createdSeccomp && (twin?.facts.sha256 ?? null) !== req.createdSeccomp) {
      throw new BvisorError('BV_LAUNCH_EVIDENCE', `the seccomp program recomputed from the plan (${program?.facts.sha256 ?? 'none'}) is not the one the container's init got (${req.createdSeccomp ?? 'none'})`, { hint: 'bvisor or the host changed since create; nothing ran. Run the process in a new container' });
    }

    // landlock: the init's handled rights and port rules; path rules opened by the child.
    let ruleset: Ruleset | null = null;
    const childEnds: number[] = [];
    if (!hooks.noLandlock && plan.clauses.some((c) => c.mechanism?.includes('landlock'))) {
      ruleset = buildRuleset({ ...launch, filesystem: [] }, () => -1);
      childEnds.push(fds.own(ruleset.fd));
    }
    let mounts: MountStep[] = [];
    if (ruleset) {
      const handled = new Set(handledFs(ruleset.abi));
      const ruleMask = (rights: readonly string[]): number => maskOf((rights as FsRight[]).filter((r) => handled.has(r)));
      let rootRules: ReturnType<typeof rootfsRules> = [];
      if (launch.root) {
        const rootFd = fds.own(openPlanned({ path: launch.root.path, dev: launch.root.dev, ino: launch.root.ino }, 'root'));
        rootRules = rootfsRules(rootFd, launch);
        closeFd(rootFd);
      }
      // The init's own child-side rules (devices, tmpfs, devpts, /proc, the rootfs's entries),
      // from the same mount plan create lowered; its mount steps are not ours to repeat.
      const init = mountPlan(launch, { landlock: true, ruleMask, trees: new Map(), rootfsRules: rootRules });
      mounts = [...init.steps.filter((m) => m.op === MOUNT_OP.LL_RULE), ...grantRules(launch, ruleMask)];
    }
    mounts.push({ op: MOUNT_OP.CHDIR, flags: 0, target: launch.workload.cwd });

    const { syncR, syncW, failR, failW, records } = rendezvousPipes(fds, childEnds, cleanup);

    const rootful = host.identity.euid === 0 && launch.namespaces.includes('user');
    const body = lowerOrRefuse({
      launch,
      argv0: req.exePath,
      env: req.env,
      runtime: { exeFd: -1, cgroupFd, syncFd: syncR, syncPeerFd: syncW, failFd: failW, landlockFd: ruleset?.fd ?? -1, stdio: req.stdio, declared: [], consoleFd: req.console?.fd ?? -1 },
      hostname: null,
      ready: true,
      // Attached, the process dies with us (as bvisor run's workload does); detached, it is the
      // caller's.
      dieWithParent: !req.detach && !hooks.noPdeathsig,
      rootful,
      testNoScrub: hooks.noScrub === true,
      testStopJoined: hooks.stopJoined === true,
      keepCaps: hooks.keepCaps === true,
      bpf: program?.bpf ?? null,
      mounts,
      slots: [],
      console: req.console ? { rows: req.console.rows, cols: req.console.cols } : null,
      exec: { joinFd: initFd, exePath: req.exePath },
    });

    const out = new Int32Array(2);
    // In the same turn as the clone: a number the caller reuses later is never the one resumed.
    // An exec'd process is always in a session of its own (no /dev/tty to open).
    if (!req.detach && !req.console) terminals = holdTerminals(req.stdio, false);
    const rc = withUmask(req.umask, () => s.bv_spawn(body, body.length, out));
    if (rc === -74) throw spawnErr('the shim rejected the launch body', rc, 'this is a bug in bvisor (the body breaks a bound lower.ts should have refused)');
    if (rc < 0) throw spawnErr('clone3', rc, rc === -28 || rc === -16 ? 'the container\'s cgroup refused another process (pids limit?)' : undefined);
    const firstPid = out[0]!;
    first = fds.own(out[1]!);
    firstWait = waitPidfd(first);
    childEnds.forEach(closeFd);

    for (const dir of v1) {
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(firstPid));
      } catch (e) {
        throw new BvisorError('BV_CGROUP_SETUP', `join \`${dir}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'the container\'s cgroup is gone; is it running?', cause: e });
      }
    }
    const rel = s.bv_write_byte(syncW);
    if (rel < 0) throw spawnErr('release', rel);

    // The first child reports the second's pid (or why it could not make it), then exits.
    let rec = await watched(records.next(), () => [firstPid], hooks.onStopped);
    await firstWait;
    first = -1;
    if (!rec || rec.kind !== RECORD_KIND.SPAWNED) {
      if (rec && rec.kind === RECORD_KIND.FAIL) throw childFailure(launch, mounts, rec);
      throw new BvisorError('BV_LAUNCH_FAILED', 'the exec\'s first child ended without joining the container', { hint: 'nothing ran' });
    }
    const pid = rec.item;
    // Our child (CLONE_PARENT), not yet reaped: the pid cannot have been reused.
    const pidfd = s.bv_pidfd_open(pid);
    if (pidfd < 0) throw spawnErr(`pidfd_open(${pid})`, pidfd);
    second = fds.own(pidfd);
    // oom_score_adj: never below the init's (the kernel would kill the init before this
    // process otherwise); raised to the request's, never lowered below what it inherited.
    const initAdj = Number(readText(`/proc/${req.init.pid}/oom_score_adj`) ?? '0');
    const ownAdj = Number(readText(`/proc/${pid}/oom_score_adj`) ?? '0');
    const adj = Math.max(initAdj, req.oomScoreAdj ?? initAdj);
    if (adj > ownAdj) writeFileSync(`/proc/${pid}/oom_score_adj`, `${adj}\n`);
    const got = Math.max(adj, ownAdj);
    if (req.oomScoreAdj !== null && req.oomScoreAdj < got) narrowed.push(`oomScoreAdj: ${req.oomScoreAdj} is below ${got === initAdj ? `the init's ${initAdj}` : `the ${got} it inherits`}; the process gets ${got}`);

    rec = await watched(records.next(), () => [pid], hooks.onStopped);
    let evidence: Evidence[] = [];
    const ready = rec !== null && rec.kind === RECORD_KIND.READY && rec.stage === STAGE_READY;
    if (!rec) {
      const w = await waitSecond();
      second = -1;
      if (w.siCode === 2 || w.siCode === 3) throw signalled(`killed (signal ${w.status})`);
      throw new BvisorError('BV_LAUNCH_FAILED', 'the process ended before it was ready', { hint: 'nothing ran' });
    }
    if (ready) {
      hooks.afterRelease?.(pid);
      const capEff = launch.capabilities.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, '0');
      const four = (n: number): string => [n, n, n, n].join('\t');
      evidence = [
        ...statusEvidence(pid, [
          ['NoNewPrivs', '1'],
          ['CapEff', hooks.keepCaps ? null : capEff],
          ['Uid', rootful ? four(hostIdsOf(launch).uid) : null],
          ['Gid', rootful ? four(hostIdsOf(launch).gid) : null],
          ['Groups', rootful ? hostIdsOf(launch).groups.join(' ') : null],
        ]),
        ...joinEvidence(pid, req.init.pid, launch, req.cgroupDirs),
      ];
      const bad = failedEvidence(evidence);
      // A process that died meanwhile reads as a mismatch (a dead process's /proc/<pid>/cgroup
      // says "/"): that is no fault of bvisor's or the kernel's, but the container's kill.
      const now = bad.length ? procState(pid) : 'R';
      if (now === null || now === 'Z' || now === 'X') {
        throw signalled('killed');
      }
      if (bad.length && !hooks.ignoreEvidence) {
        throw new BvisorError('BV_LAUNCH_EVIDENCE', `the prepared process does not match the container: ${bad.map((e) => `${e.name} is ${JSON.stringify(e.value)}, expected ${JSON.stringify(e.expected)}`).join('; ')}`, { hint: 'the process never ran; this is a bvisor or kernel fault worth reporting', detail: { failed: bad.map((e) => e.name) } });
      }
      // The caller's record of the process (--pid-file), made while it cannot have run: one
      // that cannot be made fails the exec here, and the catch kills what was prepared.
      req.beforeGo?.(pid);
      const go = s.bv_write_byte(syncW);
      if (go < 0) throw spawnErr('go', go);
      rec = await watched(records.next(), () => [pid], hooks.onStopped);
    }
    closeFd(syncW);
    if (rec) {
      // It failed and is on its way out: killed first, so that no stop can hold this wait.
      s.bv_pidfd_signal(second, 9);
      await waitSecond();
      second = -1;
      throw childFailure(launch, mounts, rec);
    }
    if (program) {
      const [st] = statusEvidence(pid, [['Seccomp', '2']]);
      evidence.push({ ...st!, source: `${st!.source} (after exec)` });
    }
    records.close();
    closeFd(initFd);
    if (req.detach) {
      // Left to the kernel's reaper logic (see the top of this file): forget it, do not wait.
      unwatch(second);
      closeFd(second);
      second = -1;
      fds.closeAll();
      return { pid, evidence, narrowed, exited: null, kill: () => {}, signal: () => false };
    }
    // Until the process is reaped its pidfd is ours and open (closed with the rest at its end).
    const pidfdOpen = second;
    let ended = false;
    const done = waitSecond().finally(() => {
      ended = true;
      letTerminalsGo(terminals, 'the process');
      fds.closeAll();
    });
    second = -1;
    return { pid, evidence, narrowed, exited: done, kill: () => void (ended || s.bv_pidfd_signal(pidfdOpen, 9)), signal: (sig) => !ended && procState(pid) !== 'Z' && s.bv_pidfd_signal(pidfdOpen, sig) === 0 };
  } catch (e) {
    // Neither child has run anything of the program yet: kill and reap both before the fds go.
    for (const [fd, wait] of [[first, firstWait], [second, second >= 0 ? waitSecond() : null]] as const) {
      if (fd < 0 || !wait) continue;
      s.bv_pidfd_signal(fd, 9);
      await Promise.race([wait.catch(() => undefined), delay(2000, undefined)]);
      // It closes with the rest: no watch may poll its number after (reaper.ts unwatch).
      unwatch(fd);
    }
    letTerminalsGo(terminals, 'the process');
    cleanup.run();
    throw e;
  }
}
