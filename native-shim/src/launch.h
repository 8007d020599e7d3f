/* The launch body: how a plan crosses from TypeScript into the C launcher.
 *
 * This header is the source of truth for the layout. src/backends/linux/lower.ts encodes the
 * same layout; bv_body_layout() reports the sizes and offsets below so a test can compare them
 * with the encoder (test/backends/linux/lower.live.test.ts).
 *
 * A body is one length-prefixed, versioned buffer: a fixed header, then sections the header
 * points at (offsets from the start of the body, each inside total_len):
 *   strings  NUL-terminated: hostname (if hostname_len), argv[0..argc), envp[0..envc)
 *   fds      struct bv_fd[nfds]          declared descriptors, renumbered from 3
 *   rlimits  struct bv_rlimit[nrlimits]
 *   bpf      struct sock_filter[bpf_len] seccomp program, installed last (0 = none)
 *   mounts   struct bv_mount[nmounts]    mount steps (0 = none)
 *   cgjoin   int32_t[ncgjoin]            v1 leaves' `tasks` files the child joins (step 1a)
 * Integers are native-endian: a body is built for, and used on, this machine only.
 *
 * Order in the child, and why:
 *   0. block all signals, reset every disposition to default; setsid unless the terminal was
 *      granted
 *                                     Node's handlers and its ignored SIGPIPE were copied into
 *                                     us; a handler running here would write into Node's own
 *                                     signal pipe, and an ignored SIGPIPE would survive exec. A
 *                                     new session has no controlling terminal: /dev/tty is ENXIO
 *   1. wait for the release byte      the parent writes uid/gid maps first; we must never
 *                                     run unmapped
 *   1a. join the v1 cgroup leaves     write "0" (ourselves) to each leaf's `tasks` file, opened
 *                                     for writing by the parent: moving the calling thread
 *                                     skips the kernel's threadgroup lock (cgroup.c,
 *                                     cgroup_procs_write_start), whose RCU grace period made a
 *                                     parent's write of our pid to cgroup.procs cost milliseconds.
 *                                     Before anything else runs; the parent checks membership at
 *                                     READY and withholds the go byte otherwise
 *   1b. drop groups, become the       our ids are still the parent's (host root's, unmapped
 *       mapped id (ns root, or an     here): switch to the mapped ones before anything else, and
 *       OCI process.user)             shed root's supplementary groups, which would still count.
 *                                     With another id than 0 mapped, 0 is not, and the kernel
 *                                     clears no capability at this switch (its root_uid of the
 *                                     namespace is invalid): the setup keeps them until step 10
 *   1c. pdeathsig                     only now: a credential change clears it (then check the
 *                                     parent is still there)
 *   2. mount propagation private      so later mounts never leak to the host (mount ns only)
 *   3. mount steps, in three phases (see enum bv_mount_op):
 *        stage   a private tmpfs becomes / with the host's root at /.old, so host paths are
 *                reachable only as sources, by name, while we build
 *        prepare every source becomes a detached mount (a slot): trees the parent cloned from
 *                the descriptors it opened (rootful), or clones of host paths re-opened here
 *                with no symlink allowed and checked against the (dev, ino) the plan recorded
 *                (rootless); fresh proc/tmpfs instances (proc must be made while a full proc
 *                is still visible: the kernel's mount_too_revealing rule)
 *        pivot   the new root (a tmpfs in host mode, the rootfs in container mode) becomes /,
 *                and the stage with the host under it is detached: from here on no path can
 *                name a host file, so a hostile rootfs symlink can only point inside the root
 *        assemble mount points made without following symlinks, slots moved onto them by fd,
 *                masks, read-only remounts, landlock rules opened in the final tree, cwd
 *                       all need CAP_SYS_ADMIN in our user namespace: before caps go
 *   4. sethostname                    needs CAP_SYS_ADMIN in the uts namespace's owner
 *   5. loopback up                    needs CAP_NET_ADMIN in the new net namespace
 *   5b. console (BV_F_CONSOLE)        the pty comes from the container's own devpts (open
 *                                     /dev/ptmx, unlock, TIOCGPTPEER), so only now, with the
 *                                     mounts in place; the master goes to console_fd by
 *                                     SCM_RIGHTS, then setsid and TIOCSCTTY on the peer, which
 *                                     becomes 0, 1, 2 at step 8. Before 6-7: opening devices
 *                                     under landlock would need rules the workload does not get
 *   5c. resolve the program (exe_path) in the root the workload sees (an exec's: the joined
 *                                     mount namespace), no magic link followed; before landlock,
 *                                     which could refuse the script check's read
 *   6. no_new_privs                   required by landlock and seccomp for the unprivileged;
 *                                     also stops setuid binaries regaining what we drop
 *   7. landlock_restrict_self         after no_new_privs; the ruleset was built by the parent
 *   8. fd table, then close the rest  after everything that might open files, and before
 *                                     RLIMIT_NOFILE, which would stop the moves above it
 *   9. rlimits                        raising a hard limit needs CAP_SYS_RESOURCE: before 10
 *  10. drop capabilities              bounding, ambient, then capset(0): last privileged step
 *  11. ready / go handshake           the parent reads /proc/<pid>/status as evidence and sends
 *                                     the go byte only if it matches the plan. With
 *                                     BV_F_SECCOMP_EARLY, step 12 comes between READY and the
 *                                     go byte: the filter goes on while the parent reads, and
 *                                     the workload still runs nothing before the go byte
 *  12. seccomp                        last, so no setup syscall can be denied by our own filter;
 *                                     with BV_F_SECCOMP_NOTIFY its listener goes to the parent on
 *                                     sync_fd (item 1 if that fails): the parent holds it before
 *                                     the workload's first instruction, and the child's copy is
 *                                     close-on-exec
 *  13. unblock signals, execveat(exe_fd, "", AT_EMPTY_PATH)
 *
 * An exec into a running container (join_fd >= 0) differs at step 1: after the release byte
 * (the parent has moved us into the container's v1 cgroups; CLONE_INTO_CGROUP put us in its v2
 * leaf) we
 *   1x. become non-dumpable            from here on we are in the container's namespaces holding
 *                                      descriptors (until 1y' Node's, then the launch's own until
 *                                      step 8): no process of the container may ptrace us or open
 *                                      /proc/<pid>/fd (again after step 1b, whose id change makes
 *                                      a process dumpable where fs.suid_dumpable is 1)
 *   1y. setns(join_fd, join_ns)        one call through the init's pidfd: the kernel joins the
 *                                      user namespace first, then the others, atomically; root
 *                                      and cwd become the container's
 *   1y'. close what the body does not  the second child is in the container's sight from birth
 *       name (0, 1, 2 stay)            and may be stopped there before step 8 (once it has the
 *                                      container's ids, or from birth by a process with CAP_KILL
 *                                      in the container's user namespace): it must not be born
 *                                      holding Node's other descriptors (bvisor exec's flock on
 *                                      the container's lock among them), only what the launch
 *                                      names (its pipes, ruleset, stdio, console socket)
 *   1z. clone once more (CLONE_PARENT) setns(CLONE_NEWPID) only places our children in the pid
 *                                      namespace: the second child is in it, and is Node's child
 *                                      (CLONE_PARENT), so bvisor can wait for it. We report its
 *                                      pid (a kind 2 record) and exit; it waits for that (our
 *                                      exit closes a pipe) and goes on with step 1b. Doing this
 *                                      here rather than setns(CLONE_NEWPID) on Node's launching
 *                                      thread keeps Node's own namespaces untouched, and works
 *                                      rootless (the kernel wants CAP_SYS_ADMIN in the caller's
 *                                      user namespace too, to set pid_for_children back).
 * and then takes steps 1b, 1c, 3 (LL_RULE and CHDIR steps only), 5b, 5c and 6-13 as above.
 */
#ifndef BV_LAUNCH_H
#define BV_LAUNCH_H

#include <stdint.h>

#define BV_BODY_MAGIC 0x44425642u /* "BVBD" */
#define BV_BODY_VERSION 7u

/* flags */
#define BV_F_NO_NEW_PRIVS   (1u << 0)
#define BV_F_DROP_CAPS      (1u << 1)
#define BV_F_LO_UP          (1u << 2)
#define BV_F_MOUNT_PRIVATE  (1u << 3)
#define BV_F_READY          (1u << 4) /* stop after setup, report READY, wait for a second byte */
#define BV_F_SECCOMP_KILL   (1u << 5) /* informational: the program's default action kills */
#define BV_F_PDEATHSIG      (1u << 6) /* SIGKILL the workload if the launching thread dies */
#define BV_F_TEST_NO_SCRUB  (1u << 7) /* the red twin of the fd scrub (keep every fd: neither step 8
                                       * nor an exec's step 1y' closes any): honoured only
                                       * by the test build (BV_TEST_BUILD), ignored by the shipped one */
#define BV_F_SETSID         (1u << 8) /* start a new session: no controlling terminal */
#define BV_F_SETIDS         (1u << 9) /* after release: become the one mapped id of the new user
                                       * namespace (setresgid/setresuid inside_gid/inside_uid: 0
                                       * unless an OCI process.user says otherwise), i.e. the
                                       * mapped host ids */
#define BV_F_DROP_GROUPS    (1u << 10)/* after release: setgroups(ngroups, groups), by default none:
                                       * the supplementary groups inherited from bvisor (root's)
                                       * must not follow the workload (rootful; the parent left
                                       * setgroups allowed) */
#define BV_F_EXE_INHERIT    (1u << 11)/* the program is a #! script: its fd survives exec, since the
                                       * kernel hands it to the interpreter as /dev/fd/N */
#define BV_F_SECCOMP_NOTIFY (1u << 13)/* denials observed: the filter's deny rows answer USER_NOTIF; install
                                          it with a listener and send that (SCM_RIGHTS) on sync_fd,
                                          which is then a unix socket (notify.h) */
#define BV_F_LANDLOCK_LOG   (1u << 14)/* landlock denials observed: restrict with LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, so
                                       * the kernel audits the workload's denials, not only the
                                       * launcher's own (landlock_restrict_self(2), ABI 7; audit.h) */
#define BV_F_SECCOMP_EARLY  (1u << 15)/* step 11: install the filter (step 12) right after READY, while the
                                       * parent reads the evidence, and read the go byte under it. Only
                                       * for a filter that lets read(2) and, with a listener, sendmsg(2)
                                       * through: bvisor's own, with no OCI profile behind it */
#define BV_F_TEST_STOP_JOINED (1u << 16)/* an exec's second child stops itself (SIGSTOP) as soon as it
                                       * has the container's ids, from when any process of the
                                       * container may stop it (kill(2)): the test of step 1y' reads
                                       * what it holds there. Honoured only by the test build */
#define BV_F_CONSOLE        (1u << 12)/* process.terminal: a pty from the root's /dev/ptmx becomes the
                                       * controlling terminal and 0, 1, 2; its master goes to
                                       * console_fd (SCM_RIGHTS) */

struct bv_body_header {
  uint32_t magic;        /* BV_BODY_MAGIC */
  uint32_t version;      /* BV_BODY_VERSION */
  uint32_t total_len;    /* whole body, header included */
  uint32_t flags;        /* BV_F_* */
  uint64_t clone_flags;  /* CLONE_NEW* for clone3 */
  int32_t exe_fd;        /* O_PATH fd of the program */
  int32_t cgroup_fd;     /* cgroup v2 leaf for CLONE_INTO_CGROUP, or -1 */
  int32_t sync_fd;       /* read end: release (and go) bytes from the parent */
  int32_t fail_fd;       /* write end, CLOEXEC: struct bv_record on failure or ready */
  int32_t landlock_fd;   /* prepared ruleset, or -1 */
  int32_t stdio[3];      /* parent fds that become 0, 1, 2 */
  uint32_t argc;
  uint32_t envc;
  uint32_t nfds;
  uint32_t nrlimits;
  uint32_t strings_off;
  uint32_t strings_len;
  uint32_t fds_off;
  uint32_t rlimits_off;
  uint32_t bpf_off;
  uint32_t bpf_len;      /* in instructions */
  uint32_t mounts_off;
  uint32_t nmounts;
  uint32_t hostname_len; /* 0: leave the hostname alone */
  int32_t sync_peer_fd;  /* the parent's (write) end of the sync pipe: the child closes its copy
                          * first, so the parent closing its own end reads as EOF (never release) */
  uint64_t cap_keep;     /* capabilities the manifest grants (bit n = capability n); all others
                          * leave the bounding, permitted, effective and inheritable sets */
  uint32_t slots_off;    /* int32_t slots[nslots]: detached mounts (fds) the parent prepared, or
                          * -1 for a slot a prepare step fills */
  uint32_t nslots;
  int32_t console_fd;    /* BV_F_CONSOLE: a connected unix socket (the --console-socket), or -1 */
  uint16_t console_rows; /* BV_F_CONSOLE: the window size to set (TIOCSWINSZ); 0 x 0: none */
  uint16_t console_cols;
  int32_t join_fd;       /* exec: pidfd of the container's init, whose namespaces we join; or -1 */
  uint32_t join_ns;      /* exec: the CLONE_NEW* namespaces to join through join_fd */
  uint32_t exe_path;     /* strings offset of the program to resolve in the workload's root (step
                          * 5c; then exe_fd is -1), or BV_NO_STRING: exe_fd is the program */
  int32_t net_fd;        /* a network namespace (an engine's CNI netns, by its nsfs fd) that
                          * bv_spawn's thread enters around clone3, so the child is born in it
                          * and never needs rights over it; -1: none. Not with CLONE_NEWNET */
  uint32_t cgjoin_off;   /* int32_t cgjoin[ncgjoin]: each v1 leaf's `tasks` file, open for
                          * writing (step 1a); 0 = none */
  uint32_t ncgjoin;      /* at most BV_MAX_CGJOIN */
  int32_t ll_marker_fd;  /* BV_F_LANDLOCK_LOG: an O_PATH fd of a directory bvisor made for this run
                          * (its name holds a random token), or -1. Right after restricting, the
                          * child asks landlock to make a block device in it, a right no grant ever
                          * has: the denial is logged (the launcher's own, before exec) and names
                          * the run's domain exactly (audit.h). Closed before exec. */
  uint32_t inside_uid;    /* BV_F_SETIDS: the ids the child becomes in its user namespace: the one */
  uint32_t inside_gid;    /* id the parent mapped (0 unless an OCI process.user says otherwise),
                           * or one of an OCI config's block of ids */
  uint32_t ngroups;       /* BV_F_DROP_GROUPS: the supplementary groups to set instead of none (an
                           * OCI process.user's additionalGids, ids of the block); at most
                           * BV_MAX_GROUPS */
  uint32_t groups_off;    /* uint32_t groups[ngroups] (gid_t), 4-aligned; 0 = none */
  uint32_t groups_pad;
};

struct bv_fd {
  int32_t src;        /* descriptor in the parent */
  int32_t dst;        /* number in the workload (3, 4, …) */
  uint32_t type;      /* expected S_IFMT bits, 0: any */
  int32_t accmode;    /* expected O_ACCMODE, -1: any */
};

struct bv_rlimit {
  uint32_t resource;  /* RLIMIT_* */
  uint32_t pad;
  uint64_t soft;
  uint64_t hard;
};

/* A mount step. source/target/fstype/data are byte offsets into the strings section, or
 * BV_NO_STRING. Steps run in order in the child, before any capability is dropped; the parent
 * orders them stage, prepare, pivot, assemble (launch.c checks the order). */
#define BV_NO_STRING 0xffffffffu
struct bv_mount {
  uint32_t op;        /* enum bv_mount_op */
  uint32_t flags;     /* MOUNT_ATTR_* to set (CLONE, FSMOUNT, SETATTR, BIND_SELF); the landlock
                       * access mask (LL_RULE); the expected kind (MOVE, MKFILE: BV_KIND_*) */
  uint32_t source;
  uint32_t target;
  uint32_t fstype;
  uint32_t data;      /* FSMOUNT: "key=value,key=value" options for fsconfig */
  int32_t slot;       /* slot index (CLONE, FSMOUNT, PIVOT, MOVE), else -1 */
  uint32_t aux;       /* BV_AUX_* */
  uint64_t dev;       /* CLONE, BIND_SELF, LL_RULE: st_dev and st_ino the source or target must
                       * have (both 0: not checked) */
  uint64_t ino;
};

/* Bounds bv_spawn enforces (and lower.ts mirrors, refusing a body beyond them with a reason). */
#define BV_MAX_MOUNTS 65536u
#define BV_MAX_SLOTS 4096u
#define BV_MAX_CGJOIN 16u
#define BV_MAX_GROUPS 64u

#define BV_KIND_DIR 1u
#define BV_KIND_FILE 2u

#define BV_AUX_RECURSIVE 1u  /* SETATTR: the whole tree beneath the target */
#define BV_AUX_OPTIONAL 2u   /* LL_RULE, MASK, BIND_SELF: a missing target (or, for LL_RULE, a
                              * symlink) is skipped, not an error */
#define BV_AUX_SINGLE 4u     /* CLONE: that mount alone (a bind, not an rbind): the kernel refuses
                              * it (EINVAL) where mounts lie beneath, which would be uncovered */

enum bv_mount_op {
  /* stage */
  BV_MOUNT_STAGE = 1,     /* tmpfs on /tmp, pivot into it: / = the stage, /.old = the host root */
  /* prepare (the host is still at /.old) */
  BV_MOUNT_CLONE = 2,     /* slot = open_tree(CLONE, recursive unless BV_AUX_SINGLE) of
                           * /.old<source>, re-opened with no symlink allowed and checked against
                           * dev/ino; flags set recursively */
  BV_MOUNT_FSMOUNT = 3,   /* slot = a new fstype instance (fsopen/fsconfig/fsmount) with flags */
  /* pivot */
  BV_MOUNT_PIVOT = 4,     /* the slot becomes /; the stage and the host under it are detached */
  /* assemble (only the new root is reachable) */
  BV_MOUNT_MKDIR = 5,     /* mkdir -p target, never through a symlink (BV_AUX_OPTIONAL: the
                           * cwd, made as runc makes it: through the root's own symlinks, resolved
                           * in it, no magic link; anything in the way is left for CHDIR) */
  BV_MOUNT_MKFILE = 6,    /* an empty regular file at target (an existing regular file is fine;
                           * anything else, a FIFO included, is an error: never opened for I/O) */
  BV_MOUNT_MOVE = 7,      /* move the slot's mount onto target (of kind flags), by descriptor */
  BV_MOUNT_SYMLINK = 8,   /* symlink(source, target) */
  BV_MOUNT_BIND_SELF = 9, /* clone the tree at target and put it back with flags (read-only...) */
  BV_MOUNT_MASK = 10,     /* hide target: /dev/null over a file, an empty read-only tmpfs over a
                           * directory */
  BV_MOUNT_SETATTR = 11,  /* mount_setattr(target, flags) (aux: recursive) */
  BV_MOUNT_LL_RULE = 12,  /* landlock path_beneath rule on target (opened here), access = flags */
  BV_MOUNT_CHDIR = 13,    /* chdir(target), no magic link followed: the workload's cwd */
};

/* MOUNT_ATTR_* (linux/mount.h), as the steps carry them. */
#define BV_ATTR_RDONLY 0x1u
#define BV_ATTR_NOSUID 0x2u
#define BV_ATTR_NODEV 0x4u
#define BV_ATTR_NOEXEC 0x8u

/* What the child reports on fail_fd. kind 0: failure (then _exit(127)); kind 1: ready; kind 2
 * (exec only): the second child was made, item = its pid (in bvisor's pid namespace). */
struct bv_record {
  int32_t kind;
  int32_t stage;      /* enum bv_stage */
  int32_t err;        /* errno */
  int32_t item;       /* index of the rlimit, fd or mount step; -1 otherwise */
};

/* Failure stages: explicit values, stable, mirrored in TS (STAGES in lower.ts). */
enum bv_stage {
  BV_STAGE_SYNC = 1,          /* reading the release byte */
  BV_STAGE_MOUNT_PRIVATE = 2,
  BV_STAGE_MOUNT = 3,         /* item: step */
  BV_STAGE_HOSTNAME = 4,
  BV_STAGE_LOOPBACK = 5,
  BV_STAGE_RLIMIT = 6,        /* item: rlimit index */
  BV_STAGE_NO_NEW_PRIVS = 7,
  BV_STAGE_LANDLOCK = 8,
  BV_STAGE_FD = 9,            /* item: fd index (-1..-3: stdio 0..2) */
  BV_STAGE_FD_CHECK = 10,     /* item: fd index; err EBADFD: kind or mode differs */
  BV_STAGE_CLOSE = 11,        /* item: -1 the scrub (step 8), -2 an exec's first child (step 1y') */
  BV_STAGE_CAPS = 12,
  BV_STAGE_READY = 13,        /* kind 1 record, or the go byte was missing */
  BV_STAGE_SECCOMP = 14,
  BV_STAGE_EXEC = 15,
  BV_STAGE_SIGNALS = 16,
  BV_STAGE_SETSID = 17,
  BV_STAGE_IDS = 18,          /* item: 0 setgroups, 1 setresgid, 2 setresuid, 3 non-dumpable again */
  BV_STAGE_CONSOLE = 19,      /* item: 0 open /dev/ptmx, 1 unlock, 2 peer, 3 window size,
                               * 4 sendmsg to the console socket, 5 setsid, 6 TIOCSCTTY */
  BV_STAGE_JOIN = 20,         /* item: 0 dumpable, 1 setns, 2 pipe, 3 clone */
  BV_STAGE_RESOLVE = 21,      /* the program named by exe_path: not found (or not a regular file) */
  BV_STAGE_CGROUP = 22,       /* step 1a, item: the cgjoin index */
};

/* Layout self-report: bv_body_layout(out, n) fills up to n int32 values, in this order:
 * version, sizeof header, offsets of every header field in declaration order (37 values),
 * sizeof bv_fd, sizeof bv_rlimit, sizeof bv_mount, sizeof bv_record, sizeof sock_filter.
 * Returns the number of values written. */
int bv_body_layout(int32_t *out, int n);

/* Parent side. Validates the body, clones the child (which blocks on sync_fd), and writes
 * {pid, pidfd} to out. Returns 0 or -errno (-EBADMSG: malformed body). The child runs on a
 * small stack of its own (launch.c, struct bv_child_ctx) with copies of all it reads. */
int bv_spawn(const uint8_t *body, uint32_t len, int32_t *out);

/* bv_spawn, with the child sharing the caller's memory until it execs (CLONE_VM): no copy of a
 * large caller's page tables on every launch. The child only reads data bv_spawn copied for it
 * and writes its own stack; both are freed by a later call once the kernel reports it gone from
 * the caller's memory (CLONE_CHILD_CLEARTID). Falls back to bv_spawn's copy for an exec's body
 * (join_fd), an engine's netns (net_fd) and CLONE_PARENT, and where launch.c has no child stack
 * for the architecture. */
int bv_spawn_vm(const uint8_t *body, uint32_t len, int32_t *out);

/* Runs fn(arg) in a short-lived child that only makes system calls, and waits for it: with share,
 * a CLONE_VM|CLONE_VFORK child on a static stack of ours (no copy of Node's page tables; one at a
 * time), else a fork-like child with a copy of our memory. Every signal is blocked in the child.
 * Returns fn's exit status (0..255), or -errno from clone/wait (-ECHILD: killed by a signal);
 * *pid_out (when given) gets the child's pid. Not for the launch's own child (bv_spawn). */
int bv_run_child(int (*fn)(void *), void *arg, int share, int *pid_out);

/* For a child about to execve: every signal blocked, every disposition back to default (Node's
 * handlers and its ignored SIGPIPE were copied into it). Raw syscalls only; 0 or an errno. */
int bv_child_signals_reset(void);

/* close_range(lo, hi, 0), or one by one up to the soft RLIMIT_NOFILE on kernels before 5.9.
 * Raw syscalls only; 0 or an errno. */
int bv_close_from_to(unsigned lo, unsigned hi);

#endif
