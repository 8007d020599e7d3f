// Issue 9, attack 6: read-write grants of /proc, /sys and /sys/fs/cgroup gave host-wide control:
// /proc/sys/kernel/core_pattern was writable (host root code execution), a sysfs knob was
// written, and the workload moved itself to the parent cgroup past its memory limit. Now such
// grants are refused; read-only ones get a safe shape: a fresh /proc with /proc/sys read-only,
// /sys bound read-only; and the workload is not host root. Oracles: the refusal codes, the
// errno the probe gets opening the knob for writing (never actually writing; the red twin only
// opens too), the layers peeled off with test-only switches.
import { existsSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { describe, expect, it } from 'vitest';
import { tryOps, probeBundle, facts, E } from '../helpers/probe.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';

const AS_ROOT: LaunchHooks = { mutateLaunch: (l) => void (l.identity = { uid: 0, gid: 0, source: 'test: host root' }) };
const AS_ROOT_NO_MOUNTS: LaunchHooks = { noLandlock: true, mutateLaunch: (l) => void ((l.layout = []), (l.identity = { uid: 0, gid: 0, source: 'test: host root' })) };

async function refusals(grant: string): Promise<string[]> {
  const b = loadBundle(probeBundle(['exit', '0'], '', { filesystem: [`  - { path: ${grant}, access: read-write }`] }));
  try {
    await runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    return [];
  } catch (e) {
    return (e as { issues: Array<{ clause: string; code: string }> }).issues.map((i) => `${i.clause}:${i.code}`);
  }
}

describe('attack 6: host-wide kernel state stays out of reach', () => {
  it('read-write grants of /proc, /sys and cgroupfs are refused before anything runs', async () => {
    const cg = facts().cgroup.v1.find((h) => h.controllers.includes('memory'))?.ownDir ?? '/sys/fs/cgroup';
    for (const g of ['/proc/sys', '/proc/sys/kernel', '/sys', cg]) expect(await refusals(g), g).toContain('filesystem[2]:BV_PLAN_GRANT_UNSAFE');
  });

  it('container mode: a bundle directory cannot be mounted over the container’s /proc, /sys or /dev', async () => {
    const d = tempDir('bvisor-procalias-');
    chmodSync(d, 0o755);
    for (const x of ['rootfs/bin', 'proc', 'dev/x']) mkdirSync(join(d, x), { recursive: true });
    const refusal = async (grant: string, access: string): Promise<string[]> => {
      writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/true }\nfilesystem:\n  - { path: ${grant}, access: ${access} }\n`);
      try {
        await runLoaded(loadBundle(d), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
        return [];
      } catch (e) {
        return (e as { issues?: Array<{ clause: string; code: string }> }).issues?.map((i) => `${i.clause}:${i.code}`) ?? [String(e)];
      }
    };
    expect(await refusal('./proc', 'read-write')).toContain('filesystem[0]:BV_PLAN_GRANT_UNSAFE');
    expect(await refusal('./proc', 'read')).toContain('filesystem[0]:BV_PLAN_GRANT_UNSAFE');
    expect(await refusal('./dev/x', 'read')).toContain('filesystem[0]:BV_PLAN_GRANT_UNSAFE');
  });

  it('core_pattern under a /proc read grant: EACCES (not root), EROFS (even root meets a read-only /proc/sys); open only with every layer off', async () => {
    const ops = [['open', '/proc/sys/kernel/core_pattern', 'w']];
    expect(await tryOps(ops)).toEqual([E.ACCES]);
    expect(await tryOps(ops, '', { hooks: AS_ROOT })).toEqual([E.ROFS]);
    // Red twin: host root, the host's /proc, no landlock: it opens for writing (nothing is
    // written); this is what a workload used to get.
    expect(await tryOps(ops, '', { hooks: AS_ROOT_NO_MOUNTS })).toEqual([0]);
  });

  it('a sysfs knob under a /sys read grant is read-only; a cgroup file is not there at all', async () => {
    const knob = ['/sys/kernel/mm/transparent_hugepage/enabled', '/sys/kernel/mm/ksm/run'].find((p) => existsSync(p))!;
    const fs = ['  - { path: /sys, access: read }'];
    expect(await tryOps([['open', knob, 'r'], ['open', knob, 'w']], '', { filesystem: fs })).toEqual([0, E.ACCES]);
    expect(await tryOps([['open', knob, 'w']], '', { filesystem: fs, hooks: AS_ROOT })).toEqual([E.ROFS]);
    expect(await tryOps([['open', knob, 'w']], '', { filesystem: fs, hooks: AS_ROOT_NO_MOUNTS })).toEqual([0]);
    const procs = `${facts().cgroup.v1.find((h) => h.controllers.includes('memory'))?.ownDir ?? facts().cgroup.v2!.ownDir}/cgroup.procs`;
    expect(await tryOps([['open', procs, 'w']])).toEqual([E.NOENT]);
    expect(await tryOps([['open', procs, 'w']], '', { hooks: AS_ROOT_NO_MOUNTS })).toEqual([0]);
  });
});
