// One advisory-lock helper for every file bvisor serialises on (a container's lock, the
// journal's lock). flock rather than a lockfile: the kernel drops it when the holder dies, so
// a crashed command never leaves an id or the journal locked.
import { openSync, closeSync, fstatSync, statSync, constants as C } from 'node:fs';
import { BvisorError, type ErrorCode } from '../contract/errors.js';
import { shim, LOCK_NB } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';
import { runSteps, runStepsYielding, WAIT, type Steps, type Wait } from './steps.js';

export interface FlockOptions {
  /** Give up (with `code`) after this long: a holder that is stopped must not hang us forever. */
  timeoutMs?: number;
  /**
   * The lock lives in a directory that may be removed (and made again) while we wait: after
   * locking, check that the path still names the file we hold; if it is gone, call gone().
   */
  gone?: () => Error;
  /** Asked after each pause while another holds the lock; a throw ends the wait (a caller's stop
   * heard while it waited, in a yielding wait). */
  stillWanted?: () => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The lock's file, opened (created 0600 if missing). */
function openLockFile(path: string, code: ErrorCode, o: FlockOptions): number {
  try {
    // Read-only is enough for flock, and works where the file exists on a read-only mount.
    return openSync(path, C.O_RDONLY | C.O_CREAT | C.O_NOFOLLOW, 0o600); // (Node opens close-on-exec)
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && o.gone) throw o.gone();
    throw new BvisorError(code, `open ${path}: ${err.code ?? err.message}`, { hint: 'the state root must be a writable directory of ours (see --root)', detail: { errno: err.code ?? null } });
  }
}

/**
 * One try at the lock on an open fd. With o.gone, the directory may have been removed (and made
 * again) while we waited: the lock counts only if the path still names this very file ('again'
 * when a new file is there; o.gone() thrown when none is). The caller closes fd unless 'held'.
 */
function tryLock(fd: number, path: string, op: number, code: ErrorCode, o: FlockOptions): 'held' | 'busy' | 'again' {
  const rc = shim().bv_flock(fd, op | LOCK_NB);
  if (rc === -11 /* EWOULDBLOCK */) return 'busy';
  if (rc < 0) throw new BvisorError(code, `flock ${path}: ${errnoName(rc)}`);
  if (!o.gone) return 'held';
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    if (a.ino === b.ino && a.dev === b.dev) return 'held';
  } catch {
    // not the same file
  }
  try {
    statSync(path);
  } catch {
    throw o.gone();
  }
  return 'again';
}

/**
 * Opens and flocks path until it holds the lock (returns the fd), yielding WAIT each time another
 * holder makes it wait, and asking o.stillWanted after each (its throw ends the wait); gives up
 * after o.timeoutMs. Stopped early (return or throw), it closes what it opened.
 */
function* attempts(path: string, op: number, code: ErrorCode, o: FlockOptions): Generator<Wait, number, void> {
  const until = Date.now() + (o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  for (;;) {
    const fd = openLockFile(path, code, o);
    let held = false;
    try {
      for (;;) {
        const got = tryLock(fd, path, op, code, o);
        if (got === 'held') {
          held = true;
          return fd;
        }
        if (got === 'again') break;
        if (Date.now() > until) throw new BvisorError(code, `${path} is still locked by another bvisor command after ${Math.round((o.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`, { hint: 'a command on it is still running (or stopped); try again when it ends' });
        yield WAIT;
        o.stillWanted?.();
      }
    } finally {
      if (!held) closeSync(fd);
    }
  }
}

/**
 * fn holding the lock, as steps (host/steps.ts): driven by runSteps the thread sleeps while
 * another holds it (the lifecycle commands, which have nothing else to do); by runStepsYielding
 * the event loop turns (bvisor run and the API, where other runs' wall deadlines and the caller's
 * stop are timers and listeners). fn runs, and the lock is let go, in the step that took it: a
 * lock held across a turn would keep this process's own sleeping waits from ever getting it.
 */
export function* withFlockSteps<T>(path: string, op: number, code: ErrorCode, fn: () => T, o: FlockOptions = {}): Steps<T> {
  const fd = yield* attempts(path, op, code, o);
  try {
    return fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs fn holding flock(op) on path. A promise result keeps the lock until it settles. Closing
 * the fd is what releases the lock.
 */
export function withFlock<T>(path: string, op: number, code: ErrorCode, fn: () => T, o: FlockOptions = {}): T {
  const fd = runSteps(attempts(path, op, code, o));
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

/** withFlockSteps, the event loop turning while it waits (o.stillWanted asked after each pause). */
export function withFlockYielding<T>(path: string, op: number, code: ErrorCode, fn: () => T, o: FlockOptions = {}): Promise<T> {
  return runStepsYielding(withFlockSteps(path, op, code, fn, o));
}
