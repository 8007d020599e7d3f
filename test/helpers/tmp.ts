// Temp dirs that are removed after each test, even when it fails.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];
afterEach(() => {
  while (made.length) {
    const d = made.pop()!;
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // A tree deeper than PATH_MAX (ENAMETOOLONG) or than Node's stack: GNU rm walks by
      // descriptor. Whatever it cannot remove stays, as rmSync's failure would have left it.
      spawnSync('rm', ['-rf', d]);
    }
  }
});

export function tempDir(prefix = 'bvisor-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Makes `names` as a chain of directories under `top`, each inside the last, with a file `leaf`
 * at the bottom: one step at a time from inside (a path longer than PATH_MAX cannot be passed
 * whole, which is what these chains are for). */
export function mkdirChain(top: string, names: readonly string[], leaf: { name: string; data: string }): void {
  const cwd = process.cwd();
  try {
    process.chdir(top);
    for (const n of names) {
      mkdirSync(n);
      process.chdir(n);
    }
    writeFileSync(leaf.name, leaf.data);
  } finally {
    process.chdir(cwd);
  }
}
