// Seccomp denials of real programs, through `bvisor run` (docs/denials.md): Python opening an
// IP socket under network: deny, a shell asking for a user namespace (the default denylist),
// and Python forking under spawn: deny. Oracles that are not bvisor's report: each program's
// own error text (Python's PermissionError with its errno, util-linux's message) and exit
// status; then the report's list and the stderr summary must name the same call and the
// clause that denied it. A clean Python run invents nothing.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { newRoot } from '../helpers/roots.js';
import type { SealedReport } from '../../src/contract/generated/types.js';

const PY = '/usr/bin/python3';

function bundle(exe: string, args: string[], extra = '', grants = ['/usr, access: read-exec', '/etc, access: read']): string {
  const dir = tempDir('bvisor-denials-wl-');
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: ${exe}, args: ${JSON.stringify(args)}, cwd: / }\nfilesystem:\n${grants.map((g) => `  - { path: ${g} }\n`).join('')}env: { PATH: /usr/bin:/bin }\nstdio: { stdout: inherit, stderr: inherit }\n${extra}`,
  );
  return dir;
}

/** The summary `bvisor run` printed after the workload's own stderr. */
function summary(stderr: string): string[] {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => l.startsWith('bvisor: the boundary denied'));
  return at < 0 ? [] : lines.slice(at).filter((l) => l !== '');
}

function run(b: string, id: string): { status: number | null; stderr: string; report: SealedReport } {
  const root = newRoot();
  const r = cli(['--root', root, 'run', '-b', b, id]);
  const rep = cli(['--root', root, 'report', id, '--json']);
  expect(rep.status, rep.stderr).toBe(0);
  return { status: r.status, stderr: r.stderr, report: rep.json<SealedReport>() };
}

const seccompItems = (rep: SealedReport) => rep.body.denials!.items.filter((d) => d.observedBy === 'seccomp:user-notif');

describe('denials of real programs (bvisor run)', () => {
  it('python: socket(AF_INET) under network: deny is refused (PermissionError, errno 1) and traced to network', () => {
    const r = run(bundle(PY, ['-c', 'import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)']), 'py-net');
    // Python's own report of the failure: an uncaught PermissionError is exit 1 (EPERM is errno 1)
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('PermissionError: [Errno 1] Operation not permitted');
    const items = seccompItems(r.report);
    expect(items.map((d) => [d.syscall!.name, d.clause, d.errno])).toEqual([['socket', 'network', 'EPERM']]);
    expect(items[0]!.what).toMatch(/^socket\(AF_INET, SOCK_STREAM(\|SOCK_CLOEXEC)?, 0\)$/);
    const s = summary(r.stderr);
    expect(s[0]).toBe('bvisor: the boundary denied 1 action(s) in run py-net:');
    expect(s.some((l) => l.trim().startsWith(`${items[0]!.what} → EPERM: network`))).toBe(true);
    expect(s).toContain('    allow with: network: { connect: [PORT] }   # the TCP ports it may connect to');
  });

  it('shell: unshare -U asks for a user namespace, refused by the default denylist (syscalls), no clause allows it', () => {
    const r = run(bundle('/usr/bin/unshare', ['-U', '/usr/bin/true'], 'spawn: descendants\nlimits: { processes: 8 }\n'), 'sh-userns');
    expect(r.status).toBe(1);
    // util-linux's own words for the EPERM it got
    expect(r.stderr).toContain('unshare failed: Operation not permitted');
    const items = seccompItems(r.report);
    expect(items.map((d) => [d.what, d.clause, d.allow])).toEqual([['unshare(CLONE_NEWUSER)', 'syscalls', null]]);
    expect(summary(r.stderr).some((l) => /^ {2}unshare\(CLONE_NEWUSER\) → EPERM: syscalls \(.+\); no clause allows it$/.test(l))).toBe(true);
  });

  it('python: os.fork() under spawn: deny is refused and traced to spawn, with spawn: descendants as the way', () => {
    const r = run(bundle(PY, ['-c', 'import os\nos.fork()'], 'spawn: deny\n'), 'py-fork');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PermissionError: [Errno 1] Operation not permitted');
    const items = seccompItems(r.report);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ clause: 'spawn', errno: 'EPERM', allow: 'spawn: descendants   # with limits: { processes: N }' });
    expect(['clone', 'fork', 'vfork']).toContain(items[0]!.syscall!.name);
  });

  it('--explain: python reading an ungranted file and writing under a read grant — both traced, with the lines that allow them', () => {
    const data = tempDir('bvisor-explain-');
    const script = `import os\nfor p in ("/etc/hostname", "${data}/out.txt"):\n  try:\n    open(p, "w" if p.endswith("out.txt") else "r").close()\n  except OSError as e:\n    print(e.errno, p)\nraise SystemExit(3)`;
    const b = bundle(PY, ['-c', script], '', ['/usr, access: read-exec', `${data}, access: read`]);
    const root = newRoot();
    // without --explain: nothing explains the ENOENT, and the report says what to use
    const plain = cli(['--root', root, 'run', '-b', b, 'ex-plain']);
    expect(plain.status).toBe(3);
    const plainRep = cli(['--root', root, 'report', 'ex-plain', '--json']).json<SealedReport>();
    expect(plainRep.body.denials!.sources.landlock.notObserved).toContain('--explain');
    const r = cli(['--root', root, 'run', '--explain', '-b', b, 'ex-1']);
    // the program's own view: ENOENT (2) for the ungranted file, EROFS (30) under the read grant
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toContain(`2 /etc/hostname`);
    // EROFS (30) from the read-only mount, or EACCES (13) where the directory's mode refuses first
    expect(r.stdout).toMatch(new RegExp(`^(30|13) ${data}/out.txt$`, 'm'));
    const rep = cli(['--root', root, 'report', 'ex-1', '--json']).json<SealedReport>();
    expect(rep.body.denials!.sources.landlock.observed).toBe(true);
    const fs = rep.body.denials!.items.filter((d) => d.kind === 'filesystem');
    expect(fs.map((d) => [d.path, d.clause, d.errno, d.allow])).toEqual(expect.arrayContaining([
      ['/etc/hostname', 'filesystem', 'ENOENT', 'filesystem: [{ path: /etc/hostname, access: read }]'],
      [`${data}/out.txt`, 'filesystem[1]', null, `filesystem: [{ path: ${data}, access: read-write }]   # in place of filesystem[1]`],
    ]));
    // The rest are the loader's and Python's own lookups under /etc (ld.so.cache, …): each a path
    // the host has (nothing invented), none under a grant.
    for (const d of fs.filter((x) => x.clause === 'filesystem')) {
      expect(existsSync(d.path!), d.path!).toBe(true);
      expect(d.path!.startsWith('/usr/') || d.path!.startsWith(`${data}/`)).toBe(false);
    }
    const s = summary(r.stderr);
    expect(s).toContain('    allow with: filesystem: [{ path: /etc/hostname, access: read }]');
  });

  // --explain asks for the explanation whatever the end. The oracle for what was denied is the
  // shell's own words (its ENOENT for the ungranted file); exit 0 is the shell's.
  it('--explain after a run that exits 0: the ENOENT it handled is explained; with nothing denied it says so', () => {
    const root = newRoot();
    const handled = bundle('/bin/sh', ['-c', 'read x < /etc/hostname; echo survived'], '', ['/usr, access: read-exec']);
    const plain = cli(['--root', root, 'run', '-b', handled, 'ex-ok0']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stderr).not.toMatch(/^bvisor: /m); // a success is quiet unless asked
    const r = cli(['--root', root, 'run', '--explain', '-b', handled, 'ex-ok1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('survived\n');
    expect(r.stderr).toMatch(/\/etc\/hostname: (No such file|nonexistent directory)/); // dash's words for ENOENT
    const s = summary(r.stderr);
    expect(s[0]).toMatch(/^bvisor: the boundary denied \d+ action\(s\) in run ex-ok1:$/);
    expect(s).toContain('    allow with: filesystem: [{ path: /etc/hostname, access: read }]');
    // Nothing denied: the answer is said, not left to silence.
    const clean = cli(['--root', root, 'run', '--explain', '-b', bundle('/bin/sh', ['-c', 'echo fine']), 'ex-ok2']);
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stderr).toMatch(/^bvisor: no denial was observed in run ex-ok2$/m);
  });

  it('a clean python run invents no denial: empty list, total 0, no summary', () => {
    const r = run(bundle(PY, ['-c', 'import json, urllib.parse; print(json.dumps(urllib.parse.urlparse("https://x.org/a")._asdict()))']), 'py-ok');
    expect(r.status, r.stderr).toBe(0);
    expect(r.report.body.denials!.total).toBe(0);
    expect(r.report.body.denials!.items).toEqual([]);
    expect(r.report.body.denials!.sources.seccomp.observed).toBe(true);
    expect(summary(r.stderr)).toEqual([]);
  });
});
