// Issue 9, attack 4: hostile rootfs, FIFOs and tar bundles.
// - Container-mode mount steps ran before pivot_root and followed the rootfs's own symlinks: a
//   rootfs `data -> /some/host/dir` with a grant under /data made bvisor create directories and
//   files on the host. Now mount points are made beneath the rootfs descriptor with no symlink
//   followed (and the planner refuses a symlink where it would mount).
// - A FIFO at a grant (or as the stdin file, or the module) hung run and create for ever (the wall
//   starts at exec). Now the planner refuses it; nothing ever opens it.
// - The chained-symlink tar is refused (test/host/tar-bundle.test.ts has the kernel oracle);
//   here, through the CLI, with nothing left behind.
// Oracles: the host disk, the refusal code and clause, the time taken, the temp dir listing.
import { chmodSync, mkdirSync, writeFileSync, symlinkSync, existsSync, readdirSync, realpathSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE, facts, probeBundle, probeRootfs } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { cli } from '../helpers/cli.js';
import { writeTar } from '../helpers/rawtar.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';

function rootfsBundle(): { dir: string; rootfs: string } {
  const { dir, rootfs } = probeRootfs('bvisor-hostile-');
  mkdirSync(join(dir, 'data', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'boundary.yaml'), 'bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/bvprobe, args: [exit, "0"] }\nfilesystem:\n  - { path: ./data/sub, access: read }\n');
  return { dir, rootfs };
}

const run = async (dir: string): Promise<unknown> => runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });

describe('attack 4: hostile rootfs, FIFOs, tar', () => {
  it('a rootfs symlink where a grant is mounted is refused, and nothing is created on the host', async () => {
    const { dir, rootfs } = rootfsBundle();
    const host = tempDir('bvisor-hostdir-');
    symlinkSync(host, join(rootfs, 'data')); // the grant ./data/sub is mounted at /data/sub
    await expect(run(dir)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[0]', code: 'BV_PLAN_PATH_KIND', message: expect.stringMatching(/\/data\/sub in the rootfs passes through a symlink/) })] });
    expect(readdirSync(host)).toEqual([]);
    // Control: with a plain directory there, the mount point is made inside the rootfs.
    const ok = rootfsBundle();
    await run(ok.dir);
    expect(existsSync(join(ok.rootfs, 'data', 'sub'))).toBe(true);
  });

  it('a link swapped in after planning is met at launch: nothing made on the host, the launch refused', async () => {
    const { dir, rootfs } = rootfsBundle();
    const host = tempDir('bvisor-hostdir-');
    const b = loadBundle(dir); // planned while rootfs/data does not exist
    symlinkSync(host, join(rootfs, 'data'));
    await expect(runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() })).rejects.toMatchObject({ code: 'BV_LAUNCH_FAILED', message: expect.stringMatching(/symlink/) });
    expect(readdirSync(host)).toEqual([]);
  });

  it('FIFOs as a grant, the stdin file or the module are refused at once, never opened', async () => {
    const d = tempDir('bvisor-fifo-');
    chmodSync(d, 0o755);
    expect(spawnSync('mkfifo', [join(d, 'fifo')]).status).toBe(0);
    const t0 = Date.now();
    const grant = probeBundle(['exit', '0'], '', { filesystem: [`  - { path: ${join(d, 'fifo')}, access: read }`] });
    await expect(run(grant)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[2]', code: 'BV_PLAN_PATH_KIND' })] });
    const stdin = tempDir('bvisor-fifo-s-');
    chmodSync(stdin, 0o755);
    writeFileSync(join(stdin, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [exit, "0"] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\nstdio: { stdin: { file: ${join(d, 'fifo')} } }\n`);
    await expect(run(stdin)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'stdio', code: 'BV_PLAN_STDIN' })] });
    const w = tempDir('bvisor-fifo-w-');
    expect(spawnSync('mkfifo', [join(w, 'm.wasm')]).status).toBe(0);
    writeFileSync(join(w, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\n');
    await expect(run(w)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'workload', code: 'BV_PLAN_PATH_KIND' })] });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a root.path that is a link to the bundle itself is refused as the bundle itself, not taken for a rootfs', () => {
    // With a writable root the workload could rewrite the boundary.yaml the next run reads.
    const { dir } = probeRootfs('bvisor-rootself-');
    symlinkSync('.', join(dir, 'r'));
    writeFileSync(join(dir, 'boundary.yaml'), 'bvisorVersion: "1"\nroot: { path: r, readonly: false }\nworkload:\n  process: { exe: /rootfs/bin/bvprobe, args: [exit, "0"] }\n');
    const r = cli(['plan', dir, '--json']);
    expect(r.status).toBe(3);
    expect(r.json().clauses.filter((c: { verdict: string }) => c.verdict === 'refused')).toEqual([expect.objectContaining({ clause: 'root', reason: `root.path ${realpathSync(dir)} is the bundle directory, or holds it: the container's root filesystem would hold its own boundary.yaml` })]);
    // Control: the same bundle with root.path naming its rootfs plans.
    writeFileSync(join(dir, 'boundary.yaml'), 'bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/bvprobe, args: [exit, "0"] }\n');
    expect(cli(['plan', dir, '--json']).status).toBe(0);
  });

  it('the chained-symlink tar is refused through the CLI, and its temp dir is gone', () => {
    const parent = tempDir('bvisor-tarparent-');
    const tar = join(tempDir('bvisor-tar-'), 'chain.tar');
    const link = (name: string, to: string) => ({ name, type: '2' as const, link: to });
    writeTar(tar, [{ name: 'boundary.yaml', data: 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\n' }, { name: 'd/', type: '5' }, link('d/q', '../a'), link('a', 'b/..'), link('b', 'a2'), link('a2', 'b2/..'), link('b2', '.')]);
    const r = cli(['plan', tar, '--json'], { env: { TMPDIR: parent } });
    expect(r.status).toBe(5);
    expect(r.json().error.code).toBe('BV_BUNDLE_UNSAFE_TAR');
    expect(readdirSync(parent)).toEqual([]);
  });
});
