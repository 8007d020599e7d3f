// bvisor recover: the journal as a recovery log (docs/journal.md#recovery). Every attempt (by run
// id) that the journal or the host knows of is classified (core/recovery.ts) from what the journal
// says (started before release, the report at the end, dispositions after, earlier recoveries, a
// torn tail) and what the host shows (containers/<id>, processes by pid and start time, cgroup
// leaves, the quarantine, promoted bytes), then acted on: orphans killed, leftovers removed,
// quarantines of attempts that never completed discarded, each recorded in a recovery entry.
// `list` shows the same classification read-only; `gc` acts on it before its own sweep.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { checkStateRoot } from '../host/state-root.js';
import { basename, join } from 'node:path';
import type { AttemptClass, ContainerState, JournalDisposition, JournalStarted, ProcRef, RecoverOutput, RecoveredAttempt, RecoveryAction } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { entryKind, entryRunId } from '../core/journal.js';
import { classify, type AttemptHost, type AttemptJournal } from '../core/recovery.js';
import { appendRecovery, readJournalEntries, readJournalEntriesSince, repairJournalAt, verifyJournalAt, type JournalFloor, type JournalWindow, type TornTail } from '../host/journal-store.js';
import { alive, hasExited } from '../host/proc.js';
import { withFlock } from '../host/flock.js';
import { shim, LOCK_EX } from '../backends/linux/ffi/shim.js';
import { cgroupMembers, killAll, teardownCgroups } from '../backends/linux/host/cgroups.js';
import { discardQuarantine, makerRunIds, quarantineMaker } from './outputs.js';
import { fault } from '../host/faults.js';
import { cgroupsNamed, containerIds, containersDir, deleteContainer, derive, leavesOf, ourCgroups, readState, runNameOf, reportOf, type Derived, type JournalOptions, type ListEntry } from './lifecycle.js';

// ---- outputs: what the host has of an attempt's quarantine and promoted bytes ------------------

/**
 * What recovery needs to know of outputs, behind one small interface (app/outputs.ts owns the
 * quarantine; this default reads its layout: `<root>/outputs/<runId>`, a directory or a link
 * to one placed on a destination's filesystem, and the `to` of the artifacts the journal's
 * commit dispositions name).
 */
export interface OutputsView {
  /** Run ids that have a quarantine under the root. */
  list(root: string): string[];
  /** The attempt's quarantine, if present. */
  quarantine(root: string, runId: string): string | null;
  /** Promoted bytes of the attempt present on the host (paths). */
  promoted(root: string, runId: string, dispositions: readonly JournalDisposition[]): string[];
  /** Removes a quarantine (a mounted one is unmounted first). */
  discard(path: string): void;
  /** The processes that made quarantines, by run id, where they recorded themselves. */
  makers(root: string): Map<string, ProcRef>;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

/** A quarantine's index entry: its directory, or bvisor's link to one on a destination's
 * filesystem (outputs.ts places it there; the link's target is bvisor's own directory). */
function isDir(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() || (st.isSymbolicLink() && lstatSync(readlinkSync(path)).isDirectory());
  } catch {
    return false;
  }
}

function readJsonFile(path: string): { action?: unknown; applied?: Array<{ to?: unknown }> } | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return v && typeof v === 'object' ? (v as { action?: unknown; applied?: Array<{ to?: unknown }> }) : null;
  } catch {
    return null;
  }
}

export const quarantineDirs: OutputsView = {
  list(root) {
    try {
      return readdirSync(join(root, 'outputs')).filter((n) => RUN_ID.test(n) && isDir(join(root, 'outputs', n)));
    } catch {
      return [];
    }
  },
  quarantine(root, runId) {
    const p = join(root, 'outputs', runId);
    return RUN_ID.test(runId) && isDir(p) ? p : null;
  },
  promoted(root, runId, dispositions) {
    const targets = dispositions.filter((d) => d.action === 'commit').flatMap((d) => d.artifacts.map((a) => a.to ?? ''));
    // bvisor commit's own record beside the quarantine (outputs/<runId>.disposition.json), until
    // its steps are journal entries.
    const rec = RUN_ID.test(runId) ? readJsonFile(join(root, 'outputs', `${runId}.disposition.json`)) : null;
    if (rec && rec.action === 'commit' && Array.isArray(rec.applied)) for (const a of rec.applied) if (a && typeof a.to === 'string') targets.push(a.to);
    const out = new Set<string>();
    for (const to of targets) {
      if (!to.startsWith('/')) continue;
      try {
        lstatSync(to);
        out.add(to);
      } catch {
        // not there (never promoted, or removed since)
      }
    }
    return [...out];
  },
  discard(index) {
    discardQuarantine(index);
  },
  makers(root) {
    const out = new Map<string, ProcRef>();
    for (const runId of makerRunIds(root)) {
      const m = RUN_ID.test(runId) ? quarantineMaker(join(root, 'outputs', runId)) : null;
      if (m) out.set(runId, m);
    }
    return out;
  },
};

/**
 * The quarantines' makers alive now, by run id: read before the journal and the state entries
 * are. A maker gone by then has made every write it will make, so those reads see them; one
 * alive then may still be setting its run up (its registration not yet in place, its start
 * record not yet appended), and its attempt is left alone even if it ends meanwhile.
 */
function liveMakers(root: string, outputs: OutputsView): Map<string, ProcRef> {
  return new Map([...outputs.makers(root)].filter(([, m]) => alive(m)));
}

// ---- the journal's side --------------------------------------------------------------------

interface Gathered {
  read: JournalWindow;
  byRun: Map<string, AttemptJournal>;
  /** Run ids in the order the journal first names them. */
  order: string[];
}

function journalSide(read: JournalWindow): Gathered {
  const byRun = new Map<string, AttemptJournal>();
  const order: string[] = [];
  const get = (runId: string, containerId: string | null): AttemptJournal => {
    let a = byRun.get(runId);
    if (!a) {
      a = { runId, containerId, started: null, report: null, dispositions: [], recoveries: [], tornReport: false };
      byRun.set(runId, a);
      order.push(runId);
    }
    if (a.containerId === null && containerId !== null) a.containerId = containerId;
    return a;
  };
  for (const e of read.entries) {
    const runId = entryRunId(e);
    if (runId === null) continue;
    const kind = entryKind(e);
    if (kind === 'report' && 'report' in e) {
      const a = get(runId, e.report.body.containerId);
      a.report = { seq: e.seq, status: e.report.body.outcome.status, reason: e.report.body.outcome.reason };
    } else if ('event' in e) {
      const ev = e.event;
      if (ev.kind === 'started') get(runId, ev.containerId).started = { seq: e.seq, event: ev };
      else if (ev.kind === 'disposition') get(runId, null).dispositions.push({ seq: e.seq, event: ev });
      else if (ev.kind === 'recovery') get(runId, ev.containerId).recoveries.push({ seq: e.seq, classification: ev.classification });
    }
  }
  const torn: Array<Omit<TornTail, 'line'>> = [...read.keptAside, ...(read.torn ? [read.torn] : [])];
  for (const t of torn) if (t.kind === 'report' && t.runId) get(t.runId, null).tornReport = true;
  return { read, byRun, order };
}

// ---- the host's side -----------------------------------------------------------------------

interface StateSide {
  id: string;
  dir: string;
  state: ContainerState;
  derived: Derived;
}

/** containers/<id> by run id (entries whose state.json reads; the others are gc's). */
function stateDirs(root: string): Map<string, StateSide> {
  const out = new Map<string, StateSide>();
  // Claims are not entries yet: nothing was started for one (gc removes it once its maker is gone).
  const ids = containerIds(root);
  for (const id of ids) {
    const dir = join(containersDir(root), id);
    if (!isDir(dir)) continue;
    const state = readState(dir);
    if (!state) continue;
    out.set(state.runId, { id, dir, state, derived: derive(dir, state) });
  }
  return out;
}

/**
 * Cgroup leaves the journal names for an attempt, kept only if bvisor named them for its run, or
 * they are the OCI leaf the record names (cgroupsNamed): a journal is read back from disk, and
 * recovery must never kill or remove a cgroup that is not ours.
 */
function journalCgroups(s: JournalStarted): string[] {
  return cgroupsNamed(s.cgroupDirs, runNameOf(s.containerId, s.runId), typeof s.ociLeaf === 'string' ? s.ociLeaf : null);
}

interface HostFacts extends AttemptHost {
  live: RecoveredAttempt['evidence']['live'];
  /** Orphan processes by reference (killed only if pid and start time still match). */
  orphanRefs: ProcRef[];
}

function hostSide(root: string, j: AttemptJournal, st: StateSide | null, outputs: OutputsView, makers: ReadonlyMap<string, ProcRef>): HostFacts {
  const live: HostFacts['live'] = [];
  const refs: Array<{ role: 'supervisor' | 'monitor' | 'workload' | 'creator'; ref: ProcRef | null }> = [];
  let supervisor: ProcRef | null = null;
  let cgroups: string[] = [];
  if (st) {
    const s = st.state;
    supervisor = s.kind === 'run' || s.status === 'creating' ? s.creator : s.monitor;
    refs.push({ role: s.kind === 'run' || s.status === 'creating' ? 'creator' : 'monitor', ref: supervisor });
    if (s.kind !== 'run' && s.status === 'creating') refs.push({ role: 'monitor', ref: s.monitor });
    refs.push({ role: 'workload', ref: s.pid });
    cgroups = ourCgroups(st.id, s, st.dir);
  } else if (j.started) {
    supervisor = j.started.event.supervisor;
    refs.push({ role: 'supervisor', ref: supervisor });
  }
  // Neither a state nor a start record names it: a run setting up (its registration not yet in
  // place, or a run without an id before its start record), known by its quarantine's maker.
  // Alive when recovery began (liveMakers), nothing of the attempt is touched.
  const maker = !st && !j.started ? (makers.get(j.runId) ?? null) : null;
  if (maker) {
    supervisor = maker;
    refs.push({ role: 'creator', ref: maker });
  }
  if (j.started) cgroups = [...new Set([...cgroups, ...journalCgroups(j.started.event)])];
  cgroups = cgroups.filter((d) => existsSync(d));
  const supervisorAlive = maker !== null || alive(supervisor);
  const orphanRefs: ProcRef[] = [];
  for (const { role, ref } of refs) {
    if (!ref || !alive(ref)) continue;
    live.push({ role, pid: ref.pid });
    if (!supervisorAlive && ref !== supervisor) orphanRefs.push(ref);
  }
  const members = [...new Set(cgroups.flatMap(cgroupMembers))].filter((p) => !live.some((l) => l.pid === p));
  for (const pid of members) live.push({ role: 'member', pid });
  const exit = st?.derived.exit ?? null;
  return {
    stateDir: st?.dir ?? null,
    // Stopped and broken, or still running with its monitor gone (derive): the supervisor is
    // gone either way, and what it left running is an orphan recovery kills.
    stateBroken: !!st && st.derived.broken !== null,
    supervisorAlive,
    exitRecord: !!st && st.state.kind === 'container' && !st.state.journaled && exit !== null && (exit.phase === 'exited' || exit.phase === 'exec-failed' || exit.phase === 'monitor-fault'),
    orphans: supervisorAlive ? [] : [...orphanRefs.map((r) => r.pid), ...members],
    orphanRefs,
    cgroups,
    quarantine: outputs.quarantine(root, j.runId),
    promoted: outputs.promoted(root, j.runId, j.dispositions.map((d) => d.event)),
    live,
  };
}

// ---- classify --------------------------------------------------------------------------------

interface Found {
  journal: AttemptJournal;
  host: HostFacts;
  state: StateSide | null;
  verdict: ReturnType<typeof classify>;
}

function survey(root: string, g: Gathered, outputs: OutputsView, makers: ReadonlyMap<string, ProcRef>, only: ReadonlySet<string> | null = null): Found[] {
  const states = stateDirs(root);
  const ids = [...g.order];
  for (const runId of states.keys()) if (!g.byRun.has(runId)) ids.push(runId);
  for (const runId of outputs.list(root)) if (!g.byRun.has(runId) && !states.has(runId)) ids.push(runId);
  const out: Found[] = [];
  for (const runId of ids) {
    if (only && !only.has(runId)) continue;
    const st = states.get(runId) ?? null;
    const journal = g.byRun.get(runId) ?? { runId, containerId: st?.id ?? null, started: null, report: null, dispositions: [], recoveries: [], tornReport: false };
    if (journal.containerId === null && st) journal.containerId = st.id;
    const host = hostSide(root, journal, st, outputs, makers);
    out.push({ journal, host, state: st, verdict: classify(journal, host) });
  }
  return out;
}

function evidence(f: Found): RecoveredAttempt['evidence'] {
  const j = f.journal;
  return {
    started: j.started?.seq ?? null,
    report: j.report?.seq ?? null,
    outcome: j.report ? `${j.report.status}${j.report.reason ? `/${j.report.reason}` : ''}` : null,
    dispositions: j.dispositions.map((d) => ({ seq: d.seq, step: d.event.step, action: d.event.action })),
    recoveries: j.recoveries.map((r) => r.seq),
    tornReport: j.tornReport,
    stateDir: f.host.stateDir,
    live: f.host.live,
    cgroups: f.host.cgroups,
    quarantine: f.host.quarantine,
    promoted: f.host.promoted,
  };
}

// ---- act -------------------------------------------------------------------------------------

const errText = (e: unknown): string => (e instanceof BvisorError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e)).slice(0, 2000);

/** pidfd_send_signal(SIGKILL) after checking, with the pidfd held, that the pid is still the one recorded. */
function killRef(ref: ProcRef): void {
  const s = shim();
  const fd = s.bv_pidfd_open(ref.pid);
  if (fd < 0) return;
  try {
    if (alive(ref)) s.bv_pidfd_signal(fd, 9);
  } finally {
    s.bv_close(fd);
  }
}

async function gone(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

async function act(root: string, f: Found, j: JournalOptions, outputs: OutputsView): Promise<RecoveryAction[]> {
  const done: RecoveryAction[] = [];
  const plan = f.verdict.plan;
  const wants = (what: RecoveryAction['do']): boolean => plan.some((p) => p.do === what);
  const record = (what: RecoveryAction['do'], target: string, error: string | null): void => void done.push({ do: what, target, done: error === null, error });
  const liveBefore = new Map(f.host.live.map((l) => [l.pid, l]));

  if (wants('seal-report') && f.state) {
    try {
      const r = reportOf(root, f.state.id, j);
      record('seal-report', `report ${r.bodyHash}`, null);
    } catch (e) {
      record('seal-report', f.state.dir, errText(e));
    }
  }
  if (wants('remove-state') && f.state) {
    // delete -f's path, restricted to this run: it stops what the state names, tears its
    // cgroups down, seals what can be sealed (outcome error/lost, or never-started) and removes
    // the entry.
    try {
      const r = await deleteContainer(root, f.state.id, true, j, f.journal.runId);
      // (A report already in the journal, e.g. a run's kept report.json, is not sealed again.)
      if (r.report && !f.journal.report) record('seal-report', `report ${r.report.bodyHash}`, null);
      record('remove-state', f.state.dir, existsSync(f.state.dir) && readState(f.state.dir)?.runId === f.journal.runId ? 'still there' : null);
    } catch (e) {
      record('remove-state', f.state.dir, errText(e));
    }
  }
  if (wants('kill-process')) {
    for (const ref of f.host.orphanRefs) killRef(ref);
    const leaves = leavesOf(f.host.cgroups);
    killAll(leaves);
    for (const p of plan.filter((x) => x.do === 'kill-process')) {
      const pid = Number(p.target.replace(/^pid /, ''));
      const ref = f.host.orphanRefs.find((r) => r.pid === pid);
      const ok = await gone(() => (ref ? !alive(ref) : exitedOrUnreadable(pid)), 3000);
      record('kill-process', `pid ${pid} (${liveBefore.get(pid)?.role ?? 'member'})`, ok ? null : 'still running');
    }
  }
  if (wants('remove-cgroup')) {
    const left = f.host.cgroups.filter((d) => existsSync(d));
    if (left.length) teardownCgroups(leavesOf(left));
    for (const d of f.host.cgroups) record('remove-cgroup', d, existsSync(d) ? 'still there (not empty?)' : null);
  }
  if (wants('discard-quarantine') && f.host.quarantine) {
    try {
      outputs.discard(f.host.quarantine);
      record('discard-quarantine', f.host.quarantine, existsSync(f.host.quarantine) ? 'still there' : null);
    } catch (e) {
      record('discard-quarantine', f.host.quarantine, errText(e));
    }
  }
  return done;
}

/** Whether pid has exited (hasExited); unreadable is taken for gone, as a kill's wait must end. */
function exitedOrUnreadable(pid: number): boolean {
  try {
    return hasExited(pid);
  } catch {
    return true;
  }
}

// ---- bvisor recover ------------------------------------------------------------------------

export interface RecoverOptions extends JournalOptions {
  /** Classify and print what would be done; change nothing (not even a torn tail). */
  dryRun?: boolean;
  /** How outputs are seen and discarded (default: quarantineDirs). */
  outputs?: OutputsView;
  /** Only these run ids (gc, tests); default: every attempt. */
  only?: ReadonlySet<string> | null;
}

function checkedJournal(root: string, o: RecoverOptions): { torn: TornTail | null; repaired: boolean } {
  const key = o.key ?? null;
  const v = verifyJournalAt(root, key);
  if (v.ok) return { torn: null, repaired: false };
  if (v.kind !== 'torn' && v.kind !== 'head-behind') {
    throw new BvisorError('BV_JOURNAL_CORRUPT', `${v.file}: entry at line ${v.line}: ${v.problem}; recover acts only on a journal that verifies`, { hint: 'bvisor journal verify says what is wrong; the journal is evidence (docs/journal.md#manual-repair)', detail: { line: v.line, verifiedEntries: v.entries, problem: v.kind } });
  }
  const torn = readJournalEntries(root, new Set()).torn;
  if (o.dryRun) return { torn, repaired: false };
  // What an interrupted append left is mended as journal verify --repair does (the cut bytes
  // kept aside, the repair recorded), so that recovery can append after it.
  repairJournalAt(root, key);
  return { torn, repaired: true };
}

export async function recoverRoot(root: string, o: RecoverOptions = {}): Promise<RecoverOutput> {
  const outputs = o.outputs ?? quarantineDirs;
  const body = async (): Promise<RecoverOutput> => {
    const makers = liveMakers(root, outputs);
    const { torn, repaired } = checkedJournal(root, o);
    const g = journalSide(readJournalEntries(root));
    fault('recover:surveying');
    const found = survey(root, g, outputs, makers, o.only ?? null);
    const attempts: RecoveredAttempt[] = [];
    for (const f of found) {
      let actions: RecoveryAction[];
      let recorded: number | null = null;
      if (o.dryRun) actions = f.verdict.plan.map((p) => ({ ...p, done: false, error: null }));
      else {
        actions = await act(root, f, o, outputs);
        if (actions.length || f.verdict.record) {
          const e = appendRecovery(root, { runId: f.journal.runId, containerId: f.journal.containerId, classification: f.verdict.classification, reason: f.verdict.reason.slice(0, 2000), actions }, { key: o.key ?? null });
          recorded = e.seq;
        }
      }
      attempts.push({ runId: f.journal.runId, containerId: f.journal.containerId, classification: f.verdict.classification, reason: f.verdict.reason, evidence: evidence(f), actions, recorded });
    }
    const counts: RecoverOutput['counts'] = { absent: 0, 'rolled-back': 0, completed: 0, running: 0, refused: 0 };
    for (const a of attempts) counts[a.classification]++;
    return { stateRoot: root, dryRun: o.dryRun === true, journal: { entries: g.read.entries.length, torn: torn ? { line: torn.line, bytes: torn.bytes, kind: torn.kind, runId: torn.runId } : null, repaired }, attempts, counts };
  };
  // A root that is not there holds nothing to recover: nothing of it is read (checkStateRoot
  // checks one that is, its parents too, before anything in it is believed).
  if (!checkStateRoot(root)) return { stateRoot: root, dryRun: o.dryRun === true, journal: { entries: 0, torn: null, repaired: false }, attempts: [], counts: { absent: 0, 'rolled-back': 0, completed: 0, running: 0, refused: 0 } };
  if (o.dryRun) return body();
  // One recovery at a time on a root (recover, gc): two would act on the same leftovers.
  return withFlock(join(root, 'recover.lock'), LOCK_EX, 'BV_IO', body);
}

// ---- list and gc -------------------------------------------------------------------------

export type ListedContainer = ListEntry & { attempt: { runId: string; classification: AttemptClass; reason: string; outcome: string | null } | null };

/** list's read-only view: each container's attempt, classified (no verification, no action). */
export function annotateList(root: string, entries: ListEntry[], outputs: OutputsView = quarantineDirs): ListedContainer[] {
  const runIds = new Map<string, string>();
  const since = new Map<string, JournalFloor | null>(); // each run: the journal's head when its container was made
  for (const e of entries) {
    const s = readState(join(containersDir(root), e.id));
    if (s) {
      runIds.set(e.id, s.runId);
      since.set(s.runId, s.journalAtCreate ?? null);
    }
  }
  let found: Found[] = [];
  try {
    const only = new Set(runIds.values());
    if (only.size) {
      const makers = liveMakers(root, outputs);
      found = survey(root, journalSide(readJournalEntriesSince(root, since)), outputs, makers, only);
    }
  } catch {
    // list shows containers even when the journal cannot be read; the attempt stays unknown
  }
  return entries.map((e) => {
    const f = found.find((x) => x.journal.runId === runIds.get(e.id));
    // The sealed report's outcome (status/reason), where the journal has one.
    const r = f?.journal.report;
    return { ...e, attempt: f ? { runId: f.journal.runId, classification: f.verdict.classification, reason: f.verdict.reason, outcome: r ? `${r.status}${r.reason ? `/${r.reason}` : ''}` : null } : null };
  });
}

/**
 * gc's first step: recover (acting). Returns the attempts acted on, and the container ids gc must
 * leave alone (a refused attempt's entry is evidence). A journal recover cannot act on is one of
 * gc's failures, not the end of gc.
 */
export async function recoverForGc(root: string, j: JournalOptions, failed: Array<{ id: string; error: string }>): Promise<{ recovered: RecoveredAttempt[]; keep: Set<string> }> {
  try {
    const r = await recoverRoot(root, { key: j.key ?? null });
    const keep = new Set(r.attempts.filter((a) => a.classification === 'refused' && a.evidence.stateDir).map((a) => basename(a.evidence.stateDir!)));
    return { recovered: r.attempts.filter((a) => a.actions.length || a.recorded !== null), keep };
  } catch (e) {
    failed.push({ id: '(recover)', error: errText(e) });
    return { recovered: [], keep: new Set() };
  }
}
