// A container's missing working directory is made, as runc and crun make it (runc #1604,
// crun #914): in the rootfs by bvisor itself, resolved inside the root as the workload resolves
// it; under another mount (the private /tmp) by the workload's own ids. Where it cannot be made,
// nothing runs and the error names it. Oracles: the workload's `pwd`, the disk (the rootfs, and
// the host path a link would have led to).
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { BUSYBOX, busyboxRootfs } from '../helpers/busybox-rootfs.js';

const busybox = (): boolean => existsSync(BUSYBOX) || (skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`), false);

function bundle(cwd: string, extra = ''): { dir: string; rootfs: string } {
  const dir = tempDir('bvisor-cwd-');
  chmodSync(dir, 0o755);
  const rootfs = busyboxRootfs(dir);
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/busybox, args: [pwd], cwd: ${cwd} }\n${extra}`);
  return { dir, rootfs };
}
const run = (id: string, dir: string): ReturnType<typeof cli> => cli(['run', id, '-b', dir, '--root', tempDir('bvisor-cwd-r-')]);

describe('a container whose working directory is missing', () => {
  it('has it made in the rootfs (0755, each missing step), and runs there', () => {
    if (!busybox()) return;
    const { dir, rootfs } = bundle('/work/a/b');
    const r = run('cwd1', dir);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '/work/a/b\n', '']);
    expect(statSync(join(rootfs, 'work/a/b')).isDirectory()).toBe(true);
    expect(statSync(join(rootfs, 'work/a/b')).mode & 0o7777).toBe(0o755);
  });

  it('resolves the rootfs\'s own links inside the root: /var/run -> /run makes <rootfs>/run/<x>, never the host\'s /run/<x>', () => {
    if (!busybox()) return;
    const name = `bvisor-cwd-test-${process.pid}`;
    const { dir, rootfs } = bundle(`/var/run/${name}`);
    mkdirSync(join(rootfs, 'run'));
    mkdirSync(join(rootfs, 'var'));
    symlinkSync('/run', join(rootfs, 'var/run'));
    try {
      const r = run('cwd2', dir);
      // The workload's view: the kernel's own path of its cwd (pwd -P), inside its root.
      expect([r.status, r.stdout, r.stderr]).toEqual([0, `/run/${name}\n`, '']);
      expect(statSync(join(rootfs, 'run', name)).isDirectory()).toBe(true);
      expect(existsSync(join('/run', name)), 'nothing is made on the host').toBe(false);
    } finally {
      rmSync(join('/run', name), { recursive: true, force: true });
    }
  });

  it('under the private /tmp, is made there by the workload (not in the rootfs on disk)', () => {
    if (!busybox()) return;
    const { dir, rootfs } = bundle('/tmp/w/x', 'tmp: private\n');
    const r = run('cwd3', dir);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '/tmp/w/x\n', '']);
    expect(existsSync(join(rootfs, 'tmp/w'))).toBe(false);
  });

  it('through a rootfs link into a mount (var/run -> /run, the private /tmp here), is made by the workload in the mount, not on disk', () => {
    if (!busybox()) return;
    const { dir, rootfs } = bundle('/var/t/app', 'tmp: private\n');
    mkdirSync(join(rootfs, 'var'));
    symlinkSync('/tmp', join(rootfs, 'var/t'));
    const r = run('cwd5', dir);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '/tmp/app\n', '']);
    // bvisor did not make it in the rootfs under the mount point, where it would be hidden.
    expect(existsSync(join(rootfs, 'tmp/app'))).toBe(false);
  });

  it('under a read-only grant, cannot be made: nothing runs, and the error names the working directory', () => {
    if (!busybox()) return;
    const { dir } = bundle('/data/x', 'filesystem:\n  - { path: ./data, access: read }\n');
    mkdirSync(join(dir, 'data'));
    const r = run('cwd4', dir);
    expect(r.status).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('failed before exec at the making of the missing working directory /data/x: EROFS');
    expect(r.stderr).toMatch(/hint: the workload never ran: its working directory was missing and could not be made there/);
    expect(existsSync(join(dir, 'data/x'))).toBe(false);
  });
});
