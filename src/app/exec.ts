// bvisor exec: a new process in a running container, under the init's confinement or narrower
// (core/exec.ts says what is narrowed, backends/linux/exec.ts runs it). The container's lock is
// held while the process is set up, so no delete or second create can pull the container away
// in between; it is released once the process has exec'd, before any waiting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkedPidFile, removePidFile, writePidFile } from './pid-file.js';
import type { Evidence, HostFacts, LaunchInputs } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { execFromProcess, execFromFlags, type ExecSpec, type ExecFlags } from '../core/exec.js';
import { resolveEnv } from '../core/secrets.js';
import { rlimitOfClause } from '../core/report.js';
import { probeHost } from '../host/facts.js';
import { hasExited, procState } from '../host/proc.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { execLinux } from '../backends/linux/exec.js';
import type { LaunchHooks } from '../backends/linux/launcher.js';
import type { WaitResult } from '../backends/linux/host/reaper.js';
import { loadExisting, withLock, readState, derive, ourCgroups, wrongState, intactPlan, sealRecord } from './lifecycle.js';
import { isFrozen } from '../backends/linux/host/cgroups.js';
import { connectConsole, checkConsole } from './create.js';
import { secretFromEnv } from './run.js';

/** The flags form's args/env/cwd/user/tty/caps are core/exec.ts's ExecFlags. */
export interface ExecOptions extends ExecFlags {
  root: string;
  id: string;
  /** --process FILE: an OCI process object; else `args` and the flags. */
  processFile: string | null;
  consoleSocket: string | null;
  pidFile: string | null;
  detach: boolean;
  /** Where the container's secret references are resolved from (flags form only). */
  secretEnv: NodeJS.ProcessEnv;
  /** The descriptors that become the process's 0, 1, 2 (default: ours). */
  stdio?: [number, number, number];
  host?: HostFacts;
  /** Test-only switches (dropped by the shipped launcher). */
  hooks?: LaunchHooks;
}

export interface ExecStarted {
  pid: number;
  /** What the request asked beyond the init and did not get. */
  narrowed: string[];
  evidence: Evidence[];
  /** The process's end, as an exit status (128+N for signal N); null with --detach. */
  exit: Promise<{ status: number; exitCode: number | null; signal: number | null; wait: WaitResult }> | null;
  /** SIGKILLs an attached process that has not ended (`exit` then resolves); a no-op otherwise. */
  kill(): void;
  /** Sends `sig` to an attached process that has not ended (exec --sig-proxy); false otherwise. */
  signal(sig: number): boolean;
}

function readProcess(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BvisorError('BV_USAGE', `exec --process ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'name a readable OCI process JSON file' });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BvisorError('BV_USAGE', `exec --process ${file}: not JSON (${(e as Error).message})`, { hint: 'the file must hold one OCI process object (runtime-spec config.md#process)' });
  }
}

export async function execContainer(o: ExecOptions): Promise<ExecStarted> {
  const { dir } = loadExisting(o.root, o.id);
  const host = o.host ?? probeHost();
  let consoleFd = -1;
  try {
    const started = await withLock(dir, async () => {
      const s = readState(dir);
      if (!s) throw wrongState(o.id, 'exec into', 'broken', `remove it with bvisor delete -f ${o.id}`);
      if (s.kind !== 'container') throw wrongState(o.id, 'exec into', 'a bvisor run', 'exec joins containers made by bvisor create');
      const d = derive(dir, s);
      if (d.status !== 'running' || !s.pid) throw wrongState(o.id, 'exec into', d.status, d.status === 'created' ? `start it first (bvisor start ${o.id})` : 'only a running container takes new processes');
      // Without its monitor nothing keeps the container's wall: a new process would outlive it
      // (start refuses such a container too).
      if (d.broken) throw new BvisorError('BV_CONTAINER_STATE', `cannot exec into container ${o.id}: ${d.broken}`, { hint: `delete it with bvisor delete -f ${o.id}` });
      // A frozen leaf (bvisor pause) would freeze the process as it is born into it, in its setup,
      // holding this lock: refused, as runc refuses a paused container.
      if (ourCgroups(o.id, s, dir).some(isFrozen)) throw wrongState(o.id, 'exec into', 'paused', `resume it first (bvisor resume ${o.id})`);
      // setns through a pidfd joins the namespaces of the task it names, the leader. One that
      // ended by exit(2) alone, not exit_group, has none left (setns: ESRCH) while the group's
      // other threads run on; /proc/<pid>/ns, which runc joins by, is gone too. Said here, by
      // name; a leader that ends from here on still fails the child's setns (stage join).
      const leader = procState(s.pid.pid);
      if ((leader === 'Z' || leader === 'X') && !hasExited(s.pid.pid)) throw wrongState(o.id, 'exec into', `running without its main thread (its init, pid ${s.pid.pid}, ended that thread alone), and its namespaces can no longer be joined through it`, `stop it with bvisor kill ${o.id} KILL, or bvisor delete -f ${o.id}`);
      const plan = intactPlan(dir, s);
      if (!plan) throw wrongState(o.id, 'exec into', 'unreadable', `its plan.json cannot be read; remove it with bvisor delete -f ${o.id}`);
      // A wasm container's process is its runner: a module instance, with no way in for a program.
      if (plan.backend !== 'linux') throw wrongState(o.id, 'exec into', `a ${plan.backend} container`, 'exec starts a program in a Linux container; a wasm module runs alone');
      // As the state names it: an edited digest would silence the check below.
      const created = sealRecord<{ seccomp: { sha256: string } | null }>(o.id, dir, s, 'create.json');
      if (!created) throw wrongState(o.id, 'exec into', 'unreadable', 'its create.json (what create read back) is missing');
      const base = plan.launch;
      // limits.cpu as RLIMIT_CPU bounds one process's CPU time (exact only because the workload
      // cannot fork): every exec'd process would get a budget of its own, and the total would be
      // unbounded. A watched budget (mediated) counts the whole cgroup, exec'd processes too.
      const cpuRlimit = rlimitOfClause(base.rlimits, 'limits.cpu', 'cpu');
      if (cpuRlimit) throw wrongState(o.id, 'exec into', `bounded by limits.cpu as RLIMIT_CPU (${cpuRlimit.hard}s), a budget per process, which another process would not share`, 'give the container limits.cpu with guarantee: mediated (bvisor watches the whole cgroup), or run the program in a container of its own');
      const spec: ExecSpec = o.processFile !== null ? execFromProcess(readProcess(o.processFile), base, o.processFile) : execFromFlags({ args: o.args, env: o.env, cwd: o.cwd, user: o.user, tty: o.tty, caps: o.caps ?? [] }, base, resolveEnv(base.env, secretFromEnv(o.secretEnv)));
      checkConsole(spec.terminal, o.consoleSocket);
      // The container's launch inputs with this process's program, cwd, capabilities and limits.
      const launch: LaunchInputs = {
        ...base,
        workload: { ...base.workload, argv0: spec.args[0]!, args: spec.args.slice(1), cwd: spec.cwd, script: false },
        capabilities: spec.capabilities,
        rlimits: spec.rlimits,
        // One of a block's ids (the config's maps): the process becomes it (the child's setresuid).
        ...(spec.user && base.oci ? { oci: withUser(base.oci, spec.user) } : {}),
      };
      // Its directory is checked before anything runs: the usual mistake fails here, not after.
      const pidFile = o.pidFile ? checkedPidFile(o.pidFile, o.root) : null;
      let pidFileWritten = false;
      if (o.consoleSocket) consoleFd = connectConsole(o.consoleSocket);
      const run = await execLinux({
        plan,
        host,
        launch,
        exePath: spec.args[0]!,
        env: spec.env,
        init: s.pid,
        cgroupDirs: ourCgroups(o.id, s, dir),
        stdio: o.stdio ?? [0, 1, 2],
        console: consoleFd >= 0 ? { fd: consoleFd, rows: spec.consoleSize?.rows ?? 0, cols: spec.consoleSize?.cols ?? 0 } : null,
        detach: o.detach,
        createdSeccomp: created.seccomp?.sha256 ?? null,
        umask: spec.umask ?? base.oci?.umask ?? null,
        oomScoreAdj: spec.oomScoreAdj,
        // Bare, as runc writes it: containerd parses it with Atoi. Written before the process
        // is let go: if it cannot be, exec fails with nothing run (an engine that reads no pid
        // file must not be left with a process it cannot know of).
        ...(pidFile
          ? {
              beforeGo: (pid: number) => {
                writePidFile(pidFile, pid);
                pidFileWritten = true;
              },
            }
          : {}),
        ...(o.hooks ? { hooks: o.hooks } : {}),
      }).catch((e: unknown) => {
        // A pid file written for a process that then failed to exec names no process of ours.
        if (pidFileWritten) removePidFile(pidFile);
        throw e;
      });
      return { run, spec };
    });
    const { run, spec } = started;
    return {
      pid: run.pid,
      narrowed: [...spec.narrowed, ...run.narrowed],
      evidence: run.evidence,
      exit: run.exited
        ? run.exited.then((wait) => {
            const signal = wait.siCode === 2 || wait.siCode === 3 ? wait.status : null;
            const exitCode = wait.siCode === 1 ? wait.status : null;
            return { status: signal !== null ? 128 + signal : (exitCode ?? 255), exitCode, signal, wait };
          })
        : null,
      kill: run.kill,
      signal: run.signal,
    };
  } finally {
    if (consoleFd >= 0) shim().bv_close(consoleFd);
  }
}

/** The container's OCI launch inputs with the ids an exec becomes (0:0: no user) and its
 * supplementary groups (none: no groups). */
function withUser(oci: NonNullable<LaunchInputs['oci']>, user: { uid: number; gid: number; groups: number[] }): NonNullable<LaunchInputs['oci']> {
  const { user: _init, groups: _initGroups, ...rest } = oci;
  const ids = { uid: user.uid, gid: user.gid };
  return { ...rest, ...(user.uid === 0 && user.gid === 0 ? {} : { user: ids }), ...(user.groups.length ? { groups: user.groups } : {}) };
}
