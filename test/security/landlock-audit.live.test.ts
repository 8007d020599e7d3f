// Landlock's denials, read from the kernel's audit records (Linux 6.15+, landlock ABI 7, audit
// on). Oracles that share nothing with the reader: the errno the kernel gave the probe for each
// attempt (bvprobe `try`), and the audit subsystem's state read by our own netlink script
// (test/helpers/audit.py, AUDIT_GET). Expected values come from the kernel's documentation and
// headers: landlock refuses filesystem and TCP accesses with EACCES and scoped IPC with EPERM
// (landlock(7)); blockers are named as in Documentation/admin-guide/LSM/landlock.rst
// (net.connect_tcp, fs.make_char, scope.abstract_unix_socket); errnos from asm-generic/errno-base.h.
// This machine keeps audit off (its owner's configuration, which bvisor must not change), so the
// audit cases run in the VM (test/vm/landlock-audit.sh: a newer Debian kernel, audit switched on
// inside the guest, where we are alone) and skip loudly here; the not-observed case runs here.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe, facts, testCgroupParent, writableDir, tryArgs, probeErrnos } from '../helpers/probe.js';
import { skipOrFail } from '../helpers/require.js';
import * as V from '../../src/contract/generated/validators.js';
import type { Denial } from '../../src/contract/generated/types.js';
import type { RunOutcome } from '../../src/app/run.js';

/** asm-generic/errno-base.h */
const E = { PERM: 1, ACCES: 13 } as const;
const BY = 'landlock:audit';

function auditState(): { enabled?: number; lost?: number; error?: string } {
  return JSON.parse(execFileSync('/usr/bin/python3', [join(__dirname, '..', 'helpers', 'audit.py'), 'status'], { encoding: 'utf8' })) as { enabled?: number; lost?: number; error?: string };
}

const abi = facts().landlock.abi;
const audit = auditState();
const canRead = abi >= 7 && audit.enabled !== undefined && audit.enabled > 0;

async function attempt(ops: string[][], extra: string, o: Parameters<typeof runProbe>[2] = {}): Promise<{ out: RunOutcome; got: number[]; items: Denial[] }> {
  const out = await runProbe(tryArgs(ops), extra, { cgroupParent: testCgroupParent(), ...o });
  const got = probeErrnos(out);
  expect(V.validateSealedReport(out.report), JSON.stringify(V.validateSealedReport.errors)).toBe(true);
  return { out, got, items: out.report.body.denials!.items.filter((d) => d.observedBy === BY) };
}

const PORTS = 'network: { connect: [443] }\n';

describe('landlock denials from audit records (live; kernel ≥ 6.15 with audit on)', () => {
  let server: Server | null = null;
  const abstractName = `bvisor-audit-${process.pid}`;
  beforeAll(async () => {
    if (!canRead) {
      skipOrFail('landlock-audit', `landlock ABI ${abi} and audit ${audit.error ?? (audit.enabled ? 'on' : 'off')}: reading landlock's audit records needs ABI ≥ 7 with audit on (test/vm/landlock-audit.sh runs this in a VM)`);
      return;
    }
    // An abstract unix socket outside the boundary, for the scope case.
    server = createServer((c) => c.destroy());
    await new Promise<void>((r) => server!.listen(`\0${abstractName}`, r));
  });
  afterAll(() => {
    server?.close();
  });

  it('connect to a port the network clause does not list: EACCES, listed once with the clause and the line that allows it', async () => {
    if (!canRead) return;
    const { out, got, items } = await attempt([['connect', '127.0.0.1', '9']], PORTS);
    expect(got).toEqual([E.ACCES]);
    const src = out.report.body.denials!.sources.landlock;
    expect(src.observed).toBe(true);
    expect(src.how).toMatch(/^landlock:audit/);
    expect(src.how).not.toMatch(/missing|lost|overflow/);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'network', clause: 'network', port: 9, errno: 'EACCES', count: 1, pid: out.result.pid, allow: 'network: { connect: [9, 443] }' });
    expect(items[0]!.what).toMatch(/^connect\(port 9\): net\.connect_tcp$/);
    expect(items[0]!.atMs).toBeGreaterThanOrEqual(0);
  });

  it('mknod of a character device in a read-write grant: EACCES from landlock (fs.make_char), no clause allows it', async () => {
    if (!canRead) return;
    const dir = writableDir();
    const { got, items } = await attempt([['mknod', `${dir}/dev0`, 'c'], ['mknod', `${dir}/fifo0`, 'p']], '', { filesystem: [`  - { path: ${dir}, access: read-write }`] });
    // The fifo is granted (make_fifo is a read-write right); the device is not.
    expect(got).toEqual([E.ACCES, 0]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'filesystem', clause: 'filesystem', errno: 'EACCES', allow: null, path: dir });
    expect(items[0]!.what).toMatch(/^mknod(at)?\(".*"\): fs\.make_char$/);
  });

  it('connect to an abstract unix socket outside the boundary: EPERM (landlock scope), listed under isolate', async () => {
    if (!canRead) return;
    const { got, items } = await attempt([['abstract', abstractName, 'full']], PORTS);
    expect(got).toEqual([E.PERM]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'syscall', clause: 'isolate', errno: 'EPERM', allow: null });
    expect(items[0]!.what).toMatch(/scope\.abstract_unix_socket/);
  });

  it('a secret the workload names a directory after is redacted, in the report and in the summary', async () => {
    if (!canRead) return;
    const dir = writableDir();
    const secret = `hunter2-${process.pid}-Zq9`;
    const spaced = `hunter2 ${process.pid} Zq9`; // audit hex-encodes a path with a space
    for (const value of [secret, spaced]) {
      const { out, got, items } = await attempt([['mknodenv', dir, 'TOKEN']], 'env: { TOKEN: { secret: tok } }\n', { filesystem: [`  - { path: ${dir}, access: read-write }`], secretEnv: { BVISOR_SECRET_TOK: value } });
      expect(got).toEqual([E.ACCES]);
      expect(items).toHaveLength(1);
      expect(items[0]!.path).toBe(`${dir}/<redacted>`);
      expect(JSON.stringify(out.report.body.denials)).not.toContain(value);
      const { denialSummary } = await import('../../src/core/denials.js');
      expect(denialSummary(out.report.body, { id: 'x' }).join('\n')).not.toContain(value);
    }
  });

  it('a landlock domain the workload stacks in the same process is not the run\'s: what only it refuses is not listed (the marker names the run\'s domain)', async () => {
    if (!canRead) return;
    // The boundary grants the probe read-exec; the workload's own domain refuses reading it. The
    // kernel logs that refusal under the workload's domain, whose creator has the run's pid.
    const { PROBE } = await import('../helpers/probe.js');
    const { out, got, items } = await attempt([['nestread', PROBE]], '');
    expect(got).toEqual([E.ACCES]);
    expect(items).toEqual([]);
    expect(out.report.body.denials!.sources.landlock.how).not.toMatch(/marker record did not arrive/);
  });

  it('a run that landlock refuses nothing lists nothing, and says it watched', async () => {
    if (!canRead) return;
    const { out, got, items } = await attempt([['inet']], PORTS);
    expect(got).toEqual([0]);
    expect(items).toEqual([]);
    expect(out.report.body.denials!.sources.landlock).toMatchObject({ observed: true, notObserved: null });
  });

  it('two runs at once: each lists its own denial only (the domain is told by its creator)', async () => {
    if (!canRead) return;
    const [a, b] = await Promise.all([attempt([['connect', '127.0.0.1', '7']], PORTS), attempt([['connect', '127.0.0.1', '13']], PORTS)]);
    expect([a.got, b.got]).toEqual([[E.ACCES], [E.ACCES]]);
    expect(a.items.map((d) => d.port)).toEqual([7]);
    expect(b.items.map((d) => d.port)).toEqual([13]);
  });

  it('red twin: without LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON the kernel still refuses, but no record comes, so nothing is listed', async () => {
    if (!canRead) return;
    const { out, got, items } = await attempt([['connect', '127.0.0.1', '9']], PORTS, { hooks: { noLandlockLog: true } });
    expect(got).toEqual([E.ACCES]);
    expect(items).toEqual([]);
    // The reader ran and its barrier arrived: the silence is the missing flag's, not a lost record.
    expect(out.report.body.denials!.sources.landlock.how).not.toMatch(/missing/);
  });

  it('a real program (python3): its connect to an unlisted port is listed with the line that allows it, and nothing it did not do', async () => {
    if (!canRead) return;
    const { runLoaded } = await import('../../src/app/run.js');
    const { loadBundle } = await import('../../src/host/bundle.js');
    const { tempDir } = await import('../helpers/tmp.js');
    const { writeFileSync, chmodSync } = await import('node:fs');
    const dir = tempDir('bvisor-llpy-');
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/python3, args: ["-c", "import socket; socket.create_connection(('127.0.0.1', 9), timeout=2)"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n${PORTS}stdio: { stdin: null, stdout: capture, stderr: capture }\n`);
    const out = await runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, secrets: [], fds: [], host: facts() });
    // Python's own oracle: PermissionError, errno 13 (EACCES), exit 1.
    expect(out.stderr?.toString()).toMatch(/PermissionError: \[Errno 13\]/);
    expect(out.exitStatus).toBe(1);
    const items = out.report.body.denials!.items.filter((d) => d.observedBy === BY);
    expect(items.filter((d) => d.kind === 'network')).toEqual([expect.objectContaining({ clause: 'network', port: 9, errno: 'EACCES', allow: 'network: { connect: [9, 443] }' })]);
    // Anything else landlock refused python is a filesystem lookup of the built root (its / only
    // holds /usr), which no line allows: never a grant of the host's whole tree.
    for (const d of items.filter((x) => x.kind !== 'network')) expect(d).toMatchObject({ kind: 'filesystem', allow: null });
  });

  it('a container: its monitor reads the records into STATE_DIR/landlock, and the sealed report lists the denial', async () => {
    if (!canRead) return;
    const { startContainer, stateOf, reportOf, deleteContainer } = await import('../../src/app/lifecycle.js');
    const { createContainer } = await import('../../src/app/create.js');
    const { probeBundle } = await import('../helpers/probe.js');
    const { tempDir } = await import('../helpers/tmp.js');
    const { readFileSync } = await import('node:fs');
    const root = tempDir();
    const id = 'll1';
    const b = probeBundle(tryArgs([['connect', '127.0.0.1', '9']]), PORTS);
    await createContainer({ root, id, bundle: b, cgroupParent: testCgroupParent(), pidFile: null, secretEnv: {}, host: facts() });
    await startContainer(root, id);
    const t = Date.now();
    while (stateOf(root, id).status !== 'stopped') {
      if (Date.now() - t > 60_000) throw new Error('the container did not stop');
      await new Promise((r) => setTimeout(r, 50));
    }
    const dir = join(root, 'containers', id);
    expect(JSON.parse(readFileSync(join(dir, 'stdout'), 'utf8'))).toEqual([E.ACCES]);
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'))).toMatchObject({ landlockError: 0 });
    const rep = reportOf(root, id);
    expect(V.validateSealedReport(rep), JSON.stringify(V.validateSealedReport.errors)).toBe(true);
    const d = rep.body.denials!;
    expect(d.sources.landlock.how).toMatch(/^landlock:audit/);
    expect(d.sources.landlock.how).not.toMatch(/missing|lost/);
    const items = d.items.filter((x) => x.observedBy === BY);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'network', clause: 'network', port: 9, errno: 'EACCES', allow: 'network: { connect: [9, 443] }' });
    await deleteContainer(root, id, false);

    // landlockAudit: false at create (--no-landlock-audit): the monitor is not asked (exit.json
    // landlockError -1), and the report says why.
    await createContainer({ root, id: 'll2', bundle: b, cgroupParent: testCgroupParent(), pidFile: null, secretEnv: {}, host: facts(), landlockAudit: false });
    await startContainer(root, 'll2');
    while (stateOf(root, 'll2').status !== 'stopped') await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(readFileSync(join(root, 'containers', 'll2', 'exit.json'), 'utf8'))).toMatchObject({ landlockError: -1 });
    const off = reportOf(root, 'll2').body.denials!;
    expect(off.sources.landlock.notObserved).toMatch(/--no-landlock-audit/);
    expect(off.items.filter((x) => x.observedBy === BY)).toEqual([]);
    await deleteContainer(root, 'll2', false);
  });

  it('observeDenials: false, or landlockAudit: false alone: no reader, the source says it was turned off', async () => {
    if (!canRead) return;
    const { runLoaded } = await import('../../src/app/run.js');
    const { loadBundle } = await import('../../src/host/bundle.js');
    const { probeBundle } = await import('../helpers/probe.js');
    const out = await runLoaded(loadBundle(probeBundle(tryArgs([['connect', '127.0.0.1', '9']]), PORTS)), { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, secrets: [], fds: [], host: facts(), observeDenials: false });
    expect(out.report.body.denials!.sources.landlock).toMatchObject({ observed: false });
    expect(out.report.body.denials!.sources.landlock.notObserved).toMatch(/turned off/);
    // landlockAudit: false turns off landlock's source alone: seccomp's listener still watches.
    const only = await runLoaded(loadBundle(probeBundle(tryArgs([['connect', '127.0.0.1', '9']]), PORTS)), { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, secrets: [], fds: [], host: facts(), landlockAudit: false });
    expect(only.report.body.denials!.sources.landlock.notObserved).toMatch(/landlockAudit: false/);
    expect(only.report.body.denials!.sources.seccomp.observed).toBe(true);
    expect(only.report.body.denials!.items.filter((d) => d.observedBy === BY)).toEqual([]);
  });
});

describe('landlock denials where the host emits no audit records', () => {
  it('audit off (AUDIT_GET enabled=0) with landlock ABI ≥ 7: the source is not observed and says audit is off', async () => {
    if (!(abi >= 7 && audit.enabled === 0)) {
      console.warn(`SKIP (audit-off): this host has landlock ABI ${abi} and audit ${audit.error ?? audit.enabled}`);
      return;
    }
    const { out } = await attempt([['connect', '127.0.0.1', '9']], PORTS);
    const src = out.report.body.denials!.sources.landlock;
    expect(src).toMatchObject({ observed: false, how: null });
    // A launch may use an answer an earlier one of this process asked for (its age then follows).
    expect(src.notObserved).toMatch(/audit is off on this host \(AUDIT_GET enabled=0(, asked (under 1|\d+) ms before this launch)?\)/);
    // Reading changed nothing: audit is still off.
    expect(auditState().enabled).toBe(0);
  });

  it('landlock below ABI 7: not observed, naming the ABI', async () => {
    if (!(abi > 0 && abi < 7)) {
      console.warn(`SKIP (landlock-abi<7): this host has landlock ABI ${abi}`);
      return;
    }
    const { out } = await attempt([['inet']], '');
    expect(out.report.body.denials!.sources.landlock.notObserved).toMatch(new RegExp(`this host has ABI ${abi}`));
  });
});
