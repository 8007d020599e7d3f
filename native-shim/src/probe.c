/* Host probes that need raw syscalls. See bvshim.h for the contract of each function. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bvshim.h"
#include "launch.h"

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
  /* Sharing our memory (a fork-like clone of a bvisor process cost 0.5-2 ms per probe, twice per
   * host probe), unless the child's id change would expose it: the kernel sets the memory's
   * dumpable flag to fs.suid_dumpable at every id change (commit_creds), and with 1 a process of
   * uid 65534 could then ptrace the child and write into Node (bvshim.h). */
  int share = uid < 0 || bv_vm_child_may_change_ids(bv_suid_dumpable());
  int dumpable = share && uid >= 0 ? prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) : -1;
  int r = bv_run_child(userns_child, &a, share, NULL);
  /* The id change left our memory's flag at 0 or 2 (safe): back as it was (a launch's 0 stays 0;
   * PR_SET_DUMPABLE takes 0 or 1). */
  if ((dumpable == 0 || dumpable == 1) && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  return r < 0 ? r : -r;
}

int bv_flock(int fd, int op) {
  for (;;) {
    if (flock(fd, op) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}
