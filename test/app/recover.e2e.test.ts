// The journal as a recovery log, window by window: bvisor is killed with SIGKILL at a fault point
// (test/seams/crash-at.mjs) in each crash window of an attempt, then `bvisor recover` classifies
// it and acts. One row per window; each asserts the classification (recover --json, checked
// against schemas/recover-output.schema.json; --dry-run first, which must change nothing) and the
// action, with oracles outside bvisor: /proc for the recorded processes, the cgroup filesystem for
// the leaves, the disk for the state entry and the quarantine, and `bvisor journal verify` for the
// chain that now holds the recovery entries. A second recover must find nothing more to do.
//
// The quarantine is simulated: a directory <root>/outputs/<runId> with a file in it, where the
// outputs clause (app/outputs.ts) puts it. The commit windows ("between seal and commit",
// "mid-commit") are simulated with journal entries (appendDisposition, as bvisor commit will
// append them) and a promoted file at the artifact's destination: bvisor commit is not wired to
// the journal yet.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { probeBundle, facts, testCgroupParent } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { until, running, type ProcRefLike } from '../helpers/wait.js';
import { validateRecoverOutput } from '../../src/contract/generated/validators.js';
import { appendDisposition } from '../../src/host/journal-store.js';
import type { AttemptClass, JournalEntry, RecoverOutput, RecoveredAttempt, RecoveryAction } from '../../src/contract/generated/types.js';


/** The cgroup leaves bvisor made for this container id, in every hierarchy (the cgroup fs). */
function leaves(id: string): string[] {
  const out: string[] = [];
  for (const h of [...facts().cgroup.v1, ...(facts().cgroup.v2 ? [facts().cgroup.v2!] : [])]) {
    if (!h.ownDir) continue;
    for (const d of [h.ownDir, join(h.ownDir, testCgroupParent())]) if (existsSync(d)) for (const n of readdirSync(d)) if (n.startsWith(`bvisor-${id}-`)) out.push(join(d, n));
  }
  return out.sort();
}

const journal = (root: string): JournalEntry[] => (existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter((l) => l.startsWith('{') && l.endsWith('}')).map((l) => JSON.parse(l) as JournalEntry) : []);
const journalBytes = (root: string): string => (existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'latin1') : '');

function recover(root: string, ...flags: string[]): { r: CliResult; out: RecoverOutput } {
  const r = cli(['recover', '--root', root, '--json', ...flags]);
  const out = r.json<RecoverOutput>();
  expect(validateRecoverOutput(out), JSON.stringify(validateRecoverOutput.errors)).toBe(true);
  return { r, out };
}

function verifyChain(root: string): number {
  const v = cli(['journal', 'verify', '--root', root, '--json']);
  expect(v.status, v.stdout + v.stderr).toBe(0);
  return v.json().entries as number;
}

interface Ctx {
  root: string;
  id: string;
  bundle: string;
  /** The attempt's run id, once known (state.json or the journal). */
  runId: string | null;
  /** The processes the attempt recorded (state.json, the start record), before recovery. */
  refs: ProcRefLike[];
  scratch: string;
}

const ok = (r: CliResult, what: string): void => expect(r.status, `${what}: ${r.stderr}`).toBe(0);
const crash = (c: Ctx, args: string[], stage: string): void => {
  const r = cli([...args, '--root', c.root], { crashAt: stage });
  expect(r.signal, `${args[0]} should die at ${stage}: ${r.stderr}`).toBe('SIGKILL');
};
const stateOf = (c: Ctx): any => {
  const f = join(c.root, 'containers', c.id, 'state.json');
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null;
};
/** What the crash left: the run id and every process ref on disk (state.json, start record). */
function takeStock(c: Ctx): void {
  const s = stateOf(c);
  const started = journal(c.root).filter((e: any) => e.event?.kind === 'started' && e.event.containerId === c.id).map((e: any) => e.event);
  c.runId = s?.runId ?? started.at(-1)?.runId ?? journal(c.root).map((e: any) => e.report?.body).filter((b: any) => b?.containerId === c.id).at(-1)?.runId ?? null;
  c.refs = [s?.pid, s?.monitor, s?.creator, ...started.flatMap((e: any) => [e.workload, e.monitor, e.supervisor])].filter(Boolean);
}
/** The attempt's quarantine, as app/outputs.ts lays it out: <root>/outputs/<runId>, one file in it. */
function quarantine(c: Ctx): string {
  return join(c.root, 'outputs', c.runId!);
}
function stage(c: Ctx): void {
  mkdirSync(quarantine(c), { recursive: true });
  writeFileSync(join(quarantine(c), 'out.txt'), 'staged\n');
}
const sha = 'a'.repeat(64);

type Where = 'gone' | 'kept';
interface Row {
  window: string;
  /** A bundle of its own (default: the probe running `workload`). */
  bundle?: string;
  /** Commands up to and including the crash (or the simulation of one). */
  arrange: (c: Ctx) => Promise<void> | void;
  workload: string[];
  /** Stage a quarantine for the attempt (default yes). */
  quarantine?: boolean;
  expect: {
    classification: AttemptClass;
    /** The actions recover takes, by kind (in order); `kind?`: only if the host had one. */
    actions: Array<RecoveryAction['do'] | `${RecoveryAction['do']}?`>;
    /** Whether recover appends a recovery entry. */
    recorded: boolean;
    processes: 'gone' | 'alive';
    cgroups: Where;
    state: Where;
    quarantine: Where;
    /** recover's exit status (8: a canonical refusal). */
    exit?: number;
  };
  /** More checks, and what becomes of the attempt after (e.g. once a person deletes it). */
  then?: (c: Ctx, a: RecoveredAttempt) => Promise<void> | void;
}

const run = (c: Ctx): string[] => ['run', c.id, '-b', c.bundle];
const createStart = (c: Ctx): void => {
  ok(cli(['create', c.id, '-b', c.bundle, '--root', c.root]), 'create');
  ok(cli(['start', c.id, '--root', c.root]), 'start');
};
const stoppedExit = (c: Ctx): boolean => existsSync(join(c.root, 'containers', c.id, 'exit.json'));

const ROWS: Row[] = [
  // ---- bvisor run ---------------------------------------------------------------------------
  {
    window: 'run: before the start record (workload prepared, never released)',
    workload: ['sleep', '30'],
    arrange: (c) => crash(c, run(c), 'run:before-start-record'),
    expect: { classification: 'absent', actions: ['seal-report', 'remove-state', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
    then: (c) => expect(journal(c.root).some((e: any) => e.event?.kind === 'started')).toBe(false),
  },
  {
    window: 'run: the start record torn mid-append (never released)',
    workload: ['sleep', '30'],
    arrange: (c) => crash(c, run(c), 'journal:torn-started'),
    expect: { classification: 'absent', actions: ['seal-report', 'remove-state', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
    then: (c) => {
      // The torn line was cut off and kept aside; the repair is the journal's own entry.
      expect(journal(c.root).some((e: any) => e.event?.kind === 'repair' && e.event.truncated)).toBe(true);
      expect(readdirSync(c.root).some((n) => n.startsWith('journal.jsonl.torn-'))).toBe(true);
    },
  },
  {
    window: 'run: after the start record, before release (the go byte)',
    workload: ['sleep', '30'],
    arrange: (c) => crash(c, run(c), 'run:after-start-record'),
    expect: { classification: 'rolled-back', actions: ['seal-report', 'remove-state', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
  },
  {
    window: 'run: running (bvisor run killed, its workload dies with it)',
    workload: ['sleep', '30'],
    arrange: (c) => crash(c, run(c), 'run:running'),
    expect: { classification: 'rolled-back', actions: ['seal-report', 'remove-state', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
    then: (c) => {
      // The report sealed for it afterwards says it was lost, and does not make it completed.
      const rep = journal(c.root).find((e: any) => e.report?.body.runId === c.runId) as any;
      expect(rep.report.body.outcome).toMatchObject({ status: 'error', reason: 'lost' });
    },
  },
  {
    window: 'run: after exit, before the seal',
    workload: ['exit', '0'],
    arrange: (c) => crash(c, run(c), 'run:before-seal'),
    expect: { classification: 'rolled-back', actions: ['seal-report', 'remove-state', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
  },
  {
    window: 'run: the report torn mid-append (canonical refusal)',
    workload: ['exit', '0'],
    arrange: (c) => crash(c, run(c), 'journal:torn-report'),
    expect: { classification: 'refused', actions: [], recorded: true, processes: 'gone', cgroups: 'gone', state: 'kept', quarantine: 'kept', exit: 8 },
    then: (c, a) => {
      expect(a.evidence.tornReport).toBe(true);
      expect(a.reason).toMatch(/torn/);
      // Refused stays refused, whatever is appended later (a person's delete -f seals report.json).
      ok(cli(['delete', '-f', c.id, '--root', c.root]), 'delete -f');
      const again = recover(c.root).out.attempts.find((x) => x.runId === c.runId)!;
      expect(again.classification).toBe('refused');
      expect(again.recorded).toBeNull();
    },
  },
  {
    window: 'run: between seal and commit (bvisor run killed after its report was journaled)',
    workload: ['exit', '0'],
    arrange: (c) => crash(c, run(c), 'run:after-journal'),
    expect: { classification: 'completed', actions: ['remove-state'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'kept' },
    then: (c, a) => expect(a.reason).toMatch(/wait for bvisor commit or discard/),
  },
  {
    window: 'run: between seal and commit (run finished; outputs wait for the host)',
    workload: ['exit', '0'],
    arrange: (c) => ok(cli([...run(c), '--root', c.root]), 'run'),
    expect: { classification: 'completed', actions: [], recorded: false, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'kept' },
  },
  {
    window: 'mid-commit, report sealed: decided, never applied (simulated with journal entries)',
    workload: ['exit', '0'],
    arrange: (c) => {
      ok(cli([...run(c), '--root', c.root]), 'run');
      takeStock(c);
      const to = join(c.scratch, 'dest', 'out.txt');
      appendDisposition(c.root, { runId: c.runId!, step: 'decided', action: 'commit', artifacts: [{ id: 'out', sha256: sha, to }] });
      mkdirSync(join(c.scratch, 'dest'));
      writeFileSync(to, 'staged\n'); // one artifact promoted before the crash
    },
    expect: { classification: 'completed', actions: [], recorded: false, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'kept' },
    then: (c, a) => {
      expect(a.reason).toMatch(/commit was decided .* never applied/);
      expect(a.evidence.promoted).toEqual([join(c.scratch, 'dest', 'out.txt')]);
      expect(existsSync(join(c.scratch, 'dest', 'out.txt'))).toBe(true); // the host's bytes are never recovery's
    },
  },
  {
    window: 'mid-commit without a sealed report: bytes promoted, applied (canonical refusal; simulated)',
    workload: ['exit', '0'],
    arrange: (c) => {
      crash(c, run(c), 'run:before-seal');
      takeStock(c);
      const to = join(c.scratch, 'dest', 'out.txt');
      mkdirSync(join(c.scratch, 'dest'));
      appendDisposition(c.root, { runId: c.runId!, step: 'decided', action: 'commit', artifacts: [{ id: 'out', sha256: sha, to }] });
      writeFileSync(to, 'staged\n');
      appendDisposition(c.root, { runId: c.runId!, step: 'applied', action: 'commit', artifacts: [{ id: 'out', sha256: sha, to }] });
    },
    expect: { classification: 'refused', actions: [], recorded: true, processes: 'gone', cgroups: 'gone', state: 'kept', quarantine: 'kept', exit: 8 },
    then: (c, a) => {
      expect(a.reason).toMatch(/commit .* applied .* without a sealed report/);
      expect(existsSync(join(c.scratch, 'dest', 'out.txt'))).toBe(true);
      // gc, which acts on the same classification, leaves the refused attempt's entry alone.
      ok(cli(['gc', '--root', c.root]), 'gc');
      expect(existsSync(join(c.root, 'containers', c.id))).toBe(true);
    },
  },
  {
    window: 'run (wasm): after the start record, before the runner is handed its job',
    workload: [],
    bundle: join(__dirname, '..', '..', 'bundles', 'hello-wasm'),
    arrange: (c) => crash(c, run(c), 'run:after-start-record'),
    expect: { classification: 'rolled-back', actions: ['seal-report', 'remove-state', 'remove-cgroup?', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
    then: (c) => {
      const s = journal(c.root).find((e: any) => e.event?.kind === 'started' && e.event.runId === c.runId) as any;
      expect(s.event).toMatchObject({ releasedBy: 'run', backend: 'wasm', containerId: c.id });
      // The record comes after the runner's exec: it names the runner and its cgroup leaves,
      // which recovery can then find from the journal alone (a run without a state entry).
      expect(s.event.workload).toMatchObject({ pid: expect.any(Number) });
      expect(s.event.cgroupDirs.length).toBeGreaterThan(0);
      for (const d of s.event.cgroupDirs) expect(d).toMatch(new RegExp(`^/sys/fs/cgroup/.*/bvisor-${c.id}-${c.runId!.slice(0, 8)}`));
    },
  },
  {
    window: 'run (wasm): the runner exec\'d, before the start record',
    workload: [],
    bundle: join(__dirname, '..', '..', 'bundles', 'hello-wasm'),
    arrange: (c) => crash(c, run(c), 'run:running'),
    expect: { classification: 'absent', actions: ['seal-report', 'remove-state', 'remove-cgroup?', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
    then: (c) => expect(journal(c.root).some((e: any) => e.event?.kind === 'started' && e.event.runId === c.runId)).toBe(false),
  },
  // ---- create + start -----------------------------------------------------------------------
  {
    window: 'create: killed after the monitor confirmed (never released; orphans)',
    workload: ['sleep', '30'],
    arrange: (c) => crash(c, ['create', c.id, '-b', c.bundle], 'create:after-spawn'),
    expect: { classification: 'absent', actions: ['seal-report', 'remove-state', 'kill-process', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
  },
  {
    window: 'start: before the start record (created, waiting for start)',
    workload: ['sleep', '30'],
    arrange: (c) => {
      ok(cli(['create', c.id, '-b', c.bundle, '--root', c.root]), 'create');
      crash(c, ['start', c.id], 'start:before-start-record');
    },
    expect: { classification: 'absent', actions: [], recorded: false, processes: 'alive', cgroups: 'kept', state: 'kept', quarantine: 'kept' },
    then: (c) => {
      // It was never released: it is still created, and starts.
      expect(cli(['state', c.id, '--root', c.root]).json().status).toBe('created');
    },
  },
  {
    window: 'start: after the start record, before the go byte',
    workload: ['sleep', '30'],
    arrange: (c) => {
      ok(cli(['create', c.id, '-b', c.bundle, '--root', c.root]), 'create');
      crash(c, ['start', c.id], 'start:after-start-record');
    },
    expect: { classification: 'running', actions: [], recorded: false, processes: 'alive', cgroups: 'kept', state: 'kept', quarantine: 'kept' },
    then: (c) => {
      // Once it is deleted without ever being released, it was rolled back (recorded once).
      ok(cli(['delete', '-f', c.id, '--root', c.root]), 'delete -f');
      const a = recover(c.root).out.attempts.find((x) => x.runId === c.runId)!;
      expect(a).toMatchObject({ classification: 'rolled-back', actions: [{ do: 'discard-quarantine', done: true }] });
      expect(a.recorded).not.toBeNull();
      expect(existsSync(quarantine(c))).toBe(false);
    },
  },
  {
    window: 'start: killed after the go byte (running under its monitor)',
    workload: ['sleep', '30'],
    arrange: (c) => {
      ok(cli(['create', c.id, '-b', c.bundle, '--root', c.root]), 'create');
      crash(c, ['start', c.id], 'start:after-go');
    },
    expect: { classification: 'running', actions: [], recorded: false, processes: 'alive', cgroups: 'kept', state: 'kept', quarantine: 'kept' },
  },
  {
    window: 'container: after exit, before the seal (the monitor recorded the exit)',
    workload: ['exit', '0'],
    arrange: async (c) => {
      createStart(c);
      await until('exit.json', () => stoppedExit(c));
    },
    expect: { classification: 'completed', actions: ['seal-report'], recorded: true, processes: 'gone', cgroups: 'kept', state: 'kept', quarantine: 'kept' },
    then: (c) => {
      // Sealed into the journal; the stopped container stays its owner's to delete.
      expect(journal(c.root).some((e: any) => e.report?.body.runId === c.runId && e.report.body.outcome.status === 'completed')).toBe(true);
      expect(cli(['state', c.id, '--root', c.root]).json().status).toBe('stopped');
    },
  },
  {
    window: 'container: running, its monitor killed (the supervisor died)',
    workload: ['sleep', '30'],
    arrange: async (c) => {
      createStart(c);
      const s = stateOf(c);
      takeStock(c);
      process.kill(s.monitor.pid, 'SIGKILL');
      await until('workload dies with its monitor', () => !running(s.pid) && !running(s.monitor));
    },
    expect: { classification: 'rolled-back', actions: ['seal-report', 'remove-state', 'remove-cgroup', 'discard-quarantine'], recorded: true, processes: 'gone', cgroups: 'gone', state: 'gone', quarantine: 'gone' },
  },
];

describe('bvisor recover: every crash window, classified and acted on', () => {
  ROWS.forEach((row, i) => {
    it(row.window, async () => {
      const c: Ctx = { root: newRoot(), id: `rc${i}`, bundle: row.bundle ?? probeBundle(row.workload, 'limits: { memory: 64Mi }\n'), runId: null, refs: [], scratch: tempDir() };
      await row.arrange(c);
      takeStock(c);
      expect(c.runId, 'the crash left a run id on disk or in the journal').not.toBeNull();
      if (row.quarantine !== false) stage(c);
      const cgBefore = leaves(c.id);
      const bytes = journalBytes(c.root);

      // --dry-run: the same verdict, the same plan, nothing changed (not even a torn tail).
      const dry = recover(c.root, '--dry-run');
      const d = dry.out.attempts.find((a) => a.runId === c.runId)!;
      expect(d, JSON.stringify(dry.out)).toBeDefined();
      expect(d.classification).toBe(row.expect.classification);
      expect(d.actions.every((a) => !a.done)).toBe(true);
      expect(d.recorded).toBeNull();
      expect(journalBytes(c.root)).toBe(bytes);
      expect(existsSync(quarantine(c))).toBe(true);
      expect(leaves(c.id)).toEqual(cgBefore);

      // recover: classify and act.
      const { r, out } = recover(c.root);
      expect(r.status, r.stderr).toBe(row.expect.exit ?? 0);
      const a = out.attempts.find((x) => x.runId === c.runId)!;
      expect(a.classification, a.reason).toBe(row.expect.classification);
      // By kind, in order (one kill-process per process and one remove-cgroup per hierarchy's leaf
      // count as one: how many there are depends on the host's hierarchies).
      const kinds = (xs: RecoveryAction[]): string[] => xs.map((x) => x.do).filter((k, n, all) => n === 0 || all[n - 1] !== k);
      const got = kinds(a.actions);
      expect(got, JSON.stringify(a.actions)).toEqual(row.expect.actions.filter((k) => !k.endsWith('?') || got.includes(k.slice(0, -1))).map((k) => k.replace('?', '')));
      expect(a.actions.filter((x) => !x.done)).toEqual([]);
      // The plan --dry-run showed is what was done (a report sealed by the way is extra).
      expect(a.actions.filter((x) => x.do !== 'seal-report').map((x) => x.do).sort()).toEqual(d.actions.filter((x) => x.do !== 'seal-report').map((x) => x.do).sort());

      // Oracles: /proc, the cgroup fs, the disk.
      if (row.expect.processes === 'gone') await until('the attempt\'s processes are gone', () => c.refs.every((ref) => !running(ref)));
      else expect(c.refs.some((ref) => running(ref))).toBe(true);
      if (row.expect.cgroups === 'gone') expect(leaves(c.id)).toEqual([]);
      else expect(leaves(c.id)).toEqual(cgBefore);
      expect(existsSync(join(c.root, 'containers', c.id))).toBe(row.expect.state === 'kept');
      expect(existsSync(quarantine(c))).toBe(row.expect.quarantine === 'kept');

      // The journal: the recovery entry (when one is due) says what was decided and done, and the
      // chain holds.
      const entries = verifyChain(c.root);
      const rec = journal(c.root).filter((e: any) => e.event?.kind === 'recovery' && e.event.runId === c.runId) as any[];
      if (row.expect.recorded) {
        expect(a.recorded).toBe(entries);
        expect(rec.at(-1).seq).toBe(a.recorded);
        expect(rec.at(-1).event).toMatchObject({ classification: row.expect.classification, containerId: c.id, actions: a.actions });
      } else {
        expect(a.recorded).toBeNull();
        expect(rec).toEqual([]);
      }

      // Idempotent: a second recover finds the same verdict and nothing to do.
      const again = recover(c.root).out.attempts.find((x) => x.runId === c.runId)!;
      expect(again.classification).toBe(row.expect.classification);
      expect(again.actions).toEqual([]);
      expect(again.recorded).toBeNull();

      await row.then?.(c, a);
      if (existsSync(join(c.root, 'outputs'))) rmSync(join(c.root, 'outputs'), { recursive: true, force: true });
    });
  });
});

describe('the start record comes before the release', () => {
  it('start appends it (monitor, workload, cgroups as create recorded them) before the go byte; a journal that cannot take it keeps the workload unreleased', async () => {
    const root = newRoot();
    const b = probeBundle(['sleep', '30'], 'limits: { memory: 64Mi }\n');
    ok(cli(['create', 's1', '-b', b, '--root', root]), 'create');
    const st = JSON.parse(readFileSync(join(root, 'containers', 's1', 'state.json'), 'utf8'));
    // A torn tail (an append that never finished): nothing may be appended after it.
    writeFileSync(join(root, 'journal.jsonl'), '{"bvisorVersion":"1","seq":1,"at":"');
    const refused = cli(['start', 's1', '--root', root, '--json']);
    expect(refused.status).toBe(8);
    expect(refused.json().error.code).toBe('BV_JOURNAL_TORN');
    // Oracle: /proc. The workload is still the monitor's waiting clone, not the probe.
    expect(running(st.pid)).toBe(true);
    expect(require('node:fs').readlinkSync(`/proc/${st.pid.pid}/exe`)).not.toMatch(/bvprobe$/);
    expect(cli(['state', 's1', '--root', root]).json().status).toBe('created');
    // Once the journal is mended, start works, and its record names what state.json names.
    ok(cli(['journal', 'verify', '--repair', '--root', root]), 'repair');
    ok(cli(['start', 's1', '--root', root]), 'start');
    await until('the probe runs', () => /bvprobe$/.test(safeReadlink(`/proc/${st.pid.pid}/exe`)));
    const s = journal(root).find((e: any) => e.event?.kind === 'started') as any;
    expect(s.event).toMatchObject({ runId: st.runId, containerId: 's1', releasedBy: 'start', backend: 'linux', planHash: st.planHash, stateRoot: root, cgroupDirs: st.cgroupDirs, supervisor: st.monitor, monitor: st.monitor, workload: st.pid });
    expect(existsSync(join(root, 'containers', 's1', '.reserve.start'))).toBe(false); // given back to the journal
    ok(cli(['delete', '-f', 's1', '--root', root]), 'delete -f');
  });

  it('run appends it with the workload\'s pid and cgroups before the go byte', () => {
    const root = newRoot();
    ok(cli(['run', 'r1', '-b', probeBundle(['exit', '0'], 'limits: { memory: 64Mi }\n'), '--root', root]), 'run');
    const [s, r] = journal(root) as any[];
    expect(s.event).toMatchObject({ kind: 'started', containerId: 'r1', releasedBy: 'run', monitor: null, stateRoot: root });
    expect(s.event.workload.pid).toBeGreaterThan(1);
    expect(s.event.cgroupDirs.length).toBeGreaterThan(0);
    expect(s.event.cgroupDirs.every((d: string) => d.includes('/bvisor-r1-'))).toBe(true);
    expect(r.report.body.runId).toBe(s.event.runId);
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([]);
  });

  it('list shows each container\'s attempt as recover classifies it (read-only)', async () => {
    const root = newRoot();
    ok(cli(['create', 'l1', '-b', probeBundle(['sleep', '30']), '--root', root]), 'create');
    ok(cli(['create', 'l2', '-b', probeBundle(['sleep', '30']), '--root', root]), 'create');
    ok(cli(['start', 'l2', '--root', root]), 'start');
    const bytes = journalBytes(root);
    const l = cli(['list', '--root', root, '--json']).json();
    expect(l.map((x: any) => [x.id, x.status, x.attempt?.classification])).toEqual([['l1', 'created', 'absent'], ['l2', 'running', 'running']]);
    expect(cli(['list', '--root', root]).stdout).toMatch(/l2\s+\d+\s+running\s+.*\srunning\n?$/m);
    expect(journalBytes(root)).toBe(bytes);
  });
});

function safeReadlink(p: string): string {
  try {
    return require('node:fs').readlinkSync(p);
  } catch {
    return '';
  }
}
