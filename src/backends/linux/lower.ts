// Lowers an admitted plan into the launch body the C launcher reads (pure). The layout is
// defined by native-shim/src/launch.h; the constants below mirror it, and a live test compares
// them with the layout the shim reports about itself (bv_body_layout).
import type { LaunchInputs } from '../../contract/generated/types.js';

export const BODY_MAGIC = 0x44425642;
export const BODY_VERSION = 1;
export const HEADER_SIZE = 112;
/** Offsets of the header fields, in declaration order (launch.h). */
export const HEADER_OFFSETS = {
  magic: 0, version: 4, total_len: 8, flags: 12, clone_flags: 16, exe_fd: 24, cgroup_fd: 28, sync_fd: 32, fail_fd: 36,
  landlock_fd: 40, stdio: 44, argc: 56, envc: 60, nfds: 64, nrlimits: 68, strings_off: 72, strings_len: 76, fds_off: 80,
  rlimits_off: 84, bpf_off: 88, bpf_len: 92, mounts_off: 96, nmounts: 100, hostname_len: 104, sync_peer_fd: 108,
} as const;
export const FD_SIZE = 16;
export const RLIMIT_SIZE = 24;
export const MOUNT_SIZE = 24;
export const RECORD_SIZE = 16;
export const SOCK_FILTER_SIZE = 8;

export const FLAGS = { NO_NEW_PRIVS: 1 << 0, DROP_CAPS: 1 << 1, LO_UP: 1 << 2, MOUNT_PRIVATE: 1 << 3, READY: 1 << 4, SECCOMP_KILL: 1 << 5, PDEATHSIG: 1 << 6, TEST_NO_SCRUB: 1 << 7 } as const;

/** enum bv_stage (launch.h): where a child failed. */
export const STAGES: Record<number, string> = {
  1: 'sync', 2: 'mount-private', 3: 'mount', 4: 'hostname', 5: 'loopback', 6: 'rlimit', 7: 'no-new-privs', 8: 'landlock',
  9: 'fd', 10: 'fd-check', 11: 'close-fds', 12: 'capabilities', 13: 'ready', 14: 'seccomp', 15: 'exec', 16: 'signals',
};
export const STAGE_READY = 13;
export const STAGE_EXEC = 15;

/** CLONE_NEW* (include/uapi/linux/sched.h). */
export const CLONE_NS: Record<LaunchInputs['namespaces'][number], bigint> = {
  user: 0x10000000n,
  pid: 0x20000000n,
  mount: 0x00020000n,
  net: 0x40000000n,
  ipc: 0x08000000n,
  uts: 0x04000000n,
  cgroup: 0x02000000n,
};

/** RLIMIT_* numbers (asm-generic/resource.h; the same on x86_64 and aarch64). */
export const RLIMIT_RESOURCE: Record<string, number> = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9 };

export interface DeclaredFd {
  src: number;
  /** S_IFMT bits the descriptor had when bvisor checked it (0: any). */
  type: number;
  /** O_ACCMODE it had (-1: any). */
  accmode: number;
}

export interface BodyRuntime {
  exeFd: number;
  cgroupFd: number;
  syncFd: number;
  /** The parent's end of the sync pipe, which the child closes first. */
  syncPeerFd: number;
  failFd: number;
  landlockFd: number;
  stdio: [number, number, number];
  declared: DeclaredFd[];
}

export interface LowerInput {
  launch: LaunchInputs;
  /** argv[0] as the workload sees it. */
  argv0: string;
  /** The environment with secrets resolved; kept out of LaunchInputs so plans never hold them. */
  env: ReadonlyArray<{ name: string; value: string }>;
  runtime: BodyRuntime;
  hostname: string | null;
  ready: boolean;
  /** Kill the workload when the launching thread dies (foreground runs). */
  dieWithParent: boolean;
  /** Tests only: the red twin of the fd scrub. Production never sets it. */
  testNoScrub?: boolean;
  /** A seccomp program, 8 bytes per instruction, or null. */
  bpf: Uint8Array | null;
}

export class LowerError extends Error {}

const enc = new TextEncoder();

export function lower(input: LowerInput): Uint8Array {
  const { launch, runtime } = input;
  const strings: Uint8Array[] = [];
  let hostnameLen = 0;
  const pushString = (s: string): void => {
    if (s.includes('\0')) throw new LowerError(`string contains NUL: ${JSON.stringify(s.slice(0, 40))}`);
    strings.push(enc.encode(s + '\0'));
  };
  if (input.hostname !== null) {
    hostnameLen = enc.encode(input.hostname).length;
    if (hostnameLen === 0 || hostnameLen > 64) throw new LowerError('hostname must be 1..64 bytes');
    pushString(input.hostname);
  }
  const argv = [input.argv0, ...launch.workload.args];
  for (const a of argv) pushString(a);
  for (const e of input.env) pushString(`${e.name}=${e.value}`);
  const stringsLen = strings.reduce((n, s) => n + s.length, 0);

  if (runtime.declared.length > 64) throw new LowerError('at most 64 declared fds');
  const rlimits = launch.rlimits.map((r) => {
    const res = RLIMIT_RESOURCE[r.resource];
    if (res === undefined) throw new LowerError(`unknown rlimit ${r.resource}`);
    return { res, soft: BigInt(r.soft), hard: BigInt(r.hard) };
  });
  const bpfLen = input.bpf ? input.bpf.length / SOCK_FILTER_SIZE : 0;
  if (!Number.isInteger(bpfLen)) throw new LowerError('seccomp program length is not a multiple of 8');

  const align8 = (n: number): number => (n + 7) & ~7;
  const stringsOff = HEADER_SIZE;
  const fdsOff = align8(stringsOff + stringsLen);
  const rlimitsOff = align8(fdsOff + runtime.declared.length * FD_SIZE);
  const bpfOff = align8(rlimitsOff + rlimits.length * RLIMIT_SIZE);
  const total = align8(bpfOff + bpfLen * SOCK_FILTER_SIZE);

  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  const u32 = (off: number, v: number): void => dv.setUint32(off, v, true);
  const i32 = (off: number, v: number): void => dv.setInt32(off, v, true);
  const H = HEADER_OFFSETS;

  let flags = FLAGS.NO_NEW_PRIVS | FLAGS.DROP_CAPS;
  if (launch.namespaces.includes('mount')) flags |= FLAGS.MOUNT_PRIVATE;
  if (launch.namespaces.includes('net') && launch.network.mode === 'loopback') flags |= FLAGS.LO_UP;
  if (input.ready) flags |= FLAGS.READY;
  if (input.dieWithParent) flags |= FLAGS.PDEATHSIG;
  if (input.testNoScrub) flags |= FLAGS.TEST_NO_SCRUB;
  let clone = 0n;
  for (const ns of launch.namespaces) clone |= CLONE_NS[ns];

  u32(H.magic, BODY_MAGIC);
  u32(H.version, BODY_VERSION);
  u32(H.total_len, total);
  u32(H.flags, flags);
  dv.setBigUint64(H.clone_flags, clone, true);
  i32(H.exe_fd, runtime.exeFd);
  i32(H.cgroup_fd, runtime.cgroupFd);
  i32(H.sync_fd, runtime.syncFd);
  i32(H.fail_fd, runtime.failFd);
  i32(H.landlock_fd, runtime.landlockFd);
  runtime.stdio.forEach((fd, i) => i32(H.stdio + 4 * i, fd));
  u32(H.argc, argv.length);
  u32(H.envc, input.env.length);
  u32(H.nfds, runtime.declared.length);
  u32(H.nrlimits, rlimits.length);
  u32(H.strings_off, stringsOff);
  u32(H.strings_len, stringsLen);
  u32(H.fds_off, runtime.declared.length ? fdsOff : 0);
  u32(H.rlimits_off, rlimits.length ? rlimitsOff : 0);
  u32(H.bpf_off, bpfLen ? bpfOff : 0);
  u32(H.bpf_len, bpfLen);
  u32(H.mounts_off, 0);
  u32(H.nmounts, 0);
  u32(H.hostname_len, hostnameLen);
  i32(H.sync_peer_fd, runtime.syncPeerFd);

  let off = stringsOff;
  for (const s of strings) {
    buf.set(s, off);
    off += s.length;
  }
  runtime.declared.forEach((f, i) => {
    const o = fdsOff + i * FD_SIZE;
    i32(o, f.src);
    i32(o + 4, 3 + i);
    u32(o + 8, f.type);
    i32(o + 12, f.accmode);
  });
  rlimits.forEach((r, i) => {
    const o = rlimitsOff + i * RLIMIT_SIZE;
    u32(o, r.res);
    dv.setBigUint64(o + 8, r.soft, true);
    dv.setBigUint64(o + 16, r.hard, true);
  });
  if (input.bpf) buf.set(input.bpf, bpfOff);
  return buf;
}

/** A child record: failure (kind 0) or ready (kind 1). */
export interface ChildRecord {
  kind: number;
  stage: number;
  errno: number;
  item: number;
}

export function decodeRecord(bytes: Uint8Array): ChildRecord {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { kind: dv.getInt32(0, true), stage: dv.getInt32(4, true), errno: dv.getInt32(8, true), item: dv.getInt32(12, true) };
}
