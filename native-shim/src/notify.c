/* Seccomp user notification, the holder's side (see notify.h for why it is never weaker than
 * the plain filter). Used by bvmonitor (containers: its poll loop serves the listener) and by
 * the shim (runs in-process: a thread of its own serves it, see bv_notify_thread below), so
 * it allocates and uses stdio-free libc freely: it never runs in the clone child. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "span.h"

int64_t bv_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

_Static_assert(sizeof(struct bv_notify_rec) == 592, "the record layout is decoded by src/core/seccomp/denials.ts");

struct bv_notifier {
  int fd;
  struct seccomp_notif_sizes sizes;
  size_t req_size, resp_size; /* the larger of the kernel's size and our headers' */
  struct seccomp_notif *req;
  struct seccomp_notif_resp *resp;
  uint8_t strmask[BV_NOTIFY_MAX_NR];
  struct sock_filter *prog; /* observe mode */
  int prog_len;
  uint32_t denied[BV_NOTIFY_MAX_NR + 1], kept[BV_NOTIFY_MAX_NR + 1]; /* last: x32 and others */
  uint32_t arch;
  char *secrets;            /* NUL-separated values, secret_count of them */
  size_t secrets_len;
  int secret_count;
};

int bv_notifier_secrets(struct bv_notifier *n, const char *values, size_t len, int count) {
  if (count <= 0 || !len) return 0;
  n->secrets = malloc(len);
  if (!n->secrets) return -ENOMEM;
  memcpy(n->secrets, values, len);
  n->secrets_len = len;
  n->secret_count = count;
  return 0;
}

/* Whether buf[0..len) contains any secret value (an empty value matches nothing), whole or split
 * across a path's names (span.h). `cut`: buf is the start of a longer string, so a value may begin
 * in its tail and go on past what was kept: a tail that spells at least 8 bytes of the value (or
 * all of it, if shorter) from its start counts too. Values are matched as given: a workload that
 * encodes its own secret on purpose can always put it somewhere (its output, too); this keeps
 * the accidental echo, and a sharded name, out of reports. */
static int holds_secret(const struct bv_notifier *n, const char *buf, size_t len, int cut) {
  const char *v = n->secrets, *end = n->secrets + n->secrets_len;
  for (int i = 0; i < n->secret_count && v < end; i++) {
    size_t vl = strnlen(v, (size_t)(end - v));
    size_t least = vl < 8 ? vl : 8;
    if (vl && vl <= len && memmem(buf, len, v, vl)) return 1;
    if (vl && cut) {
      for (size_t k = len > vl ? len - vl + 1 : 0; k + least <= len; k++)
        if (!memcmp(buf + k, v, len - k)) return 1;
    }
    if (vl && bv_span_eligible(v, vl) && memchr(buf, '/', len)) {
      for (size_t k = 0, spelled; k < len; k++)
        if (buf[k] == v[0] && (bv_span_at(buf, len, k, 1, v, vl, &spelled) || (cut && spelled >= least))) return 1;
    }
    v += vl + 1;
  }
  return 0;
}

struct bv_notifier *bv_notifier_new(int listener, const uint8_t *strmask, int nmask) {
  struct bv_notifier *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->fd = listener;
  /* The kernel's structs may be larger than our headers': ask for its sizes (seccomp_unotify(2)). */
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &n->sizes) < 0) {
    n->sizes.seccomp_notif = sizeof(struct seccomp_notif);
    n->sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
  }
  n->req_size = n->sizes.seccomp_notif > sizeof(struct seccomp_notif) ? n->sizes.seccomp_notif : sizeof(struct seccomp_notif);
  n->resp_size = n->sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? n->sizes.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
  n->req = calloc(1, n->req_size);
  n->resp = calloc(1, n->resp_size);
  if (!n->req || !n->resp) {
    free(n->req);
    free(n->resp);
    free(n);
    return NULL;
  }
  if (strmask && nmask > 0) memcpy(n->strmask, strmask, (size_t)(nmask < BV_NOTIFY_MAX_NR ? nmask : BV_NOTIFY_MAX_NR));
  return n;
}

int bv_notifier_fd(const struct bv_notifier *n) { return n->fd; }

int bv_notifier_keep(struct bv_notifier *n, const struct bv_notify_rec *rec) {
  if (rec->kind != BV_NOTIFY_DENIED) return 1;
  int i = rec->nr >= 0 && rec->nr < BV_NOTIFY_MAX_NR ? rec->nr : BV_NOTIFY_MAX_NR;
  n->arch = rec->arch;
  n->denied[i]++;
  if (n->kept[i] >= BV_NOTIFY_PER_NR) return 0;
  n->kept[i]++;
  return 1;
}

/* One whole record (a pipe write below PIPE_BUF never interleaves); 0 or -1. */
static int write_rec(int fd, const struct bv_notify_rec *rec) {
  ssize_t r;
  do r = write(fd, rec, sizeof *rec);
  while (r < 0 && errno == EINTR);
  return r == (ssize_t)sizeof *rec ? 0 : -1;
}

int bv_notifier_write_counts(const struct bv_notifier *n, int fd) {
  for (int i = 0; i <= BV_NOTIFY_MAX_NR; i++) {
    if (n->denied[i] <= n->kept[i]) continue;
    struct bv_notify_rec c;
    memset(&c, 0, sizeof c);
    c.kind = BV_NOTIFY_COUNT;
    c.nr = i < BV_NOTIFY_MAX_NR ? i : -1;
    c.arch = n->arch;
    c.args[0] = n->denied[i];
    c.args[1] = n->kept[i];
    c.str_arg[0] = c.str_arg[1] = 0xff;
    if (write_rec(fd, &c) < 0) return errno ? errno : EIO;
  }
  return 0;
}

int bv_notifier_observe(struct bv_notifier *n, const void *prog, int len) {
  if (len <= 0 || len > 4096) return -EINVAL;
  n->prog = malloc((size_t)len * sizeof *n->prog);
  if (!n->prog) return -ENOMEM;
  memcpy(n->prog, prog, (size_t)len * sizeof *n->prog);
  n->prog_len = len;
  return 0;
}

/* Classic BPF over seccomp_data, the subset seccomp filters use (filter.c: seccomp_check_filter
 * allows LD/LDX W ABS, ALU, JMP, RET, MISC, LD/ST mem). Unknown instructions and out-of-range
 * loads return a deny, so a program we cannot read never lets anything through. */
static uint32_t run_bpf(const struct sock_filter *p, int len, const struct seccomp_data *d) {
  const uint32_t deny = SECCOMP_RET_ERRNO | EPERM;
  uint32_t A = 0, X = 0, M[16] = {0};
  const uint8_t *data = (const uint8_t *)d;
  for (int pc = 0; pc < len; pc++) {
    const struct sock_filter *f = &p[pc];
    uint32_t k = f->k;
    switch (f->code) {
    case BPF_LD | BPF_W | BPF_ABS:
      if (k > sizeof *d - 4 || (k & 3)) return deny;
      memcpy(&A, data + k, 4);
      break;
    case BPF_LD | BPF_W | BPF_LEN: A = sizeof *d; break;
    case BPF_LDX | BPF_W | BPF_LEN: X = sizeof *d; break;
    case BPF_LD | BPF_IMM: A = k; break;
    case BPF_LDX | BPF_IMM: X = k; break;
    case BPF_LD | BPF_MEM: if (k >= 16) return deny; A = M[k]; break;
    case BPF_LDX | BPF_MEM: if (k >= 16) return deny; X = M[k]; break;
    case BPF_ST: if (k >= 16) return deny; M[k] = A; break;
    case BPF_STX: if (k >= 16) return deny; M[k] = X; break;
    case BPF_MISC | BPF_TAX: X = A; break;
    case BPF_MISC | BPF_TXA: A = X; break;
    case BPF_ALU | BPF_AND | BPF_K: A &= k; break;
    case BPF_ALU | BPF_AND | BPF_X: A &= X; break;
    case BPF_ALU | BPF_OR | BPF_K: A |= k; break;
    case BPF_ALU | BPF_OR | BPF_X: A |= X; break;
    case BPF_ALU | BPF_ADD | BPF_K: A += k; break;
    case BPF_ALU | BPF_SUB | BPF_K: A -= k; break;
    case BPF_ALU | BPF_RSH | BPF_K: A >>= (k & 31); break;
    case BPF_ALU | BPF_LSH | BPF_K: A <<= (k & 31); break;
    case BPF_ALU | BPF_NEG: A = -A; break;
    case BPF_JMP | BPF_JA:
      if (k >= (uint32_t)(len - pc - 1)) return deny; /* past the end: the kernel's checker refuses it */
      pc += (int)k;
      break;
    case BPF_JMP | BPF_JEQ | BPF_K: pc += A == k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGT | BPF_K: pc += A > k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGE | BPF_K: pc += A >= k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JSET | BPF_K: pc += (A & k) ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JEQ | BPF_X: pc += A == X ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGT | BPF_X: pc += A > X ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGE | BPF_X: pc += A >= X ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JSET | BPF_X: pc += (A & X) ? f->jt : f->jf; break;
    case BPF_RET | BPF_K: return k;
    case BPF_RET | BPF_A: return A;
    default: return deny;
    }
    if (pc + 1 >= len) return deny; /* a conditional jump past the end (the kernel refuses those) */
  }
  return deny; /* fell off the end: the kernel's checker forbids it */
}

#ifndef BV_MONITOR
/* The holder's BPF evaluation, exposed so a test can compare it with an independent interpreter
 * over whole programs (observe mode must decide exactly as the kernel's filter would). */
uint32_t bv_bpf_eval(const void *prog, int len, const void *data) {
  if (len <= 0 || len > 4096) return SECCOMP_RET_ERRNO | EPERM;
  return run_bpf((const struct sock_filter *)prog, len, (const struct seccomp_data *)data);
}
#endif

void bv_notifier_close(struct bv_notifier *n) {
  if (n->fd >= 0) close(n->fd);
  n->fd = -1;
}

void bv_notifier_free(struct bv_notifier *n) {
  if (!n) return;
  if (n->secrets) {
    memset(n->secrets, 0, n->secrets_len);
    free(n->secrets);
  }
  free(n->prog);
  if (n->fd >= 0) close(n->fd);
  free(n->req);
  free(n->resp);
  free(n);
}

/* Reads a C string at addr in pid's memory, one page at a time so a string that ends just
 * before an unmapped page is still read. Returns its length, or -1. */
static int read_string(pid_t pid, uint64_t addr, char *out, uint8_t *trunc) {
  size_t got = 0;
  *trunc = 0;
  while (got < BV_NOTIFY_STR - 1) {
    uint64_t a = addr + got;
    size_t room = BV_NOTIFY_STR - 1 - got, to_page = 4096 - (size_t)(a & 4095);
    size_t want = room < to_page ? room : to_page;
    struct iovec local = {out + got, want}, remote = {(void *)(uintptr_t)a, want};
    ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (r <= 0) {
      if (got == 0) return -1;
      /* unterminated before unmapped memory (the call itself would get EFAULT): mark it cut */
      out[got] = 0;
      *trunc = 1;
      return (int)got;
    }
    char *nul = memchr(out + got, 0, (size_t)r);
    if (nul) return (int)(nul - out);
    got += (size_t)r;
  }
  out[got] = 0;
  *trunc = got >= BV_NOTIFY_STR - 1;
  return (int)got;
}

int bv_notifier_serve(struct bv_notifier *n, struct bv_notify_rec *rec) {
  memset(n->req, 0, n->req_size);
  if (ioctl(n->fd, SECCOMP_IOCTL_NOTIF_RECV, n->req) < 0) {
    /* ENOENT: the caller was gone (killed) between the wakeup and the receive. */
    if (errno == ENOENT || errno == EINTR) return 0;
    return -errno;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  memset(rec, 0, sizeof *rec);
  rec->kind = BV_NOTIFY_DENIED;
  rec->pid = n->req->pid;
  rec->nr = n->req->data.nr;
  rec->arch = n->req->data.arch;
  rec->t_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  for (int i = 0; i < 6; i++) rec->args[i] = n->req->data.args[i];
  rec->str_arg[0] = rec->str_arg[1] = 0xff;
  int s = 0;
  uint8_t mask = (rec->nr >= 0 && rec->nr < BV_NOTIFY_MAX_NR) ? n->strmask[rec->nr] : 0;
  if ((mask & 0x40) && rec->args[1] && rec->args[2]) {
    /* connect/bind: the address, raw (its family tells how to read it) */
    size_t want = rec->args[2] < 128 ? (size_t)rec->args[2] : 128;
    struct iovec local = {rec->str[0], want}, remote = {(void *)(uintptr_t)rec->args[1], want};
    if (process_vm_readv((pid_t)rec->pid, &local, 1, &remote, 1, 0) == (ssize_t)want) {
      rec->str_arg[0] = 0x40 | 1;
      rec->str_trunc[0] = (uint8_t)want;
    }
    s = 1;
    mask = 0;
  }
  for (int i = 0; i < 6 && s < 2 && mask; i++) {
    if (!(mask & (1u << i))) continue;
    if (rec->args[i] && read_string((pid_t)rec->pid, rec->args[i], rec->str[s], &rec->str_trunc[s]) >= 0) rec->str_arg[s] = (uint8_t)i;
    else rec->str[s][0] = 0;
    s++;
  }
  /* Secrets never reach a record: a string (or address) holding one is replaced whole. */
  for (int k = 0; k < 2 && n->secret_count; k++) {
    if (rec->str_arg[k] == 0xff) continue;
    size_t len = (rec->str_arg[k] & 0x40) ? rec->str_trunc[k] : strnlen(rec->str[k], BV_NOTIFY_STR);
    if (holds_secret(n, rec->str[k], len, !(rec->str_arg[k] & 0x40) && rec->str_trunc[k] == 1)) {
      memset(rec->str[k], 0, BV_NOTIFY_STR);
      memcpy(rec->str[k], BV_NOTIFY_REDACTED, sizeof BV_NOTIFY_REDACTED);
      if (rec->str_arg[k] & 0x40) rec->str_arg[k] = 1; /* no longer an address: a string */
      rec->str_trunc[k] = 0;
    }
  }
  /* The pid may have died and been reused while we read: then what we read is someone else's. */
  if (s && ioctl(n->fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->req->id) < 0) {
    memset(rec->str, 0, sizeof rec->str);
    rec->str_arg[0] = rec->str_arg[1] = 0xff;
  }
  memset(n->resp, 0, n->resp_size);
  n->resp->id = n->req->id;
  n->resp->error = -EPERM; /* what SECCOMP_RET_ERRNO|EPERM returns: the policy's deny */
  n->resp->val = 0;
  n->resp->flags = 0;      /* never SECCOMP_USER_NOTIF_FLAG_CONTINUE, outside observe mode */
  if (n->prog) {
    uint32_t ret = run_bpf(n->prog, n->prog_len, &n->req->data);
    uint32_t action = ret & SECCOMP_RET_ACTION_FULL;
    if (action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG) {
      n->resp->error = 0;
      n->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      rec->kind = BV_NOTIFY_OBSERVED;
    } else if (action == SECCOMP_RET_ERRNO) {
      n->resp->error = -(int32_t)(ret & SECCOMP_RET_DATA);
    }
  }
  if (ioctl(n->fd, SECCOMP_IOCTL_NOTIF_SEND, n->resp) < 0 && errno != ENOENT) return -errno;
  return 1;
}

int bv_recv_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  if (r == 0) return -EAGAIN;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int))) return -EBADMSG;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  if ((msg.msg_flags & MSG_CTRUNC) || c->cmsg_len != CMSG_LEN(sizeof(int))) {
    /* more than the one descriptor we expect: close what we got, refuse the message */
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int x;
      memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
      close(x);
    }
    return -EBADMSG;
  }
  return fd;
}

#ifndef BV_MONITOR
/* ---- the shim's holder: a thread of its own, for launches whose parent is Node ----
 * Node cannot block on the listener, and its event loop may be busy for longer than a denied
 * call should wait, so a plain thread answers at once and hands records to Node through a pipe
 * (out_fd), which Node reads when it can. The thread is started before the workload is ready
 * (while the child builds its root) on a duplicate of the parent's end of the sync socket: it
 * takes the listener the child sends there right after its filter, before exec, so Node's path
 * to exec never waits for the hand-over. The thread owns the duplicate, the listener, out_fd and
 * stop_fd and closes them when it ends: when the filter has no task left (POLLHUP), when stop_fd
 * becomes readable or hung up (bvisor gave up waiting), when the listener fails, or when the
 * socket ends without a listener (the child failed before its filter, or exited). Records beyond
 * max_records are counted, not written; the last record (BV_NOTIFY_END) carries the counts and
 * whether a listener was held. A full pipe blocks the thread, and so the next denied call, until
 * Node reads: the workload is slowed, never let through. */
#include <poll.h>
#include <pthread.h>
#include "bvshim.h"

struct holder {
  struct bv_notifier *n;
  int sock; /* until the listener arrives; then -1 */
  int out, stop;
  int max;
};

/* Phase 1: the listener from the sync socket. 0 when held; 1 when stopped first; else an errno
 * (EPIPE: the socket ended without one). */
static uint64_t take_listener(struct holder *h) {
  for (;;) {
    struct pollfd p[2] = {{h->sock, POLLIN, 0}, {h->stop, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return (uint64_t)errno;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      int fd = bv_recv_fd(h->sock);
      close(h->sock);
      h->sock = -1;
      /* bv_recv_fd answers EAGAIN for a socket that ended (no byte, no descriptor) */
      if (fd == -EAGAIN) return EPIPE;
      if (fd < 0) return (uint64_t)-fd;
      h->n->fd = fd;
      return 0;
    }
    if (p[1].revents) return 1;
  }
}

static void *holder_main(void *arg) {
  struct holder *h = arg;
  uint64_t total = 0, dropped = 0, why = take_listener(h), held = why == 0;
  struct bv_notify_rec rec;
  while (held) {
    struct pollfd p[2] = {{bv_notifier_fd(h->n), POLLIN, 0}, {h->stop, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      why = (uint64_t)errno;
      break;
    }
    if (p[0].revents & POLLIN) {
      int r = bv_notifier_serve(h->n, &rec);
      if (r < 0) {
        why = (uint64_t)-r;
        break;
      }
      if (r == 1) {
        total++;
        if (!bv_notifier_keep(h->n, &rec) || (int)(total - dropped) > h->max || write_rec(h->out, &rec) < 0) dropped++;
      }
      continue;
    }
    if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) break; /* no task uses the filter any more */
    if (p[1].revents) {
      why = 1;
      break;
    }
  }
  /* Past the caps, how often each kind of call was denied. */
  bv_notifier_write_counts(h->n, h->out);
  memset(&rec, 0, sizeof rec);
  rec.kind = BV_NOTIFY_END;
  rec.args[0] = total;
  rec.args[1] = dropped;
  rec.args[2] = why;
  rec.args[3] = held;
  write_rec(h->out, &rec);
  bv_notifier_free(h->n);
  if (h->sock >= 0) close(h->sock);
  close(h->out);
  close(h->stop);
  free(h);
  return NULL;
}

int bv_notify_thread(int sock, int out_fd, int stop_fd, const uint8_t *strmask, int nmask, int max_records, const void *observe_prog, int observe_len, const char *secrets, int secrets_len, int secret_count) {
  struct holder *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  h->n = bv_notifier_new(-1, strmask, nmask);
  if (!h->n) {
    free(h);
    return -ENOMEM;
  }
  int e = bv_notifier_secrets(h->n, secrets, secrets_len > 0 ? (size_t)secrets_len : 0, secret_count);
  if (!e && observe_prog) e = bv_notifier_observe(h->n, observe_prog, observe_len);
  /* The thread's own end: the caller keeps (and closes) its descriptor as before. */
  h->sock = e ? -1 : fcntl(sock, F_DUPFD_CLOEXEC, 3);
  if (!e && h->sock < 0) e = -errno;
  h->out = out_fd;
  h->stop = stop_fd;
  h->max = max_records;
  if (!e) e = bv_detached_thread(holder_main, h, 64 * 1024);
  if (e) {
    /* the caller still owns out_fd and stop_fd when we fail */
    if (h->sock >= 0) close(h->sock);
    bv_notifier_free(h->n);
    free(h);
  }
  return e;
}

int bv_detached_thread(void *(*fn)(void *), void *arg, size_t stack) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* Never below the platform's least (aarch64's is 128 KiB): setstacksize would refuse it, and the
   * thread would get the default 8 MiB without a word. */
  long least = sysconf(_SC_THREAD_STACK_MIN);
  if (least > 0 && stack < (size_t)least) stack = (size_t)least;
  int se = pthread_attr_setstacksize(&attr, stack);
  if (se) {
    pthread_attr_destroy(&attr);
    return -se;
  }
  /* Signals stay with Node's threads: block them all in ours. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return -e;
}

int bv_socketpair(int32_t *fds) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  fds[0] = sv[0];
  fds[1] = sv[1];
  return 0;
}
#endif
