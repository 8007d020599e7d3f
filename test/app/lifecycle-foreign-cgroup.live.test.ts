// delete, state and start act on the cgroups a container's state.json lists: delete kills what is
// in them and removes them. A state file is data read back from disk, so a listed cgroup that
// bvisor did not name for this container (bvisor-<id>-<run>) must be left alone, as kill and
// delete -f of an unreadable state already do. Here a valid state.json is made to list a cgroup
// of this test's, holding a `sleep` of its own, beside the container's own leaves. Oracles: the
// sleep's exit as Node reaps it, and the kernel's cgroup directories.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteContainer, ourCgroups, stateOf } from '../../src/app/lifecycle.js';
import { createContainer } from '../../src/app/create.js';
import { cgroupDirs, defaultTestParent, testCgroupParent, testParentDirs } from '../helpers/cgroups.js';
import { recoverRoot } from '../../src/app/recover.js';
import { appendStarted } from '../../src/host/journal-store.js';
import { facts, probeBundle } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { delay } from '../../src/host/timers.js';
import { faultPoints } from '../../src/host/faults.js';
import { warmPlan } from '../../src/cli/warm-up.js';

/**
 * Writes dir/plan.json as an admitted plan whose OCI launch names `leaf`, its one cgroup placement
 * /sys/fs/cgroup/unified with the segment x (so the leaf goes in /sys/fs/cgroup/unified/x), hashed as
 * schemas/plan.schema.json defines planHash (sha256 of the RFC 8785 canonical JSON with planHash
 * null; the `canonicalize` package and node:crypto), and returns that hash.
 */
function writePlan(dir: string, leaf: string): string {
  const plan = { ...warmPlan(), planHash: null as string | null };
  const placement = { version: 2, mountPoint: '/sys/fs/cgroup/unified', anchor: '/sys/fs/cgroup/unified', segments: ['x'], why: 'a test' };
  plan.launch = { ...plan.launch!, cgroup: { ...plan.launch!.cgroup, placements: [placement] }, oci: { ...(plan.launch!.oci ?? {}), cgroupLeaf: leaf } } as typeof plan.launch;
  const hash = createHash('sha256').update((canonicalize as unknown as (v: unknown) => string)(plan)).digest('hex');
  writeFileSync(join(dir, 'plan.json'), JSON.stringify({ ...plan, planHash: hash }, null, 2));
  return hash;
}

let sleeps: Array<{ child: ChildProcess; gone: Promise<string> }> = [];
let made: string[] = [];
let containers: Array<{ root: string; id: string }> = [];
afterEach(async () => {
  // A test that failed half-way leaves its container: delete -f (monitor, workload, its cgroups).
  for (const c of containers) if (existsSync(join(c.root, 'containers', c.id))) await deleteContainer(c.root, c.id, true).catch(() => undefined);
  containers = [];
  for (const s of sleeps) s.child.kill('SIGKILL');
  await Promise.all(sleeps.map((s) => s.gone));
  for (const d of made.reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // removed already (what the red twin does), or the cgroup guard reports it
    }
  }
  sleeps = [];
  made = [];
});

/** A cgroup of this test's beside the container's, in each hierarchy whose parent the container
 * made (v2, and v1 memory for its limit), each holding a `sleep` this test started. */
type Occupied = { dir: string; gone: Promise<string>; child: ChildProcess };

/** Makes the cgroup `dir` (this test's) and puts a `sleep` this test starts in it. */
function occupy(dir: string): Occupied {
  mkdirSync(dir);
  made.push(dir);
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const gone = new Promise<string>((r) => child.on('exit', (code, signal) => r(`exited (${signal ?? code})`)));
  sleeps.push({ child, gone });
  writeFileSync(join(dir, 'cgroup.procs'), String(child.pid));
  expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(child.pid));
  return { dir, gone, child };
}

function foreignLeaves(id: string): Occupied[] {
  const out: Occupied[] = [];
  const p = testCgroupParent();
  for (const h of cgroupDirs()) {
    const parent = join(p.startsWith('/') ? h.root : h.own, p);
    if (!existsSync(parent)) continue;
    // Not bvisor-<id>-…: a name bvisor never gives this container's cgroups.
    out.push(occupy(join(parent, `foreign-${id}-${process.pid}`)));
  }
  return out;
}

describe('a state file that lists a cgroup bvisor did not name (live)', () => {
  it('delete -f of a created container kills and removes only its own cgroups', async () => {
    const root = tempDir();
    const id = 'fc1';
    containers.push({ root, id });
    await createContainer({ root, id, bundle: probeBundle(['sleep', '30'], 'limits: { memory: 64Mi }\n'), cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() });
    const statePath = join(root, 'containers', id, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { cgroupDirs: string[] };
    const own = state.cgroupDirs;
    expect(own.length).toBeGreaterThan(0);
    const foreign = foreignLeaves(id);
    expect(foreign.length).toBeGreaterThan(0);
    writeFileSync(statePath, JSON.stringify({ ...state, cgroupDirs: [...own, ...foreign.map((f) => f.dir)] }, null, 2) + '\n');
    expect(stateOf(root, id).status).toBe('created'); // still a valid state file

    await deleteContainer(root, id, true);

    // The container is gone, with its own leaves.
    expect(existsSync(join(root, 'containers', id))).toBe(false);
    expect(own.filter((d) => existsSync(d))).toEqual([]);
    // Ours are untouched: each sleep still runs, in its cgroup.
    await delay(100, null);
    for (const f of foreign) {
      const end = await Promise.race([f.gone, delay(0, 'running')]);
      expect(end, `${f.dir}: the sleep inside`).toBe('running');
      expect(existsSync(f.dir), f.dir).toBe(true);
      expect(readFileSync(join(f.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(f.child.pid));
    }
  }, 60_000);
});

describe('a leaf someone else makes between create\'s check and its mkdir (live)', () => {
  it('fails the create, and its clean-up leaves that cgroup and what is in it alone', async () => {
    const root = tempDir();
    const id = 'fc2';
    containers.push({ root, id });
    const statePath = join(root, 'containers', id, 'state.json');
    let raced: Occupied | null = null;
    const hit = faultPoints.hit;
    // The fault point runs right after create records a leaf, before its mkdir: make that leaf
    // first, with a sleep of this test's inside.
    faultPoints.hit = (stage) => {
      if (stage !== 'create:before-cgroup' || raced) return;
      const listed = (JSON.parse(readFileSync(statePath, 'utf8')) as { cgroupDirs: string[] }).cgroupDirs;
      raced = occupy(listed[listed.length - 1]!);
    };
    try {
      await expect(createContainer({ root, id, bundle: probeBundle(['sleep', '30'], 'limits: { memory: 64Mi }\n'), cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() })).rejects.toMatchObject({ code: 'BV_CGROUP_SETUP', message: expect.stringContaining('EEXIST') });
    } finally {
      faultPoints.hit = hit;
    }
    expect(raced).not.toBeNull();
    const r = raced!;
    expect(existsSync(join(root, 'containers', id))).toBe(false); // create left nothing of its own
    await delay(100, null);
    expect(await Promise.race([r.gone, delay(0, 'running')]), `${r.dir}: the sleep inside`).toBe('running');
    expect(existsSync(r.dir), r.dir).toBe(true);
    expect(readFileSync(join(r.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(r.child.pid));
  }, 60_000);
});

describe('which listed cgroups count as the container\'s (ourCgroups)', () => {
  it('only normalised paths under /sys/fs/cgroup named for it: never "<leaf>/..", even when its plan names ".." as its OCI leaf', () => {
    const dir = tempDir();
    const planHash = writePlan(dir, '..');
    const base = '/sys/fs/cgroup/unified/x';
    const run = '12345678-9abc-4def-8123-456789abcdef';
    expect(ourCgroups('c', { runId: run, planHash, cgroupDirs: [`${base}/bvisor-c-12345678-ab`, `${base}/..`, `${base}/bvisor-c-1/..`, `${base}/./bvisor-c-2`, `${base}/bvisor-d-1`, '/tmp/bvisor-c-3', `${base}/bvisor-c-4/`] }, dir)).toEqual([`${base}/bvisor-c-12345678-ab`]);
  });

  it("only the leaves named for the container's own run: not another run's, nor those of a container whose id extends it", () => {
    const dir = tempDir();
    const base = '/sys/fs/cgroup/unified/x';
    const run = '12345678-9abc-4def-8123-456789abcdef';
    const listed = [
      `${base}/bvisor-c-12345678`, // this run's leaf
      `${base}/bvisor-c-12345678-k3x9q2`, // this run's wasm runner (a 6-character suffix)
      `${base}/bvisor-c-87654321`, // another run of c
      `${base}/bvisor-c-12345678-ab-87654321`, // container "c-12345678-ab"
      `${base}/bvisor-c-12345678-abcdef12`, // container "c-12345678"
      `${base}/bvisor-c-12345678x`,
    ];
    expect(ourCgroups('c', { runId: run, planHash: null, cgroupDirs: listed }, dir)).toEqual(listed.slice(0, 2));
    // A state whose run id is not a string names no leaf of bvisor's; its plan's OCI leaf still counts.
    const planHash = writePlan(dir, 'engine-leaf');
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: [...listed, `${base}/engine-leaf`] }, dir)).toEqual([`${base}/engine-leaf`]);
  });

  it("the OCI leaf only of the plan the container was created with: not of a plan.json edited to name another, nor without the state's planHash", () => {
    const dir = tempDir();
    const base = '/sys/fs/cgroup/unified/x';
    const listed = [`${base}/engine-leaf`, `${base}/other-leaf`];
    const planHash = writePlan(dir, 'engine-leaf');
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([`${base}/engine-leaf`]);
    // The same plan with another leaf (its own planHash left as it was, or recomputed for the
    // edit): the state's planHash names the first, so neither leaf counts.
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    plan.launch.oci.cgroupLeaf = 'other-leaf';
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([]);
    const rehashed = writePlan(dir, 'other-leaf');
    expect(rehashed).not.toBe(planHash);
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([]);
    // A state without a planHash string trusts no plan's leaf.
    for (const h of [null, undefined, 7]) expect(ourCgroups('c', { runId: undefined, planHash: h, cgroupDirs: listed }, dir)).toEqual([]);
    // What it names when intact: the second leaf, under its own hash (a state.json rewritten to
    // match is the state root's owner's doing, trusted as for the rest of the plan).
    expect(ourCgroups('c', { runId: undefined, planHash: rehashed, cgroupDirs: listed }, dir)).toEqual([`${base}/other-leaf`]);
    // One process asks again and again (a command checks its plan more than once): each answer is
    // for the plan.json on disk and the hash asked, whatever was asked before.
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([]);
    expect(writePlan(dir, 'engine-leaf')).toBe(planHash);
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([`${base}/engine-leaf`]);
    expect(ourCgroups('c', { runId: undefined, planHash: rehashed, cgroupDirs: listed }, dir)).toEqual([]);
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: listed }, dir)).toEqual([]);
  });

  it('the OCI leaf only where the plan put it: a cgroup of the same name in another parent or hierarchy is not the container\'s', () => {
    const dir = tempDir();
    const planHash = writePlan(dir, 'engine-leaf');
    const elsewhere = ['/sys/fs/cgroup/unified/y/engine-leaf', '/sys/fs/cgroup/unified/engine-leaf', '/sys/fs/cgroup/memory/x/engine-leaf', '/sys/fs/cgroup/unified/x/z/engine-leaf'];
    expect(ourCgroups('c', { runId: undefined, planHash, cgroupDirs: [...elsewhere, '/sys/fs/cgroup/unified/x/engine-leaf'] }, dir)).toEqual(['/sys/fs/cgroup/unified/x/engine-leaf']);
  });
});

describe('recover: the cgroups a start record names, with no container left (live)', () => {
  // A crash can leave only the journal's start record. Its cgroupDirs are data read back from
  // disk too: recover tears down the leaves bvisor named for that run, and the OCI leaf (an
  // engine's linux.cgroupsPath) the record names; not a leaf named for another container.
  it("tears down the record's OCI leaf, and leaves another container's leaf alone", async () => {
    const root = tempDir();
    const run = '3f1e2d4c-0000-4000-8000-0000000000a1';
    const parent = testParentDirs()[0]!;
    if (!existsSync(parent)) {
      mkdirSync(parent, { recursive: true });
      made.push(parent);
    }
    const engine = occupy(join(parent, `engine-leaf-${process.pid}`));
    // Container "rc-3f1e2d4c-ab"'s leaf: it begins as container rc's leaves for this run do.
    const other = occupy(join(parent, `bvisor-rc-${run.slice(0, 8)}-ab-87654321`));
    // A supervisor that is gone: the recorded start time is not the pid's.
    appendStarted(root, { runId: run, containerId: 'rc', releasedBy: 'run', backend: 'linux', planHash: 'h', stateRoot: root, cgroupDirs: [engine.dir, other.dir], ociLeaf: basename(engine.dir), supervisor: { pid: process.pid, startTime: '1' }, monitor: null, workload: null });

    const out = await recoverRoot(root);
    const a = out.attempts.find((x) => x.runId === run);
    expect(a, JSON.stringify(out)).toBeDefined();
    expect(a!.actions.filter((x) => x.do === 'remove-cgroup')).toEqual([expect.objectContaining({ done: true })]);
    // Oracles: the sleeps as Node reaps them, and the cgroup fs.
    expect(await Promise.race([engine.gone, delay(5000, 'running')])).toBe('exited (SIGKILL)');
    expect(existsSync(engine.dir)).toBe(false);
    expect(await Promise.race([other.gone, delay(100, 'running')])).toBe('running');
    expect(readFileSync(join(other.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(other.child.pid));
  }, 30_000);
});
