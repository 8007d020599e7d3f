// What the host has at an absolute path: its physical path and kind (bvisor learn, run --explain).
import { realpathSync, statSync } from 'node:fs';
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
