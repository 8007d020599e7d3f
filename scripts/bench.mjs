// npm run bench: every case of issue 12 against its baselines, measured in the same run and
// interleaved so machine noise hits every case alike. Prints medians, ratios and peak RSS; never
// asserts (not a test). Sections:
//   1. CLI start-up: bvisor --version / validate / plan vs `node -e 0`
//   2. CLI run of bundles/hello (and the wasm bundles) vs `node -e 0`
//   3. the warm API: runConfined(/usr/bin/true) with the full boundary vs child_process.spawn and
//      bwrap --unshare-all --ro-bind / / true, the launches per second one process sustains
//      (concurrent calls), and wasm through the API
//   4. peers (when installed): `run` of one busybox-static OCI bundle by bvisor, crun, runc and
//      bwrap, and the create → start → state… → delete cycle of bvisor, crun and runc, vs
//      `node -e 0`. On a hybrid cgroup host crun refuses to start while a cgroup2 mount with
//      controllers is visible, so its cases run in a child process in a private mount namespace
//      (unshare -m) with a tmpfs over /sys/fs/cgroup/unified, interleaved there with their own
//      `node -e 0`; crun gets no cgroup (--cgroup-manager=disabled: as root it would make its
//      leaf at the root of the hierarchies). runc's and bvisor's cgroups go under our own cgroup.
//   5. bvisor list with 1 and BENCH_LIST_N containers
//   6. each lifecycle command on its own (create, state, start, kill, delete of a container whose
//      workload sleeps), vs `node -e 0`, with its peak RSS: where a cycle's time goes; and run of
//      the same boundary, create's yardstick; and state, create and that run from bvisor.blob (a
//      copy of the package without lifecycle.blob and launch.blob), their own blobs' yardstick
//   7. fuel: scripts/bench-fuel.mjs (fib(30) and loop-heavy C guests, metered vs unmetered)
// Peak RSS is measured once per command with GNU time (%M), outside the timed runs.
// Knobs: BENCH_N (21: runs per CLI case), BENCH_API_N (200), BENCH_CYCLE_N (30 lifecycle
// cycles per runtime), BENCH_LIST_N (1000), BENCH_TPUT_MS (2000 per concurrency level),
// BENCH_LIFECYCLE_N (15 containers), BENCH_FUEL_N (7 samples per fuel variant),
// BENCH_SECTIONS (all: cli,run,api,peers,list,lifecycle,fuel; a comma list runs those alone).
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync, readdirSync, mkdirSync, copyFileSync, symlinkSync, rmdirSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// bin/bvisor is the command users run (it starts from the CLI's start-up snapshot when it can,
// docs/startup.md); bin/run.js, the plain entry, is measured beside it for --version and run.
const bin = join(root, 'bin', 'run.js');
const bvisor = join(root, 'bin', 'bvisor');
const N = Number(process.env.BENCH_N ?? 21);
const API_N = Number(process.env.BENCH_API_N ?? 200);
const CYCLES = Number(process.env.BENCH_CYCLE_N ?? 30);
const LIST_N = Number(process.env.BENCH_LIST_N ?? 1000);
const TPUT_MS = Number(process.env.BENCH_TPUT_MS ?? 2000);
const PEERS_ONLY = process.argv[2] === '--crun';
const LIFECYCLE_N = Number(process.env.BENCH_LIFECYCLE_N ?? 15);
const FUEL_N = Number(process.env.BENCH_FUEL_N ?? 7);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'cli,run,api,peers,list,lifecycle,fuel').split(','));
const node = process.execPath;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
function once(argv, o = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], ...o });
  const t = ms(t0);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return t;
}
/** once(), for a command that leaves a process behind holding its stdio (a created container's
 * init or monitor): stderr goes to a file, so nothing waits for that process to close a pipe. */
function detachedOnce(argv) {
  const file = join(stateRoot, `stderr-${process.pid}`);
  const fd = openSync(file, 'w+');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', fd] });
    const t = ms(t0);
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${readFileSync(file, 'utf8')}`);
    return t;
  } finally {
    closeSync(fd);
  }
}
/** Peak RSS (MiB) of one run of argv, from GNU time's %M, or null without /usr/bin/time. */
function peakRss(argv, o = {}) {
  if (!existsSync('/usr/bin/time')) return null;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], ...o });
  const kb = Number(r.stderr.trim().split('\n').pop());
  return r.status === 0 && Number.isFinite(kb) ? kb / 1024 : null;
}
// Node parses the certificates NODE_EXTRA_CA_CERTS names before any script runs, in every
// process (about 50 ms on our machines, where it names the system bundle: more than a bare
// `node -e 0`). bin/bvisor drops the variable for its own Node (it opens no TLS connection), so
// where it is set, `node -e 0` under the same environment is a flattering floor: every start-up
// table then also measures a bare `node -e 0` without it, and prints each case's ratio to both.
const bareEnv = { ...process.env };
delete bareEnv.NODE_EXTRA_CA_CERTS;
const BARE = process.env.NODE_EXTRA_CA_CERTS ? 'node -e 0, no NODE_EXTRA_CA_CERTS' : null;
const bareCase = () => (BARE ? [{ name: BARE, argv: [node, '-e', '0'], opts: { env: bareEnv } }] : []);
const row = (name, m, ratio, rss, bare) => console.log(name.padEnd(46) + m.toFixed(1).padStart(9) + ratio.padStart(10) + (bare === undefined ? '' : bare.padStart(10)) + (rss === undefined ? '' : rss === null ? '         -' : rss.toFixed(1).padStart(10)));
function header(title, base, bare = false) {
  console.log(`\n${title}`);
  console.log('case'.padEnd(46) + 'median ms'.padStart(9) + `  ×${base}` + (bare ? '    ×bare' : '') + '  peak RSS MiB');
  if (bare) console.log(`  (×bare: the ratio to \`${BARE}\`, run interleaved with the rest)`);
}
/** Each case's median over N interleaved runs (plus a warm-up), with its ratio to `base` and peak RSS. */
function table(title, cases, base) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (const c of cases) once(c.argv, c.opts);
  for (let i = 0; i < N; i++) for (const c of cases) samples.get(c.name).push(once(c.argv, c.opts));
  const b = median(samples.get(base));
  const bb = BARE && samples.has(BARE) ? median(samples.get(BARE)) : null;
  header(`${title} (${N} runs each, interleaved)`, ` ${base}`, bb !== null);
  for (const c of cases) row(c.name, median(samples.get(c.name)), `${(median(samples.get(c.name)) / b).toFixed(2)}x`, peakRss(c.argv, c.opts), bb === null ? undefined : `${(median(samples.get(c.name)) / bb).toFixed(2)}x`);
}

const cleanups = [];
const cleanup = () => {
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f();
    } catch (e) {
      console.error(`cleanup: ${e.message}`);
    }
  }
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const stateRoot = mkdtempSync(join(tmpdir(), 'bvisor-bench-'));
cleanups.push(() => rmSync(stateRoot, { recursive: true, force: true }));
// The cgroup parent of bvisor's and runc's cgroups in this run, relative to our own cgroup.
const cgParent = PEERS_ONLY ? process.argv[3] : `bvisor-bench-${process.pid}`;
cleanups.push(() => removeCgroupParent(cgParent));

// The API bundle (bench's "full boundary"): filesystem /usr read-exec, network and spawn denied,
// wall, memory and open-file limits.
const apiBundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-true-'));
cleanups.push(() => rmSync(apiBundle, { recursive: true, force: true }));
writeFileSync(join(apiBundle, 'boundary.yaml'), `bvisorVersion: "1"
workload:
  process: { exe: /usr/bin/true }
filesystem:
  - { path: /usr, access: read-exec }
network: deny
spawn: deny
limits: { wall: 10s, memory: 64Mi, openFiles: 64 }
`);

if (!PEERS_ONLY) {
  console.log(`bvisor bench — node ${process.version}, ${new Date().toISOString()}, ${(await import('node:os')).cpus().length} cpus, load ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (SECTIONS.has('cli')) table('CLI start-up', [
    { name: 'node -e 0', argv: [node, '-e', '0'] },
    ...bareCase(),
    { name: 'bvisor --version', argv: [bvisor, '--version'] },
    { name: 'bvisor --version (bin/run.js)', argv: [node, bin, '--version'] },
    { name: 'bvisor validate bundles/hello', argv: [bvisor, 'validate', join(root, 'bundles/hello')] },
    { name: 'bvisor plan bundles/hello', argv: [bvisor, 'plan', join(root, 'bundles/hello')] },
  ], 'node -e 0');
  if (SECTIONS.has('run')) table('CLI run', [
    { name: 'node -e 0', argv: [node, '-e', '0'] },
    ...bareCase(),
    { name: 'bvisor run hello -b bundles/hello', argv: [bvisor, '--root', stateRoot, 'run', 'bench', '-b', join(root, 'bundles/hello')] },
    { name: 'bvisor run hello (bin/run.js)', argv: [node, bin, '--root', stateRoot, 'run', 'benchp', '-b', join(root, 'bundles/hello')] },
    { name: 'bvisor run … bundles/hello-wasm', argv: [bvisor, '--root', stateRoot, 'run', 'benchw', '-b', join(root, 'bundles/hello-wasm')] },
    { name: 'bvisor run … bundles/wasm-compute', argv: [bvisor, '--root', stateRoot, 'run', 'benchc', '-b', join(root, 'bundles/wasm-compute')] },
  ], 'node -e 0');
  if (SECTIONS.has('api')) await apiSection();
  if (SECTIONS.has('peers')) await peersSection();
  if (SECTIONS.has('list')) await listSection();
  if (SECTIONS.has('lifecycle')) lifecycleSection();
  if (SECTIONS.has('fuel')) fuelSection();
} else {
  // the crun child (see peersSection): samples as JSON on stdout
  const oci = process.argv[4];
  const crun = which('crun');
  const r = mkdtempSync(join(tmpdir(), 'bvisor-bench-crun-'));
  cleanups.push(() => rmSync(r, { recursive: true, force: true }));
  const rt = { name: 'crun', cmd: (...a) => [crun, '--cgroup-manager=disabled', '--root', r, ...a] };
  const out = { run: [], cycle: [], node: [], nodeCycle: [], rss: null };
  let k = 0;
  const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
  once(rt.cmd('run', '--bundle', oci, `w${process.pid}`), quiet);
  for (let i = 0; i < N; i++) {
    out.node.push(once([node, '-e', '0']));
    out.run.push(once(rt.cmd('run', '--bundle', oci, `r${process.pid}-${k++}`), quiet));
  }
  out.rss = peakRss(rt.cmd('run', '--bundle', oci, `r${process.pid}-${k++}`), quiet);
  for (let i = 0; i < CYCLES; i++) {
    out.cycle.push(cycle(rt, oci, `c${process.pid}-${i}`));
    out.nodeCycle.push(once([node, '-e', '0']));
  }
  process.stdout.write(JSON.stringify(out));
}

async function apiSection() {
  const { runConfined, closeSpares } = require(join(root, 'dist', 'index.js'));
  const spawnTrue = () => new Promise((res, rej) => spawn('/usr/bin/true').on('exit', (c) => (c === 0 ? res() : rej(new Error(`exit ${c}`)))));
  const bwrap = ['/usr/bin/bwrap', '--unshare-all', '--ro-bind', '/', '/', '/usr/bin/true'];
  const hasBwrap = existsSync(bwrap[0]) && spawnSync(bwrap[0], bwrap.slice(1)).status === 0;
  const api = { runConfined: [], quiet: [], spawn: [], bwrap: [] };
  await runConfined(apiBundle);
  await runConfined(apiBundle, { observeDenials: false });
  for (let i = 0; i < API_N; i++) {
    let t = process.hrtime.bigint();
    const r = await runConfined(apiBundle);
    api.runConfined.push(ms(t));
    if (r.exitStatus !== 0) throw new Error('runConfined /usr/bin/true failed');
    // The same launch without the seccomp listener: the cost of observing denials.
    t = process.hrtime.bigint();
    await runConfined(apiBundle, { observeDenials: false });
    api.quiet.push(ms(t));
    t = process.hrtime.bigint();
    await spawnTrue();
    api.spawn.push(ms(t));
    if (hasBwrap) {
      t = process.hrtime.bigint();
      await new Promise((res) => spawn(bwrap[0], bwrap.slice(1)).on('exit', res));
      api.bwrap.push(ms(t));
    }
  }
  const base = median(api.spawn);
  const bw = api.bwrap.length ? median(api.bwrap) : null;
  const denialCost = median(api.runConfined) / median(api.quiet);
  console.log(`\nper launch, warm API (${API_N} sequential, interleaved)`);
  console.log('case'.padEnd(46) + 'median ms'.padStart(9) + '  ×spawn'.padStart(10) + '  ×bwrap'.padStart(10));
  for (const [name, xs] of [['runConfined(/usr/bin/true), full boundary', api.runConfined], ['  the same, observeDenials: false', api.quiet], ["child_process.spawn('/usr/bin/true')", api.spawn], ['bwrap --unshare-all --ro-bind / / true', api.bwrap]]) {
    if (!xs.length) {
      console.log(name.padEnd(46) + '  (not installed)');
      continue;
    }
    console.log(name.padEnd(46) + median(xs).toFixed(2).padStart(9) + `${(median(xs) / base).toFixed(2)}x`.padStart(10) + (bw ? `${(median(xs) / bw).toFixed(2)}x`.padStart(10) : ''));
  }
  console.log(`denial observation (seccomp listener held by a shim thread): ${denialCost.toFixed(2)}x the same launch without it`);
  // Launches per second one process sustains: k concurrent runConfined loops for TPUT_MS each.
  const cpus = (await import('node:os')).cpus().length;
  const rates = [];
  for (const k of [1, 2, 4, 8]) {
    let n = 0;
    const until = Date.now() + TPUT_MS;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: k }, async () => {
        while (Date.now() < until) {
          const r = await runConfined(apiBundle);
          if (r.exitStatus !== 0) throw new Error('runConfined /usr/bin/true failed');
          n++;
        }
      }),
    );
    rates.push(`${k} in flight: ${((n * 1000) / ms(t0)).toFixed(0)}/s`);
  }
  console.log(`runConfined launches per second, one process, ${cpus} cpus: ${rates.join(', ')}`);
  // wasm through the API: each run starts a confined runner process
  // (its runner's start is a Node start: interleaved with `node -e 0`, and a bare one where the
  // environment sets NODE_EXTRA_CA_CERTS, which the runner's empty environment never has)
  const wasmApi = [];
  const wasmNode = [];
  const wasmBare = [];
  for (let i = 0; i < Math.min(API_N, 50); i++) {
    const t = process.hrtime.bigint();
    await runConfined(join(root, 'bundles/hello-wasm'));
    wasmApi.push(ms(t));
    wasmNode.push(once([node, '-e', '0']));
    if (BARE) wasmBare.push(once([node, '-e', '0'], { env: bareEnv }));
  }
  // with a pre-started spare runner (runConfined's spare option), one idle gap between runs
  const wasmSpare = [];
  await runConfined(join(root, 'bundles/hello-wasm'), { spare: true });
  for (let i = 0; i < Math.min(API_N, 50); i++) {
    await new Promise((r) => setTimeout(r, 100));
    const t = process.hrtime.bigint();
    await runConfined(join(root, 'bundles/hello-wasm'), { spare: true });
    wasmSpare.push(ms(t));
  }
  await closeSpares();
  console.log('runConfined(bundles/hello-wasm)'.padEnd(46) + median(wasmApi).toFixed(2).padStart(9) + `  (${wasmApi.length} runs; a new confined runner each): ${(median(wasmApi) / median(wasmNode)).toFixed(2)}x node -e 0 (${median(wasmNode).toFixed(1)} ms)` + (BARE ? `, ${(median(wasmApi) / median(wasmBare)).toFixed(2)}x bare (${median(wasmBare).toFixed(1)} ms)` : ''));
  console.log('runConfined(hello-wasm, { spare: true })'.padEnd(46) + median(wasmSpare).toFixed(2).padStart(9) + `  (${wasmSpare.length} runs; a runner started ahead of time)`);
}

/** Section 4. crun's cases run in a child in a private mount namespace (see the header). */
async function peersSection() {
  const oci = busyboxBundle();
  if (!oci) {
    console.log('\npeers: skipped (no static busybox: apt install busybox-static)');
    return;
  }
  const crun = which('crun');
  const unshare = which('unshare');
  let crunOut = null;
  if (crun && unshare && process.geteuid() === 0) {
    const script = existsSync('/sys/fs/cgroup/unified') ? 'mount -t tmpfs -o size=4k,mode=755 bvisor-bench /sys/fs/cgroup/unified && exec "$@"' : 'exec "$@"';
    const r = spawnSync(unshare, ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', node, fileURLToPath(import.meta.url), '--crun', cgParent, oci], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (r.status === 0) crunOut = JSON.parse(r.stdout);
    else console.log(`\npeers: crun's cases failed (exit ${r.status})`);
  }
  await peersInside(oci, crunOut);
}

function which(name) {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

/** A busybox-static rootfs with /bin/true, and an OCI config for it (runc spec's defaults, minus
 * the ambient capabilities bvisor refuses; relative cgroupsPath: under the caller's cgroup). */
function busyboxBundle() {
  const bb = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p) && /statically linked/.test(spawnSync('file', [p], { encoding: 'utf8' }).stdout ?? ''));
  if (!bb) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bvisor-bench-oci-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(dir, 'rootfs', d), { recursive: true });
  copyFileSync(bb, join(dir, 'rootfs', 'bin', 'busybox'));
  symlinkSync('busybox', join(dir, 'rootfs', 'bin', 'true'));
  symlinkSync('busybox', join(dir, 'rootfs', 'bin', 'sh'));
  const config = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/bin'], cwd: '/', capabilities: { bounding: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], permitted: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] }, rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }], noNewPrivileges: true },
    root: { path: 'rootfs', readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      cgroupsPath: `${cgParent}/oci`,
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
  return dir;
}

/** One create → start → state until stopped → delete cycle; ms. */
function cycle(rt, bundle, id) {
  const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
  const t0 = process.hrtime.bigint();
  try {
    detachedOnce(rt.cmd('create', '--bundle', bundle, id));
    detachedOnce(rt.cmd('start', id));
    for (;;) {
      const argv = rt.cmd('state', id);
      const s = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      if (s.status !== 0) throw new Error(`${rt.name} state ${id}: ${s.stderr}`);
      if (JSON.parse(s.stdout).status === 'stopped') break;
    }
    once(rt.cmd('delete', id), quiet);
  } catch (e) {
    const argv = rt.cmd('delete', '-f', id);
    spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
    throw e;
  }
  return ms(t0);
}

async function peersInside(oci, crunOut) {
  const parent = cgParent;
  const runtimes = [];
  const rroot = (n) => {
    const d = mkdtempSync(join(tmpdir(), `bvisor-bench-${n}-`));
    cleanups.push(() => rmSync(d, { recursive: true, force: true }));
    return d;
  };
  const bvRoot = rroot('bv');
  runtimes.push({ name: 'bvisor', cmd: (...a) => [bvisor, '--root', bvRoot, a[0], ...(['create', 'run'].includes(a[0]) ? ['--cgroup-parent', parent] : []), ...a.slice(1)] });
  const runc = which('runc');
  if (runc) {
    const r = rroot('runc');
    runtimes.push({ name: 'runc', cmd: (...a) => [runc, '--root', r, ...a] });
  }
  const bwrap = which('bwrap');
  const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
  // run of the busybox bundle
  const cases = [{ name: 'node -e 0', argv: [node, '-e', '0'] }, ...bareCase()];
  let k = 0;
  for (const rt of runtimes) cases.push({ name: `${rt.name} run (busybox OCI bundle)`, argv: null, rt });
  if (bwrap) cases.push({ name: 'bwrap --unshare-all, busybox rootfs', argv: [bwrap, '--unshare-all', '--ro-bind', join(oci, 'rootfs'), '/', '--proc', '/proc', '--dev', '/dev', '/bin/true'] });
  const argvOf = (c) => c.argv ?? c.rt.cmd('run', '--bundle', oci, `r${process.pid}-${k++}`);
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (const c of cases) once(argvOf(c), c.opts ?? quiet);
  for (let i = 0; i < N; i++) for (const c of cases) samples.get(c.name).push(once(argvOf(c), c.opts ?? quiet));
  const b = median(samples.get('node -e 0'));
  const bb = BARE ? median(samples.get(BARE)) : null;
  header(`run of a busybox-static OCI bundle (${N} runs each, interleaved)`, ' node -e 0', bb !== null);
  for (const c of cases) row(c.name, median(samples.get(c.name)), `${(median(samples.get(c.name)) / b).toFixed(2)}x`, peakRss(argvOf(c), c.opts ?? quiet), bb === null ? undefined : `${(median(samples.get(c.name)) / bb).toFixed(2)}x`);
  if (crunOut) row('crun run (busybox OCI bundle) ¹', median(crunOut.run), `${(median(crunOut.run) / median(crunOut.node)).toFixed(2)}x`, crunOut.rss);

  // create → start → state until stopped → delete, each runtime on the busybox bundle and bvisor
  // also on the API's boundary bundle (stdio null: with inherit the workload would hold our pipes)
  const lbundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-lcb-'));
  cleanups.push(() => rmSync(lbundle, { recursive: true, force: true }));
  writeFileSync(join(lbundle, 'boundary.yaml'), readFileSync(join(apiBundle, 'boundary.yaml'), 'utf8') + 'stdio: { stdin: null, stdout: null, stderr: null }\n');
  const cycleOf = (rt, bundle) => (i) => cycle(rt, bundle, `c${process.pid}-${i}`);
  const cycles = [
    { name: 'bvisor (boundary bundle, as the API)', fn: cycleOf(runtimes[0], lbundle) },
    ...runtimes.map((rt) => ({ name: `${rt.name} (busybox OCI bundle)`, fn: cycleOf(rt, oci) })),
    { name: 'node -e 0', fn: () => once([node, '-e', '0']) },
    ...bareCase().map((c) => ({ name: c.name, fn: () => once(c.argv, c.opts) })),
  ];
  const cyc = new Map(cycles.map((c) => [c.name, []]));
  for (let i = 0; i < CYCLES; i++) for (const c of cycles) cyc.get(c.name).push(c.fn(`${c.name.split(' ')[0]}${i}`));
  const nb = median(cyc.get('node -e 0'));
  const nbb = BARE ? median(cyc.get(BARE)) : null;
  header(`create → start → state… → delete (${CYCLES} cycles each, interleaved)`, ' node -e 0', nbb !== null);
  for (const c of cycles) row(c.name, median(cyc.get(c.name)), `${(median(cyc.get(c.name)) / nb).toFixed(2)}x`, undefined, nbb === null ? undefined : `${(median(cyc.get(c.name)) / nbb).toFixed(2)}x`);
  if (crunOut) {
    row('crun (busybox OCI bundle) ¹', median(crunOut.cycle), `${(median(crunOut.cycle) / median(crunOut.nodeCycle)).toFixed(2)}x`);
    console.log('¹ crun: in a child in a private mount namespace (tmpfs over /sys/fs/cgroup/unified), no cgroup; its ratio is to the node -e 0 interleaved with it there');
  }
}

async function listSection() {
  // bvisor list with 1 and with LIST_N created containers (real ones, each with its monitor).
  const lroot = mkdtempSync(join(tmpdir(), 'bvisor-bench-lc-'));
  const lbundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-lcb-'));
  cleanups.push(() => rmSync(lroot, { recursive: true, force: true }));
  cleanups.push(() => rmSync(lbundle, { recursive: true, force: true }));
  writeFileSync(join(lbundle, 'boundary.yaml'), readFileSync(join(apiBundle, 'boundary.yaml'), 'utf8') + 'stdio: { stdin: null, stdout: null, stderr: null }\n');
  const cli = (...a) => spawnSync(bvisor, ['--root', lroot, ...a], { encoding: 'utf8' });
  const { createContainer } = require(join(root, 'dist', 'app', 'create.js'));
  const { deleteContainer } = require(join(root, 'dist', 'app', 'lifecycle.js'));
  const listTime = () => {
    const xs = [];
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      cli('list', '--json');
      xs.push(ms(t));
    }
    return median(xs);
  };
  const ids = [];
  try {
    ids.push('l0');
    await createContainer({ root: lroot, id: 'l0', bundle: lbundle, cgroupParent: cgParent, pidFile: null, secretEnv: {} });
    const one = listTime();
    const st = JSON.parse(cli('state', 'l0').stdout);
    const rss = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${st.bvisor.monitorPid}/status`, 'utf8'))[1]);
    for (let i = 1; i < LIST_N; i += 50) {
      const batch = Array.from({ length: Math.min(50, LIST_N - i) }, (_, k) => `l${i + k}`);
      ids.push(...batch);
      await Promise.all(batch.map((id) => createContainer({ root: lroot, id, bundle: lbundle, cgroupParent: cgParent, pidFile: null, secretEnv: {} })));
    }
    const many = listTime();
    console.log('\nbvisor list');
    console.log(`bvisor list --json, 1 container`.padEnd(46) + one.toFixed(1).padStart(9));
    console.log(`bvisor list --json, ${LIST_N} containers`.padEnd(46) + many.toFixed(1).padStart(9) + `${(many / one).toFixed(2)}x`.padStart(10));
    console.log(`monitor VmRSS per created container`.padEnd(46) + `${rss} kB`.padStart(9));
  } finally {
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => deleteContainer(lroot, id, true).catch(() => {})));
  }
}

/**
 * Section 6: each lifecycle command on its own, interleaved with `node -e 0` (and the bare one),
 * over LIFECYCLE_N containers whose workload sleeps (so state, kill and delete act on a live
 * one): create, state (created), start, state (running), kill KILL, state until stopped, delete.
 * Peak RSS of each command from GNU time (-o: a created container's monitor keeps our stdio).
 */
function lifecycleSection() {
  const lroot = mkdtempSync(join(tmpdir(), 'bvisor-bench-lr-'));
  const lbundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-lsb-'));
  cleanups.push(() => rmSync(lroot, { recursive: true, force: true }));
  cleanups.push(() => rmSync(lbundle, { recursive: true, force: true }));
  writeFileSync(join(lbundle, 'boundary.yaml'), readFileSync(join(apiBundle, 'boundary.yaml'), 'utf8').replace('exe: /usr/bin/true }', 'exe: /usr/bin/sleep, args: ["60"] }') + 'stdio: { stdin: null, stdout: null, stderr: null }\n');
  // create's yardstick: run of the very same boundary, its workload /usr/bin/true (create does
  // what run does up to the release, plus the monitor).
  const ltrue = mkdtempSync(join(tmpdir(), 'bvisor-bench-ltb-'));
  cleanups.push(() => rmSync(ltrue, { recursive: true, force: true }));
  writeFileSync(join(ltrue, 'boundary.yaml'), readFileSync(join(apiBundle, 'boundary.yaml'), 'utf8') + 'stdio: { stdin: null, stdout: null, stderr: null }\n');
  const RUN_SAME = 'run, the same boundary (true)';
  const cmdFrom = (from, ...a) => [from, '--root', lroot, a[0], ...(a[0] === 'create' || a[0] === 'run' ? ['--cgroup-parent', cgParent] : []), ...a.slice(1)];
  const cmd = (...a) => cmdFrom(bvisor, ...a);
  const state = (id, from = bvisor) => {
    const t0 = process.hrtime.bigint();
    const s = spawnSync(from, ['--root', lroot, 'state', id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const t = ms(t0);
    if (s.status !== 0) throw new Error(`bvisor state ${id}: ${s.stderr}`);
    return { t, status: JSON.parse(s.stdout).status };
  };
  /** Polls state until it says stopped (the poll that says so seals the report); that poll's time. */
  const untilStopped = (id) => {
    for (let i = 0; i < 500; i++) {
      const s = state(id);
      if (s.status === 'stopped') return s.t;
    }
    throw new Error(`bvisor state ${id}: not stopped after 500 polls since kill KILL`);
  };
  // The lifecycle and launching commands' own blobs against bvisor.blob, in the same run: a copy
  // of the package without lifecycle.blob and launch.blob starts them from bvisor.blob, as
  // bin/bvisor does when they are missing.
  const ONE_BLOB = 'state (created), from bvisor.blob';
  const ONE_BLOB_CREATE = 'create, from bvisor.blob';
  const ONE_BLOB_RUN = 'run (true), from bvisor.blob';
  const subBlobs = ['lifecycle.blob', 'launch.blob'];
  const has = (f) => existsSync(join(root, 'dist', 'snapshot', f));
  const oneBlob = subBlobs.some(has) ? mkdtempSync(join(tmpdir(), 'bvisor-bench-pkg-')) : null;
  // Each yardstick only where its own blob was built (a build that failed leaves the command on bvisor.blob).
  const lifecycleBlob = oneBlob && has('lifecycle.blob');
  const oneBin = oneBlob && has('launch.blob') ? join(oneBlob, 'bin', 'bvisor') : null;
  if (oneBlob) {
    cleanups.push(() => rmSync(oneBlob, { recursive: true, force: true }));
    mkdirSync(join(oneBlob, 'bin'));
    for (const f of ['bvisor', 'run.js']) copyFileSync(join(root, 'bin', f), join(oneBlob, 'bin', f));
    mkdirSync(join(oneBlob, 'dist', 'snapshot'), { recursive: true });
    for (const e of readdirSync(join(root, 'dist'))) if (e !== 'snapshot') symlinkSync(join(root, 'dist', e), join(oneBlob, 'dist', e));
    for (const f of readdirSync(join(root, 'dist', 'snapshot'))) if (!subBlobs.includes(f)) symlinkSync(join(root, 'dist', 'snapshot', f), join(oneBlob, 'dist', 'snapshot', f));
    for (const e of ['node_modules', 'package.json', 'oclif.manifest.json', 'native-shim']) symlinkSync(join(root, e), join(oneBlob, e));
  }
  const names = ['create', ...(oneBin ? [ONE_BLOB_CREATE] : []), 'state (created)', ...(lifecycleBlob ? [ONE_BLOB] : []), 'start', 'state (running)', 'kill KILL', 'state (stopped)', 'delete'];
  const samples = new Map([...names, RUN_SAME, ...(oneBin ? [ONE_BLOB_RUN] : []), 'node -e 0', ...(BARE ? [BARE] : [])].map((n) => [n, []]));
  const live = new Set();
  /** One container through every command; with `time`, each command's sample is recorded. The
   * commands timed from both packages alternate which goes first, round by round. */
  const one = (id, time, round = 0) => {
    const put = (n, t) => time && samples.get(n).push(t);
    const fromOneBlob = () => {
      if (!oneBin) return;
      live.add(`b${id}`);
      put(ONE_BLOB_CREATE, detachedOnce(cmdFrom(oneBin, 'create', '--bundle', lbundle, `b${id}`)));
      spawnSync(bvisor, ['--root', lroot, 'delete', '-f', `b${id}`], { stdio: 'ignore' });
      live.delete(`b${id}`);
    };
    if (round % 2) fromOneBlob();
    put('create', detachedOnce(cmd('create', '--bundle', lbundle, id)));
    live.add(id);
    if (!(round % 2)) fromOneBlob();
    put('state (created)', state(id).t);
    if (lifecycleBlob) put(ONE_BLOB, state(id, join(oneBlob, 'bin', 'bvisor')).t);
    put('start', detachedOnce(cmd('start', id)));
    put('state (running)', state(id).t);
    put('kill KILL', once(cmd('kill', id, 'KILL')));
    put('state (stopped)', untilStopped(id));
    put('delete', once(cmd('delete', id)));
    live.delete(id);
    if (oneBin && round % 2) put(ONE_BLOB_RUN, once(cmdFrom(oneBin, 'run', '--bundle', ltrue, `u${id}`)));
    put(RUN_SAME, once(cmd('run', '--bundle', ltrue, `t${id}`)));
    if (oneBin && !(round % 2)) put(ONE_BLOB_RUN, once(cmdFrom(oneBin, 'run', '--bundle', ltrue, `u${id}`)));
    put('node -e 0', once([node, '-e', '0']));
    if (BARE) put(BARE, once([node, '-e', '0'], { env: bareEnv }));
  };
  try {
    one(`w${process.pid}`, false);
    for (let i = 0; i < LIFECYCLE_N; i++) one(`l${process.pid}-${i}`, true, i);
    // Peak RSS: one more container, each command under GNU time.
    const rss = new Map();
    if (existsSync('/usr/bin/time')) {
      const id = `m${process.pid}`;
      const out = join(lroot, 'rss');
      const measured = (name, argv) => {
        detachedOnce(['/usr/bin/time', '-o', out, '-f', '%M', ...argv]);
        rss.set(name, Number(readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024);
      };
      measured('create', cmd('create', '--bundle', lbundle, id));
      live.add(id);
      measured('state (created)', cmd('state', id));
      measured('start', cmd('start', id));
      measured('state (running)', cmd('state', id));
      measured('kill KILL', cmd('kill', id, 'KILL'));
      untilStopped(id);
      measured('state (stopped)', cmd('state', id));
      measured('delete', cmd('delete', id));
      live.delete(id);
      measured(RUN_SAME, cmd('run', '--bundle', ltrue, `t${id}`));
    }
    const b = median(samples.get('node -e 0'));
    const bb = BARE ? median(samples.get(BARE)) : null;
    header(`lifecycle commands, one at a time (${LIFECYCLE_N} containers, a sleeping workload, interleaved)`, ' node -e 0', bb !== null);
    for (const n of ['node -e 0', ...(BARE ? [BARE] : []), ...names.map((x) => `bvisor ${x}`), `bvisor ${RUN_SAME}`, ...(oneBin ? [`bvisor ${ONE_BLOB_RUN}`] : [])]) {
      const key = n.replace(/^bvisor /, '');
      const m = median(samples.get(key));
      row(n, m, `${(m / b).toFixed(2)}x`, rss.has(key) ? rss.get(key) : n.startsWith('bvisor') ? null : undefined, bb === null ? undefined : `${(m / bb).toFixed(2)}x`);
    }
    const sum = names.filter((n) => n !== 'state (running)' && n !== 'state (created)' && n !== ONE_BLOB && n !== ONE_BLOB_CREATE && n !== 'kill KILL').reduce((a, n) => a + median(samples.get(n)), 0);
    console.log(`create + start + one state + delete: ${sum.toFixed(1)} ms, ${(sum / b).toFixed(2)}x node -e 0${bb === null ? '' : `, ${(sum / bb).toFixed(2)}x bare`}`);
  } finally {
    for (const id of live) spawnSync(bvisor, ['--root', lroot, 'delete', '-f', id], { stdio: 'ignore' });
  }
}

/** Section 7: the fuel bench (scripts/bench-fuel.mjs), its output as it is. */
function fuelSection() {
  console.log('');
  const r = spawnSync(node, [join(root, 'scripts', 'bench-fuel.mjs')], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BENCH_N: String(FUEL_N) } });
  if (r.status !== 0) console.log(`fuel: scripts/bench-fuel.mjs exited ${r.status ?? r.signal}`);
}

/** Removes the run's cgroup parent (and what is left beneath it) in every hierarchy, bottom up;
 * only directories: a populated cgroup refuses rmdir and is reported. */
function removeCgroupParent(parent) {
  const own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => {
    const a = l.indexOf(':');
    const b = l.indexOf(':', a + 1);
    return { controllers: l.slice(a + 1, b), path: l.slice(b + 1) };
  });
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || !['cgroup', 'cgroup2'].includes(f[sep + 1])) continue;
    const supers = (f[sep + 3] ?? '').split(',');
    const mine = f[sep + 1] === 'cgroup2' ? own.find((o) => o.controllers === '') : own.find((o) => o.controllers && o.controllers.split(',').every((c) => supers.includes(c)));
    if (!mine) continue;
    const dir = join(f[4], mine.path, parent);
    if (!existsSync(dir)) continue;
    const rm = (d) => {
      for (const e of spawnSync('find', [d, '-mindepth', '1', '-maxdepth', '1', '-type', 'd'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) rm(e);
      try {
        rmdirSync(d);
      } catch (e) {
        console.error(`bench: could not remove the cgroup ${d}: ${e.code}`);
      }
    };
    rm(dir);
  }
}
