// outputs: the report stages, the host disposes (issue 15, items 1–3), through bin/.
// Oracles: the bytes the workload wrote (hashed here, not by bvisor), the disk of the
// destination, /proc/self/mountinfo (the tmpfs quarantine, read-only once frozen), the kernel's
// ENOSPC for the limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { plan } from '../../src/core/planner.js';
import { loadManifest } from '../../src/core/manifest.js';
import { sha256Hex } from '../../src/host/hash.js';
import { v2Host } from '../helpers/hosts.js';

let work = '';
beforeAll(() => {
  work = tempDir('bvisor-outputs-');
  chmodSync(work, 0o755);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const mounts = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

function bundle(script: string, outputs: string): string {
  const dir = join(work, `b${Math.random().toString(36).slice(2, 8)}`);
  // (recursive: the helper's temp dirs go after each test, and this one is the file's)
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  chmodSync(work, 0o755);
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 32, wall: 20s }\noutputs: ${outputs}\n`);
  return dir;
}

const lastReport = (root: string) => JSON.parse(readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!).report;

describe('outputs (e2e)', () => {
  it('stages what the workload wrote: hashed after the quarantine is frozen; links, FIFOs are refused', () => {
    const root = newRoot();
    const dest = join(work, 'dest1');
    const b = bundle('printf hello > /out/a.txt; mkdir /out/sub; printf deep > /out/sub/b.txt; ln -s /etc/passwd /out/link; mkfifo /out/fifo', `{ path: /out, size: 1Mi, files: 64, to: ${dest} }`);
    const r = cli(['--root', root, 'run', '-b', b, 'out-1']);
    expect(r.status, r.stderr).toBe(0);
    const a = lastReport(root).body.artifacts;
    expect(a.items.map((x: { path: string; sha256: string; size: number }) => [x.path, x.sha256, x.size])).toEqual([
      ['a.txt', sha('hello'), 5],
      ['sub/b.txt', sha('deep'), 4],
    ]);
    expect(a.refused).toEqual([
      { path: 'fifo', reason: 'a FIFO' },
      { path: 'link', reason: 'a symlink' },
    ]);
    // Frozen: the quarantine is a read-only tmpfs now, still there until the host decides.
    const line = mounts().split('\n').find((l) => l.split(' ')[4] === a.quarantine)!;
    expect(line.split(' ')[5]!.split(',')).toContain('ro');
    expect(existsSync(dest)).toBe(false);
    // A subset first: promoted, and the rest stays staged.
    const one = cli(['--root', root, 'commit', 'out-1', '--artifact', 'sub/b.txt']);
    expect(one.status, one.stderr).toBe(0);
    expect(readFileSync(join(dest, 'sub', 'b.txt'), 'utf8')).toBe('deep');
    expect(existsSync(join(dest, 'a.txt'))).toBe(false);
    expect(existsSync(a.quarantine)).toBe(true);
    // commit: the bytes land whole in the destination; the quarantine and its mount go.
    const c = cli(['--root', root, 'commit', 'out-1']);
    expect(c.status, c.stderr).toBe(0);
    expect(readFileSync(join(dest, 'a.txt'), 'utf8')).toBe('hello');
    expect(readFileSync(join(dest, 'sub', 'b.txt'), 'utf8')).toBe('deep');
    expect(existsSync(join(dest, 'link'))).toBe(false);
    expect(existsSync(a.quarantine)).toBe(false);
    expect(mounts()).not.toContain(a.quarantine);
    // Disposed once: a second commit finds nothing staged.
    expect(cli(['--root', root, 'commit', 'out-1']).status).toBe(6);
    // The journal holds each step, decided before applied, and its chain still verifies.
    const steps = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event?.kind === 'disposition').map((e) => [e.event.action, e.event.step, e.event.artifacts.length]);
    expect(steps).toEqual([
      ['commit', 'decided', 1],
      ['commit', 'applied', 1],
      ['commit', 'decided', 2],
      ['commit', 'applied', 2],
    ]);
    expect(cli(['--root', root, 'journal', 'verify']).status).toBe(0);
  });

  it('enforces the size and file limits (the kernel says ENOSPC inside)', () => {
    const root = newRoot();
    const b = bundle('head -c 300000 /dev/zero > /out/big 2>/dev/null || echo size-refused; i=0; while [ $i -lt 40 ]; do touch /out/f$i 2>/dev/null || { echo files-refused; break; }; i=$((i+1)); done', '{ path: /out, size: 128Ki, files: 16 }');
    const r = cli(['--root', root, 'run', '-b', b, 'out-2']);
    try {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('size-refused');
      expect(r.stdout).toContain('files-refused');
    } finally {
      expect(cli(['--root', root, 'discard', 'out-2']).status).toBe(0);
    }
  });

  it('commit re-verifies each hash: bytes changed after the seal are not promoted, and the quarantine is kept', () => {
    const root = newRoot();
    const dest = join(work, 'dest3');
    const b = bundle('printf original > /out/x', `{ path: /out, size: 64Ki, to: ${dest} }`);
    expect(cli(['--root', root, 'run', '-b', b, 'out-3']).status).toBe(0);
    const q = lastReport(root).body.artifacts.quarantine as string;
    // Someone with root changes the staged bytes after the report was sealed.
    expect(spawnSync('mount', ['-o', 'remount,rw', q]).status).toBe(0);
    writeFileSync(join(q, 'x'), 'tampered');
    const c = cli(['--root', root, 'commit', 'out-3']);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/x: its hash is no longer the one the report sealed/);
    expect(existsSync(join(dest, 'x'))).toBe(false);
    expect(existsSync(q)).toBe(true);
    expect(cli(['--root', root, 'discard', 'out-3']).status).toBe(0);
    expect(existsSync(q)).toBe(false);
  });

  it('on-success commits after the seal only when the run completed with exit 0', () => {
    const root = newRoot();
    const ok = join(work, 'dest-ok');
    const bad = join(work, 'dest-bad');
    expect(cli(['--root', root, 'run', '-b', bundle('printf yes > /out/r', `{ path: /out, commit: on-success, to: ${ok} }`), 'out-4']).status).toBe(0);
    expect(readFileSync(join(ok, 'r'), 'utf8')).toBe('yes');
    expect(cli(['--root', root, 'run', '-b', bundle('printf no > /out/r; exit 3', `{ path: /out, commit: on-success, to: ${bad} }`), 'out-5']).status).toBe(3);
    expect(existsSync(join(bad, 'r'))).toBe(false);
    // Still staged for the host to decide.
    expect(existsSync(lastReport(root).body.artifacts.quarantine)).toBe(true);
    expect(cli(['--root', root, 'discard', 'out-5']).status).toBe(0);
  });

  it('the report carries the delta of each read-write grant: created, modified, deleted (the test made the "before")', () => {
    const root = newRoot();
    const data = join(work, `data-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'edit'), 'old');
    writeFileSync(join(data, 'gone'), 'x');
    spawnSync('chown', ['-R', '65534:65534', data]); // the workload's identity as root: writable to it
    const dir = join(work, `fsd-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf new > ${data}/n; printf more >> ${data}/edit; rm ${data}/gone"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${data}, access: read-write }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\n`);
    const r = cli(['--root', root, 'run', '-b', dir, 'fsd-1']);
    expect(r.status, r.stderr).toBe(0);
    const [d] = lastReport(root).body.fsDelta;
    expect(d).toEqual({ clause: 'filesystem[1]', path: data, notObserved: null, created: [{ path: 'n', kind: 'file', size: 3, sha256: sha('new') }], modified: [{ path: 'edit', kind: 'file', size: 7, sha256: sha('oldmore') }], deleted: [{ path: 'gone', kind: 'file', size: 1 }] });
  });

  it('the planner refuses limits it could not enforce (rootless: no tmpfs on the host)', () => {
    const m = loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\noutputs: { path: /out, size: 1Mi }\n', 't.yaml').manifest;
    const p = plan({ manifest: m, host: v2Host(), paths: { grants: [{ path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 }], exe: { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null }, cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['outputs', 'BV_PLAN_OUTPUTS']]);
  });
});
