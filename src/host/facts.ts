// Probes the host: every fact is read from the kernel (/proc, /sys, a syscall through the shim),
// never assumed from the distribution or the kernel version. A fact that cannot be read says why
// in its error field; the planner treats unknown as unavailable (fail closed).
import { readFileSync, mkdirSync, rmdirSync, accessSync, statSync, statfsSync, constants } from 'node:fs';
import { release, machine, constants as osConstants } from 'node:os';
import { join, posix } from 'node:path';
import type { HostFacts, CgroupHierarchy, CgroupFacts, Rlimit } from '../contract/generated/types.js';
import { shim } from '../backends/linux/ffi/shim.js';
import { CAPABILITY_LIST } from '../core/capability-names.js';

// errno names from the platform (os.constants.errno), never a hand table that prints "errno 74".
// Where Linux has two names for a number (EAGAIN/EWOULDBLOCK, EOPNOTSUPP/ENOTSUP), the first
// listed wins, as in errno(3).
const ERRNO_NAMES: Record<number, string> = {};
for (const [name, n] of Object.entries(osConstants.errno)) ERRNO_NAMES[n] ??= name;
export function errnoName(n: number): string {
  return ERRNO_NAMES[Math.abs(n)] ?? `errno ${Math.abs(n)}`;
}

let cpuLine: string | null = null;

/**
 * The CPU's features as the first `flags` (x86) or `Features` (arm) line of /proc/cpuinfo, read
 * once per process (they do not change while it runs). V8's configuration tag includes the
 * features it detects, so a start-up snapshot is used only where this line is the build's
 * (scripts/build-snapshot.mjs records it; bin/bvisor reads the same line in sh).
 */
export function cpuFlagsLine(): string {
  cpuLine ??= (readText('/proc/cpuinfo') ?? '').split('\n').find((l) => /^(flags|Features)\b/.test(l)) ?? '';
  return cpuLine;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readInt(path: string): number | null {
  const t = readText(path);
  if (t === null) return null;
  const n = Number.parseInt(t.trim(), 10);
  return Number.isFinite(n) ? n : null;
}

/** Linux capability names by number. */
export const CAP_NAMES: readonly string[] = CAPABILITY_LIST;

export function capNames(hex: string): string[] {
  const v = BigInt('0x' + hex);
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if ((v >> BigInt(i)) & 1n) out.push(CAP_NAMES[i] ?? `CAP_${i}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// cgroups

export interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    if (pre.length < 5 || post.length < 3) continue;
    out.push({ root: unescapeMount(pre[3]!), mountPoint: unescapeMount(pre[4]!), fsType: post[0]!, superOptions: post[2]!.split(',') });
  }
  return out;
}

/** Whether path is on a filesystem of this statfs(2) type (its magic); false if it cannot be
 * looked at. */
export function onFilesystem(path: string, magic: number): boolean {
  try {
    return statfsSync(path).type === magic;
  } catch {
    return false;
  }
}

/** Mount points strictly beneath dir (a physical path), from this process's mountinfo: at most
 * `max`, for a message. */
export function mountsBeneath(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'), max = 4): string[] {
  const prefix = dir === '/' ? '/' : `${dir}/`;
  const out: string[] = [];
  for (const m of parseMountinfo(mountinfo)) {
    if (m.mountPoint.startsWith(prefix) && m.mountPoint !== dir && !out.includes(m.mountPoint)) out.push(m.mountPoint);
    if (out.length >= max) break;
  }
  return out;
}

export interface CgroupMembership {
  id: number;
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const ctl = line.slice(a + 1, b);
    out.push({ id: Number(line.slice(0, a)), controllers: ctl === '' ? [] : ctl.split(','), path: line.slice(b + 1) });
  }
  return out;
}

const V1_OPTIONS_NOT_CONTROLLERS = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr', 'cpuset_v2_mode', 'favordynmods']);

/** Where our cgroup is under a mount whose root is `root`; null when the mount does not show it. */
function ownDirUnder(mount: MountEntry, path: string): string | null {
  const rel = posix.relative(mount.root, path);
  if (rel.startsWith('..')) return null;
  return rel === '' ? mount.mountPoint : join(mount.mountPoint, rel);
}

/** Tries a child cgroup in our own cgroup, removing it at once. At a hierarchy root we only
 * check write access: bvisor does not create cgroups at a root unless a parent is named. */
function probeCreate(dir: string | null, isRoot: boolean): { ok: boolean; error: string | null } {
  if (!dir) return { ok: false, error: 'our cgroup is not visible under this mount' };
  try {
    if (isRoot) {
      accessSync(dir, constants.W_OK);
      return { ok: true, error: null };
    }
    const probe = join(dir, `bvisor-probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return { ok: true, error: null };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, error: `${err.code ?? 'error'} on ${dir}` };
  }
}

export function probeCgroups(mountinfo: string, procCgroup: string, tryCreate = probeCreate, euid = process.geteuid?.() ?? -1): CgroupFacts {
  const mounts = parseMountinfo(mountinfo);
  const members = parseProcCgroup(procCgroup);
  const v2Mount = mounts.find((m) => m.fsType === 'cgroup2');
  const v2Member = members.find((m) => m.id === 0 && m.controllers.length === 0);
  let v2: CgroupHierarchy | null = null;
  if (v2Mount && v2Member) {
    const ownDir = ownDirUnder(v2Mount, v2Member.path);
    const isRoot = v2Member.path === '/';
    const rd = (f: string): string[] => (ownDir ? words(join(ownDir, f)) : []);
    const created = tryCreate(ownDir, isRoot);
    const rootControllers = words(join(v2Mount.mountPoint, 'cgroup.controllers'));
    v2 = { version: 2, controllers: rd('cgroup.controllers'), subtreeControl: rd('cgroup.subtree_control'), mountPoint: v2Mount.mountPoint, ownPath: v2Member.path, ownDir, isRoot, canCreateChild: created.ok, error: created.error, rootControllers, rootWritable: writable(v2Mount.mountPoint) };
  }
  const v1: CgroupHierarchy[] = [];
  for (const m of mounts.filter((x) => x.fsType === 'cgroup')) {
    const controllers = m.superOptions.filter((o) => !V1_OPTIONS_NOT_CONTROLLERS.has(o) && !o.startsWith('release_agent=')).sort();
    const member = members.find((x) => x.id !== 0 && [...x.controllers].sort().join(',') === controllers.join(','));
    if (!member) continue;
    // A controller mounted twice (bind mounts) is listed once.
    if (v1.some((h) => h.controllers.join(',') === controllers.join(','))) continue;
    const ownDir = ownDirUnder(m, member.path);
    const isRoot = member.path === '/';
    const created = tryCreate(ownDir, isRoot);
    v1.push({ version: 1, controllers, subtreeControl: controllers, mountPoint: m.mountPoint, ownPath: member.path, ownDir, isRoot, canCreateChild: created.ok, error: created.error, rootControllers: controllers, rootWritable: writable(m.mountPoint) });
  }
  const realV1 = v1.filter((h) => h.controllers.some((c) => !c.startsWith('name=')));
  const mode: CgroupFacts['mode'] = v2 && realV1.length ? 'hybrid' : v2 ? 'v2' : realV1.length ? 'v1' : 'none';
  return { mode, v2, v1, delegated: v2 && euid !== 0 ? delegatedSubtree(v2, euid) : null };
}

function words(path: string): string[] {
  return (readText(path) ?? '').trim().split(/\s+/).filter(Boolean);
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The caller's delegated subtree on cgroup v2: systemd's user@UID.service, which systemd hands
 * to the user (Delegate=yes: the directory and its cgroup.subtree_control and cgroup.procs are
 * chowned to them). Found above our own cgroup when we run inside it, else at its usual path.
 */
export function delegatedSubtree(v2: CgroupHierarchy, euid: number): CgroupFacts['delegated'] {
  const mine = new RegExp(`^/user\\.slice/user-${euid}\\.slice/user@${euid}\\.service(?=/|$)`).exec(v2.ownPath)?.[0];
  const path = mine ?? `/user.slice/user-${euid}.slice/user@${euid}.service`;
  const dir = join(v2.mountPoint, path);
  const owner = (f: string): number | null => {
    try {
      return statSync(f).uid;
    } catch {
      return null;
    }
  };
  if (owner(dir) === null) return null;
  const owned = [dir, join(dir, 'cgroup.subtree_control'), join(dir, 'cgroup.procs')].every((f) => owner(f) === euid);
  return { path, dir, controllers: words(join(dir, 'cgroup.controllers')), subtreeControl: words(join(dir, 'cgroup.subtree_control')), owned, containsUs: mine !== undefined };
}

// ---------------------------------------------------------------------------------------------
// rlimits

const LIMIT_KEYS: Record<string, string> = {
  'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack', 'Max core file size': 'core',
  'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile', 'Max locked memory': 'memlock', 'Max address space': 'as',
  'Max file locks': 'locks', 'Max pending signals': 'sigpending', 'Max msgqueue size': 'msgqueue', 'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
};

export function parseLimits(text: string): Record<string, Rlimit> {
  const out: Record<string, Rlimit> = {};
  for (const line of text.split('\n').slice(1)) {
    const key = Object.keys(LIMIT_KEYS).find((k) => line.startsWith(k));
    if (!key) continue;
    const rest = line.slice(key.length).trim().split(/\s+/);
    const val = (s: string | undefined): number | null => (s === undefined || s === 'unlimited' ? null : Number(s));
    out[LIMIT_KEYS[key]!] = { soft: val(rest[0]), hard: val(rest[1]) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the workload's host identity

/** The first subordinate range of `user` in an /etc/subuid-style text ("name:start:count"). */
export function subRange(text: string | null, user: string): { start: number; count: number } | null {
  for (const line of (text ?? '').split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if (name === user && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return null;
}

/** The first subordinate id of `user` in an /etc/subuid-style text ("name:start:count"). */
export function subId(text: string | null, user: string): number | null {
  return subRange(text, user)?.start ?? null;
}

/** Host ids above this are not ids (the kernel's (uid_t)-1 and beyond): a range reaching past it
 * is cut there. */
const MAX_ID = 0xfffffffe;

/**
 * Whom a launch maps the workload's root to. As root: the `bvisor` range of /etc/subuid and
 * /etc/subgid when the administrator gave bvisor one (as podman's `containers` user), else the
 * kernel's overflow ids ("nobody"). Never 0: a mapping to host root is refused outright. Without
 * root: the caller's own ids (a user namespace cannot map anything else).
 *
 * With a range, `uid`/`gid` are its first ids (what `bvisor plan` shows) and `range` says how many
 * there are: each launch then takes an id of its own from it (host/id-claims.ts, perRunHost).
 */
export function probeMapping(euid: number, egid: number): HostFacts['mapping'] {
  if (euid !== 0) return { uid: euid, gid: egid, source: 'the caller (rootless)', range: null };
  const su = subRange(readText('/etc/subuid'), 'bvisor');
  const sg = subRange(readText('/etc/subgid'), 'bvisor');
  if (su !== null && sg !== null && su.start > 0 && sg.start > 0 && su.start <= MAX_ID && sg.start <= MAX_ID) {
    const count = Math.min(su.count, sg.count, MAX_ID - su.start + 1, MAX_ID - sg.start + 1);
    return { uid: su.start, gid: sg.start, source: '/etc/subuid and /etc/subgid (bvisor)', range: { uid: su.start, gid: sg.start, count } };
  }
  const ou = readInt('/proc/sys/kernel/overflowuid') ?? 65534;
  const og = readInt('/proc/sys/kernel/overflowgid') ?? 65534;
  return { uid: ou > 0 ? ou : 65534, gid: og > 0 ? og : 65534, source: 'overflow ids (/proc/sys/kernel/overflowuid, overflowgid)', range: null };
}

export function probeHost(): HostFacts {
  const s = shim();
  const ll = s.bv_landlock_abi();
  const landlock = ll >= 0 ? { abi: ll, error: null } : { abi: 0, error: ll === -38 ? 'ENOSYS: kernel built without landlock' : ll === -95 ? 'EOPNOTSUPP: landlock disabled at boot (lsm=)' : errnoName(ll) };

  const actions = readText('/proc/sys/kernel/seccomp/actions_avail');
  const status = readText('/proc/self/status') ?? '';
  const seccomp = { available: actions !== null && /^Seccomp:/m.test(status), actions: (actions ?? '').trim().split(/\s+/).filter(Boolean) };

  const uid = process.getuid?.() ?? -1;
  const euid = process.geteuid?.() ?? -1;
  const own = s.bv_userns_probe(-1, -1);
  const unpriv = euid === 0 ? s.bv_userns_probe(65534, 65534) : own;
  const userns = {
    maxUserNamespaces: readInt('/proc/sys/user/max_user_namespaces'),
    unprivilegedClone: readInt('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrict: readInt('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    canCreate: own === 0,
    unprivilegedCanCreate: unpriv === 0,
    error: own !== 0 ? `unshare(CLONE_NEWUSER): ${errnoName(own)}` : unpriv !== 0 ? `unprivileged unshare(CLONE_NEWUSER): ${errnoName(unpriv)}` : null,
  };

  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0000000000000000';
  return {
    bvisorVersion: '1',
    kernel: { release: release(), arch: machine() },
    landlock,
    seccomp,
    userns,
    cgroup: probeCgroups(readText('/proc/self/mountinfo') ?? '', readText('/proc/self/cgroup') ?? ''),
    identity: { uid, gid: process.getgid?.() ?? -1, euid, egid: process.getegid?.() ?? -1 },
    mapping: probeMapping(euid, process.getegid?.() ?? -1),
    capabilities: { effective: capEff.padStart(16, '0'), names: capNames(capEff) },
    rlimits: parseLimits(readText('/proc/self/limits') ?? ''),
  };
}
