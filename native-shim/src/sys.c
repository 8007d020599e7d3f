/* Small syscall wrappers the TypeScript side needs and Node does not expose. Each returns a
 * value >= 0 or -errno; none prints or aborts. */
#define _GNU_SOURCE
#include <dirent.h>
#include "cpuclock.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bvshim.h"
#include "notify.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif

int bv_pipe(int32_t *fds, int cloexec_read, int cloexec_write) {
  int p[2];
  /* Close-on-exec from birth, then cleared where asked: another thread's fork and exec in
   * between must not carry our pipes into its program. */
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  if ((!cloexec_read && fcntl(p[0], F_SETFD, 0) < 0) || (!cloexec_write && fcntl(p[1], F_SETFD, 0) < 0)) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return -e;
  }
  fds[0] = p[0];
  fds[1] = p[1];
  return 0;
}

int bv_open(const char *path, int flags, int mode) {
  int fd = open(path, flags | O_CLOEXEC, mode);
  return fd < 0 ? -errno : fd;
}

int bv_close(int fd) { return close(fd) < 0 ? -errno : 0; }

int bv_set_cloexec(int fd, int on) {
  int f = fcntl(fd, F_GETFD);
  if (f < 0) return -errno;
  f = on ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC);
  return fcntl(fd, F_SETFD, f) < 0 ? -errno : 0;
}

/* out: {S_IFMT bits, O_ACCMODE, FD_CLOEXEC} */
int bv_fd_info(int fd, int32_t *out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  int fl = fcntl(fd, F_GETFL);
  int fdf = fcntl(fd, F_GETFD);
  if (fl < 0 || fdf < 0) return -errno;
  out[0] = (int32_t)(st.st_mode & S_IFMT);
  out[1] = fl & O_ACCMODE;
  out[2] = (fdf & FD_CLOEXEC) ? 1 : 0;
  return 0;
}

/* Reaps the process behind pidfd. With nohang, returns 0 at once if it is still running (the
 * TS side calls this on SIGCHLD, so no thread ever blocks); otherwise 1 when reaped.
 * out: {si_code, si_status, utime_us, stime_us, maxrss_kb, charged_us} as int64; charged_us is
 * the CPU time the kernel charged it (cpuclock.h), read before it is reaped, or -1. */
int bv_wait(int pidfd, int64_t *out, int nohang) {
  siginfo_t info;
  struct rusage ru;
  for (;;) {
    memset(&info, 0, sizeof info);
    if (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED | WNOWAIT | (nohang ? WNOHANG : 0), NULL) == 0) break;
    if (errno != EINTR) return -errno;
  }
  if (info.si_pid == 0) return 0; /* WNOHANG: still running */
  /* Seen ended, not yet reaped: its charged CPU time can still be read. Then the reap, which
   * cannot wait: the process has ended. */
  const int64_t charged = bv_charged_us(info.si_pid);
  for (;;) {
    memset(&info, 0, sizeof info);
    memset(&ru, 0, sizeof ru);
    if (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED, &ru) == 0) break;
    if (errno != EINTR) return -errno;
  }
  out[0] = info.si_code;
  out[1] = info.si_status;
  out[2] = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  out[3] = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  out[4] = ru.ru_maxrss;
  out[5] = charged;
  return 1;
}

int bv_pidfd_signal(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/* The terminal's stop signals, for a supervisor whose workload may reach its process group through
 * the terminal (it shares bvisor's session: stdin is the caller's terminal). With job control a
 * workload can stop that group without kill(2): it makes another group the terminal's foreground
 * (tcsetpgrp), then a process it left in bvisor's group reads the terminal, and the kernel sends
 * SIGTTIN to the whole group (drivers/tty/tty_jobctrl.c); a stopped supervisor enforces no
 * deadline. While at least one hold is on, each of SIGTSTP, SIGTTIN, SIGTTOU whose action was the
 * default (stop) when a hold began is ignored; the last release gives the default back to each of
 * those still ignored (one handled since is the process's own). A signal the process
 * handles is left alone: a handled signal stops nothing. The count is the process's, not a
 * JavaScript realm's (worker threads load this library once), under a lock; another thread
 * calling sigaction meanwhile (libuv, as a listener comes or goes) is not serialised by it. An
 * ignored SIGTTOU also lets the supervisor's own writes reach a terminal whose tostop is set, as
 * GNU timeout does. The launcher's child resets every action before exec
 * (bv_child_signals_reset), so the workload never inherits these.
 * hold=1 takes a hold, hold=0 releases one: 0, or -errno (a failed hold takes nothing; a failed
 * release still tries every signal). */
static const int job_sigs[3] = {SIGTSTP, SIGTTIN, SIGTTOU};
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static int job_holds, job_mask;

static int job_set(int i, void (*action)(int)) {
  struct sigaction next;
  memset(&next, 0, sizeof next);
  next.sa_handler = action;
  sigemptyset(&next.sa_mask);
  return sigaction(job_sigs[i], &next, NULL) < 0 ? -errno : 0;
}

/* Gives the default back to the signals in mask that are still ignored; the first error, or 0. */
static int job_restore(int mask) {
  int rc = 0;
  for (int i = 0; i < 3; i++) {
    struct sigaction cur;
    if (!(mask & (1 << i))) continue;
    int e = sigaction(job_sigs[i], NULL, &cur) < 0 ? -errno : cur.sa_handler == SIG_IGN ? job_set(i, SIG_DFL) : 0;
    if (e && !rc) rc = e;
  }
  return rc;
}

/* A workload given the caller's terminal (stdin, stdout or stderr inherited, a handed descriptor,
 * /dev/tty) can stop its output, with IXON cleared so no key resumes it: nothing then written
 * there returns, bvisor's own last words and the caller's shell after it. Once none of the
 * workload's processes is left, the launcher resumes it (host/terminal.ts); bvisor run, dying by a
 * signal, also puts back the modes it found (Node's own reset at exit is skipped then). termios(3).
 * Each call runs with SIGTTOU blocked in this thread: from a background process group the kernel
 * then lets it through instead of signalling the group (tty_check_change counts a blocked signal
 * as ignored), where a handled SIGTTOU would make it restart for ever. */
static int ttou_blocked(sigset_t *old) {
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  return -pthread_sigmask(SIG_BLOCK, &ttou, old);
}

/* TCOON restarts only a stop that TCOOFF made (the kernel's flow.tco_stopped), not one a
 * received STOP character made (n_tty with IXON): TCOOFF first makes either kind TCOOFF's. */
int bv_tty_resume(int fd) {
  sigset_t old;
  int rc = ttou_blocked(&old);
  if (rc) return rc;
  if (tcflow(fd, TCOOFF) < 0 || tcflow(fd, TCOON) < 0) rc = -errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int bv_termios_size(void) { return (int)sizeof(struct termios); }
int bv_tty_get(int fd, void *termios) { return tcgetattr(fd, (struct termios *)termios) < 0 ? -errno : 0; }
/* TCSANOW: TCSADRAIN would wait for output a stopped terminal never sends. */
int bv_tty_set(int fd, const void *termios) {
  sigset_t old;
  int rc = ttou_blocked(&old);
  if (rc) return rc;
  if (tcsetattr(fd, TCSANOW, (const struct termios *)termios) < 0) rc = -errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}
/* The terminal's foreground process group (tcgetpgrp(3)), and setting it back (tcsetpgrp(3):
 * from a background group, with SIGTTOU blocked as above). */
int bv_tty_pgrp(int fd) {
  pid_t p = tcgetpgrp(fd);
  return p < 0 ? -errno : (int)p;
}
int bv_tty_set_pgrp(int fd, int pgrp) {
  sigset_t old;
  int rc = ttou_blocked(&old);
  if (rc) return rc;
  if (tcsetpgrp(fd, (pid_t)pgrp) < 0) rc = -errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}
int bv_dup(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return d < 0 ? -errno : d;
}

/* An unnamed file in memory holding len bytes, sealed (no write, no resize, no new seal), as a
 * read-write descriptor of ours (close-on-exec) for the caller to re-open read-only. memfd_create
 * needs no mounted tmpfs: the kernel's own shmem mount has it. A short write is retried; any
 * failure closes the file and returns -errno. */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
int bv_memfd_sealed(const char *name, const void *bytes, size_t len) {
  /* Not executable, and sealed so (Linux 6.3+, memfd_create(2)); where vm.memfd_noexec=2 a memfd
   * without it is refused (EACCES). Kernels before 6.3 reject the flag (EINVAL): made without. */
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  const char *p = bytes;
  for (size_t at = 0; at < len;) {
    ssize_t n = pwrite(fd, p + at, len - at, (off_t)at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return -e;
    }
    at += (size_t)n;
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int bv_job_stops(int hold) {
  pthread_mutex_lock(&job_lock);
  int rc = 0;
  if (hold) {
    /* Every hold looks again: a signal given its default back during a hold (a listener removed,
     * libuv then restores SIG_DFL) is ignored again from the next one. */
    int set = 0;
    for (int i = 0; i < 3 && !rc; i++) {
      struct sigaction cur;
      if (sigaction(job_sigs[i], NULL, &cur) < 0) rc = -errno;
      else if (cur.sa_handler == SIG_DFL && !(rc = job_set(i, SIG_IGN))) set |= 1 << i;
    }
    if (rc) job_restore(set); /* nothing half-held */
    else {
      job_mask |= set;
      job_holds++;
    }
  }
  if (!hold && job_holds > 0 && --job_holds == 0) {
    rc = job_restore(job_mask);
    job_mask = 0;
  }
  pthread_mutex_unlock(&job_lock);
  return rc;
}

/* The wall deadline's backstop. The deadline of bvisor run and of the API is a timer of Node's
 * event loop: a loop held up would hold the kill with it, and the workload would run on past its
 * wall. A workload can hold it up: given the terminal, it stops the terminal's output
 * (tcflow(TCOOFF), with IXON off so no key resumes it), and bvisor's next message there (its
 * answer to a Ctrl-Z) is a write(2) that does not return; a host program's own synchronous work
 * does the same to the API. This thread kills the workload at the deadline whatever the loop is
 * doing: cgroup.kill (kill_fd: a v2 leaf's, or -1), then SIGKILL to its first process (pidfd: in a
 * pid namespace the kernel then kills the rest).
 * It is made before the workload runs (a thread that cannot be made fails the launch, not a run
 * under way) and returns the caller's end of a SOCK_SEQPACKET pair (non-blocking, close-on-exec),
 * its channel:
 *   caller -> thread: one int64, the deadline in ms from now: the countdown starts (once);
 *   thread -> caller: one int64, the CLOCK_MONOTONIC ms at which it fired, sent before its kill:
 *                     the caller reads it to know the kill was the deadline's (and when);
 *   the caller's end closed: the run has ended (or never began); the thread returns, killing
 *                     nothing. So it does once the workload's first process has exited on its
 *                     own (its pidfd readable): a kill by another (the OOM killer, a caller) is
 *                     never claimed as the deadline's.
 * The thread keeps duplicates of pidfd and kill_fd: a pidfd never names another process, and a
 * removed leaf's cgroup.kill refuses writes, so a late kill reaches nothing else. -errno on
 * failure (nothing made). */
struct deadline {
  int pidfd, kill_fd, sock, proc_fd;
};

/* Reads the file `prefix``file` beneath dir_fd into buf (NUL-terminated): its length, 0 when the
 * task is gone (ENOENT, ESRCH), -1 on another failure. */
static ssize_t task_file(int dir_fd, const char *prefix, const char *file, char *buf, size_t size) {
  char name[300];
  snprintf(name, sizeof name, "%s%s", prefix, file);
  int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ESRCH || errno == ENOENT ? 0 : -1;
  ssize_t n = read(fd, buf, size - 1);
  int e = errno;
  close(fd);
  if (n < 0) return e == ESRCH ? 0 : -1;
  buf[n] = 0;
  return n;
}

/* Whether the task whose files are `prefix`stat and `prefix`status beneath dir_fd is ending: gone,
 * a zombie or dead, in its exit already (PF_EXITING in field 9 of its stat, proc(5)), or with
 * SIGKILL pending (0x100 in SigPnd or ShdPnd of its status: a group's fatal signal is queued to
 * every thread before any of them runs it, one in an uninterruptible sleep perhaps for long).
 * Unknown (unreadable) is "no". */
static int task_ending(int dir_fd, const char *prefix) {
  char buf[2048];
  ssize_t n = task_file(dir_fd, prefix, "stat", buf, sizeof buf);
  if (n == 0) return 1;
  if (n < 0) return 0;
  char *p = strrchr(buf, ')');
  if (!p || !p[1] || !p[2]) return 0;
  if (p[2] == 'Z' || p[2] == 'X') return 1;
  /* after ") ": state ppid pgrp session tty_nr tpgid flags */
  char *save = NULL, *tok = strtok_r(p + 1, " ", &save);
  for (int field = 0; tok && field < 6; field++) tok = strtok_r(NULL, " ", &save);
  if (tok && (strtoul(tok, NULL, 10) & 0x4UL) != 0) return 1; /* PF_EXITING, include/linux/sched.h */
  n = task_file(dir_fd, prefix, "status", buf, sizeof buf);
  if (n == 0) return 1;
  if (n < 0) return 0;
  for (const char *key = "SigPnd:", *k2 = "ShdPnd:"; key; key = k2, k2 = NULL) {
    char *at = strstr(buf, key);
    if (at && (strtoull(at + strlen(key), NULL, 16) & 0x100ULL)) return 1; /* SIGKILL: 1 << (9 - 1) */
  }
  return 0;
}

/* Whether the process /proc/<pid> (proc_fd) is ending already, or gone: a first process killed by
 * another (the OOM killer, a caller) stays unreaped and its pidfd unreadable while its namespace
 * is torn down. Its leader ending is not enough: one that ended by exit(2) alone, not exit_group,
 * is a zombie while the group's other threads run on (an attack in December hid the deadline's
 * kill that way), so every thread of the group must be ending. Unknown is "no". */
static int exiting(int proc_fd) {
  if (!task_ending(proc_fd, "")) return 0;
  int task_fd = openat(proc_fd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (task_fd < 0) return errno == ESRCH || errno == ENOENT;
  DIR *d = fdopendir(task_fd);
  if (!d) {
    close(task_fd);
    return 0;
  }
  int all = 1;
  struct dirent *e;
  char prefix[300];
  while (all && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(prefix, sizeof prefix, "%s/", e->d_name);
    all = task_ending(dirfd(d), prefix);
  }
  closedir(d);
  return all;
}

static void *deadline_main(void *arg) {
  struct deadline *d = arg;
  int64_t ms;
  ssize_t n;
  do n = recv(d->sock, &ms, sizeof ms, 0);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof ms && ms >= 0) {
    int64_t end = bv_mono_ms() + ms;
    /* Whether the first process is still there: once it has exited on its own (its pidfd
     * readable), the end is not the deadline's to claim, but a leaf's other members (no pid
     * namespace: descendants outlive it) are still killed at the deadline. */
    int first = 1;
    for (;;) {
      struct pollfd p[2] = {{d->sock, POLLIN, 0}, {d->pidfd, POLLIN, 0}};
      int64_t left = end - bv_mono_ms();
      int r = poll(p, first ? 2 : 1, left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left);
      if (r > 0 && p[0].revents) break; /* the caller's end closed: the run has ended */
      if (r > 0) {
        first = 0;
        if (d->kill_fd < 0) break; /* nothing else to kill */
        continue;
      }
      if (r == 0 && left <= 0) {
        if (first && !exiting(d->proc_fd)) {
          int64_t now = bv_mono_ms();
          (void)!send(d->sock, &now, sizeof now, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (d->kill_fd >= 0) (void)!write(d->kill_fd, "1", 1);
        syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0);
        break;
      }
      if (r < 0 && errno != EINTR) {
        /* Never give the deadline up: wait a little and look again. */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
    }
  }
  close(d->pidfd);
  if (d->kill_fd >= 0) close(d->kill_fd);
  if (d->proc_fd >= 0) close(d->proc_fd);
  close(d->sock);
  free(d);
  return NULL;
}

int bv_deadline_thread(int pid, int pidfd, int kill_fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  struct deadline *d = calloc(1, sizeof *d);
  int e = d ? 0 : -ENOMEM;
  if (d) {
    d->pidfd = d->kill_fd = d->proc_fd = -1;
    d->sock = sv[1];
    /* /proc/<pid> opened while the child waits for its go byte: that very process's, whatever
     * its number names later. */
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", pid);
    d->proc_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d->proc_fd < 0) e = -errno;
    if (!e) {
      d->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
      d->kill_fd = kill_fd >= 0 ? fcntl(kill_fd, F_DUPFD_CLOEXEC, 3) : -1;
      if (d->pidfd < 0 || (kill_fd >= 0 && d->kill_fd < 0)) e = -errno;
    }
    int fl = e ? 0 : fcntl(sv[0], F_GETFL);
    if (!e && (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0)) e = -errno;
    if (!e) e = bv_detached_thread(deadline_main, d, 32 * 1024);
  }
  if (e) {
    if (d) {
      if (d->pidfd >= 0) close(d->pidfd);
      if (d->kill_fd >= 0) close(d->kill_fd);
      if (d->proc_fd >= 0) close(d->proc_fd);
      free(d);
    }
    close(sv[0]);
    close(sv[1]);
    return e;
  }
  return sv[0];
}

int bv_pidfd_open(int pid) {
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -errno : (int)fd;
}

/* Release and go bytes for the child. */
int bv_write_byte(int fd) {
  char b = 'x';
  for (;;) {
    ssize_t w = write(fd, &b, 1);
    if (w == 1) return 0;
    if (w < 0 && errno == EINTR) continue;
    return w < 0 ? -errno : -EIO;
  }
}

/* Reads one struct bv_record (16 bytes) or EOF. Returns bytes read (0 = EOF: exec succeeded or
 * the child died), or -errno. Blocking: called on a koffi worker thread. */
int bv_read_record(int fd, int32_t *rec) {
  char *p = (char *)rec;
  size_t got = 0;
  while (got < 16) {
    ssize_t r = read(fd, p + got, 16 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (int)got;
}

/* landlock: create a ruleset handling the given rights (fs, net, scope). */
struct bv_ll_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

int bv_landlock_create(uint64_t fs, uint64_t net, uint64_t scoped, int abi) {
  struct bv_ll_attr a = {fs, net, scoped};
  /* The attr struct grew with the ABI; pass only the size this kernel knows. */
  size_t size = abi >= 6 ? sizeof a : abi >= 4 ? 16 : 8;
  long fd = syscall(SYS_landlock_create_ruleset, &a, size, 0);
  return fd < 0 ? -errno : (int)fd;
}

int bv_landlock_add_path(int ruleset, int parent_fd, uint64_t allowed) {
  struct __attribute__((packed)) {
    uint64_t allowed_access;
    int32_t parent_fd;
  } pb = {allowed, parent_fd};
  return syscall(SYS_landlock_add_rule, ruleset, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0) < 0 ? -errno : 0;
}

int bv_landlock_add_port(int ruleset, uint64_t port, uint64_t allowed) {
  struct {
    uint64_t allowed_access;
    uint64_t port;
  } np = {allowed, port};
  return syscall(SYS_landlock_add_rule, ruleset, 2 /* LANDLOCK_RULE_NET_PORT */, &np, 0) < 0 ? -errno : 0;
}

int bv_mkfifo(const char *path, int mode) { return mkfifo(path, (mode_t)mode) < 0 ? -errno : 0; }

/* Space held for a later write (bvisor's reservations): fallocate(2) mode 0 gives the file `len`
 * bytes of real blocks at once (reading as zeros), with no data to write and nothing to fsync for
 * the blocks to exist. -EOPNOTSUPP where the file system has no fallocate. */
int bv_fallocate(int fd, int64_t len) { return fallocate(fd, 0, 0, (off_t)len) < 0 ? -errno : 0; }

/* ---- the wasm runner's file host: every path is resolved by the kernel beneath a pinned fd ---- */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct bv_open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};

/* RESOLVE_BENEATH and RESOLVE_IN_ROOT (include/uapi/linux/openat2.h). */
#define BV_RESOLVE_SCOPED (0x08 | 0x10)
/* How often a scoped openat2 answered EAGAIN is tried again: each answer means a rename or a mount
 * happened somewhere on the system while ".." was resolved, so at most this many in a row. */
#define BV_OPENAT2_TRIES 64

/* openat2(dirfd, path, {flags, mode, resolve}). With RESOLVE_BENEATH or RESOLVE_IN_ROOT, a ".."
 * resolved while any rename or mount happens anywhere on the system fails with EAGAIN, which
 * openat2(2) leaves to the caller to retry ("The caller may choose to retry the openat2() call"):
 * retried here, for every caller, so a busy host is not a refused bundle or a guest's failed
 * path_open. Bounded: a host renaming without pause still gets its EAGAIN. */
int bv_openat2(int dirfd, const char *path, int flags, int mode, int resolve) {
  struct bv_open_how how = {(uint64_t)(unsigned)(flags | O_CLOEXEC), (uint64_t)(unsigned)mode, (uint64_t)(unsigned)resolve};
  long fd;
  int tries = 0;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN && (resolve & BV_RESOLVE_SCOPED) && ++tries < BV_OPENAT2_TRIES);
  return fd < 0 ? -errno : (int)fd;
}

/* out: {mode, size, ino, dev, nlink, atime_ns, mtime_ns, ctime_ns} */
int bv_fstat(int fd, int64_t *out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  out[0] = st.st_mode;
  out[1] = st.st_size;
  out[2] = (int64_t)st.st_ino;
  out[3] = (int64_t)st.st_dev;
  out[4] = (int64_t)st.st_nlink;
  out[5] = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
  out[6] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  out[7] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  return 0;
}

int bv_getdents(int fd, void *buf, int len) {
  long n = syscall(SYS_getdents64, fd, buf, len);
  return n < 0 ? -errno : (int)n;
}

int64_t bv_lseek(int fd, int64_t off, int whence) {
  off_t r = lseek(fd, (off_t)off, whence);
  return r < 0 ? -errno : (int64_t)r;
}

int bv_mkdirat(int dirfd, const char *name, int mode) { return mkdirat(dirfd, name, (mode_t)mode) < 0 ? -errno : 0; }
int bv_unlinkat(int dirfd, const char *name, int flags) { return unlinkat(dirfd, name, flags) < 0 ? -errno : 0; }
int bv_symlinkat(const char *target, int dirfd, const char *name) { return symlinkat(target, dirfd, name) < 0 ? -errno : 0; }
int bv_readlinkat(int dirfd, const char *name, void *buf, int len) {
  ssize_t n = readlinkat(dirfd, name, buf, (size_t)len);
  return n < 0 ? -errno : (int)n;
}
int bv_renameat(int olddir, const char *oldname, int newdir, const char *newname) { return renameat(olddir, oldname, newdir, newname) < 0 ? -errno : 0; }
int bv_linkat(int olddir, const char *oldname, int newdir, const char *newname) { return linkat(olddir, oldname, newdir, newname, 0) < 0 ? -errno : 0; }
/* rename(2) that never replaces: -EEXIST if newname exists (RENAME_NOREPLACE, Linux 3.15), so a
 * directory filled under a private name takes a public one only if nobody holds it. -EINVAL where
 * the file system has no such rename. The flag's value is the uapi's (linux/fs.h). */
int bv_rename_noreplace(const char *oldpath, const char *newpath) {
  return syscall(SYS_renameat2, AT_FDCWD, oldpath, AT_FDCWD, newpath, 1u /* RENAME_NOREPLACE */) < 0 ? -errno : 0;
}

/* connect(2) to a unix stream socket by path (--console-socket): a close-on-exec descriptor, or
 * -errno (-ENAMETOOLONG: the path does not fit sun_path). */
int bv_unix_connect(const char *path, int timeout_ms) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sa.sun_path) return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, n);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  /* A listener whose backlog is full holds a blocking connect(2) until it accepts, for ever if it
   * never does; the send timeout bounds that wait (unix(7): EAGAIN) and every later send on the
   * socket (the pty master). */
  struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int rc;
  do rc = connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1));
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}
