// Compiles a seccomp policy to classic BPF (pure, deterministic). Layout:
//   check the architecture (kill on anything else: a foreign ABI has other numbers),
//   on x86_64 refuse the x32 ABI (numbers with bit 30 set; under deny: log too),
//   answer ENOSYS to any number above the arch table's highest (a syscall newer than our
//   tables: no rule can name it, so nobody has decided it is harmless),
//   one block per rule, each starting by reloading the syscall number, all jumps local
//   (classic BPF jumps reach only 255 instructions ahead), default allow.
import { SYSCALLS_X86_64, SYSCALLS_AARCH64 } from './syscalls.generated.js';
import type { Policy, Rule, Action } from './policy.js';

export type Arch = 'x86_64' | 'aarch64';

export const AUDIT_ARCH: Record<Arch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
export const TABLES: Record<Arch, Readonly<Record<string, number>>> = { x86_64: SYSCALLS_X86_64, aarch64: SYSCALLS_AARCH64 };
export const X32_SYSCALL_BIT = 0x40000000;
/**
 * The newest syscall number each table knows. Kernels keep adding syscalls at the top (since
 * 424 with one number on every arch), and one the table lacks would pass every rule: that is
 * how open_tree_attr (467) reached workloads while open_tree was denied.
 */
export const HIGHEST_KNOWN: Record<Arch, number> = { x86_64: Math.max(...Object.values(SYSCALLS_X86_64)), aarch64: Math.max(...Object.values(SYSCALLS_AARCH64)) };

export const RET = {
  KILL_PROCESS: 0x80000000,
  ERRNO: 0x00050000,
  /** Stop the caller and ask the filter's listener (seccomp_unotify(2)); see notify.h. */
  USER_NOTIF: 0x7fc00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
export const EPERM = 1;
export const ENOSYS = 38;

// BPF opcodes (linux/bpf_common.h)
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const AND_K = 0x54;
const RET_K = 0x06;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const OFF_NR = 0;
export const OFF_ARCH = 4;
export const offArgLow = (i: number): number => 16 + 8 * i;

/**
 * With `notify`, a row that answers EPERM asks the listener instead, which answers EPERM too and
 * records the call (denials observed; the supervisor holds the listener). ENOSYS rows (newer
 * syscalls, clone3's fallback) are not denials of the boundary and keep their direct answer.
 */
function retFor(action: Action, deny: Policy['deny'], notify = false, firm = false): number {
  if (action === 'enosys') return RET.ERRNO | ENOSYS;
  // A firm row (policy.ts) is never weakened to a logged pass: under deny: log it answers EPERM
  // itself (there is no listener to ask in a launch that only logs).
  if (action === 'errno' && firm && deny === 'log') return RET.ERRNO | EPERM;
  const a = action === 'errno' ? deny : action;
  if (a === 'kill') return RET.KILL_PROCESS;
  if (a === 'log') return RET.LOG;
  return notify ? RET.USER_NOTIF : RET.ERRNO | EPERM;
}

const ins = (code: number, k: number, jt = 0, jf = 0): Insn => ({ code, jt, jf, k: k >>> 0 });

type Target = 'next' | 'cont' | 'end';
interface SymInsn {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
}

/**
 * One rule: [ld nr; jeq nr else → end] [per condition: ld arg; (and mask); comparisons] [ret].
 * A failed condition jumps to `end` (the next rule); `cont` is the first instruction after the
 * current condition's comparisons; `next` is the following instruction.
 */
function ruleBlock(rule: Rule, nr: number, ret: number): Insn[] {
  const conds: Array<{ insns: SymInsn[] }> = [];
  for (const c of rule.when ?? []) {
    const cmp: SymInsn[] = [];
    const pre: SymInsn[] = [{ code: LD_W_ABS, k: offArgLow(c.arg), jt: 'next', jf: 'next' }];
    if (c.mask !== undefined) pre.push({ code: AND_K, k: c.mask, jt: 'next', jf: 'next' });
    if (c.op === 'eq') cmp.push({ code: JEQ_K, k: c.value ?? 0, jt: 'next', jf: 'end' });
    else if (c.op === 'ne') cmp.push({ code: JEQ_K, k: c.value ?? 0, jt: 'end', jf: 'next' });
    else {
      const vals = c.values ?? [];
      // "in" an empty list never holds: a jump to the next rule whatever the value ("notIn" an
      // empty list always holds: no comparison at all).
      if (c.op === 'in' && vals.length === 0) cmp.push({ code: JEQ_K, k: 0, jt: 'end', jf: 'end' });
      vals.forEach((v, i) => {
        const last = i === vals.length - 1;
        if (c.op === 'in') cmp.push({ code: JEQ_K, k: v, jt: 'cont', jf: last ? 'end' : 'next' });
        else cmp.push({ code: JEQ_K, k: v, jt: 'end', jf: 'next' });
      });
    }
    conds.push({ insns: [...pre, ...cmp] });
  }
  const sym: Array<SymInsn & { cont: number }> = [];
  const head: SymInsn[] = [
    { code: LD_W_ABS, k: OFF_NR, jt: 'next', jf: 'next' },
    { code: JEQ_K, k: nr, jt: 'next', jf: 'end' },
  ];
  head.forEach((h) => sym.push({ ...h, cont: -1 }));
  for (const c of conds) {
    const cont = sym.length + c.insns.length;
    c.insns.forEach((x) => sym.push({ ...x, cont }));
  }
  sym.push({ code: RET_K, k: ret, jt: 'next', jf: 'next', cont: -1 });
  const end = sym.length;
  const resolve = (t: Target, at: number, cont: number): number => {
    const dest = t === 'next' ? at + 1 : t === 'end' ? end : cont;
    return dest - at - 1;
  };
  return sym.map((x, at) => {
    const isJump = x.code === JEQ_K || x.code === JGE_K;
    return { code: x.code, k: x.k >>> 0, jt: isJump ? resolve(x.jt, at, x.cont) : 0, jf: isJump ? resolve(x.jf, at, x.cont) : 0 };
  });
}

export interface Compiled {
  insns: Insn[];
  /** Rules that named a syscall this arch does not have (skipped). */
  skipped: string[];
  rules: number;
}

export interface CompileOptions {
  /** Deny rows answer SECCOMP_RET_USER_NOTIF (the listener answers EPERM); see retFor. */
  notify?: boolean;
}

/**
 * How many of the policy's rules the arch's program holds: compile()'s `rules` (those naming a
 * syscall the arch has), without building the program. A plan's mechanism string states it, and
 * a plan is made by every plan, create and run, where the program itself is built only at launch.
 */
export function ruleCount(policy: Policy, arch: Arch): number {
  const table = TABLES[arch];
  let n = 0;
  for (const r of policy.rules) if (table[r.syscall] !== undefined) n++;
  return n;
}

export function compile(policy: Policy, arch: Arch, opts: CompileOptions = {}): Compiled {
  const table = TABLES[arch];
  const out: Insn[] = [ins(LD_W_ABS, OFF_ARCH), { ...ins(JEQ_K, AUDIT_ARCH[arch]), jt: 1, jf: 0 }, ins(RET_K, RET.KILL_PROCESS)];
  if (arch === 'x86_64') {
    // Firm: an x32 number is checked by no row below (they name x86_64 numbers), so a logged
    // pass would let every call through unchecked where the kernel runs x32.
    out.push(ins(LD_W_ABS, OFF_NR), { ...ins(JGE_K, X32_SYSCALL_BIT), jt: 0, jf: 1 }, ins(RET_K, retFor('errno', policy.deny, opts.notify === true, true)));
  }
  // Above the table: ENOSYS whatever the deny action, because it is what a kernel older than
  // the syscall answers, so libc and runtimes fall back to the older call they already handle
  // (EPERM or a kill would break them). After the x32 check, which keeps its own answer.
  out.push(ins(LD_W_ABS, OFF_NR), { ...ins(JGE_K, HIGHEST_KNOWN[arch] + 1), jt: 0, jf: 1 }, ins(RET_K, retFor('enosys', policy.deny)));
  const skipped: string[] = [];
  let rules = 0;
  for (const r of policy.rules) {
    const nr = table[r.syscall];
    if (nr === undefined) {
      skipped.push(r.syscall);
      continue;
    }
    const block = ruleBlock(r, nr, retFor(r.action, policy.deny, opts.notify === true, r.firm === true));
    if (block.some((b) => b.jt > 255 || b.jf > 255)) throw new Error(`seccomp rule for ${r.syscall} is too large for classic BPF jumps`);
    out.push(...block);
    rules++;
  }
  out.push(ins(RET_K, RET.ALLOW));
  if (out.length > 4096) throw new Error('seccomp program longer than BPF_MAXINSNS');
  return { insns: out, skipped, rules };
}

/** struct sock_filter[], little-endian: u16 code, u8 jt, u8 jf, u32 k. */
export function encode(insns: readonly Insn[]): Uint8Array {
  const buf = new Uint8Array(insns.length * 8);
  const dv = new DataView(buf.buffer);
  insns.forEach((x, i) => {
    dv.setUint16(i * 8, x.code, true);
    dv.setUint8(i * 8 + 2, x.jt);
    dv.setUint8(i * 8 + 3, x.jf);
    dv.setUint32(i * 8 + 4, x.k >>> 0, true);
  });
  return buf;
}
