// The outputs clause in the plan (docs/outputs.md): a quarantine bvisor makes and binds
// read-write at outputs.path; with outputs.size or outputs.files it is a tmpfs of that size and
// inode count, which only root can mount on the host, so rootless a limit is refused
// (BV_PLAN_OUTPUTS) rather than left unenforced; the plan shows the mechanism, e.g.
// linux:quarantine(tmpfs,size=1048576,nr_inodes=100)+bind(rw).
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost, v2Host, bareHost } from '../helpers/hosts.js';

const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n' + yaml, 'test.yaml').manifest;
const usr: PathFact = { path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 };
const exe: PathFact = { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 };

function run(m: NormalManifest, host: HostFacts, extra: Partial<PlanInput> = {}, paths: Partial<PlanPaths> = {}): Plan {
  const p = plan({ manifest: m, host, paths: { grants: [usr], exe, module: null, root: null, ...paths }, cgroupParent: 'bvisor-test', ...extra }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}
const outputs = (p: Plan) => p.clauses.find((c) => c.clause === 'outputs')!;
const refusal = (p: Plan) => p.refusals.find((r) => r.clause === 'outputs');

/** What the app layer adds before planning (src/app/outputs.ts): the quarantine as a grant bound at outputs.path. */
function withQuarantine(m: NormalManifest, dir: string, tmpfs: boolean): { m: NormalManifest; grants: PathFact[] } {
  const q = structuredClone(m);
  q.filesystem.push({ index: q.filesystem.length, path: dir, bundleRelative: false, access: 'read-write', recursive: true, guarantee: q.outputs!.guarantee, target: q.outputs!.path, outputs: { tmpfs } });
  return { m: q, grants: [usr, { path: dir, kind: 'directory', dev: '9', ino: '90', uid: 65534, gid: 65534, mode: 0o700 }] };
}

describe('outputs: the clause and its words', () => {
  it('a directory quarantine: the clause says where, how it is committed, and that it is staged until commit', () => {
    const p = run(manifestOf('outputs: { path: /out }\n'), hybridHost());
    expect(outputs(p)).toEqual({ clause: 'outputs', requested: '/out, commit manual, atomic', guarantee: 'enforced', verdict: 'enforced', mechanism: 'linux:quarantine(dir)+bind(rw)', reason: expect.stringMatching(/promoted only by commit/) });
  });

  it('every field written shows in the words; the limits are a tmpfs of that size and inode count (rootful)', () => {
    const p = run(manifestOf('outputs: { path: /out, to: ./results, commit: on-success, durability: durable, size: 1Mi, files: 100 }\n'), hybridHost());
    expect(outputs(p)).toMatchObject({ requested: '/out, commit on-success to ./results, durable, size 1Mi, 100 files', verdict: 'enforced', mechanism: 'linux:quarantine(tmpfs,size=1048576,nr_inodes=100)+bind(rw)' });
    expect(run(manifestOf('outputs: { path: /out, size: 1Mi }\n'), hybridHost()).clauses.find((c) => c.clause === 'outputs')).toMatchObject({ requested: '/out, commit manual, atomic, size 1Mi', mechanism: 'linux:quarantine(tmpfs,size=1048576)+bind(rw)' });
    expect(outputs(run(manifestOf('outputs: { path: /out, files: 100 }\n'), hybridHost()))).toMatchObject({ requested: '/out, commit manual, atomic, 100 files', mechanism: 'linux:quarantine(tmpfs,nr_inodes=100)+bind(rw)' });
  });

  it('rootless, a size or file limit is refused, naming why and what to drop', () => {
    for (const o of ['size: 1Mi', 'files: 100']) {
      const p = run(manifestOf(`outputs: { path: /out, ${o} }\n`), v2Host());
      expect(refusal(p)).toEqual({ code: 'BV_PLAN_OUTPUTS', clause: 'outputs', reason: expect.stringMatching(/tmpfs .*needs root/), hint: expect.stringMatching(/drop outputs\.size and outputs\.files, or run bvisor as root/) });
      expect(outputs(p)).toMatchObject({ verdict: 'refused', mechanism: null });
    }
    // Without limits a directory does: admitted rootless too.
    expect(refusal(run(manifestOf('outputs: { path: /out }\n'), v2Host()))).toBeUndefined();
  });

  it('a grant the workload sees beneath outputs.path is refused (its mount point would be staged as an output); one beside it is not', () => {
    const m = loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /out/ro/hostfile, access: read }\noutputs: { path: /out }\n', 'test.yaml').manifest;
    const file: PathFact = { path: '/out/ro/hostfile', kind: 'file', dev: '1', ino: '4', uid: 0, gid: 0, mode: 0o644 };
    const p = run(m, hybridHost(), {}, { grants: [usr, file] });
    expect(refusal(p)).toEqual({ code: 'BV_PLAN_OUTPUTS', clause: 'outputs', reason: 'filesystem[1] (/out/ro/hostfile) lies beneath /out, the outputs path, where the workload sees it: its mount point would be made in the quarantine and staged as an output', hint: 'put outputs.path beside the grants, not around them' });
    const beside = loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /outer/hostfile, access: read }\noutputs: { path: /out }\n', 'test.yaml').manifest;
    expect(refusal(run(beside, hybridHost(), {}, { grants: [usr, { ...file, path: '/outer/hostfile' }] }))).toBeUndefined();
  });

  it('without a mount namespace (host mode) there is nowhere to bind it: refused', () => {
    const host = bareHost();
    const p = run(manifestOf('outputs: { path: /out }\n'), host);
    expect(refusal(p)).toMatchObject({ code: 'BV_PLAN_OUTPUTS', reason: expect.stringMatching(/mount namespace/), hint: expect.stringMatching(/namespaces/) });
  });

  it('the wasm backend has no outputs clause (a guest writes through a preopened grant)', () => {
    const p = run(manifestOf('outputs: { path: /out }\n'), hybridHost(), { backend: 'wasm' });
    expect(refusal(p)).toEqual({ code: 'BV_PLAN_OUTPUTS', clause: 'outputs', reason: 'outputs applies to process workloads', hint: 'grant a directory with filesystem' });
  });

  it('the clause’s own guarantee is the one judged', () => {
    expect(outputs(run(manifestOf('outputs: { path: /out, guarantee: best-effort }\n'), hybridHost())).guarantee).toBe('best-effort');
  });
});

describe('outputs: what the launch gets once the app layer has made the quarantine', () => {
  it('the quarantine is one grant, clause outputs, bound read-write at the outputs path; it has no filesystem[i] verdict of its own', () => {
    const { m, grants } = withQuarantine(manifestOf('outputs: { path: /out, to: /srv/results, size: 1Mi, files: 100 }\n'), '/state/outputs/r1', true);
    const p = run(m, hybridHost(), {}, { grants });
    expect(p.refusals).toEqual([]);
    expect(p.clauses.map((c) => c.clause).filter((c) => c.startsWith('filesystem'))).toEqual(['filesystem', 'filesystem[0]']);
    expect(p.launch!.filesystem[1]).toMatchObject({ clause: 'outputs', path: '/state/outputs/r1', target: '/out', access: 'read-write', kind: 'directory', dev: '9', ino: '90' });
    expect(p.launch!.outputs).toEqual({ path: '/out', quarantine: '/state/outputs/r1', tmpfs: true, commit: 'manual', durability: 'atomic', to: '/srv/results', sizeBytes: 2 ** 20, files: 100 });
  });

  it('a directory quarantine is not a tmpfs', () => {
    const { m, grants } = withQuarantine(manifestOf('outputs: { path: /out }\n'), '/state/outputs/r2', false);
    expect(run(m, hybridHost(), {}, { grants }).launch!.outputs).toEqual({ path: '/out', quarantine: '/state/outputs/r2', tmpfs: false, commit: 'manual', durability: 'atomic', to: null, sizeBytes: null, files: null });
  });

  it('who named the destination (prepareOutputs records it) is carried into the launch, and hashed with the plan', () => {
    const { m, grants } = withQuarantine(manifestOf('outputs: { path: /out }\n'), '/state/outputs/r3', false);
    const by = (toFrom: 'bundle' | 'caller') => run({ ...m, outputs: { ...m.outputs!, to: '/srv/results', toFrom } }, hybridHost(), {}, { grants });
    expect(by('caller').launch!.outputs).toMatchObject({ to: '/srv/results', toFrom: 'caller' });
    expect(by('bundle').launch!.outputs).toMatchObject({ to: '/srv/results', toFrom: 'bundle' });
    expect(by('caller').planHash).not.toBe(by('bundle').planHash);
  });

  it('no outputs clause, no outputs in the launch', () => {
    expect(run(manifestOf(''), hybridHost()).launch!.outputs).toBeNull();
  });
});
