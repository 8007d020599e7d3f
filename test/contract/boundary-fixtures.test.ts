// The manifest contract, checked by fixtures: every good fixture loads; every bad fixture fails
// with the issue code, clause and file:line:col written in its first line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/core/manifest.js';
import { BvisorError } from '../../src/contract/errors.js';

const dir = join(__dirname, '..', 'fixtures', 'boundary');

describe('good manifests load', () => {
  for (const f of readdirSync(join(dir, 'good'))) {
    it(f, () => {
      const text = readFileSync(join(dir, 'good', f), 'utf8');
      expect(() => loadManifest(text, f)).not.toThrow();
    });
  }
});

describe('bad manifests are refused with a located issue', () => {
  for (const f of readdirSync(join(dir, 'bad'))) {
    it(f, () => {
      const text = readFileSync(join(dir, 'bad', f), 'utf8');
      const m = /^# expect: (\S+) (\S*) (\d+):(\d+)/.exec(text);
      expect(m, `${f} needs an '# expect: CODE clause line:col' header`).not.toBeNull();
      const [, code, clause, line, col] = m!;
      let err: unknown;
      try {
        loadManifest(text, `bundle/${f}`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BvisorError);
      const be = err as BvisorError;
      expect(be.code).toBe('BV_MANIFEST_INVALID');
      const hit = be.issues.find((i) => i.code === code && i.clause === clause);
      expect(hit, `issues were: ${JSON.stringify(be.issues)}`).toBeDefined();
      expect({ file: hit!.file, line: hit!.line, col: hit!.col }).toEqual({ file: `bundle/${f}`, line: Number(line), col: Number(col) });
    });
  }
});
