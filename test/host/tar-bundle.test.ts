// Hostile bundle archives are refused, and leave no temp dir behind. Where a refusal is about
// where a link goes, the oracle is the kernel (openat2 on a tree unpacked WITHOUT our checks),
// not our own checker: the chained-symlink archive below passed both of the old checks, which
// judged link text lexically (and with Node's JS realpath, which normalises `..` textually after
// expanding a link, unlike the kernel).
import { readdirSync, existsSync, readFileSync, writeFileSync, mkdirSync, symlinkSync, linkSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { join, dirname } from 'node:path';
import { x as untar, c as createTar } from 'tar';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractTarBundle, checkTar, verifyExtractedTree } from '../../src/host/tar-bundle.js';
import { BvisorError } from '../../src/contract/errors.js';
import { shim, O } from '../../src/backends/linux/ffi/shim.js';
import { writeTar, type RawEntry } from '../helpers/rawtar.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { thrown } from '../helpers/thrown.js';
import { faultPoints } from '../../src/host/faults.js';
import { validateBundle } from '../../src/app/plan.js';
import { openBundle, type OpenBundle } from '../../src/host/bundle.js';

const MANIFEST = 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\n';
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_BENEATH = 0x08;
const RESOLVE_IN_ROOT = 0x10;
const { EXDEV, ENOSYS } = osConstants.errno;

// The post-extraction check needs the shim and openat2 (Linux ≥ 5.6); without them every
// archive holding a symlink is refused (fail closed), so tests that expect acceptance or ask
// the kernel cannot run. They skip loudly (and fail where CI declares the feature).
const HAS_OPENAT2 = ((): boolean => {
  let rc: number;
  try {
    rc = shim().bv_openat2(-100, '.', O.PATH | O.DIRECTORY, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  } catch (e) {
    skipOrFail('openat2', `the native shim cannot be loaded (${(e as Error).message}): symlink checks of bundle archives cannot be tested`);
    return false;
  }
  if (rc >= 0) shim().bv_close(rc);
  else skipOrFail('openat2', `openat2(2) with RESOLVE_BENEATH fails here (${rc === -ENOSYS ? 'ENOSYS: needs Linux ≥ 5.6' : `errno ${-rc}`}): symlink checks of bundle archives cannot be tested`);
  return rc >= 0;
})();
const kit = it.skipIf(!HAS_OPENAT2);

interface Expect {
  code?: string;
  /** The entry the refusal must name (detail.entry), for BV_BUNDLE_UNSAFE_TAR. */
  entry?: string;
  pattern?: RegExp;
}

/** A BvisorError with this code (and entry, and message), nothing else. */
function expectRefusal(fn: () => unknown, { code = 'BV_BUNDLE_UNSAFE_TAR', entry, pattern }: Expect): BvisorError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BvisorError);
  const be = err as BvisorError;
  expect(be.code).toBe(code);
  if (entry !== undefined) expect(be.detail.entry).toBe(entry);
  if (pattern) expect(be.message).toMatch(pattern);
  return be;
}

/** extractTarBundle on manifest + entries must refuse, and leave its own parent dir empty. */
function refused(entries: RawEntry[], want: Expect): BvisorError {
  const dir = tempDir();
  const tar = join(dir, 'b.tar');
  writeTar(tar, [{ name: 'boundary.yaml', data: MANIFEST }, ...entries]);
  // A parent dir only this test uses: other test files extract in parallel into the OS temp dir.
  const parent = join(dir, 'parent');
  mkdirSync(parent);
  const err = expectRefusal(() => extractTarBundle(tar, { maxBytes: 1 << 20, maxEntries: 50 }, parent), want);
  expect(readdirSync(parent), 'a refused archive leaves no bvisor-bundle-* dir').toEqual([]);
  expect(existsSync('/tmp/pwned'), 'nothing may be written outside').toBe(false);
  return err;
}

/** Unpacks entries with the `tar` package alone (none of our checks) into <tmp>/p1/p2/root. */
function rawUnpack(entries: RawEntry[]): string {
  const dir = tempDir();
  const tar = join(dir, 'raw.tar');
  writeTar(tar, entries);
  const root = join(realpathSync(dir), 'p1', 'p2', 'root');
  mkdirSync(root, { recursive: true });
  untar({ file: tar, cwd: root, sync: true, strict: true });
  return root;
}

/** The kernel's answer for `rel` under `root`: an errno (negative), or where the fd really is. */
function kernelResolve(root: string, rel: string, resolve: number): number | string {
  const s = shim();
  const rfd = s.bv_openat2(-100, root, O.PATH | O.DIRECTORY, 0, 0);
  expect(rfd).toBeGreaterThanOrEqual(0);
  try {
    const fd = s.bv_openat2(rfd, rel, O.PATH, 0, resolve);
    if (fd < 0) return fd;
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } finally {
      s.bv_close(fd);
    }
  } finally {
    s.bv_close(rfd);
  }
}

const link = (name: string, target: string): RawEntry => ({ name, type: '2', link: target });

/** An archive of `entries` in a fresh dir, and an empty `parent` beside it to extract under. */
function archiveIn(entries: RawEntry[]): { parent: string; tar: string } {
  const dir = tempDir();
  const parent = join(dir, 'parent');
  mkdirSync(parent);
  const tar = join(dir, 'a.tar');
  writeTar(tar, entries);
  return { parent, tar };
}

/**
 * At the fault point 'tar:extracting', chattr(1) +i on the manifest extracted under `parent`, so
 * that not even root can unlink it (EPERM) and the temp dir cannot be removed; then `then`. The
 * function returned undoes both.
 */
function pinExtracted(parent: string, then: () => void = () => {}): () => void {
  let pinned = '';
  const hit = faultPoints.hit;
  faultPoints.hit = (stage) => {
    if (stage !== 'tar:extracting') return;
    pinned = join(parent, readdirSync(parent)[0]!, 'bundle', 'boundary.yaml');
    const i = spawnSync('chattr', ['+i', pinned], { encoding: 'utf8' });
    // (an expect() here would be caught, and rewrapped by the extraction's own error handling)
    if (i.status !== 0) throw new Error(`the test could not pin the file: chattr +i: ${i.stderr}`);
    then();
  };
  return () => {
    faultPoints.hit = hit;
    if (pinned) spawnSync('chattr', ['-i', pinned]);
  };
}

describe('tar bundles', () => {
  it('extracts a plain bundle (also gzipped) into a private dir, and cleans up', () => {
    const dir = tempDir();
    const parent = join(dir, 'parent');
    mkdirSync(parent);
    for (const gz of [false, true]) {
      const tar = join(dir, gz ? 'b.tar.gz' : 'b.tar');
      writeTar(tar, [{ name: 'boundary.yaml', data: MANIFEST }, { name: 'out/', type: '5' }, { name: 'lib/', type: '5' }, { name: 'lib/a.txt', data: 'x' }, { name: 'lib/h.txt', type: '1', link: 'lib/a.txt' }], gz);
      const x = extractTarBundle(tar, undefined, parent);
      // bundle/ inside a private 0700 dir: whatever mode the archive gives its own root, no
      // other user can reach what was extracted.
      expect(dirname(dirname(x.dir))).toBe(parent);
      expect(statSync(dirname(x.dir)).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(x.dir, 'boundary.yaml'), 'utf8')).toBe(MANIFEST);
      expect(readFileSync(join(x.dir, 'lib/h.txt'), 'utf8'), 'a hard link inside the bundle is fine').toBe('x');
      x.cleanup();
      expect(existsSync(x.dir)).toBe(false);
      expect(readdirSync(parent)).toEqual([]);
    }
  });

  kit('extracts a bundle with symlinks that stay inside', () => {
    const dir = tempDir();
    const tar = join(dir, 'b.tar');
    writeTar(tar, [{ name: 'boundary.yaml', data: MANIFEST }, { name: 'lib/', type: '5' }, { name: 'lib/a.txt', data: 'x' }, link('link', 'lib/a.txt')]);
    const x = extractTarBundle(tar, undefined, dir);
    expect(readFileSync(join(x.dir, 'link'), 'utf8')).toBe('x');
    x.cleanup();
  });

  it('refuses absolute paths', () => refused([{ name: '/tmp/pwned', data: 'x' }], { entry: '/tmp/pwned', pattern: /absolute/ }));
  it('refuses a NUL in a name or a link target (a GNU long name keeps one after a newline)', () => {
    // The package drops a name's first NUL and what follows it up to a newline: the second stays.
    refused([{ name: '././@LongLink', type: 'L', data: 'a\0\n/..\0x' }, link('ignored', 'x')], { entry: 'a\n/..\\0x', pattern: /has a NUL byte in its name or link target/ });
    refused([{ name: '././@LongLink', type: 'K', data: 'x\0\ny\0z' }, link('l', 'ignored')], { entry: 'l', pattern: /has a NUL byte/ });
  });
  it('refuses .. in paths', () => refused([{ name: 'a/../../tmp/pwned', data: 'x' }], { entry: 'a/../../tmp/pwned', pattern: /climbs/ }));
  kit('refuses symlinks to absolute targets', () => refused([link('l', '/etc')], { entry: 'l', pattern: /"l" links to an absolute path \(\/etc\)/ }));
  kit('refuses symlinks that climb out', () => refused([{ name: 'a/', type: '5' }, link('a/l', '../../etc')], { entry: 'a/l', pattern: /outside/ }));
  kit('refuses the r -> . / esc -> r/.. pair', () => refused([link('r', '.'), link('esc', 'r/..')], { entry: 'esc', pattern: /"esc" links outside the bundle \(r\/\.\.\)/ }));
  it('refuses entries written through an archive symlink', () => refused([link('d', '.'), { name: 'd/x', data: 'x' }], { entry: 'd/x', pattern: /reached through the symlink d/ }));
  it('refuses entries under a name the archive makes a symlink LATER', () => refused([{ name: 'd/', type: '5' }, { name: 'd/x', data: 'x' }, link('d', '.')], { entry: 'd/x', pattern: /reached through the symlink d/ }));
  it('refuses a symlink that replaces the bundle root', () => refused([link('./', 'x')], { entry: './', pattern: /bundle root/ }));
  it('refuses hard links that leave the bundle', () => refused([{ name: 'h', type: '1', link: '../../etc/passwd' }], { entry: 'h', pattern: /outside/ }));
  it('refuses character devices', () => refused([{ name: 'null', type: '3' }], { entry: 'null', pattern: /CharacterDevice/ }));
  it('refuses block devices', () => refused([{ name: 'sda', type: '4' }], { entry: 'sda', pattern: /BlockDevice/ }));
  it('refuses FIFOs', () => refused([{ name: 'fifo', type: '6' }], { entry: 'fifo', pattern: /FIFO/ }));
  it('refuses archives that unpack too large', () => refused([{ name: 'big', size: 2 << 20 }], { code: 'BV_BUNDLE_TAR_TOO_LARGE' }));
  it('refuses archives with too many entries', () => refused(Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, data: 'x' })), { code: 'BV_BUNDLE_TAR_TOO_LARGE' }));
  it('refuses garbage with a coded error', () => {
    const dir = tempDir();
    const p = join(dir, 'junk.tar.gz');
    writeFileSync(p, Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]));
    expect(() => checkTar(p)).toThrowError(expect.objectContaining({ code: 'BV_BUNDLE_TAR_INVALID' }));
  });
});

describe('set-id files and the extraction root (issue 9)', () => {
  it('clears set-user-ID and set-group-ID bits as it writes (no_new_privs makes them inert inside); the post-check refuses any left', () => {
    const { parent, tar } = archiveIn([
      { name: 'boundary.yaml', data: MANIFEST },
      { name: 'bin/', type: '5' },
      { name: 'bin/su', data: 'x', mode: 0o4755 },
      { name: 'bin/wall', data: 'x', mode: 0o2755 },
      { name: 'var/mail/', type: '5', mode: 0o3775 },
    ]);
    const x = extractTarBundle(tar, undefined, parent);
    try {
      // Oracle: the disk.
      expect(statSync(join(x.dir, 'bin/su')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(x.dir, 'bin/wall')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(x.dir, 'var/mail')).mode & 0o7777, 'the sticky bit stays').toBe(0o1775);
    } finally {
      x.cleanup();
    }
    // Red twin: the `tar` package alone (as root) writes root's set-user-ID program, which the
    // post-extraction check refuses.
    const raw = rawUnpack([{ name: 'su', data: 'x', mode: 0o4755 }]);
    expect(statSync(join(raw, 'su')).mode & 0o7777).toBe(0o4755);
    expectRefusal(() => verifyExtractedTree(raw, 'raw.tar'), { entry: 'su', pattern: /"su" has set-user-ID or set-group-ID bits/ });
  });

  it('an extraction that fails and cannot remove its temp dir throws its own error, and says beside it what it left behind', () => {
    const { parent, tar } = archiveIn([{ name: 'boundary.yaml', data: MANIFEST }]);
    const unpin = pinExtracted(parent, () => {
      throw new Error('the disk failed');
    });
    const err = thrown(() => {
      try {
        extractTarBundle(tar, undefined, parent);
      } finally {
        unpin();
      }
    });
    const removal = `remove ${join(parent, readdirSync(parent)[0]!)}: EPERM (1 directories down)`;
    expect(err).toMatchObject({ code: 'BV_BUNDLE_TAR_INVALID', detail: { cleanup: removal } });
    expect(err.message).toBe(`${tar}: cannot extract: the disk failed; cleaning up after it failed too: ${removal}`);
  });

  it('a tar bundle whose manifest is refused keeps the refusal (file:line:col) when its temp dir cannot be removed', () => {
    const { parent, tar } = archiveIn([{ name: 'boundary.yaml', data: 'bvisorVersion: "1"\nworkload: [\n' }]);
    // The refusal as it reads when the temp dir goes (extracted under the default parent).
    const plain = thrown(() => validateBundle(tar));
    expect(plain).toMatchObject({ code: 'BV_MANIFEST_INVALID', issues: [{ code: 'BV_YAML_SYNTAX', file: `${tar}/boundary.yaml`, line: 3, col: 1 }] });
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = parent; // where extractTarBundle puts it by default (os.tmpdir())
    const unpin = pinExtracted(parent);
    const err = thrown(() => {
      try {
        validateBundle(tar);
      } finally {
        unpin();
        if (tmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = tmp;
      }
    });
    const removal = `remove ${join(parent, readdirSync(parent)[0]!)}: EPERM (1 directories down)`;
    expect(err).toMatchObject({ code: 'BV_MANIFEST_INVALID', issues: plain.issues, detail: { cleanup: removal } });
    expect(err.message).toBe(`${plain.message}; cleaning up after it failed too: ${removal}`);
  });

  it('an archive whose ./ is mode 0777 cannot open the private dir to others', () => {
    const dir = tempDir();
    const parent = join(dir, 'parent');
    mkdirSync(parent);
    const tar = join(dir, 'w.tar');
    writeTar(tar, [{ name: './', type: '5', mode: 0o777 }, { name: 'boundary.yaml', data: MANIFEST }]);
    const x = extractTarBundle(tar, undefined, parent);
    try {
      expect(statSync(dirname(x.dir)).mode & 0o777).toBe(0o700);
      // Oracle: uid 65534 cannot list it (the kernel's permission check, not ours).
      expect(spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'ls', x.dir]).status).not.toBe(0);
    } finally {
      x.cleanup();
    }
  });
});

describe('chained relative symlinks (issue 9)', () => {
  // Each link alone, judged against the links made before it, stays inside: `a -> b/..` comes
  // before b is a symlink, `a2 -> b2/..` before b2 is. The kernel expands b before applying
  // `..`: b -> a2 -> b2/.. -> (root)/.. so a is the root's grandparent, and so is d/q.
  const CHAIN: RawEntry[] = [{ name: 'd/', type: '5' }, link('d/q', '../a'), link('a', 'b/..'), link('b', 'a2'), link('a2', 'b2/..'), link('b2', '.')];
  // The same links in another order the old order-dependent check also accepted.
  const SHUFFLED: RawEntry[] = [link('a2', 'b2/..'), { name: 'd/', type: '5' }, link('a', 'b/..'), link('b2', '.'), link('d/q', '../a'), link('b', 'a2')];
  // And fully reversed (each link made after what it passes through).
  const REVERSED: RawEntry[] = [link('b2', '.'), link('a2', 'b2/..'), link('b', 'a2'), link('a', 'b/..'), { name: 'd/', type: '5' }, link('d/q', '../a')];

  kit('refuses the chained archive in any order, naming the first link (breadth-first, by name) the kernel resolves outside', () => {
    // Symlinks are made after every other entry, so each order leaves the same tree.
    for (const entries of [CHAIN, SHUFFLED, REVERSED]) refused(entries, { entry: 'a', pattern: /"a" links outside the bundle \(b\/\.\.\)/ });
  });

  kit('the kernel resolves it outside the root; JS realpath (the old post-check) said inside; the new post-check refuses', () => {
    // The `tar` package alone unpacks CHAIN: its own guard (no existing symlink on the
    // textually resolved target) is order-dependent too. (It happens to stop SHUFFLED and
    // REVERSED, which leave the same tree; the kernel's verdict below is about that tree.)
    const root = rawUnpack(CHAIN);
    const grandparent = dirname(dirname(root));
    // Oracle: the kernel, without RESOLVE_BENEATH, lands on the root's grandparent…
    expect(kernelResolve(root, 'd/q', 0)).toBe(grandparent);
    expect(kernelResolve(root, 'a', 0)).toBe(grandparent);
    // …and with it refuses to leave the root.
    expect(kernelResolve(root, 'd/q', RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)).toBe(-EXDEV);
    expect(kernelResolve(root, 'a', RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)).toBe(-EXDEV);
    // The old post-extraction judgement (fs.realpathSync, which applies `..` textually after
    // expanding each link) was fooled: it places d/q at the root.
    expect(realpathSync(join(root, 'd/q'))).toBe(root);
    // The new one asks the kernel; breadth-first in name order, `a` is the first escaping link.
    expectRefusal(() => verifyExtractedTree(root, 'chain.tar'), { entry: 'a', pattern: /"a" links outside the bundle \(b\/\.\.\)/ });
  });

  kit('accepts inside-pointing chains (lib -> usr/lib, usr/lib/x -> ../share/x)', () => {
    const dir = tempDir();
    const tar = join(dir, 'b.tar');
    writeTar(tar, [
      { name: 'boundary.yaml', data: MANIFEST },
      link('lib', 'usr/lib'),
      { name: 'usr/', type: '5' },
      { name: 'usr/lib/', type: '5' },
      link('usr/lib/x', '../share/x'),
      { name: 'usr/share/', type: '5' },
      { name: 'usr/share/x', data: 'shared' },
      link('usr/lib/y', '../share/later'), // dangling, stays inside
    ]);
    const x = extractTarBundle(tar, undefined, dir);
    try {
      expect(readFileSync(join(x.dir, 'lib/x'), 'utf8')).toBe('shared');
      expect(kernelResolve(x.dir, 'lib/x', RESOLVE_BENEATH)).toBe(join(realpathSync(x.dir), 'usr/share/x'));
    } finally {
      x.cleanup();
    }
    expect(existsSync(x.dir)).toBe(false);
  });
});

describe('links inside a rootfs (an image export is full of absolute links)', () => {
  const ROOTFS_MANIFEST = 'bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/sh }\n';
  // Shapes from real images: Alpine's /bin/sh -> /bin/busybox, docker's init layer's
  // /etc/mtab -> /proc/mounts (dangling here), merged /usr (lib -> usr/lib) with an absolute link
  // that passes through it, and a link that climbs (inside the root, `..` stops at it).
  const IMAGE_LINKS: Array<[string, string]> = [
    ['bin/sh', '/bin/busybox'],
    ['etc/mtab', '/proc/mounts'],
    ['lib', 'usr/lib'],
    ['usr/lib64/ld.so', '/lib/x86_64/ld.so'],
    ['usr/bin/env', '../../bin/busybox'],
    ['up', '../../../../..'],
  ];
  const image = (at: string): RawEntry[] => [
    { name: `${at}/`, type: '5' },
    { name: `${at}/bin/busybox`, data: 'bb', mode: 0o755 },
    { name: `${at}/usr/lib/x86_64/ld.so`, data: 'ld' },
    ...IMAGE_LINKS.map(([n, t]) => link(`${at}/${n}`, t)),
  ];

  /** openBundle (which reads the manifest for where the rootfs is) on an archive of `entries`,
   * extracted under a parent only this test uses; `then` runs on it, or on its refusal. */
  function openTar(entries: RawEntry[], then: (b: OpenBundle) => void): void {
    const { parent, tar } = archiveIn(entries);
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = parent; // where openBundle extracts (os.tmpdir())
    let b: OpenBundle | null = null;
    try {
      b = openBundle(tar);
      then(b);
    } finally {
      b?.cleanup();
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
      expect(readdirSync(parent), 'nothing is left behind').toEqual([]);
    }
  }
  const refusedTar = (entries: RawEntry[], want: Expect): BvisorError => expectRefusal(() => openTar(entries, () => {}), want);

  kit('are kept exactly as archived, and the kernel resolves each within the root (RESOLVE_IN_ROOT)', () => {
    openTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs')], (b) => {
      const rootfs = join(b.dir, 'rootfs');
      // Oracle: the disk. (The `tar` package alone would have written `bin/sh -> bin/busybox`.)
      for (const [n, t] of IMAGE_LINKS) expect(readlinkSync(join(rootfs, n)), n).toBe(t);
      // Oracle: the kernel, resolving as the workload will after pivot_root.
      const real = realpathSync(rootfs);
      expect(kernelResolve(rootfs, 'bin/sh', RESOLVE_IN_ROOT)).toBe(join(real, 'bin/busybox'));
      expect(kernelResolve(rootfs, 'usr/lib64/ld.so', RESOLVE_IN_ROOT)).toBe(join(real, 'usr/lib/x86_64/ld.so'));
      expect(kernelResolve(rootfs, 'up', RESOLVE_IN_ROOT)).toBe(real);
      // The same links judged from the bundle leave it: what they would be refused for elsewhere.
      expect(kernelResolve(b.dir, 'rootfs/bin/sh', RESOLVE_BENEATH)).toBe(-EXDEV);
    });
  });

  kit('outside the rootfs they are refused: at the top, beside it under a name that starts like it, or with no rootfs at all', () => {
    const want = (entry: string, pattern: RegExp): Expect => ({ entry, pattern });
    // (Breadth-first by name, `up` is met before `bin/sh` in each tree.)
    for (const [entries, w] of [
      [[{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), link('mtab', '/proc/mounts')], want('mtab', /"mtab" links to an absolute path \(\/proc\/mounts\)/)],
      [[{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), ...image('rootfs2')], want('rootfs2/up', /"rootfs2\/up" links outside the bundle \(\.\.\/\.\.\/\.\.\/\.\.\/\.\.\)/)],
      [[{ name: 'boundary.yaml', data: MANIFEST }, ...image('rootfs')], want('rootfs/up', /"rootfs\/up" links outside the bundle/)],
    ] as Array<[RawEntry[], Expect]>) {
      expect(refusedTar(entries, w).hint).toMatch(/outside the rootfs must stay inside the bundle/);
    }
  });

  kit('a rootfs the manifest reaches through a bundle symlink (rootfs -> images/base) is where its links may be', () => {
    const entries = [{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, { name: 'images/', type: '5' }, ...image('images/base'), link('rootfs', 'images/base')] as RawEntry[];
    openTar(entries, (b) => expect(readlinkSync(join(b.dir, 'images/base/bin/sh'))).toBe('/bin/busybox'));
  });

  kit('an OCI bundle: the root.path of config.json names the rootfs', () => {
    const config = JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/sh'], cwd: '/' } });
    openTar([{ name: 'config.json', data: config }, ...image('rootfs')], (b) => expect(readlinkSync(join(b.dir, 'rootfs/etc/mtab'))).toBe('/proc/mounts'));
    // An absolute root.path is a host path: nothing in the archive is its rootfs.
    const hostRoot = JSON.stringify({ ociVersion: '1.0.2', root: { path: '/srv/rootfs' }, process: { args: ['/bin/sh'], cwd: '/' } });
    refusedTar([{ name: 'config.json', data: hostRoot }, ...image('rootfs')], { entry: 'rootfs/up', pattern: /outside the bundle/ });
  });

  kit('device nodes (as debootstrap and mmdebstrap archive /dev) are allowed in the rootfs\'s dev/ only, and never written', () => {
    const dev = (name: string, type: '3' | '4' = '3'): RawEntry => ({ name, type });
    openTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), { name: 'rootfs/dev/', type: '5' }, dev('rootfs/dev/null'), dev('rootfs/dev/sda', '4'), { name: 'rootfs/dev/pts/', type: '5' }], (b) => {
      // Oracle: the disk. The directory is there; no node was made.
      expect(readdirSync(join(b.dir, 'rootfs/dev'))).toEqual(['pts']);
    });
    refusedTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), dev('rootfs/etc/null')], { entry: 'rootfs/etc/null', pattern: /"rootfs\/etc\/null" is a CharacterDevice; only files, directories and links are allowed/ });
    refusedTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), dev('dev/null')], { entry: 'dev/null', pattern: /CharacterDevice/ });
    // A hard link to a node that is not written is refused before anything is.
    refusedTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, ...image('rootfs'), dev('rootfs/dev/null'), { name: 'rootfs/etc/hl', type: '1', link: 'rootfs/dev/null' }], { entry: 'rootfs/etc/hl', pattern: /"rootfs\/etc\/hl" hard-links the device node rootfs\/dev\/null, which is not written/ });
    // No rootfs: nowhere is a device's place.
    refusedTar([{ name: 'boundary.yaml', data: MANIFEST }, dev('rootfs/dev/null')], { entry: 'rootfs/dev/null', pattern: /CharacterDevice/ });
  });

  kit('a root.path that is a link to the bundle itself (r -> .) gives no link a leave', () => {
    const m = 'bvisorVersion: "1"\nroot: { path: r }\nworkload:\n  process: { exe: /bin/sh }\n';
    refusedTar([{ name: 'boundary.yaml', data: m }, link('r', '.'), link('evil', '/etc')], { entry: 'evil', pattern: /"evil" links to an absolute path \(\/etc\)/ });
  });

  kit('a manifest that cannot be read is refused as itself, with its location, not as a link', () => {
    const e = expectRefusal(() => openTar([{ name: 'boundary.yaml', data: 'bvisorVersion: "1"\nroot: [\n' }, ...image('rootfs')], () => {}), { code: 'BV_MANIFEST_INVALID' });
    expect(e.issues?.[0]).toMatchObject({ code: 'BV_YAML_SYNTAX', line: 3, col: 1 });
  });

  kit('a symlink named twice, or placed beneath a file of the archive, is refused', () => {
    refusedTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, { name: 'rootfs/x', data: 'file' }, link('rootfs/x', '/etc')], { entry: 'rootfs/x', pattern: /named twice in the archive/ });
    refusedTar([{ name: 'boundary.yaml', data: ROOTFS_MANIFEST }, { name: 'rootfs/f', data: 'file' }, link('rootfs/f/l', 'x')], { entry: 'rootfs/f/l', pattern: /cannot be placed: its directory rootfs\/f is not one \(ENOTDIR\)/ });
  });
});

describe('post-extraction check (kernel-resolved)', () => {
  kit('a self-loop passes the lexical checks and the tar package, is refused after extraction (ELOOP), and nothing is left', () => {
    refused([{ name: 'd/', type: '5' }, link('d/l', '../d/l')], { entry: 'd/l', pattern: /"d\/l" cannot be resolved inside the bundle \(\.\.\/d\/l: ELOOP\)/ });
  });

  it('refuses a hard link to an archive symlink before extracting', () => {
    refused([{ name: 'd/', type: '5' }, link('d/s', '..'), { name: 'h', type: '1', link: 'd/s' }], { entry: 'h', pattern: /hard-links the symlink d\/s/ });
  });

  kit('a hard link to a symlink re-anchors its text: the kernel resolves it outside, the post-check refuses', () => {
    const root = join(tempDir(), 'root');
    mkdirSync(join(root, 'd'), { recursive: true });
    symlinkSync('..', join(root, 'd/s'));
    linkSync(join(root, 'd/s'), join(root, 'h')); // link(2) does not follow: h is a symlink `..` at the root
    expect(lstatSync(join(root, 'h')).isSymbolicLink()).toBe(true);
    expect(kernelResolve(root, 'h', RESOLVE_BENEATH)).toBe(-EXDEV);
    expectRefusal(() => verifyExtractedTree(root, 'h.tar'), { entry: 'h', pattern: /"h" links outside the bundle \(\.\.\)/ });
  });

  kit('judges a dangling link lexically from its kernel-resolved directory', () => {
    const root = join(tempDir(), 'root');
    mkdirSync(join(root, 'd'), { recursive: true });
    symlinkSync('missing/../../..', join(root, 'd/l'));
    expectRefusal(() => verifyExtractedTree(root, 't.tar'), { entry: 'd/l', pattern: /links outside the bundle \(missing\/\.\.\/\.\.\/\.\.\)/ });
  });

  kit('refuses a dangling link that escapes once its missing name exists (kernel: EXDEV after mkdir)', () => {
    const root = join(tempDir(), 'p', 'root');
    mkdirSync(join(root, 'x'), { recursive: true });
    symlinkSync('..', join(root, 'x/s'));
    // Lexically from x: x/s/missing/../.. is x itself; the kernel expands s to the root first.
    symlinkSync('s/missing/../..', join(root, 'x/l'));
    expectRefusal(() => verifyExtractedTree(root, 't.tar'), { entry: 'x/l', pattern: /dangling at missing/ });
    mkdirSync(join(root, 'missing'));
    expect(kernelResolve(root, 'x/l', RESOLVE_BENEATH)).toBe(-EXDEV);
    expect(kernelResolve(root, 'x/l', 0)).toBe(realpathSync(dirname(root)));
  });

  kit('accepts a dangling link that stays inside', () => {
    const root = join(tempDir(), 'root');
    mkdirSync(join(root, 'out'), { recursive: true });
    symlinkSync('run-1/result', join(root, 'out/latest'));
    symlinkSync('../out/run-2', join(root, 'out/next'));
    expect(() => verifyExtractedTree(root, 't.tar')).not.toThrow();
  });

  it('refuses a file hard-linked to one outside the tree', () => {
    const dir = tempDir();
    const root = join(dir, 'root');
    mkdirSync(root);
    writeFileSync(join(dir, 'secret'), 's');
    linkSync(join(dir, 'secret'), join(root, 'f'));
    expectRefusal(() => verifyExtractedTree(root, 't.tar'), { entry: 'f', pattern: /hard-linked to a file outside the bundle \(2 links, 1 inside\)/ });
  });

  kit('refuses anything but files, directories and links', () => {
    const root = join(tempDir(), 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    expect(shim().bv_mkfifo(join(root, 'sub/fifo'), 0o600)).toBe(0);
    expectRefusal(() => verifyExtractedTree(root, 't.tar'), { entry: 'sub/fifo', pattern: /not a file, directory or link/ });
  });
});

describe('streaming (issue 10): bounded memory, the same bytes', () => {
  // Sizes around the 512-byte block, the 16 KiB input step and the 256 KiB output buffer of
  // the pump; random content (gzip cannot shrink it) and zeros (gzip shrinks it ~1000:1, so one
  // input step overfills the output buffer).
  const SIZES = [0, 1, 511, 512, 513, 4095, 16384, 65536, 262143, 262144, 262145, 300_001, 1_000_003];

  function sourceTree(): { dir: string; files: Map<string, Buffer> } {
    const dir = tempDir();
    const files = new Map<string, Buffer>([['boundary.yaml', Buffer.from(MANIFEST)]]);
    SIZES.forEach((n, i) => {
      files.set(`rand/${i}`, randomBytes(n));
      files.set(`zero/${i}`, Buffer.alloc(n));
    });
    for (const [name, data] of files) {
      mkdirSync(join(dir, dirname(name)), { recursive: true });
      writeFileSync(join(dir, name), data);
    }
    return { dir, files };
  }

  it('extracts exactly what was archived, plain and gzipped, whatever the sizes', () => {
    const { dir: src, files } = sourceTree();
    const out = tempDir();
    for (const gzip of [false, true]) {
      const archive = join(out, gzip ? 'b.tar.gz' : 'b.tar');
      createTar({ file: archive, cwd: src, gzip, sync: true, portable: true }, [...files.keys()]);
      const x = extractTarBundle(archive, undefined, out);
      for (const [name, data] of files) expect(readFileSync(join(x.dir, name)).equals(data), `${gzip ? 'gz ' : ''}${name} (${data.length} bytes)`).toBe(true);
      x.cleanup();
    }
    expect(readdirSync(out).filter((n) => n.startsWith('bvisor-bundle-'))).toEqual([]);
  });

  it('reads a gzip stream made of several members as one archive', () => {
    const { dir: src, files } = sourceTree();
    const d = tempDir();
    createTar({ file: join(d, 'plain.tar'), cwd: src, sync: true, portable: true }, [...files.keys()]);
    const raw = readFileSync(join(d, 'plain.tar'));
    const cut = 512 * 700 + 17;
    writeFileSync(join(d, 'multi.tar.gz'), Buffer.concat([gzipSync(raw.subarray(0, cut)), gzipSync(raw.subarray(cut))]));
    const x = extractTarBundle(join(d, 'multi.tar.gz'), undefined, d);
    expect(readFileSync(join(x.dir, 'rand/12')).equals(files.get('rand/12')!)).toBe(true);
    x.cleanup();
  });

  it('refuses truncated or corrupt streams with BV_BUNDLE_TAR_INVALID, leaving nothing', () => {
    const d = tempDir();
    writeTar(join(d, 'ok.tar'), [{ name: 'boundary.yaml', data: MANIFEST }, { name: 'x', data: 'y'.repeat(3000) }]);
    const raw = readFileSync(join(d, 'ok.tar'));
    const gz = gzipSync(raw);
    const corrupt = Buffer.from(gz);
    corrupt[gz.length >> 1] = corrupt[gz.length >> 1]! ^ 0xff;
    const parent = join(d, 'parent');
    mkdirSync(parent);
    for (const [name, bytes] of [
      ['trunc.tar.gz', gz.subarray(0, gz.length - 12)],
      ['trunc.tar', raw.subarray(0, 1000)],
      ['corrupt.tar.gz', corrupt],
      ['trailing-garbage.tar.gz', Buffer.concat([gz, Buffer.from('not gzip')])],
      ['empty.tar', Buffer.alloc(0)],
    ] as const) {
      writeFileSync(join(d, name), bytes);
      expectRefusal(() => extractTarBundle(join(d, name), undefined, parent), { code: 'BV_BUNDLE_TAR_INVALID' });
      expect(readdirSync(parent), name).toEqual([]);
    }
  });

  it('refuses a stream longer than its limits can need before inflating the rest (zeros after the end blocks)', () => {
    const d = tempDir();
    writeTar(join(d, 'ok.tar'), [{ name: 'boundary.yaml', data: MANIFEST }]);
    const padded = Buffer.concat([readFileSync(join(d, 'ok.tar')), Buffer.alloc(8 << 20)]);
    const parent = join(d, 'parent');
    mkdirSync(parent);
    writeFileSync(join(d, 'padded.tar.gz'), gzipSync(padded));
    expectRefusal(() => extractTarBundle(join(d, 'padded.tar.gz'), { maxBytes: 1 << 20, maxEntries: 50 }, parent), { code: 'BV_BUNDLE_TAR_TOO_LARGE' });
    expect(readdirSync(parent)).toEqual([]);
    // Within the default limits the same padding is harmless.
    const x = extractTarBundle(join(d, 'padded.tar.gz'), undefined, parent);
    x.cleanup();
  });

  it('of several problems, the first entry in the archive is named, whatever the kind of its problem', () => {
    refused([{ name: 'h', type: '1', link: '/etc/passwd' }, { name: 'd/x', data: 'x' }, link('d', '.')], { entry: 'h', pattern: /absolute/ });
    // A symlink's target is judged once the tree is complete: after every entry's own problem.
    refused([link('a', '/etc'), { name: 'd/x', data: 'x' }, link('d', '.')], { entry: 'd/x', pattern: /reached through the symlink d/ });
    refused([{ name: 'd/x', data: 'x' }, link('d', '.'), link('a', '/etc')], { entry: 'd/x', pattern: /reached through the symlink d/ });
    // One entry with two problems: reached through a symlink is reported before its own target.
    refused([link('d', '.'), link('d/l', '/etc')], { entry: 'd/l', pattern: /reached through the symlink d/ });
    // The outermost symlink on the way is named.
    refused([{ name: 'a/b/c/x', data: 'x' }, link('a/b', '.'), link('a', '.')], { entry: 'a/b/c/x', pattern: /through the symlink a$/ });
  });
});
