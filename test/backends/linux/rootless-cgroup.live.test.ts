// Rootless on a pure cgroup v2 host (the VM of test/vm, where cgroups may be made anywhere):
// bvisor as uid 1000 puts its cgroups in the user's delegated subtree, laid out as systemd does
// for user@1000.service with Delegate=yes (the directory, cgroup.procs and cgroup.subtree_control
// chowned to the user). Run from inside it, as `systemd-run --user --scope` would put it, the
// shipped hello bundle runs with its memory limit on cgroup v2; run from a root-owned scope (a
// login shell), the kernel would not let it move the workload in, so the plan refuses with the hint.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../../helpers/cli.js';
import { facts } from '../../helpers/probe.js';
import { cgroupsAnywhere } from '../../helpers/cgroups.js';
import { skipOrFail } from '../../helpers/require.js';

const CG = '/sys/fs/cgroup';
const UID = 1000;
const SERVICE = `/user.slice/user-${UID}.slice/user@${UID}.service`;
const HELLO = join(__dirname, '..', '..', '..', 'bundles', 'hello');

function why(): string | null {
  if (!cgroupsAnywhere()) return 'makes cgroups at the hierarchy root: runs in the VM only (test/vm)';
  if (process.geteuid?.() !== 0) return 'needs root to lay out the delegated subtree';
  if (facts().cgroup.mode !== 'v2') return 'needs pure cgroup v2';
  return null;
}

/** What systemd does for user@UID.service with Delegate=yes, plus an app scope inside it. */
function delegate(): string {
  const scope = join(CG, SERVICE, 'app.slice', 'bvt.scope');
  mkdirSync(scope, { recursive: true });
  for (const d of ['', '/user.slice', `/user.slice/user-${UID}.slice`]) writeFileSync(join(CG, d, 'cgroup.subtree_control'), '+memory +pids +cpu');
  for (const d of [join(CG, SERVICE), join(CG, SERVICE, 'app.slice'), scope]) {
    chownSync(d, UID, UID);
    for (const f of ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) chownSync(join(d, f), UID, UID);
  }
  for (const d of [SERVICE, `${SERVICE}/app.slice`]) writeFileSync(join(CG, d, 'cgroup.subtree_control'), '+memory +pids +cpu');
  return scope;
}

// What the test made: user-1000.slice always, user.slice only where it was not there (at the
// root placement; in the login-scope placement our own scope lives under it).
const madeUserSlice = !existsSync(join(CG, 'user.slice'));
afterAll(() => {
  // Bottom-up, whatever exists below (bvisor's own parent included).
  const rm = (d: string): void => {
    if (!existsSync(d)) return;
    for (const n of readdirSync(d, { withFileTypes: true })) if (n.isDirectory()) rm(join(d, n.name));
    rmdirSync(d);
  };
  if (why()) return;
  rm(join(CG, 'user.slice', `user-${UID}.slice`));
  if (madeUserSlice) rm(join(CG, 'user.slice'));
});

/** bvisor as uid 1000, started by a shell that first enters `cgroup` (a process this test made). */
function asUser(cgroup: string | null, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const enter = cgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
  const cmd = `${enter}exec setpriv --reuid=${UID} --regid=${UID} --clear-groups env HOME=/tmp XDG_RUNTIME_DIR= ${process.execPath} ${BIN} ${args.map((a) => `'${a}'`).join(' ')}`;
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', cwd: '/', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rootless cgroups in a delegated subtree (live, VM)', () => {
  it('inside user@1000.service: a bvisor parent there, and bundles/hello runs with its memory limit; from a root-owned scope: refused with the systemd-run hint', (t) => {
    const no = why();
    if (no) {
      // Loud everywhere; a failure where the host declares pure cgroup v2 (the VM).
      skipOrFail('cgroup2', no);
      return t.skip();
    }
    const scope = delegate();
    const root = mkdtempSync('/tmp/bvisor-rootless-');
    chownSync(root, UID, UID);
    chmodSync(root, 0o700);
    const plan = asUser(scope, ['plan', HELLO, '--json', '--root', root]);
    expect(plan.status, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).launch.cgroup.placements).toEqual([expect.objectContaining({ anchor: join(CG, SERVICE), segments: ['bvisor'], why: expect.stringMatching(/delegated subtree/) })]);
    const run = asUser(scope, ['run', 'hello', '-b', HELLO, '--root', root]);
    expect({ status: run.status, stdout: run.stdout }, run.stderr).toEqual({ status: 0, stdout: 'hello from inside the boundary\n' });
    // From a login shell's scope (root's), the same user is refused before anything is made.
    const session = join(CG, 'user.slice', `user-${UID}.slice`, 'session-9.scope');
    mkdirSync(session, { recursive: true });
    const refused = asUser(session, ['run', 'hello', '-b', HELLO, '--root', root]);
    expect(refused.status).toBe(125);
    expect(refused.stderr).toMatch(/limits\.memory: .*we run outside our delegated subtree \/user\.slice\/user-1000\.slice\/user@1000\.service/);
    expect(refused.stderr).toMatch(/systemd-run --user --scope -p Delegate=yes/);
  });
});
