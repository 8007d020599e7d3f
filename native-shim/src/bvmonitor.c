/* bvmonitor: the per-container supervisor `bvisor create` leaves behind. A plain shell script
 * is not a subreaper, so something of ours must be the workload's parent to keep its exit
 * status after `create` has exited; this is it. Small and static: its memory per container is
 * what an orchestrator pays for every idle container.
 *
 *   bvmonitor STATE_DIR WALL_MS CAP OUT_FD ERR_FD
 *     fds: 3 the body (a pipe: it carries resolved secrets, so it never touches a disk),
 *          4 to node, 5 from node, 6 the fail pipe's read end, OUT_FD/ERR_FD the read ends of
 *          captured stdout/stderr (-1: not captured), plus the fds the body names.
 *     Captured streams are relayed into STATE_DIR/stdout and /stderr, at most CAP bytes each;
 *     the total and whether it was truncated go into exit.json.
 *
 *   1. setsid (leave create's session and terminal), read the body, bv_spawn the workload
 *   2. tell node the pid; close every child-side descriptor
 *   3. wait for node's "created" byte; EOF instead means create died mid-way: kill, reap, exit
 *   4. wait for `bvisor start` (a byte on STATE_DIR/exec.fifo) or the workload's death
 *   5. send the go byte; the fail pipe says exec succeeded (EOF) or where it failed
 *   6. enforce the wall deadline from start; reap with rusage; write STATE_DIR/exit.json
 *      atomically; exit. Whoever runs bvisor next on the container seals the report.
 * Every file it writes is written with open/write/fsync/rename: no partial status ever. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"

#ifdef BV_TEST_BUILD
/* Marks the test build (a test proves the shipped monitor lacks it). */
__attribute__((used)) static const char test_build_marker[] = "BV_TEST_BUILD";
#endif

#ifndef P_PIDFD
#define P_PIDFD 3
#endif


static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Files are made by name inside the state directory, which bvisor keeps from every workload;
 * still, nothing here follows a symlink or reuses a file someone else made: the temp file is
 * unlinked and created exclusively (O_EXCL|O_NOFOLLOW), and renamed over the target (rename
 * replaces a planted link, never writes through it). */
static int statedir_fd = -1;

static void write_atomic(const char *name, const char *text) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  unlinkat(statedir_fd, tmp, 0);
  int fd = openat(statedir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) {
    close(fd);
    unlinkat(statedir_fd, tmp, 0);
    return;
  }
  fsync(fd);
  close(fd);
  renameat(statedir_fd, tmp, statedir_fd, name);
}

static int read_all(int fd, uint8_t **out, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return ENOMEM;
  for (;;) {
    if (n == cap) {
      if (cap > (64u << 20)) { free(buf); return EFBIG; }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) { free(buf); return ENOMEM; }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { free(buf); return errno; }
    if (r == 0) break;
    n += (size_t)r;
  }
  *out = buf;
  *len = n;
  return 0;
}

struct relay {
  int in;
  int out;
  long long total;
  long long kept;
};
static struct relay relays[2] = {{-1, -1, 0, 0}, {-1, -1, 0, 0}};
static long long cap_bytes;

static void relay_open(int i, int fd, const char *name) {
  relays[i].in = fd;
  if (fd < 0) return;
  unlinkat(statedir_fd, name, 0);
  relays[i].out = openat(statedir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* Moves what is available; returns 0 at EOF (and closes), 1 otherwise. */
static int relay_step(struct relay *r) {
  char buf[65536];
  ssize_t n = read(r->in, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    close(r->in);
    r->in = -1;
    if (r->out >= 0) { fsync(r->out); close(r->out); r->out = -1; }
    return 0;
  }
  r->total += n;
  if (r->kept < cap_bytes && r->out >= 0) {
    long long room = cap_bytes - r->kept;
    size_t w = (size_t)(n < room ? n : room);
    if (write(r->out, buf, w) == (ssize_t)w) r->kept += (long long)w;
  }
  return 1;
}

static void write_exit(const char *phase, const siginfo_t *info, const struct rusage *ru, int timed_out, int64_t started, int64_t ended, int stage, int err) {
  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"phase\":\"%s\",\"siCode\":%d,\"status\":%d,\"timedOut\":%s,\"startedAtMs\":%lld,\"endedAtMs\":%lld,"
           "\"utimeUs\":%lld,\"stimeUs\":%lld,\"maxRssKb\":%ld,\"failStage\":%d,\"failErrno\":%d,"
           "\"stdoutBytes\":%lld,\"stdoutKept\":%lld,\"stderrBytes\":%lld,\"stderrKept\":%lld}\n",
           phase, info ? info->si_code : 0, info ? info->si_status : 0, timed_out ? "true" : "false", (long long)started, (long long)ended,
           ru ? (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec : 0LL,
           ru ? (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec : 0LL, ru ? ru->ru_maxrss : 0L, stage, err,
           relays[0].total, relays[0].kept, relays[1].total, relays[1].kept);
  write_atomic("exit.json", buf);
}

static void reap(int pidfd, siginfo_t *info, struct rusage *ru) {
  for (;;) {
    memset(info, 0, sizeof *info);
    memset(ru, 0, sizeof *ru);
    if (syscall(SYS_waitid, P_PIDFD, pidfd, info, WEXITED, ru) == 0) return;
    if (errno != EINTR) return;
  }
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "bvmonitor: usage: bvmonitor STATE_DIR WALL_MS CAP OUT_FD ERR_FD\n");
    return 2;
  }
  statedir_fd = open(argv[1], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (statedir_fd < 0) {
    fprintf(stderr, "bvmonitor: open %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  long long wall_ms = atoll(argv[2]);
  cap_bytes = atoll(argv[3]);
  relay_open(0, atoi(argv[4]), "stdout");
  relay_open(1, atoi(argv[5]), "stderr");
  setsid();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);

  uint8_t *body = NULL;
  size_t len = 0;
  int e = read_all(3, &body, &len);
  close(3);
  if (e) {
    dprintf(4, "error %d\n", e);
    return 1;
  }
  const struct bv_body_header *h = (const struct bv_body_header *)body;
  int32_t out[2] = {-1, -1};
  int rc = bv_spawn(body, (uint32_t)len, out);
  if (rc < 0) {
    dprintf(4, "error %d\n", -rc);
    return 1;
  }
  int pid = out[0], pidfd = out[1];
  dprintf(4, "pid %d\n", pid);
  close(4);
  /* Child-side descriptors: the workload has its copies; ours would keep pipes open. */
  int keep_sync = h->sync_peer_fd;
  int closing[] = {h->exe_fd, h->cgroup_fd, h->sync_fd, h->fail_fd, h->landlock_fd, h->stdio[0], h->stdio[1], h->stdio[2]};
  for (unsigned i = 0; i < sizeof closing / sizeof closing[0]; i++)
    if (closing[i] > 6 && closing[i] != keep_sync && closing[i] != relays[0].in && closing[i] != relays[1].in) close(closing[i]);
  const struct bv_fd *fds = (const struct bv_fd *)(body + h->fds_off);
  for (uint32_t i = 0; i < h->nfds; i++)
    if (fds[i].src > 6 && fds[i].src != keep_sync) close(fds[i].src);
  /* Detached mount trees the parent prepared: the workload moved its copies into place. */
  const int32_t *slots = (const int32_t *)(body + h->slots_off);
  for (uint32_t i = 0; i < h->nslots; i++)
    if (slots[i] > 6 && slots[i] != keep_sync) close(slots[i]);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }

  siginfo_t info;
  struct rusage ru;
  /* 3. node's verdict on the rendezvous */
  char b;
  ssize_t r;
  do r = read(5, &b, 1); while (r < 0 && errno == EINTR);
  close(5);
  if (r != 1) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    reap(pidfd, &info, &ru);
    write_exit("aborted", &info, &ru, 0, 0, now_ms(), 0, 0);
    return 0;
  }
  /* 4. start, or death before it. The fifo is open for reading before "created" is announced,
   * so a start that follows create at once always finds a reader. */
  int ff = openat(statedir_fd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  write_atomic("monitor.json", "{\"phase\":\"created\"}\n");
  int started = 0;
  while (ff >= 0) {
    struct pollfd p[2] = {{ff, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (p[1].revents) break; /* died (killed) while created */
    if (p[0].revents & POLLIN) {
      r = read(ff, &b, 1);
      if (r == 1) { started = 1; break; }
    }
    if (p[0].revents & POLLHUP) {
      /* a writer came and went without a byte: reopen and keep waiting */
      close(ff);
      ff = openat(statedir_fd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    }
  }
  if (ff >= 0) close(ff);
  int64_t started_at = now_ms();
  if (!started) {
    close(keep_sync);
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    reap(pidfd, &info, &ru);
    write_exit("killed-before-start", &info, &ru, 0, 0, now_ms(), 0, 0);
    return 0;
  }
  /* 5. go */
  char go = 'g';
  while (write(keep_sync, &go, 1) < 0 && errno == EINTR) {}
  close(keep_sync);
  /* bvisor create may have left this pipe O_NONBLOCK (it shares the open file): poll first. */
  struct bv_record rec;
  size_t got = 0;
  while (got < sizeof rec) {
    struct pollfd pf = {6, POLLIN, 0};
    if (poll(&pf, 1, -1) < 0 && errno == EINTR) continue;
    r = read(6, (char *)&rec + got, sizeof rec - got);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(6);
  if (got == sizeof rec && rec.kind == 0) {
    reap(pidfd, &info, &ru);
    write_exit("exec-failed", &info, &ru, 0, started_at, now_ms(), rec.stage, rec.err);
    return 0;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "{\"phase\":\"running\",\"startedAtMs\":%lld}\n", (long long)started_at);
  write_atomic("monitor.json", msg);

  /* 6. relay output, enforce the deadline, then reap */
  int timed_out = 0, exited = 0;
  int64_t deadline = wall_ms > 0 ? mono_ms() + wall_ms : -1;
  int64_t drain_until = -1;
  for (;;) {
    int wait = -1;
    int64_t now = mono_ms();
    if (!exited && deadline >= 0) wait = deadline - now < 0 ? 0 : (int)(deadline - now);
    if (exited) {
      if (drain_until < 0) drain_until = now + 2000; /* writers that outlive the workload */
      wait = drain_until - now < 0 ? 0 : (int)(drain_until - now);
    }
    struct pollfd p[3] = {{exited ? -1 : pidfd, POLLIN, 0}, {relays[0].in, POLLIN, 0}, {relays[1].in, POLLIN, 0}};
    if (exited && relays[0].in < 0 && relays[1].in < 0) break;
    int n = poll(p, 3, wait);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      if (exited) break;
      timed_out = 1;
      /* The pid namespace dies with its init; bvisor kills the cgroup when it tears down. */
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      deadline = -1;
      continue;
    }
    for (int i = 0; i < 2; i++)
      if (p[1 + i].revents) relay_step(&relays[i]);
    if (!exited && p[0].revents) {
      reap(pidfd, &info, &ru);
      exited = 1;
    }
  }
  if (!exited) reap(pidfd, &info, &ru);
  write_exit("exited", &info, &ru, timed_out, started_at, now_ms(), 0, 0);
  return 0;
}
