// AuditStatusShare (src/backends/linux/host/landlock-audit.ts): which launches of one process
// share an AUDIT_GET. The asker and the clock are the test's: it counts the requests and moves
// time by hand.
import { describe, expect, it } from 'vitest';
import { AuditStatusShare, type AuditStatus } from '../../../../src/backends/linux/host/landlock-audit.js';

function harness(answers: Array<AuditStatus | string>, reuseMs = 250) {
  let now = 1000;
  const asked: number[] = [];
  const share = new AuditStatusShare(
    () => {
      asked.push(now);
      return Promise.resolve(answers[Math.min(asked.length - 1, answers.length - 1)]!);
    },
    () => now,
    reuseMs,
  );
  return { share, asked, advance: (ms: number) => void (now += ms) };
}

const OFF: AuditStatus = { enabled: false, lost: 0 };
const ON: AuditStatus = { enabled: true, lost: 7 };

describe('AuditStatusShare', () => {
  it('an answer that audit is off serves the launches begun within the reuse time, saying how old it is', async () => {
    const h = harness([OFF]);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 0 });
    h.advance(100);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 100 });
    h.advance(150);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 250 });
    expect(h.asked).toEqual([1000]);
  });

  it('past the reuse time the kernel is asked again, and the new answer is the one shared', async () => {
    const h = harness([OFF, OFF]);
    await h.share.forLaunch();
    h.advance(251);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 0 });
    h.advance(10);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 10 });
    expect(h.asked).toEqual([1000, 1251]);
  });

  it('an answer that audit is on never serves another launch: each asks for its own lost counter', async () => {
    const h = harness([ON, ON, OFF]);
    expect(await h.share.forLaunch()).toEqual({ status: ON, askedMsAgo: 0 });
    h.advance(1);
    expect(await h.share.forLaunch()).toEqual({ status: ON, askedMsAgo: 0 });
    h.advance(1);
    expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 0 });
    expect(h.asked).toEqual([1000, 1001, 1002]);
  });

  it('a lasting failure (no right to ask, no audit in the kernel) is shared like audit off', async () => {
    for (const errno of ['EPERM', 'EACCES', 'ECONNREFUSED', 'EPROTONOSUPPORT']) {
      const h = harness([errno]);
      await h.share.forLaunch();
      h.advance(5);
      expect(await h.share.forLaunch()).toEqual({ status: errno, askedMsAgo: 5 });
      expect(h.asked).toHaveLength(1);
    }
  });

  it('a passing failure (a timeout, no descriptor free) is asked again by the next launch', async () => {
    for (const errno of ['ETIMEDOUT', 'EMFILE', 'ENOBUFS']) {
      const h = harness([errno, OFF]);
      expect(await h.share.forLaunch()).toEqual({ status: errno, askedMsAgo: 0 });
      h.advance(5);
      expect(await h.share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 0 });
      expect(h.asked).toHaveLength(2);
    }
  });

  it('a request that threw fails its own launch only; the next launch asks again', async () => {
    let asks = 0;
    const share = new AuditStatusShare(
      () => {
        asks++;
        return asks === 1 ? Promise.reject(new Error('the shim is gone')) : Promise.resolve(OFF);
      },
      () => 0,
    );
    await expect(share.forLaunch()).rejects.toThrow('the shim is gone');
    expect(await share.forLaunch()).toEqual({ status: OFF, askedMsAgo: 0 });
    expect(asks).toBe(2);
  });

  it('where audit is on, a launch does not wait behind another launch\'s request in flight', async () => {
    const pending: Array<(s: AuditStatus) => void> = [];
    const share = new AuditStatusShare(
      () => new Promise<AuditStatus>((r) => pending.push(r)),
      () => 0,
    );
    const first = share.forLaunch();
    pending[0]!(ON);
    expect(await first).toEqual({ status: ON, askedMsAgo: 0 });
    // The second launch's request stays in flight; the third asks at once (the last answer was
    // on, so the one in flight would not serve it anyway).
    const second = share.forLaunch();
    await Promise.resolve();
    const third = share.forLaunch();
    await Promise.resolve();
    expect(pending).toHaveLength(3);
    pending[2]!(ON);
    expect(await third).toEqual({ status: ON, askedMsAgo: 0 });
    pending[1]!(ON);
    expect(await second).toEqual({ status: ON, askedMsAgo: 0 });
  });

  it('launches begun while a request is in flight wait for that one answer', async () => {
    let answer: (s: AuditStatus) => void = () => {};
    let asks = 0;
    const share = new AuditStatusShare(
      () => {
        asks++;
        return new Promise<AuditStatus>((r) => (answer = r));
      },
      () => 0,
    );
    const both = Promise.all([share.forLaunch(), share.forLaunch()]);
    answer(OFF);
    expect(await both).toEqual([
      { status: OFF, askedMsAgo: 0 },
      { status: OFF, askedMsAgo: 0 },
    ]);
    expect(asks).toBe(1);
  });
});
