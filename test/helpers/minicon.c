/* minicon: the part of conmon a --console-socket test needs, as an oracle that does not share
 * code with bvisor. It becomes a child subreaper (as conmon is), listens on a unix socket, runs
 * the runtime's create, receives the pty master the runtime sends (SCM_RIGHTS), reads the
 * window size the kernel keeps on it, runs start, copies everything the terminal says into
 * OUT until the last holder of the peer closes it (EIO), and reaps the container's init (named
 * by PIDFILE: it was reparented to us when create exited) for its exit status.
 *
 *   minicon SOCK PIDFILE OUT CREATE... -- START...
 *
 * Prints, one per line: "received NAME", "winsize ROWS COLS", "exit N" or "signal N"; on a
 * failure "error WHAT ERRNO" and exits 1. Built by the test that uses it (cc, no libraries). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what, int err) {
  printf("error %s %d\n", what, err);
  fflush(stdout);
  return 1;
}

/* Runs argv, waits, returns its exit status (or 128+signal). */
static int run(char **argv) {
  pid_t p = fork();
  if (p < 0) return -1;
  if (p == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  while (waitpid(p, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
  if (argc < 6) return fail("usage", 0);
  const char *sock = argv[1], *pidfile = argv[2], *outfile = argv[3];
  char **create = argv + 4, **start = NULL;
  for (int i = 4; i < argc; i++)
    if (!strcmp(argv[i], "--")) {
      argv[i] = NULL;
      start = argv + i + 1;
    }
  if (!start || !start[0]) return fail("usage", 0);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return fail("subreaper", errno);

  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(sock) >= sizeof sa.sun_path) return fail("socket-path", ENAMETOOLONG);
  strcpy(sa.sun_path, sock);
  unlink(sock);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0) return fail("listen", errno);

  int rc = run(create);
  if (rc != 0) return fail("create", rc);

  /* The master was sent during create (before the init was ready): it waits in the queue. */
  struct pollfd pf = {ls, POLLIN, 0};
  if (poll(&pf, 1, 5000) != 1) return fail("no-connection", ETIMEDOUT);
  int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (cs < 0) return fail("accept", errno);
  char name[256];
  struct iovec iov = {name, sizeof name - 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cm.buf;
  msg.msg_controllen = sizeof cm.buf;
  ssize_t n = recvmsg(cs, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return fail("recvmsg", errno);
  name[n] = 0;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return fail("no-fd", EBADMSG);
  int master;
  memcpy(&master, CMSG_DATA(c), sizeof master);
  close(cs);
  close(ls);
  unlink(sock);
  printf("received %s\n", name);
  struct winsize ws;
  if (ioctl(master, TIOCGWINSZ, &ws) < 0) return fail("winsize", errno);
  printf("winsize %u %u\n", ws.ws_row, ws.ws_col);
  fflush(stdout);

  rc = run(start);
  if (rc != 0) return fail("start", rc);

  int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return fail("out", errno);
  char buf[4096];
  for (;;) {
    ssize_t r = read(master, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* EIO: no process holds the peer any more */
    if (write(out, buf, (size_t)r) != r) return fail("write", errno);
  }
  close(out);

  FILE *f = fopen(pidfile, "r");
  int pid = 0;
  if (!f || fscanf(f, "%d", &pid) != 1) return fail("pidfile", errno);
  fclose(f);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return fail("waitpid", errno);
  if (WIFEXITED(st)) printf("exit %d\n", WEXITSTATUS(st));
  else printf("signal %d\n", WTERMSIG(st));
  /* The monitor came to us with the init: reap it once it is done. */
  for (int i = 0; i < 500; i++) {
    pid_t w = waitpid(-1, NULL, WNOHANG);
    if (w < 0) break;
    if (w == 0) usleep(10000);
  }
  return 0;
}
