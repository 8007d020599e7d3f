// Finding a workload's secret values in bytes read in pieces (host/hash.ts): whole values, also
// where one straddles two reads. Oracle: Buffer.includes over the whole bytes at once.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFd, holdsValue, searchForms, ValueWatch } from '../../src/host/hash.js';

/** Feeds `bytes` to a watch in pieces of the given sizes (the last one takes the rest). */
function watched(bytes: Buffer, values: string[], sizes: number[]): boolean {
  const w = new ValueWatch(values);
  let at = 0;
  for (const n of [...sizes, bytes.length]) {
    if (at >= bytes.length) break;
    // A reused buffer, as hashFd's: the watch must copy what it keeps.
    const scratch = Buffer.alloc(Math.min(n, bytes.length - at));
    bytes.copy(scratch, 0, at, at + scratch.length);
    w.see(scratch);
    scratch.fill(0);
    at += scratch.length;
  }
  return w.found;
}

describe('secret values in bytes read in pieces', () => {
  const value = 'hunter2-Zq';

  it('finds a value at every split of the bytes into two pieces, and into pieces shorter than it', () => {
    const bytes = Buffer.from(`abc${value}xyz`);
    for (let cut = 0; cut <= bytes.length; cut++) expect(watched(bytes, [value], [cut]), `cut at ${cut}`).toBe(true);
    for (let n = 1; n <= value.length; n++) expect(watched(bytes, [value], Array(bytes.length).fill(n)), `pieces of ${n}`).toBe(true);
  });

  it('does not find what is not there whole, however it is cut', () => {
    // Every prefix and suffix of the value, apart: a join that matched across a gap would find it.
    const bytes = Buffer.from(`${value.slice(0, 6)}-${value.slice(6)}${value.slice(0, 9)}`);
    expect(bytes.includes(value)).toBe(false);
    for (let cut = 0; cut <= bytes.length; cut++) expect(watched(bytes, [value], [cut])).toBe(false);
    for (let n = 1; n <= 4; n++) expect(watched(bytes, [value], Array(bytes.length).fill(n))).toBe(false);
  });

  it('finds any of several values, of several lengths, in UTF-8', () => {
    const bytes = Buffer.from('…ünïcødé-tøken…');
    expect(watched(bytes, ['nope-not-here', 'tøk'], [9])).toBe(true);
    expect(holdsValue(bytes, ['ünïcødé'])).toBe(true);
    expect(holdsValue(bytes, ['unicode'])).toBe(false);
    expect(holdsValue(null, ['x'])).toBe(false);
    expect(holdsValue(bytes, [''])).toBe(false);
    expect(watched(bytes, [''], [3])).toBe(false);
  });

  it('looks for each form once, and not for one that holds another (a token and its trimmed form are one search)', () => {
    expect(searchForms(['tok-1\n', 'tok-1', '', 'other', 'tok-1', 'xother'])).toEqual(['tok-1', 'other']);
    // What the forms left out would find, the ones kept find too.
    const bytes = Buffer.from('a tok-1\n and xother');
    expect(watched(bytes, ['tok-1\n'], [4])).toBe(true);
    // Two values searched; each piece also joined with the 4 bytes before it (the longest kept, 'other', less one), twice counted.
    const w = new ValueWatch(['tok-1\n', 'tok-1', 'xother', 'other']);
    expect(w.values).toBe(2);
    expect(w.cost(10)).toBe(2 * (10 + 2 * 4));
  });

  it('hashFd hands the watch every piece: a value across its 64 KiB reads is found, the hash is the whole file\'s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bvisor-test-hash-'));
    try {
      const bytes = Buffer.concat([Buffer.alloc(65536 - 4, 'a'), Buffer.from(value), Buffer.alloc(10, 'b')]);
      writeFileSync(join(dir, 'f'), bytes);
      const fd = openSync(join(dir, 'f'), 'r');
      try {
        const w = new ValueWatch([value]);
        const r = hashFd(fd, Infinity, w.see);
        expect(w.found).toBe(true);
        expect(r).toEqual({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
