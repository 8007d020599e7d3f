// What the CLI does under faults and at the edges of its limits, as a script would see it.
// Oracles: the streams and exit status a caller gets, /proc, the state root and the journal on
// disk, the monitor's exit record.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { probeBundle, probeRootfs } from '../helpers/probe.js';
import { skipOrFail } from '../helpers/require.js';

const roots: string[] = [];
function newRoot(): string {
  const r = tempDir();
  roots.push(r);
  return r;
}
afterEach(() => {
  for (const root of roots.splice(0)) {
    for (const c of existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []) cli(['delete', '-f', c, '--root', root]);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean, ms = 8000): Promise<void> {
  const t = Date.now();
  while (!fn()) {
    if (Date.now() - t > ms) throw new Error(`${what}: not reached within ${ms} ms`);
    await sleep(20);
  }
}
const journalLines = (root: string): Array<{ report: { body: { containerId: string; outcome: { status: string; signal: string | null } } } }> =>
  existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

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
    expect(cli(['delete', '-f', 'r1', '--root', root]).status).toBe(0);
    expect(await exited).toBe(137); // 128 + SIGKILL, as run reports a killed workload
    expect(existsSync(join(root, 'containers', 'r1'))).toBe(false);
    // exactly one report for the run, journaled by the run itself
    expect(journalLines(root).filter((l) => l.report.body.containerId === 'r1')).toEqual([expect.objectContaining({ report: expect.objectContaining({ body: expect.objectContaining({ outcome: expect.objectContaining({ signal: 'SIGKILL' }) }) }) })]);
    expect(cli(['create', 'r1', '-b', b, '--root', root]).status).toBe(0);
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
  function inFullRoot(script: string): { status: number | null; out: string } {
    if (process.geteuid?.() !== 0) {
      skipOrFail('root', 'mounting a tmpfs needs root');
      return { status: 0, out: 'SKIP' };
    }
    const dir = tempDir();
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `set -u\nmount -t tmpfs -o size=1m tmpfs "$R"\n${script}`], {
      encoding: 'utf8',
      env: { ...process.env, R: dir, BV: `${process.execPath} ${BIN}`, B: probeBundle(['exit', '7']) },
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
      echo "exit=$(tr -d ' \\n' < "$R/root/containers/f2/exit.json")"
      $BV delete f2 --root "$R/root" --json; echo "full-delete=$?"
      rm "$R/fill"
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
});
