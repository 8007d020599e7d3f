// seccomp policy as data: which syscalls a Linux workload may not make, and why. The policy is
// derived from the plan (spawn and network clauses) plus the default denylist every workload
// gets. compile.ts turns it into BPF; the tests run that BPF in an interpreter over tables.
import type { LaunchInputs } from '../../contract/generated/types.js';

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
  d('unshare', 'a new user namespace hands back capabilities and kernel attack surface'),
  d('setns', 'could join namespaces outside the boundary'),
  d('ptrace', 'inspects and controls other processes'),
  d('process_vm_readv', 'reads other processes’ memory'),
  d('process_vm_writev', 'writes other processes’ memory'),
  d('keyctl', 'the kernel keyring is not namespaced'),
  d('add_key', 'the kernel keyring is not namespaced'),
  d('request_key', 'the kernel keyring is not namespaced'),
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
  d('io_uring_setup', 'io_uring runs operations that seccomp never sees'),
  d('io_uring_enter', 'io_uring runs operations that seccomp never sees'),
  d('io_uring_register', 'io_uring runs operations that seccomp never sees'),
  d('syslog', 'the kernel log leaks kernel addresses'),
  d('lookup_dcookie', 'kernel profiling interface'),
  d('uselib', 'obsolete loader entry point'),
  d('vhangup', 'acts on the controlling terminal'),
  d('kcmp', 'compares kernel objects of other processes'),
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
  },
];

export const CLONE_THREAD = 0x00010000;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;

export function policyFor(launch: Pick<LaunchInputs, 'spawn' | 'network'>, deny: Policy['deny'] = 'errno'): Policy {
  const rules: Rule[] = [...DEFAULT_DENYLIST];
  if (launch.spawn === 'deny') {
    for (const s of ['clone', 'clone3', 'fork', 'vfork']) rules.push(d(s, 'spawn: deny (no new processes or threads)'));
  } else if (launch.spawn === 'threads') {
    rules.push({ syscall: 'clone3', action: 'enosys', why: 'spawn: threads: clone3 cannot be argument-checked (flags are in memory), so libc falls back to clone' });
    rules.push({ syscall: 'clone', action: 'errno', when: [{ arg: 0, op: 'eq', mask: CLONE_THREAD, value: 0 }], why: 'spawn: threads: only clone with CLONE_THREAD' });
    for (const s of ['fork', 'vfork']) rules.push(d(s, 'spawn: threads (no new processes)'));
  }
  if (launch.network.mode === 'deny') {
    rules.push({ syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'notIn', values: [AF_UNIX] }], why: 'network: deny: only AF_UNIX sockets' });
  } else if (launch.network.mode === 'ports') {
    rules.push({ syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'notIn', values: [AF_UNIX, AF_INET, AF_INET6] }], why: 'network ports: only unix and IP sockets' });
    rules.push({ syscall: 'socket', action: 'errno', when: [{ arg: 0, op: 'in', values: [AF_INET, AF_INET6] }, { arg: 1, op: 'ne', mask: 0xf, value: SOCK_STREAM }], why: 'network ports: landlock filters TCP only, so no UDP or raw IP' });
  }
  return { deny, rules };
}
