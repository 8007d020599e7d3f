// Derived, pure questions about host facts that both backends' feature tables ask. Keeping them
// in one place keeps the planner monotone: each answer can only get worse as facts get worse.
import type { HostFacts, CgroupHierarchy } from '../contract/generated/types.js';

/** Capability numbers from include/uapi/linux/capability.h. */
export const CAP = { SYS_ADMIN: 21, SYS_RESOURCE: 24 } as const;

export function hasCap(host: HostFacts, cap: number): boolean {
  const eff = BigInt('0x' + host.capabilities.effective);
  return ((eff >> BigInt(cap)) & 1n) === 1n;
}

/** We can create the namespaces a boundary needs: via a user namespace, or as a privileged process. */
export function canNamespace(host: HostFacts): boolean {
  return host.userns.canCreate || hasCap(host, CAP.SYS_ADMIN);
}

export function seccompAction(host: HostFacts, action: 'errno' | 'kill_process' | 'log'): boolean {
  return host.seccomp.available && host.seccomp.actions.includes(action);
}

export interface CgroupChoice {
  version: 1 | 2;
  controller: string;
  hierarchy: CgroupHierarchy;
}

export type CgroupLookup = { ok: true; choice: CgroupChoice } | { ok: false; reason: string; hint: string };

/**
 * Which hierarchy backs a controller for us. v2 first (where the v2 mount has the controller
 * enabled for our children, or we sit at its root), then the v1 hierarchy that carries it. A
 * hierarchy whose root is our own cgroup is used only under a parent the user named.
 */
export function cgroupFor(host: HostFacts, controller: string, parentNamed: boolean): CgroupLookup {
  const reasons: string[] = [];
  const v2 = host.cgroup.v2;
  if (v2) {
    // cgroup v2 keeps membership and cpu.stat in every cgroup, with no controller enabled.
    const core = controller === 'membership' || controller === 'cpuacct';
    const has = core || (v2.controllers.includes(controller) && (v2.subtreeControl.includes(controller) || v2.isRoot));
    if (!has) reasons.push(`the cgroup2 mount at ${v2.mountPoint} has no ${controller} controller for us`);
    else if (v2.isRoot && !parentNamed) reasons.push(`our cgroup2 cgroup is the hierarchy root`);
    else if (!v2.canCreateChild) reasons.push(`we cannot create cgroups under ${v2.ownDir ?? v2.mountPoint}`);
    else return { ok: true, choice: { version: 2, controller, hierarchy: v2 } };
  }
  // Membership alone (to find and kill every descendant) can use any v1 hierarchy we may write.
  const v1 = controller === 'membership' ? host.cgroup.v1.find((h) => h.canCreateChild && (!h.isRoot || parentNamed)) ?? host.cgroup.v1[0] : host.cgroup.v1.find((h) => h.controllers.includes(controller));
  if (v1) {
    if (v1.isRoot && !parentNamed) reasons.push(`our ${controller} (v1) cgroup is the hierarchy root`);
    else if (!v1.canCreateChild) reasons.push(`we cannot create cgroups under ${v1.ownDir ?? v1.mountPoint}`);
    else return { ok: true, choice: { version: 1, controller, hierarchy: v1 } };
  } else if (!v2 || (!v2.controllers.includes(controller) && controller !== 'membership' && controller !== 'cpuacct')) {
    reasons.push(`no cgroup v1 hierarchy carries ${controller}`);
  }
  const rootish = reasons.some((r) => r.includes('hierarchy root'));
  return {
    ok: false,
    reason: reasons.join('; '),
    hint: rootish
      ? 'name a parent cgroup with --cgroup-parent (bvisor creates it under our own cgroup), or run bvisor from a delegated cgroup'
      : 'run bvisor in a cgroup with this controller delegated (e.g. systemd-run --user --scope -p Delegate=yes), or mark the clause guarantee: best-effort',
  };
}

/** The hard rlimit, null when unlimited or unknown. */
export function hardRlimit(host: HostFacts, name: string): number | null | undefined {
  const r = host.rlimits[name];
  return r === undefined ? undefined : r.hard;
}
