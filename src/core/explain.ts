// Filesystem and network denials explained from observed calls (bvisor run --explain; the API's
// explain option). In host mode an ungranted path does not exist for the workload, so the kernel
// answers ENOENT and nothing records a denial; landlock logs its own refusals only to the host's
// audit (docs/denials.md). Observing the path-taking calls (seccomp observe mode, the mechanism
// bvisor learn uses) and comparing each with the plan's layout and grants names what was missing:
// a path the host has and no grant covers, a write under a read-only grant, a program run from a
// grant without exec, a TCP port the network clause does not list. Pure: the host comes in as a
// lookup, the calls as data.
import type { Denial, LaunchInputs } from '../contract/generated/types.js';
import type { NamedCall } from './seccomp/denials.js';
import { coveringGrant, under } from './layout.js';
import { parentOf } from './paths.js';
import { PATHS, intentOf, normalize, decodeSockaddr, AT_FDCWD, AF_INET, AF_INET6, type HostLookup, type Intent } from './calls.js';
import { grantAllow, widenAccess } from './access.js';

/** What --explain observes: every call that names a path, and connect (the port it asked). */
export const EXPLAIN_OBSERVE = [
  'open', 'openat', 'openat2', 'creat', 'execve', 'execveat', 'mkdir', 'mkdirat', 'unlink', 'unlinkat', 'rmdir',
  'rename', 'renameat', 'renameat2', 'chdir', 'truncate', 'stat', 'lstat', 'newfstatat', 'statx', 'access', 'faccessat',
  'faccessat2', 'readlink', 'readlinkat', 'connect', 'bind',
] as const;

/** Items listed; the rest are counted in the last one's count (`… more`). */
export const MAX_EXPLAINED = 32;

export type ObservedCall = NamedCall;

const MOUNTED = new Set(['bind', 'proc', 'tmpfs', 'device', 'devpts', 'mqueue', 'sysfs', 'cgroup2', 'symlink']);
const WRITES: ReadonlySet<Intent> = new Set(['write', 'readwrite', 'create', 'remove']);

/** Whether the workload's root had something at p: a mount (or a link) at or above it, or a
 * directory made on the way to one. */
function served(p: string, launch: LaunchInputs): boolean {
  return launch.layout.some((e) => MOUNTED.has(e.kind) && (under(p, e.target) || under(e.target, p)));
}

/** Whether p is a directory of the root made only on the way to something mounted beneath it
 * (/, or /srv above a grant of /srv/data): it exists, but nothing grants it any right. */
function onTheWay(p: string, launch: LaunchInputs): boolean {
  return !launch.layout.some((e) => MOUNTED.has(e.kind) && under(p, e.target)) && launch.layout.some((e) => MOUNTED.has(e.kind) && e.target !== p && under(e.target, p));
}

/** The network clause with `port` added to one of its lists, as a manifest writes it. */
function networkAllow(n: LaunchInputs['network'], add: { connect?: number; bind?: number }): string {
  const list = (xs: number[], x?: number): number[] => [...new Set([...xs, ...(x === undefined ? [] : [x])])].sort((a, b) => a - b);
  const connect = list(n.connect, add.connect);
  const bind = list(n.bind, add.bind);
  return `network: { ${[connect.length ? `connect: [${connect.join(', ')}]` : '', bind.length ? `bind: [${bind.join(', ')}]` : ''].filter(Boolean).join(', ')} }`;
}

/** The access a call needs, on top of what `base` grants (read, if nothing yet). */
function accessFor(intent: Intent, base?: string): string {
  return widenAccess(base, { write: WRITES.has(intent), exec: intent === 'exec' });
}

const quote = (s: string): string => JSON.stringify(s);

/**
 * The denials the observed calls show, for a host-mode launch: absent paths the host has, writes
 * and execs a grant does not allow, ports the network clause does not list. One item per manifest
 * change (identical changes counted), in the order first seen; at most MAX_EXPLAINED.
 */
export function explainDenials(calls: readonly ObservedCall[], launch: LaunchInputs, lookup: HostLookup, t0Ns: bigint | null): Denial[] {
  if (launch.root) return []; // container mode: paths are the rootfs's, not the host's
  const byAllow = new Map<string, Denial>();
  const cwdOf = new Map<number, string>();
  const add = (key: string, d: Omit<Denial, 'count' | 'atMs' | 'port' | 'signal' | 'observedBy'> & { port?: number | null }, c: ObservedCall): void => {
    const seen = byAllow.get(key);
    if (seen) {
      seen.count++;
      return;
    }
    byAllow.set(key, { ...d, port: d.port ?? null, signal: null, observedBy: 'seccomp:user-notif (observed: --explain)', count: 1, atMs: c.tNs === null || t0Ns === null ? null : Math.max(0, Number(c.tNs - t0Ns) / 1e6) });
  };
  for (const c of calls) {
    if (c.name === 'bind' || c.name === 'connect') {
      const a = c.sockaddr ? decodeSockaddr(c.sockaddr) : null;
      if (!a || (a.family !== AF_INET && a.family !== AF_INET6) || a.port === undefined) continue;
      const n = launch.network;
      const call = `${c.name}(${a.family === AF_INET ? 'AF_INET' : 'AF_INET6'}, port ${a.port})`;
      if (c.name === 'bind') {
        // A TCP bind landlock refuses (found by a new-user pass: only connect was explained). Port
        // 0 (an ephemeral one) is left out: the kernel picks it.
        if (n.mode === 'ports' && a.port !== 0 && !n.bind.includes(a.port)) {
          add(`network:bind:${a.port}`, { kind: 'network', clause: 'network', what: call, path: null, port: a.port, rule: `network: bind is limited to ports ${n.bind.join(', ') || '(none)'} (landlock, TCP)`, errno: 'EACCES', allow: networkAllow(n, { bind: a.port }), warning: null, pid: c.pid }, c);
        }
      } else if (n.mode === 'ports' && !n.connect.includes(a.port)) {
        add(`network:${a.port}`, { kind: 'network', clause: 'network', what: call, path: null, port: a.port, rule: `network: connect is limited to ports ${n.connect.join(', ') || '(none)'} (landlock)`, errno: 'EACCES', allow: networkAllow(n, { connect: a.port }), warning: null, pid: c.pid }, c);
      } else if (n.mode === 'loopback' && !a.loopback) {
        add('network:host', { kind: 'network', clause: 'network', what: `${call} to another host`, path: null, port: a.port, rule: 'network: loopback: a private network namespace with only lo', errno: 'ENETUNREACH', allow: `network: { connect: [${a.port}] }`, warning: null, pid: c.pid }, c);
      }
      continue;
    }
    const spec = PATHS[c.name];
    if (!spec) continue;
    const intent = intentOf(c.name, c.args);
    for (const [arg, dirArg] of spec) {
      const raw = c.strings[arg];
      if (typeof raw !== 'string' || raw === '' || raw.endsWith('…')) continue;
      const dirfd = dirArg === null ? AT_FDCWD : Number(BigInt.asIntN(32, (c.args[dirArg] ?? 0n) & 0xffffffffn));
      let p: string;
      if (raw.startsWith('/')) p = normalize(raw);
      else if (dirfd === AT_FDCWD) p = normalize(`${cwdOf.get(c.pid) ?? launch.workload.cwd}/${raw}`);
      else continue; // relative to a descriptor this record cannot name
      if (c.name === 'chdir') {
        cwdOf.set(c.pid, p);
        continue;
      }
      if (p.startsWith('/proc/') || p === '/proc' || p.startsWith('/dev/') || p.startsWith('/sys')) continue;
      const call = `${c.name}(${quote(raw)})`;
      if (!served(p, launch)) {
        // Absent for the workload: a denial only if the host has it (else ENOENT either way).
        let host = lookup(p);
        let target = p;
        if (host.kind === 'missing' && (intent === 'create' || intent === 'write')) {
          target = parentOf(p);
          host = lookup(target);
        }
        if (host.kind === 'missing') continue;
        // A symlink on the way (/etc/localtime → /usr/share/zoneinfo/…): a grant of the path as
        // used makes the link in the root (layout.ts, grantLinks) and binds the target; where the
        // target is inside a grant already, with that grant's access (a narrower one is refused,
        // BV_PLAN_GRANT_NESTED).
        const cover = host.real !== target ? coveringGrant(host.real, launch.filesystem) : null;
        const access = accessFor(intent, cover?.access);
        add(`fs:${target}:${access}`, { kind: 'filesystem', clause: 'filesystem', what: call, path: p, rule: `no grant covers it, so it does not exist in the root host mode builds from the grants${host.real !== target ? `; it is a link to ${host.real}` : ''}`, errno: 'ENOENT', allow: grantAllow(target, access), warning: null, pid: c.pid }, c);
        continue;
      }
      const g = coveringGrant(p, launch.filesystem);
      if (!g) {
        // Opened to be listed or read, a directory made on the way to a grant is refused by
        // landlock (no right of its own: EACCES), though it exists (a new-user pass: `ls /`).
        if ((intent === 'read' || intent === 'list') && (c.name === 'open' || c.name === 'openat' || c.name === 'openat2') && onTheWay(p, launch)) {
          add(`way:${p}`, { kind: 'filesystem', clause: 'filesystem', what: call, path: p, rule: `${p} is only the way to what is granted beneath it: it exists, but no grant gives it a right of its own, so landlock refuses to list or read it`, errno: 'EACCES', allow: grantAllow(p, 'read'), warning: p === '/' ? 'that grants the whole host filesystem for reading' : `the workload may then read everything under ${p} on the host`, pid: c.pid }, c);
        }
        continue;
      }
      const needWrite = WRITES.has(intent) && !g.access.includes('write');
      const needExec = intent === 'exec' && !g.access.includes('exec');
      if (!needWrite && !needExec) continue;
      const access = accessFor(intent, g.access);
      add(`grant:${g.clause}:${access}`, { kind: 'filesystem', clause: g.clause, what: call, path: p, rule: `${g.clause} grants ${g.path} ${g.access}: ${needWrite ? 'no writes (a read-only mount and landlock: EROFS, or EACCES where permissions refuse first)' : 'no exec (landlock, and the mount is noexec: EACCES)'}`, errno: null, allow: grantAllow(g.path, access, g.clause), warning: needWrite ? 'the workload may then change what is under it on the host' : null, pid: c.pid }, c);
    }
  }
  const all = [...byAllow.values()];
  return all.slice(0, MAX_EXPLAINED);
}
