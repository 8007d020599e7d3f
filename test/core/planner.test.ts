// The planner against fixed host facts (examples) and against generated manifests and degraded
// hosts (properties): fail closed, monotone in host capabilities, deterministic.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest, type NormalGrant } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { checkedPlan, clauseOf } from '../helpers/plans.js';
import { hybridHost, v2Host, bareHost } from '../helpers/hosts.js';

// Facts as the host layer reports them: a directory owned by a regular user (so a write grant
// needs an idmapped mount as root, which these filesystems support), world-readable files.
const dirFact = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 1000, gid: 1000, mode: 0o755, idmap: true });
const fileFact = (path: string): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 1), uid: 0, gid: 0, mode: 0o755 });

function manifestOf(yaml: string): NormalManifest {
  return loadManifest('bvisorVersion: "1"\n' + yaml, 'test.yaml').manifest;
}

function pathsFor(m: NormalManifest, overrides: Partial<PlanPaths> = {}): PlanPaths {
  return {
    grants: m.filesystem.map((g) => dirFact(g.path.startsWith('./') ? `/bundle/${g.path.slice(2)}` : g.path)),
    exe: m.workload.kind === 'process' ? fileFact(m.workload.exe) : null,
    module: m.workload.kind === 'wasm' ? fileFact(`/bundle/${m.workload.module}`) : null,
    root: m.root ? dirFact(`/bundle/${m.root.path}`) : null,
    ...overrides,
  };
}

function run(m: NormalManifest, host: HostFacts, extra: Partial<PlanInput> = {}): Plan {
  const p = plan({ manifest: m, host, paths: pathsFor(m), cgroupParent: null, ...extra }, sha256Hex);
  return checkedPlan(p);
}

const clause = clauseOf;

const HELLO = `workload:
  process: { exe: /usr/bin/echo, args: [hi] }
filesystem:
  - { path: /usr, access: read-exec }
limits: { wall: 10s, cpu: 5s, memory: 64Mi, openFiles: 64 }
`;

describe('planner examples', () => {
  it('admits hello on a hybrid host, memory through the v1 controller', () => {
    const p = run(manifestOf(HELLO), hybridHost());
    expect(p.admitted).toBe(true);
    expect(p.refusals).toEqual([]);
    expect(clause(p, 'limits.memory').mechanism).toBe('linux:cgroup1:memory.limit_in_bytes+swappiness=0');
    // The root is built from the grants: /usr is a read-only bind, landlock a second layer.
    expect(clause(p, 'filesystem').mechanism).toBe('linux:mount(root from grants)+landlock(abi=7)');
    expect(clause(p, 'filesystem[0]').mechanism).toBe('linux:mount(rbind,ro)+landlock(abi=7,rights=xrl)');
    expect(p.launch?.identity).toMatchObject({ uid: 65534, gid: 65534 });
    expect(p.launch?.layout.find((e) => e.target === '/usr')).toMatchObject({ kind: 'bind', source: '/usr', options: ['ro', 'nosuid', 'nodev'] });
    expect(clause(p, 'network')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:netns(empty)', requested: 'deny (default)' });
    expect(clause(p, 'limits.processes').verdict).toBe('not-requested');
    expect(p.launch?.cgroup.limits).toContainEqual({ clause: 'limits.memory', version: 1, controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 * 2 ** 20) });
    expect(p.launch?.rlimits).toContainEqual({ clause: 'limits.cpu', resource: 'cpu', soft: 5, hard: 5 });
  });

  it('uses cgroup v2 controllers where the v2 mount has them', () => {
    const lim = HELLO.replace('cpu: 5s', 'cpu: { value: 5s, guarantee: mediated }');
    const p = run(manifestOf(lim + 'spawn: descendants\n'), v2Host());
    expect(p.admitted).toBe(false); // descendants without limits.processes
    expect(p.refusals.map((r) => r.code)).toEqual(['BV_PLAN_NEEDS_LIMIT']);
    const q = run(manifestOf(lim.replace('openFiles: 64', 'openFiles: 64, processes: 16') + 'spawn: descendants\n'), v2Host());
    // A string alone proves nothing: this mechanism is shown to exist by a live kill before the
    // wall (test/backends/linux/launcher.live.test.ts for run, monitor.live.test.ts for create/start).
    expect(clause(q, 'limits.cpu')).toMatchObject({ verdict: 'mediated', mechanism: 'linux:cgroup2:cpu.stat+supervisor(poll,kill)' });
    expect(run(manifestOf(HELLO + 'spawn: descendants\n'), v2Host()).refusals.find((r) => r.clause === 'limits.cpu')?.code).toBe('BV_PLAN_WEAKER_THAN_REQUESTED');
    expect(q.admitted).toBe(true);
    expect(clause(q, 'limits.memory').mechanism).toBe('linux:cgroup2:memory.max+memory.swap.max=0');
    expect(clause(q, 'limits.processes').mechanism).toBe('linux:cgroup2:pids.max');
    expect(clause(q, 'spawn').mechanism).toBe('linux:cgroup2:pids.max via limits.processes');
  });

  // A new-user pass: exec refuses a per-process budget and says to mark limits.cpu mediated,
  // which in whole seconds without descendants still gave RLIMIT_CPU.
  it('limits.cpu marked mediated in whole seconds is the cgroup\'s watch where there is one, and the launch watches it (no RLIMIT_CPU); unmarked, RLIMIT_CPU', () => {
    // (A hybrid host's v1 cpuacct is used under a parent the caller names.)
    for (const [host, parent] of [[hybridHost(), 'p'], [v2Host(), null]] as const) {
      const marked = run(manifestOf(HELLO.replace('cpu: 5s', 'cpu: { value: 5s, guarantee: mediated }')), host, { cgroupParent: parent });
      expect(clause(marked, 'limits.cpu')).toMatchObject({ verdict: 'mediated', mechanism: expect.stringMatching(/^linux:cgroup[12]?:(cpu\.stat|cpuacct\.usage)\+supervisor\(poll,kill\)/) });
      expect(marked.launch!.cgroup.watch).toMatchObject({ clause: 'limits.cpu', limitUs: 5_000_000 });
      expect(marked.launch!.rlimits.filter((r) => r.resource === 'cpu')).toEqual([]);
      const plain = run(manifestOf(HELLO), host);
      expect(clause(plain, 'limits.cpu')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_CPU=5s)' });
      expect(plain.launch!.cgroup.watch).toBeNull();
    }
    // No cpu counter to watch: the rlimit (stronger) holds it, and the launch sets it.
    const bare = bareHost();
    bare.landlock = hybridHost().landlock;
    const noCg = plan({ manifest: manifestOf(HELLO.replace('cpu: 5s', 'cpu: { value: 5s, guarantee: mediated }')), host: { ...hybridHost(), cgroup: bare.cgroup }, paths: pathsFor(manifestOf(HELLO)), cgroupParent: null }, sha256Hex);
    expect(clause(noCg, 'limits.cpu')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_CPU=5s)' });
  });

  it('a pids limit at a hierarchy root: RLIMIT_NPROC per user namespace holds it; without user namespaces it is refused, with a hint', () => {
    const m = manifestOf(HELLO.replace('openFiles: 64', 'processes: 8'));
    // Each run has a user namespace of its own, and since Linux 5.14 RLIMIT_NPROC counts per
    // user namespace: a bound on this run alone.
    const p = run(m, hybridHost());
    expect(clause(p, 'limits.processes')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_NPROC=8,per-user-namespace)' });
    const old = hybridHost();
    old.kernel.release = '5.10.0-28-amd64'; // per user (kuid) then: shared with other runs
    const noNs = hybridHost();
    noNs.userns.canCreate = false;
    for (const h of [old, noNs]) {
      const q = run(m, h);
      expect(q.admitted).toBe(false);
      const r = q.refusals.find((x) => x.clause === 'limits.processes')!;
      expect(r.code).toBe('BV_PLAN_CGROUP_UNAVAILABLE');
      expect(r.reason).toMatch(/hierarchy root/);
      expect(r.hint).toMatch(/--cgroup-parent/);
      expect(r.hint).toMatch(/guarantee: best-effort/);
    }
    const q = run(m, hybridHost(), { cgroupParent: 'bvisor-test' });
    expect(clause(q, 'limits.processes').mechanism).toBe('linux:cgroup1:pids.max');
    expect(q.launch?.cgroup.parent).toBe('bvisor-test');
  });

  it('without a pid namespace a supervised limit needs signals scoped (the workload could SIGSTOP its supervisor)', () => {
    // A rootless host without user namespaces: the workload shares bvisor's pid namespace and uid.
    const host = hybridHost();
    host.userns = { ...host.userns, canCreate: false, unprivilegedCanCreate: false, error: 'unshare(CLONE_NEWUSER): EPERM' };
    host.capabilities = { effective: '0000000000000000', names: [] };
    host.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    host.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
    // (Everything else best effort: the root built from grants needs namespaces this host lacks.)
    const m = manifestOf('workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: host\nguarantee: best-effort\nlimits: { wall: { value: 10s, guarantee: enforced } }\n');
    const p = run(m, host);
    expect(clause(p, 'limits.wall')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:supervisor(deadline,kill)+landlock-scope(abi=7,signal)' });
    expect(p.launch?.namespaces).not.toContain('pid');
    expect(p.launch?.scope).toEqual(['signal']);
    // Landlock before ABI 6 has no signal scope: refused as enforced, admitted as best effort.
    host.landlock.abi = 5;
    const q = run(m, host);
    expect(q.refusals.find((r) => r.clause === 'limits.wall')).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: expect.stringMatching(/SIGSTOP/) });
    const soft = run(manifestOf('workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: host\nguarantee: best-effort\nlimits: { wall: 10s }\n'), host);
    expect(clause(soft, 'limits.wall')).toMatchObject({ verdict: 'best-effort', mechanism: 'linux:supervisor(deadline,kill)' });
    // With a pid namespace of its own the supervisor is out of sight: no scope needed.
    const ns = run(manifestOf('workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\nlimits: { wall: 10s }\n'), hybridHost());
    expect(clause(ns, 'limits.wall').mechanism).toBe('linux:supervisor(deadline,kill)');
    expect(ns.launch?.scope).toEqual([]);
  });

  it('honours best-effort only where the clause names it, and records it', () => {
    const m = manifestOf(HELLO.replace('openFiles: 64', 'processes: { value: 8, guarantee: best-effort }'));
    const host = hybridHost();
    host.kernel.release = '5.10.0'; // RLIMIT_NPROC per kuid: shared with other runs, best effort
    const p = run(m, host);
    expect(p.admitted).toBe(true);
    expect(clause(p, 'limits.processes')).toMatchObject({ verdict: 'best-effort', guarantee: 'best-effort', mechanism: 'linux:rlimit(RLIMIT_NPROC=8,per-uid)' });
    expect(clause(p, 'limits.processes').reason).toMatch(/asks only for best-effort/);
  });

  it('an old landlock ABI does not weaken grants when the root is built from them; without a mount namespace it refuses, unless best-effort', () => {
    const host = hybridHost();
    host.landlock.abi = 2;
    const strict = manifestOf(HELLO.replace('filesystem:\n  - { path: /usr, access: read-exec }\n', 'filesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /srv, access: read-write }\n'));
    // The mounts are authoritative (read-only binds stop truncation); landlock is a second layer.
    const p = run(strict, host);
    expect(p.admitted).toBe(true);
    expect(clause(p, 'filesystem[1]').mechanism).toBe('linux:mount(rbind,rw,noexec,idmap=1000:1000→65534:65534)+landlock(abi=2,rights=wrlDFdfspyR)');
    // Without namespaces only landlock is left, and ABI 2 cannot restrict truncate.
    const bare = hybridHost();
    bare.landlock.abi = 2;
    bare.userns.canCreate = false;
    bare.capabilities.effective = '0000000000000000';
    bare.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    const q = run(strict, bare);
    const codes = q.refusals.map((r) => `${r.clause}:${r.code}`);
    expect(codes).toContain('filesystem[1]:BV_PLAN_LANDLOCK_ABI_TOO_OLD');
    expect(q.refusals.find((r) => r.clause === 'filesystem[1]')!.reason).toMatch(/TRUNCATE/);
    expect(codes).not.toContain('filesystem[0]:BV_PLAN_LANDLOCK_ABI_TOO_OLD'); // read-exec needs nothing newer
    const lax = manifestOf(HELLO.replace('filesystem:\n  - { path: /usr, access: read-exec }\n', 'filesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /srv, access: read-write, guarantee: best-effort }\n') + 'guarantee: best-effort\nnetwork: host\n');
    const r = run(lax, bare);
    expect(r.refusals).toEqual([]);
    expect(clause(r, 'filesystem')).toMatchObject({ verdict: 'best-effort', mechanism: 'linux:landlock(abi=2,unhandled=TRUNCATE)' });
    expect(clause(r, 'filesystem[1]').mechanism).toMatch(/unhandled=TRUNCATE/);
    expect(r.launch?.filesystem[1]?.rights).not.toContain('TRUNCATE');
  });

  it('refuses an rlimit above the hard limit without CAP_SYS_RESOURCE, naming the limit', () => {
    const host = bareHost();
    const m = manifestOf(HELLO.replace('openFiles: 64', 'openFiles: 100000'));
    const p = run(m, host);
    const r = p.refusals.find((x) => x.clause === 'limits.openFiles')!;
    expect(r.code).toBe('BV_PLAN_RLIMIT_ABOVE_HARD');
    expect(r.hint).toMatch(/at most 4096/);
  });

  it('returns every refusal, not the first', () => {
    const p = run(manifestOf(HELLO.replace('openFiles: 64', 'openFiles: 64, processes: 4, cpus: 0.5, fuel: 10') + 'network: { connect: [443] }\nspawn: threads\ntmp: private\n'), bareHost());
    const clauses = p.refusals.map((r) => r.clause).sort();
    expect(clauses).toEqual(['filesystem', 'filesystem[0]', 'limits.cpus', 'limits.fuel', 'limits.memory', 'limits.processes', 'limits.wall', 'network', 'spawn', 'syscalls', 'tmp'].sort());
    for (const r of p.refusals) expect(r.hint.length).toBeGreaterThan(5);
    expect(p.launch).toBeNull();
  });

  it('refuses a program outside every exec grant', () => {
    const p = run(manifestOf(HELLO.replace('access: read-exec', 'access: read')), hybridHost());
    expect(p.refusals.map((r) => r.code)).toEqual(['BV_PLAN_EXE_NOT_GRANTED']);
  });

  it('wasm: refuses what WASI cannot back, admits the rest', () => {
    const m = manifestOf(`workload:\n  wasm: { module: m.wasm }\nnetwork: loopback\nspawn: threads\nfds: [3]\nlimits: { fuel: 1000, memory: 16Mi, cpu: 1s }\nfilesystem:\n  - { path: ./data, access: read-write }\n`);
    const p = run(m, hybridHost());
    expect(p.backend).toBe('wasm');
    expect(p.refusals.map((r) => `${r.clause}:${r.code}`).sort()).toEqual(['fds:BV_PLAN_BACKEND_UNSUPPORTED', 'limits.cpu:BV_PLAN_BACKEND_UNSUPPORTED', 'network:BV_PLAN_BACKEND_UNSUPPORTED', 'spawn:BV_PLAN_BACKEND_UNSUPPORTED']);
    expect(clause(p, 'limits.fuel').mechanism).toBe('wasm:fuel(wasmtime-like/v1)');
    expect(clause(p, 'filesystem[0]').mechanism).toBe('wasm:preopen(openat2-beneath,rw)+linux:mount(rbind,rw,idmap=1000:1000→65534:65534)+landlock(abi=7)');
  });

  it('wasm: a file grant or a non-recursive grant is refused, never widened', () => {
    const m = manifestOf(`workload:\n  wasm: { module: m.wasm }\nfilesystem:\n  - { path: ./f.txt, access: read }\n  - { path: ./d, access: read, recursive: false }\n`);
    const p = plan({ manifest: m, host: hybridHost(), paths: pathsFor(m, { grants: [{ path: '/bundle/f.txt', kind: 'file' }, dirFact('/bundle/d')] }), cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => r.code)).toEqual(['BV_PLAN_PATH_KIND', 'BV_PLAN_NON_RECURSIVE']);
  });

  it('a grant that resolves into one process\'s /proc directory (/proc/self, a pid) is refused; /proc itself and its other files are not', () => {
    const m = manifestOf(HELLO.replace('access: read-exec }\n', 'access: read-exec }\n  - { path: /proc/self/cgroup, access: read }\n  - { path: /proc/1, access: read }\n  - { path: /proc/cpuinfo, access: read }\n'));
    // Where the planner's caller resolved them (proc(5): /proc/self is the resolving process).
    const p = plan({ manifest: m, host: hybridHost(), paths: pathsFor(m, { grants: [dirFact('/usr'), { ...fileFact('/proc/4242/cgroup'), uid: 0 }, dirFact('/proc/1'), fileFact('/proc/cpuinfo')] }), cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['filesystem[1]', 'BV_PLAN_GRANT_PROCESS'], ['filesystem[2]', 'BV_PLAN_GRANT_PROCESS']]);
    expect(p.refusals[0]!.reason).toBe("/proc/self/cgroup is /proc/4242/cgroup here, the /proc directory of process 4242 (bvisor's own, where the path was resolved), not the workload's");
  });

  it('a missing grant path is an error, whatever the guarantee', () => {
    const m = manifestOf(HELLO.replace('access: read-exec }', 'access: read-exec, guarantee: best-effort }'));
    const p = plan({ manifest: m, host: hybridHost(), paths: pathsFor(m, { grants: [{ path: '/usr', kind: 'missing' }] }), cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => r.code)).toContain('BV_PLAN_PATH_MISSING');
  });

  it('isolate needs landlock ABI 6 where no namespace covers it, capabilities need a user namespace, deny: log is only best-effort', () => {
    const old = hybridHost();
    old.landlock.abi = 5;
    const p = run(manifestOf(HELLO + 'isolate: { abstractUnix: true }\nnetwork: host\n'), old);
    expect(p.refusals.map((r) => `${r.clause}:${r.code}`)).toEqual(['isolate:BV_PLAN_LANDLOCK_ABI_TOO_OLD']);
    expect(clause(run(manifestOf(HELLO + 'isolate: { signals: true, abstractUnix: true }\n'), hybridHost()), 'isolate').mechanism).toBe('linux:landlock-scope(abi=7,signal,abstract-unix)');
    const noUserns = hybridHost();
    noUserns.userns.canCreate = false;
    expect(run(manifestOf(HELLO + 'capabilities: [CAP_NET_BIND_SERVICE]\n'), noUserns).refusals.map((r) => r.clause)).toContain('capabilities');
    const log = run(manifestOf(HELLO + 'syscalls: { deny: log }\n'), hybridHost());
    expect(log.refusals.map((r) => `${r.clause}:${r.code}`).sort()).toEqual(['spawn:BV_PLAN_WEAKER_THAN_REQUESTED', 'syscalls:BV_PLAN_WEAKER_THAN_REQUESTED']);
    const logOk = run(manifestOf(HELLO + 'syscalls: { deny: log, guarantee: best-effort }\nspawn: { value: deny, guarantee: best-effort }\n'), hybridHost());
    expect(clause(logOk, 'syscalls')).toMatchObject({ verdict: 'best-effort', mechanism: expect.stringMatching(/^linux:seccomp\(log,\d+ rules\)$/) });
  });

  it('container mode: grants are bind mounts plus landlock; the rootfs is the default deny', () => {
    const m = manifestOf(HELLO.replace('exe: /usr/bin/echo', 'exe: /bin/sh') + 'root: { path: rootfs }\n');
    const p = run(m, hybridHost());
    expect(clause(p, 'root').mechanism).toBe('linux:mount(pivot_root,ro)');
    expect(clause(p, 'filesystem').mechanism).toBe('linux:mount(pivot_root)+landlock(abi=7)');
    expect(clause(p, 'filesystem[0]').mechanism).toBe('linux:mount(rbind,ro)+landlock(abi=7,rights=xrl)');
    const bare = hybridHost();
    bare.landlock.abi = 0;
    expect(clause(run(m, bare), 'filesystem[0]').mechanism).toBe('linux:mount(rbind,ro)');
  });

  it('a cwd inside a directory bvisor masks is refused', () => {
    const m = manifestOf(HELLO.replace('filesystem:\n  - { path: /usr, access: read-exec }\n', 'filesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /srv, access: read }\n').replace('args: [hi] }', 'args: [hi], cwd: /srv/state/containers }'));
    const p = run(m, hybridHost(), { reserved: [{ path: '/srv/state', what: 'state root' }] });
    expect(p.refusals.map((r) => `${r.clause}:${r.code}`)).toEqual(['workload.process.cwd:BV_PLAN_CWD_UNREACHABLE']);
    expect(p.refusals[0]!.reason).toMatch(/inside \/srv\/state, which the workload sees empty/);
  });

  it('a #! program needs its interpreter granted', () => {
    const m = manifestOf(HELLO);
    const paths = { ...pathsFor(m), exe: { ...pathsFor(m).exe!, interpreter: '/opt/perl/bin/perl' } };
    const p = plan({ manifest: m, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals).toMatchObject([{ clause: 'workload', code: 'BV_PLAN_EXE_NOT_GRANTED', reason: expect.stringMatching(/script for \/opt\/perl\/bin\/perl/) }]);
    const ok = plan({ manifest: m, host: hybridHost(), paths: { ...paths, exe: { ...paths.exe, interpreter: '/usr/bin/dash' } }, cgroupParent: null }, sha256Hex);
    expect(ok.admitted).toBe(true);
    expect(ok.launch?.workload.script).toBe(true);
  });

  it('secrets appear in the plan only as references', () => {
    const m = manifestOf(HELLO + 'env: { TOKEN: { secret: api-token }, HOME: /nonexistent }\n');
    const p = run(m, hybridHost(), { secrets: ['api-token'] });
    expect(p.launch?.env).toEqual([{ name: 'HOME', value: '/nonexistent' }, { name: 'TOKEN', secret: 'api-token' }]);
    expect(clause(p, 'env.TOKEN').mechanism).toBe('secret:env(BVISOR_SECRET_API_TOKEN)');
  });
});

// ---------------------------------------------------------------------------------------------
// properties

const guarantee = fc.constantFrom('enforced' as const, 'mediated' as const, 'best-effort' as const);
const grantArb = fc.record({
  path: fc.constantFrom('/usr', '/srv', '/dev/shm', '/etc/hosts'),
  access: fc.constantFrom('read' as const, 'read-exec' as const, 'write' as const, 'read-write' as const, 'read-write-exec' as const),
  recursive: fc.boolean(),
  guarantee,
  kind: fc.constantFrom('file' as const, 'directory' as const, 'missing' as const),
});
const limitArb = <T>(v: fc.Arbitrary<T>) => fc.option(fc.record({ value: v, guarantee, explicit: fc.constant(true) }), { nil: undefined });

const manifestArb = fc
  .record({
    wasm: fc.boolean(),
    grants: fc.array(grantArb, { maxLength: 4 }),
    network: fc.constantFrom('deny' as const, 'loopback' as const, 'host' as const, 'ports' as const),
    spawn: fc.constantFrom('deny' as const, 'threads' as const, 'descendants' as const),
    tmp: fc.constantFrom('private' as const, 'none' as const),
    root: fc.boolean(),
    g: guarantee,
    fds: fc.constantFrom([] as number[], [3]),
    limits: fc.record({
      wall: limitArb(fc.integer({ min: 1, max: 1e6 })),
      cpu: limitArb(fc.integer({ min: 1, max: 1e6 })),
      cpus: limitArb(fc.constantFrom(0.5, 2)),
      memory: limitArb(fc.integer({ min: 2 ** 20, max: 2 ** 34 })),
      processes: limitArb(fc.integer({ min: 1, max: 200_000 })),
      openFiles: limitArb(fc.integer({ min: 3, max: 100_000 })),
      fuel: limitArb(fc.integer({ min: 1, max: 1e9 })),
      output: limitArb(fc.integer({ min: 0, max: 2 ** 30 })),
      tmpSize: limitArb(fc.integer({ min: 4096, max: 2 ** 30 })),
    }),
  })
  .map(({ wasm, grants, network, spawn, tmp, root, g, fds, limits }) => {
    const seen = new Set<string>();
    const filesystem: NormalGrant[] = [];
    const facts: PathFact[] = [];
    for (const x of grants) {
      if (seen.has(x.path)) continue;
      seen.add(x.path);
      filesystem.push({ index: filesystem.length, path: x.path, bundleRelative: false, access: x.access, recursive: x.recursive, guarantee: x.guarantee });
      facts.push(x.kind === 'missing' ? { path: x.path, kind: 'missing' } : x.kind === 'file' ? fileFact(x.path) : dirFact(x.path));
    }
    const cleanLimits = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
    const m: NormalManifest = {
      workload: wasm ? { kind: 'wasm', module: 'm.wasm', args: [], deterministic: false, seed: null } : { kind: 'process', exe: '/usr/bin/true', args: [], cwd: '/' },
      root: root && !wasm ? { path: 'rootfs', readonly: true, guarantee: g } : null,
      filesystem,
      network: { value: { mode: network, connect: network === 'ports' ? [443] : [], bind: [] }, guarantee: g, explicit: true },
      spawn: { value: spawn, guarantee: g, explicit: true },
      env: [],
      fds,
      stdio: { stdin: 'null', stdout: 'capture', stderr: 'inherit' },
      limits: cleanLimits,
      tmp: { value: tmp, guarantee: g, explicit: true },
      syscalls: { value: 'errno', guarantee: g, explicit: true },
      isolate: { value: { signals: false, abstractUnix: false }, guarantee: g, explicit: false },
      capabilities: [],
      defaultGuarantee: g,
      explicitDefaultGuarantee: true,
    };
    const paths: PlanPaths = { grants: facts, exe: fileFact('/usr/bin/true'), module: fileFact('/b/m.wasm'), root: dirFact('/b/rootfs') };
    return { m, paths };
  });

type Degrade = (h: HostFacts) => void;
const degradeArb: fc.Arbitrary<Degrade> = fc.oneof(
  fc.integer({ min: 0, max: 6 }).map((abi) => (h: HostFacts) => void (h.landlock.abi = Math.min(h.landlock.abi, abi))),
  fc.constant((h: HostFacts) => void (h.seccomp = { available: false, actions: [] })),
  fc.constant((h: HostFacts) => void (h.seccomp.actions = h.seccomp.actions.filter((a) => a !== 'errno'))),
  fc.constant((h: HostFacts) => void (h.userns.canCreate = false)),
  fc.constant((h: HostFacts) => void (h.capabilities.effective = '0000000000000000')),
  fc.constantFrom('memory', 'pids', 'cpu', 'cpuacct').map((c) => (h: HostFacts) => {
    h.cgroup.v1 = h.cgroup.v1.filter((x) => !x.controllers.includes(c));
    if (h.cgroup.v2) h.cgroup.v2.controllers = h.cgroup.v2.controllers.filter((x) => x !== c);
  }),
  fc.constant((h: HostFacts) => {
    for (const x of [...h.cgroup.v1, ...(h.cgroup.v2 ? [h.cgroup.v2] : [])]) x.canCreateChild = false;
  }),
  fc.integer({ min: 0, max: 5000 }).map((n) => (h: HostFacts) => {
    for (const k of ['nofile', 'nproc', 'cpu', 'as']) {
      const r = h.rlimits[k];
      if (r) h.rlimits[k] = { soft: Math.min(r.soft ?? n, n), hard: Math.min(r.hard ?? n, n) };
    }
  }),
);
const hostArb = fc.constantFrom(hybridHost, v2Host);

const HOST_MECHANISMS = /landlock|seccomp|netns|mount|cgroup/;

/**
 * How strong a verdict is, written from the brief (§1 "Fail closed, explained"; docs/security.md):
 * enforced by the kernel > mediated by the supervisor > best-effort, never taken from the planner.
 */
const STRENGTH_RANK: Record<'best-effort' | 'mediated' | 'enforced', number> = { 'best-effort': 1, mediated: 2, enforced: 3 };

describe('planner properties', () => {
  it('(a) removing a host capability never turns a refusal into an admission', () => {
    fc.assert(
      fc.property(manifestArb, hostArb, fc.array(degradeArb, { minLength: 1, maxLength: 4 }), fc.boolean(), ({ m, paths }, mkHost, degrades, parent) => {
        const strong = mkHost();
        const weak = mkHost();
        for (const d of degrades) d(weak);
        const cgroupParent = parent ? 'p' : null;
        const a = plan({ manifest: m, host: strong, paths, cgroupParent }, sha256Hex);
        const b = plan({ manifest: m, host: weak, paths, cgroupParent }, sha256Hex);
        const refusedStrong = new Set(a.refusals.map((r) => r.clause));
        for (const c of refusedStrong) expect(b.refusals.map((r) => r.clause)).toContain(c);
        if (!a.admitted) expect(b.admitted).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('(b) a clause is admitted only at or above its guarantee; with no host mechanisms, nothing that needs one is admitted', () => {
    fc.assert(
      fc.property(manifestArb, ({ m, paths }) => {
        for (const host of [hybridHost(), bareHost()]) {
          const p = plan({ manifest: m, host, paths, cgroupParent: null }, sha256Hex);
          for (const c of p.clauses) {
            if (c.verdict === 'refused' || c.verdict === 'not-requested') continue;
            expect(STRENGTH_RANK[c.verdict]).toBeGreaterThanOrEqual(STRENGTH_RANK[c.guarantee]);
            if (host.landlock.abi === 0) expect(c.mechanism).not.toMatch(HOST_MECHANISMS);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('(c) the same inputs give the same plan hash, and the hash covers the plan', () => {
    fc.assert(
      fc.property(manifestArb, hostArb, ({ m, paths }, mkHost) => {
        const a = plan({ manifest: m, host: mkHost(), paths, cgroupParent: null }, sha256Hex);
        const b = plan({ manifest: structuredClone(m), host: structuredClone(mkHost()), paths: structuredClone(paths), cgroupParent: null }, sha256Hex);
        expect(a.planHash).toBe(b.planHash);
        expect(a).toEqual(b);
        const edited = { ...a, clauses: a.clauses.slice(1), planHash: null };
        expect(sha256Hex(JSON.stringify(edited))).not.toBe(a.planHash);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * What the planner claims per landlock ABI (docs/landlock.md, the table): ABI 1–7 on a rootful
 * host with user namespaces (the mounts are authoritative, landlock a second layer), and what
 * covers each gap below the ABI that closes it. The rights per ABI are those of the kernel's
 * UAPI (include/uapi/linux/landlock.h): REFER 2, TRUNCATE 3, net 4, IOCTL_DEV 5, scopes 6.
 */
describe('planner verdicts per landlock ABI', () => {
  const ABIS = [1, 2, 3, 4, 5, 6, 7];
  const at = (abi: number, base: () => HostFacts = hybridHost): HostFacts => {
    const h = base();
    h.landlock.abi = abi;
    return h;
  };
  const refusal = (p: Plan, clauseName: string): string | undefined => p.refusals.find((r) => r.clause === clauseName)?.code;
  const RW = HELLO.replace('filesystem:\n  - { path: /usr, access: read-exec }\n', 'filesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /srv, access: read-write }\n');

  it.each(ABIS)('ABI %i: the root and the grants are enforced by the mounts; below 3 seccomp covers truncate through /proc/self/fd', (abi) => {
    const p = run(manifestOf(RW), at(abi));
    expect(p.admitted).toBe(true);
    expect(clause(p, 'filesystem')).toMatchObject({ verdict: 'enforced', mechanism: `linux:mount(root from grants)+landlock(abi=${abi})${abi < 3 ? '+seccomp(truncate)' : ''}` });
    expect(clause(p, 'filesystem[0]')).toMatchObject({ verdict: 'enforced', mechanism: `linux:mount(rbind,ro)+landlock(abi=${abi},rights=xrl)` });
    // Rights the ABI has: REFER (R) from 2, TRUNCATE (t) from 3; never more than the ABI handles.
    const rw = `wrlDFdfspy${abi >= 2 ? 'R' : ''}${abi >= 3 ? 't' : ''}`;
    expect(clause(p, 'filesystem[1]')).toMatchObject({ verdict: 'enforced', mechanism: `linux:mount(rbind,rw,noexec,idmap=1000:1000→65534:65534)+landlock(abi=${abi},rights=${rw})` });
    const rights = p.launch!.filesystem[1]!.rights;
    expect(rights.includes('REFER')).toBe(abi >= 2);
    expect(rights.includes('TRUNCATE')).toBe(abi >= 3);
    expect(p.launch!.landlockAbi).toBe(abi);
    // The syscall filter is the one the launcher installs: three truncate rules more below ABI 3
    // (truncate, and open/openat with O_RDONLY|O_TRUNC).
    const n = (h: HostFacts): number => Number(/,(\d+) rules\)$/.exec(clause(run(manifestOf(RW), h), 'syscalls').mechanism!)![1]);
    expect(n(at(abi)) - n(at(7))).toBe(abi < 3 ? 3 : 0);
  });

  it.each([1, 2])('ABI %i: without a seccomp filter that denies, truncate is not covered: refused, or best-effort where the manifest says so', (abi) => {
    const noSeccomp = at(abi);
    noSeccomp.seccomp = { available: false, actions: [] };
    const lax = 'syscalls: { deny: errno, guarantee: best-effort }\nspawn: { value: deny, guarantee: best-effort }\n';
    const p = run(manifestOf(RW + lax), noSeccomp);
    const r = p.refusals.find((x) => x.clause === 'filesystem');
    expect(r).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: expect.stringMatching(new RegExp(`landlock ABI ${abi} cannot restrict truncate \\(needs ABI 3\\).*/proc/self/fd.*seccomp`)), hint: expect.stringMatching(/Linux ≥ 6\.2/) });
    const log = run(manifestOf(RW + 'syscalls: { deny: log, guarantee: best-effort }\nspawn: { value: deny, guarantee: best-effort }\n'), at(abi));
    expect(log.refusals.find((x) => x.clause === 'filesystem')).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: expect.stringMatching(/deny: log/) });
    const ok = run(manifestOf(RW + 'syscalls: { deny: log, guarantee: best-effort }\nspawn: { value: deny, guarantee: best-effort }\nguarantee: best-effort\n'), at(abi));
    expect(clause(ok, 'filesystem')).toMatchObject({ verdict: 'best-effort', mechanism: `linux:mount(root from grants)+landlock(abi=${abi})`, reason: expect.stringMatching(/truncate/) });
    // From ABI 3 landlock restricts truncate itself: no filter needed.
    const three = at(3);
    three.seccomp = { available: false, actions: [] };
    expect(refusal(run(manifestOf(RW + lax), three), 'filesystem')).toBeUndefined();
  });

  it.each(ABIS)('ABI %i: TCP port rules need ABI 4; without a network namespace abstract unix sockets are scoped (6) or unix sockets denied (4–5)', (abi) => {
    const p = run(manifestOf(HELLO + 'network: { connect: [443], bind: [8080] }\n'), at(abi));
    if (abi < 4) {
      expect(p.refusals.find((r) => r.clause === 'network')).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: `TCP port rules need landlock ABI 4 (this host has ${abi})`, hint: expect.stringMatching(/Linux ≥ 6\.7/) });
      return;
    }
    expect(clause(p, 'network')).toMatchObject({ verdict: 'enforced', mechanism: abi >= 6 ? `linux:landlock-net(abi=${abi},tcp)+landlock-scope(abstract-unix)+seccomp(inet:tcp-only)` : `linux:landlock-net(abi=${abi},tcp)+seccomp(inet:tcp-only,unix:none)` });
    expect(p.launch!.scope.includes('abstract-unix-socket')).toBe(abi >= 6);
    // deny: log would leave UDP (and below 6 unix) sockets open: not enforced.
    const log = run(manifestOf(HELLO + 'network: { connect: [443] }\nsyscalls: { deny: log, guarantee: best-effort }\nspawn: { value: deny, guarantee: best-effort }\n'), at(abi));
    expect(refusal(log, 'network')).toBe('BV_PLAN_WEAKER_THAN_REQUESTED');
  });

  it.each(ABIS)('ABI %i: isolate is kept by the pid and network namespaces below 6, by landlock scopes from 6; what no namespace covers is refused', (abi) => {
    const both = run(manifestOf(HELLO + 'isolate: { signals: true, abstractUnix: true }\n'), at(abi));
    expect(clause(both, 'isolate')).toMatchObject({ verdict: 'enforced', mechanism: abi >= 6 ? `linux:landlock-scope(abi=${abi},signal,abstract-unix)` : 'linux:pidns(signal)+netns(abstract-unix)' });
    expect(both.launch!.scope).toEqual(abi >= 6 ? ['signal', 'abstract-unix-socket'] : []);
    expect(both.launch!.namespaces).toEqual(expect.arrayContaining(['pid', 'net']));
    // network: host shares the host's network namespace, where its abstract sockets are.
    const host = run(manifestOf(HELLO + 'isolate: { abstractUnix: true }\nnetwork: host\n'), at(abi));
    if (abi >= 6) expect(clause(host, 'isolate').mechanism).toBe(`linux:landlock-scope(abi=${abi},abstract-unix)`);
    else expect(host.refusals.find((r) => r.clause === 'isolate')).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: expect.stringMatching(/abstract unix sockets \(network: host shares the host's network namespace\)/), hint: expect.stringMatching(/network: deny or loopback/) });
    // Without user namespaces nothing but landlock can.
    const bare = at(abi);
    bare.userns.canCreate = false;
    bare.capabilities.effective = '0000000000000000';
    bare.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    bare.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
    const b = run(manifestOf(HELLO + 'isolate: { signals: true }\nnetwork: host\n'), bare);
    expect(refusal(b, 'isolate')).toBe(abi >= 6 ? undefined : 'BV_PLAN_LANDLOCK_ABI_TOO_OLD');
  });

  it.each(ABIS)('ABI %i: stdin: inherit keeps the caller’s process group: scoped signals from 6, the mapped uid rootful, refused rootless below 6', (abi) => {
    const M = manifestOf(HELLO + 'stdio: { stdin: inherit }\n');
    const rootful = run(M, at(abi));
    expect(clause(rootful, 'stdio')).toMatchObject({ verdict: 'enforced', mechanism: abi >= 6 ? `linux:stdio+landlock-scope(abi=${abi},signal)` : 'linux:stdio' });
    expect(rootful.launch!.scope).toEqual(abi >= 6 ? ['signal'] : []);
    const rootless = run(M, at(abi, v2Host));
    if (abi >= 6) expect(clause(rootless, 'stdio').mechanism).toBe(`linux:stdio+landlock-scope(abi=${abi},signal)`);
    else expect(rootless.refusals.find((r) => r.clause === 'stdio')).toMatchObject({ code: 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', reason: expect.stringMatching(/kill\(0, SIGSTOP\) would stop bvisor/), hint: expect.stringMatching(/stdin: null/) });
    // isolate: { signals } with stdin: inherit: a pid namespace does not cover kill(0).
    const iso = run(manifestOf(HELLO + 'stdio: { stdin: inherit }\nisolate: { signals: true }\n'), at(abi));
    expect(refusal(iso, 'isolate')).toBe(abi >= 6 ? undefined : 'BV_PLAN_LANDLOCK_ABI_TOO_OLD');
    // stdin: null starts a new session: kill(0) stays in it; no scope is asked for with a pid namespace.
    expect(run(manifestOf(HELLO), at(abi)).launch!.scope).toEqual([]);
  });
});

// Per-run ids (docs/security.md, "Per-run ids"): with a range of two ids or more, an id of the
// range is some other launch's. A write grant owned by one is refused by plan and run alike,
// whichever id this launch drew; world-writable, it needs no owner and is admitted.
describe('write grants owned by an id of bvisor\'s range', () => {
  const ranged = (count: number): HostFacts => {
    const h = hybridHost();
    h.mapping = { uid: 100_001, gid: 100_001, source: 'an id of the bvisor range', range: { uid: 100_000, gid: 100_000, count } };
    return h;
  };
  const m = () => manifestOf(`workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /srv/shared, access: read-write }\n`);
  const grantOwned = (uid: number, gid: number, mode = 0o755): PlanPaths => ({ ...pathsFor(m()), grants: [dirFact('/usr'), { ...dirFact('/srv/shared'), uid, gid, mode }] });

  it('owned by another id of the range (uid or gid alone): refused, naming the owner and the range', () => {
    for (const [uid, gid] of [[100_007, 100_007], [100_007, 1000], [1000, 100_007]] as const) {
      const p = checkedPlan(plan({ manifest: m(), host: ranged(64), paths: grantOwned(uid, gid), cgroupParent: null }, sha256Hex));
      expect(p.refusals, `${uid}:${gid}`).toEqual([expect.objectContaining({ code: 'BV_PLAN_WRITE_OWNER', clause: 'filesystem[1]', reason: expect.stringContaining(`owned by ${uid}:${gid}, an id of bvisor's range (100000–100063)`) })]);
    }
  });

  it('owned by this launch\'s own id too: it is still another launch\'s to have drawn', () => {
    const p = checkedPlan(plan({ manifest: m(), host: ranged(64), paths: grantOwned(100_001, 100_001), cgroupParent: null }, sha256Hex));
    expect(p.refusals.map((r) => r.code)).toEqual(['BV_PLAN_WRITE_OWNER']);
  });

  it('world-writable, or owned by a regular user outside the range, or a range of one id (shared): admitted', () => {
    expect(checkedPlan(plan({ manifest: m(), host: ranged(64), paths: grantOwned(100_007, 100_007, 0o1777), cgroupParent: null }, sha256Hex)).refusals).toEqual([]);
    expect(checkedPlan(plan({ manifest: m(), host: ranged(64), paths: grantOwned(1000, 1000), cgroupParent: null }, sha256Hex)).refusals).toEqual([]);
    expect(checkedPlan(plan({ manifest: m(), host: ranged(1), paths: grantOwned(100_007, 100_007), cgroupParent: null }, sha256Hex)).refusals).toEqual([]);
  });
});
