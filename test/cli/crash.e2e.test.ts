// Crash safety: bvisor is killed with SIGKILL at every fault point of create, start, run and
// delete (test/seams/crash-at.mjs arms them), then `delete -f` or `gc` cleans up. Oracles, all
// outside bvisor: the recorded processes in /proc, the cgroup parent's directories in every
// hierarchy, this namespace's mount table, the state root and the temp directory on disk.
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { probeBundle, facts } from '../helpers/probe.js';
import { until, running, type ProcRefLike } from '../helpers/wait.js';


/** Every cgroup hierarchy's directory for our parent (made by bvisor on demand). */
function parentDirs(parent: string): string[] {
  return [...facts().cgroup.v1, ...(facts().cgroup.v2 ? [facts().cgroup.v2!] : [])].filter((h) => h.ownDir).map((h) => join(h.ownDir!, parent));
}

function leavesUnder(parent: string): string[] {
  return parentDirs(parent).flatMap((d) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)) : []));
}

const mountCount = (): number => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).length;

// Whatever a failing case leaves is force-deleted, then its cgroup parent removed.
const made: Array<{ root: string; parent: string }> = [];
afterEach(() => {
  for (const { root, parent } of made.splice(0)) {
    if (existsSync(join(root, 'containers', 'x'))) cli(['delete', '-f', 'x', '--root', root, '--cgroup-parent', parent]);
    for (const d of parentDirs(parent)) if (existsSync(d)) rmdirSync(d);
  }
});

type Stage = string;
interface Case {
  stage: Stage;
  /** The commands before the one that is killed (they must succeed). */
  before: (c: Ctx) => void;
  /** The command killed at the stage. */
  killed: (c: Ctx) => string[];
  /** The workload's arguments. */
  workload: string[];
  tar?: boolean;
}
interface Ctx {
  root: string;
  bundle: string;
  parent: string;
  env: NodeJS.ProcessEnv;
}

const g = (c: Ctx): string[] => ['--root', c.root, '--cgroup-parent', c.parent];
const ok = (c: Ctx, args: string[]): void => {
  const r = cli([...args, ...g(c)], { env: c.env });
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
};

const CASES: Case[] = [
  ...['create:after-state', 'create:before-cgroup', 'create:before-confirm', 'create:after-spawn'].map((stage) => ({ stage, before: () => {}, killed: (c: Ctx) => ['create', 'x', '-b', c.bundle], workload: ['sleep', '30'] })),
  { stage: 'create:after-spawn', tar: true, before: () => {}, killed: (c: Ctx) => ['create', 'x', '-b', c.bundle], workload: ['sleep', '30'] },
  { stage: 'tar:extracting', tar: true, before: () => {}, killed: (c: Ctx) => ['create', 'x', '-b', c.bundle], workload: ['sleep', '30'] },
  ...['start:before-start-record', 'start:after-start-record', 'start:after-go'].map((stage) => ({ stage, before: (c: Ctx) => ok(c, ['create', 'x', '-b', c.bundle]), killed: () => ['start', 'x'], workload: ['sleep', '30'] })),
  ...['run:claimed', 'run:after-state', 'run:before-cgroup', 'run:before-start-record', 'run:after-start-record', 'run:running'].map((stage) => ({ stage, before: () => {}, killed: (c: Ctx) => ['run', 'x', '-b', c.bundle], workload: ['sleep', '30'] })),
  ...['run:before-seal', 'run:after-journal'].map((stage) => ({ stage, before: () => {}, killed: (c: Ctx) => ['run', 'x', '-b', c.bundle], workload: ['exit', '0'] })),
  ...['delete:after-kill', 'delete:after-teardown', 'delete:after-seal'].map((stage) => ({
    stage,
    before: (c: Ctx) => {
      ok(c, ['create', 'x', '-b', c.bundle]);
      ok(c, ['start', 'x']);
    },
    killed: () => ['delete', '-f', 'x'],
    workload: ['sleep', '30'],
  })),
];

describe('crash points: SIGKILL at each stage, then delete -f / gc leaves nothing', () => {
  for (const k of CASES) {
    it(`${k.stage}${k.tar ? ' (tar bundle)' : ''}`, async () => {
      const root = tempDir();
      const tmp = tempDir('bvisor-tmp-');
      const parent = `bvisor-test-${process.pid}-${k.stage.replace(/\W/g, '-')}${k.tar ? '-tar' : ''}`;
      made.push({ root, parent });
      let bundle = probeBundle(k.workload, 'limits: { memory: 64Mi }\n');
      if (k.tar) {
        const t = join(tempDir(), 'b.tar');
        execFileSync('tar', ['-cf', t, '-C', bundle, '.']);
        bundle = t;
      }
      const c: Ctx = { root, bundle, parent, env: { TMPDIR: tmp } };
      const mounts = mountCount();
      k.before(c);
      const r = cli([...k.killed(c), ...g(c)], { env: c.env, crashAt: k.stage });
      expect(r.status, `the command should die at ${k.stage}: ${r.stderr}`).toBeNull();
      expect(r.signal).toBe('SIGKILL');

      // What the crash left, as recorded on disk.
      const stateFile = join(root, 'containers', 'x', 'state.json');
      const st = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: ProcRefLike | null; monitor: ProcRefLike | null }) : null;

      // A run keeps none of create's records: a create.json put in a crashed run's directory is
      // not sealed into its report by the clean-up below.
      const planted = st !== null && (st as { kind?: string }).kind === 'run';
      if (planted) writeFileSync(join(root, 'containers', 'x', 'create.json'), JSON.stringify({ evidence: [{ name: 'planted-by-test', source: 'a test', value: 1 }], landlock: null, seccomp: null }) + '\n');

      // Clean up as a user would: delete -f the id if it is listed, then gc for the rest.
      if (existsSync(join(root, 'containers', 'x'))) {
        const d = cli(['delete', '-f', 'x', ...g(c)], { env: c.env });
        expect(d.status, d.stderr).toBe(0);
      }
      const gc = cli(['gc', '--json', ...g(c)], { env: c.env });
      expect(gc.status, gc.stderr).toBe(0);

      // Nothing is left.
      await until('workload and monitor gone', () => !running(st?.pid) && !running(st?.monitor));
      await until('cgroup leaves removed', () => leavesUnder(parent).length === 0);
      expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
      expect(readdirSync(tmp).filter((n) => n.startsWith('bvisor-'))).toEqual([]);
      expect(mountCount()).toBe(mounts);
      if (planted && existsSync(join(root, 'journal.jsonl'))) expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain('planted-by-test');
    });
  }
});
