// Long synchronous work on what a workload left (hashing its files, walking its trees) is written
// once, as a generator that yields where it may pause, and driven either to its end at once (a
// container's seal, in a `bvisor delete` of its own) or in slices that give the event loop its
// turn: in `bvisor run` and the API, other runs' wall deadlines are timers of the same loop, and
// a caller's stop (a signal, an AbortSignal) must be heard while 16 GiB are hashed.

/**
 * Work that yields where it may pause (nothing), or WAIT where it cannot go on until something
 * outside changes (a lock another process holds), and returns T.
 */
export type Steps<T> = Generator<void | Wait, T, void>;

/** Yielded by work that must wait before its next try (host/flock.ts: a lock held elsewhere). */
export const WAIT = 'wait';
export type Wait = typeof WAIT;

/** How long a WAIT lasts before the work's next try. */
const WAIT_MS = 10;

/** Runs the work to its end, without pausing; at a WAIT the thread sleeps. */
export function runSteps<T>(g: Steps<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    if (r.value === WAIT) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WAIT_MS);
  }
}

/** The work was ended early, by the caller's signal; its finally blocks have run. */
export class StepsStopped extends Error {
  constructor() {
    super('stopped by the caller');
    this.name = 'StepsStopped';
  }
}

/** How long the work runs before the loop gets its turn: short against a wall deadline's
 * granularity, long against one turn's cost (a setImmediate, a few microseconds). */
const SLICE_MS = 5;

/**
 * Runs the work in slices of about SLICE_MS, giving the event loop a turn between them, and a
 * timer's wait at each WAIT. When `signal` has been aborted at a turn, the work is ended (its
 * finally blocks run: descriptors closed) and StepsStopped is thrown.
 */
export async function runStepsYielding<T>(g: Steps<T>, signal?: AbortSignal): Promise<T> {
  let since = performance.now();
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    if (r.value === WAIT) await new Promise<void>((resolve) => setTimeout(resolve, WAIT_MS));
    else if (performance.now() - since < SLICE_MS) continue;
    else await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
    if (signal?.aborted) {
      g.return(undefined as never);
      throw new StepsStopped();
    }
  }
}
