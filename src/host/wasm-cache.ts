// The instrumented-module cache: trusted code, so it lives in a 0700 directory we own (outside
// every preopen), entries are written atomically, and each carries the sha256 of its own bytes:
// an entry that does not match (corrupted, or tampered with) is deleted and rebuilt, never run.
// Key: sha256(rewriter version ‖ options ‖ module). An in-process Map serves repeat API runs.
// Both are bounded (found by attack: every module a bundle brought stayed on disk for good, 84 MB
// for one): on disk by MAX_CACHE_BYTES, least recently used first out (a hit refreshes an entry's
// mtime); in memory by count and by bytes.
import { mkdirSync, readFileSync, statSync, rmSync, lstatSync, readdirSync, utimesSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeFileAtomic } from './atomic.js';
import { BvisorError } from '../contract/errors.js';
import { untilStopped, type Stop } from './timers.js';

export type CacheResult = 'hit' | 'miss' | 'memory' | 'rebuilt' | 'disabled';

const memory = new Map<string, Uint8Array>();
const MAX_MEMORY_ENTRIES = 64;
/** What the in-process Map holds at most, together. */
const MAX_MEMORY_BYTES = 256 * 2 ** 20;
let memoryBytes = 0;
/** What a cache directory holds at most, together; an entry above a quarter of it is not kept. */
export const MAX_CACHE_BYTES = 2 ** 30;

export function cacheKey(version: string, options: unknown, module: Uint8Array): string {
  return createHash('sha256').update(version).update('\0').update(JSON.stringify(options)).update('\0').update(module).digest('hex');
}

export function defaultCacheDir(root: string | null): string {
  return root ? join(root, 'wasm-cache') : join(tmpdir(), `bvisor-wasm-cache-${process.geteuid?.() ?? 'u'}`);
}

/** The directory, if it is ours and private; null (no caching) otherwise. */
export function usableDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.geteuid?.() || (st.mode & 0o077) !== 0) return null;
    return dir;
  } catch {
    return null;
  }
}

/** Builds in progress in this process, by key: concurrent misses of one module wait for one
 * rewrite (found by attack: four API runs of one module rewrote it four times at once). */
const building = new Map<string, Promise<{ bytes: Uint8Array; result: CacheResult }>>();

/** The entry for `key`, built (and kept) on a miss. The build may be asynchronous (a rewriter
 * process's work): nothing of the directory is held while it runs, and a miss already being
 * built in this process is waited for, not built again (a build that fails fails its waiters too,
 * as they would fail the same way, unless its caller stopped it). */
export async function cached(dir: string, key: string, build: () => Uint8Array | Promise<Uint8Array>, o: { maxBytes?: number; stop?: Stop } = {}): Promise<{ bytes: Uint8Array; result: CacheResult }> {
  const maxBytes = o.maxBytes ?? MAX_CACHE_BYTES;
  const inMemory = memory.get(key);
  if (inMemory) return { bytes: inMemory, result: 'memory' };
  const pending = building.get(key);
  if (pending) {
    try {
      // (This caller's stop is heard while it waits, found by review: a waiter heard it only when
      // the other caller's rewrite ended, minutes later for a hostile module.)
      return { ...(await untilStopped(pending, o.stop)), result: 'memory' };
    } catch (e) {
      // A build its own caller stopped says nothing of the module: this caller builds it (unless
      // this caller is the one stopped).
      if (e instanceof BvisorError && e.code === 'BV_ABORTED' && !o.stop?.signal.aborted) return cached(dir, key, build, o);
      throw e;
    }
  }
  const p = lookupOrBuild(dir, key, build, maxBytes);
  building.set(key, p);
  try {
    return await p;
  } finally {
    building.delete(key);
  }
}

async function lookupOrBuild(dir: string, key: string, build: () => Uint8Array | Promise<Uint8Array>, maxBytes: number): Promise<{ bytes: Uint8Array; result: CacheResult }> {
  const d = usableDir(dir);
  if (!d) return { bytes: await build(), result: 'disabled' };
  const path = join(d, `${key}.wasm`);
  let result: CacheResult = 'miss';
  try {
    statSync(path);
    const raw = readFileSync(path);
    const want = raw.subarray(0, 32);
    const body = raw.subarray(32);
    if (createHash('sha256').update(body).digest().equals(want)) {
      const bytes = new Uint8Array(body);
      remember(key, bytes);
      // Used now: the last to go when the directory is over its bound.
      const now = new Date();
      try {
        utimesSync(path, now, now);
      } catch {
        // removed meanwhile by another process's eviction: the bytes are read
      }
      return { bytes, result: 'hit' };
    }
    rmSync(path, { force: true });
    result = 'rebuilt';
  } catch {
    // absent
  }
  const bytes = await build();
  if (bytes.length + 32 <= maxBytes / 4) {
    const digest = createHash('sha256').update(bytes).digest();
    writeFileAtomic(path, Buffer.concat([digest, Buffer.from(bytes)]), 0o600);
    evict(d, maxBytes, path);
  }
  remember(key, bytes);
  return { bytes, result };
}

/** At most this many entries in a directory, whatever their size (each costs an inode and a block). */
export const MAX_CACHE_ENTRIES = 4096;
/** A write's temporary file (atomic.ts) this old was left by a process that died writing it. */
const STALE_TMP_MS = 3600_000;

/** Removes the least recently used entries (by mtime) until the directory's entries fit
 * `maxBytes` (counted in the blocks they take) and MAX_CACHE_ENTRIES; never `keep`, the one just
 * written; and temporary files a writer that died left. Entries other processes remove meanwhile
 * are skipped: each is a whole file renamed into place, read and checked by its hash. */
function evict(dir: string, maxBytes: number, keep: string): void {
  const entries: Array<{ path: string; size: number; mtime: number }> = [];
  let total = 0;
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const tmp = name.startsWith('.') && name.endsWith('.tmp');
    if (!name.endsWith('.wasm') && !tmp) continue;
    try {
      const st = statSync(path);
      if (tmp) {
        if (now - st.mtimeMs > STALE_TMP_MS) rmSync(path, { force: true });
        continue;
      }
      const size = Math.max(st.size, st.blocks * 512);
      entries.push({ path, size, mtime: st.mtimeMs });
      total += size;
    } catch {
      // gone meanwhile
    }
  }
  let count = entries.length;
  if (total <= maxBytes && count <= MAX_CACHE_ENTRIES) return;
  entries.sort((a, b) => a.mtime - b.mtime);
  for (const e of entries) {
    if (total <= maxBytes && count <= MAX_CACHE_ENTRIES) break;
    if (e.path === keep) continue;
    rmSync(e.path, { force: true });
    total -= e.size;
    count--;
  }
}

function remember(key: string, bytes: Uint8Array): void {
  const had = memory.get(key);
  if (had) {
    memoryBytes -= had.length;
    memory.delete(key);
  }
  if (bytes.length > MAX_MEMORY_BYTES / 4) return;
  while (memory.size && (memory.size >= MAX_MEMORY_ENTRIES || memoryBytes + bytes.length > MAX_MEMORY_BYTES)) {
    const oldest = memory.keys().next().value as string;
    memoryBytes -= memory.get(oldest)!.length;
    memory.delete(oldest);
  }
  memory.set(key, bytes);
  memoryBytes += bytes.length;
}

/** For tests: forget the in-process entries. */
export function clearMemoryCache(): void {
  memory.clear();
  memoryBytes = 0;
}
