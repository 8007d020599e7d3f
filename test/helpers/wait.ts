// Waiting on the outside world: a condition polled until it holds, and whether a pid still runs.
import { readFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn every 20 ms until it holds; fails naming `what` after ms. */
export async function until(what: string, fn: () => boolean, ms = 8000): Promise<void> {
  const t = Date.now();
  while (!fn()) {
    if (Date.now() - t > ms) throw new Error(`${what}: not reached within ${ms} ms`);
    await sleep(20);
  }
}

/** Whether pid is a running process (a zombie has exited; only its parent's wait is missing). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
