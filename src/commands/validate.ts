// bvisor validate — schema and semantic validation of a bundle's manifest.
import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { validateBundle, type ValidateResult } from '../app/plan.js';

export default class Validate extends BaseCommand<typeof Validate> {
  static override summary = 'Validate a bundle: strict YAML, schema, meaning, and what every host would refuse (no host probe); errors name file:line:col and the clause';
  static override args = { bundle: Args.string({ description: 'bundle directory, or .tar/.tar.gz', default: '.' }) };

  async run(): Promise<ValidateResult> {
    const { args } = await this.parse(Validate);
    const r = validateBundle(args.bundle);
    // The current directory (no argument, as create and run take it) by its path.
    this.say(`${args.bundle === '.' ? r.bundle : args.bundle}: valid (${r.backend} workload)`);
    return r;
  }
}
