// Evidence of what a run did to the host's filesystem (issue 15, item 5): for each read-write
// grant, a snapshot before the workload is released (path → kind, size, mtime, ctime, inode)
// and a walk after it ended; the report lists what was created, modified and deleted, with
// sizes, and the sha256 of what is there now (created and modified files). Bounded: a grant
// with more entries than MAX_ENTRIES, or a walk that fails, says "not observed" and why,
// rather than a partial list that would read as complete.
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchInputs, ReportBody } from '../contract/generated/types.js';

export const MAX_ENTRIES = 20_000;
/** Files above this are listed with their size but not hashed (the report says so). */
export const MAX_HASH_BYTES = 64 * 2 ** 20;

interface Entry {
  kind: 'file' | 'dir' | 'link' | 'other';
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

export interface Snapshot {
  grants: Array<{ clause: string; path: string; entries: Map<string, Entry> | string }>;
}

function scan(top: string): Map<string, Entry> | string {
  const out = new Map<string, Entry>();
  const walk = (rel: string, depth: number): string | null => {
    if (depth > 64) return 'nested deeper than 64 directories';
    let names: string[];
    try {
      names = readdirSync(join(top, rel));
    } catch (e) {
      return `unreadable ${rel || '.'}: ${(e as NodeJS.ErrnoException).code}`;
    }
    for (const n of names) {
      const p = rel ? `${rel}/${n}` : n;
      let st;
      try {
        st = lstatSync(join(top, p), { bigint: true });
      } catch {
        continue; // vanished between readdir and lstat
      }
      const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
      out.set(p, { kind, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino });
      if (out.size > MAX_ENTRIES) return `more than ${MAX_ENTRIES} entries`;
      if (kind === 'dir') {
        const bad = walk(p, depth + 1);
        if (bad) return bad;
      }
    }
    return null;
  };
  const bad = walk('', 0);
  return bad ?? out;
}

/** The read-write directory grants of a launch, scanned now (before release). */
export function snapshotGrants(launch: LaunchInputs): Snapshot {
  const rw = launch.filesystem.filter((r) => r.access.includes('write') && r.kind === 'directory' && r.clause !== 'outputs');
  return { grants: rw.map((r) => ({ clause: r.clause, path: r.path, entries: scan(r.path) })) };
}

function sha256Of(path: string, size: number): string | null {
  if (size > MAX_HASH_BYTES) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/** The deltas since `before`, one per grant, for the report. */
export function grantDeltas(before: Snapshot): NonNullable<ReportBody['fsDelta']> {
  return before.grants.map((g) => {
    if (typeof g.entries === 'string') return { clause: g.clause, path: g.path, notObserved: `at start: ${g.entries}`, created: [], modified: [], deleted: [] };
    const now = scan(g.path);
    if (typeof now === 'string') return { clause: g.clause, path: g.path, notObserved: `at the end: ${now}`, created: [], modified: [], deleted: [] };
    const created: Array<{ path: string; kind: Entry['kind']; size: number; sha256: string | null }> = [];
    const modified: Array<{ path: string; kind: Entry['kind']; size: number; sha256: string | null }> = [];
    const deleted: Array<{ path: string; kind: Entry['kind']; size: number }> = [];
    const hashIfFile = (p: string, e: Entry): string | null => (e.kind === 'file' ? sha256Of(join(g.path, p), e.size) : null);
    for (const [p, e] of now) {
      const was = g.entries.get(p);
      if (!was || was.ino !== e.ino || was.kind !== e.kind) created.push({ path: p, kind: e.kind, size: e.size, sha256: hashIfFile(p, e) });
      // ctime moves on any write or metadata change, even one that restores mtime (touch -d).
      else if (e.kind !== 'dir' && (was.size !== e.size || was.mtimeNs !== e.mtimeNs || was.ctimeNs !== e.ctimeNs)) modified.push({ path: p, kind: e.kind, size: e.size, sha256: hashIfFile(p, e) });
    }
    for (const [p, was] of g.entries) {
      const e = now.get(p);
      if (!e || e.ino !== was.ino || e.kind !== was.kind) deleted.push({ path: p, kind: was.kind, size: was.size });
    }
    const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    return { clause: g.clause, path: g.path, notObserved: null, created: created.sort(byPath), modified: modified.sort(byPath), deleted: deleted.sort(byPath) };
  });
}

/** A snapshot as JSON (a container's, kept in its state directory from create to its seal). */
export function snapshotToJson(s: Snapshot): string {
  return JSON.stringify({ grants: s.grants.map((g) => ({ clause: g.clause, path: g.path, entries: typeof g.entries === 'string' ? g.entries : [...g.entries].map(([p, e]) => [p, e.kind, e.size, String(e.mtimeNs), String(e.ctimeNs), String(e.ino)]) })) });
}

export function snapshotFromJson(text: string): Snapshot {
  const raw = JSON.parse(text) as { grants: Array<{ clause: string; path: string; entries: string | Array<[string, Entry['kind'], number, string, string, string]> }> };
  return {
    grants: raw.grants.map((g) => ({
      clause: g.clause,
      path: g.path,
      entries: typeof g.entries === 'string' ? g.entries : new Map(g.entries.map(([p, kind, size, m, c, ino]) => [p, { kind, size, mtimeNs: BigInt(m), ctimeNs: BigInt(c), ino: BigInt(ino) }])),
    })),
  };
}

/** How a grant's notObserved begins when its lists were left out of the report (withoutDeltaLists). */
export const LISTS_NOT_KEPT = 'observed, but not kept';

/** The body with each observed grant's lists replaced by why they are missing and how long they
 * were; null when there is no list to leave out (the failure was not the lists'). */
export function withoutDeltaLists(body: ReportBody, errno: string): ReportBody | null {
  const listed = (g: NonNullable<ReportBody['fsDelta']>[number]): boolean => g.created.length + g.modified.length + g.deleted.length > 0;
  if (!body.fsDelta?.some(listed)) return null;
  return {
    ...body,
    fsDelta: body.fsDelta.map((g) =>
      !listed(g)
        ? g
        : { ...g, notObserved: `${LISTS_NOT_KEPT}: the report with this grant's ${g.created.length} created, ${g.modified.length} modified and ${g.deleted.length} deleted entries did not fit in the state root (${errno})`, created: [], modified: [], deleted: [] },
    ),
  };
}
