// The caller bin/bvisor read before Node started (BVISOR_CALLER="<pid>:<ppid>"): taken only as
// this process's own (bin/bvisor exec'd node, so the pid is the same), and never passed on.
import { afterEach, describe, expect, it } from 'vitest';
import { callerPid } from '../../src/cli/caller.js';

describe('callerPid', () => {
  afterEach(() => {
    delete process.env.BVISOR_CALLER;
  });

  it('is bin/bvisor\'s reading when it names this process, and the variable is gone after', () => {
    process.env.BVISOR_CALLER = `${process.pid}:4242`;
    expect(callerPid()).toBe(4242);
    expect(process.env.BVISOR_CALLER).toBeUndefined();
  });

  it('is our parent now when the reading is another process\'s (inherited from an outer bvisor), malformed, or absent', () => {
    process.env.BVISOR_CALLER = `${process.pid + 1}:4242`;
    expect(callerPid()).toBe(process.ppid);
    expect(process.env.BVISOR_CALLER).toBeUndefined();
    process.env.BVISOR_CALLER = `${process.pid}:x`;
    expect(callerPid()).toBe(process.ppid);
    expect(callerPid()).toBe(process.ppid);
  });
});
