// bvisor learn with real workloads (docs/learn.md): a shell script, Python, git status in a
// repository, a C program. Each learned manifest must validate and, run by `bvisor run` fully
// enforced in a bundle of its own, exit as the program exits outside any boundary (the oracle:
// the same program run plainly with spawnSync), with an empty denial list in its report. The red
// twin drops one learned grant and shows the enforced run failing, for the reason expected.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import type { SealedReport } from '../../src/contract/generated/types.js';
import { validateLearnOutput } from '../../src/contract/generated/validators.js';

function bundle(exe: string, args: string[], cwd = '/', extra = ''): string {
  const dir = tempDir('bvisor-learn-');
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${exe}, args: ${JSON.stringify(args)}, cwd: ${cwd} }\nenv: { PATH: /usr/bin:/bin, HOME: /nonexistent }\n${extra}`);
  return dir;
}

/** learn → the proposal (written with -o); asserts it was verified by learn's own check. */
function learn(dir: string): { text: string; manifest: any } {
  const out = join(dir, 'learned.yaml');
  const r = cli(['learn', '-b', dir, '-o', out]);
  expect(r.stderr).toMatch(/verified: the proposal, fully enforced, exited \d+ as observed, with no denials/);
  expect(r.status).toBe(0);
  const text = readFileSync(out, 'utf8');
  // learn never touches the bundle's manifest
  expect(readFileSync(join(dir, 'boundary.yaml'), 'utf8')).not.toMatch(/Proposed by/);
  return { text, manifest: parse(text) };
}

/** The proposal as a bundle of its own, validated, run enforced by bvisor run; exit and denials. */
function enforced(text: string): { status: number | null; denials: unknown[]; stderr: string } {
  const dir = tempDir('bvisor-learned-');
  writeFileSync(join(dir, 'boundary.yaml'), text);
  expect(cli(['validate', dir]).status).toBe(0);
  const root = tempDir('bvisor-learn-root-');
  const r = cli(['--root', root, 'run', `learned-${process.pid}`, '-b', dir]);
  const rep = cli(['--root', root, 'report', `learned-${process.pid}`, '--json']);
  // (a plan the planner refuses never ran: no report)
  const report = rep.status === 0 ? rep.json<SealedReport>() : null;
  return { status: r.status, denials: report?.body.denials?.items ?? [], stderr: r.stderr };
}

const plain = (exe: string, args: string[], cwd = '/'): number | null => spawnSync(exe, args, { cwd, env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' }, stdio: 'ignore' }).status;

describe('bvisor learn (real workloads)', () => {
  it('--json: the output matches its schema (schemas/learn-output.schema.json) and carries the proposal learn verified', () => {
    const dir = bundle('/bin/sh', ['-c', 'cat /etc/hostname >/dev/null']);
    const r = cli(['learn', '-b', dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.json();
    expect(validateLearnOutput(out), JSON.stringify(validateLearnOutput.errors)).toBe(true);
    expect(out).toMatchObject({ written: null, check: { verified: true, exitStatus: 0, denials: [] } });
    expect(parse(out.proposal).filesystem).toContainEqual({ path: '/etc/hostname', access: 'read' });
  });

  it('a shell script: cat /etc/hostname; ls /usr/share — and its red twin without /etc/hostname', () => {
    const args = ['-c', 'cat /etc/hostname; ls /usr/share >/dev/null'];
    const { text, manifest } = learn(bundle('/bin/sh', args));
    expect(manifest.spawn).toBe('descendants');
    expect(manifest.filesystem).toContainEqual({ path: '/etc/hostname', access: 'read' });
    expect(manifest.filesystem).toContainEqual({ path: '/usr', access: 'read-exec' });
    expect(manifest.network).toBe('deny');
    const e = enforced(text);
    expect(e.status).toBe(plain('/bin/sh', args));
    expect(e.denials).toEqual([]);
    // Red twin: without the grant, /etc/hostname does not exist in the root (host mode builds it
    // from the grants), so cat fails with ENOENT, not a denial: the script's status is 0 from ls,
    // so the twin's script is the cat alone.
    const twin = parse(text);
    twin.filesystem = twin.filesystem.filter((g: { path: string }) => g.path !== '/etc/hostname');
    twin.workload.process.args = ['-c', 'cat /etc/hostname'];
    const t = enforced(stringify(twin));
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/\/etc\/hostname: No such file or directory/);
  });

  it('python3 -c "import json, urllib.parse"', () => {
    const args = ['-c', 'import json, urllib.parse'];
    const { text, manifest } = learn(bundle('/usr/bin/python3', args));
    expect(manifest.spawn).toBe('deny');
    expect(manifest.filesystem).toContainEqual({ path: '/usr', access: 'read-exec' });
    const e = enforced(text);
    expect(e.status).toBe(0);
    expect(e.denials).toEqual([]);
  });

  it('git status in a repository, and its red twin without the repository', () => {
    const repo = tempDir('bvisor-learn-repo-');
    chmodSync(repo, 0o755); // the workload's uid is not ours: it reads as others do
    const g = (...a: string[]): void => void spawnSync('/usr/bin/git', ['-c', 'user.email=t@e', '-c', 'user.name=t', ...a], { cwd: repo, stdio: 'ignore' });
    g('init', '-q', '.');
    writeFileSync(join(repo, 'a.txt'), 'a\n');
    g('add', 'a.txt');
    g('commit', '-qm', 'one');
    writeFileSync(join(repo, 'b.txt'), 'b\n');
    // the workload's uid is not the repository's owner: safe.directory says it may read it
    // (--no-optional-locks: status does not refresh the index, so it writes nothing)
    const args = ['-c', 'safe.directory=*', '--no-optional-locks', 'status', '--short'];
    const { text, manifest } = learn(bundle('/usr/bin/git', args, repo, `filesystem:\n  - { path: ${repo}, access: read }\n`));
    expect(manifest.filesystem[0]).toEqual({ path: repo, access: 'read' });
    const e = enforced(text);
    expect(e.status).toBe(plain('/usr/bin/git', args, repo));
    expect(e.status).toBe(0);
    expect(e.denials).toEqual([]);
    // Red twin: without the repository grant the cwd does not exist in the root: the child's chdir
    // fails ENOENT before exec (or the planner refuses it), and bvisor run exits 125: never ran.
    const twin = parse(text);
    twin.filesystem = twin.filesystem.filter((x: { path: string }) => x.path !== repo);
    const t = enforced(stringify(twin));
    expect(t.status).toBe(125);
    expect(t.stderr).toMatch(new RegExp(`the chdir to the working directory ${repo}: ENOENT|BV_PLAN_CWD_UNREACHABLE`));
  });

  it('a C program that reads a file and forks', () => {
    const dir = tempDir('bvisor-learn-c-');
    chmodSync(dir, 0o755);
    const src = join(dir, 'prog.c');
    writeFileSync(src, '#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\nint main(void){FILE*f=fopen("/etc/hostname","r");if(!f)return 3;char b[64];if(!fgets(b,sizeof b,f))return 4;fclose(f);pid_t p=fork();if(p==0)_exit(7);int st;waitpid(p,&st,0);return WEXITSTATUS(st)==7?0:5;}\n');
    mkdirSync(join(dir, 'bin'));
    expect(spawnSync('cc', ['-O1', '-o', join(dir, 'bin', 'prog'), src]).status).toBe(0);
    const b = bundle(join(dir, 'bin', 'prog'), []);
    const { text, manifest } = learn(b);
    expect(manifest.spawn).toBe('descendants');
    expect(manifest.limits.processes).toBeGreaterThanOrEqual(8);
    expect(manifest.filesystem).toContainEqual({ path: join(dir, 'bin', 'prog'), access: 'read-exec' });
    expect(manifest.filesystem.some((g: { path: string }) => g.path === "/etc/hostname")).toBe(true);
    const e = enforced(text);
    expect(e.status).toBe(0);
    expect(e.denials).toEqual([]);
  });

  it('refuses a container-mode bundle (root:) with a hint', () => {
    const dir = bundle('/bin/sh', ['-c', 'true'], '/', 'root: { path: rootfs }\n');
    mkdirSync(join(dir, 'rootfs'));
    const r = cli(['learn', '-b', dir]);
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/BV_LEARN_UNSUPPORTED|container mode/);
  });
});
