/* bvshim — the native half of bvisor, loaded by koffi from src/backends/linux/ffi/shim.ts only.
 *
 * The library holds small, syscall-only functions. Everything that decides lives in TypeScript;
 * C only does what Node cannot: raw syscalls (landlock, clone, flock) and, later, the launcher's
 * async-signal-safe child.
 *
 * ABI: bv_shim_abi() returns BV_SHIM_ABI. The TS side refuses to use a library that reports a
 * different number (a stale build), so a layout change must bump it.
 *
 * Error convention: functions return 0 (or a non-negative result) on success and a negative
 * errno on failure; they never print and never abort.
 */
#ifndef BVSHIM_H
#define BVSHIM_H

#define BV_SHIM_ABI 18

#include <stddef.h>

int bv_shim_abi(void);

/* landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI (>= 1), or -errno
 * (-ENOSYS: kernel without landlock; -EOPNOTSUPP: built in but disabled at boot). */
int bv_landlock_abi(void);

/* Really tries to create a user namespace in a short-lived child. When uid/gid are not -1 the
 * child first drops to them (setgroups(0), setresgid, setresuid) so the answer is the one an
 * unprivileged user would get. Returns 0 when unshare(CLONE_NEWUSER) succeeded, else -errno
 * (from the child's failing step, or from clone/wait in the parent). */
int bv_userns_probe(int uid, int gid);

/* fs.suid_dumpable (0, 1 or 2), or -1 when it cannot be read. */
int bv_suid_dumpable(void);

/* Whether a child sharing our memory (CLONE_VM) may take other ids without exposing that memory
 * to processes of those ids: the kernel sets the memory's dumpable flag to fs.suid_dumpable at
 * every id change (commit_creds), so only where that is 0 (non-dumpable) or 2 (dumpable by root
 * alone), not 1 (dumpable by the new ids), nor when it cannot be read. */
int bv_vm_child_may_change_ids(int suid_dumpable);

/* flock(2): 0 or -errno. op is LOCK_SH=1, LOCK_EX=2, LOCK_UN=8, optionally | LOCK_NB=4. */
int bv_flock(int fd, int op);

/* ---- sys.c ---- */
#include <stdint.h>
int bv_pipe(int32_t *fds, int cloexec_read, int cloexec_write);
int bv_open(const char *path, int flags, int mode);
int bv_close(int fd);
int bv_set_cloexec(int fd, int on);
int bv_fd_info(int fd, int32_t *out);
int bv_wait(int pidfd, int64_t *out, int nohang);
int bv_pidfd_signal(int pidfd, int sig);
int bv_pidfd_open(int pid);
/* SIGTSTP/SIGTTIN/SIGTTOU ignored while a workload shares the session (sys.c says why). */
int bv_job_stops(int hold);
/* The caller's terminal after a workload given it: its output resumed, its modes got and put
 * back (a struct termios of bv_termios_size() bytes); sys.c says why. */
int bv_tty_resume(int fd);
int bv_termios_size(void);
int bv_tty_get(int fd, void *termios);
int bv_tty_set(int fd, const void *termios);
int bv_tty_pgrp(int fd);
int bv_tty_set_pgrp(int fd, int pgrp);
/* fcntl(F_DUPFD_CLOEXEC): a descriptor of ours for the same open file. */
int bv_dup(int fd);
int bv_memfd_sealed(const char *name, const void *bytes, size_t len);
/* The wall deadline's backstop: a thread that kills the workload at the deadline (sys.c says why). */
int bv_deadline_thread(int pid, int pidfd, int kill_fd);
int bv_write_byte(int fd);
int bv_read_record(int fd, int32_t *rec);
int bv_landlock_create(uint64_t fs, uint64_t net, uint64_t scoped, int abi);
int bv_landlock_add_path(int ruleset, int parent_fd, uint64_t allowed);
int bv_landlock_add_port(int ruleset, uint64_t port, uint64_t allowed);
int bv_mkfifo(const char *path, int mode);
int bv_fallocate(int fd, int64_t len);
int bv_openat2(int dirfd, const char *path, int flags, int mode, int resolve);
int bv_fstat(int fd, int64_t *out);
int bv_getdents(int fd, void *buf, int len);
int64_t bv_lseek(int fd, int64_t off, int whence);
int bv_mkdirat(int dirfd, const char *name, int mode);
int bv_unlinkat(int dirfd, const char *name, int flags);
int bv_symlinkat(const char *target, int dirfd, const char *name);
int bv_readlinkat(int dirfd, const char *name, void *buf, int len);
int bv_renameat(int olddir, const char *oldname, int newdir, const char *newname);
int bv_linkat(int olddir, const char *oldname, int newdir, const char *newname);
int bv_rename_noreplace(const char *oldpath, const char *newpath);
int bv_unix_connect(const char *path, int timeout_ms);

/* ---- notify.c (seccomp user notification; see notify.h) ---- */
int bv_recv_fd(int sock);
int bv_socketpair(int32_t *fds);
uint32_t bv_bpf_eval(const void *prog, int len, const void *data);
/* The holder thread (notify.c): takes the listener from a duplicate of sock, then serves it.
 * observe_prog (NULL: none): observe mode, see bv_notifier_observe (bvisor learn). */
int bv_notify_thread(int sock, int out_fd, int stop_fd, const uint8_t *strmask, int nmask, int max_records, const void *observe_prog, int observe_len, const char *secrets, int secrets_len, int secret_count);
/* Landlock audit records (audit.h): AUDIT_GET, the READLOG socket, and the reader thread, which owns
 * audit_fd, out_fd and stop_fd and ends with the barrier once stop_fd is readable or hung up. */
int bv_audit_status(uint32_t *out);
int bv_audit_open(void);
int bv_audit_thread(int audit_fd, int out_fd, int stop_fd, const char *token, const char *secrets, int secrets_len, int secret_count);

/* ---- mounts.c (parent side) ---- */
int bv_stat_id(int fd, int64_t *out);
int bv_xattr_size(const char *path, const char *name, int follow);
int bv_tree(int fd, uint32_t attrs, int userns_fd, int recursive);
int bv_userns(const char *uid_map, const char *gid_map);
/* An outputs quarantine (host side, root): a tmpfs bounding its size and inode count, mounted
 * nosuid,nodev,noexec at target; remounted read-only to freeze it; detached at disposal. */
int bv_mount_tmpfs(const char *target, const char *data);
int bv_remount_ro(const char *target);
int bv_umount(const char *target);

/* ---- spawn.c ----
 * Starts PATH (absolute) detached from us, as an orphan: a CLONE_VM|CLONE_VFORK child clones the
 * program's process the same way and exits once that one has exec'd, so it is reparented to the
 * nearest child subreaper or to init at once, and never waits as our zombie. ARGS holds the
 * arguments, the program's name first, each NUL-terminated (ARGS_LEN bytes in all, at most
 * BV_SPAWN_MAX_ARGS). FDS[i] (i < NFDS, 3 <= NFDS <= BV_SPAWN_MAX_FDS) is the descriptor the
 * program gets at position i; -1 leaves it closed, or /dev/null for 0, 1 and 2. Every descriptor
 * above the positions is closed. The program runs in a session of its own, every signal at its
 * default disposition and none blocked, in our environment. Returns its pid, or -errno: of
 * clone, of the failing step in the child (an execve error among them; -ECHILD when a signal
 * killed it before its execve), -EINVAL or -E2BIG for arguments outside the bounds. */
#define BV_SPAWN_MAX_FDS 65536
#define BV_SPAWN_MAX_ARGS 4096
int bv_spawn_detached(const char *path, const char *args, int args_len, const int32_t *fds, int nfds);

#endif
