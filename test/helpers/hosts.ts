// Host facts for pure planner tests: a host like our CI machine (hybrid cgroups, landlock 7),
// a pure cgroup v2 host with delegation, and a host with nothing. Tests derive weaker hosts
// from these by removing one capability at a time.
import type { HostFacts, CgroupHierarchy } from '../../src/contract/generated/types.js';

const ALL_CAPS = '000001ffffffffff';

function v1(controller: string, ownPath: string, canCreateChild = true): CgroupHierarchy {
  return { version: 1, controllers: [controller], subtreeControl: [controller], mountPoint: `/sys/fs/cgroup/${controller}`, ownPath, ownDir: `/sys/fs/cgroup/${controller}${ownPath === '/' ? '' : ownPath}`, isRoot: ownPath === '/', canCreateChild, error: null };
}

export function hybridHost(): HostFacts {
  return {
    bvisorVersion: '1',
    kernel: { release: '6.18.0', arch: 'x86_64' },
    landlock: { abi: 7, error: null },
    seccomp: { available: true, actions: ['kill_process', 'kill_thread', 'trap', 'errno', 'user_notif', 'trace', 'log', 'allow'] },
    userns: { maxUserNamespaces: 96364, unprivilegedClone: null, apparmorRestrict: null, canCreate: true, unprivilegedCanCreate: true, error: null },
    cgroup: {
      mode: 'hybrid',
      v2: { version: 2, controllers: ['hugetlb'], subtreeControl: [], mountPoint: '/sys/fs/cgroup/unified', ownPath: '/', ownDir: '/sys/fs/cgroup/unified', isRoot: true, canCreateChild: true, error: null },
      v1: [v1('cpu', '/'), v1('cpuacct', '/'), v1('memory', '/job/1'), v1('pids', '/')],
    },
    identity: { uid: 0, gid: 0, euid: 0, egid: 0 },
    mapping: { uid: 65534, gid: 65534, source: 'overflow ids' },
    capabilities: { effective: ALL_CAPS, names: [] },
    rlimits: { nofile: { soft: 20000, hard: 20000 }, nproc: { soft: 96364, hard: 96364 }, as: { soft: null, hard: null }, cpu: { soft: null, hard: null } },
  };
}

export function v2Host(): HostFacts {
  const h = hybridHost();
  h.cgroup = {
    mode: 'v2',
    v2: { version: 2, controllers: ['cpu', 'memory', 'pids', 'io'], subtreeControl: ['cpu', 'memory', 'pids'], mountPoint: '/sys/fs/cgroup', ownPath: '/user.slice/bvisor.scope', ownDir: '/sys/fs/cgroup/user.slice/bvisor.scope', isRoot: false, canCreateChild: true, error: null },
    v1: [],
  };
  h.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
  h.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
  h.capabilities = { effective: '0000000000000000', names: [] };
  return h;
}

export function bareHost(): HostFacts {
  const h = hybridHost();
  h.landlock = { abi: 0, error: 'ENOSYS: kernel built without landlock' };
  h.seccomp = { available: false, actions: [] };
  h.userns = { ...h.userns, canCreate: false, unprivilegedCanCreate: false, error: 'unshare(CLONE_NEWUSER): EPERM' };
  h.cgroup = { mode: 'none', v2: null, v1: [] };
  h.capabilities = { effective: '0000000000000000', names: [] };
  h.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
  h.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
  h.rlimits = { nofile: { soft: 1024, hard: 4096 }, nproc: { soft: 100, hard: 100 }, as: { soft: null, hard: null }, cpu: { soft: null, hard: null } };
  return h;
}
