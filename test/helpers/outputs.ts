// What the outputs e2e files share: a bundle whose workload writes its outputs, bvisor as an
// unprivileged user, and the report a run journaled last.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BVISOR } from './cli.js';
import { tempDir } from './tmp.js';

/** A directory for the file's bundles and destinations (0755, so uid 65534 can read it), made
 * before its tests and removed after them; `bundle` makes a bundle in it. */
export function outputsWork(): { readonly dir: string; bundle: (script: string, outputs: string) => string } {
  const w = { dir: '', bundle: (script: string, outputs: string): string => outputsBundle(w.dir, script, outputs) };
  beforeAll(() => {
    w.dir = tempDir('bvisor-outputs-');
    chmodSync(w.dir, 0o755);
  });
  afterAll(() => rmSync(w.dir, { recursive: true, force: true }));
  return w;
}

/** A bundle in `work` (which must be 0755, so uid 65534 can read it) running `script` with `outputs`. */
export function outputsBundle(work: string, script: string, outputs: string): string {
  const dir = join(work, `b${Math.random().toString(36).slice(2, 8)}`);
  // (recursive: the helper's temp dirs go after each test, and this one is the file's)
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  chmodSync(work, 0o755);
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 32, wall: 20s }\noutputs: ${outputs}\n`);
  return dir;
}

/** bvisor as uid 65534 (setpriv), with a state root in a fresh sticky directory everyone may write. */
export function rootless(): { base: string; as65534: (...args: string[]) => ReturnType<typeof spawnSync> & { stdout: string; stderr: string } } {
  const base = tempDir();
  chmodSync(base, 0o1777); // sticky, as /tmp: the root bvisor makes there is 65534's, which no one else may rename
  const as65534 = (...args: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'BVISOR_CGROUP_PARENT', `HOME=${base}`, BVISOR, '--root', join(base, 'root'), ...args], { cwd: base, encoding: 'utf8', timeout: 60_000 });
  return { base, as65534 };
}

/** The report of the journal's last line under `root`. */
export const lastReport = (root: string) => JSON.parse(readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!).report;
