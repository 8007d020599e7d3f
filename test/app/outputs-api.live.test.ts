// The API's side of outputs: runConfined stages, commitOutputs and discardOutputs dispose, each
// step journaled under the root. Oracle: the destination's bytes and the journal's entries.
import { describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { runConfined, commitOutputs, discardOutputs } from '../../src/index.js';
import { commitTemp } from '../../src/app/outputs.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { faultPoints, type FaultStage } from '../../src/host/faults.js';

/** commitOutputs with `act` run at the fault point `at` (the second writer a race test plays). */
function commitWith(at: FaultStage, act: () => void, ...args: Parameters<typeof commitOutputs>): ReturnType<typeof commitOutputs> {
  const hit = faultPoints.hit;
  faultPoints.hit = (stage) => void (stage === at && act());
  try {
    return commitOutputs(...args);
  } finally {
    faultPoints.hit = hit;
  }
}

/** A bundle directory whose program is not one the kernel can run (execve(2): ENOEXEC, after
 * the release), and a manifest with outputs that runs it (`extra` lines added). */
function noExec(extra: string): { dir: string; manifest: string } {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'garbage'), Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), { mode: 0o755 });
  return { dir, manifest: `bvisorVersion: "1"\nworkload:\n  process: { exe: ${join(dir, 'bin', 'garbage')} }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${join(dir, 'bin')}, access: read-exec }\n${extra}outputs: { path: /out }\nlimits: { wall: 10s }\n` };
}

const manifest = (script: string): string => `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", ${JSON.stringify(script)}] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\noutputs: { path: /out }\n`;

describe('outputs through the API (live)', () => {
  it('a manifest text with outputs.to ./x is refused: the directory passed with it is the caller\'s (even /), not the manifest\'s bundle', async () => {
    const root = newRoot();
    const victim = tempDir();
    const m = manifest('printf key > /out/authorized_keys').replace('outputs: { path: /out }', `outputs: { path: /out, commit: on-success, to: .${victim}/.ssh }`);
    const err = await runConfined({ manifest: m, dir: '/' }, { root, cgroupParent: defaultTestParent() }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toMatchObject({ code: 'BV_OUTPUTS', message: expect.stringContaining(`outputs.to "./${victim.slice(1)}/.ssh" names a place in /, the directory passed with the manifest's text, not a bundle of the manifest's own`) });
    expect(existsSync(join(victim, '.ssh'))).toBe(false);
    // The caller's own destination replaces it, and is where the commit goes.
    const dest = join(tempDir(), 'dest');
    const ok = await runConfined({ manifest: m, dir: '/' }, { root, cgroupParent: defaultTestParent(), outputsTo: dest });
    expect(ok.exitStatus).toBe(0);
    expect(readFileSync(join(dest, 'authorized_keys'), 'utf8')).toBe('key');
    expect(existsSync(join(victim, '.ssh'))).toBe(false);
  });

  it('commitOutputs promotes what runConfined staged; discardOutputs drops it; both journaled', async () => {
    const root = newRoot();
    const dir = tempDir();
    const dest = join(tempDir(), 'dest');
    const a = await runConfined({ manifest: manifest('printf api > /out/f'), dir }, { root, cgroupParent: defaultTestParent() });
    expect(a.report.body.artifacts?.items.map((x) => x.path)).toEqual(['f']);
    // The quarantine (a directory: no limits) and the destination share a filesystem here, so
    // promotion is a rename: the promoted file is the very inode the workload wrote.
    const ino = statSync(join(a.report.body.artifacts!.quarantine, 'f')).ino;
    mkdirSync(dest, { recursive: true });
    const sameFs = statSync(a.report.body.artifacts!.quarantine).dev === statSync(dest).dev;
    const d = commitOutputs(root, a.report, { to: dest });
    expect(d.applied.map((x) => x.path)).toEqual(['f']);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('api');
    if (sameFs) expect(statSync(join(dest, 'f')).ino).toBe(ino);
    expect(statSync(join(dest, 'f')).uid).toBe(0);
    const b = await runConfined({ manifest: manifest('printf drop > /out/g'), dir }, { root, cgroupParent: defaultTestParent() });
    const q = b.report.body.artifacts!.quarantine;
    // A root someone else could write (its journal and reports are then not ours to believe):
    // refused before anything is read or removed.
    chmodSync(root, 0o777);
    try {
      for (const dispose of [() => discardOutputs(root, b.report.body.runId), () => commitOutputs(root, b.report.body.runId, { to: dest })]) {
        expect(dispose).toThrow(expect.objectContaining({ code: 'BV_STATE_ROOT_UNUSABLE', message: expect.stringMatching(/is writable by others \(mode 0777\)/) }));
      }
    } finally {
      chmodSync(root, 0o700);
    }
    expect(existsSync(join(q, 'g'))).toBe(true);
    // A report object whose quarantine is not where bvisor stages outputs: disposal removes a
    // quarantine recursively, so it is refused, and the directory named is left as it is.
    const victim = tempDir();
    writeFileSync(join(victim, 'keep'), 'x');
    const forged = structuredClone(b.report);
    forged.body.artifacts!.quarantine = victim;
    for (const dispose of [() => discardOutputs(root, forged), () => commitOutputs(root, forged, { to: dest })]) {
      expect(dispose).toThrow(expect.objectContaining({ code: 'BV_OUTPUTS', message: expect.stringContaining('which is not where bvisor stages outputs') }));
    }
    expect(readFileSync(join(victim, 'keep'), 'utf8')).toBe('x');
    discardOutputs(root, b.report.body.runId);
    expect(existsSync(q)).toBe(false);
    const steps = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event?.kind === 'disposition').map((e) => `${e.event.action}:${e.event.step}`);
    expect(steps).toEqual(['commit:decided', 'commit:applied', 'discard:decided', 'discard:applied']);
  });

  it('runConfined checks its root before it makes anything in it: /proc/self is refused at once (Node\'s recursive mkdir looped there, freezing the caller)', () => {
    // In a child with a deadline: the loop blocked the whole event loop.
    const api = join(__dirname, '..', '..', 'dist', 'index.js');
    const js = `import(${JSON.stringify(api)}).then((m) => m.runConfined({ manifest: 'bvisorVersion: "1"\\nworkload:\\n  process: { exe: /usr/bin/true }\\n', dir: '/tmp' }, { root: '/proc/self', cgroupParent: ${JSON.stringify(defaultTestParent())} })).then(() => console.log('ran'), (e) => console.log(e.code + ': ' + e.message));`;
    const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', timeout: 20_000 });
    expect([r.signal, r.status], r.stderr).toEqual([null, 0]);
    expect(r.stdout).toMatch(/^BV_STATE_ROOT_UNUSABLE: .*\/proc\/self/);
  });

  it('lists at most 10000 artifacts and 10000 refused entries, truncated; the rest stays in the quarantine', async () => {
    // 10,010 empty files and 10,010 symlinks (perl: one process, where ln would be 10,010).
    const script = 'exec perl -e \'for my $i (1..10010) { open(my $f, ">", "/out/f$i") or die "f$i: $!"; close $f; symlink("f$i", "/out/l$i") or die "l$i: $!" }\'';
    const r = await runConfined({ manifest: manifest(script), dir: tempDir() }, { root: newRoot(), cgroupParent: defaultTestParent() });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    // The disk: every entry the workload made is still in the quarantine.
    expect(readdirSync(a.quarantine).length).toBe(20_020);
    expect(a.items.length).toBe(10_000);
    expect(a.refused.length).toBe(10_000);
    expect(a.truncated).toBe(true);
    expect(new Set(a.refused.map((x) => x.reason))).toEqual(new Set(['a symlink']));
    const empty = createHash('sha256').update('').digest('hex');
    expect(a.items.every((x) => x.size === 0 && x.sha256 === empty && /^f[0-9]+$/.test(x.path))).toBe(true);
  });

  it('names a report cannot spell, and paths past PATH_MAX, are refused entries: the report is sealed, the rest listed', async () => {
    // perl (perl-base): a name with a byte that is not UTF-8, 18 directories of 250 bytes with a
    // file at the bottom (its path is over 4096 bytes), and an ordinary file.
    const script = `exec perl -e 'open(my $a, ">", "/out/bad\\xffx") or die; chdir "/out" or die; for my $i (1..18) { my $d = sprintf("%02d", $i) . ("n" x 248); mkdir $d or die; chdir $d or die } open(my $b, ">", "deep.txt") or die; open(my $c, ">", "/out/plain") or die; print $c "ok"'`;
    const root = newRoot();
    const r = await runConfined({ manifest: manifest(script), dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    expect(a.items.map((x) => [x.path, x.size])).toEqual([['plain', 2]]);
    expect(a.refused).toContainEqual({ path: 'bad\\xffx', reason: 'a name that is not UTF-8 (spelled here with \\xHH for its other bytes)' });
    // openat2(2) takes a path of at most PATH_MAX: the deep file is refused with the errno, not lost.
    const deep = a.refused.find((x) => x.path.endsWith('/deep.txt'));
    expect(deep?.path.length).toBeGreaterThan(4096);
    expect(deep?.reason).toMatch(/ENAMETOOLONG/);
    expect(a.truncated).toBe(false);
    // And the tree goes with the quarantine when the host discards it (the disk says so).
    discardOutputs(root, r.report);
    expect(existsSync(a.quarantine)).toBe(false);
  });

  it('a name holding a secret value is refused, redacted, and never committed; the rest is listed and committed', async () => {
    const value = 's3cr3t-hunter2-XYZ';
    const m = manifest('mkdir "/out/cache-$TOKEN" && printf x > "/out/cache-$TOKEN/f" && printf t > "/out/tok-$TOKEN" && printf ok > /out/plain').replace('outputs: { path: /out }', 'env: { TOKEN: { secret: tok } }\noutputs: { path: /out }');
    const root = newRoot();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), secrets: { tok: value } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    // The disk: the workload did make them.
    expect(readdirSync(a.quarantine).sort()).toEqual([`cache-${value}`, 'plain', `tok-${value}`]);
    expect(a.items.map((x) => x.path)).toEqual(['plain']);
    expect(a.refused).toEqual([
      { path: '<redacted: holds a secret value>', reason: 'a name holding a secret value: never listed, never committed' },
      { path: '<redacted: holds a secret value>', reason: 'a name holding a secret value: never listed, never committed' },
    ]);
    expect(JSON.stringify(r.report)).not.toContain('s3cr3t');
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    commitOutputs(root, r.report, { to: dest });
    expect(readdirSync(dest)).toEqual(['plain']);
    expect(readFileSync(join(root, 'journal.jsonl'), 'utf8')).not.toContain('s3cr3t');
  });

  it('a secret value sharded into directories (d_S3CRET…/Zto/ken…, as git shards its objects) is refused too, in the outputs and in the read-write grants\' delta', async () => {
    const value = 'S3CRETzq9XyZtokenABCDEFGHIJ';
    // The value cut after 11 characters, then after 3 more: two directory levels, then a file.
    const script = 'd="/out/d_$(printf %s "$TOKEN" | cut -c1-11)/$(printf %s "$TOKEN" | cut -c12-14)"; mkdir -p "$d" && printf x > "$d/$(printf %s "$TOKEN" | cut -c15-)" && printf ok > /out/plain; cp -r /out/d_* /rw/';
    const rw = tempDir();
    chmodSync(rw, 0o777);
    const m = manifest(script).replace('outputs: { path: /out }', `env: { TOKEN: { secret: tok } }\noutputs: { path: /out }`).replace('  - { path: /usr, access: read-exec }', `  - { path: /usr, access: read-exec }\n  - { path: ${rw}, access: read-write }`).replace('/rw/', `${rw}/`);
    const root = newRoot();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), secrets: { tok: value } });
    expect(r.report.body.outcome, JSON.stringify(r.report.body.outcome)).toMatchObject({ status: 'completed', exitCode: 0 });
    // The disk: the workload did shard it.
    const a = r.report.body.artifacts!;
    expect(readdirSync(a.quarantine).sort()).toEqual([`d_${value.slice(0, 11)}`, 'plain']);
    expect(existsSync(join(rw, `d_${value.slice(0, 11)}`, value.slice(11, 14), value.slice(14)))).toBe(true);
    expect(a.items.map((x) => x.path)).toEqual(['plain']);
    const text = JSON.stringify(r.report);
    // No piece long enough to read the value from: the first cut is in the directory's name, so
    // what may appear is at most that; the rest must not.
    expect(text).not.toContain(value.slice(11));
    expect(text).not.toContain(`${value.slice(11, 14)}/`);
    discardOutputs(root, r.report);
  });

  it('bytes holding a secret value get no hash in the report (captured stdout, a read-write grant\'s file, an output, which is not committed either); bytes without one do', async () => {
    // Low entropy on purpose: a 6-digit PIN in a .netrc line is a million guesses against a hash.
    const value = '493817';
    // The output's copy straddles the 64 KiB pieces files are read in (65532 bytes, then the PIN).
    const script = [
      'printf "machine h login u password %s\\n" "$TOKEN" > /rw/.netrc',
      'printf plain > /rw/plain',
      '{ head -c 65532 /dev/zero | tr "\\000" a; printf %s "$TOKEN"; } > /out/big',
      'printf plain > /out/plain',
      // Other names of each (hard links): each file is read once, and every name has its answer.
      'ln /out/big /out/big2 && ln /out/plain /out/plain2',
      'printf "pin=%s\\n" "$TOKEN"',
      'printf clean >&2',
    ].join(' && ');
    const rw = tempDir();
    chmodSync(rw, 0o777);
    const m = manifest(script)
      .replace('outputs: { path: /out }', 'env: { TOKEN: { secret: tok } }\nstdio: { stdout: capture, stderr: capture }\noutputs: { path: /out }')
      .replace('  - { path: /usr, access: read-exec }', `  - { path: /usr, access: read-exec }\n  - { path: ${rw}, access: read-write }`)
      .replaceAll('/rw/', `${rw}/`);
    const root = newRoot();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), secrets: { tok: value } });
    expect(r.report.body.outcome, JSON.stringify(r.report.body.outcome)).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    // The disk and the caller's bytes: the workload did write the value, and hashes of them exist.
    const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
    const netrc = readFileSync(join(rw, '.netrc'));
    const big = readFileSync(join(a.quarantine, 'big'));
    expect(netrc.toString()).toContain(value);
    expect(big.subarray(65530, 65540).toString()).toBe(`aa${value}`);
    expect(Buffer.from(r.stdout!).toString()).toBe(`pin=${value}\n`);
    const text = JSON.stringify(r.report);
    for (const h of [sha(netrc), sha(big), sha(`pin=${value}\n`)]) expect(text).not.toContain(h);
    // Said where each would have been.
    expect(r.report.body.streams.stdout).toMatchObject({ mode: 'capture', bytes: `pin=${value}\n`.length, sha256: null });
    const created = r.report.body.fsDelta![0]!.created;
    expect(created.find((x) => x.path === '.netrc')).toMatchObject({ size: netrc.length, sha256: null });
    expect(a.refused).toEqual(['big', 'big2'].map((path) => ({ path, reason: 'its content holds a secret value: never listed, never committed' })));
    // Bytes without it are hashed as before, in the same report.
    expect(r.report.body.streams.stderr.sha256).toBe(sha('clean'));
    expect(created.find((x) => x.path === 'plain')?.sha256).toBe(sha('plain'));
    expect(a.items).toMatchObject([{ path: 'plain', sha256: sha('plain') }, { path: 'plain2', sha256: sha('plain') }]);
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    const dd = commitOutputs(root, r.report, { to: dest });
    expect(dd.failed).toEqual([]);
    expect(readdirSync(dest).sort()).toEqual(['plain', 'plain2']);
  });

  it('a stream cut at limits.output while the workload had secrets has no hash (the cut may leave a value\'s first characters); without secrets it keeps it', async () => {
    const value = '493817';
    // 'pin=4938' kept of 'pin=493817\n': the value is not whole in what was kept.
    const m = manifest('printf "pin=%s\\n" "$TOKEN"').replace('outputs: { path: /out }', 'env: { TOKEN: { secret: tok } }\nstdio: { stdout: capture }').replace('wall: 10s', 'wall: 10s, output: 8');
    const r = await runConfined({ manifest: m, dir: tempDir() }, { cgroupParent: defaultTestParent(), secrets: { tok: value } });
    expect(Buffer.from(r.stdout!).toString()).toBe('pin=4938');
    expect(r.report.body.streams.stdout).toMatchObject({ bytes: 11, truncated: true, sha256: null });
    expect(JSON.stringify(r.report)).not.toContain(createHash('sha256').update('pin=4938').digest('hex'));
    const plain = await runConfined({ manifest: manifest('printf "pin=%s\\n" 493817').replace('outputs: { path: /out }', 'stdio: { stdout: capture }').replace('wall: 10s', 'wall: 10s, output: 8'), dir: tempDir() }, { cgroupParent: defaultTestParent() });
    expect(plain.report.body.streams.stdout).toMatchObject({ bytes: 11, truncated: true, sha256: createHash('sha256').update('pin=4938').digest('hex') });
  });

  it('another run\'s wall deadline is kept while a run in the same process stages a large output (staging gives the loop its turns); the caller\'s abort ends that staging', async () => {
    const root = newRoot();
    // 6 GiB of holes to hash: seconds of staging, while the other run's 1 s deadline falls.
    const ac = new AbortController();
    const big = runConfined({ manifest: manifest('truncate -s 6G /out/big'), dir: tempDir() }, { root, cgroupParent: defaultTestParent(), signal: ac.signal });
    let bigDone = false;
    void big.then(() => (bigDone = true), () => (bigDone = true));
    const sleeper = await runConfined({ manifest: manifest('exec sleep 30').replace('outputs: { path: /out }\n', '').replace('wall: 10s', 'wall: 1s'), dir: tempDir() }, { cgroupParent: defaultTestParent() });
    expect(sleeper.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    // Killed at its deadline, not once the other run's staging was done: that run was still at it.
    expect(bigDone).toBe(false);
    expect(sleeper.report.body.budgets.wall.observed).toBeLessThan(2500);
    // The workload had ended by itself; the abort ends the staging where it is.
    ac.abort();
    const b = await big;
    expect(b.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = b.report.body.artifacts!;
    expect(statSync(join(a.quarantine, 'big')).size).toBe(6 * 2 ** 30);
    expect(a).toMatchObject({ items: [], refused: [{ path: '.', reason: 'staging stopped: the run was told to stop; what is not listed stays in the quarantine, unlisted' }], truncated: true });
    discardOutputs(root, b.report);
  });

  it('another run\'s wall deadline is kept while a run in the same process copies its outputs into place (commit: on-success from a tmpfs quarantine)', async () => {
    const root = newRoot();
    const dest = join(tempDir(), 'dest');
    // A tmpfs quarantine is another filesystem: the commit copies, 1 GiB (of holes) hashed and written.
    const m = manifest('truncate -s 1G /out/big').replace('outputs: { path: /out }', `outputs: { path: /out, size: 1Gi, commit: on-success }`);
    const big = runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), outputsTo: dest });
    let bigDone = false;
    void big.then(() => (bigDone = true), () => (bigDone = true));
    // The copy has begun once its temporary file is in the destination. (A commit that held the
    // loop would never be seen copying: the test would fail here, the loop's first turn after it.)
    await until('the commit seen copying', () => existsSync(dest) && readdirSync(dest).some((n) => n.startsWith('.bvisor-commit-')), 20_000);
    const sleeper = await runConfined({ manifest: manifest('exec sleep 30').replace('outputs: { path: /out }\n', '').replace('wall: 10s', 'wall: 300ms'), dir: tempDir() }, { cgroupParent: defaultTestParent() });
    expect(sleeper.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
    expect(bigDone).toBe(false);
    expect(sleeper.report.body.budgets.wall.observed).toBeLessThan(1500);
    const b = await big;
    expect(b.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(statSync(join(dest, 'big')).size).toBe(2 ** 30);
  });

  it('a file with several names inside the quarantine is read once by staging (the kernel\'s count of bytes this process read)', async () => {
    const root = newRoot();
    // 64 MiB of holes under 8 names: read once, 64 MiB; once per name, 512.
    const m = manifest('truncate -s 64M /out/a && for i in 1 2 3 4 5 6 7; do ln /out/a /out/l$i; done');
    // proc(5) /proc/[pid]/io rchar: bytes this process read (a forks pool: this file's process).
    const rchar = (): number => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = rchar();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    const read = rchar() - before;
    expect(r.report.body.artifacts!.items.map((x) => x.path)).toEqual(['a', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7']);
    expect(read).toBeGreaterThan(64 * 2 ** 20);
    expect(read).toBeLessThan(2 * 64 * 2 ** 20);
    discardOutputs(root, r.report);
  });

  it('a file whose search for secret values would pass what staging searches (a sparse 11 GiB, three values) is refused unread', async () => {
    const m = manifest('truncate -s 11G /out/big && printf ok > /out/plain').replace('outputs: { path: /out }', 'env: { A: { secret: a }, B: { secret: b }, C: { secret: c } }\noutputs: { path: /out }');
    const root = newRoot();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), secrets: { a: 'first-value', b: 'second-value', c: 'third-value' } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    expect(statSync(join(a.quarantine, 'big')).size).toBe(11 * 2 ** 30);
    expect(a.refused).toEqual([{ path: 'big', reason: `not searched for secret values: ${11 * 2 ** 30} bytes, for 3 value(s), past what staging searches for a run (bytes read times values searched, at most ${32 * 2 ** 30})` }]);
    expect(a.items.map((x) => x.path)).toEqual(['plain']);
    discardOutputs(root, r.report);
  });

  it('commit finds a listed file in a quarantine larger than a walk looks at (staging skipped a secret-named directory of 72 MiB of paths)', async () => {
    const value = 's3cr3t-hunter2-XYZ';
    // Under the secret-named directory: 60 directories of 250 bytes, then 4600 files (each path
    // about 15 KiB): past the 64 MiB of paths a walk looks at, which staging never walked.
    const script = `exec perl -e 'chdir "/out" or die; mkdir "a-$ENV{TOKEN}" or die; chdir "a-$ENV{TOKEN}" or die; for my $i (1..60) { my $n = ("n" x 248) . sprintf("%02d", $i); mkdir $n or die; chdir $n or die } for my $i (1..4600) { open(my $f, ">", $i) or die } open(my $z, ">", "/out/z") or die; print $z "zz"'`;
    const m = manifest(script).replace('outputs: { path: /out }', 'env: { TOKEN: { secret: tok } }\noutputs: { path: /out }');
    const root = newRoot();
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), secrets: { tok: value } });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(r.report.body.artifacts!.items.map((x) => x.path)).toEqual(['z']);
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    const d = commitOutputs(root, r.report, { to: dest });
    expect(d.failed).toEqual([]);
    expect(readFileSync(join(dest, 'z'), 'utf8')).toBe('zz');
    discardOutputs(root, r.report);
    expect(existsSync(r.report.body.artifacts!.quarantine)).toBe(false);
  });

  it('a file too large to hash (a sparse 17 GiB) is refused at once, and the listing stops at 8 MiB of paths', async () => {
    // 1500 symlinks four directories down, each name 250 control characters (6 bytes each in
    // JSON): over 8 MiB of paths, with fewer than 10,000 entries.
    const script = `truncate -s 17G /out/big && exec perl -e 'my $d = "/out"; for my $i (1..4) { $d .= "/" . ("\\x01" x 250) . $i; mkdir $d or die } for my $i (1..1500) { symlink("x", "$d/" . ("\\x01" x 240) . $i) or die }'`;
    const root = newRoot();
    const r = await runConfined({ manifest: manifest(script), dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    expect(r.report.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    const a = r.report.body.artifacts!;
    expect(statSync(join(a.quarantine, 'big')).size).toBe(17 * 2 ** 30);
    expect(a.refused).toContainEqual({ path: 'big', reason: `not hashed: ${17 * 2 ** 30} bytes, past what staging hashes for a run (${16 * 2 ** 30} bytes in all)` });
    expect(a.truncated).toBe(true);
    expect(a.refused.length).toBeLessThan(1500);
    expect(Buffer.byteLength(JSON.stringify(a))).toBeLessThan(8 * 2 ** 20 + 65536);
    // A commit promotes what was listed (nothing) and leaves what was not: the host's to look at.
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    commitOutputs(root, r.report, { to: dest });
    expect(statSync(join(a.quarantine, 'big')).size).toBe(17 * 2 ** 30);
    discardOutputs(root, r.report);
    expect(existsSync(a.quarantine)).toBe(false);
  });

  it('a run that fails before its workload is released (an id in use) leaves no quarantine and no maker record, while its process lives on', async () => {
    const root = newRoot();
    const dir = tempDir();
    mkdirSync(join(root, 'containers', 'taken'), { recursive: true });
    for (let i = 0; i < 2; i++) {
      await expect(runConfined({ manifest: manifest('printf x > /out/f'), dir }, { root, id: 'taken', cgroupParent: defaultTestParent() })).rejects.toMatchObject({ code: 'BV_CONTAINER_EXISTS' });
    }
    // Nothing is left for gc to wait on: this process (the runs' maker) is alive and stays so.
    expect(existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []).toEqual([]);
  });

  // A file with two names is promoted as two copies. A copy is checked against the seal, then
  // copied, then renamed into place from a temporary name: two windows a second writer can use
  // (rootless, the frozen quarantine's files stay writable by their owner; whoever can write the
  // destination can rename over the temporary name). The fault points play that writer.
  const linked = manifest('printf sealed > /out/f; ln /out/f /out/g');

  it('a commit by copy promotes only the sealed bytes: a write between the check and the copy is refused, and leaves nothing in the destination', async () => {
    const root = newRoot();
    const r = await runConfined({ manifest: linked, dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    const q = r.report.body.artifacts!.quarantine;
    expect(r.report.body.artifacts!.items.map((x) => x.path)).toEqual(['f', 'g']);
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    // The same size, other bytes: only a hash of what was copied tells them apart.
    const d = commitWith('commit:before-copy', () => writeFileSync(join(q, 'f'), 'SEALED', { flag: 'r+' }), root, r.report, { to: dest });
    expect(d.applied).toEqual([]);
    expect(d.failed.map((x) => [x.path, x.error])).toEqual([
      ['f', expect.stringMatching(/^it changed while it was copied \(.*\): not promoted$/)],
      ['g', expect.stringMatching(/^its hash is no longer the one the report sealed/)],
    ]);
    expect(readdirSync(dest)).toEqual([]);
    expect(readFileSync(join(q, 'f'), 'utf8')).toBe('SEALED');
    discardOutputs(root, r.report);
  });

  it('a file planted at the copy\'s name between the look and the create does not stop the commit: the copy takes a name of its own (an attack: EEXIST)', async () => {
    const root = newRoot();
    const r = await runConfined({ manifest: linked, dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    const items = r.report.body.artifacts!.items;
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    const name = commitTemp(r.report.body.runId, items[0]!.id);
    let planted = false;
    // Another user's (rootful): a file of bvisor's own user at a copy's name is taken for a copy a
    // crash left, and the commit that ends the quarantine removes it.
    const rootful = process.geteuid?.() === 0;
    const plant = (): void => {
      writeFileSync(join(dest, name), 'planted');
      if (rootful) chownSync(join(dest, name), 65534, 65534);
    };
    const d = commitWith('commit:before-create', () => void (planted ||= (plant(), true)), root, r.report, { to: dest });
    expect(d.failed).toEqual([]);
    expect(d.applied.map((x) => x.path).sort()).toEqual(['f', 'g']);
    if (rootful) expect(readFileSync(join(dest, name), 'utf8')).toBe('planted');
    expect(readdirSync(dest).sort()).toEqual([...(rootful ? [name] : []), 'f', 'g'].sort());
  });

  it('a discard while a commit runs waits for it (one disposition at a time); the journal says only what happened', async () => {
    const root = newRoot();
    const r = await runConfined({ manifest: linked, dir: tempDir() }, { root, id: 'lock-1', cgroupParent: defaultTestParent() });
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    // The second command, started while the commit is between its check and its copy: given 2 s.
    let other: { status: number | null; signal: NodeJS.Signals | null; stderr: string } | null = null;
    const d = commitWith('commit:before-copy', () => void (other ??= spawnSync(BVISOR, ['--root', root, 'discard', 'lock-1'], { env: cliEnv(), encoding: 'utf8', timeout: 2000, killSignal: 'SIGKILL' })), root, r.report, { to: dest });
    expect(other, 'the fault point was not reached').not.toBeNull();
    expect(other!.signal, other!.stderr).toBe('SIGKILL'); // still waiting for the commit's lock
    expect(d.applied.map((x) => x.path)).toEqual(['f', 'g']);
    expect(readFileSync(join(dest, 'g'), 'utf8')).toBe('sealed');
    const steps = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).event).filter((e) => e?.kind === 'disposition').map((e) => `${e.step} ${e.action}`);
    expect(steps).toEqual(['decided commit', 'applied commit']);
    // After it, the quarantine is gone, and a discard says so.
    const after = cli(['--root', root, 'discard', 'lock-1']);
    expect([after.status, after.stderr]).toEqual([6, expect.stringContaining('BV_OUTPUTS_NOT_FOUND')]);
    expect(readdirSync(join(root, 'outputs'))).toEqual([]);
  });

  it('a commit by copy checks that the name it renamed into place holds its copy: a file swapped in under the temporary name is reported, not applied', async () => {
    const root = newRoot();
    const r = await runConfined({ manifest: linked, dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    const dest = join(tempDir(), 'dest');
    mkdirSync(dest);
    let swapped = 0;
    const swap = (): void => {
      if (swapped++) return;
      const [tmp, ...more] = readdirSync(dest).filter((n) => n.startsWith('.bvisor-commit-'));
      expect(more).toEqual([]);
      writeFileSync(join(dest, 'theirs'), 'theirs');
      renameSync(join(dest, 'theirs'), join(dest, tmp!));
    };
    const d = commitWith('commit:before-rename', swap, root, r.report, { to: dest });
    expect(swapped).toBe(2);
    expect(d.failed).toEqual([{ id: expect.any(String), path: 'f', error: "the destination's f was replaced during the commit (another writer there): not the checked copy" }]);
    expect(d.applied.map((x) => x.path)).toEqual(['g']);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('theirs');
    expect(readFileSync(join(dest, 'g'), 'utf8')).toBe('sealed');
    discardOutputs(root, r.report);
  });

  // The bundle is not trusted (docs/security.md): it names no host destination; the caller does
  // (outputsTo), and never bvisor's own state. Oracles: the destination's disk, the journal head's
  // bytes, bvisor journal verify.
  const withOutputs = (script: string, outputs: string): string => manifest(script).replace('outputs: { path: /out }', `outputs: ${outputs}`);
  const leftUnder = (root: string): string[] => (existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []);

  it('a manifest\'s absolute outputs.to is refused before anything runs; outputsTo (the caller\'s) is where it commits', async () => {
    const root = newRoot();
    const victim = tempDir();
    writeFileSync(join(victim, 'passwd'), 'root:x:0:0:original\n');
    const m = withOutputs('printf evil > /out/passwd', `{ path: /out, commit: on-success, to: ${victim} }`);
    await expect(runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent() })).rejects.toMatchObject({ code: 'BV_OUTPUTS', message: expect.stringContaining(`outputs.to ${victim}: a bundle cannot choose a host destination`), hint: expect.stringContaining('outputsTo') });
    expect(readdirSync(victim)).toEqual(['passwd']);
    expect(readFileSync(join(victim, 'passwd'), 'utf8')).toBe('root:x:0:0:original\n');
    expect(leftUnder(root)).toEqual([]);
    // The same manifest, the destination the caller's: committed there, the manifest's untouched.
    const dest = join(tempDir(), 'dest');
    const r = await runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), outputsTo: dest });
    expect(r.exitStatus).toBe(0);
    expect(readFileSync(join(dest, 'passwd'), 'utf8')).toBe('evil');
    expect(readFileSync(join(victim, 'passwd'), 'utf8')).toBe('root:x:0:0:original\n');
    // outputsTo needs an outputs clause, and a root.
    await expect(runConfined({ manifest: manifest('true').replace('outputs: { path: /out }\n', ''), dir: tempDir() }, { root, cgroupParent: defaultTestParent(), outputsTo: dest })).rejects.toMatchObject({ code: 'BV_USAGE' });
    await expect(runConfined({ manifest: m, dir: tempDir() }, { cgroupParent: defaultTestParent(), outputsTo: dest })).rejects.toMatchObject({ code: 'BV_USAGE', message: expect.stringContaining('outputsTo needs a root') });
  });

  it('outputsTo inside the state root, or holding it, is refused; the journal head is untouched and verifies', async () => {
    const parent = tempDir();
    const root = join(parent, 'state');
    const first = await runConfined({ manifest: manifest('printf 1 > /out/a'), dir: tempDir() }, { root, cgroupParent: defaultTestParent() });
    discardOutputs(root, first.report);
    const head = readFileSync(join(root, 'journal.head.json'), 'utf8');
    const fake = `{"seq":1,"entryHash":"${'0'.repeat(64)}"}`;
    const m = withOutputs(`printf '%s' '${fake}' > /out/journal.head.json; mkdir /out/state; printf '%s' '${fake}' > /out/state/journal.head.json`, '{ path: /out, commit: on-success, to: ./results }');
    for (const [to, where] of [[root, 'is'], [join(root, 'outputs'), 'is inside'], [parent, 'holds']] as const) {
      await expect(runConfined({ manifest: m, dir: tempDir() }, { root, cgroupParent: defaultTestParent(), outputsTo: to })).rejects.toMatchObject({ code: 'BV_OUTPUTS', message: expect.stringContaining(`outputs.to ${to} ${where} bvisor's state root`) });
      expect(readFileSync(join(root, 'journal.head.json'), 'utf8')).toBe(head);
      expect(leftUnder(root)).toEqual([]);
    }
    const v = cli(['journal', 'verify', '--root', root, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ ok: true });
  });

  it('a commit to the report\'s ./ destination makes it by descriptor: a symlink swapped onto its path after the check makes nothing where it points', async () => {
    const root = newRoot();
    const dir = tempDir();
    mkdirSync(join(dir, 'a'));
    // A bundle directory (a manifest's text with a directory of the caller's may name no ./ place).
    writeFileSync(join(dir, 'boundary.yaml'), manifest('printf x > /out/f').replace('outputs: { path: /out }', 'outputs: { path: /out, to: ./a/b/c }'));
    const r = await runConfined(dir, { root, cgroupParent: defaultTestParent() });
    const victim = tempDir();
    // Whoever can write the bundle swaps a for a link between commit's check and its mkdir.
    const swap = (): void => {
      renameSync(join(dir, 'a'), join(dir, 'a.real'));
      symlinkSync(victim, join(dir, 'a'));
    };
    let err: unknown = null;
    try {
      commitWith('commit:destination-checked', swap, root, r.report, {});
    } catch (e) {
      err = e;
    }
    expect(readdirSync(victim)).toEqual([]);
    expect(err).toMatchObject({ code: 'BV_OUTPUTS', message: expect.stringContaining('ELOOP (a symlink on its path since the run was prepared: not followed)') });
    discardOutputs(root, r.report);
  });

  it('a run whose program fails to exec after its start record closes the attempt itself: rolled back in the journal, its quarantine gone, not "running" while the caller lives', async () => {
    const root = newRoot();
    const { dir, manifest: m } = noExec('');
    await expect(runConfined({ manifest: m, dir }, { root, cgroupParent: defaultTestParent() })).rejects.toMatchObject({ code: 'BV_LAUNCH_FAILED', message: expect.stringContaining('ENOEXEC') });
    const events = readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((e) => [e.event?.kind, e.event?.classification ?? null]);
    expect(events).toEqual([['started', null], ['recovery', 'rolled-back']]);
    expect(existsSync(join(root, 'outputs')) ? readdirSync(join(root, 'outputs')) : []).toEqual([]);
    // recover (this process, the run's supervisor, is alive) finds nothing to do and nothing running.
    const { recoverRoot } = await import('../../src/app/recover.js');
    const rec = await recoverRoot(root, { dryRun: true });
    expect(rec.counts.running).toBe(0);
    expect(rec.attempts.map((a) => [a.classification, a.actions.length])).toEqual([['rolled-back', 0]]);
  });

  it('a container whose program failed to exec staged nothing to trust: its report (error, setup) is not committed; discard drops it', async () => {
    const root = newRoot();
    const { dir, manifest } = noExec('stdio: { stdin: null, stdout: capture, stderr: capture }\n');
    writeFileSync(join(dir, 'boundary.yaml'), manifest);
    expect(cli(['--root', root, 'create', 'noexec-1', '-b', dir]).status).toBe(0);
    cli(['--root', root, 'start', 'noexec-1']);
    const d = cli(['--root', root, 'delete', 'noexec-1', '--json']);
    expect(d.status, d.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!).report;
    expect(report.body.outcome).toMatchObject({ status: 'error', reason: 'setup' });
    const c = cli(['--root', root, 'commit', 'noexec-1', '--to', tempDir()]);
    expect([c.status, c.stderr]).toEqual([1, expect.stringContaining(`run ${report.body.runId} ended setup: its outputs are not committed`)]);
    expect(cli(['--root', root, 'discard', 'noexec-1']).status).toBe(0);
  });
});
