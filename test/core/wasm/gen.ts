// Random valid modules for the rewriter's properties, typed by construction: functions with
// i32 parameters and locals, bounded loops (nested), direct and indirect calls (only to
// lower-numbered functions, so every run ends), early returns and branches to the function's own
// label, br_table, mutable globals, memory loads, stores and bulk fills, if/else, blocks with
// br_if, select, division (which may trap) and the odd unreachable. Choices come from an
// entropy tape (an array fast-check generates and shrinks).
import { I, T, wasmModule, type Fn, type ModuleParts } from './builder.js';

export class Tape {
  private i = 0;
  constructor(private readonly xs: readonly number[]) {}
  /** A choice in [0, n). 0 once the tape is used up (so programs shrink towards small ones). */
  pick(n: number): number {
    if (n <= 1) return 0;
    const x = this.i < this.xs.length ? this.xs[this.i]! : 0;
    this.i++;
    return x % n;
  }
  chance(percent: number): boolean {
    return this.pick(100) < percent;
  }
}

export interface Generated {
  bytes: Uint8Array;
  /** Parameters of the exported `run`. */
  params: number;
  globals: number;
  memory: boolean;
  /** A static bound on the fuel charged between two checks (see the property). */
  slack: number;
}

type Code = Array<number | number[]>;

export function generate(tape: Tape): Generated {
  const globals = tape.pick(3);
  const memory = tape.chance(60);
  const nFuncs = 1 + tape.pick(4);
  const funcs: Fn[] = [];
  const arity: number[] = [];
  // the builder numbers types in order of first use; every function returns one i32
  const typeOfArity: number[] = [];
  const typeIndex = (params: number): number => {
    let t = typeOfArity.indexOf(params);
    if (t < 0) t = typeOfArity.push(params) - 1;
    return t;
  };
  let instructions = 0;
  let bulks = 0;
  for (let f = 0; f < nFuncs; f++) {
    const params = tape.pick(3);
    const userLocals = params + tape.pick(3);
    let locals = userLocals; // loop counters are appended as needed
    let loopDepth = 0;
    let depth = 0; // enclosing blocks, loops and ifs: label `depth` is the function's own
    const expr = (d: number): Code => {
      const k = d <= 0 ? tape.pick(3) : tape.pick(12);
      switch (k) {
        case 0:
          return [I.i32(tape.pick(7) - 2)];
        case 1:
          return userLocals ? [I.localGet(tape.pick(userLocals))] : [I.i32(tape.pick(100))];
        case 2:
          return globals ? [I.globalGet(tape.pick(globals))] : [I.i32(tape.pick(1000))];
        case 3:
        case 4: {
          const op = [I.i32Add, I.i32Sub, I.i32Mul, I.i32And, I.i32Xor, I.i32Shl, I.i32ShrU, I.i32DivU][tape.pick(8)]!;
          return [...expr(d - 1), ...expr(d - 1), op];
        }
        case 5:
          return memory ? [...expr(d - 1), I.i32(0xfffc), I.i32And, I.i32Load()] : [I.i32(7)];
        case 6: {
          if (f === 0) return [I.i32(3)];
          const g = tape.pick(f);
          return [...Array.from({ length: arity[g]! }, () => expr(d - 1)).flat(), I.call(g)];
        }
        case 7:
          return [...expr(d - 1), I.if(T.i32), ...expr(d - 1), I.else, ...expr(d - 1), I.end];
        case 8:
          return [...expr(d - 1), ...expr(d - 1), ...expr(d - 1), I.select];
        case 9:
          return memory ? [I.memorySize] : [I.i32(1)];
        case 10: {
          // call_indirect through the table (slot g holds function g)
          if (f === 0) return [I.i32(4)];
          const g = tape.pick(f);
          return [...Array.from({ length: arity[g]! }, () => expr(d - 1)).flat(), I.i32(g), I.callIndirect(typeIndex(arity[g]!))];
        }
        default:
          return [I.i32(tape.pick(1 << 16))];
      }
    };
    const stmt = (d: number): Code => {
      switch (d <= 0 ? tape.pick(3) : tape.pick(12)) {
        case 0:
          return userLocals ? [...expr(2), I.localSet(tape.pick(userLocals))] : [I.nop];
        case 1:
          return globals ? [...expr(2), I.globalSet(tape.pick(globals))] : [I.nop];
        case 2:
          return memory ? [...expr(1), I.i32(0xfffc), I.i32And, ...expr(1), I.i32Store()] : [...expr(1), I.drop];
        case 3:
          return [...expr(1), I.if(), ...nested(() => [...stmts(d - 1), I.else, ...stmts(d - 1)]), I.end];
        case 4:
          return [I.block(), ...nested(() => [...stmts(d - 1), ...expr(1), I.brIf(0), ...stmts(d - 1)]), I.end];
        case 5: {
          if (loopDepth >= 2) return [I.nop];
          const c = locals++;
          loopDepth++;
          const inner = nested(() => stmts(d - 1));
          loopDepth--;
          // c = k (1..4); loop { …; c -= 1; br_if (c != 0) }
          return [I.i32(1 + tape.pick(4)), I.localSet(c), I.loop(), ...inner, I.localGet(c), I.i32(1), I.i32Sub, I.localTee(c), I.brIf(0), I.end];
        }
        case 6:
          if (!memory) return [I.nop];
          bulks++;
          return [...expr(1), I.i32(0xfff), I.i32And, ...expr(1), ...expr(1), I.i32(0x3ff), I.i32And, I.memoryFill];
        case 7:
          return [...expr(2), I.drop];
        case 8:
          return tape.chance(35) ? [I.unreachable] : [I.nop];
        case 9:
          // leave the function early: return, or a br_if to the function's own label
          return tape.chance(50)
            ? [...expr(1), I.if(), ...nested(() => [...expr(1), I.return]), I.end]
            : [...expr(1), ...expr(1), I.brIf(depth), I.drop];
        case 10:
          // br_table over two nested blocks
          return [I.block(), ...nested(() => [I.block(), ...nested(() => [...expr(1), I.brTable([0, 1, 0], 1)]), I.end, ...stmts(d - 1)]), I.end];
        default:
          return [...expr(1), I.if(), ...nested(() => stmts(d - 1)), I.end];
      }
    };
    const nested = (f: () => Code): Code => {
      depth++;
      try {
        return f();
      } finally {
        depth--;
      }
    };
    const stmts = (d: number): Code => Array.from({ length: 1 + tape.pick(3) }, () => stmt(d)).flat();
    const body = [...stmts(3), ...expr(2)];
    instructions += countInstructions(body);
    arity.push(params);
    typeIndex(params);
    funcs.push({ params: Array(params).fill(T.i32), results: [T.i32], locals: locals > params ? [[locals - params, T.i32]] : [], body });
  }
  funcs[nFuncs - 1]!.export = 'run';
  const parts: ModuleParts = {
    funcs,
    globals: Array.from({ length: globals }, (_, g) => ({ type: T.i32, mutable: true, init: I.i32(g * 7 + 1), export: `g${g}` })),
    ...(memory ? { memory: { min: 1, max: 1, export: 'mem' } } : {}),
    tables: [{ ref: T.funcref, min: nFuncs, max: nFuncs }],
    elems: [{ offset: 0, funcs: funcs.map((_, i) => i) }],
  };
  // between two checks: at most the tail of every function on the stack (each at most its
  // size), plus the bulk charges (≤ 1023 / 64 each)
  return { bytes: wasmModule(parts), params: arity[nFuncs - 1]!, globals, memory, slack: instructions + 16 * bulks + 1 };
}

/** Instructions in a body: every item of a Code list is one instruction (with its immediates); +1 for the end. */
function countInstructions(code: Code): number {
  return code.length + 1;
}
