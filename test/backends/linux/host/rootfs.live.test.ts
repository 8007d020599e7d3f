// Container mode's host-side reads of the rootfs (src/backends/linux/host/rootfs.ts): bvisor, as
// root, looks at the rootfs only beneath its descriptor with no symlink followed, so a rootfs link
// never makes it look up (or create) anything on the host. Oracles: the rights it derives from
// what it saw, and the disk.
import { mkdirSync, symlinkSync, writeFileSync, existsSync, chownSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rootfsRules, prepareCwd } from '../../../../src/backends/linux/host/rootfs.js';
import { shim, O } from '../../../../src/backends/linux/ffi/shim.js';
import type { LaunchInputs } from '../../../../src/contract/generated/types.js';
import { tempDir } from '../../../helpers/tmp.js';

function withRoot<T>(rootfs: string, fn: (fd: number) => T): T {
  const fd = shim().bv_openat2(-100, rootfs, O.PATH | O.DIRECTORY, 0, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  try {
    return fn(fd);
  } finally {
    shim().bv_close(fd);
  }
}

/** prepareCwd on `rootfs` for a container whose layout mounts nothing but its root. */
function prepareIn(rootfs: string, cwd: string): void {
  const launch = { workload: { cwd }, layout: [{ target: '/', kind: 'root' }] } as unknown as LaunchInputs;
  withRoot(rootfs, (fd) => prepareCwd(fd, launch));
}

describe('host-side reads of a rootfs follow none of its links', () => {
  it('a narrowing rule on a rootfs link to a host directory is judged as the link it is, not by the host directory', () => {
    const dir = tempDir('bvisor-rootfs-rules-');
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs);
    const hostDir = join(dir, 'host-dir');
    mkdirSync(hostDir);
    symlinkSync(hostDir, join(rootfs, 'x'));
    mkdirSync(join(rootfs, 'real'));
    writeFileSync(join(rootfs, 'f'), 'y');
    const asked = ['READ_FILE', 'READ_DIR'];
    const launch = { oci: { rootRules: ['/x', '/real', '/f'].map((target) => ({ target, rights: asked })) } } as unknown as LaunchInputs;
    const rules = withRoot(rootfs, (fd) => rootfsRules(fd, launch));
    // Following the link would have looked up the host directory (as root) and kept READ_DIR;
    // seen as a link, it gets a file's rights (and the child skips a rule on a link anyway).
    // Controls: the rootfs's own directory and file, judged by what they are.
    expect(rules).toEqual([
      { target: '/x', rights: ['READ_FILE'] },
      { target: '/real', rights: asked },
      { target: '/f', rights: ['READ_FILE'] },
    ]);
  });

  it('a missing cwd is made inside the root through the rootfs\'s own absolute link, never on the host', () => {
    const dir = tempDir('bvisor-rootfs-cwd-');
    const rootfs = join(dir, 'rootfs');
    const host = join(dir, 'host');
    mkdirSync(join(rootfs, 'inside'), { recursive: true });
    mkdirSync(host);
    // An absolute link: inside the root it is <rootfs>/inside; followed on the host, <dir>/host.
    symlinkSync(`/inside`, join(rootfs, 'l'));
    symlinkSync(host, join(rootfs, 'inside', 'hostlink'));
    prepareIn(rootfs, '/l/a/b');
    expect(existsSync(join(rootfs, 'inside/a/b'))).toBe(true);
    // A link to a host path is resolved in the root too: /<dir>/host does not exist there.
    prepareIn(rootfs, '/inside/hostlink/c');
    expect(existsSync(join(host, 'c')), 'nothing made on the host').toBe(false);
  });

  it('a missing cwd is made owned as the directory it is made in (a rootfs of uid 1000 gets 1000\'s)', () => {
    const rootfs = join(tempDir('bvisor-rootfs-own-'), 'rootfs');
    mkdirSync(join(rootfs, 'home'), { recursive: true });
    chownSync(join(rootfs, 'home'), 1000, 1001);
    prepareIn(rootfs, '/home/app/src');
    for (const d of ['home/app', 'home/app/src']) expect([statSync(join(rootfs, d)).uid, statSync(join(rootfs, d)).gid], d).toEqual([1000, 1001]);
  });

  it('a mount inside the rootfs is not crossed: bvisor (root) makes nothing on it (RESOLVE_NO_XDEV)', () => {
    const dir = tempDir('bvisor-rootfs-xdev-');
    const rootfs = join(dir, 'rootfs');
    const decoy = join(dir, 'decoy');
    mkdirSync(join(rootfs, 'mnt'), { recursive: true });
    mkdirSync(decoy);
    const m = spawnSync('mount', ['--bind', decoy, join(rootfs, 'mnt')], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    try {
      prepareIn(rootfs, '/mnt/made');
      expect(existsSync(join(decoy, 'made'))).toBe(false);
    } finally {
      spawnSync('umount', [join(rootfs, 'mnt')]);
    }
  });
});
