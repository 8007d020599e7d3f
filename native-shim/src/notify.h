/* Seccomp user notification: the supervisor's side of a denied system call.
 *
 * With denials observed, every deny row of the workload's filter answers SECCOMP_RET_USER_NOTIF
 * instead of SECCOMP_RET_ERRNO|EPERM. The kernel then stops the calling thread and hands the
 * call to whoever holds the filter's listener (the fd seccomp(SECCOMP_SET_MODE_FILTER,
 * SECCOMP_FILTER_FLAG_NEW_LISTENER) returned in the child, sent to the parent before exec).
 * The holder answers -EPERM, exactly what the plain filter returns, and records what was
 * attempted. Never weaker than the plain filter (seccomp_unotify(2), seccomp(2)):
 *   - the holder never answers SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the call is never made;
 *   - a filter the workload adds cannot turn the notification into an allow: the kernel takes
 *     the most restrictive action of all filters (KILL > TRAP > ERRNO > USER_NOTIF > TRACE >
 *     LOG > ALLOW), and a second listener in the same chain is refused (EBUSY);
 *   - children (fork, exec) inherit the filter, so their calls reach the same listener;
 *   - a dead holder (the listener closed) makes every notifying call fail with ENOSYS: still
 *     denied (glibc's clone3→clone fallback meets the clone rows, which are denied too).
 *
 * Arguments are read from the caller's memory (process_vm_readv) while it waits, for the report
 * only: the answer never depends on them, so a racing thread that rewrites them (the usual
 * TOCTOU of user notification) can only make the report wrong about a call that was refused
 * anyway. SECCOMP_IOCTL_NOTIF_ID_VALID after the read drops strings of a task that died and
 * whose pid was reused. */
#ifndef BV_NOTIFY_H
#define BV_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#define BV_NOTIFY_STR 256      /* bytes kept of a string argument, NUL included */
#define BV_NOTIFY_MAX_NR 1024  /* syscall numbers the string-argument table covers */

enum bv_notify_kind {
  BV_NOTIFY_DENIED = 1,   /* answered -EPERM (or the deny program's errno, in observe mode) */
  BV_NOTIFY_END = 2,      /* the last record: args[0] total notifications, args[1] records dropped
                           * (beyond max_records or unwritable), args[2] why it ended (0 the
                           * filter has no task left, 1 stopped, else an errno), args[3] 1 when
                           * a listener was held, 0 when none came (args[2]: EPIPE, the sync
                           * socket ended without one; 1, stopped first; else recvmsg's errno) */
  BV_NOTIFY_OBSERVED = 3, /* observe mode (bvisor learn): the deny program allows it, so the call
                           * was let through (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and recorded */
  BV_NOTIFY_COUNT = 4,    /* written at the end for each syscall number denied more often than
                           * recorded: nr, arch, args[0] times denied, args[1] times recorded.
                           * Many calls of one kind cannot hide another kind past the cap */
};

/* Denied calls recorded per syscall number (the rest are counted, see BV_NOTIFY_COUNT). */
#define BV_NOTIFY_PER_NR 8

/* One record, written whole (592 bytes; PIPE_BUF is 4096, so a pipe write never interleaves). */
struct bv_notify_rec {
  uint32_t kind;
  uint32_t pid;              /* the caller, in the holder's pid namespace */
  int32_t nr;                /* syscall number (the filter's arch) */
  uint32_t arch;             /* AUDIT_ARCH_* */
  uint64_t t_ns;             /* CLOCK_MONOTONIC when the notification was received */
  uint64_t args[6];
  uint8_t str_arg[2];        /* which argument each string is (0xff: none); 0x40 | i: argument i
                              * is a sockaddr, its raw bytes kept (length in str_trunc) */
  uint8_t str_trunc[2];      /* 1: longer than BV_NOTIFY_STR - 1, cut (a sockaddr: its length) */
  uint32_t pad;
  char str[2][BV_NOTIFY_STR];
};

struct bv_notifier;

/* Makes a notifier for `listener` (owned from here on). strmask[nr] has bit i set when argument
 * i of syscall nr is a C string to read (at most two per call are read); bit 6: argument 1 is a
 * sockaddr whose length is argument 2 (connect, bind). NULL on ENOMEM. */
struct bv_notifier *bv_notifier_new(int listener, const uint8_t *strmask, int nmask);
/* Receives one notification, reads its strings, answers -EPERM. 1: *rec filled; 0: nothing to
 * report (the caller died first); -errno: the listener failed. */
int bv_notifier_serve(struct bv_notifier *n, struct bv_notify_rec *rec);
int bv_notifier_fd(const struct bv_notifier *n);
/* Counts a served record and says whether to keep it (write it): denied calls up to
 * BV_NOTIFY_PER_NR per syscall number; observed ones always. */
int bv_notifier_keep(struct bv_notifier *n, const struct bv_notify_rec *rec);
/* Writes one BV_NOTIFY_COUNT record per syscall number denied more often than recorded to fd;
 * 0, or the errno of a failed write. */
int bv_notifier_write_counts(const struct bv_notifier *n, int fd);
/* Observe mode (bvisor learn only): the installed filter notifies more than its deny rows, and
 * the answer comes from running `prog` (the plain deny program, classic BPF) over the call's
 * seccomp_data, exactly as the kernel would have: an errno return is the answer, ALLOW lets the
 * call through (CONTINUE: it runs as if no listener existed; registers cannot change meanwhile,
 * and the deny program reads registers only). An instruction it does not know denies (EPERM).
 * 0, or -ENOMEM / -EINVAL. */
int bv_notifier_observe(struct bv_notifier *n, const void *prog, int len);
/* The workload's resolved secret values (count NUL-terminated strings, one after the other): a
 * string or address argument that contains one is replaced by BV_NOTIFY_REDACTED before it is
 * recorded, so a workload echoing a secret into a denied call cannot put it in a report.
 * 0 or -ENOMEM. */
int bv_notifier_secrets(struct bv_notifier *n, const char *values, size_t len, int count);
#define BV_NOTIFY_REDACTED "<redacted: holds a secret value>"
void bv_notifier_free(struct bv_notifier *n);
/* Closes the listener (the filter then answers ENOSYS: still denied), keeping the counts. */
void bv_notifier_close(struct bv_notifier *n);

/* CLOCK_MONOTONIC in milliseconds: the deadlines' clock (the backstop, the audit barrier, the
 * monitor's wall). */
int64_t bv_mono_ms(void);

#ifndef BV_MONITOR
/* Starts fn(arg) on a detached thread with every signal blocked (signals stay with Node's
 * threads): the shim's holder and landlock's audit reader. 0, or -errno and nothing started. */
int bv_detached_thread(void *(*fn)(void *), void *arg, size_t stack);
#endif

/* Receives a descriptor sent with SCM_RIGHTS on a unix socket (MSG_DONTWAIT): the fd (made
 * close-on-exec), -EAGAIN when none is queued, -errno otherwise. */
int bv_recv_fd(int sock);

#endif
