// The reaper's watches (backends/linux/host/reaper.ts) and a pidfd its owner closes. A watch left
// on a closed number polls whatever the next open() gets that number (in an API process, another
// run's pidfd), and a wait nobody awaits must not reject unhandled (that ends a Node program).
// Oracles: the kernel's fd numbers (the next open takes the lowest free one), the rejection's
// text, and Node's unhandledRejection event.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { shim } from '../../../../src/backends/linux/ffi/shim.js';
import { unwatch, waitPidfd } from '../../../../src/backends/linux/host/reaper.js';

/** A sleeping child of ours and a pidfd for it (killed and closed when the test ends). */
function sleeper(): { pid: number; pidfd: number } {
  const c = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pidfd = shim().bv_pidfd_open(c.pid!);
  expect(pidfd).toBeGreaterThanOrEqual(0);
  onTestFinished(() => void c.kill('SIGKILL'));
  return { pid: c.pid!, pidfd };
}

describe('the reaper and a pidfd its owner closes', () => {
  it('unwatch ends the waits on it, and no poll touches the number after: the next descriptor with that number is not waited on', async () => {
    const { pidfd } = sleeper();
    const wait = waitPidfd(pidfd);
    const settled = wait.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    unwatch(pidfd);
    shim().bv_close(pidfd);
    // The lowest free number: the one just closed.
    const other = openSync('/dev/null', 'r');
    onTestFinished(() => closeSync(other));
    expect(other).toBe(pidfd);
    // Two of the reaper's 100 ms polls.
    await new Promise((r) => setTimeout(r, 250));
    expect(await settled).toBe(`waitid(pidfd ${pidfd}): no longer watched (closed by its owner)`);
  });

  it('a wait nobody awaits, ended by unwatch, is no unhandled rejection', async () => {
    const { pidfd } = sleeper();
    const unhandled: unknown[] = [];
    const spy = (r: unknown): void => void unhandled.push(r);
    process.on('unhandledRejection', spy);
    onTestFinished(() => void process.off('unhandledRejection', spy));
    void waitPidfd(pidfd); // as a launch that failed before awaiting its workload leaves it
    unwatch(pidfd);
    shim().bv_close(pidfd);
    await new Promise((r) => setTimeout(r, 250));
    expect(unhandled).toEqual([]);
  });
});
