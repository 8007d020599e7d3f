// A wasm module is instrumented in a confined process of its own (app/instrument.ts): its heap,
// its memory (native included) and its time are bounded, the caller's stop kills it at once,
// the caller's event loop turns meanwhile, and it runs under seccomp, no_new_privs and its own
// namespaces. Found by attack: on the supervisor's own thread, a 7 MB function took 6.4 s and
// 1.3 GB and no stop signal was heard until it ended; in a worker thread, a 60 KiB module of
// many-valued blocks took hundreds of MB of the supervisor's native memory. Oracles: the
// refusal's code and message, the module cache on disk (an entry exists only for a rewrite that
// finished), /proc (the rewriter's status, namespaces and cgroup, this process's peak memory,
// what is left in the test's cgroup parent), the rewriter's cgroup files, timers of this process
// that fire (or not) while the rewrite runs, and the rewriter run on this thread for
// byte-identical output. The red twins switch a bound off, or rewrite on the caller's thread
// (LaunchHooks, test builds only).
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { skipOrFail } from '../helpers/require.js';
import { runBundle } from '../../src/app/run.js';
import { instrumentBounded } from '../../src/app/instrument.js';
import { instrument, WasmRefused } from '../../src/core/wasm/fuel.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';
import { repeatedModule, manyTypesModule, manyParamBlocksModule, wasmModule, I, T } from '../core/wasm/builder.js';
import { probeHost } from '../../src/host/facts.js';
import { rewriterLaunch } from '../../src/app/wasm.js';
import { tempDir } from '../helpers/tmp.js';
import { processesInTestParent, testCgroupParent, testParentProcess } from '../helpers/cgroups.js';
import { until } from '../helpers/wait.js';
import { readByItsOwnIds, readerMissing, refused, threadsOf, type OwnIdsRead } from '../helpers/dumpable.js';

const parent = testCgroupParent();
const CAPS = { maxPages: 16, tableEntries: 1024 };

/** A bundle of `module` (hello.wasm) with a small boundary; the state root beside it. */
function bundleOf(module: Uint8Array): { dir: string; root: string } {
  const dir = tempDir();
  writeFileSync(join(dir, 'big.wasm'), module);
  writeFileSync(join(dir, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: big.wasm }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 60s, memory: 16Mi }\n');
  return { dir, root: tempDir() };
}

/** The module cache's entries under a state root (app/wasm.ts: <root>/wasm-cache). */
function cacheEntries(root: string): string[] {
  try {
    return readdirSync(join(root, 'wasm-cache')).filter((f) => f.endsWith('.wasm'));
  } catch {
    return [];
  }
}

/** This process's peak resident memory (VmHWM, proc(5)) from now on: reset to its current size
 * (clear_refs 5, Linux 4.0+); then peakRss(). */
function resetPeak(): number {
  writeFileSync('/proc/self/clear_refs', '5');
  return peakRss();
}

/** This process's peak resident memory (VmHWM, proc(5)), in bytes. */
function peakRss(): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
}

/** The soft and hard core size limits of `pid`, as /proc/<pid>/limits says them. */
function coreLimit(pid: number): string {
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? `${m[1]} ${m[2]}` : 'not listed';
}

/** A distinct module each call (the in-process cache would serve a repeat): 20,000-odd types,
 * slow to instrument, so that the rewriter and the runner are both up for a while. */
let slowModules = 0;
const slowToInstrument = (): Uint8Array => manyTypesModule(20_002 + slowModules++, 20);

/**
 * Starts a run of a module slow to instrument, waits until its rewriter and its runner have both
 * started Node (more than one thread each), gives both pids to `look`, then stops the run and
 * checks that nothing of it is left.
 */
async function whileRewriting<T>(hooks: LaunchHooks, look: (pids: { rewriter: number; runner: number }) => T): Promise<T> {
  const { dir, root } = bundleOf(slowToInstrument());
  const ac = new AbortController();
  const run = outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, signal: ac.signal, hooks }));
  let seen: T;
  try {
    let rewriter = 0;
    let runner = 0;
    await until('the rewriter and the runner started', () => {
      rewriter = testParentProcess(/rewriter\.js/);
      runner = testParentProcess(/runner\.(blob|js)/);
      return rewriter > 0 && runner > 0 && threadsOf(rewriter) > 1 && threadsOf(runner) > 1;
    }, 20_000);
    seen = look({ rewriter, runner });
  } finally {
    ac.abort(new Error('seen enough'));
  }
  expect((await run) === 'ran').toBe(false);
  expect(processesInTestParent()).toEqual([]);
  return seen;
}

/** The memory limit of the cgroup `pid` is in (v1 memory.limit_in_bytes, or v2 memory.max),
 * read from the cgroup files; null where it has no memory controller. */
function memoryLimitOf(pid: number): number | null {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers?.split(',').includes('memory')) return Number(readFileSync(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`, 'utf8'));
    if (controllers === '' && !existsSync('/sys/fs/cgroup/memory')) {
      try {
        return Number(readFileSync(`/sys/fs/cgroup${path}/memory.max`, 'utf8'));
      } catch {
        return null;
      }
    }
  }
  return null;
}

async function outcome(p: Promise<unknown>): Promise<{ code?: string; message: string; hint?: string } | 'ran'> {
  return p.then(
    () => 'ran' as const,
    (e: unknown) => e as { code?: string; message: string; hint?: string },
  );
}

// One function of a million nops: about 165 MB of the rewriter's heap (0.4 s on this thread).
const oneLargeFunction = (): Uint8Array => repeatedModule({ functions: 1, instruction: [I.nop], count: 1_000_000 });
// 80,000 functions of 100 instructions (12 MB): about a second of rewriting, in little heap at a time.
const manyFunctions = (): Uint8Array => repeatedModule({ functions: 80_000, instruction: [...I.i32(0), I.drop], count: 50 });

describe('the wasm rewriter, bounded (live)', () => {
  it("a module above the rewriter's heap bound is refused by name before its guest runs; nothing is cached or left", async () => {
    const { dir, root } = bundleOf(oneLargeFunction());
    const hooks: LaunchHooks = { rewriterHeapMb: 64 };
    const r = await outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks }));
    expect(r).not.toBe('ran');
    if (r === 'ran') return;
    expect(r.code).toBe('BV_WASM_REFUSED');
    expect(r.message).toBe("big.wasm: instrumenting it needs more than the 64 MiB of heap bvisor's rewriter may use; nothing was run");
    expect(r.hint).toMatch(/smaller functions/);
    expect(cacheEntries(root)).toEqual([]);
    expect(processesInTestParent()).toEqual([]);
  });

  it('red twin: rewritten on the caller\'s thread, the same module is not bounded (it runs)', async () => {
    const { dir, root } = bundleOf(oneLargeFunction());
    const r = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriterHeapMb: 64, rewriteInThisThread: true } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(cacheEntries(root)).toHaveLength(1);
  });

  /**
   * Runs the many-functions module with a 20 ms heartbeat on this thread, which aborts the run
   * 150 ms after its runner is up (the module is then being instrumented: the runner is exec'd
   * first). The longest gap between beats, how the run ended, and what the cache holds.
   */
  async function abortedMidRewrite(hooks: LaunchHooks): Promise<{ longestGap: number; r: Awaited<ReturnType<typeof outcome>>; cached: string[]; afterAbortMs: number }> {
    const { dir, root } = bundleOf(manyFunctions());
    const ac = new AbortController();
    let last = Date.now();
    let longestGap = 0;
    let runnerSeen = 0;
    let abortedAt = 0;
    const beat = setInterval(() => {
      const now = Date.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      if (!runnerSeen && processesInTestParent().length > 0) runnerSeen = now;
      if (runnerSeen && !abortedAt && now - runnerSeen >= 150) {
        abortedAt = now;
        ac.abort(new Error('the caller had enough'));
      }
    }, 20);
    try {
      const r = await outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks, signal: ac.signal }));
      return { longestGap, r, cached: cacheEntries(root), afterAbortMs: abortedAt ? Date.now() - abortedAt : -1 };
    } finally {
      clearInterval(beat);
    }
  }

  it("the caller's stop ends the rewrite at once: its loop turns meanwhile, the run is BV_ABORTED, nothing is cached or left", async () => {
    const { longestGap, r, cached, afterAbortMs } = await abortedMidRewrite({});
    // The rewrite takes about a second; this thread was never held for a large part of it.
    expect(longestGap).toBeLessThan(400);
    expect(afterAbortMs).toBeGreaterThanOrEqual(0);
    expect(afterAbortMs).toBeLessThan(500); // the rest of the rewrite is most of a second
    expect(r).not.toBe('ran');
    if (r === 'ran') return;
    expect(r.code).toBe('BV_ABORTED');
    expect(cached).toEqual([]); // the rewrite never finished
    expect(processesInTestParent()).toEqual([]);
  });

  // Found by attack on the thread this process replaced: the stop waited for the thread's end, and
  // a thread inside the engine's own validation (native code: 20,000 types take about 2.7 s
  // here, 80,000 a minute) ends only when that returns; a process is killed wherever it is.
  it("a stop while the rewriter is inside the engine's validation is answered at once, not when the engine returns", async () => {
    const { dir, root } = bundleOf(manyTypesModule(20_000, 20));
    const ac = new AbortController();
    const run = outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, signal: ac.signal }));
    await until('the runner in its cgroup', () => processesInTestParent().length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    ac.abort(new Error('the caller had enough'));
    const r = await run;
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(r === 'ran' ? 'ran' : r.code).toBe('BV_ABORTED');
    expect(cacheEntries(root)).toEqual([]);
    expect(processesInTestParent()).toEqual([]);
  });

  it("red twin: rewritten on the caller's thread, the loop is held for the whole rewrite, which ends and is cached", async () => {
    const { longestGap, cached } = await abortedMidRewrite({ rewriteInThisThread: true });
    expect(longestGap).toBeGreaterThan(400);
    expect(cached).toHaveLength(1);
    expect(processesInTestParent()).toEqual([]);
  });

  // 20,000 blocks of 300 values: 60 KiB of module, about 210 MB of the engine's validation, in
  // native memory that no JavaScript heap bound covers. (A block more or less: a module another
  // test instrumented is in this process's cache.)
  const blocksModule = (more = 0): Uint8Array => manyParamBlocksModule(300, 20_000 + more);

  it("a module whose validation needs more than the rewriter's memory is refused by name; this process's memory never held it", async () => {
    const { dir, root } = bundleOf(blocksModule());
    const before = resetPeak();
    const r = await outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriterMemoryBytes: 128 * 2 ** 20 } }));
    expect(r === 'ran' ? 'ran' : r.code).toBe('BV_WASM_REFUSED');
    if (r === 'ran') return;
    expect(r.message).toBe("big.wasm: instrumenting it needs more than the 128 MiB of memory bvisor's rewriter may use; nothing was run");
    expect(r.hint).toMatch(/simpler block types/);
    expect(peakRss() - before).toBeLessThan(100 * 2 ** 20);
    expect(cacheEntries(root)).toEqual([]);
    expect(processesInTestParent()).toEqual([]);
  });

  it('red twin: without the memory bound, the same module is instrumented (and runs)', async () => {
    const { dir, root } = bundleOf(blocksModule());
    const r = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriterMemoryBytes: null } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(cacheEntries(root)).toHaveLength(1);
  });

  it("red twin: on the caller's thread, the validation's memory is this process's", async () => {
    const { dir, root } = bundleOf(blocksModule(1));
    const before = resetPeak();
    const r = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriteInThisThread: true } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    // Past the line the bounded test holds this process under (100 MiB): that test's assertion
    // would fail were the memory here. (150 MiB was asked before; 148.9 was seen once under load:
    // the engine's share of the 210 MB varies, the line it must cross does not.)
    expect(peakRss() - before).toBeGreaterThan(100 * 2 ** 20);
  });

  it("a module whose rewrite takes longer than the rewriter's time is refused by name once that time is up", async () => {
    // 20,000 distinct types: about 2.7 s of the engine's validation here.
    const { dir, root } = bundleOf(manyTypesModule(20_000, 20));
    const t0 = Date.now();
    const r = await outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriterWallMs: 300 } }));
    const took = Date.now() - t0;
    expect(r === 'ran' ? 'ran' : r.code).toBe('BV_WASM_REFUSED');
    if (r === 'ran') return;
    expect(r.message).toBe("big.wasm: instrumenting it takes longer than the 0.3 s bvisor's rewriter may take; nothing was run");
    expect(took).toBeLessThan(2_000);
    expect(cacheEntries(root)).toEqual([]);
    expect(processesInTestParent()).toEqual([]);
  });

  it('red twin: without the time bound, the same module is instrumented after seconds (and runs)', async () => {
    const { dir, root } = bundleOf(manyTypesModule(20_000, 20));
    const t0 = Date.now();
    const r = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: { rewriterWallMs: null } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(Date.now() - t0).toBeGreaterThan(1_000);
  });

  it('the rewriter runs confined: seccomp, no_new_privs, namespaces of its own, not root, in a leaf with its memory bound', async () => {
    const { dir, root } = bundleOf(manyTypesModule(20_001, 20));
    const ac = new AbortController();
    const bound = 300 * 2 ** 20;
    const run = outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, signal: ac.signal, hooks: { rewriterMemoryBytes: bound } }));
    try {
      let pid = 0;
      await until('the rewriter in its cgroup', () => (pid = testParentProcess(/rewriter\.js/)) > 0, 20_000);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(/^Seccomp:\s+(\d+)/m.exec(status)?.[1]).toBe('2'); // SECCOMP_MODE_FILTER (proc(5))
      expect(/^NoNewPrivs:\s+(\d+)/m.exec(status)?.[1]).toBe('1');
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).not.toBe('0');
      expect(/^CapEff:\s+(\S+)/m.exec(status)?.[1]).toBe('0000000000000000');
      for (const ns of ['user', 'mnt', 'net', 'pid']) expect(readlinkSync(`/proc/${pid}/ns/${ns}`), ns).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
      expect(memoryLimitOf(pid)).toBe(bound);
    } finally {
      ac.abort(new Error('seen enough'));
    }
    expect((await run) === 'ran').toBe(false);
    expect(processesInTestParent()).toEqual([]);
  });

  // The runner holds the guest's resolved secrets, the rewriter the bundle author's bytes: a core
  // of either is a file bvisor never meant to write. Oracle: /proc/<pid>/limits (proc(5)), with
  // this process's own soft limit raised first (prlimit(1)), so that an inherited 0 proves nothing.
  // Red twin (by hand, noCoreDump dropped from both manifests): "unlimited" for both.
  it("bvisor's own processes (the rewriter, the runner) may dump no core, whatever bvisor's own limit", async () => {
    const own = coreLimit(process.pid);
    const hard = own.split(' ')[1]!;
    // Up to the hard limit only (without CAP_SYS_RESOURCE nothing can go above it).
    if (hard === '0') return skipOrFail('core-limit', 'the hard RLIMIT_CORE here is 0: no process could dump core, so a 0 proves nothing');
    const raise = spawnSync('prlimit', ['--pid', String(process.pid), `--core=${hard}:${hard}`]);
    if (raise.error) return skipOrFail('util-linux', 'prlimit(1) is not installed');
    expect(raise.status, String(raise.stderr)).toBe(0);
    try {
      expect(coreLimit(process.pid)).toBe(`${hard} ${hard}`);
      const limits = await whileRewriting({}, ({ rewriter, runner }) => [coreLimit(rewriter), coreLimit(runner)]);
      expect(limits).toEqual(['0 0', '0 0']);
    } finally {
      spawnSync('prlimit', ['--pid', String(process.pid), `--core=${own.replace(' ', ':')}`]);
    }
  });

  // RLIMIT_CORE 0 stops core files, not a core_pattern pipe, which gets the whole memory (core(5);
  // systemd-coredump honours the limit it is handed, a helper of another kind need not). A process
  // made non-dumpable is not dumped at all, and ptrace(2)'s access check refuses its memory even to
  // its own ids (step 5). Oracle: that check, made by a reader with the process's own ids in its own
  // user namespace and no capability. The twin: the launch sets the library's mark itself instead
  // of preloading it (a test hook), and the same reader reads the same processes.
  const ownProcessesRead = (hooks: LaunchHooks): Promise<OwnIdsRead[]> => whileRewriting(hooks, ({ rewriter, runner }) => [rewriter, runner].map(readByItsOwnIds));

  const withPreload = (value: (e: { name: string; value?: string }) => { name: string; value: string }): LaunchHooks => {
    const mutate: LaunchHooks['mutateLaunch'] = (l) => void (l.env = l.env.map((e) => (e.name === 'LD_PRELOAD' ? value(e) : e)));
    return { mutateLaunch: mutate, mutateRewriterLaunch: mutate };
  };
  const markWithoutLibrary = withPreload(() => ({ name: 'BVISOR_NONDUMPABLE', value: '1' }));

  it("bvisor's own processes (the rewriter, the runner) are not dumpable: their own ids cannot read their memory", async () => {
    const missing = readerMissing();
    if (missing) return skipOrFail('util-linux', missing);
    for (const r of await ownProcessesRead({})) expect(r).toMatchObject(refused(r));
    // The twin: dumpable, the same reader reads both.
    for (const r of await ownProcessesRead(markWithoutLibrary)) expect(r, r.stderr).toMatchObject({ status: 0, stderr: '' });
  });

  // Found by review: a library present but not loadable (ld.so: "file too short", another
  // architecture, unreadable) was BV_INTERNAL from the rewriter and BV_WASM_RUNNER from the
  // runner, as if a bug or the guest's setup. Both are the install's: BV_SHIM_LOAD. /dev/null
  // stands for such a file (ld.so: "cannot be preloaded (file too short): ignored").
  it('a preload ld.so cannot load is BV_SHIM_LOAD from the rewriter and from the runner, and nothing runs', async () => {
    const unloadable = withPreload(() => ({ name: 'LD_PRELOAD', value: '/dev/null' }));
    const { dir, root } = bundleOf(repeatedModule({ functions: 2, instruction: [I.nop], count: 777 }));
    const rewriting = await outcome(runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: unloadable }));
    expect(rewriting).toMatchObject({ code: 'BV_SHIM_LOAD', message: expect.stringMatching(/^the wasm rewriter was not made non-dumpable: ld.so could not preload/) });
    expect(cacheEntries(root)).toEqual([]);
    // Cached by a run as shipped, the next run starts no rewriter: its runner is the one refused.
    const ok = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {} });
    expect(ok.report.body.outcome).toMatchObject({ status: 'completed' });
    const running = await runBundle(dir, { id: null, root, cgroupParent: parent, secretEnv: {}, hooks: unloadable });
    expect(running.report.body.outcome).toMatchObject({ status: 'error', reason: 'runner', error: { code: 'BV_SHIM_LOAD', message: expect.stringMatching(/^the runner was not made non-dumpable: ld.so could not preload/) } });
    expect(processesInTestParent()).toEqual([]);
  });
});

describe('instrumentBounded (needs dist/)', () => {
  const launch = rewriterLaunch(probeHost(), { runName: 'rw-test', cgroupParent: parent, reserved: [] });

  it('in the process, the rewrite is byte for byte the one made on this thread, surface included', async () => {
    const m = repeatedModule({ functions: 300, instruction: [...I.i32(7), I.drop], count: 300 });
    const here = instrument(m, CAPS);
    const there = await instrumentBounded(m.slice(), CAPS, launch);
    expect(Buffer.from(there.bytes).equals(Buffer.from(here.bytes))).toBe(true);
    expect({ ...there, bytes: null }).toEqual({ ...here, bytes: null });
  });

  // ld.so runs a program whose preload it cannot load (ld.so(8)): the rewriter itself refuses to
  // read its job unless the library made it non-dumpable (native-shim/src/nodump.c). Oracle: its
  // reply, started by hand with the job on fd 3 and the reply on fd 4; the twin with the library.
  it('the rewriter reads no job without the library that makes it non-dumpable', () => {
    const m = repeatedModule({ functions: 1, instruction: [I.nop], count: 10 });
    const job = Buffer.concat([Buffer.from(JSON.stringify(CAPS) + '\n'), Buffer.from(m)]);
    const script = join(__dirname, '..', '..', 'dist', 'backends', 'wasm', 'rewriter.js');
    const reply = (env: NodeJS.ProcessEnv): string => {
      const r = spawnSync('/bin/sh', ['-c', 'exec "$0" "$1" 3<&0 4>&1 1>/dev/null', process.execPath, script], { input: job, env, timeout: 60_000 });
      return r.stdout.subarray(0, r.stdout.indexOf(10)).toString();
    };
    expect(reply({})).toBe(JSON.stringify({ failed: "this process was not made non-dumpable (bvisor's libbvnodump.so was not preloaded): not run" }));
    expect(JSON.parse(reply({ LD_PRELOAD: join(__dirname, '..', '..', 'native-shim', 'build', 'libbvnodump.so') }))).toMatchObject({ bytes: expect.any(Number) });
  });

  // Found by attack: under RLIMIT_AS, V8 reports running out of address space as whatever it was
  // allocating (its heap, a zone, an array buffer), or faults: it was refused as "heap" or was a
  // BV_INTERNAL. 2 million nops: about 330 MB of the rewriter's heap, which a 1 GiB memory cgroup
  // holds and 1 GiB of address space does not (V8 reserves far more than it uses).
  it('where no memory cgroup can be made, the bound is RLIMIT_AS, and running out of it is refused as that', async () => {
    const host = probeHost();
    const v2 = host.cgroup.v2;
    const noMemory: typeof host = {
      ...host,
      cgroup: {
        ...host.cgroup,
        v1: host.cgroup.v1.filter((h) => !h.controllers.includes('memory')),
        v2: v2 && { ...v2, controllers: v2.controllers.filter((c) => c !== 'memory'), ...(v2.rootControllers ? { rootControllers: v2.rootControllers.filter((c) => c !== 'memory') } : {}) },
      },
    };
    const m = repeatedModule({ functions: 1, instruction: [I.nop], count: 2_000_000 });
    const bounded = rewriterLaunch(noMemory, { runName: 'rw-as', cgroupParent: parent, reserved: [] });
    expect(bounded.plan([0, 1], { heapMb: 1024, memoryBytes: 2 ** 30, wallMs: 60_000 }).clauses.find((c) => c.clause === 'limits.memory')?.mechanism).toMatch(/^linux:rlimit\(RLIMIT_AS=/);
    const got = await instrumentBounded(m.slice(), CAPS, bounded, { memoryBytes: 2 ** 30 }).then(() => null, (e: unknown) => e as Error);
    expect(got).toBeInstanceOf(WasmRefused);
    expect(got!.message).toBe("instrumenting it needs more than the 1024 MiB of memory (address space, RLIMIT_AS) bvisor's rewriter may use; nothing was run");
    // The twin: the same bound as a memory cgroup (resident memory) holds the rewrite.
    const there = await instrumentBounded(m.slice(), CAPS, launch, { memoryBytes: 2 ** 30 });
    expect(there.bytes.length).toBeGreaterThan(2_000_000);
    expect(processesInTestParent()).toEqual([]);
  });

  // Found by review: the reply line carried the imports and exports, about 65 bytes of JSON for
  // each from as few as 7 of module (and the whole type again for each): modules with many
  // exports were BV_INTERNAL on every run. bvisor reads them from the module itself.
  it('2,000 exported functions of one 999-parameter type (21 KB; 8 MB of JSON): instrumented, the surface read from the module', async () => {
    const m = wasmModule({ funcs: [{ body: [], export: '_start' }, ...Array.from({ length: 2_000 }, (_, i) => ({ params: Array<number>(999).fill(T.i32), body: [], export: `f${i}` }))], memory: { min: 1, export: 'memory' } });
    const there = await instrumentBounded(m.slice(), CAPS, launch);
    expect(there.exports).toEqual(instrument(m, CAPS).exports);
  });

  it("the process's refusals are the rewriter's own, as WasmRefused", async () => {
    // A memory whose minimum is above the cap: refused by the rewriter, in its process.
    const m = repeatedModule({ functions: 300, instruction: [...I.i32(7), I.drop], count: 300 });
    const caps = { maxPages: 0, tableEntries: 1024 };
    const want = (() => {
      try {
        instrument(m, caps);
        return null;
      } catch (e) {
        return e as Error;
      }
    })();
    expect(want).toBeInstanceOf(WasmRefused);
    const got = await instrumentBounded(m.slice(), caps, launch).then(() => null, (e: unknown) => e as Error);
    expect(got).toBeInstanceOf(WasmRefused);
    expect(got!.message).toBe(want!.message);
    expect(got!.message).toMatch(/above the cap of 0 pages/);
  });
});
