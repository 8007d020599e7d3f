// runConfined's signal: a caller's own end of a run. Aborted once the workload runs, its whole
// cgroup is killed and the run resolves with a sealed report; aborted before, nothing runs and
// the call rejects with BV_ABORTED (named AbortError, as Node's own aborts are). Oracles: /proc
// (which processes sit in the test's cgroup parent, before and after), the clock against a wall
// limit far away, a marker file the workload would have written, the journal on disk.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { runConfined } from '../../src/index.js';
import { faultPoints } from '../../src/host/faults.js';
import { tempDir } from '../helpers/tmp.js';
import { processesInTestParent, testCgroupParent, testParentDirs } from '../helpers/cgroups.js';
import { sleep, until } from '../helpers/wait.js';

const parent = testCgroupParent();
const inParent = processesInTestParent;

/** Settles within `ms`, or says it did not. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still running'> {
  return Promise.race([p, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);
}

// limits.processes: the run gets a cgroup (a run with no cgroup limit may have none), which is
// what the oracle reads and what an abort empties.
const sleeper = `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/sleep, args: ["86400"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nlimits: { wall: 60s, processes: 8 }\n`;

/** The sleeper has exec'd (released, not merely in its cgroup, where it is from its clone: an
 * abort before its release is the BV_ABORTED case). */
const sleeping = (): boolean =>
  inParent().some((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`).endsWith('/sleep');
    } catch {
      return false;
    }
  });

const hit = faultPoints.hit;
afterEach(() => {
  faultPoints.hit = hit;
});

describe('runConfined signal (live)', () => {
  it('aborted while the workload runs: its cgroup is emptied at once and the report says killed, reason abort', async () => {
    const ac = new AbortController();
    const run = runConfined({ manifest: sleeper, dir: tempDir() }, { cgroupParent: parent, signal: ac.signal });
    await until('the workload running', sleeping);
    const t0 = Date.now();
    ac.abort(new Error('the caller had enough'));
    const r = await within(run, 10_000);
    expect(r, 'the run did not end after its abort').not.toBe('still running');
    if (r === 'still running') return;
    expect(Date.now() - t0).toBeLessThan(10_000); // the wall was 60 s, the sleep a day
    expect(inParent()).toEqual([]);
    // signal(7): SIGKILL is 9; bvisor run's status for a signal is 128 + its number.
    expect(r.exitStatus).toBe(137);
    expect(r.report.body.outcome).toMatchObject({ status: 'killed', reason: 'abort', signal: 'SIGKILL' });
  });

  // Found by re-reading: each run added its own listeners to the caller's signal, and Node warns
  // on the caller's stderr past 10 listeners of one event (MaxListenersExceededWarning). Oracles:
  // Node's own count of the signal's listeners (events.getEventListeners) and its warnings;
  // /proc for the workloads. Red twin (by hand, a listener per wait again): 16 listeners at the
  // peak and the warning.
  it('one signal shared by 16 runs at once: no warning, one listener on it, and its abort ends them all', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    onTestFinished(() => void process.off('warning', onWarning));
    const ac = new AbortController();
    const runs = Array.from({ length: 16 }, () => runConfined({ manifest: sleeper, dir: tempDir() }, { cgroupParent: parent, signal: ac.signal }));
    // Should an assertion fail before the abort, the sleepers (a day each) end with the test anyway,
    // and their runs tear their cgroups down before the file's parent is removed.
    onTestFinished(async () => {
      ac.abort(new Error('the test ended'));
      await Promise.allSettled(runs);
    });
    let peak = 0;
    const sleepers = (): number => inParent().filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`).endsWith('/sleep');
      } catch {
        return false;
      }
    }).length;
    await until('the 16 workloads running', () => {
      peak = Math.max(peak, getEventListeners(ac.signal, 'abort').length);
      return sleepers() === 16;
    }, 30_000);
    expect(peak).toBe(1);
    ac.abort(new Error('the batch is over'));
    const results = await Promise.all(runs);
    for (const r of results) expect(r.report.body.outcome).toMatchObject({ status: 'killed', reason: 'abort' });
    expect(inParent()).toEqual([]);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // A warning is emitted on the next tick: let it come if one would.
    await sleep(20);
    expect(warnings).toEqual([]);
  });

  it('aborted after the run ended: nothing happens (no throw, no kill of anything)', async () => {
    const ac = new AbortController();
    const r = await runConfined({ manifest: sleeper.replace('args: ["86400"]', 'args: ["0"]'), dir: tempDir() }, { cgroupParent: parent, signal: ac.signal });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(() => ac.abort()).not.toThrow();
    expect(r.exitStatus).toBe(0);
  });

  it('a signal that is not an AbortSignal is BV_USAGE before anything is made', async () => {
    const root = tempDir();
    const err = await runConfined({ manifest: sleeper, dir: tempDir() }, { root, cgroupParent: parent, signal: { aborted: false } as unknown as AbortSignal }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_USAGE', message: 'signal: not an AbortSignal (Object)' });
    expect(readdirSync(root)).toEqual([]);
  });

  it('aborted before the call: rejects with BV_ABORTED, an AbortError carrying the reason, and makes nothing', async () => {
    const root = tempDir();
    const reason = new Error('not now');
    const err = await runConfined({ manifest: sleeper, dir: tempDir() }, { root, cgroupParent: parent, signal: AbortSignal.abort(reason) }).then(
      () => null,
      (e: unknown) => e as { code?: string; name?: string; cause?: unknown },
    );
    expect(err).toMatchObject({ code: 'BV_ABORTED', name: 'AbortError' });
    expect(err!.cause).toBe(reason);
    expect(readdirSync(root)).toEqual([]);
  });

  it('aborted while the launch is set up: the workload never runs and the journal has no start record', async () => {
    const root = tempDir();
    const out = tempDir();
    chownSync(out, 65534, 65534); // the workload's id as root maps it
    const manifest = `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/touch, args: ["${out}/ran"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${out}, access: read-write }\nlimits: { wall: 30s, processes: 8 }\n`;
    const ac = new AbortController();
    // As its cgroup is made: the child is cloned after this, and must never be released.
    faultPoints.hit = (stage) => void (stage === 'run:before-cgroup' && ac.abort());
    const err = await runConfined({ manifest, dir: tempDir() }, { root, id: 'abort-setup', cgroupParent: parent, signal: ac.signal }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_ABORTED' });
    expect(existsSync(join(out, 'ran'))).toBe(false);
    expect(inParent()).toEqual([]);
    // Its cgroup leaves are gone too (the test's parent stays until the file ends).
    expect(testParentDirs().flatMap((d) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)) : []))).toEqual([]);
    const journal = join(resolve(root), 'journal.jsonl');
    const lines = existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').filter(Boolean) : [];
    expect(lines.filter((l) => l.includes('"started"'))).toEqual([]);
    expect(existsSync(join(root, 'abort-setup'))).toBe(false);
  });

  /** The run's leaves under the test's parent, in every hierarchy (bvisor-<run name>), by the disk. */
  const leaves = (): string[] => testParentDirs().flatMap((d) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith('bvisor-')).map((e) => join(d, e.name)) : []));
  /**
   * A launch aborted as its cgroup is made, whose leaves the kernel will not remove for `busyMs`:
   * at each pass of their teardown a cgroup is made beneath each (rmdir says EBUSY), as a member
   * slow to exit would keep it. What the call rejects with, and the longest the event loop went
   * without a turn meanwhile (a 10 ms interval's largest gap). The cleanup removes what is left.
   */
  async function abortedWithBusyLeaves(busyMs: number): Promise<{ err: { code?: string; name?: string; message: string; detail?: Record<string, unknown> }; maxGapMs: number }> {
    onTestFinished(() => {
      faultPoints.hit = hit;
      for (const l of leaves()) {
        for (const d of [join(l, 'pin'), l]) {
          try {
            rmdirSync(d);
          } catch {
            // gone
          }
        }
      }
    });
    const ac = new AbortController();
    let busyUntil = Infinity;
    faultPoints.hit = (stage) => {
      if (stage === 'run:before-cgroup') ac.abort();
      if (stage === 'cgroup:teardown-pass') {
        if (busyUntil === Infinity) busyUntil = Date.now() + busyMs;
        if (Date.now() < busyUntil) for (const l of leaves()) mkdirSync(join(l, 'pin'), { recursive: true });
      }
    };
    let last = Date.now();
    let maxGapMs = 0;
    const ticker = setInterval(() => {
      maxGapMs = Math.max(maxGapMs, Date.now() - last);
      last = Date.now();
    }, 10);
    try {
      // With a root and an id: the run records its leaves before it makes them (run:before-cgroup).
      const err = await runConfined({ manifest: sleeper, dir: tempDir() }, { root: tempDir(), id: `busy-${busyMs}`, cgroupParent: parent, signal: ac.signal }).then(
        () => ({ message: 'it ran' }),
        (e: unknown) => e as { code?: string; name?: string; message: string; detail?: Record<string, unknown> },
      );
      return { err, maxGapMs };
    } finally {
      clearInterval(ticker);
    }
  }

  it('a failed launch whose cgroup the kernel keeps busy for seconds: it is tried again, the loop turning, and goes (nothing left)', async () => {
    // Busy for 4 s: longer than a teardown's 3 s (the thread asleep), well within the 10 s that follow.
    const { err, maxGapMs } = await abortedWithBusyLeaves(4000);
    expect(err).toMatchObject({ code: 'BV_ABORTED', name: 'AbortError' });
    expect(err.message).not.toContain('not all removed');
    expect(leaves()).toEqual([]);
    expect(inParent()).toEqual([]);
    // Other runs' deadlines are timers of this loop: it turned all along.
    expect(maxGapMs).toBeLessThan(1000);
  });

  it('a failed launch whose cgroup cannot be removed says so, naming it, rather than dropping what the kernel said', async () => {
    const { err } = await abortedWithBusyLeaves(60_000);
    // The abort, as the caller knows it, with what its clean-up could not do beside it.
    expect(err).toMatchObject({ code: 'BV_ABORTED', name: 'AbortError' });
    const left = leaves();
    expect(left.length).toBeGreaterThan(0);
    // rmdir(2): EBUSY for a cgroup that still has a cgroup beneath it.
    for (const l of left) expect(err.message).toContain(`could not remove ${l}: the kernel still refuses it (EBUSY`);
    expect(err.message).toContain("cleaning up after it failed too: the launch's cgroups were not all removed");
    expect(String(err.detail?.cleanup)).toContain(`could not remove ${left[0]}`);
  });

  it('a run whose registration is removed while it is set up makes no cgroup nothing records, and runs nothing', async () => {
    const root = tempDir();
    const out = tempDir();
    chownSync(out, 65534, 65534); // the workload's id as root maps it
    const manifest = `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/touch, args: ["${out}/ran"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${out}, access: read-write }\nlimits: { wall: 30s, processes: 8 }\n`;
    // Registered, then removed (by hand, or by a command that took the run for dead).
    faultPoints.hit = (stage) => void (stage === 'run:after-state' && rmSync(join(root, 'containers', 'gone'), { recursive: true, force: true }));
    const err = await runConfined({ manifest, dir: tempDir() }, { root, id: 'gone', cgroupParent: parent }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_CONTAINER_STATE' });
    expect(err!.message).toMatch(/its cgroup .*bvisor-gone-[0-9a-f]{8} is not made, and nothing runs/);
    expect(leaves()).toEqual([]);
    expect(existsSync(join(out, 'ran'))).toBe(false);
    expect(inParent()).toEqual([]);
  });

  it('a wasm guest that spins: aborted, its runner is killed and the report says killed, reason abort', async () => {
    const dir = resolve(__dirname, '../../bundles/wasm-out-of-fuel');
    // The bundle's guest never ends; without its fuel budget only the wall (a minute) would end it.
    const manifest = `bvisorVersion: "1"\nworkload:\n  wasm: { module: spin.wasm }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 60s, memory: 16Mi }\n`;
    const ac = new AbortController();
    const run = runConfined({ manifest, dir }, { cgroupParent: parent, signal: ac.signal });
    // Its guest spinning: some process of the run has had half a second of CPU (a runner's boot,
    // and the rewriter's run before it on a cold cache, take far less). A fixed sleep was not
    // enough on a loaded machine: the abort came while the runner was still being set up.
    const cpuTicks = (): number => inParent().reduce((n, pid) => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return Math.max(n, Number(f[11]) + Number(f[12])); // utime, stime (proc(5): fields 14, 15)
      } catch {
        return n;
      }
    }, 0);
    await until('the guest to spin', () => cpuTicks() >= 50, 30_000); // 50 ticks of USER_HZ (100)
    const t0 = Date.now();
    ac.abort();
    const r = await within(run, 10_000);
    expect(r, 'the run did not end after its abort').not.toBe('still running');
    if (r === 'still running') return;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(inParent()).toEqual([]);
    expect(r.exitStatus).toBe(137);
    expect(r.report.body.outcome).toMatchObject({ status: 'killed', reason: 'abort', signal: 'SIGKILL' });
  });
});
