// The cache of manifest reads under a state root (host/manifest-cache.ts): a manifest loaded
// whole is kept and its next load is a hit with the same result; a damaged entry is not used; an
// invalid manifest keeps nothing; a root that is not checked ours (missing, writable by others,
// a link) gets no cache at all. Oracles: the directory on disk, and loadManifest of the same bytes.
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadManifestCached, manifestCacheKey } from '../../src/host/manifest-cache.js';
import { loadManifest } from '../../src/core/manifest.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

const MANIFEST = readFileSync(join(__dirname, '..', '..', 'bundles', 'hello', 'boundary.yaml'), 'utf8');
const entries = (root: string): string[] => (existsSync(join(root, 'manifest-cache')) ? readdirSync(join(root, 'manifest-cache')) : []);

/** Keeps MANIFEST's entry in root, then makes it a read that says something else (another memory
 * limit) with its hash header left as it was. Returns its path and its bytes before. */
function damagedEntry(root: string): { path: string; raw: Buffer } {
  loadManifestCached(MANIFEST, 'boundary.yaml', root);
  const [name] = entries(root);
  const path = join(root, 'manifest-cache', name!);
  const raw = readFileSync(path);
  writeFileSync(path, Buffer.concat([raw.subarray(0, 32), Buffer.from(raw.subarray(32).toString('utf8').replace('"64Mi"', '"1Ti"'))]));
  return { path, raw };
}

describe('manifest read cache', () => {
  it('miss keeps one entry, hit answers the same load (manifest and located clauses)', () => {
    const root = tempDir();
    const plain = loadManifest(MANIFEST, 'boundary.yaml');
    const first = loadManifestCached(MANIFEST, 'boundary.yaml', root);
    expect(first.cache).toBe('miss');
    expect(entries(root)).toHaveLength(1);
    const again = loadManifestCached(MANIFEST, 'boundary.yaml', root);
    expect(again.cache).toBe('hit');
    expect(again.manifest).toEqual(plain.manifest);
    for (const p of [['filesystem', 0, 'path'], ['limits', 'memory'], ['workload', 'process', 'args', 0]]) {
      expect(again.yaml.locate(p)).toEqual(plain.yaml.locate(p));
      expect(again.yaml.locate(p, { key: true })).toEqual(plain.yaml.locate(p, { key: true }));
    }
    // Other bytes, another entry: never the first one's answer.
    const other = MANIFEST.replace('64Mi', '32Mi');
    expect(loadManifestCached(other, 'boundary.yaml', root)).toMatchObject({ cache: 'miss', manifest: loadManifest(other, 'boundary.yaml').manifest });
    expect(entries(root)).toHaveLength(2);
  });

  it('an entry whose bytes do not match its hash is not used, and is replaced', () => {
    const root = tempDir();
    const { path, raw } = damagedEntry(root);
    const r = loadManifestCached(MANIFEST, 'boundary.yaml', root);
    expect(r.cache).toBe('miss');
    expect(r.manifest).toEqual(loadManifest(MANIFEST, 'boundary.yaml').manifest);
    expect(readFileSync(path)).toEqual(raw);
  });

  it('a damaged entry that cannot be removed or replaced (chattr +i) is passed over, every time', () => {
    const root = tempDir();
    const { path } = damagedEntry(root);
    const damaged = readFileSync(path);
    // FS_IMMUTABLE_FL (chattr(1) +i): neither unlink nor a rename over it, even by root.
    const lock = spawnSync('chattr', ['+i', path], { encoding: 'utf8' });
    if (lock.status !== 0) return skipOrFail('chattr', `chattr +i: ${lock.stderr.trim() || lock.error?.message} (a file system with inode flags, as root)`);
    try {
      for (let i = 0; i < 2; i++) {
        const r = loadManifestCached(MANIFEST, 'boundary.yaml', root);
        expect(r.cache).toBe('miss');
        expect(r.manifest).toEqual(loadManifest(MANIFEST, 'boundary.yaml').manifest);
        expect(readFileSync(path)).toEqual(damaged);
      }
    } finally {
      spawnSync('chattr', ['-i', path]);
    }
  });

  it('an invalid manifest keeps nothing', () => {
    const root = tempDir();
    expect(() => loadManifestCached(MANIFEST.replace('network: deny', 'network: maybe'), 'boundary.yaml', root)).toThrow(expect.objectContaining({ code: 'BV_MANIFEST_INVALID' }));
    expect(entries(root)).toEqual([]);
  });

  it('no cache in a root not checked ours: missing (not made), writable by others, or a link', () => {
    const base = tempDir();
    const missing = join(base, 'missing');
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', missing).cache).toBe('disabled');
    expect(existsSync(missing)).toBe(false);
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', open).cache).toBe('disabled');
    expect(readdirSync(open)).toEqual([]);
    const target = join(base, 'target');
    mkdirSync(target, { mode: 0o700 });
    symlinkSync(target, join(base, 'link'));
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', join(base, 'link')).cache).toBe('disabled');
    expect(readdirSync(target)).toEqual([]);
    // A cache directory that is a link, in a root that is ours: not followed.
    const root = join(base, 'root');
    mkdirSync(root, { mode: 0o700 });
    symlinkSync(target, join(root, 'manifest-cache'));
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', root).cache).toBe('disabled');
    expect(readdirSync(target)).toEqual([]);
  });

  it('an entry is used only as the regular file of its own key: not through a link, not under another key\'s name', () => {
    const root = tempDir();
    const other = MANIFEST.replace('64Mi', '32Mi');
    loadManifestCached(other, 'boundary.yaml', root);
    const otherPath = join(root, 'manifest-cache', `${manifestCacheKey(other)}.json`);
    const path = join(root, 'manifest-cache', `${manifestCacheKey(MANIFEST)}.json`);
    // Another manifest's entry, hash header and all, under this one's name.
    copyFileSync(otherPath, path);
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', root)).toMatchObject({ cache: 'miss', manifest: loadManifest(MANIFEST, 'boundary.yaml').manifest });
    // This one's own entry, reached through a link.
    const aside = join(tempDir(), 'aside.json');
    renameSync(path, aside);
    symlinkSync(aside, path);
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', root).cache).toBe('miss');
    expect(lstatSync(path).isFile()).toBe(true); // the link was replaced by an entry of its own
    expect(existsSync(aside)).toBe(true);
  });

  it('a cache directory others can read is not used; killed writers\' old temp files go, and at most 256 entries stay', () => {
    const root = tempDir();
    mkdirSync(join(root, 'manifest-cache'), { mode: 0o755 });
    chmodSync(join(root, 'manifest-cache'), 0o755);
    expect(loadManifestCached(MANIFEST, 'boundary.yaml', root).cache).toBe('disabled');
    chmodSync(join(root, 'manifest-cache'), 0o700);
    const old = join(root, 'manifest-cache', '.x.json.1.1.tmp');
    const fresh = join(root, 'manifest-cache', '.y.json.1.1.tmp');
    writeFileSync(old, '');
    writeFileSync(fresh, '');
    utimesSync(old, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    for (let i = 0; i < 258; i++) loadManifestCached(MANIFEST.replace('64Mi', `${i + 1}Mi`), 'boundary.yaml', root);
    const left = readdirSync(join(root, 'manifest-cache'));
    expect(left.filter((n) => n.endsWith('.json'))).toHaveLength(256);
    expect(left).not.toContain('.x.json.1.1.tmp');
    expect(left).toContain('.y.json.1.1.tmp');
  });
});
