// npm run soak: many runs and create/start/delete cycles, mixed with kills and failures, then
// counts what is left behind. Nothing may be: the script exits 1 if any count is not zero.
//   node scripts/soak.mjs [--runs 1000] [--cycles 200] [--json]
// Runs go through the API (runConfined, registered under a state root) and, one in 25, through
// `bvisor run` killed with SIGKILL at a random moment; cycles go through the CLI, with creates
// killed mid-way, containers killed or force-deleted while running, and workloads that fail.
// Afterwards `bvisor gc` cleans what the kills left, as a user would, and the counts are taken
// from outside bvisor: /proc (fds, zombies, processes naming the state root), the cgroup
// parent's directories, /proc/self/mountinfo, the temp and state directories.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync, readdirSync, readlinkSync, chmodSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'run.js');
const PROBE = join(ROOT, 'native-shim', 'build', 'bvprobe');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 1000);
const CYCLES = arg('cycles', 200);
const JSON_OUT = process.argv.includes('--json');
const log = (...a) => (JSON_OUT ? undefined : console.error(...a));

const work = mkdtempSync(join(tmpdir(), 'bvisor-soak-'));
chmodSync(work, 0o755);
const stateRoot = join(work, 'root');
const tmp = join(work, 'tmp'); // TMPDIR of every bvisor process: extracted bundles land here
const parent = `bvisor-soak-${process.pid}`;
const env = { ...process.env, TMPDIR: tmp };
spawnSync('mkdir', ['-p', tmp]);

// Deterministic mix (a fixed LCG), so a failing soak can be replayed.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

function bundle(name, args, extra = '') {
  const dir = join(work, 'bundles', name);
  spawnSync('mkdir', ['-p', dir]);
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(args)} }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: /proc, access: read }\nstdio: { stdout: capture, stderr: capture }\n${extra}`,
  );
  return dir;
}
const B = {
  ok: bundle('ok', ['exit', '0'], 'limits: { memory: 64Mi }\n'),
  fail: bundle('fail', ['exit', '3']),
  wall: bundle('wall', ['sleep', '30'], 'limits: { wall: 100ms }\n'),
  oom: bundle('oom', ['alloc', '256'], 'limits: { memory: 32Mi }\n'),
  forks: bundle('forks', ['forkbomb', '20'], 'spawn: descendants\nlimits: { processes: 8, wall: 2s }\n'),
  refused: bundle('refused', ['exit', '0'], 'limits: { fuel: 5 }\n'),
  sleep: bundle('sleep', ['sleep', '30'], 'limits: { memory: 64Mi }\n'),
};
const tar = join(work, 'sleep.tar');
spawnSync('tar', ['-cf', tar, '-C', B.sleep, '.']);

// --- what exists before ------------------------------------------------------------------------
const facts = JSON.parse(spawnSync(process.execPath, [BIN, 'check', '--json'], { encoding: 'utf8' }).stdout).host ?? null;
function cgroupDirs() {
  const out = [];
  const hs = facts ? [...facts.cgroup.v1, ...(facts.cgroup.v2 ? [facts.cgroup.v2] : [])] : [];
  for (const h of hs) {
    if (!h.ownDir) continue;
    const p = join(h.ownDir, parent);
    if (existsSync(p)) for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) out.push(join(p, e.name));
  }
  return out;
}
const fdCount = () => readdirSync('/proc/self/fd').length;
const mountCount = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).length;
function procs() {
  const zombies = [];
  const naming = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const ppid = Number(/^PPid:\s*(\d+)/m.exec(status)[1]);
      if (ppid === process.pid && /^State:\s*Z/m.test(status)) zombies.push(Number(d));
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(work)) naming.push(Number(d));
    } catch {
      // gone
    }
  }
  return { zombies, naming };
}
/** Starts bvisor with args, SIGKILLs it after ms (unless it ended), resolves how it ended. */
function killedAfter(args, ms) {
  const p = spawn(process.execPath, args, { stdio: 'ignore', env });
  const ended = new Promise((res) => p.on('exit', (c, sig) => res(sig ?? c)));
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  return ended.finally(() => clearTimeout(t));
}

// --- phase 1: runs -----------------------------------------------------------------------------
const { runConfined } = await import(join(ROOT, 'dist', 'index.js'));
// The baseline is taken after one warm-up run: what the API keeps open for the process's life
// (the shim, loaded once) is not a per-run leak.
await runConfined(B.ok, { root: stateRoot, id: 'warm-up', cgroupParent: parent });
const before = { fds: fdCount(), mounts: mountCount(), fdList: readdirSync('/proc/self/fd') };
const outcome = {};
const note = (k) => (outcome[k] = (outcome[k] ?? 0) + 1);
const t0 = Date.now();
async function oneRun(i) {
  const r = rand();
  if (i % 25 === 24) {
    // bvisor run, SIGKILLed at a random moment (before, during or after its workload)
    const code = await killedAfter([BIN, 'run', `k${i}`, '-b', B.sleep, '--root', stateRoot, '--cgroup-parent', parent], 50 + Math.floor(rand() * 400));
    return note(code === 'SIGKILL' ? 'run killed -9' : `run to be killed ended first: ${code}`);
  }
  const which = r < 0.6 ? 'ok' : r < 0.7 ? 'fail' : r < 0.8 ? 'wall' : r < 0.87 ? 'oom' : r < 0.94 ? 'forks' : 'refused';
  try {
    const out = await runConfined(B[which], { root: stateRoot, id: `r${i}`, cgroupParent: parent });
    note(`run ${which}: ${out.report.body.outcome.status}`);
  } catch (e) {
    note(`run ${which}: ${e.code ?? e.message}`);
  }
}
for (let i = 0; i < RUNS; i += 2) await Promise.all([oneRun(i), ...(i + 1 < RUNS ? [oneRun(i + 1)] : [])]);
log(`${RUNS} runs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// --- phase 2: create/start/delete cycles --------------------------------------------------------
const cli = (args, o = {}) => spawnSync(process.execPath, [BIN, ...args, '--root', stateRoot, '--cgroup-parent', parent], { encoding: 'utf8', env, timeout: 60_000, ...o });
const t1 = Date.now();
for (let i = 0; i < CYCLES; i++) {
  const id = `c${i}`;
  const r = rand();
  const b = i % 10 === 9 ? tar : r < 0.2 ? B.fail : B.sleep;
  if (r >= 0.9) {
    // create SIGKILLed part-way
    const code = await killedAfter([BIN, 'create', id, '-b', b, '--root', stateRoot, '--cgroup-parent', parent], 30 + Math.floor(rand() * 300));
    if (existsSync(join(stateRoot, 'containers', id))) cli(['delete', '-f', id]);
    note(code === 'SIGKILL' ? 'create killed -9, delete -f' : `create to be killed ended first (${code}), delete -f`);
    continue;
  }
  if (cli(['create', id, '-b', b]).status !== 0) {
    note('create failed');
    continue;
  }
  cli(['start', id]);
  if (r < 0.2) {
    await new Promise((res) => setTimeout(res, 50)); // it exits 3
    note(`cycle failing workload: delete ${cli(['delete', id]).status === 0 ? 'ok' : 'refused, then -f'}`);
    if (existsSync(join(stateRoot, 'containers', id))) cli(['delete', '-f', id]);
  } else if (r < 0.5) {
    // TERM is ignored by a pid namespace's init without a handler (the probe has none): then
    // plain delete refuses a running container, and delete -f ends it.
    const sig = r < 0.35 ? 'TERM' : 'KILL';
    cli(['kill', id, sig]);
    await new Promise((res) => setTimeout(res, 50));
    note(`cycle ${sig}: delete ${cli(['delete', id]).status === 0 ? 'ok' : 'refused, then -f'}`);
    if (existsSync(join(stateRoot, 'containers', id))) cli(['delete', '-f', id]);
  } else {
    note(`cycle delete -f while running: ${cli(['delete', '-f', id]).status}`);
  }
}
log(`${CYCLES} cycles in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

// --- clean up as a user would, then count --------------------------------------------------------
const gc = cli(['gc', '--json']);
const gcOut = gc.status === 0 ? JSON.parse(gc.stdout) : { error: gc.stdout + gc.stderr };
await new Promise((res) => setTimeout(res, 500)); // let killed processes be reaped
const p = procs();
const counts = {
  fds: fdCount() - before.fds,
  zombies: p.zombies.length,
  processes: p.naming.length,
  cgroups: cgroupDirs().length,
  mounts: mountCount() - before.mounts,
  tempDirs: readdirSync(tmp).length,
  stateEntries: existsSync(join(stateRoot, 'containers')) ? readdirSync(join(stateRoot, 'containers')).length : 0,
};
const newFds = readdirSync('/proc/self/fd').filter((f) => !before.fdList.includes(f)).map((f) => {
  try {
    return `${f} → ${readlinkSync(`/proc/self/fd/${f}`)}`;
  } catch {
    return f;
  }
});
const journal = existsSync(join(stateRoot, 'journal.jsonl')) ? readFileSync(join(stateRoot, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0;
const verify = spawnSync(process.execPath, [BIN, 'journal', 'verify', '--root', stateRoot, '--json'], { encoding: 'utf8' });
const result = { runs: RUNS, cycles: CYCLES, outcomes: outcome, gc: { removed: gcOut.removed?.length ?? null, bundles: gcOut.bundles?.length ?? null, failed: gcOut.failed ?? gcOut.error }, journal: { entries: journal, verify: verify.status }, leaked: counts };

// Remove what the soak made (a leaked process or cgroup is killed/removed only after counting).
for (const pid of p.naming) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
for (const d of cgroupDirs()) {
  try {
    rmdirSync(d);
  } catch {
    // still busy: reported above
  }
}
for (const h of facts ? [...facts.cgroup.v1, ...(facts.cgroup.v2 ? [facts.cgroup.v2] : [])] : []) {
  try {
    if (h.ownDir) rmdirSync(join(h.ownDir, parent));
  } catch {
    // never made there
  }
}
rmSync(work, { recursive: true, force: true });

if (JSON_OUT) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`soak: ${RUNS} runs, ${CYCLES} create/start/delete cycles`);
  for (const [k, v] of Object.entries(outcome).sort()) console.log(`  ${String(v).padStart(5)}  ${k}`);
  console.log(`gc removed ${result.gc.removed} entries and ${result.gc.bundles} bundles; journal ${journal} entries, verify exit ${verify.status}`);
  console.log('left behind:');
  for (const [k, v] of Object.entries(counts)) console.log(`  ${k.padEnd(14)} ${v}`);
  if (counts.fds !== 0) console.log(`  new fds: ${newFds.join(', ')}`);
}
const leaked = Object.values(counts).some((v) => v !== 0) || verify.status !== 0 || (gcOut.failed?.length ?? 1) !== 0;
process.exit(leaked ? 1 : 0);
