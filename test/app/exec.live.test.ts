// bvisor exec into a running container, through the lifecycle API, with the kernel as the
// oracle: the exec'd probe's /proc entries (namespace inodes, cgroup lines, Seccomp, NoNewPrivs,
// CapEff) against the init's, read from the host; what it is denied against what the init is
// denied (landlock: a file made in the rootfs's own root; seccomp: unshare), with red twins that
// switch each mechanism off for the exec alone and see the denial go (and the file appear on the
// host's disk); exit statuses; --detach with --pid-file; refusals.
import { chmodSync, existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startContainer, deleteContainer, stateOf, killContainer } from '../../src/app/lifecycle.js';
import { createContainer } from '../../src/app/create.js';
import { execContainer, type ExecOptions } from '../../src/app/exec.js';
import { shim } from '../../src/backends/linux/ffi/shim.js';
import { waitPidfd } from '../../src/backends/linux/host/reaper.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';
import { facts, E } from '../helpers/probe.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { nr, hostArch } from '../helpers/syscalls.js';
import { BvisorError } from '../../src/contract/errors.js';
import { skipOrFail } from '../helpers/require.js';
import { tempDir } from '../helpers/tmp.js';
import { BUSYBOX, busyboxRootfs } from '../helpers/busybox-rootfs.js';

const CLONE_NEWUSER = 0x10000000;
// The state root lives for the whole file: made before the first test and removed after the last
// (tempDir's own cleanup runs after each test, and the root outlives its first one).
let ROOT = '';
beforeAll(() => {
  ROOT = mkdtempSync(join(tmpdir(), 'bvisor-exec-root-'));
});
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
const made: string[] = [];
afterEach(async () => {
  for (const id of made.splice(0)) await deleteContainer(ROOT, id, true).catch(() => undefined);
});

/** A container whose rootfs root is world-writable on disk, so only landlock (no rule grants
 * making files in "/") stops a file being made there. The init records its own try first. */
function bundle(): { dir: string; rootfs: string } {
  const dir = tempDir('bvisor-exec-');
  chmodSync(dir, 0o755);
  const rootfs = busyboxRootfs(dir, 0o777);
  const init = '/bin/bvprobe try open /init-made c > /tmp/init-try; exec /bin/bvprobe sleep 60';
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nroot: { path: rootfs, readonly: false }\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(init)}], cwd: / }\nenv: { PATH: /bin }\nstdio: { stdout: capture, stderr: capture }\ntmp: private\nspawn: descendants\nlimits: { processes: { value: 32, guarantee: best-effort } }\n`,
  );
  return { dir, rootfs };
}

/** The BvisorError an async call rejects with. */
async function rejected(fn: () => Promise<unknown>): Promise<BvisorError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof BvisorError) return e;
    throw e;
  }
  throw new Error('expected a BvisorError, nothing was thrown');
}

let n = 0;
async function running(): Promise<{ id: string; rootfs: string; init: number }> {
  const b = bundle();
  const id = `ex${process.pid}-${n++}`;
  made.push(id);
  const s = await createContainer({ root: ROOT, id, bundle: b.dir, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() });
  await startContainer(ROOT, id);
  const init = s.pid!.pid;
  // The init has made its try once its record is there (its private /tmp, seen through
  // /proc/<pid>/root from here).
  const until = Date.now() + 10_000;
  while (readInit(init) === null) {
    if (Date.now() > until) throw new Error('the init never recorded its try');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { id, rootfs: b.rootfs, init };
}

function readInit(pid: number): string | null {
  try {
    const t = readFileSync(`/proc/${pid}/root/tmp/init-try`, 'utf8').trim();
    return t ? t : null;
  } catch {
    return null;
  }
}

/** Runs the probe in the container (attached): its stdout and exit status. */
async function exec(id: string, args: string[], o: Partial<ExecOptions> = {}, hooks?: LaunchHooks): Promise<{ out: string; status: number; narrowed: string[] }> {
  const file = join(tempDir('bvisor-exec-out-'), 'out');
  const fd = openSync(file, 'w');
  const nul = openSync('/dev/null', 'r');
  try {
    const started = await execContainer({ root: ROOT, id, processFile: null, args, env: [], cwd: null, user: null, tty: false, consoleSocket: null, pidFile: null, detach: false, secretEnv: {}, stdio: [nul, fd, fd], host: facts(), ...o, ...(hooks ? { hooks } : {}) });
    const { status } = await started.exit!;
    return { out: readFileSync(file, 'utf8'), status, narrowed: started.narrowed };
  } finally {
    closeSync(fd);
    closeSync(nul);
  }
}

const ns = (pid: number, n: string): string => readlinkSync(`/proc/${pid}/ns/${n}`);
const status = (pid: number, key: string): string => /^(\w+):\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`)) ?? '')?.[2] ?? '';
const busybox = (): boolean => existsSync(BUSYBOX) || (skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`), false);

describe('bvisor exec (live)', () => {
  it('detached, with --pid-file: the process sits in every namespace and cgroup of the init, with its Seccomp, NoNewPrivs and CapEff (host /proc as oracle)', async () => {
    if (!busybox()) return;
    const c = await running();
    const pidFile = join(tempDir(), 'exec.pid');
    const started = await execContainer({ root: ROOT, id: c.id, processFile: null, args: ['/bin/bvprobe', 'sleep', '30'], env: [], cwd: null, user: null, tty: false, consoleSocket: null, pidFile, detach: true, secretEnv: {}, host: facts() });
    expect(started.exit).toBeNull();
    const pid = started.pid;
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);
    // It is our child (CLONE_PARENT from the joining child): reap it at the end.
    const pidfd = shim().bv_pidfd_open(pid);
    try {
      for (const n of ['user', 'pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup']) expect(ns(pid, n), n).toBe(ns(c.init, n));
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toBe(readFileSync(`/proc/${c.init}/cgroup`, 'utf8'));
      expect(readlinkSync(`/proc/${pid}/root`)).toBe(readlinkSync(`/proc/${c.init}/root`));
      expect(status(pid, 'Seccomp')).toBe('2');
      expect(status(pid, 'NoNewPrivs')).toBe('1');
      expect(status(pid, 'CapEff')).toBe(status(c.init, 'CapEff'));
      expect(status(pid, 'CapBnd')).toBe(status(c.init, 'CapBnd'));
      expect(status(pid, 'Uid')).toBe(status(c.init, 'Uid'));
      // Inside, it is a process of the container's pid namespace (not pid 1: that is the init).
      expect(Number(status(pid, 'NSpid').split(/\s+/).pop())).toBeGreaterThan(1);
    } finally {
      shim().bv_pidfd_signal(pidfd, 9);
      await waitPidfd(pidfd);
      shim().bv_close(pidfd);
    }
  });

  it('is denied what the init is denied: landlock (a file in the rootfs\'s root) and seccomp (unshare), each mechanism\'s red twin lets it through', async () => {
    if (!busybox()) return;
    const c = await running();
    const unshare = String(nr(hostArch(), 'unshare'));
    const tryArgs = (file: string): string[] => ['/bin/bvprobe', 'try', 'open', file, 'c', ',', 'syscall', unshare, String(CLONE_NEWUSER)];
    // The init's own try: landlock refused it (EACCES), though the directory is 0777 on disk.
    expect(JSON.parse(readInit(c.init)!)).toEqual([E.ACCES]);
    const r = await exec(c.id, tryArgs('/exec-made'));
    expect(JSON.parse(r.out)).toEqual([E.ACCES, E.PERM]);
    expect(existsSync(join(c.rootfs, 'exec-made'))).toBe(false);
    // Twins: the same exec without landlock makes the file (the host's disk says so); without
    // seccomp, unshare(CLONE_NEWUSER) works.
    const noLl = await exec(c.id, tryArgs('/twin-made'), {}, { noLandlock: true });
    expect(JSON.parse(noLl.out)[0]).toBe(0);
    expect(existsSync(join(c.rootfs, 'twin-made'))).toBe(true);
    const noSc = await exec(c.id, tryArgs('/exec-made'), {}, { noSeccomp: true });
    expect(JSON.parse(noSc.out)).toEqual([E.ACCES, 0]);
  });

  it('returns the process\'s exit status, 128+N for a signal, and finds a bare name on the container\'s PATH', async () => {
    if (!busybox()) return;
    const c = await running();
    expect((await exec(c.id, ['/bin/bvprobe', 'exit', '7'])).status).toBe(7);
    expect((await exec(c.id, ['/bin/bvprobe', 'segv'])).status).toBe(128 + 11);
    const sh = await exec(c.id, ['sh', '-c', 'echo "$PATH $FOO" && exit 3'], { env: ['FOO=bar'] });
    expect([sh.out, sh.status]).toEqual(['/bin bar\n', 3]);
    const missing = await rejected(() => exec(c.id, ['nosuch']));
    expect([missing.code, missing.message]).toEqual(['BV_LAUNCH_FAILED', expect.stringContaining('resolve')]);
  });

  it('an OCI process JSON (podman\'s exec fixture) asking for capabilities the init lacks is narrowed, never widened', async () => {
    if (!busybox()) return;
    const c = await running();
    const p = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'podman-exec-process.json'), 'utf8'));
    p.args = ['/bin/bvprobe', 'facts'];
    p.env = ['PATH=/bin'];
    const file = join(tempDir(), 'process.json');
    writeFileSync(file, JSON.stringify(p));
    const r = await exec(c.id, [], { processFile: file });
    const f = JSON.parse(r.out) as { CapEff: string; NoNewPrivs: string; Seccomp: string; env: string[]; uid: number };
    expect([f.CapEff, f.NoNewPrivs, f.Seccomp, f.uid]).toEqual([status(c.init, 'CapEff'), '1', '2', 0]);
    expect(f.env).toEqual(['PATH=/bin']);
    expect(r.narrowed.join('\n')).toMatch(/CAP_NET_RAW/);
    expect(r.narrowed.join('\n')).toMatch(/no_new_privs/);
    // A user bvisor cannot map is refused, with the JSON path.
    writeFileSync(file, JSON.stringify({ ...p, user: { uid: 1000, gid: 0 } }));
    const e = await rejected(() => exec(c.id, [], { processFile: file }));
    expect([e.code, e.message]).toEqual(['BV_USAGE', expect.stringContaining('user.uid')]);
  });

  it('a process killed while it joins (by the container: it can signal it) is said to be, not taken for a bvisor or kernel fault', async () => {
    if (!busybox()) return;
    const c = await running();
    // SIGKILLed at READY, before its evidence is read: the read-back then finds a dead process
    // (its /proc/<pid>/cgroup says "/"), which is the kill's doing.
    const killAtReady = (pid: number): void => {
      process.kill(pid, 'SIGKILL');
      const until = Date.now() + 5000;
      while (Date.now() < until && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    };
    await expect(exec(c.id, ['/bin/bvprobe', 'exit', '0'], {}, { afterRelease: killAtReady })).rejects.toMatchObject({ code: 'BV_LAUNCH_FAILED', message: expect.stringContaining('was killed while it joined the container, before it ran') });
  });

  it('a joining process stopped as soon as the container may stop it holds only what the launch names, not the container\'s lock (host /proc as oracle)', async () => {
    if (!busybox()) return;
    // A process of the container may stop the second child from the moment it has the
    // container's ids (kill(2)) until its fd scrub: a window of microseconds, which a hostile init
    // looping kill(-1, SIGSTOP) hits now and then (cli/exec.e2e). The test build's stopJoined puts
    // the stop at the window's first instant, every time. What the process holds then stays held
    // for as long as it is stopped: for ever, had this exec been SIGKILLed meanwhile.
    const c = await running();
    const lock = statSync(join(ROOT, 'containers', c.id, 'lock'));
    /** fd ≥ 3 of the stopped process: its link (proc(5)) and whether it is the lock (by inode). */
    const held = (pid: number): Array<{ fd: number; link: string; lock: boolean }> =>
      readdirSync(`/proc/${pid}/fd`).map(Number).filter((fd) => fd >= 3).map((fd) => {
        const st = statSync(`/proc/${pid}/fd/${fd}`);
        return { fd, link: readlinkSync(`/proc/${pid}/fd/${fd}`), lock: st.dev === lock.dev && st.ino === lock.ino };
      });
    const attempt = async (hooks: LaunchHooks): Promise<Array<{ fd: number; link: string; lock: boolean }>> => {
      const seen: Array<ReturnType<typeof held>> = [];
      const e = await rejected(() => exec(c.id, ['/bin/bvprobe', 'exit', '7'], {}, { stopJoined: true, onStopped: (pid) => seen.push(held(pid)), ...hooks }));
      expect([e.code, e.message]).toEqual(['BV_LAUNCH_FAILED', expect.stringContaining('stopped by a signal')]);
      expect(seen).toHaveLength(1);
      return seen[0]!;
    };
    const fds = await attempt({});
    expect(fds.filter((f) => f.lock)).toEqual([]);
    // Only what the launch names: its fail and sync pipes, the landlock ruleset, the cgroup leaf
    // it was born into, the stdio it was given (/dev/null and the output file). Nothing else of
    // this process's (its event loop's epoll and eventfds, vitest's sockets, the journal).
    const named = (l: string): boolean => l.startsWith('pipe:') || l === 'anon_inode:[landlock-ruleset]' || l === '/dev/null' || l.includes('bvisor-exec-out-') || l.startsWith('/sys/fs/cgroup/');
    expect(fds.filter((f) => !named(f.link))).toEqual([]);
    // The red twin: without the early close (noScrub skips it, with the scrub), the lock is there.
    const twin = await attempt({ noScrub: true });
    expect(twin.filter((f) => f.lock)).toHaveLength(1);
    expect(twin.filter((f) => !named(f.link)).length).toBeGreaterThan(1);
  });

  it('refuses a container that is not running (created, or stopped) with BV_CONTAINER_STATE', async () => {
    if (!busybox()) return;
    const b = bundle();
    const id = `ex${process.pid}-created`;
    made.push(id);
    await createContainer({ root: ROOT, id, bundle: b.dir, cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() });
    const e = await rejected(() => exec(id, ['/bin/bvprobe', 'exit', '0']));
    expect([e.code, e.message]).toEqual(['BV_CONTAINER_STATE', expect.stringContaining('created')]);
    await deleteContainer(ROOT, id, true);
    const gone = await rejected(() => exec(id, ['/bin/bvprobe', 'exit', '0']));
    expect(gone.code).toBe('BV_CONTAINER_NOT_FOUND');
    const c = await running();
    killContainer(ROOT, c.id, 'KILL', false);
    const until = Date.now() + 10_000;
    while (stateOf(ROOT, c.id).status !== 'stopped') {
      if (Date.now() > until) throw new Error('not stopped');
      await new Promise((r) => setTimeout(r, 20));
    }
    const stopped = await rejected(() => exec(c.id, ['/bin/bvprobe', 'exit', '0']));
    expect([stopped.code, stopped.message]).toEqual(['BV_CONTAINER_STATE', expect.stringContaining('stopped')]);
  });
});
