// Seccomp denials, decoded (core/seccomp/denials.ts), against oracles that do not share its code:
//   - the record layout is laid out here from native-shim/src/notify.h's struct bv_notify_rec
//     field list with C's natural alignment (not from the TS offsets or NOTIFY_REC_SIZE);
//   - call texts use the names of clone(2)/include/uapi/linux/sched.h and socket(2)/
//     address_families(7) (include/linux/socket.h), with numbers written here by hand;
//   - the row a denial is traced to must be the row whose block in the compiled BPF program
//     returned the deny: the BPF interpreter (test/helpers/bpf.ts) runs the program cut after
//     each row, and the first cut that denies names the row (the filter's own first match);
//   - SECCOMP_RET_USER_NOTIF (0x7fc00000) from include/uapi/linux/seccomp.h.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeNotifyRecords, describeCall, matchRule, seccompDenials, clauseOf, stringArgTable, NOTIFY_REC_SIZE, MAX_LISTED, type NotifyRecord } from '../../../src/core/seccomp/denials.js';
import { compile, encode } from '../../../src/core/seccomp/compile.js';
import { policyFor, type Policy, type Rule } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { SECCOMP_RET, AUDIT_ARCH, ERRNO, nr as nrOf, type Arch } from '../../helpers/syscalls.js';
import { sampleBody } from '../../helpers/sample-report.js';
import { sealReport } from '../../../src/core/report.js';
import { sha256Hex } from '../../../src/host/hash.js';
import * as V from '../../../src/contract/generated/validators.js';

/** include/uapi/linux/seccomp.h */
const RET_USER_NOTIF = 0x7fc00000;
const DENY = (SECCOMP_RET.ERRNO | ERRNO.EPERM) >>> 0;
const NOSYS = (SECCOMP_RET.ERRNO | ERRNO.ENOSYS) >>> 0;

// ---- struct bv_notify_rec, laid out from notify.h ----------------------------------------
// Field list copied from the header: [name, element size, count]. C lays each field at the next
// multiple of its element's alignment (its size, for these scalar types), and pads the struct to
// its largest alignment.
const FIELDS: Array<[string, number, number]> = [
  ['kind', 4, 1], ['pid', 4, 1], ['nr', 4, 1], ['arch', 4, 1], ['t_ns', 8, 1], ['args', 8, 6],
  ['str_arg', 1, 2], ['str_trunc', 1, 2], ['pad', 4, 1], ['str', 1, 2 * 256],
];
const OFF: Record<string, number> = {};
let SIZE = 0;
{
  let o = 0;
  let maxAlign = 1;
  for (const [name, size, count] of FIELDS) {
    o = Math.ceil(o / size) * size;
    OFF[name] = o;
    o += size * count;
    maxAlign = Math.max(maxAlign, size);
  }
  SIZE = Math.ceil(o / maxAlign) * maxAlign;
}
const STR = 256; // BV_NOTIFY_STR
const KIND = { DENIED: 1, END: 2 }; // enum bv_notify_kind

interface Rec {
  kind?: number;
  pid?: number;
  nr: number;
  arch?: number;
  tNs?: bigint;
  args?: bigint[];
  /** [argument index, bytes, truncated] for up to two strings */
  strs?: Array<[number, string | Uint8Array, boolean?]>;
}

function record(r: Rec): Uint8Array {
  const buf = new Uint8Array(SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint32(OFF.kind!, r.kind ?? KIND.DENIED, true);
  dv.setUint32(OFF.pid!, r.pid ?? 100, true);
  dv.setInt32(OFF.nr!, r.nr, true);
  dv.setUint32(OFF.arch!, r.arch ?? AUDIT_ARCH.x86_64, true);
  dv.setBigUint64(OFF.t_ns!, r.tNs ?? 0n, true);
  (r.args ?? []).forEach((a, i) => dv.setBigUint64(OFF.args! + 8 * i, BigInt.asUintN(64, a), true));
  dv.setUint8(OFF.str_arg!, 0xff);
  dv.setUint8(OFF.str_arg! + 1, 0xff);
  (r.strs ?? []).forEach(([at, s, trunc], i) => {
    dv.setUint8(OFF.str_arg! + i, at);
    dv.setUint8(OFF.str_trunc! + i, trunc ? 1 : 0);
    const bytes = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    buf.set(bytes.subarray(0, STR), OFF.str! + i * STR);
  });
  return buf;
}

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

// Numbers by hand (arch/x86/entry/syscalls/syscall_64.tbl), via the test's own table.
const X = (name: string): number => nrOf('x86_64', name)!;
const NR = { mount: X('mount'), unshare: X('unshare'), socket: X('socket') };
// include/uapi/linux/sched.h
const CLONE = { NEWNS: 0x00020000, NEWUSER: 0x10000000, NEWNET: 0x40000000, THREAD: 0x00010000, VM: 0x100, SIGHAND: 0x800, FS: 0x200, FILES: 0x400 };
// include/linux/socket.h, include/linux/net.h (enum sock_type), SOCK_CLOEXEC = O_CLOEXEC = 02000000
const AFN = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16 };
const SOCKT = { STREAM: 1, DGRAM: 2, RAW: 3, CLOEXEC: 0o2000000 };

describe('the record layout of notify.h', () => {
  it('is 592 bytes, as the header computes (its _Static_assert), and the decoder agrees', () => {
    expect(SIZE).toBe(592);
    expect(OFF).toMatchObject({ t_ns: 16, args: 24, str_arg: 72, str_trunc: 74, pad: 76, str: 80 });
    expect(NOTIFY_REC_SIZE).toBe(SIZE);
  });
});

describe('decodeNotifyRecords', () => {
  it('reads every field of a denied record at the header’s offsets', () => {
    const big = 0xfedcba9876543210n;
    const { records, end } = decodeNotifyRecords(
      record({ pid: 4242, nr: NR.mount, arch: AUDIT_ARCH.x86_64, tNs: 123_456_789_012n, args: [0x1000n, 0x2000n, 0x3000n, 0x8001n, big, 6n], strs: [[1, '/mnt'], [2, 'tmpfs']] }),
    );
    expect(end).toBeNull();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject(
      { kind: 'denied', pid: 4242, nr: NR.mount, arch: AUDIT_ARCH.x86_64, tNs: 123_456_789_012n, args: [0x1000n, 0x2000n, 0x3000n, 0x8001n, big, 6n], strings: [null, '/mnt', 'tmpfs', null, null, null] },
    );
  });

  it('a string the holder cut ends in …; one that fills all 256 bytes without a NUL is kept whole; UTF-8 is decoded', () => {
    const long = 'a'.repeat(255);
    const full = new Uint8Array(STR).fill(0x62); // no NUL at all
    const [r] = decodeNotifyRecords(record({ nr: NR.mount, strs: [[1, long, true], [2, full]] })).records;
    expect(r!.strings[1]).toBe(`${long}…`);
    expect(r!.strings[2]).toBe('b'.repeat(STR));
    const [u] = decodeNotifyRecords(record({ nr: NR.mount, strs: [[0, '/tmp/é✓']] })).records;
    expect(u!.strings).toEqual(['/tmp/é✓', null, null, null, null, null]);
  });

  it('a slot marked 0xff (none, or unreadable) is null, whatever bytes it holds', () => {
    const b = record({ nr: NR.mount, strs: [[1, '/mnt']] });
    b[OFF.str_arg!] = 0xff; // the holder's ID_VALID check failed: strings dropped
    expect(decodeNotifyRecords(b).records[0]!.strings).toEqual([null, null, null, null, null, null]);
  });

  // seccomp_data.nr is an int, but the filter compares it unsigned (BPF_JGE on x86_64's x32 bit):
  // a number with bit 31 set is a large unsigned one there, and the report's nr is never negative.
  it('a syscall number with bit 31 set (int32 -1) is read as the filter sees it: unsigned', () => {
    expect(decodeNotifyRecords(record({ nr: -1 })).records[0]!.nr).toBe(0xffffffff);
    expect(decodeNotifyRecords(record({ nr: -0x7fffffff })).records[0]!.nr).toBe(0x80000001);
  });

  it('the END record gives the counts; unknown kinds are skipped; a trailing partial record is ignored', () => {
    const a = record({ nr: NR.unshare, args: [BigInt(CLONE.NEWUSER)], pid: 7 });
    const odd = record({ kind: 9, nr: NR.unshare });
    const endRec = record({ kind: KIND.END, nr: 0, args: [300n, 44n, 1n, 1n] });
    const partial = record({ nr: NR.mount }).subarray(0, 100);
    const { records, end } = decodeNotifyRecords(cat(a, odd, endRec, partial));
    expect(records.map((r) => [r.pid, r.nr])).toEqual([[7, NR.unshare]]);
    expect(end).toEqual({ total: 300, dropped: 44, why: 1, held: true });
  });

  it('an END record whose holder got no listener says so (args[3] 0, notify.h), with what ended its wait', () => {
    const { end } = decodeNotifyRecords(record({ kind: KIND.END, nr: 0, args: [0n, 0n, 32n, 0n] }));
    expect(end).toEqual({ total: 0, dropped: 0, why: 32, held: false });
  });

  it('reads a view that does not start at its buffer’s offset 0 (a slice of a larger Buffer)', () => {
    const inner = cat(record({ pid: 1, nr: NR.unshare }), record({ pid: 2, nr: NR.mount }));
    const outer = new Uint8Array(inner.length + 13);
    outer.set(inner, 5);
    const view = outer.subarray(5, 5 + inner.length);
    expect(decodeNotifyRecords(view).records.map((r) => [r.pid, r.nr])).toEqual([[1, NR.unshare], [2, NR.mount]]);
  });

  it('an empty stream: no records, no end', () => {
    expect(decodeNotifyRecords(new Uint8Array(0))).toEqual({ records: [], end: null, counts: [] });
  });
});

describe('describeCall', () => {
  const s6 = [null, null, null, null, null, null];
  const flagSet = (text: string): Set<string> => new Set(text.replace(/^unshare\(|\)$/g, '').split('|'));

  it('unshare(0x10000000) is CLONE_NEWUSER (sched.h); several flags are all named; 0 is 0', () => {
    expect(describeCall('unshare', [BigInt(CLONE.NEWUSER), 0n, 0n, 0n, 0n, 0n], s6)).toBe('unshare(CLONE_NEWUSER)');
    expect(flagSet(describeCall('unshare', [BigInt(CLONE.NEWUSER | CLONE.NEWNET | CLONE.NEWNS)], s6))).toEqual(new Set(['CLONE_NEWUSER', 'CLONE_NEWNET', 'CLONE_NEWNS']));
    expect(describeCall('unshare', [0n], s6)).toBe('unshare(0)');
    // bits above the low 32 are not the kernel's (it reads an int): not shown as flags
    expect(describeCall('unshare', [(1n << 40n) | BigInt(CLONE.NEWUSER)], s6)).toBe('unshare(CLONE_NEWUSER)');
  });

  it('an unnamed bit is kept in hex rather than dropped', () => {
    const t = describeCall('unshare', [BigInt(CLONE.NEWUSER | 0x80)], s6); // 0x80: CLONE_NEWTIME
    expect(flagSet(t)).toEqual(new Set(['CLONE_NEWUSER', '0x80']));
  });

  it('socket(2, 1, 0) is socket(AF_INET, SOCK_STREAM, 0); the type’s flags are named; AF_INET6/SOCK_DGRAM; AF_NETLINK/SOCK_RAW', () => {
    expect(describeCall('socket', [BigInt(AFN.INET), BigInt(SOCKT.STREAM), 0n], s6)).toBe('socket(AF_INET, SOCK_STREAM, 0)');
    expect(describeCall('socket', [BigInt(AFN.INET), BigInt(SOCKT.STREAM | SOCKT.CLOEXEC), 0n], s6)).toBe('socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0)');
    expect(describeCall('socket', [BigInt(AFN.INET6), BigInt(SOCKT.DGRAM), 17n], s6)).toBe('socket(AF_INET6, SOCK_DGRAM, 17)');
    expect(describeCall('socket', [BigInt(AFN.NETLINK), BigInt(SOCKT.RAW), 0n], s6)).toBe('socket(AF_NETLINK, SOCK_RAW, 0)');
  });

  it('strings read are quoted; a NULL pointer is NULL; an unread pointer stays hex', () => {
    expect(describeCall('mount', [0x10n, 0x20n, 0x30n, 0n, 0n, 0n], ['none', '/mnt', 'tmpfs', null, null, null])).toBe('mount("none", "/mnt", "tmpfs", 0x0)');
    expect(describeCall('mount', [0n, 0n, 0n, 0n, 0n, 0n], s6)).toBe('mount(NULL, NULL, NULL, 0x0)');
    expect(describeCall('mount', [0xdead0n, 0n, 0n, 0x1000n, 0n, 0n], s6)).toBe('mount(0xdead0, NULL, NULL, 0x1000)');
    // a quote in a path cannot break out of the string
    expect(describeCall('umount2', [1n, 2n], ['/a"b', null, null, null, null, null])).toBe('umount2("/a\\"b", 0x2)');
  });

  it('an int argument is signed 32-bit (setns(-1, …)); an unknown call shows six hex registers', () => {
    expect(describeCall('setns', [0xffffffffn, BigInt(CLONE.NEWNET)], s6)).toBe('setns(-1, CLONE_NEWNET)');
    expect(describeCall('syscall_999', [1n, 2n, 3n, 4n, 5n, 0xffn], s6)).toBe('syscall_999(0x1, 0x2, 0x3, 0x4, 0x5, 0xff)');
  });
});

// ---- the row behind a denial, against the BPF program ------------------------------------

const ARCH: Arch = 'x86_64';
type Spawn = 'deny' | 'threads' | 'descendants';
type Net = 'deny' | 'loopback' | 'host' | 'ports';
const policy = (spawn: Spawn, net: Net, landlockAbi = 6): Policy => policyFor({ spawn, network: { mode: net, connect: [], bind: [] }, landlockAbi } as Parameters<typeof policyFor>[0]);

// Numbers for the names these tests use beyond the helper's table (syscall_64.tbl).
const EXTRA_NR: Record<string, number> = { truncate: 76, open: 2, chmod: 90, mkdirat: 258, fchmodat: 268 };
const nrX = (name: string): number => EXTRA_NR[name] ?? nrOf(ARCH, name)!;

/**
 * The row whose block returned the deny: program i is the policy cut after row i (header,
 * blocks 0..i, default allow), compiled and run in the interpreter; the first cut that answers
 * USER_NOTIF names the row. row -1: the full program does not notify.
 */
function bpfRow(p: Policy, name: string, args: bigint[]): { row: number; full: number } {
  const nr = nrX(name);
  const run = (rules: Rule[]): number => runBpf(encode(compile({ deny: p.deny, rules }, ARCH, { notify: true }).insns), { nr, arch: AUDIT_ARCH[ARCH], args });
  const full = run(p.rules);
  if (full !== RET_USER_NOTIF) return { row: -1, full };
  for (let i = 0; i < p.rules.length; i++) if (run(p.rules.slice(0, i + 1)) === RET_USER_NOTIF) return { row: i, full };
  throw new Error('the full program notified but no cut of it did');
}

const rec = (name: string, args: bigint[], extra: Partial<NotifyRecord> = {}): NotifyRecord => ({ kind: 'denied', sockaddr: null, pid: 50, nr: nrX(name), arch: AUDIT_ARCH[ARCH], tNs: 0n, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6), strings: [null, null, null, null, null, null], ...extra });

// O_CREAT, O_TRUNC, O_RDONLY/O_WRONLY (asm-generic/fcntl.h); S_ISUID (inode(7))
const O = { RDONLY: 0, WRONLY: 1, CREAT: 0o100, TRUNC: 0o1000 };
const S_ISUID = 0o4000;

interface Case {
  spawn: Spawn;
  net: Net;
  abi?: number;
  name: string;
  args: bigint[];
  /** the clause, from the manifest's meaning; null: allowed or answered ENOSYS (not a denial) */
  clause: 'syscalls' | 'spawn' | 'network' | 'filesystem' | null;
}
const b = BigInt;
const CASES: Case[] = [
  { spawn: 'descendants', net: 'deny', name: 'mount', args: [0n, 0n, 0n, 0n], clause: 'syscalls' },
  { spawn: 'descendants', net: 'deny', name: 'unshare', args: [b(CLONE.NEWUSER)], clause: 'syscalls' },
  { spawn: 'descendants', net: 'deny', name: 'getpid', args: [], clause: null },
  // clone: a namespace flag is the denylist's (what unshare would give), a plain fork is allowed
  { spawn: 'descendants', net: 'host', name: 'clone', args: [b(CLONE.NEWUSER | 17)], clause: 'syscalls' },
  { spawn: 'descendants', net: 'host', name: 'clone', args: [17n], clause: null },
  { spawn: 'descendants', net: 'host', name: 'clone3', args: [0n, 88n], clause: null }, // ENOSYS, libc falls back
  // spawn: threads — a fork-like clone is spawn's; a namespace clone is still the denylist's row (it comes first)
  { spawn: 'threads', net: 'host', name: 'clone', args: [17n], clause: 'spawn' },
  { spawn: 'threads', net: 'host', name: 'clone', args: [b(CLONE.NEWUSER | 17)], clause: 'syscalls' },
  { spawn: 'threads', net: 'host', name: 'clone', args: [b(CLONE.THREAD | CLONE.VM | CLONE.SIGHAND | CLONE.FS | CLONE.FILES)], clause: null },
  { spawn: 'threads', net: 'host', name: 'fork', args: [], clause: 'spawn' },
  // spawn: deny — every clone, fork, vfork, clone3
  { spawn: 'deny', net: 'host', name: 'clone', args: [b(CLONE.THREAD | CLONE.VM)], clause: 'spawn' },
  { spawn: 'deny', net: 'host', name: 'clone', args: [b(CLONE.NEWUSER | 17)], clause: 'spawn' },
  { spawn: 'deny', net: 'host', name: 'fork', args: [], clause: 'spawn' },
  { spawn: 'deny', net: 'host', name: 'clone3', args: [0n, 88n], clause: 'spawn' },
  // network
  { spawn: 'descendants', net: 'deny', name: 'socket', args: [b(AFN.INET), b(SOCKT.STREAM)], clause: 'network' },
  { spawn: 'descendants', net: 'deny', name: 'socket', args: [b(AFN.UNIX), b(SOCKT.STREAM)], clause: null },
  { spawn: 'descendants', net: 'host', name: 'socket', args: [b(AFN.INET), b(SOCKT.STREAM)], clause: null },
  { spawn: 'descendants', net: 'ports', abi: 6, name: 'socket', args: [b(AFN.INET), b(SOCKT.DGRAM)], clause: 'network' },
  { spawn: 'descendants', net: 'ports', abi: 6, name: 'socket', args: [b(AFN.NETLINK), b(SOCKT.RAW)], clause: 'network' },
  { spawn: 'descendants', net: 'ports', abi: 6, name: 'socket', args: [b(AFN.INET6), b(SOCKT.STREAM | SOCKT.CLOEXEC)], clause: null },
  { spawn: 'descendants', net: 'ports', abi: 5, name: 'socket', args: [b(AFN.UNIX), b(SOCKT.STREAM)], clause: 'network' },
  { spawn: 'descendants', net: 'ports', abi: 5, name: 'socket', args: [b(AFN.INET), b(SOCKT.DGRAM)], clause: 'network' },
  // truncation below landlock ABI 3 is the filesystem clause's; from ABI 3 landlock has it
  { spawn: 'descendants', net: 'deny', abi: 2, name: 'truncate', args: [0x1000n, 0n], clause: 'filesystem' },
  { spawn: 'descendants', net: 'deny', abi: 3, name: 'truncate', args: [0x1000n, 0n], clause: null },
  { spawn: 'descendants', net: 'deny', abi: 2, name: 'open', args: [0x1000n, b(O.RDONLY | O.TRUNC), 0o644n], clause: 'filesystem' },
  { spawn: 'descendants', net: 'deny', abi: 2, name: 'open', args: [0x1000n, b(O.WRONLY | O.TRUNC), 0o644n], clause: null },
  // a set-ID create that also truncates read-only: the set-ID row comes first in the filter
  { spawn: 'descendants', net: 'deny', abi: 2, name: 'open', args: [0x1000n, b(O.RDONLY | O.TRUNC | O.CREAT), b(S_ISUID | 0o755)], clause: 'syscalls' },
  { spawn: 'descendants', net: 'deny', abi: 2, name: 'openat', args: [0xffffff9cn, 0x1000n, b(O.RDONLY | O.TRUNC), 0n], clause: 'filesystem' },
  // only the low 32 bits are compared, by the filter and so by the match
  { spawn: 'descendants', net: 'deny', name: 'ioctl', args: [3n, 0x5412n | (1n << 32n)], clause: 'syscalls' },
  { spawn: 'descendants', net: 'deny', name: 'personality', args: [0xffffffffn], clause: null },
  { spawn: 'descendants', net: 'deny', name: 'personality', args: [0x0040000n], clause: 'syscalls' },
];
const six = (args: bigint[]): bigint[] => [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);

describe('matchRule and seccompDenials name the row the BPF program denied with', () => {
  for (const c of CASES) {
    const label = `${c.spawn}/${c.net}${c.abi !== undefined ? `/abi${c.abi}` : ''}: ${c.name}(${c.args.map((a) => `0x${a.toString(16)}`).join(', ')}) → ${c.clause ?? 'not a denial'}`;
    it(label, () => {
      const p = policy(c.spawn, c.net, c.abi ?? 6);
      const nr = nrX(c.name);
      const { row, full } = bpfRow(p, c.name, c.args);
      const rule = matchRule(p, c.name, six(c.args));
      if (c.clause === null) {
        expect(full).not.toBe(RET_USER_NOTIF);
        expect(rule).toBeNull();
        return;
      }
      expect(full).toBe(RET_USER_NOTIF);
      expect(rule).toBe(p.rules[row]);
      const { items } = seccompDenials([rec(c.name, c.args, { pid: 9 })], p, ARCH, null);
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ clause: c.clause, rule: p.rules[row]!.why, errno: 'EPERM', observedBy: 'seccomp:user-notif', count: 1, pid: 9 });
      expect(items[0]!.syscall).toMatchObject({ name: c.name, nr, arch: ARCH });
    });
  }

  it('property: over random args, the first row that denies in the program is the one matched (every policy shape)', () => {
    const NAMES = ['clone', 'socket', 'open', 'openat', 'ioctl', 'personality', 'chmod', 'fchmodat', 'mkdirat', 'unshare'];
    const interesting = fc.oneof(
      fc.constantFrom(0n, 17n, 0xffffffffn, b(CLONE.THREAD), b(CLONE.NEWUSER), b(AFN.INET), b(AFN.INET6), b(AFN.UNIX), b(AFN.NETLINK), b(SOCKT.STREAM), b(SOCKT.DGRAM), b(O.TRUNC), b(O.CREAT | O.TRUNC), b(S_ISUID), 0x5412n, 0x541cn, 0x0040000n),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    const shapes = fc.record({ spawn: fc.constantFrom<Spawn>('deny', 'threads', 'descendants'), net: fc.constantFrom<Net>('deny', 'loopback', 'host', 'ports'), abi: fc.constantFrom(1, 2, 3, 5, 6) });
    fc.assert(
      fc.property(shapes, fc.constantFrom(...NAMES), fc.array(interesting, { minLength: 6, maxLength: 6 }), (s, name, args) => {
        const p = policy(s.spawn, s.net, s.abi);
        const { row, full } = bpfRow(p, name, args);
        const rule = matchRule(p, name, args);
        return full === RET_USER_NOTIF ? rule === p.rules[row] : rule === null;
      }),
      { numRuns: 400 },
    );
  });

});

describe('seccompDenials', () => {
  const p = policy('descendants', 'deny');

  it('collapses identical calls into one item with a count, in order of first occurrence; different args are different items', () => {
    const u = rec('unshare', [b(CLONE.NEWUSER)]);
    const m = rec('mount', [0n, 0n, 0n, 0n]);
    const u2 = rec('unshare', [b(CLONE.NEWNET)]);
    const { items, distinct } = seccompDenials([u, m, u, u, u2, m, u], p, ARCH, null);
    expect(distinct).toBe(3);
    expect(items.map((d) => [d.what, d.count])).toEqual([
      ['unshare(CLONE_NEWUSER)', 4],
      ['mount(NULL, NULL, NULL, 0x0)', 2],
      ['unshare(CLONE_NEWNET)', 1],
    ]);
  });

  it('a default denylist row: kind syscall, clause syscalls, no allow line, a warning; args in hex, the arch by name', () => {
    const [d] = seccompDenials([rec('unshare', [b(CLONE.NEWUSER)], { pid: 77 })], p, ARCH, null).items;
    expect(d).toMatchObject({ kind: 'syscall', clause: 'syscalls', what: 'unshare(CLONE_NEWUSER)', errno: 'EPERM', observedBy: 'seccomp:user-notif', allow: null, count: 1, pid: 77, atMs: null, path: null });
    expect(d!.warning).toMatch(/deny: log/);
    expect(d!.syscall).toEqual({ name: 'unshare', nr: 272, arch: 'x86_64', args: ['0x10000000', '0x0', '0x0', '0x0', '0x0', '0x0'], strings: [null, null, null, null, null, null] });
  });

  it('spawn rows: clause spawn, allow spawn: descendants (a process) or spawn: threads (a thread)', () => {
    const pd = policy('deny', 'host');
    const [fork] = seccompDenials([rec('fork', [])], pd, ARCH, null).items;
    expect(fork).toMatchObject({ kind: 'spawn', clause: 'spawn' });
    expect(fork!.allow).toMatch(/^spawn: descendants/);
    const [thread] = seccompDenials([rec('clone', [b(CLONE.THREAD | CLONE.VM | CLONE.SIGHAND)])], pd, ARCH, null).items;
    expect(thread).toMatchObject({ clause: 'spawn', allow: 'spawn: threads' });
  });

  it('network rows: clause network; a TCP socket is allowed by ports, anything else by host (with a warning)', () => {
    const [tcp, udp] = seccompDenials([rec('socket', [b(AFN.INET), b(SOCKT.STREAM | SOCKT.CLOEXEC)]), rec('socket', [b(AFN.INET), b(SOCKT.DGRAM)])], p, ARCH, null).items;
    expect(tcp).toMatchObject({ kind: 'network', clause: 'network', what: 'socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0)' });
    expect(tcp!.allow).toMatch(/^network: \{ connect: \[PORT\] \}/);
    expect(udp).toMatchObject({ clause: 'network', allow: 'network: host' });
    expect(udp!.warning).toBeTruthy();
  });

  it('truncate rows at landlock ABI < 3: clause filesystem, the path read from the caller', () => {
    const p2 = policy('descendants', 'deny', 2);
    const [d] = seccompDenials([rec('truncate', [0x1000n, 0n], { strings: ['/etc/passwd', null, null, null, null, null] })], p2, ARCH, null).items;
    expect(d).toMatchObject({ kind: 'filesystem', clause: 'filesystem', path: '/etc/passwd', allow: null });
    expect(d!.what).toBe('truncate("/etc/passwd", 0)');
    expect(d!.warning).toMatch(/ABI/);
  });

  // What ports mode refuses beyond landlock's port rules gets advice that fits: an MPTCP stream
  // (Go's net tries it first and falls back) no clause, listen a bind port, a Fast Open send none.
  it('ports mode: an MPTCP socket, a listen and a Fast Open send are explained, not sent to network: host', () => {
    const p = policy('descendants', 'ports', 7);
    const items = seccompDenials([rec('socket', [2n, 1n, 262n]), rec('listen', [3n, 16n]), rec('sendto', [3n, 0n, 1n, 0x20000000n, 0n, 16n]), rec('socket', [2n, 2n, 0n])], p, ARCH, null).items;
    expect(items.map((d) => [d.clause, d.allow])).toEqual([
      ['network', null],
      ['network', 'network: { bind: [PORT] }   # the TCP ports it may bind (bind(2) before listen)'],
      ['network', null],
      ['network', 'network: host'],
    ]);
    expect(items[0]!.warning).toMatch(/protocol 262 .* outside landlock's port rules.* fall back to TCP/);
    expect(items[2]!.warning).toMatch(/MSG_FASTOPEN/);
  });

  it('clauseOf agrees with the rows’ meaning for every row of every policy shape', () => {
    for (const spawn of ['deny', 'threads', 'descendants'] as const) {
      for (const net of ['deny', 'loopback', 'host', 'ports'] as const) {
        for (const abi of [2, 5, 6]) {
          for (const r of policy(spawn, net, abi).rules) {
            if (r.action !== 'errno') continue;
            const spawnRow = ['fork', 'vfork', 'clone3'].includes(r.syscall) || (r.syscall === 'clone' && !(r.when ?? []).some((w) => ((w.mask ?? 0) & CLONE.NEWUSER) !== 0));
            // socket's family and protocol rows; in ports mode, TCP Fast Open sends and (no bind port) listen
            const netRow = ['socket', 'sendto', 'sendmsg', 'sendmmsg', 'listen'].includes(r.syscall);
            const fsRow = r.syscall === 'truncate' || ((r.syscall === 'open' || r.syscall === 'openat') && (r.when ?? []).some((w) => w.op === 'eq' && w.value === O.TRUNC));
            const want = spawnRow ? 'spawn' : netRow ? 'network' : fsRow ? 'filesystem' : 'syscalls';
            expect(clauseOf(r), `${spawn}/${net}/abi${abi}: ${r.syscall} (${r.why})`).toBe(want);
          }
        }
      }
    }
  });

  it('atMs counts from t0 (ms, fractional); never negative; null without t0', () => {
    const t0 = 5_000_000_000n;
    const items = seccompDenials([rec('unshare', [1n], { tNs: t0 + 1_500_000n }), rec('mount', [], { tNs: t0 - 10n })], p, ARCH, t0).items;
    expect(items.map((d) => d.atMs)).toEqual([1.5, 0]);
    expect(seccompDenials([rec('unshare', [1n], { tNs: t0 })], p, ARCH, null).items[0]!.atMs).toBeNull();
    // a repeat keeps the first occurrence's time
    const rep = seccompDenials([rec('unshare', [1n], { tNs: t0 + 2_000_000n }), rec('unshare', [1n], { tNs: t0 + 9_000_000n })], p, ARCH, t0).items;
    expect(rep).toHaveLength(1);
    expect(rep[0]).toMatchObject({ atMs: 2, count: 2 });
  });

  it('lists at most MAX_LISTED distinct calls, the first ones, and counts the rest as distinct', () => {
    const n = MAX_LISTED + 6;
    const recs = Array.from({ length: n }, (_, i) => rec('ioctl', [b(i), 0x5412n]));
    const { items, distinct } = seccompDenials([...recs, recs[0]!], p, ARCH, null);
    expect(distinct).toBe(n);
    expect(items).toHaveLength(MAX_LISTED);
    expect(items[0]).toMatchObject({ what: 'ioctl(0, 0x5412, 0x0)', count: 2 });
    expect(items[MAX_LISTED - 1]!.what).toBe(`ioctl(${MAX_LISTED - 1}, 0x5412, 0x0)`);
  });

  it('a record of another arch (or a number the table lacks) is not traced to a row it cannot be sure of', () => {
    const [foreign] = seccompDenials([rec('unshare', [1n], { arch: AUDIT_ARCH.i386 })], p, ARCH, null).items;
    expect(foreign!.rule).toMatch(/no row of this policy matches/);
    expect(foreign!.clause).toBe('syscalls');
    const [unknown] = seccompDenials([rec('getpid', [], { nr: 999 })], p, ARCH, null).items;
    expect(unknown!.syscall!.name).toBe('syscall_999');
    expect(unknown!.rule).toMatch(/no row of this policy matches/);
  });

  it('items from decoded records pass the report schema', () => {
    const bytes = cat(
      record({ pid: 3, nr: NR.mount, args: [1n, 2n, 3n, 0n, 0n, 0n], strs: [[1, '/mnt'], [2, 'tmpfs']] }),
      record({ pid: 3, nr: NR.unshare, args: [b(CLONE.NEWUSER)] }),
      record({ pid: 3, nr: NR.socket, args: [b(AFN.INET), b(SOCKT.STREAM)] }),
    );
    const { items } = seccompDenials(decodeNotifyRecords(bytes).records, p, ARCH, 0n);
    expect(items.map((d) => d.path)).toEqual(['/mnt', null, null]);
    const body = sampleBody();
    body.denials = {
      sources: { seccomp: { observed: true, how: 'seccomp:user-notif', notObserved: null }, landlock: { observed: false, how: null, notObserved: 'x' }, budgets: { observed: true, how: 'y', notObserved: null } },
      items,
      total: 3,
      truncated: false,
    };
    expect(V.validateSealedReport(sealReport(body, sha256Hex)), JSON.stringify(V.validateSealedReport.errors)).toBe(true);
  });

  it('stringArgTable names mount’s target and fstype (arguments 1 and 2: mount(2)) by number', () => {
    const t = new Map(stringArgTable(p, ARCH));
    expect(t.get(NR.mount)).toBe((1 << 1) | (1 << 2));
    expect(t.has(NR.unshare)).toBe(false);
  });
});

describe('compile(…, { notify: true })', () => {
  const SHAPES: Array<[Spawn, Net, number]> = [];
  for (const s of ['deny', 'threads', 'descendants'] as const) for (const n of ['deny', 'loopback', 'host', 'ports'] as const) for (const abi of [2, 5, 6]) SHAPES.push([s, n, abi]);
  const ARGS: bigint[][] = [[], [b(CLONE.NEWUSER | 17)], [17n], [b(CLONE.THREAD | CLONE.VM)], [b(AFN.INET), b(SOCKT.STREAM)], [b(AFN.INET), b(SOCKT.DGRAM)], [b(AFN.UNIX), 1n], [0n, 0x5412n], [0n, b(O.TRUNC), b(S_ISUID)], [0n, 0n, b(O.TRUNC), b(S_ISUID)], [0x0040000n], [0xffffffffn, 0xffffffffn, 0xffffffffn, 0xffffffffn]];

  it('answers USER_NOTIF (0x7fc00000) exactly where the plain filter answers ERRNO|EPERM, and the same elsewhere (every number, both arches)', () => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      for (const [s, n, abi] of SHAPES) {
        const p = policy(s, n, abi);
        const plain = encode(compile(p, arch).insns);
        const notif = encode(compile(p, arch, { notify: true }).insns);
        let notified = 0;
        for (let nr = 0; nr < 520; nr++) {
          for (const args of ARGS) {
            const a = runBpf(plain, { nr, arch: AUDIT_ARCH[arch], args });
            const c = runBpf(notif, { nr, arch: AUDIT_ARCH[arch], args });
            if (a === DENY) {
              expect(c, `${arch} ${s}/${n}/${abi} nr ${nr}`).toBe(RET_USER_NOTIF);
              notified++;
            } else expect(c, `${arch} ${s}/${n}/${abi} nr ${nr}`).toBe(a);
          }
        }
        expect(notified).toBeGreaterThan(0);
      }
    }
  });

  it('ENOSYS rows keep ERRNO|ENOSYS: clone3 where libc must fall back, openat2, and numbers above the table', () => {
    const p = policy('descendants', 'host');
    const prog = encode(compile(p, 'x86_64', { notify: true }).insns);
    expect(runBpf(prog, { nr: 435, arch: AUDIT_ARCH.x86_64 })).toBe(NOSYS); // clone3
    expect(runBpf(prog, { nr: 437, arch: AUDIT_ARCH.x86_64 })).toBe(NOSYS); // openat2
    expect(runBpf(prog, { nr: 999, arch: AUDIT_ARCH.x86_64 })).toBe(NOSYS);
    expect(runBpf(prog, { nr: 272, arch: AUDIT_ARCH.x86_64, args: [b(CLONE.NEWUSER)] })).toBe(RET_USER_NOTIF); // unshare
    expect(runBpf(prog, { nr: 39, arch: AUDIT_ARCH.x86_64 })).toBe(SECCOMP_RET.ALLOW); // getpid
    // a foreign arch is still killed, not asked
    expect(runBpf(prog, { nr: 272, arch: AUDIT_ARCH.i386 })).toBe(SECCOMP_RET.KILL_PROCESS >>> 0);
  });

  it('kill and log policies are unchanged by notify (nothing to answer)', () => {
    for (const deny of ['kill', 'log'] as const) {
      const p: Policy = { ...policy('descendants', 'deny'), deny };
      expect(compile(p, 'x86_64', { notify: true }).insns).toEqual(compile(p, 'x86_64').insns);
    }
  });
});
