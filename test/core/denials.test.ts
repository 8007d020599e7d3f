// Denials from what a run records (core/denials.ts): each budget reached becomes one denial tied
// to its clause, with the manifest line that would allow it; the sources say what was watched;
// the stderr summary is short and exact. Expected values are written from the kernel's and the
// man pages' semantics (memory.events oom_kill, pids.events max, fork(2) EAGAIN, setrlimit(2)
// RLIMIT_CPU), not copied from the code's constants.
import { describe, expect, it } from 'vitest';
import type { Denial, ReportBody } from '../../src/contract/generated/types.js';
import { assembleDenials, budgetDenials, budgetSource, denialSummary, headroomDuration, headroomSize, landlockForContainerMode, landlockSource, notObservedSource, runFailed, summaryWorthSaying, wasiDenials, type BudgetCounters } from '../../src/core/denials.js';
import { sampleBody } from '../helpers/sample-report.js';
import * as V from '../../src/contract/generated/validators.js';
import { endedByCpuRlimit, sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';

const none: BudgetCounters = { outputBytes: null, oomKills: null, pidsMax: null };

function body(f: (b: ReportBody) => void = () => {}): ReportBody {
  const b = sampleBody();
  b.admitted = [
    { clause: 'limits.memory', verdict: 'enforced', mechanism: 'linux:cgroup2:memory.max+memory.swap.max=0' },
    { clause: 'limits.processes', verdict: 'enforced', mechanism: 'linux:cgroup2:pids.max' },
    { clause: 'limits.wall', verdict: 'enforced', mechanism: 'linux:supervisor(deadline,kill)' },
  ];
  f(b);
  return b;
}

const seccompItem = (atMs: number | null, what = 'mount("none", "/mnt", "tmpfs", 0x0)'): Denial => ({
  kind: 'syscall',
  clause: 'syscalls',
  what,
  syscall: { name: 'mount', nr: 165, arch: 'x86_64', args: ['0x1', '0x2', '0x3', '0x0', '0x0', '0x0'] },
  rule: 'default denylist: changes the filesystem view',
  errno: 'EPERM',
  observedBy: 'seccomp:user-notif',
  allow: null,
  count: 2,
  atMs,
  pid: 42,
});

describe('budgetDenials', () => {
  it('a clean run has none', () => {
    expect(budgetDenials(body(), none)).toEqual([]);
    expect(budgetDenials(body(), { outputBytes: 1 << 20, oomKills: { value: 0, source: '/cg/memory.events' }, pidsMax: { value: 0, source: '/cg/pids.events' } })).toEqual([]);
  });

  it('an OOM kill counted by memory.events is a limits.memory denial: stopped (no errno), 2× headroom in the unit written', () => {
    const b = body((b) => {
      b.outcome = { status: 'killed', reason: 'oom', exitCode: null, signal: 'SIGKILL' };
      b.budgets.memory.limit = 64 * 1024 * 1024;
    });
    const [d, ...rest] = budgetDenials(b, { ...none, oomKills: { value: 1, source: '/sys/fs/cgroup/x/memory.events' } });
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ kind: 'budget', clause: 'limits.memory', errno: null, observedBy: 'cgroup:memory.events oom_kill', allow: 'limits: { memory: 128Mi }', count: 1, pid: null });
    expect(d!.rule).toContain('linux:cgroup2:memory.max');
  });

  it('v1 counts OOM kills in memory.oom_control; a child killed while the workload survived is still a denial', () => {
    const b = body((b) => (b.budgets.memory.limit = 10_000_000)); // 10M, decimal
    const [d] = budgetDenials(b, { ...none, oomKills: { value: 3, source: '/sys/fs/cgroup/memory/p/leaf/memory.oom_control' } });
    expect(d).toMatchObject({ clause: 'limits.memory', observedBy: 'cgroup:memory.oom_control oom_kill', allow: 'limits: { memory: 20M }', count: 3 });
  });

  it('an OOM kill without limits.memory is not the boundary\'s denial (the host or a parent ran out)', () => {
    expect(budgetDenials(body((b) => (b.budgets.memory.limit = null)), { ...none, oomKills: { value: 1, source: '/cg/memory.events' } })).toEqual([]);
  });

  it('forks refused at pids.max: limits.processes, EAGAIN (fork(2)), counted by pids.events max', () => {
    const b = body((b) => (b.budgets.processes.limit = 16));
    const [d] = budgetDenials(b, { ...none, pidsMax: { value: 7, source: '/sys/fs/cgroup/pids/p/leaf/pids.events' } });
    expect(d).toMatchObject({ clause: 'limits.processes', errno: 'EAGAIN', observedBy: 'cgroup:pids.events max', allow: 'limits: { processes: 32 }', count: 7 });
  });

  it('a wall timeout: limits.wall at the deadline, 2× in the unit written', () => {
    const b = body((b) => {
      b.outcome = { status: 'timeout', reason: 'wall', exitCode: null, signal: 'SIGKILL' };
      b.budgets.wall.limit = 1500;
    });
    const [d] = budgetDenials(b, none);
    expect(d).toMatchObject({ clause: 'limits.wall', errno: null, allow: 'limits: { wall: 3s }', atMs: 1500 });
    expect(headroomDuration(30_000)).toBe('1m');
    expect(headroomDuration(250)).toBe('500ms');
  });

  it('limits.cpu: the monitor\'s kill, or RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the hard one, setrlimit(2))', () => {
    const watched = body((b) => {
      b.outcome = { status: 'killed', reason: 'cpu', exitCode: null, signal: 'SIGKILL' };
      b.budgets.cpu = { unit: 'ms', limit: 2000, observed: 2013, source: '/cg/cpu.stat' };
    });
    // Watched, the clause was mediated: its allow keeps that guarantee (4s enforced would be another mechanism).
    expect(budgetDenials(watched, none)).toMatchObject([{ clause: 'limits.cpu', allow: 'limits: { cpu: { value: 4s, guarantee: mediated } }' }]);
    // A report sealed before RLIMIT_CPU's kill had an outcome of its own (failed, by signal);
    // its limits.cpu clause names the rlimit.
    const xcpu = body((b) => {
      b.admitted.push({ clause: 'limits.cpu', verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_CPU=1s)' });
      b.outcome = { status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGXCPU' };
      b.budgets.cpu = { unit: 'ms', limit: 1000, observed: 1001 };
    });
    expect(budgetDenials(xcpu, none)).toMatchObject([{ clause: 'limits.cpu', observedBy: 'kernel:RLIMIT_CPU (SIGXCPU)' }]);
    // A SIGKILL with less CPU than the limit is someone else's kill.
    const killed = body((b) => {
      b.admitted.push({ clause: 'limits.cpu', verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_CPU=1s)' });
      b.outcome = { status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' };
      b.budgets.cpu = { unit: 'ms', limit: 1000, observed: 20 };
    });
    expect(budgetDenials(killed, none)).toEqual([]);
    // Watched, a SIGKILL at the limit is not the watch's (it would have said killed for cpu).
    const watchedSignal = body((b) => {
      b.admitted.push({ clause: 'limits.cpu', verdict: 'mediated', mechanism: 'linux:cgroup2:cpu.stat+supervisor(poll,kill)' });
      b.outcome = { status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' };
      b.budgets.cpu = { unit: 'ms', limit: 1000, observed: 1000 };
    });
    expect(budgetDenials(watchedSignal, none)).toEqual([]);
    // RLIMIT_CPU's kill as reports name it now: killed for cpu, the clause's mechanism an rlimit.
    const byKernel = body((b) => {
      b.admitted.push({ clause: 'limits.cpu', verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_CPU=1s)' });
      b.outcome = { status: 'killed', reason: 'cpu', exitCode: null, signal: 'SIGKILL' };
      b.budgets.cpu = { unit: 'ms', limit: 1000, observed: 997 };
    });
    expect(budgetDenials(byKernel, none)).toMatchObject([{ clause: 'limits.cpu', observedBy: 'kernel:RLIMIT_CPU (SIGKILL)', allow: 'limits: { cpu: 2s }' }]);
    expect(budgetSource(byKernel, none).how).toContain('kernel:RLIMIT_CPU');
    expect(budgetSource(watched, none).how).toContain('supervisor:cpu watch');
  });

  it('RLIMIT_CPU\'s end: SIGKILL near the hard limit, SIGXCPU near the soft one (setrlimit(2)), the exact runtime a few ticks short', () => {
    const r = { soft: 2, hard: 5 };
    // The kernel samples by the tick and getrusage(2) reports the exact runtime: 995 ms of a
    // 1 s limit was seen here.
    expect(endedByCpuRlimit({ soft: 1, hard: 1 }, 'SIGKILL', 995)).toBe(true);
    expect(endedByCpuRlimit(r, 'SIGKILL', 4990)).toBe(true);
    expect(endedByCpuRlimit(r, 'SIGKILL', 2100)).toBe(false); // a kill from elsewhere
    expect(endedByCpuRlimit(r, 'SIGXCPU', 1990)).toBe(true);
    // With the kernel's own charge read (its PROF clock), that decides, whatever the runtime: a
    // tick charges its whole jiffy, so a process beside bursty neighbours is charged more than it
    // ran (setrlimit(2): the limit is on the charge).
    expect(endedByCpuRlimit(r, 'SIGKILL', 3300, 5000)).toBe(true);
    expect(endedByCpuRlimit(r, 'SIGKILL', 4990, 2100)).toBe(false); // charged short of it: not the limit's
    expect(endedByCpuRlimit(r, 'SIGXCPU', 1400, 2000)).toBe(true);
    expect(endedByCpuRlimit(r, 'SIGXCPU', 500)).toBe(false);
    expect(endedByCpuRlimit(r, 'SIGTERM', 5000)).toBe(false);
    expect(endedByCpuRlimit(undefined, 'SIGKILL', 5000)).toBe(false);
    expect(endedByCpuRlimit(r, null, 5000)).toBe(false);
    // A long budget: 2 % of a minute (a workload sleeping between ticks is charged unevenly).
    expect(endedByCpuRlimit({ soft: 60, hard: 60 }, 'SIGKILL', 58_900)).toBe(true);
    expect(endedByCpuRlimit({ soft: 60, hard: 60 }, 'SIGKILL', 58_700)).toBe(false);
  });

  it('a captured stream cut at limits.output: allow enough for what it wrote', () => {
    const b = body((b) => (b.streams.stdout = { mode: 'capture', bytes: 5 * 1024 * 1024 + 1, sha256: 'c'.repeat(64), truncated: true }));
    const [d] = budgetDenials(b, { ...none, outputBytes: 1024 * 1024 });
    expect(d).toMatchObject({ clause: 'limits.output', errno: null, observedBy: 'supervisor:capture stdout', allow: 'limits: { output: 6Mi }' });
    expect(d!.what).toContain('5242881 bytes');
  });

  it('wasm fuel exhausted: limits.fuel', () => {
    const b = body((b) => {
      b.backend = 'wasm';
      b.outcome = { status: 'timeout', reason: 'fuel', exitCode: null, signal: null, trap: 'out_of_fuel' };
      b.budgets.fuel = { unit: 'fuel', limit: 1_000_000, observed: 1_000_001 };
    });
    expect(budgetDenials(b, none)).toMatchObject([{ clause: 'limits.fuel', allow: 'limits: { fuel: 2000000 }', errno: null }]);
  });

  it('headroom keeps the unit a limit is a whole multiple of', () => {
    expect(headroomSize(256 * 2 ** 20)).toBe('512Mi');
    expect(headroomSize(2 ** 30)).toBe('2Gi');
    expect(headroomSize(4096)).toBe('8Ki');
    expect(headroomSize(1_000_000)).toBe('2M');
    expect(headroomSize(1001)).toBe('2002');
  });
});

describe('sources', () => {
  it('landlock audit needs ABI 7 (Linux 6.15) and the audit log, which bvisor does not read', () => {
    const s2 = landlockSource(2);
    expect(s2).toMatchObject({ observed: false, how: null });
    expect(s2.notObserved).toMatch(/ABI 7/);
    expect(s2.notObserved).toMatch(/6\.15/);
    expect(s2.notObserved).toMatch(/has ABI 2/);
    expect(landlockSource(7).notObserved).toMatch(/audit/);
    expect(landlockSource(0).notObserved).toMatch(/not available/);
  });

  it('a container-mode run is not pointed at --explain, which does not trace it; other reasons and observed sources are left as they are', () => {
    const unseen = landlockSource(2);
    expect(unseen.notObserved).toContain('bvisor run --explain');
    const c = landlockForContainerMode(unseen);
    expect(c.notObserved).not.toContain('bvisor run --explain');
    expect(c.notObserved).toMatch(/has ABI 2 \(--explain does not trace a container-mode run, whose paths are its rootfs's\)$/);
    // The same inside a source with items (the launcher's), and nothing else of it changes.
    const withItems = { source: unseen, items: [], total: 0, truncated: false };
    expect(landlockForContainerMode(withItems)).toEqual({ ...withItems, source: c });
    const other = notObservedSource('the monitor could not read landlock\'s audit records (EIO)');
    expect(landlockForContainerMode(other)).toBe(other);
    const seen = { observed: true, how: 'audit', notObserved: null };
    expect(landlockForContainerMode(seen)).toBe(seen);
  });

  it('budgets are observed, and say what they cannot see', () => {
    const s = budgetSource(body(), { outputBytes: 4096, oomKills: { value: 0, source: '/cg/memory.events' }, pidsMax: { value: 0, source: '/cg/pids.events' } });
    expect(s.observed).toBe(true);
    expect(s.notObserved).toBeNull();
    expect(s.how).toContain('cgroup:memory.events oom_kill');
    expect(s.how).toContain('cgroup:pids.events max');
    expect(s.how).toContain('limits.openFiles');
  });
});

describe('assembleDenials', () => {
  const oom = budgetDenials(body((b) => (b.budgets.memory.limit = 2 ** 26)), { ...none, oomKills: { value: 2, source: '/cg/memory.events' } });

  it('orders by time, untimed last, stably; the total counts repeats', () => {
    const d = assembleDenials({
      seccomp: { source: { observed: true, how: 'seccomp:user-notif', notObserved: null }, items: [seccompItem(null, 'b'), seccompItem(30, 'c'), seccompItem(5, 'a'), seccompItem(null, 'd')], total: 9, truncated: true },
      seccompNotObserved: 'unused',
      landlock: landlockSource(2),
      budgets: oom,
      budgetSource: budgetSource(body(), none),
    });
    expect(d.items.map((x) => x.what)).toEqual(['a', 'c', 'b', 'd', oom[0]!.what]);
    expect(d.total).toBe(9 + 2);
    expect(d.truncated).toBe(true);
  });

  it('no seccomp findings: the source is not observed, with the reason given', () => {
    const d = assembleDenials({ seccomp: null, seccompNotObserved: 'because', landlock: landlockSource(2), budgets: [], budgetSource: budgetSource(body(), none) });
    expect(d).toMatchObject({ items: [], total: 0, truncated: false, sources: { seccomp: { observed: false, how: null, notObserved: 'because' } } });
  });

  it('what it builds is a valid report (the schema is the contract)', () => {
    const b = body();
    b.denials = assembleDenials({ seccomp: { source: { observed: true, how: 'seccomp:user-notif', notObserved: null }, items: [seccompItem(3)], total: 2, truncated: false }, seccompNotObserved: 'x', landlock: landlockSource(2), budgets: oom, budgetSource: budgetSource(b, none) });
    const ok = V.validateSealedReport(sealReport(b, sha256Hex));
    expect(ok, JSON.stringify(V.validateSealedReport.errors)).toBe(true);
  });
});

describe('denialSummary', () => {
  const withDenials = (items: Denial[], landlockAbi = 2): ReportBody =>
    body((b) => {
      b.denials = assembleDenials({ seccomp: { source: { observed: true, how: 'seccomp:user-notif', notObserved: null }, items, total: items.reduce((n, x) => n + x.count, 0), truncated: false }, seccompNotObserved: 'x', landlock: landlockSource(landlockAbi), budgets: [], budgetSource: budgetSource(b, none) });
    });

  it('the first denials with their clause and the line that allows them, then what was not watched', () => {
    const oom = budgetDenials(body((b) => (b.budgets.memory.limit = 2 ** 29)), { ...none, oomKills: { value: 1, source: '/cg/memory.events' } });
    const b = withDenials([seccompItem(1)]);
    b.denials!.items.push(...oom);
    b.denials!.total += 1;
    expect(denialSummary(b, { id: 'job-1' })).toEqual([
      // Two mount calls denied; the OOM kill is a limit reached, counted apart, and shown first.
      'bvisor: the boundary denied 2 action(s) in run job-1, and it reached 1 limit(s):',
      "  allocated past the limit; the kernel's OOM killer killed a process: limits.memory (512Mi, by linux:cgroup2:memory.max+memory.swap.max=0)",
      '    raise with: limits: { memory: 1024Mi } (twice the limit: how much it needed is not known)', // the unit the limit was written in
      '  mount("none", "/mnt", "tmpfs", 0x0) → EPERM (×2): syscalls (default denylist: changes the filesystem view); no clause allows it',
      `  filesystem and network denials (landlock) are not observed here: ${landlockSource(2).notObserved}`,
    ]);
  });

  it('a run that only reached limits was denied no action: its headline counts the limits, once each', () => {
    const oom = budgetDenials(body((b) => (b.budgets.memory.limit = 2 ** 29)), { ...none, oomKills: { value: 3, source: '/cg/memory.events' } });
    const b = withDenials([]);
    b.denials!.items.push(...oom);
    b.denials!.total += oom.reduce((n, x) => n + x.count, 0);
    expect(denialSummary(b, { id: 'job-2' })[0]).toBe('bvisor: run job-2 reached 1 limit(s) of its boundary:');
    // limits.output cut on both streams is one limit (an item per stream).
    const cut = { mode: 'capture' as const, bytes: 3 * 1024 * 1024, sha256: 'c'.repeat(64), truncated: true };
    const out = body((x) => ((x.streams.stdout = cut), (x.streams.stderr = cut)));
    const items = budgetDenials(out, { ...none, outputBytes: 1024 * 1024 });
    expect(items.map((x) => x.clause)).toEqual(['limits.output', 'limits.output']);
    const both = withDenials([]);
    both.denials!.items.push(...items);
    both.denials!.total += 2;
    const said = denialSummary(both, { id: 'job-3' });
    expect(said[0]).toBe('bvisor: run job-3 reached 1 limit(s) of its boundary:');
    // Its line is enough for what it wrote (3Mi), not a guess.
    expect(said[2]).toBe('    raise with: limits: { output: 3Mi }');
  });

  it('a limit reached is shown whatever the number of denials before it in time', () => {
    const oom = budgetDenials(body((b) => (b.budgets.memory.limit = 2 ** 29)), { ...none, oomKills: { value: 1, source: '/cg/memory.events' } });
    const b = withDenials([1, 2, 3, 4, 5, 6, 7].map((t) => seccompItem(t, `call${t}()`)));
    b.denials!.items.push(...oom);
    b.denials!.total += 1;
    const lines = denialSummary(b, { id: 'x', max: 5 });
    expect(lines[0]).toBe(`bvisor: the boundary denied ${7 * seccompItem(1).count} action(s) in run x, and it reached 1 limit(s):`);
    expect(lines[1]).toMatch(/^ {2}allocated past the limit; the kernel's OOM killer killed a process: limits\.memory/);
    expect(lines[2]).toBe('    raise with: limits: { memory: 1024Mi } (twice the limit: how much it needed is not known)');
    // Five lines in all: the limit and four denials, then the three left out.
    expect(lines.filter((l) => l.includes('→ EPERM'))).toHaveLength(4);
    expect(lines).toContain('  … and 3 more: bvisor report x');
  });

  it('a row that names its clause is not preceded by it twice', () => {
    const spawn: Denial = { ...seccompItem(1, 'vfork()'), kind: 'spawn', clause: 'spawn', rule: 'spawn: deny (no new processes or threads)', allow: 'spawn: descendants', count: 1 };
    expect(denialSummary(withDenials([spawn]), { id: 'x' }).slice(1, 3)).toEqual(['  vfork() → EPERM: spawn: deny (no new processes or threads)', '    allow with: spawn: descendants']);
  });

  it('past max: a count and where to see all', () => {
    const items = [1, 2, 3, 4, 5, 6, 7].map((t) => seccompItem(t, `call${t}()`));
    const lines = denialSummary(withDenials(items), { id: 'x', max: 5 });
    expect(lines.filter((l) => l.includes('→ EPERM'))).toHaveLength(5);
    expect(lines).toContain('  … and 2 more: bvisor report x');
  });

  it('control characters from a workload are escaped, never written raw', () => {
    const lines = denialSummary(withDenials([seccompItem(1, 'open("\u001b[2J\n")')]), { id: 'x' });
    expect(lines.join('\n')).not.toContain('\u001b');
    expect(lines[1]).toContain('\\x1b[2J\\x0a');
  });

  it('no denial, nothing unwatched: nothing worth saying; a source not watched is worth a line', () => {
    const b = withDenials([]);
    b.denials!.sources.landlock = { observed: true, how: 'landlock:audit', notObserved: null };
    expect(summaryWorthSaying(b)).toBe(false);
    b.denials!.sources.landlock = notObservedSource('no audit');
    expect(summaryWorthSaying(b)).toBe(true);
    expect(denialSummary(b, { id: 'x' })).toEqual(['bvisor: no denial was observed in run x', '  filesystem and network denials (landlock) are not observed here: no audit']);
  });

  it('a wasm guest makes no system calls: its seccomp source is not a line', () => {
    const b = withDenials([]);
    b.backend = 'wasm';
    b.denials!.sources.seccomp = notObservedSource('no syscalls');
    expect(denialSummary(b, { id: 'x' }).join('\n')).not.toContain('no syscalls');
  });

  it('a report without denials (older) says nothing', () => {
    expect(denialSummary(body(), { id: 'x' })).toEqual([]);
  });

  it('a run failed when its status is not 0 or a budget ended it', () => {
    expect(runFailed(body(), 0)).toBe(false);
    expect(runFailed(body(), 1)).toBe(true);
    expect(runFailed(body((b) => (b.outcome = { status: 'killed', reason: 'oom', exitCode: null, signal: 'SIGKILL' })), 137)).toBe(true);
  });
});

describe('wasiDenials (the WASI host\'s ENOTCAPABLE answers)', () => {
  const grants = [
    { clause: 'filesystem[0]', path: '/b/box/sb', target: '/box/sb', access: 'read' },
    { clause: 'filesystem[1]', path: '/b/out', target: '/out', access: 'read-write' },
  ];
  const at = { count: 1, atMs: 2 };

  it('a write to a read-only preopen is that grant\'s denial; the allow line makes it read-write', () => {
    const s = wasiDenials([{ op: 'path_open', path: 'inside.txt', grant: 0, why: 'readonly', ...at }], 1, grants);
    expect(s.items).toEqual([expect.objectContaining({ kind: 'filesystem', clause: 'filesystem[0]', path: '/box/sb/inside.txt', errno: 'ENOTCAPABLE', observedBy: 'wasi:host', allow: 'filesystem: [{ path: /b/box/sb, access: read-write }]   # in place of filesystem[0]' })]);
    expect(s.source.observed).toBe(true);
  });

  it('a path outside every preopen is `filesystem` (no grant covers it), allowed by a grant of its directory', () => {
    const s = wasiDenials([{ op: 'path_open', path: '../secret.txt', grant: 0, why: 'escape', ...at }, { op: 'path_open', path: '/etc/passwd', grant: 0, why: 'absolute', ...at }, { op: 'path_create_directory', path: '../../x/y', grant: 1, why: 'escape', ...at }], 3, grants);
    expect(s.items.map((d) => [d.clause, d.path, d.allow])).toEqual([
      ['filesystem', '/box/sb/../secret.txt', 'filesystem: [{ path: /box, access: read }]'],
      ['filesystem', '/etc/passwd', 'filesystem: [{ path: /etc, access: read }]'],
      ['filesystem', '/out/../../x/y', 'filesystem: [{ path: /x, access: read-write }]'],
    ]);
  });

  it('a symlink that leaves its preopen: no clause allows it', () => {
    const [d] = wasiDenials([{ op: 'path_open', path: 'esc/secret.txt', grant: 0, why: 'escape', ...at }], 1, grants).items;
    expect(d).toMatchObject({ clause: 'filesystem', allow: null });
  });

  it('more refusals than kept: truncated, and the total counts them all', () => {
    const s = wasiDenials([{ op: 'path_open', path: '/a', grant: 0, why: 'absolute', count: 3, atMs: 0 }], 5, grants);
    expect(s).toMatchObject({ total: 5, truncated: true });
    expect(wasiDenials([{ op: 'path_open', path: '/a', grant: 0, why: 'absolute', count: 3, atMs: 0 }], 3, grants).truncated).toBe(false);
  });
});
