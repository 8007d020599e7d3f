// The recovery classification (core/recovery.ts) as a table: each row is what the journal says
// and what the host shows for one attempt, and the verdict and plan that follow. The table in
// docs/journal.md#recovery is this one.
import { describe, expect, it } from 'vitest';
import { classify, type AttemptHost, type AttemptJournal } from '../../src/core/recovery.js';
import type { JournalDisposition, JournalStarted } from '../../src/contract/generated/types.js';

const started: JournalStarted = { kind: 'started', runId: 'r', containerId: 'x', releasedBy: 'run', backend: 'linux', planHash: 'p', stateRoot: '/s', cgroupDirs: ['/sys/fs/cgroup/bvisor-x-r'], supervisor: { pid: 10, startTime: '1' }, monitor: null, workload: { pid: 11, startTime: '2' } };
const disp = (seq: number, step: JournalDisposition['step'], action: JournalDisposition['action'] = 'commit') => ({ seq, event: { kind: 'disposition' as const, runId: 'r', step, action, artifacts: [{ id: 'a', sha256: 'f'.repeat(64), to: '/dest/a' }] } });

const J = (o: Partial<AttemptJournal> = {}): AttemptJournal => ({ runId: 'r', containerId: 'x', started: null, report: null, dispositions: [], recoveries: [], tornReport: false, ...o });
const H = (o: Partial<AttemptHost> = {}): AttemptHost => ({ stateDir: null, stateBroken: false, supervisorAlive: false, exitRecord: false, orphans: [], cgroups: [], quarantine: null, promoted: [], ...o });
const S = { seq: 1, event: started };
const report = (status: string, reason: string | null, seq = 3) => ({ seq, status, reason });
const leftovers = { stateDir: '/s/containers/x', stateBroken: true, cgroups: ['/sys/fs/cgroup/bvisor-x-r'], quarantine: '/s/outputs/r' };

type Row = [string, AttemptJournal, AttemptHost, string, string[], boolean];
const ROWS: Row[] = [
  // [what, journal, host, class, plan (do kinds), recorded even without actions]
  ['nothing at all: an attempt of another root, or none', J(), H(), 'absent', [], false],
  ['set up, never released, bvisor alive (run before its go byte; created, waiting)', J(), H({ supervisorAlive: true, stateDir: '/s/containers/x', cgroups: ['/c'], quarantine: '/q' }), 'absent', [], false],
  ['set up, never released, bvisor dead: its setup is removed', J(), H({ ...leftovers, orphans: [12] }), 'absent', ['kill-process', 'remove-cgroup', 'remove-state', 'discard-quarantine'], false],
  ['never released, killed at delete: report never-started', J({ report: report('killed', 'never-started') }), H(), 'absent', [], false],
  ['started, supervisor alive', J({ started: S }), H({ supervisorAlive: true, stateDir: '/s/containers/x', cgroups: ['/c'] }), 'running', [], false],
  // Its own supervisor closed it (its program never ran: run.ts) while alive: not "running".
  ['started, rolled back by its own supervisor, which is alive', J({ started: S, recoveries: [{ seq: 2, classification: 'rolled-back' }] }), H({ supervisorAlive: true }), 'rolled-back', [], false],
  ['started, supervisor dead, leftovers', J({ started: S }), H({ ...leftovers }), 'rolled-back', ['remove-cgroup', 'remove-state', 'discard-quarantine'], true],
  ['started, supervisor dead, orphans still in its cgroup', J({ started: S }), H({ ...leftovers, orphans: [11, 13] }), 'rolled-back', ['kill-process', 'kill-process', 'remove-cgroup', 'remove-state', 'discard-quarantine'], true],
  ['started, a report sealed after it was lost (gc, delete -f)', J({ started: S, report: report('error', 'lost') }), H({ quarantine: '/q' }), 'rolled-back', ['discard-quarantine'], true],
  ['started, recovered before: nothing left, not recorded again', J({ started: S, report: report('error', 'lost'), recoveries: [{ seq: 4, classification: 'rolled-back' }] }), H(), 'rolled-back', [], false],
  ['started, killed before its go byte (delete -f): never-started', J({ started: S, report: report('killed', 'never-started') }), H(), 'rolled-back', [], true],
  ['started, a sound stopped entry without exit record (its owner deletes it)', J({ started: S }), H({ stateDir: '/s/containers/x', cgroups: ['/c'], quarantine: '/q' }), 'rolled-back', [], true],
  ['started, the monitor recorded the exit, no report yet', J({ started: S }), H({ stateDir: '/s/containers/x', exitRecord: true, cgroups: ['/c'], quarantine: '/q' }), 'completed', ['seal-report'], false],
  ['report sealed, quarantine waiting for the host', J({ started: S, report: report('completed', 'exit') }), H({ quarantine: '/q' }), 'completed', [], false],
  ['report sealed, a run\'s registration left behind', J({ started: S, report: report('completed', 'exit') }), H({ stateDir: '/s/containers/x', stateBroken: true, quarantine: '/q' }), 'completed', ['remove-state'], false],
  ['report sealed, a stopped container (its owner deletes it)', J({ started: S, report: report('completed', 'exit') }), H({ stateDir: '/s/containers/x', cgroups: ['/c'] }), 'completed', [], false],
  ['a journal from before start records: report only', J({ report: report('failed', 'exit') }), H(), 'completed', [], false],
  ['report sealed, commit decided, never applied (mid-commit)', J({ started: S, report: report('completed', 'exit'), dispositions: [disp(4, 'decided')] }), H({ quarantine: '/q', promoted: ['/dest/a'] }), 'completed', [], false],
  ['report sealed, commit applied after it', J({ started: S, report: report('completed', 'exit'), dispositions: [disp(4, 'decided'), disp(5, 'applied')] }), H({ promoted: ['/dest/a'] }), 'completed', [], false],
  ['commit applied with no report (canonical refusal)', J({ started: S, dispositions: [disp(2, 'decided'), disp(3, 'applied')] }), H({ ...leftovers, promoted: ['/dest/a'] }), 'refused', ['remove-cgroup'], true],
  ['commit applied before the report (canonical refusal)', J({ started: S, report: report('completed', 'exit', 5), dispositions: [disp(3, 'applied')] }), H(), 'refused', [], true],
  ['commit applied, only a lost report (canonical refusal)', J({ started: S, report: report('error', 'lost', 2), dispositions: [disp(3, 'applied')] }), H(), 'refused', [], true],
  ['promoted bytes present, no sealed report (canonical refusal)', J({ started: S, dispositions: [disp(2, 'decided')] }), H({ promoted: ['/dest/a'] }), 'refused', [], true],
  ['a torn report entry (canonical refusal)', J({ started: S, tornReport: true }), H({ ...leftovers, orphans: [11] }), 'refused', ['kill-process', 'remove-cgroup'], true],
  ['a torn report, supervisor alive: nothing killed', J({ started: S, tornReport: true }), H({ supervisorAlive: true, cgroups: ['/c'] }), 'refused', [], true],
  ['refused before: stays refused, not recorded again, even with a report appended since', J({ started: S, report: report('completed', 'exit', 9), recoveries: [{ seq: 7, classification: 'refused' }] }), H(), 'refused', [], false],
  ['a discard applied with no report is no refusal (nothing was promoted)', J({ started: S, dispositions: [disp(2, 'applied', 'discard')] }), H(), 'rolled-back', [], true],
];

describe('recovery classification', () => {
  for (const [what, j, h, cls, plan, record] of ROWS) {
    it(`${what} → ${cls}${plan.length ? `: ${plan.join(', ')}` : ''}`, () => {
      const v = classify(j, h);
      expect(v.classification, v.reason).toBe(cls);
      expect(v.plan.map((p) => p.do)).toEqual(plan);
      expect(v.record).toBe(record);
      expect(v.reason.length).toBeGreaterThan(10);
    });
  }

  it('names every target it plans to act on', () => {
    const v = classify(J({ started: S }), H({ ...leftovers, orphans: [11] }));
    expect(v.plan).toEqual([
      { do: 'kill-process', target: 'pid 11' },
      { do: 'remove-cgroup', target: '/sys/fs/cgroup/bvisor-x-r' },
      { do: 'remove-state', target: '/s/containers/x' },
      { do: 'discard-quarantine', target: '/s/outputs/r' },
    ]);
  });
});
