// The limits an admitted plan hands the launcher (src/core/planner.ts launchInputs): the cgroup
// files and values of docs/cgroups.md ("limits.memory: memory.max, memory.swap.max = 0;
// limits.processes: pids.max; limits.cpus: cpu.max (QUOTA 100000), bandwidth per 100 ms period;
// limits.cpu (mediated, with spawn: descendants): cpu.stat usage_usec, polled by the supervisor;
// on v1 memory.limit_in_bytes + swappiness = 0, pids.max, cpu.cfs_quota_us/cpu.cfs_period_us and
// cpuacct.usage"), the rlimits where no cgroup holds the limit (setrlimit(2): RLIMIT_AS in
// bytes, RLIMIT_NPROC in processes, RLIMIT_CPU in whole seconds, RLIMIT_NOFILE), the
// namespaces, the kept capabilities by number (include/uapi/linux/capability.h) and the budgets.
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost, v2Host } from '../helpers/hosts.js';

const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n' + yaml, 'test.yaml').manifest;
const usr: PathFact = { path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 };
const exe: PathFact = { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 };

function run(m: NormalManifest, host: HostFacts, extra: Partial<PlanInput> = {}): Plan {
  const paths: PlanPaths = { grants: [usr], exe, module: null, root: null };
  const p = plan({ manifest: m, host, paths, cgroupParent: 'bvisor-test', ...extra }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  expect(p.refusals).toEqual([]);
  return p;
}

describe('cgroup v2', () => {
  // Planned inside each test: a plan made while the block is collected is made before Stryker
  // activates a mutant, so no mutant would reach it.
  const plan1 = (): Plan => run(manifestOf('limits: { memory: 64Mi, processes: 16, cpus: 0.5 }\n'), v2Host());

  it('memory.max is the limit and swap is off; pids.max; cpu.max is QUOTA PERIOD over a 100 ms period', () => {
    expect(plan1().launch!.cgroup.limits).toEqual([
      { clause: 'limits.memory', version: 2, controller: 'memory', file: 'memory.max', value: String(64 * 2 ** 20) },
      { clause: 'limits.memory', version: 2, controller: 'memory', file: 'memory.swap.max', value: '0' },
      { clause: 'limits.processes', version: 2, controller: 'pids', file: 'pids.max', value: '16' },
      { clause: 'limits.cpus', version: 2, controller: 'cpu', file: 'cpu.max', value: '50000 100000' },
    ]);
  });

  it('a cgroup holds them: no rlimit stands in', () => {
    expect(plan1().launch!.rlimits).toEqual([]);
    expect(plan1().launch!.cgroup.parent).toBe('bvisor-test');
    expect(plan1().launch!.cgroup.placements).toHaveLength(1);
    expect(plan1().launch!.memoryBytes).toBe(64 * 2 ** 20);
  });

  it('two cores are 200000 of each 100000', () => {
    expect(run(manifestOf('limits: { cpus: 2 }\n'), v2Host()).launch!.cgroup.limits).toEqual([{ clause: 'limits.cpus', version: 2, controller: 'cpu', file: 'cpu.max', value: '200000 100000' }]);
  });
});

describe('cgroup v1 (hybrid host)', () => {
  it('memory.limit_in_bytes with swappiness 0; pids.max; cpu.cfs_period_us and cpu.cfs_quota_us', () => {
    const p = run(manifestOf('limits: { memory: 64Mi, processes: 16, cpus: 0.25 }\n'), hybridHost());
    expect(p.launch!.cgroup.limits).toEqual([
      { clause: 'limits.memory', version: 1, controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 * 2 ** 20) },
      { clause: 'limits.memory', version: 1, controller: 'memory', file: 'memory.swappiness', value: '0' },
      { clause: 'limits.processes', version: 1, controller: 'pids', file: 'pids.max', value: '16' },
      { clause: 'limits.cpus', version: 1, controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { clause: 'limits.cpus', version: 1, controller: 'cpu', file: 'cpu.cfs_quota_us', value: '25000' },
    ]);
    expect(p.launch!.rlimits).toEqual([]);
  });
});

describe('where no cgroup can be made: rlimits', () => {
  // A rootful host whose hierarchies are all at their roots, with no parent named: no cgroup.
  const noCgroup = (): HostFacts => {
    const h = hybridHost();
    h.cgroup = { mode: 'none', v2: null, v1: [] };
    return h;
  };

  it('memory (best effort: RLIMIT_AS bounds address space) and processes (RLIMIT_NPROC, per user namespace) as soft = hard = the limit', () => {
    const m = manifestOf('limits: { memory: { value: 64Mi, guarantee: best-effort }, processes: 16 }\n');
    const p = run(m, noCgroup(), { cgroupParent: null });
    expect(p.launch!.cgroup.limits).toEqual([]);
    expect(p.launch!.rlimits).toEqual([
      { clause: 'limits.memory', resource: 'as', soft: 64 * 2 ** 20, hard: 64 * 2 ** 20 },
      { clause: 'limits.processes', resource: 'nproc', soft: 16, hard: 16 },
    ]);
  });
});

describe('rlimits that are always rlimits', () => {
  it('limits.cpu: RLIMIT_CPU in whole seconds; a budget between seconds is refused enforced (RLIMIT_CPU would round it up), and watched when mediated', () => {
    const p = run(manifestOf('limits: { cpu: 3s }\n'), hybridHost());
    expect(p.launch!.rlimits).toEqual([{ clause: 'limits.cpu', resource: 'cpu', soft: 3, hard: 3 }]);
    expect(p.launch!.cpuMs).toBe(3000);
    expect(p.launch!.cgroup.watch).toBeNull();
    // setrlimit(2): RLIMIT_CPU is "in seconds"; 100ms would be 1 s, ten times the budget (an attack).
    for (const written of ['100ms', '1500ms']) {
      const paths: PlanPaths = { grants: [usr], exe, module: null, root: null };
      const refused = plan({ manifest: manifestOf(`limits: { cpu: ${written} }\n`), host: hybridHost(), paths, cgroupParent: 'bvisor-test' }, sha256Hex);
      expect(refused.admitted).toBe(false);
      expect(refused.refusals).toEqual([expect.objectContaining({ clause: 'limits.cpu', code: 'BV_PLAN_WEAKER_THAN_REQUESTED', reason: expect.stringContaining('whole seconds') })]);
      expect(refused.refusals[0]!.hint).toContain(written === '100ms' ? '(1s)' : '(1s or 2s)');
    }
    const watched = run(manifestOf('limits: { cpu: { value: 1500ms, guarantee: mediated } }\n'), hybridHost());
    expect(watched.launch!.rlimits.filter((r) => r.resource === 'cpu')).toEqual([]);
    expect(watched.launch!.cgroup.watch).toMatchObject({ clause: 'limits.cpu', controller: 'cpuacct', limitUs: 1_500_000 });
  });

  it('limits.openFiles: RLIMIT_NOFILE', () => {
    expect(run(manifestOf('limits: { openFiles: 64 }\n'), hybridHost()).launch!.rlimits).toEqual([{ clause: 'limits.openFiles', resource: 'nofile', soft: 64, hard: 64 }]);
  });
});

describe('limits.cpu with spawn: descendants: the whole tree’s usage, polled', () => {
  const M = manifestOf('spawn: descendants\nlimits: { processes: 8, cpu: { value: 5s, guarantee: mediated } }\n');

  it('v2: cpu.stat, in microseconds', () => {
    const p = run(M, v2Host());
    expect(p.launch!.cgroup.watch).toEqual({ clause: 'limits.cpu', version: 2, controller: 'cpuacct', file: 'cpu.stat', limitUs: 5_000_000 });
    expect(p.launch!.rlimits.some((r) => r.resource === 'cpu')).toBe(false);
  });

  it('v1 only: cpuacct.usage (on a hybrid host the v2 hierarchy has cpu.stat in every cgroup)', () => {
    const h = hybridHost();
    h.cgroup = { ...h.cgroup, mode: 'v1', v2: null };
    expect(run(M, h).launch!.cgroup.watch).toEqual({ clause: 'limits.cpu', version: 1, controller: 'cpuacct', file: 'cpuacct.usage', limitUs: 5_000_000 });
  });
});

describe('namespaces', () => {
  it('rootful with user namespaces: user, pid, mount, ipc, uts, cgroup, and net for deny and loopback', () => {
    expect(run(manifestOf(''), hybridHost()).launch!.namespaces).toEqual(['user', 'pid', 'mount', 'ipc', 'uts', 'cgroup', 'net']);
    expect(run(manifestOf('network: loopback\n'), hybridHost()).launch!.namespaces).toEqual(['user', 'pid', 'mount', 'ipc', 'uts', 'cgroup', 'net']);
    expect(run(manifestOf('network: host\n'), hybridHost()).launch!.namespaces).toEqual(['user', 'pid', 'mount', 'ipc', 'uts', 'cgroup']);
    expect(run(manifestOf('network: { connect: [443] }\n'), hybridHost()).launch!.namespaces).not.toContain('net');
  });

  it('spawn: descendants gets a cgroup that finds every descendant even without limits that make one', () => {
    const p = run(manifestOf('spawn: descendants\nlimits: { processes: { value: 8, guarantee: best-effort } }\n'), v2Host(), {});
    expect(p.launch!.cgroup.placements.length).toBeGreaterThan(0);
    const q = run(manifestOf(''), v2Host());
    expect(q.launch!.cgroup.placements).toEqual([]);
  });
});

describe('what else the launch carries', () => {
  it('kept capabilities by number, ascending (capability.h: CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10)', () => {
    expect(run(manifestOf('capabilities: [CAP_NET_BIND_SERVICE, CAP_CHOWN, CAP_KILL]\n'), hybridHost()).launch!.capabilities).toEqual([0, 5, 10]);
  });

  it('openat2 answers ENOSYS for a workload (its flags cannot be filtered), and the deny action is the manifest’s', () => {
    expect(run(manifestOf('syscalls: { deny: kill }\n'), hybridHost()).launch!.syscalls).toEqual({ deny: 'kill', openat2: 'enosys' });
  });

  it('the workload runs as the mapped identity; a manifest is no engine’s config (no oci part)', () => {
    const p = run(manifestOf(''), hybridHost());
    expect(p.launch!.identity).toEqual({ uid: 65534, gid: 65534, source: 'overflow ids' });
    expect(p.launch!.oci).toBeNull();
  });

  it('budgets: wall, memory, output, the private /tmp’s size', () => {
    const p = run(manifestOf('tmp: private\nstdio: { stdout: capture }\nlimits: { wall: 2m, memory: 64Mi, output: 1Mi, tmpSize: 16Mi }\n'), v2Host());
    expect(p.launch).toMatchObject({ wallMs: 120_000, memoryBytes: 64 * 2 ** 20, outputBytes: 2 ** 20, fuel: null, tmp: { mode: 'private', sizeBytes: 16 * 2 ** 20 } });
    expect(run(manifestOf('tmp: private\n'), v2Host()).launch!.tmp).toEqual({ mode: 'private', sizeBytes: null });
  });

  it('the environment: values as written, secrets as references', () => {
    const p = run(manifestOf('env: { A: "1", T: { secret: tok } }\n'), hybridHost(), { secrets: ['tok'] });
    expect(p.launch!.env).toEqual([{ name: 'A', value: '1' }, { name: 'T', secret: 'tok' }]);
  });
});
