// Runs the real CLI as a user would: bin/bvisor, which starts from the V8 start-up snapshot
// (dist/snapshot) when it was built, else bin/run.js over dist/ (so every CLI test runs the
// entry users run). A crash at a fault point needs Node's --import: that one runs bin/run.js.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultTestParent } from './cgroups.js';

/** Every CLI a test runs names the test's cgroup parent (in the VM: none, the defaults are under test). */
function parentEnv(): NodeJS.ProcessEnv {
  const p = defaultTestParent();
  return p === null ? {} : { BVISOR_CGROUP_PARENT: p };
}

export const ROOT = join(__dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'run.js');
/** The command users run (a shell script: it picks the snapshot or bin/run.js). */
export const BVISOR = join(ROOT, 'bin', 'bvisor');

/** The caller's environment without what makes bin/bvisor leave the snapshot (vitest may set
 * FORCE_COLOR for its own output). */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...parentEnv(), ...extra };
  for (const k of ['FORCE_COLOR', 'DEBUG', 'NODE_DEBUG']) if (!(k in extra)) delete env[k];
  return env;
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/** The preload that turns fault points into SIGKILL (test/seams/crash-at.mjs). */
export const CRASH_SEAM = join(ROOT, 'test', 'seams', 'crash-at.mjs');

/** The preload that holds bvisor at a fault point until a file exists (test/seams/pause-at.mjs). */
export const PAUSE_SEAM = join(ROOT, 'test', 'seams', 'pause-at.mjs');

/** Node's arguments for a bvisor that SIGKILLs itself at the fault point `stage`. */
export function crashArgs(stage: string): { pre: string[]; env: NodeJS.ProcessEnv } {
  return { pre: ['--import', CRASH_SEAM], env: { BVISOR_TEST_CRASH_AT: stage } };
}

export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; crashAt?: string } = {}): CliResult {
  const crash = opts.crashAt ? crashArgs(opts.crashAt) : null;
  const [cmd, argv] = crash ? [process.execPath, [...crash.pre, BIN, ...args]] : [BVISOR, args];
  const r = spawnSync(cmd, argv, { cwd: opts.cwd ?? ROOT, env: cliEnv({ ...opts.env, ...crash?.env }), encoding: 'utf8', timeout: 60_000 });
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () => JSON.parse(r.stdout),
  };
}
