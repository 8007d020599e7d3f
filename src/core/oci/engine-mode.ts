// Whether an OCI container's init is handed to its caller (engine mode: the monitor clones it with
// CLONE_PARENT) or kept by bvisor's monitor as its child. Engines (conmon, the containerd shim)
// are child subreapers that reap the pid they read from --pid-file; a shell is not, and there the
// init would go to whoever adopts orphans, which throws its exit status away.

/** What create saw of the process that adopted its monitor (an orphan from its start). */
export interface MonitorAdoption {
  /** The pid that adopted the monitor (its parent now), null if it could not be read. */
  reaper: number | null;
  /** create's parent when it started, and now: a create orphaned meanwhile has no caller left. */
  callerAtStart: number;
  callerNow: number;
}

/**
 * Engine mode only where the monitor went to create's own caller, that caller is still the one
 * that started it, and it is not pid 1 of the pid namespace (which adopts every orphan when no
 * subreaper is above: a container's entrypoint shell, a systemd unit, tini; none keeps the status
 * for a runtime's user).
 */
export function handToCaller(a: MonitorAdoption): boolean {
  return a.reaper !== null && a.reaper !== 1 && a.reaper === a.callerAtStart && a.callerNow === a.callerAtStart;
}
