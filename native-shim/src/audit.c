/* Landlock's audit records, read from the READLOG multicast group (audit.h says why and how).
 * Used by the shim's reader thread (bvisor run, the API) and by bvmonitor (containers). */
#define _GNU_SOURCE
#include "audit.h"
#include "notify.h"
#include "launch.h"
#include "span.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef AUDIT_NLGRP_READLOG
#define AUDIT_NLGRP_READLOG 1
#endif
#define LL_ACCESS_FS_READ_DIR (1ull << 3)

int bv_audit_status(uint32_t *out) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) return -errno;
  struct {
    struct nlmsghdr h;
    char pad[8];
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(0);
  req.h.nlmsg_type = AUDIT_GET;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.h.nlmsg_seq = 1;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* The reply: AUDIT_GET with a struct audit_status, or NLMSG_ERROR. Wait at most 1 s. */
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return n == 0 ? -ETIMEDOUT : -errno;
    }
    char buf[1024] __attribute__((aligned(8)));
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    for (ssize_t off = 0; r - off >= (ssize_t)NLMSG_HDRLEN;) {
      struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
      if (h->nlmsg_len < NLMSG_HDRLEN || (ssize_t)h->nlmsg_len > r - off) break;
      off += NLMSG_ALIGN(h->nlmsg_len);
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(h);
        close(fd);
        return err->error ? err->error : -EPROTO;
      }
      if (h->nlmsg_type == AUDIT_GET && h->nlmsg_len >= NLMSG_LENGTH(offsetof(struct audit_status, backlog))) {
        struct audit_status s;
        memset(&s, 0, sizeof s);
        size_t len = h->nlmsg_len - NLMSG_LENGTH(0);
        memcpy(&s, NLMSG_DATA(h), len < sizeof s ? len : sizeof s);
        out[0] = s.enabled;
        out[1] = s.lost;
        out[2] = s.backlog_limit;
        out[3] = s.rate_limit;
        close(fd);
        return 0;
      }
    }
  }
}

int bv_audit_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
  if (fd < 0) return -errno;
  struct sockaddr_nl me = {.nl_family = AF_NETLINK, .nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1)};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* Every record the host emits comes here, not only landlock's: room for bursts. FORCE needs
   * CAP_NET_ADMIN; the plain option is capped by net.core.rmem_max, which is still something. */
  int size = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return fd;
}

#define SERIALS 64

struct bv_audit {
  int fd, out;
  char token[64];           /* the marker directory's random part, or "" (forward everything) */
  char domain[32];          /* the run's domain id, once the marker's record named it */
  char *secrets;            /* NUL-separated values, secret_count of them */
  size_t secrets_len;
  int secret_count;
  uint32_t forwarded, dropped, overflows, bytes;
  int barrier_pid; /* while waiting for the barrier's record, else 0 */
  int barrier_seen;
  uint32_t serials[SERIALS]; /* events that had a landlock record: their SYSCALL record follows */
  unsigned next_serial;
  char buf[16384] __attribute__((aligned(8)));
};

struct bv_audit *bv_audit_new(int fd, int out, const char *token) {
  struct bv_audit *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->fd = fd;
  a->out = out;
  if (token) snprintf(a->token, sizeof a->token, "%s", token);
  return a;
}

int bv_audit_secrets(struct bv_audit *a, const char *values, size_t len, int count) {
  if (!count || !len) return 0;
  a->secrets = malloc(len);
  if (!a->secrets) return -ENOMEM;
  memcpy(a->secrets, values, len);
  a->secrets_len = len;
  a->secret_count = count;
  return 0;
}

int bv_audit_fd(const struct bv_audit *a) { return a->fd; }

void bv_audit_free(struct bv_audit *a) {
  if (!a) return;
  if (a->fd >= 0) close(a->fd);
  if (a->secrets) {
    memset(a->secrets, 0, a->secrets_len);
    free(a->secrets);
  }
  free(a);
}

/* Replaces buf[at..at+n) (of *len, capacity cap) by rep. A replacement is longer than what it
 * replaces ("<redacted>" against 8 bytes or more): one that does not fit cuts the record where the
 * match began (the value never stays), and what no longer fits after it is cut off the end, which
 * *cut then says (the end may now hold the start of a value: redact() looks). */
static void replace_at(char *buf, uint32_t *len, uint32_t cap, size_t at, size_t n, const char *rep, int *cut) {
  size_t rl = strlen(rep);
  size_t tail = *len - at - n;
  if (at + rl > cap) {
    *len = (uint32_t)at;
    *cut = 1;
    return;
  }
  if (at + rl + tail > cap) {
    tail = cap - at - rl;
    *cut = 1;
  }
  memmove(buf + at + rl, buf + at + n, tail);
  memcpy(buf + at, rep, rl);
  *len = (uint32_t)(at + rl + tail);
}

/* Replaces each occurrence of pat[0..pl) in buf[0..*len) by rep (replace_at). */
static void replace_all(char *buf, uint32_t *len, uint32_t cap, const char *pat, size_t pl, const char *rep, int *cut) {
  for (size_t at = 0; pl && at + pl <= *len;) {
    char *hit = memmem(buf + at, *len - at, pat, pl);
    if (!hit) return;
    size_t off = (size_t)(hit - buf);
    replace_at(buf, len, cap, off, pl, rep, cut);
    at = off + strlen(rep);
  }
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* Each place the text spells v split across a path's names (span.h), in units of u characters,
 * replaced by rep. Hex (u = 2) is read in the pairs audit wrote: from the start of each run of
 * hex digits, two at a time (a pair read across two bytes would be no byte of the string). */
static void replace_spans(char *buf, uint32_t *len, uint32_t cap, const char *v, size_t vl, int u, const char *rep, int *cut) {
  size_t run = 0; /* where the current run of hex digits began */
  for (size_t k = 0, spelled, took; k + (size_t)u <= *len;) {
    if (u == 2 && (k == 0 || !is_hex(buf[k - 1]))) run = k;
    int aligned = u == 1 || (k - run) % 2 == 0;
    size_t n = (*len - k) / (size_t)u;
    if (aligned && bv_span_unit(buf + k, 0, u) == (unsigned char)v[0] && (took = bv_span_at(buf + k, n, 0, u, v, vl, &spelled)) > 0) {
      replace_at(buf, len, cap, k, took * (size_t)u, rep, cut);
      k += strlen(rep);
    } else {
      k++;
    }
  }
}

/* After a cut: the end of the record holding the start of a value (8 of its bytes or more; a
 * shorter value counts only whole) is cut off too, as the seccomp notifier does with a string it
 * read in part. */
static void cut_started_value(char *buf, uint32_t *len, const char *pat, size_t pl, size_t unit) {
  size_t least = (pl / unit < 8 ? pl / unit : 8) * unit;
  for (size_t k = pl > unit ? pl - unit : 0; k >= least && k > 0; k -= unit) {
    if (k <= *len && !memcmp(buf + *len - k, pat, k)) {
      *len -= (uint32_t)k;
      return;
    }
  }
}

/* Secret values out of a record: as given, and as audit hex-encodes a string it will not quote
 * (upper case, two digits a byte); whole, and split across a path's names. */
static void redact(const struct bv_audit *a, char *text, uint32_t *len, uint32_t cap) {
  static const char hexd[] = "0123456789ABCDEF";
  int cut = 0;
  for (int pass = 0; pass < 2; pass++) {
    const char *v = a->secrets, *end = a->secrets ? a->secrets + a->secrets_len : NULL;
    for (int i = 0; i < a->secret_count && v < end; i++) {
      size_t vl = strnlen(v, (size_t)(end - v));
      char hx[2 * 256 + 1];
      size_t hl = 0;
      if (vl <= 256) {
        for (size_t k = 0; k < vl; k++) {
          hx[2 * k] = hexd[(unsigned char)v[k] >> 4];
          hx[2 * k + 1] = hexd[(unsigned char)v[k] & 15];
        }
        hl = 2 * vl;
      }
      if (vl && pass == 0) {
        replace_all(text, len, cap, v, vl, "<redacted>", &cut);
        /* "<redacted>" in the same encoding */
        if (hl) replace_all(text, len, cap, hx, hl, "3C72656461637465643E", &cut);
        if (bv_span_eligible(v, vl)) {
          replace_spans(text, len, cap, v, vl, 1, "<redacted>", &cut);
          replace_spans(text, len, cap, v, vl, 2, "3C72656461637465643E", &cut);
        }
      } else if (vl && cut) {
        cut_started_value(text, len, v, vl, 1);
        if (hl) cut_started_value(text, len, hx, hl, 2);
      }
      v += vl + 1;
    }
    if (!cut) break;
  }
}

/* The value of `key=` in a record (unquoted, up to a space), copied into out; 0 if absent. */
static int field(const char *t, uint32_t len, const char *key, char *out, size_t outsz) {
  size_t kl = strlen(key);
  for (const char *p = t, *end = t + len; p + kl < end; p++) {
    if ((p == t || p[-1] == ' ') && !memcmp(p, key, kl)) {
      size_t n = 0;
      for (p += kl; p < end && *p != ' ' && n + 1 < outsz; p++) out[n++] = *p;
      out[n] = 0;
      return n > 0;
    }
  }
  return 0;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t r = write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -errno;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static int forward(struct bv_audit *a, uint32_t type, const char *text, uint32_t len) {
  if (a->bytes + len + 8 > BV_AUDIT_CAP) {
    a->dropped++;
    return 0;
  }
  /* One write per record: header and text together. */
  char rec[8 + 8970];
  if (len > sizeof rec - 8) len = sizeof rec - 8;
  memcpy(rec + 8, text, len);
  if (a->secret_count) redact(a, rec + 8, &len, (uint32_t)sizeof rec - 8);
  memcpy(rec, &type, 4);
  memcpy(rec + 4, &len, 4);
  int e = write_all(a->out, rec, 8 + len);
  if (e) return e;
  a->bytes += len + 8;
  a->forwarded++;
  return 0;
}

/* "audit(1729738800.268:30): ..." → 30; 0 when it does not parse. */
static uint32_t serial_of(const char *t, uint32_t len) {
  const char *end = t + len;
  const char *c = memchr(t, ':', len);
  if (!c || len < 7 || memcmp(t, "audit(", 6)) return 0;
  uint32_t s = 0;
  for (c++; c < end && *c >= '0' && *c <= '9'; c++) s = s * 10 + (uint32_t)(*c - '0');
  return s;
}

/* The barrier's domain record: " pid=<barrier> " with status=allocated. A quoted value never holds
 * a space (audit hex-encodes such strings), so the pattern cannot come from an exe or comm. */
static int is_barrier(const struct bv_audit *a, const char *t, uint32_t len) {
  if (!a->barrier_pid) return 0;
  char pat[32];
  int n = snprintf(pat, sizeof pat, " pid=%d ", a->barrier_pid);
  return memmem(t, len, pat, (size_t)n) && memmem(t, len, "status=allocated", 16);
}

int bv_audit_pump(struct bv_audit *a) {
  /* A batch at a time: the caller looks at its stop signal between batches, so traffic that never
   * lets up cannot hold the end of the run back. */
  for (int batch = 0; batch < 256; batch++) {
    ssize_t r = recv(a->fd, a->buf, sizeof a->buf, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == ENOBUFS) {
      a->overflows++; /* records were lost; the socket goes on */
      continue;
    }
    if (r < 0 && errno == EAGAIN) return 0;
    if (r < 0) return -errno;
    if (r == 0) return 0;
    /* Walked by hand, signed: a record's length need not be a multiple of NLMSG_ALIGNTO and the
     * datagram is not padded after the last one, so NLMSG_NEXT's remainder can go negative, and
     * NLMSG_OK with an unsigned length would then read past the buffer. */
    for (ssize_t off = 0; r - off >= (ssize_t)NLMSG_HDRLEN;) {
      struct nlmsghdr *h = (struct nlmsghdr *)(a->buf + off);
      if (h->nlmsg_len < NLMSG_HDRLEN || (ssize_t)h->nlmsg_len > r - off) break;
      off += NLMSG_ALIGN(h->nlmsg_len);
      uint32_t type = h->nlmsg_type;
      if (type != BV_AUDIT_LANDLOCK_ACCESS && type != BV_AUDIT_LANDLOCK_DOMAIN && type != BV_AUDIT_SYSCALL) continue;
      const char *text = NLMSG_DATA(h);
      uint32_t len = h->nlmsg_len - NLMSG_LENGTH(0);
      while (len && text[len - 1] == '\0') len--;
      uint32_t serial = serial_of(text, len);
      if (type == BV_AUDIT_LANDLOCK_DOMAIN && is_barrier(a, text, len)) {
        a->barrier_seen = 1;
        continue;
      }
      if (type == BV_AUDIT_SYSCALL) {
        int ours = 0;
        for (int i = 0; i < SERIALS && !ours; i++) ours = serial && a->serials[i] == serial;
        if (!ours) continue;
      } else {
        /* With a token: nothing before the marker's record, then the run's domain only. */
        char dom[32];
        if (a->token[0]) {
          if (!field(text, len, "domain=", dom, sizeof dom)) continue;
          if (!a->domain[0]) {
            if (type != BV_AUDIT_LANDLOCK_ACCESS || !memmem(text, len, a->token, strlen(a->token))) continue;
            snprintf(a->domain, sizeof a->domain, "%s", dom);
          } else if (strcmp(dom, a->domain)) continue;
        }
        if (serial) {
          int known = 0;
          for (int i = 0; i < SERIALS && !known; i++) known = a->serials[i] == serial;
          if (!known) a->serials[a->next_serial++ % SERIALS] = serial;
        }
      }
      int e = forward(a, type, text, len);
      if (e) return e;
    }
  }
  return 0;
}

/* The barrier child: shares the reader's memory until it exits (CLONE_VM|CLONE_VFORK), so it only
 * makes system calls. A landlock domain handling READ_DIR alone, then a read of "/": denied, and
 * logged (a denial of the restricting program itself is logged by default). */
static int barrier_main(void *arg) {
  (void)arg;
  prctl(PR_SET_NAME, "bvisor-barrier", 0, 0, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return 1;
  uint64_t handled = LL_ACCESS_FS_READ_DIR;
  long rs = syscall(SYS_landlock_create_ruleset, &handled, sizeof handled, 0);
  if (rs < 0) return 2;
  if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) return 3;
  long fd = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? 0 : 4;
}

int bv_audit_finish(struct bv_audit *a, int timeout_ms) {
  bv_audit_pump(a);
  int pid = -1;
  int st = bv_run_child(barrier_main, NULL, 1, &pid);
  uint32_t barrier = 2;
  if (pid > 0 && st == 0) {
    a->barrier_pid = pid;
    int64_t deadline = bv_mono_ms() + timeout_ms;
    while (!a->barrier_seen) {
      if (bv_audit_pump(a) < 0) break;
      if (a->barrier_seen) break;
      int64_t left = deadline - bv_mono_ms();
      if (left <= 0) break;
      struct pollfd p = {a->fd, POLLIN, 0};
      if (poll(&p, 1, (int)left) < 0 && errno != EINTR) break;
    }
    barrier = a->barrier_seen ? 1 : 0;
  }
  uint32_t end[4] = {barrier, a->overflows, a->dropped, a->forwarded};
  uint32_t hdr[2] = {BV_AUDIT_END, sizeof end};
  char rec[8 + sizeof end];
  memcpy(rec, hdr, 8);
  memcpy(rec + 8, end, sizeof end);
  return write_all(a->out, rec, sizeof rec);
}

#ifndef BV_MONITOR
/* ---- the shim's reader thread (bvisor run, the API): reads while the workload runs, so the
 * socket buffer does not overflow, and finishes with the barrier when stop_fd becomes readable or
 * hung up (the workload has exited). Owns audit_fd, out_fd and stop_fd. ---- */

struct reader {
  struct bv_audit *a;
  int stop;
};

static void *reader_main(void *arg) {
  struct reader *r = arg;
  for (;;) {
    struct pollfd p[2] = {{bv_audit_fd(r->a), POLLIN, 0}, {r->stop, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((p[0].revents & POLLIN) && bv_audit_pump(r->a) < 0) break;
    if (p[1].revents) break; /* the workload has exited: on to the barrier */
  }
  bv_audit_finish(r->a, BV_AUDIT_BARRIER_MS);
  close(r->a->out);
  bv_audit_free(r->a);
  close(r->stop);
  free(r);
  return NULL;
}

int bv_audit_thread(int audit_fd, int out_fd, int stop_fd, const char *token, const char *secrets, int secrets_len, int secret_count) {
  struct reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->a = bv_audit_new(audit_fd, out_fd, token);
  if (!r->a || bv_audit_secrets(r->a, secrets, secrets_len > 0 ? (size_t)secrets_len : 0, secret_count)) {
    if (r->a) r->a->fd = -1;
    bv_audit_free(r->a);
    free(r);
    return -ENOMEM;
  }
  r->stop = stop_fd;
  int e = bv_detached_thread(reader_main, r, 128 * 1024);
  if (e) {
    r->a->fd = -1; /* the caller still owns the descriptors when we fail */
    bv_audit_free(r->a);
    free(r);
  }
  return e;
}
#endif
