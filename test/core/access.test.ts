// A denial's `allow with:` for a path is a line a user pastes into the manifest as it is: the
// manifest reader (strict YAML, the schema) is the oracle, on plain paths and on paths YAML would
// read as syntax.
import { describe, expect, it } from 'vitest';
import { grantAllow } from '../../src/core/access.js';
import { loadManifest } from '../../src/core/manifest.js';

const HEAD = 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true, cwd: / }\n';

describe('grantAllow', () => {
  it('is one line of YAML that, in a manifest without grants, grants that path that access', () => {
    for (const path of ['/etc/passwd', '/srv/data', '/a b/c', '/x: y', '/p#q', '/[list]', '/{map}', '/quo"te', "/it's", '/a,b', '/-dash', '/caf\u00e9', '/line\u2028sep', '/zero\u200bwidth', '/emoji\u{1f600}']) {
      for (const [access, inPlaceOf] of [['read', null], ['read-write', 'filesystem[1]']] as const) {
        const line = grantAllow(path, access, inPlaceOf);
        expect(line).not.toContain('\n');
        let m: ReturnType<typeof loadManifest>['manifest'];
        try {
          m = loadManifest(`${HEAD}${line}\n`, 't.yaml').manifest;
        } catch (e) {
          throw new Error(`${line}: ${JSON.stringify((e as { detail?: unknown }).detail)}`);
        }
        expect({ path, grants: m.filesystem.map((g) => [g.path, g.access]) }).toEqual({ path, grants: [[path, access]] });
      }
    }
  });

  it('is printable ASCII, whatever the path: the summary shows it as it is', () => {
    for (const path of ['/caf\u00e9', '/line\u2028sep', '/emoji\u{1f600}', '/tab\there']) expect(grantAllow(path, 'read')).toMatch(/^[\x20-\x7e]+$/);
  });

  it('names the grant it replaces as a comment', () => {
    expect(grantAllow('/srv/data', 'read-write', 'filesystem[0]')).toBe('filesystem: [{ path: /srv/data, access: read-write }]   # in place of filesystem[0]');
  });
});
