// bvisor list reads the journal back only as far as its containers need (host/journal-store.ts,
// readJournalEntriesSince): to each started run's start record, and for a container that never
// started to the journal's head when it was created, which create records in its state. Oracle
// for that head: the journal's head file on disk, read here, at the moment of create.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startContainer, stateOf, deleteContainer, listContainers } from '../../src/app/lifecycle.js';
import { createContainer } from '../../src/app/create.js';
import { annotateList } from '../../src/app/recover.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { probeBundle, facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

describe('list over a journal with history (live)', () => {
  it("create records the journal head; list classifies a started and a created container from the bounded read", async () => {
    const root = tempDir();
    const b = probeBundle(['exit', '0']);
    const o = { root, bundle: b, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() };
    const made: string[] = [];
    try {
      const stateFile = (id: string) => JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8'));
      const head = () => JSON.parse(readFileSync(join(root, 'journal.head.json'), 'utf8')) as { seq: number; entryHash: string };
      made.push('a');
      await createContainer({ ...o, id: 'a' });
      expect(stateFile('a').journalAtCreate).toBeNull(); // no journal yet
      await startContainer(root, 'a');
      for (const t = Date.now(); stateOf(root, 'a').status !== 'stopped'; ) {
        if (Date.now() - t > 20_000) throw new Error('a did not stop');
        await new Promise((r) => setTimeout(r, 50));
      }
      stateOf(root, 'a'); // seals a's report into the journal
      const before = head();
      expect(before.seq).toBeGreaterThanOrEqual(2); // a's start record and report
      made.push('b');
      await createContainer({ ...o, id: 'b' });
      expect(stateFile('b').journalAtCreate).toEqual({ seq: before.seq, entryHash: before.entryHash });
      const listed = annotateList(root, listContainers(root));
      expect(listed.map((l) => [l.id, l.status, l.attempt?.classification])).toEqual([
        ['a', 'stopped', 'completed'],
        ['b', 'created', 'absent'],
      ]);
    } finally {
      for (const id of made) await deleteContainer(root, id, true).catch(() => undefined);
    }
  }, 60_000);
});
