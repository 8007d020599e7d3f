/* Preloaded (LD_PRELOAD) into bvisor's own Node processes, the wasm runner and the rewriter, by
 * the environment their launch gives them (app/wasm.ts): it makes each non-dumpable before Node's
 * main runs. The runner holds the guest's resolved secrets; the rewriter the bundle author's
 * bytes.
 *
 * Why after exec, and why here: execve(2) resets the dumpable flag to 1 (prctl(2),
 * PR_SET_DUMPABLE), so the launcher's child cannot set it for the program it execs; Node has no
 * prctl of its own, and loading koffi for one call would cost the runner about 5 ms per run.
 * Why at all: RLIMIT_CORE 0 (their manifests' `internal.noCoreDump`) stops core files, but the
 * kernel still runs a core_pattern pipe (core(5): the limit is not applied to pipes), and hands
 * it the whole memory; a non-dumpable process is not dumped at all (do_coredump) and its /proc
 * files open only to CAP_SYS_PTRACE in its user namespace (ptrace(2), "Ptrace access mode
 * checking", step 5).
 *
 * ld.so ignores a preload it cannot load and runs the program anyway (ld.so(8)), so this cannot
 * fail closed by itself: it says it ran in the process's own environment (BVISOR_NONDUMPABLE=1,
 * which the launch never sets), and each process checks that before it reads its job
 * (backends/wasm/nodump.ts). They cannot look for the library in /proc/self/maps: their boundary
 * grants no /proc. Runs before main, while the process has one thread: setenv is safe. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

__attribute__((constructor)) static void bv_nodump(void) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 && setenv("BVISOR_NONDUMPABLE", "1", 1) == 0) return;
  static const char msg[] = "bvisor: prctl(PR_SET_DUMPABLE, 0) failed: not run\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(127);
}
