// State roots for CLI tests: whatever a test (even a failing one) leaves under them is removed
// with delete -f afterwards, so no monitor, workload or cgroup outlives the test.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { cli } from './cli.js';
import { tempDir } from './tmp.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) {
    for (const c of existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []) cli(['delete', '-f', c, '--root', root]);
  }
});

export function newRoot(): string {
  return keepRoot(tempDir());
}

/** Registers a root made elsewhere (e.g. a relative --root) for the same clean-up. */
export function keepRoot(root: string): string {
  roots.push(root);
  return root;
}
