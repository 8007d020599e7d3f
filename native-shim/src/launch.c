/* The launcher: parent-side preparation (ordinary C) and the clone3() child (async-signal-safe
 * region). See launch.h for the body layout and the order of the child's steps. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"
#include "bvshim.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Our own copy: older headers lack the cgroup field. */
struct bv_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

int bv_body_layout(int32_t *out, int n) {
  int32_t v[] = {
      BV_BODY_VERSION,
      (int32_t)sizeof(struct bv_body_header),
      offsetof(struct bv_body_header, magic), offsetof(struct bv_body_header, version),
      offsetof(struct bv_body_header, total_len), offsetof(struct bv_body_header, flags),
      offsetof(struct bv_body_header, clone_flags), offsetof(struct bv_body_header, exe_fd),
      offsetof(struct bv_body_header, cgroup_fd), offsetof(struct bv_body_header, sync_fd),
      offsetof(struct bv_body_header, fail_fd), offsetof(struct bv_body_header, landlock_fd),
      offsetof(struct bv_body_header, stdio), offsetof(struct bv_body_header, argc),
      offsetof(struct bv_body_header, envc), offsetof(struct bv_body_header, nfds),
      offsetof(struct bv_body_header, nrlimits), offsetof(struct bv_body_header, strings_off),
      offsetof(struct bv_body_header, strings_len), offsetof(struct bv_body_header, fds_off),
      offsetof(struct bv_body_header, rlimits_off), offsetof(struct bv_body_header, bpf_off),
      offsetof(struct bv_body_header, bpf_len), offsetof(struct bv_body_header, mounts_off),
      offsetof(struct bv_body_header, nmounts), offsetof(struct bv_body_header, hostname_len),
      offsetof(struct bv_body_header, sync_peer_fd), offsetof(struct bv_body_header, cap_keep),
      (int32_t)sizeof(struct bv_fd), (int32_t)sizeof(struct bv_rlimit), (int32_t)sizeof(struct bv_mount),
      (int32_t)sizeof(struct bv_record), (int32_t)sizeof(struct sock_filter),
  };
  int count = (int)(sizeof v / sizeof v[0]);
  if (n > count) n = count;
  for (int i = 0; i < n; i++) out[i] = v[i];
  return n;
}

/* Prepared by the parent before clone3; the child reads its copy-on-write copy. */
struct prepared {
  const struct bv_body_header *h;
  const uint8_t *body;
  const char *hostname;
  char **argv;
  char **envp;
  const struct bv_fd *fds;
  const struct bv_rlimit *rlimits;
  const struct sock_filter *bpf;
};

/* ==== ASYNC-SIGNAL-SAFE REGION ====
 * Runs in the clone3() child of a multithreaded Node process.
 * Allowed: raw syscalls, memcpy/memset on memory the parent prepared.
 * Forbidden: malloc/free, stdio, strerror, locale, any lock.
 * Failure: write {stage, errno, item} to the fail pipe, then _exit(). Never return into Node. */

static void child_report(int fd, int32_t kind, int32_t stage, int32_t err, int32_t item) {
  struct bv_record r = {kind, stage, err, item};
  const char *p = (const char *)&r;
  size_t left = sizeof r;
  while (left > 0) {
    long w = syscall(SYS_write, fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    left -= (size_t)w;
  }
}

__attribute__((noreturn)) static void child_fail(int fd, int32_t stage, int32_t err, int32_t item) {
  child_report(fd, 0, stage, err, item);
  for (;;) syscall(SYS_exit_group, 127);
}

static int child_read_byte(int fd) {
  char b;
  for (;;) {
    long r = syscall(SYS_read, fd, &b, 1);
    if (r == 1) return 0;
    if (r < 0 && errno == EINTR) continue;
    return r == 0 ? EPIPE : errno;
  }
}

static const char *str_at(const struct prepared *p, uint32_t off) {
  if (off == BV_NO_STRING) return NULL;
  return (const char *)p->body + p->h->strings_off + off;
}

/* MS_* flags a bind remount must keep: in a user namespace the kernel locks them. */
static unsigned long locked_flags(const char *path) {
  struct statfs sf;
  unsigned long keep = 0;
  if (syscall(SYS_statfs, path, &sf) < 0) return 0;
  if (sf.f_flags & ST_NOSUID) keep |= MS_NOSUID;
  if (sf.f_flags & ST_NODEV) keep |= MS_NODEV;
  if (sf.f_flags & ST_NOEXEC) keep |= MS_NOEXEC;
  if (sf.f_flags & ST_NOATIME) keep |= MS_NOATIME;
  if (sf.f_flags & ST_NODIRATIME) keep |= MS_NODIRATIME;
  if (sf.f_flags & ST_RELATIME) keep |= MS_RELATIME;
  return keep;
}

static int remount_ro(const char *target) {
  unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target);
  return syscall(SYS_mount, NULL, target, NULL, fl, NULL) < 0 ? errno : 0;
}

static int child_mount_step(const struct prepared *p, const struct bv_mount *m, int landlock_fd) {
  const char *src = str_at(p, m->source), *tgt = str_at(p, m->target), *fst = str_at(p, m->fstype), *dat = str_at(p, m->data);
  switch (m->op) {
    case BV_MOUNT_MOUNT:
      return syscall(SYS_mount, src, tgt, fst, (unsigned long)m->flags, dat) < 0 ? errno : 0;
    case BV_MOUNT_BIND:
      if (syscall(SYS_mount, src, tgt, NULL, MS_BIND | MS_REC, NULL) < 0) return errno;
      return (m->flags & MS_RDONLY) ? remount_ro(tgt) : 0;
    case BV_MOUNT_MKDIR:
      if (syscall(SYS_mkdirat, AT_FDCWD, tgt, 0755) < 0 && errno != EEXIST) return errno;
      return 0;
    case BV_MOUNT_MKFILE: {
      long fd = syscall(SYS_openat, AT_FDCWD, tgt, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) return errno == EEXIST ? 0 : errno;
      syscall(SYS_close, fd);
      return 0;
    }
    case BV_MOUNT_PIVOT:
      /* pivot_root(".", "."): the old root is stacked under the new one; detaching "." then
       * removes it without needing a directory for it inside the rootfs. */
      if (syscall(SYS_chdir, tgt) < 0) return errno;
      if (syscall(SYS_pivot_root, ".", ".") < 0) return errno;
      if (syscall(SYS_umount2, ".", MNT_DETACH) < 0) return errno;
      if (syscall(SYS_chdir, "/") < 0) return errno;
      return 0;
    case BV_MOUNT_REMOUNT_RO:
      return remount_ro(tgt);
    case BV_MOUNT_LL_RULE: {
      if (landlock_fd < 0) return EBADF;
      long fd = syscall(SYS_openat, AT_FDCWD, tgt, O_PATH | O_CLOEXEC);
      if (fd < 0) return errno;
      struct __attribute__((packed)) {
        uint64_t allowed_access;
        int32_t parent_fd;
      } pb = {m->flags, (int32_t)fd};
      long r = syscall(SYS_landlock_add_rule, landlock_fd, 1, &pb, 0);
      int e = r < 0 ? errno : 0;
      syscall(SYS_close, fd);
      return e;
    }
    case BV_MOUNT_MASK: {
      struct stat st;
      if (syscall(SYS_newfstatat, AT_FDCWD, tgt, &st, 0) < 0) return errno == ENOENT ? 0 : errno;
      if (S_ISDIR(st.st_mode)) return syscall(SYS_mount, "tmpfs", tgt, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=000") < 0 ? errno : 0;
      return syscall(SYS_mount, "/dev/null", tgt, NULL, MS_BIND, NULL) < 0 ? errno : 0;
    }
    case BV_MOUNT_SYMLINK:
      if (syscall(SYS_symlinkat, src, AT_FDCWD, tgt) < 0 && errno != EEXIST) return errno;
      return 0;
    case BV_MOUNT_CHDIR:
      return syscall(SYS_chdir, tgt) < 0 ? errno : 0;
    default:
      return EINVAL;
  }
}

static int child_lo_up(void) {
  long s = syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_name[0] = 'l';
  ifr.ifr_name[1] = 'o';
  int err = 0;
  if (syscall(SYS_ioctl, s, SIOCGIFFLAGS, &ifr) < 0) err = errno;
  else {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (syscall(SYS_ioctl, s, SIOCSIFFLAGS, &ifr) < 0) err = errno;
  }
  syscall(SYS_close, s);
  return err;
}

static int close_from_to(unsigned lo, unsigned hi) {
  if (lo > hi) return 0;
  if (syscall(SYS_close_range, lo, hi, 0) == 0) return 0;
  if (errno != ENOSYS) return errno;
  /* Kernels before 5.9: close one by one up to the soft RLIMIT_NOFILE. */
  struct rlimit rl;
  if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) < 0) return errno;
  unsigned top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576 ? 1048576 : (unsigned)rl.rlim_cur;
  if (hi > top) hi = top;
  for (unsigned fd = lo; fd <= hi; fd++) syscall(SYS_close, fd);
  return 0;
}

/* dup every keeper and source above `high`, then onto targets, then close the rest. */
static void child_fds(const struct prepared *p, int *fail_fd, int *sync_fd, int *exe_fd) {
  const struct bv_body_header *h = p->h;
  unsigned top = 3;
  for (uint32_t i = 0; i < h->nfds; i++)
    if ((unsigned)p->fds[i].dst + 1 > top) top = (unsigned)p->fds[i].dst + 1;
  int high = (int)top + 8;
  int keep[3];
  int *keepers[3] = {fail_fd, sync_fd, exe_fd};
  for (int k = 0; k < 3; k++) {
    long nfd = syscall(SYS_fcntl, *keepers[k], F_DUPFD_CLOEXEC, high);
    if (nfd < 0) child_fail(*fail_fd, BV_STAGE_FD, errno, -10 - k);
    *keepers[k] = (int)nfd;
    keep[k] = (int)nfd;
  }
  /* Temporary copies of the sources so a dup onto a target cannot clobber an unread source. */
  int tmp_stdio[3];
  for (int s = 0; s < 3; s++) {
    long t = syscall(SYS_fcntl, h->stdio[s], F_DUPFD_CLOEXEC, high);
    if (t < 0) child_fail(*fail_fd, BV_STAGE_FD, errno, -1 - s);
    tmp_stdio[s] = (int)t;
  }
  int tmp_fds[64];
  for (uint32_t i = 0; i < h->nfds; i++) {
    long t = syscall(SYS_fcntl, p->fds[i].src, F_DUPFD_CLOEXEC, high);
    if (t < 0) child_fail(*fail_fd, BV_STAGE_FD, errno, (int32_t)i);
    tmp_fds[i] = (int)t;
  }
  for (int s = 0; s < 3; s++)
    if (syscall(SYS_dup3, tmp_stdio[s], s, 0) < 0) child_fail(*fail_fd, BV_STAGE_FD, errno, -1 - s);
  for (uint32_t i = 0; i < h->nfds; i++) {
    const struct bv_fd *f = &p->fds[i];
    if (syscall(SYS_dup3, tmp_fds[i], f->dst, 0) < 0) child_fail(*fail_fd, BV_STAGE_FD, errno, (int32_t)i);
    struct stat st;
    if (syscall(SYS_fstat, f->dst, &st) < 0) child_fail(*fail_fd, BV_STAGE_FD_CHECK, errno, (int32_t)i);
    if (f->type != 0 && (st.st_mode & S_IFMT) != f->type) child_fail(*fail_fd, BV_STAGE_FD_CHECK, EBADFD, (int32_t)i);
    long fl = syscall(SYS_fcntl, f->dst, F_GETFL);
    if (fl < 0) child_fail(*fail_fd, BV_STAGE_FD_CHECK, errno, (int32_t)i);
    if (f->accmode >= 0 && (fl & O_ACCMODE) != f->accmode) child_fail(*fail_fd, BV_STAGE_FD_CHECK, EBADFD, (int32_t)i);
  }
  /* Close everything from `top` up, except the three keepers (sorted). */
  for (int a = 0; a < 3; a++)
    for (int b = a + 1; b < 3; b++)
      if (keep[b] < keep[a]) { int t = keep[a]; keep[a] = keep[b]; keep[b] = t; }
  unsigned lo = top;
  for (int k = 0; k < 3; k++) {
    int e = close_from_to(lo, (unsigned)keep[k] - 1);
    if (e) child_fail(*fail_fd, BV_STAGE_CLOSE, e, -1);
    lo = (unsigned)keep[k] + 1;
  }
  int e = close_from_to(lo, ~0U);
  if (e) child_fail(*fail_fd, BV_STAGE_CLOSE, e, -1);
}

/* Only for the fd-scrub red twin: the keepers still move above the targets, nothing else. */
static void child_fds_noscrub(const struct prepared *p, int *fail_fd) {
  for (int s = 0; s < 3; s++)
    if (syscall(SYS_dup3, p->h->stdio[s], s, 0) < 0 && p->h->stdio[s] != s) child_fail(*fail_fd, BV_STAGE_FD, errno, -1 - s);
}

static int child_drop_caps(uint64_t keep) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) < 0) return errno;
  struct __user_cap_data_struct now[2];
  memcpy(now, data, sizeof now);
  int have = data[0].permitted || data[1].permitted || data[0].inheritable || data[1].inheritable;
  if (have) {
    /* Bounding set first: with it empty, exec cannot hand root its capabilities back. */
    for (int cap = 0; cap < 64; cap++) {
      if (keep & ((uint64_t)1 << cap)) continue;
      if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
        if (errno == EINVAL) break;
        return errno;
      }
    }
  }
  if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return errno;
  /* Keep only the granted ones (as root in the user namespace, exec then grants exactly the
   * bounding set, which now holds only these). */
  uint32_t lo = (uint32_t)keep, hi = (uint32_t)(keep >> 32);
  data[0].effective &= lo; data[0].permitted &= lo; data[0].inheritable &= lo;
  data[1].effective &= hi; data[1].permitted &= hi; data[1].inheritable &= hi;
  if (syscall(SYS_capset, &hdr, data) < 0) return errno;
  return 0;
}

/* The kernel's struct sigaction for rt_sigaction (not glibc's, whose layout differs). */
struct bv_ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

static int child_signals_reset(void) {
  uint64_t all = ~(uint64_t)0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all) < 0) return errno;
  struct bv_ksigaction dfl;
  memset(&dfl, 0, sizeof dfl); /* handler = SIG_DFL (0) */
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    /* EINVAL for the few numbers glibc reserves for itself is harmless. */
    if (syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t)) < 0 && errno != EINVAL) return errno;
  }
  return 0;
}

__attribute__((noreturn)) static void child_main(const struct prepared *p) {
  const struct bv_body_header *h = p->h;
  int fail_fd = h->fail_fd, sync_fd = h->sync_fd, exe_fd = h->exe_fd;

  int e = child_signals_reset();
  if (e) child_fail(fail_fd, BV_STAGE_SIGNALS, e, -1);
  if (h->flags & BV_F_PDEATHSIG) {
    if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_SIGNALS, errno, -1);
  }

  if (h->sync_peer_fd >= 0) syscall(SYS_close, h->sync_peer_fd);
  e = child_read_byte(sync_fd);
  if (e) {
    /* Released never: the parent gave up (map write failed…). Leave without a trace. */
    for (;;) syscall(SYS_exit_group, 0);
  }
  if (h->flags & BV_F_MOUNT_PRIVATE) {
    if (syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(fail_fd, BV_STAGE_MOUNT_PRIVATE, errno, -1);
  }
  const struct bv_mount *mounts = (const struct bv_mount *)(p->body + h->mounts_off);
  for (uint32_t i = 0; i < h->nmounts; i++) {
    e = child_mount_step(p, &mounts[i], h->landlock_fd);
    if (e) child_fail(fail_fd, BV_STAGE_MOUNT, e, (int32_t)i);
  }
  if (h->hostname_len) {
    if (syscall(SYS_sethostname, p->hostname, h->hostname_len) < 0) child_fail(fail_fd, BV_STAGE_HOSTNAME, errno, -1);
  }
  if (h->flags & BV_F_LO_UP) {
    e = child_lo_up();
    if (e) child_fail(fail_fd, BV_STAGE_LOOPBACK, e, -1);
  }
  if (h->flags & BV_F_NO_NEW_PRIVS) {
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_NO_NEW_PRIVS, errno, -1);
  }
  if (h->landlock_fd >= 0) {
    if (syscall(SYS_landlock_restrict_self, h->landlock_fd, 0) < 0) child_fail(fail_fd, BV_STAGE_LANDLOCK, errno, -1);
    syscall(SYS_close, h->landlock_fd);
  }
  if (h->flags & BV_F_TEST_NO_SCRUB) child_fds_noscrub(p, &fail_fd);
  else child_fds(p, &fail_fd, &sync_fd, &exe_fd);
  for (uint32_t i = 0; i < h->nrlimits; i++) {
    struct rlimit rl = {p->rlimits[i].soft, p->rlimits[i].hard};
    if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &rl, NULL) < 0) child_fail(fail_fd, BV_STAGE_RLIMIT, errno, (int32_t)i);
  }
  if (h->flags & BV_F_DROP_CAPS) {
    e = child_drop_caps(h->cap_keep);
    if (e) child_fail(fail_fd, BV_STAGE_CAPS, e, -1);
  }
  if (h->flags & BV_F_READY) {
    child_report(fail_fd, 1, BV_STAGE_READY, 0, -1);
    e = child_read_byte(sync_fd);
    if (e) child_fail(fail_fd, BV_STAGE_READY, e, -1);
  }
  if (h->bpf_len) {
    struct sock_fprog prog = {(unsigned short)h->bpf_len, (struct sock_filter *)p->bpf};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) child_fail(fail_fd, BV_STAGE_SECCOMP, errno, -1);
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  syscall(SYS_execveat, exe_fd, "", p->argv, p->envp, AT_EMPTY_PATH);
  child_fail(fail_fd, BV_STAGE_EXEC, errno, -1);
}
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

static int section_ok(const struct bv_body_header *h, uint32_t off, uint64_t count, uint64_t size) {
  if (count == 0) return 1;
  uint64_t end = (uint64_t)off + count * size;
  return off >= sizeof *h && end <= h->total_len;
}

int bv_spawn(const uint8_t *body, uint32_t len, int32_t *out) {
  if (len < sizeof(struct bv_body_header)) return -EBADMSG;
  const struct bv_body_header *h = (const struct bv_body_header *)body;
  if (h->magic != BV_BODY_MAGIC || h->version != BV_BODY_VERSION || h->total_len != len) return -EBADMSG;
  if (h->nfds > 64 || h->argc == 0 || h->argc > 65536 || h->envc > 65536 || h->bpf_len > 4096) return -EBADMSG;
  if (!section_ok(h, h->strings_off, h->strings_len, 1) || !section_ok(h, h->fds_off, h->nfds, sizeof(struct bv_fd)) ||
      !section_ok(h, h->rlimits_off, h->nrlimits, sizeof(struct bv_rlimit)) ||
      !section_ok(h, h->bpf_off, h->bpf_len, sizeof(struct sock_filter)) ||
      !section_ok(h, h->mounts_off, h->nmounts, sizeof(struct bv_mount)))
    return -EBADMSG;
  if (h->strings_len == 0 || body[h->strings_off + h->strings_len - 1] != '\0') return -EBADMSG;
  /* Mount steps name strings by offset: each must start inside the (NUL-terminated) section. */
  const struct bv_mount *ms = (const struct bv_mount *)(body + h->mounts_off);
  for (uint32_t i = 0; i < h->nmounts; i++) {
    uint32_t offs[4] = {ms[i].source, ms[i].target, ms[i].fstype, ms[i].data};
    for (int k = 0; k < 4; k++)
      if (offs[k] != BV_NO_STRING && offs[k] >= h->strings_len) return -EBADMSG;
  }
  if (h->nmounts > 1024) return -EBADMSG;

  struct prepared p;
  memset(&p, 0, sizeof p);
  p.h = h;
  p.body = body;
  p.fds = (const struct bv_fd *)(body + h->fds_off);
  p.rlimits = (const struct bv_rlimit *)(body + h->rlimits_off);
  p.bpf = (const struct sock_filter *)(body + h->bpf_off);
  p.argv = calloc(h->argc + 1, sizeof(char *));
  p.envp = calloc(h->envc + 1, sizeof(char *));
  if (!p.argv || !p.envp) {
    free(p.argv);
    free(p.envp);
    return -ENOMEM;
  }
  /* Walk the strings: hostname (if any), argv, envp. Each must end inside the section. */
  const char *s = (const char *)body + h->strings_off;
  const char *end = s + h->strings_len;
  int bad = 0;
  if (h->hostname_len) {
    if (h->hostname_len > 64 || s + h->hostname_len >= end || s[h->hostname_len] != '\0') bad = 1;
    p.hostname = s;
    s += h->hostname_len + 1;
  }
  for (uint32_t i = 0; !bad && i < h->argc + h->envc; i++) {
    if (s >= end) { bad = 1; break; }
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z) { bad = 1; break; }
    if (i < h->argc) p.argv[i] = (char *)s;
    else p.envp[i - h->argc] = (char *)s;
    s = z + 1;
  }
  if (bad) {
    free(p.argv);
    free(p.envp);
    return -EBADMSG;
  }

  int pidfd = -1;
  struct bv_clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD | h->clone_flags;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  if (h->cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)h->cgroup_fd;
  }
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) child_main(&p);
  int err = pid < 0 ? errno : 0;
  free(p.argv);
  free(p.envp);
  if (pid < 0) return -err;
  out[0] = (int32_t)pid;
  out[1] = pidfd;
  return 0;
}
