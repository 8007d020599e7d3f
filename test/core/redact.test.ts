// redactionValues and holdsSecret (src/core/redact.ts): what a record must not spell, from the secrets of a
// workload's environment. Pure.
import { describe, expect, it } from 'vitest';
import { holdsSecret, redactionValues, spansNames } from '../../src/core/redact.js';

describe('redactionValues', () => {
  it('each secret value and its trimmed form, once; plain variables and empty values left out', () => {
    const env = [{ secret: 'tok' }, { name: 'PATH' }, { secret: 'file' }, { secret: 'empty' }, { secret: 'again' }];
    const values: Record<string, string> = { tok: 'abc123', file: '  s3cr3t\n', empty: '', again: 'abc123' };
    expect(redactionValues(env, (n) => values[n])).toEqual(['abc123', '  s3cr3t\n', 's3cr3t']);
  });

  it('a value of whitespace only is left out, as an empty one (it would match every newline)', () => {
    const env = [{ secret: 'nl' }, { secret: 'blank' }, { secret: 'tok' }];
    const values: Record<string, string> = { nl: '\n', blank: ' \t\r\n\u00a0', tok: ' x ' };
    expect(redactionValues(env, (n) => values[n])).toEqual([' x ', 'x']);
  });
});

describe('a value spelled across a path\'s names', () => {
  const token = 'S3CRETzq9XyZtokenABCDEFGHIJ';
  it('is found split by one or more slashes anywhere (git-style shards, a workload on purpose)', () => {
    expect(holdsSecret(`/out/d_${token.slice(0, 11)}/${token.slice(11, 14)}/${token.slice(14)}`, [token])).toBe(true);
    expect(holdsSecret(`a/${[...token].join('/')}/b`, [token])).toBe(true);
    expect(holdsSecret(`x/${token.slice(0, 5)}//${token.slice(5)}`, [token])).toBe(true);
    expect(spansNames(`no slash ${token}`, token)).toBe(false); // whole: holdsSecret's plain match
  });
  it("keeps the value's own slashes required, and does not split a short value", () => {
    // A value with a slash of its own: its pieces without that slash are another name.
    expect(spansNames('/usr/bin/runsvdir-longer', '/run/svdir-longer')).toBe(false);
    expect(spansNames('/x/run/s/vdir-longer', '/run/svdir-longer')).toBe(true);
    // Fewer than 8 other characters: only the whole value counts.
    expect(holdsSecret('/usr/bin/runsv', ['/run/s'])).toBe(false);
    expect(holdsSecret('/x/run/s', ['/run/s'])).toBe(true);
  });
  it('takes a value as text, not as a pattern', () => {
    expect(spansNames('a/b/cdefghij', 'a.b.cdefghij')).toBe(false);
    expect(spansNames('x/a.b/c(d)e[f]g*h+i?j', 'a.bc(d)e[f]g*h+i?j')).toBe(true);
  });
});
