// The core launch as an unprivileged user (uid/gid 65534 via setpriv): the user namespace maps
// only that uid, and a limit that needs a cgroup this user cannot write is refused, not skipped.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeBundle } from '../../helpers/probe.js';
import { skipOrFail } from '../../helpers/require.js';

const API = join(__dirname, '..', '..', '..', 'dist', 'app', 'api.js');

/** uid 65534 must be able to reach our code and the probe (a checkout under /root would not be). */
function nobodyCanRead(): boolean {
  const probe = join(__dirname, '..', '..', '..', 'native-shim', 'build', 'bvprobe');
  return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `test -r "${API}" && test -x "${probe}"`]).status === 0;
}

function asNobody(bundle: string): { status: number | null; out: any; stderr: string } {
  const script = `require(${JSON.stringify(API)}).runConfined(${JSON.stringify(bundle)}).then((r) => console.log(JSON.stringify({ ok: true, exitStatus: r.exitStatus, stdout: r.stdout && r.stdout.toString() })), (e) => console.log(JSON.stringify({ ok: false, code: e.code, issues: e.issues })))`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8', cwd: '/', timeout: 30_000 });
  let out: any = null;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    out = null;
  }
  return { status: r.status, out, stderr: r.stderr };
}

describe('rootless launch (live)', () => {
  it('runs the probe as uid 65534 with only that uid mapped, in new namespaces, with no capabilities', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'switching to uid 65534 needs root');
    if (!nobodyCanRead()) return skipOrFail('world-readable-checkout', 'uid 65534 cannot read this checkout (e.g. it is under /root)');
    const r = asNobody(probeBundle(['facts']));
    if (r.out === null && /setpriv/.test(r.stderr)) return skipOrFail('util-linux', `setpriv failed: ${r.stderr}`);
    expect(r.out, r.stderr).toMatchObject({ ok: true, exitStatus: 0 });
    const p = JSON.parse(r.out.stdout);
    expect(p.uidMap.trim().split(/\s+/)).toEqual(['0', '65534', '1']);
    expect(p.gidMap.trim().split(/\s+/)).toEqual(['0', '65534', '1']);
    expect(p.CapEff).toBe('0000000000000000');
    expect(p.pid).toBe(1);
    expect(p.forkErrno).toBe(1);
  });

  it('runs a wasm guest as uid 65534 (its runner has no cgroup here, and no address-space cap that would starve V8)', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'switching to uid 65534 needs root');
    if (!nobodyCanRead()) return skipOrFail('world-readable-checkout', 'uid 65534 cannot read this checkout (e.g. it is under /root)');
    const r = asNobody(join(__dirname, '..', '..', '..', 'bundles', 'hello-wasm'));
    expect(r.out, r.stderr).toMatchObject({ ok: true, exitStatus: 0, stdout: 'hello from wasm, bv\n' });
  });

  it('refuses a memory limit this user has no cgroup for, instead of skipping it', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'switching to uid 65534 needs root');
    if (!nobodyCanRead()) return skipOrFail('world-readable-checkout', 'uid 65534 cannot read this checkout (e.g. it is under /root)');
    const r = asNobody(probeBundle(['facts'], 'limits: { memory: 64Mi }\n'));
    expect(r.out, r.stderr).toMatchObject({ ok: false, code: 'BV_PLAN_REFUSED' });
    expect(r.out.issues.map((i: any) => `${i.clause}:${i.code}`)).toContain('limits.memory:BV_PLAN_CGROUP_UNAVAILABLE');
  });
});
