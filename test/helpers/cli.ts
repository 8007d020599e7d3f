// Runs the real CLI (bin/run.js over dist/) as a user would.
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

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/** The preload that turns fault points into SIGKILL (test/seams/crash-at.mjs). */
export const CRASH_SEAM = join(ROOT, 'test', 'seams', 'crash-at.mjs');

/** Node's arguments for a bvisor that SIGKILLs itself at the fault point `stage`. */
export function crashArgs(stage: string): { pre: string[]; env: NodeJS.ProcessEnv } {
  return { pre: ['--import', CRASH_SEAM], env: { BVISOR_TEST_CRASH_AT: stage } };
}

export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; crashAt?: string } = {}): CliResult {
  const crash = opts.crashAt ? crashArgs(opts.crashAt) : { pre: [], env: {} };
  const r = spawnSync(process.execPath, [...crash.pre, BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...parentEnv(), ...opts.env, ...crash.env }, encoding: 'utf8', timeout: 60_000 });
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () => JSON.parse(r.stdout),
  };
}
