// Issue 9, attack 2: `fds:` handed over any descriptor open in bvisor's process: `fds: [12]` let a
// workload write into bvisor's internals, `fds: [18]` in create handed over the container's lock
// file. Now a manifest may pass only what the caller hands over: --preserve-fds N (fds 3..N+2,
// as runc) or LISTEN_FDS, and only descriptors that were there before Node opened its first own
// one (src/host/fds.ts). Oracles: the exit status and error code, the disk (what the workload
// wrote through the descriptor).
import { writeFileSync, readFileSync, openSync, closeSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { probeBundle, runProbe, facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

/** bvisor run through a shell that opens `3>out` first (as a script would). */
function runWithFd3(bundle: string, out: string, flags: string[]): { status: number | null; stderr: string; stdout: string } {
  const root = tempDir('bvisor-fds-root-');
  const cmd = `exec 3>"$OUT"; exec "$NODE" "$BIN" --root "$ROOT" run fd-${Math.random().toString(36).slice(2, 8)} -b "$BUNDLE" ${flags.join(' ')} --json`;
  const r = spawnSync('sh', ['-c', cmd], { env: { ...process.env, OUT: out, NODE: process.execPath, BIN, ROOT: root, BUNDLE: bundle }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('attack 2: only descriptors the caller hands over reach the workload', () => {
  it('a descriptor the shell opened reaches the workload only with --preserve-fds', () => {
    const d = tempDir('bvisor-fds-');
    const out = join(d, 'out.txt');
    const bundle = probeBundle(['try', 'fdwrite', '3', 'through-fd'], 'fds: [3]\n');
    // Not handed: refused before anything runs, naming the descriptor.
    const refused = runWithFd3(bundle, out, []);
    expect(refused.status).toBe(125);
    const err = JSON.parse(refused.stdout).error;
    expect(err.code).toBe('BV_PLAN_REFUSED');
    expect(err.issues.map((i: { clause: string; code: string }) => `${i.clause}:${i.code}`)).toEqual(['fds:BV_PLAN_FD_NOT_HANDED']);
    expect(readFileSync(out, 'utf8')).toBe('');
    // Handed: the workload writes through it (the disk is the oracle).
    const ok = runWithFd3(bundle, out, ['--preserve-fds', '1']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('through-fd');
  });

  it("bvisor's own descriptors are never handed, even inside a range the caller claims", () => {
    const d = tempDir('bvisor-fds-');
    const out = join(d, 'out.txt');
    // The caller claims 3..42, but only 3 came through exec; fds 4..42 that are open in bvisor
    // are its own (Node's event loop took 4, the first free number), whatever their numbers.
    const bundle = probeBundle(['try', 'fdwrite', '3', 'x'], 'fds: [12]\n');
    const r = runWithFd3(bundle, out, ['--preserve-fds', '40']);
    expect(r.status).toBe(125);
    expect(JSON.parse(r.stdout).error.issues.map((i: { code: string }) => i.code)).toEqual(['BV_PLAN_FD_NOT_HANDED']);
  });

  it('a hole in the claimed range is filled by Node: nothing from the hole upwards is handed', () => {
    const d = tempDir('bvisor-fds-');
    const root = tempDir('bvisor-fds-root-');
    // 3 and 5 are the caller's, 4 is left open: Node's first descriptor (its epoll) lands there.
    const run = (fd: number): { status: number | null; stdout: string } => {
      const bundle = probeBundle(['try', 'fdwrite', '3', 'x'], `fds: [${fd}]\n`);
      const cmd = `exec 3>"$D/a" 5>"$D/b"; exec "$NODE" "$BIN" --root "$ROOT" run h${fd}-${Math.random().toString(36).slice(2, 8)} -b "$BUNDLE" --preserve-fds 3 --json`;
      const r = spawnSync('sh', ['-c', cmd], { env: { ...process.env, D: d, NODE: process.execPath, BIN, ROOT: root, BUNDLE: bundle }, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, stdout: r.stdout };
    };
    expect(run(3).status).toBe(0);
    expect(readFileSync(join(d, 'a'), 'utf8')).toBe('x');
    const five = run(5);
    expect(five.status).toBe(125);
    expect(JSON.parse(five.stdout).error.issues.map((i: { code: string }) => i.code)).toEqual(['BV_PLAN_FD_NOT_HANDED']);
    expect(readFileSync(join(d, 'b'), 'utf8')).toBe('');
  });

  it('red twin: a descriptor the check would refuse does reach the workload when handed anyway', async () => {
    // A close-on-exec descriptor of this process stands for bvisor's internals; handing it over
    // through the in-process API (whose list the caller vouches for) skips the CLI's check.
    const d = tempDir('bvisor-fds-');
    chmodSync(d, 0o755);
    const f = join(d, 'internal');
    writeFileSync(f, '');
    const fd = openSync(f, 'w');
    try {
      expect(facts().identity.euid).toBe(0);
      const outcome = await runProbe(['try', 'fdwrite', '3', 'leaked'], `fds: [${fd}]\n`, { fds: [fd] });
      expect(outcome.stdout?.toString().trim()).toBe('[0]');
      expect(readFileSync(f, 'utf8')).toBe('leaked');
    } finally {
      closeSync(fd);
    }
  });
});
