// The cgroup v2 mechanisms, live, on a pure v2 host (the VM of test/vm; this hybrid machine
// skips them loudly, and the VM declares `cgroup2` so they cannot skip there). Oracles: the
// probe inside the boundary (what it managed to allocate, fork, burn), /proc/<pid>/cgroup and
// the cgroup files read by the test itself; expected values from
// Documentation/admin-guide/cgroup-v2.rst. Each mechanism has a red twin without it.
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startContainer, stateOf, deleteContainer } from '../../../src/app/lifecycle.js';
import { createContainer } from '../../../src/app/create.js';
import type { LaunchHooks } from '../../../src/backends/linux/launcher.js';
import { freezeLeaf } from '../../../src/backends/linux/host/cgroups.js';
import { runProbe, probeBundle, facts } from '../../helpers/probe.js';
import { defaultTestParent } from '../../helpers/cgroups.js';
import { skipOrFail } from '../../helpers/require.js';
import { tempDir } from '../../helpers/tmp.js';
import { until, alive, sleep } from '../../helpers/wait.js';

/** Why this host cannot run these tests, or null: pure v2 with memory, pids and cpu at the root. */
function notPureV2(): string | null {
  const c = facts().cgroup;
  if (c.mode !== 'v2' || !c.v2) return `cgroups here are ${c.mode}, not pure v2 (run test/vm/suite.sh)`;
  const have = c.v2.rootControllers ?? [];
  const lacking = ['memory', 'pids', 'cpu'].filter((x) => !have.includes(x));
  return lacking.length ? `the v2 root lacks ${lacking.join(', ')}` : null;
}

let skip: string | null = null;
beforeAll(() => {
  skip = notPureV2();
  if (skip) skipOrFail('cgroup2', skip);
});

const made: Array<{ root: string; id: string }> = [];
const strangers: ChildProcess[] = [];
afterEach(async () => {
  for (const { root, id } of made.splice(0)) await deleteContainer(root, id, true).catch(() => undefined);
  for (const p of strangers.splice(0)) p.kill('SIGKILL');
});

/** The pids in a leaf, from its cgroup.procs. */
const members = (dir: string): number[] => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean).map(Number);

/** The v2 cgroup of a live process, from its /proc/<pid>/cgroup ("0::PATH"), as a directory. */
function cgroupDirOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!;
  return join(facts().cgroup.v2!.mountPoint, line.slice(3));
}

/** The probe as a container's workload. */
async function create(args: string[], extra: string, hooks?: LaunchHooks): Promise<{ root: string; id: string; pid: number }> {
  const root = tempDir();
  const id = `v2c${made.length}`;
  made.push({ root, id });
  const bundle = probeBundle(args, extra);
  const s = await createContainer({ root, id, bundle, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts(), ...(hooks ? { hooks } : {}) });
  return { root, id, pid: s.pid!.pid };
}

describe('cgroup v2 (live, pure v2 host)', () => {
  it('the workload is born into its leaf (CLONE_INTO_CGROUP): before it ever runs, the host sees it there with memory.max and memory.swap.max set', async (t) => {
    if (skip) return t.skip();
    const c = await create(['sleep', '30'], 'limits: { memory: 48Mi }\n');
    // Created: blocked before exec. Its cgroup, from /proc, is a bvisor leaf with the limits.
    const dir = cgroupDirOf(c.pid);
    expect(dir).toMatch(/\/bvisor-[^/]+$/);
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(`${48 * 1024 * 1024}\n`);
    expect(readFileSync(join(dir, 'memory.swap.max'), 'utf8')).toBe('0\n');
    expect(members(dir)).toContain(c.pid);
    // Red twin: clone3 without CLONE_INTO_CGROUP: the workload is born where its creator was,
    // outside any bvisor leaf, and no limit applies to it.
    const twin = await create(['sleep', '30'], 'limits: { memory: 48Mi }\n', { noCloneIntoCgroup: true });
    const tdir = cgroupDirOf(twin.pid);
    expect(tdir).not.toMatch(/\/bvisor-[^/]+$/);
    expect(existsSync(join(tdir, 'memory.max')) ? readFileSync(join(tdir, 'memory.max'), 'utf8') : 'max\n').not.toBe(`${48 * 1024 * 1024}\n`);
  });

  it('memory.max holds: the allocation is OOM-killed, and memory.events counts the oom_kill; red twin: it completes', async (t) => {
    if (skip) return t.skip();
    const c = await create(['alloc', '256'], 'limits: { memory: 32Mi }\n');
    const dir = cgroupDirOf(c.pid);
    await startContainer(c.root, c.id);
    await until('the allocating workload exits', () => !alive(c.pid), 20_000);
    // The leaf stays until delete: read the kernel's own account (cgroup-v2.rst: memory.events).
    expect(readFileSync(join(dir, 'memory.events'), 'utf8')).toMatch(/^oom_kill 1$/m);
    await until('the monitor records the exit', () => stateOf(c.root, c.id).status === 'stopped', 10_000);
    const out = await runProbe(['alloc', '256'], 'limits: { memory: 32Mi }\n');
    expect(out.stdout?.toString()).not.toContain('ok');
    expect(out.report.body.outcome).toMatchObject({ status: 'killed', reason: 'oom' });
    expect(out.report.body.budgets.memory.source).toMatch(/memory\.peak$|memory\.current$|not observed/);
    const twin = await runProbe(['alloc', '64'], 'limits: { memory: 32Mi }\n', { hooks: { mutateLaunch: (l) => void (l.cgroup.limits = []) } });
    expect({ stdout: twin.stdout?.toString(), exit: twin.exitStatus }).toEqual({ stdout: 'ok\n', exit: 0 });
  });

  it('pids.max holds a fork bomb to the limit; red twin (no pids.max, no RLIMIT_NPROC): every fork succeeds', async (t) => {
    if (skip) return t.skip();
    const m = 'spawn: descendants\nlimits: { processes: 10, wall: 10s }\n';
    const out = await runProbe(['forkbomb', '40'], m);
    expect(out.report.body.admitted.find((a) => a.clause === 'limits.processes')?.mechanism).toBe('linux:cgroup2:pids.max');
    const made = Number(out.stdout?.toString().trim());
    // pids.max counts every task in the cgroup, the probe included: at most 9 children.
    expect(made).toBeLessThanOrEqual(9);
    expect(made).toBeGreaterThan(0);
    const twin = await runProbe(['forkbomb', '40'], m, { hooks: { mutateLaunch: (l) => void ((l.cgroup.limits = []), (l.rlimits = l.rlimits.filter((r) => r.resource !== 'nproc'))) } });
    expect(Number(twin.stdout?.toString().trim())).toBe(40);
  });

  it('cpu.max holds limits.cpus: a second of spinning gets about a fifth of a CPU at 0.2; red twin: about a whole one', async (t) => {
    if (skip) return t.skip();
    const m = 'limits: { cpus: 0.2, wall: 20s }\n';
    const out = await runProbe(['burn', '1500'], m);
    expect(out.report.body.admitted.find((a) => a.clause === 'limits.cpus')?.mechanism).toBe('linux:cgroup2:cpu.max');
    // cpu.max "20000 100000": 20 ms per 100 ms period, so ~300 ms of CPU in 1.5 s of wall.
    const got = Number(out.stdout?.toString().trim());
    expect(got).toBeGreaterThan(50);
    expect(got).toBeLessThan(700);
    const twin = await runProbe(['burn', '1500'], m, { hooks: { mutateLaunch: (l) => void (l.cgroup.limits = []) } });
    expect(Number(twin.stdout?.toString().trim())).toBeGreaterThan(900);
  });

  it('delete -f kills through the cgroup (cgroup.kill): a member that is no descendant of the workload dies too, and the leaf is removed; red twin: the process-tree kill alone misses it', async (t) => {
    if (skip) return t.skip();
    const c = await create(['spinners', '3'], 'spawn: descendants\nlimits: { processes: 16, wall: 30s }\n');
    const dir = cgroupDirOf(c.pid);
    expect(existsSync(join(dir, 'cgroup.kill'))).toBe(true); // Linux ≥ 5.14 (cgroup-v2.rst)
    await startContainer(c.root, c.id);
    await until('the probe and its 2 children are in the leaf', () => members(dir).length >= 3, 10_000);
    // A process the test made, moved into the leaf: a member, but no descendant of the workload
    // or of its monitor, so neither the pid namespace nor the monitor's subreaping reach it.
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    strangers.push(stranger);
    writeFileSync(join(dir, 'cgroup.procs'), String(stranger.pid));
    const tree = members(dir).filter((p) => p !== stranger.pid);
    // Red twin: the tree kill (the workload dies, the monitor ends its descendants) misses it.
    process.kill(c.pid, 'SIGKILL');
    await until('the workload and its children are gone', () => tree.every((p) => !alive(p)), 10_000);
    expect(alive(stranger.pid!)).toBe(true);
    expect(members(dir)).toEqual([stranger.pid]);
    // delete -f kills every member of the cgroup, then removes the leaf.
    await deleteContainer(c.root, c.id, true);
    made.splice(made.findIndex((x) => x.id === c.id), 1);
    await until('the stranger is killed', () => !alive(stranger.pid!), 5000);
    expect(existsSync(dir)).toBe(false);
  });

  it('the freezer is ready for pause/resume: freezeLeaf stops the CPU time of every member, thawing resumes it', async (t) => {
    if (skip) return t.skip();
    const c = await create(['spinners', '2'], 'spawn: descendants\nlimits: { processes: 8, wall: 30s }\n');
    const dir = cgroupDirOf(c.pid);
    await startContainer(c.root, c.id);
    await until('both spinners run', () => members(dir).length >= 2, 10_000);
    // utime + stime of every member, in clock ticks (proc(5): fields 14 and 15 of stat).
    const ticks = (): number => members(dir).reduce((n, p) => {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return n + Number(f[11]) + Number(f[12]);
    }, 0);
    freezeLeaf(dir, true);
    const a = ticks();
    await sleep(600);
    expect(ticks()).toBe(a); // frozen: not one tick more
    freezeLeaf(dir, false);
    const b = ticks();
    await sleep(600);
    expect(ticks()).toBeGreaterThan(b); // thawed (and the twin of frozen): the spinners burn again
  });

  it('reads peaks back where the kernel keeps them (memory.peak, pids.peak), and says "not observed" where it does not', async (t) => {
    if (skip) return t.skip();
    const m = 'spawn: descendants\nlimits: { memory: 64Mi, processes: 8, wall: 30s }\n';
    // Which peak files a leaf has on this kernel, seen by the test in a created container's leaf.
    const c = await create(['sleep', '30'], m);
    const dir = cgroupDirOf(c.pid);
    const has = { memory: existsSync(join(dir, 'memory.peak')), pids: existsSync(join(dir, 'pids.peak')) };
    const out = await runProbe(['forkbomb', '3'], m);
    const { memory, processes } = out.report.body.budgets;
    expect(processes.limit).toBe(8);
    if (has.memory) {
      expect(memory.source).toMatch(/\/memory\.peak$/);
      expect(memory.observed).toBeGreaterThan(0);
    } else expect(memory.observed).toMatchObject({ notObserved: expect.any(String) });
    if (has.pids) {
      expect(processes.source).toMatch(/\/pids\.peak$/);
      expect(processes.observed).toBeGreaterThanOrEqual(4); // the probe and its 3 children
    } else expect(processes.observed).toMatchObject({ notObserved: expect.stringMatching(/pids\.peak/) });
  });
});
