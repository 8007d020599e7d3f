// The CLI's V8 start-up snapshot (issue 12, docs/performance.md), built by `npm run build`:
//   1. esbuild bundles dist/cli/snapshot.js (and dist/cli/snapshot-lifecycle.js and
//      snapshot-launch.js, for the lifecycle and the launching commands' smaller blobs) and
//      everything it imports into one script
//      (Node 20 builds a snapshot from a single script: it cannot require user-land modules);
//      koffi (a native addon) and tar stay outside, loaded at run time (src/backends/linux/ffi/runtime.ts);
//   2. `node --snapshot-blob … --build-snapshot` runs it and writes the blob;
//   3. the Node binary that built it is recorded (its path and the CPU's features in built.sh, its
//      mtime on a stamp file) so bin/bvisor uses the blob only with that very binary on this CPU;
//      any other Node starts bin/run.js.
// A failure here is not fatal to the build: bin/bvisor falls back, and says so under --debug.
// The wasm runner has a snapshot of its own, made the same way under the same guard
// (dist/snapshot/runner.blob from dist/backends/wasm/runner-snapshot.js; docs/startup.md, "wasm
// runner"): app/wasm.ts starts the runner from it under the same rule, else runner.js.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dropBuiltinCodeCache } from './snapshot-code-cache.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The CPU's first flags line, read as the runner's start reads it (src/host/facts.ts; built by now). */
const cpuFlags = () => createRequire(import.meta.url)(join(root, 'dist', 'host', 'facts.js')).cpuFlagsLine();
// --entry FILE --out DIR: another entry and place (test/cli/snapshot.e2e.test.ts proves the guard
// with entries that read what they must not); by default the CLI's.
const opt = (name, dflt) => (process.argv.includes(name) ? resolve(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const entry = opt('--entry', join(root, 'dist', 'cli', 'snapshot.js'));
const out = opt('--out', join(root, 'dist', 'snapshot'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// The snapshot's main sorts the root plugin's command ids by code point where oclif would use
// localeCompare (src/cli/snapshot-main.ts: ICU's collator costs every start about 9 ms): only while
// both give the same order, which an id outside [a-z:] could change.
{
  const ids = Object.keys(JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')).commands);
  const byLocale = [...ids].sort((a, b) => a.localeCompare(b)).join(' ');
  const byCodePoint = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(' ');
  if (byLocale !== byCodePoint || !ids.every((id) => /^[a-z]+(:[a-z]+)*$/.test(id))) {
    console.error(`snapshot: the command ids do not sort the same by localeCompare and by code point (src/cli/snapshot-main.ts relies on it):\n  ${byLocale}\n  ${byCodePoint}`);
    process.exit(1);
  }
}

let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  console.error('snapshot: not built (esbuild, a development dependency, is not installed); bin/bvisor will start bin/run.js');
  process.exit(0);
}

// Nothing may read the environment, the clock or randomness while the snapshot is made: what it
// read would be frozen into every start. The guard makes such a read fail the build (it is put
// around the bundle, and lifted before the heap is written, so the main function runs free).
// Reads that are allowed, each answered as "unset" (the same at every build), with why.
const ALLOWED_ENV = {
  // @oclif/core compares Node with its engines when imported, to warn; the snapshot only ever
  // runs on the Node binary that built it (bin/bvisor), so the answer cannot change.
  OCLIF_DISABLE_ENGINE_WARNING: 'oclif engine warning',
  // oclif measures the terminal when imported (help and error text wrap to it): the build's
  // stdout is a pipe (80 columns), and bin/bvisor uses the snapshot only when neither stdout nor
  // stderr is a terminal, where oclif measures 80 columns too.
  OCLIF_COLUMNS: 'oclif screen width',
  // Colour detection (ansis, oclif's colours) when imported: the snapshot has none, what a pipe
  // gets; bin/bvisor starts bin/run.js when FORCE_COLOR asks for colour anyway.
  FORCE_COLOR: 'colour', NO_COLOR: 'colour', TERM: 'colour', COLORTERM: 'colour', TERM_PROGRAM: 'colour', CI: 'colour', TF_BUILD: 'colour', PM2_HOME: 'colour', NEXT_RUNTIME: 'colour',
  // Debug switches of libraries, read when imported: bin/bvisor starts bin/run.js when
  // NODE_DEBUG is set; the other is oclif's flag parser's own.
  // yaml's trace switches, read on every parse (never kept): the warm-up parse reads them, and
  // a parse at run time reads them again.
  LOG_TOKENS: 'yaml trace', LOG_STREAM: 'yaml trace',
  NODE_DEBUG: 'debug', CLI_FLAGS_DEBUG: 'debug',
};
// The runner's V8 flags that are the same for every run (src/app/wasm.ts RUNNER_V8_FLAGS says the same).
const RUNNER_V8_FLAGS = ['--max-old-space-size=128'];
const GUARD = `(() => {
  const allowed = ${JSON.stringify(Object.keys(ALLOWED_ENV))};
  const env = process.env, now = Date.now, random = Math.random, perf = globalThis.performance;
  const fail = (what) => { throw new Error('read ' + what + ' while the start-up snapshot is made'); };
  // The host, read natively (not through process.env): the home and temp directories, the user,
  // the working directory. clean-stack (oclif's error printer) takes the home directory when
  // imported, to shorten paths in stacks: it gets a name no path has, so nothing is shortened
  // and the builder's home is not in the blob; anything else fails the build.
  const os = require('node:os');
  const host = { homedir: os.homedir, tmpdir: os.tmpdir, userInfo: os.userInfo, cwd: process.cwd };
  const HOME_AT_SNAPSHOT = '/nonexistent/home-at-snapshot-time';
  os.homedir = () => HOME_AT_SNAPSHOT;
  os.tmpdir = () => fail('os.tmpdir()');
  os.userInfo = () => fail('os.userInfo()');
  process.cwd = () => fail('process.cwd()');
  globalThis.__bvisorSnapshotGuard = () => { process.env = env; Date.now = now; Math.random = random; Object.assign(os, { homedir: host.homedir, tmpdir: host.tmpdir, userInfo: host.userInfo }); process.cwd = host.cwd; };
  const read = new Set();
  globalThis.__bvisorEnvRead = read;
  process.env = new Proxy({}, { get: (_, k) => { if (typeof k === 'string' && !allowed.includes(k)) read.add(k); return undefined; }, has: (_, k) => { if (typeof k === 'string' && !allowed.includes(k)) read.add(k); return false; }, ownKeys: () => [] });
  Date.now = () => fail('the clock (Date.now)');
  // Randomness drawn now would be the same in every start. (brace-expansion, which drew five
  // escape sentinels when imported, came with minimatch, which the blobs leave out:
  // src/cli/oclif-unused.ts.)
  Math.random = () => fail('randomness (Math.random)');
  // The guard is lifted in the last serialize callback, so an entry's own serialize callbacks run
  // under it too. Node 20 prints an exception thrown by a serialize callback and writes the blob
  // anyway (exit 0): each callback (an entry's, the guard's own check) fails the build instead.
  const ss = require('node:v8').startupSnapshot;
  const addSerializeCallback = ss.addSerializeCallback;
  ss.addSerializeCallback = (cb, data) => addSerializeCallback.call(ss, (d) => {
    try {
      cb(d);
    } catch (e) {
      process._rawDebug(String((e && e.stack) || e));
      process.exit(1);
    }
  }, data);
  globalThis.__bvisorSnapshotCallbacks = () => { ss.addSerializeCallback = addSerializeCallback; };
})();`;

// Whether blobs go without the code cache of Node's built-in modules (scripts/snapshot-code-cache.mjs).
let codeCacheAccepted = true;

// The blobs leave out what oclif needs only for plugins and glob discovery (src/cli/oclif-unused.ts):
// a package.json that asks oclif for either would reach a stand-in that throws at run time, so
// the build refuses it instead.
{
  const o = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).oclif ?? {};
  const asks = ['plugins', 'devPlugins', 'jitPlugins'].filter((k) => (Array.isArray(o[k]) ? o[k].length > 0 : o[k] !== undefined && k !== 'plugins'));
  if (o.commands?.strategy !== 'explicit') asks.push(`commands.strategy ${JSON.stringify(o.commands?.strategy)}`);
  if (asks.length) {
    console.error(`snapshot: package.json's oclif config asks for ${asks.join(', ')}, which the start-up snapshot leaves out (src/cli/oclif-unused.ts); not built`);
    process.exit(1);
  }
}

/**
 * One snapshot: `name`.cjs bundled from `entryFile` under the guard, then `name`.blob.
 * nodeFlags: V8 flags the blob is built with; each is part of the blob's configuration tag, so
 * whoever starts Node from it must give exactly these (and no other V8 flag).
 * loadCheck: { args, extra }: a start from the blob with these arguments (and after stdio the fds
 * `extra` lists: 'pipe', or 'empty' for /dev/null to read) that must exit 0 for the blob to be kept.
 * Returns whether the blob was made; a read the guard caught ends the build (exit 1).
 */
async function snapshot(name, entryFile, nodeFlags, fallback, { loadCheck = null, define = {} } = {}) {
  const script = join(out, `${name}.cjs`);
  const blob = join(out, `${name}.blob`);
  await build({
    entryPoints: [entryFile],
    bundle: true,
    platform: 'node',
    format: 'iife',
    target: `node${process.versions.node.split('.')[0]}`,
    outfile: script,
    // typescript: oclif reads a tsconfig only in a development checkout run through ts-node.
    external: ['koffi', 'tar', 'typescript'],
    // oclif's WSL probe, answered "not WSL" without reading /proc/version (src/cli/no-wsl.ts says
    // why); its debug logger, off for good where the snapshot runs (src/cli/no-debug.ts); four
    // packages oclif loads for paths bvisor never takes (src/cli/oclif-unused.ts).
    alias: { 'wsl-utils': join(root, 'dist', 'cli', 'no-wsl.js'), debug: join(root, 'dist', 'cli', 'no-debug.js'), ...Object.fromEntries(['tinyglobby', 'minimatch', 'lilconfig', 'cli-spinners'].map((p) => [p, join(root, 'dist', 'cli', 'oclif-unused.js')])) },
    logLevel: 'warning',
    legalComments: 'none',
    minify: true,
    // Names stay: errors and oclif's command classes are known by them.
    keepNames: true,
    banner: { js: GUARD },
    // Lifted in the last serialize callback, after the entry's own have run under it.
    footer: { js: "require('node:v8').startupSnapshot.addSerializeCallback(() => { globalThis.__bvisorSnapshotGuard(); delete globalThis.__bvisorSnapshotGuard; globalThis.__bvisorSnapshotCallbacks(); delete globalThis.__bvisorSnapshotCallbacks; if (globalThis.__bvisorEnvRead.size) throw new Error('read process.env.' + [...globalThis.__bvisorEnvRead].join(', process.env.') + ' while the start-up snapshot is made'); delete globalThis.__bvisorEnvRead; });" },
    define: { BVISOR_PACKAGE_JSON: readFileSync(join(root, 'package.json'), 'utf8'), BVISOR_OCLIF_MANIFEST: readFileSync(join(root, 'oclif.manifest.json'), 'utf8'), ...define },
  });

  // --no-warnings: Node warns that it has "not fully verified" some built-in modules in snapshots
  // (fs/promises, child_process…); its warning printer would read FORCE_COLOR under the guard.
  const r = spawnSync(process.execPath, ['--no-warnings', ...nodeFlags, '--snapshot-blob', blob, '--build-snapshot', script], { cwd: out, encoding: 'utf8' });
  // Node warns about built-in modules it has "not fully verified" in snapshots; those it cannot
  // hold at all fail the build (and the fallback stays).
  if (r.status !== 0 || !existsSync(blob)) {
    rmSync(script, { force: true });
    rmSync(blob, { force: true });
    // A read the guard caught is a bug in a module's top level: the build fails, loudly.
    const caught = /Error: (read .* while the start-up snapshot is made)/.exec(r.stderr ?? '');
    if (caught) {
      console.error(`snapshot: ${caught[1]}\n${r.stderr.split('\n').filter((l) => l.startsWith('    at ')).slice(0, 12).join('\n')}`);
      process.exit(1);
    }
    console.error(`snapshot: ${name} not built (node --build-snapshot exited ${r.status}); ${fallback}\n${r.stderr.slice(-2000)}`);
    return false;
  }
  // The blob must load under the V8 flags it is meant for: a mismatch (a V8 flag changed while it
  // was made, a Node that cannot read what it wrote) would make Node refuse it at every start
  // (exit 14, nothing run), and bin/bvisor trusts a blob its Node built. A blob that does not load
  // without the built-ins' code cache gets it back, and so do the ones after it.
  const cache = loadCheck && codeCacheAccepted ? dropBuiltinCodeCache(blob) : null;
  if (loadCheck && codeCacheAccepted && !cache) console.error(`snapshot: ${name}.blob keeps the code cache of Node's built-in modules (none found where Node ${process.version} was expected to write it)`);
  if (loadCheck) {
    const check = () => {
      const extra = (loadCheck.extra ?? []).map((e) => (e === 'empty' ? openSync('/dev/null', 'r') : e));
      try {
        return spawnSync(process.execPath, [...nodeFlags, '--snapshot-blob', blob, ...loadCheck.args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', ...extra] });
      } finally {
        for (const e of extra) if (typeof e === 'number') closeSync(e);
      }
    };
    let l = check();
    if (l.status !== 0 && cache) {
      writeFileSync(blob, cache.original);
      l = check();
      if (l.status === 0) {
        codeCacheAccepted = false;
        console.error(`snapshot: node ${process.version} refused ${name}.blob without its built-in modules' code cache; the blobs keep it`);
      }
    }
    if (l.status !== 0) {
      rmSync(script, { force: true });
      rmSync(blob, { force: true });
      console.error(`snapshot: ${name} does not load (node --snapshot-blob exited ${l.status}); ${fallback}\n${(l.stderr ?? '').slice(-2000)}`);
      return false;
    }
  }
  const mib = (n) => (n / 1048576).toFixed(1);
  const dropped = codeCacheAccepted && cache ? `, ${mib(cache.dropped)} MiB of code cache of Node's ${cache.entries} built-in modules left out` : '';
  console.log(`snapshot: ${blob} (${mib(statSync(blob).size)} MiB${dropped}, ${process.version})`);
  return true;
}

// The CLI's blob is checked by starting it: `bvisor --version` (an entry given for the guard's
// tests gets the same arguments, which its empty main ignores).
const built = [await snapshot('bvisor', entry, [], 'bin/bvisor will start bin/run.js', { loadCheck: { args: [root, '--version'] } })];
// The blobs of a subset of the commands, each with its entry and registry (docs/startup.md, "three
// blobs"; not when another entry is given): the lifecycle commands (src/cli/snapshot-lifecycle.ts:
// no bundle reader, planner or launcher; its warm-up seals a report for a plan, and as its graph
// holds no planner, the plan is made here, by the function bvisor.blob's warm-up calls, and put in
// as a constant) and the launching ones (src/cli/snapshot-launch.ts: run, create, exec). Only with
// bvisor.blob: bin/bvisor checks one record of what built them all, and starts a command from
// bvisor.blob where its own blob is missing.
const subsets = [
  { name: 'lifecycle', entry: 'snapshot-lifecycle.js', index: ['lifecycle-index.js', 'LIFECYCLE_COMMANDS'], check: 'state', warmPlan: true },
  { name: 'launch', entry: 'snapshot-launch.js', index: ['launch-index.js', 'LAUNCH_COMMANDS'], check: 'create', warmPlan: false },
];
for (const sub of subsets) {
  const subEntry = join(root, 'dist', 'cli', sub.entry);
  if (!built[0] || process.argv.includes('--entry') || !existsSync(subEntry)) continue;
  const fallback = `bin/bvisor will start the ${sub.name} commands from bvisor.blob`;
  let define = null;
  try {
    const load = createRequire(import.meta.url);
    // Its commands' entries of oclif.manifest.json only: the bundler keeps a define's value whole
    // in the heap (every function may reach it), so the others' would be deserialised for nothing.
    const ids = Object.keys(load(join(root, 'dist', 'commands', sub.index[0]))[sub.index[1]]);
    const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8'));
    manifest.commands = Object.fromEntries(Object.entries(manifest.commands).filter(([id]) => ids.includes(id)));
    define = { BVISOR_OCLIF_MANIFEST: JSON.stringify(manifest), ...(sub.warmPlan ? { BVISOR_WARM_PLAN: JSON.stringify(load(join(root, 'dist', 'cli', 'warm-up.js')).warmPlan()) } : {}) };
  } catch (e) {
    console.error(`snapshot: ${sub.name} not built (${e && e.message}); ${fallback}`);
  }
  if (define) built.push(await snapshot(sub.name, subEntry, [], fallback, { loadCheck: { args: [root, sub.check, '--help'] }, define }));
}
// The wasm runner (not when another entry is given: the tests of the guard build only theirs).
// Its load check starts it as app/wasm.ts does (the package root, the two wasm caps), with an empty
// job on fd 3: it sets and proves its caps, finds the job incomplete and says so on fd 4 (its
// result pipe; src/backends/wasm/runner.ts), exit 0.
// --max-old-space-size=128 is the runner's heap cap (app/wasm.ts), the same for every run: the
// blob is built with it so that a runner started with it may use the blob.
const runnerEntry = join(root, 'dist', 'backends', 'wasm', 'runner-snapshot.js');
if (!process.argv.includes('--entry') && existsSync(runnerEntry)) built.push(await snapshot('runner', runnerEntry, RUNNER_V8_FLAGS, 'the wasm runner will start runner.js', { loadCheck: { args: [root, '--wasm-max-mem-pages=16', '--wasm-max-table-size=16'], extra: ['empty', 'pipe'] } }));
if (!built.some(Boolean)) {
  rmSync(out, { recursive: true, force: true });
  process.exit(0);
}
// What built the blobs, as one shell file that bin/bvisor sources (`. built.sh`: dash reads a
// sourced file in blocks, where its `read` takes one byte per system call: 0.7 KB of CPU flags
// cost about 1 ms a start that way) and the runner's start parses (src/app/wasm.ts, builtRecord):
//   built     the Node binary that built them: bin/bvisor and the runner use a blob only with it;
//   builtcpu  the CPU's features: V8's configuration tag, which a blob carries, includes the
//             features it detected (CPUID), so a blob built here is refused (exit 14) on a CPU with
//             others: a VM, another machine the package was copied to. The first flags line of
//             /proc/cpuinfo stands for them (an unneeded fallback at worst).
// Each value is single-quoted; one a shell could not take that way means no snapshot. Written
// under another name and renamed: a half-written file would be a syntax error in bin/bvisor.
const record = { built: process.execPath, builtcpu: cpuFlags() };
const unquotable = Object.entries(record).find(([, v]) => /['\n]/.test(v));
if (unquotable) {
  console.error(`snapshot: not used (${unquotable[0]} holds a quote or a newline: ${JSON.stringify(unquotable[1])}); bin/bvisor will start bin/run.js`);
  rmSync(out, { recursive: true, force: true });
  process.exit(0);
}
writeFileSync(join(out, 'built.sh.new'), `# Written by scripts/build-snapshot.mjs; sourced by bin/bvisor, read by src/app/wasm.ts.\n${Object.entries(record).map(([k, v]) => `${k}='${v}'\n`).join('')}`);
renameSync(join(out, 'built.sh.new'), join(out, 'built.sh'));
// The stamp carries the Node binary's mtime: bin/bvisor compares the two with test -nt/-ot
// (shell built-ins, no process), so a replaced binary (an upgrade) never meets an old blob.
const stamp = join(out, 'node.stamp');
writeFileSync(stamp, `${process.version}\n`);
const st = statSync(process.execPath);
utimesSync(stamp, st.atime, st.mtime);
