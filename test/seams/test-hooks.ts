// The test suite's hooks seam: the red twins' switches are honoured. Aliased over
// src/backends/linux/test-hooks.ts by vitest.config.mts; never shipped.
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';

export function effectiveHooks(requested: LaunchHooks | undefined): LaunchHooks {
  return requested ?? {};
}
