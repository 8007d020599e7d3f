// Timers for budgets that may be long. setTimeout holds at most 2^31-1 ms (24.8 days); Node
// fires a longer one after 1 ms (with a TimeoutOverflowWarning), and a wall of up to 30 days is
// allowed. So a long delay is waited for in slices, against the monotonic clock. And a wait for
// the loop's next poll, where a signal caught during synchronous work is heard; and a wait that
// the caller's stop ends.

const MAX_SLICE_MS = 2 ** 31 - 1;

/** Resolves to `value` after `ms` (short: one setTimeout), without holding the event loop open:
 * the other side of a bounded wait, `Promise.race([work, delay(ms, fallback)])`. */
export function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

export interface LongTimer {
  clear(): void;
}

export function longTimeout(fn: () => void, ms: number): LongTimer {
  const end = performance.now() + ms;
  let t: NodeJS.Timeout | null = null;
  let cleared = false;
  const arm = (): void => {
    if (cleared) return;
    const left = end - performance.now();
    if (left <= 0) {
      t = null;
      fn();
      return;
    }
    t = setTimeout(arm, Math.min(Math.ceil(left), MAX_SLICE_MS));
  };
  t = setTimeout(arm, Math.min(Math.max(0, Math.ceil(ms)), MAX_SLICE_MS));
  return {
    clear: () => {
      cleared = true;
      if (t) clearTimeout(t);
    },
  };
}

/**
 * Resolves once the event loop has polled for I/O at least once from now: a signal caught while
 * this process was busy in synchronous work waits in the loop's queue (libuv's signal pipe) until
 * a poll reads it, and its listener runs then. One setImmediate may fire in the current turn,
 * before that turn's next poll; the second comes after one.
 */
export async function afterNextPoll(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A caller's stop: its signal, and the error a wait it ends rejects with (a run's "aborted
 * before anything ran"). */
export interface Stop {
  signal: AbortSignal;
  error: () => Error;
}

/**
 * bvisor's one listener on each caller's signal, and the callbacks it runs. A caller may share
 * one signal among many runs at once (a batch of graders, one AbortSignal.timeout), and each run
 * listens on it more than once; an AbortSignal is an EventTarget, and Node warns past 10
 * listeners of one event (MaxListenersExceededWarning, "Possible EventTarget memory leak"), on
 * the caller's stderr. The signal's own listener count stays at one however many runs share it.
 */
const listening = new WeakMap<AbortSignal, { callbacks: Set<() => void>; listener: () => void }>();

/** Calls `fn` once when `signal` aborts; the function returned stops that (and only that). */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let entry = listening.get(signal);
  if (!entry) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      listening.delete(signal);
      for (const f of callbacks) {
        // Each callback on its own, as listeners of their own would be: one that throws does not
        // keep the others from running, and its error is still uncaught.
        try {
          f();
        } catch (e) {
          process.nextTick(() => {
            throw e;
          });
        }
      }
      callbacks.clear();
    };
    entry = { callbacks, listener };
    listening.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const mine = (): void => fn(); // its own identity: the same fn added twice is two callbacks
  const { callbacks, listener } = entry;
  callbacks.add(mine);
  return () => {
    callbacks.delete(mine);
    if (callbacks.size === 0 && listening.get(signal)?.callbacks === callbacks) {
      listening.delete(signal);
      signal.removeEventListener('abort', listener);
    }
  };
}

/** `p`, or `stop.error()` as soon as the stop comes, whichever is first; its listener goes with
 * the wait. */
export function untilStopped<T>(p: Promise<T>, stop: Stop | undefined): Promise<T> {
  if (!stop) return p;
  if (stop.signal.aborted) return Promise.reject(stop.error());
  return new Promise<T>((resolve, reject) => {
    const done = onAbort(stop.signal, () => reject(stop.error()));
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e);
      },
    );
  });
}
