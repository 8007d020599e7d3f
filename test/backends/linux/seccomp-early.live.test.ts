// The filter installed beside the parent's READY checks (BV_F_SECCOMP_EARLY, native-shim/src/
// launch.h step 11): for a run or an API launch with bvisor's own filter, the child installs it
// right after READY and reads the go byte under it. What must still hold:
// - the filter is in place when the workload runs (the probe's own Seccomp line); that nothing
//   runs before the go byte is test/security/evidence-secrets.live.test.ts's marker, in this mode;
// - a child that cannot install its filter is reported by its own record (stage seccomp, and the
//   errno), even when it died before the parent's checks and go byte, which then fail for that
//   reason: EMFILE here, from a listener that finds no descriptor below RLIMIT_NOFILE = 3
//   (seccomp(2): SECCOMP_FILTER_FLAG_NEW_LISTENER returns a new fd; getrlimit(2): EMFILE).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { launchLinux } from '../../../src/backends/linux/launcher.js';
import { admittedLinuxPlan } from '../../../src/app/run.js';
import { loadBundle } from '../../../src/host/bundle.js';
import { facts, probeBundle, probeFacts, runProbe, testCgroupParent } from '../../helpers/probe.js';

/** errno-base.h */
const EMFILE = 24;

/** Blocks until /proc/<pid>/stat says zombie (Z) or the pid is gone: the child has exited, and
 * nothing reaps it meanwhile (the reaper runs on the event loop this blocks). */
function waitDead(pid: number): void {
  const t = Date.now();
  for (;;) {
    let state = 'gone';
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    } catch {
      // gone
    }
    if (state === 'Z' || state === 'gone') return;
    if (Date.now() - t > 5000) throw new Error(`pid ${pid} still ${state} after 5 s`);
  }
}

describe('the filter installed beside the READY checks (live)', () => {
  it('is in place when the workload runs (the probe reads its own Seccomp line), and observing denials still works', async () => {
    const { p, out } = await probeFacts();
    expect(p.Seccomp).toBe('2'); // proc(5): 2 = SECCOMP_MODE_FILTER
    expect(out.report.body.denials!.sources.seccomp.observed).toBe(true);
  });

  it('a child that cannot install it, dead before the go byte: its record says seccomp EMFILE, not the go byte\'s EPIPE', async () => {
    const b = loadBundle(probeBundle(['exit', '0'], 'limits: { openFiles: 3 }\n'));
    const host = facts();
    const plan = admittedLinuxPlan(b, host, { cgroupParent: testCgroupParent(), root: null }, 'run');
    let seen = -1;
    const launch = launchLinux({
      plan,
      host,
      runName: `early-${process.pid}`,
      hostname: 'bvisor',
      secret: () => undefined,
      capture: { stdout: null, stderr: null },
      dieWithParent: true,
      beforeGo: ({ pid }) => {
        seen = pid;
        waitDead(pid);
      },
    });
    await expect(launch).rejects.toMatchObject({ code: 'BV_LAUNCH_FAILED', message: expect.stringMatching(/at seccomp: EMFILE/), detail: { stage: 'seccomp', errno: EMFILE, item: -1 } });
    expect(seen).toBeGreaterThan(0);
    b.bundle.cleanup();
  });

  it('the control: the same limit without observing denials (no listener to place) runs the workload', async () => {
    const out = await runProbe(['exit', '7'], 'limits: { openFiles: 3 }\n', { observeDenials: false });
    expect(out.exitStatus).toBe(7);
  });
});
