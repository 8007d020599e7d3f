// 200 containers with distinct ids, created in parallel through the lifecycle API, then started,
// waited for and deleted: all succeed, nothing is left, the journal verifies with 200 reports.
import { readdirSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startContainer, stateOf, deleteContainer } from '../../src/app/lifecycle.js';
import { createContainer } from '../../src/app/create.js';
import { verifyJournalAt } from '../../src/host/journal-store.js';
import { probeBundle, facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

describe('lifecycle at scale (live)', () => {
  it('200 parallel creates of distinct ids, then start, wait, delete', async () => {
    const root = tempDir();
    const b = probeBundle(['exit', '0']);
    const ids = Array.from({ length: 200 }, (_, i) => `p${i}`);
    const host = facts();
    const created = await Promise.allSettled(ids.map((id) => createContainer({ root, id, bundle: b, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host })));
    expect(created.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    await Promise.all(ids.map((id) => startContainer(root, id)));
    const t = Date.now();
    while (ids.some((id) => stateOf(root, id).status !== 'stopped')) {
      if (Date.now() - t > 30_000) throw new Error('not all stopped');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const id of ids) await deleteContainer(root, id, false);
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
    // Each: a start record (before its go byte) and its report.
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 400 });
  }, 120_000);
});
