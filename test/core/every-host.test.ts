// What validate reports without probing (src/core/every-host.ts): the refusals a manifest earns on
// a host with everything. The oracle for "every host" is the planner itself on the other hosts the
// planner tests use (our hybrid CI machine, a rootless pure-v2 host, a host with nothing): each of
// them refuses the same clause.
import { describe, expect, it } from 'vitest';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import { validateHostFacts } from '../../src/contract/generated/validators-records.js';
import { bundleLacks, everyHostRefusals, hostWithEverything } from '../../src/core/every-host.js';
import { checkedPlan, dirFact, fileFact, manifestOf, planResolved } from '../helpers/plans.js';
import { plan } from '../../src/core/planner.js';
import { sha256Hex } from '../../src/host/hash.js';
import { bareHost, hybridHost, v2Host } from '../helpers/hosts.js';

const planOn = (m: Parameters<typeof planResolved>[0], host: HostFacts): Plan => planResolved(m, host, 'bvisor-test');

const PROC = 'workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\n';
const WASM = 'workload:\n  wasm: { module: m.wasm }\n';

describe('hostWithEverything', () => {
  it('is host facts as the schema has them', () => {
    for (const arch of ['x86_64', 'aarch64']) expect(validateHostFacts(hostWithEverything(arch)), JSON.stringify(validateHostFacts.errors)).toBe(true);
  });

  it('admits what the planner admits on our hosts: a plain process, a wasm guest, bounded descendants', () => {
    for (const y of [PROC, WASM, PROC + 'spawn: descendants\nlimits: { processes: 16, memory: 64Mi, wall: 5s }\n']) {
      const p = planOn(manifestOf(y), hostWithEverything('x86_64'));
      expect(p.refusals, y).toEqual([]);
      expect(everyHostRefusals(p)).toEqual([]);
    }
  });
});

describe('everyHostRefusals', () => {
  it.each([
    ['spawn: descendants without limits.processes', PROC + 'spawn: descendants\n', 'spawn', 'BV_PLAN_NEEDS_LIMIT'],
    ['limits.tmpSize without tmp: private', PROC + 'tmp: none\nlimits: { tmpSize: 1Mi }\n', 'limits.tmpSize', 'BV_PLAN_NEEDS_LIMIT'],
    ['limits.fuel on a process', PROC + 'limits: { fuel: 1000 }\n', 'limits.fuel', 'BV_PLAN_BACKEND_UNSUPPORTED'],
    ['network: loopback on wasm', WASM + 'network: loopback\n', 'network', 'BV_PLAN_BACKEND_UNSUPPORTED'],
    ['limits.cpu enforced for descendants', PROC + 'spawn: descendants\nlimits: { processes: 8, cpu: 2s }\n', 'limits.cpu', 'BV_PLAN_WEAKER_THAN_REQUESTED'],
  ])('%s: refused with everything, and on each of our hosts', (_what, yaml, clause, code) => {
    const m = manifestOf(yaml);
    const every = everyHostRefusals(planOn(m, hostWithEverything('x86_64')));
    expect(every).toEqual([expect.objectContaining({ clause, code })]);
    for (const host of [hybridHost(), v2Host(), bareHost()]) expect(planOn(m, host).refusals.map((r) => r.clause)).toContain(clause);
  });

  it('two grants that are one directory only where they resolve so (/bin and /usr/bin on a merged-/usr host) are left to plan', () => {
    const m = manifestOf('workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /bin, access: read-exec }\n  - { path: /usr/bin, access: read-exec }\n');
    const on = (grants: string[]): Plan => checkedPlan(plan({ manifest: m, host: hostWithEverything('x86_64'), paths: { grants: grants.map(dirFact), exe: fileFact('/usr/bin/true'), module: null, root: null }, cgroupParent: null }, sha256Hex));
    const merged = on(['/usr/bin', '/usr/bin']); // /bin -> usr/bin, as on this machine
    expect(merged.refusals.map((r) => r.code)).toEqual(['BV_PLAN_LAYOUT_CONFLICT']); // plan refuses it here
    expect(everyHostRefusals(merged)).toEqual([]); // validate does not
    expect(on(['/bin', '/usr/bin']).admitted).toBe(true); // a host without merged /usr admits it
  });
});

// A bundle carries its files: what it lacks, every host lacks. What the host lacks is plan's.
describe('bundleLacks', () => {
  const gone = (path: string) => ({ path, kind: 'missing' as const });
  const planWith = (yaml: string, paths: Partial<Parameters<typeof plan>[0]['paths']>): { m: ReturnType<typeof manifestOf>; p: Plan } => {
    const m = manifestOf(yaml);
    const p = checkedPlan(plan({ manifest: m, host: hostWithEverything('x86_64'), paths: { grants: [], exe: null, module: null, root: null, ...paths }, cgroupParent: null }, sha256Hex));
    return { m, p };
  };

  it('its wasm module and a ./ grant; not a grant of a host path, nor a host program', () => {
    const w = planWith(WASM, { module: gone('/bundle/m.wasm') });
    expect(bundleLacks(w.p, w.m)).toEqual([expect.objectContaining({ clause: 'workload', code: 'BV_PLAN_PATH_MISSING' })]);
    const yaml = 'workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ./data, access: read }\n  - { path: /opt/x, access: read }\n';
    const g = planWith(yaml, { grants: [dirFact('/usr'), gone('/bundle/data'), gone('/opt/x')], exe: gone('/usr/bin/true') });
    expect(g.p.refusals.map((r) => [r.clause, r.code])).toEqual(expect.arrayContaining([['filesystem[1]', 'BV_PLAN_PATH_MISSING'], ['filesystem[2]', 'BV_PLAN_PATH_MISSING'], ['workload', 'BV_PLAN_PATH_MISSING']]));
    expect(bundleLacks(g.p, g.m).map((r) => r.clause)).toEqual(['filesystem[1]']);
    expect(everyHostRefusals(g.p)).toEqual([]); // none of them by code alone
  });
});
