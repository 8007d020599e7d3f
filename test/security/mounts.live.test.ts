// Issue 9, attack 9: in container mode with `readonly: false`, submounts under a read grant
// stayed writable (the bind was recursive, its read-only remount was not), and a landlock rule
// for / with write rights widened every read grant. Now every bind is a detached copy of the
// whole tree made read-only with mount_setattr(AT_RECURSIVE), and no landlock rule is wider
// than a grant (the rootfs gets rules on its own entries, never on "/"; a grant nested in a
// wider one is refused). Oracles: the probe's errnos, the host disk, layers peeled off.
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tryOps, PROBE, facts, E, probeBundle, probeRootfs } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';

const mounted: string[] = [];
afterEach(() => {
  while (mounted.length) spawnSync('umount', ['-l', mounted.pop()!]);
});

/** A read grant holding a writable tmpfs submount (as a host might have under /srv). */
function grantWithSubmount(): { g: string; sub: string } | null {
  const g = tempDir('bvisor-submnt-');
  chmodSync(g, 0o755);
  const sub = join(g, 'sub');
  mkdirSync(sub);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=1777,size=1m', 'bvisor-test', sub]).status !== 0) return null;
  mounted.push(sub);
  return { g, sub };
}

const writable = (hooks: LaunchHooks): LaunchHooks => ({ ...hooks, mutateLaunch: (l) => void l.layout.forEach((e) => e.kind === 'bind' && e.options && (e.options = e.options.map((o) => (o === 'ro' ? 'rw' : o)))) });

describe('attack 9: read grants stay read-only all the way down, and landlock never widens them', () => {
  it('host mode: a submount under a read grant is read-only too', async () => {
    const m = grantWithSubmount();
    if (!m) return skipOrFail('root', 'mounting a tmpfs for the test failed');
    const fs = [`  - { path: ${m.g}, access: read }`];
    const ops = [['open', join(m.sub, 'x'), 'c']];
    expect(await tryOps(ops, '', { filesystem: fs })).toEqual([E.ROFS]);
    expect(await tryOps(ops, '', { filesystem: fs, hooks: writable({}) })).toEqual([E.ACCES]); // landlock
    // Red twin: a writable bind without landlock lets the write through to the host's tmpfs.
    expect(await tryOps(ops, '', { filesystem: fs, hooks: writable({ noLandlock: true }) })).toEqual([0]);
    expect(existsSync(join(m.sub, 'x'))).toBe(true);
  });

  it('container mode, readonly: false: a read grant is read-only, and landlock alone still refuses writes to it', async () => {
    if (!existsSync('/bin/busybox')) return skipOrFail('busybox', '/bin/busybox is missing');
    const { dir: d, rootfs: r } = probeRootfs('bvisor-rwroot-');
    mkdirSync(join(r, 'work'));
    // A writable rootfs is written as the workload's id: a regular user's rootfs is bridged by
    // an idmapped mount (a root-owned one would be refused).
    for (const p of [r, join(r, 'bin'), join(r, 'work')]) chownSync(p, 1000, 1000);
    const shared = tempDir('bvisor-shared-');
    chmodSync(shared, 0o1777); // the mode bits would allow anyone: only the boundary says read
    writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs, readonly: false }\nworkload:\n  process: { exe: /bin/bvprobe, args: [try, open, /work/ok, c, ",", open, ${shared}/x, c] }\nfilesystem:\n  - { path: ${shared}, access: read }\nstdio: { stdout: capture, stderr: capture }\n`);
    const go = async (hooks?: LaunchHooks): Promise<number[]> => JSON.parse((await runLoaded(loadBundle(d), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), ...(hooks ? { hooks } : {}) })).stdout!.toString());
    expect(await go()).toEqual([0, E.ROFS]); // the writable rootfs works; the read grant does not
    expect(await go(writable({}))).toEqual([0, E.ACCES]); // landlock: no rule wider than the grant
    expect(await go(writable({ noLandlock: true }))).toEqual([0, 0]); // red twin
    expect(existsSync(join(shared, 'x'))).toBe(true);
  });

  it('a grant inside a wider one is refused: landlock would widen it', async () => {
    const outer = tempDir('bvisor-outer-');
    chmodSync(outer, 0o1777);
    mkdirSync(join(outer, 'inner'));
    const b = loadBundle(probeBundle(['exit', '0'], '', { filesystem: [`  - { path: ${outer}, access: read-write }`, `  - { path: ${join(outer, 'inner')}, access: read }`] }));
    await expect(runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() })).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[3]', code: 'BV_PLAN_GRANT_NESTED' })] });
  });
});

describe('found by attacking the change: what the planner admits, the launcher can build', () => {
  it('250 grants launch (the body bounds are above what a manifest may ask)', async () => {
    const base = tempDir('bvisor-many-');
    chmodSync(base, 0o755);
    const fs: string[] = [];
    for (let i = 0; i < 250; i++) {
      mkdirSync(join(base, `d${i}`));
      fs.push(`  - { path: ${join(base, `d${i}`)}, access: read }`);
    }
    expect(await tryOps([['stat', join(base, 'd249')], ['stat', join(base, 'nope')]], '', { filesystem: fs })).toEqual([0, E.NOENT]);
  });

  it('container mode: a grant mounted inside another grant’s mount, where it has no directory, is refused', async () => {
    const d = tempDir('bvisor-ctnest-');
    chmodSync(d, 0o755);
    mkdirSync(join(d, 'rootfs', 'bin'), { recursive: true });
    copyFileSync(PROBE, join(d, 'rootfs', 'bin', 'true'));
    chmodSync(join(d, 'rootfs', 'bin', 'true'), 0o755);
    mkdirSync(join(d, 'tmp'));
    chmodSync(join(d, 'tmp'), 0o1777);
    const other = tempDir('bvisor-ctnest-o-');
    chmodSync(other, 0o755);
    // ./tmp is mounted at /tmp; the host path /tmp/<other> would be mounted at its own path, i.e.
    // inside the ./tmp mount, where bvisor would have to make a directory in the bundle's tmp.
    writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/true }\nfilesystem:\n  - { path: ./tmp, access: read-write }\n  - { path: ${other}, access: read }\n`);
    await expect((async () => runLoaded(loadBundle(d), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() }))()).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[1]', code: 'BV_PLAN_GRANT_NESTED' })] });
  });
});
