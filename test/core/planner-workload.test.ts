// The workload clause (src/core/planner.ts): what it says was asked, which backend runs it, and,
// in host mode, whether the program (and a #! script's interpreter) is reachable through an
// executable grant: the workload's root holds only what is granted, so a program outside every
// read-exec grant does not exist there and execve would fail (docs/security.md; BV_PLAN_EXE_NOT_GRANTED
// in docs/errors.md: "The program is not reachable through an executable filesystem grant").
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost } from '../helpers/hosts.js';

const manifestOf = (yaml: string): NormalManifest => loadManifest('bvisorVersion: "1"\n' + yaml, 'test.yaml').manifest;
const dir = (path: string): PathFact => ({ path, kind: 'directory', dev: '1', ino: String(path.length), uid: 0, gid: 0, mode: 0o755 });
const file = (path: string, over: Partial<PathFact> = {}): PathFact => ({ path, kind: 'file', dev: '1', ino: String(path.length + 1), uid: 0, gid: 0, mode: 0o755, ...over });

function run(m: NormalManifest, host: HostFacts = hybridHost(), paths: Partial<PlanPaths> = {}, extra: Partial<PlanInput> = {}): Plan {
  const base: PlanPaths = {
    grants: m.filesystem.map((g) => (g.path.endsWith('.sh') || g.path.endsWith('echo') ? file(g.path) : dir(g.path))),
    exe: m.workload.kind === 'process' ? file(m.workload.exe) : null,
    module: m.workload.kind === 'wasm' ? file(`/bundle/${m.workload.module}`) : null,
    root: m.root ? dir(`/bundle/${m.root.path}`) : null,
  };
  const p = plan({ manifest: m, host, paths: { ...base, ...paths }, cgroupParent: null, ...extra }, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}
const workload = (p: Plan) => p.clauses.find((c) => c.clause === 'workload')!;
const refusal = (p: Plan) => p.refusals.find((r) => r.clause === 'workload');

const proc = (exe: string, grants: string, args = ''): NormalManifest => manifestOf(`workload:\n  process: { exe: ${exe}${args ? `, args: [${args}]` : ''} }\nfilesystem:\n${grants}`);

describe('what the workload clause says was asked', () => {
  it('a process: its program and arguments', () => {
    expect(workload(run(proc('/usr/bin/echo', '  - { path: /usr, access: read-exec }\n', 'hello, world')))).toMatchObject({ requested: 'process /usr/bin/echo hello world', verdict: 'enforced', mechanism: 'linux:execveat(fd,AT_EMPTY_PATH)' });
    expect(workload(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'))).requested).toBe('process /usr/bin/true');
  });

  it('a wasm module that is not in the bundle: refused, naming it', () => {
    const p = run(manifestOf('workload:\n  wasm: { module: lib/m.wasm }\n'), hybridHost(), { module: { path: '/bundle/lib/m.wasm', kind: 'missing' } });
    expect(refusal(p)).toMatchObject({ code: 'BV_PLAN_PATH_MISSING', reason: 'the module lib/m.wasm does not exist in the bundle' });
  });

  it('a wasm module: its path and arguments, if any', () => {
    expect(workload(run(manifestOf('workload:\n  wasm: { module: m.wasm, args: [a, b] }\n'))).requested).toBe('wasm m.wasm a b');
    expect(workload(run(manifestOf('workload:\n  wasm: { module: m.wasm }\n'))).requested).toBe('wasm m.wasm');
  });
});

describe('the backend must run the workload’s kind', () => {
  // The wasm runner inherits our address-space limit, and Node 20's V8 reserves 10 GiB for a wasm
  // memory (test/cli/wasm-own-plan.e2e shows V8 failing under 4 GiB and not under 12 GiB).
  it('a wasm module under an address-space limit the runner cannot work in: refused, naming the limit and how to raise it', () => {
    const at = (soft: number | null, hard: number | null): HostFacts => {
      const h = hybridHost();
      h.rlimits = { ...h.rlimits, as: { soft, hard } };
      return h;
    };
    const wasm = manifestOf('workload:\n  wasm: { module: m.wasm }\n');
    const GiB = 2 ** 30;
    expect(refusal(run(wasm, at(4 * GiB, null)))).toEqual({ code: 'BV_PLAN_RLIMIT_TOO_LOW', clause: 'workload', reason: 'the wasm runner needs 12Gi of address space (V8 reserves 10 GiB for a wasm memory), and our RLIMIT_AS is 4Gi', hint: 'raise it (ulimit -v unlimited; systemd: LimitAS=infinity) before running bvisor' });
    expect(refusal(run(wasm, at(4 * GiB, 4 * GiB)))?.hint).toBe('raise it and its hard limit (ulimit -Hv unlimited, as root; systemd: LimitAS=infinity) before running bvisor');
    expect(run(wasm, at(12 * GiB, 12 * GiB)).refusals).toEqual([]);
    expect(run(wasm, at(null, null)).refusals).toEqual([]);
    // A process workload is not the runner: its own limits are its own business.
    expect(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), at(GiB, GiB)).refusals).toEqual([]);
  });

  it('a process on the wasm backend, a module on the linux backend: refused, naming the backend to use', () => {
    const p = run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), hybridHost(), {}, { backend: 'wasm' });
    expect(refusal(p)).toEqual({ code: 'BV_PLAN_BACKEND_UNSUPPORTED', clause: 'workload', reason: 'the wasm backend does not run process workloads', hint: 'use the linux backend' });
    const q = run(manifestOf('workload:\n  wasm: { module: m.wasm }\n'), hybridHost(), {}, { backend: 'linux' });
    expect(refusal(q)).toEqual({ code: 'BV_PLAN_BACKEND_UNSUPPORTED', clause: 'workload', reason: 'the linux backend does not run wasm workloads', hint: 'use the wasm backend' });
  });
});

describe('as root without user namespaces the workload would be host root', () => {
  it('refused, saying why the host will not make a user namespace, and how to fix it', () => {
    const host = hybridHost();
    host.userns = { ...host.userns, canCreate: false, error: 'user.max_user_namespaces is 0' };
    const p = run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), host);
    expect(refusal(p)).toMatchObject({ code: 'BV_PLAN_HOST_ROOT', reason: expect.stringMatching(/host root.*\(user\.max_user_namespaces is 0\)$/), hint: expect.stringMatching(/user namespaces|unprivileged user/) });
    host.userns.error = null;
    expect(refusal(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), host))?.reason).toMatch(/\(unavailable\)$/);
  });

  it('a workload refused as host root keeps that refusal even when its program is outside every grant too (one refusal per clause: the first reason)', () => {
    const host = hybridHost();
    host.userns = { ...host.userns, canCreate: false, error: 'user.max_user_namespaces is 0' };
    const p = run(proc('/usr/bin/true', '  - { path: /srv, access: read }\n'), host);
    expect(p.refusals.filter((r) => r.clause === 'workload')).toEqual([expect.objectContaining({ code: 'BV_PLAN_HOST_ROOT' })]);
    // The same manifest where user namespaces work: the missing grant is what is refused.
    expect(refusal(run(proc('/usr/bin/true', '  - { path: /srv, access: read }\n')))?.code).toBe('BV_PLAN_EXE_NOT_GRANTED');
  });

  it('the launch runs the program by its physical path (the one planned), argv[0] as written', () => {
    // /usr/bin/sh is a symlink to dash on Debian: the fact the planner gets is the physical file.
    const p = run(proc('/usr/bin/sh', '  - { path: /usr, access: read-exec }\n'), hybridHost(), { exe: file('/usr/bin/dash') });
    expect(p.launch!.workload).toMatchObject({ kind: 'process', path: '/usr/bin/dash', argv0: '/usr/bin/sh' });
  });

  it('the namespaces a launch makes: none for a wasm plan (its runner is planned apart), no user namespace where none can be made', () => {
    expect(run(manifestOf('workload:\n  wasm: { module: m.wasm }\n')).launch!.namespaces).toEqual([]);
    const host = hybridHost();
    expect(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), host).launch!.namespaces).toContain('user');
    host.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    host.userns = { ...host.userns, canCreate: false, unprivilegedCanCreate: false };
    const p = run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), host);
    expect(p.launch?.namespaces ?? []).not.toContain('user');
  });

  it('rootless without user namespaces the workload is the caller, not host root', () => {
    const host = hybridHost();
    host.userns = { ...host.userns, canCreate: false };
    host.identity = { uid: 1000, gid: 1000, euid: 1000, egid: 1000 };
    host.mapping = { uid: 1000, gid: 1000, source: 'the caller (rootless)' };
    host.capabilities = { effective: '0000000000000000', names: [] };
    expect(refusal(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n'), host))?.code).not.toBe('BV_PLAN_HOST_ROOT');
  });
});

describe('host mode: the program must be under a read-exec grant', () => {
  it.each([
    ['a recursive grant above it', '  - { path: /usr, access: read-exec }\n'],
    ['a grant of the file itself', '  - { path: /usr/bin/echo, access: read-exec }\n'],
    ['a grant of /', '  - { path: /, access: read-exec }\n'],
    ['read-write-exec', '  - { path: /usr, access: read-write-exec }\n'],
  ])('covered by %s', (_what, grants) => {
    expect(refusal(run(proc('/usr/bin/echo', grants)))).toBeUndefined();
  });

  it('under a read grant (no exec): refused as seen and not runnable, naming that grant (a new-user pass read "does not exist")', () => {
    expect(refusal(run(proc('/usr/bin/echo', '  - { path: /usr, access: read }\n')))).toEqual({
      code: 'BV_PLAN_EXE_NOT_GRANTED',
      clause: 'workload',
      reason: '/usr/bin/echo is under filesystem[0] (/usr, read), which does not allow exec: the workload sees it and may not run it',
      hint: 'make filesystem[0] read-exec, or add { path: /usr/bin/echo, access: read-exec }',
    });
  });

  it.each([
    ['a grant of a sibling whose name is a prefix (/us is not above /usr)', '  - { path: /us, access: read-exec }\n'],
    ['a grant below it', '  - { path: /usr/bin/echo/x, access: read-exec }\n'],
  ])('not covered by %s: refused, hinting the directory to grant', (_what, grants) => {
    expect(refusal(run(proc('/usr/bin/echo', grants)))).toEqual({
      code: 'BV_PLAN_EXE_NOT_GRANTED',
      clause: 'workload',
      reason: "/usr/bin/echo is not under a read-exec filesystem grant, so it does not exist in the workload's root",
      hint: 'add { path: /usr/bin, access: read-exec } (and its libraries) to filesystem',
    });
  });

  it('a non-recursive grant covers the path it names only', () => {
    const m = proc('/usr/bin/echo', '  - { path: /usr/bin/echo, access: read-exec, recursive: false }\n  - { path: /opt, access: read-exec, recursive: false }\n');
    expect(refusal(run(m, hybridHost(), { grants: [file('/usr/bin/echo'), file('/opt')] }))).toBeUndefined();
    const n = proc('/opt/tool', '  - { path: /opt, access: read-exec, recursive: false }\n');
    expect(refusal(run(n, hybridHost(), { grants: [file('/opt')] }))?.code).toBe('BV_PLAN_EXE_NOT_GRANTED');
  });

  it('a program at the top of the tree: the hint names /', () => {
    expect(refusal(run(proc('/tool', '  - { path: /usr, access: read-exec }\n')))?.hint).toBe('add { path: /, access: read-exec } (and its libraries) to filesystem');
  });

  it('a #! script: its interpreter must be granted too, and the hint names the interpreter’s directory', () => {
    const m = proc('/srv/run.sh', '  - { path: /srv/run.sh, access: read-exec }\n  - { path: /usr, access: read-exec }\n');
    const script = (interpreter: string) => ({ exe: file('/srv/run.sh', { interpreter }) });
    expect(refusal(run(m, hybridHost(), script('/usr/bin/sh')))).toBeUndefined();
    expect(refusal(run(m, hybridHost(), script('/opt/perl/bin/perl')))).toEqual({
      code: 'BV_PLAN_EXE_NOT_GRANTED',
      clause: 'workload',
      reason: "/srv/run.sh is a script for /opt/perl/bin/perl, which is not under a read-exec grant, so it does not exist in the workload's root",
      hint: 'add { path: /opt/perl/bin, access: read-exec } to filesystem',
    });
    expect(refusal(run(m, hybridHost(), script('/perl')))?.hint).toBe('add { path: /, access: read-exec } to filesystem');
    // An interpreter granted by its own path, or read-only, or a prefix sibling.
    expect(refusal(run(proc('/srv/run.sh', '  - { path: /srv/run.sh, access: read-exec }\n  - { path: /usr/bin/echo, access: read-exec }\n'), hybridHost(), script('/usr/bin/echo')))).toBeUndefined();
    expect(refusal(run(proc('/srv/run.sh', '  - { path: /srv/run.sh, access: read-exec }\n  - { path: /usr, access: read }\n'), hybridHost(), script('/usr/bin/sh')))?.code).toBe('BV_PLAN_EXE_NOT_GRANTED');
    expect(refusal(run(proc('/srv/run.sh', '  - { path: /srv/run.sh, access: read-exec }\n  - { path: /us, access: read-exec }\n'), hybridHost(), script('/usr/bin/sh')))?.code).toBe('BV_PLAN_EXE_NOT_GRANTED');
  });

  it('a program that does not exist is refused for that, not for its grant', () => {
    const p = run(proc('/usr/bin/nothere', '  - { path: /srv, access: read-exec }\n'), hybridHost(), { exe: { path: '/usr/bin/nothere', kind: 'missing' } });
    expect(refusal(p)?.code).toBe('BV_PLAN_PATH_MISSING');
    expect(p.refusals.filter((r) => r.clause === 'workload')).toHaveLength(1);
  });

  it('container mode has no such check: the program is in the rootfs', () => {
    const m = manifestOf('workload:\n  process: { exe: /bin/sh }\nroot: { path: rootfs }\n');
    expect(refusal(run(m))).toBeUndefined();
  });
});

describe('the root clause (container mode) says what was asked', () => {
  it('read-only unless written otherwise', () => {
    expect(run(manifestOf('workload:\n  process: { exe: /bin/sh }\nroot: { path: rootfs }\n')).clauses.find((c) => c.clause === 'root')).toMatchObject({ requested: 'rootfs (read-only)', verdict: 'enforced' });
    expect(run(manifestOf('workload:\n  process: { exe: /bin/sh }\nroot: { path: rootfs, readonly: false, guarantee: mediated }\n')).clauses.find((c) => c.clause === 'root')).toMatchObject({ requested: 'rootfs', guarantee: 'mediated' });
  });

  it('host mode has no root clause', () => {
    expect(run(proc('/usr/bin/true', '  - { path: /usr, access: read-exec }\n')).clauses.some((c) => c.clause === 'root')).toBe(false);
  });
});
