// bvisor update (runc's update --resources) may only narrow what the plan admitted. On cgroup v1
// a cpu bandwidth is two files (cpu.cfs_quota_us over cpu.cfs_period_us): update wrote the quota
// alone, so a quota of 0.4 s a second became 0.4 s every 0.1 s, 4 CPUs for a 0.5 CPU plan (an
// attack in December). And fields it did not apply were skipped while it said it worked.
// Oracles: the kernel's own cgroup files of the container's leaf (the bandwidth is quota / period,
// sched-bwc.rst), and the exit status and code (docs/exit-codes.md: 2 usage, 7 state).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { facts } from '../helpers/probe.js';
import { skipOrFail } from '../helpers/require.js';

/** The container's cgroup directory holding `file`, from its init's /proc/<pid>/cgroup. */
function leafFile(pid: number, file: string): string | null {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  for (const h of [...facts().cgroup.v1, ...(facts().cgroup.v2 ? [facts().cgroup.v2!] : [])]) {
    for (const l of lines) {
      const [hid, ctl, path] = l.split(':') as [string, string, string];
      const matches = h.version === 2 ? hid === '0' : ctl.split(',').some((c) => h.controllers.includes(c));
      if (!matches) continue;
      const full = join(h.mountPoint, path, file);
      try {
        readFileSync(full);
        return full;
      } catch {
        // not this hierarchy
      }
    }
  }
  return null;
}

/** The container's cpu bandwidth as the kernel holds it (quota / period, sched-bwc.rst), read
 * afresh at each call; null when no cpu controller holds it. */
function cpuBandwidth(pid: number): (() => number) | null {
  const v2 = leafFile(pid, 'cpu.max');
  const quotaFile = v2 ?? leafFile(pid, 'cpu.cfs_quota_us');
  if (!quotaFile) return null;
  return () => {
    if (v2) {
      const [q, p] = readFileSync(v2, 'utf8').trim().split(' ');
      return Number(q) / Number(p);
    }
    return Number(readFileSync(quotaFile, 'utf8')) / Number(readFileSync(join(quotaFile, '..', 'cpu.cfs_period_us'), 'utf8'));
  };
}

describe('bvisor update', () => {
  it('a cpu bandwidth at or below the plan\'s, with its own period, is what the kernel enforces after; a wider one is refused', () => {
    const root = newRoot();
    expect(cli(['create', 'u1', '-b', probeBundle(['sleep', '30'], 'limits: { cpus: 0.5 }\n'), '--root', root]).status).toBe(0);
    try {
      const pid = cli(['state', 'u1', '--root', root, '--json']).json().pid as number;
      const bandwidth = cpuBandwidth(pid);
      if (!bandwidth) return skipOrFail('cpu-cgroup', 'no cpu controller holds the container');
      expect(bandwidth()).toBeCloseTo(0.5, 6);
      const file = join(tempDir(), 'r.json');
      const update = (resources: unknown): ReturnType<typeof cli> => {
        writeFileSync(file, JSON.stringify(resources));
        return cli(['update', '--resources', file, 'u1', '--root', root]);
      };
      // A longer period (1 s): 0.4 s of it.
      expect(update({ cpu: { quota: 400_000, period: 1_000_000 } }).status).toBe(0);
      expect(bandwidth()).toBeCloseTo(0.4, 6);
      // A shorter one (50 ms): 15 ms of it.
      expect(update({ cpu: { quota: 15_000, period: 50_000 } }).status).toBe(0);
      expect(bandwidth()).toBeCloseTo(0.3, 6);
      // Wider than the plan: refused, nothing written.
      const wide = update({ cpu: { quota: 600_000, period: 1_000_000 } });
      expect(wide.status).toBe(7);
      expect(wide.stderr).toContain("would raise container u1's cpu limit above the 0.5");
      expect(bandwidth()).toBeCloseTo(0.3, 6);
    } finally {
      expect(cli(['delete', '-f', 'u1', '--root', root]).status).toBe(0);
    }
  });

  it('every field it is given is applied, refused or listed as ignored: a wrong type, a name the runtime spec does not have, a limit of -1 (none) change nothing and say why; the spec\'s fields it does not apply are listed and logged', () => {
    const root = newRoot();
    expect(cli(['create', 'u2', '-b', probeBundle(['sleep', '30'], 'limits: { memory: 64Mi, processes: 16, cpus: 0.5 }\nspawn: descendants\n'), '--root', root]).status).toBe(0);
    try {
      const pid = cli(['state', 'u2', '--root', root, '--json']).json().pid as number;
      const pidsMax = leafFile(pid, 'pids.max')!;
      const memMax = leafFile(pid, 'memory.max') ?? leafFile(pid, 'memory.limit_in_bytes')!;
      const cpuFiles = [leafFile(pid, 'cpu.max'), leafFile(pid, 'cpu.cfs_quota_us'), leafFile(pid, 'cpu.cfs_period_us')].filter((f): f is string => f !== null);
      const before = [readFileSync(pidsMax, 'utf8'), readFileSync(memMax, 'utf8'), ...cpuFiles.map((f) => readFileSync(f, 'utf8'))];
      const file = join(tempDir(), 'r.json');
      const cases: Array<[unknown, number, string]> = [
        [{ pids: { limit: '3' } }, 2, 'resources.pids.limit must be an integer, not "3"'],
        [{ pids: { limit: 4.5 } }, 2, 'resources.pids.limit must be an integer, not 4.5'],
        [{ pids: { limt: 3 } }, 2, 'update cannot apply resources.pids.limt: not a LinuxResources field'],
        [{ memroy: { limit: 1 << 20 } }, 2, 'update cannot apply resources.memroy: not a LinuxResources field'],
        [{ memory: { limit: '1' } }, 2, 'resources.memory.limit must be an integer'],
        // Below the kernel's 1 ms (sched-bwc.rst): refused before anything is written (a review
        // saw the period written, the quota then refused EINVAL: 0.25 CPU and exit 4).
        [{ cpu: { quota: 500, period: 200_000 } }, 2, 'resources.cpu.quota 500 is below 1000 microseconds'],
        [{ memory: { limit: -1 } }, 7, "would raise container u2's memory limit above the"],
        // Below the manifest's own floor (a new-user pass: 1 byte reached the cgroup, EBUSY, exit 4).
        [{ memory: { limit: 1 } }, 2, 'resources.memory.limit 1 is below 1Mi (1048576 bytes), the least limits.memory takes'],
        // Object.prototype's names are no LinuxResources fields (an attack: exit 0 unsaid, or
        // BV_INTERNAL for __proto__). JSON text, as JSON.stringify would drop __proto__.
        ['{"constructor":{}}', 2, 'update cannot apply resources.constructor: not a LinuxResources field'],
        ['{"toString":null}', 2, 'update cannot apply resources.toString: not a LinuxResources field'],
        ['{"__proto__":{"limit":5}}', 2, 'update cannot apply resources.__proto__: not a LinuxResources field'],
      ];
      for (const [resources, status, message] of cases) {
        writeFileSync(file, typeof resources === 'string' ? resources : JSON.stringify(resources));
        const r = cli(['update', '--resources', file, 'u2', '--root', root]);
        expect([r.status, r.stderr], JSON.stringify(resources)).toEqual([status, expect.stringContaining(message)]);
      }
      expect([readFileSync(pidsMax, 'utf8'), readFileSync(memMax, 'utf8'), ...cpuFiles.map((f) => readFileSync(f, 'utf8'))]).toEqual(before);
      // The runtime spec's fields bvisor does not apply (engines send them with every update:
      // docker's --memory brings swap, a CRI resize cpu.shares): applied what it applies, the
      // rest listed as ignored, and said in the log; 0 leaves a limit as it is (runc's rule).
      const log = join(tempDir(), 'log.json');
      writeFileSync(file, JSON.stringify({ memory: { limit: 32 * 2 ** 20, swap: 64 * 2 ** 20 }, cpu: { shares: 512, quota: 0, period: 100_000 }, pids: { limit: 0 }, blockIO: { weight: 100 } }));
      const u = cli(['--log', log, '--log-format', 'json', 'update', '--resources', file, 'u2', '--root', root, '--json']);
      expect(u.status, u.stderr).toBe(0);
      expect(u.json()).toEqual({ id: 'u2', written: [`${memMax}=${32 * 2 ** 20}`], ignored: ['resources.memory.swap', 'resources.cpu.shares', 'resources.cpu.period (without a quota)', 'resources.blockIO'] });
      expect(Number(readFileSync(memMax, 'utf8'))).toBe(32 * 2 ** 20);
      expect(readFileSync(pidsMax, 'utf8')).toBe(before[0]);
      expect(readFileSync(log, 'utf8')).toContain('update ignored: resources.memory.swap');
      // Without --json, a person is told on stderr (a review: exit 0 and nothing said).
      const text = cli(['update', '--resources', file, 'u2', '--root', root]);
      expect([text.status, text.stdout]).toEqual([0, '']);
      expect(text.stderr).toContain('update left resources.cpu.shares as it was');
    } finally {
      expect(cli(['delete', '-f', 'u2', '--root', root]).status).toBe(0);
    }
  });

  it('runc\'s limit flags: --memory in the manifest\'s units, --pids-limit, --cpu-quota over --cpu-period reach the kernel\'s files; a docker size, both forms at once, a period alone or nothing at all are usage errors that write nothing', () => {
    const root = newRoot();
    expect(cli(['create', 'u3', '-b', probeBundle(['sleep', '30'], 'limits: { memory: 64Mi, processes: 16, cpus: 0.5 }\nspawn: descendants\n'), '--root', root]).status).toBe(0);
    try {
      const pid = cli(['state', 'u3', '--root', root, '--json']).json().pid as number;
      const pidsMax = leafFile(pid, 'pids.max')!;
      const memMax = leafFile(pid, 'memory.max') ?? leafFile(pid, 'memory.limit_in_bytes')!;
      const bandwidth = cpuBandwidth(pid);
      if (!bandwidth) return skipOrFail('cpu-cgroup', 'no cpu controller holds the container');
      const files = (): string[] => [readFileSync(pidsMax, 'utf8'), readFileSync(memMax, 'utf8'), String(bandwidth())];
      const before = files();
      const resources = join(tempDir(), 'r.json');
      writeFileSync(resources, '{"pids":{"limit":3}}');
      const cases: Array<[string[], string]> = [
        // docker's lower-case m: not taken as 32Mi by a guess; both meanings offered.
        [['--memory', '32m'], 'hint: did you mean 32Mi (32 × 1024² bytes) or 32M (32 × 1000² bytes)?'],
        [['--memory', '32Mi', '--resources', resources], 'cannot also be provided when using --resources'],
        [['--cpu-period', '50000'], 'must be provided when using --cpu-period: --cpu-quota'],
        [[], 'nothing to update'],
        // A 0 is "leave it" in the JSON form (runc's rule): as a flag it would change nothing unsaid.
        [['--memory', '0'], '--memory 0: a 0 would leave the limit as it is'],
        [['--pids-limit', '0'], '--pids-limit 0: a 0 would leave the limit as it is'],
        // Bounds are the kernel's (sched-bwc.rst: a period from 1 ms to 1 s, a quota of 1 ms at
        // least), said under the flag's name rather than a JSON path the user never wrote.
        [['--cpu-quota', '20000', '--cpu-period', '5000000'], '--cpu-period 5000000: out of range\nhint: --cpu-period takes microseconds from 1000 to 1000000'],
        [['--cpu-quota', '500'], '--cpu-quota 500: out of range'],
        [['--memory', '1'], '--memory 1: out of range\nhint: --memory takes a size of at least 1Mi'],
      ];
      for (const [flags, message] of cases) {
        const r = cli(['update', ...flags, 'u3', '--root', root]);
        expect([r.status, r.stderr], flags.join(' ')).toEqual([2, expect.stringContaining(message)]);
        expect(r.stderr).toContain('BV_USAGE');
      }
      // -1 is runc's "no limit": a raise, refused, as the file's is.
      const lift = cli(['update', '--memory=-1', 'u3', '--root', root]);
      expect([lift.status, lift.stderr]).toEqual([7, expect.stringContaining("would raise container u3's memory limit above the 67108864 bytes (64Mi)")]);
      expect(files()).toEqual(before);
      const ok = cli(['update', '--memory', '32Mi', '--pids-limit', '5', '--cpu-quota', '20000', '--cpu-period', '50000', 'u3', '--root', root]);
      expect([ok.status, ok.stdout, ok.stderr]).toEqual([0, '', '']);
      expect(Number(readFileSync(memMax, 'utf8'))).toBe(32 * 2 ** 20);
      expect(readFileSync(pidsMax, 'utf8').trim()).toBe('5');
      expect(bandwidth()).toBeCloseTo(0.4, 6);
      // The manifest's decimal M is 1000².
      expect(cli(['update', '--memory', '30M', 'u3', '--root', root]).status).toBe(0);
      expect(Number(readFileSync(memMax, 'utf8'))).toBe(Math.floor(30e6 / 4096) * 4096);
      // The sealed report says what was written, in order (an attack found the planned limits
      // alone there, with lower ones in force); the refused updates above wrote nothing.
      expect(cli(['delete', '-f', 'u3', '--root', root]).status).toBe(0);
      const updated = (cli(['report', 'u3', '--root', root, '--json']).json().body.limitsUpdated as Array<{ file: string; value: string }>).map((u) => [u.file, u.value]);
      const mem = basename(memMax);
      expect(updated.filter(([f]) => !f!.startsWith('cpu'))).toEqual([[mem, String(32 * 2 ** 20)], ['pids.max', '5'], [mem, '30000000']]);
      expect(updated.filter(([f]) => f!.startsWith('cpu')).length).toBeGreaterThan(0);
    } finally {
      expect(cli(['delete', '-f', 'u3', '--root', root]).status).toBe(0);
    }
  });
});
