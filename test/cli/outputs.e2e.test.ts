// outputs: the report stages, the host disposes (issue 15, items 1–3), through bin/.
// Oracles: the bytes the workload wrote (hashed here, not by bvisor), the disk of the
// destination, /proc/self/mountinfo (the tmpfs quarantine, read-only once frozen), the kernel's
// ENOSPC for the limits.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, BVISOR, PAUSE_SEAM, cli, cliEnv } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';
import { keepRoot, newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { plan } from '../../src/core/planner.js';
import { loadManifest } from '../../src/core/manifest.js';
import { sha256Hex } from '../../src/host/hash.js';
import { v2Host } from '../helpers/hosts.js';
import { lastReport, outputsWork } from '../helpers/outputs.js';

const work = outputsWork();

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const mounts = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

const bundle = work.bundle;

const reportOf = (root: string, id: string) => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.report?.body.containerId === id).report;
const tmpdirOf = (): string => process.env.TMPDIR || '/tmp';

describe('outputs (e2e)', () => {
  it('stages what the workload wrote: hashed after the quarantine is frozen; links, FIFOs are refused', () => {
    const root = newRoot();
    const dest = join(work.dir, 'dest1');
    const b = bundle('printf hello > /out/a.txt; mkdir /out/sub; printf deep > /out/sub/b.txt; ln -s /etc/passwd /out/link; mkfifo /out/fifo', '{ path: /out, size: 1Mi, files: 64 }');
    const r = cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'out-1']);
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

  it('a state root whose path holds a space and a backslash (mountinfo escapes them, proc(5)): its tmpfs quarantines are still known as mounts, removed by commit and discard, each disposed once', () => {
    const root = keepRoot(join(tempDir(), 'state r\\oot'));
    const dest = join(work.dir, 'dest-space');
    const b = bundle('printf hi > /out/a', '{ path: /out, size: 1Mi }');
    for (const id of ['sp-commit', 'sp-discard']) expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, id]).status).toBe(0);
    const q = (id: string): string => reportOf(root, id).body.artifacts.quarantine;
    const mounted = (dir: string): boolean => mounts().split('\n').some((l) => l.split(' ')[4] === dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`));
    const [qc, qd] = [q('sp-commit'), q('sp-discard')];
    // A failing case must not leave its mounts (the temp dir's removal would stop at them).
    try {
      expect(qc).toContain(' ');
      expect(mounted(qc)).toBe(true);
      const c = cli(['--root', root, 'commit', 'sp-commit']);
      expect(c.status, c.stderr).toBe(0);
      expect(readFileSync(join(dest, 'a'), 'utf8')).toBe('hi');
      expect([mounted(qc), existsSync(qc)]).toEqual([false, false]);
      expect(cli(['--root', root, 'commit', 'sp-commit']).status).toBe(6);
      const d = cli(['--root', root, 'discard', 'sp-discard']);
      expect(d.status, d.stderr).toBe(0);
      expect([mounted(qd), existsSync(qd)]).toEqual([false, false]);
      const steps = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event?.kind === 'disposition').map((e) => [e.event.action, e.event.step]);
      expect(steps).toEqual([['commit', 'decided'], ['commit', 'applied'], ['discard', 'decided'], ['discard', 'applied']]);
    } finally {
      for (const dir of [qc, qd]) if (mounted(dir)) spawnSync('umount', [dir]);
    }
  });

  it('a commit killed mid-copy leaves its copy beside the target; the commit run again finishes it and removes that copy', () => {
    const root = newRoot();
    const dest = join(work.dir, `dest-crash-${Math.random().toString(36).slice(2, 8)}`);
    // A tmpfs quarantine is another filesystem: the commit copies, then renames the copy.
    const b = bundle('printf crash-safe > /out/a', '{ path: /out, size: 1Mi }');
    expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'crash-1']).status).toBe(0);
    try {
      const killed = cli(['--root', root, 'commit', 'crash-1'], { crashAt: 'commit:before-rename' });
      expect(killed.signal).toBe('SIGKILL');
      const left = readdirSync(dest).filter((n) => n.startsWith('.bvisor-commit-'));
      expect(left).toHaveLength(1);
      expect(readFileSync(join(dest, left[0]!), 'utf8')).toBe('crash-safe');
      const again = cli(['--root', root, 'commit', 'crash-1']);
      expect(again.status, again.stderr).toBe(0);
      expect(readdirSync(dest)).toEqual(['a']);
      expect(readFileSync(join(dest, 'a'), 'utf8')).toBe('crash-safe');
      // Its name can be known (a run id, a hash of a name and bytes): one planted there, not a
      // file of ours (a review made it a non-empty directory of uid 65534), neither stops a
      // commit nor is removed.
      rmSync(join(dest, 'a'));
      expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'crash-2']).status).toBe(0);
      const q2 = reportOf(root, 'crash-2').body.artifacts;
      const tmp2 = `.bvisor-commit-${reportOf(root, 'crash-2').body.runId}-${q2.items[0].id}`;
      mkdirSync(join(dest, tmp2, 'x'), { recursive: true });
      const third = cli(['--root', root, 'commit', 'crash-2']);
      expect(third.status, third.stderr).toBe(0);
      expect(readFileSync(join(dest, 'a'), 'utf8')).toBe('crash-safe');
      expect(readdirSync(join(dest, tmp2))).toEqual(['x']);
    } finally {
      for (const id of ['crash-1', 'crash-2']) {
        let dir: string | null = null;
        try {
          dir = reportOf(root, id).body.artifacts.quarantine;
        } catch {
          // no report for it: nothing mounted
        }
        if (dir && mounts().split('\n').some((l) => l.split(' ')[4] === dir)) spawnSync('umount', [dir]);
      }
    }
  });

  it.each(['discard', 'commit'])('a commit killed mid-copy into a destination of its own (--to), then a %s that ends the quarantine: the copies left there are removed; what is not a copy of ours stays', (ending) => {
    const root = newRoot();
    const dest = join(work.dir, `dest-drop-${Math.random().toString(36).slice(2, 8)}`);
    const other = join(work.dir, `dest-other-${Math.random().toString(36).slice(2, 8)}`);
    // Two artifacts, one in a directory: each copy is left beside its own target.
    const b = bundle('mkdir -p /out/d && printf one > /out/a && printf two > /out/d/b', '{ path: /out, size: 1Mi }');
    const id = `drop-${ending}`;
    expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, id]).status).toBe(0);
    const report = reportOf(root, id);
    const quarantine = report.body.artifacts.quarantine as string;
    try {
      // Into a destination of the caller's (--to), which only the journal and bvisor's record name.
      const killed = cli(['--root', root, 'commit', '--to', other, id], { crashAt: 'commit:before-rename' });
      expect(killed.signal).toBe('SIGKILL');
      const runId = report.body.runId as string;
      const idA = (report.body.artifacts.items as Array<{ id: string; path: string }>).find((x) => x.path === 'a')!.id;
      const names = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.bvisor-commit-')).sort() : []);
      const crashed = [...names(other), ...names(join(other, 'd'))];
      expect(crashed).toHaveLength(1);
      // A copy under a name of its own (a planted name made the commit take one): removed too.
      const ownName = `.bvisor-commit-${runId}-${idA}-0123456789ab`;
      writeFileSync(join(other, ownName), 'one');
      // Not copies of ours, though named like them: a file not named as any copy is, a directory
      // under a copy's name, and (rootful) a file of uid 65534 under one.
      const unrelated = `.bvisor-commit-${runId}-unrelated`;
      writeFileSync(join(other, unrelated), 'x');
      const dir = `.bvisor-commit-${runId}-${idA}-dddddddddddd`;
      mkdirSync(join(other, dir));
      const theirs = `.bvisor-commit-${runId}-${idA}-eeeeeeeeeeee`;
      const rootful = process.geteuid?.() === 0;
      if (rootful) {
        writeFileSync(join(other, theirs), 'theirs');
        chownSync(join(other, theirs), 65534, 65534);
      }
      const d = ending === 'discard' ? cli(['--root', root, 'discard', id, '--json']) : cli(['--root', root, 'commit', id, '--json']);
      expect(d.status, d.stderr).toBe(0);
      expect(d.json().left).toBeUndefined();
      expect([names(other), names(join(other, 'd'))]).toEqual([[dir, ...(rootful ? [theirs] : []), unrelated].sort(), []]);
      expect(existsSync(join(other, 'a'))).toBe(false);
      if (ending === 'commit') expect([readFileSync(join(dest, 'a'), 'utf8'), readFileSync(join(dest, 'd', 'b'), 'utf8')]).toEqual(['one', 'two']);
      expect(existsSync(quarantine)).toBe(false);
      // The record went with the quarantine.
      expect(readdirSync(join(root, 'outputs')).filter((n) => n.endsWith('.commit'))).toEqual([]);
    } finally {
      if (mounts().split('\n').some((l) => l.split(' ')[4] === quarantine)) spawnSync('umount', [quarantine]);
    }
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

  it('a sparse file larger than its tmpfs quarantine is refused at staging: a commit would write it whole', () => {
    const root = newRoot();
    const b = bundle('truncate -s 300M /out/sparse && printf ok > /out/plain', '{ path: /out, size: 1Mi }');
    const r = cli(['--root', root, 'run', '-b', b, 'sparse-1']);
    expect(r.status, r.stderr).toBe(0);
    const a = reportOf(root, 'sparse-1').body.artifacts;
    // truncate(1): 300M is 300 × 1024 × 1024 bytes; outputs.size 1Mi is 1024 × 1024.
    expect(a.refused).toEqual([{ path: 'sparse', reason: 'a sparse file: 314572800 bytes in a quarantine of 1048576 (outputs.size); a commit would write it whole' }]);
    expect(a.items.map((x: { path: string }) => x.path)).toEqual(['plain']);
    const dest = tempDir();
    const c = cli(['--root', root, 'commit', 'sparse-1', '--to', dest]);
    expect(c.status, c.stderr).toBe(0);
    expect(readdirSync(dest)).toEqual(['plain']);
    expect(cli(['--root', root, 'discard', 'sparse-1']).status).toBe(0);
    // Many sparse files each within the size: listed while together they fit, then refused.
    const many = bundle('for i in 1 2 3 4 5; do truncate -s 512K /out/s$i; done', '{ path: /out, size: 1Mi, files: 20 }');
    expect(cli(['--root', root, 'run', '-b', many, 'sparse-2']).status).toBe(0);
    const m = reportOf(root, 'sparse-2').body.artifacts;
    // 512K is 524288 bytes: two of them are the 1Mi quarantine's size.
    expect(m.items.map((x: { path: string }) => x.path)).toEqual(['s1', 's2']);
    expect(m.refused).toEqual(['s3', 's4', 's5'].map((path) => ({ path, reason: '524288 bytes, with the 1048576 listed before it, pass outputs.size (1048576): holes, or names of one file, that a commit would write whole; raise outputs.size, or write fewer, denser files' })));
    expect(cli(['--root', root, 'discard', 'sparse-2']).status).toBe(0);
  });

  it('commit re-verifies each hash: bytes changed after the seal are not promoted, and the quarantine is kept', () => {
    const root = newRoot();
    const dest = join(work.dir, 'dest3');
    const b = bundle('printf original > /out/x', '{ path: /out, size: 64Ki }');
    expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'out-3']).status).toBe(0);
    const q = lastReport(root).body.artifacts.quarantine as string;
    // Someone with root changes the staged bytes after the report was sealed.
    expect(spawnSync('mount', ['-o', 'remount,rw', q]).status).toBe(0);
    writeFileSync(join(q, 'x'), 'tampered');
    const c = cli(['--root', root, 'commit', 'out-3']);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/x: its hash is no longer the one the report sealed/);
    // Nothing of the new bytes' hash (they were never searched for secret values), in the
    // message or the journal's failed entry.
    const tampered = createHash('sha256').update('tampered').digest('hex').slice(0, 12);
    expect(c.stderr).not.toContain(tampered);
    expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain(tampered);
    expect(existsSync(join(dest, 'x'))).toBe(false);
    expect(existsSync(q)).toBe(true);
    expect(cli(['--root', root, 'discard', 'out-3']).status).toBe(0);
    expect(existsSync(q)).toBe(false);
  });

  // on-success: the destination is the caller's (--outputs-to); without one (nor a ./ place in
  // the bundle) the run is refused before anything runs.
  it('on-success commits after the seal only when the run completed with exit 0', () => {
    const root = newRoot();
    const ok = join(work.dir, 'dest-ok');
    const bad = join(work.dir, 'dest-bad');
    const none = cli(['--root', root, 'run', '-b', bundle('printf yes > /out/r', '{ path: /out, commit: on-success }'), 'out-0', '--json']);
    expect(none.status).toBe(125);
    expect(none.json().error).toMatchObject({ code: 'BV_OUTPUTS', message: expect.stringContaining('commit: on-success needs a destination') });
    expect(existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []).toEqual([]);
    expect(cli(['--root', root, 'run', '-b', bundle('printf yes > /out/r', '{ path: /out, commit: on-success }'), '--outputs-to', ok, 'out-4']).status).toBe(0);
    expect(readFileSync(join(ok, 'r'), 'utf8')).toBe('yes');
    expect(cli(['--root', root, 'run', '-b', bundle('printf no > /out/r; exit 3', '{ path: /out, commit: on-success }'), '--outputs-to', bad, 'out-5']).status).toBe(3);
    expect(existsSync(join(bad, 'r'))).toBe(false);
    // Still staged for the host to decide.
    expect(existsSync(lastReport(root).body.artifacts.quarantine)).toBe(true);
    expect(cli(['--root', root, 'discard', 'out-5']).status).toBe(0);
  });

  /** A container bundle whose workload writes /out/k, committed on success; and a destination for it. */
  function onSuccessContainerBundle(): { dir: string; dest: string } {
    const tag = Math.random().toString(36).slice(2, 8);
    const dir = join(work.dir, `ons-${tag}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf c > /out/k"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 20s }\nstdio: { stdin: null, stdout: null, stderr: null }\noutputs: { path: /out, commit: on-success, to: ./results }\n`);
    return { dir, dest: join(work.dir, `dest-${tag}`) };
  }

  it('on-success for a container: committed when its report is sealed (at state or delete), once', () => {
    const root = newRoot();
    const { dir, dest } = onSuccessContainerBundle();
    expect(cli(['--root', root, 'create', '-b', dir, '--outputs-to', dest, 'onsc-1']).status).toBe(0);
    expect(cli(['--root', root, 'start', 'onsc-1']).status).toBe(0);
    for (let i = 0; i < 200 && cli(['--root', root, 'state', 'onsc-1']).json().status !== 'stopped'; i++) spawnSync('sleep', ['0.05']);
    expect(cli(['--root', root, 'delete', 'onsc-1']).status).toBe(0);
    expect(readFileSync(join(dest, 'k'), 'utf8')).toBe('c');
    const entries = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const kinds = entries.map((e) => (e.report ? 'report' : e.event?.kind === 'disposition' ? `${e.event.action}:${e.event.step}` : e.event?.kind));
    // The report first, then the commit, decided before applied, and only once.
    expect(kinds.slice(kinds.indexOf('report'))).toEqual(['report', 'commit:decided', 'commit:applied']);
  });

  it('on-success for a container whose commit fails: the failure is a journal entry (a failed disposition), not a failed delete', () => {
    const root = newRoot();
    const { dir, dest } = onSuccessContainerBundle();
    expect(cli(['--root', root, 'create', '-b', dir, '--outputs-to', dest, 'onsf-1']).status).toBe(0);
    // A file where the destination directory was: the commit (at the seal) cannot go there.
    rmSync(dest, { recursive: true, force: true });
    writeFileSync(dest, 'in the way\n');
    expect(cli(['--root', root, 'start', 'onsf-1']).status).toBe(0);
    for (let i = 0; i < 200 && cli(['--root', root, 'state', 'onsf-1']).json().status !== 'stopped'; i++) spawnSync('sleep', ['0.05']);
    const del = cli(['--root', root, 'delete', 'onsf-1']);
    expect(del.status, del.stderr).toBe(0);
    expect(readFileSync(dest, 'utf8')).toBe('in the way\n');
    const entries = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const kinds = entries.map((e) => (e.report ? 'report' : e.event?.kind === 'disposition' ? `${e.event.action}:${e.event.step}` : e.event?.kind));
    expect(kinds.at(-1)).toBe('commit:failed');
    expect(cli(['--root', root, 'journal', 'verify', '--json']).json()).toMatchObject({ ok: true });
  });

  it('a container whose workload had secrets lists no outputs at its seal (it cannot check names against them), says why, and on-success keeps them; nor hashes what it printed', () => {
    const root = newRoot();
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const dir = join(work.dir, `sec-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf t > /out/tok-$TOKEN; printf ok > /out/plain; printf %s $TOKEN"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nenv: { TOKEN: { secret: tok } }\nlimits: { processes: 16, wall: 20s }\nstdio: { stdin: null, stdout: capture, stderr: null }\noutputs: { path: /out, commit: on-success, to: ./results }\n`);
    expect(cli(['--root', root, 'create', '-b', dir, 'sec-1', '--secret', 'tok', '--outputs-to', join(dir, 'dest')], { env: { BVISOR_SECRET_TOK: secret } }).status).toBe(0);
    expect(cli(['--root', root, 'start', 'sec-1']).status).toBe(0);
    for (let i = 0; i < 200 && cli(['--root', root, 'state', 'sec-1']).json().status !== 'stopped'; i++) spawnSync('sleep', ['0.05']);
    expect(cli(['--root', root, 'delete', 'sec-1']).status).toBe(0);
    const rep = reportOf(root, 'sec-1');
    // What it printed was the value: counted, not hashed (the seal cannot know the values).
    expect(rep.body.streams.stdout).toMatchObject({ mode: 'capture', bytes: secret.length, sha256: null });
    expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain(createHash('sha256').update(secret).digest('hex'));
    const a = rep.body.artifacts;
    // The disk: the workload made both; the report lists neither, and says why.
    expect(readdirSync(a.quarantine).sort()).toEqual(['plain', `tok-${secret}`]);
    expect(a.items).toEqual([]);
    expect(a.refused).toEqual([{ path: '.', reason: expect.stringMatching(/^the workload had secrets in its environment/) }]);
    expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain(secret);
    // on-success had nothing to promote, and the unlisted files are not its to delete.
    expect(existsSync(join(a.quarantine, 'plain'))).toBe(true);
    expect(existsSync(join(dir, 'dest', 'plain'))).toBe(false);
    expect(cli(['--root', root, 'discard', 'sec-1']).status).toBe(0);
    expect(existsSync(a.quarantine)).toBe(false);
  });

  it('the report carries the delta of each read-write grant: created, modified, deleted (the test made the "before")', () => {
    const root = newRoot();
    const data = join(work.dir, `data-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'edit'), 'old');
    writeFileSync(join(data, 'gone'), 'x');
    spawnSync('chown', ['-R', '65534:65534', data]); // the workload's identity as root: writable to it
    const dir = join(work.dir, `fsd-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf new > ${data}/n; printf more >> ${data}/edit; rm ${data}/gone"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${data}, access: read-write }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\n`);
    const r = cli(['--root', root, 'run', '-b', dir, 'fsd-1']);
    expect(r.status, r.stderr).toBe(0);
    const [d] = lastReport(root).body.fsDelta;
    expect(d).toEqual({ clause: 'filesystem[1]', path: data, notObserved: null, created: [{ path: 'n', kind: 'file', size: 3, sha256: sha('new') }], modified: [{ path: 'edit', kind: 'file', size: 7, sha256: sha('oldmore') }], deleted: [{ path: 'gone', kind: 'file', size: 1 }] });
  });

  it('hard links: all names inside the quarantine are artifacts (promoted as separate copies); a name outside refuses the file', () => {
    const root = newRoot();
    const dest = join(work.dir, `dest-links-${Math.random().toString(36).slice(2, 8)}`);
    const dir = join(work.dir, `links-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf same > /out/a; ln /out/a /out/b; printf lone > /out/c; while [ ! -e /out/go ]; do sleep 0.05; done"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 20s }\nstdio: { stdin: null, stdout: null, stderr: null }\noutputs: { path: /out }\n`);
    expect(cli(['--root', root, 'create', '-b', dir, '--outputs-to', dest, 'links-1']).status).toBe(0);
    expect(cli(['--root', root, 'start', 'links-1']).status).toBe(0);
    // While it runs, the host (any process but the workload) gives c a name outside the
    // quarantine: whoever holds that name could change the bytes after they were hashed.
    const [runId] = readdirSync(join(root, 'outputs'));
    const q = join(root, 'outputs', runId!);
    for (let i = 0; i < 200 && !existsSync(join(q, 'c')); i++) spawnSync('sleep', ['0.05']);
    const outside = join(work.dir, `outside-${runId}`);
    linkSync(join(q, 'c'), outside);
    writeFileSync(join(q, 'go'), '');
    try {
      for (let i = 0; i < 200 && cli(['--root', root, 'state', 'links-1']).json().status !== 'stopped'; i++) spawnSync('sleep', ['0.05']);
      expect(cli(['--root', root, 'delete', 'links-1']).status).toBe(0);
      const a = lastReport(root).body.artifacts;
      expect(a.items.map((x: { path: string; sha256: string }) => [x.path, x.sha256])).toEqual([
        ['a', sha('same')],
        ['b', sha('same')],
        ['go', sha('')],
      ]);
      expect(a.refused).toEqual([{ path: 'c', reason: 'a hard link to a file outside the quarantine (2 names, 1 inside)' }]);
      const c = cli(['--root', root, 'commit', 'links-1', '--artifact', 'a', '--artifact', 'b']);
      expect(c.status, c.stderr).toBe(0);
      // Two files with one name each: a rename would have handed the destination one inode
      // under two names, and the quarantine's third name (none here) with it.
      const [sa, sb] = [statSync(join(dest, 'a')), statSync(join(dest, 'b'))];
      expect(readFileSync(join(dest, 'a'), 'utf8')).toBe('same');
      expect(readFileSync(join(dest, 'b'), 'utf8')).toBe('same');
      expect(sa.ino).not.toBe(sb.ino);
      expect([sa.nlink, sb.nlink]).toEqual([1, 1]);
      expect(existsSync(join(dest, 'c'))).toBe(false);
      expect(cli(['--root', root, 'discard', 'links-1']).status).toBe(0);
    } finally {
      rmSync(outside, { force: true });
    }
  });

  it('names of one file count whole against what a commit may write (16 GiB a run without outputs.size): 200 names of 100 MiB list 163, refuse the rest unlisted', () => {
    const root = newRoot();
    const dir = join(work.dir, `many-links-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // One file of 100 MiB (written, not sparse: staging hashes it once) and 199 more names of it.
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "head -c 104857600 /dev/zero > /out/f000 && i=1; while [ $i -lt 200 ]; do ln /out/f000 /out/f$(printf %03d $i); i=$((i+1)); done"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 60s }\nstdio: { stdin: null, stdout: null, stderr: null }\noutputs: { path: /out }\n`);
    const r = cli(['--root', root, 'run', '-b', dir, 'many-links']);
    expect(r.status, r.stderr).toBe(0);
    const a = lastReport(root).body.artifacts;
    try {
      // docs/outputs.md: a commit writes each name whole, at most 16 GiB for a run.
      const fit = Math.floor((16 * 2 ** 30) / (100 * 2 ** 20));
      expect(a.items.length).toBe(fit);
      expect(a.items.reduce((n: number, x: { size: number }) => n + x.size, 0)).toBeLessThanOrEqual(16 * 2 ** 30);
      expect(a.refused.length).toBe(200 - fit);
      expect(a.refused[0].reason).toMatch(/^104857600 bytes, with the \d+ listed before it, pass the 17179869184 bytes a commit writes for a run at most/);
    } finally {
      expect(cli(['--root', root, 'discard', 'many-links']).status).toBe(0);
    }
  });

  // The state root on a tmpfs (/dev/shm), the destination on the disk: two filesystems.
  const shmApart = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdirOf()).dev;
  if (!shmApart) console.warn('SKIP outputs placement: /dev/shm is not a filesystem of its own here (the test needs two filesystems)');
  it.skipIf(!shmApart)('a directory quarantine is placed on its destination\'s filesystem: commit is a rename, discard leaves nothing', () => {
    const root = keepRoot(mkdtempSync('/dev/shm/bvisor-test-'));
    try {
      const dest = join(work.dir, `dest-placed-${Math.random().toString(36).slice(2, 8)}`);
      const b = bundle('printf placed > /out/p; printf second > /out/q', '{ path: /out }');
      expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'placed-1']).status).toBe(0);
      const r = lastReport(root).body;
      const q = r.artifacts.quarantine as string;
      // Oracles: the devices of the quarantine, the destination and the root, and the disk.
      expect(q).toBe(join(realpathSync(dest), '.bvisor-quarantine', r.runId));
      expect(statSync(q).dev).toBe(statSync(dest).dev);
      expect(statSync(q).dev).not.toBe(statSync(root).dev);
      expect(statSync(join(dest, '.bvisor-quarantine')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dest, '.bvisor-quarantine')).uid).toBe(0);
      expect(readlinkSync(join(root, 'outputs', r.runId))).toBe(q);
      const ino = statSync(join(q, 'p')).ino;
      // A subset first (renamed out of the quarantine), then the rest: the second commit finds
      // p promoted already (its bytes in the destination) and finishes.
      const one = cli(['--root', root, 'commit', 'placed-1', '--artifact', 'p']);
      expect(one.status, one.stderr).toBe(0);
      expect(existsSync(join(q, 'p'))).toBe(false);
      const c = cli(['--root', root, 'commit', 'placed-1']);
      expect(c.status, c.stderr).toBe(0);
      expect(readFileSync(join(dest, 'p'), 'utf8')).toBe('placed');
      expect(readFileSync(join(dest, 'q'), 'utf8')).toBe('second');
      expect(statSync(join(dest, 'p')).ino).toBe(ino); // the very inode: a rename
      expect(readdirSync(dest).sort()).toEqual(['p', 'q']);
      expect(lstatSync(join(root, 'outputs', r.runId), { throwIfNoEntry: false })).toBeUndefined();
      // discard of a placed quarantine: its directory, its home and the link go.
      expect(cli(['--root', root, 'run', '-b', bundle('printf x > /out/y', '{ path: /out }'), '--outputs-to', dest, 'placed-2']).status).toBe(0);
      const q2 = lastReport(root).body.artifacts.quarantine as string;
      expect(existsSync(q2)).toBe(true);
      expect(cli(['--root', root, 'discard', 'placed-2']).status).toBe(0);
      expect(readdirSync(dest).sort()).toEqual(['p', 'q']);
      expect(readdirSync(join(root, 'outputs'))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('outputs.to ./x is in the bundle directory; the plan and the report name it absolutely', () => {
    const root = newRoot();
    const b = bundle('printf rel > /out/r', '{ path: /out, commit: on-success, to: ./results }');
    expect(cli(['--root', root, 'run', '-b', b, 'rel-1']).status).toBe(0);
    // Who chose it is recorded beside it: here the bundle.
    expect(reportOf(root, 'rel-1').body.artifacts).toMatchObject({ to: join(realpathSync(b), 'results'), toFrom: 'bundle' });
    expect(readFileSync(join(b, 'results', 'r'), 'utf8')).toBe('rel');
    // The caller's --outputs-to replaces it, and the report says so; so does the plan.
    const dest = join(tempDir(), 'mine');
    expect(cli(['--root', root, 'run', '-b', b, '--outputs-to', dest, 'rel-2']).status).toBe(0);
    expect(reportOf(root, 'rel-2').body.artifacts).toMatchObject({ to: dest, toFrom: 'caller' });
    expect(readFileSync(join(dest, 'r'), 'utf8')).toBe('rel');
  });

  it('outputs.to ./x in a bundle archive is refused before anything runs (the archive is unpacked to a temp dir), and leaves nothing', () => {
    const root = newRoot();
    const b = bundle('printf rel > /out/r', '{ path: /out, to: ./results }');
    const tarball = `${b}.tar`;
    expect(spawnSync('tar', ['-cf', tarball, '-C', b, '.']).status).toBe(0);
    try {
      const r = cli(['--root', root, 'run', '-b', tarball, 'reltar-1']);
      // bvisor run's own failure (docs/exit-codes.md: run reserves 125 for bvisor's errors)
      expect(r.status).toBe(125);
      expect(r.stderr).toMatch(/BV_OUTPUTS: outputs\.to "\.\/results" names a place in a bundle archive/);
      expect(existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []).toEqual([]);
    } finally {
      rmSync(tarball, { force: true });
    }
  });

  it('a workload cannot name the reserved .bvisor-quarantine (a commit never writes where quarantines live)', () => {
    const root = newRoot();
    const dest = join(work.dir, `dest-res-${Math.random().toString(36).slice(2, 8)}`);
    expect(cli(['--root', root, 'run', '-b', bundle('mkdir -p /out/.bvisor-quarantine/x /out/sub/.bvisor-quarantine; printf a > /out/.bvisor-quarantine/x/f; printf b > /out/sub/.bvisor-quarantine/g; printf ok > /out/ok', '{ path: /out }'), '--outputs-to', dest, 'res-1']).status).toBe(0);
    const a = lastReport(root).body.artifacts;
    expect(a.items.map((x: { path: string }) => x.path)).toEqual(['ok']);
    // At any depth: `commit --to` an ancestor would otherwise write into another run's home.
    expect(a.refused.map((x: { path: string }) => x.path)).toEqual(['.bvisor-quarantine', 'sub/.bvisor-quarantine']);
    expect(cli(['--root', root, 'discard', 'res-1']).status).toBe(0);
  });

  it('a destination the workload could reach is refused before anything runs: inside or around a read-write grant, or the bundle itself', () => {
    const root = newRoot();
    const data = join(work.dir, `reach-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(join(data, 'results'), { recursive: true });
    const grantLine = `  - { path: ${data}, access: read-write }\n`;
    // An absolute destination is the caller's (--outputs-to); ./ is the bundle's.
    const withGrant = (to: string): string[] => {
      const b = bundle(`printf ran > ${data}/ran`, to.startsWith('/') ? '{ path: /out }' : `{ path: /out, to: ${to} }`);
      writeFileSync(join(b, 'boundary.yaml'), readFileSync(join(b, 'boundary.yaml'), 'utf8').replace('filesystem:\n', `filesystem:\n${grantLine}`));
      return ['-b', b, ...(to.startsWith('/') ? ['--outputs-to', to] : [])];
    };
    for (const [to, why] of [
      [join(data, 'results'), /overlaps the read-write grant filesystem\[0\]/],
      [work.dir, /overlaps the read-write grant filesystem\[0\]/],
      ['./', /is the bundle directory or holds it/],
    ] as const) {
      const r = cli(['--root', root, 'run', ...withGrant(to), 'reach-1']);
      expect(r.status, r.stderr).toBe(125);
      expect(r.stderr).toMatch(/BV_OUTPUTS: outputs\.to .* nothing was run/);
      expect(r.stderr).toMatch(why);
      expect(existsSync(join(data, 'ran'))).toBe(false);
    }
    expect(existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []).toEqual([]);
  });

  // The bundle is not trusted (docs/security.md), and commit promotes as bvisor's user (root):
  // the bundle names no host destination; the caller does (--outputs-to), never into the root.
  const leftUnder = (root: string): string[] => ['outputs', 'containers'].flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => `${d}/${n}`) : []));
  const victimDir = (): string => {
    const v = join(work.dir, `victim-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(v, { recursive: true });
    writeFileSync(join(v, 'passwd'), 'root:x:0:0:original\n');
    return v;
  };

  it('a manifest\'s absolute outputs.to is refused before anything runs; the caller\'s --outputs-to is where it commits', () => {
    const root = newRoot();
    const victim = victimDir();
    const script = 'printf evil > /out/passwd; printf cron > /out/evilcron';
    // As the attack wrote it: on-success, into a directory of root's files (it stands for /etc).
    const hostile = bundle(script, `{ path: /out, commit: on-success, to: ${victim} }`);
    const r = cli(['--root', root, 'run', '-b', hostile, 'abs-1']);
    expect(r.status, r.stderr).toBe(125);
    expect(r.stderr).toContain(`BV_OUTPUTS: outputs.to ${victim}: a bundle cannot choose a host destination`);
    expect(r.stderr).toMatch(/--outputs-to DIR/);
    // The disk: the destination as it was, and nothing of the attempt under the root.
    expect(readdirSync(victim)).toEqual(['passwd']);
    expect(readFileSync(join(victim, 'passwd'), 'utf8')).toBe('root:x:0:0:original\n');
    expect(leftUnder(root)).toEqual([]);
    // create refuses it the same way (its exit is BV_OUTPUTS's own: 1, runtime).
    const c = cli(['--root', root, 'create', '-b', hostile, 'abs-2']);
    expect(c.status, c.stderr).toBe(1);
    expect(c.stderr).toContain('a bundle cannot choose a host destination');
    expect(leftUnder(root)).toEqual([]);
    // plan says so too, rather than admitting a destination run would refuse.
    const p = cli(['--root', root, 'plan', hostile]);
    expect(p.status, p.stderr).toBe(1);
    expect(p.stderr).toContain(`BV_OUTPUTS: outputs.to ${victim}: a bundle cannot choose a host destination`);
    // The same bundle with the caller's destination: committed there (the caller's word replaces
    // the manifest's), and the manifest's untouched.
    const dest = join(work.dir, `dest-caller-${Math.random().toString(36).slice(2, 8)}`);
    const ok = cli(['--root', root, 'run', '-b', hostile, '--outputs-to', dest, 'abs-3']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(join(dest, 'passwd'), 'utf8')).toBe('evil');
    expect(readFileSync(join(dest, 'evilcron'), 'utf8')).toBe('cron');
    expect(readdirSync(victim)).toEqual(['passwd']);
    // Relative to the caller's directory.
    const cwd = join(work.dir, `cwd-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(cwd);
    expect(cli(['--root', root, 'run', '-b', bundle('printf rel > /out/r', '{ path: /out, commit: on-success, to: ./results }'), '--outputs-to', 'here', 'abs-4'], { cwd }).status).toBe(0);
    expect(readFileSync(join(cwd, 'here', 'r'), 'utf8')).toBe('rel');
  });

  it('--outputs-to for a manifest without outputs is a usage error; nothing runs', () => {
    const root = newRoot();
    const dir = join(work.dir, `noout-${Math.random().toString(36).slice(2, 8)}`);
    const marker = join(work.dir, `noout-ran-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "printf x > /out/x"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\n`);
    const r = cli(['--root', root, 'run', '-b', dir, '--outputs-to', marker, 'noout-1']);
    expect(r.status, r.stderr).toBe(125);
    expect(r.stderr).toMatch(/BV_USAGE: --outputs-to .*: the manifest has no outputs clause/);
    expect(cli(['--root', root, 'create', '-b', dir, '--outputs-to', marker, 'noout-2']).status).toBe(2);
    expect(existsSync(marker)).toBe(false);
    expect(leftUnder(root)).toEqual([]);
  });

  it('outputs.to ./x through a symlink the bundle ships to a directory outside it is refused; outside stays untouched', () => {
    const root = newRoot();
    const victim = victimDir();
    for (const [to, link] of [['./x', 'x'], ['./d/x', 'd']] as const) {
      const b = bundle('printf evil > /out/passwd', `{ path: /out, commit: on-success, to: ${to} }`);
      symlinkSync(link === 'x' ? victim : work.dir, join(b, link));
      const r = cli(['--root', root, 'run', '-b', b, 'sl-1']);
      expect(r.status, r.stderr).toBe(125);
      expect(r.stderr).toMatch(/BV_OUTPUTS: outputs\.to "\.\/(d\/)?x" leads out of the bundle directory/);
      expect(readdirSync(victim)).toEqual(['passwd']);
      expect(readFileSync(join(victim, 'passwd'), 'utf8')).toBe('root:x:0:0:original\n');
      expect(existsSync(join(work.dir, 'x'))).toBe(false);
      expect(leftUnder(root)).toEqual([]);
    }
  });

  it('commit without --to does not follow a link put in the bundle\'s ./x after the run; the report named its physical path', () => {
    const root = newRoot();
    const victim = victimDir();
    const b = bundle('printf evil > /out/passwd', '{ path: /out, to: ./results }');
    expect(cli(['--root', root, 'run', '-b', b, 'swap-1']).status).toBe(0);
    expect(lastReport(root).body.artifacts.to).toBe(join(realpathSync(b), 'results'));
    symlinkSync(victim, join(b, 'results'));
    const c = cli(['--root', root, 'commit', 'swap-1']);
    expect(c.status, c.stderr).toBe(1);
    expect(c.stderr).toMatch(/BV_OUTPUTS: the report's destination .*\/results now resolves to /);
    expect(readFileSync(join(victim, 'passwd'), 'utf8')).toBe('root:x:0:0:original\n');
    // The caller's own word still promotes, and the quarantine was kept for it.
    const dest = join(work.dir, `dest-swap-${Math.random().toString(36).slice(2, 8)}`);
    expect(cli(['--root', root, 'commit', 'swap-1', '--to', dest]).status).toBe(0);
    expect(readFileSync(join(dest, 'passwd'), 'utf8')).toBe('evil');
  });

  it('a destination inside bvisor\'s state root, or holding it, is refused whoever names it; the journal verifies afterwards', () => {
    const parent = tempDir();
    const root = keepRoot(join(parent, 'state'));
    // A journal with a head to replace: one run first.
    expect(cli(['--root', root, 'run', '-b', bundle('printf 1 > /out/a', '{ path: /out }'), 'sr-0']).status).toBe(0);
    expect(cli(['--root', root, 'discard', 'sr-0']).status).toBe(0);
    const head = readFileSync(join(root, 'journal.head.json'), 'utf8');
    const fake = `{"seq":1,"entryHash":"${'0'.repeat(64)}"}`;
    const hostile = `printf '%s' '${fake}' > /out/journal.head.json; mkdir /out/state; printf '%s' '${fake}' > /out/state/journal.head.json`;
    for (const [to, where] of [[root, 'is'], [join(root, 'outputs'), 'is inside'], [parent, 'holds']] as const) {
      const r = cli(['--root', root, 'run', '-b', bundle(hostile, '{ path: /out, commit: on-success, to: ./results }'), '--outputs-to', to, 'sr-1']);
      expect(r.status, r.stderr).toBe(125);
      expect(r.stderr).toContain(`BV_OUTPUTS: outputs.to ${to} ${where} bvisor's state root`);
      expect(readFileSync(join(root, 'journal.head.json'), 'utf8')).toBe(head);
      expect(leftUnder(root)).toEqual([]);
    }
    // commit --to into the root is refused too (a run staged under it first).
    expect(cli(['--root', root, 'run', '-b', bundle(hostile, '{ path: /out }'), 'sr-2']).status).toBe(0);
    const c = cli(['--root', root, 'commit', 'sr-2', '--to', root]);
    expect(c.status, c.stderr).toBe(1);
    expect(c.stderr).toContain(`BV_OUTPUTS: the destination ${root} is bvisor's state root`);
    expect(cli(['--root', root, 'discard', 'sr-2']).status).toBe(0);
    const v = cli(['journal', 'verify', '--root', root, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ ok: true });
    expect(existsSync(join(parent, 'journal.head.json'))).toBe(false);
  });

  it('a name too long for the destination fails its artifact, and the commit\'s journal entries stay within the schema: the journal verifies', () => {
    const root = newRoot();
    const dest = tempDir();
    // 16 components of 250 bytes: a path inside the quarantine under PATH_MAX (4096, its NUL
    // included), which under a destination passes it.
    const long = Array.from({ length: 16 }, () => 'e'.repeat(250)).join('/');
    const hostile = `mkdir -p /out/${long} && echo A > /out/${long}/${'f'.repeat(60)} && echo B > /out/short`;
    const r = cli(['--root', root, 'run', '-b', bundle(hostile, '{ path: /out, commit: on-success }'), '--outputs-to', dest, 'long-1']);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dest, 'short'), 'utf8')).toBe('B\n');
    expect(existsSync(join(dest, 'eeeee'.padEnd(250, 'e')))).toBe(false);
    const v = cli(['journal', 'verify', '--root', root, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    const steps = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).event).filter((e) => e?.kind === 'disposition');
    expect(steps.map((e) => `${e.step} ${e.artifacts.length}`)).toEqual(['decided 1', 'applied 1', 'failed 1']);
    expect(steps[2].error.message).toContain('its destination path would be longer than a path may be (PATH_MAX');
    expect(cli(['--root', root, 'discard', 'long-1']).status).toBe(0);
  });

  it('the state root reached through a bind mount, at the destination or beneath it, is refused as a directory: the journal verifies', () => {
    const root = newRoot();
    const fake = `{"seq":1,"entryHash":"${'0'.repeat(64)}"}`;
    const hostile = `printf '%s' '${fake}' > /out/journal.head.json; mkdir /out/x; printf '%s' '${fake}' > /out/x/journal.head.json`;
    expect(cli(['--root', root, 'run', '-b', bundle(hostile, '{ path: /out }'), 'bind-1']).status).toBe(0);
    const head = readFileSync(join(root, 'journal.head.json'), 'utf8');
    const d = tempDir();
    mkdirSync(join(d, 'x'));
    // In a mount namespace of the commit's own (the test's is the machine's): the root bound at
    // the destination itself, then at a directory beneath it.
    const inNs = (mount: string, to: string) => spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$1" "$2" && exec "$3" --root "$1" commit bind-1 --to "$4"`, 'sh', root, mount, BVISOR, to], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    const at = inNs(d, d);
    expect(at.status, at.stderr).toBe(1);
    expect(at.stderr).toContain(`BV_OUTPUTS: the destination ${d} is bvisor's state root (${root}) as a directory, whatever its name`);
    const beneath = inNs(join(d, 'x'), d);
    expect(beneath.stderr).toContain("x/journal.head.json: the destination's x: EXDEV (a mount point: not crossed)");
    // The commit's own steps moved the head; the workload's bytes never replaced it.
    expect(readFileSync(join(root, 'journal.head.json'), 'utf8')).not.toBe(fake);
    expect(head).not.toBe(fake);
    const v = cli(['journal', 'verify', '--root', root, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(cli(['--root', root, 'discard', 'bind-1']).status).toBe(0);
  });

  it('a state root that is itself a bind mount, of a directory beneath the destination, is not written through its source', () => {
    const base = tempDir();
    const data = join(base, 'data');
    const real = keepRoot(join(data, 'state'));
    mkdirSync(real, { recursive: true, mode: 0o700 });
    const fake = `{"seq":1,"entryHash":"${'0'.repeat(64)}"}`;
    const b = bundle(`mkdir /out/state; printf '%s' '${fake}' > /out/state/journal.head.json; printf ok > /out/plain`, '{ path: /out }');
    const at = join(base, 'mnt');
    mkdirSync(at);
    // bvisor is given the root by its bind (as a container's volume names it), for the run and
    // the commit; the destination holds its source, so the root's own '..' chain never passes
    // through the destination.
    const c = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && "$3" --root "$2" run -b "$5" bind-2 && exec "$3" --root "$2" commit bind-2 --to "$4"', 'sh', real, at, BVISOR, data, b], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(c.status, c.stderr).toBe(1);
    expect(c.stderr).toContain("state/journal.head.json: the destination's state is bvisor's state root");
    expect(readFileSync(join(real, 'journal.head.json'), 'utf8')).not.toBe(fake);
    expect(readFileSync(join(data, 'plain'), 'utf8'), c.stderr).toBe('ok');
    expect(cli(['journal', 'verify', '--root', real]).status).toBe(0);
    const d = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && exec "$3" --root "$2" discard bind-2', 'sh', real, at, BVISOR], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(d.status, d.stderr).toBe(0);
  });

  it('commit --to whose directory is swapped for a link to the state root after its path was checked writes nothing there', async () => {
    const root = newRoot();
    const fake = `{"seq":1,"entryHash":"${'0'.repeat(64)}"}`;
    expect(cli(['--root', root, 'run', '-b', bundle(`printf '%s' '${fake}' > /out/journal.head.json`, '{ path: /out }'), 'swap-1']).status).toBe(0);
    const head = readFileSync(join(root, 'journal.head.json'), 'utf8');
    const d = tempDir();
    const to = join(d, 'dest');
    mkdirSync(to);
    const p = spawn(process.execPath, ['--import', PAUSE_SEAM, BIN, '--root', root, 'commit', 'swap-1', '--to', to], { env: cliEnv({ BVISOR_TEST_PAUSE_AT: 'commit:destination-checked', BVISOR_TEST_PAUSE_UNTIL: join(d, 'go'), BVISOR_TEST_PAUSE_REACHED: join(d, 'at') }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b));
    p.stdout.resume();
    const ended = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    await until('commit held after its destination check', () => existsSync(join(d, 'at')), 20_000);
    // The second writer: whoever can write the destination's parent.
    rmSync(to, { recursive: true });
    symlinkSync(root, to);
    writeFileSync(join(d, 'go'), '');
    expect(await ended, stderr).toBe(1);
    expect(stderr).toContain("is bvisor's state root");
    expect(readFileSync(join(root, 'journal.head.json'), 'utf8')).toBe(head);
    expect(cli(['journal', 'verify', '--root', root]).status).toBe(0);
    expect(cli(['--root', root, 'discard', 'swap-1']).status).toBe(0);
  });

  it('commit prints the names a workload chose escaped: no terminal sequence, no line of its own', () => {
    const root = newRoot();
    // A name holding ESC [ 31 m and a newline followed by a forged bvisor line.
    const r = cli(['--root', root, 'run', '-b', bundle('printf x > "/out/$(printf \'evil\\033[31mRED\\nbvisor: committed OK\')"', '{ path: /out }'), 'esc-1']);
    expect(r.status, r.stderr).toBe(0);
    const dest = tempDir();
    // The name is taken in the destination by a directory: the artifact fails, and is printed.
    mkdirSync(join(dest, 'evil\x1b[31mRED\nbvisor: committed OK'));
    const c = cli(['--root', root, 'commit', 'esc-1', '--to', dest]);
    expect(c.status).toBe(1);
    expect(c.stdout + c.stderr).not.toContain('\x1b');
    expect((c.stdout + c.stderr).split('\n').filter((l) => l.startsWith('bvisor: committed'))).toEqual([]);
    expect(c.stdout).toContain('evil\\x1b[31mRED\\x0abvisor: committed OK');
    expect(cli(['--root', root, 'discard', 'esc-1']).status).toBe(0);
  });

  it('commit never follows a symlink in the destination: whoever can write there cannot redirect bvisor\'s writes', () => {
    const root = newRoot();
    const dest = join(work.dir, `dest-sym-${Math.random().toString(36).slice(2, 8)}`);
    const victim = join(work.dir, `victim-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(victim, { recursive: true });
    expect(cli(['--root', root, 'run', '-b', bundle('mkdir /out/sub; printf evil > /out/sub/f; printf fine > /out/top', '{ path: /out }'), '--outputs-to', dest, 'sym-1']).status).toBe(0);
    // Someone who may write the destination plants a link where sub/ will go.
    mkdirSync(dest, { recursive: true });
    symlinkSync(victim, join(dest, 'sub'));
    const c = cli(['--root', root, 'commit', 'sym-1']);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/sub\/f: the destination's sub: ELOOP \(a symlink: not followed\)/);
    expect(readdirSync(victim)).toEqual([]);
    expect(readFileSync(join(dest, 'top'), 'utf8')).toBe('fine');
    expect(cli(['--root', root, 'discard', 'sym-1']).status).toBe(0);
  });

  if (!shmApart) console.warn('SKIP quarantine placement in a destination: /dev/shm is not a filesystem of its own here (the test needs two filesystems)');
  it.skipIf(!shmApart)('the quarantine is placed in a destination only on a path no one else can change; elsewhere it stays under the state root', () => {
    const root = keepRoot(mkdtempSync('/dev/shm/bvisor-test-'));
    try {
      const open = join(work.dir, `open-${Math.random().toString(36).slice(2, 8)}`);
      mkdirSync(open, { recursive: true });
      chmodSync(open, 0o777); // writable by anyone, not sticky: its entries can be swapped
      const dest = join(open, 'results');
      expect(cli(['--root', root, 'run', '-b', bundle('printf x > /out/x', '{ path: /out }'), '--outputs-to', dest, 'open-1']).status).toBe(0);
      const r = lastReport(root).body;
      expect(r.artifacts.quarantine).toBe(join(root, 'outputs', r.runId));
      expect(lstatSync(r.artifacts.quarantine).isDirectory()).toBe(true);
      expect(existsSync(join(dest, '.bvisor-quarantine'))).toBe(false);
      expect(cli(['--root', root, 'commit', 'open-1']).status).toBe(0);
      expect(readFileSync(join(dest, 'x'), 'utf8')).toBe('x');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the planner refuses limits it could not enforce (rootless: no tmpfs on the host)', () => {
    const m = loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\noutputs: { path: /out, size: 1Mi }\n', 't.yaml').manifest;
    const p = plan({ manifest: m, host: v2Host(), paths: { grants: [{ path: '/usr', kind: 'directory', dev: '1', ino: '2', uid: 0, gid: 0, mode: 0o755 }], exe: { path: '/usr/bin/true', kind: 'file', dev: '1', ino: '3', uid: 0, gid: 0, mode: 0o755 }, module: null, root: null }, cgroupParent: null }, sha256Hex);
    expect(p.refusals.map((r) => [r.clause, r.code])).toEqual([['outputs', 'BV_PLAN_OUTPUTS']]);
  });

  it('gc while a run sets up (its quarantine made, no state or start record names it yet) leaves the quarantine to it; the run stages its outputs', async () => {
    const root = newRoot();
    const b = bundle('printf kept > /out/a.txt', '{ path: /out }');
    const go = join(tempDir(), 'go');
    // run is held with its registration's claim made (a directory list and recover do not read):
    // only the quarantine's maker says that a run is setting it up.
    const child = spawn(process.execPath, ['--import', PAUSE_SEAM, BIN, '--root', root, 'run', '-b', b, 'gc-1'], { env: cliEnv({ BVISOR_TEST_PAUSE_AT: 'run:claimed', BVISOR_TEST_PAUSE_UNTIL: go }), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await until('the claim is made', () => existsSync(join(root, 'containers')) && readdirSync(join(root, 'containers')).some((n) => n.startsWith('@claim.')));
      const [runId] = readdirSync(join(root, 'outputs')).filter((n) => !n.includes('.maker'));
      expect(runId).toBeDefined();
      const g = cli(['--root', root, 'gc', '--json']);
      expect(g.status, g.stderr).toBe(0);
      expect(JSON.parse(g.stdout)).toMatchObject({ removed: [], failed: [] });
      expect(existsSync(join(root, 'outputs', runId!))).toBe(true);
      // Nothing was recorded of the attempt: it is not over.
      expect(existsSync(join(root, 'journal.jsonl')) ? readFileSync(join(root, 'journal.jsonl'), 'utf8') : '').not.toContain(runId!);
    } finally {
      writeFileSync(go, '');
    }
    expect(await exited, err).toBe(0);
    expect(reportOf(root, 'gc-1').body.artifacts.items.map((x: { path: string; sha256: string }) => [x.path, x.sha256])).toEqual([['a.txt', sha('kept')]]);
  });

  it('a run that ends while gc surveys (gc read the journal before its start record) keeps its staged outputs', async () => {
    const root = newRoot();
    const b = bundle('printf late > /out/a.txt', '{ path: /out }');
    const d = tempDir();
    const held = (args: string[], stage: string, name: string) => {
      const p = spawn(process.execPath, ['--import', PAUSE_SEAM, BIN, '--root', root, ...args], { env: cliEnv({ BVISOR_TEST_PAUSE_AT: stage, BVISOR_TEST_PAUSE_UNTIL: join(d, `${name}-go`), BVISOR_TEST_PAUSE_REACHED: join(d, `${name}-at`) }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (x: Buffer) => (out += x.toString()));
      p.stderr.on('data', (x: Buffer) => (out += x.toString()));
      // 'close', not 'exit': its output is read whole before anyone parses it.
      const code = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
      return { out: () => out, code, at: join(d, `${name}-at`), go: join(d, `${name}-go`) };
    };
    const run = held(['run', '-b', b, 'race-1'], 'run:claimed', 'run');
    let gc: ReturnType<typeof held> | null = null;
    try {
      await until('run held with its claim made', () => existsSync(run.at));
      // gc reads the journal (nothing of race-1 in it yet) and is held before it looks at the host.
      gc = held(['gc', '--json'], 'recover:surveying', 'gc');
      await until('gc held after its journal read', () => existsSync(gc!.at));
      writeFileSync(run.go, '');
      expect(await run.code, run.out()).toBe(0);
    } finally {
      writeFileSync(run.go, '');
      if (gc) writeFileSync(gc.go, '');
    }
    expect(await gc.code, gc.out()).toBe(0);
    // Its maker was alive when gc began: the attempt is left to the journal gc reads next time.
    const actions = (JSON.parse(gc.out()).recovered as Array<{ actions: Array<{ do: string }> }>).flatMap((a) => a.actions.map((x) => x.do));
    expect(actions).not.toContain('discard-quarantine');
    const c = cli(['--root', root, 'commit', 'race-1', '--to', join(d, 'dest')]);
    expect(c.status, c.stderr).toBe(0);
    expect(readFileSync(join(d, 'dest', 'a.txt'), 'utf8')).toBe('late');
  });
});
