// The CLI's V8 start-up snapshot (issue 12 item 1; scripts/build-snapshot.mjs, bin/bvisor,
// src/cli/snapshot.ts). Oracles: what each entry prints and exits with (the snapshot must be
// indistinguishable from bin/run.js), and bin/bvisor's own --debug line saying which started.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BIN, BVISOR, ROOT, cliEnv } from '../helpers/cli.js';
import { packageCopy } from '../helpers/package-copy.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail, straceBin } from '../helpers/require.js';
import { descendants, hugepageAdvised, linkOrEmpty, thpMode, until } from '../helpers/wait.js';
import { COMMANDS } from '../../src/commands/index.js';
import { LIFECYCLE_COMMANDS } from '../../src/commands/lifecycle-index.js';
import { LAUNCH_COMMANDS } from '../../src/commands/launch-index.js';
import { GLOBAL_BOOL, GLOBAL_WITH_VALUE, hoistGlobals } from '../../src/cli/argv.js';

const BLOB = join(ROOT, 'dist', 'snapshot', 'bvisor.blob');
const built = existsSync(BLOB);
if (!built) skipOrFail('snapshot', `no ${BLOB} (npm run build makes it; esbuild is a development dependency)`);

// The blob bin/bvisor starts a command from (docs/startup.md, "three blobs"): the registries say.
const LIFECYCLE = new Set(Object.keys(LIFECYCLE_COMMANDS));
const LAUNCH = new Set(Object.keys(LAUNCH_COMMANDS));
const blobFor = (command: string): string => (LIFECYCLE.has(command) ? 'lifecycle.blob' : LAUNCH.has(command) ? 'launch.blob' : 'bvisor.blob');

/** The blob a start under --debug names: on stderr, or with `--log F` (F from cwd) in the log. */
function startedFrom(r: { stderr: string }, argv: readonly string[], cwd = ROOT): string | undefined {
  const at = argv.findIndex((a) => a === '--log' || a.startsWith('--log='));
  const log = at < 0 ? null : resolve(cwd, argv[at] === '--log' ? argv[at + 1]! : argv[at]!.slice('--log='.length));
  const said = r.stderr + (log !== null && existsSync(log) ? readFileSync(log, 'utf8') : '');
  return /started from the start-up snapshot (\S+\.blob)/.exec(said)?.[1];
}

const viaSnapshot = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(BVISOR, args, { cwd: ROOT, env: cliEnv(env), encoding: 'utf8', timeout: 60_000 });
const viaRunJs = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });

describe.skipIf(!built)('start-up snapshot', () => {
  it('bin/bvisor starts from it, and says so under --debug', () => {
    const r = viaSnapshot(['--debug', '--version']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('bvisor: debug: started from the start-up snapshot');
  });

  it("a SIGUSR1 in Node's own start (before bvisor's listener takes it) opens no inspector: the address bin/bvisor gives it is no host's", async () => {
    // Each try: bvisor's Node start (bash has exec'd node), then, a little later each time,
    // SIGUSR1 every few ms until it ends. Node says when its inspector fails to start; the oracle
    // is that message, and no "Debugger listening". A try whose first signal came before Node's
    // handler (its default kills) or after bvisor's listener shows neither.
    let hit = false;
    for (let i = 0; i < 10 && !hit; i++) {
      const p = spawn(BVISOR, ['--root', tempDir(), 'list'], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b));
      const ended = new Promise<void>((r) => p.on('close', () => r()));
      let done = false;
      void ended.then(() => (done = true));
      const t0 = Date.now();
      while (!done && !/node/.test(linkOrEmpty(`/proc/${p.pid}/exe`)) && Date.now() - t0 < 10_000) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 4 + 6 * i));
      while (!done) {
        try {
          process.kill(p.pid!, 'SIGUSR1');
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await ended;
      expect(stderr).not.toContain('Debugger listening');
      hit = stderr.includes('Starting inspector on 192.0.2.1:9229 failed: address not available');
    }
    expect(hit, 'no SIGUSR1 reached Node between its handler and bvisor\'s, in 10 tries').toBe(true);
  });

  it('with --log, says how it started in the log (with the command\'s own lines), not on stderr: from the snapshot, or not and why', () => {
    for (const env of [{}, { BVISOR_NO_SNAPSHOT: '1' }]) {
      const log = join(tempDir(), 'log.json');
      const r = viaSnapshot(['--debug', '--log', log, '--log-format', 'json', 'state', 'no-such-id'], env);
      expect(r.status, r.stderr).toBe(6);
      expect(r.stderr).not.toContain('start-up snapshot');
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
      const want = 'BVISOR_NO_SNAPSHOT' in env ? 'start-up snapshot not used: BVISOR_NO_SNAPSHOT is set' : 'started from the start-up snapshot lifecycle.blob';
      expect(lines[0], JSON.stringify(lines)).toMatchObject({ level: 'debug' });
      expect(lines[0]!.msg).toContain(want);
      expect(lines.at(-1)).toMatchObject({ level: 'error' });
    }
    // No command to take it (--version): said on stderr as bvisor exits.
    const log = join(tempDir(), 'log');
    const v = viaSnapshot(['--debug', '--log', log, '--version']);
    expect(v.stderr).toContain('bvisor: debug: started from the start-up snapshot bvisor.blob');
  });

  it('prints and exits exactly as bin/run.js does', () => {
    const root = tempDir();
    const bad = tempDir();
    writeFileSync(join(bad, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nnetwork: sometimes\n');
    const cases = [
      ['--version'],
      ['--help'],
      ['run', '--help'],
      ['validate', 'bundles/hello'],
      ['validate', bad],
      ['validate', '--json', bad],
      ['plan', '--json', 'bundles/hello'],
      ['plan', 'bundles/refused-wasm-network'],
      ['--root', root, 'state', 'nothing-here'],
      ['--root', root, 'list', '--json'],
      ['--root', root, 'journal', 'verify', '--json'],
      ['create', '--no-such-flag', 'x'],
      ['no-such-command'],
      ['--root', root, '--log-format', 'json', 'delete', '--force', 'unknown-id'],
    ];
    for (const args of cases) {
      const a = viaSnapshot(args);
      const b = viaRunJs(args);
      // (Node's warnings name the process: (node:PID))
      const same = (s: string): string => s.replace(/\(node:\d+\)/g, '(node:PID)');
      expect({ args, status: a.status, stdout: a.stdout, stderr: same(a.stderr) }).toEqual({ args, status: b.status, stdout: b.stdout, stderr: same(b.stderr) });
    }
  });

  // Three blobs (docs/startup.md): the lifecycle commands (src/commands/lifecycle-index.ts) start
  // from lifecycle.blob, which holds no bundle reader, planner or launcher; run, create and exec
  // (src/commands/launch-index.ts) from launch.blob, which holds none of the other commands;
  // every other command from bvisor.blob. bin/bvisor chooses by the command's name, the first
  // argument that is not a global flag. Oracles: the --debug line naming the blob, and the help
  // each command prints, against bin/run.js's (the registry there is the full one).
  it('lifecycle commands start from lifecycle.blob, run, create and exec from launch.blob, each printing its help as bin/run.js does; the others from bvisor.blob', () => {
    for (const blob of ['lifecycle.blob', 'launch.blob']) expect(existsSync(join(ROOT, 'dist', 'snapshot', blob)), `npm run build makes ${blob} with bvisor.blob`).toBe(true);
    const words = [...new Set(Object.keys(COMMANDS).map((id) => id.split(':')[0]!))];
    for (const word of words) {
      const r = viaSnapshot(['--debug', word, '--help']);
      expect({ word, status: r.status }).toEqual({ word, status: 0 });
      const blob = /started from the start-up snapshot (\S+\.blob)/.exec(r.stderr)?.[1];
      expect({ word, blob }).toEqual({ word, blob: blobFor(word) });
      if (blob === 'bvisor.blob') continue;
      const b = viaRunJs([word, '--help']);
      expect({ word, stdout: r.stdout }).toEqual({ word, stdout: b.stdout });
    }
  }, 120_000);

  // bin/bvisor's scan and src/cli/argv.ts's hoisting must agree on which argument is the
  // command: were the shell to take a switch for a flag with a value (or the reverse), it could
  // start a command from a blob that does not hold it. Every global flag argv.ts knows, in each
  // form, before a lifecycle command and before another; the expected blob is the one the
  // command hoistGlobals finds belongs to. (A trailing --debug makes the snapshot name its blob
  // and is after the command for both.)
  it("chooses the blob by the command src/cli/argv.ts finds, for every global flag it knows", () => {
    const cases: string[][] = [];
    for (const f of GLOBAL_WITH_VALUE) {
      cases.push([f, 'validate', 'state', 'x'], [f, 'state', 'validate', 'x'], [`${f}=state`, 'validate', 'x'], [`${f}=validate`, 'state', 'x'], [f, 'x', '--debug', 'kill', 'x']);
      cases.push([f, 'create', 'state', 'x'], [f, 'state', 'create', 'x'], [`${f}=run`, 'validate', 'x'], [`${f}=validate`, 'exec', 'x']);
    }
    for (const f of GLOBAL_BOOL) cases.push([f, 'state', 'x'], [f, 'validate', 'x'], [f, 'run', 'x'], ['--root', '/nonexistent', f, 'list']);
    for (const argv of cases) {
      // In a directory of its own: the flags' values name files and directories (--log, --root),
      // and the log a case names is read for its blob.
      const cwd = tempDir();
      const command = hoistGlobals(argv)[0]!;
      const r = spawnSync(BVISOR, [...argv, '--debug'], { cwd, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
      const blob = startedFrom(r, argv, cwd);
      expect({ argv, blob }).toEqual({ argv, blob: blobFor(command) });
    }
  }, 120_000);

  it('finds the command after global flags (as engines call runc), and takes bvisor.blob on any doubt', () => {
    const root = tempDir();
    const blobOf = (args: string[]): string | undefined => startedFrom(viaSnapshot(['--debug', ...args]), args);
    expect(blobOf(['--root', root, 'state', 'none'])).toBe('lifecycle.blob');
    expect(blobOf([`--root=${root}`, '--log-format', 'json', 'list'])).toBe('lifecycle.blob');
    expect(blobOf(['--root', root, '--log', join(root, 'log'), '--cgroup-parent', 'x', 'delete', '--force', 'none'])).toBe('lifecycle.blob');
    expect(blobOf(['--root', root, '--cgroup-parent', 'x', 'create', 'none'])).toBe('launch.blob');
    expect(blobOf([`--root=${root}`, 'exec', 'none', 'true'])).toBe('launch.blob');
    // A global flag's value that is a command's name is a value, not the command.
    expect(blobOf(['--root', 'state', 'validate', 'bundles/hello'])).toBe('bvisor.blob');
    expect(blobOf(['--root', 'run', 'validate', 'bundles/hello'])).toBe('bvisor.blob');
    // An unknown flag first, or no command at all: bvisor.blob, which holds every command.
    expect(blobOf(['--no-such-flag', 'state', 'x'])).toBe('bvisor.blob');
    expect(blobOf(['--root'])).toBe('bvisor.blob');
    expect(blobOf(['--version'])).toBe('bvisor.blob');
    // The lifecycle blob runs the command, with the globals hoisted as bin/run.js does.
    const a = viaSnapshot(['--root', root, '--log-format', 'json', 'delete', '--force', 'unknown-id']);
    const b = viaRunJs(['--root', root, '--log-format', 'json', 'delete', '--force', 'unknown-id']);
    expect({ status: a.status, stdout: a.stdout, stderr: a.stderr }).toEqual({ status: b.status, stdout: b.stdout, stderr: b.stderr });
  });

  it('runs a workload (koffi and the shim load at run time, from the installed package)', () => {
    const root = tempDir();
    const r = viaSnapshot(['--root', root, '--debug', 'run', 'snap-1', '-b', join(ROOT, 'bundles', 'hello')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from inside the boundary\n');
    expect(r.stderr).toContain('started from the start-up snapshot launch.blob');
  });

  // oclif's Config.load reads, at every start, /proc/version (its WSL probe), a user theme file
  // and a user plugins file. The snapshot reads none of them; bin/run.js reads the theme (it may
  // print colours) but loads no user plugin either. Oracles: the files the process opens
  // (strace), and what a user plugins file naming a plugin does to the output.
  it('reads no WSL probe, theme or user plugins file at start; neither entry loads user plugins', () => {
    const home = tempDir();
    const env = { XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
    mkdirSync(join(home, 'data', 'bvisor'), { recursive: true });
    mkdirSync(join(home, 'config', 'bvisor'), { recursive: true });
    writeFileSync(join(home, 'config', 'bvisor', 'theme.json'), '{"flag":"red"}\n');
    // oclif would try to load this plugin and warn that it cannot find it.
    writeFileSync(join(home, 'data', 'bvisor', 'package.json'), '{"oclif":{"plugins":[{"name":"not-a-plugin","type":"user"}]}}\n');
    for (const r of [viaSnapshot(['--version'], env), spawnSync(process.execPath, [BIN, '--version'], { cwd: ROOT, env: cliEnv(env), encoding: 'utf8' })]) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^bvisor\/\S+ linux-/);
    }
    const strace = straceBin();
    if (!strace) {
      skipOrFail('strace', 'no strace: the files the snapshot opens at start are not checked');
      return;
    }
    const log = join(home, 'strace.log');
    const t = spawnSync(strace, ['-f', '-qq', '-e', 'trace=%file', '-o', log, BVISOR, '--version'], { cwd: ROOT, env: cliEnv(env), encoding: 'utf8' });
    expect(t.status, t.stderr).toBe(0);
    const opened = readFileSync(log, 'utf8');
    expect(opened).toContain('bvisor.blob'); // the trace is of the snapshot's start
    expect(opened).not.toContain('/proc/version');
    expect(opened).not.toContain(join(home, 'config'));
    expect(opened).not.toContain(join(home, 'data'));
  });

  it("the blobs hold none of the four oclif dependencies bvisor never calls; bin/run.js's oclif has them", () => {
    // A name from each package's own source (src/cli/oclif-unused.ts stands in for them): found in
    // the package as installed (so the marker is real), absent from both bundled scripts.
    const markers: Array<[string, string, string]> = [
      ['minimatch', 'node_modules/minimatch/dist/commonjs/index.js', 'class Minimatch'],
      ['cli-spinners', 'node_modules/cli-spinners/spinners.json', '"aesthetic"'],
      ['tinyglobby', 'node_modules/fdir/dist/index.cjs', 'fdir'],
      ['lilconfig', 'node_modules/lilconfig/src/index.js', 'lilconfigSync'],
    ];
    for (const [pkg, file, marker] of markers) {
      expect(readFileSync(join(ROOT, file), 'utf8'), `${pkg}: ${file}`).toContain(marker);
      for (const script of ['bvisor.cjs', 'lifecycle.cjs', 'launch.cjs']) expect(readFileSync(join(ROOT, 'dist', 'snapshot', script), 'utf8'), `${pkg} in ${script}`).not.toContain(marker.replace(/^class /, ''));
    }
    // bin/run.js loads oclif whole: the stand-in is the snapshot's alone.
    const r = spawnSync(process.execPath, ['-e', "require('@oclif/core'); console.log(Object.keys(require.cache).some((k) => k.includes('/node_modules/minimatch/')))"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('true');
  });

  it("the blobs hold no debug package (oclif's logger is off where they run); with DEBUG set, bin/run.js's oclif traces", () => {
    // A name from debug's own source (src/cli/no-debug.ts stands in for it): found in the package
    // as installed, absent from both bundled scripts.
    expect(readFileSync(join(ROOT, 'node_modules/debug/src/common.js'), 'utf8')).toContain('humanize');
    for (const script of ['bvisor.cjs', 'lifecycle.cjs', 'launch.cjs']) expect(readFileSync(join(ROOT, 'dist', 'snapshot', script), 'utf8'), `debug in ${script}`).not.toContain('humanize');
    // The blobs run only without DEBUG, so they print nothing of oclif's either way; with it, the
    // real package prints oclif's traces from bin/run.js.
    const quiet = spawnSync(BVISOR, ['--version'], { cwd: ROOT, env: cliEnv(), encoding: 'utf8' });
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    const traced = spawnSync(BVISOR, ['--debug', '--version'], { cwd: ROOT, env: cliEnv({ DEBUG: 'oclif:main' }), encoding: 'utf8' });
    expect(traced.status, traced.stderr).toBe(0);
    expect(traced.stderr).toContain('start-up snapshot not used: DEBUG, NODE_DEBUG, FORCE_COLOR or OCLIF_COLUMNS is set');
    // debug prints argv through util.inspect, which breaks the array over lines once the
    // checkout's path makes it longer than its line width: match across lines.
    expect(traced.stderr).toMatch(/oclif:main process\.argv: \[[^\]]*bin\/run\.js/);
  });

  // bin/bvisor drops NODE_EXTRA_CA_CERTS before Node starts (bvisor opens no TLS connection;
  // Node would parse the file before any script runs). Oracle: the files each process opens
  // (strace), with a plain `node -e 0` under the same environment proving Node would read it.
  it('neither entry reads the certificates NODE_EXTRA_CA_CERTS names; a plain node does', () => {
    const strace = straceBin();
    if (!strace) {
      skipOrFail('strace', 'no strace: the files bvisor opens at start are not checked');
      return;
    }
    const dir = tempDir();
    const certs = join(dir, 'extra-ca.pem');
    // Any PEM file: Node opens it whether or not it parses (a bad one is only warned about).
    writeFileSync(certs, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const opens = (argv: string[], extra: NodeJS.ProcessEnv = {}): string => {
      const log = join(dir, `trace-${Math.random().toString(36).slice(2)}.log`);
      const t = spawnSync(strace, ['-f', '-qq', '-e', 'trace=openat,open', '-o', log, ...argv], { cwd: ROOT, env: cliEnv({ NODE_EXTRA_CA_CERTS: certs, ...extra }), encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      return readFileSync(log, 'utf8');
    };
    expect(opens([process.execPath, '-e', '0'])).toContain(certs);
    const snap = opens([BVISOR, '--version']);
    expect(snap).toContain('bvisor.blob'); // the snapshot's start
    expect(snap).not.toContain(certs);
    const plain = opens([BVISOR, '--version'], { BVISOR_NO_SNAPSHOT: '1' });
    expect(plain).toContain(join('bin', 'run.js'));
    expect(plain).not.toContain(certs);
  });

  // bin/bvisor asks glibc's malloc for transparent huge pages (GLIBC_TUNABLES, glibc.malloc.hugetlb=1):
  // where page faults are dear, faulting in what Node reads of the blob is much of a start.
  // Oracle: the running command's own mappings (proc(5): VmFlags hg), against a plain node under
  // the same environment; a caller's own hugetlb setting must stand.
  it("bin/bvisor's Node asks for huge pages for malloc; a plain node does not; a caller's hugetlb=0 stands; the workload never sees it", async () => {
    if (thpMode() !== 'madvise') {
      skipOrFail('thp-madvise', `transparent huge pages are "${thpMode()}" here: glibc's malloc asks for them only where the mode is madvise`);
      return;
    }
    const bundle = tempDir();
    writeFileSync(join(bundle, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/sleep, args: ["2"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: deny\nstdio: { stdin: null, stdout: null, stderr: inherit }\nlimits: { wall: 10s }\n');
    // Whether the process advised huge pages, looked at while its workload (or timer) runs. No
    // GLIBC_TUNABLES from where the tests run, unless a case sets its own.
    const advised = async (argv: string[], env: NodeJS.ProcessEnv, running: (pid: number) => boolean): Promise<boolean> => {
      const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: cliEnv({ GLIBC_TUNABLES: undefined, ...env }), stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      try {
        await until(`${argv.join(' ')} running (${err})`, () => running(child.pid!), 30_000);
        return hugepageAdvised(child.pid!);
      } finally {
        expect(await exited, err).toBe(0);
      }
    };
    // The oracle itself, on a plain node once its heap exists: with the tunable, and without.
    const nodeUp = (pid: number): boolean => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('setTimeout') && readFileSync(`/proc/${pid}/maps`, 'utf8').includes('[heap]');
    const plain = [process.execPath, '-e', 'setTimeout(() => {}, 1500)'];
    if (!(await advised(plain, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }, nodeUp))) {
      // A glibc older than 2.35 (or another libc) ignores the tunable: nothing to see here.
      skipOrFail('thp-madvise', "a plain node with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 advised no huge pages: this libc has no such tunable");
      return;
    }
    expect(await advised(plain, {}, nodeUp)).toBe(false);
    const sleeping = (pid: number): boolean => descendants().some((d) => d.argv[0] === '/usr/bin/sleep' && d.pid !== pid);
    const root = tempDir();
    expect(await advised([BVISOR, '--root', root, 'run', 'thp1', '-b', bundle], {}, sleeping)).toBe(true);
    expect(await advised([BVISOR, '--root', root, 'run', 'thp2', '-b', bundle], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, sleeping)).toBe(false);
    // The variable is bvisor's own: the workload's environment is the manifest's, exactly.
    const envBundle = tempDir();
    writeFileSync(join(envBundle, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/env, args: [] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: deny\nenv: { FOO: bar }\nstdio: { stdin: null, stdout: inherit, stderr: inherit }\n');
    const shown = viaSnapshot(['--root', root, 'run', 'thp3', '-b', envBundle], { GLIBC_TUNABLES: undefined });
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toBe('FOO=bar\n');
  });

  // bin/bvisor has glibc's malloc serve blocks of up to 32 MiB from its heap (GLIBC_TUNABLES,
  // glibc.malloc.mmap_threshold), which it advises for huge pages: so the block Node reads a blob
  // into is part of that heap, not a mapping of its own with 4 KiB pages
  // (docs/performance.md, fourteenth pass). Oracle: where the kernel was asked to put the bytes of
  // the blob (strace: the address of the read, against the program break Node's own brk calls
  // returned), and the same for a node given only the hugetlb setting, whose read goes elsewhere.
  it("Node reads each blob into glibc's heap under bin/bvisor's malloc settings, and into a mapping of its own without them", () => {
    const strace = straceBin();
    if (!strace) {
      skipOrFail('strace', 'no strace: where a blob is read to is not checked');
      return;
    }
    const dir = tempDir();
    const whereRead = (name: string, argv: string[], env: NodeJS.ProcessEnv): { inHeap: boolean; detail: string } => {
      const log = join(dir, `${name}.trace`);
      // No -f: bin/bvisor execs Node in its own process, whose main thread reads the blob; other
      // threads' calls would only interleave with it.
      const t = spawnSync(strace, ['-qq', '-e', 'trace=execve,openat,read,brk', '-e', 'raw=read', '-o', log, ...argv], { cwd: ROOT, env, encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      const lines = readFileSync(log, 'utf8').split('\n');
      const exec = lines.findLastIndex((l) => l.startsWith(`execve("${process.execPath}", `) || l.startsWith(`execve("${basename(process.execPath)}", `));
      const open = lines.findIndex((l, i) => i > exec && /\.blob", O_RDONLY\) = \d+$/.test(l));
      expect({ name, exec: exec >= 0, open: open >= 0 }).toEqual({ name, exec: true, open: true });
      const fd = Number(/ = (\d+)$/.exec(lines[open]!)![1]).toString(16);
      // The blob's bytes: the largest read from its fd. The heap: from Node's first brk(NULL) to
      // the highest break its brk calls returned before that read.
      const reads = lines.map((l, i) => ({ i, m: i > open ? new RegExp(`read\\(0x${fd}, 0x([0-9a-f]+), 0x[0-9a-f]+\\)\\s+= 0x([0-9a-f]+)`).exec(l) : null })).filter((r) => r.m).map((r) => ({ i: r.i, at: parseInt(r.m![1]!, 16), n: parseInt(r.m![2]!, 16) }));
      const big = reads.reduce((a, r) => (r.n > a.n ? r : a), { i: open, at: 0, n: 0 });
      const breaks = lines.slice(exec, big.i).map((l) => /brk\([^)]*\)\s+= 0x([0-9a-f]+)/.exec(l)).filter((m) => m).map((m) => parseInt(m![1]!, 16));
      const lo = Math.min(...breaks);
      const hi = Math.max(...breaks);
      expect(big.n, `${name}: the blob's bytes were read`).toBeGreaterThan(1024 * 1024);
      return { inHeap: big.at >= lo && big.at + big.n <= hi, detail: `${name}: read of ${big.n} bytes at 0x${big.at.toString(16)}, heap 0x${lo.toString(16)}..0x${hi.toString(16)}` };
    };
    for (const [blob, args] of [['bvisor.blob', ['--version']], ['lifecycle.blob', ['state', '--help']], ['launch.blob', ['create', '--help']]] as const) {
      // The caller's own malloc settings would stand: none here.
      const ours = whereRead(blob, [BVISOR, ...args], cliEnv({ GLIBC_TUNABLES: undefined, MALLOC_MMAP_THRESHOLD_: undefined }));
      expect(ours.inHeap, ours.detail).toBe(true);
      const plainEnv: NodeJS.ProcessEnv = { ...cliEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', MALLOC_MMAP_THRESHOLD_: undefined }) };
      delete plainEnv.NODE_EXTRA_CA_CERTS;
      const plain = whereRead(`${blob}-plain`, [process.execPath, '--snapshot-blob', join(ROOT, 'dist', 'snapshot', blob), ROOT, ...args], plainEnv);
      expect(plain.inHeap, plain.detail).toBe(false);
    }
  });

  it('falls back to bin/run.js, saying why under --debug: a Node binary that changed, no blob, asked not to', () => {
    const p = packageCopy();
    const run = (env: NodeJS.ProcessEnv = {}) => spawnSync(join(p, 'bin', 'bvisor'), ['--debug', 'validate', join(ROOT, 'bundles', 'hello')], { env: cliEnv(env), encoding: 'utf8' });
    const ok = run();
    expect(ok.stderr).toContain('started from the start-up snapshot');
    // The stamp carries the mtime of the Node binary that built the blob; an upgrade changes it.
    utimesSync(join(p, 'dist', 'snapshot', 'node.stamp'), new Date(0), new Date(0));
    const stale = run();
    expect(stale.status).toBe(0);
    expect(stale.stdout).toContain('valid (linux workload)');
    expect(stale.stderr).toMatch(/start-up snapshot not used: .* changed since it was built/);
    utimesSync(join(p, 'dist', 'snapshot', 'node.stamp'), statSync(join(ROOT, 'dist', 'snapshot', 'node.stamp')).atime, statSync(join(ROOT, 'dist', 'snapshot', 'node.stamp')).mtime);
    // Another CPU: V8's configuration tag includes its features, and Node would refuse the blob.
    const record = join(p, 'dist', 'snapshot', 'built.sh');
    writeFileSync(record, readFileSync(record, 'utf8').replace(/^builtcpu='[^']*'$/m, "builtcpu='flags\t\t: fpu some-other-cpu'"));
    const otherCpu = run();
    expect(otherCpu.status).toBe(0);
    expect(otherCpu.stderr).toContain("start-up snapshot not used: this CPU's features are not those of the machine that built it");
    copyFileSync(join(ROOT, 'dist', 'snapshot', 'built.sh'), record);
    expect(run().stderr).toContain('started from the start-up snapshot');
    expect(run({ BVISOR_NO_SNAPSHOT: '1' }).stderr).toContain('start-up snapshot not used: BVISOR_NO_SNAPSHOT is set');
    expect(run({ FORCE_COLOR: '1' }).stderr).toContain('start-up snapshot not used: DEBUG, NODE_DEBUG, FORCE_COLOR or OCLIF_COLUMNS is set');
    // Without lifecycle.blob, a lifecycle command starts from bvisor.blob.
    spawnSync('rm', ['-f', join(p, 'dist', 'snapshot', 'lifecycle.blob')]);
    const listed = spawnSync(join(p, 'bin', 'bvisor'), ['--debug', '--root', tempDir(), 'list', '--json'], { env: cliEnv(), encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toBe('[]\n');
    expect(listed.stderr).toContain('started from the start-up snapshot bvisor.blob');
    // Nor without launch.blob, a launching command.
    spawnSync('rm', ['-f', join(p, 'dist', 'snapshot', 'launch.blob')]);
    const created = spawnSync(join(p, 'bin', 'bvisor'), ['--debug', 'create', '--help'], { env: cliEnv(), encoding: 'utf8' });
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toBe(viaRunJs(['create', '--help']).stdout);
    expect(created.stderr).toContain('started from the start-up snapshot bvisor.blob');
    spawnSync('rm', ['-f', join(p, 'dist', 'snapshot', 'bvisor.blob')]);
    const none = run();
    expect(none.status).toBe(0);
    expect(none.stderr).toMatch(/start-up snapshot not used: no snapshot in /);
  });

  // bin/bvisor finds node on PATH with shell built-ins (as `command -v node` would, without its
  // subshell): the first executable file named node, an empty entry meaning the current directory.
  it('takes the first node on PATH, and the one that built the blob when PATH has none', () => {
    const p = packageCopy();
    const run = (path: string, cwd = ROOT) => spawnSync(join(p, 'bin', 'bvisor'), ['--debug', 'validate', join(ROOT, 'bundles', 'hello')], { cwd, env: cliEnv({ PATH: path }), encoding: 'utf8' });
    // An engine's PATH without node: the recorded binary, from the snapshot.
    const bare = run('/nonexistent:/also-not-here');
    expect(bare.status, bare.stderr).toBe(0);
    expect(bare.stderr).toContain('started from the start-up snapshot');
    // Another node first on PATH (a directory named node before it is no command): that one runs
    // bin/run.js, and --debug names it.
    const dirs = tempDir();
    mkdirSync(join(dirs, 'a', 'node'), { recursive: true });
    mkdirSync(join(dirs, 'b'));
    writeFileSync(join(dirs, 'b', 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
    const other = run(`${join(dirs, 'a')}:${join(dirs, 'b')}:${dirname(process.execPath)}`);
    expect(other.status, other.stderr).toBe(0);
    expect(other.stdout).toContain('valid (linux workload)');
    expect(other.stderr).toContain(`start-up snapshot not used: it was built by ${process.execPath}, and node here is ${join(dirs, 'b', 'node')}`);
    // An empty entry is the current directory.
    const fromCwd = run(`:${dirname(process.execPath)}`, join(dirs, 'b'));
    expect(fromCwd.stderr).toContain('node here is ./node');
    // The node that built it, found on PATH: the snapshot.
    expect(run(`${join(dirs, 'a')}:${dirname(process.execPath)}`).stderr).toContain('started from the start-up snapshot');
    // And no process of the script's own on the way (strace): the shell's next program is Node.
    const strace = straceBin();
    if (!strace) {
      skipOrFail('strace', 'no strace: that bin/bvisor starts no process before Node is not checked');
      return;
    }
    const log = join(dirs, 'strace.log');
    const t = spawnSync(strace, ['-f', '-qq', '-e', 'trace=process', '-o', log, join(p, 'bin', 'bvisor'), '--version'], { cwd: ROOT, env: cliEnv(), encoding: 'utf8' });
    expect(t.status, t.stderr).toBe(0);
    const lines = readFileSync(log, 'utf8').split('\n');
    const shell = /^(\d+) /.exec(lines[0]!)![1];
    // (strace pads the pid column to the widest pid it has printed: match the pid, then spaces.)
    const nodeExec = lines.findIndex((l) => new RegExp(`^${shell}\\s+execve\\("`).test(l) && l.includes(`execve("${process.execPath}"`));
    expect(nodeExec, `the shell execs Node:\n${lines.slice(0, 12).join('\n')}`).toBeGreaterThan(0);
    const beforeNode = lines.slice(1, nodeExec);
    expect(beforeNode.filter((l) => /\b(clone3?|v?fork)\(/.test(l)), 'a process started before Node').toEqual([]);
  });

  it('the build refuses a module that reads the environment, the clock or randomness while the snapshot is made', () => {
    const dir = tempDir();
    const cases: Array<[string, RegExp]> = [
      ['const home = process.env.HOME;', /read process\.env\.HOME while the start-up snapshot is made/],
      ['const t = Date.now();', /read the clock \(Date\.now\) while the start-up snapshot is made/],
      ['const r = Math.random();', /read randomness \(Math\.random\) while the start-up snapshot is made/],
      // In a serialize callback, where the CLI's warm-up runs (Node 20 would only print its error).
      ["require('node:v8').startupSnapshot.addSerializeCallback(() => Date.now());", /read the clock \(Date\.now\) while the start-up snapshot is made/],
    ];
    for (const [line, why] of cases) {
      const entry = join(dir, 'entry.js');
      writeFileSync(entry, `${line}\nrequire('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n`);
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-snapshot.mjs'), '--entry', entry, '--out', join(dir, 'out')], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(existsSync(join(dir, 'out', 'bvisor.blob'))).toBe(false);
    }
    // The same entry without the read builds.
    writeFileSync(join(dir, 'entry.js'), `require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n`);
    const ok = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-snapshot.mjs'), '--entry', join(dir, 'entry.js'), '--out', join(dir, 'out')], { encoding: 'utf8', timeout: 120_000 });
    expect(ok.status, ok.stderr).toBe(0);
    expect(existsSync(join(dir, 'out', 'bvisor.blob'))).toBe(true);
  });
});
