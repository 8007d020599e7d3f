// Cgroups on a shared machine. Every test names a parent inside our own cgroup subtree
// (testCgroupParent(): `bvisor-test-<worker pid>`): the CLI helper passes it through
// BVISOR_CGROUP_PARENT, runProbe by default, and the audit seam (test/seams/cgroup-audit.ts)
// fails a test that makes bvisor create a cgroup anywhere else. test/setup/cgroups.ts removes
// the parent after each test file; test/setup/cgroup-guard.ts checks at the end of the run
// that nothing bvisor made is left in any hierarchy.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeCgroups } from '../../src/host/facts.js';

/** In the throwaway VM (test/vm) the placement defaults are under test and nothing is shared. */
export function cgroupsAnywhere(): boolean {
  return process.env.BVISOR_TEST_CGROUP_ANYWHERE === '1';
}

/**
 * The cgroup parent a test names: under our own cgroup here; in the VM, from the hierarchy root
 * (our cgroup there may be a populated scope, whose children can have no controllers).
 */
export function testCgroupParent(): string {
  return `${cgroupsAnywhere() ? '/' : ''}bvisor-test-${process.pid}`;
}

/** The parent a test passes when it does not care where its cgroups go: in the VM, none (the
 * planner's own placement is what runs there). */
export function defaultTestParent(): string | null {
  return cgroupsAnywhere() ? null : testCgroupParent();
}

/** Every mounted hierarchy (v1 and v2): its root directory and our own cgroup's directory, as
 * the host probe reads them (without its trial mkdir). */
export function cgroupDirs(): Array<{ root: string; own: string }> {
  const c = probeCgroups(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'), () => ({ ok: false, error: null }));
  return [...(c.v2 ? [c.v2] : []), ...c.v1].filter((h) => h.ownDir !== null).map((h) => ({ root: h.mountPoint, own: h.ownDir! }));
}

/** Where a test's parent is in each hierarchy. */
export function testParentDirs(): string[] {
  const p = testCgroupParent();
  return cgroupDirs().map((d) => join(p.startsWith('/') ? d.root : d.own, p));
}


/** Pids of the processes in the test's cgroup parent or beneath it, in any hierarchy, as /proc
 * lists them: an oracle for "nothing of the run is left running" that reads no bvisor code. */
export function processesInTestParent(): number[] {
  const name = testCgroupParent().replace(/^\//, '');
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (readFileSync(`/proc/${n}/cgroup`, 'utf8').includes(`/${name}/`)) out.push(Number(n));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The first process in the test's cgroup parent (processesInTestParent) whose command line
 * (/proc/<pid>/cmdline, arguments joined by NULs) matches `re`, or 0. */
export function testParentProcess(re: RegExp): number {
  for (const pid of processesInTestParent()) {
    try {
      if (re.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}
