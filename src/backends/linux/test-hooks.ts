// The red twins' switches (LaunchHooks: skip landlock, skip the fd scrub…) exist only in the
// test suite. The shipped module drops whatever hooks a caller passes, so no CLI flag, API option
// or import of bvisor's internals can switch a mechanism off; vitest aliases this module with
// test/seams/test-hooks.ts, which passes them through. test/seams/shipped.e2e.test.ts proves
// the shipped build ignores them.
import type { LaunchHooks } from './launcher.js';

export function effectiveHooks(_requested: LaunchHooks | undefined): LaunchHooks {
  return {};
}
