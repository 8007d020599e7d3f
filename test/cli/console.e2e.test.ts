// The OCI console contract (runc's docs/terminals.md), through the real CLI: with
// process.terminal the runtime makes a pty from the container's own devpts, sends its master
// over --console-socket (SCM_RIGHTS) and makes the peer the init's controlling terminal and
// stdio. The oracle is test/helpers/minicon.c, the part of conmon that matters here, built from
// source by this test: it receives the master, reads the window size the kernel keeps on it,
// copies what the terminal says, and reaps the init (its child subreaper, as conmon is).
// `exec -t -d --console-socket` gets the same, for a process joining a running container.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, BIN, ROOT } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { skipOrFail } from '../helpers/require.js';

const BUSYBOX = '/bin/busybox';
let minicon = '';

let built = '';
beforeAll(() => {
  // Its own directory: tempDir's are removed after each test, and this serves the whole file.
  built = mkdtempSync(join(tmpdir(), 'bvisor-minicon-'));
  minicon = join(built, 'minicon');
  const cc = spawnSync('cc', ['-O1', '-Wall', '-Werror', '-o', minicon, join(ROOT, 'test', 'helpers', 'minicon.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc minicon.c: ${cc.stderr}`);
});
afterAll(() => rmSync(built, { recursive: true, force: true }));

/** An OCI bundle: a busybox rootfs, /proc, a /dev tmpfs and a devpts at /dev/pts. */
function ociBundle(process: Record<string, unknown>): string {
  const dir = tempDir('bvisor-oci-tty-');
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'rootfs', 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'rootfs', 'bin', 'busybox'));
  chmodSync(join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(dir, 'rootfs', 'bin', 'sh'));
  const config = {
    ociVersion: '1.0.2',
    process: { user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], cwd: '/', noNewPrivileges: true, ...process },
    root: { path: 'rootfs' },
    hostname: 'tty',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }] },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** minicon around two bvisor commands: what it printed, and what the terminal said. */
function underMinicon(first: string[], second: string[]): { lines: string[]; tty: string; status: number | null; stderr: string } {
  const d = tempDir('bvisor-console-');
  const sock = join(d, 's.sock');
  const out = join(d, 'tty');
  const pidFile = join(d, 'pid');
  const sub = (a: string[]): string[] => a.map((x) => x.replace('@SOCK', sock).replace('@PID', pidFile));
  const parent = defaultTestParent();
  const r = spawnSync(minicon, [sock, pidFile, out, process.execPath, BIN, ...sub(first), '--', ...sub(second)], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...(parent === null ? {} : { BVISOR_CGROUP_PARENT: parent }) } });
  if (r.error) throw r.error;
  return { lines: r.stdout.trim().split('\n'), tty: existsSync(out) ? readFileSync(out, 'utf8') : '', status: r.status, stderr: r.stderr };
}

/** The CLI with no stdio of ours: an OCI container's init inherits create's (as the engine
 * wants), so a captured pipe would stay open as long as the init lives. */
function quiet(args: string[]): number | null {
  const parent = defaultTestParent();
  return spawnSync(process.execPath, [BIN, ...args], { stdio: 'ignore', timeout: 60_000, env: { ...process.env, ...(parent === null ? {} : { BVISOR_CGROUP_PARENT: parent }) } }).status;
}

describe('--console-socket (e2e)', () => {
  it('create: the init\'s terminal is /dev/pts/0 of the container\'s devpts, sized by process.consoleSize; its master reaches the socket and its exit the engine', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = ociBundle({ terminal: true, consoleSize: { height: 33, width: 101 }, args: ['sh', '-c', 'tty; stty size; exit 5'] });
    const r = underMinicon(['create', '--root', root, '-b', b, '--console-socket', '@SOCK', '--pid-file', '@PID', 'tty1'], [process.execPath, BIN, 'start', '--root', root, 'tty1']);
    expect(r.lines, r.stderr).toEqual(['received /dev/ptmx', 'winsize 33 101', 'exit 5']);
    // A terminal's line discipline turns \n into \r\n: this went through a pty, not a pipe.
    expect(r.tty).toBe('/dev/pts/0\r\n33 101\r\n');
  });

  it('process.user 1000:1000: the init\'s pty is that user\'s, from the devpts it mounted as the one id inside', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = ociBundle({ terminal: true, user: { uid: 1000, gid: 1000 }, args: ['sh', '-c', 'tty; stat -c %u:%g $(tty); id -u; exit 5'] });
    const r = underMinicon(['create', '--root', root, '-b', b, '--console-socket', '@SOCK', '--pid-file', '@PID', 'tty5'], [process.execPath, BIN, 'start', '--root', root, 'tty5']);
    expect(r.lines, r.stderr).toEqual(['received /dev/ptmx', 'winsize 0 0', 'exit 5']);
    expect(r.tty).toBe('/dev/pts/0\r\n1000:1000\r\n1000\r\n');
  });

  it('exec -d with a terminal (--tty, or a process JSON\'s terminal and consoleSize): a process joining the container gets its own pty from the same devpts', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = ociBundle({ args: ['sh', '-c', 'sleep 60'] });
    // An OCI init's stdio is create's own (the engine's pipes): run it with none to hold.
    expect(quiet(['create', '--root', root, '-b', b, 'tty2'])).toBe(0);
    expect(quiet(['start', '--root', root, 'tty2'])).toBe(0);
    // --tty: no size is given (runc's engines resize through the master later): 0 x 0.
    const r = underMinicon(['exec', '--root', root, '-t', '-d', '--console-socket', '@SOCK', '--pid-file', '@PID', 'tty2', 'sh', '-c', 'tty; exit 6'], ['true']);
    expect(r.lines, r.stderr).toEqual(['received /dev/ptmx', 'winsize 0 0', 'exit 6']);
    expect(r.tty).toBe('/dev/pts/0\r\n');
    const p = join(tempDir(), 'process.json');
    writeFileSync(p, JSON.stringify({ terminal: true, consoleSize: { height: 12, width: 34 }, user: { uid: 0, gid: 0 }, args: ['sh', '-c', 'tty; stty size; exit 7'], env: ['PATH=/bin'], cwd: '/' }));
    const q = underMinicon(['exec', '--root', root, '--process', p, '-d', '--console-socket', '@SOCK', '--pid-file', '@PID', 'tty2'], ['true']);
    expect(q.lines, q.stderr).toEqual(['received /dev/ptmx', 'winsize 12 34', 'exit 7']);
    // The init holds no terminal; /dev/pts/0 was freed when the first exec ended.
    expect(q.tty).toBe('/dev/pts/0\r\n12 34\r\n');
  });

  it('a console socket whose listener never accepts (its backlog full) fails exec within seconds, BV_CONSOLE_SOCKET, and leaves the container to kill and delete', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    expect(quiet(['create', '--root', root, '-b', ociBundle({ args: ['sh', '-c', 'sleep 60'] }), 'tty4'])).toBe(0);
    expect(quiet(['start', '--root', root, 'tty4'])).toBe(0);
    // listen(2) with a backlog of 0 and one connection queued: the next connect(2) waits (unix(7)).
    const sock = join(tempDir(), 'full.sock');
    const holder = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)\nc=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])\nprint("ready", flush=True); time.sleep(120)', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        holder.once('exit', () => reject(new Error('the listener ended')));
      });
      const t0 = Date.now();
      const r = cli(['exec', '--root', root, '-t', '-d', '--console-socket', sock, 'tty4', 'sh', '-c', 'exit 0']);
      const took = Date.now() - t0;
      expect([r.status, r.stderr]).toEqual([125, expect.stringContaining(`connect to the console socket \`${sock}\`: EAGAIN (its listener did not accept within 5 s)`)]);
      expect(took).toBeLessThan(20_000);
      // The container's lock is free again: kill and delete -f act at once.
      expect(cli(['kill', '--root', root, 'tty4', 'KILL']).status).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
    expect(cli(['delete', '-f', '--root', root, 'tty4']).status).toBe(0);
  });

  it('refuses a terminal without a console socket, a console socket without a terminal, and a socket nobody listens on (BV_CONSOLE_SOCKET)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const tty = ociBundle({ terminal: true, args: ['sh', '-c', 'exit 0'] });
    const plain = ociBundle({ args: ['sh', '-c', 'exit 0'] });
    const none = cli(['create', '--root', root, '-b', tty, 'c1']);
    expect([none.status, none.stderr]).toEqual([4, expect.stringContaining('process.terminal is true but no --console-socket was given')]);
    // run has no --console-socket flag: its hint does not send the user to one.
    const run = cli(['run', '--root', root, '-b', tty, 'r1', '--json']);
    expect(run.status).toBe(125);
    expect(run.json().error).toMatchObject({ code: 'BV_CONSOLE_SOCKET', hint: "set process.terminal to false (a run relays the process's stdio), or use create --console-socket PATH and start, as engines do" });
    const missing = join(tempDir(), 'nobody.sock');
    const gone = cli(['create', '--root', root, '-b', tty, '--console-socket', missing, 'c2']);
    expect([gone.status, gone.stderr]).toEqual([4, expect.stringContaining(`\`${missing}\`: ENOENT`)]);
    const extra = cli(['create', '--root', root, '-b', plain, '--console-socket', missing, 'c3', '--json']);
    expect(extra.json().error.code).toBe('BV_CONSOLE_SOCKET');
    // Nothing was left behind by the refusals.
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([]);
  });
});
