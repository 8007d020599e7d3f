// How the plan states each limit (src/core/planner.ts): a requested limit is echoed in the
// manifest's own units (the schema's Duration and Size grammar: "10m", "256Mi"; counts and
// cores as numbers), an absent one is "not requested" (schemas/boundary.schema.json, Limits: "An
// absent limit is not requested, and the plan says so"), and captured streams without
// limits.output get a default cap that the plan names and the launch enforces.
import { describe, expect, it } from 'vitest';
import type { NormalManifest } from '../../src/core/manifest.js';
import { parseSize } from '../../src/core/units.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import { clauseOf, manifestOf, planResolved } from '../helpers/plans.js';
import { hybridHost } from '../helpers/hosts.js';

const run = (m: NormalManifest, host: HostFacts = hybridHost()): Plan => planResolved(m, host, 'bvisor-test');
const clause = clauseOf;

const PROC = 'workload:\n  process: { exe: /usr/bin/echo }\nfilesystem:\n  - { path: /usr, access: read-exec }\n';
const WASM = 'workload:\n  wasm: { module: m.wasm }\n';

describe('a requested limit is echoed as the manifest wrote it', () => {
  it.each([
    ['wall', '10m', '10m'],
    ['wall', '90s', '90s'],
    ['cpu', '1500ms', '1500ms'],
    ['cpu', '2h', '2h'],
    ['memory', '256Mi', '256Mi'],
    ['memory', '1Gi', '1Gi'],
    ['output', '64Ki', '64Ki'],
    ['processes', '8', '8'],
    ['openFiles', '64', '64'],
    // Counts are numbers, not sizes (schema: integer): 1024 and more stay digits, never "1Ki".
    ['processes', '2048', '2048'],
    ['openFiles', '1024', '1024'],
    ['cpus', '0.5', '0.5'],
  ])('limits.%s: %s → %s', (name, written, words) => {
    const p = run(manifestOf(PROC + `limits: { ${name}: ${written} }\n`));
    expect(clause(p, `limits.${name}`)).toMatchObject({ requested: words, guarantee: 'enforced' });
    expect(clause(p, `limits.${name}`).verdict).not.toBe('not-requested');
  });

  it('a size written in bytes is echoed in the largest binary unit that holds it exactly', () => {
    // 268435456 = 256 × 2^20: the Size grammar's Mi.
    expect(clause(run(manifestOf(PROC + 'limits: { memory: 268435456 }\n')), 'limits.memory').requested).toBe('256Mi');
  });

  it('limits.tmpSize is a size, limits.fuel a count', () => {
    expect(clause(run(manifestOf(PROC + 'tmp: private\nlimits: { tmpSize: 64Mi }\n')), 'limits.tmpSize').requested).toBe('64Mi');
    expect(clause(run(manifestOf(WASM + 'limits: { fuel: 1000000 }\n')), 'limits.fuel').requested).toBe('1000000');
  });

  it('the clause carries the limit’s own guarantee', () => {
    const p = run(manifestOf(PROC + 'limits: { wall: { value: 10s, guarantee: best-effort } }\n'));
    expect(clause(p, 'limits.wall')).toMatchObject({ requested: '10s', guarantee: 'best-effort' });
  });
});

describe('an absent limit is not requested, and the plan says so', () => {
  it('every limit a process can have is listed; fuel, a wasm budget, is not', () => {
    const p = run(manifestOf(PROC + 'stdio: { stdout: inherit, stderr: inherit }\n'));
    for (const name of ['wall', 'cpu', 'cpus', 'memory', 'processes', 'openFiles', 'output', 'tmpSize']) {
      expect(clause(p, `limits.${name}`)).toEqual({ clause: `limits.${name}`, requested: 'unlimited', guarantee: 'enforced', verdict: 'not-requested', mechanism: null, reason: 'not requested by the manifest' });
    }
    expect(p.clauses.some((c) => c.clause === 'limits.fuel')).toBe(false);
    expect(p.launch).toMatchObject({ wallMs: null, cpuMs: null, fuel: null, memoryBytes: null, outputBytes: 0 });
  });

  it('a wasm plan lists fuel as not requested', () => {
    expect(clause(run(manifestOf(WASM)), 'limits.fuel')).toMatchObject({ requested: 'unlimited', verdict: 'not-requested' });
  });

  it('the manifest default guarantee is the one a not-requested limit shows', () => {
    expect(clause(run(manifestOf(PROC + 'guarantee: mediated\n')), 'limits.wall').guarantee).toBe('mediated');
  });
});

describe('captured streams without limits.output get a default cap', () => {
  it.each([
    ['stdout', 'stdio: { stdout: capture }\n'],
    ['stderr', 'stdio: { stderr: capture }\n'],
  ])('capturing %s: the plan names the cap and the launch holds the same number of bytes', (_what, stdio) => {
    const p = run(manifestOf(PROC + stdio));
    const c = clause(p, 'limits.output');
    expect(c).toMatchObject({ verdict: 'enforced', reason: 'default cap for captured streams' });
    const m = /^(\S+) \(default for captured streams\)$/.exec(c.requested);
    expect(m, c.requested).not.toBeNull();
    const cap = parseSize(m![1]!);
    expect(cap).toBeGreaterThan(0);
    expect(p.launch!.outputBytes).toBe(cap);
    expect(c.mechanism).toBe(`linux:capture(cap=${m![1]})`);
  });

  it('limits.output, when written, is the cap', () => {
    const p = run(manifestOf(PROC + 'stdio: { stdout: capture }\nlimits: { output: 1Ki }\n'));
    expect(clause(p, 'limits.output')).toMatchObject({ requested: '1Ki', reason: null });
    expect(p.launch!.outputBytes).toBe(1024);
  });
});

describe('tmp: none is not requested', () => {
  it('by default, and said so', () => {
    expect(clause(run(manifestOf(PROC)), 'tmp')).toEqual({ clause: 'tmp', requested: 'none (default)', guarantee: 'enforced', verdict: 'not-requested', mechanism: null, reason: 'no /tmp is granted' });
  });
  it('when written', () => {
    expect(clause(run(manifestOf(PROC + 'tmp: none\n')), 'tmp')).toMatchObject({ requested: 'none', verdict: 'not-requested' });
  });
  it('private: a clause of its own, with its guarantee', () => {
    expect(clause(run(manifestOf(PROC + 'tmp: { value: private, guarantee: mediated }\n')), 'tmp')).toMatchObject({ requested: 'private', guarantee: 'mediated', verdict: 'enforced' });
  });
});
