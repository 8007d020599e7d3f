// One advisory-lock helper for every file bvisor serialises on (a container's lock, the
// journal's lock). flock rather than a lockfile: the kernel drops it when the holder dies, so
// a crashed command never leaves an id or the journal locked.
import { openSync, closeSync, fstatSync, statSync, constants as C } from 'node:fs';
import { BvisorError, type ErrorCode } from '../contract/errors.js';
import { shim, LOCK_NB } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

export interface FlockOptions {
  /** Give up (with `code`) after this long: a holder that is stopped must not hang us forever. */
  timeoutMs?: number;
  /**
   * The lock lives in a directory that may be removed (and made again) while we wait: after
   * locking, check that the path still names the file we hold; if it is gone, call gone().
   */
  gone?: () => Error;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Opens and flocks path (created 0600 if missing), retrying while it is held. Returns the fd. */
function acquire(path: string, op: number, code: ErrorCode, o: FlockOptions): number {
  const until = Date.now() + (o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  for (;;) {
    let fd: number;
    try {
      // Read-only is enough for flock, and works where the file exists on a read-only mount.
      fd = openSync(path, C.O_RDONLY | C.O_CREAT | C.O_NOFOLLOW, 0o600); // (Node opens close-on-exec)
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' && o.gone) throw o.gone();
      throw new BvisorError(code, `open ${path}: ${err.code ?? err.message}`, { hint: 'the state root must be a writable directory of ours (see --root)' });
    }
    let rc: number;
    for (;;) {
      rc = shim().bv_flock(fd, op | LOCK_NB);
      if (rc !== -11 /* EWOULDBLOCK */ || Date.now() > until) break;
      sleepMs(10);
    }
    if (rc < 0) {
      closeSync(fd);
      if (rc === -11) throw new BvisorError(code, `${path} is still locked by another bvisor command after ${Math.round((o.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`, { hint: 'a command on it is still running (or stopped); try again when it ends' });
      throw new BvisorError(code, `flock ${path}: ${errnoName(rc)}`);
    }
    if (!o.gone) return fd;
    // The directory may have been removed (and made again) while we waited: hold the lock only
    // if the path still names this very file.
    let same = false;
    try {
      const a = fstatSync(fd);
      const b = statSync(path);
      same = a.ino === b.ino && a.dev === b.dev;
    } catch {
      same = false;
    }
    if (same) return fd;
    closeSync(fd);
    try {
      statSync(path);
    } catch {
      throw o.gone();
    }
  }
}

/**
 * Runs fn holding flock(op) on path. A promise result keeps the lock until it settles. Closing
 * the fd is what releases the lock.
 */
export function withFlock<T>(path: string, op: number, code: ErrorCode, fn: () => T, o: FlockOptions = {}): T {
  const fd = acquire(path, op, code, o);
  const release = (): void => closeSync(fd);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    release();
    throw e;
  }
  if (result instanceof Promise) return result.finally(release) as T;
  release();
  return result;
}
