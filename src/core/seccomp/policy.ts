// seccomp policy as data: which syscalls a Linux workload may not make, and why. The policy is
// derived from the plan (spawn and network clauses) plus the default denylist every workload
// gets. compile.ts turns it into BPF (and answers ENOSYS above the newest syscall our tables
// know); the tests run that BPF in an interpreter over tables. Syscalls newer than the system
// headers (scripts/syscalls-newer.json) each get a decision here, denied or REVIEWED_ALLOWED.
import type { LaunchInputs } from '../../contract/generated/types.js';
import { KNOWN_ABI as KNOWN_LANDLOCK_ABI } from '../landlock.js';

export type Action = 'errno' | 'enosys' | 'kill' | 'log';

export interface ArgCheck {
  arg: number;
  /** eq/ne: (low 32 bits & mask) vs value; in/notIn: low 32 bits vs values. */
  op: 'eq' | 'ne' | 'in' | 'notIn';
  value?: number;
  values?: number[];
  mask?: number;
}

export interface Rule {
  syscall: string;
  action: Action;
  /** All must hold for the rule to apply (AND); none: always. */
  when?: ArgCheck[];
  why: string;
  /**
   * Denied whatever `syscalls.deny` says (compile.ts): a row a guarantee beyond the denylist
   * rests on, which `deny: log` would otherwise turn into a logged call that goes through (no
   * set-ID files, the terminal of whoever started us, io_uring that no row sees into). `kill`
   * still kills.
   */
  firm?: true;
}

export interface Policy {
  /** What a denial does: errno(EPERM) by default, so denials are observable. */
  deny: 'errno' | 'kill' | 'log';
  rules: Rule[];
}

const d = (syscall: string, why: string): Rule => ({ syscall, action: 'errno', why });

/** Applies to every Linux workload. One line of reason per row. */
export const DEFAULT_DENYLIST: readonly Rule[] = [
  d('mount', 'changes the filesystem view; the boundary decides mounts'),
  d('umount2', 'could uncover what a mount hides'),
  d('pivot_root', 'changes the root; only the launcher does that'),
  d('move_mount', 'new mount API: same power as mount'),
  d('open_tree', 'new mount API: clones mount trees'),
  d('fsopen', 'new mount API: creates filesystems'),
  d('fsconfig', 'new mount API'),
  d('fsmount', 'new mount API'),
  d('fspick', 'new mount API: reconfigures mounted filesystems'),
  d('mount_setattr', 'changes mount flags (e.g. drops read-only)'),
  d('open_tree_attr', 'new mount API (Linux 6.15): open_tree that also changes mount attributes, as mount_setattr does'),
  d('unshare', 'a new user namespace hands back capabilities and kernel attack surface'),
  d('setns', 'could join namespaces outside the boundary'),
  d('ptrace', 'inspects and controls other processes'),
  d('process_vm_readv', 'reads other processes’ memory'),
  d('process_vm_writev', 'writes other processes’ memory'),
  // Firm: the workload keeps bvisor's session keyring (none is made for it), and possession
  // grants a key's possessor rights whatever the uid: under deny: log it could read the keys its
  // caller holds (found by a review), a secret the caller did not name.
  { ...d('keyctl', 'the kernel keyring is not namespaced'), firm: true },
  { ...d('add_key', 'the kernel keyring is not namespaced'), firm: true },
  { ...d('request_key', 'the kernel keyring is not namespaced'), firm: true },
  d('bpf', 'loads programs into the kernel; a frequent exploit vector'),
  d('perf_event_open', 'kernel attack surface and side channels'),
  d('userfaultfd', 'widens race windows in kernel exploits'),
  d('kexec_load', 'replaces the running kernel'),
  d('kexec_file_load', 'replaces the running kernel'),
  d('init_module', 'loads kernel modules'),
  d('finit_module', 'loads kernel modules'),
  d('delete_module', 'unloads kernel modules'),
  d('open_by_handle_at', 'opens files by handle, bypassing path checks (the "shocker" escape)'),
  d('name_to_handle_at', 'produces handles for open_by_handle_at'),
  d('iopl', 'raw I/O port access'),
  d('ioperm', 'raw I/O port access'),
  d('swapon', 'host memory management'),
  d('swapoff', 'host memory management'),
  d('reboot', 'host power state'),
  d('settimeofday', 'the clock is not namespaced'),
  d('clock_settime', 'the clock is not namespaced'),
  d('clock_adjtime', 'the clock is not namespaced'),
  d('adjtimex', 'can set the clock'),
  d('acct', 'process accounting is host-wide'),
  d('quotactl', 'host filesystem quotas'),
  d('quotactl_fd', 'host filesystem quotas'),
  // Firm: io_uring's own operations (openat with any mode, socket of any protocol, …) would pass
  // under every other row, the set-ID and network ones included.
  { ...d('io_uring_setup', 'io_uring runs operations that seccomp never sees'), firm: true },
  { ...d('io_uring_enter', 'io_uring runs operations that seccomp never sees'), firm: true },
  { ...d('io_uring_register', 'io_uring runs operations that seccomp never sees'), firm: true },
  d('syslog', 'the kernel log leaks kernel addresses'),
  d('lookup_dcookie', 'kernel profiling interface'),
  d('uselib', 'obsolete loader entry point'),
  d('vhangup', 'acts on the controlling terminal'),
  d('kcmp', 'compares kernel objects of other processes'),
  d('pidfd_getfd', 'copies a descriptor out of another process (ptrace-level access): the supervisor\'s seccomp listener, a monitor\'s pipes'),
  d('lsm_set_self_attr', 'relabels the caller for its LSM (AppArmor, SELinux…), which the boundary otherwise gates as a write to /proc/self/attr'),
  d('cachestat', 'page-cache state of files it may only read is a side channel on what others read (closed for mincore in 5.0; cachestat, new in 6.5, got the same check only later); EPERM is what a fixed kernel answers too'),
  {
    syscall: 'personality',
    action: 'errno',
    // Only values that weaken the process are refused: ADDR_NO_RANDOMIZE (0x0040000),
    // READ_IMPLIES_EXEC (0x0400000), ADDR_COMPAT_LAYOUT (0x0200000), MMAP_PAGE_ZERO (0x0100000).
    // 0xffffffff only queries the current persona.
    when: [{ arg: 0, op: 'ne', mask: 0x0740000, value: 0 }, { arg: 0, op: 'ne', value: 0xffffffff }],
    why: 'personality flags that disable ASLR or make memory executable',
  },
  {
    syscall: 'ioctl',
    action: 'errno',
    when: [{ arg: 1, op: 'in', values: [0x5412, 0x541c] }],
    why: 'TIOCSTI and TIOCLINUX inject input into the terminal of whoever started us',
    // stdio's guarantee at every landlock ABI (docs/landlock.md): a workload given the caller's
    // terminal would otherwise type commands into the caller's shell.
    firm: true,
  },
  {
    syscall: 'ioctl',
    action: 'errno',
    when: [{ arg: 1, op: 'in', values: [0x5423, 0x540c] }],
    why: "TIOCSETD replaces the line discipline of the caller's terminal (N_NULL drops everything written there), and TIOCEXCL makes it refuse every new open but root's; both outlive the run",
    // As the row above: the caller's terminal must come back from a run as it went in.
    firm: true,
  },
  // A workload that shares bvisor's controlling terminal passes the kernel's own check for a Linux
  // console's ioctls (KD*, VT*: old-style numbers, type byte 'K' and 'V', no size or direction
  // bits, ioctl_console(2)): it could turn the keyboard off (KDSKBMODE K_OFF), the display to
  // graphics, change the keymap all consoles share, or switch consoles, all outliving the run.
  { syscall: 'ioctl', action: 'errno', when: [{ arg: 1, op: 'eq', mask: 0xffffff00, value: 0x4b00 }], why: "a console's keyboard, display and keymap (KD*), which outlive the run", firm: true },
  { syscall: 'ioctl', action: 'errno', when: [{ arg: 1, op: 'eq', mask: 0xffffff00, value: 0x5600 }], why: 'switching and modes of virtual consoles (VT_*), which outlive the run', firm: true },
];

/**
 * Syscalls newer than the system headers that were reviewed and stay allowed, with why. Each
 * one in scripts/syscalls-newer.json is either here or in DEFAULT_DENYLIST (a test checks), so
 * a new syscall gets a decision before it gets a number in our tables.
 */
export const REVIEWED_ALLOWED: readonly { syscall: string; why: string }[] = [
  { syscall: 'uretprobe', why: 'x86_64 only; works only from the kernel’s uretprobe trampoline (SIGILL elsewhere), and seccomp lets it through unfiltered since 6.14 (and stable backports) anyway' },
  { syscall: 'uprobe', why: 'x86_64 only; works only from the kernel’s uprobe trampoline (ENXIO elsewhere)' },
  { syscall: 'fchmodat2', why: 'fchmodat with flags: the same power as chmod, which is allowed' },
  { syscall: 'map_shadow_stack', why: 'allocates a shadow stack for the caller: hardening, used by libc when CET/GCS is on' },
  { syscall: 'futex_wake', why: 'futex2: the same power as futex' },
  { syscall: 'futex_wait', why: 'futex2: the same power as futex' },
  { syscall: 'futex_requeue', why: 'futex2: the same power as futex' },
  { syscall: 'statmount', why: 'only reads mount information the caller could read in /proc/self/mountinfo' },
  { syscall: 'listmount', why: 'only reads mount ids; other mount namespaces need CAP_SYS_ADMIN over them, which the workload lacks' },
  { syscall: 'lsm_get_self_attr', why: 'reads the caller’s own LSM labels, as /proc/self/attr does' },
  { syscall: 'lsm_list_modules', why: 'only lists the active LSMs' },
  { syscall: 'mseal', why: 'seals the caller’s own mappings: hardening' },
  { syscall: 'setxattrat', why: 'the *at form of setxattr, which is allowed' },
  { syscall: 'getxattrat', why: 'the *at form of getxattr, which is allowed' },
  { syscall: 'listxattrat', why: 'the *at form of listxattr, which is allowed' },
  { syscall: 'removexattrat', why: 'the *at form of removexattr, which is allowed' },
  { syscall: 'file_getattr', why: 'reads inode flags, as the FS_IOC_FSGETXATTR ioctl does' },
  { syscall: 'file_setattr', why: 'sets inode flags, as the FS_IOC_FSSETXATTR ioctl (allowed) does, with the same permission checks' },
  { syscall: 'listns', why: 'only lists namespace ids the caller may see; entering one needs setns, which is denied' },
];

export const CLONE_THREAD = 0x00010000;
/**
 * The namespace flags clone(2) takes (include/uapi/linux/sched.h): NEWNS, NEWCGROUP, NEWUTS,
 * NEWIPC, NEWUSER, NEWPID, NEWNET. CLONE_NEWTIME (0x80) is not among them: in clone()'s flags
 * that bit belongs to the exit-signal byte, so only unshare and clone3 can ask for it.
 */
export const CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
/** Mode bits that make a file run with its owner's or group's rights (S_ISUID | S_ISGID). */
export const SET_ID_BITS = 0o6000;
/** O_CREAT | __O_TMPFILE (asm-generic/fcntl.h; the same values on x86_64): the flags under which
 * open/openat use their mode argument. */
export const O_CREAT_OR_TMPFILE = 0o100 | 0o20000000;

const noSetId = (syscall: string, modeArg: number, flagsArg?: number): Rule => ({
  syscall,
  action: 'errno',
  // Every launch's guarantee (docs/security.md), not the denylist's: deny: log keeps it.
  firm: true,
  when: [...(flagsArg === undefined ? [] : [{ arg: flagsArg, op: 'ne' as const, mask: O_CREAT_OR_TMPFILE, value: 0 }]), { arg: modeArg, op: 'ne', mask: SET_ID_BITS, value: 0 }],
  why: 'a set-user-ID or set-group-ID file a workload makes (in a write grant: stored as the grant owner through an idmapped mount, or as its own id) would run with those rights on the host (systemd: RestrictSUIDSGID)',
});

/**
 * No workload makes set-user-ID or set-group-ID files: not by chmod, nor when creating. openat2
 * carries its mode in memory, beyond seccomp's reach, so it is answered ENOSYS (libc does not
 * use it; callers fall back to openat), except for bvisor's own wasm runner, whose file host
 * uses openat2 with modes it chooses itself.
 */
export function setIdRules(openat2: 'allow' | 'enosys'): Rule[] {
  const rules: Rule[] = [
    noSetId('chmod', 1),
    noSetId('fchmod', 1),
    noSetId('fchmodat', 2),
    noSetId('fchmodat2', 2),
    noSetId('creat', 1),
    noSetId('open', 2, 1),
    noSetId('openat', 3, 2),
    noSetId('mkdir', 1),
    noSetId('mkdirat', 2),
    noSetId('mknod', 1),
    noSetId('mknodat', 2),
  ];
  if (openat2 === 'enosys') rules.push({ syscall: 'openat2', action: 'enosys', why: 'its mode is in memory, where seccomp cannot check it for set-ID bits; libc falls back to openat' });
  return rules;
}

/** O_ACCMODE | O_TRUNC (asm-generic/fcntl.h; the same values on x86_64 and aarch64). */
export const O_ACCMODE_TRUNC = 0o3 | 0o1000;
export const O_TRUNC = 0o1000;

/**
 * Landlock handles truncation from ABI 3 (LANDLOCK_ACCESS_FS_TRUNCATE). Below it, a file the
 * workload holds open for reading outside its grants (stdin: { file }, a passed descriptor, a
 * script's descriptor) can be re-opened by path through /proc/self/fd/N, which lands on the
 * host's mount, not the workload's read-only bind: truncate(2) there needs only the mode bits,
 * and open(O_RDONLY|O_TRUNC) needs only READ_FILE, which a read grant gives. Both are refused.
 * Writing opens need WRITE_FILE, which every ABI handles; ftruncate(2) needs a writable fd.
 */
export function truncateRules(): Rule[] {
  const why = 'landlock below ABI 3 cannot restrict truncation: a file reached through /proc/self/fd could be cut by path';
  return [
    { syscall: 'truncate', action: 'errno', why },
    { syscall: 'open', action: 'errno', when: [{ arg: 1, op: 'eq', mask: O_ACCMODE_TRUNC, value: O_TRUNC }], why: `open(O_RDONLY|O_TRUNC): ${why}` },
    { syscall: 'openat', action: 'errno', when: [{ arg: 2, op: 'eq', mask: O_ACCMODE_TRUNC, value: O_TRUNC }], why: `openat(O_RDONLY|O_TRUNC): ${why}` },
  ];
}

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
/** socket(2)'s protocol for a TCP stream: 0 (the family's default) or IPPROTO_TCP (netinet/in.h). */
export const IPPROTO_TCP = 6;

/**
 * landlock's port rules apply to a socket only if it is TCP by its protocol (IPPROTO_TCP; the
 * kernel's sk_is_tcp): a stream socket of another protocol, MPTCP (262) or SCTP (132), connects
 * and binds to any port past them. So an IP socket's protocol must be 0 or IPPROTO_TCP.
 */
const tcpProtocolOnly: Rule = { syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'in', values: [AF_INET, AF_INET6] }, { arg: 2, op: 'notIn', values: [0, IPPROTO_TCP] }], why: 'network ports: landlock filters only IPPROTO_TCP sockets, so no MPTCP or SCTP stream socket (its ports would be unchecked)' };

/** MSG_FASTOPEN (linux/socket.h): sendto/sendmsg that connect as they send. */
export const MSG_FASTOPEN = 0x20000000;

/**
 * What landlock's port rules do not see, refused in ports mode: a send with MSG_FASTOPEN connects
 * without the connect hook on kernels whose landlock does not follow it (landlock-lsm#41; this
 * machine's 6.18 answers EACCES, older ones may not), so it is refused outright (TCP Fast Open is
 * an opt-in; TCP_FASTOPEN_CONNECT then connect(2) still meets the hook). And with no bind port
 * granted, listen(2): on a socket never bound it binds an ephemeral port, which landlock does not
 * check (landlock-lsm#15), and the host could connect in.
 */
function portsOnlyRules(bindGranted: boolean): Rule[] {
  const why = 'network ports: a TCP Fast Open send connects where landlock\'s connect rule may not look';
  const rules: Rule[] = [
    { syscall: 'sendto', action: 'errno', when: [{ arg: 3, op: 'ne', mask: MSG_FASTOPEN, value: 0 }], why },
    { syscall: 'sendmsg', action: 'errno', when: [{ arg: 2, op: 'ne', mask: MSG_FASTOPEN, value: 0 }], why },
    { syscall: 'sendmmsg', action: 'errno', when: [{ arg: 3, op: 'ne', mask: MSG_FASTOPEN, value: 0 }], why },
  ];
  if (!bindGranted) rules.push({ syscall: 'listen', action: 'errno', why: 'network ports with no bind port: listen would bind an ephemeral port landlock does not check' });
  return rules;
}

/** How a launch answers openat2 (setIdRules): allowed only to bvisor's own wasm runner. One
 * answer for the launch's filter and for the rule count its plan states (features.ts). */
export function openat2Answer(wasmRunner: boolean): 'allow' | 'enosys' {
  return wasmRunner ? 'allow' : 'enosys';
}

/** The policy a launch's filter is compiled from: its clauses, with the deny action and openat2
 * answer the plan chose (the launcher, and a container's seal naming the rows behind denials). */
export function launchPolicy(launch: LaunchInputs): Policy {
  return policyFor(launch, launch.syscalls.deny, launch.syscalls.openat2);
}

export function policyFor(launch: Pick<LaunchInputs, 'spawn' | 'network'> & Partial<Pick<LaunchInputs, 'landlockAbi'>>, deny: Policy['deny'] = 'errno', openat2: 'allow' | 'enosys' = 'enosys'): Policy {
  const rules: Rule[] = [...DEFAULT_DENYLIST, ...setIdRules(openat2)];
  // What landlock below some ABI cannot restrict, seccomp covers (docs/landlock.md). Without an
  // ABI (callers that only count rules) nothing is added.
  const abi = launch.landlockAbi ?? KNOWN_LANDLOCK_ABI;
  if (abi < 3) rules.push(...truncateRules());
  if (launch.spawn === 'deny') {
    for (const s of ['clone', 'clone3', 'fork', 'vfork']) rules.push(d(s, 'spawn: deny (no new processes or threads)'));
  } else {
    // Wherever a process or thread may be made, clone must not make the namespaces unshare
    // may not (unshare is in the default denylist, so: always), or CLONE_NEWUSER would hand
    // back what denying unshare keeps away. The kernel reads only the low 32 bits of clone's
    // flags (kernel/fork.c: lower_32_bits), as the rule does.
    const unshareDenied = rules.some((r) => r.syscall === 'unshare' && !r.when);
    if (unshareDenied) rules.push({ syscall: 'clone', action: 'errno', when: [{ arg: 0, op: 'ne', mask: CLONE_NEW_FLAGS, value: 0 }], why: 'clone with CLONE_NEW* makes the namespaces unshare is denied for' });
    // clone3 passes its flags in memory, where seccomp cannot look, so neither CLONE_NEW* nor a
    // missing CLONE_THREAD could be refused: ENOSYS makes libc fall back to clone (glibc ≥ 2.34
    // does), whose flags are in a register.
    if (unshareDenied || launch.spawn === 'threads') rules.push({ syscall: 'clone3', action: 'enosys', why: `spawn: ${launch.spawn}: clone3 cannot be argument-checked (flags are in memory), so libc falls back to clone` });
    if (launch.spawn === 'threads') {
      rules.push({ syscall: 'clone', action: 'errno', when: [{ arg: 0, op: 'eq', mask: CLONE_THREAD, value: 0 }], why: 'spawn: threads: only clone with CLONE_THREAD' });
      for (const s of ['fork', 'vfork']) rules.push(d(s, 'spawn: threads (no new processes)'));
    }
  }
  if (launch.network.mode === 'deny') {
    rules.push({ syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'notIn', values: [AF_UNIX] }], why: 'network: deny: only AF_UNIX sockets' });
  } else if (launch.network.mode === 'ports') {
    // No network namespace: below ABI 6 the host's abstract unix sockets (X11's
    // @/tmp/.X11-unix/X0, D-Bus…) would be reachable, as landlock scopes them only from ABI 6, so
    // only IP sockets then. socketpair(2) stays allowed: its sockets have no name to reach anything by.
    rules.push(abi < 6
      ? { syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'notIn', values: [AF_INET, AF_INET6] }], why: 'network ports below landlock ABI 6: only IP sockets, since abstract unix sockets of the host cannot be scoped' }
      : { syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'notIn', values: [AF_UNIX, AF_INET, AF_INET6] }], why: 'network ports: only unix and IP sockets' });
    rules.push({ syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'in', values: [AF_INET, AF_INET6] }, { arg: 1, op: 'ne', mask: 0xf, value: SOCK_STREAM }], why: 'network ports: landlock filters TCP only, so no UDP or raw IP' });
    rules.push(tcpProtocolOnly, ...portsOnlyRules(launch.network.bind.length > 0));
  }
  return { deny, rules };
}
