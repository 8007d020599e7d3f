// Instruments a wasm module for a run (core/wasm/fuel.ts), in a worker thread. The rewriter's cost
// is the module's, and the module is the bundle author's (found by attack): on the supervisor's
// own thread a 7 MB function of nops took 6.4 s and 1.3 GB, a module of twelve of them 77 s, and a
// 253 KiB module of `br_if`s to a 999-result block 12.8 s and 4.2 GB (the rewriter's work per
// branch grows with the block's arity, the engine's validation of the output more), deaf to every
// stop signal meanwhile. In the thread:
//   - the JavaScript heap is bounded (resourceLimits, REWRITER_HEAP_MB): a module that needs more
//     is refused, by name, and the supervisor's heap never holds its rewrite;
//   - the caller's stop is answered at once (bvisor run's Ctrl-C, timeout(1), a hang-up; the API's
//     abort): the thread is terminated, and not waited for, since one inside the engine's own
//     validation (native code) ends only when that returns;
//   - the caller's event loop turns meanwhile (an API program's other runs, timers and I/O);
//   - at most MAX_THREADS rewrites are waited on at a time in a process (host/wasm-cache.ts makes
//     concurrent misses of one module one rewrite), each bounded as above.
// What the bound does not cover, the engine's validation memory and the output's bytes (both
// outside V8's heap), is written in docs/security.md's known limits. A thread costs about 25 ms to
// start, once per module (then cached).
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { instrument, WasmRefused, type FuelOptions, type FuelResult } from '../core/wasm/fuel.js';
import { WasmFormatError } from '../core/wasm/binary.js';
import { lateRequire, packageRoot } from '../backends/linux/ffi/runtime.js';
import { BvisorError } from '../contract/errors.js';
import { untilStopped, type Stop } from '../host/timers.js';

/**
 * The worker's old-generation heap, in MiB. The rewriter needs about 165 bytes per instruction of
 * a module's largest function: realistic code (two to three bytes an instruction) in the largest
 * function V8 compiles (7.6 MB) fits in half of it; a function of one-byte instructions near that
 * size is refused. Young generation and code space keep V8's defaults. (A process started with
 * --max-old-space-size gives its threads that instead: nodejs/node#43991.)
 */
export const REWRITER_HEAP_MB = 1024;
/** Rewrites at a time in one process (the machines bvisor runs on have a few cores). */
export const MAX_THREADS = 2;

/** What the worker posts back (app/instrument-worker.ts): the result, or why there is none. */
export type InstrumentReply = { result: FuelResult } | { refused: string; hint?: string } | { format: string; offset: number } | { failed: string };

export interface InstrumentOptions {
  /** The caller's stop: the rewrite is abandoned, and its error thrown. */
  stop?: Stop;
  /** The module's buffer is the caller's to give away: it is transferred to the thread (detached
   * here), not copied. */
  handOver?: boolean;
  /** The test suite's switches (LaunchHooks, through effectiveHooks: the shipped module drops them). */
  heapMb?: number;
  inThisThread?: boolean;
}

let running = 0;
/** Those waiting for a place: all are woken when one is freed, and each looks again (a waiter
 * its stop took away has nothing left to do). */
let waiting: Array<() => void> = [];

/** A place among the MAX_THREADS, waited for (a stop ends the wait). */
async function slot(stop: Stop | undefined): Promise<() => void> {
  while (running >= MAX_THREADS) await untilStopped(new Promise<void>((resolve) => waiting.push(resolve)), stop);
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

/**
 * The module instrumented, in a worker thread. Throws WasmRefused (the rewriter's own reasons, or
 * the heap bound's), WasmFormatError, the caller's stop's error, or BV_INTERNAL.
 */
export async function instrumentBounded(module: Uint8Array, caps: FuelOptions, o: InstrumentOptions = {}): Promise<FuelResult> {
  const stopped = (): boolean => o.stop?.signal.aborted === true;
  if (stopped()) throw o.stop!.error();
  if (o.inThisThread === true) return instrument(module, caps);
  const free = await slot(o.stop);
  const heapMb = o.heapMb ?? REWRITER_HEAP_MB;
  let worker: Worker;
  try {
    // A stop in the turns between the place given and this one: no thread.
    if (stopped()) throw o.stop!.error();
    const { Worker: WorkerClass } = lateRequire('node:worker_threads') as typeof import('node:worker_threads');
    worker = new WorkerClass(join(packageRoot(), 'dist', 'app', 'instrument-worker.js'), {
      workerData: { bytes: module, caps },
      transferList: o.handOver === true && module.buffer instanceof ArrayBuffer ? [module.buffer] : [],
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // Not the process's: a start-up snapshot's flags are the CLI's, and the thread reads no
      // variable (a copy of the caller's environment would hold its secrets once more).
      execArgv: [],
      env: {},
      name: 'bvisor-rewriter',
    });
  } catch (e) {
    free();
    throw e;
  }
  let settled = false;
  try {
    const answer = new Promise<InstrumentReply>((resolve, reject) => {
      const settle = (): boolean => (settled = true);
      worker.once('message', (m: InstrumentReply) => {
        settle();
        resolve(m);
      });
      worker.once('error', (e: Error & { code?: string }) => {
        settle();
        reject(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new WasmRefused(`instrumenting it needs more than the ${heapMb} MiB of heap bvisor's rewriter may use; nothing was run`, 'a function of millions of instructions: build the module with smaller functions (the rewriter needs about 165 bytes per instruction of the largest)') : new BvisorError('BV_INTERNAL', `the wasm rewriter's thread failed: ${e.message}`, { cause: e }));
      });
      worker.once('exit', (code) => {
        settle();
        reject(new BvisorError('BV_INTERNAL', `the wasm rewriter's thread ended (exit code ${code}) without a result`));
      });
    });
    const reply = await untilStopped(answer, o.stop);
    // A stop that came with the result: the stop wins (nothing of a stopped run is kept).
    if (stopped()) throw o.stop!.error();
    if ('result' in reply) return reply.result;
    if ('refused' in reply) throw new WasmRefused(reply.refused, reply.hint);
    if ('format' in reply) throw new WasmFormatError(reply.format, reply.offset);
    throw new BvisorError('BV_INTERNAL', `the wasm rewriter failed: ${reply.failed}`);
  } finally {
    // Not awaited: a thread inside the engine ends only when the engine returns, and a stopped
    // run does not wait for that (the thread holds no descriptor and writes nothing). Unref'd
    // after terminate(), which refs the worker again (Node 20): a stopped bvisor run's loop is
    // then empty and it dies by its signal at once (found by review: 2.8-12.8 s late). Node still
    // joins such a thread when an API process exits, and it is not counted below (docs/security.md).
    // Its place goes to the next rewrite now: a stopped one stuck in the engine must not hold up
    // the process's other runs.
    void worker.terminate();
    if (!settled) worker.unref();
    free();
  }
}
