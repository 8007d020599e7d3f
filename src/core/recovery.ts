// The journal as a recovery log (pure): what became of each attempt, decided from what the journal
// says (a started entry before the workload was released, the report at the end, dispositions
// after, earlier recoveries, a torn tail) and what the host shows (its supervisor alive, leftover
// processes, cgroups, state, quarantine, promoted bytes). The host gathers the facts
// (app/recover.ts); this decides, so every row of the table in docs/journal.md#recovery is a
// unit test away from its code.
import type { AttemptClass, JournalDisposition, JournalStarted, RecoveryAction } from '../contract/generated/types.js';

/** Report outcomes sealed for an attempt that never ran to its end (docs/lifecycle.md, gc). */
const NOT_AN_END = new Set(['lost', 'never-started']);

export interface AttemptJournal {
  runId: string;
  containerId: string | null;
  /** The last started entry (a created container started twice after a crash has two). */
  started: { seq: number; event: JournalStarted } | null;
  report: { seq: number; status: string; reason: string | null } | null;
  dispositions: Array<{ seq: number; event: JournalDisposition }>;
  recoveries: Array<{ seq: number; classification: AttemptClass }>;
  /** A report entry of this run was cut short (a torn tail, or one a repair kept aside). */
  tornReport: boolean;
}

export interface AttemptHost {
  /** containers/<id> holding this run (state.json's runId), or null. */
  stateDir: string | null;
  /** That entry is broken: its bvisor (run, create) or its monitor died without an exit record.
   * A sound entry (created, running, stopped) is its owner's, and recovery leaves it alone. */
  stateBroken: boolean;
  /** Its supervisor (bvisor run, the monitor, a create still setting up) is alive. */
  supervisorAlive: boolean;
  /** A container's monitor left its exit record and no report was sealed from it yet. */
  exitRecord: boolean;
  /** Processes of the attempt still running although its supervisor is gone (orphans). */
  orphans: number[];
  /** Its cgroup leaves that still exist. */
  cgroups: string[];
  quarantine: string | null;
  /** Promoted bytes present on the host. */
  promoted: string[];
}

export interface Verdict {
  classification: AttemptClass;
  reason: string;
  /** What recovery does about it, in order (targets named; nothing done yet). */
  plan: Array<Pick<RecoveryAction, 'do' | 'target'>>;
  /** Whether a recovery entry is due even if the plan is empty (the first time an attempt is
   * found rolled back or refused: the journal then says what became of it). */
  record: boolean;
}

/** A report that records an end the attempt reached (not one sealed after it was lost). */
function sealedEnd(j: AttemptJournal): boolean {
  return j.report !== null && !NOT_AN_END.has(j.report.reason ?? '');
}

/**
 * The canonical refusal: bytes promoted (or a commit applied) with no sealed report before them,
 * or a report entry that was torn. Such an attempt's outputs cannot be trusted, and nothing
 * recovery could do makes them so: it is left for a person, and stays refused.
 */
function refusal(j: AttemptJournal, h: AttemptHost): string | null {
  if (j.recoveries.some((r) => r.classification === 'refused')) return 'an earlier recovery refused it (a canonical refusal is final)';
  if (j.tornReport) return 'its report entry was torn (the append never finished): no sealed report vouches for what it did';
  const sealedAt = sealedEnd(j) ? j.report!.seq : null;
  const commit = j.dispositions.find((d) => d.event.action === 'commit' && d.event.step === 'applied' && (sealedAt === null || d.seq < sealedAt));
  if (commit) return `a commit of its artifacts was applied (entry ${commit.seq}) without a sealed report before it`;
  if (h.promoted.length && sealedAt === null) return `promoted bytes are present (${h.promoted.slice(0, 3).join(', ')}${h.promoted.length > 3 ? ', …' : ''}) and no sealed report vouches for them`;
  return null;
}

/** Whether what the host holds of the attempt is left over (nobody will finish or delete it):
 * a broken entry, or no entry at all (only the journal and the kernel remember it). */
function leftover(h: AttemptHost): boolean {
  return !h.supervisorAlive && (h.stateDir === null || h.stateBroken);
}

/** The leftovers of an attempt whose supervisor is gone: what recovery removes. */
function cleanup(h: AttemptHost, quarantine: boolean): Verdict['plan'] {
  if (!leftover(h)) return [];
  return [
    ...h.orphans.map((pid) => ({ do: 'kill-process' as const, target: `pid ${pid}` })),
    ...h.cgroups.map((dir) => ({ do: 'remove-cgroup' as const, target: dir })),
    ...(h.stateDir ? [{ do: 'remove-state' as const, target: h.stateDir }] : []),
    ...(quarantine && h.quarantine ? [{ do: 'discard-quarantine' as const, target: h.quarantine }] : []),
  ];
}

export function classify(j: AttemptJournal, h: AttemptHost): Verdict {
  const first = (c: AttemptClass): boolean => !j.recoveries.some((r) => r.classification === c);
  const refused = refusal(j, h);
  if (refused) {
    // Orphans still die (no process outlives its bvisor); the bytes, the quarantine and the
    // state stay as evidence.
    const plan = leftover(h) ? [...h.orphans.map((pid) => ({ do: 'kill-process' as const, target: `pid ${pid}` })), ...h.cgroups.map((dir) => ({ do: 'remove-cgroup' as const, target: dir }))] : [];
    return { classification: 'refused', reason: refused, plan, record: first('refused') };
  }
  if (sealedEnd(j)) {
    const pending = j.dispositions.filter((d) => d.event.step === 'decided' && !j.dispositions.some((e) => e.seq > d.seq && e.event.action === d.event.action && e.event.step !== 'decided'));
    const note = pending.length ? `; a ${pending[0]!.event.action} was decided (entry ${pending[0]!.seq}) but never applied or failed: bvisor ${pending[0]!.event.action} finishes it` : h.quarantine ? '; its staged outputs wait for bvisor commit or discard' : '';
    // A run's registration left behind after its report was journaled is cleaned; the
    // quarantine is the host's to dispose of, never recovery's.
    const plan = cleanup(h, false);
    return { classification: 'completed', reason: `its report is sealed (entry ${j.report!.seq}, ${j.report!.status}${j.report!.reason ? `/${j.report!.reason}` : ''})${note}`, plan, record: false };
  }
  if (!j.started) {
    if (h.supervisorAlive) return { classification: 'absent', reason: 'no start record: its workload has not been released (set up, or created and waiting for start)', plan: [], record: false };
    const what = j.report ? `its report says ${j.report.status}/${j.report.reason}` : 'nothing of it ran';
    const plan = cleanup(h, true);
    return { classification: 'absent', reason: `no start record: its workload was never released (${what})${plan.length ? '; what its setup left is removed' : ''}`, plan, record: false };
  }
  if (h.exitRecord) {
    return { classification: 'completed', reason: 'its monitor recorded the exit; the report is sealed from that record', plan: [{ do: 'seal-report', target: h.stateDir! }], record: false };
  }
  // Closed by its own supervisor (its workload never ran: run.ts) or an earlier recovery: rolled
  // back, whatever its supervisor is doing now.
  if (j.recoveries.some((r) => r.classification === 'rolled-back')) return { classification: 'rolled-back', reason: `started (entry ${j.started.seq}) and rolled back (its workload never ran, or its supervisor went away)`, plan: cleanup(h, true), record: false };
  if (h.supervisorAlive) return { classification: 'running', reason: `started (entry ${j.started.seq}) and its supervisor is alive`, plan: [], record: false };
  const lost = j.report ? ` (its report, sealed afterwards, says ${j.report.status}/${j.report.reason})` : '';
  return { classification: 'rolled-back', reason: `started (entry ${j.started.seq}) and never completed: its supervisor is gone${lost}`, plan: cleanup(h, true), record: first('rolled-back') };
}
