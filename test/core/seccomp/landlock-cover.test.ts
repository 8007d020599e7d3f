// The seccomp rules that cover what landlock cannot restrict below an ABI (docs/landlock.md):
// below ABI 3 truncate(2) and open/openat with O_RDONLY|O_TRUNC (a file reached through
// /proc/self/fd on the host's mount, beyond the workload's read-only binds); with network ports
// below ABI 6, unix sockets (the host's abstract ones are reachable without a network
// namespace). Decided by a BPF interpreter; syscall numbers, flags and return values are written
// here from syscall_64.tbl, asm-generic/unistd.h, asm-generic/fcntl.h and seccomp(2).
import { describe, expect, it } from 'vitest';
import { compile, encode } from '../../../src/core/seccomp/compile.js';
import { policyFor } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { SECCOMP_RET as RET, AUDIT_ARCH, ERRNO, AF, type Arch } from '../../helpers/syscalls.js';

const NR: Record<Arch, Record<string, number | undefined>> = {
  x86_64: { truncate: 76, ftruncate: 77, open: 2, openat: 257, socket: 41, socketpair: 53 },
  aarch64: { truncate: 45, ftruncate: 46, open: undefined, openat: 56, socket: 198, socketpair: 199 },
};
/** asm-generic/fcntl.h (the same on x86_64 and aarch64). */
const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, TRUNC: 0o1000, CLOEXEC: 0o2000000, PATH: 0o10000000 } as const;
const SOCK_STREAM = 1;
const DENY = RET.ERRNO | ERRNO.EPERM;
const NET = { mode: 'ports' as const, connect: [443], bind: [] };

function program(arch: Arch, abi: number, net: 'deny' | 'ports' = 'deny'): (name: string, args?: number[]) => number {
  const prog = encode(compile(policyFor({ spawn: 'deny', network: net === 'ports' ? NET : { mode: 'deny', connect: [], bind: [] }, landlockAbi: abi }), arch).insns);
  return (name, args = []) => {
    const nr = NR[arch][name];
    if (nr === undefined) throw new Error(`${name} not on ${arch}`);
    return runBpf(prog, { nr, arch: AUDIT_ARCH[arch], args: args.map(BigInt) });
  };
}

describe('seccomp covers what landlock cannot restrict below its ABI', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    for (const abi of [0, 1, 2, 3, 4, 5, 6, 7]) {
      it(`${arch} ABI ${abi}: truncate by path${abi < 3 ? ' is denied' : ' is landlock’s'}`, () => {
        const decide = program(arch, abi);
        const below = abi < 3;
        expect(decide('truncate', [0, 0]), 'truncate(2)').toBe(below ? DENY : RET.ALLOW);
        // openat(dirfd, path, flags): the flags are argument 2.
        expect(decide('openat', [0, 0, O.RDONLY | O.TRUNC]), 'O_RDONLY|O_TRUNC').toBe(below ? DENY : RET.ALLOW);
        expect(decide('openat', [0, 0, O.RDONLY | O.TRUNC | O.CLOEXEC | O.CREAT]), 'O_RDONLY|O_TRUNC|O_CLOEXEC|O_CREAT').toBe(below ? DENY : RET.ALLOW);
        // What landlock does check at every ABI (WRITE_FILE, READ_FILE) stays allowed.
        for (const flags of [O.RDONLY, O.RDONLY | O.CLOEXEC, O.WRONLY | O.TRUNC, O.RDWR | O.TRUNC | O.CREAT, O.WRONLY | O.CREAT]) expect(decide('openat', [0, 0, flags]), `openat flags 0${flags.toString(8)}`).toBe(RET.ALLOW);
        // ftruncate needs a descriptor open for writing, which landlock checked when it was opened.
        expect(decide('ftruncate', [0, 0])).toBe(RET.ALLOW);
        if (arch === 'x86_64') {
          // open(path, flags, mode): the flags are argument 1.
          expect(decide('open', [0, O.RDONLY | O.TRUNC])).toBe(below ? DENY : RET.ALLOW);
          expect(decide('open', [0, O.WRONLY | O.TRUNC])).toBe(RET.ALLOW);
        }
      });

      it(`${arch} ABI ${abi}, network ports: unix sockets${abi < 6 ? ' are denied' : ' are scoped by landlock instead'}`, () => {
        const decide = program(arch, abi, 'ports');
        expect(decide('socket', [AF.UNIX, SOCK_STREAM, 0]), 'socket(AF_UNIX)').toBe(abi < 6 ? DENY : RET.ALLOW);
        expect(decide('socket', [AF.INET, SOCK_STREAM, 0]), 'TCP').toBe(RET.ALLOW);
        expect(decide('socket', [AF.INET6, SOCK_STREAM, 0]), 'TCP6').toBe(RET.ALLOW);
        expect(decide('socket', [AF.INET, 2 /* SOCK_DGRAM */, 0]), 'UDP').toBe(DENY);
        expect(decide('socket', [AF.NETLINK, 3, 0]), 'netlink').toBe(DENY);
        // An unnamed pair reaches nothing outside.
        expect(decide('socketpair', [AF.UNIX, SOCK_STREAM, 0, 0])).toBe(RET.ALLOW);
      });
    }
  }
});
