// Observe mode (bvisor learn) lets a notified call through only when the holder's BPF evaluation
// of the plain deny program says ALLOW (native-shim/src/notify.c run_bpf). That evaluation must be
// the kernel's: compared here, over whole compiled programs and every syscall number, with the
// independent interpreter of test/helpers/bpf.ts (written from linux/filter.h). Malformed
// programs, which the kernel's checker would refuse, must deny, never allow.
import { describe, expect, it } from 'vitest';
import { shim } from '../../src/backends/linux/ffi/shim.js';
import { compile, encode, AUDIT_ARCH, type Arch } from '../../src/core/seccomp/compile.js';
import { policyFor } from '../../src/core/seccomp/policy.js';
import { runBpf } from '../helpers/bpf.js';

/** struct seccomp_data (linux/seccomp.h): int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]. */
function data(nr: number, arch: number, args: bigint[]): Uint8Array {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, nr, true);
  dv.setUint32(4, arch >>> 0, true);
  args.forEach((a, i) => dv.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  return b;
}

const ARGS: bigint[][] = [
  [0n, 0n, 0n, 0n, 0n, 0n],
  [0x10000000n, 0n, 0n, 0n, 0n, 0n], // CLONE_NEWUSER (sched.h)
  [0x10000n, 0n, 0n, 0n, 0n, 0n], // CLONE_THREAD
  [2n, 1n, 0n, 0n, 0n, 0n], // AF_INET, SOCK_STREAM (socket(2))
  [2n, 2n, 0n, 0n, 0n, 0n], // AF_INET, SOCK_DGRAM
  [1n, 0x5412n, 0o4755n, 0o4755n, 0n, 0n], // TIOCSTI as ioctl's request; set-user-ID modes
  [0xffffffffn, 0o1001n, 0o1000n, 0o6000n, 0n, 0n], // O_WRONLY|O_TRUNC and O_TRUNC as open flags
  [0x0040000n, 0n, 0o100n, 0o4000n, 0n, 0n], // ADDR_NO_RANDOMIZE; O_CREAT with S_ISUID
  [2n, 1n, 262n, 0x20000000n, 0n, 0n], // AF_INET, SOCK_STREAM, IPPROTO_MPTCP; MSG_FASTOPEN as sendto's flags
  [10n, 1n, 0x20000000n, 0n, 0n, 0n], // AF_INET6 stream; MSG_FASTOPEN as sendmsg's flags
];

const SHAPES = [
  { spawn: 'deny', network: { mode: 'deny', connect: [], bind: [] }, landlockAbi: 7 },
  { spawn: 'threads', network: { mode: 'loopback', connect: [], bind: [] }, landlockAbi: 2 },
  { spawn: 'descendants', network: { mode: 'ports', connect: [443], bind: [] }, landlockAbi: 5 },
  { spawn: 'descendants', network: { mode: 'ports', connect: [443], bind: [8080] }, landlockAbi: 7 },
  { spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] }, landlockAbi: 7 },
] as const;

describe('the holder’s BPF evaluation (observe mode) decides as the kernel would', () => {
  for (const arch of ['x86_64', 'aarch64'] as Arch[]) {
    it(`${arch}: every syscall number and argument shape, every policy shape, both arches in the data`, () => {
      const s = shim();
      let compared = 0;
      for (const shape of SHAPES) {
        const prog = encode(compile(policyFor(shape as never, 'errno'), arch).insns);
        for (const a of [AUDIT_ARCH[arch], AUDIT_ARCH[arch === 'x86_64' ? 'aarch64' : 'x86_64']]) {
          for (let nr = 0; nr < 520; nr++) {
            for (const args of ARGS) {
              const want = runBpf(prog, { nr, arch: a, args }) >>> 0;
              const got = s.bv_bpf_eval(prog, prog.length / 8, data(nr, a, args)) >>> 0;
              if (got !== want) expect({ shape, nr, arch: a, args: args.map(String), got: got.toString(16) }).toEqual({ shape, nr, arch: a, args: args.map(String), got: want.toString(16) });
              compared++;
            }
          }
          // x32 numbers (bit 30) on x86_64
          const x32 = 0x40000000 | 39;
          expect(s.bv_bpf_eval(prog, prog.length / 8, data(x32, a, ARGS[0]!)) >>> 0).toBe(runBpf(prog, { nr: x32, arch: a, args: ARGS[0]! }) >>> 0);
        }
      }
      expect(compared).toBe(SHAPES.length * 2 * 520 * ARGS.length);
    });
  }

  it('a program the kernel would refuse denies (EPERM), never allows: a jump past the end, a fall-through, an unknown opcode', () => {
    const s = shim();
    const ERRNO_EPERM = 0x00050000 | 1; // SECCOMP_RET_ERRNO | EPERM (seccomp.h, errno-base.h)
    const ALLOW = 0x7fff0000; // SECCOMP_RET_ALLOW
    const insn = (code: number, jt: number, jf: number, k: number): number[] => [code & 0xff, code >> 8, jt, jf, k & 0xff, (k >> 8) & 0xff, (k >> 16) & 0xff, (k >>> 24) & 0xff];
    const prog = (...xs: number[][]): Uint8Array => new Uint8Array(xs.flat());
    const d = data(39, AUDIT_ARCH.x86_64, ARGS[0]!);
    // BPF_JMP|BPF_JA (0x05) with k far past the end, then RET ALLOW
    expect(s.bv_bpf_eval(prog(insn(0x05, 0, 0, 0x7fffffff), insn(0x06, 0, 0, ALLOW)), 2, d) >>> 0).toBe(ERRNO_EPERM);
    expect(s.bv_bpf_eval(prog(insn(0x05, 0, 0, 0xfffffff0), insn(0x06, 0, 0, ALLOW)), 2, d) >>> 0).toBe(ERRNO_EPERM);
    // load nr (39), then BPF_JMP|BPF_JEQ|BPF_K (0x15) on 39 whose true branch leaves the program
    expect(s.bv_bpf_eval(prog(insn(0x20, 0, 0, 0), insn(0x15, 5, 0, 39), insn(0x06, 0, 0, ALLOW)), 3, d) >>> 0).toBe(ERRNO_EPERM);
    // no RET at the end: BPF_LD|BPF_W|BPF_ABS (0x20) only
    expect(s.bv_bpf_eval(prog(insn(0x20, 0, 0, 0)), 1, d) >>> 0).toBe(ERRNO_EPERM);
    // an opcode seccomp does not allow (BPF_LD|BPF_B|BPF_IND, 0x50)
    expect(s.bv_bpf_eval(prog(insn(0x50, 0, 0, 0), insn(0x06, 0, 0, ALLOW)), 2, d) >>> 0).toBe(ERRNO_EPERM);
    // a load outside seccomp_data (k = 64)
    expect(s.bv_bpf_eval(prog(insn(0x20, 0, 0, 64), insn(0x06, 0, 0, ALLOW)), 2, d) >>> 0).toBe(ERRNO_EPERM);
    // and the well-formed twin allows
    expect(s.bv_bpf_eval(prog(insn(0x20, 0, 0, 0), insn(0x06, 0, 0, ALLOW)), 2, d) >>> 0).toBe(ALLOW);
  });
});
