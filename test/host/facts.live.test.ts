// The host probe against independent oracles: uname, the shell's ulimit, /proc read by hand,
// util-linux unshare, and securityfs. If the probe and an oracle disagree, the probe is wrong.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { probeHost, probeCgroups, parseMountinfo, capNames, subId, subRange, probeMapping } from '../../src/host/facts.js';
import { validateHostFacts } from '../../src/contract/generated/validators.js';
import { skipOrFail } from '../helpers/require.js';

const facts = probeHost();

describe('host probe (live)', () => {
  it('matches its schema', () => {
    expect(validateHostFacts(facts), JSON.stringify(validateHostFacts.errors)).toBe(true);
  });

  it('kernel and arch agree with uname', () => {
    expect(facts.kernel.release).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(facts.kernel.arch).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
  });

  it('landlock ABI > 0 exactly when the LSM list names landlock', () => {
    const lsm = '/sys/kernel/security/lsm';
    if (!existsSync(lsm)) return skipOrFail('securityfs', `landlock oracle: ${lsm} is not mounted (securityfs)`);
    expect(facts.landlock.abi > 0).toBe(readFileSync(lsm, 'utf8').split(',').includes('landlock'));
  });

  it('hard rlimits agree with the shell', () => {
    const hard = spawnSync('bash', ['-c', 'ulimit -Hn; ulimit -Hu'], { encoding: 'utf8' }).stdout.trim().split('\n');
    const val = (s: string | undefined): number | null => (s === 'unlimited' ? null : Number(s));
    expect(facts.rlimits.nofile?.hard).toBe(val(hard[0]));
    expect(facts.rlimits.nproc?.hard).toBe(val(hard[1]));
  });

  it('user namespace creation agrees with util-linux unshare', () => {
    const r = spawnSync('unshare', ['--user', 'true']);
    if (r.error) return skipOrFail('util-linux', 'userns oracle: unshare(1) is not installed');
    expect(facts.userns.canCreate).toBe(r.status === 0);
    if (process.geteuid?.() === 0) {
      const u = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user', 'true']);
      if (!u.error) expect(facts.userns.unprivilegedCanCreate).toBe(u.status === 0);
    }
  });

  it('capabilities agree with CapEff', () => {
    const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
    expect(facts.capabilities.effective).toBe(hex.padStart(16, '0'));
    expect(capNames('0000000000200001')).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
  });

  it('our cgroup directories exist and list our own pid', () => {
    const hs = [...(facts.cgroup.v2 ? [facts.cgroup.v2] : []), ...facts.cgroup.v1];
    expect(hs.length).toBeGreaterThan(0);
    for (const h of hs) {
      if (!h.ownDir) continue;
      const procs = readFileSync(`${h.ownDir}/cgroup.procs`, 'utf8').split('\n');
      expect(procs, `${h.ownDir}`).toContain(String(process.pid));
    }
  });

  it('the probe leaves no cgroup behind', () => {
    const hs = [...(facts.cgroup.v2 ? [facts.cgroup.v2] : []), ...facts.cgroup.v1];
    for (const h of hs) {
      if (!h.ownDir) continue;
      const left = execFileSync('ls', [h.ownDir], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('bvisor-probe-'));
      expect(left).toEqual([]);
    }
  });
});

describe('cgroup layout parsing (pure)', () => {
  const mountinfo = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
    '50 23 0:40 /job /mnt/with\\040space rw - cgroup cgroup rw,pids',
  ].join('\n');
  const procCgroup = ['5:pids:/job/7', '4:memory:/job/7', '2:cpu,cpuacct:/', '1:name=systemd:/', '0::/job/7'].join('\n');
  const none = () => ({ ok: true, error: null });

  it('describes a hybrid host: v1 controllers, a v2 mount, our paths, escapes decoded', () => {
    const c = probeCgroups(mountinfo, procCgroup, none);
    expect(c.mode).toBe('hybrid');
    expect(c.v2).toMatchObject({ mountPoint: '/sys/fs/cgroup/unified', ownPath: '/job/7', ownDir: '/sys/fs/cgroup/unified/job/7', isRoot: false });
    const byCtl = Object.fromEntries(c.v1.map((h) => [h.controllers.join(','), h]));
    expect(byCtl['cpu,cpuacct']).toMatchObject({ ownPath: '/', isRoot: true, mountPoint: '/sys/fs/cgroup/cpu,cpuacct' });
    expect(byCtl.memory).toMatchObject({ ownDir: '/sys/fs/cgroup/memory/job/7', isRoot: false });
    // a mount of a sub-tree: /job is the mount's root, so /job/7 lives at <mount>/7
    expect(byCtl.pids).toMatchObject({ ownDir: '/mnt/with space/7' });
    expect(byCtl['name=systemd']).toBeDefined();
  });

  it('describes a pure v2 host and a host with nothing', () => {
    const v2only = probeCgroups('41 23 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', '0::/user.slice/x.scope', none);
    expect(v2only.mode).toBe('v2');
    expect(v2only.v2?.ownDir).toBe('/sys/fs/cgroup/user.slice/x.scope');
    expect(probeCgroups('', '', none).mode).toBe('none');
    expect(parseMountinfo('garbage line\n')).toEqual([]);
  });
});

describe('the workload identity', () => {
  it('reads a bvisor range from /etc/subuid-style text, never a zero or malformed one', () => {
    expect(subId('root:100000:65536\nbvisor:231072:65536\n', 'bvisor')).toBe(231072);
    expect(subRange('root:100000:65536\nbvisor:231072:65536\n', 'bvisor')).toEqual({ start: 231072, count: 65536 });
    expect(subId('bvisor:0:0\n', 'bvisor')).toBeNull();
    expect(subId('bvisor:x:10\n', 'bvisor')).toBeNull();
    expect(subRange('bvisor:10:x\n', 'bvisor')).toBeNull();
    expect(subRange('bvisor:10:-3\n', 'bvisor')).toBeNull();
    expect(subId(null, 'bvisor')).toBeNull();
  });

  it('as root, defaults to the kernel overflow ids, with no range; rootless, is the caller', () => {
    const host = probeHost();
    const text = existsSync('/etc/subuid') ? readFileSync('/etc/subuid', 'utf8') : null;
    if (host.identity.euid === 0 && subRange(text, 'bvisor') === null) {
      expect(host.mapping.range ?? null).toBeNull();
      expect(host.mapping).toMatchObject({ uid: Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8')), gid: Number(readFileSync('/proc/sys/kernel/overflowgid', 'utf8')) });
      expect(host.mapping.uid).not.toBe(0);
    }
    expect(probeMapping(1234, 5678)).toEqual({ uid: 1234, gid: 5678, source: 'the caller (rootless)', range: null });
  });
});
