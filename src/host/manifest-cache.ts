// Reads of manifests, kept by their bytes under the state root: the YAML read (parse, strict
// checks, where each node is written) of a manifest bvisor has already loaded whole, so that the
// next create or run of it skips the read: about 4 ms of each (the yaml library's code is
// interpreted and cold in a one-shot process), measured in docs/performance.md.
//
// What an entry holds is a function of the bytes alone (the same bytes read the same way), so an
// entry serves only the very bytes it was made from, and only by this reader: the key is their
// sha256 with the yaml library's version and READ_REVISION. The data still goes through the
// schema and every rule of loadManifest, as a fresh read's would. Entries are kept like the wasm
// cache's (host/wasm-cache.ts): a 0700 directory of ours, each entry headed by the sha256 of its
// body (one that does not match is not used, and is replaced), written whole (temp and rename).
// Only a manifest that loaded whole is kept, and a cache that cannot be read or written is not
// an error: the manifest is read as if there were none.
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import yamlPackage from 'yaml/package.json';
import { loadManifest, type ManifestLoad } from '../core/manifest.js';
import { fromEntry, type ParsedEntry } from '../core/yaml-reader.js';
import { writeFileAtomic } from './atomic.js';
import { checkStateRoot } from './state-root.js';
import { usableDir } from './wasm-cache.js';

/** Raised when what core/yaml-reader.ts checks or records changes: older entries then go unused. */
const READ_REVISION = 1;

/** The cache of manifest reads under a state root. */
export function manifestCacheDir(root: string): string {
  return join(root, 'manifest-cache');
}

export function manifestCacheKey(source: string): string {
  return createHash('sha256').update(`bvisor manifest read ${READ_REVISION}, yaml ${yamlPackage.version}\0`).update(source).digest('hex');
}

/**
 * The cache's directory under a state root that exists and passes checkStateRoot (a real
 * directory of ours no one else can write): made there if need be, never through a link or in a
 * root not yet checked (bundles are read before the root is prepared). Else null: no cache.
 */
function cacheDirUnder(root: string): { dir: string; exists: boolean } | null {
  try {
    lstatSync(root);
    checkStateRoot(root);
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
  const name = `${manifestCacheKey(source)}.json`;
  const kept = d.exists ? readEntry(join(d.dir, name)) : null;
  if (kept) return { ...loadManifest(source, file, fromEntry(kept)), cache: 'hit' };
  const loaded = loadManifest(source, file);
  const entry = loaded.yaml.entry?.();
  const dir = entry ? usableDir(d.dir) : null;
  if (entry && dir) writeEntry(join(dir, name), entry);
  return { ...loaded, cache: 'miss' };
}

function readEntry(path: string): ParsedEntry | null {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return null; // none yet
  }
  const body = raw.subarray(32);
  try {
    if (raw.length > 32 && createHash('sha256').update(body).digest().equals(raw.subarray(0, 32))) {
      const e = JSON.parse(body.toString('utf8')) as Partial<ParsedEntry> | null;
      if (e && Array.isArray(e.table) && 'data' in e) return { data: e.data, table: e.table };
    }
  } catch {
    // not JSON: as a damaged entry
  }
  rmSync(path, { force: true });
  return null;
}

function writeEntry(path: string, e: ParsedEntry): void {
  const body = Buffer.from(JSON.stringify(e));
  try {
    // Not durable: an entry a crash takes is read again next time.
    writeFileAtomic(path, Buffer.concat([createHash('sha256').update(body).digest(), body]), 0o600, 'renamed');
  } catch {
    // A full or read-only root: no entry, and the manifest was loaded all the same.
  }
}
