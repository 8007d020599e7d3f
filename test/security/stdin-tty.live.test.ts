// Issue 9, attack 7: `stdin: { file }` was opened relative to bvisor's cwd with symlinks
// followed (a bundle symlink fed a root-only file to the workload), and in container mode with
// `stdin: null` the workload read keystrokes from the user's terminal through /dev/tty. Now the
// stdin file is resolved like every bundle path (beneath the bundle, by the kernel), must be a
// regular file the workload's own identity could read, and is opened once and checked; and
// unless stdin is the caller's terminal the workload starts a new session (no controlling
// terminal) and its /dev has no tty node. Oracles: the refusal codes, what the workload read,
// the errno opening /dev/tty under a real pseudo-terminal (script(1)).
import { chmodSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE, facts, E, probeRootfs } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { BIN, cliEnv } from '../helpers/cli.js';
import { skipOrFail } from '../helpers/require.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';

function stdinBundle(file: string): string {
  const d = tempDir('bvisor-stdin-');
  chmodSync(d, 0o755);
  writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [cat] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: /proc, access: read }\nstdio: { stdin: { file: ${file} }, stdout: capture, stderr: capture }\n`);
  return d;
}

const run = async (dir: string, host = facts()) => runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host });

describe('attack 7: stdin files and the terminal', () => {
  it('a bundle stdin file is fed to the workload; one that links out of the bundle is refused', async () => {
    const ok = stdinBundle('./in.txt');
    writeFileSync(join(ok, 'in.txt'), 'from the bundle');
    expect((await run(ok)).stdout?.toString()).toBe('from the bundle');
    const secret = join(tempDir('bvisor-secret-'), 'secret');
    writeFileSync(secret, 'SECRET');
    const bad = stdinBundle('./in.txt');
    symlinkSync(secret, join(bad, 'in.txt'));
    await expect(run(bad)).rejects.toMatchObject({ code: 'BV_MANIFEST_INVALID', issues: [expect.objectContaining({ code: 'BV_MANIFEST_PATH_ESCAPE', clause: 'stdio.stdin.file' })] });
  });

  it('a stdin file the workload could not read itself is refused; red twin: mapped to root, it would be fed', async () => {
    const d = tempDir('bvisor-secret-');
    chmodSync(d, 0o755);
    const secret = join(d, 'secret');
    writeFileSync(secret, 'SECRET');
    chmodSync(secret, 0o600); // root's
    const b = stdinBundle(secret);
    await expect(run(b)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'stdio', code: 'BV_PLAN_STDIN' })] });
    // The check is what stops it: with a (test-only) mapping to host root, bvisor feeds it.
    const asRoot = { ...facts(), mapping: { uid: 0, gid: 0, source: 'test: host root' } };
    expect((await run(b, asRoot)).stdout?.toString()).toBe('SECRET');
  });

  it('a 0644 stdin file under a directory the workload cannot search (0700, root\'s: /root) is refused; red twin: mapped to root, it would be fed', async () => {
    const d = tempDir('bvisor-private-'); // 0700, root's
    const notes = join(d, 'notes');
    writeFileSync(notes, 'PRIVATE');
    chmodSync(notes, 0o644);
    const b = stdinBundle(notes);
    await expect(run(b)).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'stdio', code: 'BV_PLAN_STDIN', message: expect.stringContaining('a directory on its path it may not search') })] });
    // The oracle for "could not read it itself": uid 65534 gets EACCES from the kernel.
    expect(spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', notes], { encoding: 'utf8' }).stderr).toContain('Permission denied');
    const asRoot = { ...facts(), mapping: { uid: 0, gid: 0, source: 'test: host root' } };
    expect((await run(b, asRoot)).stdout?.toString()).toBe('PRIVATE');
  });

  it('container mode with stdin: null cannot open /dev/tty, even under a real terminal', () => {
    if (!existsSync('/bin/busybox')) return skipOrFail('busybox', '/bin/busybox is missing (Debian busybox-static)');
    if (spawnSync('script', ['--version']).error) return skipOrFail('util-linux', 'script(1) is missing');
    const { dir: d } = probeRootfs('bvisor-tty-');
    const manifest = (stdin: string): void => writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload:\n  process: { exe: /bin/bvprobe, args: [try, tty] }\nstdio: { stdin: ${stdin}, stdout: inherit, stderr: inherit }\n`);
    const underTty = (): number => {
      const root = tempDir('bvisor-tty-root-');
      const cmd = `"${process.execPath}" "${BIN}" --root "${root}" run tty-${Math.random().toString(36).slice(2, 8)} -b "${d}"`;
      const out = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
      const m = /\[(\d+)\]/.exec(out.stdout);
      if (!m) throw new Error(`no probe output under script: ${out.stdout} ${out.stderr}`);
      return Number(m[1]);
    };
    manifest('null');
    expect(underTty()).toBe(E.NOENT); // no tty node, and no controlling terminal either
    // Control: with the terminal granted (stdin: inherit), the same probe opens it.
    manifest('inherit');
    expect(underTty()).toBe(0);
  });

  it('stdout: inherit of a terminal is handed write-only: with stdin: null the workload cannot read what the user types through fd 1', () => {
    if (spawnSync('script', ['--version']).error) return skipOrFail('util-linux', 'script(1) is missing');
    const d = tempDir('bvisor-ttyout-');
    chmodSync(d, 0o755);
    writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "if read -r x <&1; then echo READ:$x; else echo NOREAD; fi"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nstdio: { stdin: null, stdout: inherit, stderr: inherit }\nlimits: { wall: 20s }\n`);
    const root = tempDir('bvisor-ttyout-root-');
    const cmd = `"${process.execPath}" "${BIN}" --root "${root}" run ttyout-1 -b "${d}"`;
    // script(1) gives bvisor a pty as its stdio, and feeds it this line as the user's typing.
    const out = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, input: 'typed-by-the-user\n', env: cliEnv() });
    expect(out.stdout).not.toContain('READ:typed-by-the-user');
    expect(out.stdout).toContain('NOREAD');
  });
});
