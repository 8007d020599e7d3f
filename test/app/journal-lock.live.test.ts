// The journal's lock held by another process (a long `journal verify`, a repair, a stopped
// command): a run in the API waits for it without stopping its process's event loop, where the
// other runs' wall deadlines and the caller's stop are timers and listeners. Oracles: flock(1) as
// the other process; ticks a workload writes to its read-write grant (when it stopped, by the
// disk); a marker file a workload would have made; the journal on disk.
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { processesInTestParent, testCgroupParent } from '../helpers/cgroups.js';
import { until } from '../helpers/wait.js';
import { journalLockHeld } from '../helpers/journal-lock.js';

const parent = testCgroupParent();

function manifest(exe: string, args: string[], extra = '', wall = '30s'): string {
  return `bvisorVersion: "1"\nworkload:\n  process: { exe: ${exe}, args: ${JSON.stringify(args)} }\nfilesystem:\n  - { path: /usr, access: read-exec }\n${extra}spawn: descendants\nlimits: { wall: ${wall}, processes: 8 }\n`;
}

describe('a journal lock another process holds (live)', () => {
  it("a run waiting for it leaves the loop free: another run's wall deadline still ends its workload on time", async () => {
    const root = join(tempDir(), 'root');
    // The root and its journal, made by a first run.
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const w = tempDir();
    chownSync(w, 65534, 65534); // the workload's id as root maps it
    // Milliseconds since the epoch, every 50 ms, for as long as it lives: its wall is 1 s.
    const ticker = manifest('/usr/bin/sh', ['-c', `while :; do date +%s%3N >> ${w}/ticks; sleep 0.05; done`], `  - { path: ${w}, access: read-write }\n`, '1s');
    const b = runConfined({ manifest: ticker, dir: tempDir() }, { cgroupParent: parent });
    await until('its first tick', () => existsSync(join(w, 'ticks')), 10_000);
    // Held for 4 s from here: the other run waits for it at its journal check.
    const lock = await journalLockHeld(root, 4000);
    const a = runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const rb = await b;
    expect(rb.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    const ticks = readFileSync(join(w, 'ticks'), 'utf8').trim().split('\n').map(Number);
    // Its last tick, by the disk: about 1 s after its first, not once the lock was let go (a loop
    // stopped by the wait would have left it ticking for the lock's 4 s).
    expect(ticks.at(-1)! - ticks[0]!).toBeLessThan(2500);
    await lock.gone;
    const ra = await a;
    expect(ra.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const kinds = readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { event?: { kind: string } }).event?.kind ?? 'report');
    expect(kinds).toEqual(['started', 'report', 'started', 'report']);
  });

  it("a caller's abort while its run waits for the lock: the wait ends (BV_ABORTED), nothing runs, nothing is made", async () => {
    const root = join(tempDir(), 'root');
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const out = tempDir();
    chownSync(out, 65534, 65534);
    await journalLockHeld(root, 20_000);
    const ac = new AbortController();
    const t0 = Date.now();
    const run = runConfined({ manifest: manifest('/usr/bin/touch', [`${out}/ran`], `  - { path: ${out}, access: read-write }\n`), dir: tempDir() }, { root, id: 'waits', cgroupParent: parent, signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const err = await run.then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(err).toMatchObject({ code: 'BV_ABORTED' });
    // Heard while the lock was still held (20 s), not once it was let go.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existsSync(join(out, 'ran'))).toBe(false);
    expect(processesInTestParent()).toEqual([]);
    expect(existsSync(join(root, 'containers', 'waits'))).toBe(false);
    const lines = readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2); // the first run's
  });
});
