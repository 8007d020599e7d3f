// The filesystem delta of a read-write grant (src/app/fsdelta.ts) against changes made here on
// the disk: the oracle is what this test did, and sha256 of the bytes it wrote. The walk runs as
// root over what a workload left, so the hostile cases (a symlink swapped into a nested grant's
// path, names a report cannot spell, paths past PATH_MAX, sparse giants, secrets in names) are
// made here on the disk as a workload would make them.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotGrants, grantDeltas, withoutDeltaLists, snapshotFromJson, snapshotToJson, MAX_ENTRIES } from '../../src/app/fsdelta.js';
import { REDACTED } from '../../src/core/redact.js';
import { mkdirChain, tempDir } from '../helpers/tmp.js';
import type { LaunchInputs, ReportBody } from '../../src/contract/generated/types.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** A launch granting each directory read-write, with the identity the planner would record. */
const launchOf = (paths: string[], access = 'read-write'): LaunchInputs =>
  ({
    filesystem: paths.map((path, i) => {
      const st = statSync(path, { bigint: true });
      return { clause: `filesystem[${i}]`, path, target: path, access, recursive: true, kind: 'directory', rights: [], dev: String(st.dev), ino: String(st.ino), idmap: null };
    }),
  }) as unknown as LaunchInputs;
const launchWith = (path: string, access = 'read-write'): LaunchInputs => launchOf([path], access);

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
    const [g] = grantDeltas(snap, []);
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

  it('lists a directory whose mode, owner or metadata changed as modified, the grant\'s own as "." (its times move with any name inside)', () => {
    const d = tempDir();
    mkdirSync(join(d, 'opened'), { mode: 0o755 });
    mkdirSync(join(d, 'owned'), { mode: 0o755 });
    mkdirSync(join(d, 'busy'), { mode: 0o755 });
    mkdirSync(join(d, 'tagged'), { mode: 0o755 });
    const snap = snapshotGrants(launchWith(d));
    chmodSync(d, 0o1777); // the grant's own directory (the workload owns it)
    chmodSync(join(d, 'opened'), 0o2777);
    chownSync(join(d, 'owned'), 1000, 1000);
    writeFileSync(join(d, 'busy', 'new'), 'x');
    // setfattr(1): an extended attribute moves ctime, not mtime, and not the mode (xattr(7)).
    const x = spawnSync('setfattr', ['-n', 'user.bvisor', '-v', '1', join(d, 'tagged')], { encoding: 'utf8' });
    const xattrs = !x.error && x.status === 0;
    if (!xattrs) console.warn(`SKIP (part): setfattr on ${d}: ${x.error?.message ?? x.stderr.trim()}`);
    const [g] = grantDeltas(snap, []);
    expect(g!.modified).toEqual([
      { path: '.', kind: 'dir', size: expect.any(Number), sha256: null },
      { path: 'opened', kind: 'dir', size: expect.any(Number), sha256: null },
      { path: 'owned', kind: 'dir', size: expect.any(Number), sha256: null },
      ...(xattrs ? [{ path: 'tagged', kind: 'dir', size: expect.any(Number), sha256: null }] : []),
    ]);
    expect(g!.created.map((e) => e.path)).toEqual(['busy/new']);
  });

  it("reads a container's snapshot as an older bvisor wrote it (no device, mode or owner; no grant identity)", () => {
    const d = tempDir();
    writeFileSync(join(d, 'kept'), 'same');
    writeFileSync(join(d, 'edit'), 'before');
    const now = JSON.parse(snapshotToJson(snapshotGrants(launchWith(d))));
    // The older format: grants without dev/ino, rows that stop after the inode.
    const old = { grants: now.grants.map((g: any) => ({ clause: g.clause, path: g.path, entries: g.entries.map((r: unknown[]) => r.slice(0, 6)) })) };
    const snap = snapshotFromJson(JSON.stringify(old));
    writeFileSync(join(d, 'edit'), 'after!!');
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toBeNull();
    expect(g!.modified.map((e) => e.path)).toEqual(['edit']);
    expect(g!.created).toEqual([]);
    expect(g!.deleted).toEqual([]);
  });

  it('sees a write that restores the old mtime (ctime moves), and ignores read-only grants', () => {
    const d = tempDir();
    writeFileSync(join(d, 'f'), 'aaaa');
    utimesSync(join(d, 'f'), 1000, 1000);
    const snap = snapshotGrants(launchWith(d));
    writeFileSync(join(d, 'f'), 'bbbb');
    utimesSync(join(d, 'f'), 1000, 1000);
    expect(grantDeltas(snap, [])[0]!.modified.map((e) => e.path)).toEqual(['f']);
    expect(snapshotGrants(launchWith(d, 'read')).grants).toEqual([]);
  });

  it('says "not observed" for a grant too large to list, rather than a partial list', () => {
    const d = tempDir();
    for (let i = 0; i <= MAX_ENTRIES; i++) writeFileSync(join(d, `f${i}`), '');
    const [g] = grantDeltas(snapshotGrants(launchWith(d)), []);
    expect(g!.notObserved).toBe(`at start: more than ${MAX_ENTRIES} entries`);
    expect(g!.created).toEqual([]);
  });
});

describe('fs delta of read-write grants a workload left hostile', () => {
  it('never leaves the grant: a nested grant whose parent became a symlink is not observed, and nothing outside is listed or hashed', () => {
    const d = tempDir();
    const outside = join(d, 'outside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    writeFileSync(join(outside, 'sub', 'secret.txt'), 'TOPSECRET\n');
    mkdirSync(join(d, 'box', 'd', 'sub'), { recursive: true });
    const snap = snapshotGrants(launchOf([join(d, 'box'), join(d, 'box', 'd', 'sub')]));
    // What the workload does (the nested grant's parent is no mount point it could not rename):
    renameSync(join(d, 'box', 'd'), join(d, 'box', 'd_moved'));
    symlinkSync(outside, join(d, 'box', 'd'));
    const [outer, inner] = grantDeltas(snap, []);
    const text = JSON.stringify([outer, inner]);
    expect(text).not.toContain('secret.txt');
    expect(text).not.toContain(sha('TOPSECRET\n'));
    // openat2(2): RESOLVE_NO_SYMLINKS fails with ELOOP on a symlink anywhere on the path.
    expect(inner!.notObserved).toMatch(/^at the end: filesystem\[1\]: open `.*\/box\/d\/sub`: ELOOP/);
    expect(inner!.created).toEqual([]);
    expect(outer!.notObserved).toBeNull();
    expect(outer!.created).toEqual([
      { path: 'd', kind: 'link', size: outside.length, sha256: null },
      { path: 'd_moved', kind: 'dir', size: expect.any(Number), sha256: null },
      { path: 'd_moved/sub', kind: 'dir', size: expect.any(Number), sha256: null },
    ]);
  });

  it('a grant directory replaced by another is not observed (its planned identity is checked)', () => {
    const d = tempDir();
    mkdirSync(join(d, 'g'));
    const snap = snapshotGrants(launchWith(join(d, 'g')));
    renameSync(join(d, 'g'), join(d, 'g.old'));
    mkdirSync(join(d, 'g'));
    writeFileSync(join(d, 'g', 'planted'), 'x');
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toMatch(/^at the end: filesystem\[0\]: `.*\/g` is no longer the object that was planned/);
    expect(g!.created).toEqual([]);
  });

  it('a name that is not UTF-8 makes the grant not observed, rather than a listing that leaves it and its subtree out', () => {
    const d = tempDir();
    const snap = snapshotGrants(launchWith(d));
    const bad = Buffer.concat([Buffer.from(`${d}/dir`), Buffer.from([0xfe])]);
    mkdirSync(bad);
    writeFileSync(Buffer.concat([bad, Buffer.from('/inside')]), 'hidden');
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toBe("at the end: the grant's directory holds a name that is not UTF-8, which a report cannot spell");
  });

  it('lists a file whose host path is longer than PATH_MAX (4096): each step is relative to its directory', () => {
    const d = tempDir();
    const snap = snapshotGrants(launchWith(d));
    const segs = Array.from({ length: 18 }, (_, i) => `${String(i).padStart(2, '0')}${'n'.repeat(248)}`);
    expect(join(d, ...segs, 'deep.txt').length).toBeGreaterThan(4096);
    mkdirChain(d, segs, { name: 'deep.txt', data: 'deep' });
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toBeNull();
    expect(g!.created.find((e) => e.path.endsWith('/deep.txt'))).toEqual({ path: `${segs.join('/')}/deep.txt`, kind: 'file', size: 4, sha256: sha('deep') });
    expect(g!.created.length).toBe(segs.length + 1);
  });

  it('hashes at most 256 MiB per grant (sparse 64 MiB files cost a workload no disk): past it, listed unhashed', () => {
    const d = tempDir();
    const snap = snapshotGrants(launchWith(d));
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(d, `sparse${i}`), '');
      truncateSync(join(d, `sparse${i}`), 64 * 2 ** 20);
    }
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toBeNull();
    expect(g!.created.map((e) => e.size)).toEqual(Array(5).fill(64 * 2 ** 20));
    const zeros = createHash('sha256').update(Buffer.alloc(64 * 2 ** 20)).digest('hex');
    expect(g!.created.filter((e) => e.sha256 === zeros).length).toBe(4);
    expect(g!.created.filter((e) => e.sha256 === null).length).toBe(1);
  });

  it('bounds the listing by its bytes: 5600 names of 250 control characters are not listed', () => {
    const d = tempDir();
    const snap = snapshotGrants(launchWith(d));
    // Each is 6 bytes in JSON (\u0001): 5600 × ~1500 bytes is over 8 MiB, with 5600 entries.
    for (let i = 0; i < 5600; i++) writeFileSync(join(d, `${String(i).padStart(4, '0')}${'\u0001'.repeat(250)}`), '');
    const [g] = grantDeltas(snap, []);
    expect(g!.notObserved).toBe(`at the end: its paths are longer than ${8 * 2 ** 20} bytes in all`);
    expect(g!.created).toEqual([]);
  });

  it('redacts a listed path that holds a secret value; lists nothing when the values are not known', () => {
    const d = tempDir();
    const snap = snapshotGrants(launchWith(d));
    mkdirSync(join(d, 'tok-s3cr3t-XYZ'));
    writeFileSync(join(d, 'tok-s3cr3t-XYZ', 'f'), 'x');
    writeFileSync(join(d, 'plain'), 'y');
    const [g] = grantDeltas(snap, ['s3cr3t-XYZ']);
    expect(g!.created.map((e) => e.path)).toEqual(['plain', REDACTED, REDACTED]);
    expect(JSON.stringify(g)).not.toContain('s3cr3t');
    // A reason that names a path holding the value (here with a quote, which JSON escapes) is
    // redacted whole: the test is on the path as it is, not as JSON spells it.
    const snap2 = snapshotGrants(launchWith(d));
    mkdirSync(join(d, 'pa"ss-s3cr3t-XYZ'));
    writeFileSync(Buffer.concat([Buffer.from(join(d, 'pa"ss-s3cr3t-XYZ') + '/'), Buffer.from([0xff])]), '');
    const [q] = grantDeltas(snap2, ['pa"ss-s3cr3t-XYZ']);
    expect(q!.notObserved).toBe(REDACTED);
    const [u] = grantDeltas(snap, null);
    expect(u!.notObserved).toMatch(/secrets in its environment/);
    expect(JSON.stringify(u)).not.toContain('s3cr3t');
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
