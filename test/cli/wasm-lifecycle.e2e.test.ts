// Wasm workloads through the lifecycle doors (create / start / state / kill / delete), through
// the real CLI, against what `bvisor run` gives for the same bundle. Oracles: /proc (the
// created runner has not exec'd Node: its executable is still the monitor's; its fd 3 is an
// unnamed in-memory file), the captured stdout the monitor relays, the guest's own exit code,
// the state root on disk (no secret anywhere), the journal, and the cgroup directories.
import { closeSync, copyFileSync, chmodSync, chownSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { until, alive, sleep } from '../helpers/wait.js';
import { skipOrFail } from '../helpers/require.js';
import { facts, testCgroupParent } from '../helpers/probe.js';
import { guest } from '../helpers/wasm-guest.js';
import { readByItsOwnIds, readerMissing, refused } from '../helpers/dumpable.js';

const BUNDLES = join(__dirname, '..', '..', 'bundles');
const bundle = (name: string): string => join(BUNDLES, name);
const state = (root: string, id: string) => cli(['state', id, '--root', root, '--json']).json();
const journal = (root: string): any[] => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const lastReport = (root: string): any => journal(root).at(-1).report;

/** A bundle of its own: a module and a manifest (the module copied from a shipped bundle, or
 * built from WAT with wat2wasm; null when wat2wasm is missing). */
function wasmBundle(manifest: string, module: { from: string } | { wat: string }): string | null {
  const d = tempDir('bvisor-wasm-lc-');
  chmodSync(d, 0o755);
  if ('from' in module) copyFileSync(module.from, join(d, 'm.wasm'));
  else {
    writeFileSync(join(d, 'm.wat'), module.wat);
    const r = spawnSync('wat2wasm', [join(d, 'm.wat'), '-o', join(d, 'm.wasm')], { encoding: 'utf8' });
    if (r.error) return null;
    if (r.status !== 0) throw new Error(r.stderr);
  }
  writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\nnetwork: deny\nspawn: deny\n${manifest}`);
  return d;
}
const spinBundle = (limits: string): string => wasmBundle(`stdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { ${limits} }\n`, { from: join(bundle('wasm-out-of-fuel'), 'spin.wasm') })!;

/** bvisor's cgroup leaves for these ids, in every hierarchy (other files run in parallel). */
function leaves(ids: string[]): string[] {
  const out: string[] = [];
  for (const h of [...facts().cgroup.v1, ...(facts().cgroup.v2 ? [facts().cgroup.v2!] : [])]) {
    if (!h.ownDir) continue;
    for (const d of [h.ownDir, join(h.ownDir, testCgroupParent())]) {
      if (existsSync(d)) for (const n of readdirSync(d)) if (ids.some((id) => n.startsWith(`bvisor-${id}-`))) out.push(join(d, n));
    }
  }
  return out.sort();
}

/** The substance of a wasm report: what happened to the guest and what it used. */
function substance(r: any): Record<string, unknown> {
  const b = r.body;
  return {
    backend: b.backend,
    outcome: b.outcome,
    fuel: b.budgets.fuel,
    memory: b.budgets.memory,
    wallLimit: b.budgets.wall.limit,
    streams: b.streams,
    admitted: b.admitted,
    evidence: b.evidence.filter((e: any) => ['wasm.fuel-unit', 'wasm.max-pages', 'wasm.table-entries', 'wasm.seed'].includes(e.name)),
  };
}

/** Create → created (nothing run) → start → stopped → delete; the sealed report from the journal. */
async function lifecycle(root: string, id: string, b: string): Promise<any> {
  const c = cli(['create', id, '-b', b, '--root', root]);
  expect(c.status, c.stderr).toBe(0);
  const st = state(root, id);
  expect(st).toMatchObject({ status: 'created', bvisor: { backend: 'wasm' } });
  // The runner waits before exec: its executable is still the monitor's (Node has not started,
  // the module has not run), the monitor is its parent, and no output exists yet.
  expect(readlinkSync(`/proc/${st.pid}/exe`)).toMatch(/bvmonitor$/);
  expect(Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${st.pid}/status`, 'utf8'))![1])).toBe(st.bvisor.monitorPid);
  expect(readFileSync(join(root, 'containers', id, 'stdout'), 'utf8')).toBe('');
  expect(readFileSync(join(root, 'containers', id, 'wasm-outcome'), 'utf8')).toBe('');
  const s = cli(['start', id, '--root', root]);
  expect(s.status, s.stderr).toBe(0);
  await until(`${id} to stop`, () => state(root, id).status === 'stopped', 30_000);
  expect(alive(st.bvisor.monitorPid)).toBe(false);
  const d = cli(['delete', id, '--root', root]);
  expect(d.status, d.stderr).toBe(0);
  expect(existsSync(join(root, 'containers', id))).toBe(false);
  return lastReport(root);
}

describe('wasm through create/start/state/kill/delete (CLI)', () => {
  it('hello-wasm: created runs nothing, start runs it, delete seals the report bvisor run seals', async () => {
    const root = newRoot();
    const id = 'wl-hello';
    const before = leaves([id, 'wl-hello-run']);
    const created = await lifecycle(root, id, bundle('hello-wasm'));
    expect(created.body.outcome).toMatchObject({ status: 'completed', reason: 'exit', exitCode: 0 });
    // The guest's output, as the monitor relayed it, is what run prints.
    const r = cli(['run', 'wl-hello-run', '-b', bundle('hello-wasm'), '--root', root, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const ran = lastReport(root);
    expect(ran.body.containerId).toBe('wl-hello-run');
    expect(substance(created)).toEqual(substance(ran));
    expect(created.body.budgets.fuel.observed).toBeGreaterThan(0);
    expect(created.body.streams.stdout).toMatchObject({ bytes: 'hello from wasm, bv\n'.length, truncated: false });
    expect(cli(['journal', 'verify', '--root', root, '--json']).json().entries).toBe(4); // a start record and a report each
    expect(leaves([id, 'wl-hello-run'])).toEqual(before);
  });

  it('a read-write preopen: the report delete seals lists what the guest made there, as run\'s does (fsDelta)', async () => {
    const make = (): string | null => {
      const b = wasmBundle('filesystem:\n  - { path: ./sb, access: read-write }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n', { wat: guest([{ op: 'open', path: 'made.txt', create: true }]) });
      if (b === null) return null;
      // A regular user's directory: the runner (uid 65534 as root) writes it through an idmapped mount.
      mkdirSync(join(b, 'sb'));
      chownSync(join(b, 'sb'), 1000, 1000);
      return b;
    };
    const viaCreate = make();
    const viaRun = make();
    if (viaCreate === null || viaRun === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const root = newRoot();
    const created = await lifecycle(root, 'wl-delta', viaCreate);
    expect(created.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    // The oracle: the disk. An empty file, whose sha256 is that of no bytes (FIPS 180-4).
    expect(statSync(join(viaCreate, 'sb', 'made.txt')).size).toBe(0);
    const made = [{ path: 'made.txt', kind: 'file', size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }];
    expect(created.body.fsDelta).toEqual([{ clause: 'filesystem[0]', path: join(viaCreate, 'sb'), notObserved: null, created: made, modified: [], deleted: [] }]);
    const r = cli(['run', 'wl-delta-run', '-b', viaRun, '--root', root, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(lastReport(root).body.fsDelta).toEqual([{ clause: 'filesystem[0]', path: join(viaRun, 'sb'), notObserved: null, created: made, modified: [], deleted: [] }]);
  });

  // docs/denials.md: secrets never reach a record. The guest names a path and a file after its
  // token (compiled in here). Its runner redacts its refusal; delete, which seals in a later
  // process that never knew the value, lists no delta for the grant and says why.
  it('a guest with a secret: its refusal is redacted, and the sealed delta is not observed rather than unchecked', async () => {
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const b = wasmBundle('filesystem:\n  - { path: ./sb, access: read-write }\nenv: { TOKEN: { secret: tok } }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n', { wat: guest([{ op: 'open', path: `/${secret}/x` }, { op: 'open', path: `tok-${secret}`, create: true }]) });
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    mkdirSync(join(b, 'sb'));
    chownSync(join(b, 'sb'), 1000, 1000);
    const root = newRoot();
    const id = 'wl-secret-delta';
    expect(cli(['create', id, '-b', b, '--root', root, '--secret', 'tok'], { env: { BVISOR_SECRET_TOK: secret } }).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('it to stop', () => state(root, id).status === 'stopped', 30_000);
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
    // The disk: the guest did make its file.
    expect(readdirSync(join(b, 'sb'))).toEqual([`tok-${secret}`]);
    const rep = lastReport(root);
    expect(rep.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(rep.body.fsDelta).toEqual([{ clause: 'filesystem[0]', path: join(b, 'sb'), notObserved: expect.stringMatching(/had secrets in its environment/), created: [], modified: [], deleted: [] }]);
    expect(rep.body.denials.items.find((x: { kind: string }) => x.kind === 'filesystem')?.path).toMatch(/\/<redacted: holds a secret value>$/);
    expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain(secret);
  });

  it('wasm-compute: the same deterministic fuel count through create/start as through run', async () => {
    const root = newRoot();
    const created = await lifecycle(root, 'wl-compute', bundle('wasm-compute'));
    expect(cli(['run', 'wl-compute-run', '-b', bundle('wasm-compute'), '--root', root]).status).toBe(0);
    const ran = lastReport(root);
    expect(created.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(created.body.budgets.fuel.observed).toBeGreaterThan(1000);
    expect(substance(created)).toEqual(substance(ran));
  });

  // The seal states the runner's facts (its caps, plan, cache, seed) from wasm.json: only from the
  // record create wrote, which the state names by its hash. An edit of the file alone (a cap no
  // plan admitted) is refused, as an edited plan.json is (exit 7; delete -f removes it unsealed).
  // wasm-out-of-fuel: a guest that does not exit 0, so a seal that fell back to the runner's own
  // exit status (always 0) would show.
  it('a wasm.json edited after create is refused: no report is sealed from it, and delete -f removes it unsealed', async () => {
    const root = newRoot();
    const id = 'wl-forged';
    const c = cli(['create', id, '-b', bundle('wasm-out-of-fuel'), '--root', root]);
    expect(c.status, c.stderr).toBe(0);
    const file = join(root, 'containers', id, 'wasm.json');
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    expect(rec.maxPages).toBeGreaterThan(0);
    writeFileSync(file, JSON.stringify({ ...rec, maxPages: 987654321 }) + '\n');
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    let refused: ReturnType<typeof cli> | null = null;
    await until(`${id} to stop`, () => {
      refused = cli(['state', id, '--root', root]);
      return refused.status !== 0 || JSON.parse(refused.stdout).status === 'stopped';
    }, 30_000);
    expect(refused!.status).toBe(7);
    expect(refused!.stderr).toContain(`container ${id}: its wasm.json is not the record create wrote`);
    expect(existsSync(join(root, 'containers', id, 'report.json'))).toBe(false);
    expect(cli(['delete', id, '--root', root]).status).toBe(7);
    const f = cli(['delete', '-f', id, '--root', root]);
    expect(f.status).toBe(7);
    expect(f.stderr).toContain('was removed (delete -f), but its report could not be sealed');
    expect(existsSync(join(root, 'containers', id))).toBe(false);
    expect(journal(root).some((e) => e.report?.body?.containerId === id)).toBe(false);
    // The same bundle, its record untouched: sealed, with its cap and the guest's own fate.
    const honest = await lifecycle(root, 'wl-honest', bundle('wasm-out-of-fuel'));
    expect(honest.body.evidence.find((e: any) => e.name === 'wasm.max-pages')?.value).toBe(rec.maxPages);
    expect(honest.body.outcome).toMatchObject({ status: 'timeout', reason: 'fuel' });
  });

  it('wasm-out-of-fuel: out of fuel through create/start (outcome timeout, reason fuel, trap out_of_fuel)', async () => {
    const root = newRoot();
    const created = await lifecycle(root, 'wl-fuel', bundle('wasm-out-of-fuel'));
    expect(created.body.outcome).toMatchObject({ status: 'timeout', reason: 'fuel', trap: 'out_of_fuel', exitCode: null, signal: null });
    expect(created.body.budgets.fuel.limit).toBe(1_000_000);
    expect(created.body.budgets.fuel.observed).toBeGreaterThanOrEqual(1_000_000);
    const r = cli(['run', 'wl-fuel-run', '-b', bundle('wasm-out-of-fuel'), '--root', root]);
    expect(r.status).toBe(124);
    expect(substance(created)).toEqual(substance(lastReport(root)));
  });

  it('kill: TERM does not stop a spinning guest (WASI has no signals; the runner is its pid namespace\'s init); KILL does', async () => {
    const root = newRoot();
    const id = 'wl-kill';
    const before = leaves([id]);
    const b = spinBundle('wall: 60s, memory: 16Mi');
    expect(cli(['create', id, '-b', b, '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    const st = state(root, id);
    expect(st.status).toBe('running');
    // The runner is Node now, spinning in the guest.
    expect(readlinkSync(`/proc/${st.pid}/exe`)).toBe(readlinkSync('/proc/self/exe'));
    // Made non-dumpable at that exec, as a run's runner is (ptrace(2)'s access check,
    // test/helpers/dumpable.ts; the twin is in app/wasm-rewrite.live).
    if (readerMissing() === null) {
      const r = readByItsOwnIds(st.pid);
      expect(r).toMatchObject(refused(r));
    } else skipOrFail('util-linux', readerMissing()!);
    expect(cli(['kill', id, '--root', root]).status).toBe(0);
    await sleep(700);
    expect(alive(st.pid)).toBe(true);
    expect(state(root, id).status).toBe('running');
    expect(cli(['delete', id, '--root', root]).status).toBe(7); // running: refused without -f
    // exec has no way into a module (found by review: it said the plan could not be read).
    const ex = cli(['exec', '--root', root, '--json', id, '--', '/bin/true']);
    expect(ex.status).toBe(125); // exec's own failure, beside its process's statuses (docs/exit-codes.md)
    expect(ex.json()).toMatchObject({ error: { code: 'BV_CONTAINER_STATE', message: `cannot exec into container ${id}: it is a wasm container` } });
    expect(alive(st.pid)).toBe(true);
    expect(cli(['kill', id, 'KILL', '--root', root]).status).toBe(0);
    await until('the runner to die', () => !alive(st.pid));
    await until('the container to stop', () => state(root, id).status === 'stopped');
    const rep = cli(['report', id, '--root', root, '--json']).json();
    expect(rep.body.backend).toBe('wasm');
    expect(rep.body.outcome).toEqual({ status: 'killed', reason: 'kill', signal: 'SIGKILL', exitCode: null });
    expect(rep.body.signalsSent).toMatchObject([{ by: 'kill', signal: 'SIGTERM', count: 1 }, { by: 'kill', signal: 'SIGKILL', count: 1 }]);
    expect(rep.body.budgets.fuel.observed).toEqual({ notObserved: 'the runner reported no outcome' });
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
    expect(leaves([id])).toEqual(before);
    expect(alive(st.bvisor.monitorPid)).toBe(false);
  });

  it('limits.wall counts from start, not from create: a created container waits; started, it is killed at its wall', async () => {
    const root = newRoot();
    const id = 'wl-wall';
    const b = spinBundle('wall: 1s, memory: 16Mi');
    expect(cli(['create', id, '-b', b, '--root', root]).status).toBe(0);
    await sleep(1500);
    expect(state(root, id).status).toBe('created');
    const t0 = Date.now();
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('the wall to stop it', () => state(root, id).status === 'stopped', 20_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    const rep = cli(['report', id, '--root', root, '--json']).json();
    expect(rep.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall', signal: 'SIGKILL' });
    expect(rep.body.budgets.wall.limit).toBe(1000);
    expect(rep.body.budgets.wall.observed).toBeGreaterThanOrEqual(1000);
    expect(rep.body.budgets.wall.observed).toBeLessThan(10_000);
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
  });

  it('limits.memory holds through create/start: the guest\'s own memory.size stops at the cap', async () => {
    // Grows its memory 16 pages at a time until memory.grow fails, then exits with memory.size.
    const wat = `(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (loop $l (if (i32.ne (memory.grow (i32.const 16)) (i32.const -1)) (then (br $l))))
        (call $exit (memory.size))))`;
    const b = wasmBundle('stdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 20s, memory: 16Mi }\n', { wat });
    if (!b) return skipOrFail('wabt', 'wat2wasm (Debian wabt) is not installed');
    const root = newRoot();
    const created = await lifecycle(root, 'wl-mem', b);
    const pages = created.body.outcome.exitCode as number;
    const cap = created.body.evidence.find((e: any) => e.name === 'wasm.max-pages').value as number;
    expect(created.body.outcome.status).toBe('failed'); // a non-zero exit
    expect(pages).toBeGreaterThan(1);
    expect(pages).toBeLessThanOrEqual(cap);
    expect(pages * 65536).toBeLessThanOrEqual(16 * 2 ** 20);
    expect(cli(['run', 'wl-mem-run', '-b', b, '--root', root]).status).toBe(pages & 0xff);
    expect(substance(created)).toEqual(substance(lastReport(root)));
  });

  it('the job (env with a resolved secret, the module) is in memory only: an unnamed, sealed memfd the waiting runner holds, nothing on disk', async () => {
    const root = newRoot();
    const id = 'wl-secret';
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const b = wasmBundle('env: { TOKEN: { secret: tok } }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 10s, memory: 16Mi }\n', { from: join(bundle('hello-wasm'), 'hello.wasm') })!;
    const c = cli(['create', id, '-b', b, '--root', root, '--secret', 'tok'], { env: { BVISOR_SECRET_TOK: secret } });
    expect(c.status, c.stderr).toBe(0);
    const st = state(root, id);
    // fd 3 of the waiting runner: a memfd (memfd_create(2): its /proc link is "/memfd:<name>
    // (deleted)", no name in any directory), read-only.
    const link = readlinkSync(`/proc/${st.pid}/fd/3`);
    expect(link).toMatch(/^\/memfd:.* \(deleted\)$/);
    expect(statSync(`/proc/${st.pid}/fd/3`).nlink).toBe(0);
    // Not executable (memfd_create(2): MFD_NOEXEC_SEAL, Linux 6.3+, takes the x bits away and
    // seals them so; before 6.3 a memfd is made 0777 and the flag is refused).
    const [maj, min] = readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map(Number) as [number, number];
    if (maj > 6 || (maj === 6 && min >= 3)) expect(statSync(`/proc/${st.pid}/fd/3`).mode & 0o111).toBe(0);
    const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${st.pid}/fdinfo/3`, 'utf8'))![1]!, 8);
    expect(flags & 3).toBe(0); // O_ACCMODE: O_RDONLY
    const job = readFileSync(`/proc/${st.pid}/fd/3`);
    expect(job.includes(secret)).toBe(true);
    // Sealed: even a read-write open of the same file (root, through /proc) cannot change a byte
    // or its size (fcntl(2): a write under F_SEAL_WRITE fails EPERM, a truncate under
    // F_SEAL_SHRINK/GROW fails EPERM).
    const rw = openSync(`/proc/${st.pid}/fd/3`, 'r+');
    try {
      expect(() => writeSync(rw, Buffer.from('X'), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => ftruncateSync(rw, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => ftruncateSync(rw, job.length + 4096)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    } finally {
      closeSync(rw);
    }
    expect(readFileSync(`/proc/${st.pid}/fd/3`).equals(job)).toBe(true);
    // Nothing under the state root holds it.
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
    for (const f of files(root)) expect(readFileSync(f).includes(secret), f).toBe(false);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('it to stop', () => state(root, id).status === 'stopped', 30_000);
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
    for (const f of files(root)) expect(readFileSync(f).includes(secret), f).toBe(false);
    expect(lastReport(root).body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
  });

  it('no tmpfs mounted anywhere (a disk directory over /dev/shm, the state root on disk): plan admits the bundle and create agrees', async () => {
    const root = newRoot();
    const id = 'wl-no-tmpfs';
    const disk = tempDir('bvisor-wasm-noshm-');
    // The state root must be on a disk for this to mean anything (newRoot: under /tmp here).
    const fsType = (path: string, pre = ''): string => {
      const r = spawnSync('sh', ['-c', `${pre}stat -f -c %T "$1"`, 'sh', path], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    if (fsType(root) === 'tmpfs') return skipOrFail('state-root-on-disk', 'the state root is on a tmpfs here, so this host cannot show create working with no tmpfs');
    expect(cli(['plan', bundle('hello-wasm'), '--root', root]).status).toBe(0);
    // create in a mount namespace of its own, where /dev/shm is that disk directory. The
    // monitor (and the waiting runner) stay in it; state, start and delete run from outside.
    const inNs = (cmd: string): ReturnType<typeof spawnSync> =>
      spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$1" /dev/shm && ${cmd}`, 'sh', disk, BVISOR, root, id, bundle('hello-wasm')], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    const seen = inNs('stat -f -c %T /dev/shm');
    expect(seen.status, String(seen.stderr)).toBe(0);
    expect(String(seen.stdout).trim()).not.toBe('tmpfs');
    const c = inNs('exec "$2" create "$4" -b "$5" --root "$3"');
    expect(c.status, String(c.stderr)).toBe(0);
    expect(state(root, id)).toMatchObject({ status: 'created', bvisor: { backend: 'wasm' } });
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('it to stop', () => state(root, id).status === 'stopped', 30_000);
    expect(readFileSync(join(root, 'containers', id, 'stdout'), 'utf8')).toMatch(/hello/i);
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
    expect(lastReport(root).body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(readdirSync(disk)).toEqual([]); // nothing was put where /dev/shm was
  });

  for (const stage of ['create:before-cgroup', 'create:before-confirm', 'create:after-spawn']) {
    it(`a wasm create killed at ${stage} leaves nothing that delete -f cannot remove`, async () => {
      const root = newRoot();
      const id = `wl-x-${stage.split(':')[1]}`;
      const before = leaves([id]);
      const r = cli(['create', id, '-b', bundle('hello-wasm'), '--root', root], { crashAt: stage });
      expect(r.status).toBeNull(); // killed
      expect(cli(['list', '--root', root, '--json']).json()).toEqual([expect.objectContaining({ id, broken: expect.any(String) })]);
      expect(cli(['delete', '-f', id, '--root', root]).status).toBe(0);
      expect(existsSync(join(root, 'containers', id))).toBe(false);
      await until('its cgroups to go', () => leaves([id]).join() === before.join());
      expect(spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout).not.toMatch(new RegExp(`bvmonitor ${root}`));
    });
  }

  it('delete of a created (never started) wasm container kills the waiting runner and seals never-started', async () => {
    const root = newRoot();
    const id = 'wl-never';
    expect(cli(['create', id, '-b', bundle('hello-wasm'), '--root', root]).status).toBe(0);
    const st = state(root, id);
    const d = cli(['delete', id, '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    expect(alive(st.pid)).toBe(false);
    expect(lastReport(root).body.outcome).toMatchObject({ status: 'killed', reason: 'never-started' });
  });
});
