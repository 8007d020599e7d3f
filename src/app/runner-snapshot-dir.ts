// Where the wasm runner's start looks for its snapshot: dist/snapshot of the installed package.
// The test suite moves it (a blob elsewhere, a stale one): vitest aliases this module with
// test/seams/runner-snapshot-dir.ts, which has a setter; the shipped module has none, so no
// caller of bvisor can point the runner at another blob.
import { join } from 'node:path';
import { packageRoot } from '../backends/linux/ffi/runtime.js';

export function runnerSnapshotDir(): string {
  return join(packageRoot(), 'dist', 'snapshot');
}
