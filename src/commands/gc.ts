// bvisor gc — remove what crashed commands left under the state root: broken containers (their
// processes, cgroups and state; a report sealed and journaled where one can be), half-made
// entries, and bundles extracted from archives whose owner is gone.
import { BaseCommand } from '../cli/base.js';
import { gcRoot, type GcResult } from '../app/gc.js';

export default class Gc extends BaseCommand<typeof Gc> {
  static override summary = 'Remove broken containers and orphaned extracted bundles (what crashes left behind)';

  async run(): Promise<GcResult> {
    const r = await gcRoot(this.stateRoot, this.journal);
    for (const a of r.recovered ?? []) this.say(`recovered ${a.runId}${a.containerId ? ` (${a.containerId})` : ''}: ${a.classification}${a.actions.length ? `: ${a.actions.map((x) => `${x.do} ${x.target}${x.error ? ' FAILED' : ''}`).join(', ')}` : ''}`);
    for (const x of r.removed) this.say(`removed ${x.id}: ${x.why}`);
    for (const b of r.bundles) this.say(`removed extracted bundle ${b}`);
    for (const f of r.failed) this.say(`could not remove ${f.id}: ${f.error}`);
    // Said, so that a gc that found nothing is not mistaken for one that did nothing it should.
    if (!r.recovered?.length && !r.removed.length && !r.bundles.length && !r.failed.length) this.say(`nothing to remove under ${this.stateRoot}`);
    if (r.failed.length) process.exitCode = 1;
    return r;
  }
}
