// The instrumented-module cache: misses build, hits do not, a corrupted entry is detected by
// its hash and rebuilt (never returned), and a directory that is not private is not used.
import { readdirSync, readFileSync, writeFileSync, chmodSync, utimesSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cached, cacheKey, clearMemoryCache } from '../../src/host/wasm-cache.js';
import { tempDir } from '../helpers/tmp.js';
import { BvisorError } from '../../src/contract/errors.js';

describe('wasm module cache', () => {
  it('miss → hit; a corrupted entry is rebuilt; a public directory is not used', async () => {
    const dir = join(tempDir(), 'c');
    const key = cacheKey('v1', { maxPages: 4 }, new Uint8Array([1, 2, 3]));
    let builds = 0;
    const build = (): Uint8Array => {
      builds++;
      return new Uint8Array([9, 8, 7, builds]);
    };
    clearMemoryCache();
    expect(await cached(dir, key, build)).toMatchObject({ result: 'miss' });
    clearMemoryCache();
    const hit = await cached(dir, key, build);
    expect(hit.result).toBe('hit');
    expect(Array.from(hit.bytes)).toEqual([9, 8, 7, 1]);
    expect(builds).toBe(1);
    expect((await cached(dir, key, build)).result).toBe('memory');
    // corrupt the entry on disk: one flipped byte
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.wasm'))!);
    const raw = readFileSync(file);
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0xff;
    writeFileSync(file, raw);
    clearMemoryCache();
    const again = await cached(dir, key, build);
    expect(again.result).toBe('rebuilt');
    expect(Array.from(again.bytes)).toEqual([9, 8, 7, 2]);
    // a directory others can write is not trusted
    chmodSync(dir, 0o777);
    clearMemoryCache();
    expect((await cached(dir, key, build)).result).toBe('disabled');
  });

  // Found by attack: every module a bundle brought stayed in the cache for good (an 84 MB one
  // with it), so bundles could fill the state root's disk. Oracle: the directory on disk.
  it('is bounded: the least recently used entries go first, a hit counts as a use, one too large is not kept', async () => {
    const dir = join(tempDir(), 'c');
    const entry = (n: number): Uint8Array => new Uint8Array(900).fill(n); // 932 bytes with its hash
    const keys = [0, 1, 2, 3].map((n) => cacheKey('v1', {}, new Uint8Array([n])));
    // What one entry takes on this file system (its blocks: a 932-byte file holds a whole block),
    // and a bound that holds four of them, not five.
    clearMemoryCache();
    await cached(dir, keys[0]!, () => entry(0), { maxBytes: 2 ** 30 });
    const st = statSync(join(dir, `${keys[0]}.wasm`));
    const unit = Math.max(st.size, st.blocks * 512);
    const cap = 4 * unit + unit / 2;
    const put = async (i: number, at: number): Promise<void> => {
      clearMemoryCache();
      await cached(dir, keys[i]!, () => entry(i), { maxBytes: cap });
      // mtimes a second apart, oldest first (a file system's clock may be coarse)
      const file = join(dir, `${keys[i]}.wasm`);
      utimesSync(file, at, at);
    };
    await put(0, 1000);
    await put(1, 2000);
    await put(2, 3000);
    await put(3, 4000); // four: all fit
    expect(readdirSync(dir).length).toBe(4);
    // a hit on entry 0 makes it the most recently used
    clearMemoryCache();
    expect((await cached(dir, keys[0]!, () => entry(9), { maxBytes: cap })).result).toBe('hit');
    expect(statSync(join(dir, `${keys[0]}.wasm`)).mtimeMs).toBeGreaterThan(4000 * 1000);
    // a fifth entry: over the cap, so the least recently used (1, not 0) goes
    const k4 = cacheKey('v1', {}, new Uint8Array([4]));
    clearMemoryCache();
    await cached(dir, k4, () => entry(4), { maxBytes: cap });
    expect(readdirSync(dir).sort()).toEqual([keys[0], keys[2], keys[3], k4].map((k) => `${k}.wasm`).sort());
    // an entry above a quarter of the cap is built and returned, not kept
    const big = cacheKey('v1', {}, new Uint8Array([5]));
    clearMemoryCache();
    const r = await cached(dir, big, () => new Uint8Array(cap / 2), { maxBytes: cap });
    expect([r.result, r.bytes.length]).toEqual(['miss', cap / 2]);
    expect(readdirSync(dir)).not.toContain(`${big}.wasm`);
    // a temporary file a writer that died left, an hour old, goes at the next write; a fresh one stays
    const stale = join(dir, `.${k4}.wasm.1.1.tmp`);
    const fresh = join(dir, `.${k4}.wasm.2.2.tmp`);
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'x');
    utimesSync(stale, (Date.now() - 2 * 3600_000) / 1000, (Date.now() - 2 * 3600_000) / 1000);
    clearMemoryCache();
    await cached(dir, cacheKey('v1', {}, new Uint8Array([6])), () => entry(6), { maxBytes: cap });
    expect(readdirSync(dir)).not.toContain(`.${k4}.wasm.1.1.tmp`);
    expect(readdirSync(dir)).toContain(`.${k4}.wasm.2.2.tmp`);
  });

  // Found by attack: four API runs of one module on a miss rewrote it four times at once.
  it('concurrent misses of one key wait for one build; a failed build fails them all, unless its caller stopped it', async () => {
    const dir = join(tempDir(), 'c');
    clearMemoryCache();
    const later = <T>(v: () => T): Promise<T> =>
      new Promise((resolve, reject) =>
        setTimeout(() => {
          try {
            resolve(v());
          } catch (e) {
            reject(e);
          }
        }, 50),
      );
    let builds = 0;
    const bytes = (): Uint8Array => new Uint8Array([1, 2, builds]);
    const build = (): Promise<Uint8Array> => {
      builds++;
      return later(bytes);
    };
    const key = cacheKey('v1', {}, new Uint8Array([20]));
    const both = await Promise.all([cached(dir, key, build), cached(dir, key, build)]);
    expect(builds).toBe(1);
    expect(both.map((r) => r.result)).toEqual(['miss', 'memory']);
    expect(Array.from(both[1].bytes)).toEqual(Array.from(both[0].bytes));
    // A refusal (the module's fault) is everyone's: built once, failed twice.
    clearMemoryCache();
    builds = 0;
    const refused = (): Promise<Uint8Array> => {
      builds++;
      return later(() => {
        throw new Error('not a module bvisor runs');
      });
    };
    const k2 = cacheKey('v1', {}, new Uint8Array([21]));
    const r2 = await Promise.allSettled([cached(dir, k2, refused), cached(dir, k2, refused)]);
    expect(builds).toBe(1);
    expect(r2.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'built'))).toEqual(['not a module bvisor runs', 'not a module bvisor runs']);
    // A build its caller stopped (BV_ABORTED) says nothing of the module: the other caller builds.
    clearMemoryCache();
    builds = 0;
    const k3 = cacheKey('v1', {}, new Uint8Array([22]));
    const stopped = (): Promise<Uint8Array> => {
      builds++;
      return later(() => {
        throw new BvisorError('BV_ABORTED', 'stopped by its caller');
      });
    };
    const r3 = await Promise.allSettled([cached(dir, k3, stopped), cached(dir, k3, build)]);
    expect(builds).toBe(2);
    expect(r3[0]).toMatchObject({ status: 'rejected', reason: { code: 'BV_ABORTED' } });
    expect(r3[1]).toMatchObject({ status: 'fulfilled', value: { result: 'miss' } });
    expect(readdirSync(dir).filter((f) => f.startsWith(k3))).toEqual([`${k3}.wasm`]);
    // A waiter hears its own stop at once, not when the build it waits for ends (found by review).
    clearMemoryCache();
    const k4 = cacheKey('v1', {}, new Uint8Array([23]));
    const slow = (): Promise<Uint8Array> => new Promise((r) => setTimeout(() => r(new Uint8Array([4])), 600));
    const ac = new AbortController();
    const first = cached(dir, k4, slow);
    const waiter = cached(dir, k4, slow, { stop: { signal: ac.signal, error: () => new BvisorError('BV_ABORTED', 'the waiter was stopped') } });
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 50);
    const w = await waiter.then(() => 'built', (e: { code?: string }) => e.code);
    expect(w).toBe('BV_ABORTED');
    expect(Date.now() - t0).toBeLessThan(400); // the build takes 600 ms
    expect((await first).result).toBe('miss');
  });

  it('keys change with the rewriter version, the options and the module', () => {
    const m = new Uint8Array([0, 97, 115, 109]);
    const k = cacheKey('v1', { maxPages: 4 }, m);
    expect(cacheKey('v2', { maxPages: 4 }, m)).not.toBe(k);
    expect(cacheKey('v1', { maxPages: 5 }, m)).not.toBe(k);
    expect(cacheKey('v1', { maxPages: 4 }, new Uint8Array([0, 97, 115, 110]))).not.toBe(k);
  });
});
