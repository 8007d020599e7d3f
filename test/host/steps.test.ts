// Work written as steps (host/steps.ts): run to its end at once, or in slices that give the event
// loop its turns and end the work at a caller's stop. Oracles: a timer of the same loop, and the
// work's own finally block.
import { describe, expect, it } from 'vitest';
import { runSteps, runStepsYielding, StepsStopped, WAIT, type Steps } from '../../src/host/steps.js';

/** Busy work of about `ms` milliseconds, one step per 0.1 ms; `log` says how it ended. */
function* busy(ms: number, log: string[]): Steps<string> {
  const end = performance.now() + ms;
  try {
    while (performance.now() < end) {
      const t = performance.now() + 0.1;
      while (performance.now() < t) {
        // spin
      }
      yield;
    }
    return 'done';
  } finally {
    log.push('finally');
  }
}

describe('steps', () => {
  it('runSteps runs the work to its end without giving the loop a turn', async () => {
    const log: string[] = [];
    let fired = false;
    const timer = setTimeout(() => (fired = true), 0);
    expect(runSteps(busy(30, log))).toBe('done');
    expect(fired).toBe(false);
    expect(log).toEqual(['finally']);
    clearTimeout(timer);
  });

  it('runStepsYielding gives the loop turns while the work runs: a timer due meanwhile fires before the work ends', async () => {
    const log: string[] = [];
    let firedAt: number | null = null;
    const t0 = performance.now();
    setTimeout(() => (firedAt = performance.now() - t0), 10);
    expect(await runStepsYielding(busy(200, log))).toBe('done');
    expect(firedAt).not.toBeNull();
    // Due at 10 ms; the work took 200: the timer fired well before the work's end.
    expect(firedAt!).toBeLessThan(150);
    expect(log).toEqual(['finally']);
  });

  /** Work that must wait `n` times before it can go on (as a lock held elsewhere makes it). */
  function* waits(n: number): Steps<number> {
    for (let i = 0; i < n; i++) yield WAIT;
    return n;
  }

  it('at a WAIT, runSteps sleeps (the loop gets no turn) and runStepsYielding waits on a timer (it does)', async () => {
    let fired = false;
    const timer = setTimeout(() => (fired = true), 0);
    const t0 = performance.now();
    expect(runSteps(waits(5))).toBe(5);
    // Five waits of 10 ms, the thread asleep: the timer due at once has not fired.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(fired).toBe(false);
    clearTimeout(timer);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      expect(await runStepsYielding(waits(5))).toBe(5);
    } finally {
      clearInterval(ticker);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('a stop heard at a WAIT ends the work there: its finally block runs, StepsStopped is thrown', async () => {
    const log: string[] = [];
    function* waitsForever(): Steps<never> {
      try {
        for (;;) yield WAIT;
      } finally {
        log.push('finally');
      }
    }
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const err = await runStepsYielding(waitsForever(), ac.signal).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StepsStopped);
    expect(log).toEqual(['finally']);
  });

  it('a stop at a turn ends the work there: its finally block runs, StepsStopped is thrown', async () => {
    const log: string[] = [];
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 10);
    const t0 = performance.now();
    const err = await runStepsYielding(busy(5000, log), ac.signal).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StepsStopped);
    expect(log).toEqual(['finally']);
    expect(performance.now() - t0).toBeLessThan(2500);
  });
});
