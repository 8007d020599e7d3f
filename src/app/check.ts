// bvisor check: what this host is, what each backend can enforce on it, and where bvisor's
// cgroups would go (the planner's placement rule, docs/cgroups.md).
import type { HostFacts } from '../contract/generated/types.js';
import { probeHost } from '../host/facts.js';
import { capabilityTable, type CapabilityRow } from '../core/capabilities.js';
import { placementFor } from '../core/host-view.js';
import { join } from 'node:path';
import { auditStatus, auditUnavailable } from '../backends/linux/host/landlock-audit.js';
import { ownProcessesHere } from './wasm.js';

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
  /** Which denials a run's report can list here (docs/denials.md): each source as observed on
   * this host by default, or why not. */
  denials: { seccomp: DenialSourceHere; landlock: DenialSourceHere };
  /** Whether the wasm backend's own processes (the runner, the rewriter) can be started in their
   * boundary here: a wasm run needs both, whatever its manifest admits. */
  wasmProcesses: { admitted: boolean; why: string; hint: string | null };
}

export interface DenialSourceHere {
  observed: boolean;
  how: string;
}

/** The denial sources as a default run on this host gets them. */
export function denialSourcesHere(host: HostFacts): CheckResult['denials'] {
  const notif = host.seccomp.available && host.seccomp.actions.includes('user_notif');
  const seccomp = notif ? { observed: true, how: 'seccomp:user-notif (bvisor answers each denied call and lists it)' } : { observed: false, how: host.seccomp.available ? 'the kernel lacks SECCOMP_RET_USER_NOTIF (Linux 5.0)' : 'no seccomp on this host' };
  const why = host.landlock.abi > 0 ? auditUnavailable(host.landlock.abi, auditStatus()) : 'landlock is not available on this host';
  return { seccomp, landlock: why ? { observed: false, how: why } : { observed: true, how: 'landlock:audit (audit is on: the kernel\'s records are read from the READLOG group; an observed run adds a few lines to the audit log, --no-landlock-audit to avoid)' } };
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
  return { host, cgroupPlacements: placementRows(host, opts.cgroupParent), capabilities: capabilityTable(host, opts.cgroupParent), denials: denialSourcesHere(host), wasmProcesses: ownProcessesHere(host, opts.cgroupParent) };
}
