// The OCI `linux.seccomp` compiler (src/core/seccomp/oci.ts) against independent oracles, all
// through the BPF interpreter of test/helpers/bpf.ts:
//   1. podman's real default profile (test/fixtures/oci/podman-seccomp.json), resolved the way
//      podman resolves it for its default capabilities, over a decision table whose expected
//      answers come from that file and the man pages (numbers from the kernel's syscall tables,
//      constants from the uapi headers), never from the compiler's constants;
//   2. libseccomp itself (test/seccomp-oracle/): the same profile, and random ones, compiled by
//      libseccomp 2.5 and by bvisor must decide every (syscall number, arguments) row alike;
//   3. a reference evaluator written here from the semantics (runtime-spec + libseccomp's rules
//      for overlapping rules), against random small profiles (fast-check);
//   4. refusals with their exact JSON paths, each with a hint;
//   5. composeFilters: one program equal to bvisor's filter stacked in front of the OCI one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileOciSeccomp, composeFilters, type OciSeccompCompiled } from '../../../src/core/seccomp/oci.js';
import { compile, encode, HIGHEST_KNOWN } from '../../../src/core/seccomp/compile.js';
import { policyFor } from '../../../src/core/seccomp/policy.js';
import type { Insn } from '../../../src/core/seccomp/compile.js';
import { runBpf } from '../../helpers/bpf.js';
import { skipOrFail } from '../../helpers/require.js';
import { buildOracle, runOracle, type Oracle, type OciProfile } from '../../seccomp-oracle/libseccomp.js';

type Arch = 'x86_64' | 'aarch64';
const ARCHES: Arch[] = ['x86_64', 'aarch64'];

/** include/uapi/linux/seccomp.h */
const RET = { KILL_THREAD: 0x00000000, KILL_PROCESS: 0x80000000, TRAP: 0x00030000, ERRNO: 0x00050000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000 } as const;
/** include/uapi/linux/audit.h */
const AUDIT = { x86_64: 0xc000003e, aarch64: 0xc00000b7, i386: 0x40000003 } as const;
/** asm-generic/errno-base.h, errno.h */
const EPERM = 1;
const EINVAL = 22;
const ENOSYS = 38;
const errno = (e: number): number => (RET.ERRNO | e) >>> 0;
/** arch/x86/include/uapi/asm/unistd.h: __X32_SYSCALL_BIT */
const X32_BIT = 0x40000000;

/**
 * Syscall numbers the tables below name: arch/x86/entry/syscalls/syscall_64.tbl (x86_64) and
 * include/uapi/asm-generic/unistd.h (aarch64).
 */
const NR: Record<Arch, Record<string, number>> = {
  x86_64: { read: 0, write: 1, openat: 257, mount: 165, reboot: 169, kexec_load: 246, unshare: 272, clone: 56, setns: 308, bpf: 321, chroot: 161, acct: 163, io_uring_setup: 425, personality: 135, socket: 41, modify_ldt: 154, arch_prctl: 158, ptrace: 101, getpid: 39 },
  aarch64: { read: 63, write: 64, openat: 56, mount: 40, reboot: 142, kexec_load: 104, unshare: 97, clone: 220, setns: 268, bpf: 280, chroot: 51, acct: 89, io_uring_setup: 425, personality: 92, socket: 198, ptrace: 117, getpid: 172 },
};

const decide = (insns: Insn[], arch: Arch, nr: number, args: bigint[] = []): number => runBpf(encode(insns), { nr, arch: AUDIT[arch], args });

function compiled(p: unknown, arch: Arch): OciSeccompCompiled {
  const r = compileOciSeccomp(p, arch);
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.refusals, null, 1)}`);
  return r.compiled;
}

// ---- podman's profile, resolved as podman resolves it ------------------------------------------

interface PodmanRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: string }> | null;
  includes?: { arches?: string[]; caps?: string[]; minKernel?: string };
  excludes?: { arches?: string[]; caps?: string[] };
}
interface PodmanProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: PodmanRule[];
}

const PODMAN = JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'oci', 'podman-seccomp.json'), 'utf8')) as PodmanProfile;
/** /usr/share/containers/containers.conf: default_capabilities */
const PODMAN_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
const GOARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };
const SCMP_NATIVE: Record<Arch, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };

/**
 * containers/common's profile → the OCI linux.seccomp podman hands the runtime: an entry stays
 * when its includes (arches, all caps) hold and its excludes (arches, any cap) do not; the
 * architectures are the native one and its archMap subarchitectures.
 */
function podmanToOci(p: PodmanProfile, arch: Arch, caps: string[]): OciProfile & { architectures: string[] } {
  const goarch = GOARCH[arch];
  const keep = (s: PodmanRule): boolean => {
    const inc = s.includes ?? {};
    const exc = s.excludes ?? {};
    if (inc.minKernel) throw new Error('the fixture has a minKernel include: resolve it here');
    if (inc.arches?.length && !inc.arches.includes(goarch)) return false;
    if (inc.caps?.length && !inc.caps.every((c) => caps.includes(c))) return false;
    if (exc.arches?.includes(goarch)) return false;
    if (exc.caps?.some((c) => caps.includes(c))) return false;
    return true;
  };
  const map = p.archMap.find((m) => m.architecture === SCMP_NATIVE[arch])!;
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    architectures: [map.architecture, ...map.subArchitectures],
    syscalls: p.syscalls.filter(keep).map((s) => ({
      names: s.names,
      action: s.action,
      ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}),
      ...(s.args?.length ? { args: s.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo, op: a.op })) } : {}),
    })),
  };
}

// personality(2) values (include/uapi/linux/personality.h)
const PER_LINUX = 0x0000n;
const PER_LINUX32 = 0x0008n;
const UNAME26 = 0x0020000n;
const ADDR_NO_RANDOMIZE = 0x0040000n;
const PERSONALITY_QUERY = 0xffffffffn;
// socket(2): address_families(7), include/uapi/linux/netlink.h
const AF_INET = 2n;
const AF_NETLINK = 16n;
const AF_VSOCK = 40n;
const SOCK_RAW = 3n;
const NETLINK_ROUTE = 0n;
const NETLINK_AUDIT = 9n;
// clone(2): include/uapi/linux/sched.h
const CLONE_NEWUSER = 0x10000000n;
const SIGCHLD = 17n;
const HIGH = 1n << 32n;

describe('podman’s default profile (containers-common 0.50.1), resolved for podman’s default capabilities', () => {
  for (const arch of ARCHES) {
    const oci = podmanToOci(PODMAN, arch, PODMAN_CAPS);
    const c = compiled(oci, arch);
    const at = (name: string, args: bigint[] = []): number => decide(c.insns, arch, NR[arch][name]!, args);

    it(`${arch}: the decision table the profile and the man pages give`, () => {
      // defaultAction SCMP_ACT_ERRNO, defaultErrnoRet 38
      const DEFAULT = errno(ENOSYS);
      // syscalls[1], the big SCMP_ACT_ALLOW list: podman leaves mount, reboot, unshare, clone and
      // ptrace to the capabilities it drops, so the profile itself allows them
      for (const n of ['read', 'write', 'openat', 'getpid', 'mount', 'reboot', 'unshare', 'ptrace']) expect(at(n), n).toBe(RET.ALLOW);
      // clone: in the big list without argument conditions (docker's MASKED_EQ rule is not in
      // this profile), so CLONE_NEWUSER passes too
      expect(at('clone', [SIGCHLD])).toBe(RET.ALLOW);
      expect(at('clone', [CLONE_NEWUSER | SIGCHLD])).toBe(RET.ALLOW);
      // syscalls[0]: kexec_load and friends, SCMP_ACT_ERRNO with errnoRet 1
      expect(at('kexec_load')).toBe(errno(EPERM));
      // CAP_SYS_ADMIN, CAP_SYS_PACCT are not podman defaults: the excludes-caps entries apply
      expect(at('bpf')).toBe(errno(EPERM));
      expect(at('acct')).toBe(errno(EPERM));
      // CAP_SYS_CHROOT is a podman default: the includes-caps entry allows chroot
      expect(at('chroot')).toBe(RET.ALLOW);
      // setns: allowed by the big list, then SCMP_ACT_ERRNO without CAP_SYS_ADMIN; libseccomp
      // keeps the first unconditional rule of a syscall, so it is allowed
      expect(at('setns')).toBe(RET.ALLOW);
      // not in the profile at all: the default
      expect(at('io_uring_setup')).toBe(DEFAULT);
      // personality: five SCMP_CMP_EQ allow rules (0, 8, 0x20000, 0x20008, 0xffffffff)
      for (const v of [PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PERSONALITY_QUERY]) expect(at('personality', [v]), hexs(v)).toBe(RET.ALLOW);
      expect(at('personality', [0x1234n])).toBe(DEFAULT);
      expect(at('personality', [ADDR_NO_RANDOMIZE])).toBe(DEFAULT);
      // the comparison is on all 64 bits: a high word that differs does not match EQ 0 / EQ 8
      expect(at('personality', [HIGH | PER_LINUX])).toBe(DEFAULT);
      expect(at('personality', [HIGH | PER_LINUX32])).toBe(DEFAULT);
      expect(at('personality', [(HIGH << 31n) | PERSONALITY_QUERY])).toBe(DEFAULT);
      // socket: ERRNO(EINVAL) for AF_NETLINK + NETLINK_AUDIT (syscalls[30], CAP_AUDIT_WRITE not
      // a default), allowed when the protocol is not NETLINK_AUDIT or the family not AF_NETLINK
      expect(at('socket', [AF_NETLINK, SOCK_RAW, NETLINK_AUDIT])).toBe(errno(EINVAL));
      expect(at('socket', [AF_NETLINK, SOCK_RAW, NETLINK_ROUTE])).toBe(RET.ALLOW);
      expect(at('socket', [AF_VSOCK, 1n, 0n])).toBe(RET.ALLOW);
      expect(at('socket', [AF_VSOCK, SOCK_RAW, NETLINK_AUDIT])).toBe(RET.ALLOW);
      expect(at('socket', [AF_INET, 1n, 0n])).toBe(RET.ALLOW);
      // libseccomp's (and so runc's and crun's) 64-bit comparison has a hole the kernel does not:
      // socket() reads its family as an int, ignoring the high word, but EQ 16 compares all 64
      // bits, so a family with a high bit set passes the NE rules. bvisor keeps the semantics
      // (it must decide as libseccomp does); this row pins it so a change is deliberate.
      expect(at('socket', [HIGH | AF_NETLINK, SOCK_RAW, NETLINK_AUDIT])).toBe(RET.ALLOW);
      // numbers no table has, and above the table: the default
      for (const nr of [HIGHEST_OF[arch] + 1, HIGHEST_OF[arch] + 5, 1000, 0x3fffffff]) expect(decide(c.insns, arch, nr), `nr ${nr}`).toBe(DEFAULT);
      // another ABI: killed
      expect(runBpf(encode(c.insns), { nr: NR[arch].read!, arch: AUDIT.i386 })).toBe(RET.KILL_PROCESS);
      if (arch === 'x86_64') {
        expect(at('modify_ldt')).toBe(RET.ALLOW); // includes arches amd64
        expect(at('arch_prctl')).toBe(RET.ALLOW);
        expect(decide(c.insns, arch, X32_BIT | NR.x86_64.read!)).toBe(RET.KILL_PROCESS); // x32
      }
    });

    it(`${arch}: other architectures' names are skipped with their path; notes say what was narrowed`, () => {
      const names = c.skipped.map((s) => s.name);
      // syscalls[1] starts with _llseek and _newselect, 32-bit-only syscalls
      expect(c.skipped).toContainEqual(expect.objectContaining({ path: 'linux.seccomp.syscalls[1].names[0]', name: '_llseek' }));
      for (const n of ['_newselect', 'mmap2', 'socketcall', 'fstat64']) expect(names, n).toContain(n);
      for (const s of c.skipped) expect(s.why).toMatch(new RegExp(arch));
      expect(c.notes.join('\n')).toMatch(/architectures: .*not admitted/);
      expect(c.notes.join('\n')).toMatch(/\(setns\).*never applies/);
      expect(c.insns.length).toBeLessThanOrEqual(4096);
      console.log(`podman's profile on ${arch}: ${c.insns.length} instructions, ${c.rules} rules, ${c.skipped.length} names skipped`);
    });
  }
});

const hexs = (v: bigint): string => `0x${v.toString(16)}`;
const HIGHEST_OF: Record<Arch, number> = { x86_64: HIGHEST_KNOWN.x86_64, aarch64: HIGHEST_KNOWN.aarch64 };

describe('a docker-style clone rule: SCMP_CMP_MASKED_EQ on the namespace flags', () => {
  // docker's default profile: clone allowed when (flags & 0x7E020000) == 0, i.e. no CLONE_NEW*
  // (CLONE_NEWNS 0x20000 | NEWCGROUP 0x2000000 | NEWUTS 0x4000000 | NEWIPC 0x8000000 |
  // NEWUSER 0x10000000 | NEWPID 0x20000000 | NEWNET 0x40000000)
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }],
  };
  for (const arch of ARCHES) {
    it(arch, () => {
      const c = compiled(profile, arch);
      expect(decide(c.insns, arch, NR[arch].clone!, [SIGCHLD])).toBe(RET.ALLOW);
      expect(decide(c.insns, arch, NR[arch].clone!, [0x3d0f00n])).toBe(RET.ALLOW); // a thread
      expect(decide(c.insns, arch, NR[arch].clone!, [CLONE_NEWUSER | SIGCHLD])).toBe(errno(EPERM));
      expect(decide(c.insns, arch, NR[arch].clone!, [0x20000n])).toBe(errno(EPERM)); // CLONE_NEWNS
      // the mask's high word is 0, so high bits do not matter (the kernel ignores them too)
      expect(decide(c.insns, arch, NR[arch].clone!, [HIGH | SIGCHLD])).toBe(RET.ALLOW);
    });
  }
  it('a mask with a high word compares the high word too', () => {
    const p = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0xff_0000000fn, valueTwo: 0x01_00000003n, op: 'SCMP_CMP_MASKED_EQ' }] }] };
    const c = compiled(p, 'x86_64');
    expect(decide(c.insns, 'x86_64', 0, [0n, 0x01_00000003n])).toBe(errno(EPERM));
    expect(decide(c.insns, 'x86_64', 0, [0n, 0xf1_ffff0003n])).toBe(RET.ALLOW); // 0xf1 & 0xff is not 0x01
    expect(decide(c.insns, 'x86_64', 0, [0n, 0x01_fff00003n])).toBe(errno(EPERM)); // bits outside the mask are free
    expect(decide(c.insns, 'x86_64', 0, [0n, 0x00_00000003n])).toBe(RET.ALLOW);
    expect(decide(c.insns, 'x86_64', 0, [0n, 0x01_00000002n])).toBe(RET.ALLOW);
  });
});

describe('64-bit comparisons (all six orderings, on both words)', () => {
  // For each op and a value with a high word, a rule ERRNO(op index + 1) on read's argument 2:
  // the expected answer is the plain 64-bit comparison, written out here.
  const V = 0x5_00000010n;
  const ops: Array<[string, (x: bigint) => boolean]> = [
    ['SCMP_CMP_EQ', (x) => x === V],
    ['SCMP_CMP_NE', (x) => x !== V],
    ['SCMP_CMP_LT', (x) => x < V],
    ['SCMP_CMP_LE', (x) => x <= V],
    ['SCMP_CMP_GT', (x) => x > V],
    ['SCMP_CMP_GE', (x) => x >= V],
  ];
  const probes = [0n, 0x10n, V - 1n, V, V + 1n, 0x5_00000000n, 0x5_ffffffffn, 0x4_ffffffffn, 0x6_00000000n, 0x6_00000010n, 0x4_00000010n, (1n << 64n) - 1n];
  for (const [op, f] of ops) {
    it(op, () => {
      const c = compiled({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 5, args: [{ index: 2, value: V, op }] }] }, 'x86_64');
      for (const x of probes) expect(decide(c.insns, 'x86_64', 0, [0n, 0n, x]), `${op} ${hexs(x)}`).toBe(f(x) ? errno(5) : RET.ALLOW);
    });
  }
});

// ---- refusals ------------------------------------------------------------------------------

describe('refusals name the JSON path and carry a hint', () => {
  const ok = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
  const rows: Array<{ why: string; profile: unknown; path: string; reason: RegExp }> = [
    { why: 'not an object', profile: [], path: 'linux.seccomp', reason: /must be an object/ },
    { why: 'an engine-format field', profile: { ...ok, archMap: [] }, path: 'linux.seccomp.archMap', reason: /unknown field "archMap"/ },
    { why: 'missing defaultAction', profile: { syscalls: [] }, path: 'linux.seccomp.defaultAction', reason: /missing/ },
    { why: 'unknown action', profile: { defaultAction: 'SCMP_ACT_DENY' }, path: 'linux.seccomp.defaultAction', reason: /unknown seccomp action/ },
    { why: 'NOTIFY', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }, path: 'linux.seccomp.syscalls[0].action', reason: /no listener/ },
    { why: 'TRACE', profile: { defaultAction: 'SCMP_ACT_TRACE' }, path: 'linux.seccomp.defaultAction', reason: /no tracer/ },
    { why: 'listenerPath', profile: { ...ok, listenerPath: '/run/agent.sock' }, path: 'linux.seccomp.listenerPath', reason: /no listener/ },
    { why: 'listenerMetadata', profile: { ...ok, listenerMetadata: 'x' }, path: 'linux.seccomp.listenerMetadata', reason: /seccomp agent/ },
    { why: 'SPEC_ALLOW weakens', profile: { ...ok, flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }, path: 'linux.seccomp.flags[0]', reason: /speculative store bypass/ },
    { why: 'LOG needs the launcher', profile: { ...ok, flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG'] }, path: 'linux.seccomp.flags[1]', reason: /not supported by the launcher/ },
    { why: 'unknown flag', profile: { ...ok, flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }, path: 'linux.seccomp.flags[0]', reason: /unknown seccomp flag/ },
    { why: 'unknown arch', profile: { ...ok, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX'] }, path: 'linux.seccomp.architectures[1]', reason: /unknown architecture/ },
    { why: 'a typo', profile: { ...ok, syscalls: [{ names: ['read', 'opneat'], action: 'SCMP_ACT_ALLOW' }] }, path: 'linux.seccomp.syscalls[0].names[1]', reason: /no Linux architecture has a syscall named "opneat"/ },
    { why: 'empty names', profile: { ...ok, syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, path: 'linux.seccomp.syscalls[0].names', reason: /non-empty/ },
    { why: 'arg index 6', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, path: 'linux.seccomp.syscalls[0].args[0].index', reason: /not 0\.\.5/ },
    { why: 'unknown op', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['write'], action: 'SCMP_ACT_ALLOW' }, { names: ['close'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 1, op: 'SCMP_CMP_IN' }] }] }, path: 'linux.seccomp.syscalls[2].args[0].op', reason: /unknown comparison/ },
    { why: 'errno 0', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 0 }] }, path: 'linux.seccomp.syscalls[0].errnoRet', reason: /not in 1\.\.4095/ },
    { why: 'errno 4096', profile: { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 4096 }, path: 'linux.seccomp.defaultErrnoRet', reason: /not in 1\.\.4095/ },
    { why: 'errno on ALLOW', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }] }, path: 'linux.seccomp.syscalls[0].errnoRet', reason: /takes no errno/ },
    { why: 'the same argument twice', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_GE' }, { index: 0, value: 9, op: 'SCMP_CMP_LE' }] }] }, path: 'linux.seccomp.syscalls[0].args[1].index', reason: /second comparison of argument 0.*OR/ },
    { why: 'datum outside the mask', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xff, valueTwo: 0x100, op: 'SCMP_CMP_MASKED_EQ' }] }] }, path: 'linux.seccomp.syscalls[0].args[0].valueTwo', reason: /outside the mask/ },
    { why: 'valueTwo on EQ', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 5, op: 'SCMP_CMP_EQ' }] }] }, path: 'linux.seccomp.syscalls[0].args[0].valueTwo', reason: /only by SCMP_CMP_MASKED_EQ/ },
    { why: 'a lossy JSON number', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 18446744073709551615, op: 'SCMP_CMP_EQ' }] }] }, path: 'linux.seccomp.syscalls[0].args[0].value', reason: /above 2\^53/ },
    { why: 'unknown field in an arg', profile: { ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ', comment: 'x' }] }] }, path: 'linux.seccomp.syscalls[0].args[0].comment', reason: /unknown field/ },
    {
      why: 'overlapping conditional rules with different actions',
      profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['write'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }] }, { names: ['write'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 1, value: 5, op: 'SCMP_CMP_GE' }] }] },
      path: 'linux.seccomp.syscalls[1]',
      reason: /both match some arguments, e\.g\. \[0x5, 0x5,/,
    },
  ];
  for (const row of rows) {
    it(row.why, () => {
      const r = compileOciSeccomp(row.profile, 'x86_64');
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const hit = r.refusals.find((x) => x.path === row.path);
      expect(hit, JSON.stringify(r.refusals)).toBeDefined();
      expect(hit!.reason).toMatch(row.reason);
      for (const x of r.refusals) expect(x.hint.length, x.path).toBeGreaterThan(10);
    });
  }

  it('a typo’s hint suggests the near names', () => {
    const r = compileOciSeccomp({ ...ok, syscalls: [{ names: ['opneat'], action: 'SCMP_ACT_ALLOW' }] }, 'x86_64');
    expect(!r.ok && r.refusals[0]!.hint).toMatch(/"openat"/);
  });

  it('returns every refusal, each under the caller’s base path', () => {
    const r = compileOciSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY', flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'], syscalls: [{ names: ['nosuch'], action: 'SCMP_ACT_TRACE' }] }, 'aarch64', 'config.json:linux.seccomp');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.refusals.map((x) => x.path).sort()).toEqual(['config.json:linux.seccomp.defaultAction', 'config.json:linux.seccomp.flags[0]', 'config.json:linux.seccomp.syscalls[0].action', 'config.json:linux.seccomp.syscalls[0].names[0]']);
  });

  it('accepts TSYNC with a note, a bigint above 2^53, and exclusive rules with different actions', () => {
    const r = compileOciSeccomp(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        flags: ['SECCOMP_FILTER_FLAG_TSYNC'],
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0xffff_ffff_ffff_fff0n, op: 'SCMP_CMP_GE' }] },
          { names: ['read'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 0, value: 0xffff_ffff_ffff_fff0n, op: 'SCMP_CMP_LT' }, { index: 1, value: 7, op: 'SCMP_CMP_EQ' }] },
        ],
      },
      'x86_64',
    );
    expect(r.ok, JSON.stringify(!r.ok && r.refusals)).toBe(true);
    if (!r.ok) return;
    expect(r.compiled.flags).toEqual(['SECCOMP_FILTER_FLAG_TSYNC']);
    expect(r.compiled.notes.join('\n')).toMatch(/TSYNC accepted: the workload is single-threaded/);
    expect(decide(r.compiled.insns, 'x86_64', 0, [(1n << 64n) - 1n])).toBe(errno(EPERM));
    expect(decide(r.compiled.insns, 'x86_64', 0, [5n, 7n])).toBe(RET.KILL_PROCESS);
    expect(decide(r.compiled.insns, 'x86_64', 0, [5n, 8n])).toBe(RET.ALLOW);
  });
});

// ---- a reference evaluator, from the semantics ------------------------------------------------

interface RefArg {
  index: number;
  value: bigint;
  valueTwo: bigint;
  op: string;
}
interface RefRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: RefArg[];
}
interface RefProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  syscalls: RefRule[];
}

/** seccomp(2) return value of an OCI action (runtime-spec: errnoRet defaults to EPERM). */
function refRet(action: string, e: number | undefined): number {
  const t: Record<string, number> = { SCMP_ACT_KILL: RET.KILL_THREAD, SCMP_ACT_KILL_THREAD: RET.KILL_THREAD, SCMP_ACT_KILL_PROCESS: RET.KILL_PROCESS, SCMP_ACT_TRAP: RET.TRAP, SCMP_ACT_LOG: RET.LOG, SCMP_ACT_ALLOW: RET.ALLOW };
  return action === 'SCMP_ACT_ERRNO' ? errno(e ?? EPERM) : t[action]!;
}

/** seccomp_rule_add(3): each comparison on the full 64-bit argument; MASKED_EQ: value is the mask. */
function refHolds(a: RefArg, x: bigint): boolean {
  switch (a.op) {
    case 'SCMP_CMP_EQ': return x === a.value;
    case 'SCMP_CMP_NE': return x !== a.value;
    case 'SCMP_CMP_LT': return x < a.value;
    case 'SCMP_CMP_LE': return x <= a.value;
    case 'SCMP_CMP_GT': return x > a.value;
    case 'SCMP_CMP_GE': return x >= a.value;
    case 'SCMP_CMP_MASKED_EQ': return (x & a.value) === a.valueTwo;
  }
  throw new Error(a.op);
}

/**
 * The rules of the syscall named `name` that take part: rules whose action is the default
 * action are dropped (libseccomp: EACCES; runc and crun skip them).
 */
function liveRules(p: RefProfile, name: string): RefRule[] {
  const dflt = refRet(p.defaultAction, p.defaultErrnoRet);
  return p.syscalls.filter((s) => s.names.includes(name) && refRet(s.action, s.errnoRet) !== dflt);
}

/** The decision: the first unconditional rule, else a matching conditional one, else the default. */
function refDecide(p: RefProfile, name: string | undefined, args: bigint[]): number {
  const dflt = refRet(p.defaultAction, p.defaultErrnoRet);
  if (name === undefined) return dflt;
  const live = liveRules(p, name);
  const uncond = live.find((s) => !s.args?.length);
  if (uncond) return refRet(uncond.action, uncond.errnoRet);
  const m = live.find((s) => s.args!.every((a) => refHolds(a, args[a.index] ?? 0n)));
  return m ? refRet(m.action, m.errnoRet) : dflt;
}

/** Two conditional rules of one syscall with different actions that both match `args`. */
function refConflict(p: RefProfile, name: string, args: bigint[]): boolean {
  const live = liveRules(p, name);
  if (live.some((s) => !s.args?.length)) return false;
  const rets = new Set(live.filter((s) => s.args!.every((a) => refHolds(a, args[a.index] ?? 0n))).map((s) => refRet(s.action, s.errnoRet)));
  return rets.size > 1;
}

const U64 = (1n << 64n) - 1n;
/** Names the random profiles use; mmap2 exists on 32-bit arches only (skipped). */
const PNAMES = ['read', 'write', 'socket', 'personality', 'mmap2'];
const VALUES = [0n, 1n, 2n, 3n, 5n, 8n, 15n, 16n, 0xffffffffn, HIGH, HIGH + 5n, U64];
const MASKS = [1n, 3n, 0xf0n, 0xffffffffn, 0xffffffff_00000000n, HIGH | 0xfn];
const ACTS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_LOG', 'SCMP_ACT_TRAP', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL'];

const arbArg = (index: number): fc.Arbitrary<RefArg> =>
  fc.oneof(
    fc.record({ index: fc.constant(index), op: fc.constantFrom('SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE'), value: fc.constantFrom(...VALUES), valueTwo: fc.constant(0n) }),
    fc.tuple(fc.constantFrom(...MASKS), fc.bigInt({ min: 0n, max: U64 })).map(([m, d]) => ({ index, op: 'SCMP_CMP_MASKED_EQ', value: m, valueTwo: d & m })),
  );
const arbRule = (pnames: string[]): fc.Arbitrary<RefRule> => fc
  .record({
    names: fc.uniqueArray(fc.constantFrom(...pnames), { minLength: 1, maxLength: 2 }),
    action: fc.constantFrom(...ACTS),
    errnoRet: fc.constantFrom(1, 13),
    indices: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { maxLength: 3 }),
  })
  .chain(({ names, action, errnoRet, indices }) =>
    fc.tuple(...indices.map(arbArg)).map((args) => ({ names, action, ...(action === 'SCMP_ACT_ERRNO' ? { errnoRet } : {}), ...(args.length ? { args } : {}) })),
  );
const arbProfile = (pnames = PNAMES): fc.Arbitrary<RefProfile> => fc.record({
  defaultAction: fc.constantFrom(...ACTS),
  defaultErrnoRet: fc.constantFrom(1, 38),
  syscalls: fc.array(arbRule(pnames), { minLength: 1, maxLength: 6 }),
}).map((p) => (p.defaultAction === 'SCMP_ACT_ERRNO' ? p : { defaultAction: p.defaultAction, syscalls: p.syscalls }));

/** Argument values near every value and mask of the profile, plus random ones. */
function probes(p: RefProfile): bigint[] {
  const s = new Set<bigint>([0n, U64, HIGH, HIGH - 1n]);
  for (const r of p.syscalls) {
    for (const a of r.args ?? []) {
      for (const v of [a.value, a.valueTwo, a.valueTwo | ~a.value & 0xffn, a.value ^ U64]) for (const d of [-1n, 0n, 1n]) if (v + d >= 0n && v + d <= U64) s.add(v + d);
    }
  }
  return [...s];
}
const argVectors = (p: RefProfile, rnd: bigint[][]): bigint[][] => {
  const ps = probes(p);
  const out: bigint[][] = [...rnd];
  for (let i = 0; i < 40; i++) out.push([0, 1, 2].map((k) => ps[(i * 7 + k * 13 + i * k) % ps.length]!));
  for (const a of ps) for (const b of ps.slice(0, 6)) out.push([a, b, a]);
  return out;
};

describe('random profiles against the reference evaluator (fast-check)', () => {
  for (const arch of ARCHES) {
    it(`${arch}: compiled decisions equal the reference's; refusals only where two rules really conflict`, () => {
      const nrOf = (n: string): number | undefined => ({ ...NR[arch], mmap2: undefined })[n];
      let refused = 0;
      let accepted = 0;
      fc.assert(
        fc.property(arbProfile(), fc.array(fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 3, maxLength: 3 }), { maxLength: 5 }), (p, rnd) => {
          const r = compileOciSeccomp(p, arch);
          const vectors = argVectors(p, rnd);
          if (!r.ok) {
            refused++;
            // the only refusal such profiles can earn is a conflict, and its witness is real
            for (const x of r.refusals) {
              const m = /^(\w+): .*both match some arguments, e\.g\. \[([^\]]*)\]/.exec(x.reason);
              expect(m, x.reason).not.toBeNull();
              const args = m![2]!.split(', ').map((h) => BigInt(h));
              expect(refConflict(p, m![1]!, args), x.reason).toBe(true);
            }
            return;
          }
          accepted++;
          const prog = encode(r.compiled.insns);
          for (const name of PNAMES) {
            const nr = nrOf(name);
            if (nr === undefined) continue;
            for (const args of vectors) {
              expect(refConflict(p, name, args), `${name} ${args.map(hexs)}: a conflict the compiler missed`).toBe(false);
              expect(runBpf(prog, { nr, arch: AUDIT[arch], args }), `${name}(${args.map(hexs).join(', ')})`).toBe(refDecide(p, name, args));
            }
          }
          // a syscall the profile does not name, and a number above the table
          expect(runBpf(prog, { nr: NR[arch].getpid!, arch: AUDIT[arch] })).toBe(refDecide(p, undefined, []));
          expect(runBpf(prog, { nr: HIGHEST_OF[arch] + 3, arch: AUDIT[arch] })).toBe(refDecide(p, undefined, []));
        }),
        { numRuns: 300 },
      );
      // both sides of the property were exercised
      expect(refused).toBeGreaterThan(10);
      expect(accepted).toBeGreaterThan(100);
    });
  }

  it('conflict detection is exact: two rules on one argument are refused iff some value satisfies both (exhaustive, small values)', () => {
    // values and masks below 32: any value both comparisons accept has one below 64 as well
    const conds: RefArg[] = [];
    for (const op of ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE']) for (const v of [0n, 1n, 2n, 5n, 20n, 31n]) conds.push({ index: 0, op, value: v, valueTwo: 0n });
    for (const m of [0n, 1n, 3n, 8n, 24n, 31n]) for (const d of new Set([0n, 1n, 5n, 8n, 31n].map((x) => x & m))) conds.push({ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: m, valueTwo: d });
    let refusedPairs = 0;
    for (const a of conds) {
      for (const b of conds) {
        const both = Array.from({ length: 64 }, (_, i) => BigInt(i)).some((x) => refHolds(a, x) && refHolds(b, x));
        const p = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [a] }, { names: ['read'], action: 'SCMP_ACT_LOG', args: [b] }] };
        const r = compileOciSeccomp(p, 'x86_64');
        expect(r.ok, `${a.op} ${a.value}/${a.valueTwo} vs ${b.op} ${b.value}/${b.valueTwo}`).toBe(!both);
        if (!r.ok) refusedPairs++;
      }
    }
    expect(refusedPairs).toBeGreaterThan(1000);
  });

  it('a profile with 470 distinct outcomes still fits, with long jumps where 8 bits do not reach', () => {
    // every syscall of the x86_64 table gets its own errno: no two neighbours merge (the table is
    // read from the generated file's text: this test is about the jumps, not the numbers)
    const text = readFileSync(join(__dirname, '..', '..', '..', 'src', 'core', 'seccomp', 'syscalls.generated.ts'), 'utf8');
    const table = JSON.parse(/SYSCALLS_X86_64[^=]*= (\{.*\});/.exec(text)![1]!) as Record<string, number>;
    const names = Object.keys(table);
    const p = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: names.map((n, i) => ({ names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: 1 + i, ...(i % 5 === 0 ? { args: [{ index: 0, value: i, op: 'SCMP_CMP_NE' }] } : {}) })) };
    const c = compiled(p, 'x86_64');
    expect(c.insns.some((x) => x.code === 0x05)).toBe(true); // BPF_JA
    expect(c.insns.length).toBeLessThanOrEqual(4096);
    const prog = encode(c.insns);
    names.forEach((n, i) => {
      const at = (args: bigint[]): number => runBpf(prog, { nr: table[n]!, arch: AUDIT.x86_64, args });
      expect(at([BigInt(i) + 1n]), n).toBe(errno(1 + i));
      if (i % 5 === 0) expect(at([BigInt(i)]), n).toBe(RET.ALLOW);
    });
  });
});

// ---- composing bvisor's filter in front ------------------------------------------------------

describe('composeFilters: bvisor’s filter, then the OCI profile, as one program', () => {
  const vectors: bigint[][] = [[], [0n, 0n, 0n], [AF_NETLINK, SOCK_RAW, NETLINK_AUDIT], [AF_INET, 1n, 0n], [1n, 0n, 0n], [CLONE_NEWUSER | SIGCHLD], [0x3d0f00n], [PER_LINUX32], [ADDR_NO_RANDOMIZE], [0n, 0x5412n], [0n, 0o4755n, 0o4755n, 0o4755n], [HIGH | 1n, HIGH, HIGH]];
  for (const arch of ARCHES) {
    for (const deny of ['errno', 'log'] as const) {
      it(`${arch}, bvisor deny=${deny}: composed(x) is bvisor(x) unless bvisor allows, then the profile's answer`, () => {
        const bv = compile(policyFor({ spawn: 'descendants', network: { mode: 'deny', connect: [], bind: [] } }, deny), arch).insns;
        const oci = compiled(podmanToOci(PODMAN, arch, PODMAN_CAPS), arch).insns;
        const both = composeFilters(bv, oci);
        expect(both.length).toBeLessThanOrEqual(4096);
        const [pb, po, pc] = [encode(bv), encode(oci), encode(both)];
        let logRows = 0;
        for (let nr = 0; nr <= HIGHEST_OF[arch] + 5; nr++) {
          for (const args of vectors) {
            const d = { nr, arch: AUDIT[arch], args };
            const b = runBpf(pb, d);
            const o = runBpf(po, d);
            // a LOG from bvisor (its log-mode denial) still lets the profile deny
            const want = b === RET.ALLOW ? o : b === RET.LOG ? (o === RET.ALLOW ? RET.LOG : o) : b;
            if (b === RET.LOG) logRows++;
            expect(runBpf(pc, d), `nr ${nr} ${args.map(hexs)}`).toBe(want);
          }
        }
        if (deny === 'log') expect(logRows).toBeGreaterThan(0);
        // x32 and a foreign arch: bvisor kills or denies them itself; in log mode the profile,
        // which admits only this arch's own ABI, kills them
        for (const d of [{ nr: X32_BIT | 1, arch: AUDIT[arch] }, { nr: 1, arch: AUDIT.i386 }]) {
          const b = runBpf(pb, d);
          expect(runBpf(pc, d)).toBe(b === RET.LOG ? RET.KILL_PROCESS : b);
        }
      });
    }
  }

  it('turns a RET ALLOW inside bvisor’s program into a jump to the profile', () => {
    const RET_K = 0x06;
    const bv: Insn[] = [
      { code: 0x20, jt: 0, jf: 0, k: 0 }, // ld nr
      { code: 0x15, jt: 0, jf: 1, k: 7 }, // nr == 7 ?
      { code: RET_K, jt: 0, jf: 0, k: RET.ALLOW }, // an early allow
      { code: 0x15, jt: 0, jf: 1, k: 8 }, // nr == 8 ?
      { code: RET_K, jt: 0, jf: 0, k: errno(EPERM) },
      { code: RET_K, jt: 0, jf: 0, k: RET.ALLOW },
    ];
    const oci = compiled({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 13, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] }, 'x86_64').insns;
    const p = encode(composeFilters(bv, oci));
    const at = (nr: number): number => runBpf(p, { nr, arch: AUDIT.x86_64 });
    expect(at(7)).toBe(errno(13)); // bvisor allowed, the profile did not
    expect(at(8)).toBe(errno(EPERM)); // bvisor's denial keeps its value
    expect(at(39)).toBe(RET.ALLOW); // both allow getpid
  });
});

// ---- libseccomp as the oracle ----------------------------------------------------------------

describe('libseccomp decides alike (test/seccomp-oracle: libseccomp’s own compiler, same interpreter)', () => {
  let oracle: Oracle | null = null;
  let missing = '';
  beforeAll(() => {
    const o = buildOracle();
    if ('missing' in o) missing = o.missing;
    else oracle = o;
  });
  afterAll(() => oracle?.dispose());
  const skip = (): boolean => {
    if (oracle) return false;
    skipOrFail('libseccomp', `the libseccomp oracle cannot run: ${missing}`);
    return true;
  };

  const LIB_RUNS = 80;
  // arguments that reach every branch of podman's rules, and high words
  const vectors: bigint[][] = [[], [0n, 0n, 0n], [AF_NETLINK, SOCK_RAW, NETLINK_AUDIT], [AF_NETLINK, SOCK_RAW, NETLINK_ROUTE], [AF_VSOCK, 1n, 0n], [HIGH | AF_NETLINK, SOCK_RAW, NETLINK_AUDIT], [AF_NETLINK, SOCK_RAW, HIGH | NETLINK_AUDIT], [PER_LINUX32], [UNAME26 | PER_LINUX32], [PERSONALITY_QUERY], [HIGH | PERSONALITY_QUERY], [0x1234n], [U64, U64, U64]];

  for (const arch of ARCHES) {
    for (const optimize of [1, 2]) {
      it(`${arch}: podman's profile, every syscall number × ${vectors.length} argument vectors (libseccomp optimize=${optimize})`, () => {
        if (skip()) return;
        const oci = podmanToOci(PODMAN, arch, PODMAN_CAPS);
        const lib = runOracle(oracle!, oci, arch, optimize);
        // what libseccomp said: every rule added, except those whose action is the default
        // (EACCES, skipped by runc and crun, as by bvisor); no name unknown to it
        const said = [...lib.status.values()];
        expect(said.filter((s) => s !== 'ok' && s !== 'error 13')).toEqual([]);
        const ours = encode(compiled(oci, arch).insns);
        let rows = 0;
        for (let nr = 0; nr <= HIGHEST_OF[arch] + 5; nr++) {
          for (const args of vectors) {
            const d = { nr, arch: AUDIT[arch], args };
            expect(runBpf(ours, d), `nr ${nr} (${args.map(hexs).join(', ')})`).toBe(runBpf(lib.bpf, d));
            rows++;
          }
        }
        expect(rows).toBeGreaterThan(6000);
        // another ABI: both kill, libseccomp the thread (SCMP_ACT_KILL, its default bad-arch
        // action), bvisor the process
        const foreign = { nr: 1, arch: AUDIT.i386 };
        expect([runBpf(ours, foreign), runBpf(lib.bpf, foreign)]).toEqual([RET.KILL_PROCESS, RET.KILL_THREAD]);
      });
    }

    it(`${arch}: random profiles (fast-check): libseccomp decides alike wherever it keeps its own documented semantics`, () => {
      if (skip()) return;
      const nrOf = (n: string): number | undefined => NR[arch][n];
      let compared = 0;
      let libWrong = 0;
      fc.assert(
        fc.property(arbProfile(), (p) => {
          const r = compileOciSeccomp(p, arch);
          if (!r.ok) return; // a conflict: libseccomp's answer would follow its tree order
          const lib = runOracle(oracle!, p as unknown as OciProfile, arch);
          for (const [id, s] of lib.status) expect(['ok', 'error 13'], `rule ${id}: ${s}`).toContain(s);
          const ours = encode(r.compiled.insns);
          let wrongHere = false;
          for (const name of PNAMES) {
            const nr = nrOf(name);
            if (nr === undefined) continue;
            for (const args of argVectors(p, []).slice(0, 120)) {
              const d = { nr, arch: AUDIT[arch], args };
              const [o, l] = [runBpf(ours, d), runBpf(lib.bpf, d)];
              compared++;
              if (o === l) continue;
              // they differ only where libseccomp's program contradicts the semantics it
              // documents (the pinned cases below), and bvisor keeps them
              const want = refDecide(p, name, args);
              expect(o, `${name}(${args.map(hexs).join(', ')}) in ${JSON.stringify(p, (_, v) => (typeof v === 'bigint' ? hexs(v) : v))}`).toBe(want);
              expect(l).not.toBe(want);
              wrongHere = true;
            }
          }
          if (wrongHere) libWrong++;
        }),
        // A fixed seed: libseccomp 2.5.4 has more generator defects than the three pinned
        // below, and a random profile that meets a new one would fail CI by chance. Explore
        // with another seed (BVISOR_FC_SEED) when changing the compiler.
        { numRuns: LIB_RUNS, seed: Number(process.env.BVISOR_FC_SEED ?? 20261201) },
      );
      expect(compared).toBeGreaterThan(1000);
      if (libWrong) console.log(`libseccomp ${oracle!.version} on ${arch}: ${libWrong} of ${LIB_RUNS} random profiles compiled to a filter that contradicts libseccomp's documented semantics (bvisor kept them)`);
    });
  }

  // Defects of libseccomp 2.5.4's BPF generator found by the property above, reduced by hand.
  // bvisor's answer is asserted (from the semantics); libseccomp's is printed, so that a fixed
  // libseccomp shows up in the log without failing the run.
  const defects: Array<{ arch: Arch; what: string; p: OciProfile; call: string; args: bigint[]; want: number }> = [
    {
      arch: 'aarch64',
      what: 'a rule for a name this arch lacks (mmap2) and an argument rule: the syscall-number load is lost, so the arch word is compared with read’s number and every syscall gets the default',
      p: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mmap2'], action: 'SCMP_ACT_ERRNO' }, { names: ['read'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] }] },
      call: 'read',
      args: [0n],
      want: RET.KILL_PROCESS,
    },
    {
      arch: 'x86_64',
      what: 'two LOG rules on write, the second also testing argument 1: after the mask on argument 1 fails, argument 0 is compared without being reloaded',
      p: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['write'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 5, op: 'SCMP_CMP_GE' }] }, { names: ['write'], action: 'SCMP_ACT_LOG', args: [{ index: 1, value: 1, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_LE' }] }] },
      call: 'write',
      args: [8n, 0xf9n],
      want: RET.LOG, // 8 >= 5: the first rule matches
    },
    {
      arch: 'aarch64',
      what: 'an unsatisfiable LT 0 rule beside GE 2^64-1: the high-word test of GE is made on the low word',
      p: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_LOG', args: [{ index: 2, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 0, op: 'SCMP_CMP_LT' }] }, { names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 18446744073709551615n, op: 'SCMP_CMP_GE' }] }] },
      call: 'read',
      args: [0xffffffffn],
      want: RET.ALLOW, // 0xffffffff < 2^64-1, and nothing is below 0
    },
  ];
  for (const x of defects) {
    it(`${x.arch}: bvisor decides by the semantics where libseccomp 2.5.4 does not: ${x.what}`, () => {
      const d = { nr: NR[x.arch][x.call]!, arch: AUDIT[x.arch], args: x.args };
      expect(runBpf(encode(compiled(x.p, x.arch).insns), d)).toBe(x.want);
      if (skip()) return;
      const lib = runBpf(runOracle(oracle!, x.p, x.arch).bpf, d);
      console.log(`libseccomp ${oracle!.version}, ${x.arch} ${x.call}(${x.args.map(hexs).join(', ')}): ${lib === x.want ? 'agrees (fixed?)' : `answers 0x${lib.toString(16)}, not 0x${x.want.toString(16)}`}`);
    });
  }
});
