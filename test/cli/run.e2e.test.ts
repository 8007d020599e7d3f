// bvisor run from the command line: stdio passes through, the exit status is the workload's,
// bvisor's own failures are 125, the sealed report matches its schema and lands in the journal.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli, cliEnv, PAUSE_SEAM, ROOT } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';
import { probeBundle } from '../helpers/probe.js';
import { validateSealedReport } from '../../src/contract/generated/validators.js';

describe('bvisor run', () => {
  it('runs bundles/hello: its output passes through, exit 0, its start record and report verified in the journal', () => {
    const root = tempDir();
    const r = cli(['--root', root, 'run', 'hello-1', '-b', join(ROOT, 'bundles', 'hello')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from inside the boundary\n');
    const v = cli(['journal', 'verify', '--root', root, '--json']);
    expect(v.json()).toMatchObject({ ok: true, entries: 2 });
  });

  it('keeps its read of a manifest it loaded in the root, one entry per manifest, and a later create or run of it is the same', () => {
    const root = tempDir();
    const cache = (): string[] => (existsSync(join(root, 'manifest-cache')) ? readdirSync(join(root, 'manifest-cache')) : []);
    const hello = join(ROOT, 'bundles', 'hello');
    const first = cli(['run', 'k1', '-b', hello, '--root', root]);
    expect(first.status, first.stderr).toBe(0);
    expect(cache()).toHaveLength(1);
    const entry = join(root, 'manifest-cache', cache()[0]!);
    const made = statSync(entry);
    const again = cli(['run', 'k2', '-b', hello, '--root', root]);
    expect([again.status, again.stdout]).toEqual([0, first.stdout]);
    // Read, not made again: the same file, unwritten since (a miss would rename a new one in).
    expect(cache()).toHaveLength(1);
    expect([statSync(entry).ino, statSync(entry).mtimeMs]).toEqual([made.ino, made.mtimeMs]);
    // Another manifest's bytes: another entry, which create then reads (its stdio is captured:
    // an inherited one would hold this test's pipes open past create).
    const other = probeBundle(['exit', '0']);
    expect(cli(['run', 'k4', '-b', other, '--root', root]).status).toBe(0);
    expect(cache()).toHaveLength(2);
    expect(cli(['create', 'k3', '-b', other, '--root', root]).status).toBe(0);
    expect(cli(['delete', 'k3', '--root', root]).status).toBe(0);
    expect(cache()).toHaveLength(2);
  });

  // runc(8): "--bundle value, -b value  path to the root of the bundle directory, defaults to the
  // current working directory".
  it('run and create without -b (validate and plan without an argument) take the current directory as the bundle, and say so when it holds none', () => {
    const root = tempDir();
    const r = cli(['--root', root, 'run', 'cwd-run'], { cwd: join(ROOT, 'bundles', 'hello') });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from inside the boundary\n');
    // (create's workload has captured stdio: an inherited one would hold this test's pipes open.)
    const probe = probeBundle(['exit', '0']);
    // validate and plan take it too, and name it by its path.
    expect(cli(['validate'], { cwd: probe }).stdout).toBe(`${probe}: valid (linux workload)\n`);
    expect(cli(['plan'], { cwd: probe }).stdout).toMatch(/^admitted: linux backend, plan [0-9a-f]{16}$/m);
    // And by -b, as run and create take it (a new-user pass met "Nonexistent flag"); named twice
    // differently, a usage error.
    expect(cli(['validate', '-b', probe]).stdout).toBe(`${probe}: valid (linux workload)\n`);
    expect(cli(['plan', '--bundle', probe]).stdout).toMatch(/^admitted: linux backend/m);
    const twice = cli(['plan', probe, '-b', join(ROOT, 'bundles', 'hello')]);
    expect([twice.status, twice.stderr]).toEqual([2, expect.stringContaining('BV_USAGE: the bundle is named twice')]);
    const c = cli(['--root', root, 'create', 'cwd-create'], { cwd: probe });
    expect(c.status, c.stderr).toBe(0);
    expect(cli(['--root', root, 'state', 'cwd-create', '--json']).json()).toMatchObject({ status: 'created', bundle: probe });
    expect(cli(['--root', root, 'delete', 'cwd-create']).status).toBe(0);
    // A directory with no manifest: named as the directory it is, and nothing is left made.
    const empty = tempDir();
    const none = cli(['--root', root, 'create', 'cwd-none', '--json'], { cwd: empty });
    expect(none.status).toBe(5);
    expect(none.json().error).toMatchObject({ code: 'BV_MANIFEST_NOT_FOUND', message: `the current directory (${empty}) has no boundary.yaml (nor an OCI config.json)` });
    expect(none.json().error.hint).toBe('pass the bundle directory (-b DIR, or validate DIR and plan DIR), or write one here with `bvisor spec`');
    expect(cli(['plan'], { cwd: empty }).stderr).toMatch(/^bvisor: error BV_MANIFEST_NOT_FOUND: the current directory \(/);
    expect(cli(['--root', root, 'list', '--json']).json()).toEqual([]);
  });

  it('--json prints the sealed report, which matches its schema', () => {
    const root = tempDir();
    const r = cli(['run', 'j1', '-b', probeBundle(['exit', '3']), '--root', root, '--json']);
    expect(r.status).toBe(3);
    // What the workload wrote to its captured stdout goes to stderr: the report parses alone, and
    // the output is not lost (it was counted and hashed, and shown nowhere).
    const spew = cli(['run', 'j2', '-b', probeBundle(['spew', '10']), '--root', root, '--json']);
    expect(spew.json().body.streams.stdout).toMatchObject({ mode: 'capture', bytes: 10 });
    expect(spew.stderr).toContain('xxxxxxxxxx');
    const rep = r.json();
    expect(validateSealedReport(rep), JSON.stringify(validateSealedReport.errors)).toBe(true);
    expect(rep.body.outcome).toMatchObject({ status: 'failed', exitCode: 3 });
  });

  it('a refusal names where the manifest writes its clause (file:line:col), plan and run alike', () => {
    const root = tempDir();
    const dir = tempDir();
    const text = 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true, cwd: / }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nenv: { TOKEN: { secret: api-token } }\n';
    writeFileSync(join(dir, 'boundary.yaml'), text);
    const at = (needle: string): { line: number; col: number } => {
      const i = text.indexOf(needle);
      return { line: text.slice(0, i).split('\n').length, col: i - text.lastIndexOf('\n', i - 1) };
    };
    const file = join(dir, 'boundary.yaml');
    const r = cli(['run', 'loc', '-b', dir, '--root', root, '--json']);
    expect(r.status).toBe(125);
    const issues = r.json().error.issues as Array<{ clause: string; file: string | null; line: number | null; col: number | null }>;
    expect(issues.find((i) => i.clause === 'spawn')).toMatchObject({ file, ...at('descendants') });
    expect(issues.find((i) => i.clause === 'env.TOKEN')).toMatchObject({ file, ...at('{ secret') });
    // plan's text names the same places.
    const p = cli(['plan', dir]);
    expect(p.status).toBe(3);
    expect(p.stderr).toContain(`${file}:${at('descendants').line}:${at('descendants').col} spawn:`);
    // The headline tells the two kinds apart: the secret not handed over is this run's (its
    // caller's); spawn without a bound is the manifest's on any host (validate's refusal too).
    expect(r.json().error.message).toBe('2 clause(s) refused: 1 on this host, 1 on any host; nothing was run');
    expect(cli(['validate', dir, '--json']).json().error.issues.map((i: { clause: string }) => i.clause)).toEqual(['spawn']);
    expect(cli(['run', 'loc2', '-b', dir, '--root', root, '--secret', 'api-token', '--json'], { env: { BVISOR_SECRET_API_TOKEN: 'x' } }).json().error.message).toBe('1 clause(s) refused, here as on any host; nothing was run');
    writeFileSync(join(dir, 'boundary.yaml'), text.replace('spawn: descendants\n', ''));
    expect(cli(['plan', dir]).stderr).toMatch(/^bvisor: error BV_PLAN_REFUSED: \S+: 1 clause\(s\) refused on this host; nothing was run\n/);
  });

  it('relays captured streams and exits 128+signal', () => {
    const root = tempDir();
    const out = cli(['run', 's1', '-b', probeBundle(['spew', '10']), '--root', root]);
    expect(out.stdout).toBe('xxxxxxxxxx');
    expect(cli(['run', 's2', '-b', probeBundle(['segv']), '--root', root]).status).toBe(139);
  });

  it('exits 125 when bvisor refuses, naming why; nothing is run or left', () => {
    const root = tempDir();
    const b = tempDir();
    writeFileSync(join(b, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\nlimits: { fuel: 10 }\n');
    const r = cli(['run', 'r1', '-b', b, '--root', root]);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/BV_PLAN_REFUSED/);
    const j = cli(['run', 'r1', '-b', b, '--root', root, '--json']);
    expect(j.status).toBe(125);
    // exit is the code's category; status, what this process exits with (a new-user pass read
    // exit: 3 and saw 125).
    expect(j.json().error).toMatchObject({ code: 'BV_PLAN_REFUSED', exit: 3, status: 125 });
    expect(cli(['journal', 'verify', '--root', root, '--json']).json().entries).toBe(0);
  });

  // runc's run -d and --pid-file, which a new-user pass reached for. Oracles: /proc (the pid's
  // command line, its end), and the journal's sealed report.
  it('run -d creates and starts, then returns: the workload runs on, its pid in --pid-file and --json; kill and delete end it and seal its report', async () => {
    const root = tempDir();
    const pidFile = join(tempDir(), 'init.pid');
    const r = cli(['run', '-d', 'd1', '-b', probeBundle(['sleep', '30']), '--pid-file', pidFile, '--root', root, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      expect(r.json()).toEqual({ id: 'd1', pid, status: 'running' });
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['sleep', '30']));
      expect(cli(['state', 'd1', '--root', root]).json()).toMatchObject({ status: 'running', pid });
      expect(cli(['kill', 'd1', 'KILL', '--root', root]).status).toBe(0);
      await until('the workload to end', () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'), 10_000);
      await until('the container to stop', () => cli(['state', 'd1', '--root', root]).json().status === 'stopped', 10_000);
      expect(cli(['delete', 'd1', '--root', root]).status).toBe(0);
      expect(cli(['report', 'd1', '--root', root, '--json']).json().body.outcome).toMatchObject({ status: 'killed', reason: 'kill', signal: 'SIGKILL' });
    } finally {
      cli(['delete', '-f', 'd1', '--root', root]);
    }
    // -d with --explain (a trace of the whole run, which -d does not wait for): a usage error.
    const both = cli(['run', '-d', '--explain', 'd2', '-b', probeBundle(['exit', '0']), '--root', root]);
    expect([both.status, both.stderr]).toEqual([125, expect.stringContaining('BV_USAGE: --explain=true cannot also be provided when using --detach')]);
  });

  // An attack: a SIGTERM (timeout(1), Ctrl-C) mid-way left a created, a broken or a running
  // container behind a command that said 143. Held at a fault point (test/seams/pause-at.mjs)
  // while the signal is sent: in create, and once released (start:after-go).
  it('run -d stopped by a signal while it creates or starts: bvisor dies by it and leaves no container, process or pid file', async () => {
    for (const at of ['create:before-confirm', 'start:after-go']) {
      const root = tempDir();
      const gate = tempDir();
      const pidFile = join(tempDir(), 'd.pid');
      const p = spawn(process.execPath, ['--import', PAUSE_SEAM, BIN, 'run', '-d', 'sig', '-b', probeBundle(['sleep', '30']), '--pid-file', pidFile, '--root', root], {
        env: cliEnv({ BVISOR_TEST_PAUSE_AT: at, BVISOR_TEST_PAUSE_UNTIL: join(gate, 'go'), BVISOR_TEST_PAUSE_REACHED: join(gate, 'reached') }),
        stdio: 'ignore',
      });
      const ended = new Promise<[number | null, string | null]>((res) => p.on('exit', (code, sig) => res([code, sig])));
      try {
        await until(`run -d to reach ${at}`, () => existsSync(join(gate, 'reached')), 20_000);
        const pid = at.startsWith('start') ? Number(readFileSync(pidFile, 'utf8')) : null;
        p.kill('SIGTERM');
        writeFileSync(join(gate, 'go'), '');
        expect(await ended, at).toEqual([null, 'SIGTERM']);
        expect(cli(['list', '--root', root, '--json']).json(), at).toEqual([]);
        expect(existsSync(pidFile), at).toBe(false);
        // The workload released before the signal is gone too (its /proc entry, the oracle).
        if (pid !== null) expect(existsSync(`/proc/${pid}`), at).toBe(false);
      } finally {
        p.kill('SIGKILL');
        cli(['delete', '-f', 'sig', '--root', root]);
      }
    }
  });

  it('run --pid-file writes the workload\'s pid before it is released; one that cannot be written fails the run with nothing run or left', async () => {
    const root = tempDir();
    const pidFile = join(tempDir(), 'run.pid');
    const p = spawn(process.execPath, [BIN, 'run', 'p1', '-b', probeBundle(['sleep', '2']), '--pid-file', pidFile, '--root', root], { env: cliEnv(), stdio: 'ignore' });
    const ended = new Promise<number | null>((res) => p.on('exit', (code) => res(code)));
    try {
      await until('the pid file', () => existsSync(pidFile), 10_000);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      // Written before the release: the process is still bvisor's clone until it execs the probe.
      await until('the pid to exec the workload', () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('sleep'), 10_000);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['sleep', '2']));
      expect(await ended).toBe(0);
    } finally {
      p.kill('SIGKILL');
    }
    const bad = cli(['run', 'p2', '-b', probeBundle(['write', '/dev/stdout', 'ran']), '--pid-file', join(tempDir(), 'no', 'such', 'dir', 'x.pid'), '--root', root]);
    expect([bad.status, bad.stdout, bad.stderr]).toEqual([125, '', expect.stringMatching(/BV_IO: --pid-file .*x\.pid: its directory cannot be written \(ENOENT\)/)]);
    // Inside the state root (an attack overwrote the journal with a pid): refused before anything.
    const inRoot = cli(['run', 'p3', '-b', probeBundle(['exit', '0']), '--pid-file', join(root, 'journal.jsonl'), '--root', root]);
    expect([inRoot.status, inRoot.stderr]).toEqual([125, expect.stringContaining(`BV_USAGE: --pid-file ${join(root, 'journal.jsonl')} is inside the state root`)]);
    expect(cli(['journal', 'verify', '--root', root]).status).toBe(0);
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([]);
  });

  // runc run --keep, which a new-user pass reached for: the entry outlives the run.
  it('run --keep leaves the container stopped with its report: the id stays taken until delete, which journals nothing more; without it nothing is left', async () => {
    const root = tempDir();
    const entry = join(root, 'containers', 'kept');
    const journal = (): Array<{ report?: { bodyHash: string; body: { containerId: string; outcome: { exitCode: number | null } } } }> => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const r = cli(['run', '--keep', 'kept', '-b', probeBundle(['exit', '3']), '--root', root]);
    expect(r.status, r.stderr).toBe(3);
    // The oracles: the entry on disk, and the journal's own report line (not state's reading of it).
    expect(existsSync(join(entry, 'state.json'))).toBe(true);
    const sealed = journal().filter((e) => e.report).at(-1)!.report!;
    expect([sealed.body.containerId, sealed.body.outcome.exitCode]).toEqual(['kept', 3]);
    expect(cli(['state', 'kept', '--root', root]).json()).toMatchObject({ status: 'stopped', bvisor: { reportHash: sealed.bodyHash, exit: { status: 'failed', exitCode: 3 }, broken: null } });
    expect(cli(['report', 'kept', '--root', root, '--json']).json().bodyHash).toBe(sealed.bodyHash);
    // Not gc's to take (it is not broken), and the id is taken.
    expect(cli(['gc', '--root', root]).status).toBe(0);
    expect(existsSync(join(entry, 'state.json'))).toBe(true);
    const again = cli(['run', 'kept', '-b', probeBundle(['exit', '0']), '--root', root]);
    expect([again.status, again.stderr]).toEqual([125, expect.stringContaining('BV_CONTAINER_EXISTS')]);
    const lines = journal().length;
    expect(cli(['delete', 'kept', '--root', root]).status).toBe(0);
    expect(existsSync(entry)).toBe(false);
    expect(journal()).toHaveLength(lines);
    expect(cli(['journal', 'verify', '--root', root]).status).toBe(0);
    // The twin: the same run without --keep leaves no entry.
    expect(cli(['run', 'kept', '-b', probeBundle(['exit', '3']), '--root', root]).status).toBe(3);
    expect(existsSync(entry)).toBe(false);
    // Stopped by a signal, the run still seals its report, keeps the entry, then dies by the signal.
    const pidFile = join(tempDir(), 'k.pid');
    const p = spawn(process.execPath, [BIN, 'run', '--keep', 'kept', '-b', probeBundle(['sleep', '30']), '--pid-file', pidFile, '--root', root], { env: cliEnv(), stdio: 'ignore' });
    const ended = new Promise<[number | null, string | null]>((res) => p.on('exit', (code, sig) => res([code, sig])));
    try {
      await until('the workload to run', () => existsSync(pidFile) && readFileSync(`/proc/${Number(readFileSync(pidFile, 'utf8'))}/cmdline`, 'utf8').includes('sleep'), 10_000);
      p.kill('SIGTERM');
      expect(await ended).toEqual([null, 'SIGTERM']);
      expect(cli(['state', 'kept', '--root', root]).json()).toMatchObject({ status: 'stopped', bvisor: { exit: { status: 'killed' }, broken: null } });
    } finally {
      p.kill('SIGKILL');
      cli(['delete', '-f', 'kept', '--root', root]);
    }
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([]);
  });

  // An attack on --keep: a crashed run's entry, sealed by a first state, read as kept from then
  // on (stopped, journaled), so gc never removed it or its cgroups.
  it('a run killed mid-way stays broken however often state reads it, and gc removes it; only --keep\'s mark keeps an entry', async () => {
    const root = tempDir();
    const pidFile = join(tempDir(), 'c.pid');
    const p = spawn(process.execPath, [BIN, 'run', 'crashed', '-b', probeBundle(['sleep', '30']), '--pid-file', pidFile, '--root', root], { env: cliEnv(), stdio: 'ignore' });
    const ended = new Promise((res) => p.on('exit', res));
    try {
      await until('the workload to run', () => existsSync(pidFile) && readFileSync(`/proc/${Number(readFileSync(pidFile, 'utf8'))}/cmdline`, 'utf8').includes('sleep'), 10_000);
      p.kill('SIGKILL');
      await ended;
      for (let i = 0; i < 2; i++) expect(cli(['state', 'crashed', '--root', root]).json(), `state #${i + 1}`).toMatchObject({ status: 'stopped', bvisor: { broken: expect.stringContaining('bvisor run died before it finished') } });
      expect(cli(['gc', '--root', root]).status).toBe(0);
      expect(existsSync(join(root, 'containers', 'crashed'))).toBe(false);
    } finally {
      p.kill('SIGKILL');
      cli(['delete', '-f', 'crashed', '--root', root]);
    }
  });

  // A new-user pass ran x, then ran x again, and found no way to the first report.
  it('an id used twice: report names the newest run and the earlier ones by run id, and reads each by it', () => {
    const root = tempDir();
    expect(cli(['run', 'twice', '-b', probeBundle(['exit', '3']), '--root', root]).status).toBe(3);
    expect(cli(['run', 'twice', '-b', probeBundle(['exit', '0']), '--root', root]).status).toBe(0);
    // The oracle: the journal's own lines, not the report command's reading of them.
    const reports = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.report).map((e) => e.report.body);
    expect(reports.map((b) => [b.containerId, b.outcome.exitCode])).toEqual([['twice', 3], ['twice', 0]]);
    const [first, second] = reports as Array<{ runId: string }>;
    const text = cli(['report', 'twice', '--root', root]);
    expect(text.stdout).toContain(`twice: completed (reason exit, exit 0); run ${second!.runId}, sealed `);
    expect(text.stdout).toContain(`earlier runs of twice in the journal, newest first: ${first!.runId} (failed); bvisor --root ${root} report RUN_ID reads one`);
    expect(cli(['report', first!.runId, '--root', root, '--json']).json().body.outcome).toMatchObject({ status: 'failed', exitCode: 3 });
  });

  it('rejects an id that could address a path outside the root', () => {
    const root = tempDir();
    for (const id of ['../x', 'a/b', '..', 'x'.repeat(200)]) {
      const r = cli(['run', id, '-b', join(ROOT, 'bundles', 'hello'), '--root', root, '--json']);
      expect(r.status, id).toBe(125);
      expect(r.json().error.code).toBe('BV_ID_INVALID');
    }
  });

  it('run and create refuse a bad id before they look at the bundle (an archive is not unpacked for nothing)', () => {
    const root = tempDir();
    const missing = join(tempDir(), 'no-such-bundle.tar');
    for (const cmd of ['run', 'create']) {
      const r = cli([cmd, '../x', '-b', missing, '--root', root, '--json']);
      expect(r.json().error.code, cmd).toBe('BV_ID_INVALID');
      expect(cli([cmd, 'ok', '-b', missing, '--root', root, '--json']).json().error.code, cmd).toBe('BV_BUNDLE_NOT_FOUND');
    }
  });
});
