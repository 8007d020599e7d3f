// How a manifest that does not match schemas/boundary.schema.json is explained
// (src/core/manifest.ts schemaIssues): one BV_SCHEMA issue per problem, on the clause it is
// about and, for a key that should not be there, on the key itself; what was expected in the
// schema's own words (its enum values, its const, its titles and descriptions); an anyOf
// failure once, not once per branch. The expectations are read from the schema file, the
// contract users write against, not from the code.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/core/manifest.js';
import { BvisorError, type Issue } from '../../src/contract/errors.js';

const schema = JSON.parse(readFileSync(join(__dirname, '..', '..', 'schemas', 'boundary.schema.json'), 'utf8')) as {
  properties: Record<string, { description?: string }>;
  $defs: Record<string, { title?: string; description?: string; enum?: string[]; properties?: Record<string, { description?: string }> }>;
};

function issuesOf(text: string): Issue[] {
  try {
    loadManifest(text, 'b/boundary.yaml');
  } catch (e) {
    if (!(e instanceof BvisorError)) throw e;
    expect(e.code).toBe('BV_MANIFEST_INVALID');
    return e.issues;
  }
  throw new Error('the manifest was accepted');
}

const HEAD = 'bvisorVersion: "1"\n';
const PROC = HEAD + 'workload:\n  process: { exe: /usr/bin/true }\n';

describe('schema issues say what the schema expected', () => {
  it('an unknown key: on the key, naming it, with the keys allowed there', () => {
    const issues = issuesOf(PROC + 'netwrk: deny\n');
    expect(issues).toEqual([{ code: 'BV_SCHEMA', clause: 'netwrk', message: 'unknown key "netwrk"', hint: `did you mean "network"? allowed here: ${Object.keys(schema.properties).join(', ')}`, file: 'b/boundary.yaml', line: 4, col: 1 }]);
  });

  it('a typo names the key it most likely meant (two edits at most); a name far from every key, none', () => {
    const hint = (key: string): string => issuesOf(PROC + `${key}: x\n`)[0]!.hint!;
    expect(hint('netwrok')).toMatch(/^did you mean "network"\? allowed here: /);
    expect(hint('Limits')).toMatch(/^did you mean "limits"\? /);
    expect(hint('spwan')).toMatch(/^did you mean "spawn"\? /);
    expect(hint('colour')).toMatch(/^allowed here: /);
    expect(hint('xyzzy')).toMatch(/^allowed here: /);
  });

  it('an unknown key inside a clause lists that clause’s keys', () => {
    const [i] = issuesOf(PROC + 'outputs: { path: /out, sise: 1Mi }\n');
    expect(i).toMatchObject({ clause: 'outputs.sise', message: 'unknown key "sise"', hint: `did you mean "size"? allowed here: ${Object.keys(schema.$defs.Outputs!.properties!).join(', ')}`, line: 4, col: 24 });
  });

  it('an unknown key in a list item lists the item’s keys', () => {
    const issues = issuesOf(PROC + 'filesystem:\n  - { path: /usr, acess: read }\n');
    expect(issues.map((i) => i.message)).toEqual(['missing required key "access"', 'unknown key "acess"']);
    expect(issues[1]).toMatchObject({ clause: 'filesystem[0].acess', message: 'unknown key "acess"', hint: `did you mean "access"? allowed here: ${Object.keys(schema.$defs.FilesystemGrant!.properties!).join(', ')}`, line: 5, col: 19 });
  });

  it('a missing required key is named', () => {
    expect(issuesOf(HEAD + 'filesystem: []\n')).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', clause: '', message: 'missing required key "workload"' })]);
    expect(issuesOf(PROC + 'filesystem:\n  - { path: /usr }\n')).toEqual([expect.objectContaining({ clause: 'filesystem[0]', message: 'missing required key "access"' })]);
  });

  it('a value outside an enum lists every allowed value', () => {
    const [i] = issuesOf(PROC + 'filesystem:\n  - { path: /usr, access: rw }\n');
    expect(i).toMatchObject({ code: 'BV_SCHEMA', clause: 'filesystem[0].access', message: `must be one of: ${schema.$defs.Access!.enum!.map((v) => JSON.stringify(v)).join(', ')}` });
  });

  it('a constant names the value it must be', () => {
    expect(issuesOf('bvisorVersion: "2"\nworkload:\n  process: { exe: /usr/bin/true }\n')).toEqual([expect.objectContaining({ clause: 'bvisorVersion', message: 'must be "1"', line: 1, col: 16 })]);
  });

  it('a value none of a clause’s forms accepts: once, by the clause’s title in words, with its description as the hint', () => {
    const issues = issuesOf(PROC + 'network: 5\n');
    expect(issues).toEqual([{ code: 'BV_SCHEMA', clause: 'network', message: 'is not a valid network', hint: schema.$defs.Network!.description!, file: 'b/boundary.yaml', line: 4, col: 10 }]);
    const spawn = issuesOf(PROC + 'spawn: forks\n');
    expect(spawn).toEqual([expect.objectContaining({ clause: 'spawn', message: 'is not a valid spawn', hint: schema.$defs.Spawn!.description! })]);
  });

  // docker run(1): "-m, --memory ... Units: b, k, m, g" are powers of 1024; the schema's Size
  // reads "64M" as 10^6 bytes each (as Kubernetes), so a lower-case letter is offered as Mi first.
  it('a size or duration written in another tool\'s units names the form this grammar takes, at its place', () => {
    const limit = (line: string): Issue => issuesOf(PROC + `limits:\n  ${line}\n`)[0]!;
    const size = (v: string): string => limit(`memory: ${v}`).hint!.replace(/\?.*$/, '?');
    expect(limit('memory: 64m')).toMatchObject({ clause: 'limits.memory', message: 'is not a valid size limit', line: 5, col: 11 });
    expect(size('64m')).toBe('did you mean 64Mi (64 × 1024² bytes) or 64M (64 × 1000² bytes)?');
    expect(size('1g')).toBe('did you mean 1Gi (1 × 1024³ bytes) or 1G (1 × 1000³ bytes)?');
    expect(size('64MB')).toBe('did you mean 64M (64 × 1000² bytes) or 64Mi (64 × 1024² bytes)?');
    expect(size('64 MiB')).toBe('did you mean 64Mi (64 × 1024² bytes)?');
    expect(size('{ value: 2gb }')).toBe('did you mean 2G (2 × 1000³ bytes) or 2Gi (2 × 1024³ bytes)?');
    // The schema's own description follows the suggestion.
    expect(limit('memory: 64m').hint).toContain(schema.$defs.Size!.description!);
    const wall = (v: string): string => limit(`wall: ${v}`).hint!.replace(/\?.*$/, '?');
    expect(wall('10sec')).toBe('did you mean 10s?');
    expect(wall('2 minutes')).toBe('did you mean 2m?');
    expect(wall('30')).toBe('did you mean 30s?'); // timeout(1): a bare number is seconds
    expect(wall('1.5H')).toBe('did you mean 1.5h?');
    // Nothing near: the schema's words alone.
    const d = schema.$defs;
    expect(limit('memory: lots').hint).toBe(`${d.Limits!.properties!.memory!.description} ${d.Size!.description} Or { value: the same, guarantee: ${d.Guarantee!.enum!.join(' | ')} }.`);
    expect(limit('wall: soon').hint).not.toMatch(/did you mean/);
    // A value already right, with something else wrong beside it: no value is offered for it.
    expect(limit('memory: { value: 64Mi, guarantee: strict }').hint).not.toMatch(/did you mean/);
    expect(limit('wall: { value: 10s, guarantee: strict }').hint).not.toMatch(/did you mean/);
  });

  it('a nested anyOf failure is reported on the inner clause only', () => {
    // limits is an object; its wall is a DurationLimit (a Duration or { value, guarantee }).
    const issues = issuesOf(PROC + 'limits: { wall: soon }\n');
    expect(issues).toEqual([expect.objectContaining({ clause: 'limits.wall', message: 'is not a valid duration limit' })]);
    // The hint says what is accepted: the clause, the bare value's form, and the long form with the
    // manifest's guarantee words (each from the schema).
    const d = schema.$defs;
    expect(issues[0]!.hint).toBe(`${d.Limits!.properties!.wall!.description} ${d.Duration!.description} Or { value: the same, guarantee: ${d.Guarantee!.enum!.join(' | ')} }.`);
    const [mem] = issuesOf(PROC + 'limits: { memory: 64MB }\n');
    expect(mem!.hint).toContain(d.Size!.description!);
  });

  it('a bad variable name: once, on the key, with the rule for names', () => {
    const issues = issuesOf(PROC + 'env: { "1X": y }\n');
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', clause: 'env.1X', message: '"1X" is not a valid name here', hint: expect.stringMatching(/^A variable name: a letter or _/), line: 4, col: 8 })]);
  });

  it('keys holding / or ~ are found again from the error’s JSON pointer (RFC 6901: ~1 is /, ~0 is ~)', () => {
    const issues = issuesOf(PROC + 'env: { "a/b": 5, "c~d": 6 }\n');
    expect(issues.filter((i) => i.message === 'is not a valid env value').map((i) => [i.clause, i.line, i.col])).toEqual([
      ['env.a/b', 4, 15],
      ['env.c~d', 4, 25],
    ]);
  });

  it('too many variables: the env clause, with its description', () => {
    const vars = Array.from({ length: 257 }, (_, i) => `V${i}: x`).join(', ');
    const issues = issuesOf(PROC + `env: { ${vars} }\n`);
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', clause: 'env', message: expect.stringMatching(/256/), hint: schema.properties.env!.description })]);
  });

  it('two workloads: the workload clause, with its description (exactly one of process or wasm)', () => {
    const issues = issuesOf(HEAD + 'workload:\n  process: { exe: /usr/bin/true }\n  wasm: { module: m.wasm }\n');
    expect(issues).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', clause: 'workload', hint: schema.$defs.Workload!.description })]);
  });

  it('the same problem found twice on one clause is reported once', () => {
    const issues = issuesOf(PROC + 'filesystem:\n  - { path: /usr, access: read, x: 1, y: 2 }\n');
    expect(issues.map((i) => i.clause)).toEqual(['filesystem[0].x', 'filesystem[0].y']);
  });

  it('a document that is not a mapping: one issue at its start, pointing at bvisor spec', () => {
    expect(issuesOf('- a\n- b\n')).toEqual([{ code: 'BV_SCHEMA', clause: '', message: 'the manifest must be a mapping (bvisorVersion, workload, …)', hint: 'run `bvisor spec` for a starter manifest', file: 'b/boundary.yaml', line: 1, col: 1 }]);
    expect(issuesOf('')).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', line: 1, col: 1 })]);
    expect(issuesOf('just text\n')).toEqual([expect.objectContaining({ code: 'BV_SCHEMA', line: 1, col: 1 })]);
  });
});
