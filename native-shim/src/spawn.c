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

extern char **environ;

struct detached {
  const char *path;
  char **argv;
  char **envp;
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
  syscall(SYS_execve, d->path, d->argv, d->envp);
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
  /* An empty environment: the program (the monitor) needs none, and its caller's (a `bvisor
   * create` given BVISOR_SECRET_* to pass on, whatever else its shell exported) would otherwise
   * sit in /proc/<pid>/environ for the container's whole life, and in its workload's until exec
   * (found by attack). The test build lets the monitor's red-twin switches through. */
  char *envp[2] = {NULL, NULL};
#ifdef BV_TEST_BUILD
  for (char **e = environ; e && *e; e++)
    if (!strncmp(*e, "BV_TEST_MONITOR=", 16)) envp[0] = *e;
#endif
  struct detached d = {.path = path, .argv = argv, .envp = envp, .fds = fds, .nfds = nfds, .tmp = tmp, .pid = 0, .err = ECHILD};
  int r = bv_run_child(orphaning_child, &d, 1, NULL);
  free(argv);
  free(tmp);
  if (r < 0) return r;
  if (d.err) return -d.err;
  return d.pid > 0 ? d.pid : -ECHILD;
}
