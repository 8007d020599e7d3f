// The all-architecture syscall name list behind the OCI profile compiler's typo check
// (scripts/gen-syscall-names.mjs, from libseccomp-dev's seccomp-syscalls.h). Its check is a
// function over texts, so these tests feed it a header with a name more or less and a hand-edited
// file, and prove it fails; against the installed header (where libseccomp-dev is) the
// checked-in list must be current.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LIBSECCOMP_SYSCALL_NAMES } from '../../../src/core/seccomp/syscall-names.generated.js';
import { skipOrFail } from '../../helpers/require.js';

interface Gen {
  parseHeader(text: string): string[];
  checkNames(i: { header: string; generated: string }): string[];
  HEADER: string;
}
const ROOT = join(__dirname, '..', '..', '..');
const gen = async (): Promise<Gen> => (await import(pathToFileURL(join(ROOT, 'scripts', 'gen-syscall-names.mjs')).href)) as Gen;
const generated = readFileSync(join(ROOT, 'src', 'core', 'seccomp', 'syscall-names.generated.ts'), 'utf8');

/** A header in seccomp-syscalls.h's shape: a name in both branches of an #ifdef, as the real one has. */
const header = (names: readonly string[]): string =>
  names.map((n) => `#ifdef __NR_${n}\n#define __SNR_${n}\t\t__NR_${n}\n#else\n#define __SNR_${n}\t\t__PNR_${n}\n#endif\n`).join('\n');

describe('gen-syscall-names', () => {
  it('reads each __SNR_ name once, sorted', async () => {
    const g = await gen();
    expect(g.parseHeader(header(['write', '_llseek', 'read']))).toEqual(['_llseek', 'read', 'write']);
    expect(() => g.parseHeader('#define __NR_read 0\n')).toThrow(/no __SNR_/);
  });

  it('--check passes on the header the list came from, and fails on a name more, a name less, or an edit', async () => {
    const g = await gen();
    expect(g.checkNames({ header: header(LIBSECCOMP_SYSCALL_NAMES), generated })).toEqual([]);
    expect(g.checkNames({ header: header([...LIBSECCOMP_SYSCALL_NAMES, 'frobnicate']), generated }).join('\n')).toMatch(/knows frobnicate, the checked-in list does not/);
    expect(g.checkNames({ header: header(LIBSECCOMP_SYSCALL_NAMES.filter((n) => n !== 'mmap2')), generated }).join('\n')).toMatch(/has mmap2, which the installed libseccomp does not know/);
    expect(g.checkNames({ header: header(LIBSECCOMP_SYSCALL_NAMES), generated: generated.replace('// 487 names', '// many names') }).join('\n')).toMatch(/edited by hand/);
  });

  it('has the names OCI profiles use for other architectures', () => {
    for (const n of ['_llseek', 'mmap2', 'socketcall', 'arm_fadvise64_64', 'breakpoint', 's390_runtime_instr', 'riscv_flush_icache']) expect(LIBSECCOMP_SYSCALL_NAMES, n).toContain(n);
  });

  it('is current against the installed libseccomp-dev', async () => {
    const g = await gen();
    if (!existsSync(g.HEADER)) return skipOrFail('libseccomp', `${g.HEADER} is missing (Debian: apt-get install libseccomp-dev)`);
    expect(g.checkNames({ header: readFileSync(g.HEADER, 'utf8'), generated })).toEqual([]);
  });
});
