// The soak, CI-sized (npm run soak runs 1,000 runs and 200 cycles): runs and create/start/delete
// cycles mixed with SIGKILLed runs and creates, failing and timed-out workloads, then gc; the
// script counts what is left from outside bvisor and everything must be zero.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

describe('soak (CI-sized)', () => {
  it('100 runs and 12 cycles with kills and failures leave no fd, zombie, process, cgroup, mount, temp dir or state entry', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'soak.mjs'), '--runs', '100', '--cycles', '12', '--json'], { encoding: 'utf8', timeout: 240_000 });
    const out = JSON.parse(r.stdout);
    expect(out.leaked).toEqual({ fds: 0, zombies: 0, processes: 0, cgroups: 0, mounts: 0, tempDirs: 0, stateEntries: 0 });
    expect(out.gc.failed).toEqual([]);
    expect(out.journal.verify).toBe(0);
    // the mix happened: kills, failures and timeouts among the outcomes
    const kinds = Object.keys(out.outcomes).join('\n');
    expect(kinds).toMatch(/run killed -9/);
    expect(kinds).toMatch(/run wall: timeout/);
    expect(kinds).toMatch(/run fail: failed/);
    expect(r.status).toBe(0);
  }, 300_000);
});
