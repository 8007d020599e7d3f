// What the host has at a path: its physical path and kind (bvisor learn, run --explain); whether
// it is a directory; and a directory made on the way removed again if empty.
import { realpathSync, rmdirSync, statSync } from 'node:fs';
import type { HostPath } from '../core/calls.js';

export function hostLookup(abs: string): HostPath {
  try {
    const real = realpathSync.native(abs);
    const st = statSync(real);
    return { real, kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other' };
  } catch {
    return { real: abs, kind: 'missing' };
  }
}

/** Whether path is a directory, following links (a bundle may be one); false when nothing is there
 * or it cannot be looked at (the caller's own open reports why). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** rmdir(2), for a directory made on the way and not needed: one that is not empty (someone put
 * something there meanwhile) or is gone is not the caller's to remove, and is left. */
export function rmdirIfEmpty(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not empty, or gone
  }
}
