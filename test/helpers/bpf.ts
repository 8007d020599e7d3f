// A classic-BPF interpreter for seccomp programs: the oracle the compiler is tested against.
// Written from the BPF instruction set (linux/filter.h, bpf_common.h), independently of
// src/core/seccomp/compile.ts. It rejects anything it does not understand.
export interface SeccompData {
  nr: number;
  arch: number;
  args?: bigint[];
}

export function runBpf(prog: Uint8Array, d: SeccompData): number {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const n = prog.length / 8;
  const data = new DataView(new ArrayBuffer(64));
  data.setInt32(0, d.nr, true);
  data.setUint32(4, d.arch >>> 0, true);
  (d.args ?? []).forEach((a, i) => data.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  let A = 0;
  let pc = 0;
  for (let steps = 0; steps < 100_000; steps++) {
    if (pc >= n) throw new Error(`fell off the end at ${pc}`);
    const code = dv.getUint16(pc * 8, true);
    const jt = dv.getUint8(pc * 8 + 2);
    const jf = dv.getUint8(pc * 8 + 3);
    const k = dv.getUint32(pc * 8 + 4, true);
    const cls = code & 0x07;
    if (cls === 0x00) {
      // BPF_LD: only W | ABS on seccomp_data, 4-byte aligned, inside the struct
      if (code !== 0x20 || k % 4 !== 0 || k > 60) throw new Error(`bad load ${code.toString(16)} k=${k}`);
      A = data.getUint32(k, true);
      pc++;
    } else if (cls === 0x04) {
      const op = code & 0xf0;
      if ((code & 0x08) !== 0) throw new Error('ALU X not supported');
      if (op === 0x50) A = (A & k) >>> 0;
      else if (op === 0x40) A = (A | k) >>> 0;
      else throw new Error(`ALU op ${op.toString(16)}`);
      pc++;
    } else if (cls === 0x05) {
      const op = code & 0xf0;
      if ((code & 0x08) !== 0) throw new Error('JMP X not supported');
      if (op === 0x00) {
        pc += 1 + k;
        continue;
      }
      let cond: boolean;
      if (op === 0x10) cond = A === k;
      else if (op === 0x20) cond = A > k;
      else if (op === 0x30) cond = A >= k;
      else if (op === 0x40) cond = (A & k) !== 0;
      else throw new Error(`JMP op ${op.toString(16)}`);
      pc += 1 + (cond ? jt : jf);
    } else if (cls === 0x06) {
      if (code !== 0x06) throw new Error('RET A not supported');
      return k >>> 0;
    } else throw new Error(`class ${cls}`);
  }
  throw new Error('no return');
}
