// The BvisorError a call throws, so a test can assert its code and text; anything else fails.
import { BvisorError } from '../../src/contract/errors.js';

export function thrown(fn: () => unknown): BvisorError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BvisorError) return e;
    throw new Error(`expected a BvisorError, got ${String((e as Error)?.stack ?? e)}`);
  }
  throw new Error('expected a BvisorError, nothing was thrown');
}

/** Whatever a call throws, of any kind (a test then asserts which); fails when nothing is thrown. */
export function thrownAny(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, nothing was thrown');
}
