/* An engine in miniature, for tests: conmon and the containerd shim make themselves child
 * subreapers, run `runtime create`, and reap the container's init when it exits. This does the
 * same: PR_SET_CHILD_SUBREAPER, run the command given (bvisor create …), print "created <rc>",
 * then reap every child that comes to us (the orphaned init, bvisor's monitor) and print
 * "reaped <pid> exit <code>" or "reaped <pid> signal <n>", until none is left. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: subreaper CMD [ARGS...]\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    perror("prctl");
    return 2;
  }
  pid_t c = fork();
  if (c < 0) return 2;
  if (c == 0) {
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  int st;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
  printf("created %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  fflush(stdout);
  for (;;) {
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break; /* ECHILD: nobody left */
    }
    if (WIFEXITED(st)) printf("reaped %d exit %d\n", (int)p, WEXITSTATUS(st));
    else printf("reaped %d signal %d\n", (int)p, WTERMSIG(st));
    fflush(stdout);
  }
  return 0;
}
