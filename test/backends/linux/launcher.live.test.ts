// The launcher, proven by the probe running inside the boundary (and by /proc, the cgroup
// files and the disk), never by bvisor's own report alone. Each property has a red twin: the
// same oracle applied to a run with that mechanism switched off (test-only hooks) must see the
// concrete outcome that mechanism prevents (the namespace inode is ours, the leaked fd shows,
// fork succeeds, the allocation completes), not merely fail.
import { existsSync, readdirSync, readFileSync, openSync, closeSync } from 'node:fs';
import { defaultTestParent } from '../../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeFacts, runProbe, tryOps, E, facts, type ProbeFacts, testCgroupParent, writableDir } from '../../helpers/probe.js';
import { skipOrFail } from '../../helpers/require.js';
import { expectTwin } from '../../helpers/twin.js';
import { spawn, execFileSync } from 'node:child_process';
import { tempDir } from '../../helpers/tmp.js';
import { shim } from '../../../src/backends/linux/ffi/shim.js';
import type { BvisorError } from '../../../src/contract/errors.js';

const ourNs = (ns: string): number => Number(/\[(\d+)\]/.exec(require('node:fs').readlinkSync(`/proc/self/ns/${ns}`))![1]);
const NS = ['user', 'pid', 'net', 'mnt', 'ipc', 'uts', 'cgroup'];

function assertNamespaced(p: ProbeFacts): void {
  for (const ns of NS) expect(p.ns[ns], ns).not.toBe(ourNs(ns));
  expect(p.pid).toBe(1);
  // The workload's root is the mapped unprivileged id (65534 as root), never host root.
  expect(p.uidMap.trim().split(/\s+/)).toEqual(['0', String(facts().mapping.uid), '1']);
  expect(p.gidMap.trim().split(/\s+/)).toEqual(['0', String(facts().mapping.gid), '1']);
  expect(facts().mapping.uid).not.toBe(0);
  // Rootful, setgroups stays allowed so the child can shed root's groups; rootless, it is denied.
  expect(p.setgroups.trim()).toBe(process.geteuid!() === 0 ? 'allow' : 'deny');
}

describe('launcher (live)', () => {
  it('puts the workload in every namespace the plan asks for, with a mapped uid and its own hostname', async () => {
    const { p, out } = await probeFacts();
    assertNamespaced(p);
    expect(p.hostname).toBe('bvisor');
    expect(out.exitStatus).toBe(0);
    expect(out.report.body.evidence.filter((e) => e.name.startsWith('ns.')).every((e) => e.ok === true)).toBe(true);
  });

  it('red twin: without the network namespace the probe is in ours (and still in its own others)', async () => {
    const { p } = await probeFacts('', { hooks: { mutateLaunch: (l) => void (l.namespaces = l.namespaces.filter((n) => n !== 'net')) } });
    expect(p.ns.net).toBe(ourNs('net'));
    for (const ns of NS.filter((n) => n !== 'net')) expect(p.ns[ns], ns).not.toBe(ourNs(ns));
  });

  it('never runs the workload when the rendezvous fails (oracle: a marker it would write)', async () => {
    const dir = writableDir();
    const marker = join(dir, 'ran');
    const before = leaves();
    await expect(runProbe(['write', marker, 'x'], 'limits: { memory: 64Mi }\n', { filesystem: [`  - { path: ${dir}, access: read-write }`], hooks: { failUidMap: true }, cgroupParent: testCgroupParent() })).rejects.toMatchObject({ code: 'BV_LAUNCH_RENDEZVOUS' });
    expect(existsSync(marker)).toBe(false);
    expect(leaves()).toEqual(before);
    // control: the same run without the fault writes the marker
    await runProbe(['write', marker, 'x'], '', { filesystem: [`  - { path: ${dir}, access: read-write }`] });
    expect(readFileSync(marker, 'utf8')).toBe('x');
  });

  it('a child killed while it sets up (no record, no READY) fails the launch; it is never reported as run', async () => {
    // As the OOM killer or another process could: the test-only hooks stop the child just before
    // its release byte (so it never reads it, nor reports READY) and SIGKILL it right after. Its
    // pipe then ends with no record at all, and the launch must not take that end for an exec.
    const dir = writableDir();
    const marker = join(dir, 'ran');
    const before = leaves();
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const hooks = { beforeRelease: (pid: number) => process.kill(pid, 'SIGSTOP'), afterRelease: (pid: number) => process.kill(pid, 'SIGKILL') };
      codes.push(
        await runProbe(['write', marker, 'x'], 'limits: { memory: 64Mi }\n', { filesystem: [`  - { path: ${dir}, access: read-write }`], hooks, cgroupParent: testCgroupParent() }).then(
          (out) => `ran, exit status ${out.exitStatus}`,
          (err: BvisorError) => `${err.code}: ${err.message}`,
        ),
      );
    }
    expect(codes).toEqual(Array(3).fill('BV_LAUNCH_FAILED: the workload exited before it was ready'));
    expect(existsSync(marker)).toBe(false);
    expect(leaves()).toEqual(before);
  });

  it('scrubs descriptors: a non-CLOEXEC fd in bvisor does not reach the workload', async () => {
    const fd = shim().bv_open('/etc/hostname', 0, 0);
    shim().bv_set_cloexec(fd, 0);
    try {
      expect((await probeFacts()).p.fds.map((f) => f.fd).sort()).toEqual([0, 1, 2]);
      // Red twin: without the scrub the probe holds our descriptor, at its number, on that file.
      expect((await probeFacts('', { hooks: { noScrub: true } })).p.fds).toContainEqual({ fd, target: '/etc/hostname' });
    } finally {
      shim().bv_close(fd);
    }
  });

  it('passes declared fds renumbered from 3, and nothing else', async () => {
    const d = tempDir();
    const f = join(d, 'data');
    require('node:fs').writeFileSync(f, 'x');
    const fd = openSync(f, 'r');
    try {
      const { p } = await probeFacts(`fds: [${fd}]\nlimits: { openFiles: 16 }\n`, { fds: [fd] });
      expect(p.fds.map((x) => x.fd).sort()).toEqual([0, 1, 2, 3]);
      expect(p.fds.find((x) => x.fd === 3)!.target).toBe(f);
    } finally {
      closeSync(fd);
    }
  });

  it('refuses a declared fd that is not open', async () => {
    await expect(runProbe(['facts'], 'fds: [987]\n', { fds: [987] })).rejects.toMatchObject({ code: 'BV_FD_NOT_OPEN' });
  });

  it('runs a #! script: its interpreter is found in the root, its descriptor handed to it', async () => {
    const d = tempDir('bvisor-script-');
    require('node:fs').chmodSync(d, 0o755);
    const script = join(d, 'hello.sh');
    require('node:fs').writeFileSync(script, '#!/bin/sh\necho "script says $1"\n', { mode: 0o755 });
    const dir = tempDir('bvisor-script-b-');
    require('node:fs').chmodSync(dir, 0o755);
    require('node:fs').writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${script}, args: [hi] }\nfilesystem:\n  - { path: ${d}, access: read-exec }\n  - { path: /usr, access: read-exec }\n  - { path: /proc, access: read }\nstdio: { stdout: capture, stderr: capture }\n`);
    const { loadBundle } = await import('../../../src/host/bundle.js');
    const { runLoaded } = await import('../../../src/app/run.js');
    const out = await runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(out.stdout?.toString(), out.stderr?.toString()).toBe('script says hi\n');
    expect(out.plan.launch?.workload.script).toBe(true);
  });

  it('gives exactly the manifest environment', async () => {
    process.env.BVISOR_TEST_CANARY = 'leak';
    try {
      const { p } = await probeFacts('env: { A: "1", PATH: /usr/bin }\n');
      expect(p.env.sort()).toEqual(['A=1', 'PATH=/usr/bin']);
    } finally {
      delete process.env.BVISOR_TEST_CANARY;
    }
  });

  it('resolves secrets at launch and never writes them under the state root', async () => {
    const root = tempDir();
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const { p } = await probeFacts('env: { TOKEN: { secret: api-token } }\n', { root, id: 'sec1', secretEnv: { BVISOR_SECRET_API_TOKEN: secret } });
    expect(p.env).toContain(`TOKEN=${secret}`);
    const all = walk(root).map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(all.length).toBeGreaterThan(100); // the journal was written
    expect(all).not.toContain(secret);
    expect(all).toContain('BVISOR_SECRET_API_TOKEN'); // the reference is recorded
    await expect(runProbe(['facts'], 'env: { TOKEN: { secret: api-token } }\n', { secrets: ['api-token'] })).rejects.toMatchObject({ code: 'BV_SECRET_MISSING' });
  });

  it('drops every capability and sets no_new_privs; seccomp is in filter mode at exec', async () => {
    const { p, out } = await probeFacts();
    expect([p.CapEff, p.CapBnd, p.NoNewPrivs, p.Seccomp]).toEqual(['0000000000000000', '0000000000000000', '1', '2']);
    expect(out.report.body.evidence.find((e) => e.name === 'NoNewPrivs')?.value).toBe('1');
  });

  it('the workload is the launching process\'s child (its exit status is ours): the report says launcher, with the kernel\'s PPid', async () => {
    const { out } = await probeFacts();
    expect(out.report.body.reaper).toBe('launcher');
    // proc(5) PPid, read by the launcher at READY, against this process: the one that called clone3.
    expect(out.report.body.evidence.find((e) => e.name === 'PPid')).toEqual({ name: 'PPid', source: expect.stringMatching(/^\/proc\/\d+\/status$/), value: String(process.pid), expected: String(process.pid), ok: true });
  });

  it('denies fork under spawn: deny (EPERM), allows it under descendants', async () => {
    expect((await probeFacts()).p.forkErrno).toBe(1);
    expect((await probeFacts('spawn: descendants\nlimits: { processes: 8 }\n', { cgroupParent: testCgroupParent() })).p.forkErrno).toBe(0);
    // Red twin: without seccomp, fork under spawn: deny works (nothing else stops it).
    expect((await probeFacts('', { hooks: { noSeccomp: true } })).p.forkErrno).toBe(0);
  });

  it('denies AF_INET sockets under network: deny', async () => {
    expect((await probeFacts()).p.inetSocketErrno).toBe(1);
  });

  it('reports the exit code and the killing signal', async () => {
    expect((await runProbe(['exit', '7'])).exitStatus).toBe(7);
    const segv = await runProbe(['segv']);
    expect(segv.exitStatus).toBe(128 + 11);
    expect(segv.report.body.outcome).toMatchObject({ status: 'failed', reason: 'signal', signal: 'SIGSEGV', exitCode: null });
    expect((await runProbe(['exit', '0'])).report.body.outcome.status).toBe('completed');
  });

  it('kills at the wall-clock deadline', async () => {
    const t0 = Date.now();
    const out = await runProbe(['spin'], 'limits: { wall: 300ms }\n');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(out.exitStatus).toBe(124);
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
  });

  it('a mediated cpu limit holds under run: two spinners are killed at 300 ms of cpu (cgroup v2 cpu.stat, and v1 cpuacct.usage)', async () => {
    // The planner admits this as …supervisor(poll,kill); the oracle is the cgroup's own count
    // (cpu.stat usage_usec, cgroup-v2.rst; cpuacct.usage in ns, cpuacct.rst), read back after the
    // kill, against the limit. The wall is far (20 s): no timing is asserted.
    const manifest = (wall: string): string => `spawn: descendants\nlimits: { processes: 8, wall: ${wall}, cpu: { value: 300ms, guarantee: mediated } }\n`;
    const f = facts();
    const v1Only = { ...f, cgroup: { ...f.cgroup, v2: null } };
    for (const [host, file] of [[f, 'cpu.stat'], [v1Only, 'cpuacct.usage']] as const) {
      if (!host.cgroup.v2 && !host.cgroup.v1.some((h) => h.controllers.includes('cpuacct'))) continue;
      if (host.cgroup.v2 === null && file === 'cpu.stat') continue;
      const out = await runProbe(['spinners', '2'], manifest('20s'), { cgroupParent: testCgroupParent(), host });
      expect(out.report.body.admitted.find((a) => a.clause === 'limits.cpu')?.mechanism).toMatch(new RegExp(`${file.replace('.', '\\.')}\\+supervisor\\(poll,kill\\)$`));
      expect(out.exitStatus).toBe(128 + 9);
      expect(out.report.body.outcome).toMatchObject({ status: 'killed', reason: 'cpu', signal: 'SIGKILL' });
      const used = out.report.body.budgets.cpu.observed as number;
      expect(used).toBeGreaterThanOrEqual(300);
      // polled at most every 100 ms with 2 cpus: ~200 ms over at worst, plus the kill itself
      expect(used).toBeLessThan(300 + 500);
    }
    // Red twin: without the watched counter nothing polls, and the spinners run to the wall.
    const twin = await runProbe(['spinners', '2'], manifest('2s'), { cgroupParent: testCgroupParent(), hooks: { mutateLaunch: (l) => void (l.cgroup.watch = null) } });
    expect(twin.exitStatus).toBe(124);
    expect(twin.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'wall' });
  });

  it('a cpu limit between whole seconds without descendants (mediated): watched and killed at 300 ms of cpu, not RLIMIT_CPU\'s rounded-up second', async () => {
    // An attack in December: cpu: 100ms was "enforced" as RLIMIT_CPU=1s (setrlimit(2) counts
    // seconds), and the workload used 978 ms. Enforced it is refused now (core tests); mediated,
    // the cgroup's usage is watched as for descendants. Oracle: the cgroup's own count, read back.
    const out = await runProbe(['spin'], 'limits: { wall: 20s, cpu: { value: 300ms, guarantee: mediated } }\n', { cgroupParent: testCgroupParent() });
    expect(out.report.body.admitted.find((a) => a.clause === 'limits.cpu')?.mechanism).toMatch(/\+supervisor\(poll,kill\)$/);
    expect(out.report.body.outcome).toMatchObject({ status: 'killed', reason: 'cpu', signal: 'SIGKILL' });
    const used = out.report.body.budgets.cpu.observed as number;
    expect(used).toBeGreaterThanOrEqual(300);
    expect(used).toBeLessThan(800); // RLIMIT_CPU=1s would let it reach 1000
  });

  it('a cpu limit in whole seconds without descendants: RLIMIT_CPU\'s SIGKILL is reported killed for cpu; an early SIGKILL from outside is not', async () => {
    // setrlimit(2): the kernel sends SIGKILL when the process's CPU time reaches the hard limit.
    // Oracles: the exit status (128 + SIGKILL) and the CPU time waitid read back for the spinner.
    const out = await runProbe(['spin'], 'limits: { wall: 20s, cpu: 1s }\n', { cgroupParent: testCgroupParent() });
    expect(out.report.body.admitted.find((a) => a.clause === 'limits.cpu')?.mechanism).toBe('linux:rlimit(RLIMIT_CPU=1s)');
    expect(out.exitStatus).toBe(128 + 9);
    expect(out.report.body.outcome).toEqual({ status: 'killed', reason: 'cpu', exitCode: null, signal: 'SIGKILL' });
    expect(out.report.body.budgets.cpu.observed as number).toBeGreaterThan(900);
    // The same kill 300 ms in, from outside (this test, by pid): the workload's CPU time is far
    // from the limit, so it is a signal like any other.
    const early = await runProbe(['spin'], 'limits: { wall: 20s, cpu: 1s }\n', { cgroupParent: testCgroupParent(), hooks: { beforeRelease: (pid) => void setTimeout(() => process.kill(pid, 'SIGKILL'), 300) } });
    expect(early.exitStatus).toBe(128 + 9);
    expect(early.report.body.outcome).toEqual({ status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' });
    expect(early.report.body.budgets.cpu.observed as number).toBeLessThan(900);
  });

  // A tick charges its whole jiffy to the process running at it (time(7)), and RLIMIT_CPU is on
  // that charge: beside programs that run in bursts on its CPU, a spinner is killed at 1 s
  // charged having run 670 to 920 ms (measured here). Found by a new user: such a kill was
  // reported as a crash (reason signal), its runtime being short of the limit by more than the
  // margin. Oracle: the exit status and the setup (nothing else here signals it); red twin: the
  // charge unread, the old margin says "signal".
  it('RLIMIT_CPU\'s kill beside bursty neighbours on its CPU, charged more than it ran, is still reported killed for cpu', async () => {
    const cpu = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
    const burst = 'const w = new Int32Array(new SharedArrayBuffer(4)); for (;;) { const t = performance.now(); while (performance.now() - t < 1.5); Atomics.wait(w, 0, 0, 0.5); }';
    const neighbours = [1, 2, 3].map(() => spawn('taskset', ['-c', cpu, process.execPath, '-e', burst], { stdio: 'ignore' }));
    try {
      const pin = (pid: number): void => void execFileSync('taskset', ['-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
      let contended: Awaited<ReturnType<typeof runProbe>> | null = null;
      // Until a run is charged clearly more than it ran (the case under test): at most 3.
      for (let i = 0; i < 3 && !contended; i++) {
        const out = await runProbe(['spin'], 'limits: { wall: 20s, cpu: 1s }\n', { cgroupParent: testCgroupParent(), hooks: { beforeRelease: pin } });
        expect(out.exitStatus).toBe(128 + 9);
        expect(out.report.body.outcome).toEqual({ status: 'killed', reason: 'cpu', exitCode: null, signal: 'SIGKILL' });
        if ((out.report.body.budgets.cpu.observed as number) < 950) contended = out;
      }
      // Under emulation (the VM suite) the guest's ticks come from the emulator's timers, and the
      // charge tracked the runtime in every run (ci162): the case cannot be made there.
      if (process.env.BVISOR_TEST_EMULATED && !contended) console.warn('SKIP (emulated): no run was charged beyond its runtime beside bursty neighbours; only the reason was checked');
      else expect(contended, 'no run was charged more than 50 ms beyond its runtime beside three bursty neighbours').not.toBeNull();
    } finally {
      for (const n of neighbours) n.kill('SIGKILL');
    }
  });

  it('the child joins its v1 leaves itself, and the go byte waits until the leaf lists it (red twins: no join)', async () => {
    if (!facts().cgroup.v1.some((h) => h.controllers.includes('memory')) || facts().cgroup.v2?.controllers.includes('memory')) {
      skipOrFail('cgroup-v1-memory', 'limits.memory is not placed on a v1 memory hierarchy here');
      return;
    }
    // Oracle: /proc/self/cgroup inside, relative to the cgroup namespace made at clone (bvisor's
    // own cgroup): the leaf under this file's parent (cgroup_namespaces(7)).
    const memLine = (p: ProbeFacts): string => p.cgroup.split('\n').find((l) => /^\d+:memory:/.test(l)) ?? '';
    const { p } = await probeFacts('limits: { memory: 64Mi }\n', { cgroupParent: testCgroupParent() });
    expect(memLine(p)).toMatch(new RegExp(`:memory:/${testCgroupParent()}/bvisor-[^/]+$`));
    // Without the child's own join, the READY check finds it outside the leaf: never released.
    await expect(runProbe(['exit', '0'], 'limits: { memory: 64Mi }\n', { hooks: { noCgroupJoin: true }, cgroupParent: testCgroupParent() })).rejects.toMatchObject({ code: 'BV_LAUNCH_EVIDENCE' });
    // ... and had the check been skipped too, it would have run outside its limit.
    const twin = await probeFacts('limits: { memory: 64Mi }\n', { hooks: { noCgroupJoin: true, ignoreEvidence: true }, cgroupParent: testCgroupParent() });
    expect(memLine(twin.p)).toMatch(/:memory:\/$/);
  });

  it('enforces the memory limit: an OOM kill, reported as such', async () => {
    const out = await runProbe(['alloc', '256'], 'limits: { memory: 32Mi }\n');
    expect(out.stdout?.toString()).not.toContain('ok'); // the probe never finished allocating
    expect(out.exitStatus).toBe(137);
    expect(out.report.body.outcome).toMatchObject({ status: 'killed', reason: 'oom' });
    // Red twin: without the cgroup limit, 64 MiB under a 32Mi limit is allocated and touched.
    const t = await runProbe(['alloc', '64'], 'limits: { memory: 32Mi }\n', { hooks: { mutateLaunch: (l) => void (l.cgroup.limits = []) } });
    expect({ stdout: t.stdout?.toString(), exit: t.exitStatus }).toEqual({ stdout: 'ok\n', exit: 0 });
  });

  it('contains a fork bomb with the pids limit (cgroup under a named parent)', async () => {
    const parent = testCgroupParent();
    const out = await runProbe(['forkbomb', '60'], 'spawn: descendants\nlimits: { processes: 10, wall: 10s }\n', { cgroupParent: parent });
    const made = Number(out.stdout?.toString().trim());
    expect(made).toBeLessThan(10);
    expect(made).toBeGreaterThan(0);
    for (const h of facts().cgroup.v1) if (h.ownDir) expect(existsSync(join(h.ownDir, parent)), h.ownDir).toBe(false);
  });

  it('holds limits.processes without a pids cgroup: RLIMIT_NPROC counts per user namespace, so per run', async () => {
    // A host where no pids controller is ours: the planner falls back to RLIMIT_NPROC, which
    // counts "the number of extant processes for the real user ID" (setrlimit(2)), per user
    // namespace since Linux 5.14; each run has its own, so 5 means this run: the probe and 4.
    const f = facts();
    const noPids = { ...f, cgroup: { ...f.cgroup, v1: f.cgroup.v1.filter((h) => !h.controllers.includes('pids')), v2: f.cgroup.v2 ? { ...f.cgroup.v2, controllers: f.cgroup.v2.controllers.filter((c) => c !== 'pids'), subtreeControl: f.cgroup.v2.subtreeControl.filter((c) => c !== 'pids'), rootControllers: (f.cgroup.v2.rootControllers ?? []).filter((c) => c !== 'pids') } : null } };
    const manifest = 'spawn: descendants\nlimits: { processes: 5, wall: 10s }\n';
    const out = await runProbe(['forkbomb', '50'], manifest, { host: noPids });
    expect(out.report.body.admitted.find((a) => a.clause === 'limits.processes')).toMatchObject({ verdict: 'enforced', mechanism: 'linux:rlimit(RLIMIT_NPROC=5,per-user-namespace)' });
    expect(Number(out.stdout?.toString().trim())).toBe(4);
    // red twin: without the rlimit every fork succeeds
    const twin = await runProbe(['forkbomb', '50'], manifest, { host: noPids, hooks: { mutateLaunch: (l) => void (l.rlimits = l.rlimits.filter((r) => r.resource !== 'nproc')) } });
    expect(Number(twin.stdout?.toString().trim())).toBe(50);
  });

  it('without a pid namespace, the workload cannot signal a process outside its boundary (landlock signal scope): its supervisor cannot be stopped', async () => {
    if (facts().landlock.abi < 6) return skipOrFail('landlock-scope', `landlock ABI ${facts().landlock.abi} has no signal scope`);
    // A process outside, with the workload's own host uid (so credentials alone would allow the
    // signal), visible because the workload shares our pid namespace.
    const outsider = spawn('setpriv', [`--reuid=${facts().mapping.uid}`, `--regid=${facts().mapping.gid}`, '--clear-groups', 'sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const pid = outsider.pid!;
      // The plan a host without pid namespaces gets (planner.test.ts checks the planner adds
      // the scope there); signal 0 checks permission without delivering anything (kill(2)).
      const observe = async (dropScope?: boolean): Promise<number[]> =>
        tryOps([['kill', String(pid), '0']], '', {
          hooks: {
            mutateLaunch: (l) => {
              l.namespaces = l.namespaces.filter((n) => n !== 'pid');
              l.layout = l.layout.filter((e) => e.target !== '/proc' && !e.target.startsWith('/proc/'));
              l.filesystem = l.filesystem.filter((r) => r.path !== '/proc');
              l.scope = dropScope ? [] : ['signal'];
            },
          },
        });
      await expectTwin(observe, true, { on: [E.PERM], twin: { value: [0] } });
    } finally {
      outsider.kill('SIGKILL');
    }
  });

  it('caps captured output and records the truncation', async () => {
    const out = await runProbe(['spew', '100000'], 'limits: { output: 1000 }\n');
    expect(out.stdout!.length).toBe(1000);
    expect(out.report.body.streams.stdout).toMatchObject({ mode: 'capture', bytes: 100000, truncated: true });
    expect(out.report.body.streams.stdout.sha256).toBe(require('node:crypto').createHash('sha256').update(out.stdout!).digest('hex'));
  });

  // 200 runs here; the stock-kernel VM (test/vm/guest.sh) asks for fewer, since a run there
  // costs 30 times as much: any per-run leak still exceeds the slack of 2 below within a few runs.
  const leakRuns = Number(process.env.BVISOR_TEST_LEAK_RUNS ?? 200);
  it(`leaves no cgroup, fd, process or child stack behind across ${leakRuns} runs`, async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const leavesBefore = leaves();
    // A guard page (---p) per child stack (launch.c, struct bv_child_ctx): a child sharing our
    // memory keeps its stack until it has exec'd, and the next launch frees it (oracle: the
    // kernel's list of our mappings, proc(5) /proc/pid/maps).
    // The region is a power of two >= 128 KiB and 8 pages, aligned to its size; its guard is its
    // second page.
    const page = BigInt(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
    let region = 131072n;
    while (region < 8n * page) region *= 2n;
    const guards = (): number =>
      readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .map((l) => /^([0-9a-f]+)-([0-9a-f]+) ---p 00000000 00:00 0 *$/.exec(l))
        .filter((m) => m !== null && BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`) === page && BigInt(`0x${m[1]}`) % region === page).length;
    const guardsBefore = guards();
    expect(leakRuns).toBeGreaterThanOrEqual(10);
    for (let i = 0; i < leakRuns; i++) await runProbe(['exit', '0'], 'limits: { memory: 64Mi }\n', { cgroupParent: testCgroupParent() });
    expect(guards()).toBeLessThanOrEqual(guardsBefore + 2);
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore + 2);
    expect(leaves()).toEqual(leavesBefore);
    expect(children()).toEqual([]);
  }, 120_000);
});

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
}

/** Leaves under this file's own cgroup parent (other test files run in parallel, with theirs). */
function leaves(): string[] {
  const out: string[] = [];
  for (const h of [...facts().cgroup.v1, ...(facts().cgroup.v2 ? [facts().cgroup.v2!] : [])]) {
    if (!h.ownDir) continue;
    const d = join(h.ownDir, testCgroupParent());
    if (existsSync(d)) for (const n of readdirSync(d)) if (n.startsWith('bvisor-')) out.push(join(d, n));
  }
  return out.sort();
}

function children(): string[] {
  const out: string[] = [];
  for (const t of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    } catch {
      // thread gone
    }
  }
  return out;
}
