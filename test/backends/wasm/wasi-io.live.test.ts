// The WASI host's writes when the host side fails: stdio to a reader that left (EPIPE), and stdio
// and a preopened directory's file on a file system that fills up (a short write, then ENOSPC). The guest must get what writev(2) would tell a
// native program: the count that moved, then the errno, in WASI's numbering
// (WebAssembly/WASI typenames.witx, $errno: pipe = 64, nospc = 51, success = 0), never an
// exception out of the host, never a vaguer errno. Oracle: the host imports driven in a child
// process whose fd 1 is the broken pipe or the small file (or whose preopen is on the small file
// system), and the file's size on disk.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync, statSync, symlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasiImports } from '../../../src/backends/wasm/wasi.js';
import { ROOT } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { skipOrFail } from '../../helpers/require.js';

const WASI = join(ROOT, 'dist', 'backends', 'wasm', 'wasi.js');
/** Three fd_write calls of N bytes each on fd 1; prints [[errno, nwritten], …] on stderr. */
const DRIVER = `
  const { wasiImports } = require(${JSON.stringify(WASI)});
  const memory = new WebAssembly.Memory({ initial: 1 });
  const imp = wasiImports(() => memory, { args: [], env: [], seed: 1, charge: () => {} });
  const dv = new DataView(memory.buffer);
  const n = Number(process.argv[1]);
  dv.setUint32(0, 64, true); // iovec: the bytes at 64…
  dv.setUint32(4, n, true); // …n of them
  const out = [];
  for (let i = 0; i < 3; i++) {
    dv.setUint32(8, 0xffffffff, true);
    out.push([imp.fd_write(1, 0, 1, 8), dv.getUint32(8, true)]);
  }
  process.stderr.write(JSON.stringify(out));
`;

/** The same three writes to a file `out` opened (created) beneath a preopen of $D. */
const FILE_DRIVER = `
  const { wasiImports } = require(${JSON.stringify(WASI)});
  const memory = new WebAssembly.Memory({ initial: 1 });
  const imp = wasiImports(() => memory, { args: [], env: [], seed: 1, charge: () => {}, preopens: [{ guest: '/out', host: process.env.D, readonly: false }] });
  const dv = new DataView(memory.buffer);
  new Uint8Array(memory.buffer).set(Buffer.from('out'), 16);
  // path_open(preopen 3, no follow, "out", creat, rights fd_write (1 << 6), inheriting 0, fdflags 0, *fd)
  const rc = imp.path_open(3, 0, 16, 3, 1, 64n, 0n, 0, 12);
  if (rc !== 0) throw new Error('path_open: ' + rc);
  const fd = dv.getUint32(12, true);
  const n = Number(process.argv[1]);
  dv.setUint32(0, 64, true);
  dv.setUint32(4, n, true);
  const out = [];
  for (let i = 0; i < 3; i++) {
    dv.setUint32(8, 0xffffffff, true);
    out.push([imp.fd_write(fd, 0, 1, 8), dv.getUint32(8, true)]);
  }
  process.stderr.write(JSON.stringify(out));
`;

/** Runs `js` with 40000 as its argument in a private mount namespace over a 64 KiB tmpfs at $D, its fd 1 on $D/out when `toFile`. */
function onSmallTmpfs(js: string, toFile: boolean): { calls: Array<[number, number]>; size: number } {
  const dir = tempDir();
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `set -u\nmount -t tmpfs -o size=64k tmpfs "$D"\n"$NODE" -e "$JS" 40000 ${toFile ? '> "$D/out"' : ''}; echo "node=$?"; stat -c "size=%s" "$D/out"`], {
    encoding: 'utf8',
    env: { ...process.env, D: dir, NODE: process.execPath, JS: js },
    timeout: 30_000,
  });
  expect(r.stdout, r.stderr).toMatch(/node=0\n/);
  return { calls: JSON.parse(r.stderr) as Array<[number, number]>, size: Number(/size=(\d+)/.exec(r.stdout)?.[1]) };
}

/** 40000 bytes, then what fit (a short write, exactly what the disk holds), then nospc (51). */
function expectFilled({ calls, size }: { calls: Array<[number, number]>; size: number }): void {
  expect(calls[0]).toEqual([0, 40000]);
  expect(calls[1]![0]).toBe(0);
  expect(calls[1]![1]).toBeGreaterThan(0);
  expect(calls[1]![1]).toBeLessThan(40000);
  expect(40000 + calls[1]![1]).toBe(size);
  expect(calls[2]![0]).toBe(51);
}

describe('WASI writes when the host side fails', () => {
  it('stdin someone made non-blocking: a read waits for the data, as the blocking read the guest was told of', async () => {
    const reader = `
      process.stdin.pause(); // libuv opens fd 0 for the stream: the pipe becomes O_NONBLOCK
      const { wasiImports } = require(${JSON.stringify(WASI)});
      const memory = new WebAssembly.Memory({ initial: 1 });
      const imp = wasiImports(() => memory, { args: [], env: [], seed: 1, charge: () => {} });
      const dv = new DataView(memory.buffer);
      dv.setUint32(0, 64, true);
      dv.setUint32(4, 100, true);
      const rc = imp.fd_read(0, 0, 1, 8);
      const n = dv.getUint32(8, true);
      process.stderr.write(JSON.stringify([rc, n, Buffer.from(memory.buffer, 64, n).toString()]));
      process.exit(0);
    `;
    const child = spawn(process.execPath, ['-e', reader], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    setTimeout(() => child.stdin.end('late\n'), 300); // long after the driver's first read
    const code = await new Promise((r) => child.on('close', r));
    expect(code, err).toBe(0);
    expect(JSON.parse(err)).toEqual([0, 5, 'late\n']);
  });

  it('a reader that left: EPIPE (64), nothing written', async () => {
    const child = spawn(process.execPath, ['-e', DRIVER, '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader leaves before the driver's Node has even started
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code, err).toBe(0);
    // nwritten is left alone on an error (the guest reads it only on success)
    expect(JSON.parse(err)).toEqual([[64, 0xffffffff], [64, 0xffffffff], [64, 0xffffffff]]);
  });

  it('stdio on a file system that fills up: the count that fit, then ENOSPC (51)', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    expectFilled(onSmallTmpfs(DRIVER, true));
  });

  it('a file in a preopened directory on a file system that fills up: the same, not EIO', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    expectFilled(onSmallTmpfs(FILE_DRIVER, false));
  });
});

// Found by attack and by a review: the file host charged one unit a call whatever it moved or
// listed (8 GiB read for 17,016 units; fd_readdir lists the whole directory again on every call),
// and u64 offsets arrived signed (an offset of 2^64-1, as -1, made fd_pread read at the current
// position). Oracle: the charges the host makes, recorded, against what was moved and listed
// (wasm-fuel.md: one unit a call, one more per 64 bytes moved, one per entry listed).
describe('the file host charges what it moves and lists', () => {
  it('fd_readdir per entry listed, fd_pwrite and fd_pread per 64 bytes; a u64 offset past 2^53 is EINVAL', () => {
    const dir = tempDir('bvisor-wasi-charge-');
    for (let i = 0; i < 100; i++) writeFileSync(join(dir, `f${i}`), '');
    const memory = new WebAssembly.Memory({ initial: 2 });
    const charges: number[] = [];
    const imp = wasiImports(() => memory, { args: [], env: [], seed: 1, charge: (u) => charges.push(u), preopens: [{ guest: '/d', host: dir, readonly: false }] }) as unknown as Record<string, (...a: Array<number | bigint>) => number>;
    const dv = new DataView(memory.buffer);
    const spent = (f: () => number): { rc: number; units: number } => {
      charges.length = 0;
      const rc = f();
      return { rc, units: charges.reduce((a, b) => a + b, 0) };
    };
    // 24 bytes of buffer: not even one whole entry, but the host listed 102 (100, . and ..)
    expect(spent(() => imp.fd_readdir!(3, 1024, 24, 0n, 16))).toEqual({ rc: 0, units: 1 + 102 });
    // a file to write and read: path_open(3, no follow, "out", O_CREAT, read|write rights)
    new Uint8Array(memory.buffer).set(Buffer.from('out'), 64);
    expect(imp.path_open!(3, 0, 64, 3, 1, 2n | 64n, 0n, 0, 72)).toBe(0);
    const fd = dv.getUint32(72, true);
    dv.setUint32(80, 4096, true); // iovec: 6400 bytes at 4096
    dv.setUint32(84, 6400, true);
    // the call, its one iovec, 6400 / 64 bytes
    expect(spent(() => imp.fd_pwrite!(fd, 80, 1, 0n, 88))).toEqual({ rc: 0, units: 1 + 1 + 100 });
    expect(dv.getUint32(88, true)).toBe(6400);
    expect(spent(() => imp.fd_pread!(fd, 80, 1, 0n, 88))).toEqual({ rc: 0, units: 1 + 1 + 100 });
    // 2^64 - 1 as the i64 arrives (-1n): not "the current position" (a read of 6400 bytes from
    // where the last read left off would give 0 here, EOF; EINVAL is the answer), and no read
    expect(imp.fd_pread!(fd, 80, 1, -1n, 88)).toBe(28);
    expect(imp.fd_pwrite!(fd, 80, 1, 2n ** 60n, 88)).toBe(28);
    expect(statSync(join(dir, 'out')).size).toBe(6400);
    // path_readlink with a buffer the guest says is 4 GiB: its target fits in PATH_MAX, so the
    // host never allocates what was asked (found by attack: 4 GiB a call for one unit), and a
    // buffer past the memory is FAULT
    symlinkSync('target', join(dir, 'lnk'));
    new Uint8Array(memory.buffer).set(Buffer.from('lnk'), 96);
    expect(imp.path_readlink!(3, 96, 3, 2048, 0xffffff00, 2040)).toBe(21);
    expect(imp.path_readlink!(3, 96, 3, 2048, 100, 2040)).toBe(0);
    expect([dv.getUint32(2040, true), Buffer.from(memory.buffer, 2048, 6).toString()]).toEqual([6, 'target']);
  });
});
