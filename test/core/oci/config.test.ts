// config.json → manifest → plan, against the configs podman 4.3 and containerd 1.6 really send
// (test/fixtures/oci, captured through a logging runtime) and hand-made bad ones. Expected
// paths and values come from the runtime-spec (config.md, config-linux.md) and the fixtures.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translateOciConfig, DEFAULT_OCI_PIDS } from '../../../src/core/oci/config.js';
import { loadNarrowing, narrowOci } from '../../../src/core/oci/narrow.js';
import { plan } from '../../../src/core/planner.js';
import type { NormalManifest } from '../../../src/core/manifest.js';
import type { PathFact, PlanPaths } from '../../../src/core/features.js';
import { sha256Hex } from '../../../src/host/hash.js';
import { validatePlan } from '../../../src/contract/generated/validators.js';
import { hybridHost, v2Host } from '../../helpers/hosts.js';

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'oci', name), 'utf8'));
const podman = (): Record<string, any> => fixture('podman-config.json');
const containerd = (): Record<string, any> => fixture('containerd-config.json');

/** The engine's own files belong to root, on a filesystem with idmapped mounts. */
const rootDir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 0, gid: 0, mode: 0o755, idmap: true, engineStorage: true });
const rootFile = (path: string): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 7), uid: 0, gid: 0, mode: 0o644, idmap: true, engineStorage: true });

function pathsFor(m: NormalManifest): PlanPaths {
  return {
    grants: m.filesystem.map((g) => rootFile(g.path.startsWith('/') ? g.path : `/bundle/${g.path.slice(2)}`)),
    exe: { ...rootFile('/bundle/rootfs/bin/busybox'), mode: 0o755 },
    module: null,
    root: rootDir('/bundle/rootfs'),
  };
}

function planOf(config: unknown, host = hybridHost()) {
  const { manifest } = translateOciConfig(config);
  const p = plan({ manifest, host, paths: pathsFor(manifest), cgroupParent: null }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}

const refusedPaths = (config: unknown): string[] => translateOciConfig(config).manifest.oci.refusals.map((r) => r.clause);

describe('process.cwd', () => {
  it('a trailing slash is taken off, as runc takes it (Kubernetes passes workingDir: /app/ on); two are still refused', () => {
    const c = containerd();
    c.process.cwd = '/app/';
    expect(translateOciConfig(c).manifest.workload).toMatchObject({ cwd: '/app' });
    expect(refusedPaths(c)).not.toContain('process.cwd');
    c.process.cwd = '/app//';
    expect(refusedPaths(c)).toContain('process.cwd');
    c.process.cwd = '/';
    expect(translateOciConfig(c).manifest.workload).toMatchObject({ cwd: '/' });
  });

  it('a name longer than NAME_MAX (255 bytes) is refused', () => {
    const c = containerd();
    c.process.cwd = `/${'x'.repeat(256)}`;
    expect(translateOciConfig(c).manifest.oci.refusals).toEqual(expect.arrayContaining([expect.objectContaining({ clause: 'process.cwd', code: 'BV_OCI_INVALID' })]));
  });
});

describe('OCI config translation', () => {
  it('translates podman\'s default config without a refusal', () => {
    const { manifest: m } = translateOciConfig(podman());
    expect(m.oci.refusals).toEqual([]);
    expect(m.workload).toEqual({ kind: 'process', exe: '/bin/true', args: [], cwd: '/' });
    expect(m.env.map((e) => e.name)).toEqual(['PATH', 'TERM', 'container', 'HOME', 'HOSTNAME']);
    // One capability set: podman's bounding = effective = permitted (14 names).
    expect(m.capabilities).toHaveLength(14);
    expect(m.capabilities).toContain('CAP_NET_BIND_SERVICE');
    // pids.limit 2048 → processes; RLIMIT_NOFILE/NPROC → rlimits with their soft and hard.
    expect(m.limits.processes?.value).toBe(2048);
    expect(m.oci.rlimits).toEqual([
      { path: 'process.rlimits[0]', resource: 'nofile', soft: 20000, hard: 20000 },
      { path: 'process.rlimits[1]', resource: 'nproc', soft: 32768, hard: 32768 },
    ]);
    // A network namespace without a path: a private one (with lo up).
    expect(m.network.value.mode).toBe('loopback');
    expect(m.oci.umask).toBe(0o22);
    expect(m.oci.hostname).toBe('<short-id>');
    expect(m.oci.cgroupsPath).toEqual({ parent: '<cgroup-parent>', leaf: 'libpod-<id>' });
    // /etc/hosts, /run/.containerenv, /etc/hostname are binds (writable: podman sends no ro);
    // /dev/shm's bind becomes bvisor's private /dev/shm.
    expect(m.filesystem.map((g) => [g.target, g.access])).toEqual([
      ['/etc/hosts', 'read-write-exec'],
      ['/run/.containerenv', 'read-write-exec'],
      ['/etc/hostname', 'read-write-exec'],
    ]);
    expect(m.oci.fsMounts.map((x) => [x.destination, x.type])).toEqual([
      ['/sys', 'sysfs'],
      ['/dev/pts', 'devpts'],
      ['/dev/mqueue', 'mqueue'],
      ['/sys/fs/cgroup', 'cgroup2'],
    ]);
    expect(m.oci.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO' });
  });

  it('translates containerd\'s default config, bounding its descendants by bvisor\'s default', () => {
    const { manifest: m } = translateOciConfig(containerd());
    expect(m.oci.refusals).toEqual([]);
    expect(m.root).toMatchObject({ path: 'rootfs', readonly: false });
    expect(m.limits.processes?.value).toBe(DEFAULT_OCI_PIDS);
    expect(m.oci.verdicts.find((v) => v.clause === 'linux.resources.pids')?.reason).toMatch(/no pids limit/);
    // A tmpfs at /run is made fresh; cpu.shares 1024 is the kernel's default weight.
    expect(m.oci.fsMounts.find((x) => x.destination === '/run')?.type).toBe('tmpfs');
    expect(m.oci.seccomp).toBeNull();
  });

  it('plans both engines\' configs on a hybrid and a pure v2 host', () => {
    for (const host of [hybridHost(), v2Host()]) {
      for (const c of [podman(), containerd()]) {
        delete c.linux.seccomp; // compiled by its own tests (test/core/seccomp/oci.test.ts)
        const p = planOf(c, host);
        expect(p.refusals, JSON.stringify(p.refusals)).toEqual([]);
        const l = p.launch!;
        expect(l.oci).toMatchObject({ engine: true });
        // The layout carries the config's mounts, masks and read-only paths.
        expect(l.layout.filter((e) => e.kind === 'sysfs').map((e) => [e.target, e.options])).toEqual([['/sys', ['nosuid', 'noexec', 'nodev', 'ro']]]);
        expect(l.layout.some((e) => e.kind === 'mask' && e.target === '/sys/firmware')).toBe(true);
        expect(l.layout.some((e) => e.kind === 'readonly' && e.target === '/proc/sys')).toBe(true);
        expect(l.layout.some((e) => e.kind === 'devpts' && e.target === '/dev/pts')).toBe(true);
        expect(l.layout.some((e) => e.kind === 'symlink' && e.target === '/dev/ptmx' && e.source === 'pts/ptmx')).toBe(true);
        // rlimits as the config gives them (soft and hard), with the JSON path as clause.
        expect(l.rlimits).toContainEqual({ clause: 'process.rlimits[0]', resource: 'nofile', soft: c.process.rlimits[0].soft, hard: c.process.rlimits[0].hard });
        // Rootful, the rootfs is root's: bridged by an idmapped mount (an engine's container
        // layer). Rootless, the workload is the caller and needs none.
        expect(l.root?.idmap).toEqual(host.identity.euid === 0 ? { uid: 0, gid: 0 } : null);
      }
    }
  });

  it('resource values of the wrong type are refused by their paths, never dropped (runc rejects them too)', () => {
    const c = containerd();
    c.linux.resources = { memory: { limit: '67108864', useHierarchy: 'banana' }, pids: { limit: '10' }, cpu: { quota: '50000', period: 100000 } };
    const { manifest } = translateOciConfig(c);
    expect(manifest.oci.refusals.map((r) => [r.clause, r.code])).toEqual(expect.arrayContaining([
      ['linux.resources.memory.limit', 'BV_OCI_INVALID'],
      ['linux.resources.memory.useHierarchy', 'BV_OCI_INVALID'],
      ['linux.resources.pids.limit', 'BV_OCI_INVALID'],
      ['linux.resources.cpu.quota', 'BV_OCI_INVALID'],
    ]));
    // Numbers are read as before.
    c.linux.resources = { memory: { limit: 67108864, swap: 67108864 }, pids: { limit: 10 }, cpu: { quota: 50000, period: 100000 } };
    const ok = translateOciConfig(c).manifest;
    expect(ok.oci.refusals).toEqual([]);
    expect(ok.limits).toMatchObject({ memory: { value: 67108864 }, processes: { value: 10 }, cpus: { value: 0.5 } });
  });

  it('a bind or tmpfs asking for suid or dev is refused (bvisor makes them nosuid and nodev), not narrowed in silence; /dev\'s tmpfs may say dev', () => {
    const c = containerd();
    const base = c.mounts.length;
    c.mounts.push({ destination: '/a', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'suid'] });
    c.mounts.push({ destination: '/b', type: 'tmpfs', source: 'tmpfs', options: ['dev', 'mode=755'] });
    c.mounts.push({ destination: '/c', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] });
    const devAt = c.mounts.findIndex((m: { destination: string }) => m.destination === '/dev');
    expect(devAt).toBeGreaterThanOrEqual(0);
    c.mounts[devAt].options = [...c.mounts[devAt].options, 'dev'];
    const refusals = translateOciConfig(c).manifest.oci.refusals;
    expect(refusals.map((r) => r.clause)).toEqual([`mounts[${base}].options`, `mounts[${base + 1}].options`]);
    expect(refusals[0]!.reason).toMatch(/^suid: .*nosuid/);
    expect(refusals[1]!.reason).toMatch(/^dev: .*nodev/);
  });

  it('the kernel filesystems, /dev and /dev/shm asking for what bvisor mounts them without (suid, dev, exec) are refused; devpts may say dev', () => {
    // bvisor's layout: proc, mqueue, sysfs and cgroup nosuid, nodev and noexec; devpts nosuid and
    // noexec; the /dev tmpfs nosuid and noexec; /dev/shm all three.
    const c = containerd();
    const at = (dest: string): number => c.mounts.findIndex((m: { destination: string }) => m.destination === dest);
    const cases: Array<[string, string]> = [['/proc', 'exec'], ['/dev/mqueue', 'dev'], ['/sys', 'suid'], ['/dev', 'exec'], ['/dev/shm', 'exec'], ['/dev/pts', 'exec']];
    for (const [dest, opt] of cases) {
      expect(at(dest), dest).toBeGreaterThanOrEqual(0);
      c.mounts[at(dest)].options = [...(c.mounts[at(dest)].options ?? []), opt];
    }
    c.mounts[at('/dev/pts')].options = [...c.mounts[at('/dev/pts')].options.filter((o: string) => o !== 'exec'), 'dev'];
    const refused = translateOciConfig(c).manifest.oci.refusals;
    expect(refused.map((r) => r.clause).sort()).toEqual(cases.filter(([d]) => d !== '/dev/pts').map(([d]) => `mounts[${at(d)}].options`).sort());
    for (const [dest, opt] of cases.filter(([d]) => d !== '/dev/pts')) expect(refused.find((r) => r.clause === `mounts[${at(dest)}].options`)!.reason, dest).toMatch(new RegExp(`^${opt}: bvisor mounts ${dest} no${opt}`));
  });

  it('a tmpfs with shared or slave propagation is refused, as a bind is', () => {
    const c = containerd();
    c.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'rshared'] });
    const i = c.mounts.length - 1;
    expect(translateOciConfig(c).manifest.oci.refusals).toEqual([expect.objectContaining({ clause: `mounts[${i}].options`, reason: 'shared or slave propagation would let mounts cross the boundary' })]);
  });

  it('bridges root-owned files only in the engine\'s storage: a writable bind of /etc/shadow is refused', () => {
    const c = containerd();
    c.mounts.push({ destination: '/mnt/shadow', type: 'bind', source: '/etc/shadow', options: ['bind', 'rw'] });
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    // The host's own file: root's, idmappable, but not in the bundle nor an engine's storage.
    paths.grants[paths.grants.length - 1] = { ...rootFile('/etc/shadow'), mode: 0o640, gid: 42, engineStorage: false };
    const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['mounts[7]', 'BV_PLAN_WRITE_OWNER']]);
    expect(p.refusals[0]!.hint).toContain('BVISOR_OCI_STORAGE');
    // The same rootfs outside any storage: not bridged either.
    const out = pathsFor(translateOciConfig(containerd()).manifest);
    out.root = { ...rootDir('/usr'), engineStorage: false };
    const q = plan({ manifest: translateOciConfig(containerd()).manifest, host: hybridHost(), paths: out, cgroupParent: null }, sha256Hex);
    expect(q.refusals.map((r) => [r.clause, r.code])).toEqual([['root', 'BV_PLAN_ROOT_OUTSIDE']]);
  });

  it('a rootfs outside the bundle and the engines\' storage is refused even read-only: bvisor would make its mount points there as root (root.path "/" and a bind at /etc/nologin made that file)', () => {
    const c = containerd();
    c.root = { path: '/', readonly: true };
    const { manifest } = translateOciConfig(c);
    const paths = pathsFor(manifest);
    paths.root = { ...rootDir('/'), engineStorage: false };
    const p = plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['root', 'BV_PLAN_ROOT_OUTSIDE']]);
    expect(p.refusals[0]!.hint).toContain('BVISOR_OCI_STORAGE');
    // In an engine's storage (or the bundle, which counts as such): admitted as before.
    paths.root = { ...rootDir('/var/lib/containerd/x/rootfs'), engineStorage: true };
    expect(plan({ manifest, host: hybridHost(), paths, cgroupParent: null }, sha256Hex).refusals).toEqual([]);
  });

  it('takes the cgroup parent and leaf from linux.cgroupsPath, over the flag', () => {
    const c = containerd();
    c.linux.cgroupsPath = '/machine/ctr-7';
    const p = planOf(c, v2Host());
    expect(p.launch!.cgroup.parent).toBe('/machine');
    expect(p.launch!.oci!.cgroupLeaf).toBe('ctr-7');
  });

  it('refuses an rlimit above this host\'s hard limit, by its path', () => {
    const c = containerd();
    const host = hybridHost();
    host.capabilities = { effective: '000001fffeffffff', names: [] }; // without CAP_SYS_RESOURCE (24)
    const hard = host.rlimits.nofile!.hard as number;
    c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: hard + 1, hard: hard + 1 }];
    const p = planOf(c, host);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['process.rlimits[0]', 'BV_PLAN_RLIMIT_ABOVE_HARD']]);
  });

  it('refuses, by JSON path and with a hint, every field it cannot honour', () => {
    const c = podman();
    c.process.user.uid = 1000;
    c.process.user.additionalGids = [0, -10];
    c.process.capabilities.ambient = ['CAP_SYS_ADMIN'];
    c.process.apparmorProfile = 'containers-default';
    c.linux.namespaces[3] = { type: 'uts', path: '/proc/1/ns/uts' };
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    c.linux.resources.memory = { limit: 1 << 28, swap: 1 << 29 };
    c.linux.resources.blockIO = { weight: 10 };
    c.linux.seccompx = {};
    c.mounts.push({ destination: '/mnt', type: 'nfs', source: 'srv:/x', options: [] });
    c.mounts.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'rshared'] });
    c.hooks = { createRuntime: [{ path: '/usr/bin/true' }], startContainer: [{ path: '/usr/bin/true' }] };
    c.ociVersion = '2.0.0';
    const { manifest } = translateOciConfig(c);
    const paths = manifest.oci.refusals.map((r) => r.clause);
    expect(paths).toEqual(
      expect.arrayContaining([
        'process.user.additionalGids[1]',
        'process.capabilities.ambient',
        'process.apparmorProfile',
        'linux.namespaces[3].path',
        'linux.sysctl.net.ipv4.ip_forward',
        'linux.resources.memory.swap',
        'linux.resources.blockIO',
        'linux.seccompx',
        'mounts[10].type',
        'mounts[11].options',
        'hooks.startContainer',
        'ociVersion',
      ]),
    );
    for (const r of manifest.oci.refusals) expect(r.hint.length, r.clause).toBeGreaterThan(5);
    // The planner carries them: nothing runs, and plan lists every one.
    delete c.linux.seccomp;
    const p = planOf(c);
    expect(p.admitted).toBe(false);
    expect(p.refusals.map((r) => r.clause)).toEqual(expect.arrayContaining(['linux.namespaces[3].path', 'mounts[11].options']));
    expect(p.refusals.find((r) => r.clause === 'linux.seccompx')?.code).toBe('BV_OCI_UNKNOWN_FIELD');
  });

  it('refuses malformed values as invalid, not as unsupported', () => {
    const c = containerd();
    c.process.args = [];
    c.process.env = ['=x', 'GOOD=1'];
    c.linux.namespaces.push({ type: 'pid' });
    c.mounts[0].destination = 'proc';
    const t = translateOciConfig(c).manifest.oci.refusals;
    const byPath = Object.fromEntries(t.map((r) => [r.clause, r.code]));
    expect(byPath).toMatchObject({ 'process.args': 'BV_OCI_INVALID', 'process.env[0]': 'BV_OCI_INVALID', 'linux.namespaces[5]': 'BV_OCI_INVALID', 'mounts[0].destination': 'BV_OCI_INVALID' });
  });

  it('never lets a config widen: sysfs without a network namespace, propagation, lower oom score', () => {
    const c = containerd();
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
    c.linux.rootfsPropagation = 'rshared';
    c.process.oomScoreAdj = -500;
    expect(refusedPaths(c)).toEqual(expect.arrayContaining(['mounts[5]', 'linux.rootfsPropagation', 'process.oomScoreAdj']));
  });

  it('records what bvisor adds as verdicts: no_new_privs, a user namespace, a cgroup namespace', () => {
    const c = podman(); // podman leaves noNewPrivileges unset and asks for no user namespace
    const v = translateOciConfig(c).manifest.oci.verdicts;
    expect(v.find((x) => x.clause === 'process.noNewPrivileges')?.reason).toMatch(/always sets no_new_privs/);
    expect(v.find((x) => x.clause === 'linux.namespaces(user)')?.reason).toMatch(/always makes a new user namespace/);
    expect(v.find((x) => x.clause === 'linux.namespaces(cgroup)')?.mechanism).toBe('linux:cgroupns');
  });
});

describe('a boundary narrowing an OCI config (boundary.yaml beside it, or the annotation)', () => {
  const narrowed = (yaml: string, c: Record<string, any> = containerd()) => narrowOci(translateOciConfig(c).manifest, loadNarrowing(yaml, 'boundary.yaml'), 'boundary.yaml');

  it('takes the smaller limit, adds the ones the config lacks, and narrows spawn and syscalls', () => {
    const c = podman();
    const m = narrowed('limits: { processes: 64, wall: 30s, memory: 1Gi }\nspawn: threads\nsyscalls: { deny: kill }\n', c);
    expect(m.limits.processes?.value).toBe(64); // config: 2048
    expect(m.limits.wall?.value).toBe(30_000); // config: none
    expect(m.limits.memory?.value).toBe(2 ** 30);
    expect(m.spawn.value).toBe('threads');
    expect(m.syscalls.value).toBe('kill');
    expect(m.oci.refusals).toEqual([]);
    // A limit larger than the config's keeps the config's.
    expect(narrowed('limits: { processes: 100000 }\n').limits.processes?.value).toBe(DEFAULT_OCI_PIDS);
  });

  it('refuses what would widen the config, and what the config decides', () => {
    // containerd's config has a network namespace: host networking would widen it.
    expect(narrowed('network: host\n').oci.refusals.map((r) => r.clause)).toEqual(['boundary.yaml:network']);
    expect(narrowed('network: { connect: [443] }\n').oci.refusals[0]?.reason).toMatch(/private network namespace/);
    expect(narrowed('network: deny\n').network.value.mode).toBe('deny');
    expect(() => loadNarrowing('workload:\n  process: { exe: /bin/sh }\n', 'boundary.yaml')).toThrow(/workload comes from config.json/);
    expect(() => loadNarrowing('filesystem: [ { path: /x, acess: read } ]\n', 'boundary.yaml')).toThrow(/problem/);
  });

  it('filesystem grants become the container\'s only reachable paths; a bind keeps only what a grant covering it gives', () => {
    const c = containerd();
    c.mounts.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw'] }, { destination: '/etc/secret', type: 'bind', source: '/srv/secret', options: ['rbind', 'ro'] });
    const m = narrowed('filesystem:\n  - { path: /bin, access: read-exec }\n  - { path: /data, access: read }\n', c);
    expect(m.oci.narrowFs?.map((g) => [g.path, g.access])).toEqual([['/bin', 'read-exec'], ['/data', 'read']]);
    const paths: PlanPaths = { grants: m.filesystem.map((g) => ({ ...rootDir(g.path), uid: 1000, gid: 1000 })), exe: { ...rootFile('/bundle/rootfs/bin/busybox'), mode: 0o755 }, module: null, root: rootDir('/bundle/rootfs') };
    const p = plan({ manifest: m, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
    expect(p.refusals, JSON.stringify(p.refusals)).toEqual([]);
    const rule = (target: string) => p.launch!.filesystem.find((r) => r.target === target)!;
    // /data was mounted rw: narrowed to the grant's read rights, no write right left.
    expect(rule('/data').rights).toEqual(expect.arrayContaining(['READ_FILE', 'READ_DIR']));
    expect(rule('/data').rights).not.toContain('WRITE_FILE');
    // /etc/secret lies under no grant: no right at all (no landlock rule: unreachable).
    expect(rule('/etc/secret').rights).toEqual([]);
    // The rootfs's own rules are the grants', not every entry of the rootfs.
    expect(p.launch!.oci!.rootRules?.map((r) => r.target)).toEqual(['/bin', '/data']);
    expect(p.clauses.find((x) => x.clause === 'boundary.yaml:filesystem')?.mechanism).toBe('linux:landlock(container paths)');
  });
});

describe('LSM labels', () => {
  it('are refused unless the bundle marks them best-effort, then recorded as not applied', () => {
    const c = podman();
    c.process.apparmorProfile = 'containers-default-0.50.1';
    c.linux.mountLabel = 'system_u:object_r:container_file_t:s0';
    expect(translateOciConfig(c).manifest.oci.refusals.map((r) => r.clause)).toEqual(['process.apparmorProfile', 'linux.mountLabel']);
    c.annotations['org.bvisor.lsm-labels'] = 'best-effort';
    const m = translateOciConfig(c).manifest;
    expect(m.oci.refusals).toEqual([]);
    expect(m.oci.verdicts.filter((v) => v.verdict === 'best-effort').map((v) => [v.clause, v.mechanism])).toEqual([
      ['process.apparmorProfile', 'none'],
      ['linux.mountLabel', 'none'],
    ]);
  });
});

describe('narrowing, as a hostile annotation might write it', () => {
  it('reads the document\'s own keys: quoted or explicit keys narrow, and config-owned ones are refused', () => {
    const m = narrowOci(translateOciConfig(podman()).manifest, loadNarrowing('"capabilities": []\n', 'ann'), 'ann');
    expect(m.capabilities).toEqual([]);
    expect(narrowOci(translateOciConfig(podman()).manifest, loadNarrowing('? capabilities\n: [CAP_KILL]\n', 'ann'), 'ann').capabilities).toEqual(['CAP_KILL']);
    expect(() => loadNarrowing('"env": { X: "1" }\n', 'ann')).toThrow(/env comes from config.json/);
  });

  it('merges openFiles with the config\'s RLIMIT_NOFILE into one rlimit, the smaller', () => {
    const m = narrowOci(translateOciConfig(containerd()).manifest, loadNarrowing('limits: { openFiles: 64 }\n', 'ann'), 'ann');
    expect(m.oci.rlimits).toEqual([{ path: 'process.rlimits[0]', resource: 'nofile', soft: 64, hard: 64 }]);
    expect(m.limits.openFiles).toBeUndefined();
  });

  it('sets one RLIMIT_CPU when limits.cpu and the config both bound cpu: the smaller soft and the smaller hard', () => {
    const c = containerd();
    c.process.rlimits.push({ type: 'RLIMIT_CPU', soft: 3, hard: 100 });
    const m = narrowOci(translateOciConfig(c).manifest, loadNarrowing('spawn: threads\nlimits: { cpu: 5s }\n', 'ann'), 'ann');
    const p = plan({ manifest: m, host: hybridHost(), paths: pathsFor(m), cgroupParent: null }, sha256Hex);
    expect(p.admitted, JSON.stringify(p.refusals)).toBe(true);
    expect(p.launch!.rlimits.filter((r) => r.resource === 'cpu')).toEqual([{ clause: 'limits.cpu + process.rlimits[1]', resource: 'cpu', soft: 3, hard: 5 }]);
  });

  it('refuses two rlimits of one type (config.md: duplicated entries MUST be an error)', () => {
    const c = containerd();
    c.process.rlimits.push({ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 });
    expect(translateOciConfig(c).manifest.oci.refusals.map((r) => [r.clause, r.reason])).toEqual([['process.rlimits[1].type', 'RLIMIT_NOFILE is already set by process.rlimits[0]']]);
  });
});
