// The seccomp compiler against a BPF interpreter, over decision tables: for every policy the
// planner can produce (spawn × network × deny action), on both arches, each row (arch,
// syscall, args) gets the expected action. Every expected value (which syscalls are denied,
// their numbers, the seccomp return values, the audit arches, the clone and socket constants)
// comes from test/helpers/syscalls.ts, written from the man pages and the kernel's tables, never
// from bvisor's own constants: a row dropped from the policy or a wrong number in the compiler's
// tables shows up as a row that does not match. Rows for syscalls newer than the headers,
// numbers above the tables and clone's namespace flags are in newer.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compile, encode, ruleCount, TABLES } from '../../../src/core/seccomp/compile.js';
import { policyFor } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { MUST_DENY, OTHER_NR, SECCOMP_RET as RET, AUDIT_ARCH, ERRNO, CLONE_THREAD, AF, IPPROTO, TTY_IOCTL, nr as nrOf, type Arch } from '../../helpers/syscalls.js';

const ARCHES: Arch[] = ['x86_64', 'aarch64'];
const DENY = RET.ERRNO | ERRNO.EPERM;
const ENOSYS = ERRNO.ENOSYS;
const { UNIX: AF_UNIX, INET: AF_INET, INET6: AF_INET6 } = AF;

function decide(arch: Arch, prog: Uint8Array, name: string, args: bigint[] = []): number {
  const nr = nrOf(arch, name);
  if (nr === undefined) throw new Error(`${name} not on ${arch}`);
  return runBpf(prog, { nr, arch: AUDIT_ARCH[arch], args });
}

const SPAWNS = ['deny', 'threads', 'descendants'] as const;
const NETS = ['deny', 'loopback', 'host', 'ports'] as const;

describe('seccomp compiler (decision tables through a BPF interpreter)', () => {
  for (const arch of ARCHES) {
    for (const spawn of SPAWNS) {
      for (const net of NETS) {
        it(`${arch} spawn=${spawn} network=${net}`, () => {
          const c = compile(policyFor({ spawn, network: { mode: net, connect: [], bind: [] } }), arch);
          const prog = encode(c.insns);
          const has = (n: string): boolean => nrOf(arch, n) !== undefined;
          // ordinary syscalls are allowed
          for (const n of ['read', 'write', 'openat', 'close', 'mmap', 'exit_group', 'execve', 'getpid']) if (has(n)) expect(decide(arch, prog, n), n).toBe(RET.ALLOW);
          // what every workload is refused (the independent table)
          for (const r of MUST_DENY) {
            if (r[arch] === null) continue;
            expect(decide(arch, prog, r.name), `${r.name}: ${r.why}`).toBe(DENY);
          }
          // personality: query and plain values allowed, ASLR-weakening flags refused
          expect(decide(arch, prog, 'personality', [0xffffffffn])).toBe(RET.ALLOW); // a query
          expect(decide(arch, prog, 'personality', [0n])).toBe(RET.ALLOW);
          expect(decide(arch, prog, 'personality', [0x0040000n])).toBe(DENY);
          // ioctl: TIOCSTI refused, TCGETS allowed
          expect(decide(arch, prog, 'ioctl', [0n, 0x5412n])).toBe(DENY);
          expect(decide(arch, prog, 'ioctl', [0n, 0x5401n])).toBe(RET.ALLOW);
          // spawn
          const cloneThread = BigInt(CLONE_THREAD | 0x100 | 0x800);
          const cloneFork = 0x11n; // SIGCHLD
          if (spawn === 'deny') {
            expect(decide(arch, prog, 'clone', [cloneThread])).toBe(DENY);
            expect(decide(arch, prog, 'clone', [cloneFork])).toBe(DENY);
            expect(decide(arch, prog, 'clone3')).toBe(DENY);
            if (has('fork')) expect(decide(arch, prog, 'fork')).toBe(DENY);
            if (has('vfork')) expect(decide(arch, prog, 'vfork')).toBe(DENY);
          } else if (spawn === 'threads') {
            expect(decide(arch, prog, 'clone', [cloneThread])).toBe(RET.ALLOW);
            expect(decide(arch, prog, 'clone', [cloneFork])).toBe(DENY);
            expect(decide(arch, prog, 'clone3')).toBe(RET.ERRNO | ENOSYS);
            if (has('fork')) expect(decide(arch, prog, 'fork')).toBe(DENY);
          } else {
            expect(decide(arch, prog, 'clone', [cloneFork])).toBe(RET.ALLOW);
            expect(decide(arch, prog, 'clone', [cloneThread])).toBe(RET.ALLOW);
            expect(decide(arch, prog, 'clone', [cloneFork | 0x10000000n /* CLONE_NEWUSER */])).toBe(DENY);
            expect(decide(arch, prog, 'clone3')).toBe(RET.ERRNO | ENOSYS);
          }
          // network
          const sock = (dom: number, type: number): number => decide(arch, prog, 'socket', [BigInt(dom), BigInt(type)]);
          expect(sock(AF_UNIX, 1)).toBe(RET.ALLOW);
          if (net === 'deny') {
            expect(sock(AF_INET, 1)).toBe(DENY);
            expect(sock(AF_INET6, 2)).toBe(DENY);
            expect(sock(16 /* AF_NETLINK */, 3)).toBe(DENY);
          } else if (net === 'ports') {
            expect(sock(AF_INET, 1)).toBe(RET.ALLOW);
            expect(sock(AF_INET, 1 | 0x80000 /* SOCK_CLOEXEC */)).toBe(RET.ALLOW);
            expect(sock(AF_INET, 2 /* DGRAM */)).toBe(DENY);
            expect(sock(AF_INET6, 3 /* RAW */)).toBe(DENY);
            expect(sock(16, 3)).toBe(DENY);
          } else {
            expect(sock(AF_INET, 2)).toBe(RET.ALLOW);
          }
        });
      }
    }
  }

  it('kills on a foreign architecture', () => {
    const prog = encode(compile(policyFor({ spawn: 'deny', network: { mode: 'deny', connect: [], bind: [] } }), 'x86_64').insns);
    expect(runBpf(prog, { nr: 0, arch: AUDIT_ARCH.aarch64 })).toBe(RET.KILL_PROCESS);
    expect(runBpf(prog, { nr: 0, arch: AUDIT_ARCH.i386 })).toBe(RET.KILL_PROCESS);
  });

  it('refuses the x32 ABI on x86_64, whatever the number', () => {
    const prog = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } }), 'x86_64').insns);
    fc.assert(fc.property(fc.integer({ min: 0, max: 1023 }), (nr) => runBpf(prog, { nr: 0x40000000 | nr, arch: AUDIT_ARCH.x86_64 }) === DENY));
  });

  // landlock's port rules cover a socket only when its protocol is TCP (the kernel's sk_is_tcp:
  // SOCK_STREAM and IPPROTO_TCP). An MPTCP or SCTP stream socket is SOCK_STREAM too, and would
  // connect and bind past every port rule: found by attack, an MPTCP connect reached a host
  // listener on an unlisted port. Protocol 0 is the family's default for a stream, TCP (ip(7)).
  it('network ports: an IP stream socket only of protocol 0 or IPPROTO_TCP, at every landlock ABI', () => {
    for (const arch of ARCHES) {
      for (const landlockAbi of [4, 5, 6, 7]) {
        const prog = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'ports', connect: [443], bind: [] }, landlockAbi }), arch).insns);
        const sock = (dom: number, type: number, protocol: number): number => decide(arch, prog, 'socket', [BigInt(dom), BigInt(type), BigInt(protocol)]);
        for (const dom of [AF_INET, AF_INET6]) {
          expect(sock(dom, 1, 0), `abi ${landlockAbi} ${dom} stream 0`).toBe(RET.ALLOW);
          expect(sock(dom, 1 | 0x80000 /* SOCK_CLOEXEC */, IPPROTO.TCP), `abi ${landlockAbi} ${dom} stream TCP`).toBe(RET.ALLOW);
          expect(sock(dom, 1, IPPROTO.MPTCP), `abi ${landlockAbi} ${dom} stream MPTCP`).toBe(DENY);
          expect(sock(dom, 1 | 0x800 /* SOCK_NONBLOCK */, IPPROTO.SCTP), `abi ${landlockAbi} ${dom} stream SCTP`).toBe(DENY);
          // the protocol is an int: only its low 32 bits count, as the kernel reads them
          expect(decide(arch, prog, 'socket', [BigInt(dom), 1n, (1n << 32n) | BigInt(IPPROTO.MPTCP)]), 'high bits ignored').toBe(DENY);
          expect(decide(arch, prog, 'socket', [BigInt(dom), 1n, 1n << 32n]), 'high bits ignored: protocol 0').toBe(RET.ALLOW);
        }
        // unix sockets are not IP: their protocol is not looked at here
        if (landlockAbi >= 6) expect(sock(AF_UNIX, 1, 0)).toBe(RET.ALLOW);
      }
      // where there is a network namespace or no port filter, the protocol is not restricted
      const host = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } }), arch).insns);
      expect(decide(arch, host, 'socket', [BigInt(AF_INET), 1n, BigInt(IPPROTO.MPTCP)])).toBe(RET.ALLOW);
    }
  });

  // In ports mode landlock sees connect(2) and bind(2); a send with MSG_FASTOPEN (0x20000000,
  // send(2)) connects as it sends, and listen(2) on a socket never bound binds an ephemeral port
  // (listen(2): "the socket is bound to an ephemeral port" … via autobind). Both are refused where
  // landlock may not look; listen only when no bind port is granted.
  it('network ports: no TCP Fast Open send; no listen without a bind port', () => {
    const MSG_FASTOPEN = 0x20000000n;
    for (const arch of ARCHES) {
      for (const bind of [[], [8080]]) {
        const prog = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'ports', connect: [443], bind }, landlockAbi: 7 }), arch).insns);
        expect(decide(arch, prog, 'sendto', [3n, 0n, 1n, MSG_FASTOPEN, 0n, 16n]), 'sendto TFO').toBe(DENY);
        expect(decide(arch, prog, 'sendto', [3n, 0n, 1n, 0x40n /* MSG_DONTWAIT */, 0n, 0n]), 'sendto').toBe(RET.ALLOW);
        expect(decide(arch, prog, 'sendmsg', [3n, 0n, MSG_FASTOPEN | 0x4000n]), 'sendmsg TFO').toBe(DENY);
        expect(decide(arch, prog, 'sendmsg', [3n, 0n, 0n]), 'sendmsg').toBe(RET.ALLOW);
        expect(decide(arch, prog, 'sendmmsg', [3n, 0n, 1n, MSG_FASTOPEN]), 'sendmmsg TFO').toBe(DENY);
        expect(decide(arch, prog, 'listen', [3n, 16n]), `listen with bind ${JSON.stringify(bind)}`).toBe(bind.length ? RET.ALLOW : DENY);
      }
      // elsewhere neither is refused
      const host = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } }), arch).insns);
      expect(decide(arch, host, 'sendto', [3n, 0n, 1n, MSG_FASTOPEN, 0n, 16n])).toBe(RET.ALLOW);
      expect(decide(arch, host, 'listen', [3n, 16n])).toBe(RET.ALLOW);
    }
  });

  // deny: log lets the default denylist's calls through, logged; the rows a guarantee beyond the
  // denylist rests on keep EPERM: the terminal (stdio, at every landlock ABI), io_uring (whose
  // operations no row sees: an openat with S_ISUID, a socket of any protocol), set-ID modes
  // (set-id.test.ts) and the x32 ABI (compile-limits.test.ts).
  it('deny: log weakens the denylist, not the terminal, io_uring or keyring rows', () => {
    for (const arch of ARCHES) {
      const log = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } }, 'log'), arch).insns);
      expect(decide(arch, log, 'ioctl', [0n, BigInt(TTY_IOCTL.TIOCSTI)]), 'TIOCSTI').toBe(DENY);
      expect(decide(arch, log, 'ioctl', [0n, BigInt(TTY_IOCTL.TIOCLINUX)]), 'TIOCLINUX').toBe(DENY);
      expect(decide(arch, log, 'ioctl', [0n, BigInt(TTY_IOCTL.TIOCSETD)]), 'TIOCSETD').toBe(DENY);
      expect(decide(arch, log, 'ioctl', [0n, BigInt(TTY_IOCTL.TIOCEXCL)]), 'TIOCEXCL').toBe(DENY);
      // A console's ioctls (ioctl_console(2)): KDSKBMODE, KDSETMODE, VT_ACTIVATE.
      for (const n of [0x4b45, 0x4b3a, 0x5606]) expect(decide(arch, log, 'ioctl', [0n, BigInt(n)]), n.toString(16)).toBe(DENY);
      // Another driver's number with the same type byte and size bits (V4L2's VIDIOC_QUERYCAP).
      expect(decide(arch, log, 'ioctl', [0n, 0x80685600n]), 'VIDIOC_QUERYCAP').toBe(RET.ALLOW);
      expect(decide(arch, log, 'ioctl', [0n, BigInt(TTY_IOCTL.TCGETS)]), 'TCGETS').toBe(RET.ALLOW);
      for (const n of ['io_uring_setup', 'io_uring_enter', 'io_uring_register']) expect(decide(arch, log, n), n).toBe(DENY);
      // the keyring: the workload keeps bvisor's session keyring, whose keys it would possess
      for (const n of ['keyctl', 'add_key', 'request_key']) expect(decide(arch, log, n), n).toBe(DENY);
      for (const n of ['ptrace', 'bpf', 'unshare', 'mount']) expect(decide(arch, log, n), n).toBe(RET.LOG);
      // and deny: kill kills for them as for the rest
      const kill = encode(compile(policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } }, 'kill'), arch).insns);
      expect(decide(arch, kill, 'ioctl', [0n, BigInt(TTY_IOCTL.TIOCSTI)])).toBe(RET.KILL_PROCESS);
      expect(decide(arch, kill, 'io_uring_setup')).toBe(RET.KILL_PROCESS);
    }
  });

  it('kill and log actions replace errno where the manifest asks', () => {
    const net = { mode: 'deny' as const, connect: [], bind: [] };
    const kill = encode(compile(policyFor({ spawn: 'deny', network: net }, 'kill'), 'x86_64').insns);
    expect(decide('x86_64', kill, 'ptrace')).toBe(RET.KILL_PROCESS);
    const log = encode(compile(policyFor({ spawn: 'deny', network: net }, 'log'), 'x86_64').insns);
    expect(decide('x86_64', log, 'ptrace')).toBe(RET.LOG);
    // enosys for clone3 stays enosys: libc must see ENOSYS to fall back
    expect(decide('x86_64', encode(compile(policyFor({ spawn: 'threads', network: net }, 'kill'), 'x86_64').insns), 'clone3')).toBe(RET.ERRNO | ENOSYS);
  });

  it('is deterministic; a syscall not named is allowed up to the newest known number, ENOSYS above (fuzzed)', () => {
    const p = policyFor({ spawn: 'descendants', network: { mode: 'host', connect: [], bind: [] } });
    for (const arch of ARCHES) {
      const a = encode(compile(p, arch).insns);
      const b = encode(compile(structuredClone(p), arch).insns);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      const named = new Set(p.rules.map((r) => TABLES[arch][r.syscall]).filter((x) => x !== undefined));
      const newest = Math.max(...Object.values(TABLES[arch]));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2000 }), fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: 6, maxLength: 6 }), (nr, args) => {
          if (named.has(nr)) return true;
          return runBpf(a, { nr, arch: AUDIT_ARCH[arch], args }) === (nr > newest ? RET.ERRNO | ENOSYS : RET.ALLOW);
        }),
      );
    }
  });

  it('the compiler’s syscall tables agree with the numbers written from the kernel’s tables', () => {
    for (const arch of ARCHES) {
      for (const r of MUST_DENY) expect(TABLES[arch][r.name], `${arch} ${r.name}`).toBe(r[arch] ?? undefined);
      for (const [name, n] of Object.entries(OTHER_NR[arch])) expect(TABLES[arch][name], `${arch} ${name}`).toBe(n);
    }
  });

  it("ruleCount (a plan's mechanism string) is the number of rules the compiled program holds, for every policy the planner makes", () => {
    let absentOnArm = 0;
    for (const arch of ARCHES) {
      for (const spawn of SPAWNS) {
        for (const net of NETS) {
          for (const landlockAbi of [1, 2, 3, 7]) {
            for (const deny of ['errno', 'kill', 'log'] as const) {
              const p = policyFor({ spawn, network: { mode: net, connect: [], bind: [] }, landlockAbi }, deny);
              const c = compile(p, arch);
              expect(ruleCount(p, arch), `${arch} ${spawn} ${net} abi ${landlockAbi} ${deny}`).toBe(c.rules);
              expect(c.rules + c.skipped.length).toBe(p.rules.length);
              if (arch === 'aarch64' && spawn === 'deny') absentOnArm = Math.max(absentOnArm, c.skipped.filter((n) => n === 'fork' || n === 'vfork').length);
            }
          }
        }
      }
    }
    // fork and vfork do not exist on aarch64 (the independent table): a count that did not skip
    // what the arch lacks would differ there.
    expect(nrOf('aarch64', 'fork')).toBeUndefined();
    expect(absentOnArm).toBe(2);
  });

  it('syscall tables agree with well-known numbers', () => {
    expect([TABLES.x86_64.read, TABLES.x86_64.clone, TABLES.x86_64.fork, TABLES.x86_64.socket, TABLES.x86_64.clone3, TABLES.x86_64.io_uring_setup, TABLES.x86_64.open_tree_attr]).toEqual([0, 56, 57, 41, 435, 425, 467]);
    expect([TABLES.aarch64.read, TABLES.aarch64.clone, TABLES.aarch64.socket, TABLES.aarch64.mount, TABLES.aarch64.clone3, TABLES.aarch64.fork, TABLES.aarch64.open_tree_attr]).toEqual([63, 220, 198, 40, 435, undefined, 467]);
  });
});

describe('argument sets at their edges', () => {
  it('"in" an empty list never matches; "notIn" an empty list always does', async () => {
    const { compile, encode, AUDIT_ARCH, TABLES } = await import('../../../src/core/seccomp/compile.js');
    const { runBpf } = await import('../../helpers/bpf.js');
    const nr = TABLES.x86_64.socket!;
    const prog = (op: 'in' | 'notIn') => encode(compile({ deny: 'errno', rules: [{ syscall: 'socket', action: 'errno', when: [{ arg: 0, op, values: [] }], why: 'test' }] }, 'x86_64').insns);
    // seccomp(2): SECCOMP_RET_ALLOW is 0x7fff0000; an EPERM denial is SECCOMP_RET_ERRNO | 1.
    for (const family of [0n, 1n, 2n, 10n]) {
      expect(runBpf(prog('in'), { nr, arch: AUDIT_ARCH.x86_64, args: [family] })).toBe(0x7fff0000);
      expect(runBpf(prog('notIn'), { nr, arch: AUDIT_ARCH.x86_64, args: [family] })).toBe(0x00050001);
    }
  });
});
