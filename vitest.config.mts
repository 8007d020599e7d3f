// Tests are suffixed by what they need: *.test.ts (pure), *.live.test.ts (a Linux kernel with
// user namespaces), *.e2e.test.ts (spawns bin/run.js, needs `npm run build`). All run in
// parallel in forked workers; each test makes its own temp dirs and removes them.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
