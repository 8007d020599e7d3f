// The test suite's cgroup rule, checked: on a shared machine a test that would make bvisor
// create a cgroup outside its test parent fails at once, before anything is created.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runProbe } from '../helpers/probe.js';
import { cgroupDirs, cgroupsAnywhere } from '../helpers/cgroups.js';

describe('cgroup audit (test seam)', () => {
  it('a run placed under our own cgroup without the test parent is stopped with the audit error, and leaves no cgroup', async (t) => {
    if (cgroupsAnywhere()) {
      console.warn('SKIP (cgroup audit): this host lifts the cgroup rule (the VM: its defaults are under test)');
      return t.skip();
    }
    const leaves = (): string[] => cgroupDirs().flatMap((d) => (existsSync(d.own) ? readdirSync(d.own).filter((n) => n.startsWith('bvisor-') && !n.startsWith('bvisor-test-')) : []));
    const before = leaves();
    // limits.memory lands in our own (non-root) memory cgroup when no parent is named.
    await expect(runProbe(['exit', '0'], 'limits: { memory: 32Mi }\n', { cgroupParent: null })).rejects.toMatchObject({ code: 'BV_INTERNAL', message: expect.stringMatching(/outside a test parent/) });
    expect(leaves()).toEqual(before);
  });
});
