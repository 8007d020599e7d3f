// The WASI host's writes when the host side fails: stdio to a reader that left (EPIPE), and stdio
// and a preopened directory's file on a file system that fills up (a short write, then ENOSPC). The guest must get what writev(2) would tell a
// native program: the count that moved, then the errno, in WASI's numbering
// (WebAssembly/WASI typenames.witx, $errno: pipe = 64, nospc = 51, success = 0), never an
// exception out of the host, never a vaguer errno. Oracle: the host imports driven in a child
// process whose fd 1 is the broken pipe or the small file (or whose preopen is on the small file
// system), and the file's size on disk.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
