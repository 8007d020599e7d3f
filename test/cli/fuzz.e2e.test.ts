// Property tests of the CLI over hostile input: random ids (empty to 300 characters, any
// unicode, control characters), random flag combinations of validate, plan, state, delete and
// spec (global flags before or after the command, broken state roots, bundle paths that are
// files, links, archives or nothing), and mutated manifests (keys dropped, types swapped, NUL
// and control characters, huge numbers, deep nesting), each run through the real bin/ with a
// state root, TMPDIR and cwd of its own. Whatever the input:
//   - the exit code is one of docs/exit-codes.md's;
//   - a failure carries a registered code other than BV_INTERNAL, on stderr or in --json, whose
//     exit code is the process's;
//   - no stack trace ("    at " lines) is printed;
//   - nothing is left behind: no new entry in the state root (plan may make the root and its
//     wasm cache, as it always does), nothing in TMPDIR or the cwd, and no write through a
//     symlink.
// NUL cannot be passed in argv at all (execve ends each string there); NUL in manifests is
// covered here, NUL in ids in test/core/manifest-input.test.ts. Runs are bounded (56 processes)
// and the two properties run concurrently.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { writeTar } from '../helpers/rawtar.js';
import { ERROR_CODES } from '../../src/contract/errors.js';

// The documented exit codes, read from the table people read (not from the code under test).
const EXITS = new Set(
  [...readFileSync(join(ROOT, 'docs', 'exit-codes.md'), 'utf8').split('## `bvisor run`')[0]!.matchAll(/^\| (\d+) \| \w+ \|/gm)].map((m) => Number(m[1])),
);
const GOOD = join(ROOT, 'test', 'fixtures', 'boundary', 'good');
// Another build's bin/run.js, to show once that these properties fail on the faults they target.
const UNDER_TEST = process.env.BVISOR_FUZZ_BIN ?? BIN;
const goodFixtures = readdirSync(GOOD).map((f) => readFileSync(join(GOOD, f), 'utf8'));

let T = '';
let seq = 0;
beforeAll(() => {
  T = mkdtempSync(join(tmpdir(), 'bvisor-fuzz-'));
  for (const d of ['bundles', 'cases']) mkdirSync(join(T, d));
  cpSync(join(ROOT, 'bundles', 'hello'), join(T, 'bundles', 'hello'), { recursive: true });
  mkdirSync(join(T, 'bundles', 'empty'));
  goodFixtures.forEach((text, i) => {
    mkdirSync(join(T, 'bundles', `good${i}`));
    writeFileSync(join(T, 'bundles', `good${i}`, 'boundary.yaml'), text);
  });
  writeTar(join(T, 'bundles', 'hello.tar.gz'), [{ name: 'boundary.yaml', data: readFileSync(join(ROOT, 'bundles', 'hello', 'boundary.yaml'), 'utf8') }], true);
  writeTar(join(T, 'bundles', 'evil.tar'), [{ name: 'boundary.yaml', data: goodFixtures[0]! }, { name: 'x', type: '2', link: '/etc/shadow' }]);
  writeFileSync(join(T, 'victim'), 'precious\n');
});
afterAll(() => {
  if (T) rmSync(T, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------
// One case: its own root, TMPDIR, cwd and spec target; a snapshot before and after.

type RootKind = 'fresh' | 'missing' | 'file' | 'dangling' | 'containers-file' | 'broken-entry';
type SpecKind = 'fresh' | 'existing' | 'link' | 'dangling' | 'fifo' | 'dir' | 'is-a-file';

interface Sandbox {
  dir: string;
  root: string;
  tmp: string;
  cwd: string;
  spec: string;
}

function sandbox(rootKind: RootKind, specKind: SpecKind): Sandbox {
  const dir = join(T, 'cases', String(seq++));
  const s: Sandbox = { dir, root: join(dir, 'root'), tmp: join(dir, 'tmp'), cwd: join(dir, 'cwd'), spec: join(dir, 'spec') };
  for (const d of [dir, s.tmp, s.cwd, s.spec]) mkdirSync(d);
  const r = s.root;
  if (rootKind === 'fresh') mkdirSync(join(r, 'wasm-cache'), { recursive: true });
  else if (rootKind === 'file') writeFileSync(r, 'not a directory\n');
  else if (rootKind === 'dangling') symlinkSync(join(dir, 'nowhere'), r);
  else if (rootKind === 'containers-file') {
    mkdirSync(join(r, 'wasm-cache'), { recursive: true });
    writeFileSync(join(r, 'containers'), '');
  } else if (rootKind === 'broken-entry') {
    mkdirSync(join(r, 'wasm-cache'), { recursive: true });
    mkdirSync(join(r, 'containers', 'abc'), { recursive: true });
    writeFileSync(join(r, 'containers', 'abc', 'state.json'), '{"garbage":');
  }
  const target = join(s.spec, 'boundary.yaml');
  if (specKind === 'existing') writeFileSync(target, 'old\n');
  else if (specKind === 'link') symlinkSync(join(T, 'victim'), target);
  else if (specKind === 'dangling') symlinkSync(join(dir, 'created-through-link'), target);
  else if (specKind === 'fifo') spawnSync('mkfifo', [target]); // node:fs cannot make a FIFO
  else if (specKind === 'dir') mkdirSync(target);
  else if (specKind === 'is-a-file') {
    rmSync(s.spec, { recursive: true });
    writeFileSync(s.spec, 'a file where the bundle dir should be\n');
  }
  return s;
}

/** Every path under p (p itself included, as ''), with its kind; nothing followed. */
function snapshot(p: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    let st;
    try {
      st = lstatSync(rel ? join(p, rel) : p);
    } catch {
      return;
    }
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? `file:${st.size}` : 'other';
    out.set(rel, kind);
    if (st.isDirectory()) for (const n of readdirSync(join(p, rel))) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], s: Sandbox): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TMPDIR: s.tmp, HOME: s.dir, XDG_RUNTIME_DIR: join(s.dir, 'xdg') };
    const child = spawn(process.execPath, [UNDER_TEST, ...args], { cwd: s.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The checks every run must pass, whatever it was asked. */
function expectClean(args: string[], r: Ran, s: Sandbox, before: Map<string, string>, allowNew: (p: string) => boolean): void {
  const what = `bvisor ${JSON.stringify(args)}\nexit ${r.status}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;
  expect(EXITS.has(r.status ?? -1), `undocumented exit code\n${what}`).toBe(true);
  expect(/^ {4}at /m.test(r.stdout + r.stderr), `stack trace printed\n${what}`).toBe(false);
  if (r.status !== 0) {
    const json = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined).includes('--json');
    let code: string | undefined;
    if (json) {
      const out = JSON.parse(r.stdout) as { error?: { code: string; exit: number }; admitted?: boolean };
      if (r.status === 3 && out.admitted === false) code = 'BV_PLAN_REFUSED';
      else {
        code = out.error?.code;
        expect(out.error?.exit, what).toBe(r.status);
      }
    } else code = /^bvisor: error (BV_[A-Z0-9_]+): /m.exec(r.stderr)?.[1]; // --debug logs come first
    expect(code, `no coded error\n${what}`).toBeDefined();
    expect(Object.keys(ERROR_CODES), what).toContain(code);
    expect(code, what).not.toBe('BV_INTERNAL');
    expect(ERROR_CODES[code as keyof typeof ERROR_CODES].exit, what).toBe(r.status);
  }
  const after = snapshot(s.root);
  const added = [...after.keys()].filter((p) => !before.has(p) && !allowNew(p));
  expect(added, `new entries in the state root\n${what}`).toEqual([]);
  expect(readdirSync(s.tmp), `left in TMPDIR\n${what}`).toEqual([]);
  expect(readdirSync(s.cwd), `left in the cwd\n${what}`).toEqual([]);
  expect(readFileSync(join(T, 'victim'), 'utf8'), `written through a symlink\n${what}`).toBe('precious\n');
  expect(readdirSync(s.dir).filter((n) => n === 'created-through-link'), `written through a dangling symlink\n${what}`).toEqual([]);
}

// ------------------------------------------------------------------------------------------
// Generators

const idChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-');
// argv cannot carry NUL: the OS (and Node's spawn) refuse it before bvisor could.
const noNul = (s: string): string => s.replace(/\0/g, '');
const id = fc.oneof(
  fc.string({ unit: idChars, minLength: 0, maxLength: 300 }),
  fc.string({ unit: 'binary', minLength: 0, maxLength: 300 }).map(noNul),
  fc.string({ unit: fc.constantFrom('\u0001', '\u001b', '\n', '\r', '\t', '\u007f', 'é', '\u202e', '\ud83d\ude00', '/', '.', ' '), maxLength: 20 }),
  fc.constantFrom('abc', '.', '..', '-', '--json', '-f', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(128), 'a'.repeat(129), 'x/../y', '/etc/passwd'),
);
/** A bundle argument, made once the case's sandbox exists. */
const bundleArg: fc.Arbitrary<(s: Sandbox) => string> = fc.oneof(
  fc.constantFrom('hello', 'empty', 'good0', 'good1', 'good2', 'good3', 'hello.tar.gz', 'evil.tar').map((n) => () => join(T, 'bundles', n)),
  fc.constantFrom(
    () => join(T, 'victim'),
    () => join(T, 'nonexistent'),
    () => join(T, 'nonexistent.tar.gz'),
    () => '',
    () => '/dev/null',
    () => '/proc/self/fd/0',
    (s: Sandbox) => s.root,
  ),
  fc.string({ unit: 'binary', maxLength: 60 }).map((x) => () => noNul(x)),
);

interface CliCase {
  cmd: 'validate' | 'plan' | 'state' | 'delete' | 'spec';
  rootKind: RootKind;
  specKind: SpecKind;
  globalsFirst: boolean;
  debug: boolean;
  json: boolean;
  logFormat: string | null;
  log: boolean;
  junk: string | null;
  id: string;
  force: boolean;
  wasm: boolean;
  secrets: string[];
  preserveFds: number | null;
  cgroupParent: string | null;
  bundle: (s: Sandbox) => string;
}

const cliCase: fc.Arbitrary<CliCase> = fc.record({
  cmd: fc.constantFrom('validate' as const, 'plan' as const, 'state' as const, 'delete' as const, 'spec' as const),
  rootKind: fc.constantFrom<RootKind>('fresh', 'fresh', 'missing', 'file', 'dangling', 'containers-file', 'broken-entry'),
  specKind: fc.constantFrom<SpecKind>('fresh', 'existing', 'link', 'dangling', 'fifo', 'dir', 'is-a-file'),
  globalsFirst: fc.boolean(),
  debug: fc.boolean(),
  json: fc.boolean(),
  logFormat: fc.option(fc.constantFrom('text', 'json', 'yaml', '')),
  log: fc.boolean(),
  junk: fc.option(fc.constantFrom('--no-such-flag', '-z', '--json=yes', '--force=no', '--', 'extra-arg')),
  id,
  force: fc.boolean(),
  wasm: fc.boolean(),
  secrets: fc.array(fc.oneof(fc.constantFrom('api-token', 'A', '', 'x'.repeat(70)), fc.string({ maxLength: 8 }).map(noNul)), { maxLength: 2 }),
  preserveFds: fc.option(fc.oneof(fc.integer({ min: -1, max: 3 }), fc.constant(2000))),
  cgroupParent: fc.option(fc.constantFrom('../../..', 'bvisor-fuzz', '', '/sys/fs/cgroup/x')),
  bundle: bundleArg,
});

function argsOf(c: CliCase, s: Sandbox): string[] {
  const globals = ['--root', s.root];
  if (c.debug) globals.push('--debug');
  if (c.logFormat !== null) globals.push('--log-format', c.logFormat);
  if (c.log) globals.push('--log', join(s.dir, 'bv.log'));
  if (c.cgroupParent !== null && c.cmd === 'plan') globals.push('--cgroup-parent', c.cgroupParent);
  const own: string[] = [];
  if (c.cmd === 'validate' || c.cmd === 'plan') own.push(c.bundle(s));
  if (c.cmd === 'plan') {
    for (const x of c.secrets) own.push('--secret', x);
    if (c.preserveFds !== null) own.push('--preserve-fds', String(c.preserveFds));
  }
  if (c.cmd === 'state' || c.cmd === 'delete') own.push(c.id);
  if (c.cmd === 'delete' && c.force) own.push('-f');
  if (c.cmd === 'spec') {
    own.push('-b', s.spec);
    if (c.force) own.push('--force');
    if (c.wasm) own.push('--wasm');
  }
  if (c.json) own.push('--json');
  // After `--` the global flags would be arguments, not flags (and --root could be lost).
  if (c.junk && (c.junk !== '--' || c.globalsFirst)) own.push(c.junk);
  return c.globalsFirst ? [...globals, c.cmd, ...own] : [c.cmd, ...own, ...globals];
}

// Manifest mutations (a smaller set than test/core/manifest-input.test.ts, which runs in-process).
const weird = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, 2 ** 53 + 1, '', 'a\0b', '\u001b[2J', '../..', '//x/./y', '9'.repeat(400)),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer({ min: 1, max: 300 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown),
);
const edit = fc.oneof(
  fc.record({ op: fc.constantFrom('drop' as const, 'set' as const), pick: fc.nat(), value: weird }),
  fc.record({ op: fc.constant('insert' as const), pick: fc.nat(), text: fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('\0', '\t', ': ', '&a ', '*a', '!!binary ', '---\n', '{', '\ufeff')) }),
);

function mutate(text: string, edits: Array<{ op: 'drop' | 'set'; pick: number; value: unknown } | { op: 'insert'; pick: number; text: string }>): string {
  let out = text;
  for (const e of edits) {
    if (e.op === 'insert') {
      const at = e.pick % (out.length + 1);
      out = out.slice(0, at) + e.text + out.slice(at);
      continue;
    }
    let doc: unknown;
    try {
      doc = parse(out);
    } catch {
      continue;
    }
    const slots: Array<[Record<string | number, unknown>, string | number]> = [];
    const walk = (v: unknown): void => {
      if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) slots.push([v as Record<string, unknown>, Array.isArray(v) ? Number(k) : k]), walk(x);
    };
    walk(doc);
    if (!slots.length) continue;
    const [holder, key] = slots[e.pick % slots.length]!;
    if (e.op === 'drop') delete holder[key];
    else holder[key] = e.value;
    out = stringify(doc);
  }
  return out;
}

// ------------------------------------------------------------------------------------------

describe.concurrent('bvisor under hostile input', () => {
  it('random commands, flags, ids, roots and bundle paths: documented exit, coded error, no trace, nothing left', async () => {
    await fc.assert(
      fc.asyncProperty(cliCase, async (c) => {
        const s = sandbox(c.rootKind, c.specKind);
        const args = argsOf(c, s);
        const before = snapshot(s.root);
        const r = await run(args, s);
        // plan makes the state root and its wasm cache before planning, as every launch would.
        // A command on an entry takes the entry's lock, made on first use: an existing entry
        // (the broken one here) may be left with its empty lock file, never a new entry.
        const allowNew = (p: string): boolean => (c.cmd === 'plan' && c.rootKind === 'missing' && (p === '' || p === 'wasm-cache')) || (/^containers\/[^/]+\/lock$/.test(p) && before.has(p.slice(0, -'/lock'.length)));
        expectClean(args, r, s, before, allowNew);
        if (c.cmd === 'spec' && r.status === 0) expect(lstatSync(join(s.spec, 'boundary.yaml')).isFile()).toBe(true);
        rmSync(s.dir, { recursive: true, force: true });
      }),
      { numRuns: 40 },
    );
  }, 300_000);

  it('mutated manifests through validate and plan (as a directory and as a .tar.gz): the same guarantees, issues located', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...goodFixtures), fc.array(edit, { minLength: 1, maxLength: 3 }), fc.constantFrom('validate', 'plan'), fc.boolean(), fc.boolean(), async (text, edits, cmd, asTar, json) => {
        const s = sandbox('fresh', 'fresh');
        const manifest = mutate(text, edits);
        const b = join(s.dir, 'bundle');
        mkdirSync(b);
        writeFileSync(join(b, 'boundary.yaml'), manifest);
        let target = b;
        if (asTar) {
          target = join(s.dir, 'bundle.tar.gz');
          writeTar(target, [{ name: 'boundary.yaml', data: manifest }], true);
        }
        const args = ['--root', s.root, cmd, target, ...(json ? ['--json'] : [])];
        const before = snapshot(s.root);
        const r = await run(args, s);
        expectClean(args, r, s, before, () => false);
        if (json && r.status === 5) {
          const e = JSON.parse(r.stdout).error as { code: string; issues?: Array<{ file: string | null; line: number | null; col: number | null }> };
          if (e.code === 'BV_MANIFEST_INVALID' && e.issues) {
            for (const i of e.issues) {
              expect(i.file, r.stdout).toMatch(/boundary\.yaml$/);
              expect(i.line, r.stdout).toBeGreaterThanOrEqual(1);
              expect(i.col, r.stdout).toBeGreaterThanOrEqual(1);
            }
          }
        }
        rmSync(s.dir, { recursive: true, force: true });
      }),
      { numRuns: 16 },
    );
  }, 300_000);
});
