// Where one API launch's time goes: runConfined(/usr/bin/true) with bench.mjs's full boundary,
// step by step, parent and child, medians over N launches (docs/performance.md shows a run).
//
//   make -s -C native-shim profile && npm run build:ts && node scripts/profile-launch.mjs [bundle]
//
// The child's steps come from the profile build of the shim (native-shim/build/profile, compiled
// with BV_PROFILE): each step writes a CLOCK_MONOTONIC timestamp into a shared page, read back
// after each launch with bv_prof_read. The parent's steps are timed here by wrapping the exported
// functions of dist's CommonJS modules (a call across modules reads the export when it runs), on
// the same clock (process.hrtime is CLOCK_MONOTONIC). Measurement only: nothing here is shipped.
//   PROFILE_N (default 100) launches after 5 warm-up ones; PROFILE_ROOT: another checkout's dist;
//   PROFILE_QUIET=1: the same launches with observeDenials: false (what observing costs, step by
//   step); PROFILE_NOAUDIT=1: with landlockAudit: false (what asking audit's status costs).
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const require = createRequire(import.meta.url);
const root = process.env.PROFILE_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.PROFILE_N ?? 100);
const d = (p) => require(join(root, 'dist', p));

const lib = join(root, 'native-shim', 'build', 'profile', 'libbvshim.so');
if (!existsSync(lib)) {
  console.error(`${lib} is missing: make -s -C native-shim profile`);
  process.exit(2);
}
// The profile library in place of the shipped one, before anything loads the shim.
d('backends/linux/ffi/native-artifacts.js').NATIVE.lib = ['native-shim', 'build', 'profile', 'libbvshim.so'];
const koffi = require(join(root, 'node_modules', 'koffi'));
const profRead = koffi.load(lib).func('int bv_prof_read(_Out_ int64_t *out, int n)');

const now = () => process.hrtime.bigint();
let cur = null; // this launch: { marks: Map<name, bigint>, spans: Map<name, number µs> }
const mark = (name) => cur && !cur.marks.has(name) && cur.marks.set(name, now());
const span = (name, t0) => cur && cur.spans.set(name, (cur.spans.get(name) ?? 0) + Number(now() - t0) / 1e3);
function wrap(mod, fn, label) {
  const orig = mod[fn];
  if (typeof orig !== 'function') throw new Error(`no ${fn} to wrap`);
  mod[fn] = function (...a) {
    const t = now();
    try {
      return orig.apply(this, a);
    } finally {
      span(label, t);
    }
  };
}
// Parent-side work, by function (self time of each call, summed per launch).
const spans = {
  'host/bundle.js': { loadBundle: 'load bundle (read, parse, validate manifest)' },
  'core/planner.js': { plan: 'plan' },
  'backends/linux/launcher.js': { seccompProgram: 'seccomp program (compile or cached)' },
  'backends/linux/host/landlock.js': { buildRuleset: 'landlock ruleset' },
  'backends/linux/host/cgroups.js': { createCgroups: 'cgroup leaf: mkdir + limits', readBack: 'cgroup read-back', killAll: 'teardown: kill', teardownCgroups: 'teardown: rmdir' },
  'backends/linux/lower.js': { lower: 'lower the body', mountPlan: 'mount plan' },
  'backends/linux/host/evidence.js': { readEvidence: 'READY evidence (/proc reads)', fixedEvidence: 'fixed evidence (maps, namespaces; read after the release)' },
  'core/report.js': { sealReport: 'seal report' },
  'app/report.js': { linuxReportBody: 'report body' },
};
for (const [m, fns] of Object.entries(spans)) for (const [fn, label] of Object.entries(fns)) wrap(d(m), fn, label);
// The mount steps' names, to label the child's per-step marks.
let stepNames = [];
{
  const lowerMod = d('backends/linux/lower.js');
  const mp = lowerMod.mountPlan;
  const opName = Object.fromEntries(Object.entries(lowerMod.MOUNT_OP).map(([k, v]) => [v, k]));
  lowerMod.mountPlan = (...a) => {
    const r = mp(...a);
    stepNames = r.steps.map((st) => `${opName[st.op]} ${st.target ?? st.fstype ?? ''}`.trim());
    return r;
  };
}
const s = d('backends/linux/ffi/shim.js').shim();
// shim() declares each function on first use and then holds it read-only (configurable):
// replaced with defineProperty, not assignment.
const replace = (name, fn) => Object.defineProperty(s, name, { value: fn, enumerable: true, configurable: true });
{
  const spawn = s.bv_spawn_vm;
  replace('bv_spawn_vm', (...a) => {
    mark('P bv_spawn called');
    try {
      return spawn(...a);
    } finally {
      mark('P bv_spawn returned');
    }
  });
  const wb = s.bv_write_byte;
  replace('bv_write_byte', (fd) => {
    const r = wb(fd);
    mark(cur?.marks.has('P release written') ? 'P go written' : 'P release written');
    return r;
  });
}
{
  const RR = d('backends/linux/launcher.js').RecordReader.prototype;
  const next = RR.next;
  RR.next = async function () {
    const r = await next.call(this);
    mark(r ? 'P READY record read' : 'P EOF on fail pipe (exec)');
    return r;
  };
  const reaper = d('backends/linux/host/reaper.js');
  const wait = reaper.waitPidfd;
  reaper.waitPidfd = (fd) => wait(fd).then((r) => (mark('P exit reaped'), r));
}
// The child's marks (launch.c, BV_PROF(i)) and the order of the whole critical path.
const C = { 0: 'C clone3 called', 1: 'C clone3 returned (parent)', 2: 'C child running', 3: 'C signals reset', 4: 'C release byte read', 5: 'C v1 cgroups joined', 6: 'C ids, pdeathsig', 7: 'C mount propagation', 8: 'C mount steps done', 9: 'C hostname, loopback', 10: 'C program resolved', 11: 'C no_new_privs + landlock', 12: 'C fd scrub', 13: 'C rlimits + caps', 14: 'C READY sent', 15: 'C go byte read', 16: 'C before exec (the late order loads seccomp here)', 17: 'C seccomp loaded (early)' };
const ORDER = ['start', 'P bv_spawn called', 'C clone3 called', 'C clone3 returned (parent)', 'P bv_spawn returned', 'P release written', 'C release byte read', 'C v1 cgroups joined', 'C ids, pdeathsig', 'C mount propagation', 'C mount steps done', 'C hostname, loopback', 'C program resolved', 'C no_new_privs + landlock', 'C fd scrub', 'C rlimits + caps', 'C READY sent', 'P READY record read', 'P go written', 'C go byte read', 'C before exec (the late order loads seccomp here)', 'P EOF on fail pipe (exec)', 'P exit reaped', 'result'];

const bundle = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'bvisor-profile-'));
if (!process.argv[2]) {
  writeFileSync(join(bundle, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\nnetwork: deny\nspawn: deny\nlimits: { wall: 10s, memory: 64Mi, openFiles: 64 }\n');
}
const { runConfined } = d('index.js');
const runs = [];
for (let i = 0; i < N + 5; i++) {
  cur = { marks: new Map([['start', now()]]), spans: new Map() };
  const r = await runConfined(bundle, process.env.PROFILE_QUIET ? { observeDenials: false } : process.env.PROFILE_NOAUDIT ? { landlockAudit: false } : {});
  cur.marks.set('result', now());
  if (r.exitStatus !== 0) throw new Error(`runConfined exited ${r.exitStatus}`);
  const out = new BigInt64Array(256);
  profRead(out, 256);
  for (const [i, name] of Object.entries(C)) if (out[Number(i)] > 0n) cur.marks.set(name, out[Number(i)]);
  cur.mountSteps = [];
  for (let k = 20; k < 256 && out[k] > 0n; k++) cur.mountSteps.push(out[k]);
  if (i >= 5) runs.push(cur);
}
cur = null;
if (!process.argv[2]) rmSync(bundle, { recursive: true, force: true });

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};
const ms = (us) => (us / 1000).toFixed(3).padStart(8);
console.log(`runConfined(/usr/bin/true), full boundary: ${N} launches, median per step (ms)`);
console.log(`total ${ms(median(runs.map((r) => Number(r.marks.get('result') - r.marks.get('start')) / 1e3)))}`);
console.log('\ncritical path (each step: from the previous mark to this one)');
let prev = null;
for (const name of ORDER) {
  if (!runs.every((r) => r.marks.has(name))) continue;
  if (prev) console.log(`${ms(median(runs.map((r) => Number(r.marks.get(name) - r.marks.get(prev)) / 1e3)))}  ${name}`);
  prev = name;
}
// The early filter (launch.h step 11, BV_F_SECCOMP_EARLY) is loaded beside the parent's checks,
// off the critical path above: its own time, from READY.
if (runs.every((r) => r.marks.has('C seccomp loaded (early)'))) console.log(`   (beside the parent's checks: ${ms(median(runs.map((r) => Number(r.marks.get('C seccomp loaded (early)') - r.marks.get('C READY sent')) / 1e3))).trim()} ms from READY to the filter loaded, early)`);
const steps = runs[0].mountSteps.length;
if (steps) {
  const each = Array.from({ length: steps }, (_, k) => [stepNames[k] ?? `step ${k}`, median(runs.map((r) => Number(r.mountSteps[k] - (k ? r.mountSteps[k - 1] : r.marks.get('C mount propagation'))) / 1e3))]);
  const byOp = new Map();
  for (const [name, us] of each) byOp.set(name.split(' ')[0], (byOp.get(name.split(' ')[0]) ?? 0) + us);
  console.log(`\nmount steps (${steps}), summed by kind: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${ms(v).trim()}`).join(', ')}`);
  console.log(`slowest: ${[...each].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${Math.round(v)} µs`).join(', ')}`);
}
console.log('\nparent work inside those steps (median per launch)');
const labels = [...new Set(runs.flatMap((r) => [...r.spans.keys()]))];
for (const l of labels.sort((a, b) => median(runs.map((r) => r.spans.get(b) ?? 0)) - median(runs.map((r) => r.spans.get(a) ?? 0)))) console.log(`${ms(median(runs.map((r) => r.spans.get(l) ?? 0)))}  ${l}`);
