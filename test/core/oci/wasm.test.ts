// OCI configs whose entrypoint is a .wasm module (crun's wasm handlers): which annotations make
// a wasm workload (crun's handler-utils.c rule), what the containerd config becomes (args, env,
// preopens, moot clauses with verdicts), what is refused by JSON path, and the plan it gives.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translateOciConfig } from '../../../src/core/oci/config.js';
import { wasmHandlerOf } from '../../../src/core/oci/wasm.js';
import { plan } from '../../../src/core/planner.js';
import type { NormalManifest } from '../../../src/core/manifest.js';
import type { PathFact, PlanPaths } from '../../../src/core/features.js';
import { sha256Hex } from '../../../src/host/hash.js';
import { validatePlan } from '../../../src/contract/generated/validators.js';
import { hybridHost } from '../../helpers/hosts.js';

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'oci', name), 'utf8'));

/** containerd's real config, made a wasm container: the annotation, args[0] the module. */
function wasmConfig(edit: (c: Record<string, any>) => void = () => {}): Record<string, any> {
  const c = fixture('containerd-config.json');
  c.process.args = ['/hello.wasm', 'one', 'two'];
  c.annotations = { 'module.wasm.image/variant': 'compat' };
  delete c.process.rlimits; // RLIMIT_NOFILE is refused for wasm (tested below)
  edit(c);
  return c;
}

const dir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 0, gid: 0, mode: 0o755, idmap: true });
const file = (path: string): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 7), uid: 0, gid: 0, mode: 0o644, idmap: true });

function pathsFor(m: NormalManifest, kinds: Record<string, 'file' | 'directory'> = {}): PlanPaths {
  const at = (p: string): string => (p.startsWith('/') ? p : `/bundle/${p.replace(/^\.\//, '')}`);
  return {
    grants: m.filesystem.map((g) => (kinds[g.path] === 'file' ? file(at(g.path)) : dir(at(g.path)))),
    exe: null,
    module: m.workload.kind === 'wasm' ? file(at(m.workload.module)) : null,
    root: null,
  };
}

function planOf(config: unknown, kinds: Record<string, 'file' | 'directory'> = {}) {
  const { manifest } = translateOciConfig(config);
  const p = plan({ manifest, host: hybridHost(), paths: pathsFor(manifest, kinds), cgroupParent: null }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}

const refused = (config: unknown): string[] => translateOciConfig(config).manifest.oci.refusals.map((r) => r.clause);

describe('OCI wasm handler (crun\'s annotations)', () => {
  it('decides as crun does: run.oci.handler first, then module.wasm.image/variant; -smart only for .wasm/.wat', () => {
    const cfg = (ann: Record<string, string>, args0: string) => ({ process: { args: [args0] }, annotations: ann });
    const kind = (ann: Record<string, string>, args0 = '/app.wasm') => wasmHandlerOf(cfg(ann, args0)).kind;
    expect(kind({})).toBe('none');
    expect(kind({ 'run.oci.handler': 'wasm' })).toBe('wasm');
    expect(kind({ 'run.oci.handler': 'wasm' }, '/bin/true')).toBe('wasm'); // refused later: not a module
    expect(kind({ 'run.oci.handler': 'wasm-smart' })).toBe('wasm');
    expect(kind({ 'run.oci.handler': 'wasm-smart' }, '/APP.WASM')).toBe('wasm'); // case-insensitive, as crun
    expect(kind({ 'run.oci.handler': 'wasm-smart' }, '/bin/envoy')).toBe('none'); // a side-car stays a container
    expect(kind({ 'module.wasm.image/variant': 'compat' })).toBe('wasm');
    expect(kind({ 'module.wasm.image/variant': 'compat-smart' }, '/bin/sh')).toBe('none');
    expect(kind({ 'module.wasm.image/variant': 'compat-smart' }, '/m.wat')).toBe('wasm');
    // run.oci.handler decides when present: the variant is not consulted.
    expect(kind({ 'run.oci.handler': 'wasm-smart', 'module.wasm.image/variant': 'compat' }, '/bin/sh')).toBe('none');
    // Another handler (crun's krun: a microVM) is refused rather than run as a plain container.
    const krun = wasmHandlerOf(cfg({ 'run.oci.handler': 'krun' }, '/bin/sh'));
    expect(krun).toMatchObject({ kind: 'refused', refusal: { clause: 'annotations.run.oci.handler', code: 'BV_OCI_UNSUPPORTED' } });
    expect(refused({ ...fixture('containerd-config.json'), annotations: { 'module.wasm.image/variant': 'compat-plus' } })).toContain('annotations.module.wasm.image/variant');
  });

  it('containerd\'s config with the annotation: a wasm workload with the rest of args, the env, the rootfs preopened read-only at /', () => {
    const { manifest: m } = translateOciConfig(wasmConfig());
    expect(m.oci.refusals).toEqual([]);
    expect(m.workload).toEqual({ kind: 'wasm', module: 'rootfs/hello.wasm', args: ['one', 'two'], deterministic: false, seed: null });
    expect(m.oci.argv0).toBe('/hello.wasm'); // argv[0] as given, as crun passes it
    expect(m.env).toEqual([{ name: 'PATH', value: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }]);
    expect(m.root).toBeNull();
    expect(m.filesystem).toEqual([{ index: 0, path: './rootfs', bundleRelative: true, access: 'read', recursive: true, guarantee: 'enforced', target: '/', ociPath: 'root.path' }]);
    expect(m.network.value.mode).toBe('deny');
    expect(m.spawn.value).toBe('deny');
    expect(m.capabilities).toEqual([]);
    expect(m.oci.seccomp).toBeNull();
    expect(m.oci.rlimits).toEqual([]);
    expect(m.oci.fsMounts).toEqual([]);
    // Every clause a WASI guest makes moot has a verdict saying so.
    const v = Object.fromEntries(m.oci.verdicts.map((x) => [x.clause, x]));
    for (const c of ['annotations.module.wasm.image/variant', 'root.readonly', 'process.capabilities', 'process.user', 'linux.namespaces(pid)', 'linux.namespaces(network)', 'linux.resources.devices', 'linux.maskedPaths', 'linux.readonlyPaths', 'linux.cgroupsPath', 'mounts[0]', 'mounts[5]', 'mounts[6]']) {
      expect(v[c], c).toBeDefined();
    }
    expect(v['process.capabilities']!).toMatchObject({ requested: '14 capabilities', mechanism: 'wasm:moot' });
    expect(v['linux.namespaces(network)']!.reason).toMatch(/no sockets/);
    expect(v['mounts[0]']!.reason).toMatch(/no proc is mounted/);
    // No Linux mechanism is claimed for what the guest does not get.
    for (const x of m.oci.verdicts) expect(x.mechanism, x.clause).not.toMatch(/^linux:(mount|userns|pidns|netns|mntns)/);
  });

  it('plans as a wasm workload: the module, the rootfs preopen, no Linux-only clause', () => {
    const p = planOf(wasmConfig());
    expect(p.refusals).toEqual([]);
    expect(p.admitted).toBe(true);
    expect(p.backend).toBe('wasm');
    const v = Object.fromEntries(p.clauses.map((c) => [c.clause, c]));
    expect(v.workload!.mechanism).toBe('wasm:wasi-preview1(bvisor-host)');
    expect(v['root.path']!.mechanism).toMatch(/^wasm:preopen\(openat2-beneath,ro\)/);
    expect(v.network!.mechanism).toBe('wasm:no-sockets');
    expect(p.launch!.workload).toMatchObject({ kind: 'wasm', path: '/bundle/rootfs/hello.wasm', args: ['one', 'two'] });
    expect(p.launch!.filesystem.map((f) => [f.target, f.access])).toEqual([['/', 'read']]);
  });

  it('process.user other than 0:0 is moot too: the guest has no ids, and the launch maps none of them', () => {
    const c = wasmConfig((x) => (x.process.user = { uid: 1000, gid: 1000 }));
    const { manifest: m } = translateOciConfig(c);
    expect(m.oci.refusals).toEqual([]);
    expect(m.oci).not.toHaveProperty('user');
    expect(m.oci.verdicts.find((v) => v.clause === 'process.user')).toMatchObject({ requested: 'uid 1000, gid 1000', mechanism: 'wasm:moot' });
    const p = planOf(c);
    expect(p.admitted).toBe(true);
    expect(p.launch!.oci).not.toHaveProperty('user');
  });

  it('an engine\'s network namespace is not joined: the guest has no sockets (moot, with a verdict)', () => {
    const c = wasmConfig((x) => (x.linux.namespaces = x.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: '/run/netns/cni-1' } : n))));
    const { manifest: m } = translateOciConfig(c);
    expect(m.oci.refusals).toEqual([]);
    expect(m.oci.netnsPath).toBeNull();
    expect(m.oci.verdicts.find((v) => v.clause === 'linux.namespaces(network)')).toMatchObject({ requested: 'join /run/netns/cni-1', mechanism: 'wasm:moot' });
    const p = planOf(c);
    expect(p.admitted).toBe(true);
    expect(p.clauses.find((v) => v.clause === 'network')!.mechanism).toBe('wasm:no-sockets');
    expect(p.launch!.oci!.netns).toBeNull();
  });

  it('binds of directories become preopens at their destinations; engine files and kernel filesystems are not given (narrower)', () => {
    const c = wasmConfig((x) => {
      x.mounts.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw'] });
      x.mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: '/var/lib/x/resolv.conf', options: ['rbind', 'ro'] });
      x.mounts.push({ destination: '/cfg', type: 'bind', source: 'conf', options: ['rbind', 'ro', 'nosuid', 'rprivate'] });
    });
    const { manifest: m } = translateOciConfig(c);
    expect(m.oci.refusals).toEqual([]);
    expect(m.filesystem.map((g) => [g.ociPath, g.path, g.access, g.target])).toEqual([
      ['root.path', './rootfs', 'read', '/'],
      ['mounts[7]', '/srv/data', 'read-write', '/data'],
      ['mounts[9]', './conf', 'read', '/cfg'],
    ]);
    expect(m.oci.verdicts.find((v) => v.clause === 'mounts[8]')!.reason).toMatch(/no resolver/);
    // A bind of a file cannot be a WASI preopen: the planner refuses it by its JSON path.
    const file = wasmConfig((x) => x.mounts.push({ destination: '/etc/app.conf', type: 'bind', source: '/srv/app.conf', options: ['rbind', 'ro'] }));
    const p = planOf(file, { '/srv/app.conf': 'file' });
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['mounts[7]', 'BV_PLAN_PATH_KIND']]);
  });

  it('refuses, by JSON path and with a hint, what a wasm guest cannot have', () => {
    const c = wasmConfig((x) => {
      x.process.terminal = true;
      x.process.cwd = '/app';
      x.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }, { type: 'RLIMIT_CPU', soft: 5, hard: 5 }];
      x.process.oomScoreAdj = 100;
      x.process.user.umask = 0o077;
      x.linux.resources.cpu = { quota: 50000, period: 100000 };
      x.mounts.push({ destination: '/mnt', type: 'nfs', source: 'srv:/x', options: [] });
      x.mounts.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'idmap'] });
    });
    const { manifest: m } = translateOciConfig(c);
    expect(m.oci.refusals.map((r) => r.clause).sort()).toEqual(
      ['linux.resources.cpu.quota', 'mounts[7].type', 'mounts[8].options', 'process.cwd', 'process.oomScoreAdj', 'process.rlimits[0]', 'process.rlimits[2]', 'process.terminal', 'process.user.umask'].sort(),
    );
    for (const r of m.oci.refusals) expect(r.hint.length, r.clause).toBeGreaterThan(5);
    // RLIMIT_CORE bounds nothing a guest can do: a verdict, not a refusal.
    expect(m.oci.verdicts.find((v) => v.clause === 'process.rlimits[1]')).toMatchObject({ mechanism: 'wasm:moot' });
    const p = planOf(c);
    expect(p.admitted).toBe(false);
    expect(p.refusals.map((r) => r.clause)).toEqual(expect.arrayContaining(['process.terminal', 'process.rlimits[0]']));
  });

  it('refuses text modules, args[0] that is not a module, and a rootfs outside the bundle', () => {
    expect(refused(wasmConfig((x) => (x.process.args = ['/app.wat'])))).toEqual(['process.args[0]']);
    expect(refused(wasmConfig((x) => (x.process.args = ['/bin/true'])))).toEqual(['process.args[0]']);
    expect(refused(wasmConfig((x) => (x.process.args = ['/../../etc/x.wasm'])))).toEqual(['process.args[0]']);
    expect(refused(wasmConfig((x) => (x.root.path = '/var/lib/containers/storage/overlay/abc/merged')))).toEqual(['root.path']);
    // A -smart annotation with a non-module entrypoint is a plain Linux container, no refusal.
    const side = translateOciConfig(wasmConfig((x) => {
      x.annotations = { 'run.oci.handler': 'wasm-smart' };
      x.process.args = ['/bin/true'];
    })).manifest;
    expect(side.workload.kind).toBe('process');
    expect(side.oci.refusals).toEqual([]);
  });

  it('config errors stay refused whatever the handler (an unknown field, a bad version)', () => {
    const c = wasmConfig((x) => {
      x.process.capabilities.bounding.push('CAP_NOPE');
      x.linux.frobnicate = true;
      x.ociVersion = '9.0.0';
    });
    expect(refused(c)).toEqual(expect.arrayContaining(['process.capabilities.bounding[14]', 'linux.frobnicate', 'ociVersion']));
  });
});
