// What the planner adds for an OCI config (docs/oci.md): linux.namespaces' network path (an
// engine's namespace, entered as root around clone3, refused rootless and for anything that is not
// a namespace file), linux.cgroupsPath's parent over the flag, process.rlimits against this host's
// hard limits, and the config's seccomp profile compiled into the plan.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { translateOciConfig } from '../../src/core/oci/config.js';
import { plan } from '../../src/core/planner.js';
import type { NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PathFact, PlanPaths } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost, v2Host } from '../helpers/hosts.js';

const containerd = (): Record<string, any> => JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'containerd-config.json'), 'utf8'));
const rootDir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 0, gid: 0, mode: 0o755, idmap: true, engineStorage: true });
const rootFile = (path: string): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 7), uid: 0, gid: 0, mode: 0o755, idmap: true, engineStorage: true });

function pathsFor(m: NormalManifest, extra: Partial<PlanPaths> = {}): PlanPaths {
  return { grants: m.filesystem.map((g) => rootFile(g.path.startsWith('/') ? g.path : `/bundle/${g.path.slice(2)}`)), exe: rootFile('/bundle/rootfs/bin/sh'), module: null, root: rootDir('/bundle/rootfs'), ...extra };
}
function planOf(config: Record<string, any>, host: HostFacts = hybridHost(), extra: Partial<PlanPaths> = {}, cgroupParent: string | null = null): Plan {
  const { manifest } = translateOciConfig(config);
  const p = plan({ manifest, host, paths: pathsFor(manifest, extra), cgroupParent }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}
const network = (p: Plan) => p.clauses.find((c) => c.clause === 'network')!;

/** A config joining the engine's network namespace by path (CNI's /run/netns/NAME). */
function joining(): Record<string, any> {
  const c = containerd();
  delete c.linux.seccomp;
  c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network').concat([{ type: 'network', path: '/run/netns/cni-1' }]);
  return c;
}
const nsFact = (over: Partial<PathFact> = {}): PathFact => ({ path: '/run/netns/cni-1', kind: 'other', dev: '4', ino: '4026532999', uid: 0, gid: 0, mode: 0o444, nsfs: true, ...over });

describe('linux.namespaces: joining the engine’s network namespace by path', () => {
  it('rootful, an nsfs file: the network clause says it is the engine’s namespace, entered around clone3; the launch names the object', () => {
    const p = planOf(joining(), hybridHost(), { netns: nsFact() });
    expect(p.refusals).toEqual([]);
    expect(network(p)).toEqual({ clause: 'network', requested: 'the network namespace /run/netns/cni-1', guarantee: 'enforced', verdict: 'enforced', mechanism: 'linux:setns(net) around clone3', reason: expect.stringMatching(/engine's network namespace/) });
    expect(p.launch!.oci!.netns).toEqual({ path: '/run/netns/cni-1', dev: '4', ino: '4026532999' });
    expect(p.launch!.namespaces).not.toContain('net');
    // The network clause is the one replaced: still one of it, and the workload clause (the
    // first one) is still the workload's.
    expect(p.clauses.filter((c) => c.clause === 'network')).toHaveLength(1);
    expect(p.clauses[0]).toMatchObject({ clause: 'workload', verdict: 'enforced' });
  });

  it('rootless: refused on the config path (entering a namespace the host owns needs CAP_SYS_ADMIN over it)', () => {
    const p = planOf(joining(), v2Host(), { netns: nsFact() });
    expect(p.refusals.find((r) => r.clause === 'linux.namespaces(network).path')).toEqual({ code: 'BV_OCI_UNSUPPORTED', clause: 'linux.namespaces(network).path', reason: expect.stringMatching(/needs root/), hint: expect.stringMatching(/run bvisor as root/) });
    expect(network(p)).toMatchObject({ verdict: 'refused', mechanism: null, requested: 'the network namespace /run/netns/cni-1' });
  });

  it('a path that does not exist, or is not a namespace file (a FIFO would hang the open): refused', () => {
    for (const netns of [null, { path: '/run/netns/cni-1', kind: 'missing' as const }]) {
      const r = planOf(joining(), hybridHost(), { netns }).refusals.find((x) => x.clause === 'linux.namespaces(network).path');
      expect(r).toMatchObject({ code: 'BV_OCI_UNSUPPORTED', reason: '/run/netns/cni-1 does not exist' });
    }
    const r = planOf(joining(), hybridHost(), { netns: nsFact({ nsfs: false }) }).refusals.find((x) => x.clause === 'linux.namespaces(network).path');
    expect(r).toMatchObject({ code: 'BV_OCI_UNSUPPORTED', reason: '/run/netns/cni-1 is not a namespace file (nsfs)', hint: expect.stringMatching(/\/run\/netns\/NAME/) });
  });

  it('a config without a path has no netns in its launch', () => {
    const c = containerd();
    delete c.linux.seccomp;
    expect(planOf(c).launch!.oci!.netns).toBeNull();
  });
});

describe('linux.cgroupsPath names the cgroup parent, within the caller’s flag', () => {
  const withPath = (path: string): Record<string, any> => {
    const c = containerd();
    delete c.linux.seccomp;
    c.linux.cgroupsPath = path;
    return c;
  };

  it('relative to our own cgroup, as runc reads it, when the caller gave no parent (as engines call)', () => {
    const p = planOf(withPath('pods/ctr-7'), hybridHost());
    expect(p.launch!.cgroup.parent).toBe('pods');
    expect(p.launch!.oci!.cgroupLeaf).toBe('ctr-7');
  });

  it('without a parent in it, the flag’s stays', () => {
    expect(planOf(withPath('ctr-7'), hybridHost(), {}, 'flag-parent').launch!.cgroup.parent).toBe('flag-parent');
  });

  it('beneath the caller’s --cgroup-parent: admitted there; anywhere else: refused, so a bundle cannot leave the subtree (and limits) its caller chose', () => {
    expect(planOf(withPath('flag-parent/pods/ctr-7'), hybridHost(), {}, 'flag-parent').launch!.cgroup.parent).toBe('flag-parent/pods');
    expect(planOf(withPath('/machine/pods/ctr-7'), hybridHost(), {}, '/machine').launch!.cgroup.parent).toBe('/machine/pods');
    for (const [path, flag] of [
      ['pods/ctr-7', 'flag-parent'],
      ['flag-parentx/ctr-7', 'flag-parent'],
      ['/escape/ctr-7', 'flag-parent'],
      ['flag-parent/ctr-7', '/flag-parent'],
    ]) {
      const p = planOf(withPath(path!), hybridHost(), {}, flag!);
      expect(p.refusals, `${path} under ${flag}`).toEqual([expect.objectContaining({ code: 'BV_PLAN_CGROUP_PARENT', clause: 'linux.cgroupsPath' })]);
      expect(p.launch).toBeNull();
    }
  });
});

describe('process.rlimits: each its own clause', () => {
  it('admitted with soft and hard in the mechanism; in the launch by resource', () => {
    const c = containerd();
    delete c.linux.seccomp;
    c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }];
    const p = planOf(c);
    expect(p.clauses.find((x) => x.clause === 'process.rlimits[0]')).toMatchObject({ requested: 'RLIMIT_NOFILE soft 1024 hard 4096', verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_NOFILE=1024/4096)' });
    expect(p.launch!.rlimits).toContainEqual({ clause: 'process.rlimits[0]', resource: 'nofile', soft: 1024, hard: 4096 });
  });
});

describe('linux.seccomp: compiled into the plan', () => {
  it('a profile bvisor compiles: enforced, behind bvisor’s own denylist, its rule count in the words', () => {
    const c = containerd();
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] };
    const p = planOf(c);
    const s = p.clauses.find((x) => x.clause === 'linux.seccomp')!;
    expect(s).toMatchObject({ verdict: 'enforced', requested: 'profile of 1 rule(s)', mechanism: expect.stringMatching(/^linux:seccomp\(oci,\d+ insns,behind bvisor's denylist\)$/), reason: expect.stringMatching(/^compiled by bvisor/) });
    expect(p.launch!.oci!.seccomp).toEqual(c.linux.seccomp);
  });

  it('a host arch with no syscall table: refused, naming the arch', () => {
    const c = containerd();
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] };
    const host = hybridHost();
    host.kernel.arch = 'riscv64';
    const r = planOf(c, host).refusals.find((x) => x.clause === 'linux.seccomp');
    expect(r).toEqual({ code: 'BV_OCI_UNSUPPORTED', clause: 'linux.seccomp', reason: 'bvisor has no syscall table for riscv64', hint: 'run on x86_64 or aarch64' });
  });

  it('a profile it cannot compile: refused by the path of the rule', () => {
    const c = containerd();
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_NO_SUCH_ACTION' }] };
    const r = planOf(c).refusals.filter((x) => x.code === 'BV_OCI_SECCOMP');
    expect(r.length).toBeGreaterThan(0);
    expect(r[0]!.clause).toMatch(/^linux\.seccomp\.syscalls\[0\]/);
  });
});

describe('what the launch carries for an engine', () => {
  it('the config’s hostname, umask, terminal, oom score, and the hooks it has (runtime-spec config.md)', () => {
    const c = containerd();
    delete c.linux.seccomp;
    c.hostname = 'web-1';
    c.process.user.umask = 0o27;
    c.process.terminal = false;
    c.process.oomScoreAdj = 500;
    c.hooks = { prestart: [{ path: '/usr/bin/true' }], poststop: [{ path: '/usr/bin/true', args: ['true', 'x'] }], poststart: [] };
    const p = planOf(c);
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci).toMatchObject({ hostname: 'web-1', umask: 0o27, terminal: false, oomScoreAdj: 500, engine: true, rootRules: null, seccomp: null });
    // Only the kinds with hooks in them (an empty list runs nothing).
    expect(Object.keys(p.launch!.oci!.hooks!)).toEqual(['prestart', 'poststop']);
    expect(p.launch!.oci!.hooks!.poststop).toEqual([expect.objectContaining({ path: '/usr/bin/true', args: ['true', 'x'] })]);
  });
});

describe('a bind mount of the config is a grant, named by its JSON path', () => {
  it('its clause is mounts[i], and its words say where it appears in the container', () => {
    const c = containerd();
    delete c.linux.seccomp;
    c.mounts.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] });
    const i = c.mounts.length - 1;
    const { manifest } = translateOciConfig(c);
    const p = plan({ manifest, host: hybridHost(), paths: { ...pathsFor(manifest), grants: [rootDir('/srv/data')] }, cgroupParent: null }, sha256Hex);
    // ro without noexec: mount(8) allows exec unless told noexec.
    expect(p.clauses.find((x) => x.clause === `mounts[${i}]`)).toMatchObject({ requested: '/srv/data read-exec at /data', verdict: 'enforced' });
    expect(p.launch?.filesystem.find((r) => r.clause === `mounts[${i}]`)).toMatchObject({ path: '/srv/data', target: '/data' });
  });
});

describe('an engine’s container always gets a cgroup v2 leaf where v2 exists (pause/resume is cgroup.freeze, v2 only)', () => {
  it('on a hybrid host too, beside its v1 limits', () => {
    const c = containerd();
    delete c.linux.seccomp;
    c.linux.cgroupsPath = 'pods/ctr-7';
    const p = planOf(c, hybridHost());
    expect(p.refusals).toEqual([]);
    expect(p.launch!.cgroup.placements.some((x) => x.version === 2)).toBe(true);
  });
});

// Found by an attack in December: a config binding the host's /proc elsewhere (or / with it, by
// an rbind) gave the container the host's procfs, every host process's command
// line, while the plan called that mount a fresh proc. Refused; proc at /proc is the container's.
describe('mounts: the host\'s /proc bound elsewhere', () => {
  const dirFact = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length + 3), uid: 0, gid: 0, mode: 0o555 });
  for (const source of ['/proc', '/proc/1', '/']) {
    it(`a bind of ${source} at /host${source === '/' ? '' : source} is refused (BV_PLAN_GRANT_UNSAFE); proc at /proc stays the container's own`, () => {
      const c = containerd();
      delete c.linux.seccomp;
      const dest = `/host${source === '/' ? '' : source}`;
      c.mounts.push({ destination: dest, type: 'bind', source, options: ['rbind', 'ro'] });
      const { manifest } = translateOciConfig(c);
      const paths = pathsFor(manifest);
      paths.grants = manifest.filesystem.map((g) => (g.path === source ? dirFact(source) : paths.grants[g.index]!));
      const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
      const r = p.refusals.find((x) => x.reason.includes(`bound at ${dest}`));
      expect(r).toMatchObject({ code: 'BV_PLAN_GRANT_UNSAFE', reason: `${source} bound at ${dest} would show the host's /proc (every host process)` });
      expect(p.clauses.find((x) => x.clause === 'mounts[0]' || /proc at \/proc/.test(x.requested))?.verdict).not.toBe('refused');
    });
  }
});

// runc reads `bind` as that mount alone and `rbind` as the whole tree; bvisor bound both as trees
// (a known limit until December), so a `bind`'s submounts were seen though the config left them
// out. Where mounts lie beneath a `bind`'s source, the kernel refuses it from a user namespace
// (it would uncover what they hide): refused at plan, by the mount's path, with what lies there.
describe('mounts: bind is that mount alone, rbind the whole tree', () => {
  const dirFact = (path: string, submounts?: string[]): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length + 5), uid: 0, gid: 0, mode: 0o755, ...(submounts ? { submounts } : {}) });
  const withBind = (options: string[], submounts?: string[]): Plan => {
    const c = containerd();
    delete c.linux.seccomp;
    c.mounts.push({ destination: '/data', type: 'bind', source: '/srv/data', options });
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.grants = manifest.filesystem.map((g) => (g.path === '/srv/data' ? dirFact('/srv/data', submounts) : paths.grants[g.index]!));
    const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
    return p;
  };
  const at = (p: Plan) => p.clauses.find((x) => x.clause === `mounts[${containerd().mounts.length}]`)!;
  const rule = (p: Plan) => p.launch!.filesystem.find((r) => r.path === '/srv/data')!;

  it('rbind: the plan says rbind and the launch binds the tree', () => {
    const p = withBind(['rbind', 'ro'], ['/srv/data/cache']);
    expect(p.refusals).toEqual([]);
    expect(at(p).mechanism).toMatch(/^linux:mount\(rbind,ro\)/);
    expect(rule(p)).not.toHaveProperty('submounts');
  });

  it('bind (or type bind alone) with nothing mounted beneath: the plan says bind and the launch binds that mount alone', () => {
    for (const options of [['bind', 'ro'], ['ro']]) {
      const p = withBind(options, []);
      expect(p.refusals).toEqual([]);
      expect(at(p).mechanism).toMatch(/^linux:mount\(bind,ro\)/);
      expect(rule(p).submounts).toBe(false);
    }
  });

  it('bind with mounts beneath its source: refused (BV_PLAN_NON_RECURSIVE), naming them', () => {
    const p = withBind(['bind', 'ro'], ['/srv/data/cache', '/srv/data/logs']);
    expect(p.refusals).toEqual([expect.objectContaining({ code: 'BV_PLAN_NON_RECURSIVE', clause: `mounts[${containerd().mounts.length}]`, reason: expect.stringContaining('leaves out the mounts beneath it (/srv/data/cache, /srv/data/logs)'), hint: expect.stringContaining('use rbind') })]);
    expect(p.launch).toBeNull();
  });
});

// An attack in December: a set-ID program beneath a writable idmapped rootfs could be rewritten
// through a shared mapping (which keeps its set-ID bit). Each is bound read-only over itself;
// where the scan could not see them all, or a writable bind is one, the clause is refused.
describe('set-ID files beneath a writable idmapped mount', () => {
  const base = (): Record<string, any> => {
    const c = containerd();
    delete c.linux.seccomp;
    c.root = { path: 'rootfs', readonly: false };
    return c;
  };
  it('are bound read-only over themselves, still executable, and the root clause says so', () => {
    const p = planOf(base(), hybridHost(), { root: { ...rootDir('/bundle/rootfs'), setIdScan: { files: [{ path: '/bin/mount', dev: '1', ino: '41' }, { path: '/usr/bin/su', dev: '1', ino: '42' }], complete: true } } });
    const root = p.clauses.find((c) => c.clause === 'root')!;
    expect(root.mechanism).toMatch(/idmap=0:0→\d+:\d+,setid-ro=2\)/);
    expect(root.reason).toMatch(/^set-ID and file-capability programs kept read-only \(\/bin\/mount, \/usr\/bin\/su\)/);
    // By identity: the launch binds that file or fails.
    expect(p.launch!.layout.filter((e) => e.clause === 'root' && e.kind === 'readonly')).toEqual([
      { target: '/bin/mount', kind: 'readonly', options: ['ro', 'nosuid', 'nodev', 'exec'], clause: 'root', dev: '1', ino: '41' },
      { target: '/usr/bin/su', kind: 'readonly', options: ['ro', 'nosuid', 'nodev', 'exec'], clause: 'root', dev: '1', ino: '42' },
    ]);
  });
  it('one under a mount of the config (a tmpfs at /dev) is hidden there, not bound: its path would name the tmpfs\'s file and fail the launch', () => {
    const p = planOf(base(), hybridHost(), { root: { ...rootDir('/bundle/rootfs'), setIdScan: { files: [{ path: '/dev/sneaky', dev: '1', ino: '40' }, { path: '/usr/bin/su', dev: '1', ino: '42' }], complete: true } } });
    expect(p.launch!.layout.filter((e) => e.kind === 'readonly' && e.clause === 'root').map((e) => e.target)).toEqual(['/usr/bin/su']);
    expect(p.launch!.layout.some((e) => e.kind === 'tmpfs' && e.target === '/dev')).toBe(true);
  });

  it('a scan cut short by its bounds refuses the writable root (BV_PLAN_WRITE_OWNER); a read-only root needs none', () => {
    const p = planOf(base(), hybridHost(), { root: { ...rootDir('/bundle/rootfs'), setIdScan: { files: [], complete: false } } });
    expect(p.refusals).toEqual([expect.objectContaining({ clause: 'root', code: 'BV_PLAN_WRITE_OWNER', reason: expect.stringContaining('could not look through all of it for set-ID and file-capability programs') })]);
    const ro = base();
    ro.root.readonly = true;
    expect(planOf(ro, hybridHost(), { root: { ...rootDir('/bundle/rootfs'), setIdScan: { files: [], complete: false } } }).refusals).toEqual([]);
  });
  it('a writable bind of a set-ID file is refused by its path', () => {
    const c = base();
    c.root.readonly = true;
    c.mounts.push({ destination: '/x', type: 'bind', source: '/srv/prog', options: ['rbind', 'rw'] });
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.grants = manifest.filesystem.map((g) => (g.path === '/srv/prog' ? { ...rootFile('/srv/prog'), mode: 0o4755, setIdScan: { files: [{ path: '', dev: '1', ino: '9' }], complete: true } } : paths.grants[g.index]!));
    const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals).toEqual([expect.objectContaining({ clause: `mounts[${c.mounts.length - 1}]`, code: 'BV_PLAN_WRITE_OWNER', reason: expect.stringContaining('is a set-ID or file-capability program, writable in the config') })]);
  });
});

// A review of OCI bundles: a NUL in process.args passed the plan and failed at launch with a
// hint about grants. exec(2)'s strings cannot carry one: refused by its JSON path.
describe('strings with a NUL byte', () => {
  it('process.args[1] and process.cwd holding NUL are refused by their paths (BV_OCI_INVALID)', () => {
    const c = containerd();
    delete c.linux.seccomp;
    c.process.args = ['sh', 'a\u0000b'];
    c.process.cwd = '/x\u0000y';
    const p = planOf(c);
    expect(p.refusals).toEqual(expect.arrayContaining([
      expect.objectContaining({ code: 'BV_OCI_INVALID', clause: 'process.args[1]', reason: expect.stringContaining('holds a NUL byte') }),
      expect.objectContaining({ code: 'BV_OCI_INVALID', clause: 'process.cwd', reason: expect.stringContaining('holds a NUL byte') }),
    ]));
  });
});

// process.user other than 0:0 (docs/oci.md, "process.user"): the one id the user namespace maps
// is the config's, not 0. Expected values from the runtime-spec (config.md, user) and
// capabilities(7) ("Transformation of capabilities during execve()": a uid other than 0 keeps
// only its ambient set across exec).
describe('process.user other than 0:0', () => {
  const asUser = (uid: number, gid: number, edit: (c: Record<string, any>) => void = () => {}): Record<string, any> => {
    const c = containerd();
    delete c.linux.seccomp;
    c.process.user = { uid, gid };
    edit(c);
    return c;
  };
  const clause = (p: Plan, name: string) => p.clauses.find((c) => c.clause === name);

  it('the launch maps that id, the rootfs is idmapped from it, and the process keeps no capability', () => {
    const p = planOf(asUser(1000, 100));
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci!.user).toEqual({ uid: 1000, gid: 100 });
    expect(p.launch!.root!.idmap).toEqual({ uid: 1000, gid: 100 });
    expect(p.launch!.capabilities).toEqual([]);
    const { uid, gid } = hybridHost().mapping;
    // Every other id shows as on disk on that mount (none left unmapped: the kernel would refuse
    // writes to a root-owned 1777 /tmp through it).
    expect(p.launch!.layout.find((e) => e.target === '/')!.options).toContain(`idmap=1000:100→${uid}:${gid}(others as on disk)`);
    expect(clause(p, 'process.user')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:userns(1000:100→unprivileged host id)+setresuid' });
    // containerd's default config lists capabilities in effective: exec clears them for uid 1000.
    expect(clause(p, 'process.capabilities')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:capset(none)', reason: expect.stringContaining('exec clears') });
  });

  it('a read-only rootfs is idmapped too: the image\'s files of that id are the user\'s to read', () => {
    const p = planOf(asUser(1000, 1000, (c) => (c.root.readonly = true)));
    expect(p.refusals).toEqual([]);
    expect(p.launch!.root).toMatchObject({ readonly: true, idmap: { uid: 1000, gid: 1000 } });
    expect(clause(p, 'root')!.mechanism).toMatch(/^linux:mount\(pivot_root,ro,idmap=1000:1000→\d+:\d+\(others as on disk\)\)/);
  });

  it('a rootfs that cannot be idmapped, or bvisor not root: refused before anything runs', () => {
    const overlay = planOf(asUser(1000, 1000), hybridHost(), { root: { ...rootDir('/bundle/rootfs'), idmap: false } });
    expect(overlay.refusals).toEqual([expect.objectContaining({ code: 'BV_OCI_UNSUPPORTED', clause: 'root', reason: expect.stringMatching(/^process\.user 1000:1000: the rootfs .* cannot be idmapped/), hint: expect.stringContaining('--storage-driver vfs') })]);
    const rootless = planOf(asUser(1000, 1000), v2Host());
    expect(rootless.refusals).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'BV_OCI_UNSUPPORTED', clause: 'root', reason: expect.stringContaining('only when it runs as root') })]));
  });

  // containerd fills additionalGids from the image's /etc/group (alpine's root is in 11 groups).
  it('ambient capabilities are refused by their path; groups other than its own are not set (narrower: they do not exist inside)', () => {
    const p = planOf(asUser(1000, 1000, (c) => {
      c.process.user.additionalGids = [1000, 27];
      c.process.capabilities.ambient = ['CAP_NET_BIND_SERVICE'];
    }));
    expect(p.refusals.map((r) => r.clause).sort()).toEqual(['process.capabilities.ambient']);
    expect(clause(p, 'process.user.additionalGids')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:setresgid(1000)+setgroups(none)', reason: expect.stringContaining('27 do not exist there and are not set') });
    const q = planOf(asUser(1000, 1000, (c) => (c.process.user.additionalGids = [1000, 27])));
    expect(q.refusals).toEqual([]);
    expect(q.launch!.oci).not.toHaveProperty('groups');
    // A gid that is not one (null) is refused by its path, never dropped with the rest in silence.
    expect(planOf(asUser(1000, 1000, (c) => (c.process.user.additionalGids = [1000, null]))).refusals.map((r) => [r.clause, r.code])).toEqual([['process.user.additionalGids[1]', 'BV_OCI_INVALID']]);
  });

  // An attack on this change (helper-133): { uid: 1000 } alone ran the process as the container's
  // root, with the config's capabilities, and no process.user verdict at all.
  it('a uid or gid missing (or null) is refused by its path: it never falls back to root', () => {
    for (const [user, missing] of [[{ uid: 1000 }, ['process.user.gid']], [{ gid: 1000 }, ['process.user.uid']], [{ uid: null, gid: 1000 }, ['process.user.uid']], [{}, ['process.user.gid', 'process.user.uid']]] as const) {
      const c = containerd();
      delete c.linux.seccomp;
      c.process.user = user;
      const p = planOf(c);
      expect(p.admitted, JSON.stringify(user)).toBe(false);
      expect(p.refusals.filter((r) => r.clause.startsWith('process.user')).map((r) => [r.clause, r.code]).sort()).toEqual(missing.map((m) => [m, 'BV_OCI_INVALID']));
    }
  });

  it('its own group among additionalGids: accepted, with a verdict saying no supplementary group is set', () => {
    const p = planOf(asUser(1000, 1000, (c) => (c.process.user.additionalGids = [1000])));
    expect(p.refusals).toEqual([]);
    expect(clause(p, 'process.user.additionalGids')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:setresgid(1000)', reason: expect.stringContaining('adds no supplementary group') });
  });

  it('uid 0 with another gid: the container\'s root keeps its capabilities (but CAP_SETFCAP, as on any idmapped root), in group 1000', () => {
    const p = planOf(asUser(0, 1000, (c) => (c.root.readonly = true)));
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci!.user).toEqual({ uid: 0, gid: 1000 });
    expect(p.launch!.root!.idmap).toEqual({ uid: 0, gid: 1000 });
    const caps = containerd().process.capabilities.effective as string[];
    expect(p.launch!.capabilities.length).toBe(caps.length - 1);
    expect(clause(p, 'process.capabilities')?.mechanism ?? '').not.toBe('linux:capset(none)');
    expect(clause(p, 'process.user')!.reason).not.toContain('no root to become');
  });

  it('an id of bvisor\'s range (per-run ids): refused, as what the user makes would be stored as another launch\'s id', () => {
    const h = hybridHost();
    h.mapping = { uid: 100_001, gid: 100_001, source: 'an id of the bvisor range', range: { uid: 100_000, gid: 100_000, count: 64 } };
    const p = planOf(asUser(100_007, 1000), h);
    expect(p.refusals).toEqual([expect.objectContaining({ code: 'BV_OCI_UNSUPPORTED', clause: 'root', reason: expect.stringContaining('an id of the bvisor range (100000–100063)') })]);
    expect(planOf(asUser(1000, 1000), h).refusals).toEqual([]);
  });

  it('a writable rootfs keeps its set-ID programs read-only for the user too', () => {
    const p = planOf(asUser(1000, 1000), hybridHost(), { root: { ...rootDir('/bundle/rootfs'), setIdScan: { files: [{ path: '/usr/bin/su', dev: '1', ino: '70' }], complete: true } } });
    expect(p.refusals).toEqual([]);
    expect(clause(p, 'root')!.mechanism).toMatch(/idmap=1000:1000→\d+:\d+\(others as on disk\),setid-ro=1\)/);
    expect(p.launch!.layout.some((e) => e.target === '/usr/bin/su' && e.kind === 'readonly')).toBe(true);
  });

  it('a read-only bind of the engine\'s storage (a volume) is idmapped from the user too; without a user it is not', () => {
    const withVolume = (uid: number) => asUser(uid, uid, (c) => c.mounts.push({ destination: '/data', type: 'bind', source: '/var/lib/containers/storage/volumes/v/_data', options: ['rbind', 'ro'] }));
    const rule = (p: Plan) => p.launch!.filesystem.find((r) => r.target === '/data')!;
    const p = planOf(withVolume(1000));
    expect(p.refusals).toEqual([]);
    expect(rule(p)).toMatchObject({ access: 'read-exec', idmap: { uid: 1000, gid: 1000 } });
    expect(p.clauses.find((c) => c.requested.includes('/data'))!.mechanism).toMatch(/mount\(rbind,ro,idmap=1000:1000→\d+:\d+\(others as on disk\)\)/);
    expect(rule(planOf(withVolume(0))).idmap).toBeNull();
  });

  // A second attack (helper-135): a world-writable volume was left unmapped, so the user's own
  // 0600 files there were not its own, and what it made landed as bvisor's host id.
  it('a writable volume is idmapped from the user, world-writable too', () => {
    const c = asUser(1000, 1000, (x) => x.mounts.push({ destination: '/w', type: 'bind', source: '/var/lib/containers/storage/volumes/w/_data', options: ['rbind', 'rw'] }));
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.grants = manifest.filesystem.map((g) => (g.path.endsWith('/w/_data') ? { ...rootDir(g.path), mode: 0o1777 } : paths.grants[g.index]!));
    const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals).toEqual([]);
    expect(p.launch!.filesystem.find((r) => r.target === '/w')!.idmap).toEqual({ uid: 1000, gid: 1000 });
  });

  it('additionalGids that is not an array is refused by its path', () => {
    const p = planOf(asUser(1000, 1000, (c) => (c.process.user.additionalGids = 1000)));
    expect(p.refusals).toEqual([expect.objectContaining({ code: 'BV_OCI_INVALID', clause: 'process.user.additionalGids' })]);
  });

  it('uid 0 and gid 0: the launch names no user, so plans of containers made before are unchanged', () => {
    const p = planOf(asUser(0, 0));
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci).not.toHaveProperty('user');
    expect(clause(p, 'process.user')).toMatchObject({ mechanism: 'linux:userns(0→unprivileged host id)' });
    // A read-only rootfs of the container's root is not idmapped (its files are read by mode).
    expect(planOf(asUser(0, 0, (c) => (c.root.readonly = true))).launch!.root!.idmap).toBeNull();
  });
});

// A block of ids (docs/oci.md, linux.uidMappings): a config whose maps ask for more than one id
// (podman --userns=auto, Kubernetes hostUsers: false), where bvisor has a range of its own. The
// expected maps are user_namespaces(7)'s "inside outside count" lines, from the config.
describe('a block of ids: linux.uidMappings of one line from 0, with a bvisor range', () => {
  const RANGE = { uid: 100_000, gid: 100_000, count: 1024 };
  const ranged = (range = RANGE): HostFacts => {
    const h = hybridHost();
    h.mapping = { uid: range.uid + 1, gid: range.gid + 1, source: 'ids of the bvisor range', range };
    return h;
  };
  const asked = (hostID: number, size: number, edit: (c: Record<string, any>) => void = () => {}): Record<string, any> => {
    const c = containerd();
    delete c.linux.seccomp;
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID, size }];
    c.linux.gidMappings = [{ containerID: 0, hostID, size }];
    edit(c);
    return c;
  };
  const clause = (p: Plan, name: string) => p.clauses.find((c) => c.clause === name);

  it('the launch maps the whole block from an id of the range; the rootfs, read-only too, shows the config\'s ids on disk as the block', () => {
    for (const readonly of [false, true]) {
      const p = planOf(asked(300_000, 200, (c) => (c.root.readonly = readonly)), ranged());
      expect(p.refusals).toEqual([]);
      expect(p.launch!.oci!.ids).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
      expect(p.launch!.oci).not.toHaveProperty('user');
      expect(p.launch!.root!.idmap).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
      expect(p.launch!.layout.find((e) => e.target === '/')!.options).toContain('idmap=300000:300000×200→100001:100001×200(others as on disk)');
      expect(clause(p, 'linux.uidMappings')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:userns(0→100001×200)', reason: expect.stringContaining('100001–100200') });
      // The container's root keeps the config's capabilities (but CAP_SETFCAP, as on any idmapped root).
      const caps = containerd().process.capabilities.effective as string[];
      expect(p.launch!.capabilities.length).toBe(caps.length - 1);
    }
  });

  it('a process.user of the block is what the process becomes, with no capability; one outside the block is refused', () => {
    const p = planOf(asked(300_000, 200, (c) => (c.process.user = { uid: 101, gid: 101 })), ranged());
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci!.user).toEqual({ uid: 101, gid: 101 });
    expect(p.launch!.root!.idmap).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
    expect(p.launch!.capabilities).toEqual([]);
    expect(clause(p, 'process.user')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:userns(0→100001×200)+setresuid(101:101)' });
    const out = planOf(asked(300_000, 200, (c) => (c.process.user = { uid: 200, gid: 0 })), ranged());
    expect(out.refusals).toEqual([expect.objectContaining({ code: 'BV_OCI_UNSUPPORTED', clause: 'process.user', reason: expect.stringContaining('not one of the container\'s 200 ids (0–199') })]);
  });

  it('a block the range cannot hold, config ids on disk that meet the range, a rootfs that cannot be idmapped, no range, rootless: the one id, as before blocks, and the maps\' verdict says why', () => {
    const oneId = asked(300_000, 200);
    const before = (host: HostFacts, extra: Partial<PlanPaths> = {}): Plan => {
      const c = asked(300_000, 200);
      delete c.linux.uidMappings;
      delete c.linux.gidMappings;
      return planOf(c, host, extra);
    };
    const cases: Array<[string, Record<string, any>, HostFacts, Partial<PlanPaths>, string]> = [
      ['too big', oneId, ranged({ uid: 100_000, gid: 100_000, count: 64 }), {}, 'asks for 200 ids, and one container may hold at most half of the 63 ids bvisor\'s range (100000–100063) gives out (31)'],
      // One container never holds more than half the range (the rest would be refused while it lives).
      ['half', oneId, ranged({ uid: 100_000, gid: 100_000, count: 400 }), {}, 'at most half of the 399 ids'],
      // The config's ids 99900..100099 on disk: the last hundred are ids of the range.
      ['meets', asked(99_900, 200), ranged(), {}, 'meet bvisor\'s range (100000–101023)'],
      ['overlay', oneId, ranged(), { root: { ...rootDir('/bundle/rootfs'), idmap: false } }, 'cannot be idmapped (an overlay snapshot cannot)'],
      ['no range', oneId, hybridHost(), {}, 'a block of 200 ids (as the config asks) needs bvisor as root with a range'],
      ['rootless', oneId, v2Host(), {}, 'a block of 200 ids (as the config asks) needs bvisor as root with a range'],
    ];
    for (const [name, config, host, extra, why] of cases) {
      const p = planOf(config, host, extra);
      expect(p.launch?.oci ?? {}, name).not.toHaveProperty('ids');
      expect(clause(p, 'linux.uidMappings'), name).toMatchObject({ verdict: 'enforced', mechanism: 'linux:userns(0→bvisor identity)', reason: expect.stringContaining(why) });
      // The rest of the plan is the one a config without maps gets.
      const b = before(host, extra);
      expect(p.refusals, name).toEqual(b.refusals);
      if (b.launch) {
        expect(p.launch!.root!.idmap, name).toEqual(b.launch.root!.idmap);
        expect(p.launch!.layout, name).toEqual(b.launch.layout);
      }
    }
    expect(planOf(asked(98_800, 200), ranged()).launch!.oci!.ids).toEqual({ uid: 98_800, gid: 98_800, count: 200 });
    expect(planOf(asked(300_000, 200), ranged({ uid: 100_000, gid: 100_000, count: 401 })).launch!.oci!.ids).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
  });

  it('maps that are not one block (two lines, not from 0, sizes that differ, one id) keep the one id; a line that is not one is invalid', () => {
    const shapes: Array<(c: Record<string, any>) => void> = [
      (c) => c.linux.uidMappings.push({ containerID: 200, hostID: 500_000, size: 10 }),
      (c) => (c.linux.uidMappings[0].containerID = 1),
      (c) => (c.linux.gidMappings[0].size = 100),
      (c) => (c.linux.uidMappings[0].size = c.linux.gidMappings[0].size = 1),
    ];
    for (const edit of shapes) {
      const p = planOf(asked(300_000, 200, edit), ranged());
      expect(p.launch!.oci).not.toHaveProperty('ids');
      expect(clause(p, 'linux.uidMappings')!.mechanism).toBe('linux:userns(0→bvisor identity)');
    }
    for (const [bad, at] of [[{ containerID: 0, hostID: 300_000, size: 0 }, 'linux.uidMappings[0].size'], [{ containerID: 0, hostID: 4_294_967_290, size: 10 }, 'linux.uidMappings[0]'], [{ containerID: 0, hostID: 1, size: 2, extra: 1 }, 'linux.uidMappings[0].extra']] as const) {
      const p = planOf(asked(300_000, 200, (c) => (c.linux.uidMappings = [bad])), ranged());
      expect(p.refusals.map((r) => r.clause), JSON.stringify(bad)).toEqual([at]);
    }
  });

  it('the engine\'s volumes, read-only and writable, are idmapped from the block; a bind elsewhere keeps its own owner\'s idmap', () => {
    const c = asked(300_000, 200, (x) => {
      x.mounts.push({ destination: '/ro', type: 'bind', source: '/var/lib/containers/storage/volumes/r/_data', options: ['rbind', 'ro'] });
      x.mounts.push({ destination: '/rw', type: 'bind', source: '/var/lib/containers/storage/volumes/w/_data', options: ['rbind', 'rw'] });
      x.mounts.push({ destination: '/home', type: 'bind', source: '/home/alice/work', options: ['rbind', 'rw'] });
    });
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.grants = manifest.filesystem.map((g) => (g.path === '/home/alice/work' ? { ...rootDir(g.path), uid: 1000, gid: 1000, engineStorage: false } : paths.grants[g.index]!));
    const p = plan({ manifest, host: ranged(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals).toEqual([]);
    const rule = (t: string) => p.launch!.filesystem.find((r) => r.target === t)!;
    expect(rule('/ro').idmap).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
    expect(rule('/rw').idmap).toEqual({ uid: 300_000, gid: 300_000, count: 200 });
    expect(rule('/home').idmap).toEqual({ uid: 1000, gid: 1000 });
    expect(p.launch!.layout.find((e) => e.target === '/home')!.options).toContain('idmap=1000:1000→100001:100001(others as on disk)');
  });

  // An attack on this change (helper-136): a 1777 host directory bound plainly showed the block's
  // ids raw, so the container owned every file earlier launches had left there under them.
  it('a bind outside the engine\'s storage is idmapped so that only the block\'s root is raw there; where one cannot be, no block', () => {
    const c = asked(300_000, 200, (x) => {
      x.mounts.push({ destination: '/share', type: 'bind', source: '/srv/share', options: ['rbind', 'rw'] });
      x.mounts.push({ destination: '/usr/share/doc', type: 'bind', source: '/usr/share/doc', options: ['rbind', 'ro'] });
    });
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.grants = manifest.filesystem.map((g) => (g.path === '/srv/share' ? { ...rootDir(g.path), mode: 0o1777, engineStorage: false } : g.path === '/usr/share/doc' ? { ...rootDir(g.path), engineStorage: false } : paths.grants[g.index]!));
    const p = plan({ manifest, host: ranged(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals).toEqual([]);
    for (const t of ['/share', '/usr/share/doc']) {
      expect(p.launch!.filesystem.find((r) => r.target === t)!.idmap, t).toEqual({ uid: 100_001, gid: 100_001 });
      expect(p.launch!.layout.find((e) => e.target === t)!.options, t).toContain('idmap=100001:100001→100001:100001(others as on disk)');
    }
    // Without a block, the same binds are plain, as before.
    const one = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    for (const t of ['/share', '/usr/share/doc']) expect(one.launch!.filesystem.find((r) => r.target === t)!.idmap, t).toBeNull();
    // A bind that cannot be idmapped (tmpfs before Linux 6.3): the container keeps its one id.
    const tmpfs = { ...paths, grants: paths.grants.map((f) => (f.path === '/srv/share' ? { ...f, idmap: false } : f)) };
    const narrowed = plan({ manifest, host: ranged(), paths: tmpfs, cgroupParent: null }, sha256Hex);
    expect(narrowed.refusals).toEqual([]);
    expect(narrowed.launch!.oci).not.toHaveProperty('ids');
    expect(clause(narrowed, 'linux.uidMappings')!.reason).toContain('(/srv/share) cannot be idmapped (tmpfs before Linux 6.3');
  });

  it('additionalGids of the block are set (setgroups), in the kernel\'s order; one outside the block is refused by its path', () => {
    const p = planOf(asked(300_000, 200, (c) => (c.process.user = { uid: 101, gid: 101, additionalGids: [150, 101, 10, 150] })), ranged());
    expect(p.refusals).toEqual([]);
    expect(p.launch!.oci!.groups).toEqual([10, 101, 150]);
    expect(clause(p, 'process.user.additionalGids')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:setgroups(10,101,150)' });
    const out = planOf(asked(300_000, 200, (c) => (c.process.user = { uid: 101, gid: 101, additionalGids: [10, 200] })), ranged());
    expect(out.refusals).toEqual([expect.objectContaining({ code: 'BV_OCI_UNSUPPORTED', clause: 'process.user.additionalGids[1]' })]);
  });
});
