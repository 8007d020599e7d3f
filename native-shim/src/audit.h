/* Landlock's denials from the kernel's audit records (Linux 6.15+, landlock ABI 7).
 *
 * Landlock reports what it refused only to the audit subsystem (AUDIT_LANDLOCK_ACCESS 1423, one
 * per denied request, and AUDIT_LANDLOCK_DOMAIN 1424, naming the domain's creator with its first
 * denial; Documentation/admin-guide/LSM/landlock.rst). bvisor reads them without changing the
 * host's audit configuration: a NETLINK_AUDIT socket bound to the read-only multicast group
 * AUDIT_NLGRP_READLOG (Linux 3.16; CAP_AUDIT_READ) gets a copy of every record the kernel emits
 * while audit is enabled, beside whatever auditd or journald does with them. Nothing here sets an
 * audit rule, a rate, a backlog or the enabled flag; when audit is off, no record exists and the
 * report says so (bvisor asks AUDIT_GET, which only reads).
 *
 * The child opts its workload in with LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (the kernel logs
 * only the restricting program's own denials by default, not those of the program it execs).
 *
 * Multicast has no end marker: a record the kernel queued just before the workload exited may
 * still be on its way when bvisor sees the exit. So the reader ends with a barrier: a short-lived
 * child (comm "bvisor-barrier") restricts itself to a landlock domain that handles only
 * LANDLOCK_ACCESS_FS_READ_DIR and opens "/", a denial the kernel logs like any other. kauditd
 * sends records in the order they were queued, so once the barrier's domain record (its pid)
 * arrives, every record of the workload (queued before it exited) has arrived too. The host's
 * audit log gets that one denial per observed run, with the barrier's comm, so an administrator
 * can tell it apart (docs/denials.md).
 *
 * What goes to out_fd, in arrival order: records of type 1423 and 1424, and the SYSCALL record
 * (1300) of an event that had a landlock record, each as { u32 type; u32 len; len bytes of the
 * record's text }, then one END record { type 0, len 16: u32 barrier (1 seen, 0 not within the
 * timeout, 2 could not run), u32 overflows (ENOBUFS: the socket buffer overflowed and records
 * were lost), u32 dropped (beyond the byte cap), u32 forwarded }. */
#ifndef BV_AUDIT_H
#define BV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define BV_AUDIT_END 0u
#define BV_AUDIT_SYSCALL 1300u
#define BV_AUDIT_LANDLOCK_ACCESS 1423u
#define BV_AUDIT_LANDLOCK_DOMAIN 1424u
/* Bytes of records forwarded before the rest are only counted. */
#define BV_AUDIT_CAP (1u << 20)
/* How long the reader waits for its barrier's record. */
#define BV_AUDIT_BARRIER_MS 2000

/* AUDIT_GET: out[0] enabled (0 off, 1 on, 2 locked), out[1] lost (records the kernel dropped
 * since boot), out[2] backlog_limit, out[3] rate_limit. 0 or -errno (EPERM without
 * CAP_AUDIT_CONTROL, EPROTONOSUPPORT without audit in the kernel). Changes nothing. */
int bv_audit_status(uint32_t *out);
/* A NETLINK_AUDIT socket joined to AUDIT_NLGRP_READLOG (non-blocking, close-on-exec), its
 * receive buffer raised so a burst does not overflow it. fd or -errno. */
int bv_audit_open(void);

struct bv_audit;
/* A reader of `fd` (owned from here on) writing to `out` (not owned). NULL on ENOMEM.
 * token: the random name part of the run's marker directory (launch.h, ll_marker_fd), or "".
 * With a token, the reader forwards nothing until the marker's record names the run's domain,
 * then only that domain's records (and their SYSCALL records): other runs' and the host's
 * records never take the run's room, and a domain that merely shares the child's pid (a reused
 * pid, one the workload stacks) is never taken for it. */
struct bv_audit *bv_audit_new(int fd, int out, const char *token);
/* The workload's resolved secret values (count NUL-terminated strings): every occurrence in a
 * record, as given or in audit's hex encoding, is replaced by "<redacted>" before the record is
 * forwarded (a workload naming a directory after its token). 0 or -ENOMEM. */
int bv_audit_secrets(struct bv_audit *a, const char *values, size_t len, int count);
int bv_audit_fd(const struct bv_audit *a);
/* Reads the records queued on the socket (at most a batch) and forwards the run's; 0 or -errno. */
int bv_audit_pump(struct bv_audit *a);
/* Runs the barrier, reads until its record arrives or timeout_ms pass, writes END. 0 or -errno
 * of the final write. */
int bv_audit_finish(struct bv_audit *a, int timeout_ms);
void bv_audit_free(struct bv_audit *a);

#endif
