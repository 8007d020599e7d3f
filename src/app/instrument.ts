// Instruments a wasm module for a run (core/wasm/fuel.ts) in a process of its own: the rewriter
// (backends/wasm/rewriter.ts), started through the Linux launcher under a boundary of its own
// (app/wasm.ts rewriterManifest: no network, threads only, /usr and bvisor's code read-only, no
// other file). The rewriter's cost is the module's, and the module is the bundle author's (found
// by attack): on the supervisor's own thread a 7 MB function took 6.4 s and 1.3 GB; in a worker
// thread, whose bound is the JavaScript heap only, a 259 KiB module of blocks typed with hundreds
// of values made the engine's validation take 1.26 GB of native memory, and a module of 80,000
// types a minute of it, which a stop could not end. In the process:
//   - its memory is bounded, native and heap together (REWRITER_MEMORY_BYTES: a memory cgroup,
//     else RLIMIT_AS), and its heap (REWRITER_HEAP_MB); a module that needs more is refused by name;
//   - its time is bounded (REWRITER_WALL_MS, the launcher's deadline: a SIGKILL);
//   - the caller's stop kills it (bvisor run's Ctrl-C, timeout(1), a hang-up; the API's abort),
//     wherever it is, the engine included, and the launcher removes its cgroup before the stop is
//     answered: nothing of a stopped rewrite is left running;
//   - the engine's validation of hostile bytes, where a V8 bug would strike, runs confined;
//   - at most MAX_REWRITES are waited on at a time in a process (host/wasm-cache.ts makes
//     concurrent misses of one module one rewrite).
// A process costs about as much as the thread did to start, once per module (then cached).
import { join } from 'node:path';
import { Socket } from 'node:net';
import type { HostFacts, Plan } from '../contract/generated/types.js';
import { instrument, WasmRefused, V8_MAX_MODULE_BYTES, type FuelOptions, type FuelResult } from '../core/wasm/fuel.js';
import { WasmFormatError } from '../core/wasm/binary.js';
import { packageRoot } from '../backends/linux/ffi/runtime.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { launchLinux, pipe, type LinuxRunResult, type RunControl } from '../backends/linux/launcher.js';
import type { RecordLeaf } from '../backends/linux/host/cgroups.js';
import type { RewriterReply } from '../backends/wasm/rewriter.js';
import { BvisorError } from '../contract/errors.js';
import { untilStopped, type Stop } from '../host/timers.js';

/**
 * The rewriter's old-generation heap, in MiB (--max-old-space-size). The rewriter needs about 165
 * bytes per instruction of a module's largest function: realistic code (two to three bytes an
 * instruction) in the largest function V8 compiles (7.6 MB) fits in half of it; a function of
 * one-byte instructions near that size is refused.
 */
export const REWRITER_HEAP_MB = 1024;
/** The rewriter's memory, heap and native together (the engine's validation, the output): the
 * heap above, with room for the rest. */
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

/** The longest reply line believed of a module of `n` bytes: the surface it carries (imports and
 * exports) has names from the module, which JSON may write six bytes a byte (\u0000). */
const replyLineMax = (n: number): number => 64 * 1024 + 6 * n;
/** What the rewriter may say on its stderr that is kept (V8's fatal errors are a few lines). */
const STDERR_KEPT = 16 * 1024;
const HINT_SMALLER = 'a function of millions of instructions, or blocks typed with hundreds of values: build the module with smaller functions and simpler block types';

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
    return await inProcess(module, caps, launch, { heapMb: o.heapMb ?? REWRITER_HEAP_MB, memoryBytes: o.memoryBytes === undefined ? REWRITER_MEMORY_BYTES : o.memoryBytes, wallMs: o.wallMs === undefined ? REWRITER_WALL_MS : o.wallMs }, o.stop);
  } finally {
    free();
  }
}

async function inProcess(module: Uint8Array, caps: FuelOptions, launch: RewriterLaunch, bounds: RewriterBounds, stop: Stop | undefined): Promise<FuelResult> {
  const s = shim();
  const [jobR, jobW] = pipe(true, true);
  const [outR, outW] = pipe(true, true);
  // Ours until the rewriter has its own copies (its exec), or the launch is over.
  let handedOpen = true;
  const closeHanded = (): void => {
    if (!handedOpen) return;
    handedOpen = false;
    s.bv_close(jobR);
    s.bv_close(outW);
  };
  let plan: Plan;
  try {
    plan = launch.plan([jobR, outW], bounds);
  } catch (e) {
    closeHanded();
    s.bv_close(jobW);
    s.bv_close(outR);
    throw e;
  }
  const jobSock = new Socket({ fd: jobW, readable: false, writable: true });
  jobSock.on('error', () => {});
  const outSock = new Socket({ fd: outR, readable: true, writable: false });
  // The reply line, then the bytes it announces, copied as they come into one buffer of that size.
  const lineMax = replyLineMax(module.length);
  const line: Buffer[] = [];
  let lineLength = 0;
  let reply: RewriterReply | null = null;
  let out: Buffer | null = null;
  let outAt = 0;
  /** What the rewriter wrote that no rewriter writes, or null. */
  let unbelieved: string | null = null;
  let ctl: RunControl | null = null;
  // A stop before the rewriter's exec ends it at its exec (or at its go: beforeGo).
  let stopAsked = false;
  const unbelievable = (why: string): void => {
    unbelieved = why;
    line.length = 0;
    out = null;
    ctl?.timeout();
  };
  outSock.on('data', (d: Buffer) => {
    if (unbelieved !== null) return;
    if (out === null) {
      const nl = d.indexOf(10);
      lineLength += nl < 0 ? d.length : nl;
      if (lineLength > lineMax) return unbelievable(`a reply line longer than ${lineMax} bytes`);
      if (nl < 0) return void line.push(d);
      line.push(d.subarray(0, nl));
      try {
        reply = JSON.parse(Buffer.concat(line).toString('utf8')) as RewriterReply;
      } catch {
        return unbelievable('a reply line that is not JSON');
      }
      if (typeof reply !== 'object' || reply === null) return unbelievable('a reply line that is not an object');
      line.length = 0;
      const n = 'result' in reply ? reply.bytes : 0;
      if (!Number.isSafeInteger(n) || n < 0 || n > V8_MAX_MODULE_BYTES) return unbelievable(`a module of ${String(n)} bytes`);
      out = Buffer.allocUnsafeSlow(n);
      d = d.subarray(nl + 1);
    }
    if (outAt + d.length > out.length) return unbelievable(`more than the ${out.length} bytes it announced`);
    d.copy(out, outAt);
    outAt += d.length;
  });
  const outDone = new Promise<void>((r) => {
    outSock.on('end', r);
    outSock.on('close', r);
    outSock.on('error', () => r());
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
    // The last moment before it runs: a stop that came meanwhile, and it never does.
    beforeGo: () => {
      if (stop?.signal.aborted) throw stop.error();
    },
    onExec: (c) => {
      ctl = c;
      closeHanded();
      if (stopAsked) c.abort();
    },
  });
  void done.finally(closeHanded).catch(() => undefined);
  jobSock.write(Buffer.from(JSON.stringify(caps) + '\n'));
  jobSock.end(module);
  let result: LinuxRunResult;
  try {
    result = await untilStopped(
      done.then(async (r) => {
        // Its end first, then what it wrote, all of which is in the pipe by now.
        await outDone;
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
    jobSock.destroy();
    outSock.destroy();
  }
  // A stop that came with the result: the stop wins (nothing of a stopped run is kept).
  if (stop?.signal.aborted) throw stop.error();
  if (unbelieved !== null) throw new BvisorError('BV_INTERNAL', `the wasm rewriter wrote ${unbelieved as string}; it was stopped`);
  // Where the memory bound is RLIMIT_AS (no memory cgroup here), running out of it shows as any
  // failed allocation: V8's heap, its zone, an array buffer, or a fault where an allocation was
  // not checked (found by attack: SIGSEGV, "Committing semi space failed").
  const addressSpace = plan.clauses.some((c) => c.clause === 'limits.memory' && (c.mechanism ?? '').includes('RLIMIT_AS'));
  return answer({ reply, bytes: out === null ? null : (out as Buffer).subarray(0, outAt) }, result, bounds, addressSpace);
}

/** What the rewriter's end and its reply mean. */
function answer(got: { reply: RewriterReply | null; bytes: Buffer | null }, r: LinuxRunResult, bounds: RewriterBounds, addressSpace: boolean): FuelResult {
  const { reply, bytes } = got;
  const stderr = r.streams.stderr.kept?.toString('utf8') ?? '';
  if (r.timedOut) throw new WasmRefused(`instrumenting it takes longer than the ${bounds.wallMs! / 1000} s bvisor's rewriter may take; nothing was run`, HINT_SMALLER);
  const failed = reply !== null && 'failed' in reply ? reply.failed : '';
  const allocation = /allocation failed|out of memory|Fatal process OOM|Failed to reserve/i;
  const ofMemory = (what: string): WasmRefused => new WasmRefused(`instrumenting it needs more than the ${bounds.memoryBytes === null ? '' : `${bounds.memoryBytes / 2 ** 20} MiB of `}${what} bvisor's rewriter may use; nothing was run`, HINT_SMALLER);
  if (addressSpace && (r.signal !== null || allocation.test(stderr) || allocation.test(failed))) throw ofMemory('memory (address space, RLIMIT_AS)');
  // The memory cgroup's OOM kill, or an allocation V8 reports as failed.
  if (r.oomKilled || /process out of memory|Fatal process OOM/i.test(stderr) || allocation.test(failed)) throw ofMemory('memory');
  if (/JavaScript heap out of memory/.test(stderr)) throw new WasmRefused(`instrumenting it needs more than the ${bounds.heapMb} MiB of heap bvisor's rewriter may use; nothing was run`, HINT_SMALLER);
  const ended = r.signal !== null ? `killed by signal ${r.signal}` : `exit code ${r.exitCode}`;
  if (reply === null || r.exitCode !== 0) throw new BvisorError('BV_INTERNAL', `the wasm rewriter ended (${ended}) without a reply${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` : ''}`);
  if ('result' in reply) {
    if (bytes === null || bytes.length !== reply.bytes) throw new BvisorError('BV_INTERNAL', `the wasm rewriter said ${reply.bytes} bytes and wrote ${bytes?.length ?? 0}`);
    return { ...reply.result, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }
  if ('refused' in reply) throw new WasmRefused(reply.refused, reply.hint);
  if ('format' in reply) throw new WasmFormatError(reply.format, reply.offset);
  throw new BvisorError('BV_INTERNAL', `the wasm rewriter failed: ${reply.failed}`);
}
