// Seccomp denials, decoded: the fixed records the listener's holder writes (native-shim/src/
// notify.h) become report entries, each matched back to the policy row that denied it, and so to
// the manifest clause (syscalls, spawn, network, filesystem) and the change that would allow it.
// Pure: the bytes come in, the policy and arch come in; no clock, no host.
import type { Denial } from '../../contract/generated/types.js';
import type { Policy, Rule, ArgCheck } from './policy.js';
import { CLONE_THREAD, AF_UNIX, AF_INET, AF_INET6 } from './policy.js';
import { TABLES, AUDIT_ARCH, X32_SYSCALL_BIT, type Arch } from './compile.js';

/** sizeof(struct bv_notify_rec) and its fields' offsets (notify.h; a live test compares). */
export const NOTIFY_REC_SIZE = 592;
export const NOTIFY_STR = 256;
export const NOTIFY_DENIED = 1;
export const NOTIFY_END = 2;
export const NOTIFY_OBSERVED = 3;
export const NOTIFY_COUNT = 4;
/** Distinct denials a report lists; the rest are counted (Denials.total, truncated). */
export const MAX_LISTED = 64;

export interface NotifyRecord {
  /** denied: answered with the deny; observed: let through (observe mode, bvisor learn). */
  kind: 'denied' | 'observed';
  pid: number;
  nr: number;
  arch: number;
  tNs: bigint;
  args: bigint[];
  strings: Array<string | null>;
  /** A sockaddr argument's raw bytes (connect, bind), when read. */
  sockaddr: Uint8Array | null;
}

/** Past the holder's per-syscall cap: how often one syscall number was denied, and how many of
 * those calls were recorded (notify.h, BV_NOTIFY_COUNT). */
export interface NotifyCount {
  nr: number;
  arch: number;
  denied: number;
  recorded: number;
}

export interface NotifyEnd {
  total: number;
  dropped: number;
  /** 0: the filter had no task left; 1: stopped by bvisor; else an errno of the listener. */
  why: number;
  /** Whether the holder got a listener at all (notify.h, BV_NOTIFY_END args[3]); when it did
   * not, `why` says what ended its wait (1 stopped, else an errno: EPIPE, the socket ended). */
  held: boolean;
}

/** Splits a stream of records; a trailing partial record is ignored (a torn write never happens
 * on a pipe below PIPE_BUF, but a file may be cut by a crash). */
export function decodeNotifyRecords(buf: Uint8Array): { records: NotifyRecord[]; end: NotifyEnd | null; counts: NotifyCount[] } {
  const records: NotifyRecord[] = [];
  const counts: NotifyCount[] = [];
  let end: NotifyEnd | null = null;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = new TextDecoder('utf-8', { fatal: false });
  for (let o = 0; o + NOTIFY_REC_SIZE <= buf.byteLength; o += NOTIFY_REC_SIZE) {
    const kind = dv.getUint32(o, true);
    const args = [0, 1, 2, 3, 4, 5].map((i) => dv.getBigUint64(o + 24 + 8 * i, true));
    if (kind === NOTIFY_END) {
      end = { total: Number(args[0]), dropped: Number(args[1]), why: Number(args[2]), held: args[3] !== 0n };
      continue;
    }
    if (kind === NOTIFY_COUNT) {
      counts.push({ nr: dv.getInt32(o + 8, true), arch: dv.getUint32(o + 12, true), denied: Number(args[0]), recorded: Number(args[1]) });
      continue;
    }
    if (kind !== NOTIFY_DENIED && kind !== NOTIFY_OBSERVED) continue;
    const strings: Array<string | null> = [null, null, null, null, null, null];
    let sockaddr: Uint8Array | null = null;
    for (let s = 0; s < 2; s++) {
      const at = dv.getUint8(o + 72 + s);
      if ((at & 0x40) !== 0 && (at & 0x3f) <= 5) {
        const start = o + 80 + s * NOTIFY_STR;
        sockaddr = buf.slice(start, start + dv.getUint8(o + 74 + s));
        continue;
      }
      if (at > 5) continue;
      const start = o + 80 + s * NOTIFY_STR;
      const bytes = buf.subarray(start, start + NOTIFY_STR);
      const nul = bytes.indexOf(0);
      const cut = dv.getUint8(o + 74 + s) === 1;
      strings[at] = text.decode(bytes.subarray(0, nul < 0 ? NOTIFY_STR : nul)) + (cut ? '…' : '');
    }
    records.push({ kind: kind === NOTIFY_OBSERVED ? 'observed' : 'denied', sockaddr, pid: dv.getUint32(o + 4, true), nr: dv.getUint32(o + 8, true), arch: dv.getUint32(o + 12, true), tNs: dv.getBigUint64(o + 16, true), args, strings });
  }
  return { records, end, counts };
}

const NAMES = new Map<Arch, ReadonlyMap<number, string>>();

/** The name of syscall `nr` on `arch` (syscall_<nr> for one our table lacks); the reverse table
 * is made once per arch. */
export function syscallName(arch: Arch, nr: number): string {
  let names = NAMES.get(arch);
  if (!names) NAMES.set(arch, (names = new Map(Object.entries(TABLES[arch]).map(([n, x]) => [x, n]))));
  return names.get(nr) ?? `syscall_${nr}`;
}

/** A call let through in observe mode, named (bvisor learn, run --explain). */
export interface NamedCall {
  name: string;
  pid: number;
  args: readonly bigint[];
  strings: ReadonlyArray<string | null>;
  sockaddr: Uint8Array | null;
  /** CLOCK_MONOTONIC ns of the call; null: not timed. */
  tNs: bigint | null;
}

export function namedCalls(records: readonly NotifyRecord[], arch: Arch): NamedCall[] {
  return records.map((r) => ({ name: syscallName(arch, r.nr), pid: r.pid, args: r.args, strings: r.strings, sockaddr: r.sockaddr, tNs: r.tNs }));
}

/** Which arguments are C strings, for the denylist's calls that take paths or names. The holder
 * reads at most two per call (notify.h). */
const STRING_ARGS: Readonly<Record<string, readonly number[]>> = {
  mount: [1, 2], umount2: [0], pivot_root: [0, 1], open_tree: [1], move_mount: [1, 3], fspick: [1], fsopen: [0],
  chmod: [0], creat: [0], open: [0], openat: [1], mkdir: [0], mkdirat: [1], mknod: [0], mknodat: [1],
  fchmodat: [1], fchmodat2: [1], truncate: [0], name_to_handle_at: [1], swapon: [0], swapoff: [0], acct: [0],
  delete_module: [0], add_key: [0, 1], request_key: [0, 1], quotactl: [1], open_tree_attr: [1],
};

/** What observe mode (bvisor learn) reads of the calls it lets through: C strings by index,
 * and SOCKADDR (bit 6): argument 1 is a sockaddr of argument 2's length. */
export const SOCKADDR = 1 << 6;
export const OBSERVE_ARGS: Readonly<Record<string, number>> = {
  open: 1 << 0, openat: 1 << 1, openat2: 1 << 1, creat: 1 << 0, execve: 1 << 0, execveat: 1 << 1,
  mkdir: 1 << 0, mkdirat: 1 << 1, unlink: 1 << 0, unlinkat: 1 << 1, rmdir: 1 << 0, rename: (1 << 0) | (1 << 1),
  renameat: (1 << 1) | (1 << 3), renameat2: (1 << 1) | (1 << 3), chdir: 1 << 0, truncate: 1 << 0,
  connect: SOCKADDR, bind: SOCKADDR, clone: 0, fork: 0, vfork: 0, socket: 0,
  // Metadata calls: a path that must exist (or was only probed, and is dropped when missing).
  stat: 1 << 0, lstat: 1 << 0, newfstatat: 1 << 1, statx: 1 << 1, access: 1 << 0, faccessat: 1 << 1, faccessat2: 1 << 1,
  readlink: 1 << 0, readlinkat: 1 << 1,
};

/** The holder's table: syscall number → bitmask of string arguments, for the rules a policy has
 * (and, observing, for the calls observed). */
export function stringArgTable(policy: Policy, arch: Arch, observe: readonly string[] = []): Array<[number, number]> {
  const table = TABLES[arch];
  const out = new Map<number, number>();
  for (const r of policy.rules) {
    const nr = table[r.syscall];
    const idx = STRING_ARGS[r.syscall];
    if (nr === undefined || !idx) continue;
    out.set(nr, idx.reduce((m, i) => m | (1 << i), 0));
  }
  for (const name of observe) {
    const nr = table[name];
    if (nr !== undefined && OBSERVE_ARGS[name]) out.set(nr, (out.get(nr) ?? 0) | OBSERVE_ARGS[name]!);
  }
  return [...out.entries()].sort((a, b) => a[0] - b[0]);
}

function holds(c: ArgCheck, args: readonly bigint[]): boolean {
  // The filter compares the low 32 bits (compile.ts: offArgLow), as here.
  const low = Number(args[c.arg]! & 0xffffffffn);
  switch (c.op) {
    case 'eq':
      return ((c.mask === undefined ? low : (low & c.mask) >>> 0) >>> 0) === (c.value ?? 0) >>> 0;
    case 'ne':
      return ((c.mask === undefined ? low : (low & c.mask) >>> 0) >>> 0) !== (c.value ?? 0) >>> 0;
    case 'in':
      return (c.values ?? []).some((v) => v >>> 0 === low >>> 0);
    case 'notIn':
      return !(c.values ?? []).some((v) => v >>> 0 === low >>> 0);
  }
}

/** The first policy row the call matches, in the filter's order (compile.ts emits rules in
 * policy order and the first match returns). */
export function matchRule(policy: Policy, name: string, args: readonly bigint[]): Rule | null {
  return policy.rules.find((r) => r.syscall === name && r.action === 'errno' && (r.when ?? []).every((c) => holds(c, args))) ?? null;
}

const AF: Record<number, string> = { 1: 'AF_UNIX', 2: 'AF_INET', 10: 'AF_INET6', 16: 'AF_NETLINK', 17: 'AF_PACKET', 40: 'AF_VSOCK' };
const SOCK: Record<number, string> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 5: 'SOCK_SEQPACKET' };
const CLONE_FLAGS: Array<[number, string]> = [
  [0x00000100, 'CLONE_VM'], [0x00000200, 'CLONE_FS'], [0x00000400, 'CLONE_FILES'], [0x00000800, 'CLONE_SIGHAND'],
  [0x00010000, 'CLONE_THREAD'], [0x00020000, 'CLONE_NEWNS'], [0x02000000, 'CLONE_NEWCGROUP'], [0x04000000, 'CLONE_NEWUTS'],
  [0x08000000, 'CLONE_NEWIPC'], [0x10000000, 'CLONE_NEWUSER'], [0x20000000, 'CLONE_NEWPID'], [0x40000000, 'CLONE_NEWNET'],
];

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const quote = (s: string): string => JSON.stringify(s);

function cloneFlags(v: bigint): string {
  const n = Number(v & 0xffffffffn);
  const names = CLONE_FLAGS.filter(([bit]) => (n & bit) !== 0).map(([, name]) => name);
  const rest = CLONE_FLAGS.reduce((m, [bit]) => m & ~bit, n) >>> 0;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '0';
}

/** How many arguments each call shows (the rest are not the call's), and how to print them. */
const SHAPES: Readonly<Record<string, string>> = {
  mount: 'sssx', umount2: 'sx', pivot_root: 'ss', unshare: 'c', setns: 'dc', clone: 'c', clone3: 'xd', fork: '', vfork: '',
  socket: 'ftd', ptrace: 'ddxx', keyctl: 'dxxxx', add_key: 'ssxdd', request_key: 'ssxd', bpf: 'dxd', perf_event_open: 'xddd',
  userfaultfd: 'x', chmod: 'so', fchmod: 'do', fchmodat: 'dso', fchmodat2: 'dsox', creat: 'so', open: 'sxo', openat: 'dsxo',
  mkdir: 'so', mkdirat: 'dso', mknod: 'sox', mknodat: 'dsox', truncate: 'sd', personality: 'x', ioctl: 'dxx',
  open_by_handle_at: 'dxx', name_to_handle_at: 'dsxxx', swapon: 'sx', swapoff: 's', acct: 's', reboot: 'xxxx',
  init_module: 'xds', finit_module: 'dsx', delete_module: 'sx', kexec_load: 'xdxx', syslog: 'dxd', io_uring_setup: 'dx',
  open_tree: 'dsx', move_mount: 'dsdsx', fsopen: 'sx', fspick: 'dsx',
};

/** name(args) as a reader of strace would expect it; strings as read, or the raw pointer. */
export function describeCall(name: string, args: readonly bigint[], strings: ReadonlyArray<string | null>): string {
  const shape = SHAPES[name] ?? 'xxxxxx';
  const parts = [...shape].map((k, i) => {
    const v = args[i] ?? 0n;
    if (k === 's') return strings[i] !== null && strings[i] !== undefined ? quote(strings[i]!) : v === 0n ? 'NULL' : hex(v);
    if (k === 'd') return String(BigInt.asIntN(32, v & 0xffffffffn));
    if (k === 'o') return `0${(v & 0xffffffffn).toString(8)}`;
    if (k === 'c') return cloneFlags(v);
    if (k === 'f') return AF[Number(v & 0xffffffffn)] ?? String(v);
    if (k === 't') {
      const t = Number(v & 0xfn);
      const extra = Number(v & 0xfffffff0n);
      return (SOCK[t] ?? String(t)) + (extra & 0x80000 ? '|SOCK_CLOEXEC' : '') + (extra & 0x800 ? '|SOCK_NONBLOCK' : '');
    }
    return hex(v);
  });
  return `${name}(${parts.join(', ')})`;
}

/** The manifest clause a row enforces: spawn and network rows come from those clauses; rows
 * covering what landlock below some ABI cannot (truncation) from filesystem; the rest are the
 * default denylist (syscalls). */
export function clauseOf(rule: Rule): 'syscalls' | 'spawn' | 'network' | 'filesystem' {
  if (rule.why.startsWith('spawn:')) return 'spawn';
  if (rule.why.startsWith('network')) return 'network';
  if (rule.why.includes('landlock below ABI 3')) return 'filesystem';
  return 'syscalls';
}

/** firm: the row is one every launch keeps (policy.ts, Rule.firm; the x32 refusal). */
function allowFor(clause: string, name: string, args: readonly bigint[], firm = false): { allow: string | null; warning: string | null } {
  if (clause === 'spawn') {
    const thread = name === 'clone' && (Number(args[0]! & 0xffffffffn) & CLONE_THREAD) !== 0;
    return thread
      ? { allow: 'spawn: threads', warning: null }
      : { allow: 'spawn: descendants   # with limits: { processes: N }', warning: null };
  }
  if (clause === 'network') {
    const family = Number(args[0]! & 0xffffffffn);
    if (name === 'socket' && (family === AF_INET || family === AF_INET6) && Number(args[1]! & 0xfn) === 1) {
      // A TCP stream: protocol 0 or IPPROTO_TCP. Another (MPTCP, SCTP) is outside landlock's port
      // rules; Go's net (≥ 1.24) and others try MPTCP first and fall back to TCP on any error: no
      // clause to change, and network: host would be the wrong advice.
      const protocol = Number((args[2] ?? 0n) & 0xffffffffn);
      return protocol === 0 || protocol === 6
        ? { allow: 'network: { connect: [PORT] }   # the TCP ports it may connect to', warning: null }
        : { allow: null, warning: `a stream of protocol ${protocol} (MPTCP is 262, SCTP 132) is outside landlock's port rules, so ports mode refuses it; programs that try MPTCP first fall back to TCP` };
    }
    if (name === 'listen') return { allow: 'network: { bind: [PORT] }   # the TCP ports it may bind (bind(2) before listen)', warning: 'listen on a socket never bound takes an ephemeral port landlock does not check, so it needs a bind port' };
    if (name === 'sendto' || name === 'sendmsg' || name === 'sendmmsg') return { allow: null, warning: 'a TCP Fast Open send (MSG_FASTOPEN) connects where landlock may not look, so ports mode refuses it; connect(2) first' };
    if (name === 'socket' && family === AF_UNIX) return { allow: 'network: host', warning: 'the host network: no namespace, no port filter' };
    return { allow: 'network: host', warning: 'the host network: no namespace, no port filter (landlock filters TCP only, so other sockets need it)' };
  }
  if (clause === 'filesystem') return { allow: null, warning: 'this kernel’s landlock (ABI < 3) cannot restrict truncation, so it is refused outright; Linux ≥ 6.2 lifts it' };
  return { allow: null, warning: firm ? 'a row every launch keeps, whatever syscalls.deny says (docs/security.md): no clause lifts it' : 'a default denylist row: no clause lifts one row; `syscalls: { deny: log }` lets the denylisted calls through (best-effort, recorded), all but the rows every launch keeps (set-ID modes, TIOCSTI, TIOCLINUX and TIOCSETD, io_uring, the keyring)' };
}

/**
 * Report entries for the records, identical calls (same call text, same rule) counted once, in
 * order of first occurrence; at most MAX_LISTED. t0Ns: CLOCK_MONOTONIC when the workload was
 * released (null: not timed).
 */
export function seccompDenials(records: readonly NotifyRecord[], policy: Policy, arch: Arch, t0Ns: bigint | null, counts: readonly NotifyCount[] = []): { items: Denial[]; distinct: number } {
  const byKey = new Map<string, Denial>();
  for (const r of records) {
    if (r.kind !== 'denied') continue;
    // x86_64's x32 ABI (numbers with bit 30 set) is refused whole, before any row (compile.ts).
    const x32 = arch === 'x86_64' && r.nr >= X32_SYSCALL_BIT;
    const name = x32 ? `x32:${syscallName(arch, r.nr - X32_SYSCALL_BIT).replace(/^syscall_/, '')}` : syscallName(arch, r.nr);
    const what = describeCall(name, r.args, r.strings);
    const rule: Rule | null = x32 ? { syscall: name, action: 'errno', why: 'the x32 ABI is refused: its calls use another syscall table than the one the filter checks' } : r.arch === AUDIT_ARCH[arch] ? matchRule(policy, name, r.args) : null;
    const clause = rule ? clauseOf(rule) : 'syscalls';
    const key = `${what}\u0000${rule?.why ?? ''}`;
    const seen = byKey.get(key);
    if (seen) {
      seen.count++;
      continue;
    }
    const { allow, warning } = allowFor(clause, name, r.args, x32 || rule?.firm === true);
    const path = (STRING_ARGS[name] ?? []).map((i) => r.strings[i]).find((s): s is string => typeof s === 'string' && s.startsWith('/')) ?? null;
    byKey.set(key, {
      kind: clause === 'syscalls' ? 'syscall' : clause,
      clause,
      what,
      syscall: { name, nr: r.nr, arch, args: r.args.slice(0, 6).map(hex) as NonNullable<Denial['syscall']>['args'], strings: r.strings.slice(0, 6) as NonNullable<NonNullable<Denial['syscall']>['strings']> },
      path,
      port: null,
      signal: null,
      // No row matched: the filter and this policy disagree (a stale program); say so rather than guess.
      rule: rule ? rule.why : 'no row of this policy matches: the filter denied it by a rule this report cannot name',
      errno: 'EPERM',
      observedBy: 'seccomp:user-notif',
      allow,
      warning,
      count: 1,
      atMs: t0Ns === null ? null : Math.max(0, Number(r.tNs - t0Ns) / 1e6),
      pid: r.pid,
    });
  }
  // Calls past the holder's per-syscall cap: named with their count, so a flood of one kind of
  // call never hides another kind; their arguments were not kept.
  const unrecorded: Denial[] = counts
    .filter((c) => c.denied > c.recorded)
    .map((c) => {
      const name = c.nr < 0 ? 'an x32 or unnumbered call' : syscallName(arch, c.nr);
      const rows = policy.rules.filter((r) => r.syscall === name && r.action === 'errno');
      const clause = rows[0] ? clauseOf(rows[0]) : 'syscalls';
      const { allow, warning } = allowFor(clause, name, [0n, 0n, 0n, 0n, 0n, 0n], rows.length > 0 && rows.every((r) => r.firm === true));
      return {
        kind: clause === 'syscalls' ? 'syscall' : clause,
        clause,
        what: `${name}(…): ${c.denied - c.recorded} more call(s), arguments not recorded`,
        path: null,
        port: null,
        signal: null,
        rule: rows.length === 1 ? rows[0]!.why : rows.length ? `one of the ${rows.length} rows for ${name}` : 'a row of this policy',
        errno: 'EPERM',
        observedBy: 'seccomp:user-notif',
        allow: clause === 'spawn' || clause === 'network' ? allow : null,
        warning,
        count: c.denied - c.recorded,
        atMs: null,
        pid: null,
      } satisfies Denial;
    });
  // The unrecorded kinds are kept whatever the cap on the list (they are few: one per syscall);
  // untimed, they come last, as the report orders them.
  const all = [...byKey.values()];
  const listed = [...all.slice(0, Math.max(0, MAX_LISTED - unrecorded.length)), ...unrecorded];
  return { items: listed, distinct: all.length + unrecorded.length };
}
