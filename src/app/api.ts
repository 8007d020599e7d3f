// The programmatic API for Node programs that launch many short workloads. Host facts are
// probed once per process (they do not change under a running program; pass refreshHost to
// re-probe). Secrets come only from options.secrets, descriptors only from options.fds.
import { resolve } from 'node:path';
import type { Denials, HostFacts, SealedReport } from '../contract/generated/types.js';
import { loadBundle, loadManifestText, openBundle, loadOpened, type LoadedBundle } from '../host/bundle.js';
import type { Plan } from '../contract/generated/types.js';
import type { NormalManifest } from '../core/manifest.js';
import type { PlanPaths } from '../core/features.js';
import { probeHost } from '../host/facts.js';
import { perRunIds } from '../core/host-view.js';
import { BvisorError, withCleanupAsync } from '../contract/errors.js';
import { runLoaded, admittedLinuxPlan, abortedError, type RunOptions } from './run.js';
import { secretVar } from '../core/secrets.js';
import { apiHandedFds } from '../host/fds.js';
import { loadJournalKey } from '../host/journal-store.js';
export { closeSpares } from './wasm.js';
import { commitOutputs as commitStaged, discardOutputs as discardStaged, journalSink, type Disposition } from './outputs.js';
import { sealedReportFor } from './report.js';
import { checkStateRoot } from '../host/state-root.js';
import { isDirectory } from '../host/lookup.js';
export type { Disposition } from './outputs.js';

export interface RunConfinedOptions {
  /** State root for the journal (and the container's directory when id is set). Default: none. */
  root?: string | null;
  id?: string | null;
  cgroupParent?: string | null;
  /** Secret values by name. A manifest may reference these and no others (default: none). */
  secrets?: Record<string, string>;
  /** Descriptors of yours to hand to the workload; a manifest's fds must be among them. */
  fds?: number[];
  refreshHost?: boolean;
  /** Key file of a keyed journal under root (0600, outside the root; see docs/journal.md). */
  journalKey?: string | null;
  /**
   * wasm workloads: keep a confined runner started ahead of time for the next run with the same
   * kind of boundary, hiding Node's start-up (about 50 ms). Call closeSpares() before exiting.
   * Only for runs without a root (with one, the option has no effect): such a run is journaled,
   * and its start record names its runner's cgroup leaves under the run's own name, for recovery
   * to find; a runner started for no run yet has no such name. Nor where each launch takes host
   * ids of its own (a `bvisor` range in /etc/subuid): a spare's would not be its run's.
   */
  spare?: boolean;
  /** Observe seccomp denials (default true). Off, the filter denies the same calls and the
   * result's denials say seccomp was not observed. */
  observeDenials?: boolean;
  /** Read landlock's denials from the kernel's audit records where the host emits them (default
   * true; docs/denials.md). Each observed run then adds a few lines to the host's audit log (the
   * reader joining, its barrier); off, landlock denies the same and logs nothing of the run. */
  landlockAudit?: boolean;
  /** Observe every path lookup and connect and explain the filesystem and network denials they
   * show (docs/denials.md); each such call then waits for bvisor, so it is off by default. */
  explain?: boolean;
  /**
   * Where the manifest's outputs are promoted (commit, and `commit: on-success`): a host
   * directory, resolved against the current directory, that replaces the manifest's outputs.to.
   * A bundle cannot name a host destination itself (commit writes as bvisor's user): its
   * outputs.to may only be a ./ path inside the bundle directory. Needs root and a manifest with
   * an outputs clause (BV_USAGE otherwise); inside or around root is refused (BV_OUTPUTS).
   */
  outputsTo?: string | null;
  /**
   * Ends the run when it aborts (AbortSignal.timeout(ms) for a deadline of the caller's own).
   * Aborted before the workload is released, nothing runs and the call rejects with BV_ABORTED
   * (`name` AbortError, `cause` the signal's reason). Aborted after, the workload's whole cgroup is
   * killed and the call resolves as for any end: the sealed report says `killed`, reason `abort`
   * (journaled under root), and exitStatus is 137 (unless the workload had ended on its own by
   * then: its own end stands). A `commit: on-success` is then not made: the outputs stay staged.
   */
  signal?: AbortSignal | null;
}

export interface ConfinedResult {
  report: SealedReport;
  /** The workload's status as `bvisor run` would exit with it (128+N for signal N, 124 timeout). */
  exitStatus: number;
  stdout: Buffer | null;
  stderr: Buffer | null;
  /**
   * What the boundary blocked (report.body.denials): each denial with its clause and the manifest
   * line that would allow it, and for each source whether it was watched (docs/denials.md).
   */
  denials: Denials;
}

let hostCache: HostFacts | null = null;

/**
 * Admitted plans of host-mode bundles, by bundle path and the options that enter a plan, with the
 * sha256 of the manifest each was made from. A program launches one boundary many times, and
 * loading and planning are a quarter of a warm launch (docs/performance.md). A cached plan is
 * used only while the manifest's bytes are the same; the launch still opens every path the plan
 * names and checks it against the plan's (dev, ino), so a path changed since planning is
 * BV_LAUNCH_CHANGED before anything runs, and that launch is planned afresh. Not for container
 * mode (a rootfs's entries enter the plan), OCI bundles, outputs (the plan names the run's own
 * quarantine), wasm, or runs with a state root (one attempt, one journal record).
 */
interface CachedPlan {
  manifestSha256: string;
  manifest: NormalManifest;
  paths: PlanPaths;
  plan: Plan;
}
const plans = new Map<string, CachedPlan>();
const PLANS_KEPT = 16;

function cacheable(l: LoadedBundle, plan: Plan): boolean {
  return plan.admitted && plan.backend === 'linux' && !l.manifest.oci && l.manifest.root === null && !l.manifest.outputs;
}

/** Runs a bundle directory, with its plan from the cache when the manifest is unchanged. */
async function runCached(path: string, opts: RunOptions): Promise<Awaited<ReturnType<typeof runLoaded>>> {
  const key = JSON.stringify([resolve(path), opts.cgroupParent, [...(opts.secrets ?? [])].sort(), opts.fds ?? []]);
  const opened = openBundle(path);
  const hit = plans.get(key);
  if (hit && hit.manifestSha256 === opened.manifestSha256) {
    opened.releaseFd();
    try {
      return await runLoaded({ bundle: opened, manifest: hit.manifest, paths: hit.paths }, { ...opts, plan: hit.plan });
    } catch (e) {
      if (!(e instanceof BvisorError && e.code === 'BV_LAUNCH_CHANGED')) throw e;
      plans.delete(key); // a path moved since planning: nothing ran; plan again below
    } finally {
      opened.cleanup();
    }
    return runCached(path, opts);
  }
  const loaded = loadOpened(opened, opened.shown);
  try {
    const plan = admittedLinuxPlan(loaded, opts.host!, opts, 'run', true);
    if (cacheable(loaded, plan)) {
      if (plans.size >= PLANS_KEPT) plans.delete(plans.keys().next().value!);
      plans.set(key, { manifestSha256: opened.manifestSha256, manifest: loaded.manifest, paths: loaded.paths, plan });
    }
    return await runLoaded(loaded, { ...opts, plan });
  } finally {
    loaded.bundle.cleanup();
  }
}

export async function runConfined(bundle: string | { manifest: string; dir: string }, options: RunConfinedOptions = {}): Promise<ConfinedResult> {
  if (options.outputsTo && !options.root) throw new BvisorError('BV_USAGE', 'outputsTo needs a root: outputs are staged and journaled there', { hint: 'pass root as well, or drop outputsTo' });
  if (options.journalKey && !options.root) throw new BvisorError('BV_USAGE', 'journalKey needs a root: the journal it keys lives there', { hint: 'pass root as well, or drop journalKey' });
  // Before anything is made: the run listens on it, and tells an abort before the call apart.
  if (options.signal != null && !(options.signal instanceof AbortSignal)) throw new BvisorError('BV_USAGE', `signal: not an AbortSignal (${(options.signal as object)?.constructor?.name ?? typeof options.signal})`, { hint: "pass an AbortController's signal, or AbortSignal.timeout(ms)" });
  if (options.signal?.aborted) throw abortedError(options.signal);
  // The root as the CLI checks it before any command reads it (a real directory of ours no one
  // else can write), before anything is made in it: /proc/self as a root sent Node's recursive
  // mkdir into a loop that froze the caller.
  if (options.root) checkStateRoot(resolve(options.root));
  if (!hostCache || options.refreshHost) {
    hostCache = probeHost();
    plans.clear(); // plans were made for the host as it was
  }
  // Secrets travel only from the caller's map, never from bvisor's environment.
  const secretEnv: NodeJS.ProcessEnv = {};
  const byVar = new Map<string, string>();
  for (const [k, v] of Object.entries(options.secrets ?? {})) {
    // Named, never shown: the value may be anything the caller holds.
    if (typeof v !== 'string') throw new BvisorError('BV_SECRET_INVALID', `secrets["${k}"]: the value is not a string (${v === null ? 'null' : typeof v})`, { hint: 'pass each secret as a string' });
    // Secret names map to one variable each (api-token and API_TOKEN alike): two that meet would
    // hand one's value to a manifest that asked for the other.
    const other = byVar.get(secretVar(k));
    if (other !== undefined) throw new BvisorError('BV_USAGE', `secrets "${other}" and "${k}" are the same secret to bvisor (${secretVar(k)}): a manifest asking for one would get the other's value`, { hint: 'pass each secret once, under the name the manifest uses' });
    byVar.set(secretVar(k), k);
    secretEnv[secretVar(k)] = v;
  }
  const opts: RunOptions = { id: options.id ?? null, root: options.root ? resolve(options.root) : null, cgroupParent: options.cgroupParent ?? null, secretEnv, secrets: Object.keys(options.secrets ?? {}), fds: apiHandedFds(options.fds ?? []), host: hostCache, spare: options.spare === true, journalKey: options.journalKey && options.root ? loadJournalKey(options.journalKey, resolve(options.root)) : null, ...(options.observeDenials === false ? { observeDenials: false } : {}), ...(options.landlockAudit === false ? { landlockAudit: false } : {}), ...(options.explain ? { explain: true } : {}), ...(options.outputsTo ? { outputsTo: resolve(options.outputsTo) } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  let out: Awaited<ReturnType<typeof runLoaded>>;
  // A bundle directory (an archive is extracted afresh for each run: its plan names that copy);
  // what is not one goes the normal path, which reports it.
  // Not where each run has ids of its own: a plan names its ids, so none is reused.
  if (typeof bundle === 'string' && opts.root === null && !perRunIds(hostCache) && isDirectory(resolve(bundle))) out = await runCached(bundle, opts);
  else {
    const loaded: LoadedBundle = typeof bundle === 'string' ? loadBundle(bundle) : loadManifestText(bundle.manifest, bundle.dir);
    out = await withCleanupAsync(() => runLoaded(loaded, opts), loaded.bundle.cleanup);
  }
  return { report: out.report, exitStatus: out.exitStatus, stdout: out.stdout, stderr: out.stderr, denials: out.report.body.denials! };
}

/**
 * The host disposes (API): promote or drop what a run staged, by its sealed report (the one
 * runConfined returned, or the journal's under `root`). Each step is journaled under `root`.
 * Synchronous, as the commit itself is: while another process disposes of the same run, the
 * call waits for it (up to 30 s, blocking this thread), then finds the quarantine gone
 * (BV_OUTPUTS_NOT_FOUND) or goes on with what is left.
 */
export function commitOutputs(root: string, report: SealedReport | string, o: { to?: string; artifacts?: readonly string[]; durable?: boolean } = {}): Disposition {
  checkStateRoot(resolve(root));
  const r = typeof report === 'string' ? sealedReportFor(resolve(root), report) : report;
  return commitStaged(resolve(root), r, { to: o.to ?? null, only: o.artifacts ?? [], durable: o.durable ?? false }, journalSink(resolve(root), null));
}

export function discardOutputs(root: string, report: SealedReport | string): Disposition {
  checkStateRoot(resolve(root));
  const r = typeof report === 'string' ? sealedReportFor(resolve(root), report) : report;
  return discardStaged(resolve(root), r, journalSink(resolve(root), null));
}
