// Seccomp denials through the real CLI. A container's listener is held by its monitor
// (bvmonitor), which answers each denied call and keeps the records in STATE_DIR/denials with
// the counts in exit.json; the sealed report lists them. `bvisor run` prints a short summary on
// stderr after a failed workload. Oracles: the probe's own errnos (its stdout, or its exit status
// in `syscallexit` mode), the monitor's files read here with the record layout of
// native-shim/src/notify.h (struct bv_notify_rec, offsets from its field list), and the numbers
// of the kernel's headers (syscall_64.tbl / asm-generic/unistd.h, sched.h, audit.h).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { until } from '../helpers/wait.js';
import { hostArch } from '../helpers/syscalls.js';
import { validateSealedReport } from '../../src/contract/generated/validators.js';
import type { SealedReport } from '../../src/contract/generated/types.js';

const ARCH = hostArch();
/** syscall_64.tbl (x86_64), asm-generic/unistd.h (aarch64) */
const UNSHARE = ARCH === 'x86_64' ? 272 : 97;
/** include/uapi/linux/audit.h */
const AUDIT_ARCH = ARCH === 'x86_64' ? 0xc000003e : 0xc00000b7;
/** include/uapi/linux/sched.h */
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
/** asm-generic/errno-base.h */
const EPERM = 1;
/** notify.h: struct bv_notify_rec — u32 kind, pid; s32 nr; u32 arch; u64 t_ns; u64 args[6]; … str[2][256] */
const REC = { size: 592, kind: 0, pid: 4, nr: 8, arch: 12, args: 24 } as const;
const DENIED = 1; // BV_NOTIFY_DENIED

const state = (root: string, id: string): any => cli(['state', id, '--root', root]).json();

interface MonitorRecord {
  kind: number;
  pid: number;
  nr: number;
  arch: number;
  arg0: bigint;
}
function monitorRecords(file: string): MonitorRecord[] {
  const b = readFileSync(file);
  expect(b.length % REC.size, `${file} holds whole records`).toBe(0);
  const out: MonitorRecord[] = [];
  for (let o = 0; o < b.length; o += REC.size) {
    out.push({ kind: b.readUInt32LE(o + REC.kind), pid: b.readUInt32LE(o + REC.pid), nr: b.readInt32LE(o + REC.nr), arch: b.readUInt32LE(o + REC.arch), arg0: b.readBigUInt64LE(o + REC.args) });
  }
  return out;
}

describe('seccomp denials of a container (its monitor holds the listener)', () => {
  it('create + start: the monitor answers EPERM, keeps the records and counts, and the sealed report lists them', async () => {
    const root = newRoot();
    const id = 'dn1';
    const u = ['syscall', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`];
    const b = probeBundle(['try', ...u, ',', ...u, ',', 'syscall', String(UNSHARE), `0x${CLONE_NEWNET.toString(16)}`]);
    const c = cli(['create', id, '-b', b, '--root', root]);
    expect(c.status, c.stderr).toBe(0);
    const s = cli(['start', id, '--root', root]);
    expect(s.status, s.stderr).toBe(0);
    await until('the container stops', () => state(root, id).status === 'stopped');
    const dir = join(root, 'containers', id);

    // The probe's own view: three EPERMs.
    expect(JSON.parse(readFileSync(join(dir, 'stdout'), 'utf8'))).toEqual([EPERM, EPERM, EPERM]);

    // The monitor's files: three notifications counted, three kept, no listener error; each
    // record is the call the probe made.
    const exit = JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ denialsTotal: 3, denialsKept: 3, denialsError: 0 });
    const recs = monitorRecords(join(dir, 'denials'));
    expect(recs.map((r) => [r.kind, r.nr, r.arch, r.arg0])).toEqual([
      [DENIED, UNSHARE, AUDIT_ARCH, BigInt(CLONE_NEWUSER)],
      [DENIED, UNSHARE, AUDIT_ARCH, BigInt(CLONE_NEWUSER)],
      [DENIED, UNSHARE, AUDIT_ARCH, BigInt(CLONE_NEWNET)],
    ]);

    // The sealed report (the file, and `bvisor report`): the same, collapsed.
    const onDisk = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as SealedReport;
    const r = cli(['report', id, '--root', root, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rep = r.json<SealedReport>();
    expect(validateSealedReport(rep), JSON.stringify(validateSealedReport.errors)).toBe(true);
    expect(rep.bodyHash).toBe(onDisk.bodyHash);
    const d = rep.body.denials!;
    expect(d.sources.seccomp.observed).toBe(true);
    expect(d.total).toBe(exit.denialsTotal);
    const items = d.items.filter((x) => x.observedBy === 'seccomp:user-notif');
    expect(items.map((x) => [x.what, x.count, x.clause, x.errno])).toEqual([
      ['unshare(CLONE_NEWUSER)', 2, 'syscalls', 'EPERM'],
      ['unshare(CLONE_NEWNET)', 1, 'syscalls', 'EPERM'],
    ]);
    expect(items[0]!.syscall).toMatchObject({ name: 'unshare', nr: UNSHARE, arch: ARCH });
    // the pid the monitor recorded is the one the report names
    expect(items[0]!.pid).toBe(recs[0]!.pid);
    // timed from the monitor's go byte
    expect(items[0]!.atMs).not.toBeNull();
    expect(items[0]!.atMs!).toBeGreaterThanOrEqual(0);

    const del = cli(['delete', id, '--root', root]);
    expect(del.status, del.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('a container that makes no denied call has an empty list, total 0, and the monitor counted none', async () => {
    const root = newRoot();
    const id = 'dn2';
    expect(cli(['create', id, '-b', probeBundle(['try', 'syscall', ARCH === 'x86_64' ? '39' : '172' /* getpid */]), '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('the container stops', () => state(root, id).status === 'stopped');
    const dir = join(root, 'containers', id);
    expect(JSON.parse(readFileSync(join(dir, 'stdout'), 'utf8'))).toEqual([0]);
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'))).toMatchObject({ denialsTotal: 0, denialsKept: 0, denialsError: 0 });
    const rep = cli(['report', id, '--root', root, '--json']).json<SealedReport>();
    expect(rep.body.denials!.sources.seccomp.observed).toBe(true);
    expect(rep.body.denials!.items).toEqual([]);
    expect(rep.body.denials!.total).toBe(0);
    expect(cli(['delete', id, '--root', root]).status).toBe(0);
  });
  it('beyond what the monitor keeps, every denial is still counted; the report totals them and says the list is cut', async () => {
    const root = newRoot();
    const id = 'dn3';
    const u = ['syscall', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`];
    const n = 300;
    expect(cli(['create', id, '-b', probeBundle(['try', ...Array.from({ length: n }, (_, i) => (i ? [',', ...u] : u)).flat()]), '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('the container stops', () => state(root, id).status === 'stopped');
    const dir = join(root, 'containers', id);
    expect(JSON.parse(readFileSync(join(dir, 'stdout'), 'utf8'))).toEqual(Array.from({ length: n }, () => EPERM));
    const exit = JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'));
    expect(exit.denialsTotal).toBe(n);
    expect(exit.denialsKept).toBeLessThanOrEqual(n);
    const recs = monitorRecords(join(dir, 'denials'));
    expect(recs.filter((r) => r.kind === DENIED)).toHaveLength(exit.denialsKept);
    // Past its per-syscall cap the monitor counts: one count record (kind 4, notify.h) for unshare,
    // whose first argument slot holds how often it was denied.
    expect(recs.filter((r) => r.kind === 4).map((r) => [r.nr, r.arg0])).toEqual(exit.denialsKept < n ? [[UNSHARE, BigInt(n)]] : []);
    const d = cli(['report', id, '--root', root, '--json']).json<SealedReport>().body.denials!;
    expect(d.total).toBe(n);
    expect(d.truncated).toBe(exit.denialsKept < n);
    expect(d.items.every((x) => x.what.startsWith('unshare('))).toBe(true);
    expect(d.items.reduce((s, x) => s + x.count, 0)).toBe(n);
    expect(d.items.find((x) => x.what === 'unshare(CLONE_NEWUSER)')!.count).toBe(exit.denialsKept);
  });

  it('the monitor keeps the listener: the workload’s descriptors are 0, 1, 2 only', async () => {
    const root = newRoot();
    const id = 'dn4';
    expect(cli(['create', id, '-b', probeBundle(['facts'], 'spawn: descendants\nlimits: { processes: { value: 16, guarantee: best-effort } }\n'), '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('the container stops', () => state(root, id).status === 'stopped');
    const f = JSON.parse(readFileSync(join(root, 'containers', id, 'stdout'), 'utf8')) as { fds: Array<{ fd: number; target: string }> };
    // proc(5): an anon inode reads "anon_inode:seccomp notify"; a socket "socket:[N]"
    expect(f.fds.filter((x) => /seccomp|socket:/.test(x.target))).toEqual([]);
    expect(f.fds.map((x) => x.fd)).toEqual([0, 1, 2]);
  });

  it('syscalls: { deny: kill } — nobody holds a listener: exit.json says not observed, the report says why, the workload died of SIGSYS', async () => {
    const root = newRoot();
    const id = 'dn5';
    expect(cli(['create', id, '-b', probeBundle(['try', 'syscall', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`], 'syscalls: { deny: kill }\n'), '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    await until('the container stops', () => state(root, id).status === 'stopped');
    const dir = join(root, 'containers', id);
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'))).toMatchObject({ denialsTotal: 0, denialsError: -1 });
    expect(existsSync(join(dir, 'denials'))).toBe(false);
    const body = cli(['report', id, '--root', root, '--json']).json<SealedReport>().body;
    expect(body.outcome.signal).toBe('SIGSYS');
    expect(body.denials!.sources.seccomp.observed).toBe(false);
    expect(body.denials!.sources.seccomp.notObserved).toBeTruthy();
    expect(body.denials!.items.filter((x) => x.observedBy === 'seccomp:user-notif')).toEqual([]);
  });

  // Found by this test: create records the digest of the notifying program, and exec recomputed
  // the plain one, so every exec into a container was refused (BV_LAUNCH_EVIDENCE, exit 125). An
  // exec'd process has no listener holder: it gets the plain twin (same decisions, EPERM direct).
  it('bvisor exec into a running container works, and its denied call gets EPERM (what the filter answers)', async () => {
    const root = newRoot();
    const id = 'dn6';
    expect(cli(['create', id, '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    expect(cli(['start', id, '--root', root]).status).toBe(0);
    const probe = join(__dirname, '..', '..', 'native-shim', 'build', 'bvprobe');
    const e = cli(['exec', '--root', root, id, probe, 'try', 'syscall', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`]);
    expect([e.status, e.stdout.trim()], e.stderr).toEqual([0, `[${EPERM}]`]);
  });
});

describe('bvisor run: the denial summary on stderr', () => {
  const failing = (): string => probeBundle(['syscallexit', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`]);

  it('after a failed workload it names the call, what it got, the clause and the row; bvisor report <id> has it too', () => {
    const root = newRoot();
    const r = cli(['--root', root, 'run', '-b', failing(), 'dr1']);
    // syscallexit exits with the errno the kernel gave it
    expect(r.status, r.stderr).toBe(EPERM);
    const lines = r.stderr.split('\n');
    expect(lines).toContain('bvisor: the boundary denied 1 action(s) in run dr1:');
    const call = lines.find((l) => l.includes('unshare(CLONE_NEWUSER)'));
    expect(call, r.stderr).toBeDefined();
    expect(call!.trim()).toMatch(/^unshare\(CLONE_NEWUSER\) → EPERM: syscalls \(.+\); no clause allows it$/);
    // the summary points where the full list is: the run's sealed report, by its id
    const rep = cli(['report', 'dr1', '--root', root, '--json']);
    expect(rep.status, rep.stderr).toBe(0);
    const items = rep.json<SealedReport>().body.denials!.items;
    expect(items.map((x) => [x.what, x.clause, x.observedBy])).toEqual([['unshare(CLONE_NEWUSER)', 'syscalls', 'seccomp:user-notif']]);
  });

  it('--no-denials: the call is denied the same (EPERM), nothing is listed, and run and create say seccomp was not observed', async () => {
    const root = newRoot();
    const r = cli(['--root', root, 'run', '--no-denials', '-b', failing(), 'dr4', '--json']);
    expect(r.status, r.stderr).toBe(EPERM);
    const d = r.json<SealedReport>().body.denials!;
    expect(d.sources.seccomp).toEqual({ observed: false, how: null, notObserved: 'turned off for this launch (observeDenials: false)' });
    expect(d.items.filter((x) => x.observedBy === 'seccomp:user-notif')).toEqual([]);
    const c = cli(['--root', root, 'create', '--no-denials', '-b', failing(), 'dr5']);
    expect(c.status, c.stderr).toBe(0);
    expect(cli(['--root', root, 'start', 'dr5']).status).toBe(0);
    await until('the container stops', () => state(root, 'dr5').status === 'stopped');
    const dir = join(root, 'containers', 'dr5');
    // the monitor held no listener (-1: not observed) and wrote no records
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'))).toMatchObject({ status: EPERM, denialsTotal: 0, denialsError: -1 });
    expect(existsSync(join(dir, 'denials'))).toBe(false);
    const rep = cli(['--root', root, 'report', 'dr5', '--json']).json<SealedReport>();
    expect(rep.body.denials!.sources.seccomp.observed).toBe(false);
    expect(rep.body.denials!.items.filter((x) => x.observedBy === 'seccomp:user-notif')).toEqual([]);
    expect(cli(['--root', root, 'delete', 'dr5']).status).toBe(0);
  });

  it('not after a workload that succeeds, even with a denial; not with --json (the report carries it)', () => {
    const root = newRoot();
    const ok = cli(['--root', root, 'run', '-b', probeBundle(['try', 'syscall', String(UNSHARE), `0x${CLONE_NEWUSER.toString(16)}`]), 'dr2']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`[${EPERM}]`);
    expect(ok.stderr).not.toContain('bvisor: the boundary denied');
    const j = cli(['--root', root, 'run', '-b', failing(), 'dr3', '--json']);
    expect(j.status).toBe(EPERM);
    expect(j.stderr).not.toContain('bvisor: the boundary denied');
    const rep = j.json<SealedReport>();
    expect(rep.body.denials!.items.map((x) => x.what)).toEqual(['unshare(CLONE_NEWUSER)']);
  });
});
