// The CLI end to end: exit codes from docs/exit-codes.md, --json outputs that match their
// schemas, errors with file:line:col and hints, global flags before the command.
import { readdirSync, rmSync, writeFileSync, copyFileSync, readFileSync, existsSync, mkdirSync, symlinkSync, lstatSync, readlinkSync, createWriteStream } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cli, cliEnv, ROOT, BIN, BVISOR } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { writeTar } from '../helpers/rawtar.js';
import { validateHostFacts, validatePlan, validateErrorOutput } from '../../src/contract/generated/validators.js';
import { appendReport, journalPaths } from '../../src/host/journal-store.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody } from '../helpers/sample-report.js';

const bundle = (n: string) => join(ROOT, 'bundles', n);

describe('bvisor CLI', () => {
  it('--version', () => {
    const r = cli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^bvisor\/\d+\.\d+\.\d+/);
  });

  it('check --json prints host facts that match their schema, and a capability table', () => {
    const r = cli(['check', '--json']);
    expect(r.status).toBe(0);
    const out = r.json();
    expect(validateHostFacts(out.host), JSON.stringify(validateHostFacts.errors)).toBe(true);
    expect(out.capabilities.some((c: any) => c.backend === 'linux' && c.clause === 'limits.wall' && c.mechanism)).toBe(true);
    expect(out.capabilities.some((c: any) => c.backend === 'wasm')).toBe(true);
    // The denial sources a run gets here: seccomp's listener wherever the kernel has user_notif
    // (/proc's view of seccomp's actions: /proc/sys/kernel/seccomp/actions_avail, seccomp(2)).
    const avail = readFileSync('/proc/sys/kernel/seccomp/actions_avail', 'utf8').split(/\s+/);
    expect(out.denials.seccomp.observed).toBe(avail.includes('user_notif'));
    expect(typeof out.denials.landlock.how).toBe('string');
  });

  it('check says where runs\' cgroups go and why; BVISOR_CGROUP_PARENT names the parent, and --cgroup-parent wins over it', () => {
    const env = { BVISOR_CGROUP_PARENT: 'from-env' };
    const placed = (r: ReturnType<typeof cli>): Array<{ dir: string | null; why: string }> => r.json().cgroupPlacements;
    const byEnv = placed(cli(['check', '--json'], { env }));
    expect(byEnv.length).toBeGreaterThan(0);
    for (const p of byEnv.filter((x) => x.dir)) expect(p).toMatchObject({ dir: expect.stringMatching(/\/from-env$/), why: expect.stringMatching(/named parent from-env, under our own cgroup/) });
    expect(byEnv.some((x) => x.dir)).toBe(true);
    const byFlag = placed(cli(['check', '--json', '--cgroup-parent', '/from-flag'], { env }));
    for (const p of byFlag.filter((x) => x.dir)) expect(p).toMatchObject({ dir: expect.stringMatching(/^\/sys\/fs\/cgroup\/[^/]+\/from-flag$|^\/sys\/fs\/cgroup\/from-flag$/), why: expect.stringMatching(/from the hierarchy root/) });
    const text = cli(['check'], { env }).stdout;
    expect(text).toMatch(/^v\d \/sys\/fs\/cgroup\S*: runs go under \S+\/from-env\n  why: the named parent from-env/m);
    // A parent that is not a path of plain names is refused in the plan, naming it.
    const bad = cli(['plan', bundle('hello'), '--cgroup-parent', '../up'], { env });
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/cgroup parent "\.\.\/up" is not a path of plain names/);
  });

  it('plan bundles/hello is admitted, as a table and as JSON', () => {
    const t = cli(['plan', bundle('hello')]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/filesystem\[0\]\s+enforced\s+linux:mount\(rbind,ro\)\+landlock\(abi=\d/);
    expect(t.stdout).toMatch(/admitted: linux backend/);
    // A limit's row says its value (hello's manifest: memory: 64Mi, wall: 10s); one not asked, none.
    expect(t.stdout).toMatch(/^limits\.memory = 64Mi\s+enforced\s/m);
    expect(t.stdout).toMatch(/^limits\.wall = 10s\s+enforced\s/m);
    expect(t.stdout).toMatch(/^limits\.processes\s+not-requested\s/m);
    expect(t.stdout).not.toMatch(/plan --json prints it whole/);
    const j = cli(['plan', bundle('hello'), '--json']);
    const p = j.json();
    expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
    expect(p.admitted).toBe(true);
    expect(p.planHash).toMatch(/^[0-9a-f]{64}$/);
  });

  // 64M is 64 × 10^6 bytes (the schema's Size), which the plan writes in whole KiB: 62500Ki, not
  // the 64Mi a docker user meant. A cell too long for the table is cut, and said to be.
  it('plan\'s table shows a decimal size as the bytes it is, and says where a cut cell is whole', () => {
    const d = tempDir();
    const long = '/no/' + 'a'.repeat(110);
    writeFileSync(join(d, 'boundary.yaml'), readFileSync(join(bundle('hello'), 'boundary.yaml'), 'utf8').replace('memory: 64Mi', 'memory: 64M').replace('  - { path: /usr, access: read-exec }', `  - { path: /usr, access: read-exec }\n  - { path: ${long}, access: read }`));
    const r = cli(['plan', d]);
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`^limits\\.memory = ${(64e6 / 1024).toString()}Ki\\s+enforced\\s`, 'm'));
    const row = r.stdout.split('\n').find((l) => l.startsWith('filesystem[1] '))!;
    expect(row).toMatch(/refused\s+\/no\/a+…$/);
    expect(r.stdout).toContain('(a cell cut at 100 columns ends in …: bvisor plan --json prints it whole)');
    const whole = cli(['plan', d, '--json']).json().clauses.find((c: { clause: string }) => c.clause === 'filesystem[1]');
    expect(whole.reason).toContain(`${long} does not exist`);
  });

  for (const name of readdirSync(join(ROOT, 'bundles')).filter((n) => n.startsWith('refused-'))) {
    it(`plan bundles/${name} is refused with exit 3, a reason and a hint`, () => {
      const r = cli(['plan', bundle(name)]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/bvisor: error BV_PLAN_REFUSED/);
      expect(r.stderr).toMatch(/hint: /);
      const j = cli(['plan', bundle(name), '--json']);
      expect(j.status).toBe(3);
      const p = j.json();
      expect(validatePlan(p)).toBe(true);
      expect(p.admitted).toBe(false);
      expect(p.launch).toBeNull();
      expect(p.refusals.length).toBeGreaterThan(0);
    });
  }

  it('validate reports YAML and schema errors with file:line:col, exit 5', () => {
    const d = tempDir();
    writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: rwx }\n');
    const r = cli(['validate', d]);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`${d}/boundary.yaml:5:27 filesystem[0].access: must be one of`);
    const j = cli(['validate', d, '--json']);
    expect(j.status).toBe(5);
    const e = j.json();
    expect(validateErrorOutput(e), JSON.stringify(validateErrorOutput.errors)).toBe(true);
    expect(e.error.issues[0]).toMatchObject({ code: 'BV_SCHEMA', clause: 'filesystem[0].access', line: 5, col: 27 });
  });

  it('validate accepts the shipped bundles', () => {
    for (const b of ['hello', 'hello-wasm']) expect(cli(['validate', bundle(b)]).status).toBe(0);
  });

  it('validate refuses what every host would refuse, located, exit 5; what only some hosts refuse is plan\'s', () => {
    const d = tempDir();
    // spawn: descendants needs a bound (docs: limits.processes); fuel is a wasm budget only.
    writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { fuel: 1000 }\n');
    const r = cli(['validate', d, '--json']);
    expect(r.status).toBe(5);
    const e = r.json();
    expect(validateErrorOutput(e), JSON.stringify(validateErrorOutput.errors)).toBe(true);
    expect(e.error.code).toBe('BV_MANIFEST_INVALID');
    expect(e.error.issues.map((i: any) => [i.code, i.clause, i.line, i.col])).toEqual([
      ['BV_PLAN_NEEDS_LIMIT', 'spawn', 6, 8],
      ['BV_PLAN_BACKEND_UNSUPPORTED', 'limits.fuel', 7, 17],
    ]);
    expect(cli(['validate', d]).stderr).toContain(`${d}/boundary.yaml:6:8 spawn: descendants must be bounded by limits.processes [BV_PLAN_NEEDS_LIMIT]`);
    // The shipped refusal examples: fuel on a process is refused everywhere; a non-recursive grant
    // of a directory depends on what the path is on the host, so validate leaves it to plan.
    expect(cli(['validate', bundle('refused-fuel-on-linux')]).status).toBe(5);
    expect(cli(['validate', bundle('refused-nonrecursive-dir')]).status).toBe(0);
    expect(cli(['plan', bundle('refused-nonrecursive-dir')]).status).toBe(3);
  });

  it('usage errors exit 2 with BV_USAGE', () => {
    const missing = cli(['report']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/BV_USAGE/);
    const unknown = cli(['check', '--no-such-flag']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('--no-such-flag');
  });

  // oclif's own answer was " ›   Error: command crate:x not found": its format, never JSON, and
  // not in --log (where an engine reads the error it shows its user).
  it('a command bvisor lacks is a usage error naming the nearest commands, from either entry, in JSON and in --log', () => {
    const d = tempDir();
    const plain = spawnSync(process.execPath, [BIN, 'crate', 'x'], { encoding: 'utf8', env: cliEnv() });
    for (const r of [cli(['crate', 'x']), plain]) {
      expect(r.status).toBe(2);
      expect(r.stderr).toBe('bvisor: error BV_USAGE: "crate" is not a bvisor command\nhint: did you mean create? bvisor --help lists the commands\n');
    }
    const log = join(d, 'log.json');
    const j = cli(['--log', log, '--log-format', 'json', 'stat', 'x', '--json']);
    expect(j.status).toBe(2);
    expect(validateErrorOutput(j.json()), JSON.stringify(validateErrorOutput.errors)).toBe(true);
    // One edit from two commands: both are named.
    expect(j.json().error).toMatchObject({ code: 'BV_USAGE', message: '"stat" is not a bvisor command', hint: 'did you mean start or state? bvisor --help lists the commands' });
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(line).toMatchObject({ level: 'error', msg: '"stat" is not a bvisor command; hint: did you mean start or state? bvisor --help lists the commands' });
    // A topic's command is two words; nothing near, no guess; globals and no command at all.
    expect(cli(['journal', 'verfy']).stderr).toMatch(/^bvisor: error BV_USAGE: "journal verfy" is not a bvisor command\nhint: did you mean journal verify\? /);
    // A topic alone is no command either (it printed its help on stdout, exit 0, even under --json).
    expect(cli(['journal'])).toMatchObject({ status: 2, stdout: '', stderr: 'bvisor: error BV_USAGE: journal needs a command: journal verify\nhint: see bvisor journal verify --help\n' });
    expect(cli(['journal', '--', 'verify'])).toMatchObject({ status: 2, stderr: 'bvisor: error BV_USAGE: "verify" after -- is an argument, not the command journal verify\nhint: bvisor journal verify\n' });
    const topicJson = cli(['journal', '--json']);
    expect([topicJson.status, topicJson.json().error.code, topicJson.json().error.message]).toEqual([2, 'BV_USAGE', 'journal needs a command: journal verify']);
    expect(cli(['zzzzzz']).stderr).toBe('bvisor: error BV_USAGE: "zzzzzz" is not a bvisor command\nhint: bvisor --help lists the commands\n');
    const none = cli(['--root', d]);
    expect([none.status, none.stderr]).toEqual([2, expect.stringMatching(/^bvisor: error BV_USAGE: no command given\n/)]);
    // A real command given a word it has no place for is that command's usage error (oclif joins
    // the words into "list:extra" and finds no such command); help's own lookup is answered alike.
    expect(cli(['list', 'extra'])).toMatchObject({ status: 2, stderr: 'bvisor: error BV_USAGE: Unexpected argument: extra\nhint: see bvisor list --help\n' });
    expect(cli(['journal', 'verify', 'x']).stderr).toBe('bvisor: error BV_USAGE: Unexpected argument: x\nhint: see bvisor journal verify --help\n');
    for (const argv of [['crate', '--help'], ['help', 'crate']]) expect(cli(argv)).toMatchObject({ status: 2, stderr: expect.stringMatching(/^bvisor: error BV_USAGE: "crate" is not a bvisor command\nhint: did you mean create\? /) });
    // A swap of two letters is one slip; a two-letter command is one edit away at most.
    expect(cli(['exce']).stderr).toMatch(/hint: did you mean exec\? /);
    expect(cli(['pss']).stderr).toMatch(/hint: did you mean ps\? /);
    // A mistyped flag gets the same help, each one the flag it most likely meant (global ones too).
    expect(cli(['list', '--jsn', '--rooot', 'x']).stderr).toBe('bvisor: error BV_USAGE: Nonexistent flags: --jsn, --rooot\nhint: did you mean --json, --root? see bvisor list --help\n');
    expect(cli(['list', '--zzzz']).stderr).toBe('bvisor: error BV_USAGE: Nonexistent flag: --zzzz\nhint: see bvisor list --help\n');
    // runc's short forms (runc(8): -h, --help; -v, --version).
    expect(cli(['-h']).stdout).toBe(cli(['--help']).stdout);
    expect(cli(['-v']).stdout).toMatch(/^bvisor\/\d+\.\d+\.\d+/);
  });

  // exec's program owns what follows it: its --log is never a file bvisor writes, not even when
  // bvisor answers with an error before any command ran (the logger is then made from argv).
  it('an error line goes to --log, never to a --log after the program\'s --', () => {
    const d = tempDir();
    const theirs = join(d, 'theirs.log');
    // (exec's own failures exit 125, as runc's do: docs/exit-codes.md.)
    for (const [argv, status] of [[['exce', 'ctr', '--', 'prog', '--log', theirs], 2], [['exec', '--nosuch', 'ctr', 'prog', '--log', theirs], 125]] as const) {
      expect(cli([...argv]).status).toBe(status);
      expect(existsSync(theirs)).toBe(false);
    }
    const ours = join(d, 'ours.log');
    expect(cli(['--log', ours, 'exec', '--nosuch', 'ctr', 'prog', '--log', theirs]).status).toBe(125);
    expect(readFileSync(ours, 'utf8')).toMatch(/ error Nonexistent flag: --nosuch; hint: see bvisor exec --help code=BV_USAGE\n$/);
    expect(existsSync(theirs)).toBe(false);
  });

  // The line says what is missing, not only that something is: oclif's own message puts that
  // under a header line ("The following error occurred:", "Missing 1 required arg:").
  it('a usage error names the flag or argument that is missing', () => {
    const noQuota = cli(['update', '--cpu-period', '50000', 'some-id']);
    expect(noQuota.status).toBe(2);
    expect(noQuota.stderr).toMatch(/BV_USAGE: All of the following must be provided when using --cpu-period: --cpu-quota\n/);
    const json = cli(['update', '--cpu-period', '50000', 'some-id', '--json']);
    expect(json.status).toBe(2);
    expect(json.json().error).toMatchObject({ code: 'BV_USAGE', message: 'All of the following must be provided when using --cpu-period: --cpu-quota' });
    const noId = cli(['kill']);
    expect(noId.status).toBe(2);
    expect(noId.stderr).toMatch(/BV_USAGE: Missing 1 required arg: id\n/);
  });

  it('a missing bundle exits 5 with BV_BUNDLE_NOT_FOUND', () => {
    const r = cli(['plan', '/nonexistent/bundle', '--json']);
    expect(r.status).toBe(5);
    expect(r.json().error.code).toBe('BV_BUNDLE_NOT_FOUND');
  });

  it('spec writes a starter manifest that validates and plans, and will not overwrite it', () => {
    const d = tempDir();
    expect(cli(['spec', '-b', d]).status).toBe(0);
    expect(cli(['plan', d]).status).toBe(0);
    const again = cli(['spec', '-b', d]);
    expect(again.status).toBe(7);
    expect(again.stderr).toMatch(/--force/);
    // Its module is not there yet, and spec says what to do (a new-user pass met validate's refusal first).
    const wasm = cli(['spec', '-b', d, '--force', '--wasm']);
    expect([wasm.status, wasm.stdout]).toEqual([0, `wrote ${d}/boundary.yaml\nnext: put your WASI module beside it as hello.wasm (or change workload.wasm.module), then bvisor validate\n`]);
    // Its module is not there yet: a bundle without it is invalid on any host (exit 5), not only
    // refused by this one.
    const lacking = cli(['validate', d]);
    expect(lacking.status).toBe(5);
    expect(lacking.stderr).toContain(`${d}/boundary.yaml:4:3 workload: the module hello.wasm does not exist in the bundle [BV_PLAN_PATH_MISSING]`);
    copyFileSync(join(bundle('hello-wasm'), 'hello.wasm'), join(d, 'hello.wasm'));
    expect(cli(['validate', d]).status).toBe(0);
    expect(cli(['plan', d]).status).toBe(0);
  });

  it('spec -b makes the bundle directory, as mkdir(1) would, but not its missing parents', () => {
    const d = tempDir();
    expect(cli(['spec', '-b', join(d, 'new')]).status).toBe(0);
    expect(readdirSync(join(d, 'new'))).toEqual(['boundary.yaml']);
    const r = cli(['spec', '-b', join(d, 'typo', 'deeper'), '--json']);
    expect(r.status).toBe(2); // a path that cannot be made a bundle directory: the caller's to fix
    expect(r.json().error).toMatchObject({ code: 'BV_USAGE', message: `mkdir ${join(d, 'typo', 'deeper')}: ENOENT (${join(d, 'typo')} does not exist)` });
    expect(readdirSync(d)).toEqual(['new']); // nothing made on the way
    // An OCI bundle: a starter manifest beside config.json would make it invalid.
    writeFileSync(join(d, 'new', 'config.json'), '{}\n');
    rmSync(join(d, 'new', 'boundary.yaml'));
    const oci = cli(['spec', '-b', join(d, 'new'), '--json']);
    expect(oci.status).toBe(2);
    expect(oci.json().error).toMatchObject({ code: 'BV_USAGE', message: expect.stringContaining('holds config.json (an OCI bundle)') });
    expect(readdirSync(join(d, 'new'))).toEqual(['config.json']);
  });

  // `bvisor list | head`: a producer in a shell pipeline dies by SIGPIPE when its reader goes
  // (signal(7)); Node ignores SIGPIPE, and an unheard EPIPE ended bvisor with a stack trace.
  it('a reader that goes away ends a command quietly, 141 (128 + SIGPIPE), from the snapshot and from bin/run.js', async () => {
    const root = tempDir();
    const goneReader = (cmd: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((done) => {
        const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
        p.stdout!.destroy(); // gone before bvisor writes a byte
        let stderr = '';
        p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('close', (code) => done({ code, stderr }));
      });
    for (const cmd of [[BVISOR, 'list', '--root', root], [BVISOR, 'plan', join(ROOT, 'bundles', 'hello')], [process.execPath, BIN, 'validate', join(ROOT, 'bundles', 'hello')]]) {
      const r = await goneReader(cmd);
      expect(r, cmd.join(' ')).toEqual({ code: 141, stderr: '' });
    }
  });

  it('accepts global flags before the command, as runc does', () => {
    const root = tempDir();
    appendReport(root, sealReport(sampleBody(), sha256Hex));
    const r = cli(['--root', root, '--debug', 'journal', 'verify', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ ok: true, entries: 1, file: journalPaths(root).file });
    const after = cli(['journal', 'verify', '--root', root]);
    expect(after.status).toBe(0);
    expect(after.stdout).toMatch(/ok, 1 entry verified/);
    // Between a topic's two words, as a user may put them: the command still runs (it printed the
    // topic's help and exited 0 once, verifying nothing), and a tampered journal still fails it.
    const between = cli(['journal', '--root', root, 'verify']);
    expect([between.status, between.stdout]).toEqual([0, expect.stringMatching(/ok, 1 entry verified/)]);
    const f = journalPaths(root).file;
    writeFileSync(f, readFileSync(f, 'utf8').replace('"runId":"', '"runId":"X'));
    const bad = cli(['journal', '--root', root, 'verify']);
    expect([bad.status, bad.stderr]).toEqual([8, expect.stringContaining('BV_JOURNAL_CORRUPT')]);
    // --json before the command, as every command takes it.
    const listed = cli(['--json', '--root', root, 'list']);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.json()).toEqual([]);
  });

  it('help [COMMAND] prints what --help prints', () => {
    for (const words of [[], ['run'], ['journal', 'verify']]) {
      const viaHelp = cli(['help', ...words]);
      const viaFlag = cli([...words, '--help']);
      expect({ words, status: viaHelp.status, stdout: viaHelp.stdout }).toEqual({ words, status: 0, stdout: viaFlag.stdout });
      expect(viaHelp.stdout).toMatch(/USAGE/);
    }
  });

  it('journal verify exits 8 and names the first bad line', () => {
    const root = tempDir();
    for (let i = 0; i < 3; i++) appendReport(root, sealReport(sampleBody(`r${i}`), sha256Hex));
    const f = journalPaths(root).file;
    const lines = readFileSync(f, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"runId":"r2"', '"runId":"rX"');
    writeFileSync(f, lines.join('\n'));
    const r = cli(['journal', 'verify', '--root', root]);
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/BV_JOURNAL_CORRUPT: .*line 3/);
  });

  it('journal verify of a root that is not there is an error, not "ok, 0 entries"; an empty root is ok', () => {
    const d = tempDir();
    const r = cli(['journal', 'verify', '--root', join(d, 'mistyped'), '--json']);
    expect(r.status).toBe(4);
    expect(r.json().error).toMatchObject({ code: 'BV_STATE_ROOT_UNUSABLE', message: `${join(d, 'mistyped')} is not a directory: there is no journal to verify there` });
    const empty = cli(['journal', 'verify', '--root', d]);
    expect(empty.status, empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/: ok, 0 entries verified/);
  });

  it('--log writes log lines to a file, in JSON when asked', () => {
    const d = tempDir();
    const log = join(d, 'bv.log');
    const r = cli(['--log', log, '--log-format', 'json', 'plan', '/nonexistent']);
    expect(r.status).toBe(5);
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(line).toMatchObject({ level: 'error', code: 'BV_BUNDLE_NOT_FOUND' });
  });

  it('plans a bundle shipped as .tar.gz, and refuses a hostile one leaving nothing behind', () => {
    const d = tempDir();
    const manifest = readFileSync(join(bundle('hello'), 'boundary.yaml'), 'utf8');
    writeTar(join(d, 'ok.tar.gz'), [{ name: 'boundary.yaml', data: manifest }], true);
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('bvisor-bundle-'));
    expect(cli(['plan', join(d, 'ok.tar.gz')]).status).toBe(0);
    writeTar(join(d, 'bad.tar'), [{ name: 'boundary.yaml', data: manifest }, { name: 'x', type: '2', link: '/etc/shadow' }]);
    const r = cli(['plan', join(d, 'bad.tar'), '--json']);
    expect(r.status).toBe(5);
    expect(r.json().error.code).toBe('BV_BUNDLE_UNSAFE_TAR');
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('bvisor-bundle-'))).toEqual(before);
  });

  it('spec never writes through a symlink at boundary.yaml (dangling or not), nor into a FIFO or a directory', () => {
    const d = tempDir();
    const victim = join(d, 'victim');
    writeFileSync(victim, 'precious\n');
    const cases: Array<[string, (p: string) => void, RegExp]> = [
      ['link', (p) => symlinkSync(victim, p), /is a symlink/],
      ['dangling', (p) => symlinkSync(join(d, 'would-be-created'), p), /is a symlink/],
      ['fifo', (p) => spawnSync('mkfifo', [p]), /not a regular file/],
      ['dir', (p) => mkdirSync(p), /is a directory/],
    ];
    for (const [name, plant, why] of cases) {
      const b = join(d, name);
      mkdirSync(b);
      plant(join(b, 'boundary.yaml'));
      for (const force of [[], ['--force']]) {
        const r = cli(['spec', '-b', b, ...force, '--json'], { env: { TMPDIR: d } });
        expect(r.status, `${name} ${force}`).toBe(7);
        expect(r.json().error).toMatchObject({ code: 'BV_SPEC_TARGET', exit: 7 });
        expect(r.json().error.message).toMatch(why);
      }
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(existsSync(join(d, 'would-be-created'))).toBe(false);
    expect(readlinkSync(join(d, 'link', 'boundary.yaml'))).toBe(victim);
    expect(lstatSync(join(d, 'fifo', 'boundary.yaml')).isFIFO()).toBe(true);
    // Nothing else was left: no temp files beside the targets.
    for (const name of ['link', 'dangling', 'fifo', 'dir']) expect(readdirSync(join(d, name))).toEqual(['boundary.yaml']);
  });

  it('spec --force replaces a regular file; a bundle path that is a file is a coded I/O error', () => {
    const d = tempDir();
    writeFileSync(join(d, 'boundary.yaml'), 'old\n');
    expect(cli(['spec', '-b', d, '--force']).status).toBe(0);
    expect(readFileSync(join(d, 'boundary.yaml'), 'utf8')).toMatch(/^# bvisor boundary manifest/);
    expect(readdirSync(d)).toEqual(['boundary.yaml']);
    const r = cli(['spec', '-b', join(d, 'boundary.yaml'), '--json']);
    expect(r.status).toBe(2);
    expect(r.json().error).toMatchObject({ code: 'BV_USAGE', message: `${join(d, 'boundary.yaml')} is not a directory` });
    const under = cli(['spec', '-b', join(d, 'boundary.yaml', 'x'), '--json']);
    expect([under.status, under.json().error.code]).toEqual([2, 'BV_USAGE']);
    expect(under.json().error.message).toBe(`mkdir ${join(d, 'boundary.yaml', 'x')}: ENOTDIR (a component of ${join(d, 'boundary.yaml')} is not a directory)`);
  });

  it('validate refuses a NUL in an argument or an environment value, located, exit 5', () => {
    const d = tempDir();
    writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/echo, args: ["a\\0b"] }\nenv: { K: "v\\0" }\n');
    const r = cli(['validate', d, '--json']);
    expect(r.status).toBe(5);
    const e = r.json();
    expect(validateErrorOutput(e), JSON.stringify(validateErrorOutput.errors)).toBe(true);
    expect(e.error.issues.map((i: any) => [i.code, i.clause, i.line])).toEqual([
      ['BV_MANIFEST_STRING', 'workload.process.args[0]', 3],
      ['BV_MANIFEST_STRING', 'env.K', 4],
    ]);
  });

  it('validate streams a tar.gz: memory stays bounded whatever it expands to, and nothing is left', async () => {
    const d = tempDir();
    const tmp = join(d, 'tmp');
    mkdirSync(tmp);
    // A 256 MiB file of zeros (about 1000:1 in gzip) and 1,000 small files: reading the archive
    // in 16 MiB steps, as the tar package does by itself, inflates it all at once.
    const manifest = readFileSync(join(bundle('hello'), 'boundary.yaml'));
    const archive = join(d, 'big.tar.gz');
    await pipeline(Readable.from(bombEntries(manifest, 256 << 20, 1000)), createGzip({ level: 9 }), createWriteStream(archive));
    // The process's own peak RSS, written as it exits (no external time(1) needed).
    const hook = join(d, 'rss.cjs');
    writeFileSync(hook, "process.on('exit', () => require('fs').writeFileSync(process.env.BV_TEST_RSS, String(process.resourceUsage().maxRSS)));\n");
    const peak = (target: string): number => {
      const out = join(d, 'rss');
      const r = spawnSync(process.execPath, ['--require', hook, BIN, 'validate', target], { env: { ...process.env, TMPDIR: tmp, BV_TEST_RSS: out }, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      return Number(readFileSync(out, 'utf8')) * 1024;
    };
    const base = peak(bundle('hello'));
    const big = peak(archive);
    expect(big - base, `peak RSS ${(big / 2 ** 20).toFixed(0)} MiB, ${(base / 2 ** 20).toFixed(0)} MiB for a directory bundle`).toBeLessThan(48 << 20);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);
});

/** A tar stream: boundary.yaml, one file of `bigSize` zeros, then `small` files of 4 KiB. */
function* bombEntries(manifest: Buffer, bigSize: number, small: number): Generator<Buffer> {
  const header = (name: string, size: number): Buffer => {
    const h = Buffer.alloc(512);
    h.write(name, 0);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(size.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return h;
  };
  const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);
  yield header('boundary.yaml', manifest.length);
  yield Buffer.concat([manifest, pad(manifest.length)]);
  yield header('big', bigSize);
  const zeros = Buffer.alloc(1 << 20);
  for (let n = 0; n < bigSize; n += zeros.length) yield zeros.subarray(0, Math.min(zeros.length, bigSize - n));
  const body = Buffer.alloc(4096, 'x');
  for (let i = 0; i < small; i++) {
    yield header(`small/f${i}`, body.length);
    yield body;
  }
  yield Buffer.alloc(1024);
}

describe('shipped bundles', () => {
  it('every shipped .wasm is built from the .wat beside it', () => {
    const d = tempDir();
    for (const [b, name] of [['hello-wasm', 'hello'], ['wasm-compute', 'compute'], ['wasm-out-of-fuel', 'spin']] as const) {
      const r = spawnSync('wat2wasm', [join(bundle(b), `${name}.wat`), '-o', join(d, `${name}.wasm`)]);
      if (r.error) return skipOrFail('wabt', 'shipped .wasm rebuild check: wat2wasm (Debian wabt) is not installed');
      expect(r.status).toBe(0);
      expect(readFileSync(join(d, `${name}.wasm`)).equals(readFileSync(join(bundle(b), `${name}.wasm`))), b).toBe(true);
    }
    expect(existsSync(join(bundle('refused-wasm-network'), 'guest.wasm'))).toBe(true);
  });
});
