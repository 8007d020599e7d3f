// Container mode (root:): the bundle's rootfs becomes /, with a fresh /proc, a minimal /dev,
// private /tmp and /dev/shm, the host invisible, the root read-only, masked /proc paths, and
// granted host paths bind-mounted (read-only unless granted write). Oracles: the probe's
// errnos, the host disk.
import { copyFileSync, mkdirSync, writeFileSync, existsSync, symlinkSync, chmodSync, chownSync, readFileSync } from 'node:fs';
import { defaultTestParent } from '../../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../../src/host/bundle.js';
import { runLoaded } from '../../../src/app/run.js';
import { PROBE, facts, testCgroupParent } from '../../helpers/probe.js';
import { tempDir } from '../../helpers/tmp.js';
import { skipOrFail } from '../../helpers/require.js';
import { ROOT } from '../../helpers/cli.js';
import type { LaunchHooks } from '../../../src/backends/linux/launcher.js';

const BUSYBOX = '/bin/busybox';

function containerBundle(args: string[], extra = ''): { dir: string; host: string } {
  const dir = tempDir('bvisor-ct-');
  chmodSync(dir, 0o755);
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'dev', 'tmp']) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(PROBE, join(r, 'bin', 'bvprobe'));
  chmodSync(join(r, 'bin', 'bvprobe'), 0o755);
  copyFileSync(BUSYBOX, join(r, 'bin', 'busybox'));
  chmodSync(join(r, 'bin', 'busybox'), 0o755);
  symlinkSync('/bin/busybox', join(r, 'bin', 'sh'));
  writeFileSync(join(r, 'etc', 'hostname'), 'inside\n');
  const host = join(dir, 'shared');
  mkdirSync(host);
  mkdirSync(join(dir, 'out'));
  chownSync(join(dir, 'out'), 1000, 1000); // a regular user's: bridged by an idmapped mount
  writeFileSync(join(host, 'data'), 'from host');
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nroot: { path: rootfs, readonly: true }\nworkload:\n  process: { exe: /bin/bvprobe, args: ${JSON.stringify(args)}, cwd: / }\nfilesystem:\n  - { path: ${host}, access: read }\n  - { path: ./out, access: read-write }\nstdio: { stdout: capture, stderr: capture }\ntmp: private\n${extra}`,
  );
  return { dir, host };
}

async function run(args: string[], extra = '', hooks?: LaunchHooks): Promise<{ stdout: string; status: number }> {
  const b = loadBundle(containerBundle(args, extra).dir);
  const out = await runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), ...(hooks ? { hooks } : {}) });
  return { stdout: out.stdout?.toString() ?? '', status: out.exitStatus };
}

const E = { PERM: 1, NOENT: 2, ACCES: 13, ROFS: 30 };
/** A host file the workload must not see: this checkout's package.json, wherever it is. */
const HOST_FILE = join(ROOT, 'package.json');

describe('container mode (live)', () => {
  it('pivots into the rootfs: host files are gone, the root is read-only, /tmp and /dev work', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const r = await run(['try', 'open', '/etc/hostname', 'r', ',', 'open', '/bin/made', 'c', ',', 'open', '/tmp/x', 'c', ',', 'open', '/dev/null', 'rw', ',', 'open', HOST_FILE, 'r', ',', 'readdir', '/proc/1']);
    expect(JSON.parse(r.stdout)).toEqual([0, E.ROFS, 0, 0, E.NOENT, 0]);
  });

  it('binds granted host paths: read-only where granted read, writable where granted write (host disk oracle)', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const b = containerBundle([]);
    const probeArgs = ['try', 'open', `${b.host}/data`, 'r', ',', 'open', `${b.host}/new`, 'c', ',', 'open', '/out/written', 'c'];
    writeFileSync(join(b.dir, 'boundary.yaml'), readFileSync(join(b.dir, 'boundary.yaml'), 'utf8').replace('args: []', `args: ${JSON.stringify(probeArgs)}`));
    const out = await runLoaded(loadBundle(b.dir), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(JSON.parse(out.stdout!.toString())).toEqual([0, E.ROFS, 0]);
    expect(existsSync(join(b.dir, 'out', 'written'))).toBe(true);
    expect(existsSync(join(b.host, 'new'))).toBe(false);
  });

  it('masks /proc paths that leak or control the host', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    // Whichever masked file this kernel has reads as empty (/dev/null is bound over it).
    // Oracle: the host's own copy has content, so an empty read inside means the mask worked.
    const masked = ['/proc/timer_list', '/proc/keys', '/proc/kcore', '/proc/sysrq-trigger'].find((p) => existsSync(p) && readFileSync(p).length > 0);
    if (!masked) return skipOrFail('procfs-masked', 'no masked /proc file with content exists on this kernel');
    const r = await run(['read', masked]);
    expect(r.stdout).toBe('');
    const w = await run(['try', 'open', '/proc/sys/kernel/hostname', 'w', ',', 'readdir', '/proc/acpi']);
    const got = JSON.parse(w.stdout);
    // Two layers: the workload is not host root (EACCES on root's sysctl), and /proc/sys is a
    // read-only mount, which is what even host root meets there (EROFS).
    expect(got[0]).toBe(E.ACCES);
    const asRoot = await run(['try', 'open', '/proc/sys/kernel/hostname', 'w'], '', { mutateLaunch: (l) => void (l.identity = { uid: 0, gid: 0, source: 'test: host root' }) });
    expect(JSON.parse(asRoot.stdout)).toEqual([E.ROFS]);
  });

  it('runs a shell from the rootfs (absolute symlink /bin/sh → /bin/busybox resolved inside)', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const b = containerBundle([]);
    writeFileSync(join(b.dir, 'boundary.yaml'), readFileSync(join(b.dir, 'boundary.yaml'), 'utf8').replace('exe: /bin/bvprobe, args: []', 'exe: /bin/sh, args: ["-c", "echo $((6*7)) > /tmp/x; cat /tmp/x; cat /etc/hostname"]').replace('spawn', 'spawn') + 'spawn: descendants\nlimits: { processes: { value: 16, guarantee: best-effort } }\n');
    const out = await runLoaded(loadBundle(b.dir), { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, host: facts() });
    expect(out.stdout?.toString()).toBe('42\ninside\n');
  });

  it('red twin: without landlock and pivot the probe would see the host', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const r = await run(['try', 'open', HOST_FILE, 'r'], '', { noLandlock: true, mutateLaunch: (l) => void ((l.root = null), (l.layout = [])) });
    expect(JSON.parse(r.stdout)).toEqual([0]);
  });
});
