// Hostile and broken wasm modules through the whole backend: each gets a coded refusal before
// anything runs, or a classified outcome, never a stack trace. And limits.memory covers tables:
// a guest that grows a table to 10M entries under 8Mi is refused the growth, and the runner's
// resident memory stays bounded. Oracles: the guest's own output, the runner's /proc entry
// (VmHWM, read while it runs), and twins whose outcome flips.
import { writeFileSync, readFileSync, chmodSync, mkdirSync, truncateSync } from 'node:fs';
import { descendants } from '../helpers/wait.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../src/app/run.js';
import { BvisorError } from '../../src/contract/errors.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { I, T, wasmModule } from '../core/wasm/builder.js';

const BUNDLES = join(__dirname, '..', '..', 'bundles');

async function run(dir: string): Promise<RunOutcome> {
  return runLoaded(loadBundle(dir), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
}

function bundle(module: Uint8Array, limits = 'limits: { fuel: 100000 }'): string {
  const d = tempDir('bvisor-wasm-');
  chmodSync(d, 0o755);
  writeFileSync(join(d, 'm.wasm'), module);
  writeFileSync(join(d, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm, deterministic: true }\nstdio: { stdout: capture, stderr: capture }\n${limits}\n`);
  return d;
}

function wat(src: string): Uint8Array | null {
  const d = tempDir('bvisor-wat-');
  writeFileSync(join(d, 'm.wat'), src);
  const r = spawnSync('wat2wasm', [join(d, 'm.wat'), '-o', join(d, 'm.wasm')], { encoding: 'utf8' });
  if (r.error) return null;
  if (r.status !== 0) throw new Error(r.stderr);
  return new Uint8Array(readFileSync(join(d, 'm.wasm')));
}

async function refusal(dir: string): Promise<BvisorError> {
  const e = await run(dir).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(BvisorError);
  expect((e as BvisorError).code).toBe('BV_WASM_REFUSED');
  expect((e as BvisorError).message).not.toMatch(/\n\s+at /);
  return e as BvisorError;
}

const MEM = { min: 1, export: 'memory' };

describe('hostile modules are refused at load, coded', () => {
  it('the fuel refill (local.set on the counter the rewriter appends): refused, nothing runs', async () => {
    const body = [I.loop(), I.i64((1n << 62n) - 1n), I.localSet(1), I.localGet(0), I.i32(1), I.i32Add, I.localTee(0), I.i32(200_000_000), I.i32LtU, I.brIf(0), I.end];
    const e = await refusal(bundle(wasmModule({ memory: MEM, funcs: [{ locals: [[1, T.i32]], body, export: '_start' }] })));
    expect(e.message).toMatch(/m\.wasm: not a valid module: .*invalid local index: 1 @\+\d+/i);
  });

  it('a duplicate section and a huge locals count: refused with where, no stack trace', async () => {
    const ok = wasmModule({ memory: MEM, funcs: [{ body: [], export: '_start' }] });
    // the type section (right after the 8-byte header) twice
    const typeSec = ok.subarray(8, 8 + 2 + ok[9]!);
    const dup = Uint8Array.from([...ok.subarray(0, 8), ...typeSec, ...ok.subarray(8)]);
    expect((await refusal(bundle(dup))).message).toMatch(/duplicate section 1 \(type\) at byte \d+/);
    const huge = wasmModule({ memory: MEM, funcs: [{ locals: [[0xffffffff, T.i32]], body: [], export: '_start' }] });
    expect((await refusal(bundle(huge))).message).toMatch(/not a valid module: .*local/i);
  });

  it('a module without _start is refused ("module has no _start export"), not run as unknown_trap', async () => {
    const e = await refusal(bundle(wasmModule({ memory: MEM, funcs: [{ body: [], export: 'main' }] })));
    expect(e.message).toMatch(/module has no _start export/);
  });

  it('"memory" exported as a global, and a WASI import of the wrong type: refused, every problem named', async () => {
    const e = await refusal(
      bundle(
        wasmModule({
          imports: [{ module: 'wasi_snapshot_preview1', name: 'fd_write', params: [T.i64], results: [] }],
          memory: { min: 1 },
          globals: [{ type: T.i32, mutable: false, init: I.i32(0), export: 'memory' }],
          funcs: [{ body: [], export: '_start' }],
        }),
      ),
    );
    expect(e.message).toMatch(/"memory" is exported as a global, not a memory/);
    expect(e.message).toMatch(/imports wasi_snapshot_preview1\.fd_write as \(i64\) -> \(\), but WASI preview 1 defines it as \(i32, i32, i32, i32\) -> \(i32\)/);
  });

  it('bytes that are not wasm at all', async () => {
    expect((await refusal(bundle(Uint8Array.from(Buffer.from('#!/bin/sh\necho hi\n'))))).message).toMatch(/not a WebAssembly 1\.0 module/);
  });
});

describe('guests that fail early get a classified outcome', () => {
  it('a trap in the start function is a trap (unreachable), and proc_exit there is an exit', async () => {
    const trap = wasmModule({ memory: MEM, funcs: [{ body: [I.unreachable] }, { body: [], export: '_start' }], start: 0 });
    const t = await run(bundle(trap));
    expect(t.report.body.outcome).toMatchObject({ status: 'failed', reason: 'trap', trap: 'unreachable' });
    expect(t.exitStatus).toBe(134);
    const exit = wasmModule({ imports: [{ module: 'wasi_snapshot_preview1', name: 'proc_exit', params: [T.i32], results: [] }], memory: MEM, funcs: [{ body: [I.i32(3), I.call(0)] }, { body: [], export: '_start' }], start: 1 });
    const x = await run(bundle(exit));
    expect(x.report.body.outcome).toMatchObject({ status: 'failed', reason: 'exit', exitCode: 3 });
    expect(x.exitStatus).toBe(3);
  });

  it('a data segment outside memory traps at instantiation: memory_oob, not a host error', async () => {
    const m = wasmModule({ memory: MEM, funcs: [{ body: [], export: '_start' }], data: [{ offset: 70_000, bytes: [1, 2, 3] }] });
    const out = await run(bundle(m));
    expect(out.report.body.outcome).toMatchObject({ status: 'failed', reason: 'trap', trap: 'memory_oob' });
    expect(out.stderr?.toString() ?? '').not.toMatch(/\n\s+at /);
  });

  // 515,921 before host calls paid per iovec (its one fd_write has one): 515,922.
  it('fuel counts are unchanged by validation: wasm-compute still uses 515,922 units (compute.wat)', async () => {
    const out = await run(join(BUNDLES, 'wasm-compute'));
    expect(out.report.body.budgets.fuel.observed).toBe(515_922);
  });
});

/** Host pids of the runners started by this test process (descendants whose command line names runner.js or the runner's snapshot, runner.blob). */
function ourRunners(): number[] {
  return descendants().filter((d) => d.argv.join('\0').match(/runner\.(js|blob)/) !== null).map((d) => d.pid);
}

/** Runs a bundle while sampling its runner's VmHWM (kB → bytes); the highest value seen. */
async function runSampling(dir: string): Promise<{ out: RunOutcome; hwm: number }> {
  let hwm = 0;
  const sample = (): void => {
    for (const pid of ourRunners()) {
      try {
        const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        hwm = Math.max(hwm, kb * 1024);
      } catch {
        // exited between the listing and the read
      }
    }
  };
  const timer = setInterval(sample, 25);
  try {
    const out = await run(dir);
    return { out, hwm };
  } finally {
    clearInterval(timer);
  }
}

describe('limits.memory covers tables', () => {
  // Grows its table by $n entries, prints "refused" or "grown", then spins until its fuel runs out
  // (so the runner can be measured while it holds what it got). With spin false, returns instead.
  // Fuel, not the wall, ends the spin: a count does not shrink on a loaded machine, where a wall
  // of 1.5 s once ran out before the runner had printed (CI, stop 36); the wall is a backstop.
  const guest = (n: number, spin: boolean): string => `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (table $t 1 funcref)
    (data (i32.const 16) "refused\\ngrown\\n")
    (func (export "_start")
      (if (i32.eq (table.grow $t (ref.null func) (i32.const ${n})) (i32.const -1))
        (then (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 8)))
        (else (i32.store (i32.const 0) (i32.const 24)) (i32.store (i32.const 4) (i32.const 6))))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      ${spin ? '(loop $l (br $l))' : ''}))`;

  it('a 10M-entry table.grow under 8Mi is refused and the runner stays small; the twin with room grows and the runner swells', async () => {
    const tenM = wat(guest(10_000_000, true));
    const some = wat(guest(1_500_000, true));
    if (tenM === null || some === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const limits = (mem: string): string => `limits: { wall: 60s, memory: ${mem}, fuel: 300000000 }`; // ~0.4 s of spin here
    const small = await runSampling(bundle(tenM, limits('8Mi')));
    expect(small.out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    expect(small.out.stdout?.toString()).toBe('refused\n');
    const twin = await runSampling(bundle(some, limits('2Gi'))); // tables get 2Gi/16 = 2M entries
    expect(twin.out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    expect(twin.out.stdout?.toString()).toBe('grown\n');
    expect(small.hwm).toBeGreaterThan(0); // the sampler saw the runner
    // 1.5M funcref entries cost V8 at least 28 B each: the twin's runner holds 40 MB more
    expect(twin.hwm - small.hwm).toBeGreaterThan(40 * 2 ** 20);
    // and the refused one is a Node process with nothing big in it (before: 276 MB)
    expect(small.hwm).toBeLessThan(twin.hwm - 40 * 2 ** 20);
    expect(small.hwm).toBeLessThan(150 * 2 ** 20);
  });

  it('the report counts what tables reached in the memory budget (pages × 64 KiB + entries × 64 B)', async () => {
    const m = wat(guest(1000, false));
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await run(bundle(m, 'limits: { memory: 8Mi, fuel: 1000000 }'));
    expect(out.stdout?.toString()).toBe('grown\n');
    expect(out.report.body.budgets.memory).toMatchObject({ limit: 8 * 2 ** 20, observed: 65536 + 1001 * 64 });
    expect(out.report.body.evidence.find((e) => e.name === 'wasm.table-entries')?.value).toBe(8192);
  });
});

// Found by attack: fuel a host call should have charged and did not. random_get's length arrived
// signed (2^31 as -2^31), so each call charged a negative cost and refilled the counter: a loop of
// them ran to the wall, and one call left a report with a negative fuel use, which the journal's
// schema refuses (verify, recover and gc then refused for good). A file read charged one unit a
// call whatever it moved (8 GiB for 17,016 units), and fd_readdir one unit for listing the whole
// directory again on every call. Oracles: the outcome and the report's fuel use; each run's twin
// is the same guest with a budget it fits in, which completes.
describe('host calls pay for what they do', () => {
  it('random_get of 2^31 bytes in a loop runs out of fuel, and no report has a negative fuel use', async () => {
    const m = wat(`(module (import "wasi_snapshot_preview1" "random_get" (func $rg (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (local $i i32)
        (loop $l (drop (call $rg (i32.const 0) (i32.const 0x80000000)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))))`);
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await run(bundle(m, 'limits: { wall: 20s, fuel: 1000000 }'));
    expect(out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    expect(out.exitStatus).toBe(124);
    // the first call alone costs 1 + 2^31/64 units (WASM-fuel's rule: a unit per 64 bytes asked)
    expect(out.report.body.budgets.fuel.observed).toBeGreaterThan(2 ** 31 / 64);
  });

  // Found by a second attack: 4,194,000 empty iovecs a call, each walked by the host, for one
  // unit: a loop of them ran to the wall on a budget of 100,000 (19 s of CPU).
  it('fd_write of 4 million empty iovecs in a loop runs out of fuel at once', async () => {
    const m = wat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 512)
      (func (export "_start") (local $i i32)
        (loop $l (drop (call $w (i32.const 1) (i32.const 0) (i32.const 4194000) (i32.const 33554428)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))`);
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await run(bundle(m, 'limits: { wall: 20s, memory: 64Mi, fuel: 100000 }'));
    expect(out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    // the first call alone: one unit per iovec (wasm-fuel.md)
    expect(out.report.body.budgets.fuel.observed).toBeGreaterThan(4_194_000);
  });

  it('file reads are charged per 64 bytes moved: 100 preads of 8 MiB do not fit 1M units', async () => {
    const m = wat(`(module
      (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 160)
      (data (i32.const 16) "big")
      (func (export "_start") (local $fd i32) (local $i i32)
        (if (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 3) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)) (then (call $exit (i32.const 9))))
        (local.set $fd (i32.load (i32.const 8)))
        (i32.store (i32.const 32) (i32.const 65536))
        (i32.store (i32.const 36) (i32.const 8388608))
        (loop $l
          (if (call $pread (local.get $fd) (i32.const 32) (i32.const 1) (i64.const 0) (i32.const 40)) (then (call $exit (i32.const 8))))
          (if (i32.ne (i32.load (i32.const 40)) (i32.const 8388608)) (then (call $exit (i32.const 7))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))`);
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const withData = (limits: string): string => {
      const d = bundle(m, limits);
      mkdirSync(join(d, 'data'));
      writeFileSync(join(d, 'data', 'big'), Buffer.alloc(8 * 2 ** 20, 7));
      writeFileSync(join(d, 'boundary.yaml'), readFileSync(join(d, 'boundary.yaml'), 'utf8') + 'filesystem:\n  - { path: ./data, access: read }\n');
      return d;
    };
    const out = await run(withData('limits: { wall: 20s, memory: 64Mi, fuel: 1000000 }'));
    expect(out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    // Twin: with room for 100 × 8 MiB / 64 = 13.1M units, it completes, and the count shows them.
    const fits = await run(withData('limits: { wall: 20s, memory: 64Mi, fuel: 20000000 }'));
    expect(fits.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(fits.report.body.budgets.fuel.observed).toBeGreaterThanOrEqual(100 * 8 * 2 ** 20 / 64);
  });
});

// Found by attack: what the supervisor does with a module before anything runs must be bounded by
// the module, not by the supervisor's luck: a 1.9 GB file of zeros was read whole (3.9 GB
// resident) before "bad magic", one past 2 GiB was a BV_INTERNAL, and 300,000 custom sections
// overflowed the rewriter's stack (BV_INTERNAL, "a bug in bvisor").
// Found by attack: bulk operations were charged by length but checked only at the next loop header
// or call, so one straight-line run of 20,000 memory.fills of 15 MiB (4.9 billion units of work)
// went on to the wall under a budget of 100,000. Each bulk op is now checked right after its
// charge, before it runs. Oracle: the report's fuel count (deterministic).
describe('bulk memory operations are checked before they run', () => {
  it('200 fills of 15 MiB in one segment under 1M units: out of fuel at the fifth, not after the 200th', async () => {
    const fills = Array.from({ length: 200 }, () => '(memory.fill (i32.const 0) (i32.const 7) (i32.const 15728640))').join('\n');
    const m = wat(`(module (memory (export "memory") 240 240) (func (export "_start") ${fills}))`);
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await run(bundle(m, 'limits: { wall: 60s, memory: 16Mi, fuel: 1000000 }'));
    expect(out.report.body.outcome).toMatchObject({ reason: 'fuel', trap: 'out_of_fuel' });
    // One fill costs 15 MiB / 64 = 245,760 units (wasm-fuel.md: one per 64 bytes), charged before
    // it runs: the fifth takes the count past the budget and never runs. The whole segment's
    // instructions were charged at its start.
    const fill = 15 * 2 ** 20 / 64;
    expect(out.report.body.budgets.fuel.observed).toBeGreaterThan(1_000_000);
    expect(out.report.body.budgets.fuel.observed).toBeLessThan(1_000_000 + fill + 1000);
  });
});

// Found by attack: a module whose element segment (or the one bvisor adds to declare again the
// exported functions it names with ref.func) is longer than the table entries limits.memory
// leaves passed the supervisor's checks, then failed in the runner's compile ("number of elements
// of 20000 exceeds internal limit of 16384"), a BV_WASM_RUNNER error after the runner started.
describe('element segments the engine would refuse are refused before a runner starts', () => {
  const declared = (n: number): string =>
    `(module (memory (export "memory") 1)\n${Array.from({ length: n }, (_, i) => `(func $f${i} (export "f${i}"))`).join('\n')}\n(func (export "_start")\n${Array.from({ length: n }, (_, i) => `(drop (ref.func $f${i}))`).join('\n')}))`;
  const passive = (n: number): string => `(module (memory (export "memory") 1) (func $f) (elem funcref ${'(ref.func $f) '.repeat(n)}) (func (export "_start")))`;
  it.each([
    ['20,000 exported functions named by ref.func', declared(20_000), /names exported functions with ref\.func, which bvisor declares again in one element segment of 20000 elements, above the 16384 table entries/],
    ['a passive segment of 20,000', passive(20_000), /an element segment of the module holds 20000 elements, above the 16384 table entries/],
  ])('%s under 16Mi: refused, naming limits.memory; the twin under 64Mi runs', async (_name, src, message) => {
    const m = wat(src);
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect((await refusal(bundle(m, 'limits: { memory: 16Mi, fuel: 100000000 }'))).message).toMatch(message);
    const twin = await run(bundle(m, 'limits: { memory: 64Mi, fuel: 100000000 }'));
    expect(twin.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
  });
});

// Found by attack: a run the wall ended (no outcome from the runner) reported the runner
// process's cgroup peak, Node's own memory with it, as the guest's memory against the guest's
// limit: 364 MB observed against a limit of 128 MiB, a limit it had not broken.
describe('a run without an outcome does not claim the guest\'s memory', () => {
  it('the wall ends a spinning guest: memory is not observed, and says what the runner\'s process reached', async () => {
    const m = wat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))');
    if (m === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await run(bundle(m, 'limits: { wall: 1s, memory: 16Mi, fuel: 1000000000000 }'));
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    expect(out.report.body.budgets.memory).toMatchObject({ limit: 16 * 2 ** 20, observed: { notObserved: expect.stringMatching(/^the runner reported no outcome, so the guest's pages and tables are not known(; the runner process's peak, Node's own memory with it, was \d+ bytes)?$/) } });
  });
});

describe('modules the supervisor must refuse cheaply', () => {
  it('a sparse file larger than V8 compiles, and one of zeros: refused by size, then by its first bytes', async () => {
    const big = bundle(new Uint8Array(0));
    truncateSync(join(big, 'm.wasm'), 2 ** 30 + 1);
    expect((await refusal(big)).message).toMatch(/m\.wasm: the module is 1073741825 bytes, above the 1073741824 \(1 GiB\) V8 compiles/);
    const zeros = bundle(new Uint8Array(0));
    truncateSync(join(zeros, 'm.wasm'), 512 * 2 ** 20);
    // The header's own words: the rewriter, which reads the whole module first, says "bad magic
    // or version" for the same bytes.
    expect((await refusal(zeros)).message).toMatch(/not a WebAssembly 1\.0 module \(its first bytes are not \\0asm\)/);
  });

  it('300,000 custom sections: run (they are allowed), not a stack overflow', async () => {
    const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const custom = [0x00, 0x02, 0x01, 0x63]; // id 0, size 2, name length 1, "c"
    const body = wasmModule({ memory: MEM, funcs: [{ body: [], export: '_start' }] });
    const bytes = new Uint8Array(head.length + custom.length * 300_000 + body.length - 8);
    bytes.set(head, 0);
    for (let i = 0; i < 300_000; i++) bytes.set(custom, 8 + i * 4);
    bytes.set(body.subarray(8), 8 + custom.length * 300_000);
    const out = await run(bundle(bytes));
    expect(out.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
  });
});
