// A child that shares bvisor's memory (CLONE_VM) must never take other ids where
// fs.suid_dumpable is 1: at every change of euid/egid/fsuid/fsgid the kernel sets the memory's
// dumpable flag to that sysctl (commit_creds), and with 1 a process of the workload's uid could
// then ptrace the child and write into the root bvisor (proc(5), /proc/sys/fs/suid_dumpable).
// Oracle: strace of a real `bvisor run` (its userns probes and its launch): the flags of every
// clone and clone3, and which children then call a set*id. The sysctl is the host's: only a
// machine that is ours alone (the VM: test/vm/guest.sh declares own-sysctl) sets it to 1 and puts
// it back; elsewhere that half runs where the host's value is 1, and the control (0 or 2: the
// children share) runs where the host keeps 0 or 2, as here.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, cliEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { required, skipOrFail, straceBin } from '../helpers/require.js';

const SYSCTL = '/proc/sys/fs/suid_dumpable';
const ID_CALLS = ['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid'];

interface Clones {
  /** child pid → the flags it was cloned with */
  flags: Map<number, string>;
  /** pids that changed an id successfully */
  changedIds: Set<number>;
}

/** Reads an strace -f log: each clone/clone3 (whole, or split into unfinished and resumed) and each set*id that returned 0. */
function parse(log: string): Clones {
  const flags = new Map<number, string>();
  const changedIds = new Set<number>();
  const pending = new Map<number, string>();
  for (const line of log.split('\n')) {
    const m = /^(\d+) +(.*)$/.exec(line); // strace pads the pid column
    if (!m) continue;
    const pid = Number(m[1]);
    const rest = m[2]!;
    const call = /^(clone3?)\((.*)$/.exec(rest);
    if (call) {
      const f = /flags=([A-Z_|0-9]+)/.exec(call[2]!)?.[1] ?? '';
      const done = / = (\d+)$/.exec(rest);
      if (done) flags.set(Number(done[1]), f);
      else if (rest.endsWith('<unfinished ...>')) pending.set(pid, f);
      continue;
    }
    const resumed = /^<\.\.\. clone3? resumed>.* = (\d+)$/.exec(rest);
    if (resumed && pending.has(pid)) {
      flags.set(Number(resumed[1]), pending.get(pid)!);
      pending.delete(pid);
      continue;
    }
    // A set*id strace shows whole, or split by another thread's line into unfinished and resumed.
    const id = /^(\w+)\(.*\) += 0$/.exec(rest) ?? /^<\.\.\. (\w+) resumed>.* = 0$/.exec(rest);
    if (id && ID_CALLS.includes(id[1]!)) changedIds.add(pid);
  }
  return { flags, changedIds };
}

/** `bvisor run` of bundles/hello under strace at the sysctl's current value. */
function tracedRun(): Clones & { log: string } {
  const dir = tempDir();
  const log = join(dir, 'strace.log');
  const r = spawnSync('strace', ['-f', '-qq', '-e', `trace=clone,clone3,${ID_CALLS.join(',')}`, '-e', 'signal=none', '-o', log, process.execPath, BIN, 'run', 'dumpable', '-b', join(ROOT, 'bundles', 'hello'), '--root', join(dir, 'root')], {
    cwd: ROOT,
    env: cliEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toBe('hello from inside the boundary\n');
  const text = readFileSync(log, 'utf8');
  return { ...parse(text), log: text };
}

/** The children that changed ids, with the flags they were cloned with. */
const idChangers = (c: Clones): Array<{ pid: number; flags: string }> => [...c.changedIds].map((pid) => ({ pid, flags: c.flags.get(pid) ?? '(not cloned by the trace)' }));

const SHARED = /(^|\|)CLONE_VM(\||$)/;

/** Whether this host lacks what the test needs (said loudly, or a failure where CI requires it). */
function unable(): boolean {
  if (process.geteuid?.() !== 0) {
    skipOrFail('root', 'the launch takes other ids only as root');
    return true;
  }
  if (!straceBin()) {
    skipOrFail('strace', 'strace is the oracle of the clone flags');
    return true;
  }
  return false;
}

describe('fs.suid_dumpable and the children that share our memory', () => {
  it('where it is 1, every child that changes ids is a copy (no CLONE_VM)', () => {
    if (unable()) return;
    const old = readFileSync(SYSCTL, 'utf8').trim();
    const own = required('own-sysctl');
    if (!own && old !== '1') {
      console.warn(`SKIP (own-sysctl): ${SYSCTL} is ${old} and belongs to this host; the VM (test/vm) sets it to 1 and back`);
      return;
    }
    try {
      if (own) writeFileSync(SYSCTL, '1');
      const run = tracedRun();
      const changers = idChangers(run);
      // The unprivileged userns probe (uid 65534) and the launch's child (the workload's ids).
      expect(changers.length, run.log.split('\n').filter((l) => !l.includes('CLONE_THREAD')).join('\n')).toBeGreaterThanOrEqual(2);
      for (const c of changers) expect(c.flags, `pid ${c.pid}`).not.toMatch(SHARED);
      expect(changers.some((c) => /CLONE_NEWUSER/.test(c.flags))).toBe(true); // the launch is among them
    } finally {
      if (own) writeFileSync(SYSCTL, old);
    }
  }, 300_000);

  // The control, where the host keeps its own value: the same children share our memory at 0
  // and 2, so the oracle sees CLONE_VM where it is used, and the copies above are the sysctl's.
  it('where it is 0 or 2, they share it (CLONE_VM: the fast path)', () => {
    if (unable()) return;
    const value = readFileSync(SYSCTL, 'utf8').trim();
    if (required('own-sysctl') || !['0', '2'].includes(value)) {
      console.warn(`SKIP (own-sysctl): ${SYSCTL} is ${value}${required('own-sysctl') ? ' on a machine where the test above sets it' : ''}; the control runs on hosts at 0 or 2`);
      return;
    }
    const run = tracedRun();
    const changers = idChangers(run);
    expect(changers.length, run.log).toBeGreaterThanOrEqual(2);
    for (const c of changers) expect(c.flags, `pid ${c.pid}`).toMatch(SHARED);
  }, 300_000);
});
