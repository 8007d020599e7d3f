// A plan's hash, and the check of a plan read back from a file against the hash it was made
// with. planHash is sha256 of the RFC 8785 canonical JSON of the plan with planHash null
// (schemas/plan.schema.json): the planner computes it once, and what reads a plan back (a
// container's plan.json when its report is sealed, exec, a wasm container's runner plan) checks
// it against the hash recorded beside it. A plan that hashes to what was recorded is, field for
// field, the plan the planner made (whose shape the planner's tests check against the schema);
// any edit, even one a schema would accept (another mechanism string), is found.
import type { Plan } from '../contract/generated/types.js';
import { contentHash, type Sha256Hex } from './seal.js';

/** The hash a plan carries in planHash: of its content with planHash null. */
export function planHashOf(plan: Omit<Plan, 'planHash'> & { planHash?: string | null }, sha256: Sha256Hex): string {
  return contentHash({ ...plan, planHash: null }, sha256);
}

/** A plan bvisor launches from: admitted, with its launch inputs. */
export type AdmittedPlan = Plan & { launch: NonNullable<Plan['launch']> };

/**
 * `v` is an admitted plan (what a container or a runner is launched from: bvisorVersion "1",
 * kind bvisor.plan, a launch) whose planHash is `planHash` and whose content hashes to it.
 */
export function planIntact(v: unknown, planHash: string, sha256: Sha256Hex): v is AdmittedPlan {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = v as Plan;
  if (p.planHash !== planHash || p.bvisorVersion !== '1' || p.kind !== 'bvisor.plan' || p.admitted !== true) return false;
  if (typeof p.launch !== 'object' || p.launch === null || Array.isArray(p.launch)) return false;
  try {
    return planHashOf(p, sha256) === planHash;
  } catch {
    return false; // a value canonical JSON cannot hold: not a plan bvisor wrote
  }
}
