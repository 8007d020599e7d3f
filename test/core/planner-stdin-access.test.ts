// Whether the workload's identity may read its stdin file, or execute its program, judged by the
// planner from the file's owner and mode bits. bvisor opens a `stdin: { file }` itself and hands
// the workload the descriptor, so it must not open what the workload could not open itself.
// The expectations are the kernel's permission check (path_resolution(7), "Permissions"; inode(7),
// "The file mode"): a caller whose uid owns the file gets the owner bits and only those, else a
// caller in the file's group gets the group bits, else the "other" bits. Rootful, the workload
// runs as the mapped identity (the hosts in test/helpers: 65534:65534); rootless it is the caller
// itself, and the kernel's own check on bvisor's open is the workload's (docs/security.md).
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../src/core/planner.js';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import type { HostFacts, Plan } from '../../src/contract/generated/types.js';
import type { PlanPaths, PathFact } from '../../src/core/features.js';
import { sha256Hex } from '../../src/host/hash.js';
import { validatePlan } from '../../src/contract/generated/validators.js';
import { hybridHost, v2Host } from '../helpers/hosts.js';

// The workload's identity on a rootful host (hybridHost's mapping): owner, group, neither.
const WL = 65534;
const OTHER = 4242;

const MANIFEST = `bvisorVersion: "1"
workload:
  process: { exe: /usr/bin/cat }
filesystem:
  - { path: /usr, access: read-exec }
stdio: { stdin: { file: /data/in.txt } }
`;

const manifestOf = (yaml: string): NormalManifest => loadManifest(yaml, 'test.yaml').manifest;

const usr: PathFact = { path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 };
const cat: PathFact = { path: '/usr/bin/cat', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 };
const stdinFile = (over: Partial<PathFact>): PathFact => ({ path: '/data/in.txt', kind: 'file', dev: '7', ino: '99', uid: OTHER, gid: OTHER, mode: 0o644, ...over });

function planWith(host: HostFacts, paths: Partial<PlanPaths>, yaml = MANIFEST): Plan {
  const m = manifestOf(yaml);
  const input: PlanInput = { manifest: m, host, paths: { grants: [usr], exe: cat, module: null, root: null, ...paths }, cgroupParent: null };
  const p = plan(input, sha256Hex);
  expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
  return p;
}

const stdioRefusal = (p: Plan) => p.refusals.find((r) => r.clause === 'stdio');
const stdioClause = (p: Plan) => p.clauses.find((c) => c.clause === 'stdio')!;

describe('stdin: { file } on a rootful host: the workload identity must be able to read it', () => {
  // [what, uid, gid, mode, readable]
  const cases: Array<[string, number, number, number, boolean]> = [
    ['owned by the workload, owner r--', WL, OTHER, 0o400, true],
    ['owned by the workload, owner --- (group and other r: the owner class is chosen first)', WL, WL, 0o044, false],
    ['group of the workload, group r--', OTHER, WL, 0o040, true],
    ['group of the workload, group --- (other r: the group class is chosen before other)', OTHER, WL, 0o404, false],
    ['neither, other r--', OTHER, OTHER, 0o004, true],
    ['neither, other --- (owner and group r are someone else’s)', OTHER, OTHER, 0o440, false],
    ['neither, other -wx (write and execute are not read)', OTHER, OTHER, 0o003, false],
    ['owned by the workload, owner -wx', WL, OTHER, 0o300, false],
    ['group of the workload, group -wx', OTHER, WL, 0o030, false],
  ];

  it.each(cases)('%s', (_what, uid, gid, mode, readable) => {
    const p = planWith(hybridHost(), { stdin: stdinFile({ uid, gid, mode }) });
    if (readable) {
      expect(stdioRefusal(p)).toBeUndefined();
      expect(stdioClause(p)).toMatchObject({ verdict: 'enforced', mechanism: 'linux:stdio(file by fd)' });
      // bvisor opens exactly the object it planned (dev, ino), and hands it over as stdin.
      expect(p.launch!.stdinFile).toEqual({ path: '/data/in.txt', dev: '7', ino: '99' });
      expect(p.launch!.stdio.stdin).toBe('file:/data/in.txt');
    } else {
      expect(p.admitted).toBe(false);
      expect(stdioRefusal(p)).toEqual({
        code: 'BV_PLAN_STDIN',
        clause: 'stdio',
        reason: expect.stringMatching(/^stdin file \/data\/in\.txt is not readable by the workload's identity 65534:65534 \(its mode, or a directory on its path it may not search\); bvisor opens it for the workload and will not read what the workload could not$/),
        hint: expect.stringMatching(/^chmod o\+r \/data\/in\.txt \(and o\+x each directory above it\), or feed another file$/),
      });
      expect(stdioClause(p)).toMatchObject({ verdict: 'refused', mechanism: null });
    }
  });

  it('a file whose mode was not read is refused (erring on the closed side)', () => {
    const { mode: _m, ...noMode } = stdinFile({});
    expect(stdioRefusal(planWith(hybridHost(), { stdin: noMode }))?.code).toBe('BV_PLAN_STDIN');
  });

  it('the physical path is what the refusal and the hint name (the manifest may name a link to it)', () => {
    const p = planWith(hybridHost(), { stdin: stdinFile({ path: '/srv/real/in.txt', mode: 0o600 }) });
    expect(stdioRefusal(p)?.reason).toMatch(/^stdin file \/srv\/real\/in\.txt is not readable/);
    expect(stdioRefusal(p)?.hint).toBe('chmod o+r /srv/real/in.txt (and o+x each directory above it), or feed another file');
  });
});

describe('stdin: { file } rootless: the caller is the workload, so its own open is the check', () => {
  it.each([0o000, 0o400, 0o004])('mode %o is admitted (the kernel refuses the open if the caller may not read it)', (mode) => {
    const p = planWith(v2Host(), { stdin: stdinFile({ uid: 0, gid: 0, mode }) });
    expect(stdioRefusal(p)).toBeUndefined();
    expect(stdioClause(p)).toMatchObject({ verdict: 'enforced', mechanism: 'linux:stdio(file by fd)' });
  });

  it('a file whose mode was not read is refused rootless too (no fact, no admission)', () => {
    const { mode: _m, ...noMode } = stdinFile({});
    expect(stdioRefusal(planWith(v2Host(), { stdin: noMode }))?.code).toBe('BV_PLAN_STDIN');
  });
});

describe('stdin: { file } that is not a readable regular file', () => {
  it('missing: refused, naming the file as the manifest wrote it, with a way out', () => {
    for (const stdin of [null, { path: '/data/in.txt', kind: 'missing' as const }]) {
      const r = stdioRefusal(planWith(hybridHost(), { stdin }));
      expect(r).toEqual({ code: 'BV_PLAN_STDIN', clause: 'stdio', reason: 'stdin file /data/in.txt does not exist', hint: expect.stringMatching(/stdin: null/) });
    }
  });

  it('a FIFO or a device (kind other): refused, since a FIFO would block bvisor’s own open', () => {
    const r = stdioRefusal(planWith(hybridHost(), { stdin: stdinFile({ kind: 'other' }) }));
    expect(r).toEqual({ code: 'BV_PLAN_STDIN', clause: 'stdio', reason: 'stdin file /data/in.txt is not a regular file', hint: expect.stringMatching(/regular file/) });
  });

  it('a directory: refused as not a regular file', () => {
    expect(stdioRefusal(planWith(hybridHost(), { stdin: stdinFile({ kind: 'directory', mode: 0o755 }) }))?.reason).toBe('stdin file /data/in.txt is not a regular file');
  });

  it('through a symlink someone else controls: refused as a link, before anything about the file', () => {
    const r = stdioRefusal(planWith(hybridHost(), { stdin: stdinFile({ untrusted: 'the link /data is owned by uid 4242', mode: 0o000 }) }));
    expect(r).toMatchObject({ code: 'BV_PLAN_PATH_LINK', clause: 'stdio', reason: expect.stringMatching(/^\/data\/in\.txt passes through a symlink.*owned by uid 4242/) });
  });

  it('stdin: null and stdin: inherit need no file', () => {
    const nul = planWith(hybridHost(), {}, MANIFEST.replace('stdio: { stdin: { file: /data/in.txt } }\n', ''));
    expect(stdioClause(nul)).toMatchObject({ verdict: 'enforced', mechanism: 'linux:stdio', requested: 'stdin=null stdout=inherit stderr=inherit' });
    expect(nul.launch!.stdinFile).toBeNull();
  });
});

describe('the program on a rootful host: the workload identity must be able to execute it', () => {
  const exe = (over: Partial<PathFact>): PathFact => ({ ...cat, ...over });
  const workloadRefusal = (p: Plan) => p.refusals.find((r) => r.clause === 'workload');
  const NO_STDIN = MANIFEST.replace('stdio: { stdin: { file: /data/in.txt } }\n', '');

  // [what, uid, gid, mode, executable]
  const cases: Array<[string, number, number, number, boolean]> = [
    ['root-owned 0755 (other x)', 0, 0, 0o755, true],
    ['root-owned 0754 (other r only)', 0, 0, 0o754, false],
    ['owned by the workload, owner x only', WL, OTHER, 0o100, true],
    ['owned by the workload, owner rw- (group and other x)', WL, OTHER, 0o611, false],
    ['group of the workload, group x', OTHER, WL, 0o010, true],
    ['group of the workload, group r-- (other x)', OTHER, WL, 0o641, false],
    ['neither, other x only', OTHER, OTHER, 0o001, true],
  ];

  it.each(cases)('%s', (_what, uid, gid, mode, executable) => {
    const p = planWith(hybridHost(), { exe: exe({ uid, gid, mode }) }, NO_STDIN);
    if (executable) {
      expect(workloadRefusal(p)).toBeUndefined();
      expect(p.admitted).toBe(true);
    } else {
      expect(workloadRefusal(p)).toEqual({
        code: 'BV_PLAN_EXE_NOT_GRANTED',
        clause: 'workload',
        reason: "/usr/bin/cat is not executable by the workload's identity 65534:65534 (its mode, or a directory on its path it may not search)",
        hint: 'chmod o+x /usr/bin/cat and each directory above it',
      });
      expect(p.clauses.find((c) => c.clause === 'workload')).toMatchObject({ verdict: 'refused', mechanism: null, reason: "/usr/bin/cat is not executable by the workload's identity 65534:65534 (its mode, or a directory on its path it may not search)" });
    }
  });

  it('every directory a lookup passes through must let the workload\'s identity search it: a 0644 file under a 0700 root-owned directory is not its to read', () => {
    const dirs = (...modes: Array<[number, number, number]>) => modes.map(([uid, gid, mode]) => ({ uid, gid, mode }));
    const refused = (searched: ReturnType<typeof dirs>): boolean => stdioRefusal(planWith(hybridHost(), { stdin: stdinFile({ searched }) })) !== undefined;
    expect(refused(dirs([0, 0, 0o755], [0, 0, 0o755]))).toBe(false);
    expect(refused(dirs([0, 0, 0o755], [0, 0, 0o700]))).toBe(true); // /root
    expect(refused(dirs([0, 0, 0o755], [0, 0, 0o711]))).toBe(false); // search without listing
    expect(refused(dirs([0, 0, 0o755], [WL, OTHER, 0o700]))).toBe(false); // its own
    expect(refused(dirs([0, 0, 0o755], [OTHER, WL, 0o750]))).toBe(false); // its group's
    expect(refused(dirs([0, 0, 0o755], [OTHER, WL, 0o705]))).toBe(true); // group bits decide for the group
    // The program too.
    expect(workloadRefusal(planWith(hybridHost(), { exe: exe({ mode: 0o755, searched: dirs([0, 0, 0o755], [0, 0, 0o700]) }) }, NO_STDIN))).toMatchObject({ code: 'BV_PLAN_EXE_NOT_GRANTED' });
  });

  it('rootless, the caller’s own execve is the check: a mode without x for other is not refused here', () => {
    const p = planWith(v2Host(), { exe: exe({ mode: 0o700 }) }, NO_STDIN);
    expect(workloadRefusal(p)).toBeUndefined();
  });
});

describe('stdin for a wasm guest', () => {
  const WASM = 'bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\n';
  const mod: PathFact = { path: '/bundle/m.wasm', kind: 'file', dev: '1', ino: '5', uid: 0, gid: 0, mode: 0o644 };

  it('stdin: inherit needs no signal scope: a guest has no signals to send to the caller’s process group', () => {
    const host = v2Host();
    host.landlock.abi = 5; // a process workload would be refused here (kill(0, SIGSTOP))
    const p = planWith(host, { grants: [], exe: null, module: mod }, WASM + 'stdio: { stdin: inherit }\n');
    expect(stdioClause(p)).toMatchObject({ verdict: 'enforced', mechanism: 'wasm:stdio' });
  });

  it('a stdin file is read the same way, and named for the wasm backend', () => {
    const p = planWith(hybridHost(), { grants: [], exe: null, module: mod, stdin: stdinFile({ mode: 0o600 }) }, WASM + 'stdio: { stdin: { file: /data/in.txt } }\n');
    expect(stdioRefusal(p)).toMatchObject({ code: 'BV_PLAN_STDIN' });
    expect(p.clauses.find((c) => c.clause === 'stdio')).toMatchObject({ verdict: 'refused' });
    const ok = planWith(hybridHost(), { grants: [], exe: null, module: mod, stdin: stdinFile({ mode: 0o644 }) }, WASM + 'stdio: { stdin: { file: /data/in.txt } }\n');
    expect(stdioClause(ok)).toMatchObject({ verdict: 'enforced', mechanism: 'wasm:stdio(file by fd)' });
  });
});
