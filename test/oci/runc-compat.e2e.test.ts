// runc compatibility, written from the runtime-spec (runtime.md: "Lifecycle", "Operations",
// "State"; features.md) and runc's documented CLI (man runc-create, runc-start, runc-kill,
// runc-delete, runc-state): what an engine may rely on, tested on OCI bundles through bin/.
// Oracles: the disk (a file the program writes, the pid file), /proc, exit statuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, cli } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { skipOrFail } from '../helpers/require.js';
import { until } from '../helpers/wait.js';
import { defaultTestParent, testParentDirs } from '../helpers/cgroups.js';

const BUSYBOX = '/bin/busybox';
let work = '';
beforeAll(() => {
  // Not tempDir(): that is removed after each test, and this one serves the whole file.
  work = mkdtempSync(join(tmpdir(), 'bvisor-runc-'));
  chmodSync(work, 0o755);
});
afterAll(async () => {
  // A container whose plan.json a test edited keeps its OCI cgroup leaf through delete -f (not
  // proven the container's, it is left alone): the test's own leaves go here, in every hierarchy.
  for (const leaf of leaves) {
    for (const d of testParentDirs().map((p) => join(p, leaf))) {
      for (let i = 0; existsSync(d) && i < 50; i++) {
        try {
          rmdirSync(d);
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // its last process still exiting
        }
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});
/** The OCI cgroup leaves the bundles below name. */
const leaves: string[] = [];

const parentEnv = (): NodeJS.ProcessEnv => (defaultTestParent() ? { BVISOR_CGROUP_PARENT: defaultTestParent()! } : {});

/** containerd's default config over a busybox rootfs with a writable /out bound from `out`. */
function bundle(args: string[], edit: (c: Record<string, any>) => void = () => {}): { dir: string; out: string } {
  const dir = join(work, `b${Math.random().toString(36).slice(2, 8)}`);
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'run', 'out']) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(BUSYBOX, join(r, 'bin', 'busybox'));
  chmodSync(join(r, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'sleep', 'touch', 'true', 'cat']) symlinkSync('busybox', join(r, 'bin', a));
  const out = join(dir, 'out');
  mkdirSync(out);
  chmodSync(out, 0o1777);
  const c = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'containerd-config.json'), 'utf8'));
  c.process.args = args;
  c.mounts.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
  const parent = defaultTestParent();
  c.linux.cgroupsPath = `${parent ?? 'bvisor-oci'}/rc-${Math.random().toString(36).slice(2, 8)}`;
  leaves.push(c.linux.cgroupsPath.split('/').pop());
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return { dir, out };
}

/** create with stdio away from pipes: the init inherits create's stdio, as under runc. */
function create(root: string, id: string, dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string } {
  const errFile = join(work, `${id}-${Math.random().toString(36).slice(2, 8)}.err`);
  const fd = openSync(errFile, 'w');
  try {
    const r = spawnSync(process.execPath, [BIN, '--root', root, 'create', '--bundle', dir, ...extra, id], { stdio: ['ignore', 'ignore', fd], env: { ...process.env, ...parentEnv(), ...env }, timeout: 30_000 });
    return { status: r.status, stderr: readFileSync(errFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

const status = (root: string, id: string): string => cli(['--root', root, 'state', id]).json().status;

describe('runc compatibility (runtime-spec lifecycle and operations)', () => {
  it('create leaves the init waiting: the program has not run, the pid file names a live process, state is created', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const root = newRoot();
    const b = bundle(['touch', '/out/ran']);
    const pf = join(work, 'c1.pid');
    expect(create(root, 'c1', b.dir, ['--pid-file', pf]).status).toBe(0);
    try {
      // runc writes the bare pid (no newline): containerd's shim parses it with Atoi.
      const text = readFileSync(pf, 'utf8');
      expect(text).toMatch(/^[0-9]+$/);
      const pid = Number(text);
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      const st = cli(['--root', root, 'state', 'c1']).json();
      // state.md: ociVersion, id, status, pid (created/running), bundle (absolute), annotations.
      expect(st).toMatchObject({ id: 'c1', status: 'created', pid, bundle: b.dir });
      expect(typeof st.ociVersion).toBe('string');
      expect(st.annotations).toEqual({});
      expect(existsSync(join(b.out, 'ran'))).toBe(false);
      expect(cli(['--root', root, 'start', 'c1']).status).toBe(0);
      await until('the program to run', () => existsSync(join(b.out, 'ran')), 10_000);
      await until('stopped', () => status(root, 'c1') === 'stopped', 10_000);
      // A stopped container has no pid in its state (state.md: "pid" for created/running).
      expect(cli(['--root', root, 'state', 'c1']).json().pid).toBeUndefined();
    } finally {
      cli(['--root', root, 'delete', '--force', 'c1']);
    }
  });

  it('create twice with one id fails and leaves the first container as it was', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['sleep', '30']);
    expect(create(root, 'dup', b.dir).status).toBe(0);
    try {
      const before = cli(['--root', root, 'state', 'dup']).json();
      const again = create(root, 'dup', b.dir);
      expect(again.status).toBe(7);
      expect(again.stderr).toContain('already exists');
      expect(cli(['--root', root, 'state', 'dup']).json()).toMatchObject({ status: 'created', pid: before.pid });
    } finally {
      cli(['--root', root, 'delete', '--force', 'dup']);
    }
  });

  it('start twice fails the second time; start of a stopped container fails (runtime.md: MUST generate an error)', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['sleep', '2']);
    expect(create(root, 's2', b.dir).status).toBe(0);
    try {
      expect(cli(['--root', root, 'start', 's2']).status).toBe(0);
      const second = cli(['--root', root, 'start', 's2']);
      expect(second.status).toBe(7);
      expect(second.stderr).toMatch(/cannot start container s2: it is running/);
      await until('stopped', () => status(root, 's2') === 'stopped', 15_000);
      expect(cli(['--root', root, 'start', 's2']).status).toBe(7);
    } finally {
      cli(['--root', root, 'delete', '--force', 's2']);
    }
  });

  it('kill signals a running container (positional number, as engines send it) and fails on a stopped one', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['sleep', '60']);
    expect(create(root, 'k1', b.dir).status).toBe(0);
    try {
      expect(cli(['--root', root, 'start', 'k1']).status).toBe(0);
      const pid = cli(['--root', root, 'state', 'k1']).json().pid as number;
      // The init of a pid namespace ignores signals it has no handler for, except SIGKILL.
      expect(cli(['--root', root, 'kill', 'k1', '9']).status).toBe(0);
      await until('the init to die', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 10_000);
      await until('stopped', () => status(root, 'k1') === 'stopped', 10_000);
      const again = cli(['--root', root, 'kill', 'k1', 'TERM']);
      expect(again.status).toBe(7);
      expect(again.stderr).toMatch(/cannot kill container k1: it is stopped/);
    } finally {
      cli(['--root', root, 'delete', '--force', 'k1']);
    }
  });

  it('delete refuses a running container, --force kills and removes it; delete --force of an unknown id succeeds (runc)', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['sleep', '60']);
    expect(create(root, 'd1', b.dir).status).toBe(0);
    expect(cli(['--root', root, 'start', 'd1']).status).toBe(0);
    const pid = cli(['--root', root, 'state', 'd1']).json().pid as number;
    const refused = cli(['--root', root, 'delete', 'd1']);
    expect(refused.status).toBe(7);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(cli(['--root', root, 'delete', '--force', 'd1']).status).toBe(0);
    await until('the init to be gone', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 10_000);
    expect(existsSync(join(root, 'containers', 'd1'))).toBe(false);
    // bvisor killed it: the report says so (in engine mode no exit status reached bvisor).
    const journal = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(journal.at(-1).report.body.outcome).toMatchObject({ status: 'killed', reason: 'deleted', signal: 'SIGKILL' });
    const st = cli(['--root', root, 'state', 'd1']);
    expect(st.status).toBe(6);
    // podman's cleanup deletes whatever happened; runc answers success for an id it lacks.
    expect(cli(['--root', root, 'delete', '--force', 'never-was']).status).toBe(0);
    expect(cli(['--root', root, 'delete', 'never-was']).status).toBe(6);
  });

  it('delete of a created container kills the waiting init; its program never ran', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['touch', '/out/ran']);
    const pf = join(work, 'dc.pid');
    expect(create(root, 'dc', b.dir, ['--pid-file', pf]).status).toBe(0);
    const pid = Number(readFileSync(pf, 'utf8'));
    expect(cli(['--root', root, 'delete', 'dc']).status).toBe(0);
    await until('the init to be gone', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 10_000);
    expect(existsSync(join(b.out, 'ran'))).toBe(false);
  });

  // `runc spec` lists its three capabilities in ambient too; the process is uid 0, which holds
  // its set across exec without ambient (capabilities(7)). A new user's first runc bundle was
  // refused for it. Oracle: the process's own /proc/self/status (CapAmb, CapEff), against the bits
  // of capabilities(7): CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_AUDIT_WRITE 29.
  it('runc spec\'s capabilities, ambient included, run as asked: that set effective, none ambient', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const spec = join(work, `spec${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(spec);
    const made = spawnSync('runc', ['spec'], { cwd: spec, encoding: 'utf8' });
    if (made.error || made.status !== 0) return skipOrFail('runc', `runc spec did not run: ${made.error?.message ?? made.stderr}`);
    const caps = JSON.parse(readFileSync(join(spec, 'config.json'), 'utf8')).process.capabilities;
    expect(caps.ambient.length).toBeGreaterThan(0);
    const root = newRoot();
    const b = bundle(['cat', '/proc/self/status'], (c) => (c.process.capabilities = caps));
    const r = cli(['--root', root, 'run', '--bundle', b.dir, 'caps']);
    expect(r.status, r.stderr).toBe(0);
    const field = (name: string): bigint => BigInt('0x' + new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(r.stdout)![1]!);
    expect(field('CapAmb')).toBe(0n);
    expect(field('CapEff')).toBe((1n << 5n) | (1n << 10n) | (1n << 29n));
  });

  it('run returns the program\'s exit status, 128+N for a signal (runc run)', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    expect(cli(['--root', root, 'run', '--bundle', bundle(['sh', '-c', 'exit 7']).dir, 'r7']).status).toBe(7);
    // A signal that ends the init: the kernel's SIGKILL at the hard RLIMIT_CPU (setrlimit(2);
    // a pid namespace's init ignores signals sent from inside it, so it cannot kill itself).
    const spin = bundle(['sh', '-c', 'while :; do :; done'], (c) => (c.process.rlimits = [{ type: 'RLIMIT_CPU', soft: 1, hard: 1 }]));
    expect(cli(['--root', root, 'run', '--bundle', spin.dir, 'r9']).status).toBe(137);
    // The config's own RLIMIT_CPU is no limits.cpu budget: a signal, not "killed for cpu".
    expect(cli(['--root', root, 'report', 'r9', '--json']).json().body.outcome).toEqual({ status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' });
  });

  it('state and delete find the container without --root flags when create used the default root', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'the default root /run/bvisor is root\'s');
    const id = `compat-default-${process.pid}`;
    const r = spawnSync(process.execPath, [BIN, 'create', '--bundle', bundle(['sleep', '30']).dir, id], { stdio: 'ignore', env: { ...process.env, ...parentEnv() }, timeout: 30_000 });
    expect(r.status).toBe(0);
    try {
      expect(cli(['state', id]).json()).toMatchObject({ id, status: 'created' });
    } finally {
      expect(cli(['delete', '--force', id]).status).toBe(0);
    }
    expect(existsSync(join('/run/bvisor/containers', id))).toBe(false);
  });

  it('a failed create leaves one JSON error line naming the cause at the end of --log (what the shim shows)', () => {
    const root = newRoot();
    const log = join(work, 'log.json');
    const b = bundle(['no-such-program']);
    const r = cli(['--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', b.dir, 'bad']);
    expect(r.status).toBe(3);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last).toMatchObject({ level: 'error' });
    expect(typeof last.time).toBe('string');
    expect(last.msg).toContain('"no-such-program": executable file not found in $PATH');
    // A flag error ends the log the same way, though it happens before the command's own setup.
    const flag = cli(['--log', log, '--log-format', 'json', 'create', '--no-such-flag', 'x']);
    expect(flag.status).toBe(2);
    expect(JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!)).toMatchObject({ level: 'error' });
  });

  it('hooks run in order with the state on stdin: prestart and createRuntime at create, poststart, poststop after delete (config.md); the report lists those before its seal', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const log = join(work, 'hooks.log');
    const hook = join(work, 'hook.sh');
    // Each call appends its name and the state it read on stdin, one line each.
    writeFileSync(hook, `#!/bin/sh\nprintf '%s ' "$1" >> ${log}\ncat >> ${log}\necho >> ${log}\n`);
    chmodSync(hook, 0o755);
    const h = (name: string) => [{ path: hook, args: ['hook.sh', name], env: ['PATH=/usr/bin:/bin'], timeout: 10 }];
    // A second poststart hook that fails: a warning (runtime-spec), and a line in the report.
    const failing = { path: '/bin/sh', args: ['sh', '-c', 'exit 3'] };
    const b = bundle(['true'], (c) => (c.hooks = { prestart: h('prestart'), createRuntime: h('createRuntime'), poststart: [...h('poststart'), failing], poststop: h('poststop') }));
    expect(create(root, 'hk', b.dir, ['--allow-hooks']).status).toBe(0);
    const atCreate = readFileSync(log, 'utf8').trim().split('\n');
    expect(atCreate.map((l) => l.split(' ')[0])).toEqual(['prestart', 'createRuntime']);
    const st = JSON.parse(atCreate[1]!.slice('createRuntime '.length));
    expect(st).toMatchObject({ id: 'hk', status: 'creating', bundle: b.dir });
    // The init's pid, alive: a network hook would reach /proc/<pid>/ns/net through it.
    expect(existsSync(`/proc/${st.pid}/ns/net`)).toBe(true);
    expect(cli(['--root', root, 'start', 'hk']).status).toBe(0);
    await until('stopped', () => status(root, 'hk') === 'stopped', 10_000);
    expect(cli(['--root', root, 'delete', 'hk']).status).toBe(0);
    const all = readFileSync(log, 'utf8').trim().split('\n');
    expect(all.map((l) => l.split(' ')[0])).toEqual(['prestart', 'createRuntime', 'poststart', 'poststop']);
    expect(JSON.parse(all[2]!.slice('poststart '.length))).toMatchObject({ id: 'hk', status: 'running' });
    // The sealed report: each hook that ran before the seal, as the log above saw them run (the
    // failing one exited 3); poststop ran after the seal.
    const last = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!;
    const hooks = (JSON.parse(last) as { report: { body: { hooks?: Array<Record<string, unknown>> } } }).report.body.hooks;
    expect(hooks?.map(({ kind, index, path, exitCode, signal, timedOut }) => ({ kind, index, path, exitCode, signal, timedOut }))).toEqual([
      { kind: 'prestart', index: 0, path: hook, exitCode: 0, signal: null, timedOut: false },
      { kind: 'createRuntime', index: 0, path: hook, exitCode: 0, signal: null, timedOut: false },
      { kind: 'poststart', index: 0, path: hook, exitCode: 0, signal: null, timedOut: false },
      { kind: 'poststart', index: 1, path: '/bin/sh', exitCode: 3, signal: null, timedOut: false },
    ]);
  });

  it("poststart and poststop hooks come only from the plan the container was created with: an edited plan.json's run neither, with a warning", async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const log = join(work, 'hooks-edited.log');
    const hook = join(work, 'hook-edited.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$1" >> ${log}\n`);
    chmodSync(hook, 0o755);
    const h = (name: string) => [{ path: hook, args: ['hook-edited.sh', name], env: ['PATH=/usr/bin:/bin'], timeout: 10 }];
    const b = bundle(['true'], (c) => (c.hooks = { poststart: h('poststart'), poststop: h('poststop') }));
    expect(create(root, 'he', b.dir, ['--allow-hooks']).status).toBe(0);
    // The hooks' arguments rewritten in plan.json, which stays a plan the schema takes.
    const planFile = join(root, 'containers', 'he', 'plan.json');
    writeFileSync(planFile, readFileSync(planFile, 'utf8').replaceAll('"hook-edited.sh","poststart"', '"hook-edited.sh","edited-poststart"').replaceAll('"hook-edited.sh","poststop"', '"hook-edited.sh","edited-poststop"'));
    expect(readFileSync(planFile, 'utf8')).toContain('"hook-edited.sh","edited-poststart"');
    expect(readFileSync(planFile, 'utf8')).toContain('"hook-edited.sh","edited-poststop"');
    const started = cli(['--root', root, 'start', 'he']);
    expect(started.status).toBe(0);
    expect(started.stderr).toContain('container he: its poststart hooks were not run: its plan.json is not the plan it was created with');
    await until('stopped', () => { const r = cli(['--root', root, 'state', 'he']); return r.status !== 0 || JSON.parse(r.stdout).status === 'stopped'; }, 10_000);
    // delete -f removes it all the same, saying that no report was sealed from that plan.
    const deleted = cli(['--root', root, 'delete', '--force', 'he']);
    expect(deleted.stderr).toContain('container he: its poststop hooks were not run');
    expect(deleted.status).toBe(7);
    expect(deleted.stderr).toContain('container he was removed (delete -f), but its report could not be sealed and journaled: container he has no readable plan.json');
    expect(existsSync(join(root, 'containers', 'he'))).toBe(false);
    expect(existsSync(log)).toBe(false); // neither hook ran, edited or not
  });

  it("the OCI cgroup leaf counts only from the plan the container was created with: start warns of an edited one and keeps the state's record; delete -f leaves that cgroup", async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['true']);
    expect(create(root, 'le', b.dir).status).toBe(0);
    const stateFile = join(root, 'containers', 'le', 'state.json');
    const recorded: string[] = JSON.parse(readFileSync(stateFile, 'utf8')).cgroupDirs;
    const leaf = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')).linux.cgroupsPath.split('/').pop();
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.every((d) => d.endsWith(`/${leaf}`) && existsSync(d))).toBe(true);
    try {
      const planFile = join(root, 'containers', 'le', 'plan.json');
      writeFileSync(planFile, readFileSync(planFile, 'utf8').replaceAll(`"cgroupLeaf":"${leaf}"`, '"cgroupLeaf":"elsewhere"'));
      expect(readFileSync(planFile, 'utf8')).toContain('"cgroupLeaf":"elsewhere"');
      const started = cli(['--root', root, 'start', 'le']);
      expect(started.status, started.stderr).toBe(0);
      expect(started.stderr).toContain('container le: its plan.json names an OCI cgroup leaf but is not the plan it was created with');
      // The state keeps what create recorded; the start record names none of it.
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).cgroupDirs).toEqual(recorded);
      const journal = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const rec = journal.map((e) => e.event).find((e) => e?.kind === 'started' && e.containerId === 'le');
      expect(rec).toMatchObject({ cgroupDirs: [], ociLeaf: null });
      await until('stopped', () => { const r = cli(['--root', root, 'state', 'le']); return r.status !== 0 || JSON.parse(r.stdout).status === 'stopped'; }, 10_000);
      const deleted = cli(['--root', root, 'delete', '--force', 'le']);
      expect(deleted.status).toBe(7);
      expect(existsSync(join(root, 'containers', 'le'))).toBe(false);
      // Not proven the container's: left where it is (the kernel's directory), for its owner.
      for (const d of recorded) expect(existsSync(d), d).toBe(true);
    } finally {
      // Whatever is left of the container.
      if (existsSync(join(root, 'containers', 'le'))) cli(['--root', root, 'delete', '--force', 'le']);
      // (Its leaf goes in afterAll, with the others'.)
    }
  });

  it('the report is sealed from the plan the container was created with: an edited plan.json is refused (exit 7), the plan as written reformatted is taken', async () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const b = bundle(['true']);
    expect(create(root, 'pe', b.dir).status).toBe(0);
    const planFile = join(root, 'containers', 'pe', 'plan.json');
    const original = readFileSync(planFile, 'utf8');
    // A mechanism string the report would carry, changed: a plan the schema still takes.
    const edited = original.replace(/"mechanism":"([^"]+)"/, '"mechanism":"edited:$1"');
    expect(edited).not.toBe(original);
    writeFileSync(planFile, edited);
    expect(cli(['--root', root, 'start', 'pe']).status).toBe(0);
    let refused: ReturnType<typeof cli> | null = null;
    await until('the sealing state', () => {
      const r = cli(['--root', root, 'state', 'pe']);
      if (r.status === 0 && JSON.parse(r.stdout).status !== 'stopped') return false;
      refused = r;
      return true;
    }, 10_000);
    expect(refused!.status).toBe(7);
    expect(refused!.stderr).toContain('container pe has no readable plan.json (missing, or not the plan it was created with');
    expect(existsSync(join(root, 'containers', 'pe', 'report.json'))).toBe(false);
    // Without --force, delete refuses it too: nothing is removed unsealed.
    expect(cli(['--root', root, 'delete', 'pe']).status).toBe(7);
    expect(existsSync(join(root, 'containers', 'pe'))).toBe(true);
    // The same plan, reformatted: its content is what was planned, and the report is sealed from it.
    writeFileSync(planFile, JSON.stringify(JSON.parse(original), null, 2));
    const st = cli(['--root', root, 'state', 'pe']);
    expect(st.status).toBe(0);
    expect(JSON.parse(st.stdout).status).toBe('stopped');
    const report = readFileSync(join(root, 'containers', 'pe', 'report.json'), 'utf8');
    expect(report).not.toContain('edited:');
    expect(cli(['--root', root, 'delete', 'pe']).status).toBe(0);
  });

  it('a failing createRuntime hook, or one past its timeout, ends create and leaves nothing; run refuses hooks', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const fail = bundle(['true'], (c) => (c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no network for you >&2; exit 3'] }] }));
    const r = create(root, 'hf', fail.dir, ['--allow-hooks']);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('hooks.createRuntime[0] /bin/sh exited 3: no network for you');
    expect(existsSync(join(root, 'containers', 'hf'))).toBe(false);
    const slow = bundle(['true'], (c) => (c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'sleep 30'], timeout: 1 }] }));
    const t = create(root, 'hs', slow.dir, ['--allow-hooks']);
    expect(t.status).toBe(4);
    expect(t.stderr).toContain('ran past its timeout of 1s');
    expect(existsSync(join(root, 'containers', 'hs'))).toBe(false);
    // A hook past its timeout that would have exited 0 failed all the same.
    const late = bundle(['true'], (c) => (c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'sleep 3; exit 0'], timeout: 1 }] }));
    expect(create(root, 'hl', late.dir, ['--allow-hooks']).stderr).toContain('ran past its timeout of 1s');
    // A hook's background leftover neither holds create up nor outlives it.
    const mark = join(work, `bg-${process.pid}`);
    const bg = bundle(['true'], (c) => (c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `sleep 20 & echo $! > ${mark}; exit 0`] }] }));
    const t0 = Date.now();
    expect(create(root, 'hb', bg.dir, ['--allow-hooks']).status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const leftover = Number(readFileSync(mark, 'utf8'));
    expect(existsSync(`/proc/${leftover}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${leftover}/status`, 'utf8'))).toBe(false);
    cli(['--root', root, 'delete', '--force', 'hb']);
    const run = cli(['--root', root, 'run', '--bundle', fail.dir, 'hr']);
    expect(run.status).toBe(125);
    expect(run.stderr).toContain('hooks.createRuntime, which run with create, start and delete');
  });

  it('hooks run as bvisor\'s own user, outside the boundary: a config with hooks is refused unless the caller allows them, and no hook runs', () => {
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing`);
    const root = newRoot();
    const mark = join(work, `hook-ran-${process.pid}`);
    const b = bundle(['true'], (c) => (c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `id -u > ${mark}`] }], poststop: [{ path: '/bin/sh', args: ['sh', '-c', `id -u > ${mark}`] }] }));
    const r = create(root, 'hn', b.dir);
    expect(existsSync(mark)).toBe(false);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain("hooks.createRuntime: the config's createRuntime hooks would run as bvisor's own user (root)");
    expect(r.stderr).toContain('hooks.poststop');
    expect(existsSync(join(root, 'containers', 'hn'))).toBe(false);
    // The caller's say-so (the flag, or BVISOR_ALLOW_HOOKS=1 as an engine's wrapper would set): it runs, as root.
    const ok = create(root, 'hy', b.dir, [], { BVISOR_ALLOW_HOOKS: '1' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(mark, 'utf8').trim()).toBe(String(process.geteuid!()));
    cli(['--root', root, 'delete', '--force', 'hy']);
  });

  it('features follows features.md: version bounds, namespaces, seccomp lists and cgroup versions', () => {
    const f = cli(['features']).json();
    expect(f.ociVersionMin).toMatch(/^1\.\d+\.\d+$/);
    expect(f.ociVersionMax).toMatch(/^1\.\d+\.\d+$/);
    expect(Array.isArray(f.hooks)).toBe(true);
    expect(Array.isArray(f.mountOptions)).toBe(true);
    for (const k of ['namespaces', 'capabilities']) expect(Array.isArray(f.linux[k])).toBe(true);
    expect(typeof f.linux.cgroup.v1).toBe('boolean');
    expect(typeof f.linux.cgroup.v2).toBe('boolean');
    expect(f.linux.cgroup.systemd).toBe(false);
    expect(typeof f.linux.seccomp.enabled).toBe('boolean');
    for (const k of ['actions', 'operators', 'archs', 'knownFlags', 'supportedFlags']) expect(Array.isArray(f.linux.seccomp[k])).toBe(true);
    expect(f.linux.seccomp.supportedFlags.every((x: string) => f.linux.seccomp.knownFlags.includes(x))).toBe(true);
    expect(typeof f.annotations).toBe('object');
  });
});
