// The syscall-table check behind `npm run gen:check` (scripts/gen-syscalls.mjs --check). Its
// core is a function over texts, so these tests feed it header text with an extra or a
// contradicting syscall and prove it fails, without fake files. The headers are built from the
// checked-in tables minus the supplement, i.e. the headers the table was generated from.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TABLES } from '../../../src/core/seccomp/compile.js';

interface Supplement {
  source: string;
  syscalls: Array<{ name: string; nr: number; arches: string[] }>;
}
interface Gen {
  checkTables(i: { x86Header: string; genericHeader: string; supplement: Supplement; generated: string }): string[];
  X86_HEADER: string;
  GENERIC_HEADER: string;
}

const ROOT = join(__dirname, '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'gen-syscalls.mjs');
const generated = readFileSync(join(ROOT, 'src', 'core', 'seccomp', 'syscalls.generated.ts'), 'utf8');
const supplement = JSON.parse(readFileSync(join(ROOT, 'scripts', 'syscalls-newer.json'), 'utf8')) as Supplement;
const gen = async (): Promise<Gen> => (await import(pathToFileURL(SCRIPT).href)) as Gen;

const newer = new Set(supplement.syscalls.map((e) => e.name));
const header = (t: Readonly<Record<string, number>>, extra = ''): string =>
  Object.entries(t)
    .filter(([n]) => !newer.has(n))
    .map(([n, nr]) => `#define __NR_${n} ${nr}\n`)
    .join('') + extra;
const inputs = (o: { x86?: string; generic?: string; generated?: string; supplement?: Supplement } = {}) => ({
  x86Header: header(TABLES.x86_64, o.x86),
  genericHeader: header(TABLES.aarch64, o.generic),
  supplement: o.supplement ?? supplement,
  generated: o.generated ?? generated,
});

describe('gen-syscalls --check', () => {
  it('passes when the table is what the headers and the supplement give', async () => {
    expect((await gen()).checkTables(inputs())).toEqual([]);
  });

  it('fails when the headers know a syscall the checked-in table does not', async () => {
    const { checkTables } = await gen();
    expect(checkTables(inputs({ x86: '#define __NR_frobnicate 471\n' }))).toContain('x86_64: the installed kernel headers define frobnicate (471), the checked-in table does not');
    expect(checkTables(inputs({ generic: '#define __NR_frobnicate 471\n' }))).toContain('aarch64: the installed kernel headers define frobnicate (471), the checked-in table does not');
    // an old number moved is caught too (the last #define wins, as in cpp)
    expect(checkTables(inputs({ x86: '#define __NR_read 999\n' }))).toContain('x86_64: the installed kernel headers number read 999, the checked-in table 0');
  });

  it('fails when the supplement contradicts a header, by name or by number', async () => {
    const { checkTables } = await gen();
    expect(checkTables(inputs({ x86: '#define __NR_open_tree_attr 480\n' }))).toContain('x86_64: scripts/syscalls-newer.json numbers open_tree_attr 467, the installed headers 480');
    expect(checkTables(inputs({ generic: '#define __NR_frobnicate 467\n' }))).toContain('aarch64: scripts/syscalls-newer.json gives number 467 to open_tree_attr, the installed headers to frobnicate');
    const dup = { ...supplement, syscalls: [...supplement.syscalls, { name: 'listns', nr: 471, arches: ['x86_64'] }] };
    expect(checkTables(inputs({ supplement: dup }))).toContain('scripts/syscalls-newer.json: x86_64: listns is listed twice');
  });

  it('fails when the checked-in file is stale or edited by hand', async () => {
    const { checkTables } = await gen();
    const dropped = generated.replaceAll(', "open_tree_attr":467', '');
    expect(dropped).not.toBe(generated);
    const p = checkTables(inputs({ generated: dropped }));
    expect(p).toContain('x86_64: scripts/syscalls-newer.json lists open_tree_attr (467), the checked-in table does not');
    expect(p).toContain('aarch64: scripts/syscalls-newer.json lists open_tree_attr (467), the checked-in table does not');
    const extra = generated.replace('"read":0', '"frobnicate":999, "read":0');
    expect(checkTables(inputs({ generated: extra }))).toContain('x86_64: the checked-in table has frobnicate (999), which neither the installed headers nor scripts/syscalls-newer.json define');
    expect(checkTables(inputs({ generated: generated.replace('// GENERATED', '// GENERATED (tweaked)') }))).toEqual(['the generated file differs from what scripts/gen-syscalls.mjs writes (edited by hand?)']);
  });

  it('passes on this host’s installed headers, through the command npm run gen:check runs', async (ctx) => {
    const { X86_HEADER, GENERIC_HEADER, checkTables } = await gen();
    if (!existsSync(X86_HEADER) || !existsSync(GENERIC_HEADER)) {
      const why = `kernel UAPI headers missing: ${X86_HEADER} or ${GENERIC_HEADER} (install linux-libc-dev:amd64)`;
      console.warn(`SKIPPED: ${why}`);
      ctx.skip(why);
    }
    expect(checkTables({ x86Header: readFileSync(X86_HEADER, 'utf8'), genericHeader: readFileSync(GENERIC_HEADER, 'utf8'), supplement, generated })).toEqual([]);
    const r = spawnSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
