// bv_spawn_detached (native-shim/src/spawn.c), how the container's monitor is started: a program
// detached from us and an orphan from the start. Oracles: /proc as the started shell reads it
// about itself (its descriptors, parent, session, signal state), and our own children list.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { shim } from '../../src/backends/linux/ffi/shim.js';
import { until, alive, ourChildren } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';

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
  it('starts the program as an orphan in a session of its own, with exactly the descriptors given and default signals', async () => {
    const [r, w] = pipe(true);
    // A descriptor of ours that is not close-on-exec: it must not reach the program.
    const [strayR, strayW] = pipe(false);
    const script = [
      'exec 1>&3 2>&3',
      // ls writes straight to the pipe: a command substitution would hold a descriptor of the shell's.
      'echo fds-begin; ls /proc/$$/fd; echo fds-end',
      'echo "stdin $(readlink /proc/$$/fd/0)"',
      "echo \"sid $(cut -d' ' -f6 /proc/$$/stat) pid $$\"",
      "grep -E '^(PPid|SigIgn|SigBlk):' /proc/$$/status",
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
    // Node ignores SIGPIPE and blocks nothing in its main thread; the shim blocked everything
    // around the clones. Neither reaches the program.
    expect(out).toMatch(/^SigIgn:\s*0000000000000000$/m);
    expect(out).toMatch(/^SigBlk:\s*0000000000000000$/m);
    await until('the program to end', () => !alive(pid), 5000);
    expect(ourChildren()).toEqual(before);
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
    const many = argv('/bin/true', ...Array.from({ length: 64 }, (_, i) => String(i)));
    expect(shim().bv_spawn_detached('/bin/true', many, many.length, Int32Array.from([-1, -1, -1]), 3)).toBe(-constants.errno.E2BIG);
  });
});
