// The red-twin helper itself: it passes only on the exact outcome it was given, so a twin that
// crashes for another reason, returns something else, or expects what the property already
// gives fails the test.
import { describe, expect, it } from 'vitest';
import { expectOutcome, expectTwin } from './twin.js';

const fails = async (p: Promise<void>): Promise<void> => {
  let failed = false;
  await p.catch(() => (failed = true));
  expect(failed).toBe(true);
};
const coded = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe('red-twin helper', () => {
  it('passes on the expected value or the expected error', async () => {
    await expectTwin(async (off?: boolean) => (off ? 0 : 1), true, { on: 1, twin: { value: 0 } });
    await expectOutcome(() => Promise.reject(coded('BV_LAUNCH_EVIDENCE', 'CapEff is "1ff"')), { error: { code: 'BV_LAUNCH_EVIDENCE', message: /CapEff/ } });
  });

  it('fails when the twin throws instead of giving the value', async () => {
    await fails(expectTwin(async (off?: boolean) => { if (off) throw new Error('probe printed no JSON'); return 1; }, true, { on: 1, twin: { value: 0 } }));
  });

  it('fails when the twin throws another error, or the right code with another message, or does not throw', async () => {
    await fails(expectOutcome(() => Promise.reject(new TypeError('x is undefined')), { error: { code: 'BV_LAUNCH_EVIDENCE' } }));
    await fails(expectOutcome(() => Promise.reject(coded('BV_LAUNCH_EVIDENCE', 'uid_map differs')), { error: { code: 'BV_LAUNCH_EVIDENCE', message: /CapEff/ } }));
    await fails(expectOutcome(async () => 0, { error: { code: 'BV_LAUNCH_EVIDENCE' } }));
  });

  it('fails when the twin gives another value, or when its expectation is the property itself', async () => {
    await fails(expectTwin(async (off?: boolean) => (off ? 2 : 1), true, { on: 1, twin: { value: 0 } }));
    await fails(expectTwin(async () => 1, true, { on: 1, twin: { value: 1 } }));
  });
});
