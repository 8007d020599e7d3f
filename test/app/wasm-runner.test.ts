// The runner's job → outcome step, in process: whatever the job holds, the runner answers with
// an outcome (a classified trap, an exit, or host_error with a message), never an exception that
// would end as a stack trace on the guest's stderr.
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/backends/wasm/runner.js';
import { runnerMallocTunable, preloadable, ownHint } from '../../src/app/wasm.js';
import { notPreloaded } from '../../src/backends/wasm/nodump.js';
import { instrument } from '../../src/core/wasm/fuel.js';
import { I, T, wasmModule, type ModuleParts } from '../core/wasm/builder.js';

const CAPS = { maxPages: 16, tableEntries: 1024 };
const MEM = { min: 1, export: 'memory' };

function job(bytes: Uint8Array, fuel: string | null = '1000000', header: Record<string, unknown> = {}): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify({ args: ['m.wasm'], env: [], fuel, seed: 1, moduleBytes: bytes.length, preopens: [], ...header }) + '\n'), Buffer.from(bytes)]);
}

const instrumented = (p: ModuleParts): Uint8Array => instrument(wasmModule(p), CAPS).bytes;

describe('runner outcomes', () => {
  it('a guest that returns: exit 0, fuel counted', () => {
    const o = runJob(job(instrumented({ memory: MEM, funcs: [{ body: [I.nop], export: '_start' }] })));
    expect(o).toMatchObject({ exitCode: 0, trap: null, peakPages: 1, tableEntries: 0 });
    expect(Number(o.fuelUsed)).toBeGreaterThan(0);
  });

  it('broken jobs and modules are host errors with a message, not exceptions', () => {
    expect(runJob(Buffer.from('no newline'))).toMatchObject({ trap: 'host_error', message: 'the job is incomplete' });
    expect(runJob(Buffer.from('{not json\n'))).toMatchObject({ trap: 'host_error', message: expect.stringMatching(/^the job is not valid JSON: /) });
    expect(runJob(job(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0]), '1', { moduleBytes: 20 }))).toMatchObject({ trap: 'host_error', message: 'the job carries 8 module bytes of 20' });
    expect(runJob(job(Uint8Array.from([1, 2, 3])))).toMatchObject({ trap: 'host_error', message: expect.stringMatching(/could not be compiled/) });
  });

  it('no _start, or no fuel counter (an uninstrumented module): host errors, nothing runs', () => {
    expect(runJob(job(instrumented({ memory: MEM, funcs: [{ body: [], export: 'main' }] })))).toMatchObject({ trap: 'host_error', message: 'module has no _start export' });
    expect(runJob(job(wasmModule({ memory: MEM, funcs: [{ body: [I.unreachable], export: '_start' }] })))).toMatchObject({ trap: 'host_error', message: expect.stringMatching(/no fuel counter/) });
  });

  it('a data segment outside memory traps at instantiation: memory_oob', () => {
    expect(runJob(job(instrumented({ memory: MEM, funcs: [{ body: [], export: '_start' }], data: [{ offset: 70_000, bytes: [1] }] })))).toMatchObject({ trap: 'memory_oob', exitCode: null });
  });

  it('a trap in the start function, and running out of fuel there', () => {
    const trap = instrumented({ memory: MEM, funcs: [{ body: [I.unreachable] }, { body: [], export: '_start' }], start: 0 });
    expect(runJob(job(trap))).toMatchObject({ trap: 'unreachable' });
    const spin = instrumented({ memory: MEM, funcs: [{ body: [I.loop(), I.br(0), I.end] }, { body: [], export: '_start' }], start: 0 });
    expect(runJob(job(spin, '1000'))).toMatchObject({ trap: 'out_of_fuel' });
  });

  it('reports the entries its tables reached', () => {
    const m = instrumented({ memory: MEM, tables: [{ ref: T.funcref, min: 1 }], funcs: [{ body: [I.refNull(T.funcref), I.i32(99), I.tableGrow(0), I.drop], export: '_start' }] });
    expect(runJob(job(m))).toMatchObject({ exitCode: 0, tableEntries: 100 });
  });
});

// The runner's environment keeps a caller's own setting of each of the two malloc tunables (as
// bin/bvisor does for the CLI), and only those numbers: nothing else of the caller's tunables
// reaches the runner.
describe("the runner's malloc tunables", () => {
  const OURS = { hugetlb: '1', mmap_threshold: '33554432' };
  const tunables = (s: Partial<typeof OURS>): string => `glibc.malloc.hugetlb=${s.hugetlb ?? OURS.hugetlb}:glibc.malloc.mmap_threshold=${s.mmap_threshold ?? OURS.mmap_threshold}`;
  it("are bvisor's unless the caller set one, whose last setting holds (glibc reads the list in order)", () => {
    const value = (caller: string | undefined): string => runnerMallocTunable(caller).value;
    expect(runnerMallocTunable(undefined)).toEqual({ name: 'GLIBC_TUNABLES', value: tunables({}) });
    expect(value('')).toBe(tunables({}));
    expect(value('glibc.malloc.hugetlb=0')).toBe(tunables({ hugetlb: '0' }));
    expect(value('glibc.malloc.check=3:glibc.malloc.hugetlb=2:glibc.mem.tagging=1')).toBe(tunables({ hugetlb: '2' }));
    expect(value('glibc.malloc.hugetlb=0:glibc.malloc.hugetlb=1')).toBe(tunables({ hugetlb: '1' }));
    expect(value('glibc.malloc.top_pad=0:glibc.malloc.mmap_threshold=131072')).toBe(tunables({ mmap_threshold: '131072' }));
    // Not such a setting: another name that ends the same, a value that is not a number.
    expect(value('xglibc.malloc.hugetlb=0')).toBe(tunables({}));
    expect(value('glibc.malloc.hugetlb=0; rm -rf /')).toBe(tunables({}));
    expect(value('glibc.malloc.mmap_threshold=1e9')).toBe(tunables({}));
    expect(value('glibc.malloc.check=3')).toBe(tunables({}));
    // glibc also reads hex; an empty value is not passed on.
    expect(value('glibc.malloc.mmap_threshold=0x100000')).toBe(tunables({ mmap_threshold: '0x100000' }));
    expect(value('glibc.malloc.mmap_threshold=')).toBe(tunables({}));
    // The caller's MALLOC_MMAP_THRESHOLD_ (which GLIBC_TUNABLES would override) stands for the
    // threshold, below a GLIBC_TUNABLES setting of it.
    expect(runnerMallocTunable(undefined, '131072').value).toBe(tunables({ mmap_threshold: '131072' }));
    expect(runnerMallocTunable('glibc.malloc.mmap_threshold=65536', '131072').value).toBe(tunables({ mmap_threshold: '65536' }));
    expect(runnerMallocTunable(undefined, '128k; x').value).toBe(tunables({}));
  });
});

// The library that makes the runner and the rewriter non-dumpable is preloaded (LD_PRELOAD),
// whose list ld.so splits at spaces and colons with no escape (ld.so(8)), and skips when it
// cannot load it: both refused before anything runs; and each process refuses to go on unless the
// library's constructor said it ran.
describe('the non-dumpable preload', () => {
  const refusal = (lib: string, exists: boolean): unknown => {
    try {
      return preloadable(lib, () => exists);
    } catch (e) {
      const b = e as { code: string; message: string; hint: string };
      return { code: b.code, message: b.message, hint: b.hint };
    }
  };
  it('is named by an installed path without separators, or refused by name', () => {
    expect(refusal('/opt/bvisor/native-shim/build/libbvnodump.so', true)).toBe('/opt/bvisor/native-shim/build/libbvnodump.so');
    expect(refusal('/opt/my bvisor/libbvnodump.so', true)).toEqual({ code: 'BV_SHIM_LOAD', message: '/opt/my bvisor/libbvnodump.so cannot be preloaded: LD_PRELOAD splits its path at a space or a colon', hint: 'install bvisor under a path without spaces or colons' });
    expect(refusal('/opt/a:b/libbvnodump.so', true)).toMatchObject({ code: 'BV_SHIM_LOAD', message: expect.stringMatching(/space or a colon$/) });
    expect(refusal('/opt/bvisor/libbvnodump.so', false)).toEqual({ code: 'BV_SHIM_LOAD', message: '/opt/bvisor/libbvnodump.so is missing', hint: 'build it with `npm run build:shim` (needs cc and make)' });
  });
  it('is believed only from the mark its constructor sets', () => {
    expect(notPreloaded({ BVISOR_NONDUMPABLE: '1' })).toBeNull();
    for (const env of [{}, { BVISOR_NONDUMPABLE: '' }, { BVISOR_NONDUMPABLE: '0' }, { LD_PRELOAD: '/x/libbvnodump.so' }]) expect(notPreloaded(env)).toMatch(/not made non-dumpable/);
  });
});

// A refusal of one of bvisor's own processes' clauses (the runner, the rewriter) keeps the
// planner's ways to give the host what it lacks, and drops its ways to weaken the clause
// (guarantee: best-effort or mediated): those clauses are not the manifest's to mark.
describe("the hints of bvisor's own processes' refusals", () => {
  it('keep what the host can do, drop what a manifest would mark', () => {
    expect(ownHint('enable unprivileged user namespaces (sysctl x=1), or run bvisor as root')).toBe('enable unprivileged user namespaces (sysctl x=1), or run bvisor as root');
    expect(ownHint('run on a kernel with landlock ABI ≥ 3, or mark this grant guarantee: best-effort')).toBe('run on a kernel with landlock ABI ≥ 3');
    expect(ownHint('mark the clause guarantee: best-effort to accept it')).toBeNull();
    expect(ownHint('mark the grant guarantee: mediated to rely on the WASI host alone')).toBeNull();
  });
});
