// A plan read back from a file is checked against the planHash recorded with it (the seal,
// exec, a wasm container's runner plan). Oracle: the hash as schemas/plan.schema.json defines it
// (sha256 of the RFC 8785 canonical JSON with planHash null), computed here with the
// `canonicalize` package and node:crypto, and plans edited as a file would be.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { planIntact } from '../../src/core/plan-hash.js';
import { warmPlan } from '../../src/cli/warm-up.js';
import { sha256Hex } from '../../src/host/hash.js';

const jcs = canonicalize as unknown as (v: unknown) => string;
const plan = warmPlan();
const hash = plan.planHash!;

describe('planIntact', () => {
  it("the planner's hash is the schema's: sha256 of the canonical JSON with planHash null", () => {
    expect(hash).toBe(createHash('sha256').update(jcs({ ...plan, planHash: null })).digest('hex'));
  });

  it('takes the plan as written, reformatted or with its keys in another order', () => {
    expect(planIntact(JSON.parse(JSON.stringify(plan)), hash, sha256Hex)).toBe(true);
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(plan).reverse()), null, 2));
    expect(planIntact(reordered, hash, sha256Hex)).toBe(true);
  });

  it('refuses an edit a schema would take, a planHash rewritten, another hash, what is not an admitted plan, and what is not an object', () => {
    const edited = JSON.parse(JSON.stringify(plan));
    edited.clauses[0].mechanism = 'linux:landlock(abi=99)';
    expect(planIntact(edited, hash, sha256Hex)).toBe(false);
    // Its planHash recomputed to match the edit: the recorded hash still differs.
    const rehashed = { ...edited, planHash: createHash('sha256').update(jcs({ ...edited, planHash: null })).digest('hex') };
    expect(planIntact(rehashed, hash, sha256Hex)).toBe(false);
    expect(planIntact(rehashed, rehashed.planHash, sha256Hex)).toBe(true); // (the same check, anchored elsewhere)
    expect(planIntact(JSON.parse(JSON.stringify(plan)), 'f'.repeat(64), sha256Hex)).toBe(false);
    for (const v of [null, [], 'plan', 7, { planHash: hash }]) expect(planIntact(v, hash, sha256Hex)).toBe(false);
    // A plan with another shape, its hash recomputed to match: not one bvisor launches from.
    for (const shape of [{ bvisorVersion: '2' }, { kind: 'bvisor.report' }, { admitted: false }, { launch: null }]) {
      const other = { ...JSON.parse(JSON.stringify(plan)), ...shape, planHash: null };
      const h = createHash('sha256').update(jcs(other)).digest('hex');
      expect(planIntact({ ...other, planHash: h }, h, sha256Hex), JSON.stringify(shape)).toBe(false);
    }
  });
});
