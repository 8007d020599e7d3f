// What each clause of a plan says was asked (schemas/plan.schema.json, requested: "What the
// manifest asked, in words (secrets appear only as references)"), marking the planner's defaults
// as such, and the refusals for what only the caller may hand over: secrets and descriptors
// (README: "a manifest gets no other secret and no other descriptor"; docs/errors.md
// BV_PLAN_SECRET_NOT_ALLOWED, BV_PLAN_FD_NOT_HANDED).
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { checkedPlan, clauseOf } from '../helpers/plans.js';
import { hybridHost } from '../helpers/hosts.js';

const PROC = 'workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n';
const manifestOf = (yaml: string, head = PROC): NormalManifest => loadManifest('bvisorVersion: "1"\n' + head + yaml, 'test.yaml').manifest;
const usr: PathFact = { path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 };
const exe: PathFact = { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 };

function run(m: NormalManifest, extra: Partial<PlanInput> = {}, host: HostFacts = hybridHost()): Plan {
  const paths: PlanPaths = { grants: m.workload.kind === 'process' ? [usr] : [], exe: m.workload.kind === 'process' ? exe : null, module: m.workload.kind === 'wasm' ? { ...exe, path: '/b/m.wasm' } : null, root: null };
  const p = plan({ manifest: m, host, paths, cgroupParent: null, ...extra }, sha256Hex);
  return checkedPlan(p);
}
const clause = clauseOf;
const requested = (yaml: string, name: string, extra: Partial<PlanInput> = {}) => clause(run(manifestOf(yaml), extra), name).requested;

describe('the words of each clause', () => {
  it('network: the mode, "(default)" when not written; ports as TCP connect and bind lists', () => {
    expect(requested('', 'network')).toBe('deny (default)');
    expect(requested('network: deny\n', 'network')).toBe('deny');
    expect(requested('network: host\n', 'network')).toBe('host');
    expect(requested('network: { connect: [443, 80], bind: [8080] }\n', 'network')).toBe('tcp connect 80,443 bind 8080');
    expect(requested('network: { connect: [443] }\n', 'network')).toBe('tcp connect 443');
    expect(requested('network: { bind: [8080, 22] }\n', 'network')).toBe('tcp bind 22,8080');
  });

  it('spawn, syscalls, capabilities, tmp', () => {
    expect(requested('', 'spawn')).toBe('deny (default)');
    expect(requested('spawn: threads\n', 'spawn')).toBe('threads');
    expect(requested('', 'syscalls')).toMatch(/^default denylist \(.*\), denials: errno$/);
    expect(requested('syscalls: { deny: kill }\n', 'syscalls')).toMatch(/denials: kill$/);
    expect(requested('', 'capabilities')).toBe('none');
    expect(requested('capabilities: [CAP_NET_BIND_SERVICE, CAP_CHOWN]\n', 'capabilities')).toBe('keep CAP_NET_BIND_SERVICE, CAP_CHOWN');
  });

  it('filesystem: how many grants, or that everything is denied', () => {
    expect(requested('', 'filesystem')).toBe('deny except 1 grant(s)');
    expect(clause(run(manifestOf('', 'workload:\n  wasm: { module: m.wasm }\n')), 'filesystem').requested).toBe('deny everything');
  });

  it('a grant: its path and access, and only what differs from the defaults', () => {
    const m = manifestOf('  - { path: /etc/hosts, access: read, recursive: false }\n');
    const p = run(m, {}, hybridHost());
    expect(clause(p, 'filesystem[0]').requested).toBe('/usr read-exec');
    expect(clause(p, 'filesystem[1]').requested).toBe('/etc/hosts read (non-recursive)');
  });

  it('env: "empty", or the names, secrets as references; the mechanism counts the variables', () => {
    const none = run(manifestOf(''));
    expect(clause(none, 'env')).toMatchObject({ requested: 'empty', verdict: 'enforced', mechanism: 'linux:env(exact,0 vars)' });
    expect(clause(run(manifestOf('env: { HOME: /x }\n')), 'env')).toMatchObject({ requested: 'HOME', mechanism: 'linux:env(exact,1 var)' });
    const p = run(manifestOf('env: { HOME: /x, TOKEN: { secret: api-token } }\n'), { secrets: ['api-token'] });
    expect(clause(p, 'env')).toMatchObject({ requested: 'HOME TOKEN=<secret api-token>', mechanism: 'linux:env(exact,2 vars)' });
    expect(JSON.stringify(p)).not.toContain('/x "'); // values never in the words
  });

  it('isolate: only when asked, naming what', () => {
    expect(run(manifestOf('')).clauses.some((c) => c.clause === 'isolate')).toBe(false);
    expect(run(manifestOf('isolate: {}\n')).clauses.some((c) => c.clause === 'isolate')).toBe(false);
    expect(requested('isolate: { signals: true }\n', 'isolate')).toBe('signals');
    expect(requested('isolate: { abstractUnix: true }\n', 'isolate')).toBe('abstract unix sockets');
    expect(requested('isolate: { signals: true, abstractUnix: true }\n', 'isolate')).toBe('signals, abstract unix sockets');
  });

  it('stdio: the three streams', () => {
    expect(requested('stdio: { stdin: inherit, stdout: capture, stderr: null }\n', 'stdio')).toBe('stdin=inherit stdout=capture stderr=null');
  });
});

describe('secrets: only those the caller hands to this run', () => {
  const M = 'env: { TOKEN: { secret: api-token } }\n';

  it('a secret not handed is refused on its variable, naming the secret and how to hand it', () => {
    const p = run(manifestOf(M), { secrets: ['other'] });
    expect(p.refusals).toEqual([{ code: 'BV_PLAN_SECRET_NOT_ALLOWED', clause: 'env.TOKEN', reason: 'secret "api-token" was not handed to this run', hint: expect.stringMatching(/^pass --secret api-token /) }]);
    expect(clause(p, 'env.TOKEN')).toMatchObject({ requested: 'secret api-token', verdict: 'refused' });
    expect(run(manifestOf(M)).refusals.map((r) => r.code)).toEqual(['BV_PLAN_SECRET_NOT_ALLOWED']);
  });

  it('a handed secret is passed through the variable bvisor reads it from', () => {
    const p = run(manifestOf(M), { secrets: ['api-token'] });
    expect(p.refusals).toEqual([]);
    expect(clause(p, 'env.TOKEN')).toMatchObject({ requested: 'secret api-token', verdict: 'enforced', mechanism: 'secret:env(BVISOR_SECRET_API_TOKEN)' });
  });

  it('a plain variable has no clause of its own', () => {
    expect(run(manifestOf('env: { HOME: /x }\n')).clauses.some((c) => c.clause === 'env.HOME')).toBe(false);
  });
});

describe('descriptors: only those the caller hands to bvisor for the workload', () => {
  it('none: stdio only', () => {
    expect(clause(run(manifestOf('')), 'fds')).toMatchObject({ requested: 'none (stdio only)', verdict: 'enforced', mechanism: 'linux:fd-scrub(close_range)' });
  });

  it('handed: passed renumbered from 3', () => {
    const p = run(manifestOf('fds: [7, 5]\n'), { handedFds: [5, 7] });
    expect(p.refusals).toEqual([]);
    expect(clause(p, 'fds')).toMatchObject({ requested: 'pass 7,5 as 3..4', verdict: 'enforced' });
  });

  it('one not handed: refused, naming it, with how to hand it', () => {
    const p = run(manifestOf('fds: [5, 7]\n'), { handedFds: [5] });
    expect(p.refusals).toEqual([{ code: 'BV_PLAN_FD_NOT_HANDED', clause: 'fds', reason: expect.stringMatching(/^descriptor 7 was not handed to bvisor for the workload/), hint: expect.stringMatching(/--preserve-fds N/) }]);
    expect(clause(p, 'fds')).toMatchObject({ requested: 'pass 5,7', verdict: 'refused' });
  });

  it('several not handed: all named', () => {
    expect(run(manifestOf('fds: [5, 7]\n')).refusals[0]!.reason).toMatch(/^descriptors 5, 7 were not handed to bvisor/);
  });

  it('wasm: the backend passes no host descriptors, handed or not', () => {
    const p = run(manifestOf('fds: [5]\n', 'workload:\n  wasm: { module: m.wasm }\n'), { handedFds: [5] });
    expect(p.refusals.map((r) => `${r.clause}:${r.code}`)).toEqual(['fds:BV_PLAN_BACKEND_UNSUPPORTED']);
    const q = run(manifestOf('fds: [5]\n', 'workload:\n  wasm: { module: m.wasm }\n'));
    expect(q.refusals.map((r) => `${r.clause}:${r.code}`)).toEqual(['fds:BV_PLAN_BACKEND_UNSUPPORTED']);
  });
});
