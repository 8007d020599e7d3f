// Compiles an OCI runtime-spec `linux.seccomp` object (config-linux.md, "Seccomp") to one
// classic-BPF program for one architecture, with bvisor's own assembler: no libseccomp at run
// time. Pure: no clock, environment or I/O.
//
// API (stable; the planner and launcher build on it):
//   compileOciSeccomp(profile, arch, base = 'linux.seccomp')
//     → { ok: true, compiled } | { ok: false, refusals }   (every refusal, not the first)
//       compiled.insns    the program (encode() from compile.ts makes the sock_filter bytes)
//       compiled.rules    (entry, name) pairs compiled for this arch (not skipped)
//       compiled.skipped  names of other architectures' syscalls, with their JSON path
//       compiled.notes    what was accepted but narrowed or overridden, one sentence each
//       compiled.flags    the profile's accepted `flags`; none needs the launcher to act
//   composeFilters(bvisor, oci) → one program: bvisor's filter first, then the OCI one.
//   describeRet(k), SECCOMP_RET: return values and their names (ERRNO(1), ALLOW…), for reports.
// A refusal's `path` is a JSON path below `base` ("linux.seccomp.syscalls[2].args[0].op").
//
// Semantics: those of libseccomp 2.5.4 as runc and crun drive it, which is what an OCI profile
// means in practice. Read in libseccomp's src/api.c and src/db.c (db_col_rule_add, db_rule_add,
// _db_tree_add), runc's libcontainer/seccomp/seccomp_linux.go (matchCall) and crun's
// src/libcrun/seccomp.c, and checked against libseccomp itself by test/seccomp-oracle/:
//   - Arguments are compared as full 64-bit values (the high and the low word of seccomp_data's
//     u64), also for syscalls whose argument is a C int: the kernel then ignores the high word,
//     but the comparison does not, as with libseccomp's SCMP_CMP (not SCMP_CMP32).
//   - A rule whose action is the default action changes nothing: libseccomp refuses it (EACCES)
//     and runc and crun skip it. Skipped here too, with a note.
//   - For one syscall, the FIRST unconditional rule decides it for every argument: libseccomp
//     drops a later rule of the same syscall ("existing filter is at least as large"), and an
//     unconditional rule erases the conditional ones added before it. So podman's `setns`
//     (allowed by its big list, then ERRNO without CAP_SYS_ADMIN) is allowed. Noted.
//   - Conditional rules of one syscall combine as a union. Where two of them with different
//     actions can match the same arguments, libseccomp either refuses (EEXIST, same comparisons)
//     or answers by its decision tree's order (sorted by argument index, operator and value, not
//     by the profile): refused here, with a witness, since the profile does not say which wins.
//   - Two comparisons of the same argument in one rule: libseccomp refuses them (EINVAL;
//     seccomp_rule_add(3): "you can only compare each argument once in a single rule"), and runc
//     and crun then add every comparison of that rule as a rule of its own, so the rule becomes
//     the OR of all its comparisons (a range check turns into allow-everything). Refused.
//   - A name of another architecture is skipped (libseccomp does the same); a name no
//     architecture knows is refused (runc and crun would skip it with a debug line).
//   - Unmatched syscalls, unknown numbers and numbers above the table get the default action.
//     The program admits only this arch's own audit arch (and on x86_64 no x32 numbers); any
//     other ABI is killed (libseccomp kills the thread; here the process).
// Where libseccomp 2.5.4's generated BPF departs from these semantics (it can skip reloading an
// argument word, or the syscall number; test/core/seccomp/oci.test.ts pins the cases its fuzzing
// found), bvisor keeps the semantics.
import { AUDIT_ARCH, TABLES, X32_SYSCALL_BIT, type Arch, type Insn } from './compile.js';
import { LIBSECCOMP_SYSCALL_NAMES } from './syscall-names.generated.js';
import { editDistance } from '../distance.js';

export interface OciSeccompRefusal {
  /** JSON path of the offending value, e.g. 'linux.seccomp.syscalls[12].args[0]'. */
  path: string;
  reason: string;
  hint: string;
}

export interface OciSeccompCompiled {
  insns: Insn[];
  /** (syscalls[] entry, name) pairs compiled for this arch: resolved here, and not skipped as
   * having the default action. */
  rules: number;
  /** Names that exist on other Linux architectures only, skipped as libseccomp does. */
  skipped: Array<{ path: string; name: string; why: string }>;
  /** What was accepted while narrowed, skipped or overridden, one sentence each. */
  notes: string[];
  /** The profile's `flags` that were accepted (none asks the launcher for anything). */
  flags: string[];
}

export type OciSeccompResult = { ok: true; compiled: OciSeccompCompiled } | { ok: false; refusals: OciSeccompRefusal[] };

/** include/uapi/linux/seccomp.h: SECCOMP_RET_* (the action in the high 16 bits, data below). */
export const SECCOMP_RET = {
  KILL_THREAD: 0x00000000,
  KILL_PROCESS: 0x80000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
/** include/linux/err.h: MAX_ERRNO; the kernel answers -errno with at most this. */
const MAX_ERRNO = 4095;
const EPERM = 1;
/** linux/filter.h: BPF_MAXINSNS. */
const BPF_MAXINSNS = 4096;

const ACTIONS = ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY'] as const;
type Action = (typeof ACTIONS)[number];
const OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
type Op = (typeof OPS)[number];
/** The arch constants of runtime-spec (libseccomp 2.5) and those libseccomp 2.6 added. */
const SCMP_ARCHES = new Set([
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64', 'SCMP_ARCH_M68K', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
]);
const NATIVE_SCMP: Record<Arch, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };
const SECCOMP_KEYS = ['defaultAction', 'defaultErrnoRet', 'architectures', 'flags', 'listenerPath', 'listenerMetadata', 'syscalls'];
const SYSCALL_KEYS = ['names', 'action', 'errnoRet', 'args'];
const ARG_KEYS = ['index', 'value', 'valueTwo', 'op'];
const U64_MAX = (1n << 64n) - 1n;

/** Every name some Linux architecture has: libseccomp's list and bvisor's own tables (newer). */
const KNOWN_NAMES: ReadonlySet<string> = new Set([...LIBSECCOMP_SYSCALL_NAMES, ...Object.keys(TABLES.x86_64), ...Object.keys(TABLES.aarch64)]);

interface Cond {
  index: number;
  op: Op;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  /** 'linux.seccomp.syscalls[3]' */
  path: string;
  name: string;
  ret: number;
  conds: Cond[];
}

type Outcome = { kind: 'ret'; ret: number } | { kind: 'rules'; rules: Rule[]; ret: number };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hex = (n: bigint | number): string => `0x${n.toString(16)}`;

/** A readable name for a return value, for notes and refusals. */
export function describeRet(ret: number): string {
  const action = ret & 0xffff0000;
  if (ret === SECCOMP_RET.KILL_THREAD) return 'KILL_THREAD';
  if (ret >>> 0 === SECCOMP_RET.KILL_PROCESS) return 'KILL_PROCESS';
  if (action === SECCOMP_RET.TRAP) return 'TRAP';
  if (action === SECCOMP_RET.ERRNO) return `ERRNO(${ret & 0xffff})`;
  if (ret === SECCOMP_RET.LOG) return 'LOG';
  if (ret === SECCOMP_RET.ALLOW) return 'ALLOW';
  return hex(ret >>> 0);
}

function retOf(action: Action, errno: number): number {
  switch (action) {
    // runc and crun map SCMP_ACT_KILL to libseccomp's KILL_THREAD, as libseccomp's own
    // SCMP_ACT_KILL is (seccomp.h: SCMP_ACT_KILL == SCMP_ACT_KILL_THREAD).
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET.ERRNO | errno) >>> 0;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET.LOG;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET.ALLOW;
    default:
      throw new Error(`no return value for ${action}`); // TRACE and NOTIFY are refused before
  }
}

function nearNames(name: string): string[] {
  return [...KNOWN_NAMES]
    .map((n) => ({ n, d: editDistance(name, n) }))
    .filter((x) => x.d <= 2)
    .sort((x, y) => x.d - y.d || (x.n < y.n ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.n);
}

// ---- arguments as sets of 64-bit values -------------------------------------------------------

/** Does value x satisfy the comparison? (The reference the generated code must agree with.) */
function holds(c: Cond, x: bigint): boolean {
  switch (c.op) {
    case 'SCMP_CMP_NE':
      return x !== c.value;
    case 'SCMP_CMP_LT':
      return x < c.value;
    case 'SCMP_CMP_LE':
      return x <= c.value;
    case 'SCMP_CMP_EQ':
      return x === c.value;
    case 'SCMP_CMP_GE':
      return x >= c.value;
    case 'SCMP_CMP_GT':
      return x > c.value;
    case 'SCMP_CMP_MASKED_EQ':
      return (x & c.value) === c.valueTwo;
  }
}

/** The smallest x ≥ lo with (x & mask) === bits (bits ⊆ mask), or null if none fits in 64 bits. */
function nextWithBits(lo: bigint, mask: bigint, bits: bigint): bigint | null {
  if ((lo & mask) === bits) return lo;
  // Walk from the top bit down, keeping x's bits equal to lo's for as long as the fixed bits
  // allow. Each place where x can have a 1 where lo has a 0 gives a candidate above lo (that 1,
  // then the smallest tail: the fixed bits only); the lowest such place gives the smallest.
  let best: bigint | null = null;
  for (let i = 63n; i >= 0n; i--) {
    const bit = 1n << i;
    const above = lo & ~((bit << 1n) - 1n);
    const candidate = above | bit | (bits & (bit - 1n));
    const loBit = (lo & bit) !== 0n;
    if ((mask & bit) !== 0n) {
      const want = (bits & bit) !== 0n;
      if (want && !loBit) return candidate; // forced above lo here: the smallest possible
      if (!want && loBit) return best; // forced below lo: only an earlier candidate is left
    } else if (!loBit) best = candidate;
  }
  return lo; // unreachable: every bit agreed, so (lo & mask) === bits was true above
}

/** Some 64-bit value satisfying every comparison (all on one argument), or null if none does. */
function witness(conds: readonly Cond[]): bigint | null {
  let lo = 0n;
  let hi = U64_MAX;
  let mask = 0n;
  let bits = 0n;
  const not = new Set<bigint>();
  for (const c of conds) {
    const v = c.value;
    if (c.op === 'SCMP_CMP_EQ') [lo, hi] = [v > lo ? v : lo, v < hi ? v : hi];
    else if (c.op === 'SCMP_CMP_NE') not.add(v);
    else if (c.op === 'SCMP_CMP_LT') {
      if (v === 0n) return null;
      if (v - 1n < hi) hi = v - 1n;
    } else if (c.op === 'SCMP_CMP_LE') {
      if (v < hi) hi = v;
    } else if (c.op === 'SCMP_CMP_GT') {
      if (v === U64_MAX) return null;
      if (v + 1n > lo) lo = v + 1n;
    } else if (c.op === 'SCMP_CMP_GE') {
      if (v > lo) lo = v;
    } else {
      // MASKED_EQ: the bits under both masks must agree
      if ((bits & c.value) !== (c.valueTwo & mask)) return null;
      mask |= c.value;
      bits |= c.valueTwo;
    }
  }
  let x = lo <= hi ? nextWithBits(lo, mask, bits) : null;
  // at most |not| values are excluded, so this loop runs at most |not| + 1 times
  while (x !== null && x <= hi && not.has(x)) x = x === U64_MAX ? null : nextWithBits(x + 1n, mask, bits);
  return x !== null && x <= hi ? x : null;
}

/** Arguments both rules accept (one value per argument index), or null when they are exclusive. */
function overlap(a: Rule, b: Rule): bigint[] | null {
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) {
    const w = witness([...a.conds, ...b.conds].filter((c) => c.index === i));
    if (w === null) return null;
    args.push(w);
  }
  return args;
}

// ---- the assembler --------------------------------------------------------------------------

// linux/bpf_common.h
const LD_W_ABS = 0x20;
const AND_K = 0x54;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const RET_K = 0x06;
/** include/uapi/linux/seccomp.h: struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; } */
const OFF_NR = 0;
const OFF_ARCH = 4;
/** Both arches are little-endian: an argument's low word comes first. */
const argLo = (i: number): number => 16 + 8 * i;
const argHi = (i: number): number => 16 + 8 * i + 4;

interface Label {
  id: number;
}
type Item =
  | { t: 'op'; code: number; k: number }
  | { t: 'jmp'; code: number; k: number; jt: Label; jf: Label }
  | { t: 'ja'; to: Label }
  | { t: 'label'; l: Label };

/**
 * Symbolic BPF with labels. Conditional jumps reach only 255 instructions ahead (8-bit jt/jf),
 * so link() relaxes each one that cannot into a short jump to an unconditional BPF_JA, whose
 * offset is 32 bits. Every jump goes forward: a label is bound after the jumps that name it.
 */
class Asm {
  private items: Item[] = [];
  private labels = 0;
  label(): Label {
    return { id: this.labels++ };
  }
  bind(l: Label): void {
    this.items.push({ t: 'label', l });
  }
  op(code: number, k: number): void {
    this.items.push({ t: 'op', code, k: k >>> 0 });
  }
  ld(off: number): void {
    this.op(LD_W_ABS, off);
  }
  ret(k: number): void {
    this.op(RET_K, k);
  }
  ja(to: Label): void {
    this.items.push({ t: 'ja', to });
  }
  /** A conditional jump; null means the next instruction. */
  jmp(code: number, k: number, jt: Label | null, jf: Label | null): void {
    const next = jt === null || jf === null ? this.label() : null;
    this.items.push({ t: 'jmp', code, k: k >>> 0, jt: jt ?? next!, jf: jf ?? next! });
    if (next) this.bind(next);
  }
  link(): Insn[] {
    const farT = new Set<number>();
    const farF = new Set<number>();
    const pos: number[] = [];
    const at = new Map<number, number>();
    for (;;) {
      let p = 0;
      this.items.forEach((it, i) => {
        pos[i] = p;
        if (it.t === 'label') at.set(it.l.id, p);
        else p += it.t === 'jmp' ? 1 + (farT.has(i) ? 1 : 0) + (farF.has(i) ? 1 : 0) : 1;
      });
      let changed = false;
      this.items.forEach((it, i) => {
        if (it.t !== 'jmp') return;
        const p0 = pos[i]!;
        if (!farT.has(i) && at.get(it.jt.id)! - p0 - 1 > 255) (farT.add(i), (changed = true));
        if (!farF.has(i) && at.get(it.jf.id)! - p0 - 1 > 255) (farF.add(i), (changed = true));
      });
      if (!changed) break;
    }
    const out: Insn[] = [];
    const forward = (d: number): number => {
      if (d < 0) throw new Error('internal: a backward jump');
      return d;
    };
    this.items.forEach((it, i) => {
      if (it.t === 'label') return;
      if (it.t === 'op') out.push({ code: it.code, jt: 0, jf: 0, k: it.k });
      else if (it.t === 'ja') out.push({ code: JA, jt: 0, jf: 0, k: forward(at.get(it.to.id)! - out.length - 1) });
      else {
        const p0 = out.length;
        const ft = farT.has(i);
        const ff = farF.has(i);
        const jt = ft ? 0 : forward(at.get(it.jt.id)! - p0 - 1);
        const jf = ff ? (ft ? 1 : 0) : forward(at.get(it.jf.id)! - p0 - 1);
        out.push({ code: it.code, jt, jf, k: it.k });
        if (ft) out.push({ code: JA, jt: 0, jf: 0, k: forward(at.get(it.jt.id)! - out.length - 1) });
        if (ff) out.push({ code: JA, jt: 0, jf: 0, k: forward(at.get(it.jf.id)! - out.length - 1) });
      }
    });
    return out;
  }
}

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number(v >> 32n);

/** One comparison on the full 64-bit argument: jumps to `pass` or `fail`. */
function emitCond(a: Asm, c: Cond, pass: Label, fail: Label): void {
  const i = c.index;
  const vh = hi32(c.value);
  const vl = lo32(c.value);
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      a.ld(argHi(i));
      a.jmp(JEQ_K, vh, null, fail);
      a.ld(argLo(i));
      a.jmp(JEQ_K, vl, pass, fail);
      return;
    case 'SCMP_CMP_NE':
      a.ld(argHi(i));
      a.jmp(JEQ_K, vh, null, pass);
      a.ld(argLo(i));
      a.jmp(JEQ_K, vl, fail, pass);
      return;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE':
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      // x > v ⇔ hi > vh, or hi == vh and lo > vl (unsigned); LT and LE are the negations of
      // GE and GT, so they swap the targets.
      const strict = c.op === 'SCMP_CMP_GT' || c.op === 'SCMP_CMP_LE';
      const [t, f] = c.op === 'SCMP_CMP_GT' || c.op === 'SCMP_CMP_GE' ? [pass, fail] : [fail, pass];
      a.ld(argHi(i));
      a.jmp(JGT_K, vh, t, null);
      a.jmp(JEQ_K, vh, null, f);
      a.ld(argLo(i));
      a.jmp(strict ? JGT_K : JGE_K, vl, t, f);
      return;
    }
    case 'SCMP_CMP_MASKED_EQ': {
      const mh = hi32(c.value);
      const ml = lo32(c.value);
      // a word whose mask is 0 always compares equal (its datum bits are 0: refused otherwise)
      if (mh !== 0) {
        a.ld(argHi(i));
        a.op(AND_K, mh);
        a.jmp(JEQ_K, hi32(c.valueTwo), ml !== 0 ? null : pass, fail);
      }
      if (ml !== 0) {
        a.ld(argLo(i));
        a.op(AND_K, ml);
        a.jmp(JEQ_K, lo32(c.valueTwo), pass, fail);
      }
      return;
    }
  }
}

/** A syscall's conditional rules in profile order (exclusive where actions differ), then the default. */
function emitRules(a: Asm, rules: readonly Rule[], dflt: number): void {
  for (const r of rules) {
    const fail = a.label();
    for (const c of [...r.conds].sort((x, y) => x.index - y.index)) {
      const pass = a.label();
      emitCond(a, c, pass, fail);
      a.bind(pass);
    }
    a.ret(r.ret);
    a.bind(fail);
  }
  a.ret(dflt);
}

interface Segment {
  start: number;
  outcome: Outcome;
}

/** A balanced search over the syscall-number segments (A holds nr): log2(n) jumps to a leaf. */
function emitTree(a: Asm, segs: readonly Segment[], lo: number, hi: number, dflt: number): void {
  if (lo === hi) {
    const o = segs[lo]!.outcome;
    if (o.kind === 'ret') a.ret(o.ret);
    else emitRules(a, o.rules, dflt);
    return;
  }
  const mid = (lo + hi + 1) >> 1;
  const right = a.label();
  a.jmp(JGE_K, segs[mid]!.start, right, null);
  emitTree(a, segs, lo, mid - 1, dflt);
  a.bind(right);
  emitTree(a, segs, mid, hi, dflt);
}

/** [0, 2^32) cut into runs of numbers with one outcome; gaps get the default. */
function segments(decided: ReadonlyMap<number, Outcome>, dflt: number): Segment[] {
  const raw: Segment[] = [];
  let cursor = 0;
  for (const nr of [...decided.keys()].sort((x, y) => x - y)) {
    if (nr > cursor) raw.push({ start: cursor, outcome: { kind: 'ret', ret: dflt } });
    raw.push({ start: nr, outcome: decided.get(nr)! });
    cursor = nr + 1;
  }
  if (cursor <= 0xffffffff) raw.push({ start: cursor, outcome: { kind: 'ret', ret: dflt } });
  const out: Segment[] = [];
  for (const s of raw) {
    const prev = out[out.length - 1];
    if (prev && prev.outcome.kind === 'ret' && s.outcome.kind === 'ret' && prev.outcome.ret === s.outcome.ret) continue;
    out.push(s);
  }
  return out;
}

// ---- reading the profile --------------------------------------------------------------------

class Reader {
  refusals: OciSeccompRefusal[] = [];
  refuse(path: string, reason: string, hint: string): void {
    this.refusals.push({ path, reason, hint });
  }
  onlyKeys(o: Record<string, unknown>, allowed: readonly string[], path: string, what: string): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        this.refuse(`${path}.${k}`, `unknown field "${k}" in ${what}`, `the OCI runtime-spec (config-linux.md, Seccomp) defines only ${allowed.join(', ')} here; engine profile formats (containers-common's archMap, includes, excludes, comment) must be resolved into the OCI form first`);
      }
    }
  }
  action(v: unknown, path: string): Action | null {
    if (typeof v !== 'string' || !(ACTIONS as readonly string[]).includes(v)) {
      this.refuse(path, `unknown seccomp action ${JSON.stringify(v)}`, `use one of ${ACTIONS.filter((x) => x !== 'SCMP_ACT_TRACE' && x !== 'SCMP_ACT_NOTIFY').join(', ')}`);
      return null;
    }
    if (v === 'SCMP_ACT_NOTIFY') {
      this.refuse(path, 'SCMP_ACT_NOTIFY needs a seccomp agent listening on listenerPath; bvisor runs no listener', 'use SCMP_ACT_ERRNO or SCMP_ACT_ALLOW for this rule');
      return null;
    }
    if (v === 'SCMP_ACT_TRACE') {
      this.refuse(path, 'SCMP_ACT_TRACE hands the syscall to a ptrace(2) tracer; bvisor attaches no tracer, and without one the kernel answers ENOSYS', 'use SCMP_ACT_ERRNO (with errnoRet 38 for ENOSYS) to get the same answer');
      return null;
    }
    return v as Action;
  }
  errno(v: unknown, path: string, action: Action | null): number | null {
    if (v === undefined) return EPERM; // runtime-spec: "If not specified its default value is EPERM"
    if (action !== null && action !== 'SCMP_ACT_ERRNO') {
      this.refuse(path, `${action} takes no errno (runtime-spec: the runtime MUST fail)`, 'remove errnoRet, or use SCMP_ACT_ERRNO');
      return null;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_ERRNO) {
      this.refuse(path, `errno ${JSON.stringify(v)} is not in 1..${MAX_ERRNO}`, `give an errno number such as 1 (EPERM) or 38 (ENOSYS); 0 would make the syscall look successful without running it, and the kernel caps errno at MAX_ERRNO (${MAX_ERRNO})`);
      return null;
    }
    return v;
  }
  u64(v: unknown, path: string): bigint | null {
    if (typeof v === 'bigint' && v >= 0n && v <= U64_MAX) return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) {
      if (Number.isSafeInteger(v)) return BigInt(v);
      this.refuse(path, `${v} is above 2^53: read as a JSON number it is a double, so the uint64 that was written is lost`, 'parse the config with a reader that keeps uint64 exactly (and pass a bigint), or use a value below 2^53');
      return null;
    }
    this.refuse(path, `${JSON.stringify(typeof v === 'bigint' ? v.toString() : v)} is not a uint64`, 'give a non-negative integer below 2^64');
    return null;
  }
}

/**
 * Checks and compiles `profile` (the value of `linux.seccomp`) for `arch`. All refusals are
 * returned together; nothing is compiled when there is any.
 */
export function compileOciSeccomp(profile: unknown, arch: Arch, base = 'linux.seccomp'): OciSeccompResult {
  const r = new Reader();
  const notes: string[] = [];
  const flags: string[] = [];
  const skipped: OciSeccompCompiled['skipped'] = [];
  if (!isObject(profile)) {
    r.refuse(base, 'linux.seccomp must be an object', 'give { "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [...] }');
    return { ok: false, refusals: r.refusals };
  }
  r.onlyKeys(profile, SECCOMP_KEYS, base, 'linux.seccomp');

  // defaultAction (REQUIRED) and defaultErrnoRet
  let dflt: number | null = null;
  if (profile.defaultAction === undefined) r.refuse(`${base}.defaultAction`, 'defaultAction is missing (REQUIRED)', 'add "defaultAction": "SCMP_ACT_ERRNO" (deny what no rule allows)');
  else {
    const act = r.action(profile.defaultAction, `${base}.defaultAction`);
    const errno = r.errno(profile.defaultErrnoRet, `${base}.defaultErrnoRet`, act);
    if (act !== null && errno !== null) dflt = retOf(act, errno);
  }

  // architectures: the program admits only the native audit arch (x86_64 without x32)
  if (profile.architectures !== undefined) {
    if (!Array.isArray(profile.architectures)) r.refuse(`${base}.architectures`, 'architectures must be an array of SCMP_ARCH_* strings', 'give e.g. ["SCMP_ARCH_X86_64"], or leave it out (native only)');
    else {
      const others: string[] = [];
      profile.architectures.forEach((a: unknown, i: number) => {
        if (typeof a !== 'string' || !SCMP_ARCHES.has(a)) r.refuse(`${base}.architectures[${i}]`, `unknown architecture ${JSON.stringify(a)}`, `use one of ${[...SCMP_ARCHES].join(', ')}`);
        else if (a !== NATIVE_SCMP[arch] && !others.includes(a)) others.push(a);
      });
      if (others.length) notes.push(`architectures: ${others.join(', ')} not admitted: the filter admits only ${arch}'s own ABI (${NATIVE_SCMP[arch]}${arch === 'x86_64' ? ', without x32' : ''}) and kills a syscall made through any other`);
    }
  }

  // flags
  if (profile.flags !== undefined) {
    if (!Array.isArray(profile.flags)) r.refuse(`${base}.flags`, 'flags must be an array of SECCOMP_FILTER_FLAG_* strings', 'leave it out, or give ["SECCOMP_FILTER_FLAG_TSYNC"]');
    else {
      profile.flags.forEach((f: unknown, i: number) => {
        const p = `${base}.flags[${i}]`;
        if (f === 'SECCOMP_FILTER_FLAG_TSYNC') {
          flags.push(f);
          notes.push('flags: SECCOMP_FILTER_FLAG_TSYNC accepted: the workload is single-threaded when the filter is installed, so there is no other thread to synchronise');
        } else if (f === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV') {
          flags.push(f);
          notes.push('flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV accepted: it changes only how a SCMP_ACT_NOTIFY listener waits, and no rule here notifies');
        } else if (f === 'SECCOMP_FILTER_FLAG_SPEC_ALLOW') {
          r.refuse(p, 'SECCOMP_FILTER_FLAG_SPEC_ALLOW turns off the speculative store bypass mitigation the kernel applies to filtered tasks (seccomp(2))', 'remove it: bvisor does not weaken the workload against Spectre-v4');
        } else if (f === 'SECCOMP_FILTER_FLAG_LOG') {
          r.refuse(p, 'SECCOMP_FILTER_FLAG_LOG (log every non-ALLOW action) is not supported by the launcher yet', 'remove it; to log particular syscalls, give them SCMP_ACT_LOG');
        } else {
          r.refuse(p, `unknown seccomp flag ${JSON.stringify(f)}`, 'use SECCOMP_FILTER_FLAG_TSYNC or SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, or leave flags out');
        }
      });
    }
  }

  if (profile.listenerPath !== undefined) r.refuse(`${base}.listenerPath`, 'a seccomp agent (listenerPath) receives SCMP_ACT_NOTIFY decisions; bvisor runs no listener', 'remove listenerPath and any SCMP_ACT_NOTIFY rule');
  if (profile.listenerMetadata !== undefined) r.refuse(`${base}.listenerMetadata`, 'listenerMetadata is only for a seccomp agent (listenerPath), which bvisor does not run', 'remove listenerMetadata');

  // syscalls
  const byNr = new Map<number, Rule[]>();
  const table = TABLES[arch];
  if (profile.syscalls !== undefined) {
    if (!Array.isArray(profile.syscalls)) r.refuse(`${base}.syscalls`, 'syscalls must be an array', 'give [{ "names": [...], "action": "SCMP_ACT_ALLOW" }, ...]');
    else {
      profile.syscalls.forEach((s: unknown, i: number) => {
        const sp = `${base}.syscalls[${i}]`;
        if (!isObject(s)) return r.refuse(sp, 'a syscalls entry must be an object', 'give { "names": [...], "action": ... }');
        r.onlyKeys(s, SYSCALL_KEYS, sp, 'a syscalls entry');
        const act = s.action === undefined ? (r.refuse(`${sp}.action`, 'action is missing (REQUIRED)', 'add e.g. "action": "SCMP_ACT_ALLOW"'), null) : r.action(s.action, `${sp}.action`);
        const errno = r.errno(s.errnoRet, `${sp}.errnoRet`, act);
        const conds = readArgs(r, s.args, sp);
        const names: Array<{ name: string; nr: number }> = [];
        if (!Array.isArray(s.names) || s.names.length === 0) r.refuse(`${sp}.names`, 'names must be a non-empty array of syscall names (REQUIRED)', 'give e.g. "names": ["read", "write"]');
        else {
          s.names.forEach((n: unknown, j: number) => {
            const np = `${sp}.names[${j}]`;
            if (typeof n !== 'string' || n === '') return r.refuse(np, `${JSON.stringify(n)} is not a syscall name`, 'give the name as a string, e.g. "openat"');
            const nr = table[n];
            if (nr !== undefined) names.push({ name: n, nr });
            else if (KNOWN_NAMES.has(n)) skipped.push({ path: np, name: n, why: `not a syscall on ${arch} (another Linux architecture has it); libseccomp skips it too` });
            else {
              const near = nearNames(n);
              r.refuse(np, `no Linux architecture has a syscall named ${JSON.stringify(n)}`, near.length ? `did you mean ${near.map((x) => JSON.stringify(x)).join(' or ')}?` : 'check the spelling against syscalls(2); names are libseccomp’s (e.g. "_llseek", "newfstatat")');
            }
          });
        }
        if (act === null || errno === null || conds === null) return;
        const ret = retOf(act, errno);
        for (const { name, nr } of names) {
          const list = byNr.get(nr) ?? [];
          list.push({ path: sp, name, ret, conds });
          byNr.set(nr, list);
        }
      });
    }
  }
  if (r.refusals.length || dflt === null) return { ok: false, refusals: r.refusals };

  // resolve each syscall's rules (the semantics are in the top comment)
  const decided = new Map<number, Outcome>();
  let rules = 0;
  const sameAsDefault = new Set<string>();
  for (const [nr, all] of byNr) {
    const live = all.filter((x) => {
      if (x.ret !== dflt) return true;
      sameAsDefault.add(x.path);
      return false;
    });
    if (live.length === 0) continue;
    const first = live.find((x) => x.conds.length === 0);
    if (first) {
      for (const x of live) {
        if (x !== first && x.ret !== first.ret) notes.push(`${x.path} (${x.name}): ${describeRet(x.ret)} never applies: ${first.path} gives ${x.name} ${describeRet(first.ret)} for any arguments and came first (libseccomp keeps the first unconditional rule of a syscall)`);
      }
      rules += live.length;
      decided.set(nr, { kind: 'ret', ret: first.ret });
      continue;
    }
    for (let j = 1; j < live.length; j++) {
      for (let i = 0; i < j; i++) {
        const a = live[i]!;
        const b = live[j]!;
        if (a.ret === b.ret) continue;
        const w = overlap(a, b);
        if (w === null) continue;
        r.refuse(b.path, `${b.name}: this rule (${describeRet(b.ret)}) and ${a.path} (${describeRet(a.ret)}) both match some arguments, e.g. [${w.map((x) => hex(x)).join(', ')}], and the profile does not say which wins (libseccomp refuses identical conditions with EEXIST and otherwise picks by its decision tree's order, not the profile's)`, 'make the conditions exclusive (podman does for socket: EQ on one rule, NE on the others), or give the syscall one unconditional rule');
      }
    }
    rules += live.length;
    decided.set(nr, { kind: 'rules', rules: live, ret: dflt });
  }
  if (sameAsDefault.size) notes.push(`${[...sameAsDefault].join(', ')}: the action equals defaultAction, so these rules change nothing and are skipped (libseccomp refuses such a rule with EACCES; runc and crun skip it)`);
  if (r.refusals.length) return { ok: false, refusals: r.refusals };

  const a = new Asm();
  const kill = a.label();
  a.ld(OFF_ARCH);
  a.jmp(JEQ_K, AUDIT_ARCH[arch], null, kill);
  a.ld(OFF_NR);
  // x32 shares AUDIT_ARCH_X86_64 and marks its numbers with bit 30: another ABI, other numbers
  if (arch === 'x86_64') a.jmp(JGE_K, X32_SYSCALL_BIT, kill, null);
  const segs = segments(decided, dflt);
  emitTree(a, segs, 0, segs.length - 1, dflt);
  a.bind(kill);
  a.ret(SECCOMP_RET.KILL_PROCESS);
  const insns = a.link();
  if (insns.length > BPF_MAXINSNS) {
    return { ok: false, refusals: [{ path: `${base}.syscalls`, reason: `the compiled filter has ${insns.length} instructions, more than the kernel's BPF_MAXINSNS (${BPF_MAXINSNS})`, hint: 'merge rules with the same action into fewer entries, or drop argument conditions' }] };
  }
  return { ok: true, compiled: { insns, rules, skipped, notes, flags } };
}

function readArgs(r: Reader, v: unknown, sp: string): Cond[] | null {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    r.refuse(`${sp}.args`, 'args must be an array of { index, value, valueTwo, op }', 'give [] or leave args out for a rule on every call');
    return null;
  }
  const out: Cond[] = [];
  let ok = true;
  const seen = new Map<number, number>();
  v.forEach((x: unknown, j: number) => {
    const ap = `${sp}.args[${j}]`;
    if (!isObject(x)) {
      ok = false;
      return r.refuse(ap, 'an args entry must be an object', 'give { "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }');
    }
    r.onlyKeys(x, ARG_KEYS, ap, 'an args entry');
    const before = r.refusals.length;
    const index = x.index;
    if (index === undefined) r.refuse(`${ap}.index`, 'index is missing (REQUIRED)', 'give the argument number, 0..5');
    else if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5) r.refuse(`${ap}.index`, `argument index ${JSON.stringify(index)} is not 0..5: a syscall has at most six arguments`, 'count arguments from 0, as in syscall(2)');
    else if (seen.has(index)) {
      r.refuse(`${ap}.index`, `a second comparison of argument ${index} in one rule (the first is args[${seen.get(index)}]): libseccomp refuses it (EINVAL), and runc and crun then turn the rule into the OR of all its comparisons`, 'write one syscalls entry per comparison if you mean OR; for a range, make the entries exclusive or use SCMP_CMP_MASKED_EQ');
    } else seen.set(index, j);
    const op = x.op;
    if (op === undefined) r.refuse(`${ap}.op`, 'op is missing (REQUIRED)', `use one of ${OPS.join(', ')}`);
    else if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) r.refuse(`${ap}.op`, `unknown comparison ${JSON.stringify(op)}`, `use one of ${OPS.join(', ')}`);
    const value = x.value === undefined ? (r.refuse(`${ap}.value`, 'value is missing (REQUIRED)', 'give the value to compare with (the mask, for SCMP_CMP_MASKED_EQ)'), null) : r.u64(x.value, `${ap}.value`);
    const valueTwo = x.valueTwo === undefined ? 0n : r.u64(x.valueTwo, `${ap}.valueTwo`);
    if (value !== null && valueTwo !== null && typeof op === 'string') {
      if (op === 'SCMP_CMP_MASKED_EQ' && (valueTwo & ~value) !== 0n) {
        r.refuse(`${ap}.valueTwo`, `valueTwo ${hex(valueTwo)} has bits outside the mask ${hex(value)}, so (arg & mask) can never equal it; libseccomp would silently compare with ${hex(valueTwo & value)} instead`, 'for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the bits expected under it');
      } else if (op !== 'SCMP_CMP_MASKED_EQ' && valueTwo !== 0n) {
        r.refuse(`${ap}.valueTwo`, `valueTwo is used only by SCMP_CMP_MASKED_EQ; ${op} would ignore ${hex(valueTwo)}`, 'remove valueTwo (or set it to 0), or use two exclusive rules for a range');
      }
    }
    if (r.refusals.length !== before || value === null || valueTwo === null) {
      ok = false;
      return;
    }
    out.push({ index: index as number, op: op as Op, value, valueTwo });
  });
  return ok ? out : null;
}

// ---- stacking bvisor's filter in front -----------------------------------------------------

const RET_A = 0x16;

/**
 * One program that answers what bvisor's filter answers unless that is ALLOW or LOG, and then
 * what the OCI filter answers: a syscall is allowed only if both allow it, and bvisor's denials
 * keep their own return value. Where bvisor says LOG (its deny action in log mode), the OCI
 * filter still decides, and its ALLOW becomes LOG, so a log-mode bvisor never lets through what
 * the profile denies.
 * How: every jump in both programs is relative, so the OCI program is appended after bvisor's,
 * bvisor's final RET ALLOW (compile() ends with one) is dropped so that jumps to it land on the
 * OCI program's first instruction, and any other RET ALLOW (or LOG) becomes a 32-bit BPF_JA to it
 * (or to a copy of the OCI program whose ALLOW returns are LOG). The OCI program checks the arch
 * again, which is cheap and keeps it valid alone.
 */
export function composeFilters(bvisor: Insn[], oci: Insn[]): Insn[] {
  if (bvisor.length === 0 || oci.length === 0) throw new Error('composeFilters: an empty program');
  for (const x of [...bvisor, ...oci]) if (x.code === RET_A) throw new Error('composeFilters: RET A cannot be composed (its value is known only at run time)');
  const isRet = (x: Insn, k: number): boolean => x.code === RET_K && x.k >>> 0 === k;
  const dropLast = isRet(bvisor[bvisor.length - 1]!, SECCOMP_RET.ALLOW);
  const head = dropLast ? bvisor.slice(0, -1) : bvisor.slice();
  const ociAt = head.length;
  const needsLog = head.some((x) => isRet(x, SECCOMP_RET.LOG));
  const logAt = ociAt + oci.length;
  const out = head.map((x, i): Insn => {
    if (isRet(x, SECCOMP_RET.ALLOW)) return { code: JA, jt: 0, jf: 0, k: ociAt - i - 1 };
    if (isRet(x, SECCOMP_RET.LOG)) return { code: JA, jt: 0, jf: 0, k: logAt - i - 1 };
    return { ...x };
  });
  out.push(...oci.map((x) => ({ ...x })));
  if (needsLog) out.push(...oci.map((x) => (isRet(x, SECCOMP_RET.ALLOW) ? { ...x, k: SECCOMP_RET.LOG } : { ...x })));
  if (out.length > BPF_MAXINSNS) throw new Error(`composeFilters: the composed filter has ${out.length} instructions, more than BPF_MAXINSNS (${BPF_MAXINSNS})`);
  return out;
}
