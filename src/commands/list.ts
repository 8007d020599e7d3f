// bvisor list — the containers under the state root.
import { BaseCommand } from '../cli/base.js';
import { listContainers } from '../app/lifecycle.js';
import { annotateList, type ListedContainer } from '../app/recover.js';
import { table } from '../cli/render.js';

export default class List extends BaseCommand<typeof List> {
  static override summary = 'List containers under the state root (broken ones are marked; delete -f removes them)';

  async run(): Promise<ListedContainer[]> {
    // Each container's attempt as bvisor recover classifies it (read-only: docs/journal.md#recovery).
    const all = annotateList(this.stateRoot, listContainers(this.stateRoot, this.journal));
    this.say(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'ATTEMPT'], all.map((c) => [c.id, c.pid === null ? '0' : String(c.pid), c.broken ? `${c.status} (broken)` : c.status, c.bundle, c.created, attemptCell(c)]), 120));
    return all;
  }
}

/** The ATTEMPT column: recover's classification (docs/journal.md#recovery), but for a container
 * created and waiting for start, whose attempt has no start record yet by design: "absent" there
 * would read as something lost; and with the sealed report's outcome beside it, since "completed"
 * alone read as the workload's success for one it killed (a new-user pass). --json keeps the
 * classification as it is, and the outcome apart. */
function attemptCell(c: ListedContainer): string {
  const k = c.attempt?.classification ?? '-';
  if (k === 'absent' && c.status === 'created' && !c.broken) return 'none yet';
  return c.attempt?.outcome ? `${k} (report: ${c.attempt.outcome})` : k;
}
