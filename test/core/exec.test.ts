// What an exec may ask for, decided purely (src/core/exec.ts): never more than the container's
// init (capabilities intersected, rlimits lowered only, no_new_privs always), refused where
// bvisor cannot do what is asked (another uid, an LSM label, an unknown field), every refusal
// named by its JSON path or flag. And exec's argv split (src/commands/exec.ts): flags before the
// container id are bvisor's, everything after it the process's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFromProcess, execFromFlags } from '../../src/core/exec.js';
import { splitExecArgv } from '../../src/cli/argv.js';
import { CAPABILITY_NUMBERS } from '../../src/core/capability-names.js';
import { BvisorError } from '../../src/contract/errors.js';
import type { LaunchInputs } from '../../src/contract/generated/types.js';

const C = CAPABILITY_NUMBERS;
const launch = {
  workload: { kind: 'process', path: '/r/bin/sh', argv0: '/bin/sh', args: [], cwd: '/work', dev: '1', ino: '2' },
  env: [{ name: 'PATH', value: '/bin' }],
  capabilities: [C.CAP_CHOWN!, C.CAP_KILL!],
  rlimits: [{ clause: 'process.rlimits[0]', resource: 'nofile', soft: 1024, hard: 2048 }],
} as unknown as LaunchInputs;

function refusal(fn: () => unknown): BvisorError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BvisorError) return e;
    throw e;
  }
  throw new Error('nothing was refused');
}

const base = { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' };

describe('exec requests (pure)', () => {
  it('podman\'s exec process: the init\'s capabilities only, the rest dropped and said; no_new_privs always', () => {
    const p = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'podman-exec-process.json'), 'utf8'));
    const s = execFromProcess(p, launch, 'p.json');
    expect(s.capabilities).toEqual([C.CAP_CHOWN, C.CAP_KILL]);
    expect(s.narrowed.join('\n')).toContain('CAP_NET_RAW');
    expect(s.narrowed.join('\n')).toContain('no_new_privs');
    expect(s.args).toEqual(['sh', '-c', 'echo hi from exec; exit 4']);
    expect(s.env.find((e) => e.name === 'TERM')?.value).toBe('xterm');
  });

  it('asks for fewer capabilities than the init: gets fewer; none listed in all three sets: none', () => {
    expect(execFromProcess({ ...base, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } }, launch, 'p').capabilities).toEqual([C.CAP_KILL]);
    const s = execFromProcess({ ...base, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL', 'CAP_CHOWN'], permitted: ['CAP_KILL', 'CAP_CHOWN'], ambient: ['CAP_KILL'] } }, launch, 'p');
    expect(s.capabilities).toEqual([C.CAP_KILL]);
    expect(s.narrowed.join('\n')).toMatch(/CAP_CHOWN[\s\S]*ambient/);
    // No capabilities object: the init's set, as runc's exec without one.
    expect(execFromProcess(base, launch, 'p').capabilities).toEqual([C.CAP_CHOWN, C.CAP_KILL]);
  });

  it('rlimits: lowered where asked, never raised above the container\'s; other resources as asked', () => {
    const s = execFromProcess({ ...base, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 4096 }, { type: 'RLIMIT_NPROC', soft: 10, hard: 20 }] }, launch, 'p');
    expect(s.rlimits.map((r) => [r.resource, r.soft, r.hard])).toEqual([['nofile', 1024, 2048], ['nproc', 10, 20]]);
    expect(s.narrowed.join('\n')).toContain('RLIMIT_NOFILE 4096/4096 is above the container\'s 1024/2048');
    const lower = execFromProcess({ ...base, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }] }, launch, 'p');
    expect(lower.rlimits.map((r) => [r.soft, r.hard])).toEqual([[100, 200]]);
    // config.md: duplicated entries with the same type MUST be an error, not a second setrlimit.
    const dup = refusal(() => execFromProcess({ ...base, rlimits: [{ type: 'RLIMIT_NPROC', soft: 10, hard: 20 }, { type: 'RLIMIT_NPROC', soft: 5, hard: 5 }] }, launch, 'p'));
    expect(dup.issues.map((i) => [i.clause, i.message])).toEqual([['rlimits[1].type', 'RLIMIT_NPROC is already set by rlimits[0]']]);
  });

  it('refuses what bvisor cannot do, every problem by its path', () => {
    const e = refusal(() => execFromProcess({ ...base, user: { uid: 1000, gid: 5 }, apparmorProfile: 'x', cwd: 'rel', bogus: 1, capabilities: { effective: ['CAP_NOPE'] } }, launch, 'p.json'));
    expect(e.code).toBe('BV_USAGE');
    expect(e.issues.map((i) => i.clause).sort()).toEqual(['apparmorProfile', 'bogus', 'capabilities.effective[0]', 'cwd', 'user.gid', 'user.uid']);
    expect(refusal(() => execFromProcess({ ...base, args: [] }, launch, 'p')).message).toContain('args');
    expect(refusal(() => execFromProcess([], launch, 'p')).message).toContain('JSON object');
  });

  it('runc\'s flags: the container\'s environment and cwd, with --env over it; --user only 0; --cap never beyond the init', () => {
    const s = execFromFlags({ args: ['ls', '-l'], env: ['A=1', 'PATH=/usr/bin'], cwd: null, user: '0:0', tty: false, caps: ['CAP_SYS_ADMIN'] }, launch, [{ name: 'PATH', value: '/bin' }, { name: 'B', value: '2' }]);
    expect(s.env).toEqual([{ name: 'B', value: '2' }, { name: 'A', value: '1' }, { name: 'PATH', value: '/usr/bin' }]);
    expect([s.cwd, s.capabilities]).toEqual(['/work', [C.CAP_CHOWN, C.CAP_KILL]]);
    expect(s.narrowed.join('\n')).toContain('CAP_SYS_ADMIN');
    expect(refusal(() => execFromFlags({ args: ['ls'], env: [], cwd: null, user: '1000', tty: false }, launch, [])).issues[0]!.clause).toBe('--user.uid');
    expect(refusal(() => execFromFlags({ args: [], env: [], cwd: null, user: null, tty: false }, launch, [])).issues[0]!.clause).toBe('ARGS');
  });

  it('a container whose config maps another user: exec runs only as that user (no other id exists inside)', () => {
    const mapped = { ...launch, oci: { ...launch.oci!, user: { uid: 1000, gid: 100 } } };
    expect(() => execFromFlags({ args: ['id'], env: [], cwd: null, user: '1000', tty: false }, mapped, [])).not.toThrow();
    expect(() => execFromProcess({ ...base, user: { uid: 1000, gid: 100, additionalGids: [100] } }, mapped, 'p')).not.toThrow();
    const e = refusal(() => execFromFlags({ args: ['id'], env: [], cwd: null, user: '0:0', tty: false }, mapped, []));
    expect(e.issues.map((i) => i.clause)).toEqual(['--user.uid', '--user.gid']);
    expect(e.issues[0]!.message).toContain("the container's user, 1000");
    // Other groups do not exist inside: not set, and said (narrower); one that is no gid is refused.
    const spec = execFromProcess({ ...base, user: { uid: 1000, gid: 100, additionalGids: [0, 100] } }, mapped, 'p');
    expect(spec.user).toBeNull();
    expect(spec.narrowed).toContain('user.additionalGids: only group 100 exists inside the container; 0 not set');
    expect(refusal(() => execFromProcess({ ...base, user: { uid: 1000, gid: 100, additionalGids: [-1] } }, mapped, 'p')).issues.map((i) => i.clause)).toEqual(['user.additionalGids']);
  });

  it('a container with a block of ids (the config\'s maps): exec runs as any of them, and as nothing outside; the spec names whom', () => {
    const block = { ...launch, oci: { ...launch.oci!, user: { uid: 101, gid: 101 }, ids: { uid: 300_000, gid: 300_000, count: 200 } } };
    // --user: no supplementary group (runc's --user sets none).
    expect(execFromFlags({ args: ['id'], env: [], cwd: null, user: '0', tty: false }, block, []).user).toEqual({ uid: 0, gid: 101, groups: [] });
    expect(execFromFlags({ args: ['id'], env: [], cwd: null, user: '199:5', tty: false }, block, []).user).toEqual({ uid: 199, gid: 5, groups: [] });
    expect(execFromFlags({ args: ['id'], env: [], cwd: null, user: null, tty: false }, block, []).user).toBeNull();
    expect(execFromProcess({ ...base, user: { uid: 7, gid: 8, additionalGids: [10, 9, 10] } }, block, 'p').user).toEqual({ uid: 7, gid: 8, groups: [9, 10] });
    const e = refusal(() => execFromFlags({ args: ['id'], env: [], cwd: null, user: '200:200', tty: false }, block, []));
    expect(e.issues.map((i) => i.clause)).toEqual(['--user.uid', '--user.gid']);
    expect(e.issues[0]!.message).toContain("not one of the container's 200 ids (0–199)");
    expect(refusal(() => execFromProcess({ ...base, user: { uid: 7, gid: 8, additionalGids: [9, 200] } }, block, 'p')).issues.map((i) => i.clause)).toEqual(['user.additionalGids[1]']);
    // Without a block, the spec names no user: the container's own id.
    expect(execFromFlags({ args: ['id'], env: [], cwd: null, user: '0:0', tty: false }, launch, []).user).toBeNull();
  });

  it('splits exec\'s argv at the container id: values of known flags are skipped, `--` is optional', () => {
    expect(splitExecArgv(['--root', '/r', '-e', 'A=1', '--detach', 'ID', 'sh', '-c', 'x -e y'])).toEqual({ head: ['--root', '/r', '-e', 'A=1', '--detach', 'ID'], command: ['sh', '-c', 'x -e y'] });
    expect(splitExecArgv(['--process=/p.json', '--pid-file', 'f', 'ID'])).toEqual({ head: ['--process=/p.json', '--pid-file', 'f', 'ID'], command: [] });
    expect(splitExecArgv(['ID', '--', 'ls', '--all'])).toEqual({ head: ['ID'], command: ['ls', '--all'] });
  });
});
