// Runs a wasm workload: instrument the module (fuel, memory cap, deferred start), then start
// the runner (a Node process) through the Linux launcher, under a boundary derived from the
// same manifest: no network, threads only, /usr, bvisor's own code and the few host files
// Node's start reads (RUNNER_START_FILES) readable and nothing else, the manifest's wall limit
// (a SIGKILL of the runner), and a cgroup memory backstop.
// The job (args, env with resolved secrets, the module) never touches a disk:
//   - bvisor run: it travels on a pipe, the outcome on another, while bvisor waits;
//   - bvisor create: the runner waits under the container's monitor like a Linux workload (it
//     has not exec'd Node yet), holding the job in an unnamed in-memory file (a sealed memfd,
//     without a name anyone could open) that nobody else holds once create exits; its outcome goes to a file in the container's state directory
//     through the one descriptor create opened for it, where delete reads it to seal the same
//     report run seals.
import { hostnameFor } from '../core/ids.js';
import { readFileSync, readSync, fstatSync, realpathSync, existsSync, openSync, closeSync, statSync, constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { HostFacts, Plan, ProcRef } from '../contract/generated/types.js';
import { OUTCOME_FILE, OUTCOME_MAX, WASM_PAGE, parseOutcome, type WasmRecord, type WasmRun } from './wasm-report.js';
import { BvisorError } from '../contract/errors.js';
import type { LoadedBundle } from '../host/bundle.js';
import { readSurface, wasiProblems, splitMemory, WasmRefused, V8_MAX_MODULE_BYTES, FUEL_VERSION, REWRITER_VERSION, DEFAULT_CAPS, TABLE_ENTRY_BYTES, type FuelOptions, type ModuleSurface } from '../core/wasm/fuel.js';
import { plan as runPlanner } from '../core/planner.js';
import { cgroupFor } from '../core/host-view.js';
import type { NormalManifest } from '../core/manifest.js';
import { sha256Hex } from '../host/hash.js';
import { shim, packageRoot, nodumpPath, O } from '../backends/linux/ffi/shim.js';
import { runnerSnapshotDir } from './runner-snapshot-dir.js';
import { cpuFlagsLine, errnoName } from '../host/facts.js';
import { openPlanned } from '../backends/linux/host/objects.js';
import { hostRootLinks, idmappable as canIdmap } from '../host/bundle.js';
import { resolveHostPath, resolvePlanned } from '../host/host-paths.js';
import { relaySink, type RunRelay } from './relay.js';
import { jobPipes } from './job-pipes.js';
import { delay, longTimeout, type LongTimer, type Stop } from '../host/timers.js';
import { alive, procRef } from '../host/proc.js';

/** A preopen as the wasm plan identified it. */
interface Preopen {
  guest: string;
  host: string;
  readonly: boolean;
  dev: string;
  ino: string;
}
import { runnerAddressSpace, type PlanPaths, type Reserved } from '../core/features.js';
import { launchLinux, createLinux, type Detached, type LaunchHooks, type LinuxCreated, type LinuxRunResult, type RunControl } from '../backends/linux/launcher.js';
import { resolveEnv } from '../core/secrets.js';
import { redactionValues } from '../core/redact.js';
import { WASI_IMPORTS } from '../backends/wasm/wasi.js';
import { cacheKey, cached, type CacheResult } from '../host/wasm-cache.js';
import { instrumentBounded, SHIPPED_REWRITER_BOUNDS, type RewriterBounds, type RewriterLaunch } from './instrument.js';
import { effectiveHooks } from '../backends/linux/test-hooks.js';
import type { RecordLeaf } from '../backends/linux/host/cgroups.js';

/** Memory for the runner beyond the guest's own: V8, the WASI host, Node itself. */
export const RUNNER_OVERHEAD_BYTES = 256 * 2 ** 20;
/**
 * Host files the runner's Node reads as it starts, granted read-only where the host has them:
 * OpenSSL's configuration; the dynamic loader's cache (without it, ld.so tries a dozen
 * directories for each of Node's libraries); and the two settings glibc's malloc reads for the
 * hugetlb tunable below (unreadable, it asks for no huge pages). None says more than the host's
 * library list and its THP mode.
 */
const RUNNER_START_FILES = ['/etc/ssl/openssl.cnf', '/etc/ld.so.cache', '/sys/kernel/mm/transparent_hugepage/enabled', '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size'];
/** glibc's malloc settings for the runner, as bin/bvisor sets them for the CLI's Node. */
const RUNNER_MALLOC: ReadonlyArray<readonly [string, string]> = [
  ['glibc.malloc.hugetlb', '1'],
  ['glibc.malloc.mmap_threshold', '33554432'],
];
/**
 * The runner's malloc setting (one of its two environment variables, ownProcessEnv): glibc's
 * malloc serves blocks of up to 32 MiB from its heap and asks for transparent huge pages for it
 * (madvise; hugetlb is glibc >= 2.35, ignored by older ones), and Node reads the runner's snapshot
 * into one such block.
 * Where page faults are dear (a virtual machine shadowing guest page tables) that is a large part
 * of a cold runner's start (docs/performance.md, eleventh and fourteenth passes). bin/bvisor asks
 * the same for the CLI's Node, and both keep a setting of the caller's own for each: only those
 * numbers cross into the runner, never the rest of the caller's tunables.
 */
export function runnerMallocTunable(callerTunables: string | undefined, callerMmapThreshold?: string): { name: string; value: string } {
  // A number as glibc reads a tunable's value: decimal or 0x-hex (nothing else crosses).
  const number = (v: string | undefined): string | undefined => (v !== undefined && /^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(v) ? v : undefined);
  const given = (callerTunables ?? '').split(':');
  const value = RUNNER_MALLOC.map(([name, ours]) => {
    // glibc reads the list in order, so the last setting is the one that holds.
    const own = given.map((t) => (t.startsWith(`${name}=`) ? number(t.slice(name.length + 1)) : undefined)).filter((v) => v !== undefined).at(-1);
    // The older variable for the threshold, which GLIBC_TUNABLES would override (as bin/bvisor leaves it).
    const legacy = name === 'glibc.malloc.mmap_threshold' ? number(callerMmapThreshold) : undefined;
    return `${name}=${own ?? legacy ?? ours}`;
  });
  return { name: 'GLIBC_TUNABLES', value: value.join(':') };
}

/** The runner's V8 flags that are the same for every run: its snapshot is built with them
 * (scripts/build-snapshot.mjs RUNNER_V8_FLAGS), since each V8 flag is part of a blob's tag. */
export const RUNNER_V8_FLAGS = ['--max-old-space-size=128'] as const;

/** How the runner starts: from its V8 start-up snapshot, or from runner.js and why not. */
export type RunnerStart = { blob: string } | { script: string; why: string };

/**
 * What built the snapshots (dist/snapshot/built.sh, scripts/build-snapshot.mjs): the Node binary
 * and its CPU's features line, as the `name='value'` lines bin/bvisor sources. Null when the file
 * is missing or lacks either.
 */
export function builtRecord(dir: string): { node: string; cpu: string } | null {
  let text: string;
  try {
    text = readFileSync(join(dir, 'built.sh'), 'utf8');
  } catch {
    return null;
  }
  const value = (name: string): string | null => new RegExp(`^${name}='([^'\n]*)'$`, 'm').exec(text)?.[1] ?? null;
  const node = value('built');
  const cpu = value('builtcpu');
  return node === null || cpu === null ? null : { node, cpu };
}

/**
 * The runner's snapshot (dist/snapshot/runner.blob, docs/startup.md "wasm runner") when it was
 * built by the very Node binary in use, the rule bin/bvisor follows for the CLI's: the binary
 * recorded at build (dist/snapshot/built.sh) is process.execPath, on a CPU with the same features,
 * and its mtime is still the stamp's (an upgraded Node is another file, and would refuse the blob:
 * exit 14, nothing run). Else runner.js, with why. Read at every launch (small reads): a rebuilt
 * or removed blob is seen.
 */
export function runnerStart(dir: string = runnerSnapshotDir()): RunnerStart {
  const script = join(packageRoot(), 'dist', 'backends', 'wasm', 'runner.js');
  const blob = join(dir, 'runner.blob');
  try {
    if (!statSync(blob).isFile()) return { script, why: `${blob} is not a file` };
  } catch {
    return { script, why: `no runner snapshot in ${dir} (npm run build makes it)` };
  }
  const record = builtRecord(dir);
  if (record === null) return { script, why: `no record of what built it in ${dir} (npm run build makes it)` };
  const built = record.node;
  if (built !== process.execPath) return { script, why: `it was built by ${built}, and this is ${process.execPath}` };
  // V8's configuration tag includes the CPU features it detects (scripts/build-snapshot.mjs).
  if (cpuFlagsLine() !== record.cpu) return { script, why: 'this CPU\'s features are not those of the machine that built it (V8 would refuse the blob)' };
  try {
    // The stamp's mtime was set from the binary's (utimes, millisecond precision).
    if (Math.abs(statSync(join(dir, 'node.stamp')).mtimeMs - statSync(process.execPath).mtimeMs) >= 1) return { script, why: `${built} changed since it was built (npm run build makes it again)` };
  } catch {
    return { script, why: `no stamp in ${dir} (npm run build makes it)` };
  }
  return { blob };
}

/**
 * The runner's command line. V8's caps back the rewritten limits: linear memory pages, and the
 * entries of a table. From the snapshot they come after the package root, and the runner sets
 * them itself before anything is compiled (runner-snapshot.ts, which also checks they hold):
 * given to Node as flags, they would change the blob's configuration tag and Node would refuse it.
 */
export function runnerArgs(caps: FuelOptions, start: RunnerStart): string[] {
  const wasmCaps = [`--wasm-max-mem-pages=${caps.maxPages}`, `--wasm-max-table-size=${caps.tableEntries}`];
  return 'blob' in start ? [...RUNNER_V8_FLAGS, '--snapshot-blob', start.blob, packageRoot(), ...wasmCaps] : [...wasmCaps, ...RUNNER_V8_FLAGS, start.script];
}

/** A host path granted to one of bvisor's own processes, enforced, with what beneath it. */
function grant(path: string, access: 'read' | 'read-exec') {
  return { path, bundleRelative: false, access, recursive: true, guarantee: 'enforced' as const };
}

/** The grants whose paths exist here, each index its place in the list once the others are left out. */
function present<G extends { path: string }>(grants: G[]): Array<G & { index: number }> {
  return grants.filter((g) => existsSync(g.path)).map((g, index) => ({ ...g, index }));
}

/**
 * The environment of bvisor's own processes (the runner, the rewriter): glibc's malloc settings,
 * and the library that makes each non-dumpable as it starts (native-shim/src/nodump.c), preloaded.
 * ld.so splits LD_PRELOAD at spaces and colons, with no escape (ld.so(8)); a missing library would
 * be skipped by ld.so (and then refused by the process itself, backends/wasm/nodump.ts): both are
 * refused here first, by name.
 */
function ownProcessEnv(): NormalManifest['env'] {
  return [runnerMallocTunable(process.env.GLIBC_TUNABLES, process.env.MALLOC_MMAP_THRESHOLD_), { name: 'LD_PRELOAD', value: preloadable(nodumpPath(), existsSync) }];
}

/** `lib` as LD_PRELOAD's value, or why it cannot be one. */
export function preloadable(lib: string, exists: (path: string) => boolean): string {
  if (/[ :]/.test(lib)) throw new BvisorError('BV_SHIM_LOAD', `${lib} cannot be preloaded: LD_PRELOAD splits its path at a space or a colon`, { hint: 'install bvisor under a path without spaces or colons' });
  if (!exists(lib)) throw new BvisorError('BV_SHIM_LOAD', `${lib} is missing`, { hint: 'build it with `npm run build:shim` (needs cc and make)' });
  return lib;
}

/** The clauses of every process bvisor starts for its own work on a module (the runner, the
 * rewriter): no network, Node's own threads and no process, no /tmp, the errno filter, no
 * capability, every clause enforced. (And no core dump: their `internal`.) */
const OWN_PROCESS = {
  network: { value: { mode: 'deny', connect: [], bind: [] }, guarantee: 'enforced', explicit: true },
  spawn: { value: 'threads', guarantee: 'enforced', explicit: true },
  tmp: { value: 'none', guarantee: 'enforced', explicit: true },
  syscalls: { value: 'errno', guarantee: 'enforced', explicit: true },
  isolate: { value: { signals: false, abstractUnix: false }, guarantee: 'enforced', explicit: false },
  capabilities: [],
  defaultGuarantee: 'enforced',
  explicitDefaultGuarantee: true,
} satisfies Partial<NormalManifest>;

/** The runner's own boundary, derived from the wasm manifest. */
function runnerManifest(m: RunnerInputs, fds: number[], caps: FuelOptions, node: string, preopens: ReadonlyArray<{ host: string; readonly: boolean }>, memoryCgroup: boolean, wallMs: number | null): NormalManifest {
  const L = m.limits;
  const start = runnerStart();
  const dist = join(packageRoot(), 'dist');
  return {
    workload: { kind: 'process', exe: node, args: runnerArgs(caps, start), cwd: '/' },
    root: null,
    // Node's start reads a few host files (RUNNER_START_FILES); nothing else outside /usr and our code.
    // The file host loads our shim through koffi (native code: read-exec), and reaches exactly
    // the preopened directories, read-only where the manifest says so.
    filesystem: present([
      grant('/usr', 'read-exec'),
      grant(dist, 'read'),
      grant(join(packageRoot(), 'native-shim', 'build'), 'read-exec'),
      grant(join(packageRoot(), 'node_modules', 'koffi'), 'read-exec'),
      // koffi's prebuilt native module ships in a per-platform package beside it
      grant(join(packageRoot(), 'node_modules', '@koromix'), 'read-exec'),
      ...preopens.map((p) => ({ ...grant(p.host, 'read'), access: p.readonly ? ('read' as const) : ('read-write' as const) })),
      ...RUNNER_START_FILES.map((f) => ({ ...grant(f, 'read'), recursive: false })),
      // The runner's snapshot is under dist (granted above), unless a test put it elsewhere.
      ...('blob' in start && !start.blob.startsWith(`${dist}/`) ? [{ ...grant(start.blob, 'read'), recursive: false }] : []),
    ]),
    // The runner's process environment, never the guest's (WASI's environ is the manifest's).
    env: ownProcessEnv(),
    fds,
    stdio: m.stdio,
    // bvisor run keeps the wall deadline itself from the moment the job is handed over, so a
    // runner started ahead of time (a spare) is not charged for its wait (wallMs null); a
    // created container's monitor keeps it from start, as for a Linux container.
    limits: {
      ...(L.output ? { output: L.output } : {}),
      ...(wallMs !== null ? { wall: { value: wallMs, guarantee: 'enforced' as const, explicit: true } } : {}),
      // A cgroup backstop only: without one the fallback (RLIMIT_AS) would starve V8, which
      // reserves address space far beyond what it uses (guard regions around wasm memory); the
      // guest's own memory is capped by the rewritten module and --wasm-max-mem-pages anyway.
      ...(memoryCgroup ? { memory: { value: caps.maxPages * WASM_PAGE + caps.tableEntries * TABLE_ENTRY_BYTES + RUNNER_OVERHEAD_BYTES, guarantee: 'enforced' as const, explicit: true } } : {}),
    },
    ...OWN_PROCESS,
    internal: { wasmRunner: true, noCoreDump: true },
  };
}

/** What the runner's own boundary depends on, from the plan alone (not the module): its memory
 * caps and its preopened directories. */
function jobShape(plan: Plan): { caps: FuelOptions; preopens: Preopen[] } {
  const L = plan.launch!;
  // limits.memory covers linear memory and tables together (the planner's mechanism says how).
  const caps = L.memoryBytes !== null ? splitMemory(L.memoryBytes) : DEFAULT_CAPS;
  const preopens = L.filesystem.map((f) => ({ guest: f.target, host: f.path, readonly: !f.access.includes('write'), dev: f.dev, ino: f.ino }));
  return { caps, preopens };
}

/** What a launch of the module needs, made in memory (never written anywhere). */
interface PreparedJob {
  /** The job line and the instrumented module: it holds resolved secrets. */
  job: Buffer;
  caps: FuelOptions;
  cache: CacheResult;
  seed: number | null;
  preopens: Preopen[];
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * The module's bytes, after its size and its first four bytes (found by attack: a 1.9 GB sparse
 * file of zeros was read whole, 3.9 GB resident, before "bad magic"; one past 2 GiB was a
 * BV_INTERNAL from Node's reader): a file that is not a module, or is larger than V8 compiles,
 * is refused having read 4 bytes.
 */
function readModule(fd: number): Uint8Array {
  const size = fstatSync(fd).size;
  const tooBig = (n: number | string): WasmRefused => new WasmRefused(`the module is ${n} bytes, above the ${V8_MAX_MODULE_BYTES} (1 GiB) V8 compiles`);
  if (size > V8_MAX_MODULE_BYTES) throw tooBig(size);
  const head = Buffer.alloc(4);
  if (readSync(fd, head, 0, 4, 0) < 4 || WASM_MAGIC.some((b, i) => head[i] !== b)) throw new WasmRefused('not a WebAssembly 1.0 module (its first bytes are not \\0asm)');
  // Read into one buffer of the size seen, plus a byte: a file that grew since (another writer)
  // is read only that far and refused if it went past the cap, never read whole on a second look.
  // Its own memory (allocUnsafeSlow: no pool), so its bytes are not copied again.
  const buf = Buffer.allocUnsafeSlow(Math.min(size, V8_MAX_MODULE_BYTES) + 1);
  let n = 0;
  for (;;) {
    const k = readSync(fd, buf, n, buf.length - n, n);
    if (k === 0) break;
    n += k;
    if (n === buf.length) {
      if (n > V8_MAX_MODULE_BYTES) throw tooBig('more than ' + V8_MAX_MODULE_BYTES);
      throw new WasmRefused('the module changed while it was read (it grew); nothing was run');
    }
  }
  return new Uint8Array(buf.buffer, 0, n);
}

/** Reads the module through the descriptor the plan checked, instruments it (or takes it from
 * the cache), checks it is a WASI command, and builds the runner's job. */
async function prepareJob(b: LoadedBundle, plan: Plan, shape: ReturnType<typeof jobShape>, secret: (n: string) => string | undefined, cacheDir: string, rewriter: RewriterLaunch, o: { stop?: Stop | undefined; hooks?: LaunchHooks | undefined; progress?: ((line: string) => void) | undefined }): Promise<PreparedJob> {
  const L = plan.launch!;
  const { caps, preopens } = shape;
  let inst: { bytes: Uint8Array; surface: ModuleSurface };
  let cache: CacheResult = 'disabled';
  try {
    // The module is read from the descriptor checked against the plan, never by name again.
    const fd = openPlanned({ path: L.workload.path, dev: L.workload.dev, ino: L.workload.ino }, 'workload.wasm.module', O.RDONLY | O.NONBLOCK);
    let original: Uint8Array;
    try {
      original = readModule(fd);
    } finally {
      shim().bv_close(fd);
    }
    // The rewriter validates the module (the engine's validation and its own bounds checks)
    // before it rewrites anything, and reads its imports and exports. The cache holds only
    // output bytes, keyed by the rewriter's version and the module, so an entry exists only for
    // a module that passed those checks; on a hit the surface is re-read (cheap).
    const key = cacheKey(`${FUEL_VERSION}+${REWRITER_VERSION}`, caps, original);
    let surface: ModuleSurface | null = null;
    // Instrumented in a confined process, bounded and stoppable (app/instrument.ts).
    const testOnly = effectiveHooks(o.hooks);
    const c = await cached(cacheDir, key, async () => {
      const r = await said(o.progress, L.workload.argv0.split('/').pop() ?? 'the module', original.byteLength, () =>
        instrumentBounded(original, caps, rewriter, {
          ...(o.stop ? { stop: o.stop } : {}),
          ...(testOnly.rewriterHeapMb !== undefined ? { heapMb: testOnly.rewriterHeapMb } : {}),
          ...(testOnly.rewriterMemoryBytes !== undefined ? { memoryBytes: testOnly.rewriterMemoryBytes } : {}),
          ...(testOnly.rewriterWallMs !== undefined ? { wallMs: testOnly.rewriterWallMs } : {}),
          ...(testOnly.rewriteInThisThread ? { inThisThread: true } : {}),
          ...(testOnly.mutateRewriterLaunch ? { mutateLaunch: testOnly.mutateRewriterLaunch } : {}),
        }),
      );
      surface = r;
      return r.bytes;
    }, o.stop ? { stop: o.stop } : {});
    cache = c.result;
    inst = { bytes: c.bytes, surface: surface ?? readSurface(original) };
  } catch (e) {
    if (e instanceof WasmRefused) throw new BvisorError('BV_WASM_REFUSED', `${L.workload.argv0}: ${e.message}`, { hint: e.hint ?? 'bvisor runs valid WASI preview 1 modules without the threads, SIMD, exceptions, GC, memory64 and multi-memory proposals, within limits.memory' });
    throw e;
  }
  // A WASI command: _start, a memory for the host to use, and only WASI imports of the right types.
  const problems = wasiProblems(inst.surface, WASI_IMPORTS);
  if (problems.length) throw new BvisorError('BV_WASM_REFUSED', `${L.workload.argv0} cannot run as a WASI command: ${problems.join('; ')}`, { hint: 'bvisor runs WASI preview 1 commands: an exported _start and memory, and only wasi_snapshot_preview1 functions imported' });
  const env = resolveEnv(L.env, secret).map((e): [string, string] => [e.name, e.value]);
  // Which of them are secrets: the runner redacts them from the refusals it reports (a guest can
  // name a path after its token), in its own process, so a container's seal never needs them.
  const redact = redactionValues(L.env, secret);
  const seed = L.workload.deterministic ? (L.workload.seed ?? parseInt(sha256Hex(Buffer.from(inst.bytes).toString('latin1')).slice(0, 8), 16)) : null;
  // argv[0]: an OCI config's args[0] exactly as given (crun's wasm handlers pass it so), else
  // the module's name.
  const argv0 = b.manifest.oci?.argv0 ?? L.workload.argv0.split('/').pop() ?? 'module.wasm';
  const job = Buffer.concat([
    Buffer.from(JSON.stringify({ args: [argv0, ...L.workload.args], env, redact, fuel: L.fuel === null ? null : String(L.fuel), seed, moduleBytes: inst.bytes.length, preopens }) + '\n'),
    inst.bytes,
  ]);
  return { job, caps, cache, seed, preopens };
}

/** A rewrite taking longer than this is said on the progress lines (a terminal's). */
const SAY_AFTER_MS = 500;

/** `work`, with a line before it (once it has taken SAY_AFTER_MS) and one after it (if the first
 * was said): a person at a terminal sees what bvisor is doing before the guest starts. */
async function said<T>(progress: ((line: string) => void) | undefined, name: string, bytes: number, work: () => Promise<T>): Promise<T> {
  if (!progress) return work();
  const t0 = Date.now();
  let told = false;
  const timer = setTimeout(() => {
    told = true;
    progress(`bvisor: instrumenting ${name} (${(bytes / 2 ** 20).toFixed(1)} MiB) for its fuel and memory bounds (once: it is then cached)...\n`);
  }, SAY_AFTER_MS);
  try {
    const done = await work();
    if (told) progress(`bvisor: ${name} instrumented in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    return done;
  } finally {
    // (A refusal or a stop says itself: no line of success before it.)
    clearTimeout(timer);
  }
}

export async function runWasm(b: LoadedBundle, plan: Plan, host: HostFacts, o0: { spare?: boolean; cacheDir: string; id: string | null; runName: string; secret: (n: string) => string | undefined; relay?: RunRelay; beforeCgroup?: RecordLeaf; recordLeaf?: RecordLeaf; onExec?: (ctl: RunControl) => void; beforeRelease?: (runner: { pid: number; cgroupDirs: string[] }) => void | Promise<void>; onReleased?: (ctl: RunControl) => void; hooks?: LaunchHooks; cgroupParent: string | null; reserved: readonly Reserved[]; stop?: Stop; progress?: (line: string) => void }): Promise<WasmRun> {
  const L = plan.launch!;
  // The runner's cgroups go where the wasm plan placed the workload's (an OCI config's
  // linux.cgroupsPath, else the caller's parent).
  const o = { ...o0, cgroupParent: L.cgroup.parent, preopenClauses: preopenClauses(plan) };
  const shape = jobShape(plan);
  const { caps, preopens } = shape;
  const { maxPages, tableEntries } = caps;
  const key = JSON.stringify({ stdio: b.manifest.stdio, output: L.outputBytes, caps, cgroupParent: o.cgroupParent, preopens });
  // Whether this run may take and leave a spare is the caller's to say (runLoaded: only a run
  // that records nothing of its runner).
  const spareOk = o.spare === true;
  // closeSpares() during this run: the spare it would leave would never be closed.
  const generation = spareGeneration;
  let taken = spareOk ? spares.get(key) : undefined;
  if (taken) spares.delete(key);
  // A spare that ended while it waited (killed, or its launch failed) is replaced.
  if (taken?.ended()) {
    taken.close();
    taken = undefined;
  }
  const runner = taken ?? launchRunner(b.manifest, caps, host, o, L.outputBytes, preopens);
  // The runner's exec first: its Node then boots (tens of milliseconds) while the job is made
  // (the module read, instrumented or taken from the cache, checked) and the start record is
  // appended and fsync'd, instead of before and after it (a spare exec'd long ago). The guest
  // still runs only once its runner has the job, after the record; a launch that fails before its
  // exec records nothing, and neither does a module refused meanwhile.
  const failed = await Promise.race([runner.ctl.then(() => null), runner.done.then(() => ({ e: new BvisorError('BV_WASM_RUNNER', 'the wasm runner ended before it was handed its job; the guest never ran', { hint: 'run it again' }) }), (e: unknown) => ({ e }))]);
  if (failed) {
    runner.close();
    throw failed.e;
  }
  /** Stops the exec'd runner, waits for its end, and throws: its job never ran, or never with its
   * deadline. */
  const abandon = async (e: unknown): Promise<never> => {
    runner.jobSock.destroy();
    void runner.ctl.then((c) => c.timeout());
    await runner.done.catch(() => undefined);
    runner.close();
    throw e;
  };
  let prepared: PreparedJob;
  try {
    prepared = await prepareJob(b, plan, shape, o.secret, o.cacheDir, rewriterLaunch(host, o), { stop: o.stop, hooks: o.hooks, progress: o.progress });
    // The guest runs only once its runner has the job: bvisor run's start record goes first,
    // naming the runner and its cgroups.
    await o.beforeRelease?.({ pid: (await runner.ctl).pid, cgroupDirs: runner.cgroupDirs() });
  } catch (e) {
    return abandon(e);
  }
  const { job, cache, seed } = prepared;
  const ctl = await runner.ctl;
  const t0 = Date.now();
  // The wall's backstop, which kills the runner should this process's loop be held up, counts
  // from before the job is handed over: nothing of the loop's stands between the two.
  if (L.wallMs !== null) {
    try {
      ctl.backstop(L.wallMs);
    } catch (e) {
      return abandon(e);
    }
  }
  runner.jobSock.end(job);
  o.onReleased?.(ctl);
  // Chunked: a wall above setTimeout's 24.8-day ceiling must not fire at once.
  const timer: LongTimer | null = L.wallMs !== null ? longTimeout(() => ctl.timeout(), L.wallMs) : null;
  try {
    const result = await runner.done;
    // A loop held up saw the end late: the backstop's kill is when it ended.
    const runMs = (result.backstopAt ?? Date.now()) - t0;
    await Promise.race([runner.outDone, delay(2000, undefined)]);
    runner.close();
    const outcome = parseOutcome(runner.outText());
    // The run began when the job was handed over, not when the (possibly spare) runner started.
    result.runMs = runMs;
    result.startedAt = new Date(t0);
    if (spareOk && generation === spareGeneration && !spares.has(key)) {
      const spare = spareRunner(b.manifest, caps, host, o, L.outputBytes, preopens);
      if (spare) spares.set(key, spare);
    }
    return { result, outcome, runnerPlan: runner.plan, maxPages, tableEntries, cache, spare: taken !== undefined, seed };
  } finally {
    timer?.clear();
  }
}

interface Runner {
  plan: Plan;
  jobSock: Socket;
  done: Promise<LinuxRunResult>;
  /** Resolves once the runner has exec'd (after the caller's onExec). */
  ctl: Promise<RunControl>;
  /** The runner's cgroup leaves, once its launch has made them. */
  cgroupDirs(): string[];
  /** Whether the runner has ended (its process is gone or a zombie, or `done` has settled: its
   * launch failed), as far as can be seen now. */
  ended(): boolean;
  outDone: Promise<void>;
  outText(): string;
  close(): void;
}

/** Pre-started runners, one per runner boundary (opt-in: runConfined's spare option). */
const spares = new Map<string, Runner>();
/** Raised by each closeSpares(): a run that began before it leaves no new spare. */
let spareGeneration = 0;

/** Ends every pre-started runner (they would otherwise keep Node running). */
export async function closeSpares(): Promise<void> {
  spareGeneration++;
  const all = [...spares.values()];
  spares.clear();
  for (const r of all) {
    void r.ctl.then((c) => c.timeout());
    r.jobSock.destroy();
    await r.done.catch(() => undefined);
    r.close();
  }
}

/**
 * A runner started ahead of its run, after this run's guest has run: one that cannot be started
 * (a launch refused) leaves no spare, and the run keeps its outcome; the next run starts its runner
 * itself, and meets the same refusal then, before its guest runs. (Never where each launch has
 * host ids of its own: runLoaded offers no spare there, as a spare's ids would not be its run's.)
 */
function spareRunner(...a: Parameters<typeof launchRunner>): Runner | null {
  try {
    return launchRunner(...a);
  } catch {
    return null;
  }
}

/** The runner plan's paths, resolved and identified like any bundle's (the preopens were). */
function runnerPaths(rm: NormalManifest, node: string, preopens: ReadonlyArray<Preopen>): PlanPaths {
  // The preopens were resolved and identified by the wasm plan: the runner's plan takes them as
  // that very object (re-opened with no symlink, same dev and ino), never by name again.
  const grants = rm.filesystem.map((g) => {
    const p = preopens.find((x) => x.host === g.path);
    return p ? resolvePlanned({ path: p.host, dev: p.dev, ino: p.ino }, 'a preopen') : resolveHostPath(g.path);
  });
  const rootful = host0Rootful();
  // Rootful write preopens: an idmapped mount may be needed for the runner to write there.
  rm.filesystem.forEach((g, i) => {
    const f = grants[i]!;
    if (rootful && g.access.includes('write') && f.kind === 'directory' && f.uid !== 0 && f.gid !== 0) f.idmap = canIdmap(f.path);
  });
  return { grants, exe: resolveHostPath(node), module: null, root: null, stdin: null, rootLinks: hostRootLinks() };
}

const host0Rootful = (): boolean => process.geteuid?.() === 0;

function launchRunner(m: NormalManifest, caps: FuelOptions, host: HostFacts, o: { id: string | null; runName: string; relay?: RunRelay; beforeCgroup?: RecordLeaf; onExec?: (ctl: RunControl) => void; hooks?: LaunchHooks; cgroupParent: string | null; reserved: readonly Reserved[]; preopenClauses: ReadonlyMap<string, string> }, cap: number, preopens: ReadonlyArray<Preopen>): Runner {
  const pipes = jobPipes();
  let runnerPlan: Plan;
  try {
    // The job and outcome pipes are the only descriptors the runner gets: handed over on purpose.
    runnerPlan = planRunner(m, caps, host, preopens, pipes.handed, { cgroupParent: o.cgroupParent, reserved: o.reserved, wallMs: null, preopenClauses: o.preopenClauses });
  } catch (e) {
    pipes.closeHanded();
    pipes.destroy();
    throw e;
  }
  let outText = '';
  // An outcome is one short line; a runner that says more is not believed past OUTCOME_MAX.
  pipes.answer.on('data', (d: Buffer) => {
    if (outText.length <= OUTCOME_MAX) outText += d.toString();
  });
  let setCtl: (c: RunControl) => void = () => {};
  const ctl = new Promise<RunControl>((r) => (setCtl = r));
  let cgroupDirs: string[] = [];
  let settled = false;
  // The runner's process as it exec'd (pid and start time: a pid reused later is not it).
  let ref: ProcRef | null = null;
  const done = launchLinux({
    plan: runnerPlan,
    host,
    // The guest's wall is kept from the job's hand-over (runWasm), its backstop started there.
    // Always made: a spare (its key has no wall) may serve a run with one.
    keepsDeadline: true,
    runName: `${o.runName}-${Math.random().toString(36).slice(2, 8)}`,
    hostname: o.id ? hostnameFor(o.id) : 'bvisor',
    secret: () => undefined,
    capture: { stdout: relaySink('stdout', cap, o.relay), stderr: relaySink('stderr', cap, o.relay) },
    dieWithParent: true,
    // The runner is bvisor's own Node: what landlock refuses it is not the guest's (the report
    // takes the WASI host's refusals), so no audit reader and no audit lines for it.
    landlockAudit: false,
    ...(o.beforeCgroup ? { beforeCgroup: o.beforeCgroup } : {}),
    // Before its go byte: the leaves its start record names.
    beforeGo: (c) => void (cgroupDirs = c.cgroupDirs),
    // The caller's first: if it throws (its state cannot be written), the launch fails, and the
    // runner never counts as exec'd.
    onExec: (c) => {
      o.onExec?.(c);
      ref = procRef(c.pid);
      setCtl(c);
    },
    ...(o.hooks ? { hooks: o.hooks } : {}),
  });
  // The runner holds its own copies now (or the launch failed): ours must close for EOF.
  void done.finally(() => {
    settled = true;
    pipes.closeHanded();
  }).catch(() => undefined);
  return {
    plan: runnerPlan,
    jobSock: pipes.job,
    done,
    ctl,
    cgroupDirs: () => cgroupDirs,
    // Dead before the launcher has torn it down (done settles only after that): ended too.
    ended: () => settled || (ref !== null && !alive(ref)),
    outDone: pipes.answerDone,
    outText: () => outText,
    close: () => {
      pipes.destroy();
    },
  };
}

/** The runner's plan: its own boundary derived from the wasm manifest (ownPlan). */
function planRunner(m: RunnerInputs, caps: FuelOptions, host: HostFacts, preopens: ReadonlyArray<Preopen>, handed: number[], o: { cgroupParent: string | null; reserved: readonly Reserved[]; wallMs: number | null; preopenClauses: ReadonlyMap<string, string> }): Plan {
  const node = realpathSync(process.execPath);
  const rm = runnerManifest(m, handed, caps, node, preopens, cgroupFor(host, 'memory', o.cgroupParent).ok, o.wallMs);
  // A refusal of one of its preopens is one of the bundle's grants: named as the bundle names it.
  const clauses = new Map<number, string>();
  for (const g of rm.filesystem) {
    const c = o.preopenClauses.get(g.path);
    if (c !== undefined) clauses.set(g.index, c);
  }
  return ownPlan('runner', rm, runnerPaths(rm, node, preopens), host, handed, o, clauses);
}

/** The bundle's clause of each preopen, by its host path (the wasm plan's filesystem rules). */
function preopenClauses(plan: Plan): Map<string, string> {
  return new Map((plan.launch?.filesystem ?? []).map((f) => [f.path, f.clause]));
}

/**
 * The plan of one of bvisor's own processes, admitted, or every refusal as one error. A clause of
 * its own is named `<who>:<clause>`, and its hint loses the planner's "mark it best-effort" (no
 * manifest can weaken these clauses); a grant that is one of the bundle's preopens (`bundle`: the
 * process's grant index → the bundle's clause) is named, and keeps its hint, as the bundle has it.
 */
function ownPlan(who: 'runner' | 'rewriter', manifest: NormalManifest, paths: PlanPaths, host: HostFacts, handed: number[], o: { cgroupParent: string | null; reserved: readonly Reserved[] }, bundle: ReadonlyMap<number, string> = new Map()): Plan {
  const p = runPlanner({ manifest, host, paths, cgroupParent: o.cgroupParent, reserved: o.reserved, handedFds: handed }, sha256Hex);
  if (!p.admitted) {
    const named = (text: string): string => text.replace(/\bfilesystem\[(\d+)\]/g, (all, i: string) => bundle.get(Number(i)) ?? `the ${who}'s ${all}`);
    const own = `the wasm ${who}'s clauses are bvisor's own: no manifest can weaken them (bvisor check shows this host)`;
    const issues = p.refusals.map((r) => {
      const i = /^filesystem\[(\d+)\]$/.exec(r.clause);
      const theirs = i ? bundle.get(Number(i[1])) : undefined;
      if (theirs !== undefined) return { code: r.code as never, clause: theirs, message: named(r.reason), hint: named(r.hint) };
      return { code: r.code as never, clause: `${who}:${r.clause}`, message: named(r.reason), hint: ownHint(r.hint) ?? own };
    });
    const ours = issues.some((x) => x.clause.startsWith(`${who}:`));
    throw new BvisorError('BV_PLAN_REFUSED', `the wasm ${who}'s own boundary is refused on this host; nothing was run`, {
      issues,
      hint: ours ? `every wasm workload runs in bvisor's own ${who} process, whose boundary this host must support (bvisor check shows what it has)` : issues[0]!.hint,
    });
  }
  return p;
}

/** A planner hint for one of bvisor's own clauses, without its ways to weaken the clause; null
 * when nothing else is left. */
export function ownHint(hint: string): string | null {
  const left = hint
    .split(/,? or /)
    .filter((part) => !/best-effort|mediated/.test(part))
    .join(', or ')
    .trim();
  return left === '' ? null : left;
}

/** How this run's rewriter starts (app/instrument.ts): its plan, made when it is needed (a cache
 * miss) for the descriptors it is handed; its cgroup leaves recorded as the runner's are
 * (`recordLeaf`: without the fault points of the runner's own `beforeCgroup`). */
export function rewriterLaunch(host: HostFacts, o: { runName: string; cgroupParent: string | null; reserved: readonly Reserved[]; recordLeaf?: RecordLeaf }): RewriterLaunch {
  return {
    plan: (handed, bounds) => planRewriter(host, handed, bounds, o.cgroupParent, o.reserved),
    host,
    runName: o.runName,
    ...(o.recordLeaf ? { beforeCgroup: o.recordLeaf } : {}),
  };
}

/**
 * The rewriter's boundary: /usr, bvisor's dist, the library its environment preloads and the few
 * host files Node's start reads (RUNNER_START_FILES), read-only, and nothing else of the host (it
 * reads its job from fd 3 and writes its reply to fd 4); the clauses of bvisor's own processes;
 * its heap, memory and time bounded (app/instrument.ts says why each). Its memory is a cgroup's
 * where one can be made, else RLIMIT_AS (best effort: the address space V8 reserves counts too).
 */
function rewriterManifest(handed: number[], node: string, bounds: RewriterBounds): NormalManifest {
  const dist = join(packageRoot(), 'dist');
  return {
    workload: { kind: 'process', exe: node, args: [`--max-old-space-size=${bounds.heapMb}`, join(dist, 'backends', 'wasm', 'rewriter.js')], cwd: '/' },
    root: null,
    filesystem: present([
      grant('/usr', 'read-exec'),
      grant(dist, 'read'),
      // The library its environment preloads (native code: read-exec).
      { ...grant(nodumpPath(), 'read-exec'), recursive: false },
      ...RUNNER_START_FILES.map((f) => ({ ...grant(f, 'read'), recursive: false })),
    ]),
    env: ownProcessEnv(),
    fds: handed,
    stdio: { stdin: 'null', stdout: 'capture', stderr: 'capture' },
    limits: {
      ...(bounds.wallMs !== null ? { wall: { value: bounds.wallMs, guarantee: 'enforced' as const, explicit: true } } : {}),
      ...(bounds.memoryBytes !== null ? { memory: { value: bounds.memoryBytes, guarantee: 'best-effort' as const, explicit: true } } : {}),
    },
    ...OWN_PROCESS,
    internal: { noCoreDump: true },
  };
}

/** What of the wasm manifest the runner's own boundary takes: its output cap and its stdio. */
type RunnerInputs = Pick<NormalManifest, 'limits' | 'stdio'>;

/**
 * The processes a run of this admitted wasm plan would start for its own work, planned as run
 * plans them (the numbers of their two descriptors aside): the runner, and the rewriter a cache
 * miss starts. So `bvisor plan` refuses what run would refuse before running anything: their own
 * clauses (BV_PLAN_REFUSED, each named `runner:<clause>` or `rewriter:<clause>`, both processes'
 * together), or the library their environment preloads (BV_SHIM_LOAD).
 */
export function planOwnProcesses(plan: Plan, m: RunnerInputs, host: HostFacts, reserved: readonly Reserved[]): void {
  const L = plan.launch!;
  const { caps, preopens } = jobShape(plan);
  ownPlans(host, m, caps, preopens, { cgroupParent: L.cgroup.parent, reserved, wallMs: L.wallMs, preopenClauses: preopenClauses(plan) });
}

/** The runner's and the rewriter's plans for these inputs (their two descriptors' numbers
 * aside), or every refusal of both as one error (any other error as it is). */
function ownPlans(host: HostFacts, m: RunnerInputs, caps: FuelOptions, preopens: ReadonlyArray<Preopen>, o: { cgroupParent: string | null; reserved: readonly Reserved[]; wallMs: number | null; preopenClauses: ReadonlyMap<string, string> }): Plan[] {
  const handed = [3, 4];
  const refused: BvisorError[] = [];
  const admitted: Plan[] = [];
  for (const p of [() => planRunner(m, caps, host, preopens, handed, o), () => planRewriter(host, handed, SHIPPED_REWRITER_BOUNDS, o.cgroupParent, o.reserved)]) {
    try {
      admitted.push(p());
    } catch (e) {
      if (!(e instanceof BvisorError && e.code === 'BV_PLAN_REFUSED')) throw e;
      refused.push(e);
    }
  }
  if (refused.length === 1) throw refused[0]!;
  if (refused.length > 1) throw new BvisorError('BV_PLAN_REFUSED', "the wasm runner's and rewriter's own boundaries are refused on this host; nothing was run", { issues: refused.flatMap((e) => e.issues) });
  return admitted;
}

/** What `bvisor check` says of the wasm backend's own processes here: for a module with no
 * preopen and no limit, the runner's and the rewriter's plans, or why either is refused. */
export function ownProcessesHere(host: HostFacts, cgroupParent: string | null): { admitted: boolean; why: string; hint: string | null } {
  const m: RunnerInputs = { limits: {}, stdio: { stdin: 'null', stdout: 'capture', stderr: 'capture' } };
  // The address space every wasm plan asks of this host for its runner (core/features.ts).
  const room = runnerAddressSpace(host);
  if (room && !room.available) return { admitted: false, why: `runner: ${room.reason}`, hint: room.hint ?? null };
  try {
    const plans = ownPlans(host, m, DEFAULT_CAPS, [], { cgroupParent, reserved: [], wallMs: null, preopenClauses: new Map() });
    const fs = [...new Set(plans.map((p) => p.clauses.find((c) => c.clause === 'filesystem')?.mechanism ?? 'none'))];
    return { admitted: true, why: `the runner and the rewriter, each in a boundary of its own (filesystem: ${fs.join('; ')}), non-dumpable (${nodumpPath()} preloaded)`, hint: null };
  } catch (e) {
    // What refuses their start here; any other error is a fault, not an answer.
    if (!(e instanceof BvisorError && (e.code === 'BV_PLAN_REFUSED' || e.code === 'BV_SHIM_LOAD'))) throw e;
    const first = e.issues[0];
    const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more: bvisor plan of a wasm bundle lists them)` : '';
    return { admitted: false, why: first ? `${first.clause}: ${first.message}${more}` : e.message, hint: e.hint };
  }
}

/** The rewriter's plan (ownPlan). */
function planRewriter(host: HostFacts, handed: number[], bounds: RewriterBounds, cgroupParent: string | null, reserved: readonly Reserved[]): Plan {
  const node = realpathSync(process.execPath);
  const rm = rewriterManifest(handed, node, bounds);
  const paths: PlanPaths = { grants: rm.filesystem.map((g) => resolveHostPath(g.path)), exe: resolveHostPath(node), module: null, root: null, stdin: null, rootLinks: hostRootLinks() };
  return ownPlan('rewriter', rm, paths, host, handed, { cgroupParent, reserved });
}

// ---------------------------------------------------------------------------------------------
// bvisor create: the runner as a created container

/**
 * Bytes in an unnamed file in memory, as a read-only descriptor of ours (close-on-exec).
 * memfd_create(2): no name ever exists in any directory, the pages are memory (shmem, the
 * kernel's own mount: no tmpfs need be mounted anywhere), and the file goes away with its last
 * descriptor. It is sealed before anyone else can hold it (no write, no resize, no further seal:
 * fcntl(2)'s F_SEAL_*), and the read-only re-open through /proc/self/fd leaves the runner nothing
 * to write to anyway.
 */
function memoryFile(bytes: Buffer): number {
  const rw = shim().bv_memfd_sealed('bvisor-job', bytes, bytes.length);
  if (rw < 0) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', `the wasm job needs an in-memory file, and memfd_create failed: ${errnoName(rw)}`, { hint: 'bvisor create keeps the job (args, env with secrets, the module) in memory only, in a memfd; a seccomp filter around bvisor that denies memfd_create must allow it; nothing was created' });
  try {
    return openSync(`/proc/self/fd/${rw}`, fsConstants.O_RDONLY); // libuv adds O_CLOEXEC
  } finally {
    closeSync(rw);
  }
}

/**
 * bvisor create for a wasm workload: the runner is created under the container's monitor
 * exactly as a Linux workload is (createLinux, detached): it waits before exec (Node has not
 * started; the module has not run), start releases it, the monitor reaps it, keeps limits.wall
 * from start (the runner plan carries it), relays captured output and records its exit.
 * The runner's fd 3 is the job in memory (memoryFile), fd 4 the outcome file in the state
 * directory (created here, empty; the runner reaches nothing else of the state root).
 */
export async function createWasm(b: LoadedBundle, plan: Plan, host: HostFacts, o: { cacheDir: string; id: string; runName: string; secret: (n: string) => string | undefined; reserved: readonly Reserved[]; hooks?: LaunchHooks; beforeCgroup?: RecordLeaf; recordLeaf?: RecordLeaf; detached: Detached; progress?: (line: string) => void }): Promise<{ created: LinuxCreated; record: WasmRecord }> {
  const L = plan.launch!;
  const prep = await prepareJob(b, plan, jobShape(plan), o.secret, o.cacheDir, rewriterLaunch(host, { ...o, cgroupParent: L.cgroup.parent }), { hooks: o.hooks, progress: o.progress });
  let jobFd = -1;
  let outFd = -1;
  try {
    jobFd = memoryFile(prep.job);
    outFd = openSync(join(o.detached.stateDir, OUTCOME_FILE), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
    const runnerPlan = planRunner(b.manifest, prep.caps, host, prep.preopens, [jobFd, outFd], { cgroupParent: L.cgroup.parent, reserved: o.reserved, wallMs: L.wallMs, preopenClauses: preopenClauses(plan) });
    const created = await createLinux({
      plan: runnerPlan,
      host,
      runName: o.runName,
      hostname: hostnameFor(o.id),
      secret: () => undefined,
      // Detached, the monitor relays captured output into the state directory.
      capture: { stdout: null, stderr: null },
      dieWithParent: true,
      landlockAudit: false, // (as above: the runner's denials are not the guest's)
      ...(o.hooks ? { hooks: o.hooks } : {}),
      ...(o.beforeCgroup ? { beforeCgroup: o.beforeCgroup } : {}),
      detached: o.detached,
    });
    return { created, record: { runnerPlan, maxPages: prep.caps.maxPages, tableEntries: prep.caps.tableEntries, cache: prep.cache, seed: prep.seed } };
  } finally {
    // The waiting runner holds its own copies (or nothing was created): ours go, and with them
    // the last reference this process had to the secrets.
    if (jobFd >= 0) closeSync(jobFd);
    if (outFd >= 0) closeSync(outFd);
    prep.job.fill(0);
  }
}
