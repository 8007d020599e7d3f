// What `bvisor validate` can say without looking at the host: the refusals the manifest earns on
// every host. The planner is run against a host that has everything bvisor can use (the newest
// landlock ABI it knows, seccomp with every action, user namespaces, pure cgroup v2 with every
// controller delegated, no rlimit); a refusal it still returns, of a kind whose reason lies in the
// manifest alone, would be returned by any host; so would what the bundle itself lacks and what an
// OCI config asks that bvisor never gives (bundleLacks, configRefusals). Refusals that depend on
// this machine (its files, as the grants resolve here; the caller's flags, secrets and
// descriptors) are left to `plan`.
import type { HostFacts, Plan } from '../contract/generated/types.js';
import { KNOWN_ABI } from './landlock.js';
import type { NormalManifest } from './manifest.js';

type Refusal = Plan['refusals'][number];

/**
 * The codes whose reasons are the manifest's on a host with everything: a bound a clause needs
 * (spawn: descendants without limits.processes; limits.tmpSize without tmp: private), a guarantee
 * no mechanism can give as written (RLIMIT_CPU in part-seconds, deny: log asked to enforce), a
 * clause the backend has no mechanism for (fuel for a process). None of them reads a path fact.
 * Not here: grants that do not resolve or are unsafe here, the exe or cwd as they resolve here,
 * stdin and outputs files, secrets and descriptors the caller hands over, cgroup parents, rlimits;
 * nor two grants mounted at one place (LAYOUT_CONFLICT), which is decided on the paths as they
 * resolve here: /bin and /usr/bin are one directory on a merged-/usr host and two on another.
 */
export const EVERY_HOST_CODES: ReadonlySet<string> = new Set(['BV_PLAN_NEEDS_LIMIT', 'BV_PLAN_WEAKER_THAN_REQUESTED', 'BV_PLAN_BACKEND_UNSUPPORTED']);

/** A host with everything bvisor can use, as root, on `arch` (x86_64 or aarch64). */
export function hostWithEverything(arch: string): HostFacts {
  const all = ['cpu', 'cpuset', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
  return {
    bvisorVersion: '1',
    kernel: { release: '999.0.0', arch },
    landlock: { abi: KNOWN_ABI, error: null },
    seccomp: { available: true, actions: ['kill_process', 'kill_thread', 'trap', 'errno', 'user_notif', 'trace', 'log', 'allow'] },
    userns: { maxUserNamespaces: 1 << 20, unprivilegedClone: null, apparmorRestrict: null, canCreate: true, unprivilegedCanCreate: true, error: null },
    cgroup: {
      mode: 'v2',
      v2: { version: 2, controllers: all, subtreeControl: all, mountPoint: '/sys/fs/cgroup', ownPath: '/bvisor', ownDir: '/sys/fs/cgroup/bvisor', isRoot: false, canCreateChild: true, error: null, rootControllers: all, rootWritable: true },
      v1: [],
      delegated: { path: '/bvisor', dir: '/sys/fs/cgroup/bvisor', controllers: all, subtreeControl: all, owned: true, containsUs: true },
    },
    identity: { uid: 0, gid: 0, euid: 0, egid: 0 },
    mapping: { uid: 65534, gid: 65534, source: 'overflow ids' },
    capabilities: { effective: '000001ffffffffff', names: [] },
    rlimits: { nofile: { soft: null, hard: null }, nproc: { soft: null, hard: null }, as: { soft: null, hard: null }, cpu: { soft: null, hard: null } },
  };
}

/** The refusals of a plan made against hostWithEverything that every host would make. */
export function everyHostRefusals(plan: Pick<Plan, 'refusals'>): Refusal[] {
  return plan.refusals.filter((r) => EVERY_HOST_CODES.has(r.code));
}

/**
 * The refusals of what the bundle itself lacks: its wasm module, its rootfs (and, in container
 * mode, the program in it), a ./ grant. A bundle carries its files to every host, so each would
 * refuse these too (as the bundle is now; an archive as extracted). Of an OCI bundle's, only a
 * rootfs named inside the bundle (a relative root.path; an absolute one, as podman's storage
 * gives, is a host path) and not the program in it (an engine's rootfs is mounted there by the
 * time it creates); never a missing program or grant of a host path: the host's.
 */
export function bundleLacks(plan: Pick<Plan, 'refusals'>, m: Pick<NormalManifest, 'workload' | 'root' | 'filesystem' | 'oci'>): Refusal[] {
  if (m.oci) return m.root && !m.root.path.startsWith('/') ? plan.refusals.filter((r) => r.code === 'BV_PLAN_PATH_MISSING' && r.clause === 'root') : [];
  const local = (clause: string): boolean => {
    if (clause === 'root') return true;
    if (clause === 'workload') return m.workload.kind === 'wasm' || m.root !== null;
    const at = /^filesystem\[(\d+)\]$/.exec(clause);
    return at !== null && m.filesystem.some((g) => g.index === Number(at[1]) && g.bundleRelative);
  };
  return plan.refusals.filter((r) => r.code === 'BV_PLAN_PATH_MISSING' && local(r.clause));
}

/**
 * An OCI bundle's own refusals: what its config.json asks that bvisor never gives (an unknown
 * field, an ambient capability, a sysctl…), and what a boundary beside it would widen. Both are
 * decided from the files alone (core/oci/config.ts and narrow.ts read no host), so every host
 * makes them. The planner copies them into the plan (its clause "config.json" where they name
 * none): they are matched by code, clause and reason.
 */
export function configRefusals(plan: Pick<Plan, 'refusals'>, m: { oci?: { refusals: readonly Refusal[] } }): Refusal[] {
  const key = (r: Refusal): string => `${r.code}\0${r.clause || 'config.json'}\0${r.reason}`;
  const own = new Set((m.oci?.refusals ?? []).map(key));
  return plan.refusals.filter((r) => own.has(key(r)));
}
