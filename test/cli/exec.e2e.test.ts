// bvisor exec through the real CLI, as runc's callers use it: the process's exit status comes
// back (128+N for a signal), global flags before the verb (containerd's `--root R --log L
// --log-format json exec …`) and flags inside the process's own argv (`sh -c …`) keep their
// places, --detach --pid-file returns at once with the process running in the container (the
// kernel's /proc says which namespaces it is in), containerd's own process JSON fixture runs,
// and a container that is not running is refused with BV_CONTAINER_STATE (exit 125: bvisor
// failed, nothing ran).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, BIN, ROOT } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { skipOrFail } from '../helpers/require.js';
import { until } from '../helpers/wait.js';
import { probeBundle } from '../helpers/probe.js';

const BUSYBOX = '/bin/busybox';

/** Container mode: a busybox rootfs, the init a shell that sleeps. */
function bundle(): string {
  const dir = tempDir('bvisor-exec-cli-');
  chmodSync(dir, 0o755);
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'dev']) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(BUSYBOX, join(r, 'bin', 'busybox'));
  chmodSync(join(r, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'sleep']) symlinkSync('busybox', join(r, 'bin', a));
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs, readonly: true }\nworkload:\n  process: { exe: /bin/sleep, args: ["60"], cwd: / }\nenv: { PATH: /bin }\nstdio: { stdout: capture, stderr: capture }\ntmp: private\nspawn: descendants\nlimits: { processes: { value: 32, guarantee: best-effort } }\n`);
  return dir;
}

function running(root: string, id: string): number {
  expect(cli(['create', '--root', root, '-b', bundle(), id]).status).toBe(0);
  expect(cli(['start', '--root', root, id]).status).toBe(0);
  return cli(['state', '--root', root, id]).json().pid as number;
}

const busybox = (): boolean => existsSync(BUSYBOX) || (skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`), false);

describe('bvisor exec (e2e)', () => {
  it('exits with the process\'s status; global flags before the verb and flags in the process\'s argv keep their places', () => {
    if (!busybox()) return;
    const root = newRoot();
    running(root, 'x1');
    const log = join(tempDir(), 'log.json');
    const r = cli(['--root', root, '--log', log, '--log-format', 'json', 'exec', '-e', 'WHO=exec', 'x1', 'sh', '-c', 'echo "$WHO with $(tr "\\0" " " < /proc/1/cmdline)"; exit 4']);
    expect([r.status, r.stdout]).toEqual([4, 'exec with /bin/sleep 60 \n']);
    expect(readFileSync(log, 'utf8')).toMatch(/"msg":"exec"/);
    const killed = cli(['exec', '--root', root, 'x1', 'sh', '-c', 'kill -9 $$']);
    expect(killed.status).toBe(128 + 9);
    const j = cli(['exec', '--root', root, '--json', 'x1', '--', 'sh', '-c', 'exit 0']);
    expect(j.json()).toMatchObject({ id: 'x1', status: 0, narrowed: [] });
  });

  it('--detach --pid-file returns at once, the process running in the container\'s namespaces; containerd\'s process JSON runs', () => {
    if (!busybox()) return;
    const root = newRoot();
    const init = running(root, 'x2');
    const pidFile = join(tempDir(), 'e1.pid');
    // No stdio of ours: a detached process keeps what it was given (an engine's fifos).
    const parent = defaultTestParent();
    const r = spawnSync(process.execPath, [BIN, '--root', root, 'exec', '--detach', '--pid-file', pidFile, 'x2', 'sleep', '30'], { stdio: 'ignore', timeout: 60_000, env: { ...process.env, ...(parent === null ? {} : { BVISOR_CGROUP_PARENT: parent }) } });
    expect(r.status).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      for (const n of ['pid', 'mnt', 'user', 'cgroup']) expect(readlinkSync(`/proc/${pid}/ns/${n}`)).toBe(readlinkSync(`/proc/${init}/ns/${n}`));
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x0030\x00');
    } finally {
      process.kill(pid, 'SIGKILL'); // ours: reparented to the host's init, which reaps it
    }
    const p = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'oci', 'containerd-exec-process.json'), 'utf8'));
    const file = join(tempDir(), 'runc-process123');
    writeFileSync(file, JSON.stringify(p));
    const c = cli(['--root', root, '--log', join(tempDir(), 'log.json'), '--log-format', 'json', 'exec', '--process', file, 'x2']);
    expect([c.status, c.stdout]).toEqual([4, 'hi from exec\n']);
  });

  it('refuses a container that is not running with BV_CONTAINER_STATE (exit 125), and ARGS beside --process', async () => {
    if (!busybox()) return;
    const root = newRoot();
    expect(cli(['create', '--root', root, '-b', bundle(), 'x3']).status).toBe(0);
    const r = cli(['exec', '--root', root, 'x3', 'sh', '-c', 'exit 0']);
    expect([r.status, r.stderr]).toEqual([125, expect.stringContaining('BV_CONTAINER_STATE')]);
    expect(cli(['kill', '--root', root, 'x3', 'KILL']).status).toBe(0);
    await until('x3 stopped', () => cli(['state', '--root', root, 'x3']).json().status === 'stopped', 10_000);
    const s = cli(['exec', '--root', root, 'x3', 'sh']);
    expect([s.status, s.stderr]).toEqual([125, expect.stringMatching(/BV_CONTAINER_STATE.*stopped/)]);
    const both = cli(['exec', '--root', root, '--process', '/nonexistent', 'x3', 'sh']);
    expect([both.status, both.stderr]).toEqual([125, expect.stringContaining('BV_USAGE')]);
  });

  it('refuses by name a container whose init ended its main thread alone while another runs (setns through the leader would fail, ESRCH)', async () => {
    const root = newRoot();
    // The probe's main thread ends by exit(2), not exit_group, once a second thread sleeps.
    expect(cli(['create', '--root', root, '-b', probeBundle(['unparented', '60', 'leader-exit'], 'limits: { wall: 60s }\nspawn: threads\n'), 'x4']).status).toBe(0);
    expect(cli(['start', '--root', root, 'x4']).status).toBe(0);
    const pid = cli(['state', '--root', root, 'x4']).json().pid as number;
    try {
      // Oracle: the kernel's view (proc(5)): the leader a zombie, a thread of its group not.
      const state = (path: string): string => {
        const st = readFileSync(path, 'latin1');
        return st.slice(st.lastIndexOf(')') + 2)[0]!;
      };
      await until('its leader a zombie, a thread running', () => {
        try {
          return state(`/proc/${pid}/stat`) === 'Z' && readdirSync(`/proc/${pid}/task`).some((t) => state(`/proc/${pid}/task/${t}/stat`) !== 'Z');
        } catch {
          return false;
        }
      }, 10_000);
      const r = cli(['exec', '--root', root, 'x4', '/nonexistent']);
      expect(r.status).toBe(125);
      expect(r.stderr).toContain(`BV_CONTAINER_STATE: cannot exec into container x4: it is running without its main thread (its init, pid ${pid}, ended that thread alone)`);
      expect(cli(['state', '--root', root, 'x4']).json().status).toBe('running');
    } finally {
      expect(cli(['delete', '-f', '--root', root, 'x4']).status).toBe(0);
    }
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });
});
