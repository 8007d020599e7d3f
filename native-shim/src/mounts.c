/* Parent-side mount helpers, ordinary C called from TypeScript through koffi (never from the
 * clone3 child): detached copies of the trees a plan grants, made from the descriptors bvisor
 * opened once, and the user namespaces that give idmapped mounts their mapping.
 *
 * Why in the parent: a descriptor opened before clone3 names a mount of the host's mount
 * namespace, which the child (in its own) may not clone; and creating an idmapped mount needs
 * CAP_SYS_ADMIN in the user namespace the filesystem was mounted in (the initial one), which
 * only the parent has, and only when bvisor runs as root. The child moves these trees into its
 * new root by descriptor (move_mount), so nothing is resolved by name twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bvshim.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define BV_OPEN_TREE_CLONE 1u
#define BV_AT_RECURSIVE 0x8000u
#define BV_MOUNT_ATTR_IDMAP 0x00100000u
#define BV_MS_PRIVATE (1u << 18)

struct bv_mount_attr_p {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* out: {mode, dev, ino, uid, gid, nlink} */
int bv_stat_id(int fd, int64_t *out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  out[0] = st.st_mode;
  out[1] = (int64_t)st.st_dev;
  out[2] = (int64_t)st.st_ino;
  out[3] = st.st_uid;
  out[4] = st.st_gid;
  out[5] = (int64_t)st.st_nlink;
  return 0;
}

/* The size of extended attribute `name` of path (-errno: ENODATA when it has none), following a
 * final symlink only when follow (a /proc/self/fd/N magic link to an O_PATH descriptor). */
int bv_xattr_size(const char *path, const char *name, int follow) {
  ssize_t n = follow ? getxattr(path, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
  return n < 0 ? -errno : (int)n;
}

/* A detached, private copy of the tree at fd (open_tree(OPEN_TREE_CLONE), with AT_RECURSIVE when
 * recursive: the mounts beneath it too, as an rbind; otherwise that mount alone, as a bind), with
 * attrs (MOUNT_ATTR_*) set on every mount in it and, when userns_fd >= 0, idmapped through that
 * user namespace. Returns the tree's fd (close-on-exec) or -errno. */
int bv_tree(int fd, uint32_t attrs, int userns_fd, int recursive) {
  long tree = syscall(SYS_open_tree, fd, "", BV_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | (recursive ? BV_AT_RECURSIVE : 0));
  if (tree < 0) return -errno;
  struct bv_mount_attr_p a = {attrs | (userns_fd >= 0 ? BV_MOUNT_ATTR_IDMAP : 0), 0, BV_MS_PRIVATE, userns_fd >= 0 ? (uint64_t)userns_fd : 0};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | BV_AT_RECURSIVE, &a, sizeof a) < 0) {
    int e = errno;
    close((int)tree);
    return -e;
  }
  return (int)tree;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = strlen(text);
  ssize_t w = write(fd, text, n);
  int e = w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
  close(fd);
  return e;
}

struct bv_clone_args_u {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* A user namespace with the given uid_map and gid_map lines ("inside outside count\n"), held
 * by an fd: a child is cloned into a new user namespace, waits on a pipe while the maps are
 * written, and exits once the namespace is open. Used as the mapping of idmapped mounts.
 * Returns the namespace fd or -errno. */
int bv_userns(const char *uid_map, const char *gid_map) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  int pidfd = -1;
  struct bv_clone_args_u args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    /* ==== ASYNC-SIGNAL-SAFE REGION: raw syscalls only ==== */
    char b;
    syscall(SYS_close, p[1]);
    while (syscall(SYS_read, p[0], &b, 1) < 0 && errno == EINTR) {}
    for (;;) syscall(SYS_exit_group, 0);
  }
  int err = pid < 0 ? errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(p[0]);
  if (pid < 0) {
    close(p[1]);
    return -err;
  }
  char path[64];
  int rc = 0, ns = -1;
  snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
  rc = write_file(path, uid_map);
  if (!rc) {
    snprintf(path, sizeof path, "/proc/%ld/setgroups", pid);
    rc = write_file(path, "deny");
  }
  if (!rc) {
    snprintf(path, sizeof path, "/proc/%ld/gid_map", pid);
    rc = write_file(path, gid_map);
  }
  if (!rc) {
    snprintf(path, sizeof path, "/proc/%ld/ns/user", pid);
    ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) rc = -errno;
  }
  close(p[1]); /* the child reads EOF and exits */
  siginfo_t info;
  while (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED, NULL) < 0 && errno == EINTR) {}
  close(pidfd);
  return rc ? rc : ns;
}

/* ---- outputs quarantine (host side) ---- */

int bv_mount_tmpfs(const char *target, const char *data) {
  if (mount("bvisor-outputs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) < 0) return -errno;
  return 0;
}

int bv_remount_ro(const char *target) {
  if (mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -errno;
  return 0;
}

int bv_umount(const char *target) {
  if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return -errno;
  return 0;
}
