// Instruments a wasm module for a run (core/wasm/fuel.ts), within bounds the module cannot move.
// The rewriter's cost is the module's, and the module is the bundle author's: about 165 bytes of
// heap and a third of a microsecond per instruction of its largest function, on the supervisor's
// own thread (found by attack: a 7 MB function of nops, V8's limit being 7.6 MB, took 6.4 s and
// 1.3 GB, and a module of twelve of them 77 s, deaf to every stop signal meanwhile). So a module
// of IN_THREAD_BELOW bytes or more is instrumented in a worker thread:
//   - whose heap is bounded (resourceLimits): a module that needs more is refused, by name, and
//     the supervisor's heap never holds its rewrite;
//   - which the caller's stop ends at once (worker.terminate() stops a thread running JavaScript):
//     bvisor run hears Ctrl-C, timeout(1) and a hang-up, and the API its abort;
//   - while the caller's event loop turns (an API server's other runs go on).
// A smaller module is instrumented here: a thread costs about 25 ms to start, more than such a
// module's whole rewrite (hello's is under a millisecond), and its size bounds its cost
// (256 KiB of one-byte instructions: about 40 MB and 0.1 s).
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { instrument, WasmRefused, type FuelOptions, type FuelResult } from '../core/wasm/fuel.js';
import { WasmFormatError } from '../core/wasm/binary.js';
import { lateRequire, packageRoot } from '../backends/linux/ffi/runtime.js';
import { BvisorError } from '../contract/errors.js';

/** Modules of this many bytes or more are instrumented in a worker thread. */
export const IN_THREAD_BELOW = 256 * 1024;
/**
 * The worker's old-generation heap, in MiB. Realistic code (two to three bytes an instruction)
 * in the largest function V8 compiles (7.6 MB) needs about half of it; a function of one-byte
 * instructions near that size is refused. Young generation and code space keep V8's defaults.
 */
export const REWRITER_HEAP_MB = 1024;

/** What the worker posts back (app/instrument-worker.ts): the result, or why there is none. */
export type InstrumentReply = { result: FuelResult } | { refused: string; hint?: string } | { format: string; offset: number } | { failed: string };

export interface InstrumentOptions {
  /** The caller's stop: the worker is terminated, and `stopped()` is thrown. */
  signal?: AbortSignal | null;
  /** The error a stop is answered with (the run's "aborted before anything ran"). */
  stopped?: () => Error;
  /** The test suite's switches (LaunchHooks, through effectiveHooks: the shipped module drops them). */
  heapMb?: number;
  inThisThread?: boolean;
}

/**
 * The module instrumented. From IN_THREAD_BELOW bytes on, in a worker thread: the module's buffer
 * is handed to it (transferred: detached here, not copied) when the module spans the whole
 * buffer, as readModule's does. Throws WasmRefused (with the rewriter's own reasons, or the heap
 * bound's), WasmFormatError, the caller's `stopped()`, or BV_INTERNAL.
 */
export async function instrumentBounded(module: Uint8Array, caps: FuelOptions, o: InstrumentOptions = {}): Promise<FuelResult> {
  if (o.signal?.aborted) throw stoppedError(o);
  if (module.byteLength < IN_THREAD_BELOW || o.inThisThread === true) return instrument(module, caps);
  const heapMb = o.heapMb ?? REWRITER_HEAP_MB;
  const { Worker: WorkerClass } = lateRequire('node:worker_threads') as typeof import('node:worker_threads');
  const whole = module.byteOffset === 0 && module.byteLength === module.buffer.byteLength && module.buffer instanceof ArrayBuffer;
  const worker: Worker = new WorkerClass(join(packageRoot(), 'dist', 'app', 'instrument-worker.js'), {
    workerData: { bytes: module, caps },
    transferList: whole ? [module.buffer as ArrayBuffer] : [],
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
    // Not the process's: a start-up snapshot's flags are the CLI's, and the thread reads no
    // variable (a copy of the caller's environment would hold its secrets once more).
    execArgv: [],
    env: {},
    name: 'bvisor-rewriter',
  });
  try {
    const reply = await new Promise<InstrumentReply>((resolve, reject) => {
      const onAbort = (): void => reject(stoppedError(o));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => o.signal?.removeEventListener('abort', onAbort);
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
    if ('result' in reply) return reply.result;
    if ('refused' in reply) throw new WasmRefused(reply.refused, reply.hint);
    if ('format' in reply) throw new WasmFormatError(reply.format, reply.offset);
    throw new BvisorError('BV_INTERNAL', `the wasm rewriter failed: ${reply.failed}`);
  } finally {
    // Settled or stopped, the thread goes (a stop: mid-rewrite, its heap with it).
    await worker.terminate();
  }
}

function stoppedError(o: InstrumentOptions): Error {
  return o.stopped?.() ?? (o.signal?.reason instanceof Error ? o.signal.reason : new Error('stopped'));
}
