// When an OCI container's init is handed to the caller (engine mode) or kept by the monitor.
// Expected values from the kernel's rule (prctl(2) PR_SET_CHILD_SUBREAPER: an orphan goes to the
// nearest subreaper among its ancestors, else to the pid namespace's init, pid 1 there).
import { describe, expect, it } from 'vitest';
import { handToCaller } from '../../../src/core/oci/engine-mode.js';

describe('engine mode', () => {
  it('is chosen where the caller that started create adopted its monitor (an engine: conmon, the containerd shim)', () => {
    expect(handToCaller({ reaper: 4242, callerAtStart: 4242, callerNow: 4242 })).toBe(true);
  });

  it('is not chosen where orphans go past the caller (a shell: to init or a session manager), where the caller is the pid namespace\'s init, where create was orphaned, or where the adopter is unknown', () => {
    expect(handToCaller({ reaper: 1, callerAtStart: 4242, callerNow: 4242 })).toBe(false);
    expect(handToCaller({ reaper: 977, callerAtStart: 4242, callerNow: 4242 })).toBe(false);
    // A container's entrypoint shell or a systemd unit is pid 1: it adopts every orphan.
    expect(handToCaller({ reaper: 1, callerAtStart: 1, callerNow: 1 })).toBe(false);
    // `(bvisor create x &)`: create's parent died; create and its monitor share the adopter.
    expect(handToCaller({ reaper: 977, callerAtStart: 4242, callerNow: 977 })).toBe(false);
    expect(handToCaller({ reaper: null, callerAtStart: 4242, callerNow: 4242 })).toBe(false);
  });
});
