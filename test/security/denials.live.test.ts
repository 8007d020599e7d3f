// Seccomp denials observed through the user-notification listener bvisor holds (bvisor run and
// the API: the shim's holder thread). Two oracles that do not share code with the listener:
// the errno the kernel gave the probe for each call (bvprobe `try`, its own JSON), and the report's
// list compared with what the probe was told to attempt. Expected numbers are written here from
// the kernel's headers and man pages: x86_64 syscall numbers (arch/x86/entry/syscalls/
// syscall_64.tbl), clone flags (sched.h), errnos (asm-generic/errno-base.h, errno.h), SIGSYS
// (signal(7)), EBUSY for a second listener (seccomp(2) ERRORS), ENOSYS when nobody holds the
// listener (seccomp_unotify(2)).
// Never weaker than the plain filter: a filter of the workload's own that allows everything, a
// listener of its own, a fork-and-exec'd child, a dropped listener — each still denies; the red
// twin (no seccomp at all) lets the same call through and lists nothing.
import { describe, expect, it, onTestFinished } from 'vitest';
import { runProbe, probeBundle, facts, testCgroupParent, tryArgs, probeErrnos } from '../helpers/probe.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../src/app/run.js';
import * as V from '../../src/contract/generated/validators.js';
import type { Denial } from '../../src/contract/generated/types.js';
import { hostArch } from '../helpers/syscalls.js';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { newRoot } from '../helpers/roots.js';
import { cli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

/** asm-generic/errno-base.h, errno.h */
const E = { PERM: 1, BUSY: 16, NOSYS: 38 } as const;
/** signal(7), x86 and arm: SIGSYS */
const SIGSYS = 31;
/** syscall_64.tbl (x86_64) and asm-generic/unistd.h (aarch64) */
const NRS = { x86_64: { unshare: 272, mount: 165, socket: 41, clone: 56, getpid: 39 }, aarch64: { unshare: 97, mount: 40, socket: 198, clone: 220, getpid: 172 } } as const;
const NR = NRS[hostArch()];
/** include/uapi/linux/sched.h */
const CLONE_NEWUSER = '0x10000000';
const CLONE_NEWNET = '0x40000000';
const SIGCHLD = 17;
const OBSERVED_BY = 'seccomp:user-notif';
const SPAWN = 'spawn: descendants\nlimits: { processes: { value: 16, guarantee: best-effort } }\n';

async function probe(ops: string[][], extra = '', o: Parameters<typeof runProbe>[2] = {}): Promise<{ out: RunOutcome; got: number[]; items: Denial[] }> {
  const out = await runProbe(tryArgs(ops), extra, { cgroupParent: testCgroupParent(), ...o });
  const got = probeErrnos(out);
  // The report is the contract: it validates, and carries what the launcher handed over.
  expect(V.validateSealedReport(out.report), JSON.stringify(V.validateSealedReport.errors)).toBe(true);
  const d = out.report.body.denials!;
  const items = d.items.filter((x) => x.observedBy === OBSERVED_BY);
  expect(items).toEqual(out.result.seccompDenials!.items);
  return { out, got, items };
}

/** A container of manifest `m` with the secret `tok` set to `value`, created, run and deleted:
 * its root's journal, and the denied calls its report lists (name, second string). */
async function containerJournal(m: string, id: string, value: string): Promise<{ text: string; denied: Array<[string | undefined, string | undefined]> }> {
  const dir = tempDir();
  writeFileSync(join(dir, 'boundary.yaml'), m);
  const root = newRoot();
  const c = cli(['--root', root, 'create', id, '-b', dir, '--secret', 'tok'], { env: { BVISOR_SECRET_TOK: value } });
  expect(c.status, c.stderr).toBe(0);
  onTestFinished(() => void cli(['--root', root, 'delete', '-f', id]));
  expect(cli(['--root', root, 'start', id]).status).toBe(0);
  await until('the container stopped', () => cli(['--root', root, 'state', id]).json().status === 'stopped', 10_000);
  const d = cli(['--root', root, 'delete', id, '--json']);
  expect(d.status, d.stderr).toBe(0);
  const text = readFileSync(join(root, 'journal.jsonl'), 'utf8');
  const items = (JSON.parse(text.trim().split('\n').at(-1)!) as { report: { body: { denials: { items: Array<{ syscall?: { name: string; strings?: string[] } }> } } } }).report.body.denials.items;
  return { text, denied: items.map((x) => [x.syscall?.name, x.syscall?.strings?.[1]]) };
}

describe('seccomp denials, observed (live, in-process holder)', () => {
  it('unshare(CLONE_NEWUSER) and mount: the probe gets EPERM for each, and the report lists each once with its row', async () => {
    const { out, got, items } = await probe([['syscall', String(NR.unshare), CLONE_NEWUSER], ['syscall', String(NR.mount), '0', '0', '0', '0', '0']]);
    expect(got).toEqual([E.PERM, E.PERM]);
    const d = out.report.body.denials!;
    expect(d.sources.seccomp).toMatchObject({ observed: true, notObserved: null });
    expect(d.sources.seccomp.how).toMatch(/^seccomp:user-notif/);
    expect(d.total).toBe(2);
    expect(d.truncated).toBe(false);
    expect(items).toHaveLength(2);
    const [u, m] = items;
    expect(u).toMatchObject({ kind: 'syscall', clause: 'syscalls', what: 'unshare(CLONE_NEWUSER)', errno: 'EPERM', observedBy: OBSERVED_BY, count: 1, allow: null, pid: out.result.pid });
    expect(u!.syscall).toMatchObject({ name: 'unshare', nr: NR.unshare, arch: hostArch() });
    expect(u!.syscall!.args[0]).toBe(CLONE_NEWUSER);
    expect(u!.rule).toMatch(/user namespace/);
    expect(m).toMatchObject({ kind: 'syscall', clause: 'syscalls', what: 'mount(NULL, NULL, NULL, 0x0)', errno: 'EPERM', observedBy: OBSERVED_BY, count: 1 });
    expect(m!.syscall).toMatchObject({ name: 'mount', nr: NR.mount });
    // timed from the release of the workload, in order
    expect(u!.atMs).not.toBeNull();
    expect(u!.atMs!).toBeGreaterThanOrEqual(0);
    expect(m!.atMs!).toBeGreaterThanOrEqual(u!.atMs!);
    expect(u!.atMs!).toBeLessThan(out.result.runMs + 1000);
  });

  it('a path argument is read from the caller’s memory: chmod to set-user-ID (denied by its row) names the path', async () => {
    const path = `/tmp/bvisor-denials-${process.pid}-never-created`;
    const { got, items } = await probe([['chmod', path, '4755']]);
    expect(got).toEqual([E.PERM]);
    expect(items).toHaveLength(1);
    // glibc may use chmod or fchmodat(AT_FDCWD, …): either way the path and mode are shown
    expect(['chmod', 'fchmodat']).toContain(items[0]!.syscall!.name);
    expect(items[0]).toMatchObject({ clause: 'syscalls', path, errno: 'EPERM' });
    expect(items[0]!.what).toContain(JSON.stringify(path));
    expect(items[0]!.what).toContain('04755');
  });

  it('a secret never reaches the report: a denied call whose path holds a secret env value is redacted, a plain value is not', async () => {
    const secret = `hunter2-${process.pid}-Zq9`;
    const plain = `visible-${process.pid}`;
    const env = `env: { TOKEN: { secret: tok }, PLAIN: ${plain} }\n`;
    const { out, got, items } = await probe([['chmodenv', 'TOKEN', '4755'], ['chmodenv', 'PLAIN', '4755']], env, { secretEnv: { BVISOR_SECRET_TOK: secret } });
    expect(got).toEqual([E.PERM, E.PERM]);
    expect(items).toHaveLength(2);
    // The holder read both paths from the workload's memory; only the one holding the secret is replaced.
    expect(items[0]!.syscall!.strings).toContain('<redacted: holds a secret value>');
    expect(items[1]!.path).toBe(`/tmp/${plain}`);
    expect(JSON.stringify(out.report)).not.toContain(secret);
    expect(JSON.stringify(out.result.seccompDenials)).not.toContain(secret);
  });

  it('a secret read from a file (a byte-order mark, a trailing newline) is redacted in the form the workload used, trimmed as trim() does, in a run and in a container', async () => {
    const token = `tokval-${process.pid}-Qx7`;
    const dir = tempDir();
    // $(...) drops the trailing newline and tr(1) the byte-order mark: the denied chmod
    // (set-user-ID) names the bare token (chmod(1) looks the file up first: it is made in the
    // private /tmp).
    const m = `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "f=/tmp/a-$(printf %s \\"$TOKEN\\" | tr -d '\\\\357\\\\273\\\\277'); : > $f; chmod 4755 $f; exit 0"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\ntmp: private\nstdio: { stdin: null, stdout: null, stderr: null }\nenv: { TOKEN: { secret: tok } }\n`;
    writeFileSync(join(dir, 'boundary.yaml'), m);
    const r = await runConfined({ manifest: m, dir }, { cgroupParent: testCgroupParent(), secrets: { tok: `\ufeff${token}\n` } });
    const run = r.report.body.denials!.items.filter((x) => x.observedBy === OBSERVED_BY);
    expect(run.map((x) => x.syscall?.strings?.[1])).toEqual(['<redacted: holds a secret value>']);
    expect(JSON.stringify(r.report)).not.toContain(token);
    // A container: its monitor holds the listener and redacts (bvmonitor.c keep_secrets).
    const root = newRoot();
    const c = cli(['--root', root, 'create', 'tok-1', '-b', dir, '--secret', 'tok'], { env: { BVISOR_SECRET_TOK: `\ufeff${token}\n` } });
    expect(c.status, c.stderr).toBe(0);
    expect(cli(['--root', root, 'start', 'tok-1']).status).toBe(0);
    await until('the container stopped', () => cli(['--root', root, 'state', 'tok-1']).json().status === 'stopped', 10_000);
    const d = cli(['--root', root, 'delete', 'tok-1', '--json']);
    expect(d.status, d.stderr).toBe(0);
    const journal = readFileSync(join(root, 'journal.jsonl'), 'utf8');
    expect(journal).toContain('<redacted: holds a secret value>');
    expect(journal).not.toContain(token);
  });

  it('a secret sharded into directories in a denied call\'s path is redacted in the run\'s report, and in a container\'s (by its monitor)', async () => {
    const token = `S3CRETzq9-${process.pid}-tokenABCDEF`;
    // The denied chmod (set-user-ID) names /tmp/d_<11 chars>/<the rest>: no name holds the value.
    const m = `bvisorVersion: "1"\nworkload:\n  process: { exe: /bin/sh, args: ["-c", "d=/tmp/d_$(printf %s \\"$TOKEN\\" | cut -c1-11); mkdir $d; f=$d/$(printf %s \\"$TOKEN\\" | cut -c12-); : > $f; chmod 4755 $f; exit 0"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nspawn: descendants\nlimits: { processes: 16, wall: 10s }\ntmp: private\nstdio: { stdin: null, stdout: null, stderr: null }\nenv: { TOKEN: { secret: tok } }\n`;
    const r = await runConfined({ manifest: m, dir: tempDir() }, { cgroupParent: testCgroupParent(), secrets: { tok: token } });
    const run = r.report.body.denials!.items.filter((x) => x.observedBy === OBSERVED_BY);
    expect(run.map((x) => x.syscall?.name)).toEqual(['fchmodat']);
    expect(run[0]!.syscall!.strings![1]).toBe('<redacted: holds a secret value>');
    expect(JSON.stringify(r.report)).not.toContain(token.slice(11));
    // A container: its report is sealed by a later process that does not know the value, so its
    // monitor's records must come redacted (notify.c, span.h).
    const short = await containerJournal(m, 'shard-1', token);
    expect(short.denied).toEqual([['fchmodat', '<redacted: holds a secret value>']]);
    expect(short.text).not.toContain(token.slice(11));
    // The monitor reads 255 bytes of a path: one whose split value passes that cut (16 of its
    // characters before it, after 230 others) is redacted on what was read (notify.c `cut`).
    const longDir = `/tmp/${'x'.repeat(230)}`;
    const long = await containerJournal(m.replace('d=/tmp/d_', `mkdir ${longDir}; d=${longDir}/d_`), 'shard-2', token);
    expect(long.denied).toEqual([['fchmodat', '<redacted: holds a secret value>']]);
    expect(long.text).not.toContain(token.slice(0, 11));
    // A run and two containers through the CLI: about 2 s here, but 123-150 s in the emulated VM
    // (test/vm), and 236 s there once beside a loaded host (ci174), past the VM's 180 s default.
  }, process.env.BVISOR_TEST_EMULATED ? 480_000 : undefined);

  it('a clean run invents no denial: the list is empty, the total 0, and seccomp was watched', async () => {
    const { out, got, items } = await probe([['syscall', String(NR.getpid)], ['open', '/proc/self/status', 'r'], ['fork']], SPAWN);
    expect(got).toEqual([0, 0, 0]);
    expect(items).toEqual([]);
    expect(out.report.body.denials!.total).toBe(0);
    expect(out.report.body.denials!.items).toEqual([]);
    expect(out.report.body.denials!.sources.seccomp.observed).toBe(true);
  });

  it('spawn: deny — fork is refused (clone, EPERM) and traced to spawn, with spawn: descendants as the way to allow it', async () => {
    const { got, items, out } = await probe([['fork']]);
    expect(got).toEqual([E.PERM]);
    expect(items).toHaveLength(1);
    const [f] = items;
    expect(f).toMatchObject({ kind: 'spawn', clause: 'spawn', errno: 'EPERM', observedBy: OBSERVED_BY, count: 1 });
    expect(f!.allow).toMatch(/^spawn: descendants/);
    // fork(2) NOTES: glibc's fork calls clone with SIGCHLD as the exit signal
    expect(f!.syscall!.name).toBe('clone');
    expect(f!.syscall!.nr).toBe(NR.clone);
    expect(Number(BigInt(f!.syscall!.args[0]!) & 0xffn)).toBe(SIGCHLD);
    expect(out.report.body.denials!.total).toBe(1);
  });

  it('network: deny — socket(AF_INET, SOCK_STREAM) is refused and traced to network', async () => {
    const { got, items } = await probe([['inet']]);
    expect(got).toEqual([E.PERM]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'network', clause: 'network', errno: 'EPERM', observedBy: OBSERVED_BY });
    expect(items[0]!.syscall).toMatchObject({ name: 'socket', nr: NR.socket });
    // address_families(7): AF_INET = 2; SOCK_STREAM = 1 (the probe adds SOCK_CLOEXEC)
    expect(items[0]!.what).toMatch(/^socket\(AF_INET, SOCK_STREAM(\|SOCK_CLOEXEC)?, 0\)$/);
    expect(items[0]!.allow).toMatch(/^network: \{ connect: \[PORT\] \}/);
  });

  it('repeats: the same denied call 5 times is one item with count 5, total 5', async () => {
    const one = ['syscall', String(NR.unshare), CLONE_NEWUSER];
    const { got, items, out } = await probe([one, one, one, one, one]);
    expect(got).toEqual([E.PERM, E.PERM, E.PERM, E.PERM, E.PERM]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ what: 'unshare(CLONE_NEWUSER)', count: 5 });
    expect(out.report.body.denials!.total).toBe(5);
  });

  it('many: 300 denials are all counted (total) even beyond what the holder keeps, and the list says it is cut', async () => {
    const one = ['syscall', String(NR.unshare), CLONE_NEWUSER];
    const { got, items, out } = await probe(Array.from({ length: 300 }, () => one));
    expect(got).toEqual(Array.from({ length: 300 }, () => E.PERM));
    expect(out.report.body.denials!.total).toBe(300);
    // Every item is unshare's: the recorded calls (with their arguments) and the rest, counted
    // per syscall past the holder's cap; together they account for all 300.
    expect(items.every((d) => d.what.startsWith('unshare('))).toBe(true);
    expect(items.reduce((n, d) => n + d.count, 0)).toBe(300);
    const recorded = items.find((d) => d.what === 'unshare(CLONE_NEWUSER)')!;
    expect(recorded.count).toBeGreaterThan(0);
    // a count below the total is only honest if the list says records were dropped
    expect(out.report.body.denials!.truncated).toBe(recorded.count < 300);
  });

  it('a flood of one call cannot hide another: 300 unshares, then one mount, and the mount is listed', async () => {
    const one = ['syscall', String(NR.unshare), CLONE_NEWUSER];
    const { got, items, out } = await probe([...Array.from({ length: 300 }, () => one), ['syscall', String(NR.mount), '0', '0', '0', '0']]);
    expect(got.at(-1)).toBe(E.PERM);
    expect(out.report.body.denials!.total).toBe(301);
    expect(items.filter((d) => d.syscall?.name === 'mount' || d.what.startsWith('mount(')).map((d) => d.count)).toEqual([1]);
  });

  it('across fork and exec: a child that re-execs the probe is still denied (EPERM), and its call is listed with its own pid', async () => {
    const { got, items, out } = await probe([['syscall', String(NR.unshare), CLONE_NEWNET], ['forkexec', String(NR.unshare), CLONE_NEWUSER]], SPAWN);
    expect(got).toEqual([E.PERM, E.PERM]);
    expect(items.map((d) => d.what)).toEqual(['unshare(CLONE_NEWNET)', 'unshare(CLONE_NEWUSER)']);
    expect(items[0]!.pid).toBe(out.result.pid);
    expect(items[1]!.pid).not.toBeNull();
    expect(items[1]!.pid).not.toBe(out.result.pid);
    expect(out.report.body.denials!.total).toBe(2);
  });
});

describe('never weaker than the plain filter (live)', () => {
  it('the listener never reaches the workload: its descriptors are only 0, 1, 2, none a seccomp notifier or the sync socket', async () => {
    const out = await runProbe(['facts'], SPAWN, { cgroupParent: testCgroupParent() });
    const f = JSON.parse(out.stdout!.toString()) as { fds: Array<{ fd: number; target: string }>; Seccomp: string };
    // proc(5): an anon inode reads "anon_inode:seccomp notify"; a socket "socket:[N]"
    expect(f.fds.filter((x) => /seccomp|socket:/.test(x.target))).toEqual([]);
    expect(f.fds.map((x) => x.fd)).toEqual([0, 1, 2]);
    expect(f.Seccomp).toBe('2'); // SECCOMP_MODE_FILTER
    expect(out.report.body.denials!.sources.seccomp.observed).toBe(true);
  });

  it('a filter of the workload’s own that allows everything does not let a denied call through', async () => {
    const { got, items } = await probe([['allowall'], ['syscall', String(NR.unshare), CLONE_NEWUSER]]);
    expect(got).toEqual([0, E.PERM]); // the probe's filter was installed, and changed nothing
    expect(items.map((d) => [d.what, d.count])).toEqual([['unshare(CLONE_NEWUSER)', 1]]);
  });

  it('the workload cannot take a listener of its own (EBUSY), before or after adding a filter, and stays denied', async () => {
    const { got } = await probe([['ownlistener'], ['syscall', String(NR.unshare), CLONE_NEWUSER], ['allowall'], ['ownlistener'], ['syscall', String(NR.unshare), CLONE_NEWUSER]]);
    expect(got).toEqual([E.BUSY, E.PERM, 0, E.BUSY, E.PERM]);
  });

  it('a dead listener still denies: with the listener dropped the call gets ENOSYS, never 0, and the report says it did not watch', async () => {
    const { got, items, out } = await probe([['syscall', String(NR.unshare), CLONE_NEWUSER], ['syscall', String(NR.mount), '0', '0', '0', '0', '0']], '', { hooks: { dropListener: true } });
    expect(got).toEqual([E.NOSYS, E.NOSYS]);
    expect(items).toEqual([]);
    const s = out.report.body.denials!.sources.seccomp;
    expect(s.observed).toBe(false);
    expect(s.notObserved).toMatch(/listener/);
    expect(s.notObserved).toMatch(/ENOSYS/);
  });

  it('red twin: with no seccomp filter at all the same unshare succeeds, and nothing is listed', async () => {
    const { got, items, out } = await probe([['syscall', String(NR.unshare), CLONE_NEWUSER]], '', { hooks: { noSeccomp: true } });
    expect(got).toEqual([0]);
    expect(items).toEqual([]);
    expect(out.report.body.denials!.sources.seccomp.observed).toBe(false);
    expect(out.report.body.denials!.sources.seccomp.notObserved).toMatch(/no seccomp filter/);
  });
});

describe('when denials are not observed (live)', () => {
  it('observeDenials: false — the filter denies the same (EPERM), nothing is listed, and the source says it was turned off', async () => {
    const b = loadBundle(probeBundle(tryArgs([['syscall', String(NR.unshare), CLONE_NEWUSER]])));
    const out = await runLoaded(b, { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, secrets: [], fds: [], host: facts(), observeDenials: false });
    expect(probeErrnos(out)).toEqual([E.PERM]);
    expect(V.validateSealedReport(out.report), JSON.stringify(V.validateSealedReport.errors)).toBe(true);
    const d = out.report.body.denials!;
    expect(d.items.filter((x) => x.observedBy === OBSERVED_BY)).toEqual([]);
    expect(d.sources.seccomp).toMatchObject({ observed: false, how: null });
    expect(d.sources.seccomp.notObserved).toMatch(/observeDenials: false/);
  });

  it('syscalls: { deny: kill } — the probe is killed by SIGSYS at the denied call; seccomp is not observed, and says why', async () => {
    const out = await runProbe(tryArgs([['syscall', String(NR.unshare), CLONE_NEWUSER]]), 'syscalls: { deny: kill }\n', { cgroupParent: testCgroupParent() });
    expect(out.result.signal).toBe(SIGSYS);
    expect(out.exitStatus).toBe(128 + SIGSYS);
    expect(out.report.body.outcome.signal).toBe('SIGSYS');
    const s = out.report.body.denials!.sources.seccomp;
    expect(s.observed).toBe(false);
    expect(s.notObserved).toMatch(/deny: kill/);
    expect(out.report.body.denials!.items.filter((x) => x.observedBy === OBSERVED_BY)).toEqual([]);
  });
});

// Found by this test: on x86_64 the filter's header refuses every x32-ABI number (bit 30,
// syscall(2) NOTES) before any deny row; it answered ERRNO|EPERM directly, so the call was never
// listed while the source claimed to observe. The x32 check now notifies too.
// x32 is an x86_64 ABI: elsewhere there is nothing to refuse, and the skip says so.
if (hostArch() !== 'x86_64') console.warn(`SKIP x32 calls: the x32 ABI exists only on x86_64, this host is ${hostArch()}`);
describe.runIf(hostArch() === 'x86_64')('x32 calls (live)', () => {
  // Found by review: a number with bit 31 set is negative as seccomp_data's int, but the
  // filter compares it unsigned (x32 refused); read back signed, the report listed nr -2147483647
  // against the schema's minimum 0, and its journal line would never verify. probe() checks the
  // report against its schema.
  it('a number with bit 31 set (syscall(0x80000001)) is refused and listed with its unsigned number; the report is valid', async () => {
    const { got, items } = await probe([['syscall', '0x80000001']]);
    expect(got).toEqual([E.PERM]);
    expect(items.map((d) => d.syscall?.nr)).toEqual([0x80000001]);
  });

  it('a refused x32 call is listed, or the seccomp source says x32 calls are not observed', async () => {
    const { got, items, out } = await probe([['x32']]);
    expect(got).toEqual([E.PERM]);
    const s = out.report.body.denials!.sources.seccomp;
    expect(items.length > 0 || /x32/.test(`${s.how ?? ''} ${s.notObserved ?? ''}`), JSON.stringify({ items, s })).toBe(true);
  });
});
