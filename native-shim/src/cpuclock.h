/* The CPU time the kernel charged a process, as RLIMIT_CPU compares it: its process PROF clock
 * (utime + stime as the scheduler's ticks sampled them; clock_getcpuclockid(3) gives the
 * SCHED clock, the exact runtime, which getrusage(2) also scales its times to). A tick charges
 * its whole jiffy to the process running at it, so beside programs that run in bursts on its
 * CPU a process can be charged a third more than it ran: only this clock says whether it
 * reached its RLIMIT_CPU. Read from a zombie before it is reaped (waitid WNOWAIT): the clock
 * lives as long as the process does. The id is the kernel's MAKE_PROCESS_CPUCLOCK(pid,
 * CPUCLOCK_PROF) (include/linux/posix-timers.h), not in libc's headers. */
#ifndef BV_CPUCLOCK_H
#define BV_CPUCLOCK_H
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Microseconds, or -1 when the clock cannot be read (the process is gone). */
static inline int64_t bv_charged_us(pid_t pid) {
  const clockid_t prof = (clockid_t)((~(unsigned)pid) << 3); /* | CPUCLOCK_PROF (0) */
  struct timespec ts;
  if (clock_gettime(prof, &ts) != 0) return -1;
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#endif
