// The seccomp compiler at the limits of classic BPF and on policies the planner does not make
// (rules with their own kill/log action, long value lists), against the kernel's definitions:
// struct sock_filter's jt and jf are __u8, so a conditional jump reaches at most 255
// instructions ahead (linux/filter.h), and a program has at most BPF_MAXINSNS = 4096
// instructions (linux/bpf_common.h; seccomp(2): EINVAL beyond). The opcodes are bpf_common.h's:
// BPF_LD|BPF_W|BPF_ABS 0x20, BPF_JMP|BPF_JEQ|BPF_K 0x15, BPF_ALU|BPF_AND|BPF_K 0x54, BPF_RET|BPF_K
// 0x06; seccomp_data (seccomp(2)) holds nr at offset 0, arch at 4, args[i] at 16 + 8i (the low
// word on a little-endian machine).
import { describe, expect, it } from 'vitest';
import { compile, encode, type Insn } from '../../../src/core/seccomp/compile.js';
import type { Policy, Rule } from '../../../src/core/seccomp/policy.js';
import { runBpf } from '../../helpers/bpf.js';
import { SECCOMP_RET as RET, AUDIT_ARCH, ERRNO, type Arch } from '../../helpers/syscalls.js';

const LD = 0x20;
const JEQ = 0x15;
const AND = 0x54;
const RETK = 0x06;
const BPF_MAXINSNS = 4096;
const EPERM = RET.ERRNO | ERRNO.EPERM;
/** syscall_64.tbl, asm-generic/unistd.h */
const NR = { x86_64: { read: 0, socket: 41, ptrace: 101, fork: 57, getpid: 39 }, aarch64: { read: 63, socket: 198, ptrace: 117, fork: undefined, getpid: 172 } } as const;

const policy = (rules: Rule[], deny: Policy['deny'] = 'errno'): Policy => ({ deny, rules });
const rule = (syscall: string, extra: Partial<Rule> = {}): Rule => ({ syscall, action: 'errno', why: 'test', ...extra });
const run = (insns: Insn[], arch: Arch, nr: number, args: bigint[] = []): number => runBpf(encode(insns), { nr, arch: AUDIT_ARCH[arch], args });
/** The instructions a policy's rules add: what lies between the empty policy's prologue and its final ALLOW. */
function ruleInsns(rules: Rule[], arch: Arch): Insn[] {
  const empty = compile(policy([]), arch).insns;
  const full = compile(policy(rules), arch).insns;
  expect(full.slice(0, empty.length - 1), 'the prologue does not depend on the rules').toEqual(empty.slice(0, -1));
  expect(full.at(-1)).toEqual({ code: RETK, jt: 0, jf: 0, k: RET.ALLOW });
  return full.slice(empty.length - 1, -1);
}

describe('rule blocks, instruction by instruction', () => {
  it('an unconditional rule is three instructions: load nr, compare, return', () => {
    expect(ruleInsns([rule('ptrace')], 'aarch64')).toEqual([
      { code: LD, jt: 0, jf: 0, k: 0 },
      { code: JEQ, jt: 0, jf: 1, k: 117 },
      { code: RETK, jt: 0, jf: 0, k: EPERM },
    ]);
  });

  it('a masked equality loads the argument\'s low word, masks it, and skips the return when it differs', () => {
    expect(ruleInsns([rule('socket', { when: [{ arg: 1, op: 'eq', mask: 0xf, value: 2 }] })], 'x86_64')).toEqual([
      { code: LD, jt: 0, jf: 0, k: 0 },
      { code: JEQ, jt: 0, jf: 4, k: 41 },
      { code: LD, jt: 0, jf: 0, k: 24 },
      { code: AND, jt: 0, jf: 0, k: 0xf },
      { code: JEQ, jt: 0, jf: 1, k: 2 },
      { code: RETK, jt: 0, jf: 0, k: EPERM },
    ]);
  });

  it('in and notIn compare with each value in turn', () => {
    expect(ruleInsns([rule('socket', { when: [{ arg: 0, op: 'in', values: [2, 10] }] })], 'x86_64')).toEqual([
      { code: LD, jt: 0, jf: 0, k: 0 },
      { code: JEQ, jt: 0, jf: 4, k: 41 },
      { code: LD, jt: 0, jf: 0, k: 16 },
      { code: JEQ, jt: 1, jf: 0, k: 2 }, // a member: on to the return
      { code: JEQ, jt: 0, jf: 1, k: 10 }, // the last value: no member skips the return
      { code: RETK, jt: 0, jf: 0, k: EPERM },
    ]);
    expect(ruleInsns([rule('socket', { when: [{ arg: 0, op: 'notIn', values: [1, 2] }] })], 'x86_64')).toEqual([
      { code: LD, jt: 0, jf: 0, k: 0 },
      { code: JEQ, jt: 0, jf: 4, k: 41 },
      { code: LD, jt: 0, jf: 0, k: 16 },
      { code: JEQ, jt: 2, jf: 0, k: 1 }, // a member skips the return
      { code: JEQ, jt: 1, jf: 0, k: 2 },
      { code: RETK, jt: 0, jf: 0, k: EPERM },
    ]);
  });
});

describe('actions', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: a rule's own kill or log action is kept whatever the deny action; errno takes the deny action`, () => {
      for (const deny of ['errno', 'kill', 'log'] as const) {
        const insns = compile(policy([rule('ptrace', { action: 'kill' }), rule('socket', { action: 'log' }), rule('read', { action: 'errno' })], deny), arch).insns;
        expect(run(insns, arch, NR[arch].ptrace), `deny ${deny}`).toBe(RET.KILL_PROCESS);
        expect(run(insns, arch, NR[arch].socket), `deny ${deny}`).toBe(RET.LOG);
        expect(run(insns, arch, NR[arch].read), `deny ${deny}`).toBe({ errno: EPERM, kill: RET.KILL_PROCESS, log: RET.LOG }[deny]);
        expect(run(insns, arch, NR[arch].getpid), `deny ${deny}`).toBe(RET.ALLOW);
      }
    });
  }

  // Under deny: log, an x32 call still gets EPERM: no row below checks its number (they name
  // x86_64 numbers), so a logged pass would let a chmod with S_ISUID, an ioctl TIOCSTI, any call
  // through unchecked wherever the kernel runs x32 binaries (CONFIG_X86_X32_ABI).
  it('x86_64: the x32 ABI (nr | 0x40000000) gets the deny action too, and EPERM under deny: log', () => {
    for (const [deny, ret] of [['errno', EPERM], ['kill', RET.KILL_PROCESS], ['log', EPERM]] as const) {
      const insns = compile(policy([], deny), 'x86_64').insns;
      expect(run(insns, 'x86_64', 0x40000000 | 39), deny).toBe(ret);
    }
  });
});

describe('what the compiler reports', () => {
  it('syscalls the arch does not have are skipped and listed; the others are counted', () => {
    const rules = [rule('fork'), rule('ptrace'), rule('open'), rule('read'), rule('no_such_syscall')];
    expect(compile(policy(rules), 'x86_64')).toMatchObject({ skipped: ['no_such_syscall'], rules: 4 });
    expect(compile(policy(rules), 'aarch64')).toMatchObject({ skipped: ['fork', 'open', 'no_such_syscall'], rules: 2 });
    expect(compile(policy([rule('read')]), 'aarch64')).toMatchObject({ skipped: [], rules: 1 });
  });
});

describe('classic BPF jumps reach 255 instructions ahead', () => {
  // A rule that lists n values jumps over all of them; find the longest list that compiles.
  const listRule = (n: number): Rule => rule('socket', { when: [{ arg: 0, op: 'in', values: Array.from({ length: n }, (_, i) => 1000 + i) }] });
  const tryCompile = (n: number): Insn[] | undefined => {
    try {
      return compile(policy([listRule(n)]), 'x86_64').insns;
    } catch (e) {
      expect((e as Error).message).toMatch(/seccomp rule for socket is too large for classic BPF jumps/);
      return undefined;
    }
  };

  it('a rule is refused exactly when one of its jumps would not fit in a u8, never wrapped', () => {
    let longest = 0;
    for (let n = 200; n <= 300; n++) {
      const insns = tryCompile(n);
      if (insns === undefined) break;
      longest = n;
      expect(Math.max(...insns.flatMap((x) => [x.jt, x.jf])), `${n} values`).toBeLessThanOrEqual(255);
    }
    expect(longest).toBeGreaterThan(200);
    expect(longest).toBeLessThan(300);
    const insns = tryCompile(longest)!;
    // The longest rule that compiles uses the full reach: some jump is exactly 255.
    expect(insns.some((x) => x.jt === 255 || x.jf === 255)).toBe(true);
    // ...and decides right: members denied, others allowed.
    for (const v of [1000, 1000 + longest - 1, 1000 + Math.floor(longest / 2)]) expect(run(insns, 'x86_64', 41, [BigInt(v)]), `${v}`).toBe(EPERM);
    for (const v of [999, 1000 + longest, 1]) expect(run(insns, 'x86_64', 41, [BigInt(v)]), `${v}`).toBe(RET.ALLOW);
    expect(tryCompile(longest + 1)).toBeUndefined();
    expect(tryCompile(300)).toBeUndefined();
  });
});

describe('a program is at most BPF_MAXINSNS instructions', () => {
  it('exactly 4096 compiles; 4097 is refused', () => {
    // Sizes measured from the compiler itself, the limit from bpf_common.h: unconditional rules
    // of 3 instructions and one conditional rule to reach each total exactly.
    const arch = 'aarch64';
    const base = compile(policy([]), arch).insns.length;
    const plain = compile(policy([rule('read')]), arch).insns.length - base;
    const cond = (k: number): Rule => rule('read', { when: [{ arg: 0, op: 'in', values: Array.from({ length: k }, (_, i) => i) }] });
    const sized = (total: number): Rule[] => {
      for (let k = 1; k < 10; k++) {
        const c = compile(policy([cond(k)]), arch).insns.length - base;
        if ((total - base - c) % plain === 0) return [cond(k), ...Array.from({ length: (total - base - c) / plain }, () => rule('read'))];
      }
      throw new Error(`no mix reaches ${total}`);
    };
    expect(compile(policy(sized(BPF_MAXINSNS)), arch).insns).toHaveLength(BPF_MAXINSNS);
    expect(() => compile(policy(sized(BPF_MAXINSNS + 1)), arch)).toThrow(/seccomp program longer than BPF_MAXINSNS/);
  });
});
