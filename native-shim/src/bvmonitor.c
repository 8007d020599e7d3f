/* bvmonitor: the per-container supervisor `bvisor create` leaves behind. A plain shell script
 * is not a subreaper, so something of ours must be the workload's parent to keep its exit
 * status after `create` has exited; this is it. Small and static: its memory per container is
 * what an orchestrator pays for every idle container.
 *
 *   bvmonitor STATE_DIR WALL_MS CAP OUT_FD ERR_FD CPU_FD CPU_KIND CPU_LIMIT_US [STRINGS [SECRETS [LL_TOKEN]]]
 *     fds: 3 the body (a pipe: it carries resolved secrets, so it never touches a disk),
 *          4 to node, 5 from node, 6 the fail pipe's read end, OUT_FD/ERR_FD the read ends of
 *          captured stdout/stderr (-1: not captured), CPU_FD the leaf's CPU usage file
 *          (CPU_KIND 1: cgroup v2 cpu.stat, 2: v1 cpuacct.usage; -1/0: no mediated cpu limit),
 *          plus the fds the body names.
 *     STRINGS (with denials observed, BV_F_SECCOMP_NOTIFY): which syscall arguments are C strings,
 *          "nr:mask,nr:mask" (bit i: argument i), for the denial records.
 *     LL_TOKEN (with BV_F_LANDLOCK_LOG): the random part of the run's landlock marker directory
 *          (launch.h ll_marker_fd), which the audit reader looks for (audit.h).
 *     SECRETS: the indexes of the body's environment strings that hold resolved secrets
 *          ("i,j"): a denial record holding one of their values is redacted (notify.h).
 *     Captured streams are relayed into STATE_DIR/stdout and /stderr, at most CAP bytes each;
 *     the total and whether it was truncated go into exit.json.
 *
 *   0. ignore every catchable signal (only bvisor's SIGKILL, through a pidfd, stops us), become
 *      a child subreaper, setsid; reserve the space of every file we will write, so a full
 *      disk fails create here, before the workload exists, and never loses the exit record
 *   1. read the body, bv_spawn the workload (it dies with us: PR_SET_PDEATHSIG), then close
 *      every descriptor we do not need (the caller's stray ones included)
 *   2. tell node the pid
 *   3. wait for node's "created" byte; EOF instead means create died mid-way: kill, reap, exit
 *   3a. open STATE_DIR/exec.fifo for reading, tell node "listening" (create returns on that
 *      line: a start that follows at once finds a reader), then record monitor.json's
 *      "created" (its fsyncs are not on create's path)
 *   4. wait for `bvisor start` (a byte on STATE_DIR/exec.fifo) or the workload's death
 *   5. send the go byte; the fail pipe says exec succeeded (EOF) or where it failed
 *      (with landlock denials observed, BV_F_LANDLOCK_LOG, the audit reader joins the READLOG
 *      group first, audit.h: records go to STATE_DIR/landlock, ended by the barrier in step 6)
 *   5a. with denials observed, take the seccomp listener the child sent on the sync socket
 *   6. serve the listener (answer -EPERM, append a record to STATE_DIR/denials), relay output, enforce the wall deadline (64-bit) and the mediated cpu limit (poll the
 *      cgroup's usage, kill); reap orphans handed to us; when the workload ends, kill what is
 *      left of its descendants; write STATE_DIR/exit.json; exit. If the monitor itself cannot
 *      go on (a poll error), it kills the workload and records why: never an unsupervised
 *      workload. Whoever runs bvisor next on the container seals the report.
 * Every file it writes replaces a reservation by rename (write, fsync, rename, fsync the
 * directory): no partial status ever, and no ENOSPC at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "notify.h"
#include "audit.h"
#include "cpuclock.h"

#ifdef BV_TEST_BUILD
/* Marks the test build (a test proves the shipped monitor lacks it). Its red-twin switches come
 * from BV_TEST_MONITOR (comma-separated): no-subreaper, no-ignore, poll-fault, slow-exit-record. */
__attribute__((used)) static const char test_build_marker[] = "BV_TEST_BUILD";
static int test_switch(const char *name) {
  const char *v = getenv("BV_TEST_MONITOR");
  return v && strstr(v, name) != NULL;
}
#else
static int test_switch(const char *name) {
  (void)name;
  return 0;
}
#endif

#ifndef P_PIDFD
#define P_PIDFD 3
#endif


static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll(2) takes an int of milliseconds: a deadline weeks away is waited for in slices. */
static int poll_ms(int64_t ms) {
  if (ms < 0) return -1;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Files are made by name inside the state directory, which bvisor keeps from every workload;
 * still, nothing here follows a symlink or reuses a file someone else made: reservations are
 * created exclusively (O_EXCL|O_NOFOLLOW) and renamed over the target (rename replaces a
 * planted link, never writes through it). */
static int statedir_fd = -1;

#define RESERVE_BYTES 2048
enum { RES_CREATED, RES_RUNNING, RES_EXIT, NRES };
static const char *const res_names[NRES] = {".reserve.created", ".reserve.running", ".reserve.exit"};

/* A reservation: a file of RESERVE_BYTES real blocks. fallocate(2) allocates them at once, with
 * nothing to write or fsync (retried on EINTR: tmpfs's gives up when a signal is pending); where
 * there is none (EOPNOTSUPP, or ENOSYS from a sandbox's filter), zeros are written and fsync'd
 * (delayed allocation would otherwise only promise the blocks). */
static int reserve(const char *name) {
  static const char zeros[RESERVE_BYTES];
  unlinkat(statedir_fd, name, 0);
  int fd = openat(statedir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int rc;
  do rc = fallocate(fd, 0, 0, RESERVE_BYTES);
  while (rc < 0 && errno == EINTR);
  int e = rc < 0 ? errno : 0;
  if (e == EOPNOTSUPP || e == ENOSYS) {
    errno = 0; /* a short write sets none: EIO, not fallocate's answer */
    e = write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros ? 0 : errno ? errno : EIO;
    if (!e && fsync(fd) < 0) e = errno;
  }
  close(fd);
  if (e) unlinkat(statedir_fd, name, 0);
  return e;
}

/* Writes text over a reservation, cuts it to the text (the rest of the held blocks go back; that
 * needs no new space), then renames it into place. Overwriting blocks that exist needs no new
 * space. Returns 0 or an errno. */
static int write_reserved(int res, const char *name, const char *text) {
  size_t n = strlen(text);
  if (n >= RESERVE_BYTES) return EOVERFLOW;
  int fd = openat(statedir_fd, res_names[res], O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = 0;
  if (pwrite(fd, text, n, 0) != (ssize_t)n) e = errno ? errno : EIO;
  if (!e && ftruncate(fd, (off_t)n) < 0) e = errno;
  if (!e && fsync(fd) < 0) e = errno;
  close(fd);
  if (!e && renameat(statedir_fd, res_names[res], statedir_fd, name) < 0) e = errno;
  if (!e && fsync(statedir_fd) < 0) e = errno;
  return e;
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
    ssize_t wr = write(r->out, buf, w);
    if (wr > 0) r->kept += (long long)wr;
    /* A short or failed write (a full disk): keep what is on disk, a prefix of the stream, and
     * write no more, so the file never holds a gap; the total still counts everything. */
    if (wr != (ssize_t)w) {
      fsync(r->out);
      close(r->out);
      r->out = -1;
    }
  }
  return 1;
}

/* Denials (notify.h): the listener, and what became of its notifications. Records go to
 * STATE_DIR/denials, at most MAX_DENIAL_RECORDS; the counts go to exit.json, whose space is
 * reserved, so a full disk loses records, never the count. */
#define MAX_DENIAL_RECORDS 256
static struct bv_notifier *notifier;
static int denials_fd = -1;
static long long denials_total, denials_kept;
static int denials_error; /* errno: the listener was not received or failed; -1: not observed */
static long long started_mono_ns; /* CLOCK_MONOTONIC at the go byte: the records' time base */
/* Landlock's audit records (audit.h), with BV_F_LANDLOCK_LOG: read while the workload runs,
 * appended to STATE_DIR/landlock, ended with the barrier once it has exited. */
static struct bv_audit *audit;
static int audit_file = -1;
static int landlock_error = -1; /* errno: the READLOG group or the file could not be had; -1: not observed */
static uint8_t strmask[BV_NOTIFY_MAX_NR];
static char *secret_values; /* NUL-separated, copied from the body before it is wiped */
static size_t secret_values_len;
static int secret_count;

/* The whitespace JavaScript's String.prototype.trim removes (ECMA-262 WhiteSpace and
 * LineTerminator) in UTF-8: the length in bytes of the one p[0..n) starts with (space_len),
 * that v[i..n) starts with (space_at) or v[start..end) ends with (space_before); or 0. The holder's redaction trims with trim() (redact.ts);
 * the monitor must look for the same trimmed form (a token file saved with a BOM). */
static size_t space_len(const unsigned char *p, size_t n) {
  if (n >= 1 && (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0d))) return 1;
  if (n >= 2 && p[0] == 0xc2 && p[1] == 0xa0) return 2; /* U+00A0 */
  if (n >= 3) {
    unsigned c = ((unsigned)p[0] << 16) | ((unsigned)p[1] << 8) | p[2];
    if (c == 0xe19a80 || c == 0xe2819f || c == 0xe38080 || c == 0xefbbbf) return 3; /* U+1680 U+205F U+3000 U+FEFF */
    if (c >= 0xe28080 && c <= 0xe2808a) return 3; /* U+2000..U+200A */
    if (c == 0xe280a8 || c == 0xe280a9 || c == 0xe280af) return 3; /* U+2028 U+2029 U+202F */
  }
  return 0;
}
static size_t space_at(const char *v, size_t i, size_t n) { return space_len((const unsigned char *)v + i, n - i); }
static size_t space_before(const char *v, size_t start, size_t end) {
  for (size_t k = 1; k <= 3 && k <= end - start; k++)
    if (space_len((const unsigned char *)v + end - k, k) == k) return k;
  return 0;
}

static void add_secret(const char *v, size_t vl) {
  memcpy(secret_values + secret_values_len, v, vl);
  secret_values[secret_values_len + vl] = 0;
  secret_values_len += vl + 1;
  secret_count++;
}

/* Copies the values ("NAME=value" → value) of the environment strings named by `spec`. */
static int keep_secrets(const uint8_t *body, size_t len, const char *spec) {
  const struct bv_body_header *h = (const struct bv_body_header *)body;
  if (!spec || !*spec || len < sizeof *h || h->strings_off > len || h->strings_len > len - h->strings_off) return 0;
  const char *s = (const char *)body + h->strings_off, *end = s + h->strings_len;
  if (h->hostname_len) s += h->hostname_len + 1;
  for (uint32_t i = 0; i < h->argc && s < end; i++) s += strnlen(s, (size_t)(end - s)) + 1;
  /* Each value, and its trimmed form where that differs: at most twice the strings. */
  secret_values = malloc(2 * (size_t)h->strings_len + 2);
  if (!secret_values) return ENOMEM;
  for (uint32_t i = 0; i < h->envc && s < end; i++) {
    size_t l = strnlen(s, (size_t)(end - s));
    char idx[16];
    snprintf(idx, sizeof idx, "%u", i);
    /* is i in the comma list? */
    const char *p = spec;
    int hit = 0;
    while (*p) {
      size_t n = strcspn(p, ",");
      if (n == strlen(idx) && !strncmp(p, idx, n)) hit = 1;
      p += n + (p[n] == ',');
    }
    const char *eq = memchr(s, '=', l);
    if (hit && eq) {
      const char *v = eq + 1;
      size_t vl = l - (size_t)(v - s);
      /* A token read from a file ends in a newline the workload need not keep (as redactionForms,
       * src/core/redact.ts, does for the holder): its trimmed form is looked for too. A value of
       * whitespace only is left out, as an empty one (it would match every newline). */
      size_t a = 0, b = vl;
      for (size_t k; a < b && (k = space_at(v, a, b)) > 0;) a += k;
      for (size_t k; b > a && (k = space_before(v, a, b)) > 0;) b -= k;
      if (b > a) add_secret(v, vl);
      if (b > a && (a > 0 || b < vl)) add_secret(v + a, b - a);
    }
    s += l + 1;
  }
  return 0;
}

static void parse_strings(const char *spec) {
  while (spec && *spec) {
    char *end;
    long nr = strtol(spec, &end, 10);
    if (*end != ':') return;
    long mask = strtol(end + 1, &end, 10);
    if (nr >= 0 && nr < BV_NOTIFY_MAX_NR) strmask[nr] = (uint8_t)mask;
    spec = *end == ',' ? end + 1 : NULL;
  }
}

static void serve_denial(void) {
  struct bv_notify_rec rec;
  int r = bv_notifier_serve(notifier, &rec);
  if (r < 0) {
    /* A listener that fails is closed: the filter then answers ENOSYS, still a denial. */
    denials_error = -r;
    bv_notifier_close(notifier);
    return;
  }
  if (r == 0) return;
  denials_total++;
  if (!bv_notifier_keep(notifier, &rec)) return; /* counted per syscall: written at the end */
  if (denials_fd >= 0 && denials_kept < MAX_DENIAL_RECORDS) {
    if (write(denials_fd, &rec, sizeof rec) == (ssize_t)sizeof rec) denials_kept++;
    else {
      close(denials_fd);
      denials_fd = -1;
    }
  }
}

/* Why the workload was stopped by us rather than by itself. */
enum { END_NONE = 0, END_WALL = 1, END_CPU = 2, END_FAULT = 3 };
static const char *const end_names[] = {"none", "wall", "cpu", "monitor-fault"};

/* Engine mode (the body's clone flags hold CLONE_PARENT: create chose it, having seen that we
 * were handed to its caller, a subreaper): the workload is our sibling and its exit status is
 * the engine's (conmon, the containerd shim) to collect, not ours. We still hold the go byte,
 * enforce the deadlines through the pidfd, and record when it ended; exit.json says
 * "reaper":"engine" and carries no status. */
static int engine_mode = 0;

/* The CPU time the kernel charged the workload (cpuclock.h), read before it is reaped; -1. */
static int64_t charged_us = -1;

static void write_exit(const char *phase, const siginfo_t *info, const struct rusage *ru, int end, int64_t started, int64_t ended, int stage, int err, long long cpu_us) {
  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"phase\":\"%s\",\"siCode\":%d,\"status\":%d,\"timedOut\":%s,\"stoppedBy\":\"%s\",\"startedAtMs\":%lld,\"endedAtMs\":%lld,"
           "\"utimeUs\":%lld,\"stimeUs\":%lld,\"maxRssKb\":%ld,\"failStage\":%d,\"failErrno\":%d,\"cpuUsageUs\":%lld,"
           "\"stdoutBytes\":%lld,\"stdoutKept\":%lld,\"stderrBytes\":%lld,\"stderrKept\":%lld,\"reaper\":\"%s\","
           "\"denialsTotal\":%lld,\"denialsKept\":%lld,\"denialsError\":%d,\"startedMonoNs\":%lld,\"landlockError\":%d,\"chargedUs\":%lld}\n",
           phase, info ? info->si_code : 0, info ? info->si_status : 0, end == END_WALL ? "true" : "false", end_names[end], (long long)started, (long long)ended,
           ru ? (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec : 0LL,
           ru ? (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec : 0LL, ru ? ru->ru_maxrss : 0L, stage, err, cpu_us,
           relays[0].total, relays[0].kept, relays[1].total, relays[1].kept, engine_mode ? "engine" : "monitor",
           denials_total, denials_kept, denials_error, started_mono_ns, landlock_error, (long long)charged_us);
  write_reserved(RES_EXIT, "exit.json", buf);
}

/* When the workload was reaped: the end of its run (timings.endedAt). exit.json is written later,
 * after the output has drained (up to 2 s) and landlock's audit barrier (up to 2 s more); a wall
 * witness taken then would count those waits as the workload's. */
static int64_t reaped_at_ms = 0;
static void reap(int pidfd, siginfo_t *info, struct rusage *ru) {
  siginfo_t seen;
  memset(&seen, 0, sizeof seen);
  while (syscall(SYS_waitid, P_PIDFD, pidfd, &seen, WEXITED | WNOWAIT, NULL) != 0 && errno == EINTR) {
  }
  if (seen.si_pid > 0) charged_us = bv_charged_us(seen.si_pid);
  for (;;) {
    memset(info, 0, sizeof *info);
    memset(ru, 0, sizeof *ru);
    if (syscall(SYS_waitid, P_PIDFD, pidfd, info, WEXITED, ru) == 0) break;
    if (errno == EINTR) continue;
    if (errno == ECHILD) {
      /* Engine mode: the engine is the parent and collects the status (waitid(2): ECHILD). The
       * end is when the pidfd turns readable (pidfd_open(2): the process has terminated), which
       * the main loop has seen already; after a SIGKILL just sent, it comes within moments.
       * Bounded: a task the kill cannot end at once must not hold the record back. */
      struct pollfd p = {pidfd, POLLIN, 0};
      int64_t until = bv_mono_ms() + 2000;
      for (int64_t left = 2000; left > 0; left = until - bv_mono_ms())
        if (poll(&p, 1, (int)left) >= 0 || errno != EINTR) break;
    }
    break;
  }
  reaped_at_ms = now_ms();
}

/* Orphans the kernel handed us (we are a subreaper): reap every zombie child but the workload,
 * whose status the pidfd path collects. */
static void reap_orphans(int workload) {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) return;
    if (si.si_pid == workload) return;
    waitpid(si.si_pid, NULL, 0);
  }
}

/* After the workload: its descendants that escaped a pid namespace (or had none) were
 * reparented to us. Kill every child we have, reap whoever died, and look again: each death
 * hands us the next generation. Never block in waitpid: a grandchild reparented between two
 * reads must be killed, not waited for. A child's pid cannot be reused before we reap it, so no
 * stranger is signalled. Bounded (about 5 s): D-state children are left to the cgroup kill. */
static void kill_descendants(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  for (int round = 0; round < 5000; round++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int found = 0;
    if (n > 0) {
      buf[n] = 0;
      for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p) break;
        if (pid > 0) {
          kill((pid_t)pid, SIGKILL);
          found = 1;
        }
        p = end;
      }
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    if (!found) return;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

/* Whether our state directory was removed (rm -rf of the root): no one can manage this
 * container any more, nor read what we would record, so the workload must not run on. */
static int statedir_gone(void) {
  struct stat st;
  return fstat(statedir_fd, &st) == 0 && st.st_nlink == 0;
}

/* CPU time the workload's cgroup has used, in microseconds, or -1. */
static int cpu_fd = -1, cpu_kind = 0;
static long long cpu_usage_us(void) {
  if (cpu_fd < 0) return -1;
  char buf[4096];
  ssize_t n = pread(cpu_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (cpu_kind == 2) return atoll(buf) / 1000; /* cpuacct.usage: nanoseconds */
  const char *k = strstr(buf, "usage_usec ");   /* cpu.stat: "usage_usec N" */
  return k ? atoll(k + 11) : -1;
}

static void ignore_signals(void) {
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  for (int sig = 1; sig < 65; sig++) {
    /* SIGKILL/SIGSTOP cannot be; faults must not be (a loop); SIGCHLD is read from a signalfd. */
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT || sig == SIGTRAP || sig == SIGSYS) continue;
    sigaction(sig, &ign, NULL); /* glibc's reserved real-time signals say EINVAL: fine */
  }
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

/* Closes every descriptor from 3 up except those in keep. */
static void close_except(int *keep, int n) {
  qsort(keep, (size_t)n, sizeof *keep, cmp_int);
  unsigned lo = 3;
  for (int i = 0; i < n; i++) {
    if (keep[i] < (int)lo) continue;
    if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
    lo = (unsigned)keep[i] + 1;
  }
  syscall(SYS_close_range, lo, ~0u, 0);
}

int main(int argc, char **argv) {
  if (!test_switch("no-ignore")) ignore_signals();
  if (argc < 9) {
    fprintf(stderr, "bvmonitor: usage: bvmonitor STATE_DIR WALL_MS CAP OUT_FD ERR_FD CPU_FD CPU_KIND CPU_LIMIT_US [STRINGS [SECRETS [LL_TOKEN]]]\n");
    return 2;
  }
  /* A subreaper: descendants whose parents die become ours, not init's, so none escapes us. */
  if (!test_switch("no-subreaper")) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  setsid();
  statedir_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (statedir_fd < 0) {
    dprintf(4, "error %d\n", errno);
    return 2;
  }
  for (int i = 0; i < NRES; i++) {
    int e = reserve(res_names[i]);
    if (e) {
      dprintf(4, "reserve %d\n", e);
      return 1;
    }
  }
  long long wall_ms = atoll(argv[2]);
  cap_bytes = atoll(argv[3]);
  relay_open(0, atoi(argv[4]), "stdout");
  relay_open(1, atoi(argv[5]), "stderr");
  cpu_fd = atoi(argv[6]);
  cpu_kind = atoi(argv[7]);
  long long cpu_limit_us = atoll(argv[8]);
  if (argc > 9) parse_strings(argv[9]);
  const char *secret_spec = argc > 10 ? argv[10] : "";
  const char *ll_token = argc > 11 ? argv[11] : "";
  if (cpu_kind == 0 || cpu_limit_us <= 0) cpu_fd = -1;

  /* SIGCHLD through a signalfd: orphans are reaped from the poll loop. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);

  uint8_t *body = NULL;
  size_t len = 0;
  int e = read_all(3, &body, &len);
  close(3);
  if (e) {
    dprintf(4, "error %d\n", e);
    return 1;
  }
  const struct bv_body_header *h = (const struct bv_body_header *)body;
  engine_mode = len >= sizeof *h && (h->clone_flags & CLONE_PARENT) != 0;
  /* Landlock's audit reader joins before the clone: the child makes its marker's denial right
   * after restricting itself, long before start (audit.h; launch.h ll_marker_fd). */
  int audit_on = len >= sizeof *h && (h->flags & BV_F_LANDLOCK_LOG) != 0;
  if (audit_on) {
    landlock_error = 0;
    unlinkat(statedir_fd, "landlock", 0);
    audit_file = openat(statedir_fd, "landlock", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int afd = audit_file < 0 ? -errno : bv_audit_open();
    if (afd < 0) landlock_error = -afd;
    else if (!(audit = bv_audit_new(afd, audit_file, ll_token)) || (keep_secrets(body, len, secret_spec) == 0 && bv_audit_secrets(audit, secret_values, secret_values_len, secret_count))) {
      if (audit) bv_audit_free(audit); /* closes afd */
      else close(afd);
      audit = NULL;
      landlock_error = ENOMEM;
    }
  }
  int32_t out[2] = {-1, -1};
  int rc = bv_spawn(body, (uint32_t)len, out);
  if (rc < 0) {
    dprintf(4, "error %d\n", -rc);
    return 1;
  }
  int pid = out[0], pidfd = out[1];
  int keep_sync = h->sync_peer_fd;
  if ((h->flags & BV_F_SECCOMP_NOTIFY) && !secret_values && keep_secrets(body, len, secret_spec)) {
    dprintf(4, "error %d\n", ENOMEM);
    return 1;
  }
  int notify = (h->flags & BV_F_SECCOMP_NOTIFY) != 0;
  denials_error = notify ? 0 : -1;
  if (notify) {
    unlinkat(statedir_fd, "denials", 0);
    denials_fd = openat(statedir_fd, "denials", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  /* Everything else the body named is the workload's now; and whatever the caller left open
   * (`bvisor create … 100>&1 | cat`) must not be held by us for the container's lifetime. */
  int keep[] = {4, 5, 6, statedir_fd, keep_sync, pidfd, relays[0].in, relays[0].out, relays[1].in, relays[1].out, cpu_fd, sigfd, denials_fd, audit ? bv_audit_fd(audit) : -1, audit_file};
  close_except(keep, (int)(sizeof keep / sizeof keep[0]));
  memset(body, 0, len); /* resolved secrets */
  free(body);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  dprintf(4, "pid %d\n", pid);

  siginfo_t info;
  struct rusage ru;
  /* 3. node's verdict on the rendezvous */
  char b;
  ssize_t r;
  do r = read(5, &b, 1); while (r < 0 && errno == EINTR);
  close(5);
  if (r != 1) {
    close(4);
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    reap(pidfd, &info, &ru);
    kill_descendants();
    write_exit("aborted", &info, &ru, END_NONE, 0, reaped_at_ms, 0, 0, -1);
    return 0;
  }
  /* 3a. The fifo is open for reading before create is told "listening" (create returns on that
   * line), so a start that follows create at once always finds a reader. create waits for the
   * line, not for monitor.json, whose write and two fsyncs go on meanwhile. A fifo that cannot
   * be opened is said instead, and create fails. */
  int ff = openat(statedir_fd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (ff >= 0) dprintf(4, "listening\n");
  else dprintf(4, "error %d\n", errno);
  close(4);
  write_reserved(RES_CREATED, "monitor.json", "{\"phase\":\"created\"}\n");
  /* 4. start, or death before it. */
  int started = 0, fault = 0;
  int orphaned = 0;
  while (ff >= 0) {
    struct pollfd p[4] = {{ff, POLLIN, 0}, {pidfd, POLLIN, 0}, {sigfd, POLLIN, 0}, {audit ? bv_audit_fd(audit) : -1, POLLIN, 0}};
    int n = poll(p, 4, 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { fault = errno; break; }
    if (statedir_gone()) { orphaned = 1; break; }
    if (audit && (p[3].revents & POLLIN) && bv_audit_pump(audit) < 0) {
      landlock_error = EIO;
      bv_audit_free(audit);
      audit = NULL;
    }
    if (p[2].revents) {
      struct signalfd_siginfo ssi;
      while (read(sigfd, &ssi, sizeof ssi) > 0) {}
      reap_orphans(pid);
    }
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
    kill_descendants();
    if (!orphaned) write_exit(fault ? "monitor-fault" : "killed-before-start", &info, &ru, fault ? END_FAULT : END_NONE, 0, reaped_at_ms, 0, fault, -1);
    return 0;
  }
  /* 5. go */
  char go = 'g';
  struct timespec go_ts;
  clock_gettime(CLOCK_MONOTONIC, &go_ts);
  started_mono_ns = (long long)go_ts.tv_sec * 1000000000LL + go_ts.tv_nsec;
  while (write(keep_sync, &go, 1) < 0 && errno == EINTR) {}
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
  if (notify && !(got == sizeof rec && rec.kind == 0)) {
    /* 5a. exec succeeded: the listener was sent before it (the child fails rather than exec
     * without sending it). */
    int lfd = bv_recv_fd(keep_sync);
    if (lfd < 0) denials_error = -lfd;
    else if (!(notifier = bv_notifier_new(lfd, strmask, BV_NOTIFY_MAX_NR))) {
      close(lfd);
      denials_error = ENOMEM;
    } else if (bv_notifier_secrets(notifier, secret_values, secret_values_len, secret_count)) {
      bv_notifier_free(notifier); /* closes lfd: denied calls get ENOSYS, still denied */
      notifier = NULL;
      denials_error = ENOMEM;
    }
    if (secret_values) {
      memset(secret_values, 0, secret_values_len);
      free(secret_values);
      secret_values = NULL;
    }
  }
  if (secret_values) { /* the readers have their copies */
    memset(secret_values, 0, secret_values_len);
    free(secret_values);
    secret_values = NULL;
  }
  close(keep_sync);
  if (got == sizeof rec && rec.kind == 0) {
    reap(pidfd, &info, &ru);
    kill_descendants();
    write_exit("exec-failed", &info, &ru, END_NONE, started_at, reaped_at_ms, rec.stage, rec.err, -1);
    return 0;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "{\"phase\":\"running\",\"startedAtMs\":%lld}\n", (long long)started_at);
  write_reserved(RES_RUNNING, "monitor.json", msg);

  /* 6. relay output, enforce the deadline and the cpu limit, reap orphans, then the workload */
  int end = END_NONE, exited = 0;
  int64_t deadline = wall_ms > 0 ? bv_mono_ms() + wall_ms : -1;
  int64_t drain_until = -1;
  long long cpu_used = cpu_usage_us();
  for (;;) {
    int64_t now = bv_mono_ms();
    int64_t wait = -1;
    if (!exited && deadline >= 0) wait = deadline - now < 0 ? 0 : deadline - now;
    if (!exited && cpu_fd >= 0 && end == END_NONE) {
      /* Poll sooner as the budget runs out: overshoot is bounded by a slice of the rest. */
      long long left_ms = (cpu_limit_us - (cpu_used < 0 ? 0 : cpu_used)) / 1000;
      int64_t slice = left_ms / 4 < 5 ? 5 : left_ms / 4 > 100 ? 100 : left_ms / 4;
      if (wait < 0 || slice < wait) wait = slice;
    }
    if (exited) {
      if (drain_until < 0) drain_until = now + 2000; /* writers that outlive the workload */
      wait = drain_until - now < 0 ? 0 : drain_until - now;
    }
    if (wait < 0 || wait > 1000) wait = 1000; /* look at the state directory once a second */
    struct pollfd p[6] = {{exited ? -1 : pidfd, POLLIN, 0}, {relays[0].in, POLLIN, 0}, {relays[1].in, POLLIN, 0}, {sigfd, POLLIN, 0}, {notifier ? bv_notifier_fd(notifier) : -1, POLLIN, 0}, {audit ? bv_audit_fd(audit) : -1, POLLIN, 0}};
    if (exited && relays[0].in < 0 && relays[1].in < 0) break;
    int n;
    if (test_switch("poll-fault")) {
      n = -1; /* the test build's stand-in for a poll that fails */
      errno = EFAULT;
    } else
      n = poll(p, 6, poll_ms(wait));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      /* We cannot watch the workload any more: it must not run on unwatched. */
      fault = errno;
      if (!exited) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        reap(pidfd, &info, &ru);
        exited = 1;
      }
      end = END_FAULT;
      break;
    }
    if (p[3].revents) {
      struct signalfd_siginfo ssi;
      while (read(sigfd, &ssi, sizeof ssi) > 0) {}
      reap_orphans(pid);
    }
    /* A denied call waits for our answer: serve it before anything slower. */
    if (notifier && bv_notifier_fd(notifier) >= 0 && (p[4].revents & POLLIN)) serve_denial();
    else if (notifier && bv_notifier_fd(notifier) >= 0 && p[4].revents) bv_notifier_close(notifier); /* POLLHUP: no task uses the filter any more */
    if (!exited && cpu_fd >= 0) {
      cpu_used = cpu_usage_us();
      if (cpu_used >= cpu_limit_us && end == END_NONE) {
        end = END_CPU;
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      }
    }
    if (!exited && statedir_gone()) {
      /* Removed under us: nothing can record or end this container any more. */
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      reap(pidfd, &info, &ru);
      kill_descendants();
      return 0;
    }
    /* Deadlines are checked whatever woke us: a stream of output must not postpone them. */
    if (exited && bv_mono_ms() >= drain_until) break;
    if (!exited && deadline >= 0 && bv_mono_ms() >= deadline) {
      if (end == END_NONE) end = END_WALL;
      /* The pid namespace dies with its init; descendants without one are ours to kill. */
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      deadline = -1;
      continue;
    }
    /* Read audit records as they come: the socket gets the whole host's, and must not overflow. */
    if (audit && (p[5].revents & POLLIN)) {
      int ae = bv_audit_pump(audit);
      if (ae < 0) {
        landlock_error = -ae;
        bv_audit_free(audit);
        audit = NULL;
      }
    }
    for (int i = 0; i < 2; i++)
      if (p[1 + i].revents) relay_step(&relays[i]);
    if (!exited && p[0].revents) {
      reap(pidfd, &info, &ru);
      exited = 1;
      /* Descendants that outlived it would hold the output pipes open: kill them now. */
      kill_descendants();
    }
  }
  if (!exited) reap(pidfd, &info, &ru);
  kill_descendants();
  if (cpu_fd >= 0) cpu_used = cpu_usage_us();
  if (denials_fd >= 0 && notifier) bv_notifier_write_counts(notifier, denials_fd);
  if (denials_fd >= 0) fsync(denials_fd);
  if (audit) {
    /* Every record of the workload was queued before it exited: the barrier says they arrived. */
    int ae = bv_audit_finish(audit, BV_AUDIT_BARRIER_MS);
    if (ae < 0) landlock_error = -ae;
    bv_audit_free(audit);
    audit = NULL;
  }
  if (audit_file >= 0) fsync(audit_file);
  if (test_switch("slow-exit-record")) sleep(2); /* the test build's stand-in for a long drain or barrier */
  write_exit(end == END_FAULT ? "monitor-fault" : "exited", &info, &ru, end, started_at, reaped_at_ms, 0, fault, cpu_used);
  return 0;
}
