// The test suite's rewriter-checks seam: the red twins' switches are honoured. Aliased over
// src/core/wasm/test-checks.ts by vitest.config.mts; never shipped.
import type { UncheckedForTests } from '../../src/core/wasm/test-checks.js';

export function effectiveChecks(requested: UncheckedForTests): UncheckedForTests {
  return requested;
}
