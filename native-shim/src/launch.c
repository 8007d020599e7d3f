/* The launcher: parent-side preparation (ordinary C) and the clone3() child (async-signal-safe
 * region). See launch.h for the body layout and the order of the child's steps. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "bvshim.h"

/* (bvshim.h and launch.h say what these are for; here because the monitor links this file, not probe.c.) */
int bv_suid_dumpable(void) {
  int fd = open("/proc/sys/fs/suid_dumpable", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b[8];
  ssize_t n = read(fd, b, sizeof b);
  close(fd);
  return n >= 1 && b[0] >= '0' && b[0] <= '2' && (n == 1 || b[1] == '\n') ? b[0] - '0' : -1;
}

int bv_vm_child_may_change_ids(int suid_dumpable) { return suid_dumpable == 0 || suid_dumpable == 2; }

int bv_run_child(int (*fn)(void *), void *arg, int share, int *pid_out) {
  /* One shared child at a time: the stack is shared. */
  static char stack[32768] __attribute__((aligned(16)));
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  if (share) pthread_mutex_lock(&lock);
  /* No signal handler of Node's may run in the child (with CLONE_VM it would run on our memory,
   * beside the threads still running): block everything around the clone; the child keeps it. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid;
  if (share) {
    pid = clone(fn, stack + sizeof stack, CLONE_VM | CLONE_VFORK, arg);
  } else {
    /* A raw clone (not fork()) so no pthread_atfork handlers of Node or its libraries run. */
    pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) syscall(SYS_exit_group, fn(arg));
  }
  int e = pid < 0 ? errno : 0, status = 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  while (pid > 0 && waitpid((pid_t)pid, &status, __WALL) < 0) {
    if (errno != EINTR) {
      e = errno;
      break;
    }
  }
  if (share) pthread_mutex_unlock(&lock);
  if (pid_out) *pid_out = (int)pid;
  if (e) return -e;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

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
#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441 /* _IO('T', 0x41), asm-generic/ioctls.h */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
/* linux/mount.h and linux/openat2.h values, stable UAPI; defined here because glibc's
 * <sys/mount.h> and <linux/mount.h> cannot be included together on every libc we build with. */
#define BV_OPEN_TREE_CLONE 1u
#define BV_AT_RECURSIVE 0x8000u
#define BV_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define BV_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define BV_FSOPEN_CLOEXEC 1u
#define BV_FSCONFIG_SET_STRING 1u
#define BV_FSCONFIG_CMD_CREATE 6u
#define BV_FSMOUNT_CLOEXEC 1u
#define BV_RESOLVE_NO_MAGICLINKS 0x02u
#define BV_RESOLVE_NO_SYMLINKS 0x04u
#define BV_RESOLVE_BENEATH 0x08u
#define BV_MS_PRIVATE (1u << 18)

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
      offsetof(struct bv_body_header, slots_off), offsetof(struct bv_body_header, nslots),
      offsetof(struct bv_body_header, console_fd), offsetof(struct bv_body_header, console_rows),
      offsetof(struct bv_body_header, console_cols), offsetof(struct bv_body_header, join_fd),
      offsetof(struct bv_body_header, join_ns), offsetof(struct bv_body_header, exe_path),
      offsetof(struct bv_body_header, net_fd), offsetof(struct bv_body_header, cgjoin_off),
      offsetof(struct bv_body_header, ncgjoin), offsetof(struct bv_body_header, ll_marker_fd),
      offsetof(struct bv_body_header, inside_uid), offsetof(struct bv_body_header, inside_gid),
      offsetof(struct bv_body_header, ngroups), offsetof(struct bv_body_header, groups_off),
      offsetof(struct bv_body_header, groups_pad),
      (int32_t)sizeof(struct bv_fd), (int32_t)sizeof(struct bv_rlimit), (int32_t)sizeof(struct bv_mount),
      (int32_t)sizeof(struct bv_record), (int32_t)sizeof(struct sock_filter),
  };
  int count = (int)(sizeof v / sizeof v[0]);
  if (n > count) n = count;
  for (int i = 0; i < n; i++) out[i] = v[i];
  return n;
}

/* The profile build (make profile, BV_PROFILE): timestamps of the launch's steps, parent and
 * child, in a shared page that scripts/profile-launch.mjs reads with bv_prof_read. Each mark is
 * one raw clock_gettime syscall (async-signal-safe). The shipped and test builds compile the
 * marks away. */
#ifdef BV_PROFILE
#include <sys/mman.h>
#define BV_PROF_SLOTS 256
static int64_t *bv_prof_page;
static void bv_prof(int i) {
  struct timespec t;
  if (bv_prof_page && i >= 0 && i < BV_PROF_SLOTS && syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t) == 0)
    bv_prof_page[i] = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}
int bv_prof_read(int64_t *out, int n);
int bv_prof_read(int64_t *out, int n) {
  if (!bv_prof_page) return 0;
  if (n > BV_PROF_SLOTS) n = BV_PROF_SLOTS;
  for (int i = 0; i < n; i++) {
    out[i] = bv_prof_page[i];
    bv_prof_page[i] = 0;
  }
  return n;
}
#define BV_PROF(i) bv_prof(i)
#else
#define BV_PROF(i) ((void)0)
#endif

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
  int32_t *slots; /* a copy the child may fill (prepare steps), allocated by the parent */
};

/* The child's own stack. bv_spawn starts the child on a small stack it prepared, never on Node's:
 * with CLONE_VM (bv_spawn_vm) the child shares Node's memory until exec, so copying Node's page
 * tables (and tearing that copy down at exec, and the copy-on-write faults Node takes meanwhile)
 * is gone from every launch. The region is BV_CHILD_REGION bytes, aligned to its size:
 *   page 0   struct bv_child_ctx: the child's errno (a child sharing our memory must never write
 *            the TLS of the Node thread it was cloned from: glibc's syscall() sets errno there)
 *            and the word the kernel zeroes when the child leaves our memory (CLONE_CHILD_CLEARTID:
 *            mm_release, at exec or exit), after which the region and the data it read are freed
 *   page 1   guard (PROT_NONE)
 *   rest     the stack, growing down from the region's end
 * The child finds its context by masking its stack pointer. Every child (shared or not) runs on
 * such a stack, so the child region below has one errno and one syscall layer. */
#if defined(__x86_64__) || defined(__aarch64__)
#define BV_CHILD_STACKS 1
#endif

struct bv_child_ctx {
  int err;                   /* the child's errno */
  uint32_t alive;            /* 1 until the child has left our memory (the kernel clears it) */
  struct bv_child_ctx *next; /* live shared children, freed once alive is 0 */
  void *job;                 /* the prepared data the child reads (struct prepared and arrays) */
};

#ifdef BV_CHILD_STACKS
static size_t bv_region_size; /* a power of two, >= 8 pages; set once, before the first clone */

#if defined(__x86_64__)
static inline long bv_raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
/* long bv_clone3_stack(struct bv_clone_args *, size_t, void (*fn)(void *), void *arg): clone3 with
 * args->stack set; the child calls fn(arg) on that stack (it never returns), the parent gets the
 * pid or -errno. fn and arg ride in r8/r9, which the syscall preserves in both. */
__asm__(".text\n.p2align 4\n.globl bv_clone3_stack\n.hidden bv_clone3_stack\n.type bv_clone3_stack,@function\n"
        "bv_clone3_stack:\n"
        "  mov %rdx, %r8\n"
        "  mov %rcx, %r9\n"
        "  mov $435, %eax\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  ud2\n"
        "1:\n"
        "  ret\n"
        ".size bv_clone3_stack, .-bv_clone3_stack\n");
#elif defined(__aarch64__)
static inline long bv_raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
__asm__(".text\n.p2align 4\n.globl bv_clone3_stack\n.hidden bv_clone3_stack\n.type bv_clone3_stack,%function\n"
        "bv_clone3_stack:\n"
        "  mov x10, x2\n"
        "  mov x11, x3\n"
        "  mov x8, #435\n"
        "  svc 0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, x11\n"
        "  blr x10\n"
        "  brk #0\n"
        "1:\n"
        "  ret\n"
        ".size bv_clone3_stack, .-bv_clone3_stack\n");
#endif
long bv_clone3_stack(struct bv_clone_args *args, size_t size, void (*fn)(void *), void *arg);
#endif

/* ==== ASYNC-SIGNAL-SAFE REGION ====
 * Runs in the clone3() child of a multithreaded Node process.
 * Allowed: raw syscalls, memcpy/memset on memory the parent prepared.
 * Forbidden: malloc/free, stdio, strerror, locale, any lock.
 * Failure: write {stage, errno, item} to the fail pipe, then _exit(). Never return into Node.
 * Shared memory (bv_spawn_vm, CLONE_VM): until exec this child shares Node's memory while Node's
 * threads run on. It reads only the job bv_spawn copied for it, writes only its own stack and the
 * job's slots, and never a Node thread's TLS: syscall() and errno below are the child's own raw
 * layer (struct bv_child_ctx), not glibc's. Only memcpy/memset/strlen of libc are called. */

#ifdef BV_CHILD_STACKS
/* The child's syscall layer: raw syscalls whose errno goes to the child's own context (see
 * struct bv_child_ctx), with glibc's syscall() contract (-1 and errno on failure). */
static inline struct bv_child_ctx *bv_child_ctx(void) {
  uintptr_t sp;
#if defined(__x86_64__)
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#else
  __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
  return (struct bv_child_ctx *)(sp & ~(uintptr_t)(bv_region_size - 1));
}
static long bv_child_syscall(long n, long a, long b, long c, long d, long e, long f) {
  long r = bv_raw_syscall(n, a, b, c, d, e, f);
  if ((unsigned long)r > -4096UL) {
    bv_child_ctx()->err = (int)-r;
    return -1;
  }
  return r;
}
#undef errno
#define errno (bv_child_ctx()->err)
#define BV_CHILD_SYSCALL(n, a, b, c, d, e, f, ...) bv_child_syscall((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define syscall(...) BV_CHILD_SYSCALL(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#endif

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

/* struct mount_attr (linux/mount.h, MOUNT_ATTR_SIZE_VER0) and struct open_how (openat2). */
struct bv_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
struct bv_open_how_c {
  uint64_t flags, mode, resolve;
};

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct bv_open_how_c how = {flags | O_CLOEXEC, 0, resolve};
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Sets attrs (and private propagation, so nothing we mount beneath can reach a peer outside)
 * on a detached tree. */
static int tree_setattr(int tree, uint32_t attrs, unsigned recursive) {
  struct bv_mount_attr a = {attrs, 0, BV_MS_PRIVATE, 0};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? BV_AT_RECURSIVE : 0), &a, sizeof a) < 0) return errno;
  return 0;
}

/* The workload's cwd made where it is missing, as runc's MkdirAllInRoot makes it: each prefix is
 * resolved in the pivoted root (its own symlinks followed there, never a magic link: the old root
 * is detached, so nothing resolves outside), and a missing step is made 0755 in the directory its
 * parent resolved to (a tmpfs, a writable grant), as the workload's ids. A dangling link, a file
 * or a magic link in the way ends it quietly: the chdir that follows fails naming the cwd. Returns
 * 0 or an errno (a step that could not be made: EROFS, EACCES; a name over NAME_MAX). */
static int make_cwd(const char *path) {
  char pre[4096];
  char comp[256];
  size_t len = 0;
  long parent = sys_openat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0);
  if (parent < 0) return errno;
  const char *p = path;
  int e = 0;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    size_t n = 0;
    while (p[n] && p[n] != '/') n++;
    if (n >= sizeof comp || len + 1 + n >= sizeof pre) {
      e = ENAMETOOLONG;
      break;
    }
    memcpy(comp, p, n);
    comp[n] = 0;
    pre[len++] = '/';
    memcpy(pre + len, p, n);
    len += n;
    pre[len] = 0;
    p += n;
    long next = sys_openat2(AT_FDCWD, pre, O_PATH | O_DIRECTORY, BV_RESOLVE_NO_MAGICLINKS);
    if (next < 0 && errno == ENOENT) {
      if (syscall(SYS_mkdirat, (int)parent, comp, 0755) < 0) {
        /* EEXIST: a dangling link holds the name; ENOENT, EPERM: a filesystem that makes no
         * directories (procfs: /proc/self/fd/N). The chdir names the cwd and its errno. What is
         * said is what a user can change: a read-only mount (EROFS), permissions, space. */
        e = (errno == EEXIST || errno == ENOENT || errno == EPERM) ? 0 : errno;
        break;
      }
      next = sys_openat2(AT_FDCWD, pre, O_PATH | O_DIRECTORY, BV_RESOLVE_NO_MAGICLINKS);
    }
    if (next < 0) {
      e = (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) ? 0 : errno;
      break;
    }
    syscall(SYS_close, (int)parent);
    parent = next;
  }
  syscall(SYS_close, (int)parent);
  return e;
}

/* The directory fd of `path` in the new root, made if missing, never through a symlink:
 * each component is opened with RESOLVE_NO_SYMLINKS beneath the last. Returns fd or -errno. */
static int walk_mkdir(const char *path) {
  char comp[256];
  long dir = sys_openat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0);
  if (dir < 0) return -errno;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    size_t n = 0;
    while (p[n] && p[n] != '/') n++;
    if (n >= sizeof comp || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
      syscall(SYS_close, dir);
      return -EINVAL;
    }
    memcpy(comp, p, n);
    comp[n] = 0;
    p += n;
    long next = sys_openat2((int)dir, comp, O_PATH | O_DIRECTORY, BV_RESOLVE_NO_SYMLINKS | BV_RESOLVE_BENEATH);
    if (next < 0 && errno == ENOENT) {
      if (syscall(SYS_mkdirat, dir, comp, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        syscall(SYS_close, dir);
        return -e;
      }
      next = sys_openat2((int)dir, comp, O_PATH | O_DIRECTORY, BV_RESOLVE_NO_SYMLINKS | BV_RESOLVE_BENEATH);
    }
    int e = errno;
    syscall(SYS_close, dir);
    if (next < 0) return -e;
    dir = next;
  }
  return (int)dir;
}

/* Splits "/a/b/leaf" into the parent's fd (made if missing) and the leaf name. */
static int walk_parent(const char *path, char *leaf, size_t leafsz) {
  const char *slash = NULL;
  for (const char *q = path; *q; q++)
    if (*q == '/') slash = q;
  if (!slash || !slash[1]) return -EINVAL;
  size_t n = strlen(slash + 1);
  if (n >= leafsz) return -ENAMETOOLONG;
  memcpy(leaf, slash + 1, n + 1);
  char parent[4096];
  size_t pl = (size_t)(slash - path);
  if (pl >= sizeof parent) return -ENAMETOOLONG;
  memcpy(parent, path, pl);
  parent[pl] = 0;
  return walk_mkdir(pl ? parent : "/");
}

/* An O_PATH fd of an existing target in the new root, no symlink on the way (a trailing one:
 * ELOOP, or, with nofollow, the link itself); -errno. */
static int open_target(const char *path, int nofollow) {
  long fd = sys_openat2(AT_FDCWD, path, O_PATH | (nofollow ? O_NOFOLLOW : 0), BV_RESOLVE_NO_SYMLINKS);
  return fd < 0 ? -errno : (int)fd;
}

static int kind_ok(int fd, uint32_t kind) {
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) < 0) return errno;
  if (kind == BV_KIND_DIR && !S_ISDIR(st.st_mode)) return ENOTDIR;
  if (kind == BV_KIND_FILE && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) return EISDIR;
  return 0;
}

static int fsmount_new(const char *fstype, const char *data, uint32_t attrs) {
  long fs = syscall(SYS_fsopen, fstype, BV_FSOPEN_CLOEXEC);
  if (fs < 0) return -errno;
  /* data: "key=value,key=value"; copied piecewise into a stack buffer (no malloc here). */
  char kv[256];
  const char *p = data ? data : "";
  int e = 0;
  while (*p && !e) {
    size_t n = 0;
    while (p[n] && p[n] != ',') n++;
    if (n >= sizeof kv) { e = ENAMETOOLONG; break; }
    memcpy(kv, p, n);
    kv[n] = 0;
    p += n;
    if (*p == ',') p++;
    char *eq = kv;
    while (*eq && *eq != '=') eq++;
    if (!*eq) { e = EINVAL; break; }
    *eq = 0;
    if (syscall(SYS_fsconfig, fs, BV_FSCONFIG_SET_STRING, kv, eq + 1, 0) < 0) e = errno;
  }
  if (!e && syscall(SYS_fsconfig, fs, BV_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) e = errno;
  long m = e ? -1 : syscall(SYS_fsmount, fs, BV_FSMOUNT_CLOEXEC, attrs);
  if (!e && m < 0) e = errno;
  syscall(SYS_close, fs);
  if (e) return -e;
  return (int)m;
}

/* Moves a detached tree onto the opened target t unless an earlier step failed (e), then
 * closes t. Returns the first error. */
static int place(long tree, int t, int e) {
  if (!e && syscall(SYS_move_mount, tree, "", t, "", BV_MOVE_MOUNT_F_EMPTY_PATH | BV_MOVE_MOUNT_T_EMPTY_PATH) < 0) e = errno;
  syscall(SYS_close, t);
  return e;
}

static int move_onto(int tree, const char *target, uint32_t kind) {
  int t = open_target(target, 0);
  if (t < 0) return -t;
  return place(tree, t, kind ? kind_ok(t, kind) : 0);
}

/* 0 when fd is the object the step names by (dev, ino), or it names none (both 0); else ESTALE
 * (another object) or fstat's errno, with fd closed. */
static int not_planned(int fd, const struct bv_mount *m) {
  if (!m->dev && !m->ino) return 0;
  struct stat st;
  int bad = syscall(SYS_fstat, fd, &st) < 0 ? errno : ((uint64_t)st.st_dev != m->dev || (uint64_t)st.st_ino != m->ino) ? ESTALE : 0;
  if (bad) syscall(SYS_close, fd);
  return bad;
}

static int child_mount_step(const struct prepared *p, const struct bv_mount *m, int landlock_fd) {
  const char *src = str_at(p, m->source), *tgt = str_at(p, m->target), *fst = str_at(p, m->fstype), *dat = str_at(p, m->data);
  int32_t *slot = (m->slot >= 0 && (uint32_t)m->slot < p->h->nslots) ? &p->slots[m->slot] : NULL;
  switch (m->op) {
    case BV_MOUNT_STAGE:
      /* The stage is only ever ours: mkdir and pivot inside it by name are safe. */
      if (syscall(SYS_mount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=16k") < 0) return errno;
      if (syscall(SYS_chdir, "/tmp") < 0) return errno;
      if (syscall(SYS_mkdirat, AT_FDCWD, ".old", 0700) < 0) return errno;
      if (syscall(SYS_mkdirat, AT_FDCWD, ".new", 0700) < 0) return errno;
      if (syscall(SYS_pivot_root, ".", ".old") < 0) return errno;
      if (syscall(SYS_chdir, "/") < 0) return errno;
      return 0;
    case BV_MOUNT_CLONE: {
      if (!slot || !src || src[0] != '/') return EINVAL;
      char path[4096];
      size_t n = strlen(src);
      if (n + 6 > sizeof path) return ENAMETOOLONG;
      memcpy(path, "/.old", 5);
      memcpy(path + 5, src, n + 1);
      long fd = sys_openat2(AT_FDCWD, path, O_PATH, BV_RESOLVE_NO_SYMLINKS | BV_RESOLVE_NO_MAGICLINKS);
      if (fd < 0) return errno;
      int bad = not_planned((int)fd, m);
      if (bad) return bad;
      long tree = syscall(SYS_open_tree, fd, "", BV_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | ((m->aux & BV_AUX_SINGLE) ? 0 : BV_AT_RECURSIVE));
      int e = tree < 0 ? errno : 0;
      syscall(SYS_close, fd);
      if (e) return e;
      e = tree_setattr((int)tree, m->flags, 1);
      if (e) {
        syscall(SYS_close, tree);
        return e;
      }
      *slot = (int32_t)tree;
      return 0;
    }
    case BV_MOUNT_FSMOUNT: {
      if (!slot || !fst) return EINVAL;
      int fd = fsmount_new(fst, dat, m->flags);
      if (fd < 0) return -fd;
      *slot = fd;
      return 0;
    }
    case BV_MOUNT_PIVOT:
      if (!slot || *slot < 0) return EBADF;
      if (syscall(SYS_move_mount, *slot, "", AT_FDCWD, "/.new", BV_MOVE_MOUNT_F_EMPTY_PATH) < 0) return errno;
      syscall(SYS_close, *slot);
      *slot = -1;
      /* pivot_root(".", "."): the stage (with the host's root beneath it) is stacked on the new
       * root; detaching "." removes both without a directory for them inside the new root. */
      if (syscall(SYS_chdir, "/.new") < 0) return errno;
      if (syscall(SYS_pivot_root, ".", ".") < 0) return errno;
      if (syscall(SYS_umount2, ".", MNT_DETACH) < 0) return errno;
      if (syscall(SYS_chdir, "/") < 0) return errno;
      return 0;
    case BV_MOUNT_MKDIR: {
      if (m->aux & BV_AUX_OPTIONAL) return make_cwd(tgt ? tgt : "");
      int fd = walk_mkdir(tgt ? tgt : "");
      if (fd < 0) return -fd;
      syscall(SYS_close, fd);
      return 0;
    }
    case BV_MOUNT_MKFILE: {
      char leaf[256];
      int dir = walk_parent(tgt ? tgt : "", leaf, sizeof leaf);
      if (dir < 0) return -dir;
      long fd = syscall(SYS_openat, dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      int e = 0;
      if (fd < 0 && errno == EEXIST) {
        fd = sys_openat2(dir, leaf, O_PATH | O_NOFOLLOW, BV_RESOLVE_NO_SYMLINKS | BV_RESOLVE_BENEATH);
        e = fd < 0 ? errno : kind_ok((int)fd, BV_KIND_FILE);
      } else if (fd < 0) e = errno;
      if (fd >= 0) syscall(SYS_close, fd);
      syscall(SYS_close, dir);
      return e;
    }
    case BV_MOUNT_MOVE: {
      if (!slot || *slot < 0 || !tgt) return EBADF;
      int e = move_onto(*slot, tgt, m->flags);
      syscall(SYS_close, *slot);
      *slot = -1;
      return e;
    }
    case BV_MOUNT_SYMLINK: {
      char leaf[256];
      int dir = walk_parent(tgt ? tgt : "", leaf, sizeof leaf);
      if (dir < 0) return -dir;
      int e = syscall(SYS_symlinkat, src, dir, leaf) < 0 && errno != EEXIST ? errno : 0;
      syscall(SYS_close, dir);
      return e;
    }
    case BV_MOUNT_BIND_SELF: {
      int t = open_target(tgt ? tgt : "", 0);
      if (t < 0) return (t == -ENOENT && (m->aux & BV_AUX_OPTIONAL)) ? 0 : -t;
      /* A file the plan names by identity (a set-ID program kept read-only): that file still. */
      int bad = not_planned(t, m);
      if (bad) return bad;
      long tree = syscall(SYS_open_tree, t, "", BV_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | BV_AT_RECURSIVE);
      int e = place(tree, t, tree < 0 ? errno : tree_setattr((int)tree, m->flags, 1));
      if (tree >= 0) syscall(SYS_close, tree);
      return e;
    }
    case BV_MOUNT_MASK: {
      int t = open_target(tgt ? tgt : "", 0);
      if (t < 0) return (t == -ENOENT && (m->aux & BV_AUX_OPTIONAL)) ? 0 : -t;
      struct stat st;
      int e = syscall(SYS_fstat, t, &st) < 0 ? errno : 0;
      long over = -1;
      if (!e && S_ISDIR(st.st_mode)) {
        over = fsmount_new("tmpfs", "size=4k,mode=000", BV_ATTR_RDONLY | BV_ATTR_NOSUID | BV_ATTR_NODEV | BV_ATTR_NOEXEC);
        if (over < 0) e = (int)-over;
      } else if (!e) {
        long null = sys_openat2(AT_FDCWD, "/dev/null", O_PATH, BV_RESOLVE_NO_SYMLINKS);
        if (null < 0) e = errno;
        else {
          over = syscall(SYS_open_tree, null, "", BV_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
          if (over < 0) e = errno;
          syscall(SYS_close, null);
        }
      }
      e = place(over, t, e);
      if (over >= 0) syscall(SYS_close, over);
      return e;
    }
    case BV_MOUNT_SETATTR: {
      int t = open_target(tgt ? tgt : "", 0);
      if (t < 0) return -t;
      struct bv_mount_attr a = {m->flags, 0, 0, 0};
      int e = syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH | ((m->aux & BV_AUX_RECURSIVE) ? BV_AT_RECURSIVE : 0), &a, sizeof a) < 0 ? errno : 0;
      syscall(SYS_close, t);
      return e;
    }
    case BV_MOUNT_LL_RULE: {
      if (landlock_fd < 0) return EBADF;
      int fd = open_target(tgt ? tgt : "", 1);
      if (fd < 0) return (m->aux & BV_AUX_OPTIONAL) && (fd == -ENOENT || fd == -ELOOP) ? 0 : -fd;
      struct stat st;
      if (syscall(SYS_fstat, fd, &st) < 0) {
        int e = errno;
        syscall(SYS_close, fd);
        return e;
      }
      if (S_ISLNK(st.st_mode)) {
        /* A rule on a symlink would name whatever it points at next: never. */
        syscall(SYS_close, fd);
        return (m->aux & BV_AUX_OPTIONAL) ? 0 : ELOOP;
      }
      if ((m->dev || m->ino) && ((uint64_t)st.st_dev != m->dev || (uint64_t)st.st_ino != m->ino)) {
        /* An exec's rule on a grant's target: it must still be the object the plan names. */
        syscall(SYS_close, fd);
        return ESTALE;
      }
      /* A file gets only file rights (the kernel refuses directory rights on a file). */
      uint64_t allowed = m->flags;
      if (!S_ISDIR(st.st_mode)) allowed &= (1u << 0) | (1u << 1) | (1u << 2) | (1u << 14) | (1u << 15);
      struct __attribute__((packed)) {
        uint64_t allowed_access;
        int32_t parent_fd;
      } pb = {allowed, (int32_t)fd};
      long r = syscall(SYS_landlock_add_rule, landlock_fd, 1, &pb, 0);
      int e = r < 0 ? errno : 0;
      syscall(SYS_close, fd);
      return e;
    }
    case BV_MOUNT_CHDIR: {
      /* Never through a magic link: /proc/self/fd/N (or a rootfs symlink to it) would name a
       * descriptor this child still holds from its parent (the fd scrub comes later), on the
       * host's side of the root (runc's CVE-2024-21626). The kernel refuses one with ELOOP. */
      long fd = sys_openat2(AT_FDCWD, tgt, O_PATH | O_DIRECTORY, BV_RESOLVE_NO_MAGICLINKS);
      if (fd < 0) return errno;
      int e = syscall(SYS_fchdir, (int)fd) < 0 ? errno : 0;
      syscall(SYS_close, (int)fd);
      return e;
    }
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

int bv_close_from_to(unsigned lo, unsigned hi) {
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

/* Sends fd over a unix socket with SCM_RIGHTS and `len` bytes of payload; 0 or an errno. */
static int child_send_fd(int sock, int fd, const char *payload, size_t len) {
  struct iovec iov = {(void *)payload, len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    long r = syscall(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL);
    if (r == (long)len) return 0;
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? errno : EIO;
  }
}

/* dup every keeper and source above `high`, then onto targets, then close the rest. stdio: the
 * descriptors that become 0, 1, 2 (the header's, or the console's peer). */
static void child_fds(const struct prepared *p, const int stdio[3], int *fail_fd, int *sync_fd, int *exe_fd) {
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
    long t = syscall(SYS_fcntl, stdio[s], F_DUPFD_CLOEXEC, high);
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
    int e = bv_close_from_to(lo, (unsigned)keep[k] - 1);
    if (e) child_fail(*fail_fd, BV_STAGE_CLOSE, e, -1);
    lo = (unsigned)keep[k] + 1;
  }
  int e = bv_close_from_to(lo, ~0U);
  if (e) child_fail(*fail_fd, BV_STAGE_CLOSE, e, -1);
}

#ifdef BV_TEST_BUILD
/* Only for the fd-scrub red twin: the keepers still move above the targets, nothing else. */
static void child_fds_noscrub(const int stdio[3], int *fail_fd) {
  for (int s = 0; s < 3; s++)
    if (syscall(SYS_dup3, stdio[s], s, 0) < 0 && stdio[s] != s) child_fail(*fail_fd, BV_STAGE_FD, errno, -1 - s);
}
#endif

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

/* Step 5b: a pty from the root's own devpts, its master sent to the console socket, its peer
 * our controlling terminal. Returns the peer (close-on-exec; step 8 makes it 0, 1, 2). */
static int child_console(const struct bv_body_header *h, int fail_fd) {
  /* /dev/ptmx is bvisor's symlink to pts/ptmx in the /dev it made; no magic link is followed. */
  long m = sys_openat2(AT_FDCWD, "/dev/ptmx", O_RDWR | O_NOCTTY, BV_RESOLVE_NO_MAGICLINKS);
  if (m < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 0);
  struct stat st;
  if (syscall(SYS_fstat, m, &st) < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 0);
  if (!S_ISCHR(st.st_mode)) child_fail(fail_fd, BV_STAGE_CONSOLE, ENOTTY, 0);
  int unlock = 0;
  if (syscall(SYS_ioctl, m, TIOCSPTLCK, &unlock) < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 1);
  /* The peer by descriptor (Linux 4.13): no /dev/pts/N path lookup a container could redirect. */
  long peer = syscall(SYS_ioctl, m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 2);
  if (h->console_rows || h->console_cols) {
    struct winsize ws = {h->console_rows, h->console_cols, 0, 0};
    if (syscall(SYS_ioctl, m, TIOCSWINSZ, &ws) < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 3);
  }
  /* runc's message: the master as SCM_RIGHTS, its name as the payload (receivers name the file
   * by it; conmon and containerd's shim read both). */
  static const char name[] = "/dev/ptmx";
  int se = child_send_fd(h->console_fd, (int)m, name, sizeof name - 1);
  if (se) child_fail(fail_fd, BV_STAGE_CONSOLE, se, 4);
  syscall(SYS_close, m);
  syscall(SYS_close, h->console_fd);
  /* A new session (EPERM: we lead one already, BV_F_SETSID), with the peer as its terminal. */
  if (syscall(SYS_setsid) < 0 && errno != EPERM) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 5);
  if (syscall(SYS_ioctl, peer, TIOCSCTTY, 0) < 0) child_fail(fail_fd, BV_STAGE_CONSOLE, errno, 6);
  return (int)peer;
}

/* One candidate of step 5c: an O_PATH descriptor of a regular file, or -errno. */
static int child_candidate(const char *cand, int *script) {
  long fd = sys_openat2(AT_FDCWD, cand, O_PATH, BV_RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return -errno;
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    syscall(SYS_close, fd);
    return -EACCES; /* execve's answer for what is not a regular file */
  }
  /* A #! script: the kernel hands its descriptor to the interpreter as /dev/fd/N, so it must
   * survive exec. (Unreadable: not a script we could run anyway.) */
  *script = 0;
  long r = sys_openat2(AT_FDCWD, cand, O_RDONLY | O_NOCTTY | O_NONBLOCK, BV_RESOLVE_NO_MAGICLINKS);
  if (r >= 0) {
    char magic[2] = {0, 0};
    if (syscall(SYS_read, r, magic, 2) == 2 && magic[0] == '#' && magic[1] == '!') *script = 1;
    syscall(SYS_close, r);
  }
  return (int)fd;
}

/* Step 5c: the program named by `name` in the root we see now, as an O_PATH descriptor: a name
 * with a slash as it is (relative to the cwd), a bare name looked up in the workload's PATH (the
 * first regular file, as execvp would; runc's default PATH if it has none), no magic link
 * followed on the way (/proc/self/fd/N would name a descriptor of Node's). Returns the
 * descriptor or -errno. */
static int child_resolve(const struct prepared *p, const char *name, int *script) {
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (uint32_t i = 0; i < p->h->envc; i++) {
    const char *e = p->envp[i];
    if (e[0] == 'P' && e[1] == 'A' && e[2] == 'T' && e[3] == 'H' && e[4] == '=') path = e + 5;
  }
  size_t nl = strlen(name);
  if (nl == 0) return -ENOENT;
  for (size_t i = 0; i < nl; i++)
    if (name[i] == '/') return child_candidate(name, script);
  char buf[4096];
  int err = ENOENT;
  for (const char *d = path;;) {
    const char *end = d;
    while (*end && *end != ':') end++;
    size_t dl = (size_t)(end - d);
    const char *dir = dl ? d : ".";  /* an empty entry is the cwd */
    if (!dl) dl = 1;
    if (dl + nl + 2 > sizeof buf) err = ENAMETOOLONG;
    else {
      memcpy(buf, dir, dl);
      buf[dl] = '/';
      memcpy(buf + dl + 1, name, nl + 1);
      int fd = child_candidate(buf, script);
      if (fd >= 0) return fd;
      if (fd != -ENOENT && fd != -ENOTDIR) err = -fd;
    }
    if (!*end) break;
    d = end + 1;
  }
  return -err;
}

/* The fd-scrub red twin's switch (BV_F_TEST_NO_SCRUB): read by the test build alone. */
static int test_no_scrub(const struct bv_body_header *h) {
#ifdef BV_TEST_BUILD
  return (h->flags & BV_F_TEST_NO_SCRUB) != 0;
#else
  (void)h;
  return 0;
#endif
}

/* The smallest descriptor >= lo that the body names (or the child's copy of the slots holds), or
 * ~0U: what a child still uses before step 8's scrub. */
static unsigned child_next_named(const struct prepared *p, unsigned lo) {
  const struct bv_body_header *h = p->h;
  unsigned best = ~0U;
#define BV_CONSIDER(v) do { int32_t v_ = (v); if (v_ >= 0 && (unsigned)v_ >= lo && (unsigned)v_ < best) best = (unsigned)v_; } while (0)
  BV_CONSIDER(h->fail_fd);
  BV_CONSIDER(h->sync_fd);
  BV_CONSIDER(h->exe_fd);
  BV_CONSIDER(h->cgroup_fd);
  BV_CONSIDER(h->landlock_fd);
  BV_CONSIDER(h->ll_marker_fd);
  BV_CONSIDER(h->console_fd);
  BV_CONSIDER(h->net_fd);
  for (int s = 0; s < 3; s++) BV_CONSIDER(h->stdio[s]);
  for (uint32_t i = 0; i < h->nfds; i++) BV_CONSIDER(p->fds[i].src);
  for (uint32_t i = 0; i < h->nslots; i++) BV_CONSIDER(p->slots[i]);
#undef BV_CONSIDER
  return best;
}

/* Closes every descriptor from 3 up that the body does not name (0, 1, 2 stay: step 8 replaces
 * them). Only the gaps between named ones are closed, one close_range each. */
static int child_close_unnamed(const struct prepared *p) {
  unsigned lo = 3;
  for (;;) {
    unsigned next = child_next_named(p, lo);
    int e = bv_close_from_to(lo, next == ~0U ? ~0U : next - 1);
    if (e || next == ~0U) return e;
    lo = next + 1;
  }
}

/* Step 1x-1z: an exec joins the container (see launch.h). Returns in the second child only. */
static void child_join(const struct prepared *p, int fail_fd) {
  const struct bv_body_header *h = p->h;
  if (syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_JOIN, errno, 0);
  if (syscall(SYS_setns, h->join_fd, h->join_ns) < 0) child_fail(fail_fd, BV_STAGE_JOIN, errno, 1);
  syscall(SYS_close, h->join_fd);
  /* Step 1y': before the second child exists, every descriptor of Node's the body does not name
   * goes. The second child is born in the container's pid namespace, and once it takes the
   * container's ids (step 1b), or from birth for a process with CAP_KILL in the container's user
   * namespace, the container may stop it (SIGSTOP) before its own scrub (step 8); whatever it
   * held then stays held: the container's flock (bvisor exec holds it while it sets up), a
   * journal's or a reservation's lock. What the launch names stays (its pipes, the ruleset, the
   * stdio and console socket it was given). This child is out of the container's sight (its pid
   * namespace is still ours) and runs straight through to the clone. */
  if (!test_no_scrub(h)) {
    int e = child_close_unnamed(p);
    if (e) child_fail(fail_fd, BV_STAGE_CLOSE, e, -2);
  }
  int pp[2];
  if (syscall(SYS_pipe2, pp, O_CLOEXEC) < 0) child_fail(fail_fd, BV_STAGE_JOIN, errno, 2);
  struct bv_clone_args a;
  memset(&a, 0, sizeof a);
  /* Fork-like (no CLONE_VM, no stack): the second child runs on its copy of this stack. Its
   * parent is bvisor (CLONE_PARENT), and so is its exit signal, ours (SIGCHLD): clone3 wants
   * exit_signal 0 with CLONE_PARENT (EINVAL otherwise). */
  a.flags = CLONE_PARENT;
  a.exit_signal = 0;
  long c = syscall(SYS_clone3, &a, sizeof a);
  if (c < 0) child_fail(fail_fd, BV_STAGE_JOIN, errno, 3);
  if (c > 0) {
    child_report(fail_fd, 2, BV_STAGE_JOIN, 0, (int32_t)c);
    for (;;) syscall(SYS_exit_group, 0); /* our exit closes pp[1]: the second child goes on */
  }
  syscall(SYS_close, pp[1]);
  char b;
  while (syscall(SYS_read, pp[0], &b, 1) < 0 && errno == EINTR) {}
  syscall(SYS_close, pp[0]);
}

/* The kernel's struct sigaction for rt_sigaction (not glibc's, whose layout differs). */
struct bv_ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

int bv_child_signals_reset(void) {
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

/* Step 12: the seccomp filter, and with BV_F_SECCOMP_NOTIFY its listener to the parent on sync_fd
 * (item 1 if that fails); the child's copy is closed, the parent's holder has it. */
static void child_seccomp(const struct prepared *p, int fail_fd, int sync_fd) {
  const struct bv_body_header *h = p->h;
  if (!h->bpf_len) return;
  struct sock_fprog prog = {(unsigned short)h->bpf_len, (struct sock_filter *)p->bpf};
  int notify = (h->flags & BV_F_SECCOMP_NOTIFY) != 0;
  long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
  if (lfd < 0) child_fail(fail_fd, BV_STAGE_SECCOMP, errno, -1);
  if (notify) {
    int e = child_send_fd(sync_fd, (int)lfd, "L", 1);
    if (e) child_fail(fail_fd, BV_STAGE_SECCOMP, e, 1);
    syscall(SYS_close, lfd);
  }
}

__attribute__((noreturn)) static void child_main(const struct prepared *p) {
  const struct bv_body_header *h = p->h;
  int fail_fd = h->fail_fd, sync_fd = h->sync_fd, exe_fd = h->exe_fd;

  BV_PROF(2);
  int e = bv_child_signals_reset();
  if (e) child_fail(fail_fd, BV_STAGE_SIGNALS, e, -1);
  BV_PROF(3);

  if (h->flags & BV_F_SETSID) {
    if (syscall(SYS_setsid) < 0) child_fail(fail_fd, BV_STAGE_SETSID, errno, -1);
  }
  if (h->sync_peer_fd >= 0) syscall(SYS_close, h->sync_peer_fd);
  e = child_read_byte(sync_fd);
  if (e) {
    /* Released never: the parent gave up (map write failed…). Leave without a trace. */
    for (;;) syscall(SYS_exit_group, 0);
  }
  BV_PROF(4);
  /* Step 1a: one write per v1 leaf; a short or failed write is the kernel's refusal. */
  const int32_t *cgjoin = (const int32_t *)(p->body + h->cgjoin_off);
  for (uint32_t i = 0; i < h->ncgjoin; i++) {
    long w = syscall(SYS_write, cgjoin[i], "0", 1);
    if (w != 1) child_fail(fail_fd, BV_STAGE_CGROUP, w < 0 ? errno : EIO, (int32_t)i);
    syscall(SYS_close, cgjoin[i]);
  }
  BV_PROF(5);
  if (h->join_fd >= 0) child_join(p, fail_fd);
  if (h->flags & BV_F_DROP_GROUPS) {
    /* None, or the config's supplementary groups (ids of its block, mapped by the parent). */
    const uint32_t *groups = h->ngroups ? (const uint32_t *)(p->body + h->groups_off) : NULL;
    if (syscall(SYS_setgroups, (long)h->ngroups, groups) < 0) child_fail(fail_fd, BV_STAGE_IDS, errno, 0);
  }
  if (h->flags & BV_F_SETIDS) {
    /* gid first: after the uid changes we may no longer change it. */
    /* setresuid clears no capability here (cap_emulate_setxuid): it clears them only when one of
     * the old ids is the namespace's root, and ours are still host root's, unmapped here (0 is
     * not mapped at all with one id other than 0; with an OCI config's block it is, as another
     * host id). The setup below keeps its capabilities until step 10, and exec as a uid other
     * than 0 then clears the rest. */
    if (syscall(SYS_setresgid, h->inside_gid, h->inside_gid, h->inside_gid) < 0) child_fail(fail_fd, BV_STAGE_IDS, errno, 1);
    if (syscall(SYS_setresuid, h->inside_uid, h->inside_uid, h->inside_uid) < 0) child_fail(fail_fd, BV_STAGE_IDS, errno, 2);
    /* An exec's second child, in the container's sight: an id change makes a process dumpable
     * where fs.suid_dumpable is 1 (commit_creds), which would undo step 1x until exec. */
    if (h->join_fd >= 0 && syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_IDS, errno, 3);
  }
#ifdef BV_TEST_BUILD
  if ((h->flags & BV_F_TEST_STOP_JOINED) && h->join_fd >= 0) syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
#endif
  if (h->flags & BV_F_PDEATHSIG) {
    /* After the id change: changing credentials clears the parent-death signal. The parent may
     * have died before this point (we are released, so it was alive a moment ago): it holds the
     * sync pipe's write end until the go byte, so a hang-up on it means it is gone. */
    if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_SIGNALS, errno, -1);
    struct pollfd pf = {sync_fd, POLLIN, 0};
    struct timespec zero = {0, 0};
    long n = syscall(SYS_ppoll, &pf, 1, &zero, NULL, 0);
    if (n > 0 && (pf.revents & POLLHUP) && !(pf.revents & POLLIN)) for (;;) syscall(SYS_exit_group, 0);
  }
  BV_PROF(6);
  if (h->flags & BV_F_MOUNT_PRIVATE) {
    if (syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(fail_fd, BV_STAGE_MOUNT_PRIVATE, errno, -1);
  }
  BV_PROF(7);
  const struct bv_mount *mounts = (const struct bv_mount *)(p->body + h->mounts_off);
  for (uint32_t i = 0; i < h->nmounts; i++) {
    e = child_mount_step(p, &mounts[i], h->landlock_fd);
    if (e) child_fail(fail_fd, BV_STAGE_MOUNT, e, (int32_t)i);
    BV_PROF(20 + (int)i);
  }
  BV_PROF(8);
  if (h->hostname_len) {
    if (syscall(SYS_sethostname, p->hostname, h->hostname_len) < 0) child_fail(fail_fd, BV_STAGE_HOSTNAME, errno, -1);
  }
  if (h->flags & BV_F_LO_UP) {
    e = child_lo_up();
    if (e) child_fail(fail_fd, BV_STAGE_LOOPBACK, e, -1);
  }
  BV_PROF(9);
  int stdio[3] = {h->stdio[0], h->stdio[1], h->stdio[2]};
  if (h->flags & BV_F_CONSOLE) stdio[0] = stdio[1] = stdio[2] = child_console(h, fail_fd);
  int script = (h->flags & BV_F_EXE_INHERIT) != 0;
  if (h->exe_path != BV_NO_STRING) {
    exe_fd = child_resolve(p, str_at(p, h->exe_path), &script);
    if (exe_fd < 0) child_fail(fail_fd, BV_STAGE_RESOLVE, -exe_fd, -1);
  }
  BV_PROF(10);
  if (h->flags & BV_F_NO_NEW_PRIVS) {
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(fail_fd, BV_STAGE_NO_NEW_PRIVS, errno, -1);
  }
  if (h->landlock_fd >= 0) {
    /* LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON = 2 (include/uapi/linux/landlock.h) */
    if (syscall(SYS_landlock_restrict_self, h->landlock_fd, (h->flags & BV_F_LANDLOCK_LOG) ? 2 : 0) < 0) child_fail(fail_fd, BV_STAGE_LANDLOCK, errno, -1);
    syscall(SYS_close, h->landlock_fd);
    if (h->ll_marker_fd >= 0) {
      /* The run's marker (launch.h, ll_marker_fd): a block device, which no grant may make.
       * Landlock answers EACCES and logs it (the restricting program's own denial); whatever
       * else happens, no record names this domain and the reader says so: never a reason to
       * stop the launch. */
      syscall(SYS_mknodat, h->ll_marker_fd, "m", S_IFBLK | 0600, 0);
      syscall(SYS_close, h->ll_marker_fd);
    }
  }
  BV_PROF(11);
#ifdef BV_TEST_BUILD
  if (h->flags & BV_F_TEST_NO_SCRUB) child_fds_noscrub(stdio, &fail_fd);
  else
#endif
  child_fds(p, stdio, &fail_fd, &sync_fd, &exe_fd);
  if (script && syscall(SYS_fcntl, exe_fd, F_SETFD, 0) < 0) child_fail(fail_fd, BV_STAGE_FD, errno, -20);
  BV_PROF(12);
  for (uint32_t i = 0; i < h->nrlimits; i++) {
    struct rlimit rl = {p->rlimits[i].soft, p->rlimits[i].hard};
    if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &rl, NULL) < 0) child_fail(fail_fd, BV_STAGE_RLIMIT, errno, (int32_t)i);
  }
  if (h->flags & BV_F_DROP_CAPS) {
    e = child_drop_caps(h->cap_keep);
    if (e) child_fail(fail_fd, BV_STAGE_CAPS, e, -1);
  }
  BV_PROF(13);
  /* BV_F_SECCOMP_EARLY (step 11, launch.h): the filter goes on right after READY, while the
   * parent reads the evidence; the go byte is then read under it. */
  int early = (h->flags & (BV_F_SECCOMP_EARLY | BV_F_READY)) == (BV_F_SECCOMP_EARLY | BV_F_READY);
  if (h->flags & BV_F_READY) {
    child_report(fail_fd, 1, BV_STAGE_READY, 0, -1);
    BV_PROF(14);
    if (early) {
      child_seccomp(p, fail_fd, sync_fd);
      BV_PROF(17);
    }
    e = child_read_byte(sync_fd);
    BV_PROF(15);
    if (e) child_fail(fail_fd, BV_STAGE_READY, e, -1);
  }
  if (!early) child_seccomp(p, fail_fd, sync_fd);
  BV_PROF(16);
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  syscall(SYS_execveat, exe_fd, "", p->argv, p->envp, AT_EMPTY_PATH);
  child_fail(fail_fd, BV_STAGE_EXEC, errno, -1);
}
#ifdef BV_CHILD_STACKS
static void child_entry(void *arg) { child_main((const struct prepared *)arg); }
#undef syscall
#undef errno
#define errno (*__errno_location())
#endif
/* ==== END ASYNC-SIGNAL-SAFE REGION ==== */

static int section_ok(const struct bv_body_header *h, uint32_t off, uint64_t count, uint64_t size) {
  if (count == 0) return 1;
  uint64_t end = (uint64_t)off + count * size;
  return off >= sizeof *h && end <= h->total_len;
}

#ifdef BV_CHILD_STACKS
/* Child stacks (see struct bv_child_ctx), made per launch; a shared child's is kept on a list
 * until the kernel has cleared its alive word. */
static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bv_child_ctx *live_regions;

static struct bv_child_ctx *region_new(void) {
  if (!bv_region_size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = 128u * 1024u;
    while (size < 8 * page) size <<= 1;
    __atomic_store_n(&bv_region_size, size, __ATOMIC_RELEASE);
  }
  size_t size = bv_region_size, page = (size_t)sysconf(_SC_PAGESIZE);
  uint8_t *m = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return NULL;
  uintptr_t base = ((uintptr_t)m + size - 1) & ~(uintptr_t)(size - 1);
  if (base > (uintptr_t)m) munmap(m, base - (uintptr_t)m);
  if ((uintptr_t)m + 2 * size > base + size) munmap((void *)(base + size), (uintptr_t)m + 2 * size - (base + size));
  if (mprotect((void *)(base + page), page, PROT_NONE) < 0) {
    munmap((void *)base, size);
    return NULL;
  }
  struct bv_child_ctx *c = (struct bv_child_ctx *)base;
  memset(c, 0, sizeof *c);
  return c;
}

static void reap_regions(void) {
  pthread_mutex_lock(&regions_lock);
  for (struct bv_child_ctx **pp = &live_regions; *pp;) {
    struct bv_child_ctx *c = *pp;
    if (__atomic_load_n(&c->alive, __ATOMIC_ACQUIRE) == 0) {
      *pp = c->next;
      free(c->job);
      munmap(c, bv_region_size);
    } else pp = &c->next;
  }
  pthread_mutex_unlock(&regions_lock);
}
#endif

static int spawn(const uint8_t *body, uint32_t len, int32_t *out, int share) {
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
  if (h->nmounts > BV_MAX_MOUNTS || h->nslots > BV_MAX_SLOTS) return -EBADMSG;
  if (h->exe_path != BV_NO_STRING && h->exe_path >= h->strings_len) return -EBADMSG;
  if ((h->flags & BV_F_CONSOLE) && h->console_fd < 0) return -EBADMSG;
  /* The early filter is installed in the READY step: without READY it would never be (fail open). */
  if ((h->flags & BV_F_SECCOMP_EARLY) && !(h->flags & BV_F_READY)) return -EBADMSG;
  if (h->join_fd >= 0 && (h->join_ns == 0 || h->clone_flags != 0)) return -EBADMSG;
  if (h->ll_marker_fd < -1 || (h->ll_marker_fd >= 0 && !(h->flags & BV_F_LANDLOCK_LOG))) return -EBADMSG;
  /* (uid_t)-1 is setresuid's "unchanged": never an id to become. Ids without SETIDS mean nothing. */
  if (h->inside_uid == 0xffffffffu || h->inside_gid == 0xffffffffu || h->groups_pad != 0) return -EBADMSG;
  /* Supplementary groups only where they replace root's (DROP_GROUPS), bounded, 4-aligned, and
   * never (gid_t)-1. */
  if (h->ngroups > BV_MAX_GROUPS || (h->ngroups && (!(h->flags & BV_F_DROP_GROUPS) || (h->groups_off & 3u) || !section_ok(h, h->groups_off, h->ngroups, sizeof(uint32_t))))) return -EBADMSG;
  for (uint32_t i = 0; i < h->ngroups; i++)
    if (((const uint32_t *)(body + h->groups_off))[i] == 0xffffffffu) return -EBADMSG;
  if (!(h->flags & BV_F_SETIDS) && (h->inside_uid || h->inside_gid)) return -EBADMSG;
  if (h->net_fd < -1 || (h->net_fd >= 0 && ((h->clone_flags & CLONE_NEWNET) || h->join_fd >= 0))) return -EBADMSG;
  if (!section_ok(h, h->slots_off, h->nslots, sizeof(int32_t))) return -EBADMSG;
  if (h->ncgjoin > BV_MAX_CGJOIN || !section_ok(h, h->cgjoin_off, h->ncgjoin, sizeof(int32_t))) return -EBADMSG;
  if (h->ncgjoin && (h->cgjoin_off & 3u)) return -EBADMSG;
  /* Phases never go back: stage, prepare, pivot, assemble; slots are in range. */
  int phase = 0;
  for (uint32_t i = 0; i < h->nmounts; i++) {
    uint32_t op = ms[i].op;
    int ph = op == BV_MOUNT_STAGE ? 0 : (op == BV_MOUNT_CLONE || op == BV_MOUNT_FSMOUNT) ? 1 : op == BV_MOUNT_PIVOT ? 2 : 3;
    if (op < BV_MOUNT_STAGE || op > BV_MOUNT_CHDIR || ph < phase) return -EBADMSG;
    if (ph == 1 && i == 0) return -EBADMSG; /* preparing needs the stage */
    phase = ph;
    if (ms[i].slot >= 0 && (uint32_t)ms[i].slot >= h->nslots) return -EBADMSG;
  }

#ifdef BV_PROFILE
  if (!bv_prof_page) {
    void *pg = mmap(NULL, BV_PROF_SLOTS * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pg != MAP_FAILED) bv_prof_page = pg;
  }
#endif
  /* Everything the child reads, in one block: struct prepared, the argv/envp/slots arrays and a
   * copy of the body. A shared child reads it until it leaves our memory, so it is the region's
   * to free then, not ours to free on return (and never the caller's buffer, which Node's GC
   * may release once we return). */
  size_t need = sizeof(struct prepared) + (h->argc + 1 + h->envc + 1) * sizeof(char *) + (h->nslots + 1) * sizeof(int32_t) + len + 16;
  uint8_t *job = malloc(need);
  if (!job) return -ENOMEM;
  struct prepared *pp = (struct prepared *)job;
  memset(pp, 0, sizeof *pp);
  char **argv = (char **)(job + sizeof *pp);
  char **envp = argv + h->argc + 1;
  int32_t *slots = (int32_t *)(envp + h->envc + 1);
  uint8_t *copy = (uint8_t *)(slots + h->nslots + 1);
  copy = (uint8_t *)(((uintptr_t)copy + 15) & ~(uintptr_t)15);
  memset(argv, 0, (h->argc + 1 + h->envc + 1) * sizeof(char *));
  memset(slots, 0, (h->nslots + 1) * sizeof(int32_t));
  memcpy(copy, body, len);
  body = copy;
  h = (const struct bv_body_header *)copy;
  pp->h = h;
  pp->body = body;
  pp->fds = (const struct bv_fd *)(body + h->fds_off);
  pp->rlimits = (const struct bv_rlimit *)(body + h->rlimits_off);
  pp->bpf = (const struct sock_filter *)(body + h->bpf_off);
  pp->argv = argv;
  pp->envp = envp;
  pp->slots = slots;
  if (h->nslots) memcpy(slots, body + h->slots_off, h->nslots * sizeof(int32_t));
  /* Walk the strings: hostname (if any), argv, envp. Each must end inside the section. */
  const char *s = (const char *)body + h->strings_off;
  const char *end = s + h->strings_len;
  int bad = 0;
  if (h->hostname_len) {
    if (h->hostname_len > 64 || s + h->hostname_len >= end || s[h->hostname_len] != '\0') bad = 1;
    pp->hostname = s;
    s += h->hostname_len + 1;
  }
  for (uint32_t i = 0; !bad && i < h->argc + h->envc; i++) {
    if (s >= end) { bad = 1; break; }
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z) { bad = 1; break; }
    if (i < h->argc) argv[i] = (char *)s;
    else envp[i - h->argc] = (char *)s;
    s = z + 1;
  }
  if (bad) {
    free(job);
    return -EBADMSG;
  }
  /* Sharing our memory only where nothing needs the child to hold its own: an exec's child
   * makes itself non-dumpable (a property of the memory it would share with Node) and clones
   * again; an engine's netns and CLONE_PARENT belong to the monitor, which is small anyway. */
  if (h->join_fd >= 0 || h->net_fd >= 0 || (h->clone_flags & CLONE_PARENT)) share = 0;

  int pidfd = -1;
  struct bv_clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD | h->clone_flags;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  /* clone3 refuses an exit signal with CLONE_PARENT (kernel/fork.c clone3_args_valid): the
   * child then inherits ours, which our own parent chose (SIGCHLD from node's spawn). */
  args.exit_signal = (h->clone_flags & CLONE_PARENT) ? 0 : SIGCHLD;
  if (h->cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)h->cgroup_fd;
  }
#ifdef BV_CHILD_STACKS
  reap_regions();
  struct bv_child_ctx *ctx = region_new();
  if (!ctx) {
    free(job);
    return -ENOMEM;
  }
  args.stack = (uint64_t)(uintptr_t)ctx;
  args.stack_size = bv_region_size;
  /* As root, the child takes the workload's unprivileged ids (step 1b) while it would share our
   * memory, and at that id change the kernel sets the memory's dumpable flag to fs.suid_dumpable
   * (commit_creds): with 1, a process of the workload's uid could ptrace the child and reach our
   * memory (ptrace(2), "Ptrace access mode checking"). Share only where that is 0 or 2. */
  if (share && geteuid() == 0 && !bv_vm_child_may_change_ids(bv_suid_dumpable())) share = 0;
  if (share && geteuid() == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) share = 0;
  if (share) {
    /* CLONE_VM: no copy of Node's memory. As root, the memory the child shares is made
     * non-dumpable before the clone (and the id change keeps it so, or dumpable by root alone,
     * above), so a root bvisor process is non-dumpable from its first launch on. The kernel
     * clears ctx->alive (and wakes a futex on it) when the child execs or exits; until then the
     * region and the job are the child's. */
    ctx->alive = 1;
    ctx->job = job;
    args.flags |= CLONE_VM | CLONE_CHILD_CLEARTID;
    args.child_tid = (uint64_t)(uintptr_t)&ctx->alive;
  }
#else
  share = 0;
#endif
  /* No signal handler of Node's may run in the child before it resets them: block everything
   * around the clone (the child starts with this mask and keeps it until just before exec). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  /* An engine's network namespace: setns applies to the calling thread only, and a clone3
   * child is born in its creator's; enter it just for the clone, then return to our own. Done
   * here, by root in the initial user namespace, because the child (in its new user
   * namespace) would have no rights over a namespace the host owns. */
  int own_net = -1;
  int err = 0;
  if (h->net_fd >= 0) {
    own_net = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own_net < 0 || syscall(SYS_setns, h->net_fd, CLONE_NEWNET) < 0) {
      err = errno;
      if (own_net >= 0) close(own_net);
      own_net = -1;
    }
  }
  long pid = -1;
  if (!err) {
    BV_PROF(0);
#ifdef BV_CHILD_STACKS
    pid = bv_clone3_stack(&args, sizeof args, child_entry, pp);
    if (pid < 0) {
      err = (int)-pid;
      pid = -1;
    }
#else
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) child_main(pp);
    if (pid < 0) err = errno;
#endif
    BV_PROF(1);
  }
  if (own_net >= 0) {
    /* Back to our own namespace. If that ever failed, this thread would go on in the
     * container's network: kill what we made and report it, never carry on. (Never a shared
     * child: share is off with net_fd.) */
    if (syscall(SYS_setns, own_net, CLONE_NEWNET) < 0) {
      err = errno;
      if (pid > 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      pid = -1;
    }
    close(own_net);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
#ifdef BV_CHILD_STACKS
  if (share && pid > 0) {
    /* The child now owns ctx and job; reap_regions frees them once it has left our memory. */
    pthread_mutex_lock(&regions_lock);
    ctx->next = live_regions;
    live_regions = ctx;
    pthread_mutex_unlock(&regions_lock);
  } else {
    /* A child of its own (or none): it has copies of all it needs. */
    munmap(ctx, bv_region_size);
    free(job);
  }
#else
  free(job);
#endif
  if (pid < 0) return -err;
  out[0] = (int32_t)pid;
  out[1] = pidfd;
  return 0;
}

int bv_spawn(const uint8_t *body, uint32_t len, int32_t *out) { return spawn(body, len, out, 0); }

int bv_spawn_vm(const uint8_t *body, uint32_t len, int32_t *out) { return spawn(body, len, out, 1); }
