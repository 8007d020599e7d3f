// The denial holder's thread before a listener comes (src/backends/linux/host/denials.ts,
// native-shim/src/notify.c holder_main): it is started on the parent's end of the sync socket
// while the child builds its root, and takes the listener from there. A socket that ends with
// no listener, or a stop before one came, must end the thread, close everything it took, and
// never be reported as a watch that saw nothing. (The listener's way through the socket in a
// real launch is covered by test/security/denials.live.test.ts: every denial listed there came
// through it.)
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { shim } from '../../../../src/backends/linux/ffi/shim.js';
import { DenialHolder } from '../../../../src/backends/linux/host/denials.js';
import { policyFor } from '../../../../src/core/seccomp/policy.js';
import { runLoaded } from '../../../../src/app/run.js';
import { loadBundle } from '../../../../src/host/bundle.js';
import { facts, probeBundle, testCgroupParent, writableDir } from '../../../helpers/probe.js';

const policy = policyFor({ spawn: 'deny', network: { mode: 'deny' }, landlockAbi: 7 } as Parameters<typeof policyFor>[0]);
const openFds = (): number => readdirSync('/proc/self/fd').length;

function socketpair(): [number, number] {
  const sv = new Int32Array(2);
  expect(shim().bv_socketpair(sv)).toBe(0);
  return [sv[0]!, sv[1]!];
}

describe('the denial holder before its listener comes (live)', () => {
  it('a socket that ends with no listener (the child failed before its filter): not observed, EPIPE named, nothing left open', async () => {
    const before = openFds();
    const [ours, childs] = socketpair();
    const h = DenialHolder.start(ours, policy, 'x86_64');
    // The thread took a duplicate: the caller's end is the caller's to close, as in the launcher.
    shim().bv_close(ours);
    shim().bv_close(childs);
    const d = await h.finish(5000);
    expect(d.source.observed).toBe(false);
    // EPIPE from errno(3): the socket ended with no message (the thread's own name for it).
    expect(d.source.notObserved).toMatch(/^no listener came from the child \(EPIPE: the socket ended without one\); denied calls are answered ENOSYS/);
    expect(d.items).toEqual([]);
    await expect.poll(openFds, { timeout: 2000 }).toBe(before);
  });

  it('stopped before a listener came (a launch abandoned after the release): the thread ends, says so, and closes its duplicate', async () => {
    const before = openFds();
    const [ours, childs] = socketpair();
    const h = DenialHolder.start(ours, policy, 'x86_64');
    shim().bv_close(ours);
    // The child's end stays open: only the stop can end the wait. finish() stops after its grace.
    const d = await h.finish(50);
    expect(d.source.observed).toBe(false);
    expect(d.source.notObserved).toMatch(/^no listener came from the child \(stopped before it came\)/);
    shim().bv_close(childs);
    await expect.poll(openFds, { timeout: 2000 }).toBe(before);
  });
});

describe('a holder that cannot start (live)', () => {
  // The thread is started after the release byte; descriptors, memory or threads running out
  // make DenialHolder.start throw (pipe2, F_DUPFD_CLOEXEC, pthread_create). Made to throw here by
  // the test itself (vi.spyOn), not by any switch of the shipped code.
  for (const explain of [false, true]) {
    it(`fails the launch before the go byte and the workload never runs${explain ? ' (observe mode: its execve would wait for a holder, for ever)' : ''}`, async () => {
      const dir = writableDir();
      const marker = join(dir, 'ran');
      const b = loadBundle(probeBundle(['write', marker, 'x'], '', { filesystem: [`  - { path: ${dir}, access: read-write }`] }));
      const before = openFds();
      const spy = vi.spyOn(DenialHolder, 'start').mockImplementation(() => {
        throw new Error('pipe2: EMFILE');
      });
      try {
        await expect(runLoaded(b, { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, secrets: [], fds: [], host: facts(), ...(explain ? { explain: true } : {}) })).rejects.toMatchObject({ code: 'BV_LAUNCH_FAILED', message: expect.stringMatching(/^the seccomp denial holder could not start: pipe2: EMFILE/) });
        expect(spy).toHaveBeenCalledTimes(1);
      } finally {
        spy.mockRestore();
      }
      expect(existsSync(marker)).toBe(false);
      await expect.poll(openFds, { timeout: 2000 }).toBe(before);
    }, 15_000);
  }
});
