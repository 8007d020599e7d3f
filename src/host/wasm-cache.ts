// The instrumented-module cache: trusted code, so it lives in a 0700 directory we own (outside
// every preopen), entries are written atomically, and each carries the sha256 of its own bytes:
// an entry that does not match (corrupted, or tampered with) is deleted and rebuilt, never run.
// Key: sha256(rewriter version ‖ options ‖ module). An in-process Map serves repeat API runs.
import { mkdirSync, readFileSync, statSync, rmSync, lstatSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeFileAtomic } from './atomic.js';

export type CacheResult = 'hit' | 'miss' | 'memory' | 'rebuilt' | 'disabled';

const memory = new Map<string, Uint8Array>();
const MAX_MEMORY_ENTRIES = 64;

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

export function cached(dir: string, key: string, build: () => Uint8Array): { bytes: Uint8Array; result: CacheResult } {
  const inMemory = memory.get(key);
  if (inMemory) return { bytes: inMemory, result: 'memory' };
  const d = usableDir(dir);
  if (!d) return { bytes: build(), result: 'disabled' };
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
      return { bytes, result: 'hit' };
    }
    rmSync(path, { force: true });
    result = 'rebuilt';
  } catch {
    // absent
  }
  const bytes = build();
  const digest = createHash('sha256').update(bytes).digest();
  writeFileAtomic(path, Buffer.concat([digest, Buffer.from(bytes)]), 0o600);
  remember(key, bytes);
  return { bytes, result };
}

function remember(key: string, bytes: Uint8Array): void {
  if (memory.size >= MAX_MEMORY_ENTRIES) memory.delete(memory.keys().next().value as string);
  memory.set(key, bytes);
}

/** For tests: forget the in-process entries. */
export function clearMemoryCache(): void {
  memory.clear();
}
