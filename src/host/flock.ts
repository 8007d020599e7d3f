// One advisory-lock helper for every file bvisor serialises on (a container's lock, the
// journal's lock). flock rather than a lockfile: the kernel drops it when the holder dies, so
// a crashed command never leaves an id or the journal locked.
import { openSync, closeSync } from 'node:fs';
import { BvisorError, type ErrorCode } from '../contract/errors.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

/**
 * Runs fn holding flock(op) on path (created 0600 if missing). A promise result keeps the lock
 * until it settles. Closing the fd is what releases the lock.
 */
export function withFlock<T>(path: string, op: number, code: ErrorCode, fn: () => T): T {
  const fd = openSync(path, 'a', 0o600);
  const release = (): void => closeSync(fd);
  let result: T;
  try {
    const rc = shim().bv_flock(fd, op);
    if (rc < 0) throw new BvisorError(code, `flock ${path}: ${errnoName(rc)}`);
    result = fn();
  } catch (e) {
    release();
    throw e;
  }
  if (result instanceof Promise) return result.finally(release) as T;
  release();
  return result;
}
