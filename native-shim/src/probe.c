/* Host probes that need raw syscalls. See bvshim.h for the contract of each function. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
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
#endif

int bv_landlock_abi(void) {
  long r = syscall(SYS_landlock_create_ruleset, NULL, 0, BV_LANDLOCK_CREATE_RULESET_VERSION);
  return r < 0 ? -errno : (int)r;
}

/* ==== ASYNC-SIGNAL-SAFE REGION (userns probe child) ====
 * Runs in a raw clone() child of a multithreaded Node process: only the calling thread exists
 * there, and any lock another thread held stays held for ever. Allowed: raw syscalls. Forbidden:
 * malloc/free, stdio, locale, any lock. Result: the exit status (0 or the failing errno). */
static void userns_child(int uid, int gid) {
  if (uid >= 0) {
    /* Order matters: supplementary groups and gid must go while we still have CAP_SETGID. */
    if (syscall(SYS_setgroups, 0, NULL) < 0) syscall(SYS_exit_group, errno & 0xff);
    if (syscall(SYS_setresgid, gid, gid, gid) < 0) syscall(SYS_exit_group, errno & 0xff);
    if (syscall(SYS_setresuid, uid, uid, uid) < 0) syscall(SYS_exit_group, errno & 0xff);
  }
  if (syscall(SYS_unshare, CLONE_NEWUSER) < 0) syscall(SYS_exit_group, errno & 0xff);
  syscall(SYS_exit_group, 0);
}
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

int bv_userns_probe(int uid, int gid) {
  /* A raw clone (not fork()) so no pthread_atfork handlers of Node or its libraries run. */
  long pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) return -errno;
  if (pid == 0) userns_child(uid, gid);
  int status = 0;
  for (;;) {
    long r = syscall(SYS_wait4, pid, &status, __WALL, NULL);
    if (r >= 0) break;
    if (errno != EINTR) return -errno;
  }
  if (!WIFEXITED(status)) return -ECHILD;
  return -WEXITSTATUS(status);
}

int bv_flock(int fd, int op) {
  for (;;) {
    if (flock(fd, op) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}
