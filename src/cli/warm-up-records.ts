// The start-up snapshots' warm-up of what the lifecycle commands run (docs/startup.md): code V8
// compiles while a snapshot is made is kept in the blob as bytecode, so a start skips compiling
// it again. Pure work on constants (scripts/build-snapshot.mjs fails the build on any read of the
// environment, the clock or randomness): oclif's flag parser, which every command runs (its
// `Config.load` cannot run here: it reads the environment and the home directory), the
// validators every lifecycle command runs (host facts, state), and a container's report as
// `state`/`delete` seal it: the plan's check against its hash, the report's body from a finished
// run's facts, its seal, its journal entry. Not the journal entry's validator: an append checks
// the journal's last line against the head's lineHash, and validates it only when that differs
// (a head written before lineHash, a damaged tail) or for `journal verify`; compiled into the
// blob it cost every start about 5 ms of deserialising (docs/performance.md, fifteenth pass), and
// it compiles on its first call instead (scripts/gen-contract.mjs, lazyValidators). Nothing it
// computes is kept. Both blobs run it; bvisor.blob's warm-up (src/cli/warm-up.ts) also reads a
// manifest and plans it, and gives this one that plan.
import { Args, Flags, Parser } from '@oclif/core';
import type { ContainerState, HostFacts, Plan } from '../contract/generated/types.js';
import { validateContainerState, validateHostFacts } from '../contract/generated/validators-records.js';
import { makeEntry, makeEventEntry } from '../core/journal.js';
import { planIntact } from '../core/plan-hash.js';
import { reportIntact, sealReport } from '../core/report.js';
import { linuxReportBody } from '../app/report.js';
import { notObservedSeccomp } from '../backends/linux/host/denials.js';
import { sha256Hex } from '../host/hash.js';

const v2 = (controllers: string[]) => ({ version: 2 as const, controllers, subtreeControl: controllers, mountPoint: '/sys/fs/cgroup', ownPath: '/user.slice/user-0.slice/session-1.scope', ownDir: '/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope', isRoot: false, canCreateChild: true, error: null, rootControllers: controllers, rootWritable: true });

/** A root shell on a systemd host with Debian 12's kernel (the VM of test/vm). */
export const HOST = {
  bvisorVersion: '1',
  kernel: { release: '6.1.0-warm', arch: 'x86_64' },
  landlock: { abi: 2, error: null },
  seccomp: { available: true, actions: ['kill_process', 'kill_thread', 'trap', 'errno', 'user_notif', 'trace', 'log', 'allow'] },
  userns: { maxUserNamespaces: 63000, unprivilegedClone: null, apparmorRestrict: null, canCreate: true, unprivilegedCanCreate: true, error: null },
  cgroup: { mode: 'v2', v2: v2(['cpu', 'memory', 'pids', 'io']), v1: [], delegated: null },
  identity: { uid: 0, gid: 0, euid: 0, egid: 0 },
  mapping: { uid: 65534, gid: 65534, source: 'overflow ids (/proc/sys/kernel/overflowuid, overflowgid)' },
  capabilities: { effective: '000001ffffffffff', names: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] },
  rlimits: { nofile: { soft: 1024, hard: 524288 }, nproc: { soft: 95000, hard: 95000 } },
} as unknown as HostFacts;

/** Compiles what the lifecycle commands run, with `p` as the container's plan. */
export function warmUpRecords(p: Plan): void {
  // Flags without `env` (a flag's env variable would be read, which the build forbids). The parse
  // is asynchronous: it ends before the heap is written (Node drains the event loop first), and a
  // rejection ends the build.
  void Parser.parse(['--root', '/run/bvisor', '--json', '-b', '/srv/bundle', 'warm'], {
    flags: { root: Flags.string(), json: Flags.boolean(), bundle: Flags.string({ char: 'b' }), force: Flags.boolean() },
    args: { id: Args.string({ required: true }) },
    strict: true,
  }).then((r) => {
    if (r.args.id !== 'warm' || r.flags.bundle !== '/srv/bundle') throw new Error('warm-up: oclif parsed the fixed argv differently');
  });
  validateHostFacts(HOST);
  // The seal's check of plan.json. The lifecycle blob's plan comes from the build: one whose
  // content is not what its hash says fails it here.
  if (!planIntact(p, p.planHash ?? '', sha256Hex)) throw new Error('warm-up: the plan does not match its planHash');
  const started = makeEventEntry(null, { kind: 'started', runId: '00000000-0000-4000-8000-000000000000', containerId: 'warm', releasedBy: 'run', backend: 'linux', planHash: p.planHash ?? '0'.repeat(64), stateRoot: '/run/bvisor', cgroupDirs: [], supervisor: null, monitor: null, workload: null }, '2026-01-01T00:00:00.000Z', sha256Hex);

  // A container's report, sealed as state/delete seal it, and its journal entry. Fixed times
  // (constants, never the clock).
  const at = new Date('2026-01-01T00:00:00.000Z');
  const leaf = '/sys/fs/cgroup/user.slice/bvisor-warm-00000000';
  const counter = (value: number, file: string) => ({ value, source: `${leaf}/${file}` });
  const body = linuxReportBody(
    { runId: '00000000-0000-4000-8000-000000000000', containerId: 'warm', bundle: '/srv/bundle', manifestSha256: '0'.repeat(64), plan: p, host: HOST, createdAt: at },
    {
      pid: 2, startedAt: at, endedAt: new Date(at.getTime() + 5), setupMs: 3, runMs: 5, teardownMs: 0,
      wait: { siCode: 1, status: 0, utimeUs: 100, stimeUs: 200, maxRssKb: 1024, chargedUs: 300 },
      exitCode: 0, signal: null, timedOut: false, cpuExceeded: false, oomKilled: false,
      evidence: [{ name: 'ns.pid', source: '/proc/2/ns/pid', value: 'pid:[4026532000]' }],
      readback: { memoryPeak: counter(1 << 20, 'memory.peak'), oomKills: counter(0, 'memory.events'), pidsPeak: counter(1, 'pids.peak'), pidsMax: counter(0, 'pids.events'), cpuUsec: counter(300, 'cpu.stat') },
      cgroupDirs: [leaf],
      streams: { stdout: { mode: 'inherit', bytes: null, kept: null, sha256: null, truncated: false }, stderr: { mode: 'capture', bytes: 0, kept: null, sha256: 'e'.repeat(64), truncated: false } },
      teardown: { complete: true, notes: [] },
      landlock: { abi: 2, digest: 'a'.repeat(64), rules: 3 },
      seccomp: { sha256: 'b'.repeat(64), rules: 40, instructions: 120, deny: 'errno' },
      seccompDenials: notObservedSeccomp('the monitor did not observe them'),
    },
  );
  const report = sealReport(body, sha256Hex);
  if (!reportIntact(report, sha256Hex)) throw new Error('warm-up: the sealed report does not match its bodyHash');
  const entry = makeEntry(started, report, '2026-01-01T00:00:01.000Z', sha256Hex);
  sha256Hex(JSON.stringify(entry)); // the head's lineHash, as the append writes it
  const state: ContainerState = {
    bvisorVersion: '1', id: 'warm', kind: 'container', status: 'stopped', bundle: '/srv/bundle', keptBundle: null, runId: report.body.runId, planHash: p.planHash ?? '0'.repeat(64), backend: 'linux', manifestSha256: '0'.repeat(64),
    createdAt: at.toISOString(), startedAt: at.toISOString(), pid: { pid: 2, startTime: '100' }, monitor: { pid: 3, startTime: '99' }, creator: { pid: 4, startTime: '98' }, cgroupDirs: [leaf], annotations: {}, setupMs: 3, reportHash: report.bodyHash, journaled: true, journalAtCreate: { seq: 1, entryHash: entry.entryHash },
  };
  validateContainerState(state);
}
