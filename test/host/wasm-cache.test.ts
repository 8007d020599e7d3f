// The instrumented-module cache: misses build, hits do not, a corrupted entry is detected by
// its hash and rebuilt (never returned), and a directory that is not private is not used.
import { readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cached, cacheKey, clearMemoryCache } from '../../src/host/wasm-cache.js';
import { tempDir } from '../helpers/tmp.js';

describe('wasm module cache', () => {
  it('miss → hit; a corrupted entry is rebuilt; a public directory is not used', () => {
    const dir = join(tempDir(), 'c');
    const key = cacheKey('v1', { maxPages: 4 }, new Uint8Array([1, 2, 3]));
    let builds = 0;
    const build = (): Uint8Array => {
      builds++;
      return new Uint8Array([9, 8, 7, builds]);
    };
    clearMemoryCache();
    expect(cached(dir, key, build)).toMatchObject({ result: 'miss' });
    clearMemoryCache();
    const hit = cached(dir, key, build);
    expect(hit.result).toBe('hit');
    expect(Array.from(hit.bytes)).toEqual([9, 8, 7, 1]);
    expect(builds).toBe(1);
    expect(cached(dir, key, build).result).toBe('memory');
    // corrupt the entry on disk: one flipped byte
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.wasm'))!);
    const raw = readFileSync(file);
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0xff;
    writeFileSync(file, raw);
    clearMemoryCache();
    const again = cached(dir, key, build);
    expect(again.result).toBe('rebuilt');
    expect(Array.from(again.bytes)).toEqual([9, 8, 7, 2]);
    // a directory others can write is not trusted
    chmodSync(dir, 0o777);
    clearMemoryCache();
    expect(cached(dir, key, build).result).toBe('disabled');
  });

  it('keys change with the rewriter version, the options and the module', () => {
    const m = new Uint8Array([0, 97, 115, 109]);
    const k = cacheKey('v1', { maxPages: 4 }, m);
    expect(cacheKey('v2', { maxPages: 4 }, m)).not.toBe(k);
    expect(cacheKey('v1', { maxPages: 5 }, m)).not.toBe(k);
    expect(cacheKey('v1', { maxPages: 4 }, new Uint8Array([0, 97, 115, 110]))).not.toBe(k);
  });
});
