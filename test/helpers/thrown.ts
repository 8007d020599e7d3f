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
