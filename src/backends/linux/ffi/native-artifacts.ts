// Where the native artifacts are, relative to the package root. The shipped build: no test
// switches in them. The test suite swaps this module for test/seams/native-artifacts.ts (an
// alias in vitest.config.mts), which names the test build (native-shim/build/test, compiled with
// BV_TEST_BUILD so the red twins' switches exist); no shipped code path can pick that build.
export const NATIVE = {
  lib: ['native-shim', 'build', 'libbvshim.so'],
  monitor: ['native-shim', 'build', 'bvmonitor'],
  /** Preloaded into bvisor's own Node processes (native-shim/src/nodump.c); no test switch in it. */
  nodump: ['native-shim', 'build', 'libbvnodump.so'],
} as const;
