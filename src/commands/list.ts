// bvisor list — the containers under the state root.
import { BaseCommand } from '../cli/base.js';
import { listContainers, type ListEntry } from '../app/lifecycle.js';
import { table } from '../cli/render.js';

export default class List extends BaseCommand<typeof List> {
  static override summary = 'List containers under the state root (broken ones are marked; delete -f removes them)';

  async run(): Promise<ListEntry[]> {
    const all = listContainers(this.stateRoot, this.journal);
    this.say(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED'], all.map((c) => [c.id, c.pid === null ? '0' : String(c.pid), c.broken ? `${c.status} (broken)` : c.status, c.bundle, c.created]), 120));
    return all;
  }
}
