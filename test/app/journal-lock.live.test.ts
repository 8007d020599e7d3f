// The journal's lock held by another process (a long `journal verify`, a repair, a stopped
// command): a run in the API waits for it without stopping its process's event loop, where the
// other runs' wall deadlines and the caller's stop are timers and listeners. Oracles: flock(1) as
// the other process; ticks a workload writes to its read-write grant (when it stopped, by the
// disk); a marker file a workload would have made; the journal on disk.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { processesInTestParent, testCgroupParent } from '../helpers/cgroups.js';
import { sleep, until } from '../helpers/wait.js';
import { faultPoints } from '../../src/host/faults.js';
import { journalLockHeld } from '../helpers/journal-lock.js';

const parent = testCgroupParent();
const hit = faultPoints.hit;
const reservations = (root: string): string[] => (existsSync(root) ? readdirSync(root).filter((n) => n.startsWith('.reserve.')) : []);

function manifest(exe: string, args: string[], extra = '', wall = '30s'): string {
  return `bvisorVersion: "1"\nworkload:\n  process: { exe: ${exe}, args: ${JSON.stringify(args)} }\nfilesystem:\n  - { path: /usr, access: read-exec }\n${extra}spawn: descendants\nlimits: { wall: ${wall}, processes: 8 }\n`;
}

/**
 * A run of touch (its marker file in a read-write grant) aborted once `waiting()` says it waits for
 * the lock: the error it rejected with, and the milliseconds from the abort to that rejection.
 * Then, by the disk and /proc: it made no marker, left no process, no registration, and no line
 * beyond the first run's two.
 */
async function abortedWhileWaiting(root: string, id: string, what: string, waiting: () => boolean, settleMs = 0): Promise<{ err: { code?: string } | null; ms: number }> {
  const out = tempDir();
  chownSync(out, 65534, 65534); // the workload's id as root maps it
  const ac = new AbortController();
  const run = runConfined({ manifest: manifest('/usr/bin/touch', [`${out}/ran`], `  - { path: ${out}, access: read-write }\n`), dir: tempDir() }, { root, id, cgroupParent: parent, signal: ac.signal });
  await until(what, waiting, 10_000);
  await sleep(settleMs);
  const t0 = Date.now();
  ac.abort();
  const err = await run.then(
    () => null,
    (e: unknown) => e as { code?: string },
  );
  const ms = Date.now() - t0;
  expect(existsSync(join(out, 'ran'))).toBe(false);
  expect(processesInTestParent()).toEqual([]);
  expect(existsSync(join(root, 'containers', id))).toBe(false);
  expect(readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  return { err, ms };
}

describe('a journal lock another process holds (live)', () => {
  it("a run waiting for it leaves the loop free: another run's wall deadline still ends its workload on time", async () => {
    const root = join(tempDir(), 'root');
    // The root and its journal, made by a first run.
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    // Held for 6 s from here; the lock's holder is still there when the other run's wall falls.
    const lock = await journalLockHeld(root, 6000);
    let lockGone = false;
    void lock.gone.then(() => (lockGone = true));
    const a = runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    onTestFinished(() => a.then(() => undefined, () => undefined));
    // Its room reserved: it waits for the lock at its journal check.
    await until('the run at its journal check', () => reservations(root).length > 0, 10_000);
    const w = tempDir();
    chownSync(w, 65534, 65534); // the workload's id as root maps it
    // Milliseconds since the epoch, every 50 ms, for as long as it lives: its wall is 1 s.
    const ticker = manifest('/usr/bin/sh', ['-c', `while :; do date +%s%3N >> ${w}/ticks; sleep 0.05; done`], `  - { path: ${w}, access: read-write }\n`, '1s');
    const rb = await runConfined({ manifest: ticker, dir: tempDir() }, { cgroupParent: parent });
    expect(lockGone, 'the lock was let go before the ticker ended: the test proves nothing').toBe(false);
    expect(rb.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    const ticks = readFileSync(join(w, 'ticks'), 'utf8').trim().split('\n').map(Number);
    // Its last tick, by the disk: about 1 s after its first, not once the lock was let go (a loop
    // stopped by the wait would have left it ticking as long as the lock was held).
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
    await journalLockHeld(root, 20_000);
    // Its room reserved: it waits for the lock at its journal check.
    const { err, ms } = await abortedWhileWaiting(root, 'waits', 'the run at its journal check', () => reservations(root).length > 0);
    expect(err).toMatchObject({ code: 'BV_ABORTED' });
    expect(ms).toBeLessThan(5000); // heard while the lock was still held (20 s)
  });

  it("a caller's abort while its run waits to append its start record (its workload prepared, not released): nothing runs, nothing is recorded", async () => {
    const root = join(tempDir(), 'root');
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const marks = tempDir();
    // Taken as the run makes its cgroup (after its journal check, before its start record): a
    // fault point is synchronous, so flock(1) is started there and waited for with the thread asleep.
    let holder: ChildProcess | null = null;
    onTestFinished(() => {
      faultPoints.hit = hit;
      try {
        if (holder) process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        // ended
      }
    });
    faultPoints.hit = (stage) => {
      if (stage !== 'run:before-cgroup' || holder) return;
      holder = spawn('flock', ['-x', join(root, 'journal.lock'), '-c', `touch ${marks}/held; sleep 20`], { stdio: 'ignore', detached: true });
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (const end = Date.now() + 10_000; !existsSync(join(marks, 'held')) && Date.now() < end; ) Atomics.wait(nap, 0, 0, 10);
    };
    // Its child made and in its cgroup, then ready and waiting for the go byte (its checks take
    // milliseconds) while the run waits for the lock.
    const { err, ms } = await abortedWhileWaiting(root, 'waits-start', 'the prepared workload in its cgroup', () => processesInTestParent().length > 0 && existsSync(join(marks, 'held')), 300);
    expect(err).toMatchObject({ code: 'BV_ABORTED' });
    expect(ms).toBeLessThan(5000); // the lock was held 20 s
  });
});
