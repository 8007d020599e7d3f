// bvisor plan — the planner's verdict on every clause; exits 3 when anything is refused.
import { BaseCommand } from '../cli/base.js';
import { bundleArg, bundleFlag, bundleOf } from '../cli/bundle-arg.js';
import { handoverFlags, handover } from '../cli/handover.js';
import { planBundle } from '../app/plan.js';
import { clipped, table } from '../cli/render.js';
import { BvisorError } from '../contract/errors.js';
import type { Plan as PlanDoc } from '../contract/generated/types.js';

/** Wider than a clause's usual mechanism, narrower than a long refusal reason. */
const CELL_WIDTH = 100;

export default class Plan extends BaseCommand<typeof Plan> {
  static override summary = "Show how this host would enforce each clause of a bundle's manifest, or why it refuses";
  static override flags = { ...handoverFlags, ...bundleFlag };
  static override args = { ...bundleArg };

  async run(): Promise<PlanDoc> {
    const { args, flags } = await this.parse(Plan);
    const named = bundleOf(args.bundle, flags.bundle);
    const { bundle, plan, ownProcesses, refusals, refusedHeadline } = planBundle(named, { cgroupParent: this.cgroupParent, root: this.stateRoot, ...handover(this.flags) });
    const rows = plan.clauses.map((c) => [
      // A limit's value as the plan reads it (a mechanism does not always say it): "64M" is
      // 62500Ki, not the 64Mi docker's -m 64m would be.
      // (The value alone: a default's requested says why beside it, as its reason does too.)
      c.clause.startsWith('limits.') && c.verdict !== 'not-requested' ? `${c.clause} = ${c.requested.split(' ')[0]}` : c.clause,
      c.verdict,
      c.mechanism ? `${c.mechanism}${c.reason ? ` (${c.reason})` : ''}` : (c.reason ?? ''),
    ]);
    this.say(table(['clause', 'verdict', 'mechanism / reason'], rows, CELL_WIDTH));
    if (rows.some((r) => r.some((cell) => clipped(cell, CELL_WIDTH)))) this.say(`(a cell cut at ${CELL_WIDTH} columns ends in …: ${this.config.bin} plan --json prints it whole)`);
    if (!plan.admitted) {
      if (this.jsonEnabled()) {
        // --json prints the whole plan (with its refusals) and still exits 3.
        process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
        process.exitCode = 3;
        return undefined as unknown as PlanDoc;
      }
      throw new BvisorError('BV_PLAN_REFUSED', `${named === '.' ? bundle : named}: ${refusedHeadline}; nothing was run`, {
        issues: refusals,
      });
    }
    // Every clause admitted, and still refused as run would refuse it: by the wasm backend's own
    // processes (their boundary, or their library), before anything runs.
    if (ownProcesses) throw ownProcesses;
    this.say(`\nadmitted: ${plan.backend} backend, plan ${plan.planHash?.slice(0, 16)}`);
    return plan;
  }
}
