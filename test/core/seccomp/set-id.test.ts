// No workload makes a set-user-ID or set-group-ID file (systemd's RestrictSUIDSGID): every call
// that sets a mode is refused when the mode holds S_ISUID or S_ISGID, and allowed otherwise, on
// both arches, decided by the BPF interpreter. Written from the man pages, not from policy.ts:
// syscall numbers from syscall_64.tbl and asm-generic/unistd.h (aarch64 has only the *at forms),
// which argument is the mode (chmod(2), open(2), mkdir(2), mknod(2)), the mode bits (inode(7):
// S_ISUID 04000, S_ISGID 02000, S_ISVTX 01000, S_IFIFO 010000), and open(2)'s rule that the mode
// is used only with O_CREAT or O_TMPFILE (asm-generic/fcntl.h: O_CREAT 0100, __O_TMPFILE
// 020000000; O_DIRECTORY is 0200000 on x86_64, 040000 on arm64).
import { describe, expect, it } from 'vitest';
import { compile, encode } from '../../../src/core/seccomp/compile.js';
import { policyFor } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { SECCOMP_RET as RET, AUDIT_ARCH, ERRNO, type Arch } from '../../helpers/syscalls.js';

const DENY = RET.ERRNO | ERRNO.EPERM;
const S_ISUID = 0o4000n;
const S_ISGID = 0o2000n;
const S_ISVTX = 0o1000n;
const S_IFIFO = 0o10000n;
const O_RDONLY = 0n;
const O_WRONLY = 1n;
const O_RDWR = 2n;
const O_CREAT = 0o100n;
const O_TRUNC = 0o1000n;
const O_TMPFILE: Record<Arch, bigint> = { x86_64: 0o20000000n | 0o200000n, aarch64: 0o20000000n | 0o40000n };
/** A user pointer (a path) or a directory fd: its low word holds no mode bit. */
const PTR = 0x7ffd_0000_1000n;
const AT_FDCWD = BigInt.asUintN(64, -100n);

interface ModeCall {
  name: string;
  nr: Record<Arch, number | null>;
  /** The arguments, with the mode put in its place. */
  args: (mode: bigint, arch: Arch) => bigint[];
}
const CALLS: ModeCall[] = [
  { name: 'chmod', nr: { x86_64: 90, aarch64: null }, args: (m) => [PTR, m] },
  { name: 'fchmod', nr: { x86_64: 91, aarch64: 52 }, args: (m) => [3n, m] },
  { name: 'fchmodat', nr: { x86_64: 268, aarch64: 53 }, args: (m) => [AT_FDCWD, PTR, m] },
  { name: 'fchmodat2', nr: { x86_64: 452, aarch64: 452 }, args: (m) => [AT_FDCWD, PTR, m, 0n] },
  { name: 'creat', nr: { x86_64: 85, aarch64: null }, args: (m) => [PTR, m] },
  { name: 'open(O_CREAT)', nr: { x86_64: 2, aarch64: null }, args: (m) => [PTR, O_CREAT | O_WRONLY | O_TRUNC, m] },
  { name: 'open(O_TMPFILE)', nr: { x86_64: 2, aarch64: null }, args: (m, a) => [PTR, O_TMPFILE[a] | O_RDWR, m] },
  { name: 'openat(O_CREAT)', nr: { x86_64: 257, aarch64: 56 }, args: (m) => [AT_FDCWD, PTR, O_CREAT | O_RDWR, m] },
  { name: 'openat(O_TMPFILE)', nr: { x86_64: 257, aarch64: 56 }, args: (m, a) => [AT_FDCWD, PTR, O_TMPFILE[a] | O_WRONLY, m] },
  { name: 'mkdir', nr: { x86_64: 83, aarch64: null }, args: (m) => [PTR, m] },
  { name: 'mkdirat', nr: { x86_64: 258, aarch64: 34 }, args: (m) => [AT_FDCWD, PTR, m] },
  { name: 'mknod', nr: { x86_64: 133, aarch64: null }, args: (m) => [PTR, S_IFIFO | m, 0n] },
  { name: 'mknodat', nr: { x86_64: 259, aarch64: 33 }, args: (m) => [AT_FDCWD, PTR, S_IFIFO | m, 0n] },
];

const launch = { spawn: 'descendants' as const, network: { mode: 'host' as const, connect: [], bind: [] } };
const prog = (arch: Arch, deny: 'errno' | 'kill' | 'log' = 'errno', openat2: 'allow' | 'enosys' = 'enosys'): Uint8Array => encode(compile(policyFor(launch, deny, openat2), arch).insns);
const run = (p: Uint8Array, arch: Arch, nr: number, args: bigint[]): number => runBpf(p, { nr, arch: AUDIT_ARCH[arch], args });

describe('set-ID modes are refused wherever a mode is set', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    const p = prog(arch);
    for (const c of CALLS) {
      const nr = c.nr[arch];
      if (nr === null) continue;
      it(`${arch} ${c.name}`, () => {
        expect(run(p, arch, nr, c.args(0o4755n, arch)), 'S_ISUID').toBe(DENY);
        expect(run(p, arch, nr, c.args(0o2755n, arch)), 'S_ISGID').toBe(DENY);
        expect(run(p, arch, nr, c.args(S_ISUID | S_ISGID, arch)), 'both, no permission bits').toBe(DENY);
        expect(run(p, arch, nr, c.args(0o755n, arch)), 'plain').toBe(RET.ALLOW);
        expect(run(p, arch, nr, c.args(0o600n, arch)), 'plain').toBe(RET.ALLOW);
        expect(run(p, arch, nr, c.args(S_ISVTX | 0o777n, arch)), 'the sticky bit is not a set-ID bit (/tmp is 01777)').toBe(RET.ALLOW);
      });
    }
  }
});

describe('open and openat look at the mode only when they create', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: without O_CREAT or O_TMPFILE the mode argument is ignored (open(2)), so whatever it holds is allowed`, () => {
      const p = prog(arch);
      for (const flags of [O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_TRUNC]) {
        if (arch === 'x86_64') expect(run(p, arch, 2, [PTR, flags, 0o6777n]), `open flags ${flags}`).toBe(RET.ALLOW);
        expect(run(p, arch, arch === 'x86_64' ? 257 : 56, [AT_FDCWD, PTR, flags, 0o6777n]), `openat flags ${flags}`).toBe(RET.ALLOW);
      }
    });
  }
});

describe('openat2 carries its mode in memory', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: ENOSYS (libc falls back to openat) unless the caller allows it`, () => {
      // struct open_how is in memory: whatever the registers hold, the answer is the same
      for (const args of [[AT_FDCWD, PTR, PTR, 24n], [0n, 0n, 0n, 0n]]) {
        expect(run(prog(arch), arch, 437, args)).toBe(RET.ERRNO | ERRNO.ENOSYS);
        expect(run(prog(arch, 'kill'), arch, 437, args), 'ENOSYS whatever the deny action').toBe(RET.ERRNO | ERRNO.ENOSYS);
        expect(run(prog(arch, 'errno', 'allow'), arch, 437, args)).toBe(RET.ALLOW);
      }
    });
    it(`${arch}: by default (no deny action, no openat2 choice given) denials are EPERM and openat2 is ENOSYS`, () => {
      const p = encode(compile(policyFor(launch), arch).insns);
      expect(run(p, arch, 437, [AT_FDCWD, PTR, PTR, 24n])).toBe(RET.ERRNO | ERRNO.ENOSYS);
      expect(run(p, arch, arch === 'x86_64' ? 91 : 52, [3n, 0o4755n])).toBe(DENY);
      expect(policyFor(launch).deny).toBe('errno');
    });
  }
});

// No set-ID file is a guarantee of every launch (docs/security.md), not one of the denylist's
// rows: deny: kill kills for it, and deny: log, which lets the denylist's calls through, does not
// let these through (a bundle's own `syscalls: { deny: log }` would otherwise plant set-ID
// programs of a grant's owner on the host).
describe('the deny action applies to set-ID modes too, but never as a logged pass', () => {
  it.each([
    ['kill', RET.KILL_PROCESS],
    ['log', DENY],
  ] as const)('%s', (deny, ret) => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const p = prog(arch, deny);
      for (const c of CALLS) {
        const nr = c.nr[arch];
        if (nr === null) continue;
        expect(run(p, arch, nr, c.args(0o4755n, arch)), `${arch} ${c.name}`).toBe(ret);
        expect(run(p, arch, nr, c.args(0o755n, arch)), `${arch} ${c.name}`).toBe(RET.ALLOW);
      }
    }
  });
});
