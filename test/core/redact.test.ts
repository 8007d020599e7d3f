// redactionValues (src/core/redact.ts): what a record must not spell, from the secrets of a
// workload's environment. Pure.
import { describe, expect, it } from 'vitest';
import { redactionValues } from '../../src/core/redact.js';

describe('redactionValues', () => {
  it('each secret value and its trimmed form, once; plain variables and empty values left out', () => {
    const env = [{ secret: 'tok' }, { name: 'PATH' }, { secret: 'file' }, { secret: 'empty' }, { secret: 'again' }];
    const values: Record<string, string> = { tok: 'abc123', file: '  s3cr3t\n', empty: '', again: 'abc123' };
    expect(redactionValues(env, (n) => values[n])).toEqual(['abc123', '  s3cr3t\n', 's3cr3t']);
  });
});
