// When a launch asks the kernel's audit status (src/backends/linux/launcher.ts, auditOff): only
// where landlock can log denials at all (ABI 7, landlock(7) LANDLOCK_RESTRICT_SELF_LOG_*). Below
// it, AUDIT_GET (a kernel thread per request) is not paid for, and the report says why landlock's
// denials were not observed: the ABI, whatever audit's state. The launches are real; only the
// host facts' landlock ABI is lowered (as test/security/landlock-abi.live.test.ts does).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { facts, runProbe } from '../../helpers/probe.js';
import { skipOrFail } from '../../helpers/require.js';
import type { HostFacts } from '../../../src/contract/generated/types.js';
import * as audit from '../../../src/backends/linux/host/landlock-audit.js';

vi.mock('../../../src/backends/linux/host/landlock-audit.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../src/backends/linux/host/landlock-audit.js')>();
  return { ...orig, auditStatusForLaunch: vi.fn(orig.auditStatusForLaunch) };
});

function hostAt(abi: number): HostFacts {
  const h = structuredClone(facts());
  h.landlock = { abi, error: null };
  return h;
}

afterEach(() => vi.mocked(audit.auditStatusForLaunch).mockClear());

describe('the audit status is asked only where landlock logs (live)', () => {
  it('below ABI 7 a launch does not ask, and says the ABI is why nothing was observed', async () => {
    const out = await runProbe(['exit', '0'], '', { host: hostAt(2) });
    expect(out.exitStatus).toBe(0);
    expect(audit.auditStatusForLaunch).not.toHaveBeenCalled();
    expect(out.report.body.denials!.sources.landlock).toMatchObject({ observed: false, notObserved: expect.stringMatching(/^landlock logs denials from ABI 7 .*this host has ABI 2/) });
  });

  const abi = facts().landlock.abi;
  if (abi < 7) {
    // Said when the file is collected, as every skip of the suite says its reason.
    skipOrFail('landlock-abi-7', `the ABI 7 twin of a launch that asks cannot run: this kernel's landlock ABI is ${abi}`);
    it.skip(`at ABI 7 the same launch asks: SKIPPED, this kernel's landlock ABI is ${abi}`, () => {});
  } else
    it('at ABI 7 the same launch asks (the twin: the spy sees the call)', async () => {
      const out = await runProbe(['exit', '0'], '', { host: hostAt(7) });
      expect(out.exitStatus).toBe(0);
      expect(audit.auditStatusForLaunch).toHaveBeenCalledTimes(1);
    });
});
