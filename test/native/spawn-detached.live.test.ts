// bv_spawn_detached (native-shim/src/spawn.c), how the container's monitor is started: a program
// detached from us and an orphan from the start. Oracles: /proc as the started shell reads it
// about itself (its descriptors, parent, session, signal state), and our own children list.
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { constants } from 'node:os';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { shim } from '../../src/backends/linux/ffi/shim.js';
import { until, alive, ourChildren } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { ROOT } from '../helpers/cli.js';

/** A pipe through the shim: [read, write], close-on-exec as asked. */
function pipe(cloexec: boolean): [number, number] {
  const fds = new Int32Array(2);
  expect(shim().bv_pipe(fds, cloexec ? 1 : 0, cloexec ? 1 : 0)).toBe(0);
  return [fds[0]!, fds[1]!];
}

const argv = (...a: string[]): Buffer => Buffer.from(a.map((s) => `${s}\0`).join(''));

/** Everything written to fd until EOF. */
function drain(fd: number): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = new Socket({ fd, readable: true, writable: false });
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('close', () => resolve(out));
  });
}

describe('bv_spawn_detached (live)', () => {
  it('starts the program as an orphan in a session of its own, with exactly the descriptors given', async () => {
    const [r, w] = pipe(true);
    // A descriptor of ours that is not close-on-exec: it must not reach the program.
    const [strayR, strayW] = pipe(false);
    const script = [
      'exec 1>&3 2>&3',
      // ls writes straight to the pipe: a command substitution would hold a descriptor of the shell's.
      'echo fds-begin; ls /proc/$$/fd; echo fds-end',
      'echo "stdin $(readlink /proc/$$/fd/0)"',
      "echo \"sid $(cut -d' ' -f6 /proc/$$/stat) pid $$\"",
      "grep -E '^PPid:' /proc/$$/status",
    ].join('\n');
    const before = ourChildren();
    const args = argv('/bin/sh', '-c', script);
    const pid = shim().bv_spawn_detached('/bin/sh', args, args.length, Int32Array.from([-1, -1, -1, w]), 4);
    shim().bv_close(w);
    shim().bv_close(strayR);
    shim().bv_close(strayW);
    expect(pid).toBeGreaterThan(0);
    // Never ours: not even for the moment between its start and its exit.
    expect(ourChildren()).not.toContain(pid);
    const out = await drain(r);
    // The shell's own descriptors while ls lists them (ls's are its own): stdio and position 3.
    expect(/fds-begin\n([^]*?)fds-end/.exec(out)?.[1]?.trim().split('\n')).toEqual(['0', '1', '2', '3']);
    expect(out).toMatch(/^stdin \/dev\/null$/m);
    expect(out).toContain(`sid ${pid} pid ${pid}`);
    expect(Number(/^PPid:\s*(\d+)$/m.exec(out)![1])).not.toBe(process.pid);
    await until('the program to end', () => !alive(pid), 5000);
    expect(ourChildren()).toEqual(before);
  });

  it('gives the program default signals: nothing ignored, nothing blocked', async () => {
    // Node ignores SIGPIPE and blocks nothing in its main thread; the shim blocks everything around
    // the clones. Neither may reach the program. The program reads its own signal state as it
    // started: grep, which changes neither (not a shell: dash unblocks everything when it
    // starts, and blocks everything around each vfork of a command, so what a command of its
    // reads of the shell's mask depends on timing).
    const [r, w] = pipe(true);
    const args = argv('/bin/grep', '-E', '^(SigIgn|SigBlk):', '/proc/self/status');
    const pid = shim().bv_spawn_detached('/bin/grep', args, args.length, Int32Array.from([-1, w, -1]), 3);
    shim().bv_close(w);
    expect(pid).toBeGreaterThan(0);
    const out = await drain(r);
    expect(out).toMatch(/^SigIgn:\s*0000000000000000$/m);
    expect(out).toMatch(/^SigBlk:\s*0000000000000000$/m);
    await until('the program to end', () => !alive(pid), 5000);
  });

  // Sources may sit where other descriptors go: the descriptor at position A must be A's source,
  // not the one placed at A a moment before. And positions reach past 64 (a workload given many
  // descriptors: --preserve-fds, one tree per bind mount).
  it('places each descriptor where asked, when a source sits on another position, past position 64', async () => {
    const [aR, aW] = pipe(true);
    const [bR, bW] = pipe(true);
    const high = Math.max(aW, bW, 64) + 40;
    const at = new Int32Array(high + 1).fill(-1);
    at[aW] = bW; // position aW (where a's write end sits in us) gets b's write end
    at[high] = aW; // and the last position gets a's
    const args = argv('/bin/sh', '-c', `echo to-b > /proc/$$/fd/${aW}; echo to-a > /proc/$$/fd/${high}`);
    const pid = shim().bv_spawn_detached('/bin/sh', args, args.length, at, at.length);
    for (const fd of [aW, bW]) shim().bv_close(fd);
    expect(pid).toBeGreaterThan(0);
    const [a, b] = await Promise.all([drain(aR), drain(bR)]);
    expect({ a, b }).toEqual({ a: 'to-a\n', b: 'to-b\n' });
  });

  // A caller whose descriptor 0 is closed: the program's /dev/null is the lowest free descriptor,
  // 0 itself. (In a Node of its own: this one's 0 stays.)
  it('gives /dev/null at 0 to a program whose caller had closed its 0', () => {
    const script = `
      const fs = require('node:fs');
      const { shim } = require(${JSON.stringify(`${ROOT}/dist/backends/linux/ffi/shim.js`)});
      const p = new Int32Array(2);
      if (shim().bv_pipe(p, 1, 1) !== 0) throw new Error('pipe');
      fs.closeSync(0);
      const a = Buffer.from(['/bin/sh', '-c', 'readlink /proc/$$/fd/0 >&3'].map((s) => s + '\\0').join(''));
      const pid = shim().bv_spawn_detached('/bin/sh', a, a.length, Int32Array.from([-1, -1, -1, p[1]]), 4);
      shim().bv_close(p[1]);
      const b = Buffer.alloc(64);
      const n = pid > 0 ? fs.readSync(p[0], b) : 0;
      process.stdout.write(JSON.stringify({ pid, out: b.subarray(0, n).toString() }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { pid: number; out: string };
    expect(got.pid).toBeGreaterThan(0);
    expect(got.out).toBe('/dev/null\n');
  });

  // Where the caller is pid 1 of its pid namespace, the orphans come back to it: the program once
  // it ends (reapIfOurs reaps it), and a program that failed to start (the intermediate reaps it
  // first). Oracle: the namespace's /proc, where an unreaped child stays as a zombie.
  it('in a caller that is pid 1, the monitor is reaped when it ends, and a failed start leaves no zombie', () => {
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
    if (probe.status !== 0) return skipOrFail('util-linux', `unshare --pid --fork --mount-proc: ${probe.stderr.trim()}`);
    const script = `
      const fs = require('node:fs');
      const { shim } = require(${JSON.stringify(`${ROOT}/dist/backends/linux/ffi/shim.js`)});
      const { reapIfOurs } = require(${JSON.stringify(`${ROOT}/dist/backends/linux/host/reaper.js`)});
      const kids = () => fs.readFileSync('/proc/1/task/1/children', 'utf8').trim();
      const state = (pid) => { try { return /^State:\\s*(\\S)/m.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'))[1]; } catch { return 'gone'; } };
      const a = (...v) => Buffer.from(v.map((s) => s + '\\0').join(''));
      const bad = a('/nonexistent/bvmonitor');
      const failed = shim().bv_spawn_detached('/nonexistent/bvmonitor', bad, bad.length, Int32Array.from([-1, -1, -1]), 3);
      const afterFailed = kids();
      const ok = a('/bin/sleep', '0.2');
      const pid = shim().bv_spawn_detached('/bin/sleep', ok, ok.length, Int32Array.from([-1, -1, -1]), 3);
      const ours = reapIfOurs(pid);
      setTimeout(() => process.stdout.write(JSON.stringify({ process: process.pid, failed, afterFailed, pid, ours, state: state(pid), left: kids() })), 1500);`;
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ process: 1, failed: -constants.errno.ENOENT, afterFailed: '', ours: 1, state: 'gone', left: '' });
  });

  it('a program that cannot be executed is the execve error, and leaves no process behind', () => {
    const before = ourChildren();
    const args = argv('/nonexistent/bvmonitor');
    expect(shim().bv_spawn_detached('/nonexistent/bvmonitor', args, args.length, Int32Array.from([-1, -1, -1]), 3)).toBe(-constants.errno.ENOENT);
    // No execute bit; an executable of no format the kernel knows (no shell retries it).
    const d = tempDir();
    writeFileSync(join(d, 'plain'), 'text\n', { mode: 0o644 });
    writeFileSync(join(d, 'garbage'), 'text\n', { mode: 0o755 });
    for (const [name, errno] of [['plain', constants.errno.EACCES], ['garbage', constants.errno.ENOEXEC]] as const) {
      const a = argv(join(d, name));
      expect(shim().bv_spawn_detached(join(d, name), a, a.length, Int32Array.from([-1, -1, -1]), 3)).toBe(-errno);
    }
    expect(ourChildren()).toEqual(before);
  });

  it('refuses arguments outside its bounds (EINVAL, E2BIG) before starting anything', () => {
    const ok = argv('/bin/true');
    expect(shim().bv_spawn_detached('/bin/true', ok, ok.length, Int32Array.from([-1, -1]), 2)).toBe(-constants.errno.EINVAL);
    const unterminated = Buffer.from('/bin/true');
    expect(shim().bv_spawn_detached('/bin/true', unterminated, unterminated.length, Int32Array.from([-1, -1, -1]), 3)).toBe(-constants.errno.EINVAL);
    const many = argv('/bin/true', ...Array.from({ length: 4096 }, (_, i) => String(i)));
    expect(shim().bv_spawn_detached('/bin/true', many, many.length, Int32Array.from([-1, -1, -1]), 3)).toBe(-constants.errno.E2BIG);
  });
});
