// Long budgets: setTimeout holds at most 2^31-1 ms (Node's docs: a larger delay "will be set to
// 1"), and a wall may be 30 days. longTimeout waits in slices against the monotonic clock.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { longTimeout } from '../../src/host/timers.js';

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
