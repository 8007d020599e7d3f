// Denials: what the boundary blocked on a run, each traced to the manifest clause that blocked
// it, with the manifest line that would allow it (schemas/report.schema.json, Denials). Three
// sources fill the list: seccomp (system calls, answered with an errno), landlock (filesystem and
// network), and budgets (limits reached: OOM, wall, cpu, fuel, processes, output). A source that
// could not watch says why, so an empty list is never read as proof. Pure: the facts come in as
// arguments (the report body, the cgroup counters read back), nothing is read here.
// docs/denials.md explains each source, what it cannot see, and the summary format.
import { visible } from './visible.js';
import { grantAllow } from './access.js';
import type { Denial, DenialSource, Denials, FsRule, ReportBody } from '../contract/generated/types.js';
import { formatDuration, BINARY_UNITS, DECIMAL_UNITS } from './units.js';
import { normalizeAbsolute } from './paths.js';
import { endedByCpuRlimit } from './report.js';
import { REDACTED, holdsSecret } from './redact.js';

/** One source's findings: what the seccomp listener (or a monitor) hands over. */
export interface SourceDenials {
  source: DenialSource;
  items: Denial[];
  /** Denials seen, repeats included (items may be fewer). */
  total: number;
  /** More distinct denials were seen than items lists. */
  truncated: boolean;
}

/** A counter read back from a cgroup file after the run: its value and the file's path. */
export interface Counter {
  value: number;
  source: string;
}

/** What budgetDenials reads besides the report body: counters the body does not carry. */
export interface BudgetCounters {
  /** Bytes kept per captured stream (limits.output as enforced), or null when nothing is captured. */
  outputBytes: number | null;
  /** memory.events oom_kill (v2) or memory.oom_control oom_kill (v1). */
  oomKills: Counter | null;
  /** pids.events max: forks and clones refused at pids.max (v2 and v1). */
  pidsMax: Counter | null;
}

type BudgetBody = Pick<ReportBody, 'backend' | 'admitted' | 'outcome' | 'budgets' | 'streams' | 'timings'>;

/** The largest unit a size is a whole multiple of (binary first, as formatSize prefers), or bytes. */
function unitOf(bytes: number): readonly [string, number] {
  if (bytes > 0) for (const u of [...BINARY_UNITS, ...DECIMAL_UNITS]) if (bytes % u[1] === 0) return u;
  return ['', 1];
}

/** A size written in the unit of `like` (the limit as the user most likely wrote it): 512Mi, 20M. */
function sizeIn(bytes: number, like: number): string {
  const [suffix, mult] = unitOf(like);
  return `${Math.ceil(bytes / mult)}${suffix}`;
}

/** Twice the limit, in the limit's own unit: a budget that was reached needs headroom, and 2× is
 * a first step the user can tighten with the peak the report measured. */
export function headroomSize(limit: number): string {
  return sizeIn(limit * 2, limit);
}

export function headroomDuration(limitMs: number): string {
  return formatDuration(limitMs * 2);
}

function mechanismOf(body: BudgetBody, clause: string): string | null {
  return body.admitted.find((a) => a.clause === clause)?.mechanism ?? null;
}

/** Whether limits.cpu was admitted as RLIMIT_CPU (the kernel's kill), not the supervisor's watch. */
function cpuByRlimit(body: BudgetBody): boolean {
  return (mechanismOf(body, 'limits.cpu') ?? '').startsWith('linux:rlimit(');
}

function rule(body: BudgetBody, clause: string, words: string, fallback: string): string {
  return `${words}, by ${mechanismOf(body, clause) ?? fallback}`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function budget(d: Omit<Denial, 'kind' | 'pid'> & { pid?: number | null }): Denial {
  return { kind: 'budget', ...d, pid: d.pid ?? null };
}

function observedMs(w: ReportBody['budgets']['cpu']): number | null {
  return typeof w.observed === 'number' ? w.observed : null;
}

/**
 * The budgets a run reached, from what it already records: the outcome (wall, cpu, fuel, oom),
 * the cgroup counters (OOM kills, forks refused at pids.max) and the capture (limits.output).
 * A budget whose limit was not requested is not a denial (a host OOM is not the boundary's).
 */
export function budgetDenials(body: BudgetBody, c: BudgetCounters): Denial[] {
  const out: Denial[] = [];
  const o = body.outcome;
  const B = body.budgets;
  const runMs = body.timings.runMs;
  const wall = B.wall.limit;
  if (o.status === 'timeout' && o.reason === 'wall' && wall !== null) {
    out.push(budget({
      clause: 'limits.wall',
      what: 'still running at the deadline; the whole run was killed',
      rule: rule(body, 'limits.wall', formatDuration(wall), 'the supervisor\'s deadline'),
      errno: null,
      observedBy: 'supervisor:wall (deadline from release)',
      allow: `limits: { wall: ${headroomDuration(wall)} }`,
      count: 1,
      atMs: wall,
    }));
  }
  const cpu = B.cpu.limit;
  if (cpu !== null) {
    const used = observedMs(B.cpu);
    // Killed for cpu: by the supervisor's watch of the cgroup (mediated), or by the kernel's
    // RLIMIT_CPU (the clause's mechanism says which). A report sealed before bvisor named
    // RLIMIT_CPU's end in its outcome says failed, by signal: the same rule judges it here.
    const killed = o.status === 'killed' && o.reason === 'cpu';
    const rlimit = cpuByRlimit(body);
    const byWatch = killed && !rlimit;
    const byRlimit = rlimit && (killed || (o.reason === 'signal' && endedByCpuRlimit({ soft: cpu / 1000, hard: cpu / 1000 }, o.signal, used)));
    if (byWatch || byRlimit) {
      out.push(budget({
        clause: 'limits.cpu',
        what: `used up its CPU time${used !== null ? ` (${used} ms read back)` : ''}; killed`,
        rule: rule(body, 'limits.cpu', formatDuration(cpu), byWatch ? 'the monitor\'s cpu watch' : 'RLIMIT_CPU'),
        errno: null,
        observedBy: byWatch ? `supervisor:cpu watch (${B.cpu.source ?? 'cgroup cpu counter'})` : `kernel:RLIMIT_CPU (${o.signal})`,
        // Watched, the clause was mediated: the same guarantee, or a budget between whole seconds
        // would be refused (RLIMIT_CPU counts seconds).
        allow: byWatch ? `limits: { cpu: { value: ${headroomDuration(cpu)}, guarantee: mediated } }` : `limits: { cpu: ${headroomDuration(cpu)} }`,
        count: 1,
        atMs: runMs,
      }));
    }
  }
  const mem = B.memory.limit;
  const kills = c.oomKills?.value ?? 0;
  if (mem !== null && (kills > 0 || (o.status === 'killed' && o.reason === 'oom'))) {
    const n = Math.max(kills, 1);
    out.push(budget({
      clause: 'limits.memory',
      what: 'allocated past the limit; the kernel\'s OOM killer killed a process',
      rule: rule(body, 'limits.memory', sizeIn(mem, mem), 'the memory cgroup'),
      errno: null,
      observedBy: c.oomKills ? `cgroup:${basename(c.oomKills.source)} oom_kill` : 'outcome: killed (oom)',
      allow: `limits: { memory: ${headroomSize(mem)} }`,
      count: n,
      // The kill may have hit a child long before the end: not timed.
      atMs: null,
    }));
  }
  const procs = B.processes.limit;
  if (procs !== null && c.pidsMax && c.pidsMax.value > 0) {
    out.push(budget({
      clause: 'limits.processes',
      what: 'fork/clone refused: the limit of processes and threads alive at once was reached',
      rule: rule(body, 'limits.processes', `${procs} alive at once`, 'pids.max'),
      // The pids controller fails the fork with EAGAIN (fork(2), cgroup-v2.rst "pids").
      errno: 'EAGAIN',
      observedBy: `cgroup:${basename(c.pidsMax.source)} max`,
      allow: `limits: { processes: ${procs * 2} }`,
      count: c.pidsMax.value,
      atMs: null,
    }));
  }
  const fuel = B.fuel.limit;
  if (o.reason === 'fuel' && fuel !== null) {
    out.push(budget({
      clause: 'limits.fuel',
      what: 'ran out of fuel; the guest was stopped',
      rule: rule(body, 'limits.fuel', String(fuel), 'the module\'s fuel counter'),
      errno: null,
      observedBy: 'wasm:fuel counter (out_of_fuel trap)',
      allow: `limits: { fuel: ${fuel * 2} }`,
      count: 1,
      atMs: runMs,
    }));
  }
  const cap = c.outputBytes;
  for (const name of ['stdout', 'stderr'] as const) {
    const s = body.streams[name];
    if (s.mode !== 'capture' || !s.truncated || cap === null || cap <= 0) continue;
    const bytes = typeof s.bytes === 'number' ? s.bytes : null;
    // Enough for what it wrote, and at least twice the cap.
    const allowBytes = Math.max(cap * 2, bytes ?? 0);
    out.push(budget({
      clause: 'limits.output',
      what: `wrote ${bytes !== null ? `${bytes} bytes` : 'more than the cap'} to ${name}; what passed the cap was counted, not kept`,
      rule: rule(body, 'limits.output', `${sizeIn(cap, cap)} kept per captured stream`, 'the capture'),
      // The workload's writes succeed; only what is kept is cut.
      errno: null,
      observedBy: `supervisor:capture ${name}`,
      allow: `limits: { output: ${sizeIn(allowBytes, cap)} }`,
      count: 1,
      atMs: null,
    }));
  }
  return out;
}

/** How budgets were watched on this run (always observed: they are the supervisor's own). */
export function budgetSource(body: BudgetBody, c: BudgetCounters): DenialSource {
  const how: string[] = [];
  if (body.budgets.wall.limit !== null) how.push('supervisor:wall');
  if (body.budgets.cpu.limit !== null) how.push(cpuByRlimit(body) ? 'kernel:RLIMIT_CPU (its signal and the rusage)' : 'supervisor:cpu watch');
  if (c.oomKills) how.push(`cgroup:${basename(c.oomKills.source)} oom_kill`);
  if (c.pidsMax) how.push(`cgroup:${basename(c.pidsMax.source)} max`);
  if (body.budgets.fuel.limit !== null) how.push('wasm:fuel counter');
  if (c.outputBytes !== null && c.outputBytes > 0) how.push('supervisor:capture');
  // What no counter records: an rlimit's refusal is only the failing call's errno.
  const notSeen = 'not seen: limits.openFiles (EMFILE from RLIMIT_NOFILE), limits.memory and limits.processes held by rlimits (ENOMEM, EAGAIN), a wasm memory.grow refused';
  return { observed: true, how: how.length ? `${how.join(', ')}; ${notSeen}` : notSeen, notObserved: null };
}

/** The way to see filesystem denials where landlock's are not observed, said after the reason. */
export const EXPLAIN_INSTEAD = ' (bvisor run --explain traces path lookups instead)';
const EXPLAIN_NOT_IN_CONTAINER_MODE = " (--explain does not trace a container-mode run, whose paths are its rootfs's)";

/**
 * Landlock's slot for a container-mode run (root: a rootfs, an OCI bundle): --explain, which the
 * reasons for an unobserved landlock point to, does not trace those runs (report.ts explainedOf),
 * so the pointer says so instead (what else applies depends on the reason before it: the host's
 * audit where the ABI logs, nothing below ABI 7).
 */
export function landlockForContainerMode<S extends DenialSource | SourceDenials>(s: S): S {
  const src = 'items' in s ? s.source : (s as DenialSource);
  if (!src.notObserved?.endsWith(EXPLAIN_INSTEAD)) return s;
  const source = { ...src, notObserved: src.notObserved.slice(0, -EXPLAIN_INSTEAD.length) + EXPLAIN_NOT_IN_CONTAINER_MODE };
  return ('items' in s ? { ...s, source } : source) as S;
}

/** A source that could not watch, with the reason. */
export function notObservedSource(reason: string): DenialSource {
  return { observed: false, how: null, notObserved: reason };
}

/** Landlock's source when the launcher handed none over: a container (its monitor does not read
 * the audit records yet) or an older launcher. bvisor run and the API read the kernel's audit
 * records where the host emits them (backends/linux/host/landlock-audit.ts). */
export function landlockSource(hostLandlockAbi: number): DenialSource {
  if (hostLandlockAbi <= 0) return notObservedSource('landlock is not available on this host (ABI 0): filesystem denials come from the mount namespace and are not recorded');
  if (hostLandlockAbi < 7) return notObservedSource(`landlock logs denials from ABI 7 (Linux 6.15, LANDLOCK_RESTRICT_SELF_LOG_*) and only to the kernel audit log; this host has ABI ${hostLandlockAbi}${EXPLAIN_INSTEAD}`);
  return notObservedSource(`landlock (ABI ${hostLandlockAbi}) logs denials only to the kernel audit log, which bvisor reads for bvisor run and the API where audit is on, not for a container${EXPLAIN_INSTEAD}`);
}

/** The wasm backend's seccomp source: its guest makes no system calls. */
export const WASM_SECCOMP_SOURCE: DenialSource = notObservedSource('the wasm backend has no system calls: its WASI host answers instead');

/** The wasm backend's filesystem source when the runner reported nothing (no outcome). */
export const WASM_FILESYSTEM_SOURCE: DenialSource = notObservedSource('the runner reported no outcome, so the WASI host\'s refusals are not known');

/** One refusal of the WASI file host (backends/wasm/files.ts WasiRefusal), as the runner reports it. */
export interface WasiRefusalFact {
  op: string;
  /** The guest's path, from the preopen `grant` (absolute when the guest gave an absolute one). */
  path: string;
  /** Index of the preopen (the plan's filesystem rules, in order), or null. */
  grant: number | null;
  why: 'absolute' | 'escape' | 'readonly';
  count: number;
  atMs: number;
}

/** Operations that only read: a grant that allows them needs no write access. */
const WASI_READS = new Set(['path_open', 'path_filestat_get', 'path_readlink']);

/**
 * The WASI host's refusals as filesystem denials. A write to a read-only preopen is the clause
 * of that grant; a path outside every preopen (absolute, or climbing out with ..) is
 * `filesystem` (no grant covers it), allowed by a grant of its directory; a path that stays
 * inside lexically but leaves through a symlink has no clause that allows it.
 */
export function wasiDenials(refusals: readonly WasiRefusalFact[], total: number, grants: ReadonlyArray<Pick<FsRule, 'clause' | 'path' | 'target' | 'access'>>): SourceDenials {
  const items = refusals.map((r): Denial => {
    const g = r.grant === null ? undefined : grants[r.grant];
    const guest = r.path.startsWith('/') || !g ? r.path : r.path === '.' ? g.target : `${g.target}/${r.path}`;
    const access = WASI_READS.has(r.op) ? 'read' : 'read-write';
    const base = { kind: 'filesystem' as const, errno: 'ENOTCAPABLE', observedBy: 'wasi:host', count: r.count, atMs: r.atMs, pid: null, path: guest };
    if (r.why === 'readonly' && g) {
      return { ...base, clause: g.clause, what: `${r.op}("${guest}"): a write`, rule: `${g.target} is granted ${g.access}`, allow: grantAllow(g.path, 'read-write', g.clause) };
    }
    const norm = normalizeAbsolute(guest);
    const inside = g !== undefined && (norm === g.target || norm.startsWith(`${g.target}/`));
    if (r.why === 'escape' && inside) {
      return { ...base, clause: 'filesystem', what: `${r.op}("${guest}")`, rule: `a symlink leads out of ${g.target} (openat2 RESOLVE_BENEATH)`, allow: null };
    }
    const dir = norm.slice(0, norm.lastIndexOf('/')) || '/';
    return { ...base, clause: 'filesystem', what: `${r.op}("${guest}")`, rule: r.why === 'absolute' ? 'no preopen covers this path' : `the path leaves ${g?.target ?? 'its preopen'}: no grant covers ${norm}`, allow: grantAllow(dir, access) };
  });
  return { source: { observed: true, how: 'wasi:host (ENOTCAPABLE answers of the file host)', notObserved: null }, items, total, truncated: total > items.reduce((n, d) => n + d.count, 0) };
}

/**
 * The report's denials: every source's items in the order they happened (atMs, untimed last;
 * stable), the total with repeats, and whether any source had to drop items.
 */
export function assembleDenials(a: { seccomp: SourceDenials | null; seccompNotObserved: string; landlock: DenialSource | SourceDenials; budgets: Denial[]; budgetSource: DenialSource }): Denials {
  const seccomp: SourceDenials = a.seccomp ?? { source: notObservedSource(a.seccompNotObserved), items: [], total: 0, truncated: false };
  // landlock's slot: a source alone on Linux; on wasm, the WASI host's findings.
  const landlock: SourceDenials = 'items' in a.landlock ? a.landlock : { source: a.landlock, items: [], total: 0, truncated: false };
  const items = [...seccomp.items, ...landlock.items, ...a.budgets]
    .map((d, i) => ({ d, i }))
    .sort((x, y) => {
      const ax = x.d.atMs, ay = y.d.atMs;
      if (ax === null && ay === null) return x.i - y.i;
      if (ax === null) return 1;
      if (ay === null) return -1;
      return ax - ay || x.i - y.i;
    })
    .map((x) => x.d);
  const total = seccomp.total + landlock.total + a.budgets.reduce((n, d) => n + d.count, 0);
  return { sources: { seccomp: seccomp.source, landlock: landlock.source, budgets: a.budgetSource }, items, total, truncated: seccomp.truncated || landlock.truncated };
}

const SOURCE_WORDS: Record<keyof Denials['sources'], string> = {
  seccomp: 'system-call denials (seccomp)',
  landlock: 'filesystem and network denials (landlock)',
  budgets: 'budget denials',
};

/**
 * The lines `bvisor run` prints on stderr after a failed workload (after any, with --explain),
 * and `bvisor report` for every denial: the first `max` denials with
 * their clause and the manifest line that would allow each, a pointer to the full report, and
 * one line per source that was not watched (so an empty list is not read as "nothing was
 * denied"). No colours; control characters escaped. [] when the body has no denials field.
 */
export function denialSummary(body: Pick<ReportBody, 'backend' | 'denials'>, o: { id: string; max?: number }): string[] {
  const d = body.denials;
  if (!d) return [];
  const max = o.max ?? 5;
  const id = visible(o.id);
  const lines: string[] = [];
  // A limit reached (the wall deadline, the OOM killer, the pids limit) is a budget item: counted
  // apart, since a run stopped at its deadline was not denied an action. Each limit once, however
  // often it refused and however many items it made (a fork refused 40 times at limits.processes
  // is one; limits.output cut on stdout and on stderr is one). Budget items come first, whatever
  // the number of others: they sort last by time, and are most often why the run failed.
  const budgets = d.items.filter((x) => x.kind === 'budget');
  const others = d.items.filter((x) => x.kind !== 'budget');
  const limitsReached = new Set(budgets.map((x) => x.clause)).size;
  const denied = d.total - budgets.reduce((n, x) => n + x.count, 0);
  if (d.items.length === 0) lines.push(`bvisor: no denial was observed in run ${id}`);
  else if (budgets.length === 0) lines.push(`bvisor: the boundary denied ${d.total} action(s) in run ${id}:`);
  else if (denied <= 0) lines.push(`bvisor: run ${id} reached ${limitsReached} limit(s) of its boundary:`);
  else lines.push(`bvisor: the boundary denied ${denied} action(s) in run ${id}, and it reached ${limitsReached} limit(s):`);
  const shown = [...budgets, ...others.slice(0, Math.max(0, max - budgets.length))];
  for (const x of shown) {
    const times = x.count > 1 ? ` (×${x.count})` : '';
    const got = x.errno !== null ? ` → ${x.errno}` : '';
    // The clause, then the row or limit that matched (once, when the row already names it).
    const where = x.rule.startsWith(`${x.clause}:`) ? x.rule : `${x.clause} (${x.rule})`;
    lines.push(`  ${visible(x.what)}${got}${times}: ${visible(where)}${x.allow === null ? '; no clause allows it' : ''}`);
    // A limit's line doubles it where how much the workload needed is not known (the wall, an
    // OOM kill, refused forks, fuel, cpu): said, so that a second run at it failing too is no
    // surprise. limits.output's is enough for what it wrote.
    const guess = x.kind === 'budget' && x.clause !== 'limits.output' ? ' (twice the limit: how much it needed is not known)' : '';
    if (x.allow !== null) lines.push(`    ${x.kind === 'budget' ? 'raise' : 'allow'} with: ${visible(x.allow)}${guess}`);
    if (x.warning) lines.push(`    warning: ${visible(x.warning)}`);
  }
  const more = d.items.length - shown.length;
  if (more > 0 || d.truncated) lines.push(`  … and ${more > 0 ? `${more} more` : 'more'}${d.truncated ? ' (the report lists the first of them)' : ''}: bvisor report ${id}`);
  for (const k of ['seccomp', 'landlock', 'budgets'] as const) {
    const s = d.sources[k];
    // A wasm guest makes no system calls: nothing to be misled about.
    if (s.observed || (k === 'seccomp' && body.backend === 'wasm')) continue;
    const words = k === 'landlock' && body.backend === 'wasm' ? 'filesystem denials (WASI host)' : SOURCE_WORDS[k];
    lines.push(`  ${words} are not observed here: ${visible(s.notObserved ?? 'no reason given')}`);
  }
  return lines;
}

/** Whether the summary says anything worth a failed run's stderr (without --explain, which
 * always prints it): a denial, or a source not watched. */
export function summaryWorthSaying(body: Pick<ReportBody, 'backend' | 'denials'>): boolean {
  return denialSummary(body, { id: '' }).length > 1;
}

/** A run the summary is for: a status other than 0, or ended by a budget (timeout, killed). */
export function runFailed(body: Pick<ReportBody, 'outcome'>, exitStatus: number): boolean {
  return exitStatus !== 0 || body.outcome.status !== 'completed';
}

/**
 * The denials with every text that spells a secret value replaced (core/redact.ts holdsSecret),
 * across a path's names too. The notifier and the audit reader redact a whole value where they
 * read it, in C, before anything is written; a value split by `/`s (a token sharded into
 * directories) is found only here, for the run's report.
 */
export function redactDenials(d: Denials, secrets: readonly string[]): Denials {
  if (!secrets.length) return d;
  const clean = (t: string): string => (holdsSecret(t, secrets) ? REDACTED : t);
  const items = d.items.map((x): Denial => {
    const strings: Array<string | null> = [...(x.syscall?.strings ?? [])];
    const texts = [x.what, x.path ?? '', x.allow ?? '', ...strings.filter((s): s is string => typeof s === 'string')];
    if (!texts.some((t) => holdsSecret(t, secrets))) return x;
    return {
      ...x,
      what: `${x.syscall?.name ?? x.kind}(…): ${REDACTED}`,
      ...(x.path !== undefined ? { path: x.path === null ? null : clean(x.path) } : {}),
      // The manifest line would name the path: none is offered for it.
      allow: x.allow !== null && holdsSecret(x.allow, secrets) ? null : x.allow,
      ...(x.syscall ? { syscall: { ...x.syscall, ...(x.syscall.strings ? { strings: x.syscall.strings.map((s) => (typeof s === 'string' ? clean(s) : s)) as typeof x.syscall.strings } : {}) } } : {}),
    };
  });
  return { ...d, items };
}
