// npm run bench: costs measured against baselines in the same run, interleaved so machine
// noise hits every case alike. Prints medians and ratios; never asserts (not a test).
//   1. CLI start-up: bvisor --version / validate / plan vs `node -e 0`
//   2. CLI run of bundles/hello vs `node -e 0`, and the peak RSS of `bvisor run`
//   3. per-launch overhead of the warm API: runConfined(/usr/bin/true) with the full boundary
//      vs child_process.spawn('/usr/bin/true') vs bwrap --unshare-all (when installed)
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'run.js');
const N = Number(process.env.BENCH_N ?? 21);
const API_N = Number(process.env.BENCH_API_N ?? 200);
const stateRoot = mkdtempSync(join(tmpdir(), 'bvisor-bench-'));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function once(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}
function table(title, cases, base) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (const c of cases) once(c.argv);
  for (let i = 0; i < N; i++) for (const c of cases) samples.get(c.name).push(once(typeof c.argv === 'function' ? c.argv(i) : c.argv));
  const b = median(samples.get(base));
  console.log(`\n${title} (${N} runs each, interleaved)`);
  console.log('case'.padEnd(40) + 'median ms'.padStart(10) + `  ratio to ${base}`);
  for (const c of cases) {
    const m = median(samples.get(c.name));
    console.log(c.name.padEnd(40) + m.toFixed(1).padStart(10) + `  ${(m / b).toFixed(2)}x`);
  }
}

console.log(`bvisor bench — node ${process.version}, ${new Date().toISOString()}`);
table('CLI start-up', [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'bvisor --version', argv: [process.execPath, bin, '--version'] },
  { name: 'bvisor validate bundles/hello', argv: [process.execPath, bin, 'validate', join(root, 'bundles/hello')] },
  { name: 'bvisor plan bundles/hello', argv: [process.execPath, bin, 'plan', join(root, 'bundles/hello')] },
], 'node -e 0');
table('CLI run', [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'bvisor run hello -b bundles/hello', argv: [process.execPath, bin, '--root', stateRoot, 'run', 'bench', '-b', join(root, 'bundles/hello')] },
  { name: 'bvisor run … bundles/hello-wasm', argv: [process.execPath, bin, '--root', stateRoot, 'run', 'benchw', '-b', join(root, 'bundles/hello-wasm')] },
  { name: 'bvisor run … bundles/wasm-compute', argv: [process.execPath, bin, '--root', stateRoot, 'run', 'benchc', '-b', join(root, 'bundles/wasm-compute')] },
], 'node -e 0');

// Peak RSS of bvisor run, from GNU time if present, else from getrusage of the child.
{
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, '--root', stateRoot, 'run', 'rss', '-b', join(root, 'bundles/hello')], { encoding: 'utf8' });
  if (r.status === 0) console.log(`\npeak RSS of bvisor run: ${(Number(r.stderr.trim().split('\n').pop()) / 1024).toFixed(1)} MiB (GNU time %M)`);
  else console.log('\npeak RSS of bvisor run: not measured (/usr/bin/time missing)');
}

// Warm API.
const { runConfined } = require(join(root, 'dist', 'index.js'));
const bundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-true-'));
writeFileSync(join(bundle, 'boundary.yaml'), `bvisorVersion: "1"
workload:
  process: { exe: /usr/bin/true }
filesystem:
  - { path: /usr, access: read-exec }
network: deny
spawn: deny
limits: { wall: 10s, memory: 64Mi, openFiles: 64 }
`);
const spawnTrue = () => new Promise((res, rej) => spawn('/usr/bin/true').on('exit', (c) => (c === 0 ? res() : rej(new Error(`exit ${c}`)))));
const bwrap = ['/usr/bin/bwrap', '--unshare-all', '--ro-bind', '/', '/', '/usr/bin/true'];
const hasBwrap = existsSync(bwrap[0]) && spawnSync(bwrap[0], bwrap.slice(1)).status === 0;
const api = { runConfined: [], spawn: [], bwrap: [] };
await runConfined(bundle);
for (let i = 0; i < API_N; i++) {
  let t = process.hrtime.bigint();
  const r = await runConfined(bundle);
  api.runConfined.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (r.exitStatus !== 0) throw new Error('runConfined /usr/bin/true failed');
  t = process.hrtime.bigint();
  await spawnTrue();
  api.spawn.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (hasBwrap) {
    t = process.hrtime.bigint();
    await new Promise((res) => spawn(bwrap[0], bwrap.slice(1)).on('exit', res));
    api.bwrap.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
}
// wasm through the API: each run starts a confined runner process
const wasmApi = [];
for (let i = 0; i < Math.min(API_N, 50); i++) {
  const t = process.hrtime.bigint();
  await runConfined(join(root, 'bundles/hello-wasm'));
  wasmApi.push(Number(process.hrtime.bigint() - t) / 1e6);
}
// with a pre-started spare runner (runConfined's spare option), one idle gap between runs
const { closeSpares } = require(join(root, 'dist', 'index.js'));
const wasmSpare = [];
await runConfined(join(root, 'bundles/hello-wasm'), { spare: true });
for (let i = 0; i < Math.min(API_N, 50); i++) {
  await new Promise((r) => setTimeout(r, 100));
  const t = process.hrtime.bigint();
  await runConfined(join(root, 'bundles/hello-wasm'), { spare: true });
  wasmSpare.push(Number(process.hrtime.bigint() - t) / 1e6);
}
await closeSpares();
const base = median(api.spawn);
console.log(`\nper-launch, warm API (${API_N} sequential, interleaved)`);
console.log('case'.padEnd(40) + 'median ms'.padStart(10) + '  ratio to spawn');
for (const [name, xs] of [['runConfined(/usr/bin/true), full boundary', api.runConfined], ["child_process.spawn('/usr/bin/true')", api.spawn], ['bwrap --unshare-all --ro-bind / / true', api.bwrap]]) {
  if (!xs.length) {
    console.log(name.padEnd(40) + '  (not installed)');
    continue;
  }
  console.log(name.padEnd(40) + median(xs).toFixed(2).padStart(10) + `  ${(median(xs) / base).toFixed(2)}x`);
}
console.log('runConfined(bundles/hello-wasm)'.padEnd(40) + median(wasmApi).toFixed(2).padStart(10) + `  (${wasmApi.length} runs; a new confined runner each)`);
console.log('runConfined(hello-wasm, { spare: true })'.padEnd(40) + median(wasmSpare).toFixed(2).padStart(10) + `  (${wasmSpare.length} runs; a runner started ahead of time)`);
// Lifecycle through the CLI: create → start → wait → delete, against `node -e 0`. The bundle's
// stdio is null: with inherit, the workload would hold this script's pipes (as with runc).
{
  const lbundle = mkdtempSync(join(tmpdir(), 'bvisor-bench-lcb-'));
  writeFileSync(join(lbundle, 'boundary.yaml'), readFileSync(join(bundle, 'boundary.yaml'), 'utf8') + 'stdio: { stdin: null, stdout: null, stderr: null }\n');
  const CYCLES = Number(process.env.BENCH_CYCLE_N ?? 100);
  const lroot = mkdtempSync(join(tmpdir(), 'bvisor-bench-lc-'));
  const cli = (...a) => spawnSync(process.execPath, [bin, '--root', lroot, ...a], { encoding: 'utf8' });
  const cyc = [];
  const base = [];
  for (let i = 0; i < CYCLES; i++) {
    let t = process.hrtime.bigint();
    if (cli('create', `c${i}`, '-b', lbundle).status !== 0) throw new Error('create failed');
    if (cli('start', `c${i}`).status !== 0) throw new Error('start failed');
    while (JSON.parse(cli('state', `c${i}`).stdout).status !== 'stopped') {}
    if (cli('delete', `c${i}`).status !== 0) throw new Error('delete failed');
    cyc.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    base.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(`\nlifecycle through the CLI (${CYCLES} sequential cycles, interleaved with node -e 0)`);
  console.log('create→start→state…→delete'.padEnd(40) + median(cyc).toFixed(1).padStart(10) + `  ${(median(cyc) / median(base)).toFixed(2)}x node -e 0 (${median(base).toFixed(1)} ms)`);

  // bvisor list with 1 and with LIST_N created containers (real ones, each with its monitor).
  const LIST_N = Number(process.env.BENCH_LIST_N ?? 1000);
  const { createContainer, deleteContainer } = require(join(root, 'dist', 'app', 'lifecycle.js'));
  const listTime = () => {
    const xs = [];
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      cli('list', '--json');
      xs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return median(xs);
  };
  await createContainer({ root: lroot, id: 'l0', bundle: lbundle, cgroupParent: null, pidFile: null, secretEnv: {} });
  const one = listTime();
  const st = JSON.parse(cli('state', 'l0').stdout);
  const rss = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${st.bvisor.monitorPid}/status`, 'utf8'))[1]);
  for (let i = 1; i < LIST_N; i += 50) await Promise.all(Array.from({ length: Math.min(50, LIST_N - i) }, (_, k) => createContainer({ root: lroot, id: `l${i + k}`, bundle: lbundle, cgroupParent: null, pidFile: null, secretEnv: {} })));
  const many = listTime();
  console.log(`bvisor list --json, 1 container`.padEnd(40) + one.toFixed(1).padStart(10));
  console.log(`bvisor list --json, ${LIST_N} containers`.padEnd(40) + many.toFixed(1).padStart(10) + `  ${(many / one).toFixed(2)}x`);
  console.log(`monitor VmRSS per created container`.padEnd(40) + `${rss} kB`.padStart(10));
  for (let i = 0; i < LIST_N; i += 50) await Promise.all(Array.from({ length: Math.min(50, LIST_N - i) }, (_, k) => deleteContainer(lroot, `l${i + k}`, true)));
  rmSync(lroot, { recursive: true, force: true });
  rmSync(lbundle, { recursive: true, force: true });
}

rmSync(bundle, { recursive: true, force: true });
rmSync(stateRoot, { recursive: true, force: true });
