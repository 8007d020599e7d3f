// bvisor exec through the real CLI, as runc's callers use it: the process's exit status comes
// back (128+N for a signal), global flags before the verb (containerd's `--root R --log L
// --log-format json exec …`) and flags inside the process's own argv (`sh -c …`) keep their
// places, --detach --pid-file returns at once with the process running in the container (the
// kernel's /proc says which namespaces it is in), containerd's own process JSON fixture runs,
// and a container that is not running is refused with BV_CONTAINER_STATE (exit 125: bvisor
// failed, nothing ran).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliEnv, BIN, BVISOR, ROOT } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { skipOrFail } from '../helpers/require.js';
import { linkOrEmpty, until } from '../helpers/wait.js';
import { PROBE, probeBundle } from '../helpers/probe.js';

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
    // The program's own --help and --json are the program's: it runs (and its failure is no JSON).
    const own = cli(['exec', '--root', root, 'x1', 'sh', '-c', 'echo "$@"; exit 3', 'sh', '--help', '--json']);
    expect([own.status, own.stdout]).toEqual([3, '--help --json\n']);
  });

  it('--sig-proxy: SIGUSR1 and SIGTERM go on to the process, whose traps run, and bvisor exits with its status; without it SIGTERM kills the process and bvisor dies by it', async () => {
    if (!busybox()) return;
    const root = newRoot();
    running(root, 'x-proxy');
    const script = "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done";
    const attached = async (flags: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> => {
      const p = spawn(BVISOR, ['--root', root, 'exec', ...flags, 'x-proxy', 'sh', '-c', script], { env: cliEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b));
      const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('close', (code, signal) => r({ code, signal })));
      try {
        await until('the process to say ready', () => stdout.includes('ready'), 20_000);
        if (flags.length) {
          p.kill('SIGUSR1');
          await until('its USR1 trap', () => stdout.includes('got-usr1'), 20_000);
        }
        p.kill('SIGTERM');
        return { ...(await ended), stdout };
      } finally {
        p.kill('SIGKILL');
      }
    };
    // The process's own words and status: its traps ran, and its exit 5 is bvisor exec's.
    expect(await attached(['--sig-proxy'])).toEqual({ code: 5, signal: null, stdout: 'ready\ngot-usr1\ngot-term\n' });
    // Red twin: the process killed unwarned (its trap never ran), bvisor dead by the signal.
    expect(await attached([])).toEqual({ code: null, signal: 'SIGTERM', stdout: 'ready\n' });
    // Nothing of either runs on in the container: its init alone in its pid namespace (the oracle:
    // /proc's namespace links), but for zombies (the killed shell's last sleep, reparented to an
    // init that never waits: busybox sleep).
    const init = cli(['state', '--root', root, 'x-proxy']).json().pid as number;
    const ns = readlinkSync(`/proc/${init}/ns/pid`);
    const inNs = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((pid) => {
          try {
            return readlinkSync(`/proc/${pid}/ns/pid`) === ns && !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
          } catch {
            return false; // gone meanwhile
          }
        });
    await until('only the init left in its pid namespace', () => inNs().length === 1, 10_000);
    expect(inNs()).toEqual([init]);
    // A stop signal once the process has ended, before bvisor exec has reaped it (bvisor exec
    // stopped meanwhile: the process a zombie): not taken as sent, so bvisor dies by it, as
    // without the flag (found by an attack: once in six it exited 3, the process's status).
    const p = spawn(BVISOR, ['--root', root, 'exec', '--sig-proxy', 'x-proxy', 'sh', '-c', "trap '' TERM; echo ready; sleep 1; exit 3"], { env: cliEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    let said = '';
    p.stdout.on('data', (b: Buffer) => (said += b));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('close', (code, signal) => r({ code, signal })));
    await until('the process to say ready', () => said.includes('ready'), 20_000);
    p.kill('SIGSTOP');
    const shell = Number(readdirSync('/proc').find((d) => /^\d+$/.test(d) && linkOrEmpty(`/proc/${d}/ns/pid`) === ns && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('exit 3')));
    await until('the process a zombie', () => /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${shell}/stat`, 'utf8')), 10_000);
    p.kill('SIGTERM');
    p.kill('SIGCONT');
    expect(await ended).toEqual({ code: null, signal: 'SIGTERM' });
    expect(cli(['delete', '-f', '--root', root, 'x-proxy']).status).toBe(0);
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

  /** The processes in the pid namespace of `pid` (the kernel's /proc/<p>/ns/pid links). */
  const inPidNs = (pid: number): number[] => {
    const ns = readlinkSync(`/proc/${pid}/ns/pid`);
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/ns/pid`) === ns;
      } catch {
        return false;
      }
    });
  };

  /** A started container whose init is the probe (args), with `extra` boundary lines: its pid. */
  const probeContainer = (root: string, id: string, args: string[], extra: string): number => {
    expect(cli(['create', '--root', root, '-b', probeBundle(args, extra), id]).status).toBe(0);
    expect(cli(['start', '--root', root, id]).status).toBe(0);
    return cli(['state', '--root', root, id]).json().pid as number;
  };

  it('a container whose init stops every process it can signal: exec fails, saying so, with nothing left running, and kill and delete are not held up', async () => {
    const root = newRoot();
    // kill(-1, SIGSTOP) in a loop, from the pid namespace's init: what joins it is stopped too.
    const init = probeContainer(root, 's1', ['stopall', '19'], 'limits: { wall: 60s }\nspawn: deny\n');
    try {
      await until('the init to loop', () => readFileSync(join(root, 'containers', 's1', 'stdout'), 'utf8').includes('stopping'), 10_000);
      const t0 = Date.now();
      const r = cli(['exec', '--root', root, 's1', PROBE, 'exit', '7']);
      expect([r.status, r.stderr]).toEqual([125, expect.stringContaining('BV_LAUNCH_FAILED: the process was stopped by a signal')]);
      expect(Date.now() - t0).toBeLessThan(20_000);
      // The stopped helper was killed: the init is alone in its pid namespace again.
      await until('the helper gone', () => inPidNs(init).length === 1, 5_000);
      expect(inPidNs(init)).toEqual([init]);
      // And it held no lock: kill acts at once.
      const k = cli(['kill', '--root', root, 's1', 'KILL']);
      expect([k.status, k.stderr]).toEqual([0, '']);
    } finally {
      expect(cli(['delete', '-f', '--root', root, 's1']).status).toBe(0);
    }
  });

  it('the same init under isolate: { signals: true } cannot stop what joins it (landlock\'s signal scope, ABI 6): exec runs', () => {
    const abi = cli(['check', '--json']).json().host.landlock.abi as number;
    if (abi < 6) return skipOrFail('landlock-scope', `landlock ABI ${abi} has no signal scope`);
    const root = newRoot();
    probeContainer(root, 's2', ['stopall', '19'], 'limits: { wall: 60s }\nspawn: deny\nisolate: { signals: true }\n');
    try {
      const r = cli(['exec', '--root', root, 's2', PROBE, 'exit', '7']);
      expect([r.status, r.stderr]).toEqual([7, '']);
    } finally {
      expect(cli(['delete', '-f', '--root', root, 's2']).status).toBe(0);
    }
  });

  it('--pid-file: a directory that cannot be written is refused before anything runs; a file that cannot be made kills the process it would have named', () => {
    const root = newRoot();
    const init = probeContainer(root, 'p1', ['sleep', '60'], 'limits: { wall: 60s }\nspawn: deny\n');
    try {
      const missing = cli(['exec', '--root', root, '--detach', '--pid-file', join(tempDir(), 'nodir', 'p'), 'p1', PROBE, 'sleep', '50']);
      expect([missing.status, missing.stderr]).toEqual([125, expect.stringContaining('BV_IO: --pid-file')]);
      expect(inPidNs(init)).toEqual([init]);
      // The name is a directory: its rename fails only once the program runs (rename(2): EISDIR).
      const dir = tempDir();
      mkdirSync(join(dir, 'p'));
      const late = cli(['exec', '--root', root, '--detach', '--pid-file', join(dir, 'p'), 'p1', PROBE, 'sleep', '50']);
      expect(late.status).toBe(125);
      expect(late.stderr).toMatch(/EISDIR/);
      expect(inPidNs(init)).toEqual([init]);
    } finally {
      expect(cli(['delete', '-f', '--root', root, 'p1']).status).toBe(0);
    }
  });

  it('refuses a container whose limits.cpu is RLIMIT_CPU (a budget per process); says when oomScoreAdj is raised to the init\'s', () => {
    const root = newRoot();
    probeContainer(root, 'c1', ['sleep', '60'], 'limits: { wall: 60s, cpu: 2s }\nspawn: deny\n');
    try {
      const r = cli(['exec', '--root', root, 'c1', PROBE, 'spin']);
      expect([r.status, r.stderr]).toEqual([125, expect.stringContaining('it is bounded by limits.cpu as RLIMIT_CPU (2s)')]);
      // With --json: exec exits 125, its error object names the code and its category (7,
      // conflict: docs/exit-codes.md), as run's does.
      const j = cli(['exec', '--root', root, '--json', 'c1', PROBE, 'spin']);
      expect([j.status, j.json().error.code, j.json().error.exit]).toEqual([125, 'BV_CONTAINER_STATE', 7]);
    } finally {
      expect(cli(['delete', '-f', '--root', root, 'c1']).status).toBe(0);
    }
    // What the refusal's hint says to do works (a new-user pass found it did not): marked
    // mediated, the budget is the cgroup's, which exec'd processes share; exec then runs.
    probeContainer(root, 'c2', ['sleep', '60'], 'limits: { wall: 60s, cpu: { value: 2s, guarantee: mediated } }\nspawn: deny\n');
    try {
      const r = cli(['exec', '--root', root, 'c2', PROBE, 'exit', '0']);
      expect([r.status, r.stderr]).toEqual([0, '']);
    } finally {
      expect(cli(['delete', '-f', '--root', root, 'c2']).status).toBe(0);
    }
    const init = probeContainer(root, 'o1', ['sleep', '60'], 'limits: { wall: 60s }\nspawn: deny\n');
    try {
      const initAdj = Number(readFileSync(`/proc/${init}/oom_score_adj`, 'utf8'));
      const file = join(tempDir(), 'p.json');
      writeFileSync(file, JSON.stringify({ args: [PROBE, 'exit', '0'], cwd: '/', user: { uid: 0, gid: 0 }, oomScoreAdj: initAdj - 500 }));
      const j = cli(['exec', '--root', root, '--json', '--process', file, 'o1']);
      expect(j.status, j.stderr).toBe(0);
      // A working directory the container lacks is named as such (it read "mount step 7 (CHDIR …)").
      const nope = cli(['exec', '--root', root, '--cwd', '/nope', 'o1', PROBE, 'exit', '0']);
      expect([nope.status, nope.stderr]).toEqual([125, expect.stringContaining('failed before exec at the chdir to the working directory /nope: ENOENT')]);
      expect(nope.stderr).toContain('must exist in its root');
      // A program the container lacks is named (it read "failed before exec at resolve: ENOENT").
      const none = cli(['exec', '--root', root, 'o1', 'no-such-program']);
      expect([none.status, none.stderr]).toEqual([125, expect.stringContaining('failed before exec at resolve of the program "no-such-program": ENOENT')]);
      expect(j.json().narrowed).toContain(`oomScoreAdj: ${initAdj - 500} is below the init's ${initAdj}; the process gets ${initAdj}`);
      // A bvisor exec whose own score is above the request: the process inherits that (it is never
      // lowered), and the note names it. Oracle: the kernel's value for the process (proc(5)).
      // Between the init's and the kernel's 1000 (proc(5)): asked < own.
      const asked = initAdj + Math.floor((1000 - initAdj) / 3);
      const own = initAdj + Math.floor((2 * (1000 - initAdj)) / 3);
      expect(asked).toBeLessThan(own);
      writeFileSync(file, JSON.stringify({ args: [PROBE, 'sleep', '30'], cwd: '/', user: { uid: 0, gid: 0 }, oomScoreAdj: asked }));
      const pidFile = join(tempDir(), 'o.pid');
      const out = join(tempDir(), 'o.json');
      // Raised in a shell of its own (raising needs no privilege; this process's stays as it is),
      // stdio to files: the detached process keeps what bvisor exec had.
      const raised = spawnSync('sh', ['-c', `echo ${own} > /proc/self/oom_score_adj && exec "$@" > "$OUT" 2>&1 < /dev/null`, 'sh', BVISOR, 'exec', '--root', root, '--json', '--detach', '--pid-file', pidFile, '--process', file, 'o1'], { env: cliEnv({ OUT: out }), timeout: 60_000 });
      expect(raised.status, existsSync(out) ? readFileSync(out, 'utf8') : String(raised.stderr)).toBe(0);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        expect(Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'))).toBe(own);
        expect(JSON.parse(readFileSync(out, 'utf8')).narrowed).toContain(`oomScoreAdj: ${asked} is below the ${own} it inherits; the process gets ${own}`);
      } finally {
        process.kill(pid, 'SIGKILL'); // reparented to the host's init, which reaps it
      }
    } finally {
      expect(cli(['delete', '-f', '--root', root, 'o1']).status).toBe(0);
    }
  });

  it('refuses by name a container whose init ended its main thread alone while another runs (setns through the leader would fail, ESRCH)', async () => {
    const root = newRoot();
    // The probe's main thread ends by exit(2), not exit_group, once a second thread sleeps.
    const pid = probeContainer(root, 'x4', ['unparented', '60', 'leader-exit'], 'limits: { wall: 60s }\nspawn: threads\n');
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
