// A wasm run starts two processes of bvisor's own (the runner, and on a cache miss the rewriter),
// each in a boundary of its own. A host that refuses those boundaries refuses every wasm run,
// whatever the bundle's clauses: the plan step must say so before anything runs, in run's words.
// The oracles are run and create themselves on the same host facts: what they refuse, the plan
// step refused first.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/contract/generated/types.js';
import { BvisorError } from '../../src/contract/errors.js';
import { loadBundle } from '../../src/host/bundle.js';
import { planLoaded, reservedPaths, runLoaded } from '../../src/app/run.js';
import { ownProcessesHere, planOwnProcesses } from '../../src/app/wasm.js';
import { createContainer } from '../../src/app/create.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { facts } from '../helpers/probe.js';
import { thrown } from '../helpers/thrown.js';
import { tempDir } from '../helpers/tmp.js';
import { ROOT } from '../helpers/cli.js';

const HELLO_WASM = join(ROOT, 'bundles', 'hello-wasm');

/** This host as a rootless bvisor would see it under a distribution that restricts user
 * namespaces (Ubuntu 24.04's AppArmor rule): the runner's and the rewriter's network and mount
 * clauses need one, and the bundle's own clauses do not. */
function rootlessWithoutUserns(): HostFacts {
  const h = structuredClone(facts());
  h.userns = { ...h.userns, canCreate: false, unprivilegedCanCreate: false, error: 'EPERM (for this test)' };
  h.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
  h.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
  h.capabilities = { effective: '0000000000000000', names: [] };
  return h;
}

/** The BvisorError a promise rejects with; anything else fails. */
async function refusal(p: Promise<unknown>): Promise<BvisorError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BvisorError) return e;
    throw e;
  }
  throw new Error('it was not refused');
}

const said = (e: BvisorError) => e.issues.map((i) => ({ code: i.code, clause: i.clause, message: i.message }));

describe("the wasm backend's own processes, planned before a run", () => {
  it('where their boundary is refused, the plan step refuses with every refusal run then gives, and nothing runs', async () => {
    const host = rootlessWithoutUserns();
    const root = tempDir('bvisor-own-plan-');
    const opts = { cgroupParent: defaultTestParent(), root };
    const plan = planLoaded(loadBundle(HELLO_WASM), host, opts);
    // The bundle's own clauses are all admitted on such a host (no preopen, network deny):
    expect(plan.admitted).toBe(true);
    const planned = thrown(() => planOwnProcesses(plan, loadBundle(HELLO_WASM).manifest, host, reservedPaths(root)));
    expect(planned.code).toBe('BV_PLAN_REFUSED');
    const clauses = planned.issues.map((i) => i.clause);
    expect(clauses.some((c) => c.startsWith('runner:'))).toBe(true);
    expect(clauses.some((c) => c.startsWith('rewriter:'))).toBe(true);

    // run on the same facts plans the runner first (it boots while the job is made): its refusal.
    const viaRun = await refusal(runLoaded(loadBundle(HELLO_WASM), { id: null, root, cgroupParent: defaultTestParent(), secretEnv: {}, host }));
    expect(viaRun.code).toBe('BV_PLAN_REFUSED');
    expect(said(viaRun).length).toBeGreaterThan(0);
    expect(said(viaRun).every((i) => i.clause.startsWith('runner:'))).toBe(true);
    expect(said(planned)).toEqual(expect.arrayContaining(said(viaRun)));
    // create, on a cache miss, rewrites the module before it plans the runner: the rewriter's.
    const viaCreate = await refusal(createContainer({ root, id: 'own-plan', bundle: HELLO_WASM, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host }));
    expect(viaCreate.code).toBe('BV_PLAN_REFUSED');
    expect(said(viaCreate).length).toBeGreaterThan(0);
    expect(said(viaCreate).every((i) => i.clause.startsWith('rewriter:'))).toBe(true);
    expect(said(planned)).toEqual(expect.arrayContaining(said(viaCreate)));
    // Neither left anything: no container, nothing cached.
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
    expect(existsSync(join(root, 'wasm-cache')) ? readdirSync(join(root, 'wasm-cache')) : []).toEqual([]);

    // bvisor check says the same of this host.
    const here = ownProcessesHere(host, defaultTestParent());
    expect(here.admitted).toBe(false);
    expect(here.why).toBe(`${planned.issues[0]!.clause}: ${planned.issues[0]!.message} (and ${planned.issues.length - 1} more: bvisor plan of a wasm bundle lists them)`);
    // No way out the user cannot take: these clauses are bvisor's own, not the manifest's.
    for (const i of planned.issues) expect(i.hint ?? '').not.toMatch(/best-effort|mediated/);
  });

  it('where their boundary is admitted, the plan step admits what run then runs', async () => {
    const root = tempDir('bvisor-own-plan-');
    const plan = planLoaded(loadBundle(HELLO_WASM), facts(), { cgroupParent: defaultTestParent(), root });
    expect(() => planOwnProcesses(plan, loadBundle(HELLO_WASM).manifest, facts(), reservedPaths(root))).not.toThrow();
    const out = await runLoaded(loadBundle(HELLO_WASM), { id: null, root, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(out.report.body.outcome.status).toBe('completed');
    expect(ownProcessesHere(facts(), defaultTestParent())).toMatchObject({ admitted: true, why: expect.stringContaining('non-dumpable') });
  });
});
