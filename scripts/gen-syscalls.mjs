// Generates src/core/seccomp/syscalls.generated.ts, the per-arch syscall tables the seccomp
// compiler uses, from two inputs merged:
//   1. the installed kernel UAPI headers: asm/unistd_64.h for x86_64, and asm-generic/unistd.h
//      (the table arm64 uses) evaluated with arm64's __ARCH_WANT_* switches and
//      __BITS_PER_LONG == 64;
//   2. scripts/syscalls-newer.json: syscalls newer than those headers, with their numbers and
//      the kernel source they come from. Distribution headers lag the kernels bvisor runs on,
//      and a syscall missing from the table is one no rule can name.
// The merge fails if the supplement contradicts a header (a name with another number, or two
// names on one number). `--check` writes nothing and fails when the checked-in file is stale or
// when the installed headers know a syscall the table does not; `npm run gen:check` runs it.
// The logic is exported as functions over text so tests can feed it headers without files.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUT = join(HERE, '..', 'src', 'core', 'seccomp', 'syscalls.generated.ts');
export const SUPPLEMENT = join(HERE, 'syscalls-newer.json');
// Debian's multiarch path. Not /usr/include/asm/unistd_64.h: on an arm64 host with headers
// ≥ 6.11 that file exists too, with arm64's numbers.
export const X86_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
export const GENERIC_HEADER = '/usr/include/asm-generic/unistd.h';
const VERSION_HEADER = '/usr/include/linux/version.h';
export const ARCHES = ['x86_64', 'aarch64'];
const CONST = { x86_64: 'SYSCALLS_X86_64', aarch64: 'SYSCALLS_AARCH64' };
// arch/arm64/include/uapi/asm/unistd.h
const ARM64_WANTS = new Set(['__ARCH_WANT_RENAMEAT', '__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT', '__ARCH_WANT_TIME32_SYSCALLS', '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET']);
// Defined in asm-generic/unistd.h but not syscalls: the table's size, and the first of the 16
// numbers reserved for arch-specific calls (arm64 defines none).
const NOT_SYSCALLS = new Set(['syscalls', 'arch_specific_syscall']);

/** x86_64: every `#define __NR_name N` of asm/unistd_64.h. */
export function parseX86(text) {
  const t = {};
  for (const m of text.matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) t[m[1]] = Number(m[2]);
  if (Object.keys(t).length === 0) throw new Error('no __NR_ definitions in the x86_64 header');
  return t;
}

function evalCond(expr) {
  const js = expr
    .replace(/defined\s*\(\s*(\w+)\s*\)/g, (_, n) => (ARM64_WANTS.has(n) ? '1' : '0'))
    .replace(/__BITS_PER_LONG/g, '64')
    .replace(/\b__\w+\b/g, '0');
  if (!/^[0-9\s|&!=()<>]+$/.test(js)) throw new Error(`cannot evaluate #if ${expr}`);
  return Boolean(Function(`return (${js});`)());
}

/** arm64: asm-generic/unistd.h with arm64's switches, 3264 aliases resolved for 64-bit. */
export function parseGeneric(text) {
  const stack = [];
  const active = () => stack.every((s) => s.on);
  const nums = {};
  const aliases = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m;
    if ((m = /^#ifdef (\w+)/.exec(line))) stack.push({ on: ARM64_WANTS.has(m[1]) });
    else if ((m = /^#ifndef (\w+)/.exec(line))) stack.push({ on: !ARM64_WANTS.has(m[1]) && m[1] !== '__SYSCALL' });
    else if ((m = /^#if (.*)$/.exec(line))) stack.push({ on: evalCond(m[1]) });
    else if (/^#elif/.test(line)) throw new Error(`#elif is not understood: ${line}`);
    else if (/^#else/.test(line)) stack[stack.length - 1].on = !stack[stack.length - 1].on;
    else if (/^#endif/.test(line)) stack.pop();
    else if (active() && (m = /^#define __NR(3264)?_(\w+)\s+(\d+)$/.exec(line))) nums[(m[1] ? '3264_' : '') + m[2]] = Number(m[3]);
    else if (active() && (m = /^#define __NR_(\w+)\s+__NR3264_(\w+)$/.exec(line))) aliases[m[1]] = '3264_' + m[2];
  }
  const t = {};
  for (const [k, v] of Object.entries(nums)) if (!k.startsWith('3264_') && !NOT_SYSCALLS.has(k)) t[k] = v;
  for (const [k, v] of Object.entries(aliases)) if (nums[v] !== undefined) t[k] = nums[v];
  if (Object.keys(t).length === 0) throw new Error('no __NR_ definitions in the generic header');
  return t;
}

/** "6.1.187" from linux/version.h, or null. */
export function headerVersion(text) {
  const f = (n) => new RegExp(`^#define LINUX_VERSION_${n} (\\d+)`, 'm').exec(text)?.[1];
  if (f('MAJOR') !== undefined) return `${f('MAJOR')}.${f('PATCHLEVEL')}.${f('SUBLEVEL')}`;
  const code = /^#define LINUX_VERSION_CODE (\d+)/m.exec(text)?.[1];
  return code === undefined ? null : `${Number(code) >> 16}.${(Number(code) >> 8) & 255}.${Number(code) & 255}`;
}

/** Problems with the supplement itself: shape, unknown arches, a name or number twice in one arch. */
function supplementProblems(supplement) {
  const out = [];
  if (!supplement || typeof supplement.source !== 'string' || !Array.isArray(supplement.syscalls)) return ['scripts/syscalls-newer.json: needs a "source" string and a "syscalls" array'];
  for (const arch of ARCHES) {
    const names = new Map();
    const nrs = new Map();
    for (const e of supplement.syscalls) {
      if (typeof e.name !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(e.name) || !Number.isInteger(e.nr) || e.nr < 0 || e.nr > 4095 || !Array.isArray(e.arches) || e.arches.length === 0 || e.arches.some((a) => !ARCHES.includes(a))) {
        if (arch === ARCHES[0]) out.push(`scripts/syscalls-newer.json: malformed entry ${JSON.stringify(e)}`);
        continue;
      }
      if (!e.arches.includes(arch)) continue;
      if (names.has(e.name)) out.push(`scripts/syscalls-newer.json: ${arch}: ${e.name} is listed twice`);
      if (nrs.has(e.nr)) out.push(`scripts/syscalls-newer.json: ${arch}: ${nrs.get(e.nr)} and ${e.name} both have number ${e.nr}`);
      names.set(e.name, e.nr);
      nrs.set(e.nr, e.name);
    }
  }
  return out;
}

/** The supplement entries that apply to `arch`, as a name → number table. */
export function supplementFor(supplement, arch) {
  return Object.fromEntries(supplement.syscalls.filter((e) => e.arches.includes(arch)).map((e) => [e.name, e.nr]));
}

/**
 * headers ∪ supplement per arch. Contradictions (a supplement name the headers number
 * differently, or a supplement number the headers give another name) are returned, never
 * resolved: the kernel's own table is the truth, and one of the two inputs is wrong.
 */
export function mergeTables(headers, supplement) {
  const problems = supplementProblems(supplement);
  const tables = {};
  if (problems.length) return { tables: null, problems };
  for (const arch of ARCHES) {
    const h = headers[arch];
    const byNr = new Map(Object.entries(h).map(([n, nr]) => [nr, n]));
    const t = { ...h };
    for (const [name, nr] of Object.entries(supplementFor(supplement, arch))) {
      if (h[name] !== undefined && h[name] !== nr) problems.push(`${arch}: scripts/syscalls-newer.json numbers ${name} ${nr}, the installed headers ${h[name]}`);
      else if (byNr.has(nr) && byNr.get(nr) !== name) problems.push(`${arch}: scripts/syscalls-newer.json gives number ${nr} to ${name}, the installed headers to ${byNr.get(nr)}`);
      else t[name] = nr;
    }
    tables[arch] = t;
  }
  return { tables: problems.length ? null : tables, problems };
}

const sorted = (t) => Object.fromEntries(Object.entries(t).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)));
const oneLine = (t) => JSON.stringify(sorted(t)).replace(/,"/g, ', "');

/** Lines of at most `width` characters: `prefix` then `items` joined by `sep`, continued under the prefix's text. */
function wrap(prefix, items, sep = ', ', width = 100) {
  const indent = ' '.repeat(prefix.length - 2);
  const lines = [];
  let cur = prefix;
  for (const it of items) {
    if (cur === prefix) cur += it;
    else if (cur.length + sep.length + it.length > width) {
      lines.push(cur + sep.trimEnd());
      cur = `//${indent}${it}`;
    } else cur += sep + it;
  }
  lines.push(cur);
  return lines.join('\n');
}

/** The generated file's text. `provenance` names the headers, e.g. "6.1.187 (Debian linux-libc-dev 6.1.187-1)". */
export function render(tables, { provenance, supplement }) {
  const added = (arch) => supplement.syscalls.filter((e) => e.arches.includes(arch)).map((e) => `${e.name} ${e.nr}`);
  return `// GENERATED by scripts/gen-syscalls.mjs. Do not edit: change its inputs and run it;
// \`npm run gen:check\` fails when this file is stale or the installed headers know a syscall it
// lacks. The seccomp filter answers ENOSYS above each table's highest number (compile.ts).
// Inputs, merged (the generator fails if they contradict each other):
//   1. kernel UAPI headers ${provenance}:
//        x86_64:  asm/unistd_64.h
//        aarch64: asm-generic/unistd.h with arm64's __ARCH_WANT_* switches, __BITS_PER_LONG == 64
//   2. scripts/syscalls-newer.json, syscalls newer than those headers, from
${wrap('//        ', `${supplement.source}:`.split(' '), ' ')}
${wrap('//        x86_64:  ', added('x86_64'))}
${wrap('//        aarch64: ', added('aarch64'))}
export const ${CONST.x86_64}: Readonly<Record<string, number>> = ${oneLine(tables.x86_64)};
export const ${CONST.aarch64}: Readonly<Record<string, number>> = ${oneLine(tables.aarch64)};
`;
}

/** The tables and the recorded header provenance of a generated file. */
export function parseGenerated(text) {
  const out = {};
  for (const arch of ARCHES) {
    const m = new RegExp(`^export const ${CONST[arch]}: Readonly<Record<string, number>> = (\\{.*\\});$`, 'm').exec(text);
    if (!m) throw new Error(`no ${CONST[arch]} table`);
    out[arch] = JSON.parse(m[1]);
  }
  const prov = /^\/\/ {3}1\. kernel UAPI headers (.*):$/m.exec(text)?.[1] ?? null;
  return { tables: out, provenance: prov };
}

/**
 * The check behind `--check`, over texts: every problem found, [] when the checked-in file is
 * what the generator would write from these headers and this supplement. Fails when
 *   - the headers define a syscall the checked-in table lacks (or numbers it differently),
 *   - the supplement and the table disagree, or contradict the headers,
 *   - the table has a syscall neither input defines,
 *   - or the text differs otherwise (edited by hand).
 * The recorded header version alone differing is not a problem: the tables are what matter.
 */
export function checkTables({ x86Header, genericHeader, supplement, generated }) {
  const problems = [];
  let headers;
  try {
    headers = { x86_64: parseX86(x86Header), aarch64: parseGeneric(genericHeader) };
  } catch (e) {
    return [`cannot read the headers: ${e.message}`];
  }
  const merged = mergeTables(headers, supplement);
  problems.push(...merged.problems);
  let file;
  try {
    file = parseGenerated(generated);
  } catch (e) {
    return [...problems, `cannot read the generated file: ${e.message}`];
  }
  for (const arch of ARCHES) {
    const have = file.tables[arch];
    for (const [name, nr] of Object.entries(headers[arch])) {
      if (have[name] === undefined) problems.push(`${arch}: the installed kernel headers define ${name} (${nr}), the checked-in table does not`);
      else if (have[name] !== nr) problems.push(`${arch}: the installed kernel headers number ${name} ${nr}, the checked-in table ${have[name]}`);
    }
    if (!merged.tables) continue;
    const want = merged.tables[arch];
    for (const [name, nr] of Object.entries(want)) {
      if (headers[arch][name] !== undefined) continue; // reported above
      if (have[name] === undefined) problems.push(`${arch}: scripts/syscalls-newer.json lists ${name} (${nr}), the checked-in table does not`);
      else if (have[name] !== nr) problems.push(`${arch}: scripts/syscalls-newer.json numbers ${name} ${nr}, the checked-in table ${have[name]}`);
    }
    for (const [name, nr] of Object.entries(have)) {
      if (want[name] === undefined) problems.push(`${arch}: the checked-in table has ${name} (${nr}), which neither the installed headers nor scripts/syscalls-newer.json define`);
    }
  }
  if (problems.length === 0 && render(merged.tables, { provenance: file.provenance ?? '?', supplement }) !== generated) {
    problems.push('the generated file differs from what scripts/gen-syscalls.mjs writes (edited by hand?)');
  }
  return problems;
}

function installedProvenance() {
  const v = existsSync(VERSION_HEADER) ? headerVersion(readFileSync(VERSION_HEADER, 'utf8')) : null;
  let pkg = null;
  try {
    pkg = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'linux-libc-dev'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
  } catch {
    // not a Debian host: the version header names the headers well enough
  }
  return `${v ?? 'of unknown version'}${pkg ? ` (Debian linux-libc-dev ${pkg})` : ''}`;
}

function readInputs() {
  for (const p of [X86_HEADER, GENERIC_HEADER]) {
    if (!existsSync(p)) throw new Error(`${p} is missing: install the kernel UAPI headers (Debian: linux-libc-dev:amd64)`);
  }
  return { x86Header: readFileSync(X86_HEADER, 'utf8'), genericHeader: readFileSync(GENERIC_HEADER, 'utf8'), supplement: JSON.parse(readFileSync(SUPPLEMENT, 'utf8')) };
}

function main(argv) {
  const inputs = readInputs();
  const provenance = installedProvenance();
  if (argv.includes('--check')) {
    const generated = readFileSync(OUT, 'utf8');
    const problems = checkTables({ ...inputs, generated });
    if (problems.length) {
      console.error(`gen-syscalls --check: ${OUT} is stale:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix scripts/syscalls-newer.json if it is wrong, then run: node scripts/gen-syscalls.mjs`);
      process.exit(1);
    }
    const recorded = parseGenerated(generated).provenance;
    if (recorded !== provenance) console.log(`gen-syscalls --check: tables up to date (generated from headers ${recorded}; installed: ${provenance})`);
    else console.log('gen-syscalls --check: up to date');
    return;
  }
  const merged = mergeTables({ x86_64: parseX86(inputs.x86Header), aarch64: parseGeneric(inputs.genericHeader) }, inputs.supplement);
  if (merged.problems.length) {
    console.error(`gen-syscalls: the inputs contradict each other:\n${merged.problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exit(1);
  }
  writeFileSync(OUT, render(merged.tables, { provenance, supplement: inputs.supplement }));
  console.log(`written ${OUT} (headers ${provenance} + ${inputs.supplement.syscalls.length} newer syscalls)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
