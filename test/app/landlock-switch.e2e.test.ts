// The landlock audit source's switch through the real CLI: `bvisor run --no-landlock-audit` and
// `create --no-landlock-audit` seal a report whose landlock source says it was turned off, while
// seccomp's listener still watches (--no-denials turns both off). The source's own behaviour is
// tested where audit is on (test/security/landlock-audit.live.test.ts, in the VM, with the
// container's switch).
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle, facts } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import type { SealedReport } from '../../src/contract/generated/types.js';

const landlock = facts().landlock.abi > 0;

describe('--no-landlock-audit (CLI)', () => {
  it('run: landlock not observed, "turned off"; seccomp still observed', () => {
    if (!landlock) return console.warn('SKIP (landlock): this host has no landlock');
    const root = newRoot();
    const r = cli(['run', 'nla1', '-b', probeBundle(['exit', '0']), '--root', root, '--no-landlock-audit', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const d = r.json<SealedReport>().body.denials!;
    expect(d.sources.landlock).toMatchObject({ observed: false, how: null });
    expect(d.sources.landlock.notObserved).toMatch(/turned off for this launch \(landlockAudit: false, --no-landlock-audit\)/);
    expect(d.sources.seccomp.observed).toBe(true);
  });
});
