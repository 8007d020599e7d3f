// The test suite's seam for the wasm runner's snapshot directory: tests may point it elsewhere.
// Aliased over src/app/runner-snapshot-dir.ts by vitest.config.mts; never shipped.
import { join } from 'node:path';
import { packageRoot } from '../../src/backends/linux/ffi/runtime.js';

let dir: string | null = null;

export function runnerSnapshotDir(): string {
  return dir ?? join(packageRoot(), 'dist', 'snapshot');
}

/** Where runnerStart looks for the runner's snapshot (null: dist/snapshot). */
export function setRunnerSnapshotDir(d: string | null): void {
  dir = d;
}
