// The wall deadline holds while the supervisor's event loop does not turn. The deadline is a
// timer of that loop, and a workload could hold the loop up: given the terminal, it stopped the
// terminal's output (tcflow(TCOOFF), IXON off), and bvisor's next message there (its answer to a
// Ctrl-C or Ctrl-Z) was a write that never returned; the workload then ran on past its wall for
// as long as the terminal stayed stopped (119 ticks of 100 ms against a 3 s wall, a hostile
// tester's run). A host program's own synchronous work does the same to the API. A thread of the
// shim now kills the workload shortly after its wall whatever the loop does
// (native-shim/src/sys.c, bv_deadline_thread). Oracle: the ticks the workload wrote to the disk
// while this test held its own loop up (Atomics.wait), as the blocked write did.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { PROBE, facts, writableDir } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent, testParentDirs } from '../helpers/cgroups.js';
import { skipOrFail } from '../helpers/require.js';
import { probeCgroups } from '../../src/host/facts.js';
import { until } from '../helpers/wait.js';
import { loadBundle } from '../../src/host/bundle.js';
import { admittedLinuxPlan, runLoaded } from '../../src/app/run.js';
import { launchLinux } from '../../src/backends/linux/launcher.js';
import { runWasm } from '../../src/app/wasm.js';

const BUNDLES = join(__dirname, '..', '..', 'bundles');

/** A thread of this process that looks at `pid` every 10 ms and says (in ms since the epoch, in
 * slot 0 of the returned array) when it first saw it dead or gone: it goes on while the main
 * thread sleeps. */
function deathWatch(pid: number): { at: BigInt64Array; stop(): Promise<number> } {
  const at = new BigInt64Array(new SharedArrayBuffer(8));
  const w = new Worker(
    `const { workerData: { pid, at } } = require('node:worker_threads');
     const { readFileSync } = require('node:fs');
     const look = () => {
       let state = null;
       try { state = readFileSync('/proc/' + pid + '/stat', 'latin1').replace(/^.*\\) /s, '')[0]; } catch {}
       if (state === null || state === 'Z' || state === 'X') { Atomics.store(at, 0, BigInt(Date.now())); return; }
       setTimeout(look, 10);
     };
     look();`,
    { eval: true, workerData: { pid, at } },
  );
  return { at, stop: () => w.terminate() };
}

function ticks(file: string): number {
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
}

/** A bundle running the probe with `args` under a 1 s wall; `extra` holds more manifest lines
 * (a write grant, spawn). */
function wallBundle(prefix: string, args: string, extra: { filesystem?: string; rest?: string } = {}): string {
  const b = tempDir(prefix);
  chmodSync(b, 0o755);
  writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${args} }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n${extra.filesystem ?? ''}${extra.rest ?? ''}stdio: { stdout: capture, stderr: capture }\nlimits: { wall: 1s }\n`);
  return b;
}

/** Launches bundle `b` through the launcher itself, calling `onGo` with the workload's pid just
 * before the go byte (the go byte is written in the same turn; the exec's end of the record pipe
 * can be read no sooner than the next turn's poll, so a setImmediate there runs between the two). */
function launchWithGo(b: string, runName: string, onGo: (pid: number) => void): ReturnType<typeof launchLinux> {
  const host = facts();
  const plan = admittedLinuxPlan(loadBundle(b), host, { cgroupParent: defaultTestParent(), root: null }, 'run', true);
  return launchLinux({ plan, host, runName: `${runName}-${process.pid}`, hostname: 'bvisor', secret: () => undefined, capture: { stdout: null, stderr: null }, dieWithParent: true, beforeGo: ({ pid }) => onGo(pid) });
}

describe('the wall deadline without the event loop', () => {
  it('a run whose supervisor is held up past its wall is killed near its wall, and reported a timeout', async () => {
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = wallBundle('bvisor-backstop-', `[tick, ${tickFile}]`, { filesystem: `  - { path: ${out}, access: read-write }\n` });
    const run = runLoaded(loadBundle(b), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    await until('the workload ticks', () => ticks(tickFile) > 0, 20_000);
    // The sleep begins before the wall (else this would prove nothing).
    expect(ticks(tickFile)).toBeLessThanOrEqual(8);
    // 3 s with this process's only thread asleep: no timer of its loop fires meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    // 100 ms ticks: about 12 by the wall and the backstop's quarter second, about 30 had the
    // workload lived until the loop woke.
    const n = ticks(tickFile);
    expect(n).toBeGreaterThan(2); // fewer than 12 on a loaded machine: a tick is 100 ms asleep and then some
    expect(n).toBeLessThanOrEqual(20);
    const r = await run;
    expect(r.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    // The run's length is when the backstop killed it (at least 1250 ms after exec: not the
    // loop's own timer, at 1000), not when the loop woke to see it (3 s and more); from the
    // release, so with the child's set-up on a loaded machine.
    expect(r.report.body.timings.runMs).toBeGreaterThanOrEqual(1250);
    expect(r.report.body.timings.runMs).toBeLessThan(2600);
  });

  it('a launch whose supervisor is held up between the go byte and seeing the exec: killed near its wall all the same', async () => {
    // The window the test above can only hit by chance (a CI run once did: 31 ticks): the loop
    // is held from the turn after the go byte, before the launcher has read the exec (its record
    // pipe's end), so before anything of the loop's could have started a countdown.
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = wallBundle('bvisor-backstop-go-', `[tick, ${tickFile}]`, { filesystem: `  - { path: ${out}, access: read-write }\n` });
    let heldAt = 0;
    const result = await launchWithGo(b, 'backstop-go', () => {
      setImmediate(() => {
        heldAt = Date.now();
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
      });
    });
    expect(heldAt).toBeGreaterThan(0);
    // About 12 ticks by the wall and the backstop's quarter second; about 30 had the workload
    // lived until the loop woke.
    const n = ticks(tickFile);
    expect(n).toBeGreaterThan(2);
    expect(n).toBeLessThanOrEqual(20);
    expect(result.signal).toBe(9);
    expect(result.timedOut).toBe(true);
    expect(result.backstopAt).toBeGreaterThanOrEqual(heldAt);
    expect(result.backstopAt! - heldAt).toBeLessThan(2600);
  });

  it('a workload whose main thread ended by exit(2) alone (its leader exiting, a thread running on): the backstop\'s kill is still claimed a timeout', async () => {
    // An attack in December: the backstop claims its kill only if the first process was not
    // exiting already (so an OOM kill is not called a timeout), and it looked at the leader's
    // PF_EXITING alone, which a leader that ended by exit(2) carries while its threads run on.
    const b = wallBundle('bvisor-backstop-leader-', '[unparented, "60", leader-exit]', { rest: 'spawn: threads\n' });
    let seen: { leader: string; others: string[] } | null = null;
    const states = (pid: number): { leader: string; others: string[] } => {
      const of = (f: string): string => {
        try {
          const t = readFileSync(f, 'latin1');
          return t.slice(t.lastIndexOf(')') + 2)[0]!;
        } catch {
          return '-';
        }
      };
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${pid}/task`).filter((t) => t !== String(pid));
      } catch {
        // gone
      }
      return { leader: of(`/proc/${pid}/stat`), others: tids.map((t) => of(`/proc/${pid}/task/${t}/stat`)) };
    };
    const result = await launchWithGo(b, 'backstop-leader', (pid) => {
      setImmediate(() => {
        // Held from here, as the tests above hold it; first (synchronously, so still held) the
        // workload seen as the attack had it: its leader a zombie, a thread of it asleep.
        const t0 = Date.now();
        while (Date.now() - t0 < 900) {
          const s = states(pid);
          if (s.leader === 'Z' && s.others.includes('S')) {
            seen = s;
            break;
          }
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000 - (Date.now() - t0));
      });
    });
    expect(seen).toMatchObject({ leader: 'Z', others: expect.arrayContaining(['S']) });
    expect(result.signal).toBe(9);
    expect(result.timedOut).toBe(true);
    expect(result.backstopAt).toBeDefined();
    expect(result.runMs).toBeLessThan(2600);
  });

  // A SIGKILL sent to a task that cannot run it yet stays pending (SigPnd/ShdPnd bit 9 of its
  // status, proc(5)) while the task sleeps uninterruptibly: the OOM killer's or a caller's, to
  // one blocked in the kernel. cgroup v1's freezer holds a task so until it is thawed, which
  // makes the window as long as a test needs. The backstop must not claim that death a timeout.
  // Oracle: the freezer's own state and the workload's pending set (/proc), read while it is
  // held, then how it ended.
  it('a workload killed by another while it cannot yet die (a SIGKILL pending: held by the v1 freezer) is not claimed a timeout', async () => {
    const v1 = probeCgroups(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'), () => ({ ok: false, error: null })).v1.find((h) => h.controllers.includes('freezer') && h.ownDir !== null);
    if (!v1) return skipOrFail('cgroup1-freezer', 'no cgroup v1 freezer hierarchy here (a pure cgroup v2 host): nothing holds a killed task in the kernel on demand');
    const parent = testParentDirs().find((d) => d.startsWith(`${v1.mountPoint}/`))!;
    const cell = join(parent, 'frozen');
    const wait = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const freezer = (state: 'FROZEN' | 'THAWED'): void => {
      writeFileSync(join(cell, 'freezer.state'), state);
      const t0 = Date.now();
      while (readFileSync(join(cell, 'freezer.state'), 'utf8').trim() !== state) {
        if (Date.now() - t0 > 5000) throw new Error(`${cell} did not become ${state} in 5 s`);
        wait(5);
      }
    };
    let madeParent = false;
    try {
      if (!existsSync(parent)) {
        mkdirSync(parent);
        madeParent = true;
      }
      mkdirSync(cell);
      const b = wallBundle('bvisor-backstop-pending-', '[sleep, "30"]');
      let seen = '';
      const host = facts();
      const plan = admittedLinuxPlan(loadBundle(b), host, { cgroupParent: defaultTestParent(), root: null }, 'run', true);
      // Held from the turn after the exec was seen, with the loop's own wall timer armed, to
      // past the wall (1 s) and the backstop's quarter second; the freeze and the kill come at
      // once, well before the backstop.
      const result = await launchLinux({ plan, host, runName: `backstop-pending-${process.pid}`, hostname: 'bvisor', secret: () => undefined, capture: { stdout: null, stderr: null }, dieWithParent: true, onExec: ({ pid }) => {
        setImmediate(() => {
          const t0 = Date.now();
          try {
            writeFileSync(join(cell, 'cgroup.procs'), String(pid));
            freezer('FROZEN');
            process.kill(pid, 'SIGKILL');
            const st = readFileSync(`/proc/${pid}/status`, 'latin1');
            seen = `${readFileSync(join(cell, 'freezer.state'), 'utf8').trim()} ${/^ShdPnd:\s*(\S+)/m.exec(st)?.[1]}`;
            wait(2500 - (Date.now() - t0));
          } finally {
            // Thawed while the loop is still held: it dies of the pending SIGKILL, and the loop
            // wakes to its end and a late timer. (The end is seen first: the launcher's reaper
            // polls every 100 ms, which comes due before the wall's timer.)
            freezer('THAWED');
            const t1 = Date.now();
            while (!/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'latin1')) && Date.now() - t1 < 2000) wait(5);
          }
        });
      } });
      // Held in the kernel, SIGKILL (bit 9: 0x100) pending to the group. (Its State reads D, or
      // R on 6.1+ kernels without the fix that reports frozen tasks as uninterruptible.)
      expect(seen).toMatch(/^FROZEN [0-9a-f]*[13579bdf][0-9a-f]{2}$/);
      expect(result.signal).toBe(9);
      expect(result.backstopAt).toBeUndefined(); // the backstop saw it ending, and claimed nothing
      expect(result.timedOut).toBe(false);
    } finally {
      // Best-effort, each step on its own: a failure above is the one to see.
      for (const step of [() => existsSync(cell) && writeFileSync(join(cell, 'freezer.state'), 'THAWED'), () => existsSync(cell) && rmdirSync(cell), () => madeParent && rmdirSync(parent)]) {
        try {
          step();
        } catch {
          // the test's own failure, if any, is reported instead
        }
      }
    }
  });

  it('a wasm run whose supervisor is held up past its wall: its runner is killed near its wall', async () => {
    const d = tempDir('bvisor-backstop-wasm-');
    chmodSync(d, 0o755);
    copyFileSync(join(BUNDLES, 'wasm-out-of-fuel', 'spin.wasm'), join(d, 'spin.wasm'));
    // No fuel: only the wall ends it.
    writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: spin.wasm }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 1s, memory: 16Mi }\n');
    const b = loadBundle(d);
    const host = facts();
    const plan = admittedLinuxPlan(b, host, { cgroupParent: defaultTestParent(), root: null }, 'run', true);
    let handedAt = 0;
    let watch: ReturnType<typeof deathWatch> | null = null;
    const run = runWasm(b, plan, host, {
      cacheDir: tempDir('bvisor-wasm-cache-'),
      id: null,
      runName: 'backstop',
      secret: () => undefined,
      cgroupParent: defaultTestParent(),
      reserved: [],
      onReleased: (ctl) => {
        handedAt = Date.now();
        watch = deathWatch(ctl.pid);
      },
    });
    await until('the job handed over', () => handedAt > 0, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    // The sleep begins well before the wall (else this would prove nothing).
    expect(Date.now() - handedAt).toBeLessThan(700);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    const w = watch as unknown as ReturnType<typeof deathWatch>;
    await until('the runner seen dead', () => Atomics.load(w.at, 0) > 0n, 20_000);
    await w.stop();
    const diedAfter = Number(Atomics.load(w.at, 0)) - handedAt;
    // The wall (1 s) and the backstop's quarter second, with room for a loaded machine; about
    // 3.2 s had the runner lived until the loop woke.
    expect(diedAfter).toBeGreaterThanOrEqual(1000);
    expect(diedAfter).toBeLessThan(2200);
    const r = await run;
    expect(r.result.timedOut).toBe(true);
    // From the job's hand-over: the backstop's 1250 ms, not the loop's own timer's 1000.
    expect(r.result.runMs).toBeGreaterThanOrEqual(1250);
    expect(r.result.runMs).toBeLessThan(2200);
  });

  it('a workload the OOM killer ends while the supervisor is held up is not reported a timeout (the backstop claims only its own kill)', async () => {
    const out = writableDir();
    const started = join(out, 'started');
    const b = tempDir('bvisor-backstop-oom-');
    chmodSync(b, 0o755);
    writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [alloc, "512", ${started}] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: ${out}, access: read-write }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 1s, memory: 32Mi }\n`);
    const run = runLoaded(loadBundle(b), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    await until('the workload runs', () => existsSync(started), 20_000);
    await new Promise((r) => setTimeout(r, 100));
    // Asleep past the wall and the backstop's quarter second: the OOM kill (half a second in)
    // comes first, and the loop sees both only when it wakes.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    const r = await run;
    expect(r.report.body.outcome.status).not.toBe('timeout');
    expect(r.report.body.outcome).toMatchObject({ status: 'killed', reason: 'oom' });
  });
});

