// Mutation testing of the policy code (docs/mutation.md): StrykerJS changes one operator,
// constant or branch at a time in src/core and reruns the pure tests under test/core that
// cover it; a mutant no test notices is a decision the tests do not pin down.
//
// Sized for a small shared machine: at most two test-runner workers, per-test coverage so a
// mutant reruns only the tests that reach it, static mutants (module-level tables evaluated once
// at import, which would force a full reload and every test per mutant) skipped, and an
// incremental file so a rerun only retests mutants whose code or covering tests changed.
// Everything Stryker writes (sandboxes, incremental file, reports) stays under reports/, which
// is gitignored. The wall-clock budget is the npm script's (`timeout`), see package.json.
//
// `npm run mutation` mutates the files below; `--mutate` on the command line narrows it
// (a file, or file:startLine-endLine); `npm run mutation:sample` is the CI-sized subset with
// a break threshold.
export const POLICY_FILES = [
  'src/core/units.ts',
  'src/core/paths.ts',
  'src/core/landlock.ts',
  'src/core/seccomp/compile.ts',
  'src/core/seccomp/policy.ts',
];

export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.mts', related: true },
  coverageAnalysis: 'perTest',
  mutate: POLICY_FILES,
  ignoreStatic: true,
  // Vitest strips types without checking them, so Stryker need not prepend `// @ts-nocheck`;
  // prepending it would also break the tests that compare generated files byte for byte.
  disableTypeChecks: false,
  concurrency: 2,
  // A busy shared machine slows honest runs; 10 s over the measured time tells a slow test
  // from a mutant that loops.
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 5,
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  tempDirName: 'reports/.stryker-tmp',
  cleanTempDir: 'always',
  // Not needed by the pure tests: build output, the C shim, docs, the VM harness.
  ignorePatterns: ['/dist', '/native-shim', '/docs', '/.ci', '/coverage', '/test/vm'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 75, break: null },
};
