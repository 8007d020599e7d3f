// Lowers an admitted plan into the launch body the C launcher reads (pure). The layout is
// defined by native-shim/src/launch.h; the constants below mirror it, and a live test compares
// them with the layout the shim reports about itself (bv_body_layout).
import type { LaunchInputs } from '../../contract/generated/types.js';

export const BODY_MAGIC = 0x44425642;
export const BODY_VERSION = 1;
export const HEADER_SIZE = 120;
/** Offsets of the header fields, in declaration order (launch.h). */
export const HEADER_OFFSETS = {
  magic: 0, version: 4, total_len: 8, flags: 12, clone_flags: 16, exe_fd: 24, cgroup_fd: 28, sync_fd: 32, fail_fd: 36,
  landlock_fd: 40, stdio: 44, argc: 56, envc: 60, nfds: 64, nrlimits: 68, strings_off: 72, strings_len: 76, fds_off: 80,
  rlimits_off: 84, bpf_off: 88, bpf_len: 92, mounts_off: 96, nmounts: 100, hostname_len: 104, sync_peer_fd: 108, cap_keep: 112,
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

/** enum bv_mount_op (launch.h). */
export const MOUNT_OP = { MOUNT: 1, BIND: 2, MKDIR: 3, MKFILE: 4, PIVOT: 5, REMOUNT_RO: 6, LL_RULE: 7, MASK: 8, SYMLINK: 9, CHDIR: 10 } as const;
export const NO_STRING = 0xffffffff;
/** MS_* (linux/mount.h). */
export const MS = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384 } as const;

export interface MountStep {
  op: (typeof MOUNT_OP)[keyof typeof MOUNT_OP];
  flags: number;
  source?: string;
  target?: string;
  fstype?: string;
  data?: string;
}

const under = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + '/');

/**
 * Whether a filesystem rule must be added by the child, after its mounts: a rule opened by the
 * parent names a host inode, which a fresh /proc (or, in container mode, pivot_root) replaces.
 * Grants under a private /tmp stay parent-side: the tmpfs hides their paths, but descriptors
 * opened before it (the program itself, executed by fd) still need their rights.
 */
export function ruleIsChildSide(launch: LaunchInputs, target: string): boolean {
  if (!launch.namespaces.includes('mount')) return false;
  if (launch.root) return true;
  return launch.namespaces.includes('pid') && under(target, '/proc');
}

export interface MountContext {
  /** landlock masks (bits) per rule, computed by the caller from the rule's rights. */
  ruleMask: (rights: readonly string[]) => number;
  /** landlock is in use: emit child-side rules. */
  landlock: boolean;
}

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const MASKED = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/sysrq-trigger', '/proc/latency_stats', '/proc/acpi', '/proc/scsi', '/proc/asound', '/sys/firmware'];
const READONLY = ['/proc/sys', '/proc/irq', '/proc/bus', '/proc/fs'];

function parents(root: string, target: string): string[] {
  const segs = target.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) out.push(root + '/' + segs.slice(0, i).join('/'));
  return out;
}

/** The mount steps the child runs, from the inert launch inputs (pure). */
export function mountSteps(launch: LaunchInputs, ctx: MountContext): MountStep[] {
  const steps: MountStep[] = [];
  if (!launch.namespaces.includes('mount')) return steps;
  const tmpData = `mode=1777,size=${launch.tmp.sizeBytes ?? launch.memoryBytes ?? 64 * 2 ** 20}`;
  const rr = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const rule = (target: string, rights: readonly string[]): void => {
    if (ctx.landlock) steps.push({ op: MOUNT_OP.LL_RULE, flags: ctx.ruleMask(rights), target });
  };
  if (!launch.root) {
    if (launch.namespaces.includes('pid')) steps.push({ op: MOUNT_OP.MOUNT, flags: rr, source: 'proc', target: '/proc', fstype: 'proc' });
    if (launch.tmp.mode === 'private') {
      steps.push({ op: MOUNT_OP.MOUNT, flags: MS.NOSUID | MS.NODEV, source: 'tmpfs', target: '/tmp', fstype: 'tmpfs', data: tmpData });
      rule('/tmp', RW_DIR);
    }
    for (const r of launch.filesystem) if (ruleIsChildSide(launch, r.target)) rule(r.target, r.rights);
  } else {
    const R = launch.root.path;
    steps.push({ op: MOUNT_OP.BIND, flags: 0, source: R, target: R });
    steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: `${R}/proc` });
    if (launch.namespaces.includes('pid')) steps.push({ op: MOUNT_OP.MOUNT, flags: rr, source: 'proc', target: `${R}/proc`, fstype: 'proc' });
    steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: `${R}/dev` });
    steps.push({ op: MOUNT_OP.MOUNT, flags: MS.NOSUID | MS.NOEXEC, source: 'tmpfs', target: `${R}/dev`, fstype: 'tmpfs', data: 'mode=755,size=65536' });
    for (const d of DEVICES) {
      steps.push({ op: MOUNT_OP.MKFILE, flags: 0, target: `${R}/dev/${d}` });
      steps.push({ op: MOUNT_OP.BIND, flags: 0, source: `/dev/${d}`, target: `${R}/dev/${d}` });
    }
    steps.push({ op: MOUNT_OP.SYMLINK, flags: 0, source: '/proc/self/fd', target: `${R}/dev/fd` });
    ['stdin', 'stdout', 'stderr'].forEach((n, i) => steps.push({ op: MOUNT_OP.SYMLINK, flags: 0, source: `/proc/self/fd/${i}`, target: `${R}/dev/${n}` }));
    steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: `${R}/dev/shm` });
    steps.push({ op: MOUNT_OP.MOUNT, flags: MS.NOSUID | MS.NODEV, source: 'tmpfs', target: `${R}/dev/shm`, fstype: 'tmpfs', data: 'mode=1777,size=' + (launch.memoryBytes ?? 64 * 2 ** 20) });
    if (launch.tmp.mode === 'private') {
      steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: `${R}/tmp` });
      steps.push({ op: MOUNT_OP.MOUNT, flags: MS.NOSUID | MS.NODEV, source: 'tmpfs', target: `${R}/tmp`, fstype: 'tmpfs', data: tmpData });
    }
    for (const g of launch.filesystem) {
      for (const p of parents(R, g.target)) steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: p });
      steps.push({ op: g.kind === 'directory' ? MOUNT_OP.MKDIR : MOUNT_OP.MKFILE, flags: 0, target: R + g.target });
      steps.push({ op: MOUNT_OP.BIND, flags: g.access.includes('write') ? 0 : MS.RDONLY, source: g.path, target: R + g.target });
    }
    steps.push({ op: MOUNT_OP.PIVOT, flags: 0, target: R });
    for (const m of MASKED) steps.push({ op: MOUNT_OP.MASK, flags: 0, target: m });
    for (const m of READONLY) steps.push({ op: MOUNT_OP.BIND, flags: MS.RDONLY, source: m, target: m });
    if (launch.root.readonly) steps.push({ op: MOUNT_OP.REMOUNT_RO, flags: 0, target: '/' });
    rule('/', launch.root.readonly ? RX_DIR : RWX_DIR);
    rule('/proc', ['READ_FILE', 'READ_DIR']);
    rule('/dev/shm', RW_DIR);
    if (launch.tmp.mode === 'private') rule('/tmp', RW_DIR);
    for (const d of DEVICES) rule(`/dev/${d}`, ['READ_FILE', 'WRITE_FILE', 'TRUNCATE', 'IOCTL_DEV']);
    for (const g of launch.filesystem) rule(g.target, g.rights);
  }
  steps.push({ op: MOUNT_OP.CHDIR, flags: 0, target: launch.workload.cwd });
  return steps;
}

const RW_DIR = ['READ_FILE', 'READ_DIR', 'WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER'];
const RX_DIR = ['READ_FILE', 'READ_DIR', 'EXECUTE'];
const RWX_DIR = [...RW_DIR, 'EXECUTE'];

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
  /** Tests only: the red twin of the capability drop. */
  keepCaps?: boolean;
  /** A seccomp program, 8 bytes per instruction, or null. */
  bpf: Uint8Array | null;
  mounts?: readonly MountStep[];
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
  // Mount strings follow; steps refer to them by offset within the strings section.
  let cursor = strings.reduce((n, s) => n + s.length, 0);
  const mountRefs = (input.mounts ?? []).map((m) => {
    const ref = (v: string | undefined): number => {
      if (v === undefined) return NO_STRING;
      const at = cursor;
      pushString(v);
      cursor += enc.encode(v).length + 1;
      return at;
    };
    return { op: m.op, flags: m.flags, source: ref(m.source), target: ref(m.target), fstype: ref(m.fstype), data: ref(m.data) };
  });
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
  const mountsOff = align8(bpfOff + bpfLen * SOCK_FILTER_SIZE);
  const total = align8(mountsOff + mountRefs.length * MOUNT_SIZE);

  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  const u32 = (off: number, v: number): void => dv.setUint32(off, v, true);
  const i32 = (off: number, v: number): void => dv.setInt32(off, v, true);
  const H = HEADER_OFFSETS;

  let flags = FLAGS.NO_NEW_PRIVS | (input.keepCaps ? 0 : FLAGS.DROP_CAPS);
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
  u32(H.mounts_off, mountRefs.length ? mountsOff : 0);
  u32(H.nmounts, mountRefs.length);
  u32(H.hostname_len, hostnameLen);
  i32(H.sync_peer_fd, runtime.syncPeerFd);
  dv.setBigUint64(H.cap_keep, launch.capabilities.reduce((m, c) => m | (1n << BigInt(c)), 0n), true);

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
  mountRefs.forEach((m, i) => {
    const o = mountsOff + i * MOUNT_SIZE;
    [m.op, m.flags, m.source, m.target, m.fstype, m.data].forEach((v, j) => u32(o + 4 * j, v >>> 0));
  });
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
