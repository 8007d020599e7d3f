// runConfined's options as a careless or hostile caller passes them: each refused with its code
// before anything runs, and a secret's value never in the message. Oracle: the error's code and
// text (the value must not appear); a run that went ahead resolves instead.
import { describe, expect, it } from 'vitest';
import { runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';

const MANIFEST = `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\nenv: { TOKEN: { secret: api-token } }\nlimits: { wall: 10s }\n`;

describe('runConfined options (live)', () => {
  it('a secret whose value is not a string is BV_SECRET_INVALID, naming the secret and not the value', async () => {
    const dir = tempDir();
    const value = { hidden: 'v4lue-not-shown' };
    const err = await runConfined({ manifest: MANIFEST, dir }, { cgroupParent: defaultTestParent(), secrets: { 'api-token': value as unknown as string } }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_SECRET_INVALID', message: 'secrets["api-token"]: the value is not a string (object)' });
  });

  it('two secret names that are one variable (api-token, API_TOKEN) are refused: the manifest would get the other\'s value', async () => {
    const dir = tempDir();
    const err = await runConfined({ manifest: MANIFEST, dir }, { cgroupParent: defaultTestParent(), secrets: { 'api-token': 'mine', API_TOKEN: 'theirs' } }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_USAGE', message: expect.stringContaining('secrets "api-token" and "API_TOKEN" are the same secret to bvisor (BVISOR_SECRET_API_TOKEN)') });
    expect(err!.message).not.toContain('mine');
    expect(err!.message).not.toContain('theirs');
  });
});
