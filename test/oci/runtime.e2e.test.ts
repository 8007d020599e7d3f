// An OCI bundle (config.json + busybox rootfs) driven through bin/ as engines drive runc: the
// init belongs to the caller's subreaper (test/oci/subreaper.c plays conmon), refusals carry
// JSON paths, and the extra verbs (features, ps, pause/resume, events) read the kernel's view.
// Oracles: the subreaper's own waitpid status, /proc/<pid>/status, cgroup.events, the disk.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdtempSync, openSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, BVISOR, ROOT, cli, cliEnv } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { until } from '../helpers/wait.js';
import { cgroupDirs, defaultTestParent, testCgroupParent } from '../helpers/cgroups.js';
import { containerdBundle } from '../helpers/oci-bundle.js';

const BUSYBOX = '/bin/busybox';
let work = '';
let subreaper = '';

beforeAll(() => {
  // Not tempDir(): that one goes after each test, and the subreaper serves several (afterAll removes it).
  work = mkdtempSync(join(tmpdir(), 'bvisor-oci-'));
  chmodSync(work, 0o755);
  subreaper = join(work, 'subreaper');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', subreaper, join(__dirname, 'subreaper.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc subreaper.c: ${cc.stderr}`);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A bundle as containerd writes it (its real default config), running `args` in busybox. */
function ociBundle(args: string[], edit: (c: Record<string, any>) => void = () => {}): string {
  return containerdBundle(join(work, `b${Math.random().toString(36).slice(2, 8)}`), args, ['sh', 'sleep', 'cat', 'true'], edit);
}

/** Runs `bvisor create` under the subreaper and collects what it prints. */
function underSubreaper(root: string, id: string, bundle: string, pidFile: string): { proc: ChildProcess; lines: string[] } {
  const proc = spawn(subreaper, [process.execPath, BIN, '--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...(defaultTestParent() ? { BVISOR_CGROUP_PARENT: defaultTestParent()! } : {}) } });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { proc, lines };
}

const ppidOf = (pid: number): number => Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('OCI runtime (e2e)', () => {
  it('the init belongs to the caller\'s subreaper: it reparents there and its exit status is the subreaper\'s to collect', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = ociBundle(['sh', '-c', 'exit 3']);
    const pidFile = join(work, 'init.pid');
    const s = underSubreaper(root, 'oci-a', b, pidFile);
    try {
      await until('create to finish under the subreaper', () => s.lines.includes('created 0'), 30_000);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      // bvisor create has exited: the init is the subreaper's child now (not bvisor's monitor's).
      expect(ppidOf(pid)).toBe(s.proc.pid);
      expect(cli(['--root', root, 'state', 'oci-a']).json()).toMatchObject({ status: 'created', pid });
      expect(cli(['--root', root, 'start', 'oci-a']).status).toBe(0);
      await until('the subreaper to reap the init', () => s.lines.some((l) => l.startsWith(`reaped ${pid} `)), 30_000);
      expect(s.lines).toContain(`reaped ${pid} exit 3`);
      await until('the container to stop', () => cli(['--root', root, 'state', 'oci-a']).json().status === 'stopped', 10_000);
      expect(cli(['--root', root, 'delete', 'oci-a']).status).toBe(0);
      // The report says what bvisor saw: it ended, its status went to the engine.
      const journal = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(journal.at(-1).report.body.outcome).toMatchObject({ status: 'exited', reason: 'reaped-by-engine', exitCode: null });
      // And whose child the init was, as the kernel said at READY: the subreaper's.
      expect(journal.at(-1).report.body.reaper).toBe('engine');
      expect(journal.at(-1).report.body.evidence.find((e: { name: string }) => e.name === 'PPid')).toMatchObject({ value: String(s.proc.pid), ok: true });
    } finally {
      s.proc.kill('SIGKILL');
      cli(['--root', root, 'delete', '-f', 'oci-a']);
    }
  });

  // An attack: the engine gone between create and start (its init now init's, or another
  // subreaper's), start released the init anyway, and the report said reaped-by-engine.
  it('an engine gone before start: start refuses (exit 7), the init never runs, and delete -f removes it', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = ociBundle(['sh', '-c', 'exit 3']);
    const pidFile = join(work, 'gone.pid');
    const s = underSubreaper(root, 'oci-gone', b, pidFile);
    try {
      await until('create to finish under the subreaper', () => s.lines.includes('created 0'), 30_000);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      const exe = readlinkSync(`/proc/${pid}/exe`);
      s.proc.kill('SIGKILL');
      await until('the init to be reparented', () => ppidOf(pid) !== s.proc.pid, 10_000);
      const r = cli(['--root', root, 'start', 'oci-gone']);
      expect([r.status, r.stderr]).toEqual([7, expect.stringContaining(`BV_CONTAINER_STATE: cannot start container oci-gone: its init was handed to the engine that created it (pid ${s.proc.pid}), which is gone: the init's parent is now pid ${ppidOf(pid)}`)]);
      // The oracle: the init has not exec'd the workload (its executable is still what create left).
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(exe);
      expect(cli(['--root', root, 'delete', '-f', 'oci-gone']).status).toBe(0);
      await until('the init to be gone', () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'), 10_000);
    } finally {
      s.proc.kill('SIGKILL');
      cli(['--root', root, 'delete', '-f', 'oci-gone']);
    }
  });

  // A runc user's create from a shell (found by a new-user pass): no engine is there to reap
  // the init, which went to init(1) with its status, and the report said "reaped-by-engine".
  it('from a caller that is no subreaper (a shell, this test), the monitor keeps the init as its child, and the report has its exit status', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = ociBundle(['sh', '-c', 'exit 3']);
    try {
      // The init inherits create's stdio (the config's process.terminal is false), so a pipe
      // would stay open until it exits: a file, as a shell's redirection would be.
      const err = join(tempDir(), 'create.err');
      const fd = openSync(err, 'w');
      const c = spawnSync(process.execPath, [BIN, '--root', root, 'create', '--bundle', b, 'oci-shell'], { stdio: ['ignore', fd, fd], env: cliEnv(), timeout: 30_000 });
      closeSync(fd);
      expect(c.status, readFileSync(err, 'utf8')).toBe(0);
      const pid = cli(['--root', root, 'state', 'oci-shell']).json().pid as number;
      // The oracle: the init's parent, from /proc, is bvisor's monitor (red twin, the init always
      // handed over: its parent is whoever adopts orphans here, and the report below is
      // reaped-by-engine with no exit code).
      const monitor = ppidOf(pid);
      expect(readFileSync(`/proc/${monitor}/comm`, 'utf8').trim()).toBe('bvmonitor');
      expect(cli(['--root', root, 'start', 'oci-shell']).status).toBe(0);
      await until('the container to stop', () => cli(['--root', root, 'state', 'oci-shell']).json().status === 'stopped', 10_000);
      expect(cli(['--root', root, 'delete', 'oci-shell']).status).toBe(0);
      const journal = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(journal.at(-1).report.body.outcome).toMatchObject({ status: 'failed', reason: 'exit', exitCode: 3 });
      expect(journal.at(-1).report.body.reaper).toBe('monitor');
      expect(journal.at(-1).report.body.evidence.find((e: { name: string }) => e.name === 'PPid')).toMatchObject({ value: String(monitor), ok: true });
    } finally {
      cli(['--root', root, 'delete', '-f', 'oci-shell']);
    }
  });

  it('runs the config\'s process confined: seccomp, no_new_privs, its hostname, env and caps (probe: /proc inside)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = ociBundle(['sh', '-c', 'cat /proc/self/status; echo HOST=$(cat /proc/sys/kernel/hostname); echo ENV=$OCI_VAR; echo UMASK=$(umask)'], (c) => {
      c.hostname = 'oci-box';
      c.process.env.push('OCI_VAR=from-config');
      c.process.user.umask = 0o027;
      c.process.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
    });
    const r = cli(['--root', root, 'run', '--bundle', b, 'oci-run']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    // capabilities(7): CAP_KILL is bit 5 → 0x20; nothing else.
    expect(r.stdout).toMatch(/^CapEff:\s+0000000000000020$/m);
    expect(r.stdout).toContain('HOST=oci-box');
    expect(r.stdout).toContain('ENV=from-config');
    expect(r.stdout).toContain('UMASK=0027');
  });

  it('with podman\'s default seccomp profile, bvisor\'s own denials are still observed and listed; the profile\'s are its own (not listed)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const podman = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'podman-config.json'), 'utf8'));
    // mount: bvisor's default denylist (and podman's profile allows it only with CAP_SYS_ADMIN,
    // which this config lacks: bvisor's row comes first either way). A profile denial of its own:
    // uname, added to the profile as ERRNO (what busybox uname gets: EPERM, asm-generic/errno-base.h).
    const b = ociBundle(['sh', '-c', 'mount -t tmpfs none /tmp; uname; exit 0'], (c) => {
      c.linux.seccomp = JSON.parse(JSON.stringify(podman.linux.seccomp));
      c.linux.seccomp.syscalls.unshift({ names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    });
    for (const a of ['mount', 'uname']) symlinkSync('busybox', join(b, 'rootfs', 'bin', a));
    const r = cli(['--root', root, 'run', '--bundle', b, 'oci-podman-profile', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const d = r.json<{ body: { denials: { sources: { seccomp: { observed: boolean; how: string | null } }; items: Array<{ observedBy: string; syscall?: { name: string }; clause: string; errno: string | null }> } } }>().body.denials;
    expect(d.sources.seccomp.observed).toBe(true);
    const listed = d.items.filter((x) => x.observedBy === 'seccomp:user-notif');
    expect(listed.map((x) => [x.syscall?.name, x.clause, x.errno])).toEqual([['mount', 'syscalls', 'EPERM']]);
    expect(d.sources.seccomp.how).toMatch(/calls an OCI profile denies/);
  });

  it('a seccomp profile that denies sendmsg still launches (bvisor\'s listener needs sendmsg to be handed over, so it is not used), and the report says why seccomp denials were not observed', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = ociBundle(['true'], (c) => {
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'], syscalls: [{ names: ['sendmsg'], action: 'SCMP_ACT_ERRNO' }] };
    });
    const r = cli(['--root', root, 'run', '--bundle', b, 'oci-sendmsg', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const d = r.json<{ body: { denials: { sources: { seccomp: { observed: boolean; notObserved: string | null } } } } }>().body.denials;
    expect(d.sources.seccomp.observed).toBe(false);
    expect(d.sources.seccomp.notObserved).toContain('the OCI seccomp profile refuses sendmsg');
  });

  it('a boundary.yaml beside config.json narrows it: only its paths are reachable (the program\'s own view; twin without it)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const script = 'cat /etc/data >/dev/null 2>&1 && echo data-read || echo data-denied; ls /bin >/dev/null && echo bin-listed';
    const b = ociBundle(['sh', '-c', script]);
    writeFileSync(join(b, 'rootfs', 'etc', 'data'), 'inside the image\n');
    // The twin first: the config alone lets the container read its whole rootfs.
    const open = cli(['--root', root, 'run', '--bundle', b, 'nar-0']);
    expect(open.status, open.stderr).toBe(0);
    expect(open.stdout).toContain('data-read');
    writeFileSync(join(b, 'boundary.yaml'), 'filesystem:\n  - { path: /bin, access: read-exec }\n');
    const r = cli(['--root', root, 'run', '--bundle', b, 'nar-1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('data-denied');
    expect(r.stdout).toContain('bin-listed');
    // Where landlock's denials were not read, the report does not point at --explain, which does
    // not trace a container-mode run.
    const ll = cli(['--root', root, 'report', 'nar-1', '--json']).json().body.denials.sources.landlock;
    if (!ll.observed) expect(ll.notObserved).toMatch(/--explain does not trace a container-mode run/);
    expect(cli(['plan', b]).stdout).toMatch(/boundary\.yaml:filesystem\s+enforced\s+linux:landlock\(container paths\)/);
  });

  it('a boundary.yaml beside config.json: its refusals are located in it (plan, validate), the config\'s own clauses are not', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const b = ociBundle(['true']);
    writeFileSync(join(b, 'boundary.yaml'), '# narrows the config\nnetwork: host\nlimits: { cpu: 2s }\n');
    const file = join(b, 'boundary.yaml');
    const p = cli(['plan', b]);
    expect(p.status).toBe(3);
    const at = (i: { clause: string; file?: string; line?: number; col?: number }) => [i.clause, i.file, i.line, i.col];
    // Its own refusal (network: host widens the config) and the planner's of a clause it wrote
    // (limits.cpu: a process budget, and a container spawns): each at its value.
    expect(p.stderr).toContain(`  ${file}:2:10 boundary.yaml:network: host networking would widen`);
    expect(p.stderr).toContain(`  ${file}:3:16 limits.cpu: RLIMIT_CPU is per process`);
    // validate: both are refused on every host (limits.cpu as any process budget; the widening
    // by the files alone), located as plan locates them.
    const v = cli(['validate', b, '--json']);
    expect(v.status).toBe(5);
    expect(v.json().error.issues.map(at)).toEqual([['limits.cpu', file, 3, 16], ['boundary.yaml:network', file, 2, 10]]);
    // Without the narrowing file, a refusal of what config.json decides has no YAML line.
    rmSync(file);
    const c = ociBundle(['true'], (cfg) => (cfg.annotations = { 'org.bvisor.boundary': 'limits: { cpu: 2s }\n' }));
    const q = cli(['validate', c, '--json']);
    expect(q.status).toBe(5);
    expect(q.json().error.issues.map(at)).toEqual([['limits.cpu', null, null, null]]);
  });

  it('validate refuses what config.json asks that bvisor never gives (an unknown field, an ambient capability), as plan does', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const b = ociBundle(['true'], (c) => {
      c.process.termnal = false;
      c.process.capabilities.ambient = ['CAP_SYS_ADMIN']; // not in the config's effective set
    });
    const v = cli(['validate', b, '--json']);
    expect(v.status).toBe(5);
    expect(v.json().error.issues.map((i: { clause: string; code: string }) => [i.clause, i.code])).toEqual([['process.termnal', 'BV_OCI_UNKNOWN_FIELD'], ['process.capabilities.ambient', 'BV_OCI_UNSUPPORTED']]);
    expect(cli(['plan', b]).status).toBe(3);
    // The config as containerd writes it is valid.
    expect(cli(['validate', ociBundle(['true'])]).status).toBe(0);
    // A rootfs the bundle lacks (a relative root.path) is the bundle's on every host (a new-user
    // pass saw validate pass it and plan refuse it); an absolute one is a host path: plan's.
    const lacking = cli(['validate', ociBundle(['true'], (c) => void (c.root.path = 'nope')), '--json']);
    expect([lacking.status, lacking.json().error.issues.map((i: { clause: string; code: string }) => [i.clause, i.code])]).toEqual([5, [['root', 'BV_PLAN_PATH_MISSING']]]);
    expect(cli(['validate', ociBundle(['true'], (c) => void (c.root.path = join(work, 'no-such-rootfs')))]).status).toBe(0);
  });

  it('the org.bvisor.boundary annotation narrows too: a wall clock the config lacks ends the container (exit 124)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = ociBundle(['sleep', '30'], (c) => (c.annotations = { 'org.bvisor.boundary': 'limits: { wall: 1s }\n' }));
    const t0 = Date.now();
    const r = cli(['--root', root, 'run', '--bundle', b, 'ann-1']);
    expect(r.status).toBe(124);
    expect(Date.now() - t0).toBeLessThan(20_000);
    // Widening through the annotation is refused by its clause.
    const w = ociBundle(['true'], (c) => (c.annotations = { 'org.bvisor.boundary': 'network: host\n' }));
    const p = cli(['plan', w]);
    expect(p.status).toBe(3);
    expect(p.stderr).toContain('annotations.org.bvisor.boundary:network');
  });

  it('a boundary\'s limits.cpu and the config\'s RLIMIT_CPU make one rlimit, the smaller: the container starts and sees it', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    // Whole seconds and no descendants: limits.cpu is an RLIMIT_CPU too. Set after the config's
    // 100/100, its 1/1 would be fine; set before it, the config's would raise the hard limit,
    // which setrlimit(2) refuses (EPERM) without CAP_SYS_RESOURCE.
    const narrowed = (args: string[]): string => ociBundle(args, (c) => {
      c.process.rlimits = [...c.process.rlimits, { type: 'RLIMIT_CPU', soft: 100, hard: 100 }];
      c.annotations = { 'org.bvisor.boundary': 'spawn: threads\nlimits: { cpu: 1s, wall: 20s }\n' };
    });
    // The kernel's view from inside (getrlimit through the shell's ulimit).
    const seen = cli(['--root', root, 'run', '--bundle', narrowed(['sh', '-c', 'ulimit -St; ulimit -Ht']), 'cpu-1']);
    expect(seen.stderr).toBe('');
    expect(seen.status).toBe(0);
    expect(seen.stdout.trim().split('\n')).toEqual(['1', '1']);
    // And it holds: a busy loop is killed at the hard limit (setrlimit(2): SIGKILL), 128 + 9.
    const t0 = Date.now();
    const busy = cli(['--root', root, 'run', '--bundle', narrowed(['sh', '-c', 'while :; do :; done']), 'cpu-2']);
    expect(busy.status, busy.stderr).toBe(137);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('joins the engine\'s network namespace by path (the init\'s /proc/<pid>/ns/net is that file\'s nsfs inode); /sys is empty there', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    // A network namespace kept alive by a bind mount on a file, as `ip netns add` and CNI do.
    const nsFile = join(work, `netns-${process.pid}`);
    writeFileSync(nsFile, '');
    const made = spawnSync('unshare', [`--net=${nsFile}`, 'true'], { encoding: 'utf8' });
    if (made.status !== 0) return skipOrFail('util-linux', `unshare --net=FILE: ${made.stderr.trim()}`);
    try {
      const ino = statSync(nsFile).ino;
      const root = newRoot();
      const b = ociBundle(['sh', '-c', 'readlink /proc/self/ns/net; ls -A /sys | wc -l'], (c) => {
        for (const n of c.linux.namespaces) if (n.type === 'network') n.path = nsFile;
      });
      const r = cli(['--root', root, 'run', '--bundle', b, 'netns-1']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`net:[${ino}]`);
      expect(r.stdout.split('\n')[1]?.trim()).toBe('0');
      expect(cli(['plan', b]).stdout).toMatch(/^network\s+enforced\s+linux:setns\(net\) around clone3/m);
      // A path that is not there is refused before anything runs.
      const gone = ociBundle(['true'], (c) => {
        for (const n of c.linux.namespaces) if (n.type === 'network') n.path = `${nsFile}-missing`;
      });
      const p = cli(['plan', gone]);
      expect(p.status).toBe(3);
      expect(p.stderr).toContain(`linux.namespaces(network).path: ${nsFile}-missing does not exist`);
    } finally {
      spawnSync('umount', [nsFile]);
      rmSync(nsFile, { force: true });
    }
  });

  it('never adopts an existing cgroup: a second container naming the first one\'s leaf fails, and the first lives on', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const a = ociBundle(['sleep', '30']);
    const leaf = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).linux.cgroupsPath;
    const made = spawnSync(process.execPath, [BIN, '--root', root, 'create', '--bundle', a, '--pid-file', join(a, 'pid'), 'first'], { stdio: 'ignore', env: { ...process.env, ...(defaultTestParent() ? { BVISOR_CGROUP_PARENT: defaultTestParent()! } : {}) }, timeout: 30_000 });
    expect(made.status).toBe(0);
    try {
      const pid = Number(readFileSync(join(a, 'pid'), 'utf8'));
      const b = ociBundle(['true'], (c) => (c.linux.cgroupsPath = leaf));
      const r = cli(['--root', root, 'create', '--bundle', b, 'second']);
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/exists already: it is not this container's/);
      // The first container's init is untouched (the oracle: /proc), and still created.
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      expect(cli(['--root', root, 'state', 'first']).json()).toMatchObject({ status: 'created', pid });
      // Nor nests inside it (an attack: the second counted against the first's pids limit and died
      // by its kill --all): a parent that holds processes is someone's leaf.
      const inside = ociBundle(['true'], (c) => (c.linux.cgroupsPath = `${leaf}/sub`));
      const n = cli(['--root', root, 'create', '--bundle', inside, 'nested']);
      expect([n.status, n.stderr]).toEqual([4, expect.stringMatching(/above this container's, holds processes: it is another container's or a service's/)]);
      expect(cli(['--root', root, 'list', '--json']).json().map((c: { id: string }) => c.id)).toEqual(['first']);
      // No leaf was made inside the first's, in any hierarchy.
      expect(cgroupDirs().map((d) => join(leaf.startsWith('/') ? d.root : d.own, leaf, 'sub')).filter((d) => existsSync(d))).toEqual([]);
      expect(existsSync(`/proc/${pid}`)).toBe(true);
    } finally {
      cli(['--root', root, 'delete', '--force', 'first']);
    }
  });

  it('a network namespace path that is not a namespace (a FIFO) is refused at plan time, never opened', () => {
    const fifo = join(work, `fifo-${process.pid}`);
    spawnSync('mkfifo', [fifo]);
    try {
      const b = ociBundle(['true'], (c) => {
        for (const n of c.linux.namespaces) if (n.type === 'network') n.path = fifo;
      });
      const p = cli(['plan', b]);
      expect(p.status).toBe(3);
      expect(p.stderr).toContain(`${fifo} is not a namespace file (nsfs)`);
    } finally {
      rmSync(fifo, { force: true });
    }
  });

  it('refuses a config it cannot honour with the JSON path and a hint, before anything exists', () => {
    const root = newRoot();
    const b = ociBundle(['true'], (c) => {
      c.linux.namespaces[0] = { type: 'pid', path: '/proc/1/ns/pid' };
      c.linux.sysctl = { 'net.core.somaxconn': '1024' };
    });
    const r = cli(['--root', root, 'create', '--bundle', b, 'oci-refused']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('linux.namespaces[0].path: joining an existing pid namespace (/proc/1/ns/pid) is not supported');
    expect(r.stderr).toContain('linux.sysctl.net.core.somaxconn');
    expect(r.stderr).toMatch(/hint: /);
    expect(existsSync(join(root, 'containers', 'oci-refused'))).toBe(false);
    const p = cli(['plan', '--json', b]);
    expect(p.status).toBe(3);
    expect(p.json().refusals.map((x: { clause: string }) => x.clause)).toEqual(expect.arrayContaining(['linux.namespaces[0].path', 'linux.sysctl.net.core.somaxconn']));
  });

  it('a cwd through a magic link never reaches a descriptor bvisor held (runc CVE-2024-21626): /proc/self/fd/N, or a rootfs symlink to one, is refused at the chdir', () => {
    const root = newRoot();
    const cwdRun = (id: string, cwd: string, link?: string): ReturnType<typeof cli> => {
      const b = ociBundle(['/bin/sh', '-c', 'readlink /proc/self/cwd'], (c) => (c.process.cwd = cwd));
      if (link) symlinkSync(link, join(b, 'rootfs', cwd));
      return cli(['--root', root, 'run', id, '-b', b]);
    };
    const runs = Array.from({ length: 38 }, (_, i) => ({ n: i + 3, r: cwdRun(`cwd-${i + 3}`, `/proc/self/fd/${i + 3}`) }));
    // A workload that ran printed where it was: on the host's side of the root, through a
    // descriptor the child still held (the escape), or anywhere at all.
    expect(runs.filter(({ r }) => r.status !== 125 || r.stdout !== '').map(({ n, r }) => `fd ${n}: ${r.stdout.trim()}`)).toEqual([]);
    // ENOENT: no descriptor n in the child; ELOOP: one was there, and no magic link is followed.
    const errno = (r: ReturnType<typeof cli>): string | undefined => /at the chdir to the working directory [^:]*: ([A-Z]+)/.exec(r.stderr)?.[1];
    expect(new Set(runs.map(({ r }) => errno(r)))).toEqual(new Set(['ELOOP', 'ENOENT']));
    const held = runs.find(({ r }) => errno(r) === 'ELOOP')!.n;
    const link = cwdRun('cwd-link', '/l', `/proc/self/fd/${held}`);
    expect([link.status, link.stdout, errno(link)]).toEqual([125, '', 'ELOOP']);
  });

  it('a cgroupsPath outside the caller\'s --cgroup-parent is refused by its JSON path, and no cgroup is made there', () => {
    const root = newRoot();
    const away = `bvisor-escape-${process.pid}`;
    const b = ociBundle(['true'], (c) => (c.linux.cgroupsPath = `/${away}/ctr`));
    const r = cli(['--root', root, '--cgroup-parent', testCgroupParent(), 'run', 'cg-away', '-b', b, '--json']);
    expect(r.status).toBe(125);
    expect(r.json().error).toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ code: 'BV_PLAN_CGROUP_PARENT', clause: 'linux.cgroupsPath' })] });
    expect(readdirSync('/sys/fs/cgroup').filter((h) => existsSync(join('/sys/fs/cgroup', h, away)))).toEqual([]);
  });

  it('a root.path outside the bundle and the engines\' storage is refused, read-only too, and nothing is made in it', () => {
    const root = newRoot();
    // Another bundle's rootfs (busybox, runnable): outside this bundle. A launch would make the
    // mount point of the config's tmpfs at /made-by-bvisor there.
    const victim = join(ociBundle(['true']), 'rootfs');
    const before = readdirSync(victim).sort();
    const b = ociBundle(['true'], (c) => {
      c.root = { path: victim, readonly: true };
      c.mounts.push({ destination: '/made-by-bvisor', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
    });
    const r = cli(['--root', root, 'run', 'root-away', '-b', b, '--json']);
    expect(readdirSync(victim).sort()).toEqual(before);
    expect(r.status).toBe(125);
    expect(r.json().error).toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ code: 'BV_PLAN_ROOT_OUTSIDE', clause: 'root' })] });
  });

  it('the bundle itself as root.path, in any spelling, is refused; so is a writable bind of the bundle: the container would rewrite its own config', () => {
    const root = newRoot();
    const refusal = (b: string) => {
      const r = cli(['--root', root, 'plan', b, '--json']);
      const all = (r.json().error?.issues ?? r.json().refusals ?? []) as Array<{ code: string; clause: string; reason?: string; message?: string }>;
      return { status: r.status, issues: all.map((i) => `${i.clause} ${i.code}`), reasons: all.map((i) => i.reason ?? i.message ?? '').join('\n') };
    };
    for (const path of ['.', './', 'rootfs/..', 'rootfs/../..']) {
      expect(refusal(ociBundle(['true'], (c) => (c.root = { path, readonly: true }))), path).toMatchObject({ status: 3, issues: expect.arrayContaining(['root.path BV_OCI_INVALID']) });
    }
    // Spelled so it reads as a directory: its absolute path, a link to it.
    const abs = ociBundle(['true']);
    const c = JSON.parse(readFileSync(join(abs, 'config.json'), 'utf8'));
    c.root = { path: abs, readonly: true };
    writeFileSync(join(abs, 'config.json'), JSON.stringify(c));
    const itself = 'is the bundle directory, or holds it';
    expect(refusal(abs)).toMatchObject({ status: 3, issues: expect.arrayContaining(['root BV_PLAN_ROOT_OUTSIDE']), reasons: expect.stringContaining(itself) });
    const linked = ociBundle(['true'], (k) => (k.root = { path: 'self', readonly: true }));
    symlinkSync('.', join(linked, 'self'));
    expect(refusal(linked)).toMatchObject({ status: 3, issues: expect.arrayContaining(['root BV_PLAN_ROOT_OUTSIDE']), reasons: expect.stringContaining(itself) });
    // A writable bind of the bundle directory, or of its config.json, into the container (read-
    // only is its to read). Owned by the workload's own id, so that only this rule can refuse it.
    const bind = (source: (b: string) => string, options: string[]) => {
      const b = ociBundle(['true']);
      const k = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
      k.mounts.push({ destination: '/b', type: 'bind', source: source(b), options: ['bind', ...options] });
      writeFileSync(join(b, 'config.json'), JSON.stringify(k));
      chownSync(b, 65534, 65534);
      chownSync(join(b, 'config.json'), 65534, 65534);
      return b;
    };
    for (const source of [(b: string) => b, (b: string) => join(b, 'config.json')]) {
      expect(refusal(bind(source, ['rw']))).toEqual({ status: 3, issues: [expect.stringMatching(/^mounts\[\d+\] BV_PLAN_WRITE_OWNER$/)], reasons: expect.stringContaining('is the bundle directory, holds it, or is its config, and is writable') });
      expect(refusal(bind(source, ['ro'])).status).toBe(0);
    }
    // The bundle bound elsewhere (no name of it in the source's path): the same directory.
    const other = tempDir();
    const viaBind = bind(() => other, ['rw']);
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && exec "$3" --root "$4" plan "$1" --json', 'sh', viaBind, other, BVISOR, root], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toContain('is the bundle directory, holds it, or is its config, and is writable');
  });

  // runc reads `bind` as that mount alone and `rbind` as the whole tree; bvisor bound both as
  // trees until December. Oracle: what the container reads at the bind's target, with a tmpfs
  // mounted beneath the source (in a private mount namespace, so the host never sees it).
  describe('bind is that mount alone, rbind the whole tree', () => {
    let src = '';
    beforeEach(() => {
      // In work (removed after all): a tempDir is removed after each test, before the bundles.
      src = join(work, `src-${Math.random().toString(36).slice(2, 8)}`);
      mkdirSync(join(src, 'sub'), { recursive: true, mode: 0o755 });
      writeFileSync(join(src, 'top'), 'top\n');
      writeFileSync(join(src, 'sub', 'under'), 'covered\n');
    });
    const bundleWith = (options: string[]) => ociBundle(['sh', '-c', 'cat /data/top /data/sub/*'], (c) => c.mounts.push({ destination: '/data', type: 'bind', source: src, options }));
    /** `bvisor run` in a private mount namespace, with a tmpfs (holding `marker`) on src/sub or not. */
    const runIn = (bundle: string, submount: boolean) =>
      spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${submount ? 'mount -t tmpfs -o size=64k tmpfs "$1/sub" && echo mounted > "$1/sub/marker" && ' : ''}exec "$2" --root "$3" run -b "$4" "$5"`, 'sh', src, BVISOR, newRoot(), bundle, `bind-${Math.random().toString(36).slice(2, 8)}`], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });

    it('an rbind shows the mount beneath its source; a bind of a source with nothing mounted beneath works as before', () => {
      const r = runIn(bundleWith(['rbind', 'ro']), true);
      expect(r.stderr).toBe('');
      expect([r.status, r.stdout]).toEqual([0, 'top\nmounted\n']);
      const b = runIn(bundleWith(['bind', 'ro']), false);
      expect([b.status, b.stdout]).toEqual([0, 'top\ncovered\n']);
    });

    it('a bind of a source with a mount beneath it is refused by its JSON path before anything runs: no rbind (it would show the mount), no uncovering', () => {
      const bundle = bundleWith(['bind', 'ro']);
      const r = runIn(bundle, true);
      expect(r.stdout).toBe('');
      // run's own errors exit 125 (docs/exit-codes.md), as runc's do.
      expect(r.status, r.stderr).toBe(125);
      expect(r.stderr).toMatch(/BV_PLAN_REFUSED[^]*mounts\[\d+\]: a bind \(not rbind\) .*\[BV_PLAN_NON_RECURSIVE\]/);
      expect(r.stderr).toContain(`leaves out the mounts beneath it (${src}/sub)`);
    });

    it('the host-side copy a bind becomes holds that mount alone (open_tree without AT_RECURSIVE), an rbind\'s the mount beneath too (read through each copy\'s descriptor)', () => {
      const script = `
        import { execFileSync } from 'node:child_process';
        import { readdirSync } from 'node:fs';
        const { shim, O } = await import(${JSON.stringify(join(ROOT, 'dist', 'backends', 'linux', 'ffi', 'shim.js'))});
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', ${JSON.stringify(join(src, 'sub'))}]);
        execFileSync('sh', ['-c', 'echo mounted > "$1"', 'sh', ${JSON.stringify(join(src, 'sub', 'marker'))}]);
        const fd = shim().bv_open(${JSON.stringify(src)}, O.PATH | O.DIRECTORY, 0);
        for (const recursive of [0, 1]) {
          const tree = shim().bv_tree(fd, 0, -1, recursive);
          console.log(recursive, tree < 0 ? tree : readdirSync('/proc/self/fd/' + tree + '/sub').join(','));
        }
      `;
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, '--input-type=module', '-e', script], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('0 under\n1 marker\n');
    });

    it('rootful, a mount made beneath a bind\'s source after planning is refused at launch (BV_LAUNCH_CHANGED): the host-side clone would uncover what it hides', () => {
      const bundle = bundleWith(['bind', 'ro']);
      // Planned (loadBundle reads the paths) with nothing beneath, then the mount, then the launch.
      const script = `
        import { execFileSync } from 'node:child_process';
        const { loadBundle } = await import(${JSON.stringify(join(ROOT, 'dist', 'host', 'bundle.js'))});
        const { runLoaded } = await import(${JSON.stringify(join(ROOT, 'dist', 'app', 'run.js'))});
        const b = loadBundle(${JSON.stringify(bundle)});
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', ${JSON.stringify(join(src, 'sub'))}]);
        try {
          const out = await runLoaded(b, { id: null, root: null, cgroupParent: ${JSON.stringify(defaultTestParent())}, secretEnv: {} });
          console.log('RAN', out.exitCode);
        } catch (e) { console.log(e.code, e.message); }
      `;
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, '--input-type=module', '-e', script], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^BV_LAUNCH_CHANGED mounts\[\d+\]: mounts were made beneath \S+ since it was planned \(\S+\/sub\)/);
    });
  });

  it('names file:line:col when config.json is not JSON', () => {
    const b = ociBundle(['true']);
    writeFileSync(join(b, 'config.json'), '{\n  "ociVersion": "1.0.2",\n  "process": { args: [] }\n}\n');
    const r = cli(['plan', b]);
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/config\.json:3:\d+: not JSON/);
  });

  it('a config nested 20,000 levels deep (an attack: BV_INTERNAL, the stack overflowed) is refused by its path; one past the size bound is named config.json', () => {
    const b = ociBundle(['true']);
    const c = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
    const deep = JSON.stringify({ ...c, linux: { ...c.linux, seccomp: { defaultAction: 'SCMP_ACT_ALLOW', flags: '@DEEP@' } } }).replace('"@DEEP@"', `${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    writeFileSync(join(b, 'config.json'), deep);
    const r = cli(['plan', b]);
    expect([r.status, r.stderr]).toEqual([5, expect.stringMatching(/config\.json: linux\.seccomp\.flags(\[0\])+ nests deeper than \d+ levels/)]);
    writeFileSync(join(b, 'config.json'), JSON.stringify({ ...c, annotations: { pad: 'x'.repeat(2 ** 21) } }));
    const big = cli(['plan', b]);
    expect([big.status, big.stderr]).toEqual([5, expect.stringMatching(/config\.json is larger than \d+ bytes/)]);
    expect(big.stderr).toContain('BV_OCI_CONFIG_INVALID');
  });

  it('features prints the runtime-spec features document for this host', () => {
    const r = cli(['features']);
    expect(r.status).toBe(0);
    const f = r.json();
    expect(f).toMatchObject({ ociVersionMin: '1.0.0', ociVersionMax: '1.2.0' });
    expect(f.linux.namespaces).toEqual(expect.arrayContaining(['user', 'pid', 'mount', 'network', 'ipc', 'uts', 'cgroup']));
    expect(f.linux.seccomp.operators).toContain('SCMP_CMP_MASKED_EQ');
    expect(f.linux.seccomp.actions).not.toContain('SCMP_ACT_NOTIFY');
    expect(f.linux.capabilities).toContain('CAP_SYS_ADMIN');
    // The hooks bvisor runs, in the runtime namespace (createContainer and startContainer, run
    // inside the container, are refused).
    expect(f.hooks).toEqual(['prestart', 'createRuntime', 'poststart', 'poststop']);
  });

  it('ps, pause, resume and events act on the container\'s own cgroup (cgroup.events is the oracle)', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = ociBundle(['sleep', '30']);
    const pidFile = join(work, 'p2.pid');
    // The init inherits create's stdio (as under runc): a pipe would stay open as long as it lives.
    const c = spawnSync(process.execPath, [BIN, '--root', root, 'create', '--bundle', b, '--pid-file', pidFile, 'oci-p'], { stdio: 'ignore', env: { ...process.env, ...(defaultTestParent() ? { BVISOR_CGROUP_PARENT: defaultTestParent()! } : {}) }, timeout: 30_000 });
    expect(c.status).toBe(0);
    try {
      // Created, paused (runc pauses a created container too, and calls it paused): start waits
      // for the resume rather than release an init that could not exec.
      expect(cli(['--root', root, 'pause', 'oci-p']).status).toBe(0);
      expect(cli(['--root', root, 'state', 'oci-p']).json().status).toBe('paused');
      const early = cli(['--root', root, 'start', 'oci-p']);
      expect([early.status, early.stderr]).toEqual([7, expect.stringContaining('BV_CONTAINER_STATE: cannot start container oci-p: it is paused')]);
      expect(cli(['--root', root, 'resume', 'oci-p']).status).toBe(0);
      expect(cli(['--root', root, 'state', 'oci-p']).json().status).toBe('created');
      expect(cli(['--root', root, 'start', 'oci-p']).status).toBe(0);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      const ps = cli(['--root', root, 'ps', '--format', 'json', 'oci-p']);
      expect(ps.status, ps.stderr).toBe(0);
      expect(JSON.parse(ps.stdout)).toContain(pid);
      // The init's v2 cgroup, as the kernel names it (/proc/<pid>/cgroup "0::<path>").
      const v2 = /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1]!;
      const mnt = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')![4]!;
      const events = (): string => readFileSync(join(mnt, v2, 'cgroup.events'), 'utf8');
      expect(cli(['--root', root, 'pause', 'oci-p']).status).toBe(0);
      expect(events()).toMatch(/^frozen 1$/m);
      expect(cli(['--root', root, 'state', 'oci-p']).json().status).toBe('paused');
      // list says so too, as runc's does (a new-user pass saw it say running).
      expect(cli(['--root', root, 'list', '--json']).json()).toEqual([expect.objectContaining({ id: 'oci-p', status: 'paused' })]);
      expect(cli(['--root', root, 'pause', 'oci-p']).status).toBe(7);
      // exec into it is refused (as runc does): born into the frozen leaf, its setup would
      // freeze holding the container's lock, and resume and delete would wait for ever.
      const ex = cli(['--root', root, 'exec', 'oci-p', '/bin/true']);
      expect([ex.status, ex.stderr]).toEqual([125, expect.stringContaining('BV_CONTAINER_STATE: cannot exec into container oci-p: it is paused')]);
      expect(readFileSync(join(mnt, v2, 'cgroup.procs'), 'utf8').trim().split('\n')).toEqual([String(pid)]);
      expect(cli(['--root', root, 'resume', 'oci-p']).status).toBe(0);
      expect(events()).toMatch(/^frozen 0$/m);
      expect(cli(['--root', root, 'state', 'oci-p']).json().status).toBe('running');
      const ev = cli(['--root', root, 'events', '--stats', 'oci-p']);
      expect(ev.status, ev.stderr).toBe(0);
      const stats = JSON.parse(ev.stdout);
      expect(stats).toMatchObject({ type: 'stats', id: 'oci-p' });
      expect(stats.data.pids.current).toBeGreaterThanOrEqual(1);
      // update lowers a limit (the kernel's pids.max says so), and never raises or lifts one.
      const lower = join(work, 'lower.json');
      writeFileSync(lower, JSON.stringify({ pids: { limit: 100 } }));
      expect(cli(['--root', root, 'update', '--resources', lower, 'oci-p']).status).toBe(0);
      const pidsLeaf = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:pids:/.test(l))?.split(':')[2];
      if (pidsLeaf) expect(readFileSync(`/sys/fs/cgroup/pids${pidsLeaf}/pids.max`, 'utf8').trim()).toBe('100');
      writeFileSync(lower, JSON.stringify({ pids: { limit: -1 } }));
      const lift = cli(['--root', root, 'update', '--resources', lower, 'oci-p']);
      expect(lift.status).toBe(7);
      expect(lift.stderr).toContain('would raise container oci-p\'s pids limit above the');
      expect(cli(['--root', root, 'kill', 'oci-p', '9']).status).toBe(0);
    } finally {
      cli(['--root', root, 'delete', '-f', 'oci-p']);
    }
    expect(existsSync(join(root, 'containers', 'oci-p'))).toBe(false);
  });
});

