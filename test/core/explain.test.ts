// --explain's reading of observed calls (src/core/explain.ts), against plans made by the planner
// from small manifests. Expected flags from the man pages: O_RDONLY 0, O_WRONLY 01, O_CREAT 0100
// (open(2), asm-generic/fcntl.h); AT_FDCWD -100 (fcntl.h); sockaddr_in: family (2 bytes, host
// order), port (2 bytes, network order), address (ip(7)).
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/planner.js';
import { loadManifest } from '../../src/core/manifest.js';
import type { LaunchInputs } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { explainDenials, type ObservedCall } from '../../src/core/explain.js';
import type { HostLookup } from '../../src/core/calls.js';
import { hybridHost } from '../helpers/hosts.js';
import { validateDenial } from '../helpers/denial-schema.js';

const dir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 65534, gid: 65534, mode: 0o755 });

function launchOf(yaml: string): LaunchInputs {
  const m = loadManifest(`bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true, cwd: / }\nfilesystem:\n  - { path: /usr, access: read-exec }\n${yaml}`, 't.yaml').manifest;
  const paths: PlanPaths = { grants: m.filesystem.map((g) => dir(g.path)), exe: { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '9', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null };
  const p = plan({ manifest: m, host: hybridHost(), paths, cgroupParent: null }, sha256Hex);
  expect(p.refusals).toEqual([]);
  return p.launch!;
}

/** The host: these exist; /etc/localtime is a link into /usr. */
const HOST: Record<string, { real: string; kind: 'file' | 'dir' }> = {
  '/etc/ssl/certs/ca.pem': { real: '/etc/ssl/certs/ca.pem', kind: 'file' },
  '/etc/ssl': { real: '/etc/ssl', kind: 'dir' },
  '/srv/data': { real: '/srv/data', kind: 'dir' },
  '/srv/data/in.txt': { real: '/srv/data/in.txt', kind: 'file' },
  '/etc/localtime': { real: '/usr/share/zoneinfo/Etc/UTC', kind: 'file' },
};
const lookup: HostLookup = (p) => HOST[p] ?? { real: p, kind: 'missing' };

const openat = (path: string, flags: number, pid = 10, t = 5_000_000n): ObservedCall => ({ name: 'openat', pid, args: [BigInt.asUintN(64, -100n), 0n, BigInt(flags), 0n, 0n, 0n], strings: [null, path, null, null, null, null], sockaddr: null, tNs: t });
const inet = (port: number): Uint8Array => {
  const b = new Uint8Array(16);
  b[0] = 2; // AF_INET, host order (little-endian here)
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b[4] = 10; // 10.0.0.1
  b[7] = 1;
  return b;
};
const connect = (port: number): ObservedCall => ({ name: 'connect', pid: 10, args: [3n, 0n, 16n, 0n, 0n, 0n], strings: [null, null, null, null, null, null], sockaddr: inet(port), tNs: null });

describe('explainDenials', () => {
  it('a path the host has and no grant covers: ENOENT in the workload, traced to filesystem, with the grant that would allow it', () => {
    const L = launchOf('');
    const d = explainDenials([openat('/etc/ssl/certs/ca.pem', 0), openat('/etc/ssl/certs/ca.pem', 0)], L, lookup, 1_000_000n);
    expect(d).toEqual([expect.objectContaining({ kind: 'filesystem', clause: 'filesystem', errno: 'ENOENT', path: '/etc/ssl/certs/ca.pem', allow: 'filesystem: [{ path: /etc/ssl/certs/ca.pem, access: read }]', count: 2, atMs: 4 })]);
    d.forEach((x) => expect(validateDenial(x), JSON.stringify(validateDenial.errors)).toBe(true));
  });

  it('nothing is invented: a path the host lacks too, a granted path, /proc and /dev, a relative path under a descriptor', () => {
    const L = launchOf('  - { path: /srv/data, access: read }\n');
    const rel: ObservedCall = { ...openat('x', 0), args: [5n, 0n, 0n, 0n, 0n, 0n], strings: [null, 'x', null, null, null, null] };
    expect(explainDenials([openat('/nope/missing', 0), openat('/srv/data/in.txt', 0), openat('/usr/lib/x.so', 0), openat('/proc/self/status', 0), openat('/dev/null', 0o1), rel], L, lookup, null)).toEqual([]);
  });

  it('a write under a read grant: traced to that grant, allowed by read-write, with a warning', () => {
    const L = launchOf('  - { path: /srv/data, access: read }\n');
    const d = explainDenials([openat('/srv/data/out.txt', 0o1 | 0o100)], L, lookup, null);
    // errno: not seen (the call's result is not observed; EROFS or EACCES, whichever check comes first)
    expect(d).toEqual([expect.objectContaining({ clause: 'filesystem[1]', allow: 'filesystem: [{ path: /srv/data, access: read-write }]   # in place of filesystem[1]', errno: null })]);
    expect(d[0]!.warning).toBeTruthy();
  });

  it('a missing file created in an ungranted host directory: the directory, read-write', () => {
    const L = launchOf('');
    expect(explainDenials([openat('/srv/data/new.txt', 0o1 | 0o100)], L, lookup, null).map((x) => x.allow)).toEqual(['filesystem: [{ path: /srv/data, access: read-write }]']);
  });

  it('a symlink on the way: the path as used is granted (the planner makes the link), with the access of the grant its target is in', () => {
    const d = explainDenials([openat('/etc/localtime', 0)], launchOf(''), lookup, null);
    expect(d[0]).toMatchObject({ allow: 'filesystem: [{ path: /etc/localtime, access: read-exec }]', warning: null });
    expect(d[0]!.rule).toContain('a link to /usr/share/zoneinfo/Etc/UTC');
  });

  it('network ports: a connect to a port the clause does not list is a network denial (EACCES), allowed by adding the port', () => {
    const L = launchOf('network: { connect: [443] }\n');
    expect(explainDenials([connect(443), connect(8080)], L, lookup, null)).toEqual([expect.objectContaining({ kind: 'network', clause: 'network', port: 8080, errno: 'EACCES', allow: 'network: { connect: [443, 8080] }' })]);
  });

  // A new-user pass: `ls /`, `ls /srv` above a grant failed EACCES and --explain said nothing.
  it('a directory made on the way to a grant, opened to be listed or read: EACCES (landlock), allowed by granting it read, with a warning', () => {
    const L = launchOf('  - { path: /srv/data, access: read }\n');
    const d = explainDenials([openat('/', 0o200000), openat('/srv', 0), openat('/srv', 0)], L, lookup, null);
    expect(d).toEqual([
      expect.objectContaining({ kind: 'filesystem', clause: 'filesystem', path: '/', errno: 'EACCES', allow: 'filesystem: [{ path: /, access: read }]', warning: 'that grants the whole host filesystem for reading', count: 1 }),
      expect.objectContaining({ path: '/srv', errno: 'EACCES', allow: 'filesystem: [{ path: /srv, access: read }]', count: 2 }),
    ]);
    d.forEach((x) => expect(validateDenial(x), JSON.stringify(validateDenial.errors)).toBe(true));
    // Not a stat of it (landlock checks no metadata call), nor a granted directory, nor /tmp (private: a mount of its own).
    const stat: ObservedCall = { ...openat('/srv', 0), name: 'newfstatat' };
    expect(explainDenials([stat, openat('/srv/data', 0o200000), openat('/tmp', 0o200000)], launchOf('  - { path: /srv/data, access: read }\ntmp: private\n'), lookup, null)).toEqual([]);
  });

  it('network ports: a bind to a port the clause does not list is a network denial (EACCES), allowed by adding it to bind; port 0 is the kernel\'s pick', () => {
    const L = launchOf('network: { connect: [443], bind: [8080] }\n');
    const bind = (port: number): ObservedCall => ({ ...connect(port), name: 'bind' });
    expect(explainDenials([bind(8080), bind(0), bind(9091)], L, lookup, null)).toEqual([expect.objectContaining({ kind: 'network', clause: 'network', what: 'bind(AF_INET, port 9091)', port: 9091, errno: 'EACCES', allow: 'network: { connect: [443], bind: [8080, 9091] }' })]);
    // A connect keeps the bind list in what it suggests.
    expect(explainDenials([connect(80)], L, lookup, null)[0]!.allow).toBe('network: { connect: [80, 443], bind: [8080] }');
  });

  it('container mode is not explained (its paths are the rootfs’s)', () => {
    const L = { ...launchOf(''), root: { path: '/x' } } as unknown as LaunchInputs;
    expect(explainDenials([openat('/etc/ssl/certs/ca.pem', 0)], L, lookup, null)).toEqual([]);
  });
});
