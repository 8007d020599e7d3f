import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDuration, parseSize, formatSize, formatDuration } from '../../src/core/units.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0.001s', 1],
  ])('%s = %d ms', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it.each(['30', '1d', '-1s', '1.5ms', 's', '1e3s', ' 1s'])('rejects %s', (t) => expect(parseDuration(t)).toBeNull());
  it('round-trips whole units', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), (n) => parseDuration(formatDuration(n)) === n));
  });
});

describe('sizes', () => {
  it.each([
    ['256Mi', 256 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['64Ki', 65536],
    ['10M', 10_000_000],
    ['4096', 4096],
    ['12B', 12],
  ] as const)('%s', (t, b) => expect(parseSize(t)).toBe(b));
  it('accepts integers and refuses unsafe or fractional ones', () => {
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize(1.5)).toBeNull();
    expect(parseSize(-1)).toBeNull();
    expect(parseSize('999999999999999Ti')).toBeNull();
  });
  it.each(['12 MB', '1.5Gi', 'Mi', '1mi', '0x10'])('rejects %s', (t) => expect(parseSize(t)).toBeNull());
  it('formatSize picks the largest exact binary unit', () => {
    expect(formatSize(256 * 2 ** 20)).toBe('256Mi');
    expect(formatSize(1000)).toBe('1000');
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => parseSize(formatSize(n)) === n));
  });
});
