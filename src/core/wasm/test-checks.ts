// The red twins of "validate before rewriting" switch a validation layer off. Only the test suite
// can: the shipped module drops the request, and vitest aliases this file with
// test/seams/test-checks.ts, which passes it through. test/seams/shipped.e2e.test.ts proves the
// shipped rewriter ignores it.

/** Skip a validation layer, to show what it stops. The rewritten output is validated whatever. */
export interface UncheckedForTests {
  skipEngineValidation?: boolean;
  skipIndexChecks?: boolean;
}

export function effectiveChecks(_requested: UncheckedForTests): UncheckedForTests {
  return {};
}
