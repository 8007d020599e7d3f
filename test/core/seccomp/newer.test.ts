// Syscalls newer than the system headers, numbers above the tables, and clone's namespace
// flags, run through the BPF interpreter. Every expected value is written here from the kernel
// and the man pages (syscall_64.tbl and asm-generic/unistd.h of Linux v6.19, seccomp.h,
// audit.h, clone(2)), never taken from bvisor's own constants, so a wrong constant in the
// compiler or the policy shows up as a row that does not match.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, encode, TABLES, type Arch } from '../../../src/core/seccomp/compile.js';
import { policyFor, DEFAULT_DENYLIST, REVIEWED_ALLOWED } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';

// include/uapi/linux/seccomp.h: SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | errno, SECCOMP_RET_KILL_PROCESS
const ALLOW = 0x7fff0000;
const EPERM = 0x00050000 | 1;
const ENOSYS = 0x00050000 | 38;
const KILL = 0x80000000;
// include/uapi/linux/audit.h
const AUDIT: Record<Arch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const ARCHES: Arch[] = ['x86_64', 'aarch64'];

// Linux v6.19: syscalls after the 6.1 headers. From 424 on the number is the same on every arch.
const V6_19: Record<string, number> = {
  cachestat: 451, fchmodat2: 452, map_shadow_stack: 453, futex_wake: 454, futex_wait: 455, futex_requeue: 456,
  statmount: 457, listmount: 458, lsm_get_self_attr: 459, lsm_set_self_attr: 460, lsm_list_modules: 461, mseal: 462,
  setxattrat: 463, getxattrat: 464, listxattrat: 465, removexattrat: 466, open_tree_attr: 467, file_getattr: 468,
  file_setattr: 469, listns: 470,
};
// x86_64 only (syscall_64.tbl, in the 335..423 gap the generic table never uses)
const X86_ONLY: Record<string, number> = { uretprobe: 335, uprobe: 336 };
const NEWEST = 470; // listns, the last number in v6.19
// Per-arch numbers of the older calls the rows use (syscall_64.tbl; asm-generic/unistd.h).
const NR: Record<Arch, Record<'clone' | 'clone3' | 'open_tree', number>> = {
  x86_64: { clone: 56, clone3: 435, open_tree: 428 },
  aarch64: { clone: 220, clone3: 435, open_tree: 428 },
};

// clone(2), include/uapi/linux/sched.h
const SIGCHLD = 17;
const CLONE_NEW = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
} as const;
// What glibc's pthread_create passes: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
const PTHREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;

const NET = { mode: 'deny' as const, connect: [], bind: [] };
const prog = (spawn: 'deny' | 'threads' | 'descendants', arch: Arch, deny: 'errno' | 'kill' | 'log' = 'errno'): Uint8Array => encode(compile(policyFor({ spawn, network: NET }, deny), arch).insns);
const run = (p: Uint8Array, arch: Arch, nr: number, args: bigint[] = []): number => runBpf(p, { nr, arch: AUDIT[arch], args });

describe('syscalls newer than the system headers', () => {
  it('the tables carry Linux v6.19’s numbers, and end there', () => {
    for (const arch of ARCHES) {
      for (const [name, nr] of Object.entries(V6_19)) expect(TABLES[arch][name], `${arch} ${name}`).toBe(nr);
      for (const [name, nr] of Object.entries(X86_ONLY)) expect(TABLES[arch][name], `${arch} ${name}`).toBe(arch === 'x86_64' ? nr : undefined);
      expect(Math.max(...Object.values(TABLES[arch])), arch).toBe(NEWEST);
    }
  });

  it('each one in the supplement has a decision: denied, or reviewed and allowed with a why', () => {
    const supplement = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'scripts', 'syscalls-newer.json'), 'utf8')) as { syscalls: Array<{ name: string; nr: number }> };
    expect(Object.fromEntries(supplement.syscalls.map((e) => [e.name, e.nr]))).toEqual({ ...X86_ONLY, ...V6_19 });
    const denied = new Set(DEFAULT_DENYLIST.map((r) => r.syscall));
    const allowed = new Set(REVIEWED_ALLOWED.map((r) => r.syscall));
    for (const { name } of supplement.syscalls) expect(Number(denied.has(name)) + Number(allowed.has(name)), name).toBe(1);
    for (const r of REVIEWED_ALLOWED) expect(r.why.length, r.syscall).toBeGreaterThan(10);
  });

  for (const arch of ARCHES) {
    for (const spawn of ['deny', 'threads', 'descendants'] as const) {
      it(`${arch} spawn=${spawn}: mount-API and relabelling newcomers EPERM, read-only ones allowed, above the table ENOSYS`, () => {
        const p = prog(spawn, arch);
        expect(run(p, arch, 467 /* open_tree_attr */)).toBe(EPERM);
        expect(run(p, arch, NR[arch].open_tree)).toBe(EPERM); // its older relative, for comparison
        expect(run(p, arch, 460 /* lsm_set_self_attr */)).toBe(EPERM);
        expect(run(p, arch, 451 /* cachestat */)).toBe(EPERM);
        for (const nr of [457 /* statmount */, 458 /* listmount */, 470 /* listns */, 462 /* mseal */, 452 /* fchmodat2 */, 454 /* futex_wake */]) expect(run(p, arch, nr), String(nr)).toBe(ALLOW);
        for (const nr of [NEWEST + 1, 999, 1024, 0x3fffffff]) expect(run(p, arch, nr), String(nr)).toBe(ENOSYS);
      });
    }

    it(`${arch}: above the table stays ENOSYS under deny: kill and log, which change only denials`, () => {
      for (const deny of ['kill', 'log'] as const) {
        const p = prog('descendants', arch, deny);
        expect(run(p, arch, 999)).toBe(ENOSYS);
        expect(run(p, arch, 467)).toBe(deny === 'kill' ? KILL : 0x7ffc0000 /* SECCOMP_RET_LOG */);
      }
    });

    it(`${arch}: the arch check comes first, whatever the number`, () => {
      const p = prog('descendants', arch);
      expect(runBpf(p, { nr: 999, arch: arch === 'x86_64' ? AUDIT.aarch64 : AUDIT.x86_64 })).toBe(KILL);
    });
  }

  it('x86_64: the x32 check comes before the table bound (EPERM, not ENOSYS)', () => {
    const p = prog('descendants', 'x86_64');
    expect(run(p, 'x86_64', 0x40000000 | 999)).toBe(EPERM);
    expect(run(p, 'x86_64', 0x40000000 | 39)).toBe(EPERM);
  });
});

describe('clone with namespace flags is denied wherever unshare is', () => {
  for (const arch of ARCHES) {
    for (const spawn of ['threads', 'descendants'] as const) {
      it(`${arch} spawn=${spawn}`, () => {
        const p = prog(spawn, arch);
        const clone = (flags: number | bigint): number => run(p, arch, NR[arch].clone, [BigInt(flags)]);
        for (const [name, flag] of Object.entries(CLONE_NEW)) {
          expect(clone(flag | SIGCHLD), `${name}|SIGCHLD`).toBe(EPERM);
          expect(clone(flag | PTHREAD), `${name}|thread flags`).toBe(EPERM);
        }
        expect(clone(0x7e020000 | SIGCHLD), 'all of them').toBe(EPERM);
        // the kernel reads only the low 32 bits of clone's flags (kernel/fork.c), so must the rule
        expect(clone((1n << 32n) | BigInt(CLONE_NEW.CLONE_NEWUSER | SIGCHLD))).toBe(EPERM);
        expect(clone(PTHREAD), 'a thread').toBe(ALLOW);
        expect(clone(SIGCHLD), 'a process').toBe(spawn === 'descendants' ? ALLOW : EPERM);
        expect(clone((1n << 32n) | BigInt(PTHREAD)), 'high bits are not flags').toBe(ALLOW);
        // clone3's flags are in memory, out of seccomp's reach: ENOSYS, so libc falls back to clone
        expect(run(p, arch, NR[arch].clone3)).toBe(ENOSYS);
        // setns and unshare stay denied
        expect(run(p, arch, arch === 'x86_64' ? 308 : 268)).toBe(EPERM);
        expect(run(p, arch, arch === 'x86_64' ? 272 : 97)).toBe(EPERM);
      });
    }

    it(`${arch} spawn=deny: clone and clone3 are denied outright`, () => {
      const p = prog('deny', arch);
      expect(run(p, arch, NR[arch].clone, [BigInt(PTHREAD)])).toBe(EPERM);
      expect(run(p, arch, NR[arch].clone, [BigInt(CLONE_NEW.CLONE_NEWUSER | SIGCHLD)])).toBe(EPERM);
      expect(run(p, arch, NR[arch].clone3)).toBe(EPERM);
    });

    it(`${arch}: deny: kill kills a namespace clone, and clone3 stays ENOSYS`, () => {
      const p = prog('descendants', arch, 'kill');
      expect(run(p, arch, NR[arch].clone, [BigInt(CLONE_NEW.CLONE_NEWUSER | SIGCHLD)])).toBe(KILL);
      expect(run(p, arch, NR[arch].clone, [BigInt(SIGCHLD)])).toBe(ALLOW);
      expect(run(p, arch, NR[arch].clone3)).toBe(ENOSYS);
    });
  }
});
