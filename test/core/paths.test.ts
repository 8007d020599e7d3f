// Lexical path rules against POSIX pathname resolution (POSIX.1-2017 §4.13, path_resolution(7)):
// "." names the directory it is in, ".." its parent, and ".." at the root is the root itself;
// consecutive slashes are one. A bundle-relative path may not climb out of the bundle, and no
// manifest path may hold a control character (C0 or DEL), which could forge lines of a plan table.
import { describe, expect, it } from 'vitest';
import { bundleRelativeSegments, hasControl, isBundleRelativeGrant, isNormalAbsolute, normalizeAbsolute } from '../../src/core/paths.js';

describe('normalizeAbsolute', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['//a///b//', '/a/b'],
    ['/a/./b/.', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/../../c', '/c'],
    ['/..', '/'],
    ['/../../etc', '/etc'],
    ['/a/..b/c', '/a/..b/c'], // "..b" and ".a" are names, not dot entries
    ['/a/.hidden', '/a/.hidden'],
  ])('%s → %s', (input, out) => expect(normalizeAbsolute(input)).toBe(out));
});

describe('isNormalAbsolute', () => {
  it.each(['/', '/a', '/a/b', '/a/.hidden', '/a/..b'])('%s is normal', (p) => expect(isNormalAbsolute(p)).toBe(true));
  it.each(['', 'a', 'a/b', './a', '/a//b', '/a/', '/a/./b', '/a/../b', '/a\nb', '/a\u007fb'])('%j is not', (p) => expect(isNormalAbsolute(p)).toBe(false));
});

describe('hasControl', () => {
  it.each(['\u0000', '\u0001', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f'])('%j is a control character', (c) => expect(hasControl(`/a${c}b`)).toBe(true));
  it.each([' ', '~', '\u0080', 'é', '·'])('%j is not', (c) => expect(hasControl(`/a${c}b`)).toBe(false));
});

describe('bundleRelativeSegments', () => {
  it.each([
    ['./out', ['out']],
    ['rootfs', ['rootfs']],
    ['lib/x.wasm', ['lib', 'x.wasm']],
    ['./a//b/./c/', ['a', 'b', 'c']],
    ['.', []],
    ['./', []],
    ['a/..b', ['a', '..b']],
  ] as const)('%s → %j', (p, segs) => expect(bundleRelativeSegments(p)).toEqual(segs));
  it.each(['', '/etc', '/', '..', '../x', 'a/../b', './a/..', 'a\u0000b', 'a\nb'])('%j is refused', (p) => expect(bundleRelativeSegments(p)).toBeNull());
});

describe('isBundleRelativeGrant', () => {
  it.each(['.', './', './out', './a/b'])('%s is bundle-relative', (p) => expect(isBundleRelativeGrant(p)).toBe(true));
  it.each(['/out', 'out', '..', '../x', '.out', ''])('%j is not', (p) => expect(isBundleRelativeGrant(p)).toBe(false));
});
