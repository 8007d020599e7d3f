// withFlockYielding: a wait for a lock that gives the event loop its turns. The lock must be let go
// in the turn that took it (a sleeping wait of the same process, as the lifecycle functions and
// on-success commits make, would otherwise never get it), and a wait ended by stillWanted closes
// what it opened. Oracles: flock(1) as the other holder, /proc/self/fd.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withFlock, withFlockYielding } from '../../src/host/flock.js';
import { LOCK_EX, LOCK_SH } from '../../src/backends/linux/ffi/shim.js';
import { tempDir } from '../helpers/tmp.js';
import { journalLockHeld } from '../helpers/journal-lock.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('withFlockYielding (live)', () => {
  it('lets the lock go in the turn that took it: a sleeping wait of this process right after gets it at once', async () => {
    const lock = join(tempDir(), 'journal.lock');
    const first = withFlockYielding(lock, LOCK_SH, 'BV_JOURNAL_LOCK', () => 'shared');
    // The same turn, before the promise settles: an exclusive lock on another descriptor of the
    // same file conflicts with a shared one still held (flock(2)), and this wait sleeps the thread.
    expect(withFlock(lock, LOCK_EX, 'BV_JOURNAL_LOCK', () => 'exclusive', { timeoutMs: 200 })).toBe('exclusive');
    expect(await first).toBe('shared');
  });

  it('a wait ended by stillWanted throws its error and closes the descriptor it opened', async () => {
    const root = tempDir();
    await journalLockHeld(root, 20_000);
    const before = openFds();
    let asked = 0;
    const stop = new Error('stopped');
    const err = await withFlockYielding(join(root, 'journal.lock'), LOCK_EX, 'BV_JOURNAL_LOCK', () => 'held', {
      stillWanted: () => {
        if (++asked === 3) throw stop;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBe(stop);
    expect(asked).toBe(3);
    expect(openFds()).toBe(before);
  });
});
