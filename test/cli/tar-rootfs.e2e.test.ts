// A bundle archive whose rootfs is shaped like an image export (docker export, an OCI layer):
// absolute symlinks, merged /usr, set-user-ID programs. Such archives were refused whole; they
// run now, with every link resolved inside the root, never on the host.
// Oracles: what the workload prints (its own view of its root), the host's files, the disk.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { BUSYBOX, busyboxRootfs } from '../helpers/busybox-rootfs.js';

const busybox = (): boolean => existsSync(BUSYBOX) || (skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`), false);

/** A bundle dir whose rootfs has the links and set-id program of an image export, and the
 * GNU tar of it (packed as a user would: tar -C bundle -cf b.tar .). */
function imageBundle(script: string): { tar: string; rootfs: string } {
  const dir = tempDir('bvisor-imgtar-');
  chmodSync(dir, 0o755);
  const rootfs = busyboxRootfs(dir);
  rmSync(join(rootfs, 'bin', 'sh'));
  symlinkSync('/bin/busybox', join(rootfs, 'bin', 'sh')); // Alpine's
  symlinkSync('/proc/mounts', join(rootfs, 'etc', 'mtab')); // docker's init layer
  mkdirSync(join(rootfs, 'usr', 'share'), { recursive: true });
  symlinkSync('usr/share', join(rootfs, 'share')); // merged-/usr style, with a link through it:
  writeFileSync(join(rootfs, 'usr', 'share', 'name'), 'from-the-rootfs\n');
  symlinkSync('/share/name', join(rootfs, 'etc', 'hostname'));
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'su'));
  chmodSync(join(rootfs, 'bin', 'su'), 0o4755);
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }\nspawn: descendants\nlimits: { processes: 16 }\n`);
  const tar = join(tempDir('bvisor-imgtar-a-'), 'image.tar');
  const t = spawnSync('tar', ['-C', dir, '-cf', tar, '.'], { encoding: 'utf8' });
  expect(t.status, t.stderr).toBe(0);
  return { tar, rootfs };
}

describe('a bundle archive with an image-shaped rootfs', () => {
  it('runs: absolute links and links through links resolve in the root, set-id bits are gone, nothing is left', () => {
    if (!busybox()) return;
    const { tar } = imageBundle('/bin/busybox cat /etc/hostname; /bin/busybox readlink /etc/mtab; /bin/busybox stat -c %a /bin/su; /bin/busybox head -c 5 /etc/mtab; echo');
    const parent = tempDir('bvisor-imgtar-p-');
    const r = cli(['run', 'img1', '-b', tar, '--root', tempDir('bvisor-imgtar-r-')], { env: { TMPDIR: parent } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [name, mtab, mode, mounts] = r.stdout.split('\n');
    // /etc/hostname -> /share/name -> (share -> usr/share) the rootfs's file, not the host's.
    expect(name).toBe('from-the-rootfs');
    expect(readFileSync('/etc/hostname', 'utf8')).not.toBe('from-the-rootfs\n');
    expect(mtab).toBe('/proc/mounts');
    // stat(1) as the workload sees it: the archive had 4755.
    expect(mode).toBe('755');
    // /etc/mtab is the container's own /proc/mounts (its first line is a mount's source).
    expect(mounts).toMatch(/^\S{1,5}$/);
    expect(readdirSync(parent), 'the extracted bundle is gone').toEqual([]);
  });

  it('the same archive with its rootfs named nowhere (a host-mode manifest) is refused, naming the link', () => {
    if (!busybox()) return;
    const { tar } = imageBundle('true');
    const parent = tempDir('bvisor-imgtar-p-');
    // Control: as it is (root: rootfs), the archive is valid.
    const r = cli(['validate', tar, '--json'], { env: { TMPDIR: parent } });
    expect(r.status, r.stderr).toBe(0);
    // Now as a host-mode bundle: the manifest without root.
    const hostMode = join(tempDir('bvisor-imgtar-h-'), 'host.tar');
    const dir = tempDir('bvisor-imgtar-hd-');
    expect(spawnSync('tar', ['-C', dir, '-xf', tar]).status).toBe(0);
    writeFileSync(join(dir, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\n');
    expect(spawnSync('tar', ['-C', dir, '-cf', hostMode, '.']).status).toBe(0);
    const h = cli(['validate', hostMode, '--json'], { env: { TMPDIR: parent } });
    expect(h.status).toBe(5);
    expect(h.json().error).toMatchObject({ code: 'BV_BUNDLE_UNSAFE_TAR', message: `${hostMode}: entry "rootfs/bin/sh" links to an absolute path (/bin/busybox)` });
    expect(readdirSync(parent)).toEqual([]);
  });
});
