// The units' grammar at its edges, from the manifest schema (schemas/boundary.schema.json:
// Duration "500ms, 30s, 2m, 1h", Size an integer ≥ 0 or digits with Ki/Mi/Gi/Ti (powers of 1024)
// or K/M/G/T (powers of 1000) or B) and what the echo must read like: the largest whole unit, so
// a plan says "2m" and "1Ki", not "120000ms" and "1024". units.test.ts round-trips random values;
// these are the values a round trip cannot tell apart (1000 ms is both "1s" and "1000ms").
import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseSize } from '../../src/core/units.js';

const MIB = 1024 * 1024;

describe('formatDuration writes the largest unit that divides exactly', () => {
  it.each([
    [3_600_000, '1h'],
    [7_200_000, '2h'],
    [5_400_000, '90m'], // 1.5 h is not a whole number of hours
    [60_000, '1m'],
    [120_000, '2m'],
    [90_000, '90s'],
    [1000, '1s'],
    [30_000, '30s'],
    [1500, '1500ms'],
    [1, '1ms'],
    [0, '0s'], // zero is a whole number of every unit: the smallest word that is not "0ms"
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('formatSize writes the largest binary unit that divides exactly', () => {
  it.each([
    [1024, '1Ki'],
    [2 * 1024, '2Ki'],
    [MIB, '1Mi'],
    [1024 * MIB, '1Gi'],
    [1024 * 1024 * MIB, '1Ti'],
    [1536 * 1024, '1536Ki'], // 1.5 Mi
    [1023, '1023'],
    [1000, '1000'], // decimal units are read, never written: 1000 is not a power of 1024
    [0, '0'], // no unit divides nothing into a count worth writing
  ])('%d bytes → %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));
});

describe('parseSize takes what the schema admits as an integer', () => {
  it('zero is a size (minimum: 0)', () => expect(parseSize(0)).toBe(0));
  it('integers up to the largest safe one, beyond the 15 digits a string may have', () => {
    expect(parseSize(2 ** 53 - 1)).toBe(2 ** 53 - 1);
    expect(parseSize('9007199254740991')).toBeNull(); // 16 digits: not a Size string
  });
  it('an integer that is not exact in a double is refused', () => expect(parseSize(2 ** 53)).toBeNull());
});
