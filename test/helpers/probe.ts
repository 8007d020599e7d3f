// Runs the probe (native-shim/build/bvprobe) as a workload, through the same path `bvisor run`
// takes, with optional test-only hooks. The probe's own report is the oracle.
import { writeFileSync, chmodSync, chownSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../src/app/run.js';
import type { LaunchHooks } from '../../src/backends/linux/launcher.js';
import type { HostFacts } from '../../src/contract/generated/types.js';
import { probeHost } from '../../src/host/facts.js';
import { tempDir } from './tmp.js';
import { testCgroupParent, defaultTestParent } from './cgroups.js';

export { testCgroupParent };

export const PROBE = join(__dirname, '..', '..', 'native-shim', 'build', 'bvprobe');

let host: HostFacts | null = null;
export function facts(): HostFacts {
  return (host ??= probeHost());
}

export interface ProbeFacts {
  pid: number;
  uid: number;
  gid: number;
  uidMap: string;
  gidMap: string;
  setgroups: string;
  hostname: string;
  ns: Record<string, number>;
  fds: Array<{ fd: number; target: string }>;
  env: string[];
  cgroup: string;
  NoNewPrivs: string;
  Seccomp: string;
  CapEff: string;
  CapBnd: string;
  rlimits: Record<string, [number | null, number | null]>;
  forkErrno: number;
  inetSocketErrno: number;
}

/** A bundle whose workload is the probe with `args`; `extra` is appended YAML. */
export function probeBundle(args: string[], extra = '', opts: { filesystem?: string[] } = {}): string {
  const dir = tempDir('bvisor-probe-');
  chmodSync(dir, 0o755);
  const fs = [`  - { path: ${PROBE}, access: read-exec }`, '  - { path: /proc, access: read }', ...(opts.filesystem ?? [])];
  writeFileSync(
    join(dir, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(args)} }\nfilesystem:\n${fs.join('\n')}\nstdio: { stdout: capture, stderr: capture }\n${extra}`,
  );
  return dir;
}

export async function runProbe(args: string[], extra = '', o: { hooks?: LaunchHooks; cgroupParent?: string | null; secretEnv?: NodeJS.ProcessEnv; filesystem?: string[]; root?: string | null; id?: string | null; secrets?: string[]; fds?: number[]; host?: HostFacts; observeDenials?: false } = {}): Promise<RunOutcome> {
  const b = loadBundle(probeBundle(args, extra, o.filesystem ? { filesystem: o.filesystem } : {}));
  return runLoaded(b, { id: o.id ?? null, root: o.root ?? null, cgroupParent: o.cgroupParent === undefined ? defaultTestParent() : o.cgroupParent, secretEnv: o.secretEnv ?? {}, secrets: o.secrets ?? Object.keys(o.secretEnv ?? {}).map((k) => k.replace(/^BVISOR_SECRET_/, '').toLowerCase().replace(/_/g, '-')), fds: o.fds ?? [], host: o.host ?? facts(), ...(o.hooks ? { hooks: o.hooks } : {}), ...(o.observeDenials === false ? { observeDenials: false } : {}) });
}

/**
 * A directory a workload may write: bvisor runs it as an unprivileged id (65534 when bvisor is
 * root), so a write grant must be that id's, world-writable, or bridged by an idmapped mount
 * (owned by a regular user). `owner` picks: 'world' (mode 1777) or a uid:gid to chown to.
 */
export function writableDir(owner: 'world' | { uid: number; gid: number } = 'world'): string {
  const d = tempDir('bvisor-rw-');
  if (owner === 'world') chmodSync(d, 0o1777);
  else {
    chmodSync(d, 0o755);
    chownSync(d, owner.uid, owner.gid);
  }
  return d;
}

export async function probeFacts(extra = '', o: Parameters<typeof runProbe>[2] = {}): Promise<{ out: RunOutcome; p: ProbeFacts }> {
  const out = await runProbe(['facts'], extra, o);
  const text = out.stdout?.toString() ?? '';
  try {
    return { out, p: JSON.parse(text) as ProbeFacts };
  } catch {
    throw new Error(`probe printed no JSON (exit ${out.exitStatus}): ${text} ${out.stderr?.toString() ?? ''}`);
  }
}

/** `bvprobe try OP… , OP…`'s arguments. */
export const tryArgs = (ops: string[][]): string[] => ['try', ...ops.flatMap((op, i) => (i ? [',', ...op] : op))];

/** The errno of each operation a `try` run printed (0: it worked); throws with what it printed. */
export function probeErrnos(out: RunOutcome): number[] {
  const text = out.stdout?.toString().trim() ?? '';
  try {
    return JSON.parse(text) as number[];
  } catch {
    throw new Error(`probe printed ${JSON.stringify(text)} (status ${out.exitStatus}) ${out.stderr?.toString() ?? ''}`);
  }
}

/** Runs `bvprobe try OP… , OP…` and returns the errno of each operation (0: it worked). */
export async function tryOps(ops: string[][], extra = '', o: Parameters<typeof runProbe>[2] = {}): Promise<number[]> {
  return probeErrnos(await runProbe(tryArgs(ops), extra, o));
}

/** errno values (asm-generic/errno-base.h, errno.h), as the kernel gives them to the probe. */
export const E = { PERM: 1, NOENT: 2, SRCH: 3, BADF: 9, ACCES: 13, FAULT: 14, EXIST: 17, XDEV: 18, NOTDIR: 20, INVAL: 22, NOTTY: 25, ROFS: 30, NOSYS: 38, LOOP: 40, NXIO: 6, CONNREFUSED: 111, NETUNREACH: 101 } as const;

/** A bundle directory (0755) holding rootfs/bin/bvprobe, for container-mode tests. */
export function probeRootfs(prefix = 'bvisor-rootfs-'): { dir: string; rootfs: string } {
  const dir = tempDir(prefix);
  chmodSync(dir, 0o755);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(PROBE, join(rootfs, 'bin', 'bvprobe'));
  chmodSync(join(rootfs, 'bin', 'bvprobe'), 0o755);
  return { dir, rootfs };
}
