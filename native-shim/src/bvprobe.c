/* bvprobe: a small static program that runs INSIDE a boundary and reports what it can see and
 * do, for tests that must not trust bvisor's own report. Modes (argv[1]):
 *   facts                 JSON: ids, uid/gid maps, hostname, namespace inodes, open fds, env,
 *                         cgroup, Seccomp/NoNewPrivs/Cap* lines, rlimits, fork and socket tries
 *   write PATH TEXT       create/truncate PATH with TEXT   (exit 0, or 1 with the errno printed)
 *   read PATH             print PATH                       (exit 0, or 1 with the errno printed)
 *   cat                   copy stdin (fd 0, as inherited) to stdout
 *   exit N                exit with N
 *   segv                  fault on a NULL pointer (a kernel-forced signal, so even a pid-1 dies)
 *   spin                  burn CPU for ever
 *   sleep SECONDS         sleep
 *   unparented SECONDS    clear its parent-death signal (prctl(PR_SET_PDEATHSIG, 0), which any
 *                         program may), print "cleared", then sleep
 *   tick FILE [child]     write 1, 2, 3... into FILE (and "tick N" to stdout) every 100 ms until
 *                         killed; with "child", in a child it waits for
 *   jobstop FILE          stop the rest of its process group through the terminal on stdin
 *                         (a new foreground group, then a background read: SIGTTIN; prints
 *                         "reader stopped N"), then tick
 *   ttystop FD|tty HOW END  leave a terminal (descriptor FD, or /dev/tty opened) stopped, raw (no
 *                         ICANON, ECHO or ISIG): HOW tcooff clears IXON and stops its output
 *                         (tcflow(TCOOFF)); HOW stopchar keeps IXON with no START character, for
 *                         a STOP character typed at the terminal to stop it (waits 500 ms for it);
 *                         HOW fg, after TCOOFF, also makes a new process group (a child's, which
 *                         then exits) the terminal's foreground.
 *                         Prints "stopped" first. Then one mount(2) (a call the default denylist
 *                         refuses: a denial to list), and END: exit with that number, segv (fault
 *                         on a NULL pointer) or sleep (a minute). Prints the failing call's errno
 *   burn MS               spin for MS of wall time, print the CPU ms this process got
 *   alloc MIB [FILE]      allocate and touch MIB mebibytes, then print "ok" (with FILE: make it,
 *                         then wait half a second first)
 *   forkbomb N            try to fork N sleeping children; print how many succeeded
 *   spew BYTES            write BYTES bytes of 'x' to stdout
 *   spinners N            N processes (this one and N-1 children) spinning forever
 *   exchange A B          swap A and B with renameat2(RENAME_EXCHANGE) in a loop until killed
 *                         (a racer for tests; runs on the host, never inside a boundary)
 *   try OP... [, OP...]   run each operation, print a JSON array of errnos (0 = it worked):
 *     open PATH r|w|rw|c|rt  openat (c: O_CREAT|O_WRONLY, rt: O_RDONLY|O_TRUNC)   mkdir PATH   unlink PATH
 *     symlink TARGET PATH  rename FROM TO    truncate PATH   readdir PATH
 *     connect IP PORT      TCP connect        udp IP PORT     sendto over UDP
 *     mptcp IP PORT        connect over an MPTCP stream socket (socket(AF_INET, SOCK_STREAM, 262))
 *     tfo IP PORT          sendto(MSG_FASTOPEN) on a fresh TCP socket (connects as it sends)
 *     listen               listen(2) on a TCP socket never bound (the kernel binds an ephemeral port)
 *     inet                 socket(AF_INET, SOCK_STREAM)       abstract NAME [full] (connect "@NAME";
 *                          full: NUL-padded to the whole sun_path, as Node binds abstract names)
 *     thread | fork | vfork | clone3           kill PID SIG       ptrace PID (attach)
 *     syscall NR [A0..A5]  a raw syscall       x32 (getpid through the x32 ABI)
 *     fdpath FD REL        openat("/proc/self/fd/FD/REL")  after opening nothing else
 *     stat PATH            lstat            chmod PATH OCTAL    chown PATH UID GID
 *     utime PATH           utimensat(now)   xattr PATH NAME     setxattr NAME=x
 *     fcap PATH            set a valid file capability (security.capability, VFS_CAP_REVISION_2:
 *                          CAP_NET_RAW permitted and effective; capabilities(7))
 *     mmapw PATH           open PATH read-write, map it shared and writable, flip its first byte
 *                          and msync (a write that does not clear set-ID bits)
 *     inotify PATH         inotify_add_watch                    unix PATH (connect)
 *     clonens HEXFLAGS     raw clone(FLAGS|SIGCHLD), the child exits at once
 *     fdwrite FD TEXT      write TEXT to an inherited descriptor
 *     tty                  open /dev/tty read-write (the controlling terminal)
 *     creat PATH OCTAL     open(O_WRONLY|O_CREAT|O_EXCL, mode)    mkdirm PATH OCTAL  mkdir(mode)
 *     link FROM TO         a hard link        bind IP PORT       TCP bind
 *     ioctl PATH REQ       open PATH read-only (O_NOCTTY|O_NONBLOCK), then ioctl(REQ, &int 0):
 *                          the open's errno if it fails, else the ioctl's
 *     fdioctl FD REQ       ioctl(FD, REQ, &int 0) on an inherited descriptor
 *     sctty FD             ioctl(FD, TIOCSCTTY, 0): take FD as the controlling terminal
 *     sti FD               ioctl(FD, TIOCSTI, "#"): push a byte into the terminal's input queue
 *   ops are separated by the argument ","
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/mman.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') printf("\\n");
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void file_field(const char *name, const char *path) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  printf("\"%s\":", name);
  if (fd < 0) {
    printf("null");
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n < 0 ? 0 : n] = 0;
  json_str(buf);
}

static void status_line(const char *key) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  printf("\"%s\":", key);
  if (!f) {
    printf("null");
    return;
  }
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      char *v = line + kl + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = 0;
      json_str(v);
      fclose(f);
      return;
    }
  }
  fclose(f);
  printf("null");
}

static void rl_field(const char *name, int res) {
  struct rlimit rl;
  getrlimit(res, &rl);
  printf("\"%s\":[", name);
  if (rl.rlim_cur == RLIM_INFINITY) printf("null,"); else printf("%llu,", (unsigned long long)rl.rlim_cur);
  if (rl.rlim_max == RLIM_INFINITY) printf("null]"); else printf("%llu]", (unsigned long long)rl.rlim_max);
}

static int facts(void) {
  printf("{\"pid\":%d,\"ppid\":%d,\"uid\":%d,\"gid\":%d,", getpid(), getppid(), getuid(), getgid());
  file_field("uidMap", "/proc/self/uid_map"); putchar(',');
  file_field("gidMap", "/proc/self/gid_map"); putchar(',');
  file_field("setgroups", "/proc/self/setgroups"); putchar(',');
  char host[256] = "";
  gethostname(host, sizeof host);
  printf("\"hostname\":"); json_str(host); putchar(',');
  printf("\"ns\":{");
  const char *nss[] = {"user", "pid", "net", "mnt", "ipc", "uts", "cgroup"};
  for (int i = 0; i < 7; i++) {
    if (i) putchar(',');
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", nss[i]);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) { printf("\"%s\":null", nss[i]); continue; }
    link[n] = 0;
    char *lb = strchr(link, '[');
    printf("\"%s\":%lu", nss[i], lb ? strtoul(lb + 1, NULL, 10) : 0UL);
  }
  printf("},\"fds\":[");
  DIR *d = opendir("/proc/self/fd");
  int first = 1;
  int dfd = d ? dirfd(d) : -1;
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      int fd = atoi(e->d_name);
      if (fd == dfd) continue;
      char path[64], target[512];
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, target, sizeof target - 1);
      target[n < 0 ? 0 : n] = 0;
      printf("%s{\"fd\":%d,\"target\":", first ? "" : ",", fd);
      json_str(target);
      printf("}");
      first = 0;
    }
    closedir(d);
  }
  printf("],\"env\":[");
  for (char **e = environ; e && *e; e++) {
    if (e != environ) putchar(',');
    json_str(*e);
  }
  printf("],");
  file_field("cgroup", "/proc/self/cgroup"); putchar(',');
  status_line("NoNewPrivs"); putchar(',');
  status_line("Seccomp"); putchar(',');
  status_line("CapEff"); putchar(',');
  status_line("CapPrm"); putchar(',');
  status_line("CapBnd"); putchar(',');
  status_line("CapAmb"); putchar(',');
  printf("\"rlimits\":{");
  rl_field("nofile", RLIMIT_NOFILE); putchar(',');
  rl_field("nproc", RLIMIT_NPROC); putchar(',');
  rl_field("cpu", RLIMIT_CPU); putchar(',');
  rl_field("as", RLIMIT_AS);
  printf("},");
  fflush(stdout);
  pid_t c = fork();
  int fork_errno = 0;
  if (c == 0) _exit(0);
  if (c < 0) fork_errno = errno;
  else waitpid(c, NULL, 0);
  printf("\"forkErrno\":%d,", fork_errno);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  printf("\"inetSocketErrno\":%d", s < 0 ? errno : 0);
  if (s >= 0) close(s);
  printf("}\n");
  return 0;
}

static void *thread_fn(void *arg) { return arg; }
static void *sleeper_fn(void *arg) {
  sleep(*(unsigned *)arg);
  return arg;
}

/* Installs a filter of its own that allows everything: with `listener`, asking for a listener
 * too (the kernel allows one per filter chain: EBUSY when bvisor's already has one). The
 * workload's attempt to get a denied call through, or to take over the notifications. */
static int own_filter(int listener) {
  struct sock_filter allow[] = {{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}};
  struct sock_fprog prog = {1, allow};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
  if (r < 0) return errno;
  if (listener) close((int)r);
  return 0;
}

static int try_op(int argc, char **argv) {
  const char *op = argv[0];
#define ARG(i) (argc > (i) ? argv[i] : "")
  errno = 0;
  if (!strcmp(op, "open")) {
    const char *m = ARG(2);
    /* rt: O_RDONLY|O_TRUNC, which truncates on Linux with only read access asked for */
    int fl = !strcmp(m, "w") ? O_WRONLY : !strcmp(m, "rw") ? O_RDWR : !strcmp(m, "c") ? (O_WRONLY | O_CREAT) : !strcmp(m, "rt") ? (O_RDONLY | O_TRUNC) : O_RDONLY;
    int fd = open(ARG(1), fl | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    close(fd);
    return 0;
  }
  if (!strcmp(op, "mkdir")) return mkdir(ARG(1), 0755) < 0 ? errno : 0;
  if (!strcmp(op, "mknod")) { /* mknod PATH c|b|p: a character device (1:3, /dev/null's numbers), a block device, a fifo */
    const char *k = ARG(2);
    mode_t m = !strcmp(k, "c") ? S_IFCHR : !strcmp(k, "b") ? S_IFBLK : S_IFIFO;
    return mknod(ARG(1), m | 0600, m == S_IFIFO ? 0 : makedev(1, 3)) < 0 ? errno : 0;
  }
  if (!strcmp(op, "unlink")) return unlink(ARG(1)) < 0 ? errno : 0;
  if (!strcmp(op, "symlink")) return symlink(ARG(1), ARG(2)) < 0 ? errno : 0;
  if (!strcmp(op, "rename")) return rename(ARG(1), ARG(2)) < 0 ? errno : 0;
  if (!strcmp(op, "truncate")) return truncate(ARG(1), 0) < 0 ? errno : 0;
  if (!strcmp(op, "readdir")) {
    DIR *d = opendir(ARG(1));
    if (!d) return errno;
    closedir(d);
    return 0;
  }
  if (!strcmp(op, "connect") || !strcmp(op, "udp") || !strcmp(op, "bind") || !strcmp(op, "mptcp") || !strcmp(op, "tfo")) {
    int udp = !strcmp(op, "udp"), bnd = !strcmp(op, "bind"), tfo = !strcmp(op, "tfo");
    /* IPPROTO_MPTCP (linux/in.h; Linux 5.6): a stream that is not TCP by its protocol */
    int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, !strcmp(op, "mptcp") ? 262 : 0);
    if (s < 0) return errno;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(ARG(2)));
    inet_pton(AF_INET, ARG(1), &a.sin_addr);
    int r = udp || tfo ? (int)sendto(s, "x", 1, tfo ? MSG_FASTOPEN : 0, (struct sockaddr *)&a, sizeof a) : bnd ? bind(s, (struct sockaddr *)&a, sizeof a) : connect(s, (struct sockaddr *)&a, sizeof a);
    int e = r < 0 ? errno : 0;
    close(s);
    return e;
  }
  if (!strcmp(op, "listen")) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    int e = listen(s, 1) < 0 ? errno : 0;
    close(s);
    return e;
  }
  if (!strcmp(op, "inet")) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    close(s);
    return 0;
  }
  if (!strcmp(op, "abstract")) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(ARG(1));
    if (n > sizeof a.sun_path - 2) n = sizeof a.sun_path - 2;
    memcpy(a.sun_path + 1, ARG(1), n);
    /* "full": the name NUL-padded to the whole sun_path, as Node (libuv) binds abstract names */
    socklen_t len = !strcmp(ARG(2), "full") ? (socklen_t)sizeof a : (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    int r = connect(s, (struct sockaddr *)&a, len);
    int e = r < 0 ? errno : 0;
    close(s);
    return e;
  }
  if (!strcmp(op, "thread")) {
    pthread_t t;
    int e = pthread_create(&t, NULL, thread_fn, NULL);
    if (!e) pthread_join(t, NULL);
    return e;
  }
  if (!strcmp(op, "fork")) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c < 0) return errno;
    waitpid(c, NULL, 0);
    return 0;
  }
  if (!strcmp(op, "vfork")) {
    pid_t c = vfork();
    if (c == 0) _exit(0);
    if (c < 0) return errno;
    waitpid(c, NULL, 0);
    return 0;
  }
  if (!strcmp(op, "clone3")) {
    uint64_t args[11];
    memset(args, 0, sizeof args);
    args[4] = SIGCHLD; /* exit_signal */
    long c = syscall(435, args, sizeof args);
    if (c == 0) syscall(SYS_exit_group, 0);
    if (c < 0) return errno;
    waitpid((pid_t)c, NULL, 0);
    return 0;
  }
  if (!strcmp(op, "kill")) return kill(atoi(ARG(1)), atoi(ARG(2))) < 0 ? errno : 0;
  if (!strcmp(op, "allowall")) return own_filter(0);
  if (!strcmp(op, "chmodenv")) {
    /* chmod of /tmp/<the value of env VAR>: a workload putting its environment into a call */
    char path[512];
    const char *v = getenv(ARG(1));
    snprintf(path, sizeof path, "/tmp/%s", v ? v : "");
    return chmod(path, (mode_t)strtol(ARG(2), NULL, 8)) < 0 ? errno : 0;
  }
  if (!strcmp(op, "nestread")) {
    /* a landlock domain of the workload's own, stacked on the boundary's, that refuses reading
     * files (LANDLOCK_ACCESS_FS_READ_FILE, 1 << 2), then a read of PATH: refused by it alone */
    uint64_t handled = 1ull << 2;
    long rs = syscall(444 /* landlock_create_ruleset */, &handled, sizeof handled, 0);
    if (rs < 0) return errno;
    if (syscall(446 /* landlock_restrict_self */, rs, 0) < 0) return errno;
    int fd = open(ARG(1), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    close(fd);
    return 0;
  }
  if (!strcmp(op, "mknodenv")) {
    /* mkdir DIR/<the value of env VAR>, then a character device in it (a path a landlock
     * denial names: the directory) */
    char path[512];
    const char *v = getenv(ARG(2));
    snprintf(path, sizeof path, "%s/%s", ARG(1), v ? v : "");
    if (mkdir(path, 0755) < 0 && errno != EEXIST) return errno;
    snprintf(path, sizeof path, "%s/%s/dev", ARG(1), v ? v : "");
    return mknod(path, S_IFCHR | 0600, makedev(1, 3)) < 0 ? errno : 0;
  }
  if (!strcmp(op, "ownlistener")) return own_filter(1);
  if (!strcmp(op, "forkexec")) {
    /* a child that execs this probe again to make one raw syscall: its errno is its exit status */
    pid_t c = fork();
    if (c < 0) return errno;
    if (c == 0) {
      char *args[10] = {"bvprobe", "syscallexit"};
      int n = 2;
      for (int i = 1; i < argc && n < 9; i++) args[n++] = argv[i];
      args[n] = NULL;
      execv("/proc/self/exe", args);
      _exit(127);
    }
    int st = 0;
    if (waitpid(c, &st, 0) < 0) return errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  if (!strcmp(op, "ptrace")) return syscall(SYS_ptrace, PTRACE_ATTACH, atoi(ARG(1)), 0, 0) < 0 ? errno : 0;
  if (!strcmp(op, "syscall")) {
    long a[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 6 && argc > 2 + i; i++) a[i] = strtol(argv[2 + i], NULL, 0);
    return syscall(strtol(ARG(1), NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]) < 0 ? errno : 0;
  }
  if (!strcmp(op, "x32")) return syscall(0x40000000 | 39) < 0 ? errno : 0;
  if (!strcmp(op, "fdpath")) {
    int dfd = open(ARG(1), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno;
    char p[512];
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dfd, ARG(2));
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    close(dfd);
    return e;
  }
  if (!strcmp(op, "stat")) {
    struct stat st;
    return lstat(ARG(1), &st) < 0 ? errno : 0;
  }
  if (!strcmp(op, "chmod")) return chmod(ARG(1), (mode_t)strtol(ARG(2), NULL, 8)) < 0 ? errno : 0;
  if (!strcmp(op, "chown")) return chown(ARG(1), (uid_t)atoi(ARG(2)), (gid_t)atoi(ARG(3))) < 0 ? errno : 0;
  if (!strcmp(op, "utime")) return utimensat(AT_FDCWD, ARG(1), NULL, 0) < 0 ? errno : 0;
  if (!strcmp(op, "xattr")) return setxattr(ARG(1), ARG(2), "x", 1, 0) < 0 ? errno : 0;
  if (!strcmp(op, "fcap")) {
    /* struct vfs_cap_data (linux/capability.h), little-endian: magic_etc, then permitted and
     * inheritable for the low and the high 32 capabilities. */
    uint32_t cap[5] = { 0x02000000u | 0x1u, 1u << 13 /* CAP_NET_RAW */, 0, 0, 0 };
    return setxattr(ARG(1), "security.capability", cap, sizeof cap, 0) < 0 ? errno : 0;
  }
  if (!strcmp(op, "mmapw")) {
    int fd = open(ARG(1), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno;
    unsigned char *m = mmap(NULL, 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = m == MAP_FAILED ? errno : 0;
    close(fd);
    if (e) return e;
    m[0] ^= 0xff;
    e = msync(m, 1, MS_SYNC) < 0 ? errno : 0;
    munmap(m, 1);
    return e;
  }
  if (!strcmp(op, "inotify")) {
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0) return errno;
    int w = inotify_add_watch(in, ARG(1), IN_ALL_EVENTS);
    int e = w < 0 ? errno : 0;
    close(in);
    return e;
  }
  if (!strcmp(op, "unix")) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", ARG(1));
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = r < 0 ? errno : 0;
    close(s);
    return e;
  }
  if (!strcmp(op, "clonens")) {
    /* A raw clone: if it works, the child leaves at once so only the parent reports. */
    long c = syscall(SYS_clone, (unsigned long)strtoul(ARG(1), NULL, 16) | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) syscall(SYS_exit_group, 0);
    if (c < 0) return errno;
    waitpid((pid_t)c, NULL, 0);
    return 0;
  }
  if (!strcmp(op, "fdwrite")) return write(atoi(ARG(1)), ARG(2), strlen(ARG(2))) < 0 ? errno : 0;
  if (!strcmp(op, "creat")) {
    int fd = open(ARG(1), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)strtol(ARG(2), NULL, 8));
    if (fd < 0) return errno;
    close(fd);
    return 0;
  }
  if (!strcmp(op, "mkdirm")) {
    /* mkdir applies the umask: clear it so the mode asked is the mode tried. */
    umask(0);
    return mkdir(ARG(1), (mode_t)strtol(ARG(2), NULL, 8)) < 0 ? errno : 0;
  }
  if (!strcmp(op, "link")) return link(ARG(1), ARG(2)) < 0 ? errno : 0;
  if (!strcmp(op, "ioctl") || !strcmp(op, "fdioctl")) {
    int path = !strcmp(op, "ioctl");
    int fd = path ? open(ARG(1), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) : atoi(ARG(1));
    if (fd < 0) return errno;
    int v = 0;
    int e = ioctl(fd, (unsigned long)strtoul(ARG(2), NULL, 0), &v) < 0 ? errno : 0;
    if (path) close(fd);
    return e;
  }
  if (!strcmp(op, "sctty")) return ioctl(atoi(ARG(1)), TIOCSCTTY, 0) < 0 ? errno : 0;
  if (!strcmp(op, "sti")) {
    char c = '#';
    return ioctl(atoi(ARG(1)), TIOCSTI, &c) < 0 ? errno : 0;
  }
  if (!strcmp(op, "tty")) {
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return errno;
    close(fd);
    return 0;
  }
#undef ARG
  return -1;
}

static int try_ops(int argc, char **argv) {
  printf("[");
  int start = 0, first = 1;
  for (int i = 0; i <= argc; i++) {
    if (i == argc || !strcmp(argv[i], ",")) {
      if (i > start) {
        int e = try_op(i - start, argv + start);
        printf("%s%d", first ? "" : ",", e);
        first = 0;
      }
      start = i + 1;
    }
  }
  printf("]\n");
  return 0;
}

/* sigcount: each SIGINT, SIGQUIT or SIGUSR1 that arrives is one line "SIGNO si_code" on stdout,
 * written by the handler itself (write(2) is async-signal-safe): two deliveries are two lines,
 * where a shell's trap may run once for both. SIGTERM ends it with 7. */
static void count_one(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char line[32];
  int n = snprintf(line, sizeof line, "sig %d %d\n", sig, si->si_code);
  if (n > 0) (void)!write(1, line, (size_t)n);
}
static void term_exit(int sig) { (void)sig; _exit(7); }
static int sigcount(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = count_one;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGINT, SIGQUIT, SIGUSR1};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) < 0) { printf("sigaction: %d\n", errno); return 1; }
  signal(SIGTERM, term_exit);
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bvprobe facts|write|read|exit|segv|spin|sleep|alloc|forkbomb|spew ...\n");
    return 2;
  }
  const char *m = argv[1];
  if (!strcmp(m, "facts")) return facts();
  if (!strcmp(m, "sigcount")) return sigcount();
  if (!strcmp(m, "try")) return try_ops(argc - 2, argv + 2);
  if (!strcmp(m, "syscallexit") && argc >= 3) {
    long a[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 6 && argc > 3 + i; i++) a[i] = strtol(argv[3 + i], NULL, 0);
    return syscall(strtol(argv[2], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]) < 0 ? errno : 0;
  }
  if (!strcmp(m, "write") && argc >= 4) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { printf("errno %d\n", errno); return 1; }
    ssize_t w = write(fd, argv[3], strlen(argv[3]));
    close(fd);
    return w < 0 ? 1 : 0;
  }
  if (!strcmp(m, "read") && argc >= 3) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) { printf("errno %d\n", errno); return 1; }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
    return 0;
  }
  if (!strcmp(m, "cat")) {
    char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    return n < 0 ? 1 : 0;
  }
  if (!strcmp(m, "exit") && argc >= 3) return atoi(argv[2]);
  if (!strcmp(m, "segv")) {
    volatile int *p = NULL;
    return *p;
  }
  if (!strcmp(m, "spin")) for (volatile unsigned long i = 0;; i++) {}
  if (!strcmp(m, "spinners") && argc >= 3) {
    /* N processes burning CPU together: only a limit on the whole tree stops them soon */
    int n = atoi(argv[2]);
    for (int i = 1; i < n; i++)
      if (fork() == 0) break;
    for (volatile unsigned long i = 0;; i++) {}
  }
  if (!strcmp(m, "sleep") && argc >= 3) { sleep((unsigned)atoi(argv[2])); return 0; }
  if (!strcmp(m, "unparented") && argc >= 3) {
    if (syscall(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0) { printf("prctl: %d\n", errno); return 1; }
    /* With "leader-exit", a thread (made after the clear, so it has none either) sleeps SECS and
     * the main thread ends by exit(2) alone, not exit_group: the leader is a zombie while the
     * process runs on (an attack in December). */
    if (argc >= 4 && !strcmp(argv[3], "leader-exit")) {
      pthread_t t;
      static unsigned secs;
      secs = (unsigned)atoi(argv[2]);
      int e = pthread_create(&t, NULL, sleeper_fn, &secs);
      if (e) { printf("pthread_create: %d\n", e); return 1; }
      printf("cleared\n");
      fflush(stdout);
      syscall(SYS_exit, 0);
    }
    printf("cleared\n");
    fflush(stdout);
    sleep((unsigned)atoi(argv[2]));
    return 0;
  }
  if (!strcmp(m, "tick") && argc >= 3) {
    /* Writes 1, 2, 3... into FILE, and "tick N" to stdout, every 100 ms until killed: how long it
     * ran, on the disk. With "child", a child ticks (not the pid 1 of a namespace, which the
     * kernel keeps from signals it does not handle) and this process waits for it. */
    if (argc >= 4 && !strcmp(argv[3], "child")) {
      pid_t c = fork();
      if (c < 0) { printf("fork errno %d\n", errno); return 1; }
      if (c > 0) {
        int st;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
        return 0;
      }
    }
    for (unsigned long i = 1;; i++) {
      char n[24];
      int len = snprintf(n, sizeof n, "%lu", i);
      /* Not truncated: a kill between a truncation and the write would leave it empty, and
       * the numbers only grow, so each write covers the last. */
      int fd = open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 || pwrite(fd, n, (size_t)len, 0) != len) return 1;
      close(fd);
      printf("tick %lu\n", i);
      fflush(stdout);
      usleep(100000);
    }
  }
  if (!strcmp(m, "stopall") && argc >= 3) {
    /* Sends SIG to every process it may signal (kill(2) with pid -1), again and again: a hostile
     * container init that stops whatever joins its pid namespace (an attack in December held a
     * bvisor exec in its setup, and the container's lock with it). */
    int sig = atoi(argv[2]);
    printf("stopping\n");
    fflush(stdout);
    for (;;) {
      kill(-1, sig);
      usleep(1000);
    }
  }
  if (!strcmp(m, "jobstop") && argc >= 3) {
    /* Stops the other members of its process group through the terminal on stdin (its job
     * control), then ticks into FILE: a child leads a new group made the terminal's foreground,
     * and a grandchild left in the old group reads the terminal from the background, so the
     * kernel sends SIGTTIN to that whole group (drivers/tty/tty_jobctrl.c). Prints what failed,
     * and "reader stopped N" once the reader is stopped by signal N. */
    pid_t lead = fork();
    if (lead < 0) { printf("fork errno %d\n", errno); return 1; }
    if (lead == 0) { setpgid(0, 0); pause(); _exit(0); }
    if (setpgid(lead, lead) < 0 && errno != EACCES) { printf("setpgid errno %d\n", errno); return 1; }
    if (tcsetpgrp(0, lead) < 0) { printf("tcsetpgrp errno %d\n", errno); return 1; }
    pid_t reader = fork();
    if (reader < 0) { printf("fork errno %d\n", errno); return 1; }
    if (reader == 0) { char c; (void)!read(0, &c, 1); _exit(0); }
    int st;
    while (waitpid(reader, &st, WUNTRACED) < 0 && errno == EINTR) {}
    if (WIFSTOPPED(st)) printf("reader stopped %d\n", WSTOPSIG(st));
    fflush(stdout);
    argv[1] = "tick";
    return main(3, argv);
  }
  if (!strcmp(m, "ttystop") && argc >= 5) {
    int fd = !strcmp(argv[2], "tty") ? open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC) : atoi(argv[2]);
    if (fd < 0) { printf("open /dev/tty errno %d\n", errno); return 1; }
    int stopchar = !strcmp(argv[3], "stopchar");
    struct termios t;
    if (tcgetattr(fd, &t) < 0) { printf("tcgetattr errno %d\n", errno); return 1; }
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG);
    if (stopchar) {
      t.c_iflag |= IXON;
      t.c_iflag &= ~(tcflag_t)IXANY;
      t.c_cc[VSTART] = _POSIX_VDISABLE;
    } else t.c_iflag &= ~(tcflag_t)IXON;
    if (tcsetattr(fd, TCSANOW, &t) < 0) { printf("tcsetattr errno %d\n", errno); return 1; }
    printf("stopped\n");
    fflush(stdout);
    if (stopchar) usleep(500 * 1000);
    else if (tcflow(fd, TCOOFF) < 0) { printf("tcflow errno %d\n", errno); return 1; }
    if (!strcmp(argv[3], "fg")) {
      int sync[2];
      if (pipe(sync) < 0) { printf("pipe errno %d\n", errno); return 1; }
      pid_t lead = fork();
      if (lead < 0) { printf("fork errno %d\n", errno); return 1; }
      if (lead == 0) { char c; setpgid(0, 0); close(sync[1]); (void)!read(sync[0], &c, 1); _exit(0); }
      close(sync[0]);
      if (setpgid(lead, lead) < 0 && errno != EACCES) { printf("setpgid errno %d\n", errno); return 1; }
      if (tcsetpgrp(fd, lead) < 0) { printf("tcsetpgrp errno %d\n", errno); return 1; }
      close(sync[1]);
      waitpid(lead, NULL, 0);
    }
    (void)!syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
    if (!strcmp(argv[4], "segv")) {
      volatile int *p = NULL;
      return *p;
    }
    if (!strcmp(argv[4], "sleep")) sleep(60);
    return atoi(argv[4]);
  }
  if (!strcmp(m, "burn") && argc >= 3) {
    /* Spin for MS of wall time, then print the CPU time this process got meanwhile (ms): under a
     * CPU bandwidth limit (cpu.max) it is about the quota's share of the wall time. */
    long ms = atol(argv[2]);
    struct timespec w0, w, c;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    do clock_gettime(CLOCK_MONOTONIC, &w);
    while ((w.tv_sec - w0.tv_sec) * 1000 + (w.tv_nsec - w0.tv_nsec) / 1000000 < ms);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    printf("%ld\n", (long)(c.tv_sec * 1000 + c.tv_nsec / 1000000));
    return 0;
  }
  if (!strcmp(m, "alloc") && argc >= 3) {
    size_t mib = (size_t)atol(argv[2]);
    if (argc >= 4) {
      /* Say it runs (FILE made), then wait half a second before allocating. */
      int fd = open(argv[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return 1;
      close(fd);
      usleep(500000);
    }
    for (size_t i = 0; i < mib; i++) {
      char *b = malloc(1 << 20);
      if (!b) { printf("malloc failed at %zu MiB\n", i); return 3; }
      memset(b, 1, 1 << 20);
    }
    printf("ok\n");
    return 0;
  }
  if (!strcmp(m, "forkbomb") && argc >= 3) {
    int n = atoi(argv[2]), ok = 0;
    for (int i = 0; i < n; i++) {
      pid_t c = fork();
      if (c == 0) { sleep(30); _exit(0); }
      if (c > 0) ok++;
    }
    printf("%d\n", ok);
    fflush(stdout);
    return 0;
  }
  if (!strcmp(m, "spew") && argc >= 3) {
    long n = atol(argv[2]);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (n > 0) {
      ssize_t w = write(1, buf, n > (long)sizeof buf ? sizeof buf : (size_t)n);
      if (w <= 0) return 1;
      n -= w;
    }
    return 0;
  }
  if (!strcmp(m, "exchange") && argc >= 4) {
    for (unsigned long n = 0;; n++)
      if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 2 /* RENAME_EXCHANGE */) < 0) {
        printf("errno %d after %lu\n", errno, n);
        return 1;
      }
  }
  fprintf(stderr, "bvprobe: unknown mode %s\n", m);
  return 2;
}
