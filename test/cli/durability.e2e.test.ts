// What `create` makes durable, and when. Oracle: the system calls of create's own thread as
// strace records them (openat, fsync, rename; the clone that starts the monitor), read in order:
// - every record renamed into the container's directory had its data fsync'd before the rename
//   (a crash of the machine leaves the old file or the new one, never a torn one);
// - the plan and the first state are made durable (the directory fsync'd after their renames)
//   before anything is started;
// - the directory is fsync'd after the last rename, before create exits: every record a report
//   will be sealed from, and the state naming them, survive a crash of the machine.
// create's intermediate states (a cgroup being made, the pids just spawned) need not be: the
// machine's crash takes those with it (src/host/atomic.ts, Durability).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail, straceBin } from '../helpers/require.js';

type Event = { kind: 'open'; path: string; fd: number } | { kind: 'fsync'; fd: number; path: string } | { kind: 'rename'; from: string; to: string } | { kind: 'spawn' };

/** The events of one strace log (one thread, no -f: lines are `name(args) = result`). rename(2)
 * as libc makes it here, or renameat/renameat2 (aarch64 has no rename). */
function eventsOf(log: string): Event[] {
  const fds = new Map<number, string>();
  const out: Event[] = [];
  for (const line of log.split('\n')) {
    let m = /^openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)/.exec(line);
    if (m) {
      fds.set(Number(m[2]), m[1]!);
      out.push({ kind: 'open', path: m[1]!, fd: Number(m[2]) });
    }
    m = /^fsync\((\d+)\) += 0/.exec(line);
    if (m) out.push({ kind: 'fsync', fd: Number(m[1]), path: fds.get(Number(m[1])) ?? '?' });
    m = /^rename\("([^"]+)", "([^"]+)"\) += 0/.exec(line) ?? /^renameat2?\(AT_FDCWD, "([^"]+)", AT_FDCWD, "([^"]+)"(?:, \w+)?\) += 0/.exec(line);
    if (m) out.push({ kind: 'rename', from: m[1]!, to: m[2]! });
    // A new process (the monitor), not a thread of ours.
    if (/^(clone|clone3|vfork)\(/.test(line) && !line.includes('CLONE_THREAD')) out.push({ kind: 'spawn' });
  }
  return out;
}

describe('create: what is durable before anything runs, and before it exits', () => {
  it('records are fsync’d before their rename; the plan and first state before the monitor; all before exit', () => {
    const strace = straceBin();
    if (!strace) return skipOrFail('strace', 'no strace: the order of create’s fsyncs and renames is not checked');
    const root = newRoot();
    const b = probeBundle(['exit', '0']);
    const log = join(tempDir(), 'strace.log');
    // bin/bvisor execs Node in the same process, which strace (without -f) goes on tracing; the
    // monitor, a child, is not traced, so strace ends with create.
    const r = spawnSync(strace, ['-qq', '-o', log, '-e', 'trace=openat,fsync,?rename,renameat,renameat2,clone,clone3,?vfork', BVISOR, '--root', root, 'create', 'd1', '-b', b], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    try {
      if (r.status !== 0 && /ptrace|PTRACE/.test(r.stderr)) return skipOrFail('strace', `strace cannot trace here: ${r.stderr.trim()}`);
      expect(r.status, r.stderr).toBe(0);
      const dir = join(root, 'containers', 'd1');
      const ev = eventsOf(readFileSync(log, 'utf8'));
      const renames = ev.map((e, i) => ({ e, i })).filter((x): x is { e: Extract<Event, { kind: 'rename' }>; i: number } => x.e.kind === 'rename' && x.e.to.startsWith(dir + '/'));
      const names = renames.map((x) => x.e.to.slice(dir.length + 1));
      expect(names).toEqual(expect.arrayContaining(['plan.json', 'fsdelta.json', 'state.json', 'create.json']));
      const dirSynced = (from: number, to: number) => ev.slice(from, to).some((e) => e.kind === 'fsync' && e.path === dir);
      // The data before the name, for each of them: an fsync of the very descriptor the temp
      // file was opened as, between that open and the rename.
      for (const { e, i } of renames) {
        const opened = ev.slice(0, i).findLastIndex((x) => x.kind === 'open' && x.path === e.from);
        expect(opened, `${e.to}: its temp file opened`).toBeGreaterThanOrEqual(0);
        const fd = (ev[opened] as Extract<Event, { kind: 'open' }>).fd;
        expect(ev.slice(opened + 1, i).some((x) => x.kind === 'fsync' && x.fd === fd), `${e.to}: its data fsync'd before the rename`).toBe(true);
      }
      // Before the monitor starts (the first process started after the first state: the host
      // probe's own short-lived clones come before the plan): the plan's, fsdelta's and the first
      // state's renames, then the directory.
      const at = (name: string) => renames.find((x) => x.e.to === join(dir, name))!.i;
      const firstState = at('state.json');
      expect(at('plan.json')).toBeLessThan(firstState);
      expect(at('fsdelta.json')).toBeLessThan(firstState);
      const spawn = ev.findIndex((e, i) => i > firstState && e.kind === 'spawn');
      expect(spawn, 'the monitor was started by create, after the first state').toBeGreaterThan(firstState);
      expect(dirSynced(firstState + 1, spawn), 'the directory fsync’d after the first state, before the monitor').toBe(true);
      // Before create exits: the directory fsync'd after the last rename into it.
      const last = renames[renames.length - 1]!;
      expect(last.e.to).toBe(join(dir, 'state.json'));
      expect(dirSynced(last.i + 1, ev.length), 'the directory fsync’d after the last rename').toBe(true);
    } finally {
      cli(['delete', '-f', 'd1', '--root', root]);
    }
  });
});
