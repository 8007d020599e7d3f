// After each test file: remove its cgroup parent wherever bvisor made it (test/helpers/cgroups.ts).
import { rmdirSync } from 'node:fs';
import { afterAll } from 'vitest';
import { testParentDirs } from '../helpers/cgroups.js';

afterAll(() => {
  for (const dir of testParentDirs()) {
    try {
      rmdirSync(dir);
    } catch {
      // not made in this hierarchy, or (ENOTEMPTY) a leaf is still in it: the guard reports that
    }
  }
});
