// Issue 9, attack 3: the launcher re-opened the paths the planner had checked, following
// symlinks, so exchanging a bundle path with a symlink to a file outside (renameat2 with
// RENAME_EXCHANGE, in a loop) let the workload read it in 13 of 60 Linux runs and 6 of 40 wasm
// runs. Now the planner resolves each path with the kernel (beneath the bundle) and records its
// (dev, ino); the launcher opens it once with no symlink allowed, checks the identity, and uses
// the descriptor. A launch that loses the race is refused (BV_MANIFEST_INVALID at planning,
// BV_LAUNCH_CHANGED at launch); none reads outside. Oracle: what the workload printed.
import { mkdirSync, writeFileSync, symlinkSync, chmodSync, chownSync, readFileSync, copyFileSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE, facts, tryOps, runProbe, writableDir } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import { isBvisorError } from '../../src/contract/errors.js';
import { skipOrFail } from '../helpers/require.js';

const LAUNCHES = Number(process.env.BVISOR_RACE_LAUNCHES ?? 1000);

/** Swaps a and b in a tight loop in another process (as `uid`, if given) until stopped. */
function racer(a: string, b: string, uid?: number): { stop(): Promise<void> } {
  const p = uid === undefined ? spawn(PROBE, ['exchange', a, b], { stdio: 'ignore' }) : spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', PROBE, 'exchange', a, b], { stdio: 'ignore' });
  return {
    stop: () =>
      new Promise((r) => {
        p.once('exit', () => r());
        p.kill('SIGKILL');
      }),
  };
}

/** Launches until `n` have been attempted; tallies what each printed or why it was refused. */
async function tally(n: number, once: () => Promise<string>, until: (seen: Record<string, number>) => boolean = () => true): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  // n launches, and more (10 n at most) until `until` holds: a racer starved in one state for
  // the whole of n quick refusals (a loaded machine) proves nothing about the other.
  for (let i = 0; i < n || (i < 10 * n && !until(seen)); i++) {
    let key: string;
    try {
      key = (await once()).trim();
    } catch (e) {
      if (!isBvisorError(e)) throw e;
      key = e.code;
    }
    seen[key] = (seen[key] ?? 0) + 1;
  }
  return seen;
}

describe('attack 3: no launch reads outside while bundle paths are swapped with symlinks', () => {
  it(`linux: ${LAUNCHES} launches against an exchange loop, zero reads outside`, async () => {
    const base = tempDir('bvisor-race-');
    chmodSync(base, 0o755);
    const bundle = join(base, 'bundle');
    const outside = join(base, 'outside');
    mkdirSync(join(bundle, 'data'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(bundle, 'data', 'f'), 'benign');
    writeFileSync(join(outside, 'f'), 'SECRET'); // world-readable: only the boundary keeps it out
    symlinkSync(outside, join(bundle, 'evil'));
    const target = realPath(join(bundle, 'data'));
    writeFileSync(
      join(bundle, 'boundary.yaml'),
      `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [read, ${target}/f] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: ./data, access: read }\nstdio: { stdout: capture, stderr: capture }\n`,
    );
    const r = racer(join(bundle, 'data'), join(bundle, 'evil'));
    let seen: Record<string, number>;
    try {
      seen = await tally(LAUNCHES, async () => {
        const b = loadBundle(bundle);
        const out = await runLoaded(b, { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
        return out.stdout?.toString() ?? '';
      });
    } finally {
      await r.stop();
    }
    console.log(`race (linux): ${JSON.stringify(seen)}`);
    expect(seen.SECRET ?? 0).toBe(0);
    // Every launch either read the real file or was refused for the race, nothing else.
    expect(Object.keys(seen).every((k) => ['benign', 'BV_MANIFEST_INVALID', 'BV_LAUNCH_CHANGED', 'errno 2'].includes(k)), JSON.stringify(seen)).toBe(true);
    expect(seen.benign ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('an absolute grant another local user swaps with a symlink to an ancestor: no launch sees outside', async () => {
    // Found by attacking this change: absolute host paths followed any symlink when planning, so
    // a local user (uid 2000 here) who owns a granted directory could swap in a link and have the
    // plan grant whatever it pointed at. Links nobody but root controls are followed; others not.
    const base = tempDir('bvisor-race-u-');
    chmodSync(base, 0o755);
    const own = join(base, 'user');
    mkdirSync(join(own, 'data'), { recursive: true });
    writeFileSync(join(own, 'data', 'f'), 'benign');
    writeFileSync(join(own, 'f'), 'SECRET'); // in the ancestor the link points at
    symlinkSync(own, join(own, 'lnk'));
    for (const p of [own, join(own, 'data'), join(own, 'data', 'f'), join(own, 'f')]) chownSync(p, 2000, 2000);
    require('node:fs').lchownSync(join(own, 'lnk'), 2000, 2000);
    const bundle = tempDir('bvisor-race-ub-');
    chmodSync(bundle, 0o755);
    writeFileSync(join(bundle, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [read, ${own}/data/f] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: ${own}/data, access: read }\nstdio: { stdout: capture, stderr: capture }\n`);
    const r = racer(join(own, 'data'), join(own, 'lnk'), 2000);
    let seen: Record<string, number>;
    try {
      seen = await tally(200, async () => (await runLoaded(loadBundle(bundle), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() })).stdout?.toString() ?? '');
    } finally {
      await r.stop();
    }
    console.log(`race (absolute, another user): ${JSON.stringify(seen)}`);
    expect(seen.SECRET ?? 0).toBe(0);
    expect(seen.BV_PLAN_REFUSED ?? 0, 'the planted link is refused, not followed').toBeGreaterThan(0);
  }, 120_000);

  it('a symlink a workload planted in its write grant is not followed by a later run’s grant', async () => {
    const proj = writableDir({ uid: 1000, gid: 1000 });
    const victim = tempDir('bvisor-victim-');
    chmodSync(victim, 0o700);
    chownSync(victim, 1000, 1000);
    writeFileSync(join(victim, '.bashrc'), 'original');
    // Run 1: the workload plants proj/build -> the other directory (stored as uid 1000's link).
    expect(await tryOps([['symlink', victim, join(proj, 'build')]], '', { filesystem: [`  - { path: ${proj}, access: read-write }`] })).toEqual([0]);
    // Run 2 grants proj/build: the link is not root's, so it is refused, not followed.
    await expect(runProbe(['write', join(victim, '.bashrc'), 'pwned'], '', { filesystem: [`  - { path: ${join(proj, 'build')}, access: read-write }`] })).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[2]', code: 'BV_PLAN_PATH_LINK' })] });
    expect(readFileSync(join(victim, '.bashrc'), 'utf8')).toBe('original');
    // Root's own links (merged /usr: /bin -> usr/bin) are still followed.
    expect((await runProbe(['exit', '0'], '', { filesystem: ['  - { path: /bin, access: read }'] })).exitStatus).toBe(0);
  });

  it('wasm: the module and a preopen swapped with symlinks, zero runs of the outside module', async () => {
    const wat = spawnSync('wat2wasm', ['--version'], { encoding: 'utf8' });
    if (wat.error) return skipOrFail('wabt', 'wat2wasm is missing (Debian wabt)');
    const base = tempDir('bvisor-race-w-');
    chmodSync(base, 0o755);
    const bundle = join(base, 'bundle');
    mkdirSync(bundle);
    const hello = join(__dirname, '..', '..', 'bundles', 'hello-wasm');
    copyFileSync(join(hello, 'hello.wasm'), join(bundle, 'm.wasm'));
    // The outside module prints SECRET instead of the greeting.
    const src = readFileSync(join(hello, 'hello.wat'), 'utf8');
    const greeting = /"(hello[^"\\]*)/.exec(src)![1]!;
    writeFileSync(join(base, 'evil.wat'), src.replace(greeting, 'SECRET'.padEnd(greeting.length, '.')));
    expect(spawnSync('wat2wasm', [join(base, 'evil.wat'), '-o', join(base, 'evil.wasm')]).status).toBe(0);
    symlinkSync(join(base, 'evil.wasm'), join(bundle, 'evil.wasm'));
    writeFileSync(join(bundle, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 10000000 }\n`);
    const root = tempDir('bvisor-race-wroot-');
    const r = racer(join(bundle, 'm.wasm'), join(bundle, 'evil.wasm'));
    let seen: Record<string, number>;
    try {
      seen = await tally(40, async () => {
        const out = await runLoaded(loadBundle(bundle), { id: null, root, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
        return (out.stdout?.toString() ?? '').replace(/,.*$/s, '');
      }, (seen) => (seen['hello from wasm'] ?? 0) > 0);
    } finally {
      await r.stop();
    }
    console.log(`race (wasm): ${JSON.stringify(seen)}`);
    expect(Object.keys(seen).some((k) => k.startsWith('SECRET'))).toBe(false);
    expect(seen['hello from wasm'] ?? 0).toBeGreaterThan(0);
  }, 120_000);
});

function realPath(p: string): string {
  return require('node:fs').realpathSync(p);
}
