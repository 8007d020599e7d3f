// Input the kernel cannot take is refused when the manifest is read, with a located, coded issue,
// never later as a launch failure or an uncoded error: NUL bytes in argv/env strings, strings
// longer than execve(2) passes (MAX_ARG_STRLEN, include/uapi/linux/binfmts.h), control
// characters in paths, bad environment names, nesting deeper than the parser's stack. Also the
// two other places where outside input reaches a string the kernel takes: secret values and the
// hostname derived from a container id (HOST_NAME_MAX). Then a property over mutated good
// fixtures: whatever the mutation, the reader answers with a registered issue code and a
// location, or accepts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/core/manifest.js';
import { resolveEnv } from '../../src/core/secrets.js';
import { idProblem, hostnameFor } from '../../src/core/ids.js';
import { BvisorError, ISSUE_CODES, type Issue } from '../../src/contract/errors.js';

// From the kernel's headers, not from the code under test: MAX_ARG_STRLEN is 32 pages of 4 KiB
// and counts the terminating NUL; HOST_NAME_MAX is 64.
const MAX_ARG_STRLEN = 32 * 4096;
const HOST_NAME_MAX = 64;

const GOOD = join(__dirname, '..', 'fixtures', 'boundary', 'good');

/** The issues of a refused manifest (fails the test if it was accepted or threw anything else). */
function issuesOf(text: string): Issue[] {
  let err: unknown = null;
  try {
    loadManifest(text, 'b/boundary.yaml');
  } catch (e) {
    err = e;
  }
  expect(err, 'the manifest must be refused').toBeInstanceOf(BvisorError);
  expect((err as BvisorError).code).toBe('BV_MANIFEST_INVALID');
  return (err as BvisorError).issues;
}

const proc = (fields: string): string => `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/echo${fields} }\n`;

describe('strings the kernel cannot pass are refused where they are written', () => {
  it('a NUL in an argument: BV_MANIFEST_STRING at its line and column', () => {
    const issues = issuesOf(proc(', args: [ok, "a\\0b"]'));
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_MANIFEST_STRING', clause: 'workload.process.args[1]', file: 'b/boundary.yaml', line: 3, col: 45 })]);
    expect(issues[0]!.message).toMatch(/argument 2 contains a NUL byte/);
  });

  it('a NUL in a wasm argument too (WASI hands arguments over NUL-terminated)', () => {
    const issues = issuesOf('bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm, args: ["\\0"] }\n');
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_MANIFEST_STRING', clause: 'workload.wasm.args[0]', line: 3, col: 34 })]);
  });

  it('a NUL in an environment value, named by its variable, the value not echoed', () => {
    const issues = issuesOf(proc('') + 'env: { A: "sec\\0ret" }\n');
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_MANIFEST_STRING', clause: 'env.A', line: 4, col: 11 })]);
    expect(issues[0]!.message).not.toContain('sec');
  });

  it('a NUL (or any bad character) in an environment name: one issue per name, on the key', () => {
    const issues = issuesOf(proc('') + 'env: { "A\\0B": x, "1X": y, OK: z }\n');
    expect(issues.map((i) => [i.code, i.clause, i.line, i.col])).toEqual([
      ['BV_SCHEMA', 'env.A\0B', 4, 8],
      ['BV_SCHEMA', 'env.1X', 4, 19],
    ]);
    expect(issues[0]!.hint).toMatch(/letter or _/);
  });

  it('control characters in exe and cwd are named as such', () => {
    const issues = issuesOf('bvisorVersion: "1"\nworkload:\n  process: { exe: "/usr/bin/e\\0cho", cwd: "/tmp\\n" }\n');
    expect(issues.map((i) => [i.code, i.clause])).toEqual([
      ['BV_MANIFEST_PATH', 'workload.process.exe'],
      ['BV_MANIFEST_PATH', 'workload.process.cwd'],
    ]);
    expect(issues.every((i) => /control character/.test(i.message))).toBe(true);
  });

  it('an argument of MAX_ARG_STRLEN bytes or more in UTF-8 is refused for a process (the schema counts characters)', () => {
    const fits = 'é'.repeat((MAX_ARG_STRLEN - 2) / 2); // 131070 bytes + NUL
    const over = 'é'.repeat(MAX_ARG_STRLEN / 2); // 131072 bytes + NUL
    expect(() => loadManifest(proc(`, args: ["${fits}"]`), 'f')).not.toThrow();
    expect(issuesOf(proc(`, args: ["${over}"]`))).toEqual([expect.objectContaining({ code: 'BV_MANIFEST_STRING', clause: 'workload.process.args[0]' })]);
    // "NAME=value" is what the kernel copies for the environment.
    expect(issuesOf(proc('') + `env: { AB: "${'x'.repeat(MAX_ARG_STRLEN - 3)}" }\n`)).toEqual([expect.objectContaining({ code: 'BV_MANIFEST_STRING', clause: 'env.AB' })]);
    expect(() => loadManifest(proc('') + `env: { AB: "${'x'.repeat(MAX_ARG_STRLEN - 4)}" }\n`, 'f')).not.toThrow();
    // A wasm module gets its arguments from the runner, not from execve.
    expect(() => loadManifest(`bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm, args: ["${over}"] }\n`, 'f')).not.toThrow();
  });

  it('nesting deeper than the parser can walk is a syntax issue, not a crash', () => {
    for (const depth of [1000, 20_000]) {
      const issues = issuesOf(`bvisorVersion: "1"\nworkload: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
      expect(issues[0]).toMatchObject({ code: 'BV_YAML_SYNTAX', message: 'the document is nested too deeply to read' });
    }
  });
});

describe('secret values', () => {
  const env = [
    { name: 'PLAIN', value: 'x' },
    { name: 'TOKEN', secret: 'api-token' },
  ];

  it('a secret value the workload would not get as given (U+FFFD where bytes were not UTF-8, a lone surrogate) is refused, never echoed', () => {
    for (const v of ['p\ufffdss-word', 'pa\ud800ss', 'pa\udc00ss', 'x\udc00\ud800y']) {
      let err: unknown;
      try {
        resolveEnv(env, () => v);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(v)).toMatchObject({ code: 'BV_SECRET_INVALID', message: expect.stringMatching(/^env\.TOKEN: the value of secret "api-token" is not UTF-8 text/) });
      expect((err as BvisorError).message).not.toContain(v);
    }
    // A whole surrogate pair is text (an astral character): taken as it is.
    expect(resolveEnv(env, () => 'p\ud83d\ude00ss')).toEqual([{ name: 'PLAIN', value: 'x' }, { name: 'TOKEN', value: 'p\u{1F600}ss' }]);
  });

  it('a secret value holding NUL is refused, naming the variable and the secret but never the value', () => {
    let err: unknown;
    try {
      resolveEnv(env, () => 'hunter2\0tail');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BvisorError);
    const be = err as BvisorError;
    expect(be.code).toBe('BV_SECRET_INVALID');
    expect(be.message).toMatch(/env\.TOKEN/);
    expect(be.message).toMatch(/api-token/);
    for (const text of [be.message, be.hint ?? '', JSON.stringify(be.detail)]) {
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('tail');
    }
  });

  it('a missing secret is still BV_SECRET_MISSING; a good one passes through', () => {
    expect(() => resolveEnv(env, () => undefined)).toThrowError(expect.objectContaining({ code: 'BV_SECRET_MISSING' }));
    expect(resolveEnv(env, () => 's3cret')).toEqual([
      { name: 'PLAIN', value: 'x' },
      { name: 'TOKEN', value: 's3cret' },
    ]);
  });
});

describe('container ids and the hostname of their uts namespace', () => {
  const idChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-');
  const validId = fc.string({ unit: idChars, minLength: 1, maxLength: 128 }).filter((id) => idProblem(id) === null);

  it('ids of up to 128 characters are accepted, as runc users expect (engines use 64-hex ids and longer names)', () => {
    expect(idProblem('a'.repeat(128))).toBeNull();
    expect(idProblem('a'.repeat(129))).not.toBeNull();
    expect(idProblem('')).not.toBeNull();
    expect(idProblem('a\0b')).not.toBeNull();
    expect(idProblem('..')).not.toBeNull();
  });

  it('every valid id gets a hostname of 1..64 bytes; one that fits is its own hostname', () => {
    fc.assert(
      fc.property(validId, (id) => {
        const h = hostnameFor(id);
        const bytes = new TextEncoder().encode(h).length;
        return bytes >= 1 && bytes <= HOST_NAME_MAX && (id.length > HOST_NAME_MAX || h === id) && !h.includes('\0');
      }),
    );
  });

  it('long ids that share their first 64 characters still get different hostnames, stably', () => {
    const base = 'build-' + 'x'.repeat(70);
    const a = hostnameFor(`${base}-1`);
    const b = hostnameFor(`${base}-2`);
    expect(a).not.toBe(b);
    expect(a).toBe(hostnameFor(`${base}-1`));
    expect(a.startsWith(base.slice(0, 55))).toBe(true);
    expect(a).toHaveLength(HOST_NAME_MAX);
  });
});

// ------------------------------------------------------------------------------------------
// Property: mutated good fixtures are either accepted or refused with registered, located issues.

const goodFixtures = readdirSync(GOOD).map((f) => readFileSync(join(GOOD, f), 'utf8'));

/** A value that is wrong in some way for nearly any clause. */
const weird = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, Number.MAX_SAFE_INTEGER, '', 'a\0b', '\u001b[2J', '../..', '/', '//x/./y', '9'.repeat(400), 'é'.repeat(70_000)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
  fc.integer({ min: 1, max: 400 }).map((d) => {
    let v: unknown = 'x';
    for (let i = 0; i < d; i++) v = [v];
    return v;
  }),
);

type Mutation = { kind: 'drop' | 'set' | 'add'; pick: number; key: string; value: unknown } | { kind: 'text'; at: number; insert: string } | { kind: 'cut'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('drop' as const, 'set' as const, 'add' as const), pick: fc.nat(), key: fc.string({ unit: 'binary', maxLength: 10 }), value: weird }),
  fc.record({ kind: fc.constant('text' as const), at: fc.nat(), insert: fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('\0', '\t', '\r', '\n  - ', ': ', '&a ', '*a', '!!str ', '---\n', '{', '"', '\ufeff')) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
);

/** Every (container, key) in a parsed document, depth-first. */
function slots(v: unknown, out: Array<[Record<string, unknown> | unknown[], string | number]> = []): Array<[Record<string, unknown> | unknown[], string | number]> {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([v as Record<string, unknown>, k]), slots(x, out);
  return out;
}

function mutate(text: string, muts: Mutation[]): string {
  let doc: unknown = parse(text);
  let out = text;
  for (const m of muts) {
    if (m.kind === 'text' || m.kind === 'cut') {
      const at = m.at % (out.length + 1);
      out = m.kind === 'text' ? out.slice(0, at) + m.insert + out.slice(at) : out.slice(0, at);
      continue;
    }
    const all = slots(doc);
    const [holder, key] = all.length ? all[m.pick % all.length]! : [doc as Record<string, unknown>, ''];
    if (m.kind === 'drop') {
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete holder[key as string];
    } else if (m.kind === 'set') (holder as Record<string | number, unknown>)[key] = m.value;
    else if (!Array.isArray(holder)) holder[m.key] = m.value;
    out = stringify(doc);
    doc = parse(out);
  }
  return out;
}

describe('mutated manifests', () => {
  it('are accepted, or refused with registered issue codes and a file:line:col each', () => {
    fc.assert(
      fc.property(fc.constantFrom(...goodFixtures), fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, muts) => {
        let source: string;
        try {
          source = mutate(text, muts);
        } catch {
          return true; // the mutation itself made unreadable YAML for the generator: nothing to test
        }
        try {
          loadManifest(source, 'b/boundary.yaml');
          return true;
        } catch (e) {
          if (!(e instanceof BvisorError)) throw new Error(`not a BvisorError: ${(e as Error).stack}`);
          expect(e.code).toBe('BV_MANIFEST_INVALID');
          expect(e.issues.length).toBeGreaterThan(0);
          for (const i of e.issues) {
            expect(Object.keys(ISSUE_CODES)).toContain(i.code);
            expect(i.file).toBe('b/boundary.yaml');
            expect(i.line).toBeGreaterThanOrEqual(1);
            expect(i.col).toBeGreaterThanOrEqual(1);
          }
          return true;
        }
      }),
      { numRuns: 400 },
    );
  });
});
