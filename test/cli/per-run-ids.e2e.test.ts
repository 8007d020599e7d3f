// Per-run ids: where the administrator gives bvisor a range (/etc/subuid and /etc/subgid), each
// run and each container maps its workload to an id of its own, which a container keeps until
// it is deleted. Each test runs bvisor in a private mount namespace, with its own range files
// bound over /etc/subuid and /etc/subgid and a tmpfs over /run (where claims live), so nothing of
// the host's is read or left. Oracles: the disk (who owns what a workload wrote, and whether
// another may write it), /proc/<pid>/status of a container's init, the claim files.
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, cliEnv, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { PROBE } from '../helpers/probe.js';
import { BUSYBOX, containerdBundle } from '../helpers/oci-bundle.js';

function canRun(): boolean {
  if (process.geteuid?.() !== 0) return (skipOrFail('root', 'per-run ids are a rootful launch'), false);
  if (spawnSync('unshare', ['--version']).status !== 0) return (skipOrFail('util-linux', 'unshare(1) is missing'), false);
  // The range files are bound over these: a bind needs something to mount over.
  if (!existsSync('/etc/subuid') || !existsSync('/etc/subgid')) return (skipOrFail('subid-files', '/etc/subuid or /etc/subgid is missing (the tests bind their own range over them)'), false);
  return true;
}

/** Runs `script` (sh) in a private mount namespace where bvisor's range is `range` ('' for none)
 * and /run is empty; $BV is bvisor with a state root of the test's own ($BVROOT). */
function inPrivate(range: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const t = tempDir('bvisor-ids-');
  writeFileSync(join(t, 'subuid'), range);
  writeFileSync(join(t, 'subgid'), range);
  const setup = `mount --bind ${t}/subuid /etc/subuid && mount --bind ${t}/subgid /etc/subgid && mount -t tmpfs -o mode=0755 bvisor-test-run /run`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `set -u; ${setup} || exit 99; ${script}`], {
    cwd: ROOT,
    env: cliEnv({ BV: `${BVISOR} --root ${join(t, 'root')}`, BVROOT: join(t, 'root') }),
    encoding: 'utf8',
    timeout: 90_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function shBundle(script: string, grant: string | null): string {
  const dir = tempDir('bvisor-ids-b-');
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/sh, args: ["-c", ${JSON.stringify(script)}], cwd: / }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: /proc, access: read }\n${grant ? `  - { path: ${grant}, access: read-write }\n` : ''}spawn: descendants\nlimits: { wall: 60s, processes: 8 }\nstdio: { stdin: null, stdout: inherit, stderr: inherit }\n`,
  );
  return dir;
}

/** A bundle whose probe clears its parent-death signal (prctl(PR_SET_PDEATHSIG, 0)) and sleeps
 * 30 s: a workload that outlives whoever launched it. */
function unparentedProbe(): string {
  const dir = tempDir('bvisor-ids-b-');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [unparented, "30"], cwd: / }\nfilesystem:\n  - { path: ${dirname(PROBE)}, access: read-exec }\nlimits: { wall: 60s }\nstdio: { stdin: null, stdout: inherit, stderr: inherit }\n`);
  return dir;
}

/** An OCI bundle (containerd's default config, busybox) running `script` as process.user `uid`. */
function userBundle(script: string, uid: number): string {
  const dir = tempDir('bvisor-ids-oci-');
  chmodSync(dir, 0o755);
  return containerdBundle(dir, ['sh', '-c', script], ['sh'], (c) => {
    c.process.user = { uid, gid: uid };
    c.root.readonly = false;
  });
}

/** The lines of `out` that start with `key=`, as their values. */
const said = (out: string, key: string): string[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe('per-run ids (a bvisor range in /etc/subuid)', () => {
  /** A container writes a file (0644) in a world-writable shared grant and stops; a run beside
   * it tries to append to that file. */
  function sharedGrant(range: string): { owner: number; appended: string; content: string; claimsHeld: string; claimsAfter: string; status: number | null; stderr: string } {
    const share = tempDir('bvisor-ids-share-');
    chmodSync(share, 0o1777);
    const writer = shBundle(`umask 022; echo one > ${share}/a`, share);
    const toucher = shBundle(`echo two >> ${share}/a && echo appended || echo refused`, share);
    const r = inPrivate(
      range,
      `$BV create c1 -b ${writer} >/dev/null && $BV start c1 && ` +
        // Until it has stopped (its file written): state polls, as a script would.
        `for i in $(seq 100); do $BV state c1 | grep -q '"status": *"stopped"' && break; sleep 0.1; done; ` +
        `$BV run r2 -b ${toucher}; ` +
        `echo "owner=$(stat -c %u ${share}/a)"; echo "content=$(tr '\\n' , < ${share}/a)"; ` +
        `echo "held=$(ls /run/bvisor-ids 2>/dev/null | grep -v lock | tr '\\n' ,)"; ` +
        `$BV delete c1 && echo "after=$(ls /run/bvisor-ids 2>/dev/null | grep -v lock | tr '\\n' ,)"`,
    );
    return { owner: Number(said(r.stdout, 'owner')[0]), appended: r.stdout.includes('appended') ? 'appended' : r.stdout.includes('refused') ? 'refused' : '?', content: said(r.stdout, 'content')[0] ?? '', claimsHeld: said(r.stdout, 'held')[0] ?? '', claimsAfter: said(r.stdout, 'after')[0] ?? '?', status: r.status, stderr: r.stderr };
  }

  it('a stopped container keeps its id; a run beside it, with another id, cannot write what it left in a shared grant', () => {
    if (!canRun()) return;
    const r = sharedGrant('bvisor:410000:3\n');
    expect(r.status, r.stderr).toBe(0);
    // The container's file, on disk, is one of the range's ids (not the shared nobody)...
    expect([410001, 410002]).toContain(r.owner);
    // ...and the run beside it had the other id: the file is not its (0644).
    expect(r.appended).toBe('refused');
    expect(r.stderr).toContain('Permission denied');
    expect(r.content).toBe('one,');
    // The id is held by the stopped container until its delete, then let go.
    expect(r.claimsHeld).toBe(`${r.owner},`);
    expect(r.claimsAfter).toBe('');
  });

  it('(red twin) without a range both share the overflow id, and the run writes the container\'s file', () => {
    if (!canRun()) return;
    const r = sharedGrant('');
    expect(r.status, r.stderr).toBe(0);
    expect(r.owner).toBe(Number(spawnSync('cat', ['/proc/sys/kernel/overflowuid'], { encoding: 'utf8' }).stdout));
    expect(r.appended).toBe('appended');
    expect(r.content).toBe('one,two,');
    expect(r.claimsHeld).toBe('');
  });

  it('exec joins the container as its id; every id held refuses the next launch, leaving nothing (a range of 2: its first id is never given out)', () => {
    if (!canRun()) return;
    const sleeper = shBundle('sleep 30', null);
    const r = inPrivate(
      'bvisor:420000:2\n',
      `$BV create c1 -b ${sleeper} >/dev/null && $BV start c1 && ` +
        `pid=$($BV state c1 | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p' | head -1); echo "init=$(awk '/^Uid:/ {print $2}' /proc/$pid/status)"; ` +
        `echo "exec=$($BV exec c1 /usr/bin/cat /proc/self/uid_map | tr -s ' ' | tr '\\n' ,)"; ` +
        `echo "pid=$pid"; echo "claim=$(cat /run/bvisor-ids/420001)"; ` +
        `$BV run r2 -b ${sleeper}; echo "run=$?"; ` +
        `echo "entries=$(ls $BVROOT/containers | tr '\\n' ,)"; ` +
        `$BV delete -f c1; echo "after=$(ls /run/bvisor-ids | grep -v lock | tr '\\n' ,)"`,
    );
    expect(said(r.stdout, 'init'), r.stderr).toEqual(['420001']);
    expect(said(r.stdout, 'exec')).toEqual([' 0 420001 1,']);
    // Held by the container (its state directory) and by its init (by pid): a bvisor that cannot
    // judge the one still sees the other while it lives.
    const holders = (JSON.parse(said(r.stdout, 'claim')[0] ?? '{}') as { holders?: Array<{ proc?: { pid: number }; container?: { dir: string } }> }).holders ?? [];
    expect(holders.some((h) => h.container?.dir.endsWith('/containers/c1'))).toBe(true);
    expect(holders.some((h) => h.proc?.pid === Number(said(r.stdout, 'pid')[0]))).toBe(true);
    expect(said(r.stdout, 'run')).toEqual(['125']);
    expect(r.stderr).toContain('error BV_IDS_EXHAUSTED: every one of the 1 ids bvisor\'s range gives out (420001–420001) is held by a live run, a spare wasm runner or a container (stopped ones too, until their delete); nothing was run');
    // Nothing of r2's was made: no entry beside c1's.
    expect(said(r.stdout, 'entries')).toEqual(['c1,']);
    expect(said(r.stdout, 'after')).toEqual(['']);
  });

  it('a write grant owned by an id of the range (another workload\'s) is refused, by plan and by run alike', () => {
    if (!canRun()) return;
    const theirs = tempDir('bvisor-ids-theirs-');
    chmodSync(theirs, 0o755);
    chownSync(theirs, 430001, 430001);
    const b = shBundle(`echo x > ${theirs}/f`, theirs);
    const r = inPrivate('bvisor:430000:3\n', `$BV plan ${b}; echo "plan=$?"; $BV run r1 -b ${b}; echo "run=$?"`);
    expect(said(r.stdout, 'plan')).toEqual(['3']);
    // (run reports its own errors as 125, the plan's refusal among them)
    expect(said(r.stdout, 'run')).toEqual(['125']);
    // Said twice (plan, then run), naming the owner as one of the range's.
    expect(r.stderr.split(`is owned by 430001:430001, an id of bvisor's range (430000–430002)`).length - 1).toBe(2);
    expect(existsSync(join(theirs, 'f'))).toBe(false);
  });

  it('an API run asking for spares gets none where ids are per run, and keeps its outcome', () => {
    if (!canRun()) return;
    // One id to give out: the run holds it while its guest runs.
    const api = join(ROOT, 'dist', 'index.js');
    const script = `const { runConfined, closeSpares } = await import(${JSON.stringify(api)}); for (const i of [1, 2]) { const r = await runConfined(${JSON.stringify(join(ROOT, 'bundles', 'hello-wasm'))}, { spare: true, cgroupParent: process.env.BVISOR_CGROUP_PARENT }); console.log('run' + i + '=' + r.exitStatus + ':' + r.report.body.evidence.find((e) => e.name === 'wasm.runner')?.value + ':' + JSON.stringify(r.stdout.toString())); } await closeSpares();`;
    const r = inPrivate('bvisor:440000:2\n', `${JSON.stringify(process.execPath)} --input-type=module -e ${JSON.stringify(script).replace(/\$/g, '\\$')}; echo "api=$?"; echo "left=$(ls /run/bvisor-ids | grep -v lock | tr '\\n' ,)"`);
    expect(said(r.stdout, 'api'), r.stderr).toEqual(['0']);
    expect(said(r.stdout, 'run1')).toHaveLength(1);
    // Neither took a spare: one would run as its own ids, not the run's (the report names the
    // run's), so none is offered where ids are per run.
    expect(said(r.stdout, 'run1')[0]).toMatch(/^0:started for this run:"hello from wasm/);
    expect(said(r.stdout, 'run2')[0]).toMatch(/^0:started for this run:"hello from wasm/);
    expect(said(r.stdout, 'left')).toEqual(['']);
  });

  it('a workload that outlives its killed bvisor run keeps the run\'s id held until it is ended (delete -f)', () => {
    if (!canRun()) return;
    const b = unparentedProbe();
    const echo = shBundle('echo ran', null);
    const r = inPrivate(
      'bvisor:450000:2\n',
      `$BV run r1 -b ${b} >/dev/null 2>&1 & bv=$!; ` +
        // Until the workload holds the id too (it is released after that), then bvisor run dies.
        `for i in $(seq 100); do grep -q '"proc".*"proc"' /run/bvisor-ids/450001 2>/dev/null && break; sleep 0.1; done; sleep 0.3; kill -9 $bv; wait $bv 2>/dev/null; ` +
        `w=$($BV state r1 | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p' | head -1); echo "workload=$(awk '/^Uid:/ {print $2}' /proc/$w/status)"; ` +
        `$BV run r2 -b ${echo}; echo "r2=$?"; ` +
        `$BV delete -f r1 >/dev/null; for i in $(seq 50); do test -e /proc/$w || break; sleep 0.1; done; echo "gone=$(test -e /proc/$w && echo "no: $(grep State /proc/$w/status)" || echo yes)"; $BV run r3 -b ${echo} >/dev/null; echo "r3=$?"; kill -9 $w 2>/dev/null; true`,
    );
    // The workload lives on as the run's id, after its bvisor run was killed...
    expect(said(r.stdout, 'workload'), r.stderr).toEqual(['450001']);
    // ...which is still not the next launch's.
    expect(said(r.stdout, 'r2')).toEqual(['125']);
    expect(r.stderr).toContain('error BV_IDS_EXHAUSTED');
    expect(said(r.stdout, 'gone')).toEqual(['yes']);
    // Once it is gone, the id is the next launch's again.
    expect(said(r.stdout, 'r3')).toEqual(['0']);
  });

  it('an OCI process.user: the one id mapped is the user, to an id of the range of its own; a user inside the range is refused', () => {
    if (!canRun()) return;
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    const user = userBundle('echo "uid=$(id -u)"; echo "map=$(cat /proc/self/uid_map)"', 1000);
    const inRange = userBundle('true', 100_010);
    const r = inPrivate('bvisor:100000:64\n', `$BV run u1 -b ${user}; echo "rc=$?"; out=$($BV plan ${inRange} 2>&1); echo "plan=$?"; echo "$out" | grep -q 'is an id of the bvisor range' && echo "why=range"`);
    expect(said(r.stdout, 'rc'), r.stderr).toEqual(['0']);
    expect(said(r.stdout, 'uid')).toEqual(['1000']);
    // user_namespaces(7): "inside outside count": 1000 alone, to an id of the range, not its first.
    const [inside, outside, count] = said(r.stdout, 'map')[0]!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([1000, 1]);
    expect(outside).toBeGreaterThan(100_000);
    expect(outside).toBeLessThan(100_064);
    // exit 3: refused by the planner (docs/exit-codes.md).
    expect(said(r.stdout, 'plan')).toEqual(['3']);
    expect(said(r.stdout, 'why')).toEqual(['range']);
  });

  it('an OCI config asking for a block of ids gets one of the range: users switch inside, files land as the config\'s ids on disk, exec as any of them', () => {
    if (!canRun()) return;
    if (!existsSync(BUSYBOX)) return skipOrFail('busybox', `${BUSYBOX} is missing (Debian busybox-static)`);
    // As podman --userns=auto or Kubernetes hostUsers: false send it: container ids 0..199 on host
    // ids 300000..300199, the engine's copy of the image owned by them on disk.
    const DISK = 300_000;
    const N = 200;
    // A 1777 host directory shared with earlier launches, each of which left a 0600 file under
    // its own id of the range (the range's ids are handed out again).
    const share = tempDir('bvisor-ids-share-');
    chmodSync(share, 0o1777);
    for (let id = 100_001; id < 100_000 + 1024; id++) {
      writeFileSync(join(share, `f${id}`), `left by ${id}\n`, { mode: 0o600 });
      chownSync(join(share, `f${id}`), id, id);
    }
    const blockBundle = (args: string[], user?: Record<string, unknown>): string => {
      const dir = tempDir('bvisor-ids-blk-');
      chmodSync(dir, 0o755);
      containerdBundle(dir, args, ['sh', 'id', 'su', 'stat', 'touch', 'cat', 'chown', 'sleep', 'ls'], (c) => {
        c.linux.namespaces.push({ type: 'user' });
        c.linux.uidMappings = [{ containerID: 0, hostID: DISK, size: N }];
        c.linux.gidMappings = [{ containerID: 0, hostID: DISK, size: N }];
        c.root.readonly = false;
        c.mounts.push({ destination: '/share', type: 'bind', source: share, options: ['rbind', 'rw'] });
        if (user) c.process.user = user;
      });
      const rootfs = join(dir, 'rootfs');
      mkdirSync(join(rootfs, 'home', 'www'), { recursive: true });
      writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nwww:x:101:101:www:/home/www:/bin/sh\n');
      writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nwww:x:101:\n');
      writeFileSync(join(rootfs, 'home', 'www', 'secret'), 'www-secret\n', { mode: 0o600 });
      spawnSync('chown', ['-R', `${DISK}:${DISK}`, rootfs]);
      chownSync(join(rootfs, 'home', 'www'), DISK + 101, DISK + 101);
      chownSync(join(rootfs, 'home', 'www', 'secret'), DISK + 101, DISK + 101);
      chmodSync(join(rootfs, 'home', 'www'), 0o700);
      // Readable by group 150 alone (a supplementary group of the sleeper's user).
      writeFileSync(join(rootfs, 'home', 'grp'), 'group-150\n', { mode: 0o640 });
      chownSync(join(rootfs, 'home', 'grp'), DISK, DISK + 150);
      return dir;
    };
    const run = blockBundle([
      'sh',
      '-c',
      'echo "map=$(cat /proc/self/uid_map)"; echo "www=$(stat -c %u:%g /home/www)"; n=0; for f in /share/f*; do cat $f >/dev/null 2>&1 && n=$((n+1)); done; echo "leftovers=$n"; touch /share/root-made && echo share=ok; touch /home/made-by-root && chown 102:102 /home/made-by-root && echo chown=ok; ' +
        'su -s /bin/sh www -c \'echo "as=$(id -u):$(id -g)"; echo "secret=$(cat /home/www/secret)"; touch /home/www/made; echo made=$?; touch /etc/x 2>/dev/null; echo etc=$?\'',
    ]);
    // The sleeper's init is 101, with 150 among its supplementary groups (containerd fills them
    // from the image's /etc/group).
    const sleeper = blockBundle(['sleep', '30'], { uid: 101, gid: 101, additionalGids: [101, 150] });
    const r = inPrivate(
      'bvisor:100000:1024\n',
      `$BV run b1 -b ${run}; echo "rc=$?"; $BV create b2 -b ${sleeper} && $BV start b2 && ` +
        `$BV exec --user 101:101 b2 sh -c 'echo "ex=$(id -u):$(id -g)"; touch /home/www/e; cat /home/www/secret'; echo "exec=$?"; ` +
        `$BV exec --user ${N}:0 b2 true 2>/dev/null; echo "outside=$?"; echo "map2=$($BV exec b2 cat /proc/self/uid_map)"; ` +
        `$BV exec b2 sh -c 'echo "own=$(id -u):$(id -G | tr " " ,)"; echo "grp=$(cat /home/grp)"'; echo "gids=$(grep ^Groups: /proc/$($BV state b2 | tr -d ' \\n' | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')/status)"; ` +
        `echo "init=$(grep ^Uid: /proc/$($BV state b2 | tr -d ' \\n' | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')/status)"; $BV delete -f b2; echo "left=$(ls /run/bvisor-ids | grep -v lock | tr '\\n' ,)"`,
    );
    expect(said(r.stdout, 'rc'), r.stdout + r.stderr).toEqual(['0']);
    // user_namespaces(7): "inside outside count": the whole block, from an id of the range.
    const [inside, outside, count] = said(r.stdout, 'map')[0]!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([0, N]);
    expect(outside).toBeGreaterThan(100_000);
    expect(outside! + N).toBeLessThanOrEqual(100_000 + 1024);
    // The image's files show as the config's container ids: disk 300101 is 101.
    expect(said(r.stdout, 'www')).toEqual(['101:101']);
    // Root has its capabilities over the block's files (chown to another of its ids)...
    expect(said(r.stdout, 'chown'), r.stdout + r.stderr).toEqual(['ok']);
    // ...and becomes another of them (setresuid; without a block: EINVAL, nothing mapped).
    expect(said(r.stdout, 'as')).toEqual(['101:101']);
    expect(said(r.stdout, 'secret')).toEqual(['www-secret']);
    expect(said(r.stdout, 'made')).toEqual(['0']);
    expect(said(r.stdout, 'etc')).toEqual(['1']);
    // In the shared grant the block's ids are not the owners of what earlier launches left: only
    // the file of the container's root's own host id is its own, as for a launch of one id (the
    // red twin, that bind not idmapped: 200 of them, an attack in December).
    expect(said(r.stdout, 'leftovers')).toEqual(['1']);
    expect(said(r.stdout, 'share')).toEqual(['ok']);
    expect(spawnSync('stat', ['-c', '%u:%g', join(share, 'root-made')], { encoding: 'utf8' }).stdout.trim()).toBe(`${outside}:${outside}`);
    // On disk, what each made is the config's host id for it.
    const owner = (p: string): string => spawnSync('stat', ['-c', '%u:%g', join(run, 'rootfs', p)], { encoding: 'utf8' }).stdout.trim();
    expect(owner('home/made-by-root')).toBe(`${DISK + 102}:${DISK + 102}`);
    expect(owner('home/www/made')).toBe(`${DISK + 101}:${DISK + 101}`);
    // exec as another id of the block; an id outside it is refused (exit 125).
    expect(said(r.stdout, 'ex')).toEqual(['101:101']);
    expect(r.stdout).toContain('www-secret\nexec=0');
    expect(spawnSync('stat', ['-c', '%u:%g', join(sleeper, 'rootfs', 'home', 'www', 'e')], { encoding: 'utf8' }).stdout.trim()).toBe(`${DISK + 101}:${DISK + 101}`);
    expect(said(r.stdout, 'outside')).toEqual(['125']);
    // The init, from the host: the block's first id (the container's root), in all four fields.
    const [in2, first2, count2] = said(r.stdout, 'map2')[0]!.trim().split(/\s+/).map(Number);
    expect([in2, count2]).toEqual([0, N]);
    // The init, from the host: its place in the block (101), in all four fields, with its groups.
    const uids = said(r.stdout, 'init')[0]!.replace(/^Uid:/, '').trim().split(/\s+/).map(Number);
    expect(uids).toEqual([first2! + 101, first2! + 101, first2! + 101, first2! + 101]);
    expect(said(r.stdout, 'gids')[0]!.replace(/^Groups:/, '').trim()).toBe(`${first2! + 101} ${first2! + 150}`);
    // An exec without --user is the container's own process.user, with its groups: 150 reads the file.
    expect(said(r.stdout, 'own')).toEqual(['101:101,150']);
    expect(said(r.stdout, 'grp')).toEqual(['group-150']);
    // delete let the block go.
    expect(said(r.stdout, 'left')).toEqual(['']);
  });

  it('an API run (no state entry) whose workload outlives its killed process keeps the id held by the workload', () => {
    if (!canRun()) return;
    const b = unparentedProbe();
    const echo = shBundle('echo ran', null);
    const api = join(ROOT, 'dist', 'index.js');
    const script = `const { runConfined } = await import(${JSON.stringify(api)}); await runConfined(${JSON.stringify(b)}, { cgroupParent: process.env.BVISOR_CGROUP_PARENT });`;
    const r = inPrivate(
      'bvisor:460000:2\n',
      `${JSON.stringify(process.execPath)} --input-type=module -e ${JSON.stringify(script).replace(/\$/g, '\\$')} >/dev/null 2>&1 & api=$!; ` +
        `for i in $(seq 100); do grep -q '"proc".*"proc"' /run/bvisor-ids/460001 2>/dev/null && break; sleep 0.1; done; sleep 0.3; ` +
        // The workload: the process of the range's id that is not the API's.
        `w=$(for p in /proc/[0-9]*; do awk '/^Uid:/ && $2 == 460001 {print FILENAME}' $p/status 2>/dev/null; done | head -1 | cut -d/ -f3); ` +
        `kill -9 $api; wait $api 2>/dev/null; echo "workload=$(awk '/^Uid:/ {print $2}' /proc/$w/status)"; ` +
        `$BV run r2 -b ${echo}; echo "r2=$?"; ` +
        `kill -9 $w; for i in $(seq 50); do test -e /proc/$w || break; sleep 0.1; done; ` +
        `$BV run r3 -b ${echo} >/dev/null; echo "r3=$?"; kill -9 $w 2>/dev/null; true`,
    );
    expect(said(r.stdout, 'workload'), r.stderr).toEqual(['460001']);
    expect(said(r.stdout, 'r2')).toEqual(['125']);
    expect(r.stderr).toContain('error BV_IDS_EXHAUSTED');
    expect(said(r.stdout, 'r3')).toEqual(['0']);
  });
});
