// The test set for mutation testing (npm run mutation, docs/mutation.md): only the pure tests
// under test/core, which need no kernel, no cgroups and no built shim, so Stryker can run them
// thousands of times on a small shared machine. The module aliases (the test seams) are taken
// from vitest.config.mts so a mutated module resolves exactly as it does in `vitest run`.
// Stryker's vitest runner overrides the pool (one worker thread) and coverage; what is set here
// is only what to run.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.mjs';

export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ['test/core/**/*.test.ts'],
    // Its nesting case expects the YAML parser to overflow the stack at depth 1000, which holds
    // in a forked process (~1 MB stack) but not in the worker thread Stryker forces (4 MB), so
    // the dry run would fail; the file tests the manifest reader, not the policy files mutated.
    exclude: ['test/core/manifest-input.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
