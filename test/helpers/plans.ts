// Reading plans in the planner's tests: a plan checked against its schema, and one clause of it
// by name (a missing clause fails with the names that are there).
import { expect } from 'vitest';
import type { Plan } from '../../src/contract/generated/types.js';
import { validatePlan } from '../../src/contract/generated/validators.js';

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
