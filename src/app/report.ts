// Assembles the report body of a Linux run from the plan and what the launcher observed.
import { explainDenials, MAX_EXPLAINED } from '../core/explain.js';
import { hostLookup } from '../host/lookup.js';
import type { Arch } from '../core/seccomp/compile.js';
import { namedCalls, type NotifyRecord } from '../core/seccomp/denials.js';
import type { ReportBody, Plan, HostFacts, Evidence, LaunchInputs, RlimitSetting, DenialSource } from '../contract/generated/types.js';
import type { LinuxRunResult, StreamFacts } from '../backends/linux/launcher.js';
import { endedByCpuRlimit, notObserved, rlimitOfClause, witness } from '../core/report.js';
import { assembleDenials, budgetDenials, budgetSource, landlockForContainerMode, landlockSource, WASM_FILESYSTEM_SOURCE, WASM_SECCOMP_SOURCE, type BudgetCounters, type SourceDenials } from '../core/denials.js';
import { signalName } from '../core/signals.js';
import type { SealedReport } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { journalPaths, newestEntries, newestEntry } from '../host/journal-store.js';

export interface ReportContext {
  runId: string;
  containerId: string | null;
  bundle: string;
  manifestSha256: string;
  plan: Plan;
  host: HostFacts;
  createdAt: Date;
}

export function outcomeOf(r: Pick<LinuxRunResult, 'timedOut' | 'cpuExceeded' | 'aborted' | 'oomKilled' | 'exitCode' | 'signal'>): ReportBody['outcome'] {
  const sig = r.signal === null ? null : signalName(r.signal);
  if (r.timedOut) return { status: 'timeout', reason: 'wall', exitCode: r.exitCode, signal: sig };
  if (r.cpuExceeded) return { status: 'killed', reason: 'cpu', exitCode: null, signal: sig };
  // The caller's end (the API's signal): killed like a budget's, its status that of the process.
  if (r.aborted) return { status: 'killed', reason: 'abort', exitCode: r.exitCode, signal: sig };
  if (r.oomKilled) return { status: 'killed', reason: 'oom', exitCode: null, signal: sig };
  if (r.signal !== null) return { status: 'failed', reason: 'signal', exitCode: null, signal: sig };
  return { status: r.exitCode === 0 ? 'completed' : 'failed', reason: 'exit', exitCode: r.exitCode, signal: null };
}

function stream(s: StreamFacts): ReportBody['streams']['stdout'] {
  return {
    mode: s.mode,
    bytes: s.bytes === null ? notObserved(s.mode === 'capture' ? 'the stream did not close in time' : `${s.mode} streams are not counted`) : s.bytes,
    sha256: s.sha256,
    truncated: s.truncated,
  };
}

export function linuxReportBody(ctx: ReportContext, r: LinuxRunResult): ReportBody {
  const L = ctx.plan.launch!;
  const rb = r.readback;
  const evidence: Evidence[] = [...r.evidence];
  if (r.landlock) {
    evidence.push({ name: 'landlock.abi', source: 'landlock_create_ruleset(VERSION)', value: r.landlock.abi });
    // What the digest covers, and its canonical form: rulesetEvidence in backends/linux/host/landlock.ts.
    evidence.push({ name: 'landlock.ruleset', source: `sha256 over all ${r.landlock.rules} rule(s) applied, the parent's and the child's (bvisor-landlock-ruleset/2)`, value: r.landlock.digest });
  }
  if (r.seccomp) {
    evidence.push({ name: 'seccomp.program', source: `${r.seccomp.rules} rule(s), ${r.seccomp.instructions} instructions, deny=${r.seccomp.deny}, sha256`, value: r.seccomp.sha256 });
  }
  for (const d of r.cgroupDirs) evidence.push({ name: 'cgroup.leaf', source: 'bvisor', value: d });
  const cpu = rb.cpuUsec
    ? witness('ms', L.cpuMs, Math.round(rb.cpuUsec.value / 1000), rb.cpuUsec.source)
    : witness('ms', L.cpuMs, Math.round((r.wait.utimeUs + r.wait.stimeUs) / 1000), 'waitid rusage (the workload and the descendants it reaped)');
  const body: ReportBody = {
    runId: ctx.runId,
    containerId: ctx.containerId,
    backend: 'linux',
    host: { kernel: ctx.host.kernel.release, arch: ctx.host.kernel.arch, landlockAbi: ctx.host.landlock.abi, cgroupMode: ctx.host.cgroup.mode },
    requested: { bundle: ctx.bundle, manifestSha256: ctx.manifestSha256, planHash: ctx.plan.planHash! },
    admitted: ctx.plan.clauses.filter((c) => c.verdict !== 'refused').map((c) => ({ clause: c.clause, verdict: c.verdict as 'enforced', mechanism: c.mechanism })),
    evidence,
    ...(r.reaper ? { reaper: r.reaper } : {}),
    // limits.cpu's RLIMIT_CPU kill is the kernel's, not the supervisor's: known by its signal
    // and the process's own CPU time (waitid's rusage), unless the run ended for another reason
    // first. Only that clause's rlimit at its own value: an OCI config's RLIMIT_CPU alone, or one
    // below the boundary's, is no limits.cpu budget (a signal like any other).
    outcome: outcomeOf({ ...r, cpuExceeded: r.cpuExceeded || (!r.timedOut && !r.aborted && !r.oomKilled && endedByCpuRlimit(cpuBudgetRlimit(L), r.signal === null ? null : signalName(r.signal), (r.wait.utimeUs + r.wait.stimeUs) / 1000, r.wait.chargedUs === null ? null : r.wait.chargedUs / 1000)) }),
    budgets: {
      wall: witness('ms', L.wallMs, r.runMs, 'supervisor clock, release to exit'),
      cpu,
      memory: rb.memoryPeak ? witness('bytes', L.memoryBytes, rb.memoryPeak.value, rb.memoryPeak.source) : witness('bytes', L.memoryBytes, notObserved('no memory cgroup for this run')),
      processes: rb.pidsPeak ? witness('count', processLimit(L), rb.pidsPeak.value, rb.pidsPeak.source) : witness('count', processLimit(L), notObserved('no pids.peak for this run (cgroup v1, no pids cgroup, or a kernel without pids.peak)')),
      fuel: witness('fuel', null, notObserved('native code has no fuel')),
    },
    streams: { stdout: stream(r.streams.stdout), stderr: stream(r.streams.stderr) },
    timings: {
      createdAt: ctx.createdAt.toISOString(),
      startedAt: r.startedAt.toISOString(),
      endedAt: r.endedAt.toISOString(),
      setupMs: r.setupMs,
      runMs: r.runMs,
      teardownMs: r.teardownMs,
    },
    teardown: r.teardown,
  };
  body.denials = denialsOf(body, ctx.plan, r);
  return body;
}

/** Why seccomp denials are missing when the run handed none over. */
export const SECCOMP_NOT_OBSERVED = 'seccomp denials are not observed yet';

/**
 * The denials of a run, from its report body as it stands (call again after the outcome is
 * corrected: a container's seal, a wasm guest's fate) and the launcher's facts. Every report
 * carries them; a source that could not watch says why.
 */
export function denialsOf(body: ReportBody, plan: Plan, r: LinuxRunResult, wasi: SourceDenials | null = null): NonNullable<ReportBody['denials']> {
  const counters: BudgetCounters = {
    outputBytes: plan.launch?.outputBytes ?? null,
    oomKills: r.readback.oomKills,
    pidsMax: r.readback.pidsMax ?? null,
  };
  const wasm = body.backend === 'wasm';
  // The listener's findings: the launcher's (bvisor run, the API) or, for a container, what its
  // monitor left in the state directory, read at the seal. null: not observed, said below.
  const seccomp = wasm ? { source: WASM_SECCOMP_SOURCE, items: [], total: 0, truncated: false } : (r.seccompDenials ?? null);
  const explained = !wasm && plan.launch && r.seccompDenials?.observed ? explainedOf(r.seccompDenials.observed, r.seccompDenials.observedSince ?? null, plan.launch, body.host.arch as Arch) : null;
  return assembleDenials({
    seccomp,
    seccompNotObserved: r.seccomp === null ? 'this run installed no seccomp filter' : SECCOMP_NOT_OBSERVED,
    // wasm: the WASI host's refusals (the runner's outcome) stand where landlock's would.
    landlock: wasm ? (wasi ?? WASM_FILESYSTEM_SOURCE) : inMode(plan, explained ?? r.landlockDenials ?? landlockSource(body.host.landlockAbi)),
    budgets: budgetDenials(body, counters),
    budgetSource: budgetSource(body, counters),
  });
}

/** Landlock's slot as the run's mode has it: a container-mode run is not one --explain traces. */
function inMode<S extends DenialSource | SourceDenials>(plan: Plan, s: S): S {
  return plan.launch?.root ? landlockForContainerMode(s) : s;
}

/** --explain: the filesystem and network denials the observed calls show, in landlock's slot (it
 * is landlock and the built root that refuse them; observed here by seccomp). */
function explainedOf(observed: readonly NotifyRecord[], since: bigint | null, launch: LaunchInputs, arch: Arch): SourceDenials {
  const items = explainDenials(namedCalls(observed, arch), launch, hostLookup, since);
  const how = launch.root ? 'not explained in container mode (paths are the rootfs\'s)' : null;
  return {
    source: how ? { observed: false, how: null, notObserved: how } : { observed: true, how: 'seccomp:user-notif, observing every path lookup and connect (--explain), each compared with the plan\'s grants and the host', notObserved: null },
    items,
    total: items.reduce((n, d) => n + d.count, 0),
    truncated: items.length >= MAX_EXPLAINED,
  };
}

/** The RLIMIT_CPU that is limits.cpu's (the planner's, folded with a config's of the same
 * value or above), or undefined. */
function cpuBudgetRlimit(L: LaunchInputs): RlimitSetting | undefined {
  const r = rlimitOfClause(L.rlimits, 'limits.cpu', 'cpu');
  return r && L.cpuMs !== null && r.hard * 1000 === L.cpuMs ? r : undefined;
}

/** bvisor run's exit status: the workload's code, 128+signal, 124 on a wall timeout. */
export function runExitStatus(r: Pick<LinuxRunResult, 'timedOut' | 'exitCode' | 'signal'>): number {
  if (r.timedOut) return 124;
  if (r.signal !== null) return 128 + r.signal;
  return r.exitCode ?? 125;
}

/** limits.processes as enforced: pids.max of the run's cgroup, or RLIMIT_NPROC; null when unbounded. */
function processLimit(L: LaunchInputs): number | null {
  const pids = L.cgroup.limits.find((x) => x.file === 'pids.max');
  return pids ? Number(pids.value) : (L.rlimits.find((x) => x.resource === 'nproc')?.soft ?? null);
}

/**
 * The sealed report of a run (by run id) or of a container's last run (by container id), from
 * the journal under the root, the newest first. The journal is the record a host disposes by.
 */
/**
 * The runs of container `id` whose reports the journal holds, newest first, at most `max`: an id
 * reused (run, then run again) leaves one report each, which `report RUN_ID` reads.
 */
export function reportsOfContainer(root: string, id: string, max: number): Array<{ runId: string; status: string }> {
  return newestEntries(root, JSON.stringify(id), (x) => 'report' in x && x.report.body.containerId === id, max).flatMap((x) => ('report' in x ? [{ runId: x.report.body.runId, status: x.report.body.outcome.status }] : []));
}

export function sealedReportFor(root: string, id: string): SealedReport {
  // Read backwards and stopped at the newest match: the run asked about is usually recent.
  const e = newestEntry(root, id, (x) => 'report' in x && (x.report.body.runId === id || x.report.body.containerId === id));
  if (e && 'report' in e) return e.report;
  throw new BvisorError('BV_OUTPUTS_NOT_FOUND', `no sealed report for ${id} in ${journalPaths(root).file}`, { hint: 'commit and discard act on a run whose report is sealed (after run, or after delete of a container)' });
}
