// The state root's small-file writes on a file system that fills up mid-write. Oracle: the disk
// itself (a 64 KiB tmpfs in a private mount namespace), read back by the shell that mounted it.
// write(2) on a nearly full file system writes what fits and returns that count; only the next
// write says ENOSPC. A writer that trusts one write renames a torn file into place.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail, straceBin } from '../helpers/require.js';
import { holdBlocks, reserveSpace, zeroFill } from '../../src/host/atomic.js';

const ATOMIC = join(ROOT, 'dist', 'host', 'atomic.js');

/** Runs `js` (with `atomic` and `fs` in scope) in a private mount namespace over a 64 KiB tmpfs at $D. */
function onSmallTmpfs(js: string, shellAfter: string): string {
  const dir = tempDir();
  const node = `const atomic = require(${JSON.stringify(ATOMIC)}); const fs = require('node:fs'); const D = process.env.D; ${js}`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `set -u\nmount -t tmpfs -o size=64k tmpfs "$D"\n"$NODE" -e "$JS"; echo "node=$?"\n${shellAfter}`], {
    encoding: 'utf8',
    env: { ...process.env, D: dir, NODE: process.execPath, JS: node },
    timeout: 30_000,
  });
  return r.stdout + r.stderr;
}

describe('writes on a file system that fills up mid-write', () => {
  it('writeFileAtomic fails with ENOSPC and leaves the old file whole, and no temp file', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    const out = onSmallTmpfs(
      `fs.writeFileSync(D + '/f', 'old\\n');
       try { atomic.writeFileAtomic(D + '/f', Buffer.alloc(100 * 1024, 0x61)); console.log('written'); } catch (e) { console.log('error=' + e.code); }`,
      `echo "content=$(cat "$D/f")"; ls -A "$D" | wc -l | sed 's/^/entries=/'`,
    );
    expect(out).toMatch(/error=ENOSPC\n/);
    expect(out).toMatch(/content=old\n/);
    expect(out).toMatch(/entries=1\n/);
  });

  it('writeFileOverReservation writes on a full file system into the space reserveSpace held', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    const out = onSmallTmpfs(
      `fs.writeFileSync(D + '/f', 'old\\n');
       atomic.reserveSpace(D + '/.r', 8192, 'a test write');
       try { fs.writeFileSync(D + '/fill', Buffer.alloc(1 << 20)); } catch (e) { console.log('fill=' + e.code); }
       try { atomic.writeFileAtomic(D + '/g', 'plain\\n'); } catch (e) { console.log('plain=' + e.code); }
       atomic.writeFileOverReservation(D + '/f', 'new state\\n', D + '/.r');`,
      `echo "content=$(cat "$D/f")"; stat -c 'size=%s' "$D/f"; echo "entries=$(ls -A "$D" | tr '\\n' ' ')"`,
    );
    expect(out).toMatch(/fill=ENOSPC\n/); // the file system is full…
    expect(out).toMatch(/plain=ENOSPC\n/); // …so a write needing new space fails
    expect(out).toMatch(/node=0\n/);
    expect(out).toMatch(/content=new state\n/);
    expect(out).toMatch(/size=10\n/); // cut to the data: the reservation's zeros are gone
    expect(out).toMatch(/entries=f fill \n/); // the reservation became f
  });
});

// A reservation must be space the file system has given, not a promise: a sparse file (a hole)
// would need new blocks at the very write it was made for. Oracle: stat(2)'s st_blocks (512-byte
// units) and the bytes read back.
describe('reservations hold real blocks', () => {
  const blocksOf = (p: string) => statSync(p).blocks * 512;
  /** `p` is `bytes` long, has blocks for all of them, and reads as zeros. */
  const expectHeldZeros = (p: string, bytes: number) => {
    expect(statSync(p).size).toBe(bytes);
    expect(blocksOf(p)).toBeGreaterThanOrEqual(bytes);
    expect(readFileSync(p).every((b) => b === 0)).toBe(true);
  };

  it('reserveSpace: a file of the asked size, its blocks allocated, reading as zeros', () => {
    const p = join(tempDir(), '.r');
    reserveSpace(p, 65536, 'a test write');
    expectHeldZeros(p, 65536);
  });

  it('where the file system has no fallocate, zeros are written and fsync’d instead (zeroFill)', () => {
    const p = join(tempDir(), '.r');
    const fd = openSync(p, 'wx', 0o600);
    try {
      zeroFill(fd, 8192);
    } finally {
      closeSync(fd);
    }
    expectHeldZeros(p, 8192);
  });

  it("fallocate's errors are passed on by name, with nothing written (EBADF: a read-only descriptor)", () => {
    const p = join(tempDir(), '.r');
    const fd = openSync(p, 'wx', 0o600);
    closeSync(fd);
    const ro = openSync(p, 'r');
    try {
      // fallocate(2): EBADF, "fd is not a valid file descriptor, or is not opened for writing".
      expect(() => holdBlocks(ro, 8192)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(ro);
    }
    expect(statSync(p).size).toBe(0);
  });

  it('reserveSpace on a full file system: BV_STATE_ROOT_UNUSABLE naming ENOSPC, and no file left', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    const out = onSmallTmpfs(
      `try { atomic.reserveSpace(D + '/.big', 1 << 20, 'a test write'); console.log('reserved'); } catch (e) { console.log('error=' + e.code + ' ' + e.message); }`,
      `echo "entries=$(ls -A "$D" | wc -l)"`,
    );
    expect(out).toMatch(/error=BV_STATE_ROOT_UNUSABLE cannot take the 1048576 bytes of a test write in .*: ENOSPC\n/);
    expect(out).toMatch(/entries=0\n/);
  });
});

// A reservation's unlinked blocks are handed out again by ext4 and xfs only once the unlink is
// committed (a directory fsync). freedSpaceUsable makes that fsync only where the write the space
// was for might not fit without them. Oracle: the system calls strace sees on the directory.
describe('space given back before the write it was held for', () => {
  /** fsync(2) calls on `dir` by freedSpaceUsable(dir, 8192), with `dir` a 64 KiB tmpfs or not. */
  function fsyncsOn(strace: string, small: boolean): number {
    const d = tempDir();
    const trace = join(tempDir(), 'trace');
    const js = `require(${JSON.stringify(ATOMIC)}).freedSpaceUsable(process.env.D, 8192)`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `set -eu\n${small ? 'mount -t tmpfs -o size=64k tmpfs "$D"\n' : ''}"$STRACE" -qq -e trace=openat,fsync -o "$T" "$NODE" -e "$JS"`], {
      encoding: 'utf8',
      env: { ...process.env, D: d, T: trace, STRACE: strace, NODE: process.execPath, JS: js },
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const fds = lines.flatMap((l) => {
      const m = /^openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)/.exec(l);
      return m && m[1] === d ? [m[2]] : [];
    });
    return lines.filter((l) => fds.some((fd) => l.startsWith(`fsync(${fd})`))).length;
  }

  it('a nearly full file system: the directory is fsync’d; a roomy one: not', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'mounting a tmpfs needs root');
    const strace = straceBin();
    if (!strace) return skipOrFail('strace', 'no strace: which directory is fsync’d is not checked');
    expect(fsyncsOn(strace, true)).toBe(1);
    // The test's temp directory: well over 16 MiB free on any machine that runs the suite.
    expect(fsyncsOn(strace, false)).toBe(0);
  });
});
