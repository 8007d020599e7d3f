// Landlock below the newest ABI, without lying (issue 14 item 3; the table is docs/landlock.md).
// For every ABI N from 1 to 7 that the running kernel has, the workload is planned and launched
// for real with host facts whose landlock ABI is N, so the launcher builds a ruleset that
// handles only what ABI N knows (buildRuleset: handledFs(N), no net below 4, no scopes below 6).
// The probe attacks each gap a lower ABI leaves: truncate (3), refer (2), ioctl on devices (5),
// TCP ports (4), scopes (6); the oracles are the errnos the kernel gives the probe (the values
// the man pages and the kernel's landlock documentation give), the host disk, listeners and a
// process this test owns. Each covering mechanism has a red twin: switched off (a test-only
// hook), the gap shows at that ABI for the expected reason (the truncate works and the file on
// disk is empty; the link is made; the listener is reached; the signal arrives), and the rows
// after it show which layer is left.
import { writeFileSync, readFileSync, chmodSync, mkdirSync, statSync, openSync, closeSync, readSync, constants, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facts, PROBE } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { BIN } from '../helpers/cli.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';
import type { HostFacts, LaunchInputs } from '../../src/contract/generated/types.js';

/** errno values (asm-generic/errno-base.h, errno.h). */
const E = { PERM: 1, NOENT: 2, SRCH: 3, EIO: 5, ACCES: 13, XDEV: 18, NOTTY: 25, ROFS: 30, CONNREFUSED: 111 } as const;
/** ioctl requests: linux/random.h (_IOR('R', 0, int), _IOW('R', 1, int)), asm-generic/ioctls.h. */
const IOCTL = { RNDGETENTCNT: '0x80045200', RNDADDTOENTCNT: '0x40045201', TCGETS: '0x5401' } as const;
/** signal(7): SIGURG's default action is to ignore it, so sending it to a process group is harmless. */
const SIGURG = 23;

const REAL_ABI = facts().landlock.abi;
const ABIS = [1, 2, 3, 4, 5, 6, 7];

/** The real host's facts with landlock ABI `abi`: the planner and the launcher see only that. */
function hostAt(abi: number): HostFacts {
  const h = structuredClone(facts());
  h.landlock = { abi, error: null };
  return h;
}

interface Opts {
  filesystem?: string[];
  /** YAML appended to the manifest. */
  extra?: string;
  stdin?: string;
  hooks?: LaunchHooks;
  fds?: number[];
}

/** A bundle whose workload is `bvprobe try OPS`. */
function bundle(ops: string[][], o: Opts): string {
  const dir = tempDir('bvisor-llabi-');
  chmodSync(dir, 0o755);
  const args = ['try', ...ops.flatMap((op, i) => (i ? [',', ...op] : op))];
  const fs = [`  - { path: ${PROBE}, access: read-exec }`, ...(o.filesystem ?? [])];
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(args)} }\nfilesystem:\n${fs.join('\n')}\nstdio: { stdin: ${o.stdin ?? 'null'}, stdout: capture, stderr: capture }\n${o.extra ?? ''}`);
  return dir;
}

/** Plans and runs the probe on host facts `host`; the errno of each operation (0: it worked). */
async function tryAt(host: HostFacts, ops: string[][], o: Opts = {}): Promise<number[]> {
  const out = await runLoaded(loadBundle(bundle(ops, o)), { id: null, root: null, cgroupParent: null, secretEnv: {}, host, fds: o.fds ?? [], ...(o.hooks ? { hooks: o.hooks } : {}) });
  const text = out.stdout?.toString().trim() ?? '';
  try {
    return JSON.parse(text) as number[];
  } catch {
    throw new Error(`probe printed ${JSON.stringify(text)} (status ${out.exitStatus}) ${out.stderr?.toString() ?? ''}`);
  }
}

/** The plan's refusals as `clause:code`, or [] when it runs. */
async function refusals(host: HostFacts, o: Opts): Promise<string[]> {
  try {
    await tryAt(host, [['exit']], o);
    return [];
  } catch (e) {
    const err = e as { code?: string; issues?: Array<{ clause: string; code: string }> };
    if (err.code !== 'BV_PLAN_REFUSED') throw e;
    return (err.issues ?? []).map((i) => `${i.clause}:${i.code}`);
  }
}

// Test-only layers off (the red twins).
const mutate = (...fns: Array<(l: LaunchInputs) => void>): ((l: LaunchInputs) => void) => (l) => fns.forEach((f) => f(l));
/** Every bind writable: the read-only mount is gone. */
const rwBinds = (l: LaunchInputs): void => l.layout.forEach((e) => e.kind === 'bind' && e.options && (e.options = e.options.map((x) => (x === 'ro' ? 'rw' : x))));
/** Device files in binds usable: `nodev` is gone. */
const devBinds = (l: LaunchInputs): void => l.layout.forEach((e) => e.kind === 'bind' && e.options && (e.options = e.options.filter((x) => x !== 'nodev')));
/** The host's root instead of one built from the grants. */
const hostRoot = (l: LaunchInputs): void => void (l.layout = []);
/** The host's network namespace. */
const hostNet = (l: LaunchInputs): void => void (l.namespaces = l.namespaces.filter((n) => n !== 'net'));
/** The host's pid namespace (then no fresh /proc can be mounted, so none is). */
const hostPid = (l: LaunchInputs): void => {
  const proc = (t: string): boolean => t === '/proc' || t.startsWith('/proc/');
  l.namespaces = l.namespaces.filter((n) => n !== 'pid');
  l.layout = l.layout.filter((e) => !proc(e.target));
  l.filesystem = l.filesystem.filter((r) => !proc(r.target));
};
/** The workload as host uid 0: the caller's own uid, as rootless bvisor runs it. */
const asCaller = (l: LaunchInputs): void => void (l.identity = { uid: 0, gid: 0, source: 'test: the caller’s uid' });

/**
 * ro: root's directory, read-only grant, with a world-writable file (the boundary must stop
 * writes, not the mode bits); rw, rw2: world-writable (not sticky: renames need no ownership),
 * read-write grants; secret: outside every grant, world-writable.
 */
function dirs(): { ro: string; rw: string; rw2: string; secret: string; grants: string[] } {
  const base = tempDir('bvisor-llabi-fs-');
  chmodSync(base, 0o755);
  const [ro, rw, rw2] = ['ro', 'rw', 'rw2'].map((n) => join(base, n)) as [string, string, string];
  mkdirSync(ro);
  chmodSync(ro, 0o755);
  for (const d of [rw, rw2, join(rw, 'a'), join(rw, 'b')]) {
    mkdirSync(d);
    chmodSync(d, 0o777);
  }
  const put = (p: string, text: string): void => {
    writeFileSync(p, text);
    chmodSync(p, 0o666);
  };
  put(join(ro, 'f'), 'read-only');
  put(join(rw, 'a', 'g'), 'g');
  put(join(rw, 'h'), 'h');
  put(join(rw, 'k'), 'k');
  const secret = join(base, 'secret');
  put(secret, 'secret');
  return { ro, rw, rw2, secret, grants: [`  - { path: ${ro}, access: read }`, `  - { path: ${rw}, access: read-write }`, `  - { path: ${rw2}, access: read-write }`] };
}

let tcp: Server[] = [];
let ports: number[] = [];
let accepted = 0;
beforeAll(async () => {
  tcp = [createServer((s) => (accepted++, s.destroy())), createServer((s) => (accepted++, s.destroy()))];
  for (const s of tcp) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  ports = tcp.map((s) => (s.address() as { port: number }).port);
});
afterAll(() => {
  for (const s of tcp) s.close();
});

/** Connections our listeners accepted since `before`, waiting briefly when some are expected. */
async function reached(before: number, expect: number): Promise<number> {
  for (let i = 0; accepted - before < expect && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
  return accepted - before;
}

/** A free TCP port on 127.0.0.1 (bound and released by this test). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** An abstract unix listener on the host (unix(7): a name starting with a NUL byte). */
async function abstractListener(): Promise<{ name: string; count: () => number; close: () => void }> {
  const name = `bvisor-llabi-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let n = 0;
  const s = createServer((c) => (n++, c.destroy()));
  await new Promise<void>((r) => s.listen(`\0${name}`, r));
  return { name, count: () => n, close: () => s.close() };
}

/** A pseudo-terminal pair (pty(7)) made through libc: the master, and the slave's descriptor;
 * null where this system has no pseudo-terminals (no devpts at /dev/pts). */
function openPty(): { master: number; slave: number } | null {
  const koffi = require('koffi') as typeof import('koffi', { with: { 'resolution-mode': 'require' } });
  const libc = koffi.load('libc.so.6');
  const posixOpenpt = libc.func('int posix_openpt(int)');
  const grantpt = libc.func('int grantpt(int)');
  const unlockpt = libc.func('int unlockpt(int)');
  const ptsname = libc.func('const char *ptsname(int)');
  const master = posixOpenpt(constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK) as number;
  if (master < 0) return null;
  if (grantpt(master) !== 0 || unlockpt(master) !== 0) throw new Error('grantpt/unlockpt failed');
  const slave = openSync(ptsname(master) as string, constants.O_RDWR | constants.O_NOCTTY);
  return { master, slave };
}

/** What the master side of a pty can read now ('' when nothing). */
function drain(master: number): string {
  const buf = Buffer.alloc(256);
  try {
    const n = readSync(master, buf, 0, buf.length, null);
    return buf.subarray(0, n).toString();
  } catch (e) {
    if ((e as { code?: string }).code === 'EAGAIN') return '';
    throw e;
  }
}

/** Rows of [hooks, expected errnos] for the same operations: the full boundary first, then layers off. */
async function layers(h: () => HostFacts, ops: string[][], o: Opts, rows: Array<[LaunchHooks | null, number[], (() => void)?]>): Promise<void> {
  for (const [hooks, want, after] of rows) {
    expect(await tryAt(h(), ops, { ...o, ...(hooks ? { hooks } : {}) }), hooks ? `with ${Object.keys(hooks).join('+')}` : 'the full boundary').toEqual(want);
    after?.();
  }
}

for (const abi of ABIS) {
  describe(`landlock ABI ${abi} (live, on a kernel with ABI ${REAL_ABI})`, () => {
    // Never above the running kernel: a ruleset for rights it does not know is EINVAL.
    const run = abi <= REAL_ABI ? it : it.skip;
    if (abi > REAL_ABI) it(`ABI ${abi} is above this kernel's`, () => skipOrFail(`landlock-abi-${abi}`, `this kernel has landlock ABI ${REAL_ABI}`));
    const host = (): HostFacts => hostAt(abi);
    const below = (n: number): boolean => abi < n;

    run('filesystem basics: outside the grants nothing exists, read grants are read-only, write grants work (the mounts, at every ABI)', async () => {
      const d = dirs();
      const ops = [['open', d.secret, 'r'], ['open', join(d.ro, 'f'), 'w'], ['mkdir', join(d.ro, 'new')], ['open', join(d.rw, 'made'), 'c']];
      await layers(host, ops, { filesystem: d.grants }, [
        [null, [E.NOENT, E.ROFS, E.ROFS, 0]],
        [{ noLandlock: true }, [E.NOENT, E.ROFS, E.ROFS, 0]], // the mounts alone keep it
        [{ mutateLaunch: hostRoot }, [E.ACCES, E.ACCES, E.ACCES, 0]], // landlock alone keeps it too (every ABI handles these)
        [{ mutateLaunch: hostRoot, noLandlock: true }, [0, 0, E.ACCES, 0]], // twin: the secret is read, the read-only file opened for writing
      ]);
      expect(readFileSync(join(d.ro, 'f'), 'utf8')).toBe('read-only');
    });

    run(`truncate in the workload's root: ${below(3) ? 'EPERM from seccomp (landlock < 3 cannot), then EROFS on a read grant, ENOENT outside' : 'EROFS on a read grant, ENOENT outside, then landlock TRUNCATE'}`, async () => {
      const d = dirs();
      const f = join(d.ro, 'f');
      const emptied = (): void => {
        expect(readFileSync(f, 'utf8'), 'the read-only file on disk').toBe('');
        writeFileSync(f, 'read-only');
      };
      const intact = (): void => expect(readFileSync(f, 'utf8')).toBe('read-only');
      // truncate(2) of a file under a read grant: the read-only bind refuses (vfs_truncate asks
      // for write access to the mount before any permission or LSM check). Below ABI 3 seccomp
      // refuses truncate(2) before the kernel looks at the path at all: EPERM everywhere.
      await layers(host, [['truncate', f]], { filesystem: d.grants }, [
        [null, [below(3) ? E.PERM : E.ROFS], intact],
        [{ noSeccomp: true }, [E.ROFS], intact],
        [{ mutateLaunch: rwBinds }, [below(3) ? E.PERM : E.ACCES], intact],
        [{ mutateLaunch: rwBinds, noSeccomp: true }, [below(3) ? 0 : E.ACCES], below(3) ? emptied : intact], // twin: below ABI 3 landlock lets it through
        [{ mutateLaunch: rwBinds, noSeccomp: true, noLandlock: true }, [0], emptied],
      ]);
      const outside = (): void => expect(readFileSync(d.secret, 'utf8')).toBe('secret');
      await layers(host, [['truncate', d.secret]], { filesystem: d.grants }, [
        [null, [below(3) ? E.PERM : E.NOENT], outside],
        [{ noSeccomp: true }, [E.NOENT], outside],
        [{ mutateLaunch: hostRoot }, [below(3) ? E.PERM : E.ACCES], outside],
        [{ mutateLaunch: hostRoot, noSeccomp: true }, [below(3) ? 0 : E.ACCES], () => expect(readFileSync(d.secret, 'utf8')).toBe(below(3) ? '' : 'secret')],
      ]);
    });

    run(`truncate through /proc/self/fd of a file handed open (stdin): ${below(3) ? 'EPERM from seccomp (landlock < 3 cannot)' : 'EACCES from landlock TRUNCATE'}; writing it is EACCES at every ABI`, async () => {
      const d = dirs();
      // The stdin file lies under the read grant: through the magic link it is the host's path
      // on the host's (writable) mount, and landlock gives READ_FILE there.
      const input = join(d.ro, 'input');
      const reset = (): void => {
        writeFileSync(input, 'input');
        chmodSync(input, 0o666);
      };
      reset();
      const o: Opts = { filesystem: d.grants, stdin: `{ file: ${input} }` };
      const kept = (): void => expect(readFileSync(input, 'utf8')).toBe('input');
      const cut = (): void => {
        expect(readFileSync(input, 'utf8'), 'the stdin file on disk').toBe('');
        reset();
      };
      for (const op of [['truncate', '/proc/self/fd/0'], ['open', '/proc/self/fd/0', 'rt']]) {
        await layers(host, [op], o, [
          [null, [below(3) ? E.PERM : E.ACCES], kept],
          // Twin: below ABI 3 only seccomp stood between the workload and the file.
          [{ noSeccomp: true }, [below(3) ? 0 : E.ACCES], below(3) ? cut : kept],
          [{ noSeccomp: true, noLandlock: true }, [0], cut],
        ]);
      }
      // Writing needs WRITE_FILE, which every ABI handles.
      await layers(host, [['open', '/proc/self/fd/0', 'w']], o, [
        [null, [E.ACCES]],
        [{ noLandlock: true }, [0]],
      ]);
      // A file outside every grant: no READ_FILE through the link either.
      const far = d.secret;
      await layers(host, [['truncate', '/proc/self/fd/0'], ['open', '/proc/self/fd/0', 'rt']], { filesystem: d.grants, stdin: `{ file: ${far} }` }, [
        [null, [below(3) ? E.PERM : E.ACCES, below(3) ? E.PERM : E.ACCES]],
        [{ noSeccomp: true }, [below(3) ? 0 : E.ACCES, E.ACCES], () => expect(readFileSync(far, 'utf8')).toBe(below(3) ? '' : 'secret')],
      ]);
    });

    run(`refer: a rename or link across grants is EXDEV (separate mounts); ${abi === 1 ? 'ABI 1 refuses every reparenting, even inside one grant' : 'REFER lets a file move inside one grant'}`, async () => {
      const ops = (d: ReturnType<typeof dirs>): string[][] => [
        ['rename', join(d.rw, 'a', 'g'), join(d.rw, 'b', 'g')], // inside one read-write grant
        ['link', join(d.ro, 'f'), join(d.rw, 'l')], // a read-only file into a writable grant
        ['rename', join(d.rw, 'h'), join(d.rw2, 'h')], // across read-write grants
        ['link', join(d.rw, 'k'), join(d.rw2, 'k')],
      ];
      const row = async (hooks: LaunchHooks | null, want: number[]): Promise<ReturnType<typeof dirs>> => {
        const d = dirs();
        expect(await tryAt(host(), ops(d), { filesystem: d.grants, ...(hooks ? { hooks } : {}) }), JSON.stringify(hooks && Object.keys(hooks))).toEqual(want);
        return d;
      };
      const one = abi === 1;
      const full = await row(null, [one ? E.XDEV : 0, E.XDEV, E.XDEV, E.XDEV]);
      expect(statSync(join(full.ro, 'f')).nlink).toBe(1);
      // Without the mounts, landlock alone: ABI 1 denies every reparenting (EXDEV); from ABI 2
      // REFER is needed on both sides, and the read grant has none (EXDEV), while the two
      // read-write grants have the same rights, so the file may move between them.
      const ll = await row({ mutateLaunch: hostRoot }, one ? [E.XDEV, E.XDEV, E.XDEV, E.XDEV] : [0, E.XDEV, 0, 0]);
      expect(statSync(join(ll.ro, 'f')).nlink).toBe(1);
      // Twin: neither layer; the read-only file now has a name in a writable grant.
      const none = await row({ mutateLaunch: hostRoot, noLandlock: true }, [0, 0, 0, 0]);
      expect(statSync(join(none.ro, 'f')).nlink).toBe(2);
    });

    run(`ioctl on devices: only the minimal /dev exists, binds are nodev; ${below(5) ? 'landlock < 5 cannot restrict ioctl, nodev is what stops a device in a grant' : 'landlock IOCTL_DEV is the layer under nodev'}`, async () => {
      const d = dirs();
      const node = join(d.rw, 'random');
      const mk = spawnSync('mknod', ['-m', '666', node, 'c', '1', '8']); // devices.txt: 1,8 is /dev/random
      if (mk.status !== 0) return skipOrFail('mknod', `mknod ${node} c 1 8: ${mk.stderr?.toString() ?? mk.error}`);
      const ops = [
        ['ioctl', '/dev/random', IOCTL.RNDGETENTCNT], // random(4): reads the entropy count, allowed to all
        ['ioctl', '/dev/random', IOCTL.RNDADDTOENTCNT], // random(4): requires CAP_SYS_ADMIN (of the initial user namespace)
        ['ioctl', '/dev/null', IOCTL.TCGETS], // ioctl(2): ENOTTY, not a terminal
        ['ioctl', '/dev/tty', IOCTL.TCGETS], // no terminal node unless stdin is inherited
        ['ioctl', node, IOCTL.RNDGETENTCNT], // a device node inside a grant: open(2) EACCES on a nodev mount
      ];
      await layers(host, ops, { filesystem: d.grants }, [
        [null, [0, E.PERM, E.NOTTY, E.NOENT, E.ACCES]],
        // Twin: with nodev gone the node in the grant is a device again: below ABI 5 its ioctls
        // work; from 5 landlock refuses them (the grant's rule has no IOCTL_DEV).
        [{ mutateLaunch: devBinds }, [0, E.PERM, E.NOTTY, E.NOENT, below(5) ? 0 : E.ACCES]],
        [{ mutateLaunch: devBinds, noLandlock: true }, [0, E.PERM, E.NOTTY, E.NOENT, 0]],
      ]);
    });

    run('ioctl on a terminal handed to the workload: TIOCSTI is EPERM from seccomp at every ABI (landlock never covers an inherited descriptor)', async () => {
      const pty = openPty();
      if (!pty) return skipOrFail('pty', 'posix_openpt(3) failed: no pseudo-terminals here (is devpts mounted at /dev/pts?)');
      const { master, slave } = pty;
      try {
        // The workload starts its own session (stdin is not inherited) and takes the terminal as
        // its controlling one (TIOCSCTTY, tty_ioctl(4)); then TIOCSTI would push input into it.
        const o: Opts = { extra: `fds: [${slave}]\n`, fds: [slave] };
        // TIOCSETD (ioctl_tty(2)) would replace its line discipline (with N_TTY, 0, here: harmless),
        // TIOCEXCL make it refuse new opens (undone by TIOCNXCL, 0x540d, which stays allowed).
        const ops = [['sctty', '3'], ['sti', '3'], ['fdioctl', '3', String(0x5423)], ['fdioctl', '3', String(0x540c)], ['fdioctl', '3', String(0x540d)]];
        expect(await tryAt(host(), ops, o)).toEqual([0, E.PERM, E.PERM, E.PERM, 0]);
        expect(drain(master)).toBe('');
        // Twin: without the filter the byte is injected (the master reads its echo).
        expect(await tryAt(host(), ops, { ...o, hooks: { noSeccomp: true } })).toEqual([0, 0, 0, 0, 0]);
        expect(drain(master)).toBe('#');
      } finally {
        closeSync(slave);
        closeSync(master);
      }
    });

    run(`TCP ports: ${below(4) ? 'refused (landlock < 4 has no port rules); red twin: a ruleset of this ABI reaches any port' : 'connect and bind only to the listed ports (EACCES otherwise)'}`, async () => {
      const bindOk = await freePort();
      const bindNo = await freePort();
      const extra = `network: { connect: [${ports[0]}], bind: [${bindOk}] }\n`;
      const ops = [['connect', '127.0.0.1', String(ports[0])], ['connect', '127.0.0.1', String(ports[1])], ['bind', '127.0.0.1', String(bindOk)], ['bind', '127.0.0.1', String(bindNo)]];
      if (below(4)) {
        expect(await refusals(host(), { extra })).toEqual(['network:BV_PLAN_LANDLOCK_ABI_TOO_OLD']);
        // Twin: planned where ports can be restricted, then launched with a ruleset of this ABI.
        // The kernel takes no port rule into a ruleset that handles no network access (EINVAL:
        // the launch fails closed); without them, every port is reachable and bindable.
        if (REAL_ABI < 4) return skipOrFail('landlock-abi-4', `the twin plans at ABI 4, this kernel has ${REAL_ABI}`);
        const atThisAbi = (l: LaunchInputs): void => void (l.landlockAbi = abi);
        await expect(tryAt(hostAt(REAL_ABI), ops, { extra, hooks: { mutateLaunch: atThisAbi } })).rejects.toMatchObject({ code: 'BV_LAUNCH_SPAWN', message: expect.stringMatching(/landlock_add_rule\(port \d+\): EINVAL/) });
        const before = accepted;
        const noPortRules = (l: LaunchInputs): void => void (atThisAbi(l), (l.network.connect = []), (l.network.bind = []));
        expect(await tryAt(hostAt(REAL_ABI), ops, { extra, hooks: { mutateLaunch: noPortRules } })).toEqual([0, 0, 0, 0]);
        expect(await reached(before, 2)).toBe(2);
        return;
      }
      let before = accepted;
      expect(await tryAt(host(), ops, { extra })).toEqual([0, E.ACCES, 0, E.ACCES]);
      expect(await reached(before, 1)).toBe(1);
      before = accepted;
      expect(await tryAt(host(), ops, { extra, hooks: { noLandlock: true } })).toEqual([0, 0, 0, 0]);
      expect(await reached(before, 2)).toBe(2);
    });

    run(`TCP ports share the host's network namespace: its abstract unix sockets are ${below(4) ? '(refused below ABI 4)' : below(6) ? 'out of reach because seccomp denies unix sockets (EPERM)' : 'out of reach by the landlock scope (EPERM)'}`, async () => {
      if (below(4)) return; // network ports are refused here (the test above)
      const l = await abstractListener();
      try {
        const extra = `network: { connect: [${ports[0]}] }\n`;
        expect(await tryAt(host(), [['abstract', l.name, 'full']], { extra })).toEqual([E.PERM]);
        expect(l.count()).toBe(0);
        // Twin: without the covering layer the host's listener is reached.
        expect(await tryAt(host(), [['abstract', l.name, 'full']], { extra, hooks: below(6) ? { noSeccomp: true } : { noLandlock: true } })).toEqual([0]);
        for (let i = 0; l.count() === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
        expect(l.count()).toBe(1);
      } finally {
        l.close();
      }
    });

    run(`signals to a host process: ESRCH (pid namespace) with and without isolate; ${below(6) ? 'red twin: in the host pid namespace the signal arrives' : 'landlock scopes them even in the host pid namespace'}`, async () => {
      const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        const ops = [['kill', String(victim.pid), '0']];
        expect(await tryAt(host(), ops)).toEqual([E.SRCH]);
        const iso = 'isolate: { signals: true }\n';
        expect(await tryAt(host(), ops, { extra: iso })).toEqual([E.SRCH]);
        // Twin: in our pid namespace, as our own uid (kill(2) as another uid is EPERM anyway).
        const out = { mutateLaunch: mutate(hostPid, asCaller) };
        expect(await tryAt(host(), ops, { extra: iso, hooks: out })).toEqual([below(6) ? 0 : E.PERM]);
        expect(await tryAt(host(), ops, { extra: iso, hooks: { ...out, noLandlock: true } })).toEqual([0]);
        expect(victim.exitCode).toBeNull();
      } finally {
        victim.kill('SIGKILL');
      }
    });

    run(`stdin: inherit keeps the caller's process group, where kill(0, …) reaches past the pid namespace: ${below(6) ? 'the mapped uid stops it (rootful); rootless it is refused' : 'landlock scopes it'}`, async () => {
      let got = 0;
      const onUrg = (): void => void got++;
      process.on('SIGURG', onUrg);
      try {
        const ops = [['kill', '0', String(SIGURG)]];
        const arrived = async (hooks?: LaunchHooks): Promise<number> => {
          const before = got;
          expect(await tryAt(host(), ops, { stdin: 'inherit', ...(hooks ? { hooks } : {}) })).toEqual([0]); // the workload itself is in the group
          await new Promise((r) => setTimeout(r, 50));
          return got - before;
        };
        expect(await arrived(), 'rootful: the workload runs as 65534').toBe(0);
        // As the caller's own uid (rootless): below ABI 6 nothing stops it (the planner refuses
        // that case, below), from 6 the scope does.
        expect(await arrived({ mutateLaunch: asCaller }), 'as the caller’s uid').toBe(below(6) ? 1 : 0);
        if (!below(6)) expect(await arrived({ mutateLaunch: asCaller, noLandlock: true }), 'twin: scope off').toBe(1);
        // With stdin: null the workload leads its own session: kill(0) stays in it.
        const before = got;
        expect(await tryAt(host(), ops, { hooks: { mutateLaunch: asCaller } })).toEqual([0]);
        await new Promise((r) => setTimeout(r, 50));
        expect(got - before).toBe(0);
        // The planner, rootless (the workload would run as the caller's uid):
        const rootless = host();
        rootless.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
        rootless.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
        rootless.capabilities = { effective: '0000000000000000', names: [] };
        const r = await refusals(rootless, { stdin: 'inherit' });
        expect(r.filter((x) => x.startsWith('stdio:'))).toEqual(below(6) ? ['stdio:BV_PLAN_LANDLOCK_ABI_TOO_OLD'] : []);
      } finally {
        process.off('SIGURG', onUrg);
      }
    });

    run(`abstract unix sockets of the host: ECONNREFUSED in the workload's network namespace, with and without isolate; ${below(6) ? 'red twin: in the host namespace the listener is reached' : 'landlock scopes them even in the host namespace'}`, async () => {
      const l = await abstractListener();
      try {
        const ops = [['abstract', l.name, 'full']];
        expect(await tryAt(host(), ops)).toEqual([E.CONNREFUSED]); // unix(7): nobody listens on that name in this namespace
        const iso = 'isolate: { abstractUnix: true }\n';
        expect(await tryAt(host(), ops, { extra: iso })).toEqual([E.CONNREFUSED]);
        expect(l.count()).toBe(0);
        expect(await tryAt(host(), ops, { extra: iso, hooks: { mutateLaunch: hostNet } })).toEqual([below(6) ? 0 : E.PERM]);
        expect(await tryAt(host(), ops, { extra: iso, hooks: { mutateLaunch: hostNet, noLandlock: true } })).toEqual([0]);
        for (let i = 0; l.count() < (below(6) ? 2 : 1) && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
        expect(l.count()).toBe(below(6) ? 2 : 1);
      } finally {
        l.close();
      }
    });
  });
}

describe('an inherited terminal (stdin: inherit) under a real pseudo-terminal, through the CLI (live, at this kernel’s ABI)', () => {
  it('TIOCSTI on fd 0 is EPERM inside; the same probe outside the boundary injects (the kernel’s own answer)', () => {
    if (spawnSync('script', ['--version']).error) return skipOrFail('util-linux', 'script(1) is missing');
    if (!existsSync(join(BIN, '..', '..', 'dist', 'index.js'))) return skipOrFail('build', 'dist/ is not built (npm run build)');
    const d = tempDir('bvisor-llabi-tty-');
    chmodSync(d, 0o755);
    writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [try, sti, "0"] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\nstdio: { stdin: inherit, stdout: inherit, stderr: inherit }\n`);
    const underTty = (cmd: string): number | null => {
      const out = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
      const m = /\[(\d+)\]/.exec(out.stdout);
      if (!m && /pseudo-terminal/.test(out.stdout + out.stderr)) return null;
      if (!m) throw new Error(`no probe output under script: ${out.stdout} ${out.stderr}`);
      return Number(m[1]);
    };
    if (underTty('echo "[0]"') === null) return skipOrFail('pty', 'script(1) cannot create a pseudo-terminal here (is devpts mounted at /dev/pts?)');
    const root = tempDir('bvisor-llabi-root-');
    expect(underTty(`"${process.execPath}" "${BIN}" --root "${root}" run tty-${process.pid} -b "${d}"`)).toBe(E.PERM);
    // tty_ioctl(4): TIOCSTI on one's controlling terminal needs no privilege (Linux ≥ 6.2 may
    // turn it off with dev.tty.legacy_tiocsti=0: EIO).
    const legacy = existsSync('/proc/sys/dev/tty/legacy_tiocsti') ? readFileSync('/proc/sys/dev/tty/legacy_tiocsti', 'utf8').trim() : '1';
    expect(underTty(`"${PROBE}" try sti 0`)).toBe(legacy === '0' ? E.EIO : 0);
  });
});
