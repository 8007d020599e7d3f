// Tests are suffixed by what they need: *.test.ts (pure), *.live.test.ts (a Linux kernel with
// user namespaces), *.e2e.test.ts (spawns bin/run.js, needs `npm run build`). All run in
// parallel in forked workers; each test makes its own temp dirs and removes them.
import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  // Test seams: in-process tests use the native test build (BV_TEST_BUILD: the red twins'
  // switches) and honour LaunchHooks and the rewriter's check switches; the shipped modules name the production build and drop
  // hooks (test/seams/shipped.e2e.test.ts proves it).
  resolve: {
    alias: [
      { find: /^(\.\/|.*\/ffi\/)native-artifacts\.js$/, replacement: fileURLToPath(new URL('./test/seams/native-artifacts.ts', import.meta.url)) },
      { find: /^(\.\/|.*\/linux\/)test-hooks\.js$/, replacement: fileURLToPath(new URL('./test/seams/test-hooks.ts', import.meta.url)) },
      { find: /^(\.\/|.*\/host\/)cgroup-audit\.js$/, replacement: fileURLToPath(new URL('./test/seams/cgroup-audit.ts', import.meta.url)) },
      { find: /^(\.\/|.*\/app\/)runner-snapshot-dir\.js$/, replacement: fileURLToPath(new URL('./test/seams/runner-snapshot-dir.ts', import.meta.url)) },
      { find: /^(\.\/|.*\/wasm\/)test-checks\.js$/, replacement: fileURLToPath(new URL('./test/seams/test-checks.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Cgroups on a shared machine: each test file's parent is removed after it, and the run
    // fails if anything bvisor made is left in a hierarchy (test/setup/).
    setupFiles: ['test/setup/cgroups.ts'],
    globalSetup: ['test/setup/cgroup-guard.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
