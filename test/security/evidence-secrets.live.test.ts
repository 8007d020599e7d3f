// Issue 9, attacks 10 and 11.
// 10: the READY-time read-back (NoNewPrivs, CapEff, Uid/Gid/Groups, uid_map/gid_map, namespace
//     inodes) was recorded but decided nothing. Now a mismatch withholds the go byte: the
//     workload never runs and the error names the failing evidence. The mismatch is made with
//     a test-only switch that skips the capability drop; the red twin also ignores the evidence.
// 11: any manifest could ask for any BVISOR_SECRET_* in bvisor's environment. Now the caller
//     names the secrets a run may receive (--secret NAME; the API's secrets map).
// Oracles: a marker file the workload would write (the disk), what the workload printed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProbe, probeFacts, probeBundle, writableDir } from '../helpers/probe.js';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/tmp.js';

describe('attack 10: evidence decides whether the workload runs', () => {
  it('a prepared child whose capabilities were not dropped is never released', async () => {
    const dir = writableDir();
    const marker = join(dir, 'ran');
    const fs = [`  - { path: ${dir}, access: read-write }`];
    await expect(runProbe(['write', marker, 'x'], '', { filesystem: fs, hooks: { keepCaps: true } })).rejects.toMatchObject({ code: 'BV_LAUNCH_EVIDENCE', message: expect.stringMatching(/CapEff is "[0-9a-f]{16}", expected 0000000000000000/), detail: { failed: ['CapEff'] } });
    expect(existsSync(marker)).toBe(false);
    // Red twin: the same child released anyway runs, and writes the marker.
    await runProbe(['write', marker, 'x'], '', { filesystem: fs, hooks: { keepCaps: true, ignoreEvidence: true } });
    expect(readFileSync(marker, 'utf8')).toBe('x');
  });

  it('every run records its identity evidence, all matching', async () => {
    const { out } = await probeFacts();
    const ev = out.report.body.evidence.filter((e) => ['uid_map', 'gid_map', 'Uid', 'Gid', 'Groups', 'CapEff', 'NoNewPrivs'].includes(e.name));
    expect(ev.map((e) => e.name).sort()).toEqual(['CapEff', 'Gid', 'Groups', 'NoNewPrivs', 'Uid', 'gid_map', 'uid_map']);
    expect(ev.every((e) => e.ok === true)).toBe(true);
  });
});

describe('attack 11: a manifest gets only the secrets the caller hands it', () => {
  it('refuses a secret that is in bvisor’s environment but not handed; --secret hands it', () => {
    const value = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const bundle = probeBundle(['facts'], 'env: { TOKEN: { secret: api-token } }\n');
    const root = tempDir('bvisor-sec-root-');
    const env = { BVISOR_SECRET_API_TOKEN: value };
    const refused = cli(['--root', root, 'run', 's1', '-b', bundle, '--json'], { env });
    expect(refused.status).toBe(125);
    const err = refused.json().error;
    expect(err.issues.map((i: { clause: string; code: string }) => `${i.clause}:${i.code}`)).toEqual(['env.TOKEN:BV_PLAN_SECRET_NOT_ALLOWED']);
    expect(refused.stdout + refused.stderr).not.toContain(value);
    // Handed: the workload receives it (and it appears nowhere else, see launcher tests).
    const ok = cli(['--root', root, 'run', 's2', '-b', bundle, '--secret', 'api-token'], { env });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).env).toContain(`TOKEN=${value}`);
  });

  it('refuses a secret whose bytes are not UTF-8: Node would read U+FFFD in their place, and the workload get another value', () => {
    const bundle = probeBundle(['facts'], 'env: { TOKEN: { secret: api-token } }\n');
    const root = tempDir('bvisor-sec-root-');
    // Only a shell can hand bvisor such bytes (Node's own environment strings are UTF-8): p\xe4ss.
    const r = spawnSync('/bin/sh', ['-c', `BVISOR_SECRET_API_TOKEN=$(printf 'p\\344ss-word') exec "$0" --root "$1" run s3 -b "$2" --secret api-token --json`, BVISOR, root, bundle], { env: cliEnv(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(125);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'BV_SECRET_INVALID', message: expect.stringMatching(/^env\.TOKEN: the value of secret "api-token" is not UTF-8 text/) });
    expect(r.stdout + r.stderr).not.toContain('ss-word');
  });
});
