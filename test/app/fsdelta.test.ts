// The filesystem delta of a read-write grant (src/app/fsdelta.ts) against changes made here on
// the disk: the oracle is what this test did, and sha256 of the bytes it wrote.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotGrants, grantDeltas, withoutDeltaLists, MAX_ENTRIES } from '../../src/app/fsdelta.js';
import { tempDir } from '../helpers/tmp.js';
import type { LaunchInputs, ReportBody } from '../../src/contract/generated/types.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const launchWith = (path: string, access = 'read-write'): LaunchInputs => ({ filesystem: [{ clause: 'filesystem[0]', path, target: path, access, recursive: true, kind: 'directory', rights: [], dev: '1', ino: '1', idmap: null }] }) as unknown as LaunchInputs;

describe('fs delta of read-write grants', () => {
  it('lists created, modified and deleted entries with sizes and the hashes of what is there now', () => {
    const d = tempDir();
    writeFileSync(join(d, 'keep'), 'same');
    writeFileSync(join(d, 'edit'), 'before');
    writeFileSync(join(d, 'gone'), 'x');
    mkdirSync(join(d, 'sub'));
    writeFileSync(join(d, 'replaced'), 'old');
    const snap = snapshotGrants(launchWith(d));
    writeFileSync(join(d, 'edit'), 'after!!');
    rmSync(join(d, 'gone'));
    writeFileSync(join(d, 'sub', 'new'), 'fresh');
    symlinkSync('/etc/passwd', join(d, 'link'));
    // A new file renamed over an old name is a new entry there (another inode), and the old one went.
    writeFileSync(join(d, 'tmp'), 'new content');
    renameSync(join(d, 'tmp'), join(d, 'replaced'));
    const [g] = grantDeltas(snap);
    expect(g!.notObserved).toBeNull();
    expect(g!.created).toEqual([
      { path: 'link', kind: 'link', size: '/etc/passwd'.length, sha256: null },
      { path: 'replaced', kind: 'file', size: 11, sha256: sha('new content') },
      { path: 'sub/new', kind: 'file', size: 5, sha256: sha('fresh') },
    ]);
    expect(g!.modified).toEqual([{ path: 'edit', kind: 'file', size: 7, sha256: sha('after!!') }]);
    expect(g!.deleted).toEqual([
      { path: 'gone', kind: 'file', size: 1 },
      { path: 'replaced', kind: 'file', size: 3 },
    ]);
  });

  it('sees a write that restores the old mtime (ctime moves), and ignores read-only grants', () => {
    const d = tempDir();
    writeFileSync(join(d, 'f'), 'aaaa');
    utimesSync(join(d, 'f'), 1000, 1000);
    const snap = snapshotGrants(launchWith(d));
    writeFileSync(join(d, 'f'), 'bbbb');
    utimesSync(join(d, 'f'), 1000, 1000);
    expect(grantDeltas(snap)[0]!.modified.map((e) => e.path)).toEqual(['f']);
    expect(snapshotGrants(launchWith(d, 'read')).grants).toEqual([]);
  });

  it('says "not observed" for a grant too large to list, rather than a partial list', () => {
    const d = tempDir();
    for (let i = 0; i <= MAX_ENTRIES; i++) writeFileSync(join(d, `f${i}`), '');
    const [g] = grantDeltas(snapshotGrants(launchWith(d)));
    expect(g!.notObserved).toBe(`at start: more than ${MAX_ENTRIES} entries`);
    expect(g!.created).toEqual([]);
  });
});

describe('a report without the delta lists (run, on a root with no room for them)', () => {
  const grant = (clause: string, created: number, notObserved: string | null = null) => ({
    clause,
    path: `/g/${clause}`,
    notObserved,
    created: Array.from({ length: created }, (_, i) => ({ path: `f${i}`, kind: 'file' as const, size: 1, sha256: null })),
    modified: [{ path: 'm', kind: 'file' as const, size: 2, sha256: null }].slice(0, created ? 1 : 0),
    deleted: [],
  });
  const body = (fsDelta: NonNullable<ReportBody['fsDelta']> | undefined) => ({ outcome: { status: 'completed' }, ...(fsDelta ? { fsDelta } : {}) }) as unknown as ReportBody;

  it('empties each listed grant, saying why and how long its lists were; keeps the rest of the body and the other grants', () => {
    const b = body([grant('filesystem[1]', 3), grant('filesystem[2]', 0), grant('filesystem[3]', 0, 'at start: more than 20000 entries')]);
    const out = withoutDeltaLists(b, 'ENOSPC')!;
    expect(out.outcome).toEqual(b.outcome);
    expect(out.fsDelta![0]).toEqual({ clause: 'filesystem[1]', path: '/g/filesystem[1]', notObserved: "observed, but not kept: the report with this grant's 3 created, 1 modified and 0 deleted entries did not fit in the state root (ENOSPC)", created: [], modified: [], deleted: [] });
    expect(out.fsDelta!.slice(1)).toEqual(b.fsDelta!.slice(1));
  });

  it('is null when there is no list to leave out: the failure was not the lists\'', () => {
    expect(withoutDeltaLists(body(undefined), 'ENOSPC')).toBeNull();
    expect(withoutDeltaLists(body([grant('filesystem[1]', 0)]), 'EDQUOT')).toBeNull();
  });
});
