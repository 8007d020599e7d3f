// Derived, pure questions about host facts that both backends' feature tables ask. Keeping them
// in one place keeps the planner monotone: each answer can only get worse as facts get worse.
import type { HostFacts, CgroupHierarchy, CgroupPlacement } from '../contract/generated/types.js';

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
  placement: CgroupPlacement;
}

export type CgroupLookup = { ok: true; choice: CgroupChoice } | { ok: false; reason: string; hint: string };

/** The name of the parent bvisor owns where no cgroup of ours can hold its runs (runc's
 * cgroupfs driver creates its cgroups from the hierarchy root in the same way). */
export const BVISOR_PARENT = 'bvisor';

/** The controllers a bvisor-owned parent enables for its runs (the ones limits use). */
const LIMIT_CONTROLLERS = ['cpu', 'memory', 'pids'];

const PARENT_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A named parent, parsed: relative to our own cgroup, or absolute from the hierarchy root. */
export function parseParent(parent: string): { absolute: boolean; segments: string[] } | null {
  const segments = parent.split('/').filter(Boolean);
  if (segments.length === 0 || segments.length > 8 || !segments.every((s) => PARENT_SEGMENT.test(s))) return null;
  return { absolute: parent.startsWith('/'), segments };
}

const PARENT_HINT = 'name a parent with --cgroup-parent (or BVISOR_CGROUP_PARENT): a relative path of plain names (under our own cgroup, e.g. ci/jobs) or an absolute one (from the hierarchy root, e.g. /bvisor)';
const NAME_PARENT_HINT = 'name a parent cgroup with --cgroup-parent (relative: under our own cgroup; absolute such as /bvisor: from the hierarchy root), or run bvisor from a delegated cgroup';
const ROOTLESS_HINT = 'run bvisor in a delegated subtree: `systemd-run --user --scope -p Delegate=yes bvisor …` (needs a systemd user manager: `loginctl enable-linger $USER`), or mark the clause guarantee: best-effort';

/** Controllers cgroup v2 keeps in every cgroup (membership, cpu.stat) whatever is enabled. */
function core(controller: string): boolean {
  return controller === 'membership' || controller === 'cpuacct';
}

type Placed = { ok: true; placement: CgroupPlacement; offers: readonly string[] } | { ok: false; reason: string; hint: string };

/**
 * Where a hierarchy's cgroups go for a run (docs/cgroups.md), independent of which controller
 * asks, so that one run has one leaf per hierarchy:
 * 1. a named parent wins: relative under our own cgroup, absolute from the hierarchy root;
 * 2. our own cgroup, when it can hold children with the controllers limits use;
 * 3. pure cgroup v2 as root: a bvisor-owned parent at the hierarchy root (/sys/fs/cgroup/bvisor),
 *    as runc and crun's cgroupfs driver do, since our cgroup is the root or a populated scope
 *    that the no-internal-process rule keeps from enabling controllers;
 * 4. pure cgroup v2 rootless: a bvisor parent in the caller's delegated subtree (user@UID.service).
 * On hybrid hosts a hierarchy root is used only under a named parent: those roots belong to
 * whoever manages the host (and on our CI machines, to the workplace).
 * `offers` is what the placement's children can have (v1: the hierarchy's controllers).
 */
export function placementFor(host: HostFacts, h: CgroupHierarchy, parent: string | null): Placed {
  const v2 = h.version === 2;
  const where = v2 ? 'cgroup2' : `${h.controllers.join(',')} (v1)`;
  // A placement here; on v1 a child has the hierarchy's controllers, on v2 what `offers` says.
  const at = (anchor: string, segments: string[], why: string, offers: readonly string[]): Placed => ({ ok: true, placement: { version: h.version as 1 | 2, mountPoint: h.mountPoint, anchor, segments, why }, offers: v2 ? offers : h.controllers });
  if (parent !== null) {
    const p = parseParent(parent);
    if (!p) return { ok: false, reason: `cgroup parent "${parent}" is not a path of plain names`, hint: PARENT_HINT };
    if (p.absolute) {
      if (!h.rootWritable) return { ok: false, reason: `we may not create cgroups at the ${where} hierarchy root ${h.mountPoint}`, hint: 'name a relative parent (under our own cgroup), or run bvisor as root' };
      return at(h.mountPoint, p.segments, `the named parent ${parent}, from the hierarchy root`, h.rootControllers ?? []);
    }
    if (!h.ownDir || !h.canCreateChild) return { ok: false, reason: `we cannot create cgroups under ${h.ownDir ?? h.mountPoint}${h.error ? ` (${h.error})` : ''}`, hint: 'name an absolute parent (from the hierarchy root), or run bvisor from a cgroup it may write' };
    return at(h.ownDir, p.segments, `the named parent ${parent}, under our own cgroup ${h.ownPath}`, h.isRoot ? (h.rootControllers ?? h.controllers) : h.subtreeControl);
  }
  const wanted = v2 ? LIMIT_CONTROLLERS.filter((c) => (h.rootControllers ?? h.controllers).includes(c)) : [];
  const ownServes = !h.isRoot && h.ownDir !== null && h.canCreateChild && (!v2 || wanted.every((c) => h.subtreeControl.includes(c)));
  if (ownServes) return at(h.ownDir!, [], `under our own cgroup ${h.ownPath}`, h.subtreeControl);
  const ownWhy = h.isRoot ? `our ${where} cgroup is the hierarchy root` : !h.canCreateChild ? `we cannot create cgroups under our own ${where} cgroup ${h.ownPath}${h.error ? ` (${h.error})` : ''}` : `our cgroup ${h.ownPath} holds processes, and cgroup v2's no-internal-process rule keeps its children from ${wanted.filter((c) => !h.subtreeControl.includes(c)).join(', ')}`;
  if (!v2 || host.cgroup.mode !== 'v2') return { ok: false, reason: ownWhy, hint: NAME_PARENT_HINT };
  if (host.identity.euid === 0) {
    if (!h.rootWritable) return { ok: false, reason: `${ownWhy}, and we may not create cgroups at the hierarchy root`, hint: NAME_PARENT_HINT };
    return at(h.mountPoint, [BVISOR_PARENT], `${ownWhy}: a bvisor-owned parent at the hierarchy root, as runc/crun's cgroupfs driver`, h.rootControllers ?? []);
  }
  const d = host.cgroup.delegated;
  if (d && d.owned && d.containsUs) return at(d.dir, [BVISOR_PARENT], `${ownWhy}: a bvisor parent in our delegated subtree ${d.path}`, d.controllers);
  // Outside it (a login shell's session scope belongs to root), the kernel would refuse to place
  // the workload there: moving a process needs write access to the common ancestor's cgroup.procs.
  const why = !d ? `we have no delegated cgroup subtree (systemd user@${host.identity.euid}.service with Delegate=yes)` : !d.owned ? `${d.path} is not delegated to us (not ours)` : `we run outside our delegated subtree ${d.path} (in ${h.ownPath}), and may not move processes into it`;
  return { ok: false, reason: `${ownWhy}, and ${why}`, hint: ROOTLESS_HINT };
}

/**
 * Which hierarchy backs a controller for us, and where its cgroups go: v2 first (where its
 * placement offers the controller), then the v1 hierarchy that carries it.
 */
export function cgroupFor(host: HostFacts, controller: string, parent: string | null): CgroupLookup {
  const reasons: string[] = [];
  let hint = NAME_PARENT_HINT;
  const fail = (p: Placed & { ok: false }): void => {
    reasons.push(p.reason);
    hint = p.hint;
  };
  const v2 = host.cgroup.v2;
  const v2Has = v2 !== null && (core(controller) || (v2.rootControllers ?? v2.controllers).includes(controller));
  if (v2 && v2Has) {
    const p = placementFor(host, v2, parent);
    if (!p.ok) fail(p);
    else if (!core(controller) && !p.offers.includes(controller)) {
      reasons.push(`the cgroup2 mount at ${v2.mountPoint} has no ${controller} controller for us at ${p.placement.anchor}`);
      hint = 'run bvisor in a cgroup with this controller delegated (e.g. systemd-run --user --scope -p Delegate=yes), or mark the clause guarantee: best-effort';
    } else return { ok: true, choice: { version: 2, controller, hierarchy: v2, placement: p.placement } };
  } else if (v2) reasons.push(`the cgroup2 mount at ${v2.mountPoint} has no ${controller} controller`);
  // Membership alone (to find and kill every descendant) can use any v1 hierarchy we may write.
  const v1s = controller === 'membership' ? host.cgroup.v1 : host.cgroup.v1.filter((h) => h.controllers.includes(controller));
  for (const h of v1s) {
    const p = placementFor(host, h, parent);
    if (p.ok) return { ok: true, choice: { version: 1, controller, hierarchy: h, placement: p.placement } };
    if (h === v1s[0]) fail(p);
  }
  if (v1s.length === 0 && !(v2 && v2Has)) reasons.push(`no cgroup v1 hierarchy carries ${controller}`);
  return { ok: false, reason: reasons.join('; '), hint };
}

/** The hard rlimit, null when unlimited or unknown. */
export function hardRlimit(host: HostFacts, name: string): number | null | undefined {
  const r = host.rlimits[name];
  return r === undefined ? undefined : r.hard;
}

/** Whether launches on this host take host ids of their own (host/id-claims.ts): rootful, with a
 * `bvisor` range of two ids or more (its first is never given out; a range of one is one id every
 * launch shares, as the overflow ids are). */
export function perRunIds(host: HostFacts): boolean {
  return host.identity.euid === 0 && (host.mapping.range?.count ?? 0) >= 2;
}
