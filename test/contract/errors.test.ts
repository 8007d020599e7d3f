// Every error and issue code used anywhere in src/ is registered, has an exit code, and is
// documented in docs/errors.md; documented codes that nothing uses are flagged too.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ISSUE_CODES, BvisorError, EXIT, undone, withCleanup, withCleanupAsync } from '../../src/contract/errors.js';

const root = join(__dirname, '..', '..');
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? (n === 'generated' ? [] : walk(p)) : p.endsWith('.ts') ? [p] : [];
  });
}
const source = walk(join(root, 'src')).map((f) => readFileSync(f, 'utf8')).join('\n');
const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
const used = new Set([...source.matchAll(/'(BV_[A-Z0-9_]+)'/g)].map((m) => m[1]!));

describe('error registry', () => {
  it('every code used in src is registered', () => {
    const known = new Set([...Object.keys(ERROR_CODES), ...Object.keys(ISSUE_CODES)]);
    expect([...used].filter((c) => !known.has(c))).toEqual([]);
  });

  it('every registered code is documented with a heading', () => {
    for (const c of [...Object.keys(ERROR_CODES), ...Object.keys(ISSUE_CODES)]) expect(docs, c).toContain(`### ${c}\n`);
  });

  it('every command error maps to a documented exit code', () => {
    const table = readFileSync(join(root, 'docs', 'exit-codes.md'), 'utf8');
    for (const [c, info] of Object.entries(ERROR_CODES)) {
      expect(Object.values(EXIT), c).toContain(info.exit);
      expect(table).toContain(`| ${info.exit} |`);
    }
  });

  // docs/errors.md is written by scripts/gen-error-docs.mjs from the registry as built in dist/
  // (npm test builds first); a hand edit of the file would be lost at the next generation.
  it('docs/errors.md is what the generator writes from the registry', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'gen-error-docs.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('an error carries its exit code, hint and doc anchor', () => {
    const e = new BvisorError('BV_PLAN_REFUSED', 'x', { hint: 'h' });
    expect([e.exit, e.hint, e.doc]).toEqual([3, 'h', 'docs/errors.md#bv_plan_refused']);
  });
});

describe('withCleanup: the first error is the one that explains', () => {
  const refusal = (): BvisorError => new BvisorError('BV_MANIFEST_INVALID', 'm.yaml: 1 problem in the manifest', { hint: 'fix it' });
  const failing = (): never => {
    throw new BvisorError('BV_IO', 'remove /tmp/x: EPERM');
  };

  it('cleans up after a body that returns, and throws a cleanup that fails then', () => {
    const steps: string[] = [];
    expect(withCleanup(() => (steps.push('body'), 7), () => void steps.push('cleanup'))).toBe(7);
    expect(steps).toEqual(['body', 'cleanup']);
    expect(() => withCleanup(() => 7, failing)).toThrow('remove /tmp/x: EPERM');
  });

  it("a cleanup that fails after the body threw is said beside the body's error, whose code and hint stay", async () => {
    for (const run of [() => withCleanup(() => { throw refusal(); }, failing), () => withCleanupAsync(async () => { throw refusal(); }, failing)]) {
      let err: unknown;
      try {
        await run();
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'BV_MANIFEST_INVALID', hint: 'fix it', message: 'm.yaml: 1 problem in the manifest; cleaning up after it failed too: remove /tmp/x: EPERM', detail: { cleanup: 'remove /tmp/x: EPERM' } });
    }
    // A cleanup that succeeds leaves the error as it was.
    expect(() => withCleanup(() => { throw refusal(); }, () => {})).toThrow(expect.objectContaining({ message: 'm.yaml: 1 problem in the manifest', detail: {} }));
  });
});

describe('undone: whatever was thrown', () => {
  it('a failure that cannot take the note (not an Error, frozen) comes back as an AggregateError of both; two notes both stay', () => {
    const cleanupFails = (): never => {
      throw Object.create(null); // String() of it throws
    };
    const frozen = Object.freeze(new Error('frozen'));
    for (const failure of ['a string', frozen]) {
      const e = undone(failure, cleanupFails) as AggregateError;
      expect(e).toBeInstanceOf(AggregateError);
      expect(e.errors[0]).toBe(failure);
      expect(e.message).toMatch(/^(a string|frozen); cleaning up after it failed too: \[object Object\]$/);
    }
    const be = new BvisorError('BV_IO', 'x');
    undone(be, () => {
      throw new Error('one');
    });
    undone(be, () => {
      throw new Error('two');
    });
    expect(be).toMatchObject({ message: 'x; cleaning up after it failed too: one; cleaning up after it failed too: two', detail: { cleanup: 'one; two' } });
  });
});
