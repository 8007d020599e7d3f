// Where the planner puts a run's cgroups on the host layouts users have (docs/cgroups.md): the
// hierarchy root of a pure v2 host (as under an engine), a systemd login scope (populated, so
// cgroup v2's no-internal-process rule forbids controllers for its children), a rootless user
// with and without systemd's delegated user@UID.service, a hybrid host, and a named parent.
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/planner.js';
import { loadManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { placementRows } from '../../src/app/check.js';
import { hybridHost } from '../helpers/hosts.js';

const ALL = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];

/** Debian 12 booted as a real host: pure v2, every controller at the root. */
function pureV2(ownPath: string, subtreeControl: string[], euid = 0): HostFacts {
  const h = hybridHost();
  const isRoot = ownPath === '/';
  h.cgroup = {
    mode: 'v2',
    v2: { version: 2, controllers: isRoot ? ALL : ['cpu', 'io', 'memory', 'pids'], subtreeControl, mountPoint: '/sys/fs/cgroup', ownPath, ownDir: `/sys/fs/cgroup${isRoot ? '' : ownPath}`, isRoot, canCreateChild: true, error: null, rootControllers: ALL, rootWritable: euid === 0 },
    v1: [],
    delegated: null,
  };
  if (euid !== 0) {
    h.identity = { uid: euid, gid: euid, euid, egid: euid };
    h.mapping = { uid: euid, gid: euid, source: 'the caller (rootless)' };
    h.capabilities = { effective: '0000000000000000', names: [] };
  }
  return h;
}

const HELLO = 'workload: { process: { exe: /usr/bin/echo, args: [hi] } }\nfilesystem:\n  - { path: /usr, access: read-exec }\nlimits: { wall: 10s, memory: 64Mi, processes: 16, cpus: 0.5 }\n';

function run(host: HostFacts, cgroupParent: string | null = null): Plan {
  const m = loadManifest('bvisorVersion: "1"\n' + HELLO, 'test.yaml').manifest;
  const p = plan({ manifest: m, host, paths: { grants: [{ path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 }], exe: { path: '/usr/bin/echo', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null }, cgroupParent }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}

const verdicts = (p: Plan) => Object.fromEntries(p.clauses.filter((c) => c.clause.startsWith('limits.') && c.verdict !== 'not-requested').map((c) => [c.clause, c.mechanism ?? c.reason]));

describe('cgroup placement on a pure cgroup v2 host', () => {
  it('at the hierarchy root as root (under an engine): a bvisor-owned parent at the root, every limit on its v2 controller', () => {
    const p = run(pureV2('/', []));
    expect(p.admitted).toBe(true);
    expect(verdicts(p)).toMatchObject({ 'limits.memory': 'linux:cgroup2:memory.max+memory.swap.max=0', 'limits.processes': 'linux:cgroup2:pids.max', 'limits.cpus': 'linux:cgroup2:cpu.max' });
    expect(p.launch!.cgroup.placements).toEqual([{ version: 2, mountPoint: '/sys/fs/cgroup', anchor: '/sys/fs/cgroup', segments: ['bvisor'], why: expect.stringMatching(/hierarchy root: a bvisor-owned parent at the hierarchy root/) }]);
    // cpu.max is "$MAX $PERIOD" (Documentation/admin-guide/cgroup-v2.rst): half a CPU.
    expect(p.launch!.cgroup.limits).toContainEqual({ clause: 'limits.cpus', version: 2, controller: 'cpu', file: 'cpu.max', value: '50000 100000' });
  });

  it('in a systemd login scope as root: the scope holds processes, so the bvisor parent goes at the root, and the reason says so', () => {
    const p = run(pureV2('/user.slice/user-0.slice/session-1.scope', []));
    expect(p.admitted).toBe(true);
    const [pl] = p.launch!.cgroup.placements;
    expect(pl).toMatchObject({ anchor: '/sys/fs/cgroup', segments: ['bvisor'] });
    expect(pl!.why).toMatch(/session-1\.scope holds processes, and cgroup v2's no-internal-process rule keeps its children from cpu, memory, pids/);
  });

  it('under a cgroup that already delegates the controllers to its children: bvisor stays under its own cgroup', () => {
    const p = run(pureV2('/system.slice/ci.service', ['cpu', 'memory', 'pids']));
    expect(p.launch!.cgroup.placements).toEqual([expect.objectContaining({ anchor: '/sys/fs/cgroup/system.slice/ci.service', segments: [] })]);
  });

  it('a named parent always wins: relative under our own cgroup, absolute from the hierarchy root', () => {
    const rel = run(pureV2('/', []), 'ci/jobs');
    expect(rel.launch!.cgroup.placements[0]).toMatchObject({ anchor: '/sys/fs/cgroup', segments: ['ci', 'jobs'] });
    const abs = run(pureV2('/user.slice/user-0.slice/session-1.scope', []), '/engine/pods');
    expect(abs.launch!.cgroup.placements[0]).toMatchObject({ anchor: '/sys/fs/cgroup', segments: ['engine', 'pods'] });
    // A relative parent under a populated scope cannot have controllers: refused, not guessed.
    const scoped = run(pureV2('/user.slice/user-0.slice/session-1.scope', []), 'jobs');
    expect(scoped.admitted).toBe(false);
    expect(scoped.refusals.find((r) => r.clause === 'limits.memory')).toMatchObject({ code: 'BV_PLAN_CGROUP_UNAVAILABLE', reason: expect.stringMatching(/no memory controller for us at \/sys\/fs\/cgroup\/user\.slice\/user-0\.slice\/session-1\.scope/) });
    const bad = run(pureV2('/', []), '../escape');
    expect(bad.refusals.find((r) => r.clause === 'limits.memory')).toMatchObject({ code: 'BV_PLAN_CGROUP_UNAVAILABLE', reason: 'cgroup parent "../escape" is not a path of plain names' });
  });

  it('rootless: the caller\'s delegated user@UID.service subtree, else a refusal with the systemd-run hint', () => {
    const host = pureV2('/user.slice/user-1000.slice/session-3.scope', [], 1000);
    const none = run(host);
    expect(none.admitted).toBe(false);
    const r = none.refusals.find((x) => x.clause === 'limits.memory')!;
    expect(r.reason).toMatch(/no delegated cgroup subtree \(systemd user@1000\.service with Delegate=yes\)/);
    expect(r.hint).toMatch(/systemd-run --user --scope -p Delegate=yes/);
    const d = '/user.slice/user-1000.slice/user@1000.service';
    // From a login shell (session-3.scope belongs to root) the kernel would not let us move the
    // workload into user@1000.service: refused, with the hint that puts bvisor inside it.
    host.cgroup.delegated = { path: d, dir: `/sys/fs/cgroup${d}`, controllers: ['cpu', 'memory', 'pids'], subtreeControl: ['cpu', 'memory', 'pids'], owned: true, containsUs: false };
    const outside = run(host).refusals.find((x) => x.clause === 'limits.memory')!;
    expect(outside.reason).toMatch(/we run outside our delegated subtree \/user\.slice\/user-1000\.slice\/user@1000\.service \(in \/user\.slice\/user-1000\.slice\/session-3\.scope\)/);
    expect(outside.hint).toMatch(/systemd-run --user --scope -p Delegate=yes/);
    // Inside it (systemd-run --user --scope puts us in app.slice/run-….scope): a bvisor parent there.
    host.cgroup.v2!.ownPath = `${d}/app.slice/run-r1.scope`;
    host.cgroup.v2!.ownDir = `/sys/fs/cgroup${host.cgroup.v2!.ownPath}`;
    host.cgroup.delegated.containsUs = true;
    const ok = run(host);
    expect(ok.admitted).toBe(true);
    expect(ok.launch!.cgroup.placements[0]).toMatchObject({ anchor: `/sys/fs/cgroup${d}`, segments: ['bvisor'] });
    // Not ours (chowned to someone else): not delegated to us.
    host.cgroup.delegated.owned = false;
    expect(run(host).admitted).toBe(false);
  });

  it('check shows the same placement the planner uses, with the reason', () => {
    const rows = placementRows(pureV2('/', []), null);
    expect(rows).toEqual([{ hierarchy: 'v2 /sys/fs/cgroup', dir: '/sys/fs/cgroup/bvisor', why: expect.stringMatching(/hierarchy root/), hint: null }]);
    expect(placementRows(pureV2('/', []), '/x')[0]!.dir).toBe('/sys/fs/cgroup/x');
  });
});

describe('cgroup placement on a hybrid host (our CI machines)', () => {
  it('never creates cgroups at a hierarchy root unless a parent is named', () => {
    const p = run(hybridHost());
    expect(p.refusals.find((r) => r.clause === 'limits.cpus')).toMatchObject({ code: 'BV_PLAN_CGROUP_UNAVAILABLE', reason: expect.stringMatching(/our cpu \(v1\) cgroup is the hierarchy root/) });
    // memory's v1 cgroup is not the root here: a leaf under it.
    expect(p.launch === null || p.launch.cgroup.placements.every((x) => x.anchor !== x.mountPoint)).toBe(true);
    const named = run(hybridHost(), 'bvisor-test');
    expect(named.admitted).toBe(true);
    expect(named.launch!.cgroup.placements.map((x) => `${x.anchor}/${x.segments.join('/')}`).sort()).toEqual(['/sys/fs/cgroup/cpu/bvisor-test', '/sys/fs/cgroup/memory/job/1/bvisor-test', '/sys/fs/cgroup/pids/bvisor-test']);
  });
});
