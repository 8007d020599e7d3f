// Instruments a wasm module for a run (core/wasm/fuel.ts) in a process of its own: the rewriter
// (backends/wasm/rewriter.ts), started through the Linux launcher under a boundary of its own
// (app/wasm.ts rewriterManifest: no network, threads only, /usr, bvisor's dist and the few host
// files Node's start reads, read-only). Why a process: the module is the bundle author's, and so
// is what its rewrite costs. A 7 MB function takes seconds and over a gigabyte of heap; blocks
// typed with hundreds of values make the engine's validation keep about 10 KB each of native
// memory, which no JavaScript heap bound covers (a 259 KiB module: 1.26 GB); 80,000 distinct types
// take a minute of validation, inside V8, where no thread can be stopped; and a V8 bug in
// validation must not run in bvisor's own (root) process. In the process:
//   - its memory is bounded, native and heap together (REWRITER_MEMORY_BYTES: a memory cgroup,
//     else RLIMIT_AS), and its heap (REWRITER_HEAP_MB); a module that needs more is refused by name;
//   - its time is bounded (REWRITER_WALL_MS, the launcher's deadline: a SIGKILL);
//   - the caller's stop kills it (bvisor run's Ctrl-C, timeout(1), a hang-up; the API's abort),
//     wherever it is, the engine included, and the launcher's teardown of its cgroup is waited for
//     before the stop is answered;
//   - what it says is believed only as far as its form allows (app/rewriter-reply.ts), and the
//     imports and exports the run links against are read by bvisor from the module itself;
//   - at most MAX_REWRITES are waited on at a time in a process (host/wasm-cache.ts makes
//     concurrent misses of one module one rewrite).
// A rewrite's process costs a Node start (about 25 ms here), once per module (then cached).
import type { HostFacts, LaunchInputs, Plan } from '../contract/generated/types.js';
import { instrument, readSurface, type FuelOptions, type FuelResult } from '../core/wasm/fuel.js';
import { launchLinux, type LinuxRunResult, type RunControl } from '../backends/linux/launcher.js';
import type { RecordLeaf } from '../backends/linux/host/cgroups.js';
import { untilStopped, type Stop } from '../host/timers.js';
import { ReplyReader, answer, replyLineMax } from './rewriter-reply.js';
import { jobPipes } from './job-pipes.js';

/**
 * The rewriter's old-generation heap, in MiB (--max-old-space-size). The rewriter needs about 165
 * bytes per instruction of a module's largest function: realistic code (two to three bytes an
 * instruction) in the largest function V8 compiles (7.6 MB) fits in half of it; a function of
 * one-byte instructions near that size is refused.
 */
export const REWRITER_HEAP_MB = 1024;
/** The rewriter's memory, heap and native together (the engine's validation, the output): the
 * heap above, with room for the rest, in a memory cgroup. Where the bound is RLIMIT_AS instead,
 * it counts the address space V8 reserves as well, and holds less (docs/wasm-fuel.md). */
export const REWRITER_MEMORY_BYTES = 2 * 2 ** 30;
/** The rewriter's time. A module of 16 MB takes about a second here; the engine's validation of
 * tens of thousands of distinct types takes many (superlinear: 40,000 about 12 s). */
export const REWRITER_WALL_MS = 60_000;
/** Rewrites at a time in one process (the machines bvisor runs on have a few cores). */
export const MAX_REWRITES = 2;

/** A rewriter's bounds: the shipped ones, or a test's (LaunchHooks; null: none). */
export interface RewriterBounds {
  heapMb: number;
  memoryBytes: number | null;
  wallMs: number | null;
}

/** The bounds a shipped rewriter gets (a test's LaunchHooks may name others). */
export const SHIPPED_REWRITER_BOUNDS: Readonly<RewriterBounds> = { heapMb: REWRITER_HEAP_MB, memoryBytes: REWRITER_MEMORY_BYTES, wallMs: REWRITER_WALL_MS };

/** How to start a rewriter: its plan (app/wasm.ts planRewriter), given the two descriptors it
 * is handed (its job's read end, its reply's write end), and what its launch needs. */
export interface RewriterLaunch {
  plan: (handed: [number, number], bounds: RewriterBounds) => Plan;
  host: HostFacts;
  runName: string;
  /** Records each cgroup leaf before it is made (a registered run's state), as the runner's. */
  beforeCgroup?: RecordLeaf;
}

export interface InstrumentOptions {
  /** The caller's stop: the rewriter is killed, and the stop's error thrown. */
  stop?: Stop;
  /** The test suite's switches (LaunchHooks, through effectiveHooks: the shipped module drops them). */
  heapMb?: number;
  memoryBytes?: number | null;
  wallMs?: number | null;
  inThisThread?: boolean;
  mutateLaunch?: (launch: LaunchInputs) => void;
}

let running = 0;
/** Those waiting for a place: all are woken when one is freed, and each looks again (a waiter
 * its stop took away has nothing left to do). */
let waiting: Array<() => void> = [];

/** A place among the MAX_REWRITES, waited for (a stop ends the wait). */
async function slot(stop: Stop | undefined): Promise<() => void> {
  while (running >= MAX_REWRITES) await untilStopped(new Promise<void>((resolve) => waiting.push(resolve)), stop);
  running++;
  let freed = false;
  return () => {
    if (freed) return;
    freed = true;
    running--;
    const woken = waiting;
    waiting = [];
    for (const w of woken) w();
  };
}

/** What the rewriter may say on its stderr that is kept (V8's fatal errors are a few lines). */
const STDERR_KEPT = 16 * 1024;

/**
 * The module instrumented, in a confined process. Throws WasmRefused (the rewriter's own reasons,
 * or its bounds'), WasmFormatError, the caller's stop's error, a launch's error, or BV_INTERNAL.
 */
export async function instrumentBounded(module: Uint8Array, caps: FuelOptions, launch: RewriterLaunch, o: InstrumentOptions = {}): Promise<FuelResult> {
  const stopped = (): boolean => o.stop?.signal.aborted === true;
  if (stopped()) throw o.stop!.error();
  if (o.inThisThread === true) return instrument(module, caps);
  const free = await slot(o.stop);
  try {
    // A stop in the turns between the place given and this one: no process.
    if (stopped()) throw o.stop!.error();
    return await inProcess(module, caps, launch, { heapMb: o.heapMb ?? SHIPPED_REWRITER_BOUNDS.heapMb, memoryBytes: o.memoryBytes === undefined ? SHIPPED_REWRITER_BOUNDS.memoryBytes : o.memoryBytes, wallMs: o.wallMs === undefined ? SHIPPED_REWRITER_BOUNDS.wallMs : o.wallMs }, o.stop, o.mutateLaunch);
  } finally {
    free();
  }
}

async function inProcess(module: Uint8Array, caps: FuelOptions, launch: RewriterLaunch, bounds: RewriterBounds, stop: Stop | undefined, mutateLaunch: InstrumentOptions['mutateLaunch']): Promise<FuelResult> {
  const pipes = jobPipes();
  let plan: Plan;
  try {
    plan = launch.plan(pipes.handed, bounds);
  } catch (e) {
    pipes.closeHanded();
    pipes.destroy();
    throw e;
  }
  const reader = new ReplyReader(replyLineMax(module.length));
  let ctl: RunControl | null = null;
  // A stop, or a reply not believed, before the rewriter's exec ends it at its exec (or at its
  // go: beforeGo).
  let stopAsked = false;
  pipes.answer.on('data', (d: Buffer) => {
    if (!reader.push(d)) {
      stopAsked = true;
      ctl?.timeout();
    }
  });
  const done = launchLinux({
    plan,
    host: launch.host,
    // The runner's form (bvisor-<runName>-<1 to 6 of [0-9a-z]>: lifecycle.ts isRunLeaf), so that
    // delete and gc find a leaf a killed bvisor left.
    runName: `${launch.runName}-${Math.random().toString(36).slice(2, 8)}`,
    hostname: 'bvisor',
    secret: () => undefined,
    capture: { stdout: { cap: 1024 }, stderr: { cap: STDERR_KEPT } },
    dieWithParent: true,
    // The rewriter is bvisor's own code: what its filter or landlock refuses is not a workload's.
    observeDenials: false,
    landlockAudit: false,
    ...(launch.beforeCgroup ? { beforeCgroup: launch.beforeCgroup } : {}),
    ...(mutateLaunch ? { hooks: { mutateLaunch } } : {}),
    // The last moment before it runs: a stop that came meanwhile, and it never does.
    beforeGo: () => {
      if (stop?.signal.aborted) throw stop.error();
    },
    onExec: (c) => {
      ctl = c;
      pipes.closeHanded();
      if (stopAsked) c.timeout();
    },
  });
  void done.finally(pipes.closeHanded).catch(() => undefined);
  pipes.job.write(Buffer.from(JSON.stringify(caps) + '\n'));
  pipes.job.end(module);
  let result: LinuxRunResult;
  try {
    result = await untilStopped(
      done.then(async (r) => {
        // Its end first, then what it wrote, all of which is in the pipe by now.
        await pipes.answerDone;
        return r;
      }),
      stop,
    );
  } catch (e) {
    // The stop (or a failed launch): the rewriter is killed, wherever it is, and its teardown
    // (its cgroup emptied and removed) is waited for: nothing of it is left running.
    stopAsked = true;
    (ctl as RunControl | null)?.abort();
    await done.catch(() => undefined);
    throw e;
  } finally {
    pipes.destroy();
  }
  // A stop that came with the result: the stop wins (nothing of a stopped run is kept).
  if (stop?.signal.aborted) throw stop.error();
  const addressSpace = plan.clauses.some((c) => c.clause === 'limits.memory' && (c.mechanism ?? '').includes('RLIMIT_AS'));
  const rewritten = answer(reader, { timedOut: result.timedOut, oomKilled: result.oomKilled, signal: result.signal, exitCode: result.exitCode, stderr: result.streams.stderr.kept?.toString('utf8') ?? '' }, bounds, addressSpace);
  // The imports and exports the run links against are read here, from the module the rewriter
  // has just validated (readSurface is cheap), not taken from the rewriter's word.
  return { ...rewritten, ...readSurface(module) };
}
