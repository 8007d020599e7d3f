// The proposal of bvisor learn from hand-written observed calls (pure). Expected values from the
// man pages: open(2)/asm-generic/fcntl.h O_WRONLY=01, O_RDWR=02, O_CREAT=0100, O_DIRECTORY=0200000;
// clone(2) CLONE_THREAD=0x10000; AF_INET=2 and sockaddr_in (ip(7)): family u16 (host order),
// port u16 big-endian, address 4 bytes.
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { propose, type LearnCall, type LearnInput } from '../../src/core/learn.js';
import { decodeSockaddr, normalize, type HostPath } from '../../src/core/calls.js';
import { loadManifest } from '../../src/core/manifest.js';

const AT_FDCWD = BigInt.asUintN(64, -100n);
const call = (name: string, strings: Array<string | null>, args: bigint[] = [], pid = 10, sockaddr: Uint8Array | null = null): LearnCall => ({
  name, pid, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6), strings: [...strings, null, null, null, null, null, null].slice(0, 6), sockaddr,
});
const openat = (path: string, flags: number, pid = 10): LearnCall => call('openat', [null, path], [AT_FDCWD, 1n, BigInt(flags)], pid);

/** A host with these files and directories (everything else missing; /lib -> /usr/lib). */
function hostOf(files: string[], dirs: string[] = []): (p: string) => HostPath {
  return (p) => {
    // Debian's links: merged /usr's top-level /lib, and /etc/os-release → ../usr/lib/os-release.
    const real = p.startsWith('/lib/') ? '/usr' + p : p === '/etc/os-release' ? '/usr/lib/os-release' : p;
    if (files.includes(real)) return { real, kind: 'file' };
    if (dirs.includes(real) || files.some((f) => f.startsWith(real + '/'))) return { real, kind: 'dir' };
    return { real, kind: 'missing' };
  };
}

const base = (calls: LearnCall[], lookup: (p: string) => HostPath, over: Partial<LearnInput> = {}): LearnInput => ({
  original: { bvisorVersion: '1', workload: { process: { exe: '/usr/bin/tool', args: [], cwd: '/' } }, env: { PATH: '/usr/bin' } },
  kept: [],
  exe: '/usr/bin/tool',
  cwd: '/',
  calls,
  denials: [],
  budgets: { memoryPeakBytes: 5 * 1024 * 1024, pidsPeak: 3, runMs: 1200 },
  hostNetwork: false,
  rootLinks: ['bin', 'lib', 'lib64', 'sbin'],
  lookup,
  ...over,
});

const sockaddrIn = (port: number, a: number[]): Uint8Array => new Uint8Array([2, 0, port >> 8, port & 0xff, ...a, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('learn: the proposal from observed calls', () => {
  it('libraries and programs under /usr collapse to /usr read-exec; /etc files one by one; probed missing paths dropped', () => {
    const host = hostOf(['/usr/bin/tool', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/etc/ld.so.cache', '/etc/hosts', '/usr/share/x/data']);
    const p = propose(base([
      openat('/etc/ld.so.cache', 0o2000000),
      openat('/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libc.so.6', 0), // missing, only probed
      openat('/lib/x86_64-linux-gnu/libc.so.6', 0), // through the /lib link
      openat('/etc/hosts', 0),
      openat('/usr/share/x/data', 0),
      call('newfstatat', [null, '/etc/missing.conf'], [AT_FDCWD]),
    ], host));
    const m = parse(p.text);
    expect(m.filesystem).toEqual([
      { path: '/etc/hosts', access: 'read' },
      { path: '/etc/ld.so.cache', access: 'read' },
      { path: '/usr', access: 'read-exec' },
    ]);
    expect(p.stats.dropped).toBe(2);
    expect(p.text).toMatch(/# read 3 files under \/usr \(1 libraries\), executed \/usr\/bin\/tool/);
    expect(() => loadManifest(p.text, 'x')).not.toThrow();
  });

  it('a file used through a link outside the root\'s links (/etc/os-release) is granted by that path too, with its covering grant\'s access', () => {
    const host = hostOf(['/usr/bin/tool', '/usr/lib/os-release', '/usr/lib/x86_64-linux-gnu/libc.so.6']);
    const p = propose(base([openat('/etc/os-release', 0), openat('/lib/x86_64-linux-gnu/libc.so.6', 0)], host));
    expect(parse(p.text).filesystem).toEqual([
      { path: '/etc/os-release', access: 'read-exec' },
      { path: '/usr', access: 'read-exec' },
    ]);
    expect(p.text).toMatch(/# used as \/etc\/os-release, a link to \/usr\/lib\/os-release/);
    expect(() => loadManifest(p.text, 'x')).not.toThrow();
  });

  it('a directory with many files read is granted whole; writes (O_WRONLY, O_RDWR, O_CREAT) give write access and a "not exercised" warning', () => {
    const files = Array.from({ length: 9 }, (_, i) => `/srv/app/data/f${i}`);
    const host = hostOf(['/usr/bin/tool', '/srv/out/log', '/srv/rw', ...files], ['/srv/new']);
    const p = propose(base([
      ...files.map((f) => openat(f, 0)),
      openat('/srv/out/log', 0o1), // O_WRONLY
      openat('/srv/rw', 0o2), // O_RDWR
      openat('/srv/new/made.txt', 0o100 | 0o1), // O_CREAT on a missing file: its directory
    ], host));
    const fs = parse(p.text).filesystem;
    expect(fs).toContainEqual({ path: '/srv/app/data', access: 'read' });
    expect(fs).toContainEqual({ path: '/srv/out/log', access: 'write' });
    expect(fs).toContainEqual({ path: '/srv/rw', access: 'read-write' });
    expect(fs).toContainEqual({ path: '/srv/new', access: 'read-write' });
    expect(p.warnings.filter((w) => /not exercised/.test(w))).toHaveLength(3);
  });

  it('paths under the bundle\'s own grants are not proposed again; relative paths follow chdir; dirfd-relative ones are not resolvable', () => {
    const host = hostOf(['/usr/bin/tool', '/work/r/a', '/work/r/b'], ['/work/r']);
    const p = propose(base([
      call('chdir', ['/work/r']),
      openat('a', 0), // AT_FDCWD + relative: /work/r/a
      call('openat', [null, 'b'], [5n, 1n, 0n]), // relative to fd 5: not resolvable
    ], host, { kept: [{ raw: { path: './r', access: 'read' }, hostPath: '/work/r', access: 'read', recursive: true }] }));
    const fs = parse(p.text).filesystem;
    expect(fs[0]).toEqual({ path: './r', access: 'read' });
    expect(fs.filter((g: { path: string }) => g.path.startsWith('/work'))).toEqual([]);
    expect(p.stats.unresolved).toBe(1);
  });

  it('spawn: clone without CLONE_THREAD → descendants with processes max(8, 2× pids peak); threads only → threads; none → deny', () => {
    const host = hostOf(['/usr/bin/tool']);
    const fork = propose(base([call('clone', [], [0x01200011n])], host, { budgets: { memoryPeakBytes: null, pidsPeak: 7, runMs: 100 } }));
    expect(parse(fork.text).spawn).toBe('descendants');
    expect(parse(fork.text).limits.processes).toBe(14);
    const threads = propose(base([call('clone', [], [0x3d0f00n])], host)); // CLONE_VM|FS|FILES|SIGHAND|THREAD|…
    expect(parse(threads.text).spawn).toBe('threads');
    expect(parse(threads.text).limits.processes).toBeUndefined();
    expect(parse(propose(base([], host)).text).spawn).toBe('deny');
  });

  it('network: an AF_INET connect to port 443 → connect [443] (not exercised without --network); loopback only → loopback; none → deny', () => {
    const host = hostOf(['/usr/bin/tool']);
    const out = propose(base([call('socket', [], [2n, 1n]), call('connect', [], [3n, 0n, 16n], 10, sockaddrIn(443, [93, 184, 216, 34]))], host));
    expect(parse(out.text).network).toEqual({ connect: [443] });
    expect(out.warnings.join('\n')).toMatch(/network connect 443: not exercised/);
    const lo = propose(base([call('socket', [], [2n, 1n]), call('connect', [], [3n, 0n, 16n], 10, sockaddrIn(8080, [127, 0, 0, 1]))], host));
    expect(parse(lo.text).network).toBe('loopback');
    expect(parse(propose(base([], host)).text).network).toBe('deny');
    expect(decodeSockaddr(sockaddrIn(443, [10, 0, 0, 1]))).toEqual({ family: 2, port: 443, loopback: false });
  });

  it('an AF_UNIX connect to an existing socket grants it; a missing one is dropped', () => {
    const host = (p: string): HostPath => (p === '/run/app.sock' ? { real: p, kind: 'socket' } : hostOf(['/usr/bin/tool'])(p));
    const sun = (path: string): Uint8Array => new Uint8Array([1, 0, ...[...path].map((c) => c.charCodeAt(0)), 0]);
    const p = propose(base([call('connect', [], [3n, 0n, 20n], 10, sun('/run/app.sock')), call('connect', [], [3n, 0n, 20n], 10, sun('/var/run/nscd/socket'))], host));
    expect(parse(p.text).filesystem).toContainEqual({ path: '/run/app.sock', access: 'read-write' });
    expect(parse(p.text).filesystem.map((g: { path: string }) => g.path)).not.toContain('/var/run/nscd/socket');
  });

  it('denylisted calls it needed become comments with a warning each; limits have headroom', () => {
    const p = propose(base([], hostOf(['/usr/bin/tool']), { denials: [{ clause: 'syscalls', what: 'ptrace(0x10, 1, 0x0, 0x0)', rule: 'ptrace: inspect other processes', warning: null, count: 2 }], budgets: { memoryPeakBytes: 20 * 1024 * 1024 + 1, pidsPeak: null, runMs: 2500 } }));
    expect(p.text).toMatch(/# +needed ptrace\(0x10, 1, 0x0, 0x0\) ×2: denied \(ptrace: inspect other processes\)/);
    expect(p.warnings.some((w) => w.startsWith('syscalls: the run needed ptrace'))).toBe(true);
    expect(parse(p.text).limits).toEqual({ wall: '9s', memory: '41Mi' }); // 3×2.5 s + 1 s; 2×20 Mi + 2 bytes → 41 Mi
    expect(parse(propose(base([], hostOf(['/usr/bin/tool']), { budgets: { memoryPeakBytes: 1024, pidsPeak: null, runMs: 10 } })).text).limits).toEqual({ wall: '2s', memory: '16Mi' });
  });

  it('/tmp uses give tmp: private; /proc and unusual /dev paths are said, not granted', () => {
    const p = propose(base([openat('/tmp/x', 0o101), openat('/proc/self/status', 0), openat('/dev/null', 1), openat('/dev/kvm', 2)], hostOf(['/usr/bin/tool'])));
    const m = parse(p.text);
    expect(m.tmp).toBe('private');
    expect(m.filesystem).toEqual([{ path: '/usr', access: 'read-exec' }]);
    expect(p.text).toMatch(/read \/proc\/<pid>/);
    expect(p.text).toMatch(/used \/dev\/kvm/);
  });

  it('normalize is lexical', () => {
    expect(normalize('/a/./b/../c//d/')).toBe('/a/c/d');
    expect(normalize('/..')).toBe('/');
  });
});
