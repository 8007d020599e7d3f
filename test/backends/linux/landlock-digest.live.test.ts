// The report's landlock.ruleset digest covers every rule applied, the parent's (grants, ports)
// and the child's (the minimal /dev's nodes, private tmpfs mounts, grants the fresh /proc
// serves, a container's rootfs entries). The oracle recomputes it here from the plan, in the
// canonical form docs/security.md states (never through bvisor's digest function): access
// bits from the kernel's uapi/linux/landlock.h, the child's rules as the documented layout
// implies them. The red twin drops one child rule (a /dev node the child would mount and rule)
// and must get exactly the digest of the rules that remain.
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProbe, facts, writableDir, probeRootfs, testCgroupParent } from '../../helpers/probe.js';
import { tempDir } from '../../helpers/tmp.js';
import { loadBundle } from '../../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../../src/app/run.js';
import type { LaunchHooks } from '../../../src/backends/linux/launcher.js';
import type { Plan } from '../../../src/contract/generated/types.js';

type Launch = NonNullable<Plan['launch']>;

/** LANDLOCK_ACCESS_FS_* (uapi/linux/landlock.h) with the ABI that introduced each. */
const FS: Record<string, [bit: number, abi: number]> = {
  EXECUTE: [1 << 0, 1], WRITE_FILE: [1 << 1, 1], READ_FILE: [1 << 2, 1], READ_DIR: [1 << 3, 1], REMOVE_DIR: [1 << 4, 1],
  REMOVE_FILE: [1 << 5, 1], MAKE_CHAR: [1 << 6, 1], MAKE_DIR: [1 << 7, 1], MAKE_REG: [1 << 8, 1], MAKE_SOCK: [1 << 9, 1],
  MAKE_FIFO: [1 << 10, 1], MAKE_BLOCK: [1 << 11, 1], MAKE_SYM: [1 << 12, 1], REFER: [1 << 13, 2], TRUNCATE: [1 << 14, 3], IOCTL_DEV: [1 << 15, 5],
};
/** LANDLOCK_ACCESS_NET_* (ABI 4) and LANDLOCK_SCOPE_* (ABI 6). */
const NET = { BIND_TCP: 1 << 0, CONNECT_TCP: 1 << 1 };
const SCOPE = { 'abstract-unix-socket': 1 << 0, signal: 1 << 1 } as const;

/** The child's own rules (docs/security.md, host mode): device nodes are read, written and driven
 * by ioctl; a private tmpfs (/tmp, /dev/shm) is a writable directory (no exec, no device nodes). */
const DEVICE = ['READ_FILE', 'WRITE_FILE', 'TRUNCATE', 'IOCTL_DEV'];
const TMPFS = ['READ_FILE', 'READ_DIR', 'WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER'];
/** Container mode: the rootfs's entries are read and executed (read-only rootfs); "/" itself may only be listed. */
const ROOTFS_RO = ['READ_FILE', 'READ_DIR', 'EXECUTE'];
const FILE_RIGHTS = new Set(['EXECUTE', 'WRITE_FILE', 'READ_FILE', 'TRUNCATE', 'IOCTL_DEV']);
/** What the fresh /proc and the minimal /dev serve (docs/security.md); such grants get their rule in the child. */
const servedInChild = (target: string): boolean => target === '/proc' || target.startsWith('/proc/') || ['null', 'zero', 'full', 'random', 'urandom', 'tty'].some((d) => target === `/dev/${d}`);

const handled = (abi: number): number => Object.values(FS).reduce((m, [bit, a]) => (a <= abi ? m | bit : m), 0);
const mask = (rights: readonly string[]): number => rights.reduce((m, r) => m | FS[r]![0], 0);

interface Rule {
  side: 'parent' | 'child';
  kind: 'path' | 'port';
  subject: string | number;
  mask: number;
  optional: boolean;
}

/** Every rule the launch applies, as the documented semantics give them. */
function expectedRules(l: Launch, rootfs: Array<{ target: string; dir: boolean }> = []): Rule[] {
  const h = handled(l.landlockAbi!);
  const out: Rule[] = [];
  const child = (subject: string, rights: readonly string[], optional = false): void => void out.push({ side: 'child', kind: 'path', subject, mask: mask(rights) & h, optional });
  for (const r of l.filesystem) {
    if (l.layout.length > 0 && r.path === r.target && servedInChild(r.target)) continue;
    out.push({ side: 'parent', kind: 'path', subject: r.path, mask: mask(r.rights), optional: false });
  }
  if (l.network.mode === 'ports') {
    for (const p of l.network.connect) out.push({ side: 'parent', kind: 'port', subject: p, mask: NET.CONNECT_TCP, optional: false });
    for (const p of l.network.bind) out.push({ side: 'parent', kind: 'port', subject: p, mask: NET.BIND_TCP, optional: false });
  }
  if (l.layout.length === 0) return out;
  for (const e of l.layout) {
    if (e.kind === 'device') child(e.target, DEVICE);
    if (e.kind === 'tmpfs' && e.target !== '/dev') child(e.target, TMPFS);
  }
  for (const r of l.filesystem) if (r.path === r.target && (r.target === '/proc' || r.target.startsWith('/proc/'))) child(r.target, r.rights);
  if (l.root) {
    if (!l.filesystem.some((r) => r.target === '/proc' || r.target.startsWith('/proc/'))) child('/proc', ['READ_FILE', 'READ_DIR']);
    for (const e of rootfs) child(e.target, e.dir ? ROOTFS_RO : ROOTFS_RO.filter((r) => FILE_RIGHTS.has(r)), true);
    if (!l.filesystem.some((r) => !r.access.startsWith('read'))) child('/', ['READ_DIR'], true);
  }
  return out;
}

/**
 * The canonical text (docs/security.md, "The landlock evidence"): a header line with the handled
 * masks, then one line per rule, sorted by UTF-8 bytes; sha256 of the whole, in hex.
 */
function digestOf(l: Launch, rules: Rule[]): { digest: string; rules: number } {
  const abi = l.landlockAbi!;
  const net = l.network.mode === 'ports' && abi >= 4 ? NET.BIND_TCP | NET.CONNECT_TCP : 0;
  const scoped = abi >= 6 ? l.scope.reduce((m, s) => m | SCOPE[s], 0) : 0;
  const lines = rules
    .map((r) => Buffer.from(`${r.side} ${r.kind} ${r.kind === 'path' ? JSON.stringify(r.subject) : r.subject} ${r.mask} ${r.optional ? 'optional' : 'required'}\n`))
    .sort(Buffer.compare);
  const text = Buffer.concat([Buffer.from(`bvisor-landlock-ruleset/2 abi=${abi} fs=${handled(abi)} net=${net} scoped=${scoped}\n`), ...lines]);
  return { digest: createHash('sha256').update(text).digest('hex'), rules: lines.length };
}

function reported(out: RunOutcome): { digest: unknown; source: string } {
  const e = out.report.body.evidence.find((x) => x.name === 'landlock.ruleset');
  expect(e, 'the report carries landlock.ruleset').toBeDefined();
  return { digest: e!.value, source: e!.source };
}

/** The /dev node the twin takes away: the child would mount it and add its rule. */
const dropDevFull: LaunchHooks = { mutateLaunch: (l) => void (l.layout = l.layout.filter((e) => !(e.kind === 'device' && e.target === '/dev/full'))) };

describe('landlock.ruleset digest (live)', () => {
  it('host mode: covers the grants and ports the parent adds and the /dev, /tmp and /proc rules the child adds', async () => {
    const ro = tempDir('bvisor-ll-ro-');
    chmodSync(ro, 0o755);
    const rw = writableDir();
    const manifest = 'tmp: private\nnetwork: { connect: [8443, 9443] }\n';
    const fs = [`  - { path: ${ro}, access: read }`, `  - { path: ${rw}, access: read-write }`];
    const out = await runProbe(['exit', '0'], manifest, { filesystem: fs });
    const l = out.plan.launch!;
    const rules = expectedRules(l);
    // The plan gives the child work to do, or this test would not be about it.
    expect(rules.filter((r) => r.side === 'child').map((r) => r.subject)).toEqual(expect.arrayContaining(['/dev/null', '/dev/full', '/dev/shm', '/tmp', '/proc']));
    expect(rules.filter((r) => r.side === 'parent').map((r) => r.subject)).toEqual(expect.arrayContaining([ro, rw, 8443, 9443]));
    const want = digestOf(l, rules);
    const got = reported(out);
    expect(got.digest).toBe(want.digest);
    expect(got.source).toBe(`sha256 over all ${want.rules} rule(s) applied, the parent's and the child's (bvisor-landlock-ruleset/2)`);

    // Red twin: without one child rule the digest changes, to exactly that of the rules left.
    const twin = await runProbe(['exit', '0'], manifest, { filesystem: fs, hooks: dropDevFull });
    const left = rules.filter((r) => !(r.side === 'child' && r.subject === '/dev/full'));
    expect(left).toHaveLength(rules.length - 1);
    expect(reported(twin).digest).toBe(digestOf(l, left).digest);
    expect(reported(twin).digest).not.toBe(got.digest);
  });

  it('container mode: covers the rootfs entries, the default /proc rule and the listing of /', async () => {
    const { dir, rootfs } = probeRootfs('bvisor-ll-ct-');
    writeFileSync(join(rootfs, 'motd'), 'hi\n');
    writeFileSync(
      join(dir, 'boundary.yaml'),
      'bvisorVersion: "1"\nroot: { path: rootfs, readonly: true }\nworkload:\n  process: { exe: /bin/bvprobe, args: [exit, "0"], cwd: / }\nstdio: { stdout: capture, stderr: capture }\ntmp: private\n',
    );
    const out = await runLoaded(loadBundle(dir), { id: null, root: null, cgroupParent: testCgroupParent(), secretEnv: {}, host: facts() });
    const l = out.plan.launch!;
    // The rootfs's own entries, minus the mount points bvisor made in it (each brings its own rules).
    const targets = new Set(l.layout.map((e) => e.target));
    const entries = readdirSync(rootfs, { withFileTypes: true })
      .map((e) => ({ target: `/${e.name}`, dir: e.isDirectory() }))
      .filter((e) => !targets.has(e.target));
    expect(entries.map((e) => e.target).sort()).toEqual(['/bin', '/motd']);
    const rules = expectedRules(l, entries);
    expect(rules.filter((r) => r.optional).map((r) => r.subject).sort()).toEqual(['/', '/bin', '/motd']);
    const want = digestOf(l, rules);
    const got = reported(out);
    expect(got.digest).toBe(want.digest);
    expect(got.source).toContain(`all ${want.rules} rule(s)`);
  });
});
