// The wasm backend end to end: the guest runs in a runner process launched through the Linux
// launcher; oracles are the guest's own output, its exit, the runner's /proc read-back, and
// repeated runs (determinism).
import { writeFileSync, copyFileSync, chmodSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { defaultTestParent, testCgroupParent, testParentDirs } from '../helpers/cgroups.js';
import { faultPoints } from '../../src/host/faults.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { admittedLinuxPlan, runLoaded, type RunOutcome } from '../../src/app/run.js';
import { closeSpares, runWasm } from '../../src/app/wasm.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { alive, descendants, until } from '../helpers/wait.js';
import { skipOrFail } from '../helpers/require.js';
import { readByItsOwnIds, readerMissing, refused, threadsOf } from '../helpers/dumpable.js';
import { validateSealedReport } from '../../src/contract/generated/validators.js';
import { BvisorError } from '../../src/contract/errors.js';

const BUNDLES = join(__dirname, '..', '..', 'bundles');

// A root per run: its journal and module cache go away with the test's temp dirs.
async function run(dir: string): Promise<RunOutcome> {
  return runLoaded(loadBundle(dir), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
}

/** A bundle from WAT source (needs wat2wasm), or null. */
function watBundle(wat: string, yaml: string): string | null {
  const d = tempDir('bvisor-wasm-');
  chmodSync(d, 0o755);
  writeFileSync(join(d, 'm.wat'), wat);
  const r = spawnSync('wat2wasm', [join(d, 'm.wat'), '-o', join(d, 'm.wasm')], { encoding: 'utf8' });
  if (r.error) return null;
  if (r.status !== 0) throw new Error(r.stderr);
  writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm, deterministic: true }\nstdio: { stdout: capture, stderr: capture }\n${yaml}`);
  return d;
}

const TRAP = (body: string): string => `(module (memory (export "memory") 1) (func (export "_start") ${body}))`;

describe('wasm backend (live)', () => {
  it('runs bundles/hello-wasm in a confined runner process', async () => {
    const out = await run(join(BUNDLES, 'hello-wasm'));
    expect(out.stdout?.toString()).toBe('hello from wasm, bv\n');
    expect(out.exitStatus).toBe(0);
    const b = out.report.body;
    expect(validateSealedReport(out.report)).toBe(true);
    expect(b.backend).toBe('wasm');
    expect(b.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(b.budgets.fuel.observed).toBeGreaterThan(0);
    // the runner itself is under the Linux boundary: read back from its /proc entry
    const ev = Object.fromEntries(b.evidence.map((e) => [e.name, e.value]));
    expect(ev.NoNewPrivs).toBe('1');
    expect(ev.CapEff).toBe('0000000000000000');
    expect(b.evidence.filter((e) => e.name.startsWith('ns.')).every((e) => e.ok === true)).toBe(true);
  });

  it('counts fuel identically across runs of a deterministic guest', async () => {
    const runs = [await run(join(BUNDLES, 'wasm-compute')), await run(join(BUNDLES, 'wasm-compute')), await run(join(BUNDLES, 'wasm-compute'))];
    expect(runs.map((r) => r.stdout?.toString())).toEqual(['17711\n', '17711\n', '17711\n']);
    const fuel = runs.map((r) => r.report.body.budgets.fuel.observed);
    expect(new Set(fuel.map(String)).size).toBe(1);
    expect(fuel[0]).toBeGreaterThan(100_000);
  });

  it('stops a guest that runs out of fuel: outcome timeout/fuel, trap out_of_fuel, exit 124', async () => {
    const out = await run(join(BUNDLES, 'wasm-out-of-fuel'));
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'fuel', trap: 'out_of_fuel' });
    expect(out.exitStatus).toBe(124);
    expect(out.report.body.budgets.fuel).toMatchObject({ limit: 1_000_000 });
  });

  it('kills the runner at the wall deadline when fuel would last longer', async () => {
    const d = watBundle(TRAP('(loop $l (br $l))'), 'limits: { wall: 500ms, fuel: 100000000000 }\n');
    if (d === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const t = Date.now();
    const out = await run(d);
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
  });

  it('classifies traps', async () => {
    // V8's messages are not an API: these pin every class the runner knows on this Node.
    const cases: Array<[string, string]> = [
      ['unreachable', 'unreachable'],
      ['(drop (i32.div_s (i32.const 1) (i32.const 0)))', 'int_div_zero'],
      ['(drop (i32.div_s (i32.const -2147483648) (i32.const -1)))', 'int_overflow'],
      ['(drop (i32.trunc_f32_s (f32.const nan)))', 'bad_conversion'],
      ['(drop (i32.load (i32.const 70000)))', 'memory_oob'],
      ['(call_indirect (type $v) (i32.const 5))', 'table_oob'],
      ['(call_indirect (type $v) (i32.const 0))', 'indirect_call'],
      ['(call $deep)', 'stack_overflow'],
    ];
    for (const [body, trap] of cases) {
      const mod = `(module (type $v (func)) (memory (export "memory") 1) (table 2 funcref)
        (func $deep (call $deep)) (func (export "_start") ${body}))`;
      const d = watBundle(mod, 'limits: { fuel: 100000000000 }\n');
      if (d === null) return skipOrFail('wabt', 'wat2wasm is not installed');
      const out = await run(d);
      expect(out.report.body.outcome, body).toMatchObject({ status: 'failed', reason: 'trap', trap });
    }
  });

  it('caps memory: memory.grow past the cap fails inside the guest (exit code oracle)', async () => {
    // exits with 0 when growing by 300 pages failed (-1), 1 when it succeeded
    const d = watBundle(
      `(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.ne (memory.grow (i32.const 300)) (i32.const -1)))))`,
      'limits: { memory: 16Mi, fuel: 1000000 }\n',
    );
    if (d === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect((await run(d)).exitStatus).toBe(0);
    writeFileSync(join(d, 'boundary.yaml'), readFileSync(join(d, 'boundary.yaml'), 'utf8').replace('memory: 16Mi', 'memory: 64Mi'));
    expect((await run(d)).exitStatus).toBe(1); // the same guest with room to grow: the oracle flips
  });

  it('refuses modules that import anything but WASI, or need more memory than the cap', async () => {
    const foreign = watBundle(`(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))`, 'limits: { fuel: 1000 }\n');
    if (foreign === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    await expect(run(foreign)).rejects.toMatchObject({ code: 'BV_WASM_REFUSED' });
    const big = watBundle(`(module (memory (export "memory") 512) (func (export "_start")))`, 'limits: { memory: 16Mi, fuel: 1000 }\n');
    const e = await run(big!).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BvisorError);
    expect((e as BvisorError).message).toMatch(/above the cap/);
  });

  it('a module refused while its runner boots (the job is made after the runner exec\'d) leaves no runner, cgroup, entry or start record', async () => {
    const foreign = watBundle(`(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))`, 'limits: { fuel: 1000 }\n');
    if (foreign === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const root = tempDir('bvisor-wasm-root-');
    const leaves = (): string[] => testParentDirs().flatMap((d) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : []));
    const before = leaves();
    // The fault points it passes (a test seam: in the shipped code they do nothing).
    const stages: string[] = [];
    const hit = faultPoints.hit;
    faultPoints.hit = (stage) => void stages.push(stage);
    const e = await runLoaded(loadBundle(foreign), { id: 'refused', root, cgroupParent: testCgroupParent(), secretEnv: {}, host: facts() })
      .catch((x: unknown) => x)
      .finally(() => (faultPoints.hit = hit));
    expect(e).toMatchObject({ code: 'BV_WASM_REFUSED' });
    // The runner had exec'd (run:running, at its exec) and no start record was begun.
    expect(stages).toContain('run:running');
    expect(stages).not.toContain('run:before-start-record');
    await until('no runner left', () => !descendants().some((d) => d.argv.some((a) => a.includes('runner'))));
    expect(leaves()).toEqual(before);
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
    const journal = existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'utf8') : '';
    expect(journal).not.toContain('"started"');
  });

  it('a pre-started spare runner serves the next run; its deadline counts from the job; closeSpares ends it', async () => {
    // No root: a journaled run neither takes nor leaves spares (src/app/api.ts, spare).
    const go = (dir: string) => runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), spare: true });
    // Every way out ends the spares (a skip too: a spare left running outlives the test, and so
    // does its cgroup leaf under the test parent).
    try {
      const first = await go(join(BUNDLES, 'hello-wasm'));
      expect(first.report.body.evidence.find((e) => e.name === 'wasm.runner')?.value).toBe('started for this run');
      await new Promise((r) => setTimeout(r, 300)); // the spare is idle now, and not charged for it
      const second = await go(join(BUNDLES, 'hello-wasm'));
      expect(second.stdout?.toString()).toBe('hello from wasm, bv\n');
      expect(second.report.body.evidence.find((e) => e.name === 'wasm.runner')?.value).toBe('pre-started spare');
      expect(second.report.body.budgets.wall.observed).toBeLessThan(300);
      const spin = watBundle(TRAP('(loop $l (br $l))'), 'limits: { wall: 400ms, fuel: 100000000000 }\n');
      if (spin === null) return skipOrFail('wabt', 'wat2wasm is not installed');
      await go(spin); // leaves a spare for the spin's boundary
      await new Promise((r) => setTimeout(r, 600)); // longer than the wall limit, spent idle
      const t = await go(spin);
      expect(t.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
      expect(t.report.body.evidence.find((e) => e.name === 'wasm.runner')?.value).toBe('pre-started spare');
    } finally {
      await closeSpares();
    }
    // no runner of ours is left (ours: another file running beside this one may have its own),
    // started from its snapshot (runner.blob) or from runner.js
    expect(descendants().map((d) => d.argv.join(' ')).filter((a) => /dist\/(snapshot\/runner\.blob|backends\/wasm\/runner\.js)/.test(a))).toEqual([]);
  });

  it('a spare that ended while it waited is replaced, and a journaled run (a root) never uses one', async () => {
    const go = (root: string | null) => runLoaded(loadBundle(join(BUNDLES, 'hello-wasm')), { id: null, root, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), spare: true });
    const runners = (): number[] => descendants().filter((d) => /dist\/(snapshot\/runner\.blob|backends\/wasm\/runner\.js)/.test(d.argv.join(' '))).map((d) => d.pid);
    const by = (o: RunOutcome): unknown => o.report.body.evidence.find((e) => e.name === 'wasm.runner')?.value;
    try {
      expect(by(await go(tempDir('bvisor-wasm-root-')))).toBe('started for this run');
      expect(runners()).toEqual([]);
      await go(null); // leaves a spare
      await until('the spare has exec\'d', () => runners().length === 1);
      const [spare] = runners();
      process.kill(spare!, 'SIGKILL');
      await until('the spare is dead', () => !alive(spare!));
      const next = await go(null);
      // (Failed once in CI under load with no output: the outcome and evidence say what ran.)
      expect(next.stdout?.toString(), JSON.stringify({ outcome: next.report.body.outcome, evidence: next.report.body.evidence })).toBe('hello from wasm, bv\n');
      expect(by(next)).toBe('started for this run');
    } finally {
      await closeSpares();
    }
  });

  // A spare waits for a job it has not read yet (the next run's secrets among it): it is made
  // non-dumpable at its own exec, as a runner started for its run is (oracle: ptrace(2)'s access
  // check, test/helpers/dumpable.ts; the twin is in app/wasm-rewrite.live).
  it('a spare runner waiting for its job is not dumpable', async () => {
    const missing = readerMissing();
    if (missing) return skipOrFail('util-linux', missing);
    const runners = (): number[] => descendants().filter((d) => /dist\/(snapshot\/runner\.blob|backends\/wasm\/runner\.js)/.test(d.argv.join(' '))).map((d) => d.pid);
    try {
      await runLoaded(loadBundle(join(BUNDLES, 'hello-wasm')), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), spare: true });
      await until('the spare has started Node', () => runners().length === 1 && threadsOf(runners()[0]!) > 1);
      const r = readByItsOwnIds(runners()[0]!);
      expect(r).toMatchObject(refused(r));
    } finally {
      await closeSpares();
    }
  });

  it('journals the start record only for a runner that exec\'d, and before its report', async () => {
    // An entry holds an event (its kind) or a sealed report (docs/journal.md).
    const journal = (root: string): string[] =>
      readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => {
        const e = JSON.parse(l) as { event?: { kind: string }; report?: unknown };
        return e.event?.kind ?? (e.report ? 'report' : 'unknown');
      });
    const good = tempDir('bvisor-wasm-root-');
    const ok = await runLoaded(loadBundle(join(BUNDLES, 'hello-wasm')), { id: null, root: good, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(ok.exitStatus).toBe(0);
    expect(journal(good)).toEqual(['started', 'report']);
    // The runner's uid map is never written, so it is never released (never exec'd): the run
    // fails with the launch's own error, and the journal has no start record of a run that
    // never reached its guest (the record waits for the runner's exec).
    const bad = tempDir('bvisor-wasm-root-');
    await expect(runLoaded(loadBundle(join(BUNDLES, 'hello-wasm')), { id: null, root: bad, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts(), hooks: { failUidMap: true } })).rejects.toMatchObject({ code: 'BV_LAUNCH_RENDEZVOUS' });
    expect(existsSync(join(bad, 'journal.jsonl')) ? journal(bad) : []).toEqual([]);
  });

  it('a runner whose exec its caller cannot record is never handed its job, and nothing is recorded', async () => {
    // bvisor run with an id records the runner's pid when it exec's (its registration's state
    // write); when that write fails, the run must fail before its start record and its job.
    const b = loadBundle(join(BUNDLES, 'hello-wasm'));
    const host = facts();
    const plan = admittedLinuxPlan(b, host, { cgroupParent: defaultTestParent(), root: null }, 'run', true);
    const released: unknown[] = [];
    const run = runWasm(b, plan, host, {
      cacheDir: tempDir('bvisor-wasm-cache-'),
      id: null,
      runName: 'onexec-fails',
      secret: () => undefined,
      cgroupParent: defaultTestParent(),
      reserved: [],
      onExec: () => {
        throw new Error('the state file cannot be written');
      },
      beforeRelease: (r) => void released.push(r),
    });
    await expect(run).rejects.toThrow('the state file cannot be written');
    expect(released).toEqual([]);
    // The launch's own cleanup ended the runner (ours: another file may run its own beside us).
    await until('the runner is gone', () => !descendants().some((d) => /dist\/(snapshot\/runner\.blob|backends\/wasm\/runner\.js)/.test(d.argv.join(' '))));
  });

  it('refuses a filesystem grant that is not a directory (a preopen is a directory): nothing runs', async () => {
    const d = tempDir();
    chmodSync(d, 0o755);
    copyFileSync(join(BUNDLES, 'hello-wasm', 'hello.wasm'), join(d, 'hello.wasm'));
    writeFileSync(join(d, 'data.txt'), 'x');
    writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: hello.wasm }\nfilesystem:\n  - { path: ./data.txt, access: read }\n');
    const e = await run(d).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'BV_PLAN_REFUSED' });
    expect((e as BvisorError).issues.map((i) => i.code)).toEqual(['BV_PLAN_PATH_KIND']);
  });
});
