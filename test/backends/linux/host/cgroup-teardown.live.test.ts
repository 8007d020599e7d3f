// teardownCgroups (src/backends/linux/host/cgroups.ts) on leaves that are not empty: it must kill
// what is inside and remove every leaf it can, and say why for one it cannot. The leaves are made
// here, under this file's cgroup parent (test/helpers/cgroups.ts) in the hierarchies launches
// use: cgroup v2, and v1's memory (a hybrid host's fallback for limits.memory). Each holds a
// `sleep` this test started. Oracles: the kernel's own files (the leaf's directory, cgroup.procs)
// and each sleep's exit status as Node reaps it, not teardown's answer alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signalMembers, teardownCgroups, type Leaf } from '../../../../src/backends/linux/host/cgroups.js';
import { faultPoints } from '../../../../src/host/faults.js';
import { cgroupDirs, testCgroupParent } from '../../../helpers/cgroups.js';
import { skipOrFail } from '../../../helpers/require.js';
import { tempDir } from '../../../helpers/tmp.js';
import { delay } from '../../../../src/host/timers.js';

let children: Array<{ child: ChildProcess; gone: Promise<NodeJS.Signals | null> }> = [];
let made: string[] = [];
afterEach(async () => {
  // Dead before their cgroups can go (rmdir refuses a cgroup with a task in it).
  for (const c of children) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.gone));
  for (const d of made.reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // gone already (the point of the tests), or the cgroup guard reports it
    }
  }
  children = [];
  made = [];
});

/** A `sleep` of ours, and its end: the signal that killed it (null if it exited or never ran). */
function sleeper(): { child: ChildProcess; gone: Promise<NodeJS.Signals | null> } {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const gone = new Promise<NodeJS.Signals | null>((r) => {
    child.on('exit', (_code, signal) => r(signal));
    child.on('error', () => r(null));
  });
  const s = { child, gone };
  children.push(s);
  return s;
}

function mkdirOurs(dir: string): void {
  mkdirSync(dir);
  made.push(dir);
}

/** The test parent in cgroup v2 and in v1's memory hierarchy, where we may make cgroups. */
function parents(): Array<{ dir: string; version: 1 | 2 }> {
  const p = testCgroupParent();
  const out: Array<{ dir: string; version: 1 | 2 }> = [];
  for (const h of cgroupDirs()) {
    const version = existsSync(join(h.root, 'cgroup.controllers')) ? 2 : h.root.endsWith('/memory') ? 1 : null;
    if (version === null) continue;
    const dir = join(p.startsWith('/') ? h.root : h.own, p);
    try {
      if (!existsSync(dir)) mkdirOurs(dir);
      out.push({ dir, version });
    } catch {
      // not ours to write here
    }
  }
  return out;
}

/** A leaf under each parent, holding one sleep of ours; the leaves that took it. */
function occupiedLeaves(name: string): Array<{ leaf: Leaf; gone: Promise<NodeJS.Signals | null>; pid: number }> {
  const out: Array<{ leaf: Leaf; gone: Promise<NodeJS.Signals | null>; pid: number }> = [];
  for (const p of parents()) {
    const dir = join(p.dir, `${name}-${process.pid}`);
    mkdirOurs(dir);
    const s = sleeper();
    writeFileSync(join(dir, 'cgroup.procs'), String(s.child.pid));
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(s.child.pid));
    out.push({ leaf: { version: p.version, controllers: [], dir, createdParents: [] }, gone: s.gone, pid: s.child.pid! });
  }
  return out;
}

describe('cgroup teardown (live)', () => {
  it('kills the processes still in each leaf and removes every leaf', async () => {
    const held = occupiedLeaves('teardown');
    if (!held.length) return skipOrFail('root', 'no cgroup v2 or v1 memory hierarchy where this test may make a leaf');
    expect(teardownCgroups({ leaves: held.map((h) => h.leaf), v2Fd: -1 })).toEqual({ complete: true, notes: [] });
    for (const h of held) expect(existsSync(h.leaf.dir), h.leaf.dir).toBe(false);
    expect(await Promise.all(held.map((h) => h.gone))).toEqual(held.map(() => 'SIGKILL'));
  });

  it('kills a process in a cgroup beneath the leaf, and removes that cgroup and the leaf', async () => {
    // A workload given a delegated subtree can make cgroups beneath its leaf; teardown takes them
    // too (runc's delete does). The leaf itself lists nobody.
    const ps = parents();
    if (!ps.length) return skipOrFail('root', 'no cgroup v2 or v1 memory hierarchy where this test may make a leaf');
    const cases = ps.map((p) => {
      const leaf = join(p.dir, `nested-${process.pid}`);
      mkdirOurs(leaf);
      const below = join(leaf, 'below');
      mkdirOurs(below);
      const s = sleeper();
      writeFileSync(join(below, 'cgroup.procs'), String(s.child.pid));
      expect(readFileSync(join(leaf, 'cgroup.procs'), 'utf8')).toBe('');
      return { leaf: { version: p.version, controllers: [], dir: leaf, createdParents: [] } as Leaf, below, gone: s.gone };
    });
    expect(teardownCgroups({ leaves: cases.map((c) => c.leaf), v2Fd: -1 })).toEqual({ complete: true, notes: [] });
    for (const c of cases) {
      expect(await Promise.race([c.gone, delay(5000, 'still running after 5 s')])).toBe('SIGKILL');
      expect(existsSync(c.below), c.below).toBe(false);
      expect(existsSync(c.leaf.dir), c.leaf.dir).toBe(false);
    }
  });

  it('an error rmdir will not get past (not EBUSY) is noted with its errno', () => {
    // Not a cgroup: a regular file where a leaf was expected (ENOTDIR, rmdir(2)).
    const file = join(tempDir('bvisor-teardown-'), 'not-a-dir');
    writeFileSync(file, '');
    const t = teardownCgroups({ leaves: [{ version: 2, controllers: [], dir: file, createdParents: [] }], v2Fd: -1 });
    expect(t).toEqual({ complete: false, notes: [`could not remove ${file}: rmdir: ENOTDIR`] });
    expect(existsSync(file)).toBe(true);
  });
});

// signalMembers (kill --all, and killAll where there is no cgroup.kill) signals a pid read from
// cgroup.procs only while it is still a member, and through a pidfd taken before it looks again:
// a member that left (or whose pid went to a process elsewhere) between the read and the signal
// is not reached. The test moves one sleep to a sibling leaf of its own at the fault point that
// follows the pin. Oracles: each sleep's end as Node reaps it, and cgroup.procs.
describe('signalling a leaf\'s members (live)', () => {
  it('signals each member once, and not one that left the leaf after its pid was read', async () => {
    const p = parents()[0];
    if (!p) return skipOrFail('root', 'no cgroup v2 or v1 memory hierarchy where this test may make a leaf');
    const leaf = join(p.dir, `members-${process.pid}`);
    const aside = join(p.dir, `aside-${process.pid}`);
    mkdirOurs(leaf);
    mkdirOurs(aside);
    const leaving = sleeper();
    const staying = sleeper();
    for (const s of [leaving, staying]) writeFileSync(join(leaf, 'cgroup.procs'), String(s.child.pid));
    const hit = faultPoints.hit;
    let moved = false;
    faultPoints.hit = (stage) => {
      if (stage !== 'cgroup:member-pinned' || moved) return;
      moved = true;
      writeFileSync(join(aside, 'cgroup.procs'), String(leaving.child.pid));
    };
    try {
      expect(signalMembers([leaf], 9)).toEqual([]);
    } finally {
      faultPoints.hit = hit;
    }
    expect(moved).toBe(true);
    expect(await Promise.race([staying.gone, delay(5000, 'still running after 5 s')])).toBe('SIGKILL');
    expect(await Promise.race([leaving.gone, delay(300, 'running')])).toBe('running');
    expect(readFileSync(join(aside, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(leaving.child.pid));
  });
});
