// Lowers an admitted plan into the launch body the C launcher reads (pure). The layout is
// defined by native-shim/src/launch.h; the constants below mirror it, and a live test compares
// them with the layout the shim reports about itself (bv_body_layout).
import type { FsRule, LaunchInputs } from '../../contract/generated/types.js';
import { servedBySpecial, insideIds } from '../../core/layout.js';

export const BODY_MAGIC = 0x44425642;
export const BODY_VERSION = 7;
export const HEADER_SIZE = 184;
/** Offsets of the header fields, in declaration order (launch.h). */
export const HEADER_OFFSETS = {
  magic: 0, version: 4, total_len: 8, flags: 12, clone_flags: 16, exe_fd: 24, cgroup_fd: 28, sync_fd: 32, fail_fd: 36,
  landlock_fd: 40, stdio: 44, argc: 56, envc: 60, nfds: 64, nrlimits: 68, strings_off: 72, strings_len: 76, fds_off: 80,
  rlimits_off: 84, bpf_off: 88, bpf_len: 92, mounts_off: 96, nmounts: 100, hostname_len: 104, sync_peer_fd: 108, cap_keep: 112, slots_off: 120, nslots: 124,
  console_fd: 128, console_rows: 132, console_cols: 134, join_fd: 136, join_ns: 140, exe_path: 144, net_fd: 148,
  cgjoin_off: 152, ncgjoin: 156, ll_marker_fd: 160, inside_uid: 164, inside_gid: 168, ngroups: 172, groups_off: 176, groups_pad: 180,
} as const;
export const FD_SIZE = 16;
export const RLIMIT_SIZE = 24;
export const MOUNT_SIZE = 48;
/** BV_MAX_MOUNTS, BV_MAX_SLOTS (launch.h). */
export const MAX_MOUNTS = 65536;
export const MAX_SLOTS = 4096;
/** BV_MAX_CGJOIN (launch.h): v1 leaves the child joins. */
export const MAX_CGJOIN = 16;
/** BV_MAX_GROUPS (launch.h): supplementary groups the child sets. */
export const MAX_GROUPS = 64;
export const RECORD_SIZE = 16;
export const SOCK_FILTER_SIZE = 8;

export const FLAGS = { NO_NEW_PRIVS: 1 << 0, DROP_CAPS: 1 << 1, LO_UP: 1 << 2, MOUNT_PRIVATE: 1 << 3, READY: 1 << 4, SECCOMP_KILL: 1 << 5, PDEATHSIG: 1 << 6, TEST_NO_SCRUB: 1 << 7, SETSID: 1 << 8, SETIDS: 1 << 9, DROP_GROUPS: 1 << 10, EXE_INHERIT: 1 << 11, CONSOLE: 1 << 12, SECCOMP_NOTIFY: 1 << 13, LANDLOCK_LOG: 1 << 14, SECCOMP_EARLY: 1 << 15, TEST_STOP_JOINED: 1 << 16 } as const;

/** enum bv_stage (launch.h): where a child failed. */
export const STAGES: Record<number, string> = {
  1: 'sync', 2: 'mount-private', 3: 'mount', 4: 'hostname', 5: 'loopback', 6: 'rlimit', 7: 'no-new-privs', 8: 'landlock',
  9: 'fd', 10: 'fd-check', 11: 'close-fds', 12: 'capabilities', 13: 'ready', 14: 'seccomp', 15: 'exec', 16: 'signals', 17: 'setsid', 18: 'ids', 19: 'console', 20: 'join', 21: 'resolve', 22: 'cgroup',
};
export const STAGE_CGROUP = 22;
export const STAGE_READY = 13;
export const STAGE_EXEC = 15;
export const STAGE_CONSOLE = 19;
/** Record kinds on the fail pipe (struct bv_record): 0 failure, 1 ready, 2 an exec's second
 * child was made (item: its pid). */
export const RECORD_KIND = { FAIL: 0, READY: 1, SPAWNED: 2 } as const;

/** CLONE_PARENT (include/uapi/linux/sched.h): the child's parent is the caller's parent. */
export const CLONE_PARENT = 0x00008000n;
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
export const RLIMIT_RESOURCE: Record<string, number> = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15 };

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
  /** The connected --console-socket (BV_F_CONSOLE), or -1/absent. */
  consoleFd?: number;
  /** An engine's network namespace (nsfs fd) the child is born in, or -1/absent. */
  netFd?: number;
  /** Landlock's audit marker (launch.h ll_marker_fd): an O_PATH fd of the run's marker directory. */
  llMarkerFd?: number;
  /** Each v1 cgroup leaf's `tasks` file, open for writing: the child joins them itself (step 1a). */
  cgroupJoin?: readonly number[];
}

/** enum bv_mount_op (launch.h): stage, prepare (CLONE, FSMOUNT), pivot, assemble. */
export const MOUNT_OP = { STAGE: 1, CLONE: 2, FSMOUNT: 3, PIVOT: 4, MKDIR: 5, MKFILE: 6, MOVE: 7, SYMLINK: 8, BIND_SELF: 9, MASK: 10, SETATTR: 11, LL_RULE: 12, CHDIR: 13 } as const;
export const NO_STRING = 0xffffffff;
/** MOUNT_ATTR_* (linux/mount.h). */
export const ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
export const KIND = { DIR: 1, FILE: 2 } as const;
export const AUX = { RECURSIVE: 1, OPTIONAL: 2, SINGLE: 4 } as const;

export interface MountStep {
  op: (typeof MOUNT_OP)[keyof typeof MOUNT_OP];
  flags: number;
  source?: string;
  target?: string;
  fstype?: string;
  data?: string;
  slot?: number;
  aux?: number;
  /** CLONE: the (st_dev, st_ino) the source must still have; 0n, 0n: not checked. */
  dev?: bigint;
  ino?: bigint;
}

/**
 * The uid_map (or gid_map) of an idmapped mount's user namespace: the id `onDisk` shows as `shown`
 * (the workload's host id), or `count` ids from there as as many from `shown` (an OCI config's
 * block of ids). With `othersAsOnDisk` (a launch mapping an OCI process.user or a block of
 * `block` ids from `shown`), every other id shows as itself but the workload's (which only the
 * mapped ids on disk may show as: the map is one-to-one),
 * so no file's owner is left unmapped: the kernel refuses any write through an idmapped mount to
 * an inode whose owner or group it leaves unmapped (fs/namei.c, inode_permission and
 * HAS_UNMAPPED_ID), which would shut a container's user out of its image's root-owned 1777 /tmp,
 * where a plain mount lets the mode decide. Those owners are not the workload's (it is
 * `shown` alone), and no capability it holds in its user namespace applies to them: the kernel
 * honours one over a file only if the file's owner and group are both mapped there
 * (capable_wrt_inode_uidgid), and only the workload's ids are. So the mode decides, as without
 * the idmap.
 */
export function idmapLines(onDisk: number, shown: number, othersAsOnDisk: boolean, count = 1, block = count): string {
  const lines = [`${onDisk} ${shown} ${count}`];
  if (othersAsOnDisk) {
    // Ids are 0..2^32-2: (uid_t)-1 is never one (user_namespaces(7)). Skipped: the ids on disk
    // this map moves, and the workload's whole block (its ids show only as the map says).
    const END = 0xffffffff;
    const skip = [[onDisk, onDisk + count], [shown, shown + Math.max(count, block)]].sort((a, b) => a[0]! - b[0]!);
    let start = 0;
    for (const [a, b] of skip) {
      if (a! > start) lines.push(`${start} ${start} ${a! - start}`);
      start = Math.max(start, b!);
    }
    if (start < END) lines.push(`${start} ${start} ${END - start}`);
  }
  return lines.join('\n') + '\n';
}

/** MOUNT_ATTR_* bits from a layout entry's options (idmap is the parent's to apply). */
export function attrsOf(options: readonly string[] | undefined): number {
  const o = new Set(options ?? []);
  return (o.has('ro') ? ATTR.RDONLY : 0) | (o.has('nosuid') ? ATTR.NOSUID : 0) | (o.has('nodev') ? ATTR.NODEV : 0) | (o.has('noexec') ? ATTR.NOEXEC : 0);
}

/** fsconfig options of a fresh mount: tmpfs's mode= and size=, devpts's modes. (Every devpts
 * fsopen makes is a new instance: "newinstance" is shown in the plan, not passed.) */
function fsData(options: readonly string[] | undefined): string {
  return (options ?? []).filter((o) => o.startsWith('mode=') || o.startsWith('size=') || o.startsWith('ptmxmode=')).join(',');
}

export interface MountContext {
  /** landlock masks (bits) per rule, computed by the caller from the rule's rights. */
  ruleMask: (rights: readonly string[]) => number;
  /** landlock is in use: emit child-side rules. */
  landlock: boolean;
  /** Detached trees the parent made from the descriptors it opened (rootful), by layout index.
   * Entries without one are cloned by the child from the host path it re-opens and checks. */
  trees: ReadonlyMap<number, number>;
  /** Container mode: child-side rules on the rootfs's own entries (never on "/" itself, which
   * would widen every grant mounted beneath it). */
  rootfsRules: ReadonlyArray<{ target: string; rights: readonly string[] }>;
}

export interface MountPlan {
  steps: MountStep[];
  /** Initial slot contents: a tree fd from the parent, or -1 (a prepare step fills it). */
  slots: number[];
}

const RW_DIR = ['READ_FILE', 'READ_DIR', 'WRITE_FILE', 'TRUNCATE', 'REMOVE_DIR', 'REMOVE_FILE', 'MAKE_DIR', 'MAKE_REG', 'MAKE_SOCK', 'MAKE_FIFO', 'MAKE_SYM', 'REFER'];
const DEVICE_RIGHTS = ['READ_FILE', 'WRITE_FILE', 'TRUNCATE', 'IOCTL_DEV'];

/** The child's mount steps, in the order the plan's layout gives (pure). */
export function mountPlan(launch: LaunchInputs, ctx: MountContext): MountPlan {
  const steps: MountStep[] = [];
  const slots: number[] = [];
  if (launch.layout.length === 0) {
    if (launch.namespaces.includes('mount')) steps.push({ op: MOUNT_OP.CHDIR, flags: 0, target: launch.workload.cwd });
    return { steps, slots };
  }
  const ruleOf = (clause: string | undefined): FsRule | undefined => launch.filesystem.find((r) => r.clause === clause);
  const newSlot = (fd = -1): number => slots.push(fd) - 1;
  const slotOf = new Map<number, number>();
  steps.push({ op: MOUNT_OP.STAGE, flags: 0 });
  // prepare: every mount source becomes a detached mount while the host is still at /.old
  launch.layout.forEach((e, i) => {
    const tree = ctx.trees.get(i);
    if (tree !== undefined) {
      slotOf.set(i, newSlot(tree));
      return;
    }
    const attrs = attrsOf(e.options);
    switch (e.kind) {
      case 'root':
        if (e.source === 'tmpfs') slotOf.set(i, newSlot()), steps.push({ op: MOUNT_OP.FSMOUNT, flags: attrs & ~ATTR.RDONLY, fstype: 'tmpfs', data: fsData(e.options), slot: slotOf.get(i)! });
        else slotOf.set(i, newSlot()), steps.push({ op: MOUNT_OP.CLONE, flags: attrs & ~ATTR.RDONLY, source: launch.root!.path, slot: slotOf.get(i)!, dev: BigInt(launch.root!.dev), ino: BigInt(launch.root!.ino) });
        return;
      case 'bind': {
        const r = ruleOf(e.clause)!;
        slotOf.set(i, newSlot());
        // An OCI `bind`: that mount alone (the kernel refuses it where mounts lie beneath).
        steps.push({ op: MOUNT_OP.CLONE, flags: attrs, source: r.path, slot: slotOf.get(i)!, dev: BigInt(r.dev), ino: BigInt(r.ino), ...(r.submounts === false ? { aux: AUX.SINGLE } : {}) });
        return;
      }
      case 'device':
        slotOf.set(i, newSlot());
        // The host's own /dev: trusted, so not checked against a planned identity.
        steps.push({ op: MOUNT_OP.CLONE, flags: attrs, source: e.source!, slot: slotOf.get(i)!, dev: 0n, ino: 0n });
        return;
      case 'proc':
      case 'tmpfs':
      case 'devpts':
      case 'mqueue':
      case 'sysfs':
      case 'cgroup2':
        slotOf.set(i, newSlot());
        steps.push({ op: MOUNT_OP.FSMOUNT, flags: attrs, fstype: e.kind, data: e.kind === 'proc' ? '' : fsData(e.options), slot: slotOf.get(i)! });
        return;
      default:
        return;
    }
  });
  steps.push({ op: MOUNT_OP.PIVOT, flags: 0, slot: slotOf.get(0)! });
  // assemble, in layout order (parents first)
  launch.layout.forEach((e, i) => {
    if (i === 0) return;
    switch (e.kind) {
      case 'bind':
      case 'device':
      case 'proc':
      case 'tmpfs':
      case 'devpts':
      case 'mqueue':
      case 'sysfs':
      case 'cgroup2': {
        const file = e.kind === 'device' || (e.kind === 'bind' && ruleOf(e.clause)!.kind !== 'directory');
        steps.push({ op: file ? MOUNT_OP.MKFILE : MOUNT_OP.MKDIR, flags: 0, target: e.target });
        steps.push({ op: MOUNT_OP.MOVE, flags: file ? KIND.FILE : KIND.DIR, target: e.target, slot: slotOf.get(i)! });
        return;
      }
      case 'symlink': {
        // A grant's link (/etc/localtime) may sit where nothing else made a directory.
        const parent = e.target.slice(0, e.target.lastIndexOf('/'));
        if (e.clause?.startsWith('filesystem[') && parent) steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: parent });
        steps.push({ op: MOUNT_OP.SYMLINK, flags: 0, source: e.source!, target: e.target });
        return;
      }
      case 'mask':
        // bvisor's own directories must be hidden; /proc's list is a superset of what kernels have.
        // (an OCI config's maskedPaths name what kernels may or may not have, too).
        steps.push({ op: MOUNT_OP.MASK, flags: 0, target: e.target, aux: e.clause === 'filesystem' || e.clause?.startsWith('linux.maskedPaths') ? AUX.OPTIONAL : 0 });
        return;
      case 'readonly':
        // noexec unless the entry says exec (a set-ID program kept read-only is still a program).
        // One named by identity must be there, and be that file: a launch that finds it moved or
        // replaced fails (ESTALE, ENOENT) rather than leaving it writable.
        const named = e.dev !== undefined && e.ino !== undefined ? { aux: 0, dev: BigInt(e.dev), ino: BigInt(e.ino) } : { aux: AUX.OPTIONAL };
        steps.push({ op: MOUNT_OP.BIND_SELF, flags: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | (e.options?.includes('exec') ? 0 : ATTR.NOEXEC), target: e.target, ...named });
        return;
      default:
        return;
    }
  });
  // Container mode: a missing working directory is made, as runc and crun make it, before the
  // root goes read-only: in the rootfs the parent has made it (host/rootfs.ts prepareCwd, the
  // workload's ids may not write there); under another mount (a writable grant, /tmp's tmpfs)
  // this makes it, as the workload. Only where nothing is there: a symlink on the way is left for
  // the chdir, which resolves it in the root.
  if (launch.root && launch.workload.cwd !== '/') steps.push({ op: MOUNT_OP.MKDIR, flags: 0, target: launch.workload.cwd, aux: AUX.OPTIONAL });
  if (attrsOf(launch.layout[0]!.options) & ATTR.RDONLY) steps.push({ op: MOUNT_OP.SETATTR, flags: ATTR.RDONLY, target: '/' });
  if (ctx.landlock) {
    const rule = (target: string, rights: readonly string[], optional = false): void => {
      steps.push({ op: MOUNT_OP.LL_RULE, flags: ctx.ruleMask(rights), target, aux: optional ? AUX.OPTIONAL : 0 });
    };
    for (const e of launch.layout) {
      if (e.kind === 'device') rule(e.target, DEVICE_RIGHTS);
      if (e.kind === 'tmpfs' && e.target !== '/dev') rule(e.target, RW_DIR);
      // An OCI config's fresh mounts: ptys are devices; message queues are files; sysfs and
      // cgroup2 are mounted read-only and are read like any directory.
      if (e.kind === 'devpts') rule(e.target, ['READ_DIR', ...DEVICE_RIGHTS]);
      if (e.kind === 'mqueue') rule(e.target, RW_DIR);
      if (e.kind === 'sysfs' || e.kind === 'cgroup2') rule(e.target, ['READ_FILE', 'READ_DIR']);
    }
    // Grants the fresh /proc serves: rules on its inodes, which exist only in here.
    for (const r of launch.filesystem) if (servedBySpecial(r) === 'proc') rule(r.target, r.rights);
    if (launch.root) {
      if (!launch.filesystem.some((r) => servedBySpecial(r) === 'proc')) rule('/proc', ['READ_FILE', 'READ_DIR']);
      for (const r of ctx.rootfsRules) rule(r.target, r.rights, true);
    }
  }
  steps.push({ op: MOUNT_OP.CHDIR, flags: 0, target: launch.workload.cwd });
  return { steps, slots };
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
  /** A session of its own even with stdin: inherit (bvisor run --sig-proxy): the caller's
   * terminal and shell signal bvisor's group, not the workload, whose every signal then comes once,
   * sent on by bvisor; it has no controlling terminal (its stdin is still the terminal). */
  ownSession?: boolean;
  /** Engine mode: clone with CLONE_PARENT, so the workload is the monitor's sibling and becomes
   * the engine's child (see launcher.ts). */
  engine?: boolean;
  /** bvisor runs as root: the child sheds root's supplementary groups (setgroups stays allowed
   * for that; the parent may write gid_map without denying it). */
  rootful?: boolean;
  /** Tests only: the red twin of the fd scrub. Production never sets it. */
  testNoScrub?: boolean;
  /** Tests only: an exec's second child stops itself once it has the container's ids (launch.h). */
  testStopJoined?: boolean;
  /** Tests only: the red twin of the capability drop. */
  keepCaps?: boolean;
  /** A seccomp program, 8 bytes per instruction, or null. */
  bpf: Uint8Array | null;
  /** Its deny rows answer USER_NOTIF: the child installs it with a listener and sends that on the
   * sync socket (notify.h). */
  seccompNotify?: boolean;
  /** Install the filter right after READY, while the parent reads the evidence, and wait for the
   * go byte under it (BV_F_SECCOMP_EARLY). Only for bvisor's own filter with no OCI profile
   * behind it, which lets the child's read of the go byte and its sendmsg of the listener through. */
  seccompEarly?: boolean;
  /** Landlock denials observed: restrict with LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, so the
   * kernel audits the workload's denials (native-shim/src/audit.h). */
  landlockLog?: boolean;
  mounts?: readonly MountStep[];
  /** Slot fds (MountPlan.slots), as the child will see them. */
  slots?: readonly number[];
  /** process.terminal: a pty from the root's /dev/ptmx, its master sent over runtime.consoleFd;
   * rows x cols (0 x 0: the kernel's default) set on it. */
  console?: { rows: number; cols: number } | null;
  /** bvisor exec: join the namespaces of the init behind joinFd (a pidfd) instead of making
   * new ones, and resolve `exePath` in the joined root (runtime.exeFd is then -1). */
  exec?: { joinFd: number; exePath: string } | null;
}

export class LowerError extends Error {}

const enc = new TextEncoder();

export function lower(input: LowerInput): Uint8Array {
  const { launch, runtime } = input;
  const strings: Uint8Array[] = [];
  let hostnameLen = 0;
  /** Appends s and its NUL; returns its length in bytes, NUL included. */
  const pushString = (s: string): number => {
    // (Never the string itself: it may be a resolved secret.)
    if (s.includes('\0')) throw new LowerError('a launch string contains NUL');
    const bytes = enc.encode(s + '\0');
    strings.push(bytes);
    return bytes.length;
  };
  if (input.hostname !== null) {
    hostnameLen = enc.encode(input.hostname).length;
    if (hostnameLen === 0 || hostnameLen > 64) throw new LowerError('hostname must be 1..64 bytes');
    pushString(input.hostname);
  }
  const argv = [input.argv0, ...launch.workload.args];
  for (const a of argv) pushString(a);
  for (const e of input.env) pushString(`${e.name}=${e.value}`);
  let exePathOff = NO_STRING;
  if (input.exec) {
    exePathOff = strings.reduce((n, s) => n + s.length, 0);
    if (input.exec.exePath === '') throw new LowerError('the program name is empty');
    pushString(input.exec.exePath);
  }
  // Mount strings follow; steps refer to them by offset within the strings section.
  let cursor = strings.reduce((n, s) => n + s.length, 0);
  // A path named by several steps (mkdir, then move, then a landlock rule) is stored once.
  const interned = new Map<string, number>();
  const mountRefs = (input.mounts ?? []).map((m) => {
    const ref = (v: string | undefined): number => {
      if (v === undefined) return NO_STRING;
      const known = interned.get(v);
      if (known !== undefined) return known;
      const at = cursor;
      cursor += pushString(v);
      interned.set(v, at);
      return at;
    };
    return { op: m.op, flags: m.flags, source: ref(m.source), target: ref(m.target), fstype: ref(m.fstype), data: ref(m.data), slot: m.slot ?? -1, aux: m.aux ?? 0, dev: m.dev ?? 0n, ino: m.ino ?? 0n };
  });
  const slots = input.slots ?? [];
  const stringsLen = strings.reduce((n, s) => n + s.length, 0);

  if (runtime.declared.length > 64) throw new LowerError('at most 64 declared fds');
  if (mountRefs.length > MAX_MOUNTS) throw new LowerError(`${mountRefs.length} mount steps, more than the launcher takes (${MAX_MOUNTS})`);
  if (slots.length > MAX_SLOTS) throw new LowerError(`${slots.length} mounts, more than the launcher takes (${MAX_SLOTS})`);
  const cgjoin = runtime.cgroupJoin ?? [];
  if (cgjoin.length > MAX_CGJOIN) throw new LowerError(`${cgjoin.length} v1 cgroup leaves, more than the launcher joins (${MAX_CGJOIN})`);
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
  const slotsOff = align8(mountsOff + mountRefs.length * MOUNT_SIZE);
  const cgjoinOff = align8(slotsOff + slots.length * 4);
  // An OCI config's supplementary groups (ids of its block; only where root's are dropped).
  const groups = launch.namespaces.includes('user') && input.rootful ? (launch.oci?.groups ?? []) : [];
  if (groups.length > MAX_GROUPS) throw new LowerError(`${groups.length} supplementary groups, more than the launcher sets (${MAX_GROUPS})`);
  for (const g of groups) if (!Number.isInteger(g) || g < 0 || g > 0xfffffffe) throw new LowerError(`the supplementary group ${g} is not 0..4294967294`);
  const groupsOff = align8(cgjoinOff + cgjoin.length * 4);
  const total = align8(groupsOff + groups.length * 4);

  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  const u32 = (off: number, v: number): void => dv.setUint32(off, v, true);
  const i32 = (off: number, v: number): void => dv.setInt32(off, v, true);
  const H = HEADER_OFFSETS;

  const exec = input.exec ?? null;
  let flags = FLAGS.NO_NEW_PRIVS | (input.keepCaps ? 0 : FLAGS.DROP_CAPS);
  // An exec joins namespaces the init set up: nothing of theirs is made again.
  if (!exec && launch.namespaces.includes('mount')) flags |= FLAGS.MOUNT_PRIVATE;
  if (!exec && launch.namespaces.includes('net') && launch.network.mode === 'loopback') flags |= FLAGS.LO_UP;
  if (input.ready) flags |= FLAGS.READY;
  if (input.dieWithParent) flags |= FLAGS.PDEATHSIG;
  if (input.testNoScrub) flags |= FLAGS.TEST_NO_SCRUB;
  if (input.testStopJoined && exec) flags |= FLAGS.TEST_STOP_JOINED;
  if (input.seccompNotify && input.bpf) flags |= FLAGS.SECCOMP_NOTIFY;
  if (input.seccompEarly && input.bpf && input.ready) flags |= FLAGS.SECCOMP_EARLY;
  if (input.landlockLog) flags |= FLAGS.LANDLOCK_LOG;
  // A new session (no controlling terminal, so no /dev/tty) unless the terminal is granted.
  // An exec always gets one: it must not share bvisor exec's caller's terminal (TIOCSTI).
  if (launch.stdio.stdin !== 'inherit' || exec || input.ownSession) flags |= FLAGS.SETSID;
  if (launch.namespaces.includes('user')) flags |= FLAGS.SETIDS | (input.rootful ? FLAGS.DROP_GROUPS : 0);
  if (launch.workload.script && !exec) flags |= FLAGS.EXE_INHERIT;
  const consoleFd = runtime.consoleFd ?? -1;
  if (input.console) {
    if (consoleFd < 0) throw new LowerError('a terminal needs the console socket');
    if (![input.console.rows, input.console.cols].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) throw new LowerError('the console size must be 0..65535');
    flags |= FLAGS.CONSOLE;
  }
  let clone = 0n;
  let joinNs = 0;
  for (const ns of launch.namespaces) {
    if (exec) joinNs |= Number(CLONE_NS[ns]);
    else clone |= CLONE_NS[ns];
  }
  if (exec && joinNs === 0) throw new LowerError('an exec needs namespaces to join');
  if (input.engine && !exec) clone |= CLONE_PARENT;

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
  u32(H.slots_off, slots.length ? slotsOff : 0);
  u32(H.nslots, slots.length);
  i32(H.console_fd, consoleFd);
  dv.setUint16(H.console_rows, input.console?.rows ?? 0, true);
  dv.setUint16(H.console_cols, input.console?.cols ?? 0, true);
  i32(H.join_fd, exec ? exec.joinFd : -1);
  u32(H.join_ns, joinNs >>> 0);
  u32(H.exe_path, exePathOff);
  i32(H.net_fd, runtime.netFd ?? -1);
  u32(H.cgjoin_off, cgjoin.length ? cgjoinOff : 0);
  u32(H.ncgjoin, cgjoin.length);
  i32(H.ll_marker_fd, input.landlockLog ? (runtime.llMarkerFd ?? -1) : -1);
  if (flags & FLAGS.SETIDS) {
    const inside = insideIds(launch);
    // 0..2^32-2: (uid_t)-1 is setresuid's "unchanged", and setUint32 would wrap anything above.
    for (const id of [inside.uid, inside.gid]) if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new LowerError(`the id to become inside (${id}) is not 0..4294967294`);
    u32(H.inside_uid, inside.uid);
    u32(H.inside_gid, inside.gid);
  }

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
    i32(o + 24, m.slot);
    u32(o + 28, m.aux);
    dv.setBigUint64(o + 32, m.dev, true);
    dv.setBigUint64(o + 40, m.ino, true);
  });
  slots.forEach((fd, i) => i32(slotsOff + 4 * i, fd));
  cgjoin.forEach((fd, i) => i32(cgjoinOff + 4 * i, fd));
  u32(H.ngroups, groups.length);
  u32(H.groups_off, groups.length ? groupsOff : 0);
  groups.forEach((g, i) => u32(groupsOff + 4 * i, g));
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
