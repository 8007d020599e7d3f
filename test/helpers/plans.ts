// Reading plans in the planner's tests: a plan checked against its schema, and one clause of it
// by name (a missing clause fails with the names that are there).
import { expect } from 'vitest';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { plan } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';

/** The plan, after checking it against schemas/plan.schema.json. */
export function checkedPlan(p: Plan): Plan {
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}

/** The verdict of one clause. */
export function clauseOf(p: Plan, name: string): Plan['clauses'][number] {
  const c = p.clauses.find((x) => x.clause === name);
  if (!c) throw new Error(`no clause ${name} in ${p.clauses.map((x) => x.clause).join(',')}`);
  return c;
}

/** A manifest from its YAML after the version line. */
export const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\n' + yaml, 'test.yaml').manifest;
/** Path facts as the bundle reader would give them: every grant a directory, the exe and module files. */
export const dirFact = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 1000, gid: 1000, mode: 0o755, idmap: true });
export const fileFact = (path: string): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 1), uid: 0, gid: 0, mode: 0o755 });

/** The planner's plan of `m` on `host`, its grants resolved as directories under /bundle, checked against its schema. */
export function planResolved(m: NormalManifest, host: HostFacts, cgroupParent: string | null): Plan {
  const paths: PlanPaths = {
    grants: m.filesystem.map((g) => dirFact(g.path.startsWith('./') ? `/bundle/${g.path.slice(2)}` : g.path)),
    exe: m.workload.kind === 'process' ? fileFact(m.workload.exe) : null,
    module: m.workload.kind === 'wasm' ? fileFact(`/bundle/${m.workload.module}`) : null,
    root: null,
  };
  return checkedPlan(plan({ manifest: m, host, paths, cgroupParent }, sha256Hex));
}
