// Runs libseccomp itself as an oracle for src/core/seccomp/oci.ts: builds oracle.c (beside this
// file) with the machine's cc against libseccomp-dev, hands it an OCI profile as lines (one rule
// per syscalls[] entry and name, in profile order, as runc and crun add them), and returns the
// BPF libseccomp exported and what it said about each rule. The tests then run both programs in
// the same interpreter (test/helpers/bpf.ts). Nothing here knows how bvisor compiles.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ORACLE_SOURCE = join(__dirname, 'oracle.c');
/** Where Debian's libseccomp-dev puts the header the oracle needs. */
export const SECCOMP_HEADER = '/usr/include/seccomp.h';

export interface Oracle {
  bin: string;
  dir: string;
  /** libseccomp's version, as the package reports it (for messages). */
  version: string;
  dispose(): void;
}

/** Builds the oracle, or says why it cannot be built here. */
export function buildOracle(): Oracle | { missing: string } {
  if (!existsSync(SECCOMP_HEADER)) return { missing: `${SECCOMP_HEADER} is missing (Debian: apt-get install libseccomp-dev)` };
  const dir = mkdtempSync(join(tmpdir(), 'bvisor-seccomp-oracle-'));
  const bin = join(dir, 'oracle');
  const cc = spawnSync('cc', ['-Wall', '-Wextra', '-Werror', '-O1', '-o', bin, ORACLE_SOURCE, '-lseccomp'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { missing: `cc could not build ${ORACLE_SOURCE} against libseccomp: ${cc.error?.message ?? cc.stderr}` };
  }
  const v = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'libseccomp-dev'], { encoding: 'utf8' });
  return { bin, dir, version: v.status === 0 ? v.stdout.trim() : '?', dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

interface OciArg {
  index: number;
  value: number | bigint;
  valueTwo?: number | bigint;
  op: string;
}
interface OciRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciArg[];
}
export interface OciProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  syscalls?: OciRule[];
}

const act = (a: string): string => a.replace(/^SCMP_ACT_/, '');

/** The oracle's input for an OCI profile. Rule ids are "<entry>.<name index>". */
export function oracleLines(p: OciProfile): string {
  const lines = [`default ${act(p.defaultAction)} ${p.defaultErrnoRet ?? 1}`];
  (p.syscalls ?? []).forEach((s, i) => {
    s.names.forEach((n, j) => {
      const args = (s.args ?? []).map((a) => `${a.index} ${a.op.replace(/^SCMP_CMP_/, '')} ${BigInt(a.value)} ${BigInt(a.valueTwo ?? 0)}`);
      lines.push(`rule ${i}.${j} ${act(s.action)} ${s.errnoRet ?? 1} ${n} ${args.length}${args.length ? ' ' + args.join(' ') : ''}`);
    });
  });
  return lines.join('\n') + '\n';
}

export interface OracleRun {
  bpf: Uint8Array;
  /** Per rule id: "ok", "unknown", or "error <errno>" (libseccomp refused the rule). */
  status: Map<string, string>;
}

/** libseccomp's filter for `p` on `arch` (optimize: libseccomp's SCMP_FLTATR_CTL_OPTIMIZE, 1 or 2). */
export function runOracle(o: Oracle, p: OciProfile, arch: 'x86_64' | 'aarch64', optimize = 1): OracleRun {
  const out = join(o.dir, `out-${arch}-${optimize}.bpf`);
  const r = spawnSync(o.bin, [arch, out, String(optimize)], { input: oracleLines(p), encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`the libseccomp oracle failed (${r.status}): ${r.error?.message ?? r.stderr}`);
  const status = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (m) status.set(m[1]!, m[2]!);
  }
  return { bpf: new Uint8Array(readFileSync(out)), status };
}
