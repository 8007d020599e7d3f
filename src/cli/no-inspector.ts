// bvisor runs as root, beside workloads that may share the host's network (`network: host`).
// Node opens its inspector on 127.0.0.1:9229 when the process gets SIGUSR1, and whoever reaches
// that port runs code in it: a workload on the host's loopback, or any local user, would run code
// as bvisor's user (root). Node 20 has no flag to turn that off (--disable-sigusr1 came later),
// but a listener of our own replaces its handler: SIGUSR1 then does nothing.
export function refuseInspector(): void {
  process.on('SIGUSR1', () => {});
}
