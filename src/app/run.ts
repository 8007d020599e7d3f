// bvisor run and the runConfined API: plan, launch, wait, seal, journal, clean up. Nothing is
// created before the planner admits the manifest; everything created is removed on any failure.
import { EXPLAIN_OBSERVE } from '../core/explain.js';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { machine } from 'node:os';
import type { HostFacts, Plan, ReportBody, SealedReport } from '../contract/generated/types.js';
import { BvisorError, undone, withCleanupAsync, type Issue } from '../contract/errors.js';
import { loadBundle, type LoadedBundle } from '../host/bundle.js';
import { probeHost } from '../host/facts.js';
import { perRunHost, procHolder, type IdClaim } from '../host/id-claims.js';
import { perRunIds } from '../core/host-view.js';
import { sha256Hex, streamHoldsSecret } from '../host/hash.js';
import { plan as runPlanner } from '../core/planner.js';
import { sealReport } from '../core/report.js';
import { attributeSignals } from '../core/sent-signals.js';
import { checkedId, hostnameFor } from '../core/ids.js';
import { secretVar } from '../core/secrets.js';
import { redactDenials } from '../core/denials.js';
import { redactionValues } from '../core/redact.js';
import { appendRecoveryYielding, appendReportYielding, appendStartedYielding, type JournalKey } from '../host/journal-store.js';
import { procRef } from '../host/proc.js';
import { launchLinux, type LaunchHooks, type LinuxRunResult, type RunControl } from '../backends/linux/launcher.js';
import { relaySink, type RunRelay } from './relay.js';
import { linuxReportBody, runExitStatus, denialsOf } from './report.js';
import { prepareOutputs, removeQuarantine, stageArtifactsYielding, commitOutputsYielding, journalSink } from './outputs.js';
import { snapshotGrants, grantDeltasYielding, withoutDeltaLists, type Snapshot } from './fsdelta.js';
import { runWasm } from './wasm.js';
import { wasmReportBody, wasmExitStatus, wasiSourceOf } from './wasm-report.js';
import { defaultCacheDir } from '../host/wasm-cache.js';
import { packageRoot } from '../backends/linux/ffi/shim.js';
import { idBlock, type Reserved } from '../core/features.js';
import { runNameOf, signalsSentTo } from './lifecycle.js';
import { registerRun, type RunRegistration } from './create.js';
import { checkedPidFile, removePidFile, writePidFile } from './pid-file.js';
import { ensureDirectory, prepareStateRootYielding, type StateRootLease } from '../host/state-root.js';
import { fault, thenFault } from '../host/faults.js';
import { afterNextPoll, onAbort } from '../host/timers.js';
import { bundleLacks, configRefusals, everyHostRefusals, hostWithEverything } from '../core/every-host.js';
import type { RunSignalRelay } from './sig-proxy.js';

/** What the caller hands to a run: which of its secrets, which of its descriptors. */
export interface Handover {
  /** Secret names this run may receive (--secret NAME; the API's secrets); no others (default). */
  secrets?: readonly string[];
  /** Descriptors handed over for the workload (--preserve-fds; the API's fds); none by default. */
  fds?: readonly number[];
}

export interface RunOptions extends Handover {
  /** Container id (CLI) or null (API: a random run id). */
  id: string | null;
  /** State root: journal and the container's directory. null: no journal (API default). */
  root: string | null;
  cgroupParent: string | null;
  /** Where secret values come from: BVISOR_SECRET_<NAME> in this environment. */
  secretEnv: NodeJS.ProcessEnv;
  /** Relay captured bytes as they arrive (CLI run). */
  relay?: RunRelay;
  /** Lines about bvisor's own long work (a large module instrumented), for a person watching: the
   * CLI passes one on a terminal only. */
  progress?: (line: string) => void;
  /** Reuse host facts (API: probed once per process). */
  host?: HostFacts;
  hooks?: LaunchHooks;
  /** wasm: keep a pre-started runner for the next run of the same kind (API). */
  spare?: boolean;
  /** The key of a keyed journal (--journal-key; the API's journalKey). */
  journalKey?: JournalKey | null;
  /** Observe seccomp denials (default true): the filter denies the same calls either way. */
  observeDenials?: boolean;
  /** Read landlock's denials from the kernel's audit records where the host emits them (default
   * true; docs/denials.md). Each observed run then adds a few lines to the host's audit log (the
   * reader joining, its barrier); off, landlock denies the same and logs nothing of the run. */
  landlockAudit?: boolean;
  /** Observe every path lookup and connect (seccomp observe mode) and explain the filesystem and
   * network denials they show (core/explain.ts); each observed call costs a round trip to the
   * holder, so it is asked for, not the default. */
  explain?: boolean;
  /** An admitted plan made earlier from this very bundle and these options (the API's plan
   * cache); the launch still checks every path it names against the plan's identities. */
  plan?: Plan;
  /** Where outputs go, as the caller says (--outputs-to, the API's outputsTo): replaces the
   * manifest's outputs.to (a bundle names no host destination: app/outputs.ts). */
  outputsTo?: string | null;
  /** The caller's end of the run (the API's signal): fired before the workload is released,
   * nothing runs (BV_ABORTED); after, the workload's cgroup is killed and the report says
   * `killed`, reason `abort`. */
  signal?: AbortSignal | null;
  /** Where the workload's pid is written before it is released (run --pid-file); a file that
   * cannot be written fails the run with nothing run. */
  pidFile?: string | null;
  /** Keep the entry after the run, stopped, with its sealed report (run --keep): state, list and
   * report read it, delete removes it. Needs an id and a root. */
  keep?: boolean;
  /** The caller's signals, sent on to the workload (run --sig-proxy; app/sig-proxy.ts): opened
   * once the workload has exec'd, closed when it has ended; the workload gets a session of its own.
   * A wasm workload takes none (WASI preview 1 has no signals): refused, nothing run. */
  signalsForwarded?: RunSignalRelay;
}

/** The error of a run its caller aborted before anything ran. Named AbortError as Node's own
 * (fs, timers, child_process) are, so a caller's usual check finds it; its code is ours. */
export function abortedError(signal: AbortSignal): BvisorError {
  const e = new BvisorError('BV_ABORTED', 'the run was aborted by its caller before its workload was released; nothing ran', { cause: signal.reason, hint: 'run it again with a signal that has not aborted (its reason is the cause)' });
  e.name = 'AbortError';
  return e;
}

export interface RunOutcome {
  report: SealedReport;
  plan: Plan;
  result: LinuxRunResult;
  exitStatus: number;
  stdout: Buffer | null;
  stderr: Buffer | null;
}

export function secretFromEnv(env: NodeJS.ProcessEnv): (name: string) => string | undefined {
  return (name) => env[secretVar(name)];
}

/**
 * bvisor's own directories, physical, as far as they exist: the state root (other runs' state,
 * reports, the journal), the wasm cache (trusted code), and the install (read-only to workloads).
 */
export function reservedPaths(root: string | null): Reserved[] {
  const out: Reserved[] = [];
  const add = (path: string, what: Reserved['what'], make: (() => void) | null): void => {
    try {
      // Made (0700, as they would be later) before planning, so a grant that contains them
      // always gets the mask, not only once something has created them.
      make?.();
      out.push({ path: realpathSync.native(path), what });
    } catch {
      // cannot exist here (a read-only parent): then no workload can create it either
    }
  };
  // The root only where its parents are trusted (ensureDirectory checks before it makes): an
  // attack made root's directories through another user's symlink here, before the refusal. A
  // root refused (or that cannot be made) refuses here what would be planned under it: the run,
  // the create or the plan (which exited 0 without the root's mask, where run refused).
  if (root !== null) {
    ensureDirectory(root);
    out.push({ path: realpathSync.native(root), what: 'state root' });
  }
  const cache = defaultCacheDir(root);
  add(cache, 'wasm cache', () => {
    try {
      mkdirSync(cache, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  });
  add(packageRoot(), 'bvisor install', null);
  return out;
}

export interface PlanOptions extends Handover {
  cgroupParent: string | null;
  root: string | null;
}

export function planLoaded(b: LoadedBundle, host: HostFacts, o: PlanOptions, reserved: Reserved[] = reservedPaths(o.root)): Plan {
  // An OCI bundle passes exactly the descriptors the engine hands over (--preserve-fds).
  const manifest = b.manifest.oci ? { ...b.manifest, fds: [...(o.fds ?? [])] } : b.manifest;
  return runPlanner({ manifest, host, paths: b.paths, cgroupParent: o.cgroupParent, reserved, secrets: o.secrets ?? [], handedFds: o.fds ?? [] }, sha256Hex);
}

/** A plan's refusals as issues, each where the manifest writes its clause (file:line:col) if it does. */
export function refusalIssues(plan: Pick<Plan, 'refusals'>, b: Pick<LoadedBundle, 'where'>): Issue[] {
  return plan.refusals.map((r) => ({ code: r.code as never, clause: r.clause, message: r.reason, hint: r.hint, ...(b.where?.(r.clause) ?? {}) }));
}

/** The refusals the bundle earns on every host: those validate makes (core/every-host.ts). */
export function everyHostRefused(b: LoadedBundle): Plan['refusals'] {
  const plan = planLoaded(b, hostWithEverything(machine() === 'aarch64' ? 'aarch64' : 'x86_64'), { cgroupParent: null, root: null }, []);
  const refused = new Set([...everyHostRefusals(plan), ...bundleLacks(plan, b.manifest), ...configRefusals(plan, b.manifest)]);
  return plan.refusals.filter((r) => refused.has(r));
}

/**
 * "N clause(s) refused on this host", unless some would be refused on every host: a user who
 * reads "on this host" looks for another host, where the manifest itself is what to change.
 */
export function refusedHeadline(plan: Pick<Plan, 'refusals'>, b: LoadedBundle): string {
  const n = plan.refusals.length;
  const key = (r: Plan['refusals'][number]): string => `${r.code}\0${r.clause}`;
  // Only words: the refusals are this plan's whatever they say. A planner that failed against
  // the host with everything (a bug validate would show) must not put its error in their place.
  let every: Set<string>;
  try {
    every = new Set(everyHostRefused(b).map(key));
  } catch {
    every = new Set();
  }
  const k = plan.refusals.filter((r) => every.has(key(r))).length;
  if (k === 0) return `${n} clause(s) refused on this host`;
  if (k === n) return `${n} clause(s) refused, here as on any host`;
  return `${n} clause(s) refused: ${n - k} on this host, ${k} on any host`;
}

/** The plan, admitted and for a backend that can launch now; else every refusal, as one error. */
export function admittedLinuxPlan(b: LoadedBundle, host: HostFacts, o: PlanOptions, nothing: 'run' | 'created', allowWasm = false): Plan {
  const plan = planLoaded(b, host, o);
  if (!plan.admitted) {
    throw new BvisorError('BV_PLAN_REFUSED', `${refusedHeadline(plan, b)}; nothing was ${nothing}`, {
      issues: refusalIssues(plan, b),
      // For a caller that reads one hint (--json's error.hint, the API); shown under its issue.
      hint: plan.refusals[0]?.hint,
    });
  }
  if (plan.backend !== 'linux' && !allowWasm) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', 'wasm workloads run with bvisor run (or runConfined); create/start for them is not implemented yet', { hint: `nothing was ${nothing}` });
  return plan;
}

export async function runLoaded(b: LoadedBundle, opts: RunOptions): Promise<RunOutcome> {
  if (opts.id !== null) checkedId(opts.id);
  if (opts.keep && (opts.id === null || opts.root === null)) throw new BvisorError('BV_USAGE', 'keep needs an id and a state root: the kept entry is named by its id under the root; nothing was run', { hint: 'pass id and root (bvisor run always has both)' });
  if (opts.signal?.aborted) throw abortedError(opts.signal);
  const probed = opts.host ?? probeHost();
  // A plan made beforehand names the ids it was made with: only where every launch shares them.
  if (opts.plan && perRunIds(probed)) throw new BvisorError('BV_INTERNAL', 'a plan made before its run was given ids of its own');
  // This run's own host ids (where bvisor has a range), held until its workload is gone: this
  // process holds the claim while it runs, waits for and tears down the workload.
  const { host, claim } = opts.plan ? { host: probed, claim: null } : perRunHost(probed, undefined, idBlock({ host: probed, manifest: b.manifest, paths: b.paths })?.count ?? 1);
  try {
    return await runAs(b, opts, host, claim);
  } finally {
    claim?.release();
  }
}

async function runAs(b: LoadedBundle, opts: RunOptions, host: HostFacts, claim: IdClaim | null): Promise<RunOutcome> {
  const signal = opts.signal ?? null;
  const createdAt = new Date();
  const runId = randomUUID();
  // outputs: the quarantine exists before planning, so the plan names it (and checks it).
  if (b.manifest.outputs && opts.root === null) throw new BvisorError('BV_USAGE', 'outputs need a state root (the quarantine and its report live there); nothing was run', { hint: 'pass a root (bvisor run always has one; the API: root)' });
  const quarantine = opts.root !== null ? prepareOutputs(opts.root, runId, b.manifest, b.paths, host, b.bundle, opts.outputsTo ?? null) : null;
  let plan: Plan;
  try {
    plan = opts.plan ?? admittedLinuxPlan(b, host, opts, 'run', true);
    // OCI hooks have their moments in create, start and delete; run has none to offer them.
    const hooks = plan.launch?.oci?.hooks ?? {};
    if (Object.keys(hooks).length) throw new BvisorError('BV_USAGE', `config.json has ${Object.keys(hooks).map((k) => `hooks.${k}`).join(', ')}, which run with create, start and delete; nothing was run`, { hint: 'use bvisor create, start and delete (as engines do), or remove the hooks' });
    if (opts.signalsForwarded && plan.backend === 'wasm') throw new BvisorError('BV_USAGE', '--sig-proxy sends signals on to the workload, and a wasm module takes none (WASI preview 1 has no signals); nothing was run', { hint: 'run it without --sig-proxy: a stop signal then ends the run and seals its report' });
  } catch (e) {
    removeQuarantine(quarantine);
    throw e;
  }
  const key = opts.journalKey ?? null;
  // Until its start record, a run's quarantine is only this process's: a failure before it (a
  // full root, an id in use, a refused launch) removes it, as no report will list it and no
  // recovery would while this process lives (its maker record names it: a server's API runs).
  let started = false;
  const pidFile = opts.pidFile ? checkedPidFile(opts.pidFile, opts.root) : null;
  let pidFileWritten = false;
  // Set once the report is journaled: from then on a kept run's entry stays, stopped.
  let journaled = false;
  let lease: StateRootLease | null = null;
  let reg: RunRegistration | null = null;
  // The caller's abort ends a released workload through its launch's control; before the
  // release, the last check before the start record refuses the launch instead.
  let control: RunControl | null = null;
  const stopListening = signal ? onAbort(signal, () => control?.abort()) : null;
  /** Until the release: the caller's stop refuses the launch. */
  const stillWanted = (): void => {
    if (signal?.aborted) throw abortedError(signal);
  };
  const released = (c: RunControl): void => {
    control = c;
    if (signal?.aborted) return c.abort();
    // run --sig-proxy: from here the caller's signals are the workload's, while it lives.
    const workload = opts.signalsForwarded && reg ? procRef(c.pid) : null;
    if (workload) opts.signalsForwarded!.open({ dir: reg!.dir, id: opts.id!, runId, workload });
  };
  try {
    // Before anything runs, the state root must take this run's writes: space is reserved until
    // the journal append, and a damaged journal or a wrong key is an error now, not after.
    // A wait for the journal's lock (another command appending, a long verify) hears a stop.
    lease = opts.root !== null ? await prepareStateRootYielding(opts.root, { key, stillWanted }) : null;
    // With an id and a root, the run is registered like a container while it runs.
    if (opts.root !== null && opts.id !== null) reg = registerRun(opts.root, opts.id, { runId, bundle: b.bundle.source, manifestSha256: b.bundle.manifestSha256, plan });
    // Its entry holds the id as a container's does: one kept (run --keep) until its delete.
    if (reg) claim?.hold({ container: { dir: reg.dir, runId } });
    fault('run:after-state');
    const runName = runNameOf(opts.id, runId);
    const r = reg;
    // The wasm rewriter's leaves are recorded too (app/instrument.ts), without the runner's fault point.
    const recordLeaf = r
      ? (leaf: string): (() => void) => {
          r.addCgroup(leaf);
          return () => r.removeCgroup(leaf);
        }
      : undefined;
    const beforeCgroup = recordLeaf ? thenFault(recordLeaf, 'run:before-cgroup') : undefined;
    // The workload's pid and start time, durable before it can fill the root: the wasm runner's
    // at its exec (its guest waits for the job), a Linux workload's before its go byte. Once
    // released, nothing but the report is written to the root, on the space held for it.
    const onExec = r
      ? (ctl: { pid: number }): void => {
          if (plan.backend === 'wasm') r.setPid(ctl.pid);
          fault('run:running');
        }
      : undefined;
    // The start record (docs/journal.md#recovery), appended and fsync'd before the workload is
    // released: the go byte (Linux), the job handed to the runner (wasm). A throw: never released.
    const recordStart = async (pid: number | null, cgroupDirs: string[]): Promise<void> => {
      stillWanted();
      // The workload (pid 1 of its namespace, which outlives all it starts) holds this run's id
      // too, before it is released: should it outlive this process (a workload may clear its
      // parent-death signal), its id is not the next launch's while it runs.
      if (claim && pid !== null) {
        const h = procHolder(pid);
        if (!h) throw new BvisorError('BV_LAUNCH_FAILED', `the workload (pid ${pid}) ended before it was released; it never ran`, { hint: 'run it again' });
        claim.hold(h);
      }
      if (pidFile && pid !== null) {
        writePidFile(pidFile, pid);
        pidFileWritten = true;
      }
      if (opts.root === null) return;
      fault('run:before-start-record');
      await appendStartedYielding(opts.root, { runId, containerId: opts.id, releasedBy: 'run', backend: plan.backend === 'wasm' ? 'wasm' : 'linux', planHash: plan.planHash!, stateRoot: opts.root, cgroupDirs, ociLeaf: plan.launch?.oci?.cgroupLeaf ?? null, supervisor: procRef(process.pid), monitor: null, workload: pid === null ? null : procRef(pid) }, {
        key,
        // A stop while another process holds the journal's lock ends the wait: nothing runs.
        stillWanted,
        // Under the lock, whose wait may have been long: asked again; then `started` is set
        // before the append, as a start record that may be on disk hands the quarantine to the
        // attempt (recovery decides its fate), whatever the append then says.
        beforeAppend: () => {
          stillWanted();
          started = true;
        },
      });
      fault('run:after-start-record');
    };
    // The workload's secret values, so that no name it made after one (its outputs, its changes
    // to the read-write grants) reaches the report.
    const secret = secretFromEnv(opts.secretEnv);
    const secretValues = redactionValues(plan.launch?.env ?? [], secret);
    /** A registered run's end by a signal bvisor kill (or delete -f) sent, which recorded it
     * before sending: listed, and the outcome said as a kill (true: the denials follow it). */
    const killedBySignalSent = (body: ReportBody): boolean => (reg ? attributeSignals(body, signalsSentTo(reg.dir)) : false);
    /** Seals the body, with what the workload did to the read-write grants since `before`, and
     * keeps the report: the registration's files, then the journal's line. */
    const finish = async (body: ReportBody, before: Snapshot, kept: Kept): Promise<SealedReport> => {
      withholdStreamHashes(body, kept, secretValues);
      const fsDelta = await grantDeltasYielding(before, secretValues, signal ?? undefined);
      if (fsDelta.length) body.fsDelta = fsDelta;
      if (body.denials) body.denials = redactDenials(body.denials, secretValues);
      let report = sealReport(body, sha256Hex);
      fault('run:before-seal');
      // The writes the reservation was held for begin here: a registered run's report state and
      // report.json, then the journal's line. Given back first, so that a root the workload
      // filled still takes them (appendReportYielding gives it back itself, under the journal's lock,
      // when there is no registration to write).
      if (reg) lease?.release();
      const keep = async (r: SealedReport): Promise<void> => {
        reg?.saveReport(r);
        if (opts.root !== null) await appendReportYielding(opts.root, r, { key, reservation: lease });
      };
      try {
        await keep(report);
      } catch (e) {
        // The reservation holds a report of ordinary size; the listing of what the workload did
        // to its read-write grants has no such bound (thousands of files). A root with no room
        // for it still takes the report without the lists, which says why they are missing and
        // how long they were, rather than losing the report of a run that has happened.
        const errno = noRoomFor(e);
        const smaller = errno ? withoutDeltaLists(report.body, errno) : null;
        if (!smaller) throw e;
        report = sealReport(smaller, sha256Hex);
        await keep(report);
      }
      journaled = true;
      fault('run:after-journal');
      return report;
    };
    // What the read-write grants (a wasm guest's preopens) hold before the workload is released
    // or the guest gets its job: the delta's "before".
    const before = snapshotGrants(plan.launch!);
    // Aborted while the state root was prepared: no cgroup or process made for nothing (the
    // check before the start record still closes the window after this one).
    if (signal?.aborted) throw abortedError(signal);
    if (plan.backend === 'wasm') {
      // A spare runner is started for no run, under no run's name: only a run that records
      // nothing of its runner may use one. With a root the start record names the runner's
      // leaves under this run's name (recovery finds them by it), and with an id too the
      // registration records them as they are made.
      const w = await runWasm(b, plan, host, { spare: opts.spare === true && opts.root === null && !perRunIds(host), cacheDir: defaultCacheDir(opts.root), id: opts.id, runName, secret, cgroupParent: opts.cgroupParent, reserved: reservedPaths(opts.root), ...(beforeCgroup ? { beforeCgroup } : {}), ...(recordLeaf ? { recordLeaf } : {}), ...(onExec ? { onExec } : {}), beforeRelease: (runner) => recordStart(runner.pid, runner.cgroupDirs), onReleased: released, ...(opts.relay ? { relay: opts.relay } : {}), ...(opts.hooks ? { hooks: opts.hooks } : {}), ...(signal ? { stop: { signal, error: () => abortedError(signal) } } : {}), ...(opts.progress ? { progress: opts.progress } : {}) });
      const body = wasmReportBody({ runId, containerId: opts.id, bundle: b.bundle.source, manifestSha256: b.bundle.manifestSha256, plan, host, createdAt }, w);
      if (killedBySignalSent(body)) body.denials = denialsOf(body, plan, w.result, wasiSourceOf(plan, w.outcome));
      const report = await finish(body, before, w.result.streams);
      return { report, plan, result: w.result, exitStatus: wasmExitStatus(w), stdout: w.result.streams.stdout.kept, stderr: w.result.streams.stderr.kept };
    }
    const result = await launchLinux({
      plan,
      host,
      runName,
      hostname: opts.id ? hostnameFor(opts.id) : 'bvisor',
      secret,
      capture: { stdout: relaySink('stdout', plan.launch!.outputBytes, opts.relay), stderr: relaySink('stderr', plan.launch!.outputBytes, opts.relay) },
      dieWithParent: true,
      ...(opts.signalsForwarded ? { ownSession: true } : {}),
      ...(beforeCgroup ? { beforeCgroup } : {}),
      onExec: (c) => {
        onExec?.(c);
        released(c);
      },
      beforeGo: (c) => {
        r?.setPid(c.pid);
        return recordStart(c.pid, c.cgroupDirs);
      },
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
      ...(opts.observeDenials === false ? { observeDenials: false } : {}),
      ...(opts.landlockAudit === false ? { landlockAudit: false } : {}),
      ...(opts.explain ? { observe: [...EXPLAIN_OBSERVE] } : {}),
    });
    // The workload has ended: a caller's signal from here stops the run (staging, the delta, the seal).
    opts.signalsForwarded?.close();
    const body = linuxReportBody({ runId, containerId: opts.id, bundle: b.bundle.source, manifestSha256: b.bundle.manifestSha256, plan, host, createdAt }, result);
    if (killedBySignalSent(body)) body.denials = denialsOf(body, plan, result);
    // The run is over (its cgroup was emptied): the quarantine is frozen, then hashed.
    fault('run:before-staging');
    const artifacts = await stageArtifactsYielding(plan, secretValues, signal ?? undefined);
    if (artifacts) body.artifacts = artifacts;
    const report = await finish(body, before, result.streams);
    // on-success: only after the seal, and only for a completed run that exited 0.
    // Not after the caller said stop (the workload may have completed first): the outputs stay
    // staged for the caller's commit or discard. Staging and the delta end early on a stop; the
    // seal is synchronous: a stop that came during it is heard once the loop turns.
    if (signal && artifacts?.commit === 'on-success') await afterNextPoll();
    if (opts.root !== null && artifacts && artifacts.commit === 'on-success' && report.body.outcome.status === 'completed' && report.body.outcome.exitCode === 0 && !signal?.aborted) {
      // A stop heard while the commit's first entry waits for the journal's lock (another
      // command holding it) ends the commit there, before anything is decided or moved.
      const stop = new Error('the run was told to stop before its on-success commit was decided');
      const decidedWanted = (): void => {
        if (signal?.aborted) throw stop;
      };
      try {
        await commitOutputsYielding(opts.root, report, { to: null, durable: plan.launch?.outputs?.durability === 'durable' }, journalSink(opts.root, key, decidedWanted));
      } catch (e) {
        if (e !== stop) throw e;
      }
    }
    return { report, plan, result, exitStatus: runExitStatus(result), stdout: result.streams.stdout.kept, stderr: result.streams.stderr.kept };
  } catch (e) {
    // Nothing ran (or its program never did): a pid file would name no process of ours.
    if (pidFileWritten && (!started || neverRan(e))) removePidFile(pidFile);
    if (!started) removeQuarantine(quarantine);
    else if (opts.root !== null && neverRan(e)) {
      // Released, but the child's own failure record says its program never ran (exec failed:
      // ENOEXEC, E2BIG…): the attempt is closed now as recovery would close it once this process
      // is gone (rolled back, its empty quarantine discarded), not left "running" for as long as
      // the caller lives. What cannot be done is said beside the launch's error.
      // The record's wait for the journal's lock turns the loop, as the other records of a run do.
      try {
        removeQuarantine(quarantine);
        const left = quarantine !== null && existsSync(quarantine.dir);
        const actions = quarantine ? [{ do: 'discard-quarantine' as const, target: quarantine.dir, done: !left, error: left ? 'still there' : null }] : [];
        await appendRecoveryYielding(opts.root, { runId, containerId: opts.id, classification: 'rolled-back', reason: `its workload never ran: ${(e as Error).message}`.slice(0, 2000), actions }, { key });
      } catch (u) {
        throw undone(e, () => {
          throw u;
        });
      }
    }
    throw e;
  } finally {
    stopListening?.();
    opts.signalsForwarded?.close();
    if (opts.keep && journaled) reg?.retain();
    else reg?.release();
    lease?.release();
  }
}

type Kept = { [K in 'stdout' | 'stderr']: { kept: Uint8Array | null; truncated: boolean } };

/** A captured stream whose kept bytes hold one of the workload's secret values, or were cut while
 * it had some, has no hash in the report (null, as a stream not captured): a hash of `echo
 * $TOKEN`'s output, or of its first digits left by the cut, is a guess checked offline. The bytes
 * themselves go to the caller, as captured. */
function withholdStreamHashes(body: ReportBody, kept: Kept, secrets: readonly string[]): void {
  for (const name of ['stdout', 'stderr'] as const) if (body.streams[name].sha256 !== null && streamHoldsSecret(kept[name].kept, kept[name].truncated, secrets)) body.streams[name].sha256 = null;
}

/** A launch error from the child's own failure record after its release: its program never ran
 * (launcher.ts childFailure; the record is the child's, written before it could exec). */
function neverRan(e: unknown): boolean {
  return e instanceof BvisorError && (e.code === 'BV_LAUNCH_FAILED' || e.code === 'BV_CONSOLE_SOCKET') && typeof (e.detail as { stage?: unknown }).stage !== 'undefined';
}

export async function runBundle(bundlePath: string, opts: RunOptions): Promise<RunOutcome> {
  // The id first: a bad one is refused before a bundle archive is unpacked.
  if (opts.id !== null) checkedId(opts.id);
  const b = loadBundle(bundlePath, { manifestCacheRoot: opts.root });
  return withCleanupAsync(() => runLoaded(b, opts), b.bundle.cleanup);
}

/** ENOSPC or EDQUOT behind a failed write of the state root (a coded BV_IO names it in its
 * detail; a plain error carries it as its code), or null. */
function noRoomFor(e: unknown): string | null {
  const errno = e instanceof BvisorError ? (e.detail as { errno?: unknown } | undefined)?.errno : (e as NodeJS.ErrnoException)?.code;
  return errno === 'ENOSPC' || errno === 'EDQUOT' ? errno : null;
}
