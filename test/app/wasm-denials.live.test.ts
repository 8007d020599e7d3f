// The WASI host's refusals become filesystem denials in the report: a write to a read-only
// preopen (that grant's clause), a path climbing out of it and an absolute one (`filesystem`:
// no grant covers them). Oracle: the guest's own errnos (ENOTCAPABLE, 76, one per refusal) and
// the host disk (nothing written).
import { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { guest, type Op } from '../helpers/wasm-guest.js';

const NOTCAPABLE = '76';

describe('wasm: the WASI host\'s refusals as denials (live)', () => {
  it('each refusal the guest saw is one denial with its clause; a clean open is none', async () => {
    const bundle = tempDir('bvisor-wasm-denials-');
    chmodSync(bundle, 0o755);
    const sb = join(bundle, 'box', 'sb');
    mkdirSync(sb, { recursive: true });
    writeFileSync(join(sb, 'inside.txt'), 'inside');
    const ops: Op[] = [
      { op: 'open', path: 'inside.txt' }, // allowed
      { op: 'open', path: 'inside.txt', write: true }, // read-only preopen
      { op: 'mkdir', path: 'd' }, // read-only preopen
      { op: 'open', path: '../secret.txt' }, // climbs out
      { op: 'open', path: '/etc/passwd' }, // absolute
      { op: 'open', path: '/etc/passwd' }, // the same again: counted, not repeated
    ];
    writeFileSync(join(bundle, 'g.wat'), guest(ops));
    const w = spawnSync('wat2wasm', [join(bundle, 'g.wat'), '-o', join(bundle, 'g.wasm')], { encoding: 'utf8' });
    if (w.error) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect(w.status, w.stderr).toBe(0);
    writeFileSync(join(bundle, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: g.wasm }\nfilesystem:\n  - { path: ./box/sb, access: read }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n');
    const out = await runLoaded(loadBundle(bundle), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(out.report.body.outcome, JSON.stringify(out.report.body.outcome) + out.stderr?.toString()).toMatchObject({ status: 'completed' });
    const errnos = out.stdout!.toString().trim().split('\n');
    expect(errnos).toEqual(['0', NOTCAPABLE, NOTCAPABLE, NOTCAPABLE, NOTCAPABLE, NOTCAPABLE]);
    expect(existsSync(join(sb, 'd'))).toBe(false);
    const d = out.report.body.denials!;
    expect(d.sources.landlock).toMatchObject({ observed: true, how: expect.stringContaining('wasi:host') });
    const fs = d.items.filter((x) => x.kind === 'filesystem');
    // One per refusal the guest saw (repeats counted), each with its op.
    expect(fs.reduce((n, x) => n + x.count, 0)).toBe(errnos.filter((e) => e === NOTCAPABLE).length);
    const target = fs[0]!.path!.replace(/\/inside\.txt$/, '');
    expect(fs.map((x) => [x.clause, x.what, x.count])).toEqual([
      ['filesystem[0]', `path_open("${target}/inside.txt"): a write`, 1],
      ['filesystem[0]', `path_create_directory("${target}/d"): a write`, 1],
      ['filesystem', `path_open("${target}/../secret.txt")`, 1],
      ['filesystem', 'path_open("/etc/passwd")', 2],
    ]);
    expect(fs[0]!.allow).toMatch(/^filesystem: \[\{ path: \S+\/box\/sb, access: read-write \}\]   # in place of filesystem\[0\]$/);
    expect(fs[3]!.allow).toBe('filesystem: [{ path: /etc, access: read }]');
    expect(fs.every((x) => x.errno === 'ENOTCAPABLE' && x.atMs !== null)).toBe(true);
  });

  // docs/denials.md: secrets never reach a record. A guest that names paths after its token (it
  // has it in its environment; here the value is compiled in) gets a refusal and a file made:
  // neither the denial nor the delta of its read-write preopen may spell the value.
  it('a refused path and a file named after a secret value are recorded redacted; printed, the value leaves no hash of stdout', async () => {
    const value = 's3cr3t-hunter2-XYZ';
    const bundle = tempDir('bvisor-wasm-denials-');
    chmodSync(bundle, 0o755);
    const sb = join(bundle, 'box', 'sb');
    mkdirSync(sb, { recursive: true });
    chmodSync(sb, 0o1777); // a read-write grant the workload's identity may write (the planner's rule)
    // A token file the host planted, which the guest reads and prints.
    writeFileSync(join(sb, 'token'), value);
    writeFileSync(join(bundle, 'g.wat'), guest([{ op: 'open', path: `/${value}/x` }, { op: 'open', path: `tok-${value}`, create: true }, { op: 'read', path: 'token' }]));
    const w = spawnSync('wat2wasm', [join(bundle, 'g.wat'), '-o', join(bundle, 'g.wasm')], { encoding: 'utf8' });
    if (w.error) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect(w.status, w.stderr).toBe(0);
    writeFileSync(join(bundle, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: g.wasm }\nfilesystem:\n  - { path: ./box/sb, access: read-write }\nenv: { TOKEN: { secret: tok } }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n');
    const out = await runLoaded(loadBundle(bundle), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: { BVISOR_SECRET_TOK: value }, secrets: ['tok'], host: facts() });
    expect(out.stdout!.toString().trim().split('\n')).toEqual([NOTCAPABLE, '0', '0', value]);
    // The disk: the guest did make its file.
    expect(readdirSync(sb).sort()).toEqual([`tok-${value}`, 'token']);
    expect(out.report.body.streams.stdout).toMatchObject({ mode: 'capture', bytes: out.stdout!.length, sha256: null });
    const denial = out.report.body.denials!.items.find((x) => x.kind === 'filesystem');
    expect(denial?.path).toMatch(/\/<redacted: holds a secret value>$/);
    expect(out.report.body.fsDelta![0]!.created.map((e) => e.path)).toEqual(['<redacted: holds a secret value>']);
    expect(JSON.stringify(out.report)).not.toContain('s3cr3t');
  });
});
