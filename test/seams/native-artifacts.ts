// The test suite's native artifacts: the shim and monitor built with BV_TEST_BUILD (`make -C
// native-shim test`), whose test-only switches the red twins use. Aliased over
// src/backends/linux/ffi/native-artifacts.ts by vitest.config.mts; never shipped.
export const NATIVE = {
  lib: ['native-shim', 'build', 'test', 'libbvshim.so'],
  monitor: ['native-shim', 'build', 'test', 'bvmonitor'],
  // The shipped build's: it has no test switch to turn on.
  nodump: ['native-shim', 'build', 'libbvnodump.so'],
} as const;
