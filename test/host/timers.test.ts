// Long budgets: setTimeout holds at most 2^31-1 ms (Node's docs: a larger delay "will be set to
// 1"), and a wall may be 30 days. longTimeout waits in slices against the monotonic clock. And
// onAbort: many waits on one caller's signal, one listener on it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { longTimeout, onAbort } from '../../src/host/timers.js';
import { getEventListeners } from 'node:events';

const DAY = 24 * 3600 * 1000;

afterEach(() => {
  vi.useRealTimers();
});

describe('longTimeout', () => {
  it('the ceiling is real: a plain setTimeout of 2^31 ms fires at once (the bug it avoids)', async () => {
    // Node says so itself (a TimeoutOverflowWarning); caught here, so that the suite's output
    // does not carry a warning that is this test's expected result.
    const warned: string[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation((w: string | Error, ...rest: unknown[]) => {
      const name = typeof w === 'string' ? (typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type) : w.name;
      warned.push(`${name}: ${typeof w === 'string' ? w : w.message}`);
    });
    let fired: boolean;
    try {
      fired = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), 2 ** 31);
        setTimeout(() => {
          clearTimeout(t);
          resolve(false);
        }, 200);
      });
    } finally {
      spy.mockRestore();
    }
    expect(fired).toBe(true);
    expect(warned).toEqual([expect.stringMatching(/^TimeoutOverflowWarning: 2147483648 does not fit into a 32-bit signed integer\.\nTimeout duration was set to 1\.$/)]);
  });

  it('a 30-day timer fires after 30 days, not at the 24.8-day slice boundary', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const fn = vi.fn();
    longTimeout(fn, 30 * DAY);
    vi.advanceTimersByTime(2 ** 31 - 1 + 1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY - (2 ** 31 - 1 + 1000) - 10);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(20);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('short timers fire on time, and clear() cancels across slices', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const a = vi.fn();
    longTimeout(a, 50);
    vi.advanceTimersByTime(49);
    expect(a).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(a).toHaveBeenCalledTimes(1);
    const b = vi.fn();
    const t = longTimeout(b, 40 * DAY);
    vi.advanceTimersByTime(30 * DAY);
    t.clear();
    vi.advanceTimersByTime(20 * DAY);
    expect(b).not.toHaveBeenCalled();
  });
});

// A caller may share one AbortSignal among many runs; Node warns past 10 listeners of one event
// on an EventTarget. Oracle: Node's own count of the signal's listeners (events.getEventListeners).
describe('onAbort', () => {
  it('one listener on the signal however many wait on it; each callback once; gone when the last stops', () => {
    const ac = new AbortController();
    const called: number[] = [];
    const stops = Array.from({ length: 25 }, (_, i) => onAbort(ac.signal, () => called.push(i)));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    stops[3]!();
    stops[3]!(); // twice is once
    ac.abort();
    expect(called).toEqual(Array.from({ length: 25 }, (_, i) => i).filter((i) => i !== 3));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    stops.forEach((s) => s()); // after the abort: nothing to undo, nothing thrown

    const other = new AbortController();
    const fn = (): void => undefined;
    const a = onAbort(other.signal, fn);
    const b = onAbort(other.signal, fn); // the same function twice: two waits, each stopped alone
    a();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
    b();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    // and a new wait listens again
    const c = onAbort(other.signal, fn);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
    c();
  });
});
