// bvisor learn: run a bundle's workload once under observation, in a permissive but still
// isolated boundary (host mode, every namespace, the host's top-level directories read-exec, a
// private /tmp, the bundle's own grants kept, descendants allowed), propose the minimal manifest
// that run needed (core/learn.ts), and check the proposal by running it once fully enforced.
// Nothing on the host becomes writable beyond what the bundle already grants read-write.
import { lstatSync, readdirSync, realpathSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Document } from 'yaml';
import type { Denial, HostFacts } from '../contract/generated/types.js';
import { BvisorError, withCleanupAsync } from '../contract/errors.js';
import { hostRootLinks, loadBundle, loadManifestText, type LoadedBundle } from '../host/bundle.js';
import { probeHost } from '../host/facts.js';
import { perRunHost, procHolder } from '../host/id-claims.js';
import { hostLookup } from '../host/lookup.js';
import { loadManifest } from '../core/manifest.js';
import { propose, type KeptGrant, type Proposal } from '../core/learn.js';
import { TABLES, type Arch } from '../core/seccomp/compile.js';
import { namedCalls } from '../core/seccomp/denials.js';
import { launchLinux } from '../backends/linux/launcher.js';
import { admittedLinuxPlan, runLoaded, secretFromEnv } from './run.js';
import { runExitStatus } from './report.js';
import type { RunRelay } from './relay.js';

/** The calls the learning run observes (each notifies; allowed ones continue). */
export const LEARN_OBSERVE = [
  'open', 'openat', 'openat2', 'creat', 'execve', 'execveat', 'mkdir', 'mkdirat', 'unlink', 'unlinkat', 'rmdir',
  'rename', 'renameat', 'renameat2', 'chdir', 'truncate', 'stat', 'lstat', 'newfstatat', 'statx', 'access', 'faccessat',
  'faccessat2', 'readlink', 'readlinkat', 'connect', 'socket', 'clone', 'fork', 'vfork',
] as const;
/** Top-level host directories the learning run does not get: served fresh (/proc, /dev), private (/tmp). */
const NOT_BOUND = new Set(['proc', 'dev', 'tmp', 'lost+found']);
const LEARN_PROCESSES = 1024;

export interface LearnOptions {
  bundle: string;
  /** Seconds the learning run may take (and the check run, at most). */
  wallSeconds: number;
  /** The learning run gets the host network (else a private loopback). */
  network: boolean;
  cgroupParent: string | null;
  secretEnv: NodeJS.ProcessEnv;
  /** Where the workload's stdout and stderr go in both runs (the proposal may be on stdout). */
  relay?: RunRelay;
  host?: HostFacts;
}

export interface LearnRun {
  exitStatus: number;
  denials: Denial[];
  runMs: number;
}

export interface LearnOutcome {
  proposal: Proposal;
  learned: LearnRun;
  /** exitStatus null: the proposal was refused by the planner, so it never ran. */
  check: Omit<LearnRun, 'exitStatus'> & { exitStatus: number | null; verified: boolean; why: string | null };
}

/** The top-level directories of the host, for the learning run (symlinks are recreated by the
 * layout from the merged /usr links; /proc, /dev and /tmp are the run's own). */
export function hostTopDirs(): string[] {
  return readdirSync('/')
    .filter((n) => !NOT_BOUND.has(n))
    .map((n) => `/${n}`)
    .filter((p) => {
      try {
        const st = lstatSync(p);
        return st.isDirectory();
      } catch {
        return false;
      }
    })
    .sort();
}


/** The manifest of the learning run: the bundle's, widened (see the file comment). */
export function learningManifest(original: Record<string, unknown>, kept: readonly KeptGrant[], o: { network: boolean; wallSeconds: number; exe?: string; cwd?: string }): string {
  const keptPaths = new Set(kept.map((k) => k.hostPath));
  const tops = hostTopDirs().filter((p) => !keptPaths.has(p));
  const fs: Array<Record<string, unknown>> = [...kept.map((k) => k.raw), ...tops.map((p) => ({ path: p, access: 'read-exec' }))];
  // The program and its working directory in /tmp (private in this run) or elsewhere unbound.
  const reachable = (p: string): boolean => tops.some((t) => p === t || p.startsWith(t + '/')) || kept.some((k) => p === k.hostPath || (k.recursive && p.startsWith(k.hostPath + '/')));
  for (const [p, access] of [[o.exe, 'read-exec'], [o.cwd, 'read']] as const) if (p && p !== '/' && !reachable(p)) fs.push({ path: p, access });
  const stdio = { ...((original.stdio as Record<string, unknown> | undefined) ?? {}), stdout: 'capture', stderr: 'capture' };
  const m: Record<string, unknown> = {
    bvisorVersion: '1',
    workload: original.workload,
    filesystem: fs,
    network: o.network ? 'host' : 'loopback',
    spawn: 'descendants',
    stdio,
    tmp: 'private',
    // Generous, within this host's own limits (bvisor may lack CAP_SYS_RESOURCE: no rlimit raised).
    limits: { wall: `${o.wallSeconds}s`, memory: { value: '2Gi', guarantee: 'best-effort' }, processes: { value: LEARN_PROCESSES, guarantee: 'best-effort' } },
  };
  for (const k of ['env', 'fds', 'capabilities', 'isolate']) if (original[k] !== undefined) m[k] = original[k];
  // Observation needs the errno policy: the notifying filter answers what it would.
  m.syscalls = { deny: 'errno' };
  return new Document(m).toString({ lineWidth: 0 });
}

function refuse(why: string, hint: string): never {
  throw new BvisorError('BV_LEARN_UNSUPPORTED', why, { hint });
}

export async function learnBundle(o: LearnOptions): Promise<LearnOutcome> {
  const b: LoadedBundle = loadBundle(o.bundle);
  return withCleanupAsync(() => learnLoaded(b, o), b.bundle.cleanup);
}

async function learnLoaded(b: LoadedBundle, o: LearnOptions): Promise<LearnOutcome> {
  const m = b.manifest;
  if (m.oci) refuse(`${o.bundle}: an OCI bundle (config.json) runs in its own root; learn proposes host-mode manifests only`, 'write a boundary.yaml for the program and learn that');
  if (m.root) refuse(`${o.bundle}: root: is container mode (the workload sees its rootfs, not the host); learn proposes host-mode manifests only`, 'remove root: (and grant host paths) to learn a host-mode boundary, or write the container boundary by hand');
  if (m.workload.kind !== 'process') refuse(`${o.bundle}: a wasm workload has no system calls to observe`, 'the wasm backend lists what a module opens in its report (bvisor run --json)');
  if (m.outputs) refuse(`${o.bundle}: outputs: needs a state root and a commit; learn runs without either`, 'remove outputs: while learning, and add it back to the proposal');
  const original = loadManifest(b.bundle.manifestText, b.bundle.manifestPath).yaml.data as Record<string, unknown>;
  const rawFs = (original.filesystem as Array<Record<string, unknown>> | undefined) ?? [];
  const kept: KeptGrant[] = m.filesystem.map((g, i) => ({ raw: rawFs[g.index]!, hostPath: b.paths.grants[i]?.path ?? g.path, access: g.access, recursive: g.recursive }));
  const host = o.host ?? probeHost();
  const arch = host.kernel.arch as Arch;
  if (!(arch in TABLES)) refuse(`no syscall table for ${host.kernel.arch}`, 'learn needs seccomp user notification on a supported arch');

  // ---- the observed run ----
  const exe = b.paths.exe?.path ?? m.workload.exe;
  const lb = loadManifestText(learningManifest(original, kept, { ...o, exe, cwd: m.workload.cwd }), b.bundle.dir, 'boundary.learn.yaml');
  // The learning run's own host ids (where bvisor has a range), as any run's.
  const own = perRunHost(host);
  let r: Awaited<ReturnType<typeof launchLinux>>;
  let plan: ReturnType<typeof admittedLinuxPlan>;
  try {
    plan = admittedLinuxPlan(lb, own.host, { cgroupParent: o.cgroupParent, root: null }, 'run');
    const capture = { stdout: relay('stdout', plan.launch!.outputBytes, o.relay), stderr: relay('stderr', plan.launch!.outputBytes, o.relay) };
    // Its workload holds the id too, from before it is released, should it outlive this process
    // (as a run's does).
    const holdWorkload = (c: { pid: number }): void => {
      if (!own.claim) return;
      const h = procHolder(c.pid);
      if (!h) throw new BvisorError('BV_LAUNCH_FAILED', `the learning run's workload (pid ${c.pid}) ended before it was released; it never ran`, { hint: 'run learn again' });
      own.claim.hold(h);
    };
    r = await launchLinux({ plan, host: own.host, runName: `learn-${randomUUID().slice(0, 8)}`, hostname: 'bvisor', secret: secretFromEnv(o.secretEnv), capture, dieWithParent: true, observe: LEARN_OBSERVE, beforeGo: holdWorkload });
  } finally {
    own.claim?.release();
  }
  const sd = r.seccompDenials;
  if (!sd || !sd.source.observed) {
    throw new BvisorError('BV_LEARN_NOT_OBSERVED', `the learning run could not be observed: ${sd?.source.notObserved ?? 'no seccomp listener'}`, { hint: 'learn needs seccomp user notification (Linux ≥ 5.0) and the errno syscall policy' });
  }
  const learned: LearnRun = { exitStatus: runExitStatus(r), denials: sd.items, runMs: r.runMs };
  const calls = namedCalls(sd.observed ?? [], arch);
  const interp = plan.launch?.workload.script ? (b.paths.exe?.interpreter ?? null) : null;
  if (interp) calls.unshift({ name: 'execve', pid: 0, args: [1n, 0n, 0n, 0n, 0n, 0n], strings: [interp, null, null, null, null, null], sockaddr: null, tNs: null });
  const proposal = propose({
    original,
    kept,
    exe,
    cwd: m.workload.cwd,
    calls,
    denials: sd.items,
    budgets: { memoryPeakBytes: r.readback.memoryPeak?.value ?? null, pidsPeak: r.readback.pidsPeak?.value ?? null, runMs: r.runMs },
    hostNetwork: o.network,
    lookup: hostLookup,
    rootLinks: hostRootLinks().map((l) => l.name),
    alsoBound: [exe, m.workload.cwd],
  });

  // ---- the check: the proposal, fully enforced, once ----
  const checkText = withCapture(proposal.text);
  const cb = loadManifestText(checkText, b.bundle.dir, 'boundary.proposed.yaml');
  let c: Awaited<ReturnType<typeof runLoaded>>;
  try {
    c = await runLoaded(cb, { id: null, root: null, cgroupParent: o.cgroupParent, secretEnv: o.secretEnv, ...(o.relay ? { relay: o.relay } : {}) });
  } catch (e) {
    // A proposal this host refuses (e.g. a write grant on a directory root owns) is not verified;
    // the proposal still stands for the user to edit.
    if (!(e instanceof BvisorError) || e.code !== 'BV_PLAN_REFUSED') throw e;
    const why = `the planner refused the proposal: ${(e.issues ?? []).map((i) => `${i.clause}: ${i.message}`).join('; ') || e.message}`;
    return { proposal, learned, check: { exitStatus: null, denials: [], runMs: 0, verified: false, why } };
  }
  const denials = c.report.body.denials?.items ?? [];
  const same = c.exitStatus === learned.exitStatus;
  const why = !same ? `exit status ${c.exitStatus} enforced, ${learned.exitStatus} observed` : denials.length ? `${denials.length} denial(s) in the enforced run` : null;
  return { proposal, learned, check: { exitStatus: c.exitStatus, denials, runMs: c.result.runMs, verified: why === null, why } };
}

function relay(name: 'stdout' | 'stderr', cap: number, r: RunRelay | undefined): { cap: number; onChunk?: (b: Buffer) => void } {
  const f = r?.[name];
  return { cap, ...(f ? { onChunk: f } : {}) };
}

/** The check run captures stdout and stderr as the learning run did (the proposal keeps the
 * bundle's own stdio). */
function withCapture(text: string): string {
  const doc = loadManifest(text, 'proposed boundary.yaml').yaml.data as Record<string, unknown>;
  doc.stdio = { ...((doc.stdio as Record<string, unknown> | undefined) ?? {}), stdout: 'capture', stderr: 'capture' };
  return new Document(doc).toString({ lineWidth: 0 });
}

/**
 * Writes the proposal to a file: never the bundle's own boundary.yaml, never through a symlink,
 * replaced whole (a temp file beside it, then rename).
 */
export function writeProposal(file: string, text: string, bundle: string, force: boolean): string {
  const target = resolve(file);
  const own = [join(resolve(bundle), 'boundary.yaml')];
  try {
    own.push(join(realpathSync.native(resolve(bundle)), 'boundary.yaml'));
  } catch {
    // a tar bundle: its manifest is inside the archive
  }
  let real = target;
  try {
    real = join(realpathSync.native(dirname(target)), basename(target));
  } catch {
    throw new BvisorError('BV_IO', `write ${target}: its directory does not exist`, { hint: 'pass -o with an existing directory' });
  }
  if (own.includes(target) || own.includes(real)) throw new BvisorError('BV_LEARN_OUTPUT', `${file} is the bundle's own boundary.yaml; learn never overwrites it`, { hint: 'write the proposal beside it (-o boundary.learned.yaml) and compare' });
  if (existsSync(real)) {
    const st = lstatSync(real);
    if (!st.isFile()) throw new BvisorError('BV_LEARN_OUTPUT', `${file} exists and is not a regular file`, { hint: 'choose another -o path' });
    if (!force) throw new BvisorError('BV_LEARN_OUTPUT', `${file} exists`, { hint: 'pass --force to replace it, or choose another -o path' });
  }
  const tmp = `${real}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { flag: 'wx', mode: 0o644 });
  renameSync(tmp, real);
  return real;
}
