// The runtime verbs engines use beyond create/start/state/kill/delete (runc's CLI): pause and
// resume (the cgroup v2 freezer), ps (the container's cgroup members), events (cgroup stats,
// once or every interval), update (new cgroup limits for a live container) and features (what
// this build and host enforce, as the runtime-spec's features.md document). Each works on the
// records create left in the container's state directory; none acts on a cgroup bvisor did not
// name for the container.
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import { alive } from '../host/proc.js';
import type { ContainerState, HostFacts } from '../contract/generated/types.js';
import { loadExisting, withLock, readState, derive, ourCgroups, wrongState, intactPlan, recordLimitUpdate } from './lifecycle.js';
import { cgroupMembers, freezeLeaf, isFrozen, readNum, readKey } from '../backends/linux/host/cgroups.js';
import { CAPABILITY_NUMBERS } from '../core/capability-names.js';
import { KNOWN_ABI } from '../core/landlock.js';
import { formatSize } from '../core/units.js';
import { LIMIT_BOUNDS } from '../core/limit-bounds.js';

/** cgroup.controllers exists only in cgroup v2 directories. */
const isV2 = (dir: string): boolean => existsSync(join(dir, 'cgroup.controllers'));

/** The file that holds a controller's limit in a leaf of either version. */
function limitFile(controller: string, leaf: string): string {
  const v2 = isV2(leaf);
  if (controller === 'memory') return v2 ? 'memory.max' : 'memory.limit_in_bytes';
  if (controller === 'pids') return 'pids.max';
  return v2 ? 'cpu.max' : 'cpu.cfs_quota_us';
}

function live(root: string, id: string, op: string): { dir: string; s: ContainerState; leaves: string[]; all: string[] } {
  const { dir } = loadExisting(root, id);
  const s = readState(dir);
  if (!s) throw wrongState(id, op, 'broken', `remove it with bvisor delete -f ${id}`);
  const d = derive(dir, s);
  if (d.status !== 'running' && d.status !== 'created') throw wrongState(id, op, d.status, 'only a created or running container');
  const all = ourCgroups(id, s, dir);
  return { dir, s, leaves: all.filter(isV2), all };
}

/** pause/resume: freezes or thaws every process of the container (cgroup v2 freezer). */
export function setPaused(root: string, id: string, paused: boolean): void {
  const op = paused ? 'pause' : 'resume';
  const { dir } = loadExisting(root, id);
  withLock(dir, () => {
    const { leaves, all } = live(root, id, op);
    // A container in no cgroup at all (no limit asked for one): nothing to freeze, and nothing
    // that finds all of its processes either.
    if (all.length === 0) throw new BvisorError('BV_CONTAINER_STATE', `cannot ${op} container ${id}: it has no cgroup (no limit of its boundary asked for one), and bvisor freezes a cgroup`, { hint: 'give the boundary a limit that places it in a cgroup (limits.processes, limits.memory)' });
    // Not the container's state but what this host gave it: cgroup v1 leaves alone (a manifest's
    // container on a hybrid host, whose v2 mount has none of its controllers; a host without
    // cgroup v2). An OCI container gets a v2 leaf wherever v2 exists.
    if (leaves.length === 0) throw new BvisorError('BV_CGROUP_SETUP', `cannot ${op} container ${id}: it sits in cgroup v1 leaves alone, and bvisor freezes through cgroup v2's cgroup.freeze only (not cgroup v1's freezer)`, { hint: `bvisor kill --all ${id} STOP (and CONT) stops and continues every process of its cgroups instead, one by one rather than at once` });
    const frozen = leaves.some(isFrozen);
    if (paused && frozen) throw wrongState(id, op, 'paused', 'it is paused already');
    if (!paused && !frozen) throw wrongState(id, op, 'not paused', 'only a paused container resumes');
    for (const l of leaves) freezeLeaf(l, paused);
  });
}

/**
 * ps: the pids of every process in the container's cgroups (host pids, as runc prints). A
 * container with no cgroup (no limit asked for one) listed nothing while its workload ran (an
 * attack in December): its members are then the processes of its own pid namespace; without one
 * of those either, they cannot be told from the host's, and ps says so rather than list none.
 */
export function containerPids(root: string, id: string): number[] {
  const { dir } = loadExisting(root, id);
  return withLock(dir, () => {
    const { all, s } = live(root, id, 'list the processes of');
    if (all.length) return [...new Set(all.flatMap(cgroupMembers))].sort((a, b) => a - b);
    const ns = s.pid && alive(s.pid) ? pidNamespaceOf(s.pid.pid) : null;
    if (ns === null || ns === pidNamespaceOf(process.pid)) throw new BvisorError('BV_CONTAINER_STATE', `cannot list the processes of container ${id}: it has no cgroup${ns === null ? ', and its workload is gone' : ' and no pid namespace of its own'}, so its processes cannot be told from the host's`, { hint: 'give the boundary a limit that places it in a cgroup (limits.processes, limits.memory), or a pid namespace' });
    const pids: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (/^\d+$/.test(name) && pidNamespaceOf(Number(name)) === ns) pids.push(Number(name));
    }
    return pids.sort((a, b) => a - b);
  });
}

/** The pid namespace of a process (its /proc/<pid>/ns/pid link, "pid:[inode]"), or null when it is
 * gone or cannot be read. */
function pidNamespaceOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

export interface OciStats {
  type: 'stats';
  id: string;
  data: {
    cpu: { usage: { total: number | null } };
    memory: { usage: { usage: number | null; max: number | null; limit: number | null }; oomKills: number | null };
    pids: { current: number | null; limit: number | null };
  };
}

const numOrMax = (path: string): number | null => {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t === 'max' ? null : Number(t);
  } catch {
    return null;
  }
};

/** events --stats: usage read from the container's cgroups (v2 files first, then v1). */
export function containerStats(root: string, id: string): OciStats {
  const { dir } = loadExisting(root, id);
  const s = readState(dir);
  if (!s) throw wrongState(id, 'read the stats of', 'broken', `remove it with bvisor delete -f ${id}`);
  const all = ourCgroups(id, s, dir);
  const first = (f: (d: string) => number | null): number | null => {
    for (const d of all) {
      const v = f(d);
      if (v !== null && !Number.isNaN(v)) return v;
    }
    return null;
  };
  const cpuNs = first((d) => {
    const us = readKey(join(d, 'cpu.stat'), 'usage_usec');
    return us !== null ? us * 1000 : readNum(join(d, 'cpuacct.usage'));
  });
  return {
    type: 'stats',
    id,
    data: {
      cpu: { usage: { total: cpuNs } },
      memory: {
        usage: { usage: first((d) => readNum(join(d, 'memory.current')) ?? readNum(join(d, 'memory.usage_in_bytes'))), max: first((d) => readNum(join(d, 'memory.peak')) ?? readNum(join(d, 'memory.max_usage_in_bytes'))), limit: first((d) => numOrMax(join(d, 'memory.max')) ?? numOrMax(join(d, 'memory.limit_in_bytes'))) },
        oomKills: first((d) => readKey(join(d, 'memory.events'), 'oom_kill') ?? readKey(join(d, 'memory.oom_control'), 'oom_kill')),
      },
      pids: { current: first((d) => readNum(join(d, 'pids.current'))), limit: first((d) => numOrMax(join(d, 'pids.max'))) },
    },
  };
}

/** Whether the container is still alive (events streams until it stops). */
export function containerLive(root: string, id: string): boolean {
  try {
    const { dir } = loadExisting(root, id);
    const s = readState(dir);
    return s !== null && ['created', 'running'].includes(derive(dir, s).status);
  } catch {
    return false;
  }
}

/** What update applies, by resources' key. */
const UPDATABLE: Record<string, string[]> = { memory: ['limit'], pids: ['limit'], cpu: ['quota', 'period'] };
/** The rest of the runtime spec's LinuxResources (config-linux.md), which engines send whole with
 * every update (docker's --memory brings memory.swap, a CRI resize cpu.shares): not applied, and
 * said so (update's `ignored`, a warn line in --log), as exec's narrowing is; the plan limits none
 * of them, so leaving them is no wider than the boundary admitted. Any other name is refused. */
const NOT_APPLIED: Record<string, string[] | null> = {
  memory: ['reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness', 'disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate'],
  cpu: ['shares', 'burst', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle'],
  pids: [],
  devices: null,
  blockIO: null,
  hugepageLimits: null,
  network: null,
  rdma: null,
  unified: null,
};
/** The planner's cfs period (µs): a planned cpu quota is a bandwidth over it. */
const CFS_PERIOD_US = 100_000;
/** The manifest's clause behind each controller update writes. */
const MANIFEST_LIMIT: Record<string, string> = { memory: 'limits.memory', pids: 'limits.processes', cpu: 'limits.cpus' };
/** The rlimit the planner enforces a clause with where the host lacks its controller. */
const RLIMIT_FALLBACK: Record<string, string> = { memory: 'as', pids: 'nproc' };

/**
 * update --resources: new memory, pids and cpu limits, written to the cgroup files the plan
 * already limits (a controller the plan never placed cannot be added to a live container).
 * Anything else in the file is refused by its JSON path, as config.json's fields are.
 */
export function updateResources(root: string, id: string, resources: unknown): { written: string[]; ignored: string[] } {
  const r = (resources ?? {}) as Record<string, unknown>;
  if (typeof resources !== 'object' || resources === null || Array.isArray(resources)) throw new BvisorError('BV_USAGE', 'the --resources file must hold a JSON object (LinuxResources)', { hint: 'e.g. {"memory":{"limit":268435456},"pids":{"limit":64}}' });
  const HINT = 'bvisor updates memory.limit, pids.limit and cpu.quota/period; the runtime spec\'s other LinuxResources fields are left (listed as ignored)';
  // Own names only: \`in\` would take constructor, toString or __proto__ (Object.prototype's) for
  // LinuxResources fields (an attack in December: exit 0 with nothing said, or BV_INTERNAL).
  const bad = Object.keys(r).filter((k) => !Object.hasOwn(NOT_APPLIED, k));
  if (bad.length) throw new BvisorError('BV_USAGE', `update cannot apply ${bad.map((k) => `resources.${k}`).join(', ')}: not a LinuxResources field`, { hint: HINT });
  // Every field it is given is applied, refused, or listed as ignored: none is skipped unsaid.
  const ints: Record<string, Record<string, number>> = {};
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v === null || v === undefined) continue;
    if (NOT_APPLIED[k] === null) {
      ignored.push(`resources.${k}`);
      continue;
    }
    if (typeof v !== 'object' || Array.isArray(v)) throw new BvisorError('BV_USAGE', `resources.${k} must be an object`, { hint: 'e.g. {"memory":{"limit":268435456},"pids":{"limit":64}}' });
    const extra = Object.keys(v).filter((f) => !UPDATABLE[k]!.includes(f) && !NOT_APPLIED[k]!.includes(f));
    if (extra.length) throw new BvisorError('BV_USAGE', `update cannot apply ${extra.map((f) => `resources.${k}.${f}`).join(', ')}: not a LinuxResources field`, { hint: HINT });
    const applied: Record<string, number> = {};
    for (const [f, n] of Object.entries(v as Record<string, unknown>)) {
      if (n === null || n === undefined) continue;
      if (!UPDATABLE[k]!.includes(f)) {
        ignored.push(`resources.${k}.${f}`);
        continue;
      }
      if (!Number.isSafeInteger(n)) throw new BvisorError('BV_USAGE', `resources.${k}.${f} must be an integer, not ${JSON.stringify(n)}`, { hint: 'bytes for memory.limit, a count for pids.limit, microseconds for cpu.quota and cpu.period' });
      // 0 leaves a limit as it is (runc writes none of them when 0).
      if (n !== 0) applied[f] = n as number;
    }
    // A period alone would change the bandwidth by the back door: it goes with a quota or not at all.
    if (k === 'cpu' && applied.period !== undefined && applied.quota === undefined) {
      ignored.push('resources.cpu.period (without a quota)');
      delete applied.period;
    }
    if (Object.keys(applied).length) ints[k] = applied;
  }
  // The kernel's bounds on a period (kernel/sched/core.c: 1 ms to 1 s); a quota below 1 ms is
  // refused by it too (EINVAL).
  const period = ints.cpu?.period ?? CFS_PERIOD_US;
  if (ints.cpu && (period < 1000 || period > 1_000_000)) throw new BvisorError('BV_USAGE', `resources.cpu.period ${period} is outside 1000..1000000 microseconds`, { hint: 'the kernel takes a cfs period from 1 ms to 1 s' });
  if (ints.cpu?.quota !== undefined && ints.cpu.quota > 0 && ints.cpu.quota < 1000) throw new BvisorError('BV_USAGE', `resources.cpu.quota ${ints.cpu.quota} is below 1000 microseconds`, { hint: 'the kernel takes a cfs quota of at least 1 ms' });
  // The manifest's own floor (a new-user pass: 1 byte reached the cgroup, which refused it
  // EBUSY, a setup fault): below it nothing keeps running, whatever the kernel says.
  const floor = LIMIT_BOUNDS.memory.min;
  if (ints.memory?.limit !== undefined && ints.memory.limit > 0 && ints.memory.limit < floor) throw new BvisorError('BV_USAGE', `resources.memory.limit ${ints.memory.limit} is below ${formatSize(floor)} (${floor} bytes), the least limits.memory takes`, { hint: 'give at least a few MiB (--memory 64Mi)' });
  const { dir } = loadExisting(root, id);
  return withLock(dir, () => {
    const { s, all } = live(root, id, 'update');
    // Only what the plan limits may be updated: the plan the container was created with.
    const plan = intactPlan(dir, s);
    if (!plan) throw new BvisorError('BV_CONTAINER_STATE', `container ${id}: its plan.json is not the plan it was created with; update needs that plan's limits`, { hint: `remove it with bvisor delete -f ${id}` });
    const limited = new Set(plan.launch.cgroup.limits.map((l) => l.controller));
    const writes: Array<[string, string, string]> = []; // [controller, file suffix per version, value]
    // A limit of 0 or below lifts it (the runtime spec's -1; runc writes "max"): refused below.
    const limitOrMax = (n: number): string => (n > 0 ? String(n) : 'max');
    if (ints.memory?.limit !== undefined) writes.push(['memory', 'memory', limitOrMax(ints.memory.limit)]);
    if (ints.pids?.limit !== undefined) writes.push(['pids', 'pids', limitOrMax(ints.pids.limit)]);
    if (ints.cpu?.quota !== undefined) writes.push(['cpu', 'cpu', `${limitOrMax(ints.cpu.quota)} ${period}`]);
    // Only down: the plan was admitted (and its report will be sealed) with these limits as the
    // boundary; raising or lifting one afterwards would widen it. All are checked before any
    // is written, so a refused file changes nothing.
    const planned = (controller: string): number | null => {
      const l = (plan?.launch?.cgroup.limits ?? []).find((x) => x.controller === controller && /^(memory\.max|memory\.limit_in_bytes|pids\.max|cpu\.max|cpu\.cfs_quota_us)$/.test(x.file));
      if (!l) return null;
      const n = Number(l.value.split(' ')[0]);
      return Number.isFinite(n) ? n : null;
    };
    for (const [controller, , value] of writes) {
      if (!limited.has(controller)) {
        // A host without the controller enforced the clause as an rlimit (the planner's
        // fallback): a live process's rlimit is not something update changes.
        const rl = (plan.launch.rlimits ?? []).find((r) => r.resource === RLIMIT_FALLBACK[controller]);
        if (rl) throw new BvisorError('BV_CONTAINER_STATE', `container ${id}'s ${rl.clause} is RLIMIT_${rl.resource.toUpperCase()} on this host (no ${controller} cgroup holds it), and update does not change a running process's rlimits`, { hint: 'create the container again with the new limit' });
        throw new BvisorError('BV_CONTAINER_STATE', `container ${id} was created without a ${controller} limit, so it has no ${controller} cgroup to update`, { hint: `give the limit at create (${MANIFEST_LIMIT[controller]} in boundary.yaml, linux.resources.${controller} in config.json) to update it later` });
      }
      // cpu: compared as bandwidth (quota / period), the planner's period being 100000 µs.
      const raw = planned(controller);
      const was = raw === null ? null : controller === 'cpu' ? raw / CFS_PERIOD_US : raw;
      const [q, per] = value.split(' ');
      const now = controller === 'cpu' ? Number(q) / Number(per) : Number(q);
      // A memory limit in bytes and in the manifest's words (67108864 bytes, 64Mi).
      const shown = (n: number): string => (controller === 'memory' ? `${n} bytes${formatSize(n) !== String(n) ? ` (${formatSize(n)})` : ''}` : String(n));
      if (was !== null && (!Number.isFinite(now) || now > was)) throw new BvisorError('BV_CONTAINER_STATE', `update would raise container ${id}'s ${controller} limit above the ${shown(was)} it was planned with${Number.isFinite(now) ? ` (to ${shown(now)})` : ' (to none)'}`, { hint: 'a boundary only narrows once admitted: lower limits may be set; create the container again for higher ones' });
    }
    const done: string[] = [];
    for (const [controller, , value] of writes) {
      const leaf = all.find((d) => existsSync(join(d, limitFile(controller, d))));
      if (!leaf) throw new BvisorError('BV_CGROUP_SETUP', `container ${id}: no ${controller} cgroup found among its leaves`, { hint: 'bvisor state shows whether it is still alive' });
      const file = limitFile(controller, leaf);
      const put = (name: string, text: string): void => {
        const undo = recordLimitUpdate(dir, name, text);
        try {
          writeFileSync(join(leaf, name), text);
        } catch (e) {
          undo();
          throw new BvisorError('BV_CGROUP_SETUP', `write ${text} to \`${join(leaf, name)}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${done.length ? ` (written before it: ${done.join(', ')})` : ''}`, { hint: 'a memory limit below what the container uses now: cgroup v1 refuses it (EBUSY); v2 reclaims memory and OOM-kills the container if it cannot' });
        }
        done.push(`${join(leaf, name)}=${text}`);
      };
      if (file !== 'cpu.cfs_quota_us') {
        put(file, value); // v2's cpu.max takes "quota period" in one write
        continue;
      }
      // v1 keeps the quota and the period in two files: both are written (the period dropped,
      // 0.4 s a second would have become 4 CPUs), in the order that never widens the bandwidth
      // in between: a longer period first (the old quota over it is less), a shorter one last
      // (the new quota over the old period is less).
      const [quota, per] = value.split(' ') as [string, string];
      const oldPeriod = Number(readFileSync(join(leaf, 'cpu.cfs_period_us'), 'utf8').trim());
      if (Number(per) >= oldPeriod) {
        if (Number(per) !== oldPeriod) put('cpu.cfs_period_us', per);
        try {
          put(file, quota);
        } catch (e) {
          // The quota refused (a parent's bandwidth, say): the period goes back, nothing changed.
          if (Number(per) !== oldPeriod) {
            writeFileSync(join(leaf, 'cpu.cfs_period_us'), String(oldPeriod));
            done.pop();
          }
          throw e;
        }
      } else {
        put(file, quota);
        put('cpu.cfs_period_us', per);
      }
    }
    return { written: done, ignored };
  });
}

/** The runtime-spec features document (features.md), honest about this host. */
export function features(host: HostFacts): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.0',
    // Hooks bvisor runs (in the runtime namespace); createContainer and startContainer, which
    // run inside the container, are refused in the plan.
    hooks: ['prestart', 'createRuntime', 'poststart', 'poststop'],
    mountOptions: ['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'bind', 'rbind', 'private', 'rprivate', 'relatime', 'strictatime', 'noatime', 'mode', 'size'],
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: Object.keys(CAPABILITY_NUMBERS).sort(),
      cgroup: { v1: host.cgroup.v1.length > 0, v2: host.cgroup.v2 !== null, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: host.seccomp.available,
        // What core/seccomp/oci.ts compiles; SCMP_ACT_NOTIFY and SCMP_ACT_TRACE are refused.
        actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_TRAP'],
        operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
        archs: host.kernel.arch === 'x86_64' ? ['SCMP_ARCH_X86_64'] : host.kernel.arch === 'aarch64' ? ['SCMP_ARCH_AARCH64'] : [],
        knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC'],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {
      'org.bvisor.landlock.abi': String(host.landlock.abi),
      'org.bvisor.landlock.known-abi': String(KNOWN_ABI),
      'org.bvisor.boundary': 'a boundary manifest (YAML, without workload/root/env/fds/stdio/tmp) that narrows the config: filesystem (container paths), network, spawn, syscalls, isolate, capabilities, limits',
    },
    potentiallyUnsafeConfigAnnotations: [],
  };
}
