// An OCI config whose process.user is not 0:0 (docs/oci.md, "process.user"), as an image's
// `USER 1000` reaches the runtime: the one id the container's user namespace maps is that user,
// not 0. Oracles: what busybox's id, touch and cat say inside; /proc/<init>/status and uid_map
// read from the host; the owners on disk. Expected values from the runtime-spec (config.md,
// user) and capabilities(7): a uid other than 0 holds no capability after exec.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cli, cliEnv } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { skipOrFail } from '../helpers/require.js';
import { until } from '../helpers/wait.js';
import { BUSYBOX, containerdBundle } from '../helpers/oci-bundle.js';

const root0 = process.geteuid?.() === 0;
let work = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bvisor-oci-user-'));
  chmodSync(work, 0o755);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** containerd's default config running `args` in busybox as 1000:1000, with a home that is the
 * user's alone (0700) and a file that is root's alone (0600). */
function userBundle(args: string[], edit: (c: Record<string, any>) => void = () => {}): string {
  const dir = containerdBundle(join(work, `b${Math.random().toString(36).slice(2, 8)}`), args, ['sh', 'id', 'cat', 'touch', 'sleep'], (c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.root.readonly = false;
    edit(c);
  });
  const r = join(dir, 'rootfs');
  mkdirSync(join(r, 'home', 'u'), { recursive: true });
  writeFileSync(join(r, 'home', 'u', 'secret'), 'users-own\n');
  chmodSync(join(r, 'home', 'u', 'secret'), 0o600);
  chownSync(join(r, 'home', 'u', 'secret'), 1000, 1000);
  chmodSync(join(r, 'home', 'u'), 0o700);
  chownSync(join(r, 'home', 'u'), 1000, 1000);
  // An image's /tmp: root's, 1777. And a file of another user of the image, 0666.
  chmodSync(join(r, 'tmp'), 0o1777);
  writeFileSync(join(r, 'etc', 'shared'), '');
  chmodSync(join(r, 'etc', 'shared'), 0o666);
  chownSync(join(r, 'etc', 'shared'), 1500, 1500);
  writeFileSync(join(r, 'etc', 'rootonly'), 'roots-own\n');
  chmodSync(join(r, 'etc', 'rootonly'), 0o600);
  return dir;
}

/** Root (bvisor maps another id only as root) and busybox, or a loud skip (a failure in CI). */
function can(): boolean {
  if (!root0) {
    skipOrFail('root', 'bvisor maps an id other than 0 only as root (the rootfs is idmapped)');
    return false;
  }
  if (!existsSync(BUSYBOX)) {
    skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    return false;
  }
  return true;
}

const statusField = (pid: number, name: string): string => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim();

describe('OCI process.user other than 0:0 (e2e, as root)', () => {
  it('runs as that user: its own 0700 files are its own, root\'s are not, and what it makes lands on disk as that user', () => {
    if (!can()) return;
    const root = newRoot();
    // And a world-writable volume (a writable bind in the bundle, as a volume is in the engine's
    // storage) holding a 0600 file of the user's.
    const b = userBundle(['sh', '-c', 'echo "ids $(id -u):$(id -g)"; cat /home/u/secret; touch /home/u/made && echo made; cat /etc/rootonly 2>/dev/null || echo "root-file refused"; touch /etc/new 2>/dev/null || echo "etc refused"; touch /tmp/t && echo "tmp written"; echo x >> /etc/shared && echo "0666 written"; echo y >> /w/mine && touch /w/made && echo "volume written"'], (c) => c.mounts.push({ destination: '/w', type: 'bind', source: 'wv', options: ['rbind', 'rw'] }));
    const wv = join(b, 'wv');
    mkdirSync(wv);
    chmodSync(wv, 0o1777);
    writeFileSync(join(wv, 'mine'), '', { mode: 0o600 });
    chownSync(join(wv, 'mine'), 1000, 1000);
    mkdirSync(join(b, 'rootfs', 'w'));
    const r = cli(['--root', root, 'run', '--bundle', b, 'user-run']);
    expect(r.stderr).toBe('');
    // Root's 1777 /tmp and another user's 0666 file are the mode's to decide, as under runc
    // (the idmapped rootfs leaves no owner unmapped, which the kernel would refuse every write to).
    expect(r.stdout.split('\n')).toEqual(['ids 1000:1000', 'users-own', 'made', 'root-file refused', 'etc refused', 'tmp written', '0666 written', 'volume written', '']);
    expect(r.status).toBe(0);
    // The disk: made as the container's user is on-disk 1000:1000 (the idmapped rootfs), and
    // nothing was made in root's /etc.
    const made = statSync(join(b, 'rootfs', 'home', 'u', 'made'));
    expect([made.uid, made.gid]).toEqual([1000, 1000]);
    expect(existsSync(join(b, 'rootfs', 'etc', 'new'))).toBe(false);
    const t = statSync(join(b, 'rootfs', 'tmp', 't'));
    expect([t.uid, t.gid]).toEqual([1000, 1000]);
    const inVolume = statSync(join(wv, 'made'));
    expect([inVolume.uid, inVolume.gid, readFileSync(join(wv, 'mine'), 'utf8')]).toEqual([1000, 1000, 'y\n']);
    const shared = statSync(join(b, 'rootfs', 'etc', 'shared'));
    expect([shared.uid, shared.gid, readFileSync(join(b, 'rootfs', 'etc', 'shared'), 'utf8')]).toEqual([1500, 1500, 'x\n']);
  });

  it('a read-only rootfs is idmapped too: the user reads its own 0700 file and writes nothing', () => {
    if (!can()) return;
    const root = newRoot();
    // And a read-only volume of the user's (in the bundle, as a volume is in the engine's storage).
    const b = userBundle(['sh', '-c', 'cat /home/u/secret; touch /home/u/x 2>/dev/null || echo "read-only"; cat /data/note; touch /data/y 2>/dev/null || echo "volume read-only"'], (c) => {
      c.root.readonly = true;
      c.mounts.push({ destination: '/data', type: 'bind', source: 'vol', options: ['rbind', 'ro'] });
    });
    const vol = join(b, 'vol');
    mkdirSync(vol, { mode: 0o700 });
    writeFileSync(join(vol, 'note'), 'volume-own\n', { mode: 0o600 });
    chownSync(join(vol, 'note'), 1000, 1000);
    chownSync(vol, 1000, 1000);
    mkdirSync(join(b, 'rootfs', 'data'));
    const r = cli(['--root', root, 'run', '--bundle', b, 'user-ro']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('users-own\nread-only\nvolume-own\nvolume read-only\n');
    expect(existsSync(join(b, 'rootfs', 'home', 'u', 'x'))).toBe(false);
  });

  it('a mount point beneath root\'s 0700 /root fails the launch, saying the user may not search there (nothing runs)', () => {
    if (!can()) return;
    const root = newRoot();
    const b = userBundle(['sh', '-c', 'echo ran'], (c) => c.mounts.push({ destination: '/root/cache', type: 'bind', source: 'vol', options: ['rbind', 'ro'] }));
    mkdirSync(join(b, 'vol'));
    mkdirSync(join(b, 'rootfs', 'root'), { mode: 0o700 });
    const r = cli(['--root', root, 'run', '--bundle', b, 'user-under-root']);
    expect(r.status).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('(MKDIR /root/cache): EACCES');
    expect(r.stderr).toContain("the container's user (process.user 1000:1000) may not search a directory above that mount point");
  });

  it('the init is an unprivileged host id mapped as 1000 alone, with no capability; exec joins as 1000 and no other', async () => {
    if (!can()) return;
    const root = newRoot();
    const b = userBundle(['sleep', '60']);
    const out = join(work, `create-${Math.random().toString(36).slice(2, 8)}.log`);
    const fd = openSync(out, 'w');
    try {
      const c = spawnSync(process.execPath, [BIN, '--root', root, 'create', '--bundle', b, 'user-c'], { stdio: ['ignore', fd, fd], env: cliEnv(), timeout: 60_000 });
      expect(c.status, readFileSync(out, 'utf8')).toBe(0);
    } finally {
      closeSync(fd);
    }
    try {
      expect(cli(['--root', root, 'start', 'user-c']).status).toBe(0);
      const pid = cli(['--root', root, 'state', 'user-c']).json().pid as number;
      await until('the init to run as the user', () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 20_000);
      // /proc from the host shows host ids: one unprivileged id, the same in all four fields.
      const [ruid, euid, suid, fsuid] = statusField(pid, 'Uid').split(/\s+/).map(Number);
      expect([euid, suid, fsuid]).toEqual([ruid, ruid, ruid]);
      expect(ruid).not.toBe(0);
      const gids = statusField(pid, 'Gid').split(/\s+/).map(Number);
      expect(new Set(gids).size).toBe(1);
      expect(gids[0]).not.toBe(0);
      // user_namespaces(7): "ID-inside-ns ID-outside-ns length", 1000 alone mapped to that id.
      expect(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number)).toEqual([1000, ruid, 1]);
      expect(readFileSync(`/proc/${pid}/gid_map`, 'utf8').trim().split(/\s+/).map(Number)).toEqual([1000, gids[0], 1]);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(statusField(pid, set), set).toBe('0000000000000000');
      const e = cli(['--root', root, 'exec', 'user-c', 'id', '-u']);
      expect([e.status, e.stdout]).toEqual([0, '1000\n']);
      const as0 = cli(['--root', root, 'exec', '--user', '0', 'user-c', 'id', '-u']);
      expect(as0.status).toBe(125);
      expect(as0.stderr).toContain("bvisor maps exactly one id (the container's user, 1000)");
    } finally {
      cli(['--root', root, 'delete', '--force', 'user-c']);
    }
  });
});
