/* A libseccomp oracle for test/core/seccomp/oci-libseccomp.test.ts: builds a filter with
 * libseccomp's own API from a line format the test writes (one OCI rule per line, already split
 * per syscall name), exports the BPF, and says what libseccomp did with each rule. The test runs
 * this BPF and bvisor's through the same interpreter and compares the decisions.
 *
 * usage: oracle <arch> <out.bpf> [optimize]   (arch: x86_64 | aarch64; rules on stdin)
 *   default <action> <errno>
 *   rule <line-id> <action> <errno> <name> <nargs> [<index> <op> <value> <valueTwo>]...
 * <action>: the OCI name without SCMP_ACT_ (KILL, KILL_THREAD, KILL_PROCESS, TRAP, ERRNO, LOG,
 * ALLOW); <op>: the OCI name without SCMP_CMP_; numbers in decimal (u64).
 * stdout: one line per rule: "<line-id> ok", "<line-id> unknown" (name not resolvable: runc and
 * crun skip such a rule), or "<line-id> error <-rc>" (libseccomp refused the rule).
 * Exit 0 when the filter was exported, 1 on a usage or export error, 2 when a default line is
 * missing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int action_of(const char *name, unsigned int err, uint32_t *out)
{
	if (!strcmp(name, "KILL") || !strcmp(name, "KILL_THREAD")) *out = SCMP_ACT_KILL_THREAD;
	else if (!strcmp(name, "KILL_PROCESS")) *out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "TRAP")) *out = SCMP_ACT_TRAP;
	else if (!strcmp(name, "ERRNO")) *out = SCMP_ACT_ERRNO(err);
	else if (!strcmp(name, "LOG")) *out = SCMP_ACT_LOG;
	else if (!strcmp(name, "ALLOW")) *out = SCMP_ACT_ALLOW;
	else return -1;
	return 0;
}

static int op_of(const char *name, enum scmp_compare *out)
{
	static const struct { const char *n; enum scmp_compare op; } ops[] = {
		{ "NE", SCMP_CMP_NE }, { "LT", SCMP_CMP_LT }, { "LE", SCMP_CMP_LE }, { "EQ", SCMP_CMP_EQ },
		{ "GE", SCMP_CMP_GE }, { "GT", SCMP_CMP_GT }, { "MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(name, ops[i].n)) { *out = ops[i].op; return 0; }
	return -1;
}

int main(int argc, char **argv)
{
	char line[4096];
	scmp_filter_ctx ctx = NULL;
	uint32_t arch;

	if (argc < 3) { fprintf(stderr, "usage: oracle <arch> <out.bpf> [optimize]\n"); return 1; }
	if (!strcmp(argv[1], "x86_64")) arch = SCMP_ARCH_X86_64;
	else if (!strcmp(argv[1], "aarch64")) arch = SCMP_ARCH_AARCH64;
	else { fprintf(stderr, "unknown arch %s\n", argv[1]); return 1; }

	while (fgets(line, sizeof(line), stdin)) {
		char *save = NULL, *tok = strtok_r(line, " \n", &save);
		if (tok == NULL) continue;
		if (!strcmp(tok, "default")) {
			char *act = strtok_r(NULL, " \n", &save), *err = strtok_r(NULL, " \n", &save);
			uint32_t a;
			if (!act || !err || action_of(act, (unsigned)strtoul(err, NULL, 10), &a)) { fprintf(stderr, "bad default line\n"); return 1; }
			ctx = seccomp_init(a);
			if (!ctx) { fprintf(stderr, "seccomp_init failed\n"); return 1; }
			/* export for one arch only: the requested one instead of the native one */
			if (arch != seccomp_arch_native()) {
				if (seccomp_arch_add(ctx, arch) || seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE)) { fprintf(stderr, "arch switch failed\n"); return 1; }
			}
			if (argc > 3 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)atoi(argv[3]))) { fprintf(stderr, "optimize attr failed\n"); return 1; }
		} else if (!strcmp(tok, "rule")) {
			char *id = strtok_r(NULL, " \n", &save), *act = strtok_r(NULL, " \n", &save);
			char *err = strtok_r(NULL, " \n", &save), *name = strtok_r(NULL, " \n", &save);
			char *n = strtok_r(NULL, " \n", &save);
			struct scmp_arg_cmp cmp[6];
			unsigned int nargs, i;
			uint32_t a;
			int nr, rc;
			if (!ctx) { fprintf(stderr, "rule before default\n"); return 2; }
			if (!id || !act || !err || !name || !n || action_of(act, (unsigned)strtoul(err, NULL, 10), &a)) { fprintf(stderr, "bad rule line\n"); return 1; }
			nargs = (unsigned)atoi(n);
			if (nargs > 6) { fprintf(stderr, "too many args\n"); return 1; }
			for (i = 0; i < nargs; i++) {
				char *idx = strtok_r(NULL, " \n", &save), *op = strtok_r(NULL, " \n", &save);
				char *v1 = strtok_r(NULL, " \n", &save), *v2 = strtok_r(NULL, " \n", &save);
				if (!idx || !op || !v1 || !v2 || op_of(op, &cmp[i].op)) { fprintf(stderr, "bad arg\n"); return 1; }
				cmp[i].arg = (unsigned)atoi(idx);
				cmp[i].datum_a = strtoull(v1, NULL, 10);
				cmp[i].datum_b = strtoull(v2, NULL, 10);
			}
			/* resolved in the native arch's context, as runc and crun do: libseccomp translates the
			 * number (or a pseudo number for a name the native arch lacks) to each filter arch */
			nr = seccomp_syscall_resolve_name(name);
			if (nr == __NR_SCMP_ERROR) { printf("%s unknown\n", id); continue; }
			rc = seccomp_rule_add_array(ctx, a, nr, nargs, cmp);
			if (rc < 0) printf("%s error %d\n", id, -rc);
			else printf("%s ok\n", id);
		} else { fprintf(stderr, "bad line %s\n", tok); return 1; }
	}
	if (!ctx) { fprintf(stderr, "no default line\n"); return 2; }
	{
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600), rc;
		if (fd < 0) { perror(argv[2]); return 1; }
		rc = seccomp_export_bpf(ctx, fd);
		close(fd);
		if (rc < 0) { fprintf(stderr, "seccomp_export_bpf: %d\n", rc); return 1; }
	}
	seccomp_release(ctx);
	return 0;
}
