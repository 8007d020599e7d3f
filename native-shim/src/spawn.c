/* Starting a program of ours detached from the caller: the container's monitor (bvmonitor).
 *
 * Node's child_process.spawn forks: the kernel copies the page tables of a 60 MiB process, and
 * each page Node writes afterwards faults once more to undo the sharing. Where page faults are
 * dear (about 12 us each on our CI machines, a paravirtualised guest) that was 10-13 ms of every
 * `bvisor create`. Here the program's process is a CLONE_VM|CLONE_VFORK child, as the launches'
 * are: it shares our memory until its execve, and costs no copy.
 *
 * And it is an orphan from the start: an intermediate child clones it and exits once it has
 * exec'd, so the program is reparented to the nearest child subreaper (an engine's conmon or
 * containerd shim) or to init, which reap it. A long-lived caller (the API) is never left a
 * zombie per container, which libuv would have reaped for a child of its own making. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bvshim.h"
#include "launch.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

extern char **environ;

struct detached {
  const char *path;
  char **argv;
  const int32_t *fds;
  int nfds;
  int *tmp; /* nfds slots, allocated by the parent */
  /* Written by the children into our memory (CLONE_VM): the program's pid, and the errno of the
   * step that kept it from running: ECHILD until the program is about to execve (a signal that
   * kills it before then leaves ECHILD), 0 from then, execve's own errno if that fails. */
  volatile int pid;
  volatile int err;
};

/* The program's stack (the intermediate runs on bv_run_child's, under its lock). */
static char program_stack[32768] __attribute__((aligned(16)));

/* ==== ASYNC-SIGNAL-SAFE REGION (detached spawn: both children) ====
 * CLONE_VM|CLONE_VFORK children of a multithreaded Node process: they share Node's memory on
 * stacks of their own while the calling thread is suspended, and any lock another thread held
 * stays held. Allowed: raw syscalls on the memory prepared above. Forbidden: malloc/free, stdio,
 * locale, any lock. Failure: the failing errno in d->err, then exit. */
static int program_fail(struct detached *d, int e) {
  d->err = e ? e : EIO;
  syscall(SYS_exit_group, 127);
  return 127;
}

static int program_child(void *p) {
  struct detached *d = p;
  /* Blocked by bv_run_child around the clones; no handler of Node's may run here, and an ignored
   * SIGPIPE would survive execve: every disposition to default, then nothing blocked. */
  int e = bv_child_signals_reset();
  if (e) return program_fail(d, e);
  /* Each descriptor to its position. First a copy of each above every position (a source may sit
   * where another goes), close-on-exec; then each copy to its place, which dup3 leaves open
   * across execve. An unused position below 3 gets /dev/null, as Node's "ignore" gave. */
  for (int i = 0; i < d->nfds; i++) {
    d->tmp[i] = -1;
    if (d->fds[i] < 0) continue;
    long t = syscall(SYS_fcntl, d->fds[i], F_DUPFD_CLOEXEC, d->nfds);
    if (t < 0) return program_fail(d, errno);
    d->tmp[i] = (int)t;
  }
  for (int i = 0; i < d->nfds; i++) {
    if (d->tmp[i] >= 0) {
      if (syscall(SYS_dup3, d->tmp[i], i, 0) < 0) return program_fail(d, errno);
    } else if (i <= 2) {
      /* The lowest free descriptor: i itself when the caller had closed it. */
      long n = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
      if (n < 0) return program_fail(d, errno);
      if (n == i) {
        if (syscall(SYS_fcntl, i, F_SETFD, 0) < 0) return program_fail(d, errno);
      } else {
        if (syscall(SYS_dup3, (int)n, i, 0) < 0) return program_fail(d, errno);
        syscall(SYS_close, (int)n);
      }
    } else {
      syscall(SYS_close, i);
    }
  }
  /* Nothing else of ours crosses execve: every descriptor above the positions (the copies,
   * whatever Node or a library opened without O_CLOEXEC) is closed. */
  e = bv_close_from_to((unsigned)d->nfds, ~0U);
  if (e) return program_fail(d, e);
  /* A session of its own (Node's detached: true): no controlling terminal, no signal sent to
   * our process group reaches it. */
  if (syscall(SYS_setsid) < 0) return program_fail(d, errno);
  uint64_t none = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none) < 0) return program_fail(d, errno);
  /* Signals pending since the clone (one sent to our process group) have struck by now. */
  d->err = 0;
  syscall(SYS_execve, d->path, d->argv, environ);
  return program_fail(d, errno);
}

static int orphaning_child(void *p) {
  struct detached *d = p;
  /* SIGCHLD: the program's eventual exit is signalled to whoever adopts it, as for any child. */
  long pid = clone(program_child, program_stack + sizeof program_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, d);
  if (pid < 0) {
    d->err = errno;
    return 0;
  }
  d->pid = (int)pid;
  /* Suspended until the program exec'd or died: if it died, reap it here rather than leave a
   * zombie for whoever adopts it. */
  if (d->err) {
    int st;
    while (syscall(SYS_wait4, (pid_t)pid, &st, __WALL, NULL) < 0 && errno == EINTR) {}
  }
  return 0;
}
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

int bv_spawn_detached(const char *path, const char *args, int args_len, const int32_t *fds, int nfds) {
  if (nfds < 3 || nfds > BV_SPAWN_MAX_FDS || args_len < 1 || args[args_len - 1] != '\0') return -EINVAL;
  /* Ordinary C, before any clone: argv from the NUL-separated arguments (the program's name
   * first), and the children's scratch slots. */
  int argc = 0;
  for (int off = 0; off < args_len; off += (int)strlen(args + off) + 1) argc++;
  if (argc > BV_SPAWN_MAX_ARGS) return -E2BIG;
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  int *tmp = calloc((size_t)nfds, sizeof *tmp);
  if (!argv || !tmp) {
    free(argv);
    free(tmp);
    return -ENOMEM;
  }
  argc = 0;
  for (int off = 0; off < args_len; off += (int)strlen(args + off) + 1) argv[argc++] = (char *)(args + off);
  struct detached d = {.path = path, .argv = argv, .fds = fds, .nfds = nfds, .tmp = tmp, .pid = 0, .err = ECHILD};
  int r = bv_run_child(orphaning_child, &d, 1, NULL);
  free(argv);
  free(tmp);
  if (r < 0) return r;
  if (d.err) return -d.err;
  return d.pid > 0 ? d.pid : -ECHILD;
}

/* ---- The memory holder: our memory freed after our parent has our exit status ----
 * A process's memory is freed by its own exit, before its parent is told: for a Node process of
 * about 55 MiB that is 3 ms here (a parent timing a child's exit_group: 3.3 ms with 50 MiB
 * touched, 11.3 ms with 200 MiB; 0.07 and 0.12 ms with a holder), paid by every command a script
 * waits for. The holder is a process that shares our memory (CLONE_VM, not a thread of ours):
 * when we exit, our last thread only drops a reference, our parent is told at once, and the
 * memory is freed as the holder exits, which it does as soon as our pidfd says we are gone
 * (every thread of ours: pidfd_open(2), "the file descriptor becomes readable when the process
 * terminates"). It holds no descriptor but that pidfd (closed before we go on: a reader waiting
 * for EOF on our output never waits for it), blocks every signal (no handler of Node's may run on
 * our memory in it), runs in no namespace of its own, and makes no system call but these. */
static char holder_stack[8192] __attribute__((aligned(16)));
static volatile int holder_state; /* 0 starting, 1 waiting for us, -errno failed */

/* ==== ASYNC-SIGNAL-SAFE REGION (the memory holder) ====
 * A CLONE_VM child of a multithreaded Node process, on holder_stack, with every signal blocked
 * (bv_exit_holder blocks them around the clone; the child never unblocks). Raw syscalls only. */
static int holder_main(void *p) {
  int pidfd = (int)(intptr_t)p;
  /* Every descriptor but the pidfd: copies of ours (no CLONE_FILES) that would keep our pipes and
   * files open after we exit. errno is not read here: this child runs on the calling thread's TLS. */
  long r = pidfd > 0 ? syscall(SYS_close_range, 0, (unsigned)pidfd - 1, 0) : 0;
  if (r == 0) r = syscall(SYS_close_range, (unsigned)pidfd + 1, ~0U, 0);
  holder_state = r == 0 ? 1 : -EBADF;
  syscall(SYS_futex, &holder_state, FUTEX_WAKE, 1, NULL, NULL, 0);
  /* Until we are gone. EINTR cannot come (nothing is unblocked); a failure ends the wait early,
   * and our memory is then freed by whichever of us exits last, as without a holder. */
  struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
  if (r == 0) syscall(SYS_ppoll, &pfd, 1, NULL, NULL, 0);
  syscall(SYS_exit, 0);
  return 0;
}
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

int bv_exit_holder(void) {
  static int started;
  if (started) return -EALREADY;
  int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (pidfd < 0) return -errno;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  /* exit signal 0: we never wait for it; once we are gone it is reparented (to the nearest child
   * subreaper, or init), which reaps it. */
  long pid = clone(holder_main, holder_stack + sizeof holder_stack, CLONE_VM, (void *)(intptr_t)pidfd);
  int e = pid < 0 ? errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    close(pidfd);
    return -e;
  }
  started = 1;
  while (holder_state == 0) syscall(SYS_futex, &holder_state, FUTEX_WAIT, 0, NULL, NULL, 0);
  close(pidfd);
  return holder_state < 0 ? holder_state : (int)pid;
}
