// What an admitted plan hands the launcher about the objects it planned (src/core/planner.ts
// launchInputs, fsRules): each grant's kind, where the workload sees it, and the identity of every
// path (schemas/plan.schema.json: "st_dev of the path when planned (decimal): the launcher
// refuses a path that is no longer this object"). Container mode binds a bundle-relative grant
// at /<rel> (docs/security.md; a wasm preopen is named the same way), host mode builds the root
// from the grants at their own paths.
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost } from '../helpers/hosts.js';
import { compile } from '../../src/core/seccomp/compile.js';
import { launchPolicy } from '../../src/core/seccomp/policy.js';

const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\n' + yaml, 'test.yaml').manifest;

function run(m: NormalManifest, paths: PlanPaths, host: HostFacts = hybridHost()): Plan {
  const p = plan({ manifest: m, host, paths, cgroupParent: null }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  expect(p.refusals).toEqual([]);
  return p;
}

const fact = (path: string, kind: PathFact['kind'], dev: string, ino: string, mode = 0o755): PathFact => ({ path, kind, dev, ino, uid: 0, gid: 0, mode });

describe('host mode: grants at their own paths, with their kind and identity', () => {
  const m = manifestOf('workload:\n  process: { exe: /usr/bin/cat }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /etc/hosts, access: read }\n  - { path: /dev/null, access: read-write }\n');
  const paths: PlanPaths = {
    grants: [fact('/usr', 'directory', '2049', '11'), fact('/etc/hosts', 'file', '2049', '12', 0o644), { ...fact('/dev/null', 'other', '5', '4', 0o666) }],
    exe: fact('/usr/bin/cat', 'file', '2049', '13'),
    module: null,
    root: null,
  };
  // Planned inside each test: a plan made while the block is collected is made before Stryker
  // activates a mutant, so no mutant would reach it.
  const plan1 = (): Plan => run(m, paths);

  it('a directory, a file and a device keep their kind', () => {
    expect(plan1().launch!.filesystem.map((r) => [r.clause, r.kind])).toEqual([
      ['filesystem[0]', 'directory'],
      ['filesystem[1]', 'file'],
      ['filesystem[2]', 'other'],
    ]);
  });

  it('each is seen at its host path', () => {
    expect(plan1().launch!.filesystem.map((r) => [r.path, r.target])).toEqual([
      ['/usr', '/usr'],
      ['/etc/hosts', '/etc/hosts'],
      ['/dev/null', '/dev/null'],
    ]);
  });

  it('each carries the st_dev and st_ino it was planned with, as does the program', () => {
    expect(plan1().launch!.filesystem.map((r) => [r.dev, r.ino])).toEqual([
      ['2049', '11'],
      ['2049', '12'],
      ['5', '4'],
    ]);
    expect(plan1().launch!.workload).toMatchObject({ kind: 'process', path: '/usr/bin/cat', dev: '2049', ino: '13' });
  });

  it('a file grant carries file rights only (landlock(7): directory rights on a file rule are EINVAL)', () => {
    expect(plan1().launch!.filesystem[1]!.rights).toEqual(['READ_FILE']);
    expect(plan1().launch!.filesystem[0]!.rights).toEqual(expect.arrayContaining(['EXECUTE', 'READ_FILE', 'READ_DIR']));
  });
});

describe('host mode: a bundle-relative grant is bound where it is', () => {
  it('./data is seen at its physical path (the root is built from the grants at their host paths)', () => {
    const m = manifestOf('workload:\n  process: { exe: /usr/bin/cat }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ./data, access: read }\n');
    const paths: PlanPaths = { grants: [fact('/usr', 'directory', '2049', '11'), fact('/bundle/data', 'directory', '7', '21')], exe: fact('/usr/bin/cat', 'file', '2049', '13'), module: null, root: null };
    expect(run(m, paths).launch!.filesystem[1]).toMatchObject({ clause: 'filesystem[1]', path: '/bundle/data', target: '/bundle/data' });
  });
});

describe('container mode and wasm: a bundle-relative grant is seen at /<rel>', () => {
  it('container mode: ./data is bound at /data, an absolute grant at its own path, the rootfs carries its identity', () => {
    const m = manifestOf('workload:\n  process: { exe: /bin/sh }\nroot: { path: rootfs }\nfilesystem:\n  - { path: ./data, access: read }\n  - { path: /srv, access: read }\n');
    const paths: PlanPaths = { grants: [fact('/bundle/data', 'directory', '7', '21'), fact('/srv', 'directory', '8', '22')], exe: fact('/bundle/rootfs/bin/sh', 'file', '7', '23'), module: null, root: fact('/bundle/rootfs', 'directory', '7', '24') };
    const p = run(m, paths);
    expect(p.launch!.filesystem.map((r) => [r.path, r.target, r.dev, r.ino])).toEqual([
      ['/bundle/data', '/data', '7', '21'],
      ['/srv', '/srv', '8', '22'],
    ]);
    expect(p.launch!.root).toMatchObject({ path: '/bundle/rootfs', readonly: true, dev: '7', ino: '24' });
  });

  it('wasm: the module and a preopen carry their identity; ./data is the guest’s /data', () => {
    const m = manifestOf('workload:\n  wasm: { module: m.wasm }\nfilesystem:\n  - { path: ./data, access: read }\n');
    const paths: PlanPaths = { grants: [fact('/bundle/data', 'directory', '7', '31')], exe: null, module: fact('/bundle/m.wasm', 'file', '7', '32', 0o644), root: null };
    const p = run(m, paths);
    expect(p.launch!.filesystem[0]).toMatchObject({ path: '/bundle/data', target: '/data', kind: 'directory', dev: '7', ino: '31' });
    expect(p.launch!.workload).toMatchObject({ kind: 'wasm', path: '/bundle/m.wasm', dev: '7', ino: '32' });
  });
});

describe('a fact without an identity still gives a plan the schema accepts', () => {
  it('dev and ino are decimal strings even when the host layer could not read them', () => {
    const m = manifestOf('workload:\n  process: { exe: /usr/bin/cat }\nfilesystem:\n  - { path: /usr, access: read-exec }\n');
    const paths: PlanPaths = { grants: [{ path: '/usr', kind: 'directory', uid: 0, gid: 0, mode: 0o755 }], exe: { path: '/usr/bin/cat', kind: 'file', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null };
    const p = run(m, paths);
    expect(p.launch!.filesystem[0]!.dev).toMatch(/^[0-9]+$/);
    expect(p.launch!.filesystem[0]!.ino).toMatch(/^[0-9]+$/);
    expect(p.launch!.workload.dev).toMatch(/^[0-9]+$/);
  });
});

describe('the program the launch runs', () => {
  const m = manifestOf('workload:\n  process: { exe: /usr/bin/cat, args: [-n], cwd: /usr }\nfilesystem:\n  - { path: /usr, access: read-exec }\n');
  const paths = (exe: PathFact): PlanPaths => ({ grants: [fact('/usr', 'directory', '2049', '11')], exe, module: null, root: null });

  it('argv[0] is the program as the manifest wrote it; the path is where it is on the host', () => {
    const p = run(m, paths(fact('/usr/bin/cat', 'file', '2049', '13')));
    expect(p.launch!.workload).toEqual({ kind: 'process', path: '/usr/bin/cat', argv0: '/usr/bin/cat', args: ['-n'], cwd: '/usr', dev: '2049', ino: '13' });
  });

  it('a #! script is marked as one (the launcher execs it through its interpreter)', () => {
    const p = run(m, paths({ ...fact('/usr/bin/cat', 'file', '2049', '13'), interpreter: '/usr/bin/sh' }));
    expect(p.launch!.workload).toMatchObject({ script: true });
  });

  it('openat2 is allowed only to bvisor’s own wasm runner, whose file host uses it with modes it chooses', () => {
    const runner = { ...m, internal: { wasmRunner: true as const } };
    expect(run(runner, paths(fact('/usr/bin/cat', 'file', '2049', '13'))).launch!.syscalls.openat2).toBe('allow');
    expect(run(m, paths(fact('/usr/bin/cat', 'file', '2049', '13'))).launch!.syscalls.openat2).toBe('enosys');
  });

  // A mechanism string is a promise: "linux:seccomp(errno,N rules)" names the filter the launch
  // loads, which is compiled from the plan's launch inputs (launchPolicy, as the launcher does).
  // The runner's filter has no openat2 rule, so its count is one fewer.
  it('the seccomp row states the number of rules the launch\'s own filter holds, for the runner too', () => {
    const stated = (p: Plan): number => {
      const mech = p.clauses.flatMap((c) => c.mechanism ?? []).find((x) => /^linux:seccomp\((errno|kill|log),\d+ rules\)$/.test(x));
      expect(mech, JSON.stringify(p.clauses.map((c) => c.mechanism))).toBeDefined();
      return Number(/,(\d+) rules/.exec(mech!)![1]);
    };
    const held = (p: Plan): number => compile(launchPolicy(p.launch!), 'x86_64').rules;
    const runner = { ...m, internal: { wasmRunner: true as const } };
    const rp = run(runner, paths(fact('/usr/bin/cat', 'file', '2049', '13')));
    const op = run(m, paths(fact('/usr/bin/cat', 'file', '2049', '13')));
    expect(stated(rp)).toBe(held(rp));
    expect(stated(op)).toBe(held(op));
    expect(stated(op) - stated(rp)).toBe(1);
  });

  it('a wasm guest gets no mount layout of its own in the launch (the runner is planned separately)', () => {
    const w = manifestOf('workload:\n  wasm: { module: m.wasm }\n');
    const p = run(w, { grants: [], exe: null, module: fact('/bundle/m.wasm', 'file', '7', '32', 0o644), root: null });
    expect(p.launch!.layout).toEqual([]);
    expect(p.launch!.workload).toMatchObject({ kind: 'wasm', argv0: 'm.wasm', cwd: '/', deterministic: false, seed: null });
  });
});

describe('a cgroup that finds every process, even without limits', () => {
  it('without a pid namespace (no user namespaces here), teardown needs a cgroup to find descendants', () => {
    const host = hybridHost();
    host.userns = { ...host.userns, canCreate: false };
    host.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    host.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
    host.capabilities = { effective: '0000000000000000', names: [] };
    const m = manifestOf('workload:\n  process: { exe: /usr/bin/cat }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: host\nguarantee: best-effort\n');
    const p = plan({ manifest: m, host, paths: { grants: [fact('/usr', 'directory', '1', '2')], exe: fact('/usr/bin/cat', 'file', '1', '3'), module: null, root: null }, cgroupParent: 'bvisor-test' }, sha256Hex);
    expect(p.launch!.namespaces).not.toContain('pid');
    expect(p.launch!.cgroup.placements.length).toBe(1);
    expect(p.launch!.cgroup.limits).toEqual([]);
  });
});
