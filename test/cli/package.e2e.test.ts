// What an installed bvisor points its users at is in the package: every error's `doc`
// (docs/errors.md#code), the schema the manifest errors' hint names, the bundles the README runs.
// npm itself says what it would pack (npm pack --dry-run), from package.json's files.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { BvisorError, ERROR_CODES, type ErrorCode } from '../../src/contract/errors.js';

describe('the package', () => {
  it('ships the documents its errors and hints name', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = new Set((JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
    const docs = new Set(Object.keys(ERROR_CODES).map((c) => new BvisorError(c as ErrorCode, 'x').doc.split('#')[0]!));
    expect([...docs].filter((d) => !files.has(d))).toEqual([]);
    for (const f of ['schemas/boundary.schema.json', 'bundles/hello/boundary.yaml', 'docs/exit-codes.md']) expect(files.has(f), f).toBe(true);
  });
});
