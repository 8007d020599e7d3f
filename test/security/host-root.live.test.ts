// Issue 9, attack 1: as root, the workload used to be host root (uid_map "0 0 1"). Landlock does
// not mediate metadata calls or pathname unix sockets, so with only its own binary granted it
// could chmod 04777 a root-owned file, chown, utime, setxattr, watch /etc, stat /etc/shadow and
// connect to a root-only unix socket; with CAP_DAC_OVERRIDE kept it opened a mode-000 file.
//
// Now each attempt meets three layers, and the rows below peel them off one at a time with
// test-only switches: the root built from the grants (the path does not exist: ENOENT), landlock
// (EACCES where it mediates), the identity (uid 65534, no groups: EPERM/EACCES from the mode
// bits). The last row is host root with every layer off: the attack works, so the oracles are
// real. Oracles: the errno the probe gets, the disk (mode, owner, xattr), a listener's accept count.
import { chmodSync, writeFileSync, statSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryOps, probeFacts, facts, E } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';

const NO_ROOT: LaunchHooks = { mutateLaunch: (l) => void (l.layout = []) };
const AS_HOST_ROOT: LaunchHooks = { noLandlock: true, noSeccomp: true, mutateLaunch: (l) => void ((l.layout = []), (l.identity = { uid: 0, gid: 0, source: 'test: host root' })) };

let dir: string;
let sock: string;
let server: Server;
let accepted = 0;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bvisor-hostroot-'));
  chmodSync(dir, 0o755);
  sock = join(dir, 'root-only.sock');
  server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(sock, r));
  chmodSync(sock, 0o600); // as docker.sock: only root may connect
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A root-owned 0600 file outside every grant. */
function victim(): string {
  const f = join(dir, `victim-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, 'root only');
  chmodSync(f, 0o600);
  return f;
}

// The disk oracle: getfattr (Debian's attr, which .ci/run installs). Without it every answer would
// be '' and the red twin would fail for the wrong reason: say so instead.
const xattrOf = (f: string): string => {
  const r = spawnSync('getfattr', ['--absolute-names', '-d', f], { encoding: 'utf8' });
  if (r.error) throw new Error(`getfattr: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (apt-get install attr)`);
  return r.stdout ?? '';
};

describe('attack 1: the workload is never host root (live)', () => {
  it('maps the workload to an unprivileged id, read back from inside and from /proc', async () => {
    expect(facts().identity.euid, 'these tests need root').toBe(0);
    const { p, out } = await probeFacts();
    expect(p.uidMap.trim().split(/\s+/)).toEqual(['0', String(facts().mapping.uid), '1']);
    expect(p.gidMap.trim().split(/\s+/)).toEqual(['0', String(facts().mapping.gid), '1']);
    expect(facts().mapping.uid).toBe(Number(require('node:fs').readFileSync('/proc/sys/kernel/overflowuid', 'utf8')));
    const ev = Object.fromEntries(out.report.body.evidence.map((e) => [e.name, e]));
    expect(ev.Uid).toMatchObject({ value: '65534\t65534\t65534\t65534', ok: true });
    expect(ev.Groups).toMatchObject({ value: '', ok: true }); // root's groups were shed
  });

  it('metadata calls and a root-only unix socket outside the grants: ENOENT; then landlock/identity; as host root, all work', async () => {
    // chown first: it clears a set-user-ID bit that chmod set.
    const ops = (f: string): string[][] => [['chown', f, '0', '0'], ['chmod', f, '4777'], ['utime', f], ['xattr', f, 'user.bvisor'], ['inotify', '/etc'], ['stat', '/etc/shadow'], ['unix', sock]];
    const rows: Array<[string, LaunchHooks | null, number[]]> = [
      // chmod 4777 meets seccomp first (no workload sets set-ID bits), the rest the empty root.
      ['full boundary', null, [E.NOENT, E.PERM, E.NOENT, E.NOENT, E.NOENT, E.NOENT, E.NOENT]],
      // Without the root built from grants, landlock mediates none of these; the identity does.
      ['no root from grants', NO_ROOT, [E.PERM, E.PERM, E.ACCES, E.ACCES, 0, 0, E.ACCES]],
    ];
    const before = accepted;
    for (const [name, hooks, want] of rows) {
      const f = victim();
      expect(await tryOps(ops(f), 'network: deny\n', hooks ? { hooks } : {}), name).toEqual(want);
      expect(statSync(f)).toMatchObject({ mode: 0o100600, uid: 0, gid: 0 });
      expect(xattrOf(f)).not.toMatch(/user\.bvisor/);
    }
    expect(accepted).toBe(before);
    // Red twin: as host root with every layer off (seccomp too), the same calls work (disk and
    // listener agree).
    const f = victim();
    expect(await tryOps(ops(f), 'network: deny\n', { hooks: AS_HOST_ROOT })).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(statSync(f)).toMatchObject({ mode: 0o104777, uid: 0, gid: 0 });
    expect(xattrOf(f)).toMatch(/user\.bvisor/);
    expect(accepted).toBe(before + 1);
  });

  it('CAP_DAC_OVERRIDE kept in the user namespace does not open a root-owned mode-000 file in a read grant', async () => {
    const g = tempDir('bvisor-dac-');
    chmodSync(g, 0o755);
    mkdirSync(join(g, 'd'));
    const f = join(g, 'd', 'zero');
    writeFileSync(f, 'locked');
    chmodSync(f, 0o000);
    const fs = [`  - { path: ${g}, access: read }`];
    // The capability acts only on what the namespace owns: root's file is not.
    expect(await tryOps([['open', f, 'r']], 'capabilities: [CAP_DAC_OVERRIDE]\n', { filesystem: fs })).toEqual([E.ACCES]);
    // Red twin: mapped to host root, the kept capability overrides the mode bits.
    expect(await tryOps([['open', f, 'r']], 'capabilities: [CAP_DAC_OVERRIDE]\n', { filesystem: fs, hooks: { mutateLaunch: (l) => void (l.identity = { uid: 0, gid: 0, source: 'test: host root' }) } })).toEqual([0]);
  });
});
