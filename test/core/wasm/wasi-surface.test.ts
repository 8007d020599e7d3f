// The WASI command surface a module must have to run: _start, a memory named "memory", and only
// WASI preview 1 imports with their specified types. The type table is checked against an
// independent oracle: clang + wasi-libc compile a program that takes every __wasi_* function of
// wasi/api.h, and wabt's wasm-objdump prints the types the resulting module imports them with.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSurface, wasiProblems } from '../../../src/core/wasm/fuel.js';
import { WASI_PREVIEW1, showType } from '../../../src/core/wasm/wasi-types.js';
import { WASI_IMPORTS } from '../../../src/backends/wasm/wasi.js';
import { I, T, wasmModule, type ModuleParts } from './builder.js';
import { tempDir } from '../../helpers/tmp.js';
import { skipOrFail } from '../../helpers/require.js';

const API_H = '/usr/include/wasm32-wasi/wasi/api.h';

describe('WASI preview 1 types', () => {
  it('match what clang + wasi-libc import for every function of wasi/api.h (and the host implements the same names)', () => {
    if (!existsSync(API_H)) return skipOrFail('wasi-clang', `${API_H} (Debian wasi-libc) is not installed`);
    const names = [...new Set([...readFileSync(API_H, 'utf8').matchAll(/^(?:__wasi_errno_t|_Noreturn void|void) __wasi_([a-z_]+)\(/gm)].map((m) => m[1]!))];
    expect(names.length).toBeGreaterThanOrEqual(45);
    const d = tempDir('bvisor-wasi-types-');
    writeFileSync(join(d, 'all.c'), `#include <wasi/api.h>\nvoid *volatile all[] = {${names.map((n) => `(void *)__wasi_${n}`).join(',')}};\nint main(void) { return all[0] != 0; }\n`);
    const cc = spawnSync('clang', ['--target=wasm32-wasi', '-O0', '-o', join(d, 'all.wasm'), join(d, 'all.c')], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) return skipOrFail('wasi-clang', `clang cannot build for wasm32-wasi here: ${cc.stderr ?? cc.error}`);
    const dump = spawnSync('wasm-objdump', ['-x', join(d, 'all.wasm')], { encoding: 'utf8' });
    if (dump.error) return skipOrFail('wabt', 'wasm-objdump (Debian wabt) is not installed');
    const types = new Map([...dump.stdout.matchAll(/^ - type\[(\d+)\] \(([^)]*)\) -> (.*)$/gm)].map((m) => [m[1]!, `(${m[2]}) -> (${m[3] === 'nil' ? '' : m[3]})`]));
    const imported = new Map([...dump.stdout.matchAll(/^ - func\[\d+\] sig=(\d+) <[^>]*> <- wasi_snapshot_preview1\.([a-z_]+)$/gm)].map((m) => [m[2]!, types.get(m[1]!)!]));
    expect([...imported.keys()].sort()).toEqual([...names].sort());
    for (const [n, t] of imported) expect(`${n} ${showType(WASI_PREVIEW1.get(n)!)}`).toBe(`${n} ${t}`);
    // the spec's 46th function, not in this wasi-libc's header: proc_raise(sig: signal) -> errno
    expect(new Set(WASI_PREVIEW1.keys())).toEqual(new Set([...names, 'proc_raise']));
    expect(showType(WASI_PREVIEW1.get('proc_raise')!)).toBe('(i32) -> (i32)');
    expect(new Set(WASI_IMPORTS)).toEqual(new Set(WASI_PREVIEW1.keys()));
  });
});

describe('wasiProblems', () => {
  const fdWrite = { module: 'wasi_snapshot_preview1', name: 'fd_write', params: [T.i32, T.i32, T.i32, T.i32], results: [T.i32] };
  const base = (p: Partial<ModuleParts> = {}): ModuleParts => ({ imports: [fdWrite], memory: { min: 1, export: 'memory' }, funcs: [{ body: [], export: '_start' }], ...p });
  const problems = (p: ModuleParts): string[] => wasiProblems(readSurface(wasmModule(p)), WASI_IMPORTS);

  it('a WASI command has none', () => {
    expect(problems(base())).toEqual([]);
    // no WASI import: no memory needed
    expect(problems(base({ imports: [], memory: undefined }))).toEqual([]);
  });

  const cases: Array<[string, ModuleParts, RegExp]> = [
    ['no _start', base({ funcs: [{ body: [], export: 'main' }] }), /^module has no _start export/],
    ['_start that is a global', base({ funcs: [{ body: [] }], globals: [{ type: T.i32, mutable: false, init: I.i32(0), export: '_start' }] }), /^_start is exported as a global, not a function$/],
    ['_start with a parameter', base({ funcs: [{ params: [T.i32], body: [], export: '_start' }] }), /^_start has type \(i32\) -> \(\); a WASI command's _start takes nothing/],
    ['_start with a result', base({ funcs: [{ results: [T.i32], body: [I.i32(0)], export: '_start' }] }), /^_start has type \(\) -> \(i32\)/],
    ['no memory export', base({ memory: { min: 1 } }), /^module imports WASI functions but exports no memory named "memory"/],
    ['"memory" that is a global', base({ memory: { min: 1 }, globals: [{ type: T.i32, mutable: false, init: I.i32(0), export: 'memory' }] }), /^"memory" is exported as a global, not a memory$/],
    ['a foreign import', base({ imports: [fdWrite, { module: 'env', name: 'f', params: [], results: [] }] }), /^it imports what bvisor does not provide: env\.f$/],
    ['an unknown WASI name', base({ imports: [{ ...fdWrite, name: 'fd_frobnicate' }] }), /does not provide: wasi_snapshot_preview1\.fd_frobnicate/],
    ['a WASI function with the wrong type', base({ imports: [{ ...fdWrite, params: [T.i64] }] }), /^it imports wasi_snapshot_preview1\.fd_write as \(i64\) -> \(i32\), but WASI preview 1 defines it as \(i32, i32, i32, i32\) -> \(i32\)$/],
  ];
  for (const [what, p, re] of cases) {
    it(what, () => {
      const list = problems(p);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatch(re);
    });
  }

  it('every problem is listed, not just the first', () => {
    expect(problems(base({ imports: [{ ...fdWrite, params: [] }], memory: undefined, funcs: [{ body: [] }] }))).toHaveLength(3);
  });
});
