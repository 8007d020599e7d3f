// How the planner picks the mechanism that backs a clause, and what it says when none will do
// (src/core/planner.ts choose). The rules are the brief's "fail closed, explained" (docs/security.md):
// a clause is admitted only by a mechanism at least as strong as its guarantee (enforced >
// mediated > best-effort); a verdict weaker than enforced says why it was accepted; a refusal
// carries the code of what blocked the clause and a hint, and when a weaker mechanism is at hand
// the hint says how to accept it (docs/errors.md: BV_PLAN_WEAKER_THAN_REQUESTED, "the only
// mechanism here is weaker than the guarantee the clause asks for").
import { describe, expect, it } from 'vitest';
import type { NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import { manifestOf, planResolved } from '../helpers/plans.js';
import { hybridHost, bareHost, v2Host } from '../helpers/hosts.js';

const run = (m: NormalManifest, host: HostFacts): Plan => planResolved(m, host, null);
const clause = (p: Plan, name: string) => p.clauses.find((c) => c.clause === name)!;
const refusal = (p: Plan, name: string) => p.refusals.find((r) => r.clause === name);

const HELLO = 'workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\n';
const WASM = 'workload:\n  wasm: { module: m.wasm }\n';

describe('an admitted clause: its verdict is the mechanism’s strength, and a weaker one says why', () => {
  it('an enforced mechanism for an enforced clause needs no reason', () => {
    const p = run(manifestOf(HELLO), hybridHost());
    expect(clause(p, 'network')).toMatchObject({ guarantee: 'enforced', verdict: 'enforced', mechanism: 'linux:netns(empty)', reason: null });
    expect(clause(p, 'capabilities')).toMatchObject({ verdict: 'enforced', reason: null });
  });

  it('a mediated mechanism for a mediated clause is accepted, saying the clause asked only for that', () => {
    // WASI's descriptor table is bvisor's own code on every call: mediated, not a kernel limit.
    const p = run(manifestOf(WASM + 'limits: { openFiles: { value: 64, guarantee: mediated } }\n'), hybridHost());
    expect(clause(p, 'limits.openFiles')).toMatchObject({ guarantee: 'mediated', verdict: 'mediated', mechanism: 'wasm:fd-table(max=64)', reason: 'accepted because the clause asks only for mediated' });
  });

  it('a clause asking only for best-effort takes the strongest mechanism at hand, and its verdict says which', () => {
    const p = run(manifestOf(WASM + 'limits: { openFiles: { value: 64, guarantee: best-effort } }\n'), hybridHost());
    expect(clause(p, 'limits.openFiles')).toMatchObject({ guarantee: 'best-effort', verdict: 'mediated', reason: 'accepted because the clause asks only for best-effort' });
    // An enforced mechanism is never described as a concession, whatever the clause asked.
    const q = run(manifestOf(HELLO + 'network: { mode: deny, guarantee: best-effort }\n'), hybridHost());
    expect(clause(q, 'network')).toMatchObject({ guarantee: 'best-effort', verdict: 'enforced', reason: null });
  });

  it('a mechanism that carries a note gives the note as the reason (what the verdict does not cover)', () => {
    // Without namespaces only landlock holds the filesystem: it denies reads and writes outside
    // the grants but does not hide the paths (docs/landlock.md).
    const host = bareHost();
    host.landlock = { abi: 7, error: null };
    const p = run(manifestOf(HELLO + 'guarantee: best-effort\n'), host);
    expect(clause(p, 'filesystem')).toMatchObject({ verdict: 'best-effort', mechanism: 'linux:landlock(abi=7)', reason: expect.stringMatching(/^landlock alone does not hide ungranted paths/) });
  });
});

describe('a refused clause: the code of what blocked it, and a hint', () => {
  it('only a weaker mechanism, nothing blocked: BV_PLAN_WEAKER_THAN_REQUESTED names it, its strength, the guarantee asked, and how to accept it', () => {
    const p = run(manifestOf(WASM + 'limits: { openFiles: 64 }\n'), hybridHost());
    expect(refusal(p, 'limits.openFiles')).toEqual({
      code: 'BV_PLAN_WEAKER_THAN_REQUESTED',
      clause: 'limits.openFiles',
      reason: 'only wasm:fd-table(max=64) (mediated) is available, and the clause asks for enforced',
      hint: 'mark the clause guarantee: mediated to accept it',
    });
    expect(clause(p, 'limits.openFiles')).toMatchObject({ verdict: 'refused', mechanism: null, reason: refusal(p, 'limits.openFiles')!.reason });
  });

  it('a blocked mechanism with a weaker one at hand: the blocker’s code and reason, and its hint extended by how to accept the weaker one', () => {
    // Linux < 5.14 counts RLIMIT_NPROC per uid, not per user namespace: best effort only; and
    // no cgroup can be made at a v1 hierarchy root without --cgroup-parent.
    const host = hybridHost();
    host.kernel.release = '5.10.0';
    const p = run(manifestOf(HELLO + 'limits: { processes: 8 }\n'), host);
    const r = refusal(p, 'limits.processes')!;
    expect(r.code).toBe('BV_PLAN_CGROUP_UNAVAILABLE');
    expect(r.reason).toMatch(/hierarchy root/);
    expect(r.hint).toMatch(/; or accept linux:rlimit\(RLIMIT_NPROC=8,per-uid\) by marking the clause guarantee: best-effort$/);
    expect(r.hint.split('guarantee:')).toHaveLength(2);
    expect(clause(p, 'limits.processes')).toMatchObject({ verdict: 'refused', mechanism: null, reason: r.reason });
  });

  it('a hint that already says which guarantee to mark is not extended a second time', () => {
    // Without namespaces a read-write grant is landlock's alone, and ABI 2 cannot restrict
    // truncate (include/uapi/linux/landlock.h: TRUNCATE is ABI 3).
    const host = bareHost();
    host.landlock = { abi: 2, error: null };
    const p = run(manifestOf(HELLO + '  - { path: /srv, access: read-write }\nnetwork: host\n'), host);
    const r = refusal(p, 'filesystem[1]')!;
    expect(r.code).toBe('BV_PLAN_LANDLOCK_ABI_TOO_OLD');
    expect(r.hint.split('guarantee:')).toHaveLength(2);
    expect(r.hint).not.toMatch(/or accept/);
  });

  it('with no weaker mechanism at hand the blocker’s hint is given as it is', () => {
    const p = run(manifestOf(WASM + 'network: host\n'), hybridHost());
    expect(refusal(p, 'network')).toEqual({ code: 'BV_PLAN_BACKEND_UNSUPPORTED', clause: 'network', reason: 'WASI preview 1 has no way to back network: host', hint: 'use network: deny for wasm workloads' });
  });

  it('of the missing mechanisms that would do, the one closest to the guarantee asked is named, not a stronger one missing for another reason', () => {
    // limits.cpu, spawn: descendants, guarantee mediated (docs/cgroups.md: the cgroup's cpu usage,
    // polled by the supervisor). RLIMIT_CPU (enforced) is per process, so it cannot hold the
    // tree; on a host with no cgroup the clause is refused because the cgroup is missing, and
    // the hint must not tell the user to mark the guarantee the clause already has.
    const host = hybridHost();
    host.cgroup = { mode: 'none', v2: null, v1: [] };
    const p = run(manifestOf(HELLO + 'spawn: descendants\nlimits: { processes: { value: 8, guarantee: best-effort }, cpu: { value: 5s, guarantee: mediated } }\n'), host);
    const r = refusal(p, 'limits.cpu')!;
    expect(r.code).toBe('BV_PLAN_CGROUP_UNAVAILABLE');
    expect(r.hint).not.toMatch(/guarantee: mediated/);
    // Asking for enforced, only the enforced mechanism would do: RLIMIT_CPU's refusal is the one.
    const q = run(manifestOf(HELLO + 'spawn: descendants\nlimits: { processes: { value: 8, guarantee: best-effort }, cpu: 5s }\n'), host);
    expect(refusal(q, 'limits.cpu')).toMatchObject({ code: 'BV_PLAN_WEAKER_THAN_REQUESTED', hint: expect.stringMatching(/guarantee: mediated/) });
  });

  it('limits.cpu that RLIMIT_CPU cannot hold: the hint writes the mediated form out, and that form is admitted', () => {
    for (const [spawn, cpu] of [['descendants', '5s'], ['deny', '1500ms']] as const) {
      const p = run(manifestOf(HELLO + `spawn: ${spawn}\nlimits: { processes: 8, cpu: ${cpu} }\n`), v2Host());
      const hint = refusal(p, 'limits.cpu')!.hint!;
      const form = /limits: \{ (cpu: \{ value: [^}]*, guarantee: mediated \}) \}/.exec(hint);
      expect(form, hint).not.toBeNull();
      const q = run(manifestOf(HELLO + `spawn: ${spawn}\nlimits: { processes: 8, ${form![1]} }\n`), v2Host());
      expect(q.refusals).toEqual([]);
      expect(clause(q, 'limits.cpu')).toMatchObject({ guarantee: 'mediated', verdict: 'mediated' });
    }
  });
});
