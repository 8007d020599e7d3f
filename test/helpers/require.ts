// Loud skips. A test that cannot run here prints why; but when CI declares that its host has
// the feature (BVISOR_CI_REQUIRE, a comma list set by .ci/run), a skip is a failure, so a
// required property can never pass by silently not running.
// Who declares what: .ci/run for the CI machine itself, test/vm/guest.sh for the stock-kernel VM
// (test/vm). A feature is a short stable name, e.g. `root`, `busybox`, `util-linux`, or
// `cgroup2`: pure cgroup v2 with the memory, pids and cpu controllers available from the
// hierarchy root (the VM has it; our hybrid CI machine does not, so it is not declared there).
import { existsSync } from 'node:fs';

export function required(feature: string): boolean {
  return (process.env.BVISOR_CI_REQUIRE ?? '').split(',').map((s) => s.trim()).includes(feature);
}

/** strace, where Debian's package puts it (test feature `strace`); undefined without it. */
export function straceBin(): string | undefined {
  return ['/usr/bin/strace', '/bin/strace'].find((p) => existsSync(p));
}

export function skipOrFail(feature: string, why: string): void {
  if (required(feature)) throw new Error(`required feature "${feature}" is missing on this host: ${why}`);
  console.warn(`SKIP (${feature}): ${why}`);
}
