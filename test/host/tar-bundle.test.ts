// Hostile bundle archives are refused before anything is written, and leave no temp dir.
import { readdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractTarBundle, checkTar } from '../../src/host/tar-bundle.js';
import { BvisorError } from '../../src/contract/errors.js';
import { writeTar, type RawEntry } from '../helpers/rawtar.js';
import { tempDir } from '../helpers/tmp.js';

const MANIFEST = 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\n';

function bundleTmpDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith('bvisor-bundle-'));
}

function refused(entries: RawEntry[], code = 'BV_BUNDLE_UNSAFE_TAR', pattern?: RegExp): void {
  const dir = tempDir();
  const tar = join(dir, 'b.tar');
  writeTar(tar, [{ name: 'boundary.yaml', data: MANIFEST }, ...entries]);
  const before = bundleTmpDirs();
  let err: unknown;
  try {
    extractTarBundle(tar, { maxBytes: 1 << 20, maxEntries: 50 });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BvisorError);
  expect((err as BvisorError).code).toBe(code);
  if (pattern) expect((err as BvisorError).message).toMatch(pattern);
  expect(bundleTmpDirs()).toEqual(before);
  expect(existsSync('/tmp/pwned'), 'nothing may be written outside').toBe(false);
}

describe('tar bundles', () => {
  it('extracts a plain bundle (also gzipped) into a private dir, and cleans up', () => {
    const dir = tempDir();
    for (const gz of [false, true]) {
      const tar = join(dir, gz ? 'b.tar.gz' : 'b.tar');
      writeTar(tar, [{ name: 'boundary.yaml', data: MANIFEST }, { name: 'out/', type: '5' }, { name: 'lib/', type: '5' }, { name: 'lib/a.txt', data: 'x' }, { name: 'link', type: '2', link: 'lib/a.txt' }], gz);
      const x = extractTarBundle(tar);
      expect(readFileSync(join(x.dir, 'boundary.yaml'), 'utf8')).toBe(MANIFEST);
      expect(readFileSync(join(x.dir, 'link'), 'utf8')).toBe('x');
      x.cleanup();
      expect(existsSync(x.dir)).toBe(false);
    }
  });

  it('refuses absolute paths', () => refused([{ name: '/tmp/pwned', data: 'x' }], undefined, /absolute/));
  it('refuses .. in paths', () => refused([{ name: 'a/../../tmp/pwned', data: 'x' }], undefined, /climbs/));
  it('refuses symlinks to absolute targets', () => refused([{ name: 'l', type: '2', link: '/etc' }], undefined, /absolute/));
  it('refuses symlinks that climb out', () => refused([{ name: 'a/', type: '5' }, { name: 'a/l', type: '2', link: '../../etc' }], undefined, /outside/));
  it('refuses the r -> . / esc -> r/.. pair', () => refused([{ name: 'r', type: '2', link: '.' }, { name: 'esc', type: '2', link: 'r/..' }], undefined, /through the symlink r/));
  it('refuses entries written through an archive symlink', () => refused([{ name: 'd', type: '2', link: '.' }, { name: 'd/x', data: 'x' }], undefined, /reached through the symlink/));
  it('refuses hard links that leave the bundle', () => refused([{ name: 'h', type: '1', link: '../../etc/passwd' }], undefined, /outside/));
  it('refuses character devices', () => refused([{ name: 'null', type: '3' }], undefined, /CharacterDevice/));
  it('refuses block devices', () => refused([{ name: 'sda', type: '4' }], undefined, /BlockDevice/));
  it('refuses FIFOs', () => refused([{ name: 'fifo', type: '6' }], undefined, /FIFO/));
  it('refuses archives that unpack too large', () => refused([{ name: 'big', size: 2 << 20 }], 'BV_BUNDLE_TAR_TOO_LARGE'));
  it('refuses archives with too many entries', () => refused(Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, data: 'x' })), 'BV_BUNDLE_TAR_TOO_LARGE'));
  it('refuses garbage with a coded error', () => {
    const dir = tempDir();
    const p = join(dir, 'junk.tar.gz');
    writeFileSync(p, Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]));
    expect(() => checkTar(p)).toThrowError(expect.objectContaining({ code: 'BV_BUNDLE_TAR_INVALID' }));
  });
});
