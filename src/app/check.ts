// bvisor check: what this host is, and what each backend can enforce on it.
import type { HostFacts } from '../contract/generated/types.js';
import { probeHost } from '../host/facts.js';
import { capabilityTable, type CapabilityRow } from '../core/capabilities.js';

export interface CheckResult {
  host: HostFacts;
  capabilities: CapabilityRow[];
}

export function check(opts: { cgroupParent: string | null }): CheckResult {
  const host = probeHost();
  return { host, capabilities: capabilityTable(host, opts.cgroupParent !== null) };
}
