// bv_openat2 (native-shim/src/sys.c) and EAGAIN: with RESOLVE_BENEATH or RESOLVE_IN_ROOT, the
// kernel answers EAGAIN when a rename or a mount anywhere on the system races the resolution of
// "..", and openat2(2) says the caller may retry. A busy host once made a tar bundle's inside
// chain (usr/lib/x -> ../share/x) "cannot be resolved inside the bundle (EAGAIN)". strace's fault
// injection makes those answers happen on demand; the oracle is the result and the calls strace saw.
import { mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail, straceBin } from '../helpers/require.js';

const SHIM = join(__dirname, '..', '..', 'dist', 'backends', 'linux', 'ffi', 'shim.js');
// openat2(2): RESOLVE_BENEATH 0x08; O_PATH from open(2) (010000000 octal on x86_64 and aarch64).
const RESOLVE_BENEATH = 0x08;
const O_PATH = 0o10000000;

/** Opens `top` (resolve 0), then `rel` beneath it with `resolve`, under strace injecting EAGAIN
 * into the openat2 calls `when` names; prints the second result. */
function openUnder(when: string, rel: string, resolve: number): { result: number; calls: string[] } {
  const strace = straceBin()!;
  const top = tempDir();
  mkdirSync(join(top, 'a'));
  mkdirSync(join(top, 'b'));
  const trace = join(tempDir(), 'trace');
  const js = `const { shim } = require(${JSON.stringify(SHIM)});
    const s = shim();
    const dir = s.bv_openat2(-100, process.env.TOP, ${O_PATH}, 0, 0);
    if (dir < 0) throw new Error('top: ' + dir);
    console.log(s.bv_openat2(dir, process.env.REL, ${O_PATH}, 0, ${resolve}));`;
  const r = spawnSync(strace, ['-f', '-qq', '-o', trace, '-e', 'trace=openat2', '-e', `inject=openat2:error=EAGAIN:when=${when}`, process.execPath, '-e', js], { encoding: 'utf8', env: { ...process.env, TOP: top, REL: rel } });
  expect(r.status, r.stderr).toBe(0);
  return { result: Number(r.stdout.trim()), calls: readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(`"${rel}"`)) };
}

describe('bv_openat2 under EAGAIN (live, strace)', () => {
  it('a scoped open that raced a rename or mount is tried again, and succeeds', () => {
    if (!straceBin()) return skipOrFail('strace', 'no strace: EAGAIN cannot be injected');
    // Calls 2, 3 and 4 (the first is the top directory's) answer EAGAIN; the fifth is the kernel's.
    const { result, calls } = openUnder('2..4', 'a/../b', RESOLVE_BENEATH);
    expect(result).toBeGreaterThanOrEqual(0);
    expect(calls.filter((l) => /= -1 EAGAIN .*\(INJECTED\)/.test(l))).toHaveLength(3);
    expect(calls.at(-1)).toMatch(/= \d+$/);
  });

  it('is tried a bounded number of times: a host that never stops renaming still gets EAGAIN', () => {
    if (!straceBin()) return skipOrFail('strace', 'no strace: EAGAIN cannot be injected');
    const { result, calls } = openUnder('2+', 'a/../b', RESOLVE_BENEATH);
    expect(result).toBe(-11); // EAGAIN (errno(3))
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.length).toBeLessThan(1000);
  });

  it('an unscoped open answers EAGAIN at once (a lease on an O_NONBLOCK open, open(2)): not a race to retry', () => {
    if (!straceBin()) return skipOrFail('strace', 'no strace: EAGAIN cannot be injected');
    const { result, calls } = openUnder('2', 'a/../b', 0);
    expect(result).toBe(-11);
    expect(calls).toHaveLength(1);
  });
});
