// Reads of manifests, kept by their bytes under the state root: the YAML read (parse, strict
// checks, where each node is written) of a manifest bvisor has already loaded whole, so that the
// next create or run of it skips the read: 3 ms of each (the yaml library's code is interpreted
// and cold in a one-shot process), measured in docs/performance.md.
//
// What an entry holds is a function of the bytes and of the reader alone, so an entry serves
// only the very bytes it was made from, and only a reader with the same code: the key is the
// sha256 of both (readerCode: the running reader's own source, so no revision to remember to
// raise) and the yaml library's version, and the entry names its key. The data still goes
// through the schema and every rule of loadManifest, as a fresh read's would. Entries live in a
// 0700 directory of ours in a checked root, each opened without following a link and used only
// if it is a regular file of ours no one else can write, with one link, of a bounded size, and
// headed by the sha256 of its body (a torn write). Only a manifest that loaded whole is kept.
// The cache is never a reason to fail: one that cannot be read, written or tidied is passed
// over, and the manifest is read as if there were none.
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import yamlPackage from 'yaml/package.json';
import { loadManifest, type ManifestLoad } from '../core/manifest.js';
import { fromEntry, readerCode, type ParsedEntry } from '../core/yaml-reader.js';
import { writeFileAtomic } from './atomic.js';
import { checkStateRoot } from './state-root.js';
import { usableDir } from './wasm-cache.js';

/** An entry larger than this is not read (a manifest's read is a few KiB). */
const MAX_ENTRY_BYTES = 1 << 20;
/** Entries kept; beyond it, the least recently used go when one is added. */
const MAX_ENTRIES = 256;
/** A temp file older than this is a writer's that was killed (writes take milliseconds). */
const STALE_TEMP_MS = 60_000;

let readerId: string | null = null;

/** The cache of manifest reads under a state root. */
export function manifestCacheDir(root: string): string {
  return join(root, 'manifest-cache');
}

export function manifestCacheKey(source: string): string {
  readerId ??= createHash('sha256').update(`yaml ${yamlPackage.version}\0`).update(readerCode()).digest('hex');
  return createHash('sha256').update(readerId).update('\0').update(source).digest('hex');
}

/**
 * The cache's directory under a state root that exists and passes checkStateRoot (a real
 * directory of ours no one else can write): made there if need be, never through a link or in a
 * root not yet checked (bundles are read before the root is prepared). Else null: no cache.
 */
function cacheDirUnder(root: string): { dir: string; exists: boolean } | null {
  try {
    if (!checkStateRoot(root)) return null;
  } catch {
    return null;
  }
  const dir = manifestCacheDir(root);
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return { dir, exists: false }; // made (by usableDir) when there is an entry to keep
  }
  return st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o077) === 0 ? { dir, exists: true } : null;
}

/** loadManifest, its YAML read taken from the cache under `root` when there is one of these bytes. */
export function loadManifestCached(source: string, file: string, root: string | null): ManifestLoad & { cache: 'hit' | 'miss' | 'disabled' } {
  const d = root === null ? null : cacheDirUnder(root);
  if (d === null) return { ...loadManifest(source, file), cache: 'disabled' };
  const key = manifestCacheKey(source);
  const path = join(d.dir, `${key}.json`);
  const kept = d.exists ? readEntry(path, key) : null;
  if (kept) {
    try {
      return { ...loadManifest(source, file, fromEntry(kept)), cache: 'hit' };
    } catch {
      // An entry these bytes do not load from is not theirs: read them afresh, and say what that says.
      removeQuietly(path);
    }
  }
  const loaded = loadManifest(source, file);
  keep(d.dir, path, key, loaded);
  return { ...loaded, cache: 'miss' };
}

function readEntry(path: string, key: string): ParsedEntry | null {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return null; // none yet (or a link: not ours to follow)
  }
  let raw: Buffer | null = null;
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.uid === process.geteuid?.() && st.nlink === 1 && (st.mode & 0o077) === 0 && st.size > 32 && st.size <= MAX_ENTRY_BYTES) {
      raw = Buffer.alloc(st.size);
      if (readSync(fd, raw, 0, st.size, 0) !== st.size) raw = null;
    }
  } catch {
    raw = null;
  } finally {
    closeSync(fd);
  }
  const body = raw?.subarray(32);
  if (raw && body && createHash('sha256').update(body).digest().equals(raw.subarray(0, 32))) {
    try {
      const e = JSON.parse(body.toString('utf8')) as Partial<ParsedEntry & { key: string }> | null;
      if (e && e.key === key && Array.isArray(e.table) && 'data' in e) return { data: e.data, table: e.table };
    } catch {
      // not JSON: as a damaged entry
    }
  }
  removeQuietly(path);
  return null;
}

/** Keeps a loaded manifest's read, then tidies: temp files of killed writers, the least recently used beyond MAX_ENTRIES. */
function keep(dirPath: string, path: string, key: string, loaded: ManifestLoad): void {
  try {
    const e = loaded.yaml.entry?.();
    const dir = e ? usableDir(dirPath) : null;
    if (!e || !dir) return;
    const body = Buffer.from(JSON.stringify({ key, data: e.data, table: e.table }));
    if (body.length + 32 > MAX_ENTRY_BYTES) return;
    // Not durable: an entry a crash takes is read again next time.
    writeFileAtomic(path, Buffer.concat([createHash('sha256').update(body).digest(), body]), 0o600, 'renamed');
    const names = readdirSync(dir);
    const now = Date.now();
    const entries: Array<{ name: string; used: number }> = [];
    for (const name of names) {
      const st = statSync(join(dir, name), { throwIfNoEntry: false });
      if (!st) continue;
      if (name.endsWith('.tmp')) {
        if (now - st.mtimeMs > STALE_TEMP_MS) removeQuietly(join(dir, name));
      } else entries.push({ name, used: Math.max(st.atimeMs, st.mtimeMs) });
    }
    entries.sort((a, b) => a.used - b.used);
    for (const old of entries.slice(0, Math.max(0, entries.length - MAX_ENTRIES))) removeQuietly(join(dir, old.name));
  } catch {
    // A full or read-only root: nothing kept, and the manifest was loaded all the same.
  }
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // a root that cannot be written: the entry is passed over each time instead
  }
}
