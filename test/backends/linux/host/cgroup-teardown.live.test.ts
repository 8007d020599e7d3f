// teardownCgroups (src/backends/linux/host/cgroups.ts) on leaves that still hold a process: it
// must kill what is inside and remove every leaf. The leaves are made here, under this file's
// cgroup parent (test/helpers/cgroups.ts) in the hierarchies launches use: cgroup v2, and v1's
// memory (a hybrid host's fallback for limits.memory). Each holds a `sleep` this test started.
// Oracles: the kernel's own files (the leaf's directory, the process's /proc entry) and the
// sleep's exit status, not teardown's answer alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { teardownCgroups, type Leaf } from '../../../../src/backends/linux/host/cgroups.js';
import { cgroupDirs, testParentDirs } from '../../../helpers/cgroups.js';
import { until } from '../../../helpers/wait.js';

let children: ChildProcess[] = [];
let made: string[] = [];
afterEach(async () => {
  // Dead before their leaves can go (rmdir refuses a cgroup with a task in it).
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => (c.on('exit', r), c.kill('SIGKILL'))))));
  for (const d of made.reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // gone already (the point of the test), or the cgroup guard reports it
    }
  }
  children = [];
  made = [];
});

/** A leaf under the test parent in cgroup v2 and in v1's memory hierarchy, where they exist. */
function leaves(): Leaf[] {
  const out: Leaf[] = [];
  const used = cgroupDirs().filter((h) => existsSync(join(h.root, 'cgroup.controllers')) || h.root.endsWith('/memory'));
  for (const parent of testParentDirs().filter((d) => used.some((h) => d.startsWith(`${h.root}/`)))) {
    const dir = join(parent, `teardown-${process.pid}-${out.length}`);
    try {
      if (!existsSync(parent)) {
        mkdirSync(parent);
        made.push(parent);
      }
      mkdirSync(dir);
      made.push(dir);
    } catch {
      continue; // a hierarchy we may not write here
    }
    out.push({ version: existsSync(join(dir, 'cgroup.controllers')) ? 2 : 1, controllers: [], dir, createdParents: [] });
  }
  return out;
}

/** /proc/<pid>/stat's state field, or null once the process is gone (reaped). */
function state(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? null;
  } catch {
    return null;
  }
}

describe('cgroup teardown (live)', () => {
  it('kills the processes still in each leaf and removes every leaf', async () => {
    const ls = leaves();
    expect(ls.length, 'no hierarchy under our own cgroup where a leaf can be made').toBeGreaterThan(0);
    const pids: number[] = [];
    const exits: Array<Promise<NodeJS.Signals | null>> = [];
    const held: Leaf[] = [];
    for (const l of ls) {
      const c = spawn('sleep', ['30'], { stdio: 'ignore' });
      children.push(c);
      try {
        writeFileSync(join(l.dir, 'cgroup.procs'), String(c.pid));
      } catch {
        // a hierarchy whose new cgroups take no task as made (v1 cpuset: no cpus or mems yet)
        c.kill('SIGKILL');
        continue;
      }
      expect(readFileSync(join(l.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(c.pid));
      exits.push(new Promise((r) => c.on('exit', (_code, signal) => r(signal))));
      pids.push(c.pid!);
      held.push(l);
    }
    expect(held.length, 'no leaf took a process').toBeGreaterThan(0);
    const t = teardownCgroups({ leaves: held, v2Fd: -1 });
    expect(t).toEqual({ complete: true, notes: [] });
    for (const l of held) expect(existsSync(l.dir), l.dir).toBe(false);
    // Each sleep died of SIGKILL (its exit status, as Node's reaping of our own child reads it).
    expect(await Promise.all(exits)).toEqual(pids.map(() => 'SIGKILL'));
    await until('the killed sleeps are gone', () => pids.every((p) => state(p) === null));
  });

});
