// What the CLI does under faults and at the edges of its limits, as a script would see it.
// Oracles: the streams and exit status a caller gets, /proc, the state root and the journal on
// disk, the monitor's exit record.
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync, rmSync, chmodSync, truncateSync } from 'node:fs';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, BIN, PAUSE_SEAM } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { probeBundle, probeRootfs, writableDir } from '../helpers/probe.js';
import { skipOrFail } from '../helpers/require.js';
import { newRoot, keepRoot } from '../helpers/roots.js';
import { sleep, until } from '../helpers/wait.js';

const journalLines = (root: string): Array<{ report: { body: { containerId: string; outcome: { status: string; signal: string | null } } } }> =>
  existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.report) : []; // reports (start records and other events aside)

describe('run is a container while it runs', () => {
  it('list shows it running; delete refuses it; create cannot take its id; delete -f ends it and frees the id', async () => {
    const root = newRoot();
    const b = probeBundle(['sleep', '30']);
    const run = spawn(process.execPath, [BIN, 'run', 'r1', '-b', b, '--root', root], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    await until('registered', () => existsSync(join(root, 'containers', 'r1', 'state.json')) && cli(['list', '--root', root, '--json']).json()[0]?.pid > 0);
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([expect.objectContaining({ id: 'r1', status: 'running', broken: null })]);
    const del = cli(['delete', 'r1', '--root', root, '--json']);
    expect(del.status).toBe(7);
    expect(del.json().error.code).toBe('BV_CONTAINER_STATE');
    const again = cli(['create', 'r1', '-b', b, '--root', root, '--json']);
    expect(again.status).toBe(7);
    expect(again.json().error.code).toBe('BV_CONTAINER_EXISTS');
    // The hint's command names this root: run as written, it acts on this container.
    const hint: string = again.json().error.hint;
    expect(hint).toContain(`bvisor --root ${root} delete -f r1`);
    expect(cli(['delete', '-f', 'r1', '--root', root]).status).toBe(0);
    expect(await exited).toBe(137); // 128 + SIGKILL, as run reports a killed workload
    expect(existsSync(join(root, 'containers', 'r1'))).toBe(false);
    // exactly one report for the run, journaled by the run itself
    // exactly one report for the run, journaled by the run itself: the caller's delete -f, said
    expect(journalLines(root).filter((l) => l.report.body.containerId === 'r1').map((l) => l.report.body.outcome)).toEqual([{ status: 'killed', reason: 'deleted', exitCode: null, signal: 'SIGKILL' }]);
    expect(cli(['create', 'r1', '-b', b, '--root', root]).status).toBe(0);
  });

  /** A registered `bvisor run` of a sleep, killed by `kill` once it runs: its exit, stderr, report. */
  async function killedRun(root: string, id: string, kill: (pid: number) => void, extra = ''): Promise<{ code: number | null; stderr: string; body: { outcome: unknown; signalsSent?: unknown } }> {
    const run = spawn(process.execPath, [BIN, 'run', id, '-b', probeBundle(['sleep', '30'], extra), '--root', root], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    run.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    await until('registered', () => existsSync(join(root, 'containers', id, 'state.json')) && cli(['list', '--root', root, '--json']).json()[0]?.pid > 0);
    kill(cli(['list', '--root', root, '--json']).json()[0].pid);
    const code = await exited;
    const [body] = journalLines(root).filter((l) => l.report.body.containerId === id).map((l) => l.report.body as unknown as { outcome: unknown; signalsSent?: unknown });
    return { code, stderr, body: body! };
  }

  it('bvisor kill of a running bvisor run: it exits 128+9, and its own report says killed, reason kill, with no denial summary', async () => {
    const root = newRoot();
    const k = await killedRun(root, 'r2', () => expect(cli(['kill', 'r2', 'KILL', '--root', root]).status).toBe(0));
    expect(k.code).toBe(137);
    expect(k.body.outcome).toEqual({ status: 'killed', reason: 'kill', exitCode: null, signal: 'SIGKILL' });
    expect(k.body.signalsSent).toMatchObject([{ by: 'kill', signal: 'SIGKILL', count: 1 }]);
    // A stop the caller asked for is no failure to explain: no denial summary follows it. Its
    // twin: the same death by a SIGKILL from outside bvisor is a failure, and gets the summary.
    expect(k.stderr).not.toMatch(/^bvisor: /m);
    const other = await killedRun(root, 'r3', (pid) => process.kill(pid, 'SIGKILL'));
    expect(other.code).toBe(137);
    expect(other.body.outcome).toEqual({ status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' });
    expect(other.body.signalsSent).toBeUndefined();
    expect(other.stderr).toMatch(/^bvisor: (the boundary denied|no denial was observed)/m);
  });

  /** Not signalled: running or asleep, and no SIGKILL pending (bit 9, 0x100, of SigPnd and
   * ShdPnd: proc(5)), which a task just killed may show before it runs it. */
  function expectNotKilled(pid: number): void {
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/^\d+ \(.*\) [RS] /);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const set of ['SigPnd', 'ShdPnd']) expect(BigInt('0x' + new RegExp(`^${set}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]) & 0x100n, set).toBe(0n);
  }

  // The run seals as soon as its workload dies: a signal sent before its record is written could
  // be sealed as a crash. The crash seam stops each command between the two (signal:recorded):
  // the record is on disk and the workload, by /proc, still runs.
  for (const [args, by] of [[['kill', 'KILL'], 'kill'], [['kill', '--all', 'KILL'], 'kill --all'], [['delete', '-f'], 'delete --force']] as const) {
    it(`${by} records its SIGKILL before sending it: stopped between the two, the workload still runs`, async () => {
      const root = newRoot();
      const id = `rs${by.length}`;
      const k = await killedRun(root, id, (pid) => {
        const [verb, ...rest] = args;
        const r = cli([verb, ...(verb === 'kill' ? [...rest.slice(0, -1), id, rest.at(-1)!] : [...rest, id]), '--root', root], { crashAt: 'signal:recorded' });
        expect(r.signal, r.stderr).toBe('SIGKILL');
        expectNotKilled(pid);
        expect(JSON.parse(readFileSync(join(root, 'containers', id, 'signals.json'), 'utf8')).sent).toMatchObject([{ by, signal: 'SIGKILL', count: 1 }]);
        process.kill(pid, 'SIGKILL'); // what the stopped command was about to do
      }, 'limits: { memory: 64Mi }\n'); // a cgroup of its own: --all has members to signal
      expect(k.code).toBe(137);
      expect(k.body.signalsSent).toMatchObject([{ by, signal: 'SIGKILL', count: 1 }]);
    });
  }

  it('delete -f of a started container records its SIGKILL before sending it: stopped between the two, the workload still runs', () => {
    const root = newRoot();
    expect(cli(['create', 'rc1', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    expect(cli(['start', 'rc1', '--root', root]).status).toBe(0);
    const pid = cli(['state', 'rc1', '--root', root, '--json']).json().pid as number;
    const r = cli(['delete', '-f', 'rc1', '--root', root], { crashAt: 'signal:recorded' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    expectNotKilled(pid);
    expect(JSON.parse(readFileSync(join(root, 'containers', 'rc1', 'signals.json'), 'utf8')).sent).toMatchObject([{ by: 'delete --force', signal: 'SIGKILL', count: 1 }]);
    const d = cli(['delete', '-f', 'rc1', '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('a kill whose record cannot be written is still sent: a warning says so, and the report says failed, reason signal', async () => {
    const root = newRoot();
    const k = await killedRun(root, 'r4', () => {
      mkdirSync(join(root, 'containers', 'r4', 'signals.json')); // no file can be renamed over a directory
      const r = cli(['kill', 'r4', 'KILL', '--root', root]);
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/^bvisor: warning: container r4: SIGKILL will be sent, but is not recorded for its report \(EISDIR\): if it ends the workload, the report says failed, reason signal$/m);
    });
    expect(k.code).toBe(137);
    expect(k.body.outcome).toEqual({ status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' });
  });
});

describe('limits at their edges', () => {
  it('a wall above 24.8 days (the setTimeout ceiling) does not fire at once: run of wall 600h exits 0', () => {
    const root = newRoot();
    const r = cli(['run', 'w1', '-b', probeBundle(['sleep', '1'], 'limits: { wall: 600h }\n'), '--root', root]);
    expect(r.status, r.stderr).toBe(0);
  });

  it('the output cap bounds what run relays, and says where it cut', () => {
    const root = newRoot();
    const r = spawnSync(process.execPath, [BIN, 'run', 'o1', '-b', probeBundle(['spew', String(10 * 1024 * 1024)], 'limits: { output: 1Ki }\n'), '--root', root], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.length).toBe(1024); // limits.output: 1Ki = 1024 bytes
    expect(r.stdout.toString()).toBe('x'.repeat(1024));
    expect(r.stderr.toString()).toMatch(/stdout reached limits\.output \(1Ki\)/);
    const rep = journalLines(root).at(-1)!.report as unknown as { body: { streams: { stdout: { bytes: number; truncated: boolean } } } };
    expect(rep.body.streams.stdout).toMatchObject({ bytes: 10 * 1024 * 1024, truncated: true });
  });
});

describe('the monitor keeps nothing of its caller', () => {
  it('`bvisor create … 100>&1 | cat` does not hang: the monitor closes descriptors it inherited', async () => {
    const root = newRoot();
    // fd 100 of create is the write end of a pipe we read: EOF comes only when every holder
    // closed it, so a monitor that kept it would hold this read open for the container's life.
    const stdio: Array<'ignore' | 'pipe'> = Array.from({ length: 101 }, () => 'ignore');
    stdio[100] = 'pipe';
    const p = spawn(process.execPath, [BIN, 'create', 'f1', '-b', probeBundle(['sleep', '30']), '--root', root], { stdio });
    const eof = new Promise<string>((resolve) => {
      const s = (p.stdio as unknown as NodeJS.ReadableStream[])[100]!;
      s.on('data', () => {});
      s.on('end', () => resolve('eof'));
    });
    const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(await Promise.race([eof, sleep(5000).then(() => 'still open')])).toBe('eof');
    const st = cli(['state', 'f1', '--root', root]).json();
    const mon = st.bvisor.monitorPid as number;
    // /proc/<monitor>/fd: 0-2 on /dev/null, then only the monitor's own (state dir, pidfd,
    // signalfd, pipes of its own workload), never a descriptor the caller had.
    const fds = readdirSync(`/proc/${mon}/fd`).map(Number).sort((a, b) => a - b);
    expect(fds).not.toContain(100);
  });
});

describe('a tar bundle', () => {
  it('stays extracted from create until delete (the workload reads a file of the bundle after start)', async () => {
    const root = newRoot();
    const { dir, rootfs } = probeRootfs();
    writeFileSync(join(rootfs, 'msg'), 'from the bundle');
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs, readonly: true }\nworkload:\n  process: { exe: /bin/bvprobe, args: [read, /msg], cwd: / }\nstdio: { stdout: capture, stderr: capture }\n`);
    const tar = join(tempDir(), 'b.tar');
    execFileSync('tar', ['-cf', tar, '-C', dir, '.']);
    const tmp = tempDir('bvisor-tmp-');
    const env = { TMPDIR: tmp };
    const c = cli(['create', 't1', '-b', tar, '--root', root], { env });
    expect(c.status, c.stderr).toBe(0);
    expect(readdirSync(tmp).filter((n) => n.startsWith('bvisor-bundle-'))).toHaveLength(1);
    expect(cli(['start', 't1', '--root', root]).status).toBe(0);
    await until('stopped', () => cli(['state', 't1', '--root', root]).json().status === 'stopped');
    expect(readFileSync(join(root, 'containers', 't1', 'stdout'), 'utf8')).toBe('from the bundle');
    expect(cli(['delete', 't1', '--root', root], { env }).status).toBe(0);
    expect(readdirSync(tmp).filter((n) => n.startsWith('bvisor-'))).toEqual([]);
  });
});


describe('a full state root', () => {
  // A private mount namespace holds a 1 MiB tmpfs as the state root, for one script: the
  // container's monitor lives in it too, and all of it goes when the script's processes do.
  function inFullRoot(script: string, extraEnv: NodeJS.ProcessEnv = {}): { status: number | null; out: string } {
    if (process.geteuid?.() !== 0) {
      skipOrFail('root', 'mounting a tmpfs needs root');
      return { status: 0, out: 'SKIP' };
    }
    const dir = tempDir();
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `set -u\nmount -t tmpfs -o size=1m tmpfs "$R"\n${script}`], {
      encoding: 'utf8',
      // PAUSED: a bvisor held at BVISOR_TEST_PAUSE_AT until BVISOR_TEST_PAUSE_UNTIL exists.
      env: { ...process.env, R: dir, BV: `${process.execPath} ${BIN}`, PAUSED: `${process.execPath} --import ${PAUSE_SEAM} ${BIN}`, B: probeBundle(['exit', '7']), SPEW: probeBundle(['spew', '3000000'], 'limits: { output: 2Mi }\n'), ...extraEnv },
      timeout: 60_000,
    });
    return { status: r.status, out: r.stdout + r.stderr };
  }

  it('at create: a coded error before anything exists', () => {
    const r = inFullRoot(`
      head -c 2000000 /dev/zero > "$R/fill" 2>/dev/null
      $BV create f1 -b "$B" --root "$R/root" --json; echo "create=$?"
      ls -A "$R/root/containers" 2>/dev/null | wc -l | sed 's/^/entries=/'
    `);
    if (r.out === 'SKIP') return;
    expect(r.out).toMatch(/"code": "BV_STATE_ROOT_UNUSABLE"/);
    expect(r.out).toMatch(/create=4\n/); // exit 4: setup (docs/exit-codes.md)
    expect(r.out).toMatch(/entries=0\n/);
  });

  it('after create: the monitor still records the exit (its space was reserved), and delete works once there is room', () => {
    const r = inFullRoot(`
      $BV create f2 -b "$B" --root "$R/root" >/dev/null; echo "create=$?"
      head -c 2000000 /dev/zero > "$R/fill" 2>/dev/null
      $BV start f2 --root "$R/root" >/dev/null; echo "start=$?"
      for i in $(seq 100); do [ -e "$R/root/containers/f2/exit.json" ] && break; sleep 0.05; done
      # start freed the page of the state it replaced: full again
      head -c 2000000 /dev/zero > "$R/fill2" 2>/dev/null
      echo "exit=$(tr -d ' \\n' < "$R/root/containers/f2/exit.json")"
      $BV delete f2 --root "$R/root" --json; echo "full-delete=$?"
      rm "$R/fill" "$R/fill2"
      $BV delete f2 --root "$R/root" --json; echo "delete=$?"
      grep -o '"exitCode":[0-9]*' "$R/root/journal.jsonl" | tail -1
    `);
    if (r.out === 'SKIP') return;
    expect(r.out).toMatch(/create=0\n/);
    expect(r.out).toMatch(/start=0\n/);
    expect(r.out).toMatch(/exit=\{"phase":"exited","siCode":1,"status":7,/); // CLD_EXITED (1), exit 7
    // with no room to seal, delete is a coded error (never BV_INTERNAL) and keeps the container
    expect(r.out).not.toMatch(/BV_INTERNAL/);
    expect(r.out).toMatch(/full-delete=[14]\n/);
    expect(r.out).toMatch(/delete=0\n/);
    expect(r.out).toMatch(/"exitCode":7/);
  });

  it('filled by captures: list still lists, delete makes room by dropping the captures it hashed, a neighbour can go too', () => {
    const r = inFullRoot(`
      $BV create f3 -b "$B" --root "$R/root" >/dev/null; echo "create3=$?"
      $BV create f4 -b "$SPEW" --root "$R/root" >/dev/null; echo "create4=$?"
      $BV start f4 --root "$R/root" >/dev/null
      # Up to 30 s for the spewing workload to fill the root and end (under the full suite's load
      # 5 s was not always enough, and df then saw a root not yet full).
      for i in $(seq 600); do [ -e "$R/root/containers/f4/exit.json" ] && break; sleep 0.05; done
      echo "free=$(df --output=avail "$R" | tail -1 | tr -d ' ')"
      $BV list --root "$R/root" --json >/dev/null; echo "list=$?"
      $BV delete f4 --root "$R/root" --json; echo "delete4=$?"
      $BV delete f3 --root "$R/root" --json; echo "delete3=$?"
      ls "$R/root/containers" | wc -l | sed 's/^/left=/'
    `);
    if (r.out === 'SKIP') return;
    expect(r.out).toMatch(/create3=0\n/);
    expect(r.out).toMatch(/create4=0\n/);
    // The captures did fill it: the relay writes no more after its first short write, and only
    // what `start`, racing the spew, gives back may come free after that (its reservation's
    // pages beyond the running state, and the state it replaced: 3 pages of 4 KiB here).
    expect(Number(/free=(\d+)\n/.exec(r.out)?.[1] ?? NaN)).toBeLessThanOrEqual(16);
    expect(r.out).not.toMatch(/BV_INTERNAL/);
    expect(r.out).toMatch(/list=0\n/);
    expect(r.out).toMatch(/delete4=0\n/);
    expect(r.out).toMatch(/delete3=0\n/);
    expect(r.out).toMatch(/left=0\n/);
  });

  it('filled while a registered run runs: its report is still saved and journaled, on the space run held for it', () => {
    // run is held after its start record, before the workload's go byte, until the script has
    // filled the root: whatever run writes after it releases the workload meets a full root
    // every time (its reservation is held by then; the workload's pid must already be recorded).
    const r = inFullRoot(`
      O=$(mktemp -d)
      BVISOR_TEST_PAUSE_AT=run:after-start-record BVISOR_TEST_PAUSE_UNTIL="$O/go" $PAUSED run r1 -b "$B" --root "$R/root" > "$O/run.out" 2>&1 &
      for i in $(seq 600); do grep -q '"started"' "$R/root/journal.jsonl" 2>/dev/null && break; sleep 0.05; done
      echo "pidstate=$(tr -d ' \n' < "$R/root/containers/r1/state.json" | grep -o '"pid":{"pid":[0-9]*')"
      head -c 2000000 /dev/zero > "$R/fill" 2>/dev/null
      echo "free=$(df --output=avail "$R" | tail -1 | tr -d ' ')"
      touch "$O/go"; wait $!; echo "run=$?"
      cat "$O/run.out"
      grep -o '"exitCode":[0-9]*' "$R/root/journal.jsonl" | tail -1
      ls "$R/root/containers" | wc -l | sed 's/^/left=/'
      rm -rf "$O"
    `);
    if (r.out === 'SKIP') return;
    expect(r.out).toMatch(/free=0\n/);
    // Its workload's pid was recorded before it was released (a seal after a crash reports it).
    expect(r.out).toMatch(/pidstate="pid":\{"pid":\d+\n/);
    expect(r.out).toMatch(/run=7\n/); // the workload's own exit code
    expect(r.out).not.toMatch(/BV_IO|ENOSPC|error/);
    expect(r.out).toMatch(/"exitCode":7/);
    expect(r.out).toMatch(/left=0\n/);
  });

  it('filled while a run writes 1500 files to its grant: the report is kept without the lists, and says why', () => {
    // The listing of 1500 created files (about 150 KiB) is more than run's 64 KiB reservation; the
    // root is filled while run is held after its start record, so only the reservation is left.
    const grant = writableDir();
    const many = tempDir('bvisor-many-');
    chmodSync(many, 0o755);
    writeFileSync(
      join(many, 'boundary.yaml'),
      `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/sh, args: ["-c", "i=0; while [ $i -lt 1500 ]; do : > ${grant}/f$i; i=$((i+1)); done; exit 5"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${grant}, access: read-write }\nspawn: deny\nstdio: { stdout: capture, stderr: capture }\n`,
    );
    const r = inFullRoot(
      `
      O=$(mktemp -d)
      BVISOR_TEST_PAUSE_AT=run:after-start-record BVISOR_TEST_PAUSE_UNTIL="$O/go" $PAUSED run m1 -b "$MANY" --root "$R/root" > "$O/run.out" 2>&1 &
      for i in $(seq 600); do grep -q '"started"' "$R/root/journal.jsonl" 2>/dev/null && break; sleep 0.05; done
      head -c 2000000 /dev/zero > "$R/fill" 2>/dev/null
      echo "free=$(df --output=avail "$R" | tail -1 | tr -d ' ')"
      touch "$O/go"; wait $!; echo "run=$?"
      cat "$O/run.out"
      tail -1 "$R/root/journal.jsonl" > "$O/last.json"
      node -e 'const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const d = e.report.body.fsDelta[0]; console.log("exit=" + e.report.body.outcome.exitCode, "created=" + d.created.length, "notObserved=" + d.notObserved)' "$O/last.json"
      ls "$R/root/containers" | wc -l | sed 's/^/left=/'
      rm -rf "$O"
    `,
      { MANY: many },
    );
    if (r.out === 'SKIP') return;
    expect(readdirSync(grant)).toHaveLength(1500); // what the workload did: the lists' subject
    expect(r.out).toMatch(/free=0\n/);
    expect(r.out).toMatch(/run=5\n/); // the workload's own exit code: the run was reported
    expect(r.out).not.toMatch(/BV_IO|error/);
    expect(r.out).toMatch(/bvisor: warning: filesystem\[1\] \([^)]*\): observed, but not kept: the report with this grant's 1500 created/);
    expect(r.out).toMatch(/exit=5 created=0 notObserved=observed, but not kept: the report with this grant's 1500 created, 0 modified and 0 deleted entries did not fit in the state root \(ENOSPC\)\n/);
    expect(r.out).toMatch(/left=0\n/);
  });

  it('filled by the workload before start records it running: start still succeeds, on the space create held for that write', () => {
    // start is held after the go byte until the workload has filled the root and ended, so its
    // running state is written to a full root every time (unheld, that happened now and then).
    const r = inFullRoot(`
      $BV create f5 -b "$SPEW" --root "$R/root" >/dev/null; echo "create=$?"
      BVISOR_TEST_PAUSE_AT=start:after-go BVISOR_TEST_PAUSE_UNTIL="$R/root/containers/f5/exit.json" $PAUSED start f5 --root "$R/root"; echo "start=$?"
      # start gave back what its reservation held beyond the state: full again
      head -c 2000000 /dev/zero > "$R/fill" 2>/dev/null
      echo "free=$(df --output=avail "$R" | tail -1 | tr -d ' ')"
      $BV state f5 --root "$R/root" 2>&1 | grep -o -e '^  "status": "[a-z]*"' -e 'warning: container f5 stopped, but recording its report failed: .*ENOSPC'
      rm "$R/fill"
      $BV delete f5 --root "$R/root" --json >/dev/null; echo "delete=$?"
      ls "$R/root/containers" | wc -l | sed 's/^/left=/'
    `);
    if (r.out === 'SKIP') return;
    expect(r.out).toMatch(/create=0\n/);
    expect(r.out).toMatch(/start=0\n/);
    expect(r.out).toMatch(/free=0\n/);
    // state still answers on the full root, and says why its report is not recorded yet
    expect(r.out).toMatch(/^ {2}"status": "stopped"\n/m);
    expect(r.out).toMatch(/^warning: container f5 stopped, but recording its report failed: .*ENOSPC\n/m);
    expect(r.out).not.toMatch(/BV_IO|error/);
    expect(r.out).toMatch(/delete=0\n/);
    expect(r.out).toMatch(/left=0\n/);
  });
});

describe('what an attack on the lifecycle found', () => {
  const shBundle = (script: string, extra = ''): string => {
    const b = tempDir('bvisor-sh-');
    chmodSync(b, 0o755);
    writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nstdio: { stdout: capture, stderr: capture }\n${extra}`);
    return b;
  };

  it('delete -f of a run leaves alone a new container that took the id after the run let it go', async () => {
    const root = newRoot();
    const run = spawn(process.execPath, [BIN, 'run', 'z1', '-b', probeBundle(['sleep', '30']), '--root', root], { stdio: 'ignore' });
    const ended = new Promise((r) => run.on('exit', r));
    // Registered, and past the lock its state write took: stopped while it still held the
    // entry's lock (the directory's fsync after the rename), the run would keep delete waiting
    // on that lock, not on the run (flock(1) -n: free now; the run takes it again only at its end).
    await until('registered', () => cli(['list', '--root', root, '--json']).json()[0]?.pid > 0 && spawnSync('flock', ['-n', join(root, 'containers', 'z1', 'lock'), 'true']).status === 0);
    run.kill('SIGSTOP');
    const del = spawn(process.execPath, [BIN, 'delete', '-f', 'z1', '--root', root], { stdio: 'ignore' });
    const delDone = new Promise<number | null>((r) => del.on('exit', (c) => r(c)));
    // The delete has killed the run's workload and waits, through a pidfd, for the stopped run
    // to finish (a fixed sleep here raced node's start-up on a loaded machine).
    await until('delete waits for the run', () => {
      try {
        return readdirSync(`/proc/${del.pid}/fd`).some((fd) => readlinkSync(`/proc/${del.pid}/fd/${fd}`) === 'anon_inode:[pidfd]');
      } catch {
        return false;
      }
    }, 20_000);
    // As if the run had released its entry: the id is free, and a create takes it.
    rmSync(join(root, 'containers', 'z1'), { recursive: true, force: true });
    expect(cli(['create', 'z1', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    run.kill('SIGCONT');
    await ended;
    expect(await delDone).toBe(0);
    expect(cli(['state', 'z1', '--root', root]).json().status).toBe('created');
  });

  it('a relative --root is recorded absolute: gc run elsewhere keeps a live container\'s kept bundle', () => {
    const cwd = tempDir();
    const tmp = tempDir('bvisor-tmp-');
    const tar = join(tempDir(), 'b.tar');
    execFileSync('tar', ['-cf', tar, '-C', probeBundle(['sleep', '30']), '.']);
    expect(cli(['create', 'rel', '-b', tar, '--root', './r'], { cwd, env: { TMPDIR: tmp } }).status).toBe(0);
    keepRoot(join(cwd, 'r'));
    const owner = JSON.parse(readFileSync(join(tmp, readdirSync(tmp)[0]!, 'owner.json'), 'utf8'));
    expect(owner.stateDir).toBe(join(cwd, 'r', 'containers', 'rel'));
    const empty = newRoot();
    const gc = cli(['gc', '--root', empty], { cwd: '/', env: { TMPDIR: tmp } });
    expect([gc.status, gc.stdout]).toEqual([0, `nothing to remove under ${empty}\n`]);
    expect(readdirSync(tmp)).toHaveLength(1);
  });

  it('a capture larger than a Buffer (2 GiB + 4 KiB, sparse here) is hashed as it is read: report works', async () => {
    const root = newRoot();
    expect(cli(['create', 'big', '-b', probeBundle(['exit', '0'], 'limits: { output: 3Gi }\n'), '--root', root]).status).toBe(0);
    expect(cli(['start', 'big', '--root', root]).status).toBe(0);
    await until('exit record', () => existsSync(join(root, 'containers', 'big', 'exit.json')));
    truncateSync(join(root, 'containers', 'big', 'stdout'), 2 ** 31 + 4096); // just over what a Buffer holds
    const r = cli(['report', 'big', '--root', root, '--json']);
    expect(r.status, r.stdout).toBe(0);
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    expect(r.json().body.streams.stdout.sha256).not.toBe(createHash('sha256').digest('hex'));
  });

  it('a state.json from before kind/keptBundle is still the container; a damaged one still has its processes stopped', async () => {
    const root = newRoot();
    const b = probeBundle(['sleep', '30']);
    expect(cli(['create', 'o1', '-b', b, '--root', root]).status).toBe(0);
    const f = join(root, 'containers', 'o1', 'state.json');
    const st = JSON.parse(readFileSync(f, 'utf8'));
    delete st.kind;
    delete st.keptBundle;
    writeFileSync(f, JSON.stringify(st));
    expect(cli(['list', '--root', root, '--json']).json()[0]).toMatchObject({ id: 'o1', status: 'created', broken: null });
    // damaged: an unknown field (it no longer validates), its pids intact
    writeFileSync(f, JSON.stringify({ ...st, extra: 1 }));
    expect(cli(['delete', 'o1', '--root', root]).status).toBe(7);
    expect(cli(['delete', '-f', 'o1', '--root', root]).status).toBe(0);
    const gone = (ref: { pid: number }): boolean => !existsSync(`/proc/${ref.pid}`) || /^State:\s*Z/m.test(readFileSync(`/proc/${ref.pid}/status`, 'utf8'));
    await until('workload and monitor stopped', () => gone(st.pid) && gone(st.monitor));
  });

  it('delete seals an OOM-killed container as killed/oom with the memory it reached (read before the cgroups go)', async () => {
    const root = newRoot();
    expect(cli(['create', 'oom', '-b', probeBundle(['alloc', '200'], 'limits: { memory: 64Mi }\n'), '--root', root]).status).toBe(0);
    expect(cli(['start', 'oom', '--root', root]).status).toBe(0);
    await until('exit record', () => existsSync(join(root, 'containers', 'oom', 'exit.json')));
    expect(cli(['delete', 'oom', '--root', root]).status).toBe(0);
    const rep = journalLines(root).at(-1)!.report as unknown as { body: { outcome: { status: string; reason: string }; budgets: { memory: { observed: unknown } } } };
    expect(rep.body.outcome).toMatchObject({ status: 'killed', reason: 'oom' });
    expect(rep.body.budgets.memory.observed).toBeGreaterThanOrEqual(60 * 1024 * 1024);
  });

  it('the truncation notice comes even when the cap falls on a chunk boundary', () => {
    const root = newRoot();
    const r = spawnSync(process.execPath, [BIN, 'run', 'tb', '-b', shBundle('head -c 4096 /dev/zero; sleep 0.3; echo more', 'spawn: descendants\nlimits: { output: 4Ki, processes: 8 }\n'), '--root', root], { encoding: 'buffer' });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.length).toBe(4096);
    expect(r.stderr.toString()).toMatch(/stdout reached limits\.output \(4Ki\)/);
  });

  it('an id of 100 characters runs (its hostname is cut to 64 bytes)', () => {
    const root = newRoot();
    const id = 'a'.repeat(100);
    const r = cli(['run', id, '-b', probeBundle(['facts']), '--root', root]);
    expect(r.status, r.stderr).toBe(0);
    const host = JSON.parse(r.stdout).hostname as string;
    expect(Buffer.byteLength(host)).toBeLessThanOrEqual(64); // HOST_NAME_MAX (sethostname(2))
    expect(host.startsWith('a'.repeat(55))).toBe(true);
  });

  it('a command waiting for a lock whose container is deleted meanwhile says it is gone', async () => {
    const root = newRoot();
    expect(cli(['create', 'lk', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    // hold the container's lock as another bvisor command would
    const holder = spawn('flock', [join(root, 'containers', 'lk', 'lock'), '-c', 'sleep 1.5'], { stdio: 'ignore' });
    await sleep(200);
    const waiter = spawn(process.execPath, [BIN, 'state', 'lk', '--root', root, '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    waiter.stdout.on('data', (d) => (out += d));
    const code = new Promise<number | null>((r) => waiter.on('exit', (c) => r(c)));
    await sleep(300);
    const st = JSON.parse(readFileSync(join(root, 'containers', 'lk', 'state.json'), 'utf8'));
    process.kill(st.monitor.pid, 'SIGKILL');
    rmSync(join(root, 'containers', 'lk'), { recursive: true, force: true });
    await new Promise((r) => holder.on('exit', r));
    expect(await code).toBe(6);
    expect(JSON.parse(out).error.code).toBe('BV_CONTAINER_NOT_FOUND');
  });
});

describe('empty and impossible global inputs', () => {
  it('an empty bundle path, an empty --root and an unwritable --log are coded errors', () => {
    const v = cli(['validate', '', '--json']);
    expect(v.status).toBe(5);
    expect(v.json().error.code).toBe('BV_BUNDLE_NOT_FOUND');
    const r = cli(['list', '--root', '', '--json']);
    expect(r.status).toBe(2);
    expect(r.json().error.code).toBe('BV_USAGE');
    const l = cli(['list', '--root', newRoot(), '--log', '/nonexistent-dir/x.log', '--json']);
    expect(l.status).toBe(2);
    expect(l.json().error).toMatchObject({ code: 'BV_USAGE', message: expect.stringMatching(/ENOENT/) });
  });
});
