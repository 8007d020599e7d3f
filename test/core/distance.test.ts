// Edit distances for "did you mean" hints (src/core/distance.ts). Levenshtein's definition:
// the fewest single-letter insertions, deletions and substitutions; optimal string alignment
// adds a swap of two neighbouring letters as one edit (Damerau), never editing a substring twice.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { editDistance, nearest, swapDistance } from '../../src/core/distance.js';

describe('edit distances', () => {
  it.each([
    ['', '', 0, 0],
    ['kitten', 'sitting', 3, 3], // the textbook pair: two substitutions, one insertion
    ['exce', 'exec', 2, 1], // a swap: two substitutions, or one transposition
    ['lsit', 'list', 2, 1],
    ['ca', 'abc', 3, 3], // OSA, not unrestricted Damerau (which says 2): no substring edited twice
    ['pss', 'ps', 1, 1],
  ])('%s → %s: Levenshtein %d, with swaps %d', (a, b, lev, osa) => {
    expect(editDistance(a, b)).toBe(lev);
    expect(swapDistance(a, b)).toBe(osa);
  });
  it('a swap distance is never more than Levenshtein\'s, and both are symmetric', () => {
    fc.assert(fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (a, b) => swapDistance(a, b) <= editDistance(a, b) && swapDistance(a, b) === swapDistance(b, a) && editDistance(a, b) === editDistance(b, a)));
  });
  it('nearest: within two edits and under half the name, the closest; else none', () => {
    expect(nearest('netwrok', ['network', 'spawn'])).toBe('network');
    expect(nearest('NETWORK', ['network'])).toBe('network');
    expect(nearest('xyz', ['network', 'spawn'])).toBeNull();
    expect(nearest('ab', ['ac'])).toBeNull(); // one edit of two letters is half of it
  });
});
