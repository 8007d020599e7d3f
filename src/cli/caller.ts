// The process that called this bvisor, as bin/bvisor read it before Node started (BVISOR_CALLER,
// "<our pid>:<our parent>"): create hands an OCI init only to it (core/oci/engine-mode.ts).

/**
 * Our caller's pid: bin/bvisor's reading when it is ours (its first field is this process, which
 * bin/bvisor exec'd), else our parent now. The variable is removed either way, so nothing this
 * process starts (a hook, another bvisor) takes it for its own.
 */
export function callerPid(): number {
  const v = process.env.BVISOR_CALLER;
  delete process.env.BVISOR_CALLER;
  const m = v === undefined ? null : /^(\d+):(\d+)$/.exec(v);
  return m && Number(m[1]) === process.pid ? Number(m[2]) : process.ppid;
}
