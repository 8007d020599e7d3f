// What the policy promises beyond the decision tables of compile.test.ts, decided by the BPF
// interpreter over every policy the planner can ask for (spawn × network × landlock ABI):
// - a manifest's deny action (`syscalls: { deny: kill | log }`) replaces EPERM for every denial,
//   the spawn, network, truncate and set-ID rows as much as the default denylist, while ENOSYS
//   stays ENOSYS (libc must see it to fall back);
// - the socket rules follow the network mode: abstract unix sockets are refused only where no
//   network namespace hides the host's and landlock cannot scope them (ports below ABI 6,
//   docs/landlock.md); loopback and host keep unix and UDP sockets at every ABI;
// - every row carries its reason (CONVENTIONS: data with reasons).
// Numbers: syscall_64.tbl, asm-generic/unistd.h; constants: seccomp.h, sched.h (clone(2)),
// socket.h (address_families(7)), fcntl.h; never policy.ts's own.
import { describe, expect, it } from 'vitest';
import { compile, encode } from '../../../src/core/seccomp/compile.js';
import { policyFor } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { SECCOMP_RET as RET, AUDIT_ARCH, ERRNO, AF, type Arch } from '../../helpers/syscalls.js';

const NR: Record<Arch, Record<string, number | undefined>> = {
  x86_64: { clone: 56, fork: 57, vfork: 58, clone3: 435, socket: 41, truncate: 76, open: 2, openat: 257 },
  aarch64: { clone: 220, fork: undefined, vfork: undefined, clone3: 435, socket: 198, truncate: 45, open: undefined, openat: 56 },
};
const SIGCHLD = 17n;
const CLONE_VM = 0x100n;
const CLONE_THREAD = 0x10000n;
const CLONE_NEWUSER = 0x10000000n;
const SOCK_STREAM = 1n;
const SOCK_DGRAM = 2n;
const SOCK_RAW = 3n;
const SOCK_CLOEXEC = 0o2000000n;
const O_RDONLY = 0n;
const O_TRUNC = 0o1000n;
const AT_FDCWD = BigInt.asUintN(64, -100n);
const PTR = 0x7ffd_0000_1000n;
const ENOSYS = RET.ERRNO | ERRNO.ENOSYS;

type Spawn = 'deny' | 'threads' | 'descendants';
type Net = 'deny' | 'loopback' | 'host' | 'ports';
type Deny = 'errno' | 'kill' | 'log';
const SPAWNS: Spawn[] = ['deny', 'threads', 'descendants'];
const NETS: Net[] = ['deny', 'loopback', 'host', 'ports'];
const ABIS = [1, 2, 3, 4, 5, 6, 7];

function program(arch: Arch, spawn: Spawn, net: Net, abi: number, deny: Deny = 'errno'): (name: string, args?: bigint[]) => number | undefined {
  const p = encode(compile(policyFor({ spawn, network: { mode: net, connect: [], bind: [] }, landlockAbi: abi }, deny), arch).insns);
  return (name, args = []) => {
    const nr = NR[arch][name];
    return nr === undefined ? undefined : runBpf(p, { nr, arch: AUDIT_ARCH[arch], args });
  };
}

/** Calls a given policy must refuse (under errno: EPERM), each with why, from the manifest's meaning. */
function refused(spawn: Spawn, net: Net, abi: number): Array<[string, bigint[], string]> {
  const rows: Array<[string, bigint[], string]> = [];
  if (spawn === 'deny') {
    rows.push(['clone', [SIGCHLD], 'spawn: deny, a process'], ['clone', [CLONE_VM | CLONE_THREAD], 'spawn: deny, a thread'], ['clone3', [], 'spawn: deny'], ['fork', [], 'spawn: deny'], ['vfork', [], 'spawn: deny']);
  }
  if (spawn === 'threads') rows.push(['clone', [SIGCHLD], 'spawn: threads, a process'], ['fork', [], 'spawn: threads'], ['vfork', [], 'spawn: threads']);
  if (spawn !== 'deny') rows.push(['clone', [CLONE_NEWUSER | SIGCHLD], 'a user namespace, which unshare is denied for']);
  if (net === 'deny') rows.push(['socket', [BigInt(AF.INET), SOCK_STREAM], 'network: deny']);
  if (net === 'ports') rows.push(['socket', [BigInt(AF.INET), SOCK_DGRAM], 'ports: TCP only'], ['socket', [BigInt(AF.NETLINK), SOCK_RAW], 'ports: not netlink']);
  if (net === 'ports' && abi < 6) rows.push(['socket', [BigInt(AF.UNIX), SOCK_STREAM], 'ports below ABI 6: the host’s abstract unix sockets']);
  if (abi < 3) rows.push(['truncate', [PTR, 0n], 'below ABI 3'], ['open', [PTR, O_RDONLY | O_TRUNC], 'below ABI 3'], ['openat', [AT_FDCWD, PTR, O_RDONLY | O_TRUNC], 'below ABI 3']);
  return rows;
}

describe('the deny action replaces EPERM for every denial', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    for (const spawn of SPAWNS) {
      for (const net of NETS) {
        it(`${arch} spawn=${spawn} network=${net}`, () => {
          for (const abi of [2, 5, 7]) {
            const rows = refused(spawn, net, abi);
            for (const [deny, ret] of [['errno', RET.ERRNO | ERRNO.EPERM], ['kill', RET.KILL_PROCESS], ['log', RET.LOG]] as const) {
              const decide = program(arch, spawn, net, abi, deny);
              for (const [name, args, why] of rows) {
                const got = decide(name, args);
                if (got !== undefined) expect(got, `abi ${abi} deny ${deny}: ${name}(${args.join(', ')}): ${why}`).toBe(ret);
              }
              // clone3 cannot be argument-checked: where spawning is allowed it is ENOSYS whatever the deny action
              if (spawn !== 'deny') expect(decide('clone3'), `abi ${abi} deny ${deny}: clone3`).toBe(ENOSYS);
            }
          }
        });
      }
    }
  }
});

describe('sockets per network mode and landlock ABI', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: loopback and host keep unix and UDP sockets at every ABI (a network namespace, or the host's network by choice)`, () => {
      for (const net of ['loopback', 'host'] as const) {
        for (const abi of ABIS) {
          const decide = program(arch, 'descendants', net, abi);
          expect(decide('socket', [BigInt(AF.UNIX), SOCK_STREAM]), `${net} abi ${abi}: unix stream`).toBe(RET.ALLOW);
          expect(decide('socket', [BigInt(AF.UNIX), SOCK_DGRAM]), `${net} abi ${abi}: unix dgram`).toBe(RET.ALLOW);
          expect(decide('socket', [BigInt(AF.INET), SOCK_DGRAM]), `${net} abi ${abi}: udp`).toBe(RET.ALLOW);
          expect(decide('socket', [BigInt(AF.INET6), SOCK_STREAM]), `${net} abi ${abi}: tcp6`).toBe(RET.ALLOW);
        }
      }
    });

    it(`${arch}: ports from ABI 6 allow unix sockets of every type (landlock scopes the abstract ones), and TCP only over IP`, () => {
      for (const abi of [6, 7]) {
        const decide = program(arch, 'descendants', 'ports', abi);
        expect(decide('socket', [BigInt(AF.UNIX), SOCK_STREAM]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.UNIX), SOCK_DGRAM]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.UNIX), SOCK_DGRAM | SOCK_CLOEXEC]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.INET6), SOCK_STREAM | SOCK_CLOEXEC]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.INET6), SOCK_DGRAM]), `abi ${abi}`).toBe(RET.ERRNO | ERRNO.EPERM);
      }
    });

    it(`${arch}: ports below ABI 6 allow TCP over IP and nothing else`, () => {
      for (const abi of [4, 5]) {
        const decide = program(arch, 'descendants', 'ports', abi);
        expect(decide('socket', [BigInt(AF.INET), SOCK_STREAM]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.INET6), SOCK_STREAM | SOCK_CLOEXEC]), `abi ${abi}`).toBe(RET.ALLOW);
        expect(decide('socket', [BigInt(AF.UNIX), SOCK_DGRAM]), `abi ${abi}`).toBe(RET.ERRNO | ERRNO.EPERM);
        expect(decide('socket', [BigInt(AF.INET), SOCK_RAW]), `abi ${abi}`).toBe(RET.ERRNO | ERRNO.EPERM);
      }
    });
  }
});

describe('every row carries its reason', () => {
  it('for every policy the planner can ask for', () => {
    for (const spawn of SPAWNS) {
      for (const net of NETS) {
        for (const abi of ABIS) {
          for (const openat2 of ['allow', 'enosys'] as const) {
            for (const r of policyFor({ spawn, network: { mode: net, connect: [], bind: [] }, landlockAbi: abi }, 'errno', openat2).rules) {
              expect(r.syscall, `${spawn}/${net}/${abi}`).toMatch(/^[a-z_0-9]+$/);
              expect(r.why.trim().length, `${spawn}/${net}/${abi}: ${r.syscall} has no reason`).toBeGreaterThan(10);
            }
          }
        }
      }
    }
  });
});
