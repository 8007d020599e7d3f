// The state root's small-file writes on a file system that fills up mid-write. Oracle: the disk
// itself (a 64 KiB tmpfs in a private mount namespace), read back by the shell that mounted it.
// write(2) on a nearly full file system writes what fits and returns that count; only the next
// write says ENOSPC. A writer that trusts one write renames a torn file into place.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

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
