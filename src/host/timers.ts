// Timers for budgets that may be long. setTimeout holds at most 2^31-1 ms (24.8 days); Node
// fires a longer one after 1 ms (with a TimeoutOverflowWarning), and a wall of up to 30 days is
// allowed. So a long delay is waited for in slices, against the monotonic clock.

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
