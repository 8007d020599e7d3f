// The test suite's cgroup audit (aliased over src/backends/linux/host/cgroup-audit.ts): a test
// that makes bvisor create a cgroup anywhere but under a test parent (testCgroupParent(),
// `bvisor-test-<pid>`) fails at once with this error, instead of writing into hierarchies that
// belong to the machine's owner. Inside the throwaway VM (test/vm), where the defaults
// themselves are under test, BVISOR_TEST_CGROUP_ANYWHERE=1 lifts the rule.
import { BvisorError } from '../../src/contract/errors.js';

export const TEST_PARENT = /^bvisor-test-\d+$/;

export function auditCgroupPath(dir: string): void {
  if (process.env.BVISOR_TEST_CGROUP_ANYWHERE === '1') return;
  if (dir.split('/').some((seg) => TEST_PARENT.test(seg))) return;
  throw new BvisorError('BV_INTERNAL', `a test made bvisor create the cgroup ${dir} outside a test parent`, { hint: 'pass cgroupParent: testCgroupParent() (test/helpers/probe.ts), as every test on a shared machine must' });
}
