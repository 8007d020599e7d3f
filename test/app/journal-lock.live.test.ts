// The journal's lock held by another process (a long `journal verify`, a repair, a stopped
// command): a run in the API waits for it without stopping its process's event loop, where the
// other runs' wall deadlines and the caller's stop are timers and listeners. Oracles: flock(1) as
// the other process; ticks a workload writes to its read-write grant (when it stopped, by the
// disk); a marker file a workload would have made; the journal on disk.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { discardOutputs, runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { processesInTestParent, testCgroupParent } from '../helpers/cgroups.js';
import { sleep, until } from '../helpers/wait.js';
import { faultPoints, type FaultStage } from '../../src/host/faults.js';
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

/**
 * A run (no root: it never needs the journal) whose workload writes the time every 50 ms into its
 * read-write grant until its 1 s wall ends it; `whileHeld` says whether the other process still
 * holds the lock. Asserted: its last tick (by the disk) came about 1 s after its first (a loop
 * stopped by another run's wait would have left it ticking as long as the lock was held), it
 * timed out, and all of it while the lock was held (a loop stopped before it was launched would
 * have run it only once the lock was let go).
 */
async function tickerEndsOnTime(whileHeld: () => boolean): Promise<void> {
  const w = tempDir();
  chownSync(w, 65534, 65534); // the workload's id as root maps it
  const ticker = manifest('/usr/bin/sh', ['-c', `while :; do date +%s%3N >> ${w}/ticks; sleep 0.05; done`], `  - { path: ${w}, access: read-write }\n`, '1s');
  const r = await runConfined({ manifest: ticker, dir: tempDir() }, { cgroupParent: parent });
  const held = whileHeld();
  const ticks = readFileSync(join(w, 'ticks'), 'utf8').trim().split('\n').map(Number);
  expect(ticks.at(-1)! - ticks[0]!).toBeLessThan(2500);
  expect(r.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
  // Else the ticker could only run once the lock was let go: this process's loop was held by the
  // other run's wait (or the hold was too short to tell).
  expect(held, 'the ticker ended only after the lock was let go').toBe(true);
}

/**
 * flock(1) takes the root's journal lock, for `ms`, when this process reaches the fault point
 * `stage` (synchronous: it is started there and waited for with the thread asleep). Whether it
 * holds it now; its cleanup ends it and restores the fault points, even when the test fails.
 */
function lockTakenAt(stage: FaultStage, root: string, ms: number): { held: () => boolean } {
  const marks = tempDir();
  let holder: ChildProcess | null = null;
  let gone = false;
  onTestFinished(() => {
    faultPoints.hit = hit;
    try {
      if (holder && !gone) process.kill(-holder.pid!, 'SIGKILL');
    } catch {
      // ended
    }
  });
  faultPoints.hit = (s) => {
    if (s !== stage || holder) return;
    // Its own process group: flock, its shell and the sleep end together.
    holder = spawn('flock', ['-x', join(root, 'journal.lock'), '-c', `touch ${marks}/held; sleep ${ms / 1000}`], { stdio: 'ignore', detached: true });
    holder.on('exit', () => (gone = true));
    holder.on('error', () => (gone = true)); // no flock(1): the test then fails on held()
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (const end = Date.now() + 10_000; !existsSync(join(marks, 'held')) && Date.now() < end; ) Atomics.wait(nap, 0, 0, 10);
  };
  return { held: () => existsSync(join(marks, 'held')) && !gone };
}

/** The kinds of the journal's entries after the first run's two (a report, or an event's kind and step). */
function laterKinds(root: string): string[] {
  return readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).slice(2).map((l) => {
    const e = JSON.parse(l) as { event?: { kind: string; step?: string; classification?: string } };
    return e.event ? [e.event.kind, e.event.step ?? e.event.classification].filter(Boolean).join(' ') : 'report';
  });
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
    await tickerEndsOnTime(() => !lockGone);
    await lock.gone;
    const ra = await a;
    expect(ra.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(laterKinds(root)).toEqual(['started', 'report']);
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
    // Taken as the run makes its cgroup: after its journal check, before its start record.
    const lock = lockTakenAt('run:before-cgroup', root, 20_000);
    // Its child made and in its cgroup, then ready and waiting for the go byte (its checks take
    // milliseconds) while the run waits for the lock.
    const { err, ms } = await abortedWhileWaiting(root, 'waits-start', 'the prepared workload in its cgroup', () => processesInTestParent().length > 0 && lock.held(), 300);
    expect(err).toMatchObject({ code: 'BV_ABORTED' });
    expect(ms).toBeLessThan(5000); // the lock was held 20 s
  });

  it("an on-success commit waiting for it to record its steps leaves the loop free; the commit is done once it is let go", async () => {
    const root = join(tempDir(), 'root');
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const dest = join(tempDir(), 'dest');
    // Taken once the report is journaled: the commit's first entry ('decided') waits for it.
    const lock = lockTakenAt('run:after-journal', root, 6000);
    const a = runConfined({ manifest: manifest('/usr/bin/sh', ['-c', 'echo kept > /out/f'], 'outputs: { path: /out, commit: on-success }\n'), dir: tempDir() }, { root, cgroupParent: parent, outputsTo: dest });
    onTestFinished(() => a.then(() => undefined, () => undefined));
    await until('the lock taken after the report', lock.held, 20_000);
    await tickerEndsOnTime(lock.held);
    const ra = await a;
    expect(ra.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('kept\n');
    expect(laterKinds(root)).toEqual(['started', 'report', 'disposition decided', 'disposition applied']);
  });

  it("a caller's abort while an on-success commit's decision waits for it: nothing is committed or recorded, the outputs stay staged, no descriptor is left", async () => {
    const root = join(tempDir(), 'root');
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    const dest = join(tempDir(), 'dest');
    const lock = lockTakenAt('run:after-journal', root, 20_000);
    const ac = new AbortController();
    const a = runConfined({ manifest: manifest('/usr/bin/sh', ['-c', 'echo kept > /out/f'], 'outputs: { path: /out, commit: on-success }\n'), dir: tempDir() }, { root, cgroupParent: parent, outputsTo: dest, signal: ac.signal });
    await until('the lock taken after the report', lock.held, 20_000);
    await sleep(200); // the commit at its decision, waiting for the lock
    const t0 = Date.now();
    ac.abort();
    const r = await a;
    expect(Date.now() - t0).toBeLessThan(5000); // the lock was held 20 s
    // The run completed and its report stands; the commit was never decided.
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(existsSync(join(dest, 'f'))).toBe(false);
    expect(laterKinds(root)).toEqual(['started', 'report']);
    const q = r.report.body.artifacts!.quarantine;
    expect(readFileSync(join(q, 'f'), 'utf8')).toBe('kept\n');
    // No descriptor of this process is left on the quarantine or the destination.
    const open = readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    });
    expect(open.filter((l) => l.startsWith(q) || l.startsWith(dest))).toEqual([]);
    discardOutputs(root, r.report);
  });

  it('the rollback record of a run whose program never ran waits for it with the loop free; the attempt is closed once it is let go', async () => {
    const root = join(tempDir(), 'root');
    await runConfined({ manifest: manifest('/usr/bin/true', []), dir: tempDir() }, { root, cgroupParent: parent });
    // A file execve(2) refuses (ENOEXEC: no ELF header, no #!), in a directory granted read-exec.
    const d = tempDir();
    chmodSync(d, 0o755); // the workload's id as root maps it reaches it
    writeFileSync(join(d, 'not-a-program'), 'neither ELF nor script\n', { mode: 0o755 });
    // Taken once the start record is written: the rollback's record waits for it.
    const lock = lockTakenAt('run:after-start-record', root, 6000);
    const a = runConfined({ manifest: manifest(join(d, 'not-a-program'), [], `  - { path: ${d}, access: read-exec }\n`), dir: tempDir() }, { root, cgroupParent: parent }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    await until('the lock taken after the start record', lock.held, 20_000);
    await tickerEndsOnTime(lock.held);
    const err = await a;
    expect(err?.message).toMatch(/ENOEXEC/);
    expect(err?.message).not.toContain('cleaning up after it failed too');
    expect(laterKinds(root)).toEqual(['started', 'recovery rolled-back']);
  });
});
