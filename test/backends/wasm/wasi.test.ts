// The WASI host's surface: all 46 preview1 imports exist, the unimplemented ones fail closed
// (ENOSYS; sockets ENOTSUP), and deterministic mode repeats its random bytes and clock.
import { describe, expect, it } from 'vitest';
import { wasiImports, WASI_IMPORTS, E } from '../../../src/backends/wasm/wasi.js';

function host(seed: number | null) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  return { memory, imports: wasiImports(() => memory, { args: ['g'], env: [['A', '1']], seed, charge: () => {} }) as unknown as Record<string, (...a: unknown[]) => number> };
}

describe('WASI host surface', () => {
  it('has all 46 imports, and fails closed on the ones it does not implement', () => {
    const { imports } = host(1);
    expect(WASI_IMPORTS).toHaveLength(46);
    expect(Object.keys(imports).sort()).toEqual([...WASI_IMPORTS].sort());
    for (const n of ['fd_advise', 'fd_allocate', 'fd_renumber', 'proc_raise', 'path_filestat_set_times']) expect(imports[n]!(0, 0, 0, 0), n).toBe(E.NOSYS);
    for (const n of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown']) expect(imports[n]!(0, 0, 0, 0), n).toBe(E.NOTSUP);
    expect(imports.fd_prestat_get!(3, 0)).toBe(E.BADF); // no preopens given
  });

  it('deterministic mode repeats random bytes and clock readings for a seed', () => {
    const read = (seed: number): string => {
      const { memory, imports } = host(seed);
      imports.random_get!(0, 16);
      imports.clock_time_get!(0, 0n, 32);
      imports.clock_time_get!(0, 0n, 40);
      return Buffer.from(new Uint8Array(memory.buffer, 0, 48)).toString('hex');
    };
    expect(read(7)).toBe(read(7));
    expect(read(7)).not.toBe(read(8));
  });
});
