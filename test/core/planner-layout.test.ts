// Checks of the workload's root as a whole (src/core/planner.ts layoutRefusals): two clauses may
// not mount on one place (the later mount would hide the earlier: mount(2) stacks, it does not
// merge), and the working directory must exist in the root the grants build (chdir(2) fails
// with ENOENT otherwise), both refused before anything runs (docs/errors.md:
// BV_PLAN_LAYOUT_CONFLICT, BV_PLAN_CWD_UNREACHABLE).
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost } from '../helpers/hosts.js';

const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\n' + yaml, 'test.yaml').manifest;
const dir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 65534, gid: 65534, mode: 0o755 });

function run(m: NormalManifest): Plan {
  const paths: PlanPaths = {
    grants: m.filesystem.map((g) => dir(g.path.startsWith('./') ? `/bundle/${g.path.slice(2)}` : g.path)),
    exe: { path: m.workload.kind === 'process' ? m.workload.exe : '', kind: 'file', dev: '1', ino: '9', uid: 0, gid: 0, mode: 0o755 },
    module: null,
    root: m.root ? dir(`/bundle/${m.root.path}`) : null,
  };
  const p = plan({ manifest: m, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}
const proc = (cwd: string, grants: string, extra = ''): NormalManifest => manifestOf(`workload:\n  process: { exe: /usr/bin/true, cwd: ${cwd} }\nfilesystem:\n  - { path: /usr, access: read-exec }\n${grants}${extra}`);

describe('the working directory must exist in the workload’s root', () => {
  it('/ always does', () => {
    expect(run(proc('/', '')).refusals).toEqual([]);
  });

  it('a granted directory, or one beneath a grant, does', () => {
    expect(run(proc('/srv', '  - { path: /srv, access: read }\n')).refusals).toEqual([]);
    expect(run(proc('/srv/data/x', '  - { path: /srv, access: read }\n')).refusals).toEqual([]);
    expect(run(proc('/usr/lib', '')).refusals).toEqual([]);
  });

  it('a directory under no grant does not: refused, with the two ways out', () => {
    const p = run(proc('/srv', ''));
    expect(p.refusals).toEqual([{ code: 'BV_PLAN_CWD_UNREACHABLE', clause: 'workload.process.cwd', reason: "/srv is not under any grant, so it does not exist in the workload's root", hint: 'grant /srv (or a directory above it), or set cwd: /' }]);
    expect(p.clauses.find((c) => c.clause === 'workload.process.cwd')).toMatchObject({ requested: '/srv', verdict: 'refused' });
  });

  it('a sibling whose name is a prefix is not above it', () => {
    expect(run(proc('/srv2', '  - { path: /srv, access: read }\n')).refusals.map((r) => r.code)).toEqual(['BV_PLAN_CWD_UNREACHABLE']);
  });

  it('a private /tmp is a place in the root', () => {
    expect(run(proc('/tmp', '', 'tmp: private\n')).refusals).toEqual([]);
    expect(run(proc('/tmp', '')).refusals.map((r) => r.code)).toEqual(['BV_PLAN_CWD_UNREACHABLE']);
  });

  it('container mode: the rootfs is the root, and the cwd is the image’s business', () => {
    const m = manifestOf('workload:\n  process: { exe: /bin/sh, cwd: /srv }\nroot: { path: rootfs }\n');
    expect(run(m).refusals).toEqual([]);
  });
});

describe('two clauses on one place', () => {
  it('a grant of /tmp beside tmp: private: refused on the later mount, naming both, with the hint', () => {
    const p = run(proc('/', '  - { path: /tmp, access: read-write }\n', 'tmp: private\n'));
    const r = p.refusals.filter((x) => x.code === 'BV_PLAN_LAYOUT_CONFLICT');
    expect(r).toEqual([{ code: 'BV_PLAN_LAYOUT_CONFLICT', clause: 'tmp', reason: 'tmp and filesystem[1] would both be mounted at /tmp; the later would hide the earlier', hint: 'drop one of them (tmp: private already gives an empty writable /tmp)' }]);
    expect(p.clauses.find((c) => c.clause === 'tmp' && c.verdict === 'refused')).toMatchObject({ requested: 'tmpfs at /tmp' });
  });
});

describe('bvisor’s own directories', () => {
  const M = manifestOf('workload:\n  process: { exe: /usr/bin/true, cwd: /opt/bvisor/lib }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /opt, access: read }\n');
  const plan1 = (what: 'bvisor install' | 'state root') => {
    const paths: PlanPaths = { grants: [dir('/usr'), dir('/opt')], exe: { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '9', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null };
    const p = plan({ manifest: M, host: hybridHost(), paths, cgroupParent: null, reserved: [{ path: '/opt/bvisor', what }] }, sha256Hex);
    expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
    return p;
  };

  it('the state root inside a grant is seen empty: a cwd in it is refused, naming it', () => {
    expect(plan1('state root').refusals).toEqual([{ code: 'BV_PLAN_CWD_UNREACHABLE', clause: 'workload.process.cwd', reason: '/opt/bvisor/lib is inside /opt/bvisor, which the workload sees empty (state root)', hint: 'set cwd to a directory the workload can use' }]);
  });

  it('bvisor’s install is readable (nothing in it is secret): not masked, and a cwd in it is fine', () => {
    const p = plan1('bvisor install');
    expect(p.refusals).toEqual([]);
    expect(p.launch!.layout.some((e) => e.kind === 'mask' && e.target.startsWith('/opt'))).toBe(false);
  });
});

// A grant written through symlinks (resolveHostPath follows only root's links in root's
// directories, and lists them in PathFact.links) is bound at its physical place; the links are
// made in the built root too, so the path as written works (symlink(7): a relative link is
// resolved from the directory holding it).
describe('a grant reached through links: the links are made in the host-mode root', () => {
  const file = (path: string, links: PathFact['links']): PathFact => ({ path, kind: 'file', dev: '1', ino: '7', uid: 0, gid: 0, mode: 0o644, links });
  function layoutOf(yaml: string, facts: Record<string, PathFact>, root = false): Plan['launch'] {
    const m = manifestOf(`workload:\n  process: { exe: /usr/bin/true }\n${root ? 'root: { path: rootfs }\n' : ''}filesystem:\n  - { path: /usr, access: read-exec }\n${yaml}`);
    const paths: PlanPaths = {
      grants: m.filesystem.map((g) => facts[g.path] ?? dir(g.path)),
      exe: { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '9', uid: 0, gid: 0, mode: 0o755 },
      module: null,
      root: root ? dir('/bundle/rootfs') : null,
    };
    const p = plan({ manifest: m, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
    expect(p.refusals).toEqual([]);
    return p.launch;
  }
  const localtime = { '/etc/localtime': file('/usr/share/zoneinfo/Etc/UTC', [{ at: '/etc/localtime', text: '/usr/share/zoneinfo/Etc/UTC' }]) };

  // (read-exec: a grant inside /usr's is refused unless it has /usr's access, BV_PLAN_GRANT_NESTED)
  it('/etc/localtime → the zone file: bound at its own place, and the link made where it was written', () => {
    const l = layoutOf('  - { path: /etc/localtime, access: read-exec }\n', localtime)!.layout;
    expect(l.filter((e) => e.clause === 'filesystem[1]')).toEqual([
      { target: '/etc/localtime', kind: 'symlink', source: '/usr/share/zoneinfo/Etc/UTC', clause: 'filesystem[1]' },
      expect.objectContaining({ target: '/usr/share/zoneinfo/Etc/UTC', kind: 'bind', source: '/usr/share/zoneinfo/Etc/UTC' }),
    ]);
  });

  it('not when a bind already shows the link (the host\'s own link is inside it), nor in container mode', () => {
    const l = layoutOf('  - { path: /etc, access: read }\n  - { path: /etc/localtime, access: read-exec }\n', localtime)!.layout;
    expect(l.filter((e) => e.kind === 'symlink' && e.target === '/etc/localtime')).toEqual([]);
    const c = layoutOf('  - { path: /etc/localtime, access: read-exec }\n', localtime, true)!.layout;
    expect(c.filter((e) => e.kind === 'symlink' && e.target === '/etc/localtime')).toEqual([]);
  });

  it('a link in the middle of the path (/var/run → /run) is made once, however many grants pass through it', () => {
    const viaRun = (name: string): PathFact => ({ ...dir(`/run/${name}`), links: [{ at: '/var/run', text: '../run' }] });
    const l = layoutOf('  - { path: /var/run/a, access: read }\n  - { path: /var/run/b, access: read }\n', { '/var/run/a': viaRun('a'), '/var/run/b': viaRun('b') })!.layout;
    expect(l.filter((e) => e.kind === 'symlink' && e.target === '/var/run')).toEqual([{ target: '/var/run', kind: 'symlink', source: '../run', clause: 'filesystem[1]' }]);
  });
});

// Landlock rules add up along a path (landlock(7): a file's access is the union of the rules on
// it and its parents): a grant inside a wider one gets the wider rights, so the planner refuses
// it for a workload. bvisor's own wasm runner (internal.wasmRunner) grants itself /usr read-exec,
// and a guest's read-only preopen inside it (/usr/share) gets only reading and executing there,
// which the runner already has and its guest never gets (WASI has no exec): admitted. A right to
// change files is refused for the runner too.
describe('a grant inside a wider one', () => {
  const nested = (outer: string, inner: string, runner: boolean): NormalManifest => {
    const m = proc('/', `  - ${outer}\n  - ${inner}\n`);
    return runner ? { ...m, internal: { wasmRunner: true } } : m;
  };
  const codes = (p: Plan): string[] => p.refusals.map((r) => `${r.clause} ${r.code}`);

  it('a workload: refused when the outer grant adds execute (landlock would give it)', () => {
    const p = run(nested('{ path: /srv, access: read-exec }', '{ path: /srv/share, access: read }', false));
    expect(codes(p)).toEqual(['filesystem[2] BV_PLAN_GRANT_NESTED']);
    expect(p.refusals[0]!.reason).toBe('/srv/share (read) lies inside filesystem[1] /srv (read-exec), whose rules also cover it: it would get EXECUTE');
  });

  it("bvisor's wasm runner: admitted when the outer grant adds only reading and executing", () => {
    expect(codes(run(nested('{ path: /srv, access: read-exec }', '{ path: /srv/share, access: read }', true)))).toEqual([]);
  });

  it("bvisor's wasm runner: refused when the outer grant adds writing", () => {
    const p = run(nested('{ path: /srv, access: read-write }', '{ path: /srv/share, access: read }', true));
    expect(codes(p)).toEqual(['filesystem[2] BV_PLAN_GRANT_NESTED']);
    expect(p.refusals[0]!.reason).toMatch(/^\/srv\/share \(read\) lies inside filesystem\[1\] \/srv \(read-write\), whose rules also cover it: it would get WRITE_FILE, /);
  });
});
