// bvisor spec — write a starter boundary.yaml.
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { writeSpec } from '../app/spec.js';

export default class Spec extends BaseCommand<typeof Spec> {
  static override summary = 'Write a starter boundary.yaml that grants things explicitly';
  static override flags = {
    wasm: Flags.boolean({ description: 'a manifest for a WASI module instead of a host process', default: false }),
    bundle: Flags.string({ char: 'b', description: 'bundle directory to write into', default: '.' }),
    force: Flags.boolean({ description: 'overwrite an existing boundary.yaml', default: false }),
  };

  async run(): Promise<{ path: string }> {
    const r = writeSpec({ dir: this.flags.bundle, wasm: this.flags.wasm, force: this.flags.force });
    this.say(`wrote ${r.path}`);
    // The manifest names a module the bundle does not hold yet: validate would say so first
    // (a new-user pass met that before anything else).
    if (r.lacks) this.say(`next: put your WASI module beside it as ${r.lacks} (or change workload.wasm.module), then bvisor validate`);
    return { path: r.path };
  }
}
