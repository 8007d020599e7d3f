// bvisor features — the OCI runtime features document (runtime-spec features.md): what this
// build of bvisor and this host can enforce. containerd asks at shim start.
import { BaseCommand } from '../cli/base.js';
import { features } from '../app/oci.js';
import { probeHost } from '../host/facts.js';

export default class Features extends BaseCommand<typeof Features> {
  static override summary = 'Print the OCI features document: the namespaces, capabilities, seccomp actions and cgroup versions bvisor enforces on this host';

  async run(): Promise<Record<string, unknown>> {
    await this.parse(Features);
    const f = features(probeHost());
    this.say(JSON.stringify(f, null, 2));
    return f;
  }
}
