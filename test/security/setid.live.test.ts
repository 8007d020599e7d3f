// Found by attacking this change (issue 9, item 1's idmapped write grants): through an idmapped
// write grant the workload's files are stored as the directory's owner and group, so a file it
// chmods 02755 there is a set-group-ID program of that group on the host (shadow, disk…), and
// 04755 a set-user-ID program of the owner; in a 1777 grant, of the workload's own id. Now no
// workload makes set-ID files (seccomp, as systemd's RestrictSUIDSGID: chmod, creation with set-ID
// modes, and openat2, whose mode seccomp cannot see), and an idmap never bridges a system user or
// group. Oracles: the probe's errnos, the modes on the host disk; the red twin runs without
// seccomp and plants the set-ID file.
import { chmodSync, chownSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryOps, probeBundle, facts, E, writableDir } from '../helpers/probe.js';
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
