// Denials with real workloads (docs/denials.md): a shell that allocates past limits.memory, a
// shell that forks past limits.processes, a sleep past limits.wall, and a clean run. Oracles
// that are not bvisor's report: the workload's own exit status and error text, the test's clock,
// and the kernel's counters (memory.events / memory.oom_control oom_kill, pids.events max) read
// from the container's cgroup before delete removes it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { validateSealedReport } from '../../src/contract/generated/validators.js';
import type { Denial, SealedReport } from '../../src/contract/generated/types.js';

/** A bundle whose workload is `dash -c script`: it may run what is under /usr, nothing else. */
function shBundle(script: string, extra: string, stdio = 'stdout: inherit, stderr: inherit'): string {
  const dir = tempDir('bvisor-denials-');
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/dash, args: ["-c", ${JSON.stringify(script)}], cwd: / }\nfilesystem:\n  - { path: /usr, access: read-exec }\nenv: { PATH: /usr/bin:/bin }\nstdio: { ${stdio} }\n${extra}`,
  );
  return dir;
}

/** dash doubles a string until the kernel kills it. */
const ALLOC = 's=x; while :; do s="$s$s"; done';
/** 40 background sleeps; dash stops at the first fork that fails ("Cannot fork", exit 2). */
const FORKS = 'i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; wait';

function report(root: string, id: string): SealedReport {
  const r = cli(['report', id, '--root', root, '--json']);
  expect(r.status, r.stderr).toBe(0);
  const rep = r.json<SealedReport>();
  expect(validateSealedReport(rep), JSON.stringify(validateSealedReport.errors)).toBe(true);
  return rep;
}

/** The summary bvisor run wrote after the workload's own stderr. */
function summary(stderr: string): string[] {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /^bvisor: (the boundary denied|run \S+ reached|no denial)/.test(l));
  return at < 0 ? [] : lines.slice(at).filter((l) => l !== '');
}

const budgets = (rep: SealedReport): Denial[] => rep.body.denials!.items.filter((d) => d.kind === 'budget');

/** A container's leaf directories, and one counter read from them (the kernel's, not bvisor's). */
function counter(root: string, id: string, file: string, key: string): number | null {
  const dirs = JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')).cgroupDirs as string[];
  for (const d of dirs) {
    const p = join(d, file);
    if (!existsSync(p)) continue;
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(p, 'utf8'));
    if (m) return Number(m[1]);
  }
  return null;
}

/** A container's streams are captured: inherited ones would hold the test's pipes open until it ends. */
const CAPTURED = 'stdout: capture, stderr: capture';

/** Containers a test made: removed (delete -f kills what is left) even when the test fails. */
const made: Array<{ root: string; id: string }> = [];
afterEach(() => {
  for (const c of made.splice(0)) cli(['delete', '-f', c.id, '--root', c.root]);
});

async function runContainer(root: string, id: string, bundle: string): Promise<void> {
  made.push({ root, id });
  const c = cli(['create', id, '-b', bundle, '--root', root]);
  expect(c.status, c.stderr).toBe(0);
  expect(cli(['start', id, '--root', root]).status).toBe(0);
  await until(`${id} exit record`, () => existsSync(join(root, 'containers', id, 'exit.json')), 20_000);
}

describe('denials: budgets reached by real workloads', { timeout: 60_000 }, () => {
  it('a shell past limits.memory: bvisor run exits 137 and says limits.memory, with the line that allows more', () => {
    const root = tempDir();
    const r = cli(['run', 'oom1', '-b', shBundle(ALLOC, 'limits: { wall: 30s, memory: 32Mi }\n'), '--root', root]);
    expect(r.status, r.stderr).toBe(137); // SIGKILL: the workload's fate, as the shell that ran bvisor sees it
    const s = summary(r.stderr);
    expect(s[0]).toMatch(/^bvisor: (?:run oom1 reached 1 limit\(s\) of its boundary|the boundary denied \d+ action\(s\) in run oom1, and it reached 1 limit\(s\)):$/);
    expect(s.join('\n')).toMatch(/^ {2}allocated past the limit; the kernel's OOM killer killed a process(?: \(×\d+\))?: limits\.memory \(32Mi, by linux:cgroup[12]:memory\.[^)]*\)$/m);
    expect(s).toContain('    raise with: limits: { memory: 64Mi } (twice the limit: how much it needed is not known)');
    const d = budgets(report(root, 'oom1'));
    expect(d).toEqual([expect.objectContaining({ clause: 'limits.memory', errno: null, allow: 'limits: { memory: 64Mi }' })]);
    expect(d[0]!.observedBy).toMatch(/^cgroup:memory\.(events|oom_control) oom_kill$/);
  });

  it('a container past limits.memory: the denial counts what the cgroup\'s own oom_kill counter says', async () => {
    const root = tempDir();
    await runContainer(root, 'oomc', shBundle(ALLOC, 'limits: { wall: 30s, memory: 32Mi }\n', CAPTURED));
    const kills = counter(root, 'oomc', 'memory.events', 'oom_kill') ?? counter(root, 'oomc', 'memory.oom_control', 'oom_kill');
    expect(kills).toBeGreaterThanOrEqual(1);
    expect(cli(['delete', 'oomc', '--root', root]).status).toBe(0);
    const rep = report(root, 'oomc');
    expect(rep.body.outcome).toMatchObject({ status: 'killed', reason: 'oom' });
    expect(budgets(rep)).toEqual([expect.objectContaining({ clause: 'limits.memory', count: kills })]);
  });

  it('a shell forking past limits.processes: its fork fails (EAGAIN), and the denial counts pids.events max', async () => {
    const root = tempDir();
    const b = shBundle(FORKS, 'spawn: descendants\nlimits: { wall: 30s, processes: 8 }\n');
    const r = cli(['run', 'fork1', '-b', b, '--root', root]);
    expect(r.stderr).toMatch(/Cannot fork/); // the workload's own view of the refusal
    expect(r.status).not.toBe(0);
    expect(summary(r.stderr).join('\n')).toMatch(/^ {2}fork\/clone refused: the limit of processes and threads alive at once was reached → EAGAIN(?: \(×\d+\))?: limits\.processes \(8 alive at once, by [^)]+\)\n {4}raise with: limits: \{ processes: 16 \} \(twice the limit: how much it needed is not known\)$/m);
    const d = budgets(report(root, 'fork1'));
    expect(d).toEqual([expect.objectContaining({ clause: 'limits.processes', errno: 'EAGAIN', observedBy: 'cgroup:pids.events max' })]);

    await runContainer(root, 'forkc', shBundle(FORKS, 'spawn: descendants\nlimits: { wall: 30s, processes: 8 }\n', CAPTURED));
    const refused = counter(root, 'forkc', 'pids.events', 'max');
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(cli(['delete', 'forkc', '--root', root]).status).toBe(0);
    expect(budgets(report(root, 'forkc'))).toEqual([expect.objectContaining({ clause: 'limits.processes', count: refused })]);
  });

  it('a sleep past limits.wall: exit 124 long before the sleep would end; the summary, line by line', () => {
    const root = tempDir();
    const t0 = Date.now();
    const r = cli(['run', 'wall1', '-b', shBundle('exec sleep 30', 'limits: { wall: 1s }\n'), '--root', root]);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.status).toBe(124);
    const s = summary(r.stderr);
    expect(s[0]).toBe('bvisor: run wall1 reached 1 limit(s) of its boundary:');
    expect(s[1]).toMatch(/^ {2}still running at the deadline; the whole run was killed: limits\.wall \(1s, by linux:supervisor\(deadline[^)]*\)\)$/);
    expect(s[2]).toBe('    raise with: limits: { wall: 2s } (twice the limit: how much it needed is not known)');
    // Then what was not watched, one line per source, never an unexplained empty list.
    expect(s.slice(3).every((l) => / are not observed here: /.test(l))).toBe(true);
    expect(s.slice(3).some((l) => l.startsWith('  filesystem and network denials (landlock) are not observed here: '))).toBe(true);
    const rep = report(root, 'wall1');
    expect(budgets(rep)).toEqual([expect.objectContaining({ clause: 'limits.wall', atMs: 1000, observedBy: 'supervisor:wall (deadline from release)' })]);
    // bvisor report (text) lists the same denial.
    const text = cli(['report', 'wall1', '--root', root]);
    expect(text.stdout).toContain('still running at the deadline');
    expect(text.stdout).toContain('raise with: limits: { wall: 2s } (twice the limit: how much it needed is not known)');
  });

  it('a clean run (bundles/hello): no denial, total 0, and no summary on stderr', () => {
    const root = tempDir();
    const r = cli(['run', 'clean1', '-b', join(ROOT, 'bundles', 'hello'), '--root', root]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/bvisor:/);
    const d = report(root, 'clean1').body.denials!;
    expect(d.items).toEqual([]);
    expect(d.total).toBe(0);
    expect(d.sources.budgets.observed).toBe(true);
  });

  it('a workload that fails on its own: the summary says nothing was denied, and what was not watched', () => {
    const root = tempDir();
    const r = cli(['run', 'exit3', '-b', shBundle('exit 3', ''), '--root', root]);
    expect(r.status).toBe(3);
    const s = summary(r.stderr);
    expect(s[0]).toBe('bvisor: no denial was observed in run exit3');
    expect(s.length).toBeGreaterThan(1);
    // -q: the workload's status and its own stderr only; the report keeps the denials' record.
    const q = cli(['run', '-q', 'exit3q', '-b', shBundle('echo own >&2; exit 3', ''), '--root', root]);
    expect([q.status, q.stderr]).toEqual([3, 'own\n']);
    expect(report(root, 'exit3q').body.denials!.sources).toEqual(report(root, 'exit3').body.denials!.sources);
  });
});
