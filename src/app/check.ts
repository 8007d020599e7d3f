// bvisor check: what this host is, what each backend can enforce on it, and where bvisor's
// cgroups would go (the planner's placement rule, docs/cgroups.md).
import type { HostFacts } from '../contract/generated/types.js';
import { probeHost } from '../host/facts.js';
import { capabilityTable, type CapabilityRow } from '../core/capabilities.js';
import { placementFor } from '../core/host-view.js';
import { join } from 'node:path';

export interface CgroupPlacementRow {
  hierarchy: string;
  /** The directory a run's leaf cgroup goes in, or null when bvisor may place none here. */
  dir: string | null;
  /** The rule that chose it, or why there is none. */
  why: string;
  hint: string | null;
}

export interface CheckResult {
  host: HostFacts;
  cgroupPlacements: CgroupPlacementRow[];
  capabilities: CapabilityRow[];
}

const USED_V1 = ['memory', 'pids', 'cpu', 'cpuacct'];

export function placementRows(host: HostFacts, cgroupParent: string | null): CgroupPlacementRow[] {
  // The hierarchies bvisor may use: v2, and the v1 ones whose controllers back limits.
  const used = host.cgroup.v1.filter((h) => h.controllers.some((c) => USED_V1.includes(c)));
  return [...(host.cgroup.v2 ? [host.cgroup.v2] : []), ...used].map((h) => {
    const p = placementFor(host, h, cgroupParent);
    const hierarchy = `v${h.version} ${h.mountPoint}`;
    return p.ok ? { hierarchy, dir: join(p.placement.anchor, ...p.placement.segments), why: p.placement.why, hint: null } : { hierarchy, dir: null, why: p.reason, hint: p.hint };
  });
}

export function check(opts: { cgroupParent: string | null }): CheckResult {
  const host = probeHost();
  return { host, cgroupPlacements: placementRows(host, opts.cgroupParent), capabilities: capabilityTable(host, opts.cgroupParent) };
}
