/* Host probes that need raw syscalls. See bvshim.h for the contract of each function. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bvshim.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#define BV_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)

int bv_shim_abi(void) { return BV_SHIM_ABI; }

#ifdef BV_TEST_BUILD
/* Present only in the test build (make test): a test looks it up to prove the shipped library
 * was compiled without the test-only switches. */
int bv_test_build(void) { return 1; }
/* The process's dumpable flag, for the test that the userns probe leaves it as it found it. */
int bv_test_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
#endif

int bv_landlock_abi(void) {
  long r = syscall(SYS_landlock_create_ruleset, NULL, 0, BV_LANDLOCK_CREATE_RULESET_VERSION);
  return r < 0 ? -errno : (int)r;
}

/* ==== ASYNC-SIGNAL-SAFE REGION (userns probe child) ====
 * A CLONE_VM|CLONE_VFORK child of a multithreaded Node process: it shares Node's memory on a
 * stack of its own, the calling thread is suspended until it exits, and any lock another thread
 * held stays held. Allowed: raw syscalls on the arguments it was given. Forbidden: malloc/free,
 * stdio, locale, any lock. Result: its exit status (0 or the failing errno). */
struct userns_probe_args {
  int uid, gid;
};

static int userns_child(void *p) {
  const struct userns_probe_args *a = p;
  if (a->uid >= 0) {
    /* Order matters: supplementary groups and gid must go while we still have CAP_SETGID. */
    if (syscall(SYS_setgroups, 0, NULL) < 0) return errno & 0xff;
    if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) < 0) return errno & 0xff;
    if (syscall(SYS_setresuid, a->uid, a->uid, a->uid) < 0) return errno & 0xff;
  }
  if (syscall(SYS_unshare, CLONE_NEWUSER) < 0) return errno & 0xff;
  return 0;
}
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

int bv_userns_probe(int uid, int gid) {
  struct userns_probe_args a = {uid, gid};
  /* The unprivileged probe's child takes uid 65534. Sharing our memory, that id change would make
   * the memory dumpable by processes of that uid where fs.suid_dumpable is 1 (the kernel sets
   * the memory's dumpable to the sysctl's value at every id change, commit_creds): a process of
   * uid 65534 could then ptrace the child and write into Node. There, a fork-like child with a
   * copy of our memory, as before. */
  if (uid >= 0 && !bv_vm_child_may_change_ids(bv_suid_dumpable())) {
    /* A raw clone (not fork()) so no pthread_atfork handlers of Node or its libraries run. */
    long pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) return -errno;
    if (pid == 0) syscall(SYS_exit_group, userns_child(&a));
    int status = 0;
    for (;;) {
      long r = syscall(SYS_wait4, pid, &status, __WALL, NULL);
      if (r >= 0) break;
      if (errno != EINTR) return -errno;
    }
    if (!WIFEXITED(status)) return -ECHILD;
    return -WEXITSTATUS(status);
  }
  /* CLONE_VM: the child does not copy Node's page tables (a fork-like clone of a bvisor process
   * cost 0.5-2 ms per probe, twice per host probe). One probe at a time: the stack is shared. */
  static char stack[16384] __attribute__((aligned(16)));
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  /* With fs.suid_dumpable 0 the id change makes the memory non-dumpable, with 2 dumpable by root
   * alone: non-dumpable for the probe either way, then as it was (a launch's 0 stays 0). */
  int dumpable = -1;
  if (uid >= 0) {
    dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (dumpable < 0 || (dumpable != 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)) {
      int e = errno;
      pthread_mutex_unlock(&lock);
      return -e;
    }
  }
  /* No signal handler of Node's may run in the child (it would run on our memory, beside the
   * threads still running): block everything around the clone; the child keeps this mask. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pid = clone(userns_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK, &a);
  int e = pid < 0 ? errno : 0, status = 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  while (pid > 0 && waitpid(pid, &status, __WALL) < 0) {
    if (errno != EINTR) {
      e = errno;
      break;
    }
  }
  /* (PR_SET_DUMPABLE takes 0 or 1: a 2 stays 0, the safer of the two.) */
  if (dumpable == 1) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  pthread_mutex_unlock(&lock);
  if (e) return -e;
  if (!WIFEXITED(status)) return -ECHILD;
  return -WEXITSTATUS(status);
}

int bv_flock(int fd, int op) {
  for (;;) {
    if (flock(fd, op) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}
