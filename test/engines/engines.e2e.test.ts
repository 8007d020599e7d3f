// The container engines as bvisor's callers: podman 4.3 (through conmon) and containerd 1.6
// (through its runc v2 shim) drive the runtime named by BVISOR_ENGINE_RUNTIME (default: this
// repo's bin/run.js, i.e. bvisor, given to the engines through a `bvisor` sh wrapper, see
// lib.sh) through the scenarios they really use: run --rm with its exit code (0, 3, 137),
// run -d + exec + stop/kill + rm, a terminal, a runtime error reaching the user, and 20
// containers at once with nothing left behind. The same file proves the harness with runc
// and crun: `BVISOR_ENGINE_RUNTIME=/usr/sbin/runc npx vitest run test/engines/engines.e2e.test.ts`.
// Everything lives in one ENGINE_DIR made by setup.sh and removed by teardown.sh in afterAll,
// whatever the tests did; the engines' cgroups go under our own memory cgroup.
// ENGINE_CTR_SNAPSHOTTER=native gives containerd plain-directory rootfs instead of overlayfs;
// with bvisor it is the default here (see CTR_SNAPSHOTTER below).
// Engines required: when CI declares the feature `engines` in BVISOR_CI_REQUIRE (.ci/run), an
// engine that is missing, or not running as root, fails these tests instead of skipping them
// (test/helpers/require.ts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { required, skipOrFail } from '../helpers/require.js';

const HERE = __dirname;
const RUNTIME = process.env.BVISOR_ENGINE_RUNTIME || resolve(HERE, '../../bin/run.js');
const IMAGE = 'localhost/bvisor-busybox:latest';
const STEP_TIMEOUT = 60_000; // one engine command; a hung runtime fails the test instead of hanging it
const IS_BVISOR = RUNTIME.endsWith('.js') || basename(RUNTIME) === 'bvisor';
// containerd's snapshotter for `ctr run` (ctr.sh reads ENGINE_CTR_SNAPSHOTTER; unset: its default,
// overlayfs). As root, bvisor maps the container's root to an unprivileged host id, so a
// root-owned writable rootfs must be bridged by an idmapped mount, and the kernel does not idmap
// an overlayfs mount (overlayfs lacks FS_ALLOW_IDMAP): bvisor refuses containerd's default
// overlayfs snapshots, by design (docs/oci.md; the refusal is tested below). With bvisor the scenarios
// therefore run on the native snapshotter (plain directories, as podman's vfs driver here);
// runc and crun keep containerd's default overlayfs. An explicit ENGINE_CTR_SNAPSHOTTER wins.
const CTR_SNAPSHOTTER = process.env.ENGINE_CTR_SNAPSHOTTER ?? (IS_BVISOR ? 'native' : '');

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why an engine cannot run here, or null. */
function missing(cmds: string[]): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.geteuid?.() !== 0) return 'not root (the engines run rootful here)';
  const absent = cmds.filter((c) => !onPath(c));
  return absent.length ? `${absent.join(', ')} not found on PATH` : null;
}
const NEEDS_ALL = ['unshare', 'nsenter', 'script', 'busybox'];
const podmanMissing = missing(['podman', 'conmon', ...NEEDS_ALL]);
const ctrMissing = missing(['containerd', 'ctr', 'containerd-shim-runc-v2', ...NEEDS_ALL]);
// Declared by CI (BVISOR_CI_REQUIRE=...,engines): nothing here may skip; a missing engine makes
// every test of it fail with the reason (ready() below) instead.
const ENGINES_REQUIRED = required('engines');
const skipPodman = !!podmanMissing && !ENGINES_REQUIRED;
const skipCtr = !!ctrMissing && !ENGINES_REQUIRED;
if (skipPodman) console.warn(`\n*** engines.e2e: SKIPPING podman scenarios: ${podmanMissing} ***\n`);
if (skipCtr) console.warn(`\n*** engines.e2e: SKIPPING containerd scenarios: ${ctrMissing} ***\n`);

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

let engineDir = '';
let env: Record<string, string> = {};
let setupError: string | null = null;

/** Runs a command with the harness's environment; never rejects (a timeout is a SIGKILL). */
function run(cmd: string, args: string[], timeout = STEP_TIMEOUT, extraEnv: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env, ENGINE_DIR: engineDir, ENGINE_CTR_SNAPSHOTTER: CTR_SNAPSHOTTER, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], timeout, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => done({ code: null, signal: null, stdout, stderr: stderr + String(e) }));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}
const podman = (...args: string[]) => run('bash', [join(HERE, 'podman.sh'), RUNTIME, ...args]);
const ctr = (...args: string[]) => run('bash', [join(HERE, 'ctr.sh'), RUNTIME, ...args]);
/** ctr with containerd's default overlayfs snapshotter, whatever CTR_SNAPSHOTTER says. */
const ctrOverlay = (...args: string[]) => run('bash', [join(HERE, 'ctr.sh'), RUNTIME, ...args], STEP_TIMEOUT, { ENGINE_CTR_SNAPSHOTTER: 'overlayfs' });
/** Under a pseudo-terminal (script(1)), as a user at a terminal would run it. */
function inTty(script: string, args: string[]): Promise<Result> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return run('script', ['-qec', ['bash', join(HERE, script), RUNTIME, ...args].map(q).join(' '), '/dev/null']);
}
/** What a failed step showed, for the assertion message. */
const show = (r: Result) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`;
function expectExit(r: Result, code: number): void {
  expect(r.code, show(r)).toBe(code);
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Kills a container's init from outside and returns what the foreground `run --rm` returned. */
async function killedRun(start: () => Promise<Result>, running: () => Promise<boolean>, kill: () => Promise<Result>): Promise<Result> {
  const fg = start();
  let early: Result | null = null;
  void fg.then((r) => (early = r));
  await until('the container to run', async () => {
    if (early) throw new Error(`run ended before it was killed: ${show(early)}`);
    return running();
  });
  expectExit(await kill(), 0);
  return fg;
}

/** Removes a ctr container and its task whatever state they are in (after a failed step). */
async function ctrForget(id: string): Promise<void> {
  if ((await ctr('task', 'ls', '-q')).stdout.split('\n').includes(id)) {
    await ctr('task', 'kill', '-s', 'KILL', id);
    await ctr('task', 'rm', '-f', id);
  }
  if ((await ctr('container', 'ls', '-q')).stdout.split('\n').includes(id)) await ctr('container', 'rm', id);
}

// ---- leak checks: what a batch of containers may not leave behind ----

function ctrdPid(): number {
  return Number(env.CONTAINERD_PID);
}
function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
/** Processes still around that the engines or the runtime started for ENGINE_DIR. */
function strayProcesses(): string[] {
  const ns = (p: string | number) => {
    try {
      return readlinkSync(`/proc/${p}/ns/mnt`);
    } catch {
      return null;
    }
  };
  const ctrdNs = ns(ctrdPid());
  const out: string[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(p) === ctrdPid() || Number(p) === process.pid) continue;
    const c = cmdline(p);
    if (!c) continue; // gone, or a kernel thread
    if (c.includes(engineDir) || (ctrdNs !== null && ns(p) === ctrdNs)) out.push(`${p}: ${c.trim()}`);
  }
  return out;
}
/** Cgroups under the parent other than podman's standing `conmon` one (which must be empty). */
function strayCgroups(): string[] {
  const parent = env.ENGINE_CGROUP_PARENT!;
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, parent);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const procs = readFileSync(join(dir, e.name, 'cgroup.procs'), 'utf8').trim();
      if (e.name !== 'conmon' || procs) out.push(`${join(dir, e.name)}${procs ? ` (procs ${procs.replace(/\n/g, ' ')})` : ''}`);
    }
  }
  return out;
}
/** Mounts mentioning ENGINE_DIR: in our namespace (podman's shm), and in containerd's apart
 * from the /run it was started with (the rootfs snapshots). */
function strayMounts(): string[] {
  const lines = (f: string) => {
    try {
      return readFileSync(f, 'utf8').split('\n');
    } catch {
      return [];
    }
  };
  const ours = lines('/proc/self/mountinfo').filter((l) => l.includes(engineDir));
  const theirs = lines(`/proc/${ctrdPid()}/mountinfo`).filter((l) => l.includes(engineDir) && l.split(' ')[4] !== '/run');
  return [...ours.map((l) => `ours: ${l}`), ...theirs.map((l) => `containerd's: ${l}`)];
}
/** State entries named after one of the ids, under a runtime's root (to depth 3). */
function strayState(root: string, ids: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      if (ids.some((id) => e.includes(id))) out.push(join(dir, e));
      else if (depth < 3) walk(join(dir, e), depth + 1);
    }
  };
  walk(root, 1);
  return out;
}
/** The state root a runtime uses when podman calls it without --root. */
function podmanStateRoot(): string | null {
  const name = RUNTIME.endsWith('.js') ? 'bvisor' : basename(RUNTIME);
  return ({ runc: '/run/runc', crun: '/run/crun', bvisor: '/run/bvisor' } as Record<string, string>)[name] ?? null;
}
const TEMP_PREFIXES = ['conmon-term.', 'runc-process', 'pty'];
const tempNames = () => new Set(readdirSync(tmpdir()).filter((n) => TEMP_PREFIXES.some((p) => n.startsWith(p))));

async function settled(check: () => string[], ms = 10_000): Promise<string[]> {
  const end = Date.now() + ms;
  let left = check();
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    left = check();
  }
  return left;
}
async function checkLeaks(ids: string[], stateRoots: string[], tempBefore: Set<string>): Promise<void> {
  expect(await settled(strayProcesses), 'processes left').toEqual([]);
  expect(await settled(strayCgroups), 'cgroups left under the parent').toEqual([]);
  expect(await settled(strayMounts), 'mounts left').toEqual([]);
  for (const root of stateRoots) expect(strayState(root, ids), `state left under ${root}`).toEqual([]);
  expect([...tempNames()].filter((n) => !tempBefore.has(n)), 'temp files left in /tmp').toEqual([]);
}
/** containerd's view: no container, task or active snapshot named ID is left. */
async function ctrLeftovers(id: string, snapshotter: string): Promise<string[]> {
  const out: string[] = [];
  for (const [what, args] of [['container', ['container', 'ls', '-q']], ['task', ['task', 'ls', '-q']], [`${snapshotter} snapshot`, ['snapshots', '--snapshotter', snapshotter, 'ls']]] as const) {
    const r = await ctr(...args);
    expect(r.code, show(r)).toBe(0);
    if (r.stdout.split('\n').some((l) => l.split(/\s+/)[0] === id)) out.push(`${what} ${id}`);
  }
  return out;
}

// ---- the ENGINE_DIR of this file ----

beforeAll(() => {
  if (podmanMissing && ctrMissing) return;
  engineDir = mkdtempSync(join(tmpdir(), 'bvisor-engines-'));
  const r = spawnSync('bash', [join(HERE, 'setup.sh')], { env: { ...process.env, ENGINE_DIR: engineDir }, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) {
    setupError = `setup.sh failed (${r.status ?? r.signal}): ${r.stderr}`;
    return;
  }
  env = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  console.info(`engines.e2e: runtime ${RUNTIME}, ENGINE_DIR ${engineDir}, cgroup parent ${env.ENGINE_CGROUP_PARENT}`);
}, 200_000);

afterAll(() => {
  if (!engineDir) return;
  const r = spawnSync('bash', [join(HERE, 'teardown.sh')], { env: { ...process.env, ENGINE_DIR: engineDir }, encoding: 'utf8', timeout: 180_000 });
  // teardown.sh removes ENGINE_DIR; if it was killed, at least the directory goes
  if (existsSync(engineDir)) rmSync(engineDir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`teardown.sh failed (${r.status ?? r.signal}), something was left behind:\n${r.stderr}`);
}, 200_000);

/** First line of every test: an engine missing here skips (not required) or fails (required by
 * CI: skipOrFail throws); then a failed setup.sh fails the test. */
function ready(why: string | null): void {
  if (why) skipOrFail('engines', why);
  if (setupError) throw new Error(setupError);
}

// ---- podman ----

describe.skipIf(skipPodman)(`podman → ${basename(RUNTIME)}`, () => {
  it('run --rm returns the exit code: 0, 3, and 137 when the init is SIGKILLed', async () => {
    ready(podmanMissing);
    const ok = await podman('run', '--rm', IMAGE, '/bin/true');
    expectExit(ok, 0);
    const three = await podman('run', '--rm', IMAGE, 'sh', '-c', 'echo out-3; exit 3');
    expectExit(three, 3);
    expect(three.stdout).toBe('out-3\n');
    // `sh -c 'kill -9 $$'` cannot do it: the workload is pid 1 of its pid namespace, and the
    // kernel drops signals, SIGKILL too, sent to a namespace's init from inside it (sh goes
    // on and exits 0). The kill has to come from outside, as `podman kill` does.
    const killed = await killedRun(
      () => podman('run', '--rm', '--name', 'p-killed', IMAGE, 'sleep', '1000'),
      async () => (await podman('inspect', '-f', '{{.State.Status}}', 'p-killed')).stdout.trim() === 'running',
      () => podman('kill', '-s', 'KILL', 'p-killed'),
    ).finally(() => podman('rm', '-f', '-t', '0', '--ignore', 'p-killed'));
    expectExit(killed, 137);
  }, 180_000);

  it('run -d, exec (output, exit code, 137 for a SIGKILLed exec), stop, rm', async () => {
    ready(podmanMissing);
    try {
      const d = await podman('run', '-d', '--name', 'p-detached', IMAGE, 'sleep', '1000');
      expectExit(d, 0);
      expect(d.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
      const ex = await podman('exec', 'p-detached', 'sh', '-c', "echo exec-out; tr '\\0' ' ' < /proc/1/cmdline; exit 4");
      expectExit(ex, 4);
      expect(ex.stdout).toBe('exec-out\nsleep 1000 ');
      // an exec'd process is not its namespace's init: its own SIGKILL does kill it
      expectExit(await podman('exec', 'p-detached', 'sh', '-c', 'kill -9 $$'), 137);
      const stop = await podman('stop', '-t', '1', 'p-detached');
      expectExit(stop, 0);
      expect((await podman('inspect', '-f', '{{.State.ExitCode}}', 'p-detached')).stdout.trim()).toBe('137');
      expectExit(await podman('rm', 'p-detached'), 0);
    } finally {
      await podman('rm', '-f', '-t', '0', '--ignore', 'p-detached'); // a failure here leaves nothing for the next test
    }
  }, 180_000);

  it('run -t gives the workload a terminal', async () => {
    ready(podmanMissing);
    const t = await inTty('podman.sh', ['run', '--rm', '-t', IMAGE, 'sh', '-c', 'tty; exit 5']);
    expectExit(t, 5);
    expect(t.stdout).toMatch(/^\/dev\/pts\/\d+\r*\n/);
  }, 120_000);

  it('run --user 1000:1000 (an image\'s USER): the container runs as that user, with no capability, and exec joins as it', async () => {
    ready(podmanMissing);
    try {
      const d = await podman('run', '-d', '--user', '1000:1000', '--name', 'p-user', IMAGE, 'sleep', '1000');
      expectExit(d, 0);
      const ex = await podman('exec', 'p-user', 'sh', '-c', 'echo "$(id -u):$(id -g)"; grep CapEff /proc/self/status');
      expectExit(ex, 0);
      expect(ex.stdout).toBe('1000:1000\nCapEff:\t0000000000000000\n');
      const init = await podman('exec', 'p-user', 'sh', '-c', "grep -E '^(Uid|CapEff)' /proc/1/status");
      expect(init.stdout).toBe('Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n');
    } finally {
      await podman('rm', '-f', '-t', '0', '--ignore', 'p-user');
    }
  }, 180_000);

  // podman --userns=auto and --uidmap send linux.uidMappings of one line from 0; podman's vfs
  // driver copies the image chowned to the map's host ids. bvisor, given a range (bound over
  // /etc/subuid and /etc/subgid in a private mount namespace, with /run its own there for the
  // claims), maps that block to ids of its range, so an image's entrypoint switches users (su,
  // gosu) as under runc; without a range, su fails (EINVAL: one id mapped).
  it('run --uidmap 0:300000:1000 (a user namespace of 1000 ids), bvisor with a range: the container switches users, and its files are those ids', async () => {
    ready(podmanMissing);
    if (!existsSync('/etc/subuid') || !existsSync('/etc/subgid')) return skipOrFail('subid-files', '/etc/subuid or /etc/subgid is missing (the test binds its own range over them)');
    const range = join(engineDir, 'bvisor-range');
    writeFileSync(range, 'bvisor:100000:70000\n');
    const script = 'echo www:x:101:101::/tmp:/bin/sh >> /etc/passwd; echo www:x:101: >> /etc/group; echo "map=$(cat /proc/self/uid_map)"; su -s /bin/sh www -c \'echo "as=$(id -u):$(id -g)"; touch /tmp/made\'; echo "owner=$(stat -c %u:%g /tmp/made)"; echo "init=$(grep ^Uid: /proc/1/status)"';
    const inRange = `mount --bind ${range} /etc/subuid && mount --bind ${range} /etc/subgid && mount -t tmpfs -o mode=0755 bvisor-test-run /run || exit 99; exec bash ${join(HERE, 'podman.sh')} ${RUNTIME} run --rm --uidmap 0:300000:1000 --gidmap 0:300000:1000 ${IMAGE} sh -c '${script.replace(/'/g, "'\\''")}'`;
    const r = await run('unshare', ['-m', '--propagation', 'private', 'bash', '-c', inRange]);
    expectExit(r, 0);
    const said = (k: string): string | undefined => r.stdout.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
    // user_namespaces(7): "inside outside count".
    const [inside, outside, count] = said('map')!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([0, 1000]);
    // bvisor maps the block to ids of its own range, not the config's 300000 (runc and crun would).
    if (basename(RUNTIME).includes('run.js') || basename(RUNTIME) === 'bvisor') {
      expect(outside).toBeGreaterThan(100_000);
      expect(outside! + 1000).toBeLessThanOrEqual(170_000);
    }
    expect(said('as')).toBe('101:101');
    expect(said('owner')).toBe('101:101');
    expect(said('init')).toBe('Uid:\t0\t0\t0\t0');
  }, 180_000);

  it('a runtime error reaches the user (--log JSON) with the exit code of a missing command', async () => {
    ready(podmanMissing);
    const r = await podman('run', '--rm', IMAGE, '/nonexistent');
    expectExit(r, 127);
    expect(r.stderr).toContain('/nonexistent');
    expect(r.stderr).not.toContain('unable to retrieve OCI runtime error');
  }, 120_000);
});

// ---- containerd ----

describe.skipIf(skipCtr)(`containerd (ctr) → ${basename(RUNTIME)}`, () => {
  it('run --rm returns the exit code and the output: 0, 3, 137 when the init is SIGKILLed', async () => {
    ready(ctrMissing);
    expectExit(await ctr('run', '--rm', IMAGE, 'c-true', '/bin/true'), 0);
    const three = await ctr('run', '--rm', IMAGE, 'c-three', 'sh', '-c', 'echo out-3; exit 3');
    expectExit(three, 3);
    expect(three.stdout).toBe('out-3\n');
    const killed = await killedRun(
      () => ctr('run', '--rm', IMAGE, 'c-killed', 'sleep', '1000'),
      async () => / RUNNING/.test((await ctr('task', 'ls')).stdout.split('\n').find((l) => l.startsWith('c-killed ')) ?? ''),
      () => ctr('task', 'kill', '-s', 'KILL', 'c-killed'),
    ).finally(() => ctrForget('c-killed'));
    expectExit(killed, 137);
  }, 180_000);

  it('run -d, task exec, task kill, task rm, container rm', async () => {
    ready(ctrMissing);
    try {
      expectExit(await ctr('run', '-d', IMAGE, 'c-detached', 'sleep', '1000'), 0);
      const ex = await ctr('task', 'exec', '--exec-id', 'e1', 'c-detached', 'sh', '-c', "echo exec-out; tr '\\0' ' ' < /proc/1/cmdline; exit 4");
      expectExit(ex, 4);
      expect(ex.stdout).toBe('exec-out\nsleep 1000 ');
      expectExit(await ctr('task', 'kill', '-s', 'KILL', 'c-detached'), 0);
      await until('the task to stop', async () => / STOPPED/.test((await ctr('task', 'ls')).stdout.split('\n').find((l) => l.startsWith('c-detached ')) ?? ''));
      expectExit(await ctr('task', 'rm', 'c-detached'), 0);
      expectExit(await ctr('container', 'rm', 'c-detached'), 0);
      expect((await ctr('container', 'ls', '-q')).stdout).not.toContain('c-detached');
    } finally {
      await ctrForget('c-detached');
    }
  }, 180_000);

  it('run -t gives the workload a terminal', async () => {
    ready(ctrMissing);
    const t = await inTty('ctr.sh', ['run', '--rm', '-t', IMAGE, 'c-tty', 'sh', '-c', 'tty; exit 5']);
    expectExit(t, 5);
    expect(t.stdout).toMatch(/\/dev\/pts\/\d+\r*\n/);
  }, 120_000);

  it('a runtime error reaches the user (--log JSON)', async () => {
    ready(ctrMissing);
    const r = await ctr('run', '--rm', IMAGE, 'c-missing', '/nonexistent');
    expect(r.code, show(r)).not.toBe(0);
    expect(r.stderr).toMatch(/OCI runtime create failed: .*\/nonexistent/);
    await ctrForget('c-missing');
  }, 120_000);

  // Why the scenarios above use the native snapshotter with bvisor (CTR_SNAPSHOTTER): with
  // containerd's default overlayfs snapshots, bvisor refuses create before anything runs, and
  // the user must see that refusal (its cause and the way out) through containerd, not a bare
  // "unknown" or "unable to retrieve OCI runtime error"; and a refused create leaves nothing.
  if (!IS_BVISOR) console.warn(`SKIP overlayfs refusal: only bvisor refuses overlay snapshots; the runtime here is ${basename(RUNTIME)}`);
  (IS_BVISOR ? it : it.skip)(IS_BVISOR ? 'with overlayfs snapshots, bvisor refuses create; ctr shows why and the hint, nothing is leaked' : `overlayfs refusal: SKIPPED (only bvisor refuses overlay snapshots; the runtime here is ${basename(RUNTIME)})`, async () => {
    ready(ctrMissing);
    const id = 'c-overlay';
    const before = tempNames();
    try {
      const r = await ctrOverlay('run', '--rm', IMAGE, id, '/bin/true');
      expect(r.code, show(r)).not.toBe(0);
      expect(r.stdout, show(r)).toBe('');
      // the --log JSON error line, as the shim reports it: the refused field, the cause...
      // (soft: a wrong message still fails the test, and the leak checks below still run)
      expect.soft(r.stderr, show(r)).toMatch(/OCI runtime create failed: root: rootfs is owned by 0:0 and writable in the config, and this filesystem cannot be idmapped \(an overlay snapshot cannot\)/);
      // ...and what to do about it (the refusal's hint)
      expect.soft(r.stderr, show(r)).toContain('containerd: --snapshotter native');
      expect(r.stderr).not.toContain('unable to retrieve OCI runtime error');
      expect(await ctrLeftovers(id, 'overlayfs'), 'left in containerd').toEqual([]);
      // the shim's bundle dir (with its overlay mount point) and the runtime's state, under
      // containerd's private /run = ENGINE_DIR/run
      await checkLeaks([id], [join(engineDir, 'containerd/state/io.containerd.runtime.v2.task'), join(engineDir, 'run/containerd')], before);
    } finally {
      await ctrForget(id);
    }
  }, 120_000);
});

// ---- many at once, nothing leaked ----

describe(`20 containers in parallel → ${basename(RUNTIME)}, nothing leaked`, () => {
  const N = 20;

  (skipPodman ? it.skip : it)(skipPodman ? `podman: SKIPPED (${podmanMissing})` : 'podman run --rm × 20', async () => {
    ready(podmanMissing);
    const before = tempNames();
    const cid = (i: number) => join(engineDir, `par-${i}.cid`);
    const results = await Promise.all(Array.from({ length: N }, (_, i) => podman('run', '--rm', '--cidfile', cid(i), IMAGE, 'sh', '-c', `echo par-${i}`)));
    results.forEach((r, i) => {
      expectExit(r, 0);
      expect(r.stdout).toBe(`par-${i}\n`);
    });
    const ids = Array.from({ length: N }, (_, i) => readFileSync(cid(i), 'utf8').trim());
    const root = podmanStateRoot();
    if (!root) console.warn(`engines.e2e: no known default state root for ${RUNTIME}: not checking its state dirs`);
    await checkLeaks(ids, root ? [root] : [], before);
  }, 300_000);

  (skipCtr ? it.skip : it)(skipCtr ? `containerd: SKIPPED (${ctrMissing})` : 'ctr run --rm × 20', async () => {
    ready(ctrMissing);
    const before = tempNames();
    const ids = Array.from({ length: N }, (_, i) => `c-par-${i}`);
    const results = await Promise.all(ids.map((id) => ctr('run', '--rm', IMAGE, id, 'sh', '-c', `echo ${id}`)));
    results.forEach((r, i) => {
      expectExit(r, 0);
      expect(r.stdout).toBe(`${ids[i]}\n`);
    });
    // the shim's runtime root (--root), in containerd's private /run = ENGINE_DIR/run
    await checkLeaks(ids, [join(engineDir, 'run/containerd/runc/default')], before);
  }, 300_000);
});

if (skipPodman) it.skip(`podman scenarios SKIPPED: ${podmanMissing}`, () => {});
if (skipCtr) it.skip(`containerd scenarios SKIPPED: ${ctrMissing}`, () => {});
