// bvisor validate — schema and semantic validation of a bundle's manifest.
import { BaseCommand } from '../cli/base.js';
import { bundleArg, bundleFlag, bundleOf } from '../cli/bundle-arg.js';
import { validateBundle, type ValidateResult } from '../app/plan.js';

export default class Validate extends BaseCommand<typeof Validate> {
  static override summary = 'Validate a bundle: strict YAML, schema, meaning, and what every host would refuse (no host probe); errors name file:line:col and the clause';
  static override args = { ...bundleArg };
  static override flags = { ...bundleFlag };

  async run(): Promise<ValidateResult> {
    const { args, flags } = await this.parse(Validate);
    const named = bundleOf(args.bundle, flags.bundle);
    const r = validateBundle(named);
    // The current directory (no argument, as create and run take it) by its path.
    this.say(`${named === '.' ? r.bundle : named}: valid (${r.backend} workload)`);
    return r;
  }
}
