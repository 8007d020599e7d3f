// Found by attacking this change (issue 9, item 1's idmapped write grants): through an idmapped
// write grant the workload's files are stored as the directory's owner and group, so a file it
// chmods 02755 there is a set-group-ID program of that group on the host (shadow, disk…), and
// 04755 a set-user-ID program of the owner; in a 1777 grant, of the workload's own id. Now no
// workload makes set-ID files (seccomp, as systemd's RestrictSUIDSGID: chmod, creation with set-ID
// modes, and openat2, whose mode seccomp cannot see), and an idmap never bridges a system user or
// group. Oracles: the probe's errnos, the modes on the host disk; the red twin runs without
// seccomp and plants the set-ID file.
import { chmodSync, chownSync, copyFileSync, statSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { ROOT, cli } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { spawnSync } from 'node:child_process';
import { defaultTestParent } from '../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryOps, probeBundle, probeRootfs, facts, E, writableDir } from '../helpers/probe.js';
import { hostArch, nr } from '../helpers/syscalls.js';
import { tempDir } from '../helpers/tmp.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';

describe('no workload plants set-user-ID or set-group-ID files', () => {
  it('in an idmapped write grant: chmod, creat and mkdir with set-ID bits are EPERM; openat2 is ENOSYS', async () => {
    const d = writableDir({ uid: 1000, gid: 1000 });
    const fs = [`  - { path: ${d}, access: read-write }`];
    const f = join(d, 'f');
    const ops = [['creat', f, '0755'], ['chmod', f, '4755'], ['chmod', f, '2755'], ['chmod', f, '0750'], ['creat', join(d, 'g'), '4755'], ['mkdirm', join(d, 'sd'), '2755'], ['syscall', '437', '-100', '0', '0', '24']];
    expect(await tryOps(ops, '', { filesystem: fs })).toEqual([0, E.PERM, E.PERM, 0, E.PERM, E.PERM, E.NOSYS]);
    expect(statSync(f)).toMatchObject({ mode: 0o100750, uid: 1000, gid: 1000 });
    expect(existsSync(join(d, 'g'))).toBe(false);
    // Red twin: without seccomp the same workload leaves a set-user-ID program of uid 1000 on
    // the host (and openat2 reaches the kernel, which faults on the NULL how).
    const t = join(d, 't');
    expect(await tryOps([['creat', t, '0755'], ['chmod', t, '4755'], ['syscall', '437', '-100', '0', '0', '24']], '', { filesystem: fs, hooks: { noSeccomp: true } })).toEqual([0, 0, E.FAULT]);
    expect(statSync(t)).toMatchObject({ mode: 0o104755, uid: 1000, gid: 1000 });
  });

  // Found by attack: a bundle's own `syscalls: { deny: log, guarantee: best-effort }` turned every
  // row into a logged pass, these with the rest, so it planted a set-user-ID program of the
  // grant's owner (and typed into its caller's terminal, and had io_uring) while the plan still
  // called those guarantees enforced. deny: log now weakens the denylist only.
  it('under syscalls: { deny: log } too: set-ID modes, TIOCSTI, io_uring and the keyring stay EPERM while the denylist is only logged', async () => {
    const d = writableDir({ uid: 1000, gid: 1000 });
    const fs = [`  - { path: ${d}, access: read-write }`];
    const extra = 'syscalls: { deny: log, guarantee: best-effort }\nspawn: descendants\nlimits: { processes: 8 }\n';
    const f = join(d, 'f');
    // io_uring_setup(1, NULL): EFAULT from the kernel (its params pointer is NULL) unless seccomp
    // answers first; TIOCSTI on fd 0 (/dev/null here): ENOTTY from the kernel unless seccomp
    // answers first (ioctl_tty(2)); kcmp(0,0,0,0,0), a denylist row only logged: the kernel's own
    // answer, ESRCH for pid 0 (kcmp(2)).
    const arch = hostArch();
    // keyctl(KEYCTL_GET_KEYRING_ID 0, KEY_SPEC_SESSION_KEYRING -3, 0): the session keyring the
    // workload kept from bvisor, which it would possess (keyctl(2)); the kernel answers its id.
    const ops = (t: string): string[][] => [['creat', t, '0755'], ['chmod', t, '4755'], ['sti', '0'], ['syscall', String(nr(arch, 'io_uring_setup')), '1', '0'], ['syscall', String(nr(arch, 'keyctl')), '0', '-3', '0'], ['syscall', String(nr(arch, 'kcmp')), '0', '0', '0', '0', '0']];
    expect(await tryOps(ops(f), extra, { filesystem: fs })).toEqual([0, E.PERM, E.PERM, E.PERM, E.PERM, E.SRCH]);
    expect(statSync(f)).toMatchObject({ mode: 0o100755, uid: 1000, gid: 1000 });
    // Red twin: without seccomp, the set-ID program lands on the host, and the kernel answers
    // the terminal and io_uring calls itself.
    const t = join(d, 't');
    expect(await tryOps(ops(t), extra, { filesystem: fs, hooks: { noSeccomp: true } })).toEqual([0, 0, E.NOTTY, E.FAULT, 0, E.SRCH]);
    expect(statSync(t)).toMatchObject({ mode: 0o104755, uid: 1000 });
  });

  it('in a world-writable grant too (the workload’s own id would be set-ID otherwise)', async () => {
    const d = writableDir();
    const f = join(d, 'f');
    expect(await tryOps([['creat', f, '0755'], ['chmod', f, '6755']], '', { filesystem: [`  - { path: ${d}, access: read-write }`] })).toEqual([0, E.PERM]);
    expect(statSync(f).mode & 0o7777).toBe(0o755);
  });

  it('an idmap never bridges a system user or group', async () => {
    const d = tempDir('bvisor-sysgrp-');
    chmodSync(d, 0o775);
    chownSync(d, 1000, 42); // group shadow on Debian
    mkdirSync(join(d, 'x'));
    const b = loadBundle(probeBundle(['exit', '0'], '', { filesystem: [`  - { path: ${d}, access: read-write }`] }));
    await expect(runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() })).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[2]', code: 'BV_PLAN_WRITE_OWNER', message: expect.stringMatching(/1000:42, a system user or group/) })] });
  });
});

/** An OCI bundle as containerd writes it (its real default config), around a probe rootfs of its
 * own: the rootfs writable, root's, so idmapped to host root. */
const ociRoot = (prefix: string, edit?: (c: Record<string, any>) => void): { dir: string; rootfs: string; root: string } => {
  const { dir, rootfs } = probeRootfs(prefix);
  const c = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'containerd-config.json'), 'utf8'));
  c.mounts = c.mounts.filter((m: { destination: string }) => m.destination === '/proc' || m.destination === '/dev');
  const parent = defaultTestParent();
  c.linux.cgroupsPath = parent === null ? `bvisor-oci/${prefix}${process.pid}` : `${parent}/${prefix}${process.pid}`;
  edit?.(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  return { dir, rootfs, root: newRoot() };
};
const setArgs = (dir: string, args: string[]) => {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  c.process.args = args;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
};
const xattrHex = (path: string): string => spawnSync('python3', ['-c', 'import os,sys\ntry: print(os.getxattr(sys.argv[1], "security.capability").hex())\nexcept OSError as e: print("errno", e.errno)', path], { encoding: 'utf8' }).stdout.trim();

// Found by an attack on OCI bundles (December): with CAP_SETFCAP (in podman's and containerd's
// default capability list) and a writable idmapped rootfs, the workload set security.capability
// on a file of its rootfs; through the idmap the kernel stored it as host root's, a version-2
// capability valid in every namespace, and any host user who ran the file had full capabilities.
// Seccomp cannot read setxattr's name, so CAP_SETFCAP is not kept beside a writable idmapped
// mount. Oracles: the probe's errno (the kernel's capability check) and the file's xattrs on the
// host disk. Red twin (by hand: keptCapabilities keeping it): the probe gets 0 and the host file
// holds 0100000200200000…, a version-2 capability (no root id), CAP_NET_RAW.
describe('no workload plants a file capability through an idmapped mount', () => {
  const hostCap = (path: string): string => {
    const r = spawnSync('python3', ['-c', 'import os,sys\ntry: print(os.getxattr(sys.argv[1], "security.capability").hex())\nexcept OSError as e: print("errno", e.errno)', path], { encoding: 'utf8' });
    return r.stdout.trim();
  };

  it('an OCI bundle with containerd\'s default capabilities and a writable root-owned rootfs (idmapped to host root): CAP_SETFCAP is not kept, said in the plan; setting one is EPERM and the host file has none', () => {
    const { dir, rootfs, root } = ociRoot('bvisor-fcap-', (c) => expect(c.process.capabilities.bounding).toContain('CAP_SETFCAP'));
    writeFileSync(join(rootfs, 'f'), 'x');
    setArgs(dir, ['/bin/bvprobe', 'try', 'fcap', '/f']);
    const p = cli(['plan', dir, '--json', '--root', root]);
    expect(p.status, p.stderr).toBe(0);
    const clauses = p.json().clauses as Array<{ clause: string; mechanism: string | null; reason: string }>;
    expect(clauses.find((x) => x.clause === 'root')?.mechanism).toMatch(/idmap=0:0/);
    const caps = clauses.find((x) => x.clause === 'capabilities')!;
    expect(caps.mechanism).not.toMatch(/SETFCAP/);
    expect(caps.reason ?? '').toMatch(/^CAP_SETFCAP not kept: a file capability/);
    const r = cli(['run', '-b', dir, '--root', root, 'fcap']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([E.PERM]);
    expect(hostCap(join(rootfs, 'f'))).toBe('errno 61'); // ENODATA: no security.capability
  });
});

// Found by an attack in December: through a writable rootfs idmapped to host root, a container
// (with no capabilities at all) changed the code of the image's own set-user-ID-root program by
// writing through a shared mapping (mmap, msync), which keeps the set-ID bit that write(2) would
// clear; a host user who then ran the file ran that code as root. Every set-ID file the idmap
// makes the workload's to write is now bound read-only over itself (still executable), and the
// plan says so. Oracles: the probe's errnos (the kernel's EROFS), the host file's bytes and mode.
// Red twin (the layout's read-only entries left out): the probe gets 0 and the host file's first
// byte is flipped while it stays 0104755, root's.
describe('no workload rewrites a set-ID program through an idmapped rootfs', () => {

  it('an OCI bundle with a writable root-owned rootfs holding a set-user-ID-root file: the plan keeps it read-only; a shared writable mapping of it is EROFS, of another root file works; it still runs', () => {
    const { dir, rootfs, root } = ociRoot('bvisor-setidro-');
    mkdirSync(join(rootfs, 'usr', 'bin'), { recursive: true });
    const su = join(rootfs, 'usr', 'bin', 'su');
    copyFileSync(join(rootfs, 'bin', 'bvprobe'), su);
    chmodSync(su, 0o4755);
    // Another user's set-user-ID program: kept read-only too (an ACL could name the mapped id,
    // which owner and mode bits do not show).
    const theirs = join(rootfs, 'usr', 'bin', 'theirs');
    copyFileSync(join(rootfs, 'bin', 'bvprobe'), theirs);
    chownSync(theirs, 1000, 1000);
    chmodSync(theirs, 0o4755);
    writeFileSync(join(rootfs, 'f'), 'x');
    const before = readFileSync(su);
    setArgs(dir, ['/bin/bvprobe', 'try', 'mmapw', '/usr/bin/su', ',', 'mmapw', '/f', ',', 'link', '/usr/bin/su', '/su2']);
    const p = cli(['plan', dir, '--json', '--root', root]);
    expect(p.status, p.stderr).toBe(0);
    const rootClause = (p.json().clauses as Array<{ clause: string; mechanism: string | null; reason: string }>).find((x) => x.clause === 'root')!;
    expect(rootClause.mechanism).toMatch(/idmap=0:0→\d+:\d+,setid-ro=2\)/);
    expect(rootClause.reason).toMatch(/^set-ID and file-capability programs kept read-only \(\/usr\/bin\/su, \/usr\/bin\/theirs\)/);
    const r = cli(['run', '-b', dir, '--root', root, 'setidro']);
    expect(r.status, r.stderr).toBe(0);
    // A second name for it, on the writable mount, would be writable: link(2) across mounts is EXDEV.
    expect(JSON.parse(r.stdout.trim())).toEqual([E.ROFS, 0, E.XDEV]);
    expect(readFileSync(su).equals(before)).toBe(true);
    expect(statSync(su)).toMatchObject({ mode: 0o104755, uid: 0 });
    expect(readFileSync(join(rootfs, 'f'), 'latin1')).toBe(String.fromCharCode('x'.charCodeAt(0) ^ 0xff));
    // Still a program: the read-only bind is not noexec.
    setArgs(dir, ['/usr/bin/su', 'exit', '7']);
    expect(cli(['run', '-b', dir, '--root', root, 'setidro2']).status).toBe(7);
  });

  // A second attack on the fix: the scan skipped what it could not name (a directory renamed to a
  // name that is not UTF-8 hid its set-ID file), file capabilities were not looked for (an mmap
  // write keeps security.capability too), and a file moved between plan and launch was skipped
  // as missing. Oracles: the plan's words, the probe's errnos, the host file's bytes and xattr.
  it('a file capability is a privilege too: such a program is kept read-only, and its capability stays what it was', () => {
    const { dir, rootfs, root } = ociRoot('bvisor-fcapro-');
    const prog = join(rootfs, 'newuidmap');
    copyFileSync(join(rootfs, 'bin', 'bvprobe'), prog);
    // cap_setuid+ep, VFS_CAP_REVISION_2 (capabilities(7)), set on the host as an image has it.
    const set = spawnSync('python3', ['-c', 'import os,sys,struct\nos.setxattr(sys.argv[1], "security.capability", struct.pack("<5I", 0x02000001, 1 << 7, 0, 0, 0))', prog], { encoding: 'utf8' });
    expect(set.status, set.stderr).toBe(0);
    const cap = xattrHex(prog);
    const before = readFileSync(prog);
    setArgs(dir, ['/bin/bvprobe', 'try', 'mmapw', '/newuidmap']);
    const p = cli(['plan', dir, '--json', '--root', root]);
    expect(p.status, p.stderr).toBe(0);
    expect((p.json().clauses as Array<{ clause: string; mechanism: string }>).find((x) => x.clause === 'root')!.mechanism).toMatch(/,setid-ro=1\)/);
    const r = cli(['run', '-b', dir, '--root', root, 'fcapro']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([E.ROFS]);
    expect(readFileSync(prog).equals(before)).toBe(true);
    expect(xattrHex(prog)).toBe(cap);
  });

  it('a set-ID file beneath a name that is not UTF-8 cannot be named in a plan: the writable root is refused, not left unlooked at', () => {
    const { dir, rootfs, root } = ociRoot('bvisor-ffname-');
    const odd = Buffer.concat([Buffer.from(join(rootfs, 'usr') + '/'), Buffer.from([0xff])]);
    mkdirSync(join(rootfs, 'usr'));
    mkdirSync(odd);
    const su = Buffer.concat([odd, Buffer.from('/su')]);
    copyFileSync(join(rootfs, 'bin', 'bvprobe'), su);
    chmodSync(su, 0o4755);
    setArgs(dir, ['/bin/bvprobe', 'exit', '0']);
    const p = cli(['plan', dir, '--json', '--root', root]);
    expect(p.status).toBe(3);
    expect(p.json().refusals).toEqual([expect.objectContaining({ clause: 'root', code: 'BV_PLAN_WRITE_OWNER', reason: expect.stringContaining('could not look through all of it') })]);
    // A name that is not UTF-8 alone is walked like any other.
    chmodSync(su, 0o755);
    expect(cli(['plan', dir, '--root', root]).status).toBe(0);
  });

  it('a set-ID file moved between plan and launch fails the launch, never runs the workload with it writable', () => {
    const { dir, rootfs } = ociRoot('bvisor-moved-');
    mkdirSync(join(rootfs, 'usr', 'bin'), { recursive: true });
    const su = join(rootfs, 'usr', 'bin', 'su');
    copyFileSync(join(rootfs, 'bin', 'bvprobe'), su);
    chmodSync(su, 0o4755);
    const before = readFileSync(su);
    setArgs(dir, ['/bin/bvprobe', 'try', 'mmapw', '/usr/binY/su']);
    // Planned (loadBundle looks through the rootfs), then another writer renames the directory.
    const script = `
      import { renameSync } from 'node:fs';
      const { loadBundle } = await import(${JSON.stringify(join(ROOT, 'dist', 'host', 'bundle.js'))});
      const { runLoaded } = await import(${JSON.stringify(join(ROOT, 'dist', 'app', 'run.js'))});
      const b = loadBundle(${JSON.stringify(dir)});
      renameSync(${JSON.stringify(join(rootfs, 'usr', 'bin'))}, ${JSON.stringify(join(rootfs, 'usr', 'binY'))});
      try {
        const out = await runLoaded(b, { id: null, root: null, cgroupParent: ${JSON.stringify(defaultTestParent())}, secretEnv: {} });
        console.log('RAN', out.exitCode);
      } catch (e) { console.log(e.code, e.message); }
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^BV_LAUNCH_FAILED .*ENOENT/);
    expect(readFileSync(join(rootfs, 'usr', 'binY', 'su')).equals(before)).toBe(true);
  });
});
