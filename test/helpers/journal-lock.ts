// Another process holding a state root's journal lock, as a long `bvisor journal verify` or a
// stopped command would: flock(1), in its own process group.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { until } from './wait.js';

/**
 * flock(1) holding an exclusive lock on `root`'s journal.lock for `ms`, then letting go by
 * exiting: resolves once it holds it. The test's cleanup ends it, even when the test fails.
 */
export function journalLockHeld(root: string, ms: number): Promise<{ gone: Promise<void> }> {
  return lockHeld(join(root, 'journal.lock'), ms);
}

/** The same for any lock file (a container's `lock`, as another command holds it). */
export async function lockHeld(path: string, ms: number): Promise<{ gone: Promise<void> }> {
  // Its own process group: flock, its shell and the sleep end together.
  const p = spawn('flock', ['-x', path, '-c', `echo held; sleep ${ms / 1000}`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const gone = new Promise<void>((r) => p.on('close', () => r()));
  p.on('error', (e) => (out += `flock(1) could not start: ${e.message}`)); // the wait below then fails
  onTestFinished(async () => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // ended by itself
    }
    await gone;
  });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b));
  await until(`flock holding ${path}`, () => out.includes('held'), 10_000);
  return { gone };
}
