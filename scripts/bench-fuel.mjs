// node scripts/bench-fuel.mjs: what fuel metering costs. Each guest runs metered (the shipped
// rewriter) and unmetered (the same bytes with only the counter global appended, so the same
// runner accepts it), each sample in a fresh process through the runner's runJob, the variants
// interleaved so machine noise hits them alike. Prints medians and ratios; never asserts.
//
//   guests (built here; a missing tool skips its guest, loudly):
//     fib-wat   test/guests/fib.wat   fib(30) ×20, a small recursive function without loops
//     fib-c     test/guests/fib.c     fib(30) ×30 built by clang -O2 (a call inside a loop)
//     loops-c   test/guests/loops.c   sieve, matmul, crc32: tight loops, no calls
//
//   env: BENCH_N samples per variant (default 11); BVISOR_DIST the compiled tree (default dist/,
//   from npm run build:ts).
//   --rewriter name=path/to/core/wasm/fuel.js (repeatable) adds a variant instrumented by
//   another build of the rewriter (for instance a git worktree of an older commit), to compare
//   strategies in the same run.
//   --guest name (repeatable) runs only those guests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.env.BVISOR_DIST ?? join(root, 'dist'));

// ---- child: one timed run of one module through the runner ----------------------------------
if (process.argv[2] === '--child') {
  const [, , , file, args] = process.argv;
  const { runJob } = require(join(dist, 'backends/wasm/runner.js'));
  const bytes = readFileSync(file);
  const job = Buffer.concat([Buffer.from(JSON.stringify({ args: JSON.parse(args), env: [], fuel: null, seed: 1, moduleBytes: bytes.length, preopens: [] }) + '\n'), bytes]);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const out = runJob(job);
  const c = process.cpuUsage(c0);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write('\n' + JSON.stringify({ ms, cpu: (c.user + c.system) / 1e3, out }) + '\n');
  process.exit(0);
}

// ---- parent ---------------------------------------------------------------------------------
const N = Number(process.env.BENCH_N ?? 11);
const argv = process.argv.slice(2);
const rewriters = [{ name: 'metered', path: join(dist, 'core/wasm/fuel.js') }];
const only = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--rewriter') {
    const [name, path] = argv[++i].split('=');
    rewriters.push({ name, path: resolve(path) });
  } else if (argv[i] === '--guest') only.push(argv[++i]);
  else throw new Error(`unknown argument ${argv[i]}`);
}
const { DEFAULT_CAPS } = require(rewriters[0].path);
const binary = require(join(dist, 'core/wasm/binary.js'));
const { FUEL_EXPORT } = require(join(dist, 'core/wasm/names.js'));
const work = mkdtempSync(join(tmpdir(), 'bvisor-bench-fuel-'));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function tool(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.error) return `${argv[0]} is not installed`;
  if (r.status !== 0) return `${argv.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  return null;
}

/**
 * The module unmetered: the same bytes plus an exported mutable i64 global named like the fuel
 * counter (appended, so no index moves), which the runner requires before it runs anything.
 */
function counterOnly(input) {
  const { readSections, writeModule, Writer, Reader } = binary;
  const list = readSections(input);
  const globals = (() => {
    let n = 0;
    for (const s of list) {
      const r = new Reader(input, s.offset, s.offset + s.body.length);
      if (s.id === 2) for (let k = r.u32(); k > 0; k--) { r.name(); r.name(); const kind = r.byte(); if (kind === 3) n++; if (kind === 0) r.u32(); else if (kind === 3) { r.byte(); r.byte(); } else throw new Error('unexpected import kind'); }
      if (s.id === 6) n += r.u32();
    }
    return n;
  })();
  const def = [0x7e, 0x01, 0x42, 0x00, 0x0b];
  const exp = new Writer().name(FUEL_EXPORT).byte(0x03).u32(globals).toBytes();
  const append = (s, extra) => {
    const r = new Reader(input, s.offset, s.offset + s.body.length);
    const n = r.u32();
    return { id: s.id, body: new Writer().u32(n + 1).bytes(input.subarray(r.pos, s.offset + s.body.length)).bytes(Uint8Array.from(extra)).toBytes() };
  };
  const out = list.map((s) => (s.id === 6 ? append(s, def) : s.id === 7 ? append(s, exp) : s));
  const rank = (id) => [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11].indexOf(id);
  for (const [id, item] of [[6, def], [7, exp]]) {
    if (out.some((s) => s.id === id)) continue;
    const at = out.findIndex((s) => s.id !== 0 && rank(s.id) > rank(id));
    out.splice(at < 0 ? out.length : at, 0, { id, body: new Writer().u32(1).bytes(Uint8Array.from(item)).toBytes() });
  }
  return writeModule(out);
}

const guests = [
  { name: 'fib-wat', what: 'fib(30) x20, recursive, no loop (WAT)', build: (out) => tool(['wat2wasm', join(root, 'test/guests/fib.wat'), '-o', out]), args: ['fib'] },
  { name: 'fib-c', what: 'fib(30) x30, clang -O2 (call in a loop)', build: (out) => tool(['clang', '--target=wasm32-wasi', '-O2', '-o', out, join(root, 'test/guests/fib.c')]), args: ['fib', '30', '30'] },
  { name: 'loops-c', what: 'sieve + matmul + crc32, clang -O2', build: (out) => tool(['clang', '--target=wasm32-wasi', '-O2', '-o', out, join(root, 'test/guests/loops.c')]), args: ['loops', '4'] },
].filter((g) => only.length === 0 || only.includes(g.name));

function sample(file, args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, JSON.stringify(args)], { encoding: 'utf8', env: { ...process.env } });
  if (r.status !== 0) throw new Error(`sample ${file} exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  const { ms, cpu, out } = JSON.parse(lines[lines.length - 1]);
  if (out.exitCode !== 0) throw new Error(`${file}: ${JSON.stringify(out)}`);
  return { ms, cpu, fuel: out.fuelUsed, stdout: lines.slice(0, -1).join('\n').trim() };
}

console.log(`bvisor fuel bench — node ${process.version}, ${N} samples per variant, interleaved, a fresh process each; time of runJob (compile + instantiate + run), wall and CPU (all threads: V8 compiles in the background)`);
try {
  const ready = [];
  for (const g of guests) {
    const raw = join(work, `${g.name}.wasm`);
    const why = g.build(raw);
    if (why) {
      console.log(`SKIPPED ${g.name}: ${why}`);
      continue;
    }
    const bytes = new Uint8Array(readFileSync(raw));
    const variants = [{ name: 'unmetered', file: join(work, `${g.name}.plain.wasm`) }];
    writeFileSync(variants[0].file, counterOnly(bytes));
    for (const rw of rewriters) {
      const { instrument } = require(rw.path);
      const t0 = process.hrtime.bigint();
      const res = instrument(bytes, DEFAULT_CAPS);
      const instrumentMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const file = join(work, `${g.name}.${rw.name}.wasm`);
      writeFileSync(file, res.bytes);
      variants.push({ name: rw.name, file, size: res.bytes.length, instrumentMs });
    }
    ready.push({ ...g, bytes, variants, samples: new Map(variants.map((v) => [v.name, []])), cpu: new Map(variants.map((v) => [v.name, []])), fuel: new Map(), out: new Set() });
  }
  for (const g of ready) for (const v of g.variants) sample(v.file, g.args); // warm the page cache
  for (let i = 0; i < N; i++)
    for (const g of ready)
      for (const v of g.variants) {
        const s = sample(v.file, g.args);
        g.samples.get(v.name).push(s.ms);
        g.cpu.get(v.name).push(s.cpu);
        g.out.add(s.stdout);
        if (v.name !== 'unmetered') (g.fuel.get(v.name) ?? g.fuel.set(v.name, new Set()).get(v.name)).add(s.fuel);
      }
  for (const g of ready) {
    const base = median(g.samples.get('unmetered'));
    const cbase = median(g.cpu.get('unmetered'));
    console.log(`\n${g.name}: ${g.what}; ${g.bytes.length} bytes; output ${g.out.size === 1 ? 'identical in every run' : 'DIFFERS'}: ${[...g.out][0]}`);
    console.log('variant'.padEnd(14) + 'wall ms'.padStart(9) + 'ratio'.padStart(7) + 'cpu ms'.padStart(9) + 'ratio'.padStart(7) + '  fuel used (every run)');
    for (const v of g.variants) {
      const m = median(g.samples.get(v.name));
      const cm = median(g.cpu.get(v.name));
      const fuel = g.fuel.get(v.name);
      const f = fuel ? (fuel.size === 1 ? [...fuel][0] : `NOT DETERMINISTIC: ${[...fuel].join(', ')}`) : '';
      const extra = v.size ? `  (+${(((v.size - g.bytes.length) / g.bytes.length) * 100).toFixed(1)}% bytes, instrumented in ${v.instrumentMs.toFixed(1)} ms)` : '';
      console.log(v.name.padEnd(14) + m.toFixed(1).padStart(9) + `${(m / base).toFixed(2)}x`.padStart(7) + cm.toFixed(1).padStart(9) + `${(cm / cbase).toFixed(2)}x`.padStart(7) + `  ${f}${extra}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
