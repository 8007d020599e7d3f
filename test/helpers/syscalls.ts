// Independent expectations for the seccomp tests, written by hand, never derived from bvisor's
// own policy or tables (src/core/seccomp/*): what every Linux workload must be refused and why
// (from the syscall's man page, section 2, and docs/security.md's promise: the mount family,
// ptrace, keyrings, bpf, io_uring, modules, kexec, …), the syscall numbers (Linux v6.19:
// arch/x86/entry/syscalls/syscall_64.tbl for x86_64, include/uapi/asm-generic/unistd.h for
// aarch64), and the seccomp and audit constants (include/uapi/linux/seccomp.h, audit.h).
// A row dropped from the policy, or a wrong number in its tables, shows up as a row here that
// no longer gets EPERM.

export type Arch = 'x86_64' | 'aarch64';

/** include/uapi/linux/seccomp.h: SECCOMP_RET_* (the action in the high 16 bits). */
export const SECCOMP_RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000 } as const;
/** include/uapi/linux/audit.h: AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64 (and i386 for the foreign-arch row). */
export const AUDIT_ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7, i386: 0x40000003 } as const;
/** asm-generic/errno-base.h, errno.h */
export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
/** include/uapi/linux/sched.h (clone(2)) */
export const CLONE_THREAD = 0x00010000;
/** include/linux/socket.h (address_families(7)) */
export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16 } as const;
/** include/uapi/linux/in.h (ip(7), tcp(7), sctp(7); IPPROTO_MPTCP since Linux 5.6) */
export const IPPROTO = { TCP: 6, SCTP: 132, MPTCP: 262 } as const;
/** include/uapi/asm-generic/ioctls.h (ioctl_tty(2): TIOCSTI, TIOCLINUX, TIOCSETD, TIOCEXCL; TCGETS reads the termios) */
export const TTY_IOCTL = { TCGETS: 0x5401, TIOCSTI: 0x5412, TIOCLINUX: 0x541c, TIOCSETD: 0x5423, TIOCEXCL: 0x540c } as const;

export interface DeniedSyscall {
  name: string;
  /** syscall_64.tbl */
  x86_64: number;
  /** asm-generic/unistd.h; null: aarch64 has no such syscall */
  aarch64: number | null;
  /** Why a confined workload must not have it, from its man page (or the kernel source where none exists). */
  why: string;
}

const row = (name: string, x86_64: number, aarch64: number | null, why: string): DeniedSyscall => ({ name, x86_64, aarch64, why });

/**
 * Denied outright (EPERM) for every Linux workload, whatever the arguments. Syscalls the policy
 * denies only for some arguments (personality, ioctl, clone, socket, chmod with set-ID bits…) are
 * checked row by row in the tests that need them.
 */
export const MUST_DENY: readonly DeniedSyscall[] = [
  // mount(2), umount(2), pivot_root(2), and the new mount API (move_mount, open_tree, fsopen…:
  // Linux 5.2; mount_setattr(2): 5.12; open_tree_attr: 6.15): the filesystem view is the boundary's.
  row('mount', 165, 40, 'mount(2): attaches filesystems, changes mount flags'),
  row('umount2', 166, 39, 'umount(2): could uncover what a mount hides'),
  row('pivot_root', 155, 41, 'pivot_root(2): changes the root mount'),
  row('move_mount', 429, 429, 'move_mount: moves mounts (new mount API)'),
  row('open_tree', 428, 428, 'open_tree: clones mount trees (new mount API)'),
  row('fsopen', 430, 430, 'fsopen: creates a filesystem context (new mount API)'),
  row('fsconfig', 431, 431, 'fsconfig: configures a filesystem context (new mount API)'),
  row('fsmount', 432, 432, 'fsmount: makes a mount from a context (new mount API)'),
  row('fspick', 433, 433, 'fspick: reconfigures a mounted filesystem (new mount API)'),
  row('mount_setattr', 442, 442, 'mount_setattr(2): drops read-only, changes idmapping'),
  row('open_tree_attr', 467, 467, 'open_tree_attr (6.15): open_tree that changes mount attributes'),
  // namespaces(7): a new user namespace hands back every capability inside it
  row('unshare', 272, 97, 'unshare(2): new namespaces, CLONE_NEWUSER gives capabilities back'),
  row('setns', 308, 268, 'setns(2): joins namespaces outside the boundary'),
  // other processes
  row('ptrace', 101, 117, 'ptrace(2): observes and controls other processes'),
  row('process_vm_readv', 310, 270, 'process_vm_readv(2): reads another process’s memory'),
  row('process_vm_writev', 311, 271, 'process_vm_writev(2): writes another process’s memory'),
  row('kcmp', 312, 272, 'kcmp(2): compares kernel objects of other processes'),
  // keyrings(7): the kernel keyrings are not namespaced
  row('keyctl', 250, 219, 'keyctl(2): the kernel keyrings are not namespaced'),
  row('add_key', 248, 217, 'add_key(2): the kernel keyrings are not namespaced'),
  row('request_key', 249, 218, 'request_key(2): the kernel keyrings are not namespaced'),
  // kernel attack surface
  row('bpf', 321, 280, 'bpf(2): loads programs into the kernel'),
  row('perf_event_open', 298, 241, 'perf_event_open(2): kernel attack surface and side channels'),
  row('userfaultfd', 323, 282, 'userfaultfd(2): widens race windows in kernel exploits'),
  row('io_uring_setup', 425, 425, 'io_uring_setup(2): io_uring runs operations seccomp never sees'),
  row('io_uring_enter', 426, 426, 'io_uring_enter(2): io_uring runs operations seccomp never sees'),
  row('io_uring_register', 427, 427, 'io_uring_register(2): io_uring runs operations seccomp never sees'),
  row('lookup_dcookie', 212, 18, 'lookup_dcookie(2): a kernel profiling interface'),
  row('uselib', 134, null, 'uselib(2): an obsolete loader entry point'),
  row('lsm_set_self_attr', 460, 460, 'lsm_set_self_attr (6.8): relabels the caller for its LSM'),
  row('cachestat', 451, 451, 'cachestat (6.5): page-cache state of files is a side channel'),
  // the machine itself
  row('kexec_load', 246, 104, 'kexec_load(2): replaces the running kernel'),
  row('kexec_file_load', 320, 294, 'kexec_file_load(2): replaces the running kernel'),
  row('init_module', 175, 105, 'init_module(2): loads a kernel module'),
  row('finit_module', 313, 273, 'finit_module(2): loads a kernel module'),
  row('delete_module', 176, 106, 'delete_module(2): unloads a kernel module'),
  row('iopl', 172, null, 'iopl(2): raw I/O port access'),
  row('ioperm', 173, null, 'ioperm(2): raw I/O port access'),
  row('swapon', 167, 224, 'swapon(2): host memory management'),
  row('swapoff', 168, 225, 'swapoff(2): host memory management'),
  row('reboot', 169, 142, 'reboot(2): the host’s power state'),
  row('acct', 163, 89, 'acct(2): process accounting is host-wide'),
  row('quotactl', 179, 60, 'quotactl(2): host filesystem quotas'),
  row('quotactl_fd', 443, 443, 'quotactl_fd (5.14): host filesystem quotas'),
  row('syslog', 103, 116, 'syslog(2): the kernel log leaks kernel addresses'),
  row('vhangup', 153, 58, 'vhangup(2): hangs up the controlling terminal'),
  // time(7): the system clock is not namespaced (time namespaces offset only the monotonic clocks)
  row('settimeofday', 164, 170, 'settimeofday(2): sets the system clock'),
  row('clock_settime', 227, 112, 'clock_settime(2): sets the system clock'),
  row('clock_adjtime', 305, 266, 'clock_adjtime(2): adjusts the system clock'),
  row('adjtimex', 159, 171, 'adjtimex(2): adjusts the system clock'),
  // open_by_handle_at(2): bypasses path checks (the "shocker" container escape)
  row('open_by_handle_at', 304, 265, 'open_by_handle_at(2): opens files by handle, bypassing path checks'),
  row('name_to_handle_at', 303, 264, 'name_to_handle_at(2): makes handles for open_by_handle_at'),
];

/**
 * Numbers of the other syscalls the tests name (syscall_64.tbl; asm-generic/unistd.h; absent on
 * aarch64: the legacy fork, vfork).
 */
export const OTHER_NR: Record<Arch, Record<string, number>> = {
  x86_64: { read: 0, write: 1, close: 3, mmap: 9, ioctl: 16, socket: 41, sendto: 44, sendmsg: 46, listen: 50, sendmmsg: 307, clone: 56, fork: 57, vfork: 58, execve: 59, getpid: 39, personality: 135, exit_group: 231, openat: 257, clone3: 435 },
  aarch64: { read: 63, write: 64, close: 57, mmap: 222, ioctl: 29, socket: 198, listen: 201, sendto: 206, sendmsg: 211, sendmmsg: 269, clone: 220, execve: 221, getpid: 172, personality: 92, exit_group: 94, openat: 56, clone3: 435 },
};

/** The number of `name` on `arch` from the tables above, or undefined where the arch has none. */
export function nr(arch: Arch, name: string): number | undefined {
  const d = MUST_DENY.find((r) => r.name === name);
  if (d) return d[arch] ?? undefined;
  if (name in OTHER_NR[arch]) return OTHER_NR[arch][name];
  if (name in OTHER_NR.x86_64 || name in OTHER_NR.aarch64) return undefined; // known, but not on this arch
  throw new Error(`test table: no number written for ${name}`);
}

/** The host's arch in these tables' names (process.arch: x64, arm64). */
export function hostArch(): Arch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new Error(`no syscall table written for ${process.arch}`);
}
