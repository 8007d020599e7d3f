// Cgroups on a shared machine. Every test names a parent inside our own cgroup subtree
// (testCgroupParent(): `bvisor-test-<worker pid>`): the CLI helper passes it through
// BVISOR_CGROUP_PARENT, runProbe by default, and the audit seam (test/seams/cgroup-audit.ts)
// fails a test that makes bvisor create a cgroup anywhere else. test/setup/cgroups.ts removes
// the parent after each test file; test/setup/cgroup-guard.ts checks at the end of the run
// that nothing bvisor made is left in any hierarchy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Every mounted hierarchy (v1 and v2): its root directory and our own cgroup's directory. */
export function cgroupDirs(): Array<{ root: string; own: string }> {
  const members = readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((l) => {
    const [id, ctl, ...rest] = l.split(':');
    return { id, ctl: (ctl ?? '').split(',').filter(Boolean).sort().join(','), path: rest.join(':') };
  });
  const out: Array<{ root: string; own: string }> = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const [fsType, , opts = ''] = line.slice(dash + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const ctl = fsType === 'cgroup2' ? '' : opts.split(',').filter((o) => !['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr', 'cpuset_v2_mode', 'favordynmods'].includes(o) && !o.startsWith('release_agent=')).sort().join(',');
    const m = members.find((x) => (fsType === 'cgroup2' ? x.id === '0' : x.ctl === ctl));
    if (m && pre[3] === '/' && !out.some((x) => x.root === pre[4])) out.push({ root: pre[4]!, own: join(pre[4]!, m.path) });
  }
  return out;
}

/** Where a test's parent is in each hierarchy. */
export function testParentDirs(): string[] {
  const p = testCgroupParent();
  return cgroupDirs().map((d) => join(p.startsWith('/') ? d.root : d.own, p));
}

