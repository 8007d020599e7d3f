import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDuration, parseSize, formatSize, formatDuration, sizeMeant, durationMeant } from '../../src/core/units.js';

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

// docker run(1), --memory: "Units: b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes)";
// timeout(1): "DURATION is a floating point number with an optional suffix: 's' for seconds (the
// default)". Each suggestion is one the grammar takes, for the bytes or milliseconds it says.
describe('what another tool\'s units meant, in ours', () => {
  const first = (t: string): string => sizeMeant(t)[0]!.split(' ')[0]!;
  it.each([
    ['64m', 64 * 2 ** 20],
    ['1g', 2 ** 30],
    ['512k', 512 * 1024],
    ['64MiB', 64 * 2 ** 20],
    ['64 Mi', 64 * 2 ** 20],
    ['64MB', 64e6],
    ['2 GB', 2e9],
  ])('%s → %d bytes first', (t, bytes) => expect(parseSize(first(t))).toBe(bytes));
  it('a lower-case letter alone offers both readings, binary first; every one parses', () => {
    expect(sizeMeant('64m').map((x) => x.split(' ')[0])).toEqual(['64Mi', '64M']);
    expect(sizeMeant('64MB').map((x) => x.split(' ')[0])).toEqual(['64M', '64Mi']);
    // 15 digits of tebibytes are past the largest safe integer: not offered.
    expect(sizeMeant('999999999999999t')).toEqual([]);
    expect(sizeMeant('100 bytes')).toEqual(['100 (bytes)']);
    for (const t of ['lots', '1.5g', '-1m', '64x']) expect(sizeMeant(t)).toEqual([]);
  });
  it.each([
    ['10sec', 10_000],
    ['2 minutes', 120_000],
    ['1.5H', 5_400_000],
    ['250 msec', 250],
    ['30', 30_000],
  ])('%s → %d ms', (t, ms) => expect(parseDuration(durationMeant(t)[0]!)).toBe(ms));
  it('a bare number is seconds, fractions too; a duration already, or nothing near, offers none', () => {
    expect(durationMeant(30)).toEqual(['30s']);
    expect(durationMeant(1.5)).toEqual(['1.5s']);
    for (const v of ['10s', '2m', 'soon', '10 fortnights', -1, null, { value: 1 }]) expect(durationMeant(v)).toEqual([]);
  });
});
